package jpeg

// Block smoothing, as libjpeg-turbo 2.1 does it by default
// (do_block_smoothing) in jdcoefct.c (smoothing_ok, decompress_smooth_data)
// for progressive files whose scans leave some of the first nine AC
// coefficients not fully refined: each such coefficient that is still zero
// is estimated from the DC values of the block and its 24 neighbours, and
// where no AC data at all has arrived, the DC value too.

// smoothCoefs is the number of coefficients, in zig-zag order, whose
// refinement state is tracked (libjpeg's SAVED_COEFS): DC and 9 AC.
const smoothCoefs = 10

// smoothingUseful reports whether libjpeg would smooth the blocks: every
// component has had a scan with its DC, its quantization table has no zero
// among the first 10 entries, and some AC coefficient among the first 9 is
// not known to full precision.
func (d *decoder) smoothingUseful() bool {
	useful := false
	for i := 0; i < d.nComp; i++ {
		q := d.compQuant[i]
		if q == nil || d.coefBits[i][0] < 0 {
			return false
		}
		for k := 0; k < smoothCoefs; k++ {
			if q[k] == 0 {
				return false
			}
			if k > 0 && d.coefBits[i][k] != 0 {
				useful = true
			}
		}
	}
	return useful
}

// reconstructSmoothed is reconstructProgressiveImage with block smoothing.
func (d *decoder) reconstructSmoothed() {
	var ws block
	for i := 0; i < d.nComp; i++ {
		c := &d.comp[i]
		q := d.compQuant[i]
		bits := &d.coefBits[i]
		// Estimate the DC too where no AC coefficient has arrived.
		changeDC := true
		for k := 1; k < smoothCoefs; k++ {
			changeDC = changeDC && bits[k] == -1
		}
		coefs := d.progCoeffs[i]
		stride := d.mxx * c.h
		dc := func(bx, by int) int64 { return int64(int16(coefs[by*stride+bx][0])) }
		// libjpeg works one iMCU row (c.v block rows) at a time; the last
		// one has only the rows holding image data. The rows above and
		// below a block are those of decompress_smooth_data in
		// libjpeg-turbo 2.1 (Debian 12's 2.1.5): with c.v = 2, a block
		// in the first row of the second iMCU row uses the row above for
		// the one two rows up, and one in the second row of the
		// second-last iMCU row the row below for the one two rows down.
		// (libjpeg-turbo 3.0.1 changed that; see the package
		// documentation.)
		last := d.myy - 1
		for r := 0; r <= last; r++ {
			blockRows := c.v
			if r == last {
				if blockRows = c.bh % c.v; blockRows == 0 {
					blockRows = c.v
				}
			}
			for br := 0; br < blockRows; br++ {
				y := r*c.v + br
				prev, prev2, next, next2 := y, y, y, y
				if br > 0 || r > 0 {
					prev = y - 1
				}
				prev2 = prev
				if br > 1 || r > 1 {
					prev2 = y - 2
				}
				if br < blockRows-1 || r < last {
					next = y + 1
				}
				next2 = next
				if br < blockRows-2 || r+1 < last {
					next2 = y + 2
				}
				rows := [5]int{prev2, prev, y, next, next2}
				// win[j][k] is the DC of row j, column bx−2+k, with columns
				// past the edges replaced as libjpeg's sliding registers do.
				var win [5][5]int64
				for j, ry := range rows {
					v := dc(0, ry)
					win[j] = [5]int64{v, v, v, v, v}
				}
				lastCol := c.bw - 1
				for bx := 0; bx <= lastCol; bx++ {
					if bx == 0 && bx < lastCol {
						for j, ry := range rows {
							win[j][3] = dc(1, ry)
							win[j][4] = win[j][3]
						}
					}
					if bx+1 < lastCol {
						for j, ry := range rows {
							win[j][4] = dc(bx+2, ry)
						}
					}
					ws = coefs[y*stride+bx]
					for k := range ws {
						ws[k] = int32(int16(ws[k]))
					}
					smoothBlock(&ws, q, bits, &win, changeDC)
					d.reconstructBlock(&ws, bx, y, i)
					for j := range win {
						copy(win[j][:4], win[j][1:])
					}
				}
			}
		}
	}
}

