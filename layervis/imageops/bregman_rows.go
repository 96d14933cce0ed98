package imageops

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// The split-Bregman sweep is sequential: a value depends on the updated
// values left of it and above it. Its rows can still run side by side, each
// a little behind the one above: index j of row r reads row r−1 at j only
// (updated) and row r+1 at j only (not yet updated), so row r may update
// index j once row r−1 has, and every value is computed from the same
// operands as in the sequential order. Only the stopping rule's sum is added
// in another order (row by row); see decide.

// chunk is the number of a row's values updated between two looks at the
// progress of the row above (and two reports of the row's own). One 512²
// image on 2 cores: 96 and 192 alike (78–81 ms), 48 slower (87), and half
// a row (768) slower than one core (152 against 106–112).
const chunk = 192

// progress is a row's progress in its image's sweeps: sweep<<32 | j where
// the row has updated the sweep's padded indices below j. It fills a cache
// line, so that no two rows' counters share one.
type progress struct {
	v atomic.Int64
	_ [56]byte
}

// rowJob is the denoising of one image by rows.
type rowJob struct {
	f     []float64
	b     *bregman // nil before its first sweep and once done
	sweep int64    // the current sweep, from 1
	// next is the next row of the sweep to hand out (> h when all are, or
	// while the job is set up or finished), 0 before the job starts.
	next             int
	active, finished int // rows being updated, and updated, in this sweep
	sums             []float64
	prog             []progress // rows 0..h
	rerun            bool       // rounding left the stopping rule open
	out              []float64
}

// rowPool hands rows of its jobs' sweeps to workers.
type rowPool struct {
	mu          sync.Mutex
	wake        *sync.Cond
	jobs        []*rowJob
	left        int // jobs not done
	w, h, c     int
	weight, eps float64
	maxIter     int
}

// sumSlack scales the rounding bound of decide; tests raise it to leave
// every decision open.
var sumSlack = 4.0

// decide returns whether the sequential loop continues after a sweep
// (sqrt(sum/n) > eps), given a sum of its squared changes in another order.
// Any two orders of adding the same n non-negative values are within
// 2γ(n−1)·sum of each other (γ(k) = k·u/(1−k·u), u = 2⁻⁵³), so when the
// rule gives the same answer at sum·(1 ± 4n·u) that is the sequential
// order's answer; ok is false where it does not.
func decide(sum float64, n int, eps float64) (cont, ok bool) {
	d := sum * sumSlack * float64(n) * 0x1p-53
	hi := math.Sqrt((sum+d)/float64(n)) > eps
	lo := math.Sqrt((sum-d)/float64(n)) > eps
	return hi, hi == lo && !math.IsInf(sum, 0) && !math.IsNaN(sum)
}

// denoiseRows denoises imgs on workers goroutines: each takes a row of the
// sweep of the image with the fewest workers (preferring its last image),
// so that the workers spread over the images and stay on one where there
// are more images than workers.
func denoiseRows(imgs [][]float64, w, h, c int, weight float64, maxIter int, eps float64, workers int) [][]float64 {
	out := make([][]float64, len(imgs))
	if maxIter <= 0 {
		for i, img := range imgs {
			out[i] = slices.Clone(img)
		}
		return out
	}
	p := &rowPool{w: w, h: h, c: c, weight: weight, maxIter: maxIter, eps: eps, left: len(imgs)}
	p.wake = sync.NewCond(&p.mu)
	for _, img := range imgs {
		p.jobs = append(p.jobs, &rowJob{f: img, sums: make([]float64, h), prog: make([]progress, h+1)})
	}
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Go(p.work)
	}
	wg.Wait()
	for i, j := range p.jobs {
		out[i] = j.out
	}
	return out
}

// pick returns the index of the job whose next row a worker that last
// worked on job prev takes, or -1 when no row is free.
func (p *rowPool) pick(prev int) int {
	best := -1
	for i, j := range p.jobs {
		if j.next > p.h {
			continue
		}
		if best < 0 || j.active < p.jobs[best].active || j.active == p.jobs[best].active && i == prev {
			best = i
		}
	}
	return best
}

// work updates rows until every job is done. It sets up a job on its first
// row and finishes it after its last sweep, with p.mu released.
func (p *rowPool) work() {
	prev := -1
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.left > 0 {
		i := p.pick(prev)
		if i < 0 {
			p.wake.Wait()
			continue
		}
		j := p.jobs[i]
		prev = i
		if j.next == 0 {
			j.next = p.h + 1
			p.mu.Unlock()
			j.b = newBregman(j.f, p.w, p.h, p.c, p.weight)
			p.mu.Lock()
			j.sweep, j.next = 1, 1
			p.wake.Broadcast()
		}
		r, sweep := j.next, j.sweep
		j.next++
		j.active++
		p.mu.Unlock()
		sum := j.b.chase(r, sweep, j.prog)
		p.mu.Lock()
		j.active--
		j.sums[r-1] = sum
		if j.finished++; j.finished < p.h || p.endSweep(j) {
			continue
		}
		p.mu.Unlock()
		if j.rerun {
			j.b.reset()
			j.b.run(p.maxIter, p.eps)
		}
		j.out = j.b.result()
		j.b.release()
		j.b = nil
		p.mu.Lock()
		p.left--
		p.wake.Broadcast()
	}
}

// endSweep decides, with p.mu held, whether j's image takes another sweep
// and if so starts it and returns true. Where rounding leaves the stopping
// rule open, it sets j.rerun: the image is then denoised again in the
// sequential order.
func (p *rowPool) endSweep(j *rowJob) bool {
	sum := 0.0
	for _, s := range j.sums {
		sum += s
	}
	cont, ok := decide(sum, p.w*p.h*p.c, p.eps)
	if j.sweep >= int64(p.maxIter) {
		return false
	}
	if !ok {
		j.rerun = true
		return false
	}
	if cont {
		j.sweep++
		j.next, j.finished = 1, 0
		p.wake.Broadcast()
	}
	return cont
}

// chase updates row r in sweep sweep, chunk by chunk, each once the row
// above has updated it, reports its progress in prog, and returns the sum of
// its squared changes.
func (b *bregman) chase(r int, sweep int64, prog []progress) float64 {
	end := (b.w + 1) * b.c
	base := sweep << 32
	sum := 0.0
	above := int64(0)
	for j0 := b.c; j0 < end; {
		j1 := min(j0+chunk, end)
		for spins := 1; r > 1 && above < base+int64(j1); spins++ {
			if above = prog[r-1].v.Load(); spins%64 == 0 {
				runtime.Gosched()
			}
		}
		if r > 1 {
			// Take all the row above has updated, in chunks at most.
			j1 = min(max(j1, int(above-base)), j0+4*chunk)
		}
		sum = b.span(r, j0, j1, sum)
		prog[r].v.Store(base + int64(j1))
		j0 = j1
	}
	return sum
}
