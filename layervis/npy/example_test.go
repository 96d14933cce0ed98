package npy_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/layervis/layervis/layervis/npy"
)

func Example() {
	dir, err := os.MkdirTemp("", "npy-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "activations.npy")

	// A 2x3 float32 array in C (row-major) order; numpy.load(path) reads it.
	if err := npy.Write(path, []int{2, 3}, []float32{0, 1, 2, 3, 4, 5}); err != nil {
		log.Fatal(err)
	}
	shape, data, err := npy.Read(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(shape, data)
	// Output: [2 3] [0 1 2 3 4 5]
}
