package kernels

import (
	"encoding/binary"
	"math"

	"github.com/aha-inference/aha/quant"
)

// dotKernels are the inner loops of the CPU backend: a dot product of one
// stored weight row with one activation row. The weight row is raw bytes in
// its stored type (it may sit unaligned in a mapped file); the activation is
// float32, or for the quantized types its Q8_0 quantization. Each kernel's
// summation order depends only on the row length, so a result never depends
// on how the work was split between threads.
type dotKernels struct {
	name string
	f32  func(w []byte, x []float32) float32
	bf16 func(w []byte, x []float32) float32
	f16  func(w []byte, x []float32) float32
	q8_0 func(w, xq []byte) float32 // Q8_0 weights · Q8_0 activations
	q4_0 func(w, xq []byte) float32 // Q4_0 weights · Q8_0 activations
}

// goKernels are the portable kernels, used where no SIMD ones exist.
var goKernels = dotKernels{
	name: "go",
	f32:  dotF32Go,
	bf16: dotBF16Go,
	f16:  dotF16Go,
	q8_0: dotQ8_0Go,
	q4_0: dotQ4_0Go,
}

// simdKernels is set at init by the architecture's file when the CPU has
// the needed features (nil: none).
var simdKernels *dotKernels

func dotF32Go(w []byte, x []float32) float32 {
	var s float32
	for i, v := range x {
		s += math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:])) * v
	}
	return s
}

func dotBF16Go(w []byte, x []float32) float32 {
	var s float32
	for i, v := range x {
		s += quant.BF16ToF32(binary.LittleEndian.Uint16(w[2*i:])) * v
	}
	return s
}

func dotF16Go(w []byte, x []float32) float32 {
	var s float32
	for i, v := range x {
		s += quant.F16ToF32(binary.LittleEndian.Uint16(w[2*i:])) * v
	}
	return s
}

// The quantized dot products follow llama.cpp: per block of 32 the integer
// products are summed exactly, and the sum is scaled once by d_w·d_x.

const q8Block = 34 // bytes in a Q8_0 block: f16 scale, 32 int8

func half(b []byte) float32 { return quant.F16ToF32(binary.LittleEndian.Uint16(b)) }

func dotQ8_0Go(w, xq []byte) float32 {
	var s float32
	for b := 0; b < len(xq); b += q8Block {
		wb, xb := w[b:b+q8Block], xq[b:b+q8Block]
		var isum int32
		for j := 2; j < q8Block; j++ {
			isum += int32(int8(wb[j])) * int32(int8(xb[j]))
		}
		s += float32(float32(isum) * (half(wb) * half(xb)))
	}
	return s
}

func dotQ4_0Go(w, xq []byte) float32 {
	const wBlock = 18 // f16 scale, 16 bytes of nibbles
	var s float32
	for b := 0; b < len(xq)/q8Block; b++ {
		wb, xb := w[b*wBlock:(b+1)*wBlock], xq[b*q8Block:(b+1)*q8Block]
		var isum int32
		for j, q := range wb[2:] {
			isum += (int32(q&0xf) - 8) * int32(int8(xb[2+j]))
			isum += (int32(q>>4) - 8) * int32(int8(xb[2+16+j]))
		}
		s += float32(float32(isum) * (half(wb) * half(xb)))
	}
	return s
}
