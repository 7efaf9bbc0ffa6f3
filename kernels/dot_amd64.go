package kernels

import "github.com/klauspost/cpuid/v2"

// AVX2 kernels, in dot_amd64.s. They read w and xq as the Go kernels do and
// trust the caller for the lengths: w holds the row for len(x) elements (or
// len(xq)/34 blocks).
//
//go:noescape
func dotF32AVX2(w []byte, x []float32) float32

//go:noescape
func dotBF16AVX2(w []byte, x []float32) float32

//go:noescape
func dotF16AVX2(w []byte, x []float32) float32

//go:noescape
func dotQ8_0AVX2(w, xq []byte) float32

//go:noescape
func dotQ4_0AVX2(w, xq []byte) float32

var avx2Kernels = dotKernels{
	name: "avx2",
	f32:  dotF32AVX2,
	bf16: dotBF16AVX2,
	f16:  dotF16AVX2,
	q8_0: dotQ8_0AVX2,
	q4_0: dotQ4_0AVX2,
}

func init() {
	if cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3, cpuid.F16C) {
		simdKernels = &avx2Kernels
	}
}
