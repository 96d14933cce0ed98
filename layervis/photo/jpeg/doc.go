// Package jpeg decodes JPEG images to the same pixels as libjpeg-turbo with
// its default settings, which is what PIL (Image.open(...).convert("RGB")),
// cv2.imread and so most PyTorch and TensorFlow input pipelines produce. Go's
// image/jpeg uses another inverse DCT, another chroma upsampling and another
// YCbCr→RGB rounding: on layervis's 19 JPEG demo photos it differs from
// libjpeg on 24% of the values, by up to 36 levels in the three with 4:4:0
// chroma and up to 4 levels in the sixteen with 4:4:4 chroma.
//
// What is reproduced, after the bitstream decoding taken from Go's
// image/jpeg (baseline, extended sequential and progressive Huffman-coded
// 8-bit JPEG, restart markers):
//
//   - the "islow" inverse DCT (jidctint.c, libjpeg's default JDCT_ISLOW):
//     13-bit fixed point, 2 extra bits between the passes, output clamped;
//   - "fancy" upsampling (jdsample.c, do_fancy_upsampling, the default):
//     triangle filters for 2:1 horizontal (4:2:2), 2:1 vertical (4:4:0) and
//     2:1 both ways (4:2:0) chroma, with libjpeg's alternating rounding and
//     edge replication, and pixel replication for other whole ratios (4:1:1)
//     and components at most 2 samples wide;
//   - the YCbCr→RGB tables of jdcolor.c (16-bit fixed point, rounding
//     constant ONE_HALF);
//   - libjpeg's choice of colour space (jdapimin.c): JFIF marker, Adobe
//     APP14 transform flag, then the component identifiers; YCCK converted
//     to CMYK as jdcolor.c does;
//   - block smoothing (jdcoefct.c, do_block_smoothing), which applies only
//     to progressive files whose scans leave some of the first nine AC
//     coefficients not fully refined, such as a progressive download cut
//     short at a scan boundary. It follows libjpeg-turbo 2.1 (Debian 12
//     ships 2.1.5). libjpeg-turbo 3.0.1 changed which block rows it uses
//     near iMCU row boundaries for components with a vertical sampling
//     factor of 2, so for such files (4:2:0 progressive, incomplete) PIL or
//     OpenCV builds that bundle libjpeg-turbo 3 give slightly different
//     pixels. Complete files are not smoothed by any version.
//
// Decode returns *image.Gray for grayscale, *image.RGBA (opaque) for YCbCr
// and RGB files, and *image.CMYK for CMYK and YCCK files. libjpeg hands the
// latter out in Adobe's inverted convention (0 is full ink), as PIL reads
// them (raw mode "CMYK;I"); image.CMYK holds the ink amounts, 255 minus
// libjpeg's values, which are PIL's CMYK values.
//
// Not reproduced: libjpeg's recovery from corrupt data or data cut short
// inside a scan (Decode returns an error where libjpeg warns and goes on;
// PIL then raises "image file is truncated" by default too); arithmetic
// coding, lossless and 12-bit JPEG (errors); DCT scaling and the other
// non-default decompression options. Where corrupt data drive the inverse
// DCT out of range, libjpeg-turbo's C code and its x86 SIMD code disagree;
// Decode clamps, as the SIMD code that PIL and OpenCV run on x86-64 does.
//
// Verified bit-exact against PIL 9.4 and OpenCV 4.6 with libjpeg-turbo
// 2.1.5 (Debian 12) on the demo photos, on generated files of every
// sampling, colour space and progression above, and on the JPEG files of
// Go's image/testdata.
//
// The bitstream decoder is a modified copy of Go's image/jpeg (BSD licence,
// see LICENSE-go). The IDCT, upsampling and colour conversion follow
// libjpeg-turbo, which is based in part on the work of the Independent JPEG
// Group.
package jpeg