// smoothBlock estimates the coefficients of b (natural order) that are zero
// and not known exactly from the DC values win around it (win[2][2] is its
// own), as decompress_smooth_data does. q is the quantization table and
// bits the coefficients' refinement state, both in zig-zag order.
func smoothBlock(b *block, q *block, bits *[smoothCoefs]int, win *[5][5]int64, changeDC bool) {
	// dc(r, c) is DC number 5r+c+1 of libjpeg's DC01..DC25.
	dc := func(n int) int64 { return win[(n-1)/5][(n-1)%5] }
	q00 := int64(q[0])
	// estimate sets coefficient zig (natural position pos) from num.
	estimate := func(zig, pos int, num int64) {
		al := bits[zig]
		if al == 0 || b[pos] != 0 {
			return
		}
		qk := int64(q[zig])
		num *= q00
		var pred int64
		if num >= 0 {
			pred = ((qk << 7) + num) / (qk << 8)
		} else {
			pred = ((qk << 7) - num) / (qk << 8)
		}
		if al > 0 && pred >= 1<<al {
			pred = 1<<al - 1
		}
		if num < 0 {
			pred = -pred
		}
		b[pos] = int32(int16(pred))
	}
	if changeDC {
		estimate(1, 1, -dc(1)-dc(2)+dc(4)+dc(5)-3*dc(6)+13*dc(7)-13*dc(9)+3*dc(10)-3*dc(11)+38*dc(12)-38*dc(14)+
			3*dc(15)-3*dc(16)+13*dc(17)-13*dc(19)+3*dc(20)-dc(21)-dc(22)+dc(24)+dc(25))
		estimate(2, 8, -dc(1)-3*dc(2)-3*dc(3)-3*dc(4)-dc(5)-dc(6)+13*dc(7)+38*dc(8)+13*dc(9)-dc(10)+dc(16)-
			13*dc(17)-38*dc(18)-13*dc(19)+dc(20)+dc(21)+3*dc(22)+3*dc(23)+3*dc(24)+dc(25))
		estimate(3, 16, dc(3)+2*dc(7)+7*dc(8)+2*dc(9)-5*dc(12)-14*dc(13)-5*dc(14)+2*dc(17)+7*dc(18)+2*dc(19)+dc(23))
		estimate(4, 9, -dc(1)+dc(5)+9*dc(7)-9*dc(9)-9*dc(17)+9*dc(19)+dc(21)-dc(25))
		estimate(5, 2, 2*dc(7)-5*dc(8)+2*dc(9)+dc(11)+7*dc(12)-14*dc(13)+7*dc(14)+dc(15)+2*dc(17)-5*dc(18)+2*dc(19))
		estimate(6, 3, dc(7)-dc(9)+2*dc(12)-2*dc(14)+dc(17)-dc(19))
		estimate(7, 10, dc(7)-3*dc(8)+dc(9)-dc(17)+3*dc(18)-dc(19))
		estimate(8, 17, dc(7)-dc(9)-3*dc(12)+3*dc(14)+dc(17)-dc(19))
		estimate(9, 24, dc(7)+2*dc(8)+dc(9)-dc(17)-2*dc(18)-dc(19))
		// The DC itself, always (its first scan has arrived).
		num := q00 * (-2*dc(1) - 6*dc(2) - 8*dc(3) - 6*dc(4) - 2*dc(5) - 6*dc(6) + 6*dc(7) + 42*dc(8) + 6*dc(9) -
			6*dc(10) - 8*dc(11) + 42*dc(12) + 152*dc(13) + 42*dc(14) - 8*dc(15) - 6*dc(16) + 6*dc(17) +
			42*dc(18) + 6*dc(19) - 6*dc(20) - 2*dc(21) - 6*dc(22) - 8*dc(23) - 6*dc(24) - 2*dc(25))
		var pred int64
		if num >= 0 {
			pred = ((q00 << 7) + num) / (q00 << 8)
		} else {
			pred = -(((q00 << 7) - num) / (q00 << 8))
		}
		b[0] = int32(int16(pred))
		return
	}
	estimate(1, 1, -7*dc(11)+50*dc(12)-50*dc(14)+7*dc(15))
	estimate(2, 8, -7*dc(3)+50*dc(8)-50*dc(18)+7*dc(23))
	estimate(3, 16, -dc(3)+13*dc(8)-24*dc(13)+13*dc(18)-dc(23))
	estimate(4, 9, dc(10)+dc(16)-10*dc(17)+10*dc(19)-dc(2)-dc(20)+dc(22)-dc(24)+dc(4)-dc(6)+10*dc(7)-10*dc(9))
	estimate(5, 2, -dc(11)+13*dc(12)-24*dc(13)+13*dc(14)-dc(15))
}
