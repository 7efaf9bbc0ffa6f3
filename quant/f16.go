package quant

import (
	"math"

	"github.com/x448/float16"
)

// F16ToF32 widens an IEEE 754 half-precision value. Every half, subnormals,
// infinities and NaNs included, is exactly representable as a float32, so
// this is the same widening ggml does. It reads a table of all 65,536
// widenings (256 KiB), as ggml does, because F16 weights are widened once
// per use on the reference path.
func F16ToF32(h uint16) float32 { return f16Table[h] }

var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = float16.Frombits(uint16(i)).Float32()
	}
	return &t
}()

// F32ToF16 rounds f to the nearest half, ties to even, overflowing to ±Inf,
// exactly as ggml's GGML_FP32_TO_FP16. float16.Fromfloat32 does the same for
// every number and infinity; it differs only on NaN, where it keeps the
// payload while ggml writes the canonical quiet NaN 0x7E00 with f's sign.
func F32ToF16(f float32) uint16 {
	if f != f {
		return uint16(math.Float32bits(f)>>16)&0x8000 | 0x7e00
	}
	return float16.Fromfloat32(f).Bits()
}

// BF16ToF32 widens a bfloat16: it is the top half of a float32.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds f to the nearest bfloat16, ties to even, as ggml's
// ggml_compute_fp32_to_bf16: NaNs keep their top bits and are made quiet
// (the rounding increment could otherwise carry a NaN into an infinity).
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}
