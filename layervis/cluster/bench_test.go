package cluster

import "testing"

// The Mind's Eye sizes: about 1300 images (an ImageNet class) of 2048
// pooled channels (ResNet-152's layer4), reduced to 50 components, embedded
// in 2-D and split into 10 clusters.
const benchN, benchD, benchK = 1300, 2048, 10

func BenchmarkPCA(b *testing.B) {
	x, _ := blobs(benchN, benchD, benchK, 0.5, 1)
	for b.Loop() {
		if _, err := PCA(x, benchN, benchD, 50); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTSNE(b *testing.B) {
	x, _ := blobs(benchN, 50, benchK, 3, 1)
	for b.Loop() {
		if _, err := TSNE(x, benchN, 50, TSNEOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKMeans(b *testing.B) {
	x, _ := blobs(benchN, 2, benchK, 10, 1)
	for b.Loop() {
		if _, _, _, err := KMeans(x, benchN, 2, benchK, KMeansOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
