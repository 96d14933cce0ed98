package jpeg_test

import (
	"fmt"
	"image"
	"log"
	"os"

	"github.com/layervis/layervis/layervis/photo/jpeg"
)

func Example() {
	f, err := os.Open("testdata/progressive-restart-420.jpg")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	// PIL: Image.open(path).convert("RGB").getpixel((0, 0)) is (0, 4, 121).
	img, err := jpeg.Decode(f)
	if err != nil {
		log.Fatal(err)
	}
	m := img.(*image.RGBA)
	fmt.Println(m.Bounds())
	fmt.Println("first pixel:", m.Pix[:3])
	// Output:
	// (0,0)-(17,9)
	// first pixel: [0 4 121]
}
