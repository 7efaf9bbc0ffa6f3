package quant

import (
	"math/rand/v2"
	"testing"
)

// The benchmarks count throughput in float32 bytes (4 per element) on both
// sides, so MB/s compares across types as elements per second.

func benchInput() []float32 {
	r := rand.New(rand.NewPCG(11, 12))
	x := make([]float32, 64*QK_K)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	return x
}

func BenchmarkDequantize(b *testing.B) {
	x := benchInput()
	for _, typ := range allTypes {
		b.Run(typ.String(), func(b *testing.B) {
			n, _ := typ.RowBytes(len(x))
			q := make([]byte, n)
			if err := Quantize(typ, x, q); err != nil {
				b.Fatal(err)
			}
			y := make([]float32, len(x))
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				if err := Dequantize(typ, q, y); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkQuantize(b *testing.B) {
	x := benchInput()
	for _, typ := range allTypes {
		b.Run(typ.String(), func(b *testing.B) {
			n, _ := typ.RowBytes(len(x))
			q := make([]byte, n)
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				if err := Quantize(typ, x, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
