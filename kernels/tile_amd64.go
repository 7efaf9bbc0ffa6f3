package kernels

import "github.com/klauspost/cpuid/v2"

// AVX-512 kernels: packed Q8_0, Q4_0, F16 and BF16 (and BF16 against
// bfloat16 activations, with AVX512_BF16) in pack_amd64.s; tiles for the
// other types in tile_amd64.s.

//go:noescape
func q8_0PackX4(a *packArgs)

//go:noescape
func q8_0PackX1(a *packArgs)

//go:noescape
func q4_0PackX4(a *packArgs)

//go:noescape
func q4_0PackX1(a *packArgs)

//go:noescape
func f16PackX4(a *packArgs)

//go:noescape
func f16PackX1(a *packArgs)

//go:noescape
func bf16PackX4(a *packArgs)

//go:noescape
func bf16PackX1(a *packArgs)

//go:noescape
func bf16DotPackX4(a *packArgs)

//go:noescape
func bf16DotPackX1(a *packArgs)

//go:noescape
func q4_KTileX4(a *tileArgs)

//go:noescape
func q4_KTileX1(a *tileArgs)

//go:noescape
func q6_KTileX4(a *tileArgs)

//go:noescape
func q6_KTileX1(a *tileArgs)

//go:noescape
func f32TileX4(a *tileArgs)

//go:noescape
func f32TileX1(a *tileArgs)

//go:noescape
func toBF16AVX512(x *float32, out *uint16, n int)

// toBF16RowAVX512 is toBF16Row, sixteen at a time.
func toBF16RowAVX512(x []float32, out []uint16) {
	n := len(x) &^ 15
	if n > 0 {
		_ = out[n-1]
		toBF16AVX512(&x[0], &out[0], n)
	}
	toBF16Row(x[n:], out[n:])
}

//go:noescape
func quantizeQ8AVX512(x *float32, q *byte, s *float32, sums *int32, blocks int)

func quantizeQ8RowAVX512(x []float32, q []byte, scales []float32, sums []int32) {
	if len(scales) > 0 {
		_, _ = x[32*len(scales)-1], q[32*len(scales)-1]
		var sp *int32
		if sums != nil {
			_ = sums[len(scales)-1]
			sp = &sums[0]
		}
		quantizeQ8AVX512(&x[0], &q[0], &scales[0], sp, len(scales))
	}
}

var avx512Tiles = tileKernels{
	name:       "avx512",
	f32:        &tilePair{f32TileX4, f32TileX1},
	q4_K:       &tilePair{q4_KTileX4, q4_KTileX1},
	q6_K:       &tilePair{q6_KTileX4, q6_KTileX1},
	q8_0Packed: packPair{q8_0PackX4, q8_0PackX1},
	q4_0Packed: packPair{q4_0PackX4, q4_0PackX1},
	f16Packed:  packPair{f16PackX4, f16PackX1},
	bf16Packed: packPair{bf16PackX4, bf16PackX1},
	quantizeQ8: quantizeQ8RowAVX512,
	toBF16:     toBF16RowAVX512,
}

func init() {
	if cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW, cpuid.AVX512VL, cpuid.AVX512VNNI, cpuid.F16C, cpuid.BMI2) {
		if cpuid.CPU.Supports(cpuid.AVX512BF16) {
			avx512Tiles.name = "avx512bf16"
			avx512Tiles.bf16DotPacked = packPair{bf16DotPackX4, bf16DotPackX1}
		}
		simdTiles = &avx512Tiles
	}
}
