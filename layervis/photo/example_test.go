package photo_test

import (
	"fmt"
	"image"
	"image/color"
	"log"
	"os"
	"path/filepath"

	"github.com/layervis/layervis/layervis/photo"
)

func Example() {
	dir, err := os.MkdirTemp("", "photo-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Make a 640x480 test picture: a horizontal red ramp.
	src := image.NewNRGBA(image.Rect(0, 0, 640, 480))
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			src.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / 639), 0, 0, 255})
		}
	}
	path := filepath.Join(dir, "in.png")
	if err := photo.SavePNG(path, src); err != nil {
		log.Fatal(err)
	}

	// Load it, shrink it like cv2.resize(..., interpolation=cv2.INTER_AREA)
	// so that the short side is 256, and crop the 224x224 centre.
	img, err := photo.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	in := img.ResizeArea(341, 256).CenterCrop(224, 224)
	fmt.Printf("%dx%d, %d values\n", in.W, in.H, len(in.Pix))
	fmt.Printf("first pixel RGB: %.3f %.3f %.3f\n", in.Pix[0], in.Pix[1], in.Pix[2])

	// Errors name the file and the problem.
	_, err = photo.Load(filepath.Join(dir, "missing.png"))
	fmt.Println(err != nil)
	// Output:
	// 224x224, 150528 values
	// first pixel RGB: 0.169 0.000 0.000
	// true
}
