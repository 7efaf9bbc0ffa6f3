package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// CanQuantize reports whether Quantize can write type t.
func CanQuantize(t Type) bool {
	switch t {
	case F32, F16, BF16:
		return true
	}
	_, ok := blockEncoders[t]
	return ok
}

// Quantize encodes src as type t into dst, following ggml's reference
// quantizers (quantize_row_*_ref, no importance matrix), so that the bytes
// are the ones llama-quantize writes. len(src) must be a multiple of
// t.BlockSize() and dst must hold at least t.RowBytes(len(src)) bytes.
//
// Non-finite inputs are stored faithfully by the float types; the quantized
// types, like ggml, produce unspecified (but well-formed) blocks for them.
func Quantize(t Type, src []float32, dst []byte) error {
	need, err := t.RowBytes(len(src))
	if err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	if len(dst) < need {
		return fmt.Errorf("quantize %s: %d elements need %d bytes, got %d", t, len(src), need, len(dst))
	}
	switch t {
	case F32:
		for i, x := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x))
		}
		return nil
	case F16:
		for i, x := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(x))
		}
		return nil
	case BF16:
		for i, x := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(x))
		}
		return nil
	}
	encode, ok := blockEncoders[t]
	if !ok {
		return fmt.Errorf("quantize: no quantizer for %s", t)
	}
	bs, ts := t.BlockSize(), t.TypeSize()
	for i := range len(src) / bs {
		encode(src[i*bs:(i+1)*bs], dst[i*ts:(i+1)*ts])
	}
	return nil
}

// blockEncoders encode BlockSize floats into one block of TypeSize bytes,
// overwriting every byte of it.
var blockEncoders = map[Type]func(x []float32, b []byte){
	Q4_0: quantQ4_0,
	Q4_1: quantQ4_1,
	Q5_0: quantQ5_0,
	Q5_1: quantQ5_1,
	Q8_0: quantQ8_0,
	Q8_1: quantQ8_1,
	Q2_K: quantQ2_K,
	Q3_K: quantQ3_K,
	Q4_K: quantQ4_K,
	Q5_K: quantQ5_K,
	Q6_K: quantQ6_K,
	Q8_K: quantQ8_K,
}

func putHalf(b []byte, f float32) { binary.LittleEndian.PutUint16(b, F32ToF16(f)) }

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// signedMax returns the element of largest magnitude (the first one on ties)
// and that magnitude. The symmetric types scale by this signed value so
// that it lands exactly on the most negative quant, which has no positive
// twin (−8…7 for 4 bits): the extreme value costs no precision.
func signedMax(x []float32) (max, amax float32) {
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, max = a, v
		}
	}
	return max, amax
}

// minMax returns the smallest and largest element, for the types that store
// an offset (x = d·q + m).
func minMax(x []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

// inverse is 1/d, or 0 for an all-zero block so that every quant is zero.
func inverse(d float32) float32 {
	if d == 0 {
		return 0
	}
	return 1 / d
}

// quantQ4_0 maps the block onto −8…7 with d = max/−8; ggml rounds by
// truncating x/d + 8.5, so q is the nearest level with ties going up.
func quantQ4_0(x []float32, b []byte) {
	max, _ := signedMax(x)
	d := max / -8
	id := inverse(d)
	putHalf(b, d)
	for j := range 16 {
		q0 := min(15, int(float32(x[j]*id)+8.5))
		q1 := min(15, int(float32(x[j+16]*id)+8.5))
		b[2+j] = byte(q0) | byte(q1)<<4
	}
}

// quantQ4_1 spreads [min, max] over 0…15: d = (max−min)/15, m = min.
func quantQ4_1(x []float32, b []byte) {
	lo, hi := minMax(x)
	d := (hi - lo) / 15
	id := inverse(d)
	putHalf(b, d)
	putHalf(b[2:], lo)
	for j := range 16 {
		q0 := min(15, int(float32((x[j]-lo)*id)+0.5))
		q1 := min(15, int(float32((x[j+16]-lo)*id)+0.5))
		b[4+j] = byte(q0) | byte(q1)<<4
	}
}

// quantQ5_0 is Q4_0 with 32 levels (−16…15) and the fifth bits in qh.
func quantQ5_0(x []float32, b []byte) {
	max, _ := signedMax(x)
	d := max / -16
	id := inverse(d)
	putHalf(b, d)
	var qh uint32
	for j := range 16 {
		q0 := min(31, int(float32(x[j]*id)+16.5))
		q1 := min(31, int(float32(x[j+16]*id)+16.5))
		b[6+j] = byte(q0)&0xf | byte(q1)<<4
		qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+16)
	}
	binary.LittleEndian.PutUint32(b[2:], qh)
}

// quantQ5_1 is Q4_1 with 32 levels and the fifth bits in qh.
func quantQ5_1(x []float32, b []byte) {
	lo, hi := minMax(x)
	d := (hi - lo) / 31
	id := inverse(d)
	putHalf(b, d)
	putHalf(b[2:], lo)
	var qh uint32
	for j := range 16 {
		q0 := uint8(float32((x[j]-lo)*id) + 0.5)
		q1 := uint8(float32((x[j+16]-lo)*id) + 0.5)
		b[8+j] = q0&0xf | q1<<4
		qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+16)
	}
	binary.LittleEndian.PutUint32(b[4:], qh)
}

// quantQ8_0 maps the block onto −127…127 with d = amax/127, rounding half
// away from zero (C's roundf).
func quantQ8_0(x []float32, b []byte) {
	_, amax := signedMax(x)
	d := amax / 127
	id := inverse(d)
	putHalf(b, d)
	for j, v := range x {
		b[2+j] = byte(roundAway(v * id))
	}
}

// roundAway rounds half away from zero like C's roundf, for the int8 range
// the Q8 quantizers need; it avoids math.Round's float64 bit twiddling,
// which made activation quantization twice as slow. Below 2²³ in magnitude
// v minus its truncation is exact, so comparing that fraction with ½ is too.
func roundAway(v float32) int8 {
	if !(abs32(v) < 1<<23) {
		return int8(v) // as C converts an out-of-range roundf result
	}
	t := int(v)
	switch f := v - float32(t); {
	case f >= 0.5:
		t++
	case f <= -0.5:
		t--
	}
	return int8(t)
}

// quantQ8_1 is Q8_0 plus s = d·Σq, which dot products with Q4_1/Q5_1 use to
// apply the offset m once per block.
func quantQ8_1(x []float32, b []byte) {
	_, amax := signedMax(x)
	d := amax / 127
	id := inverse(d)
	putHalf(b, d)
	sum := 0
	for j, v := range x {
		q := roundAway(v * id)
		b[4+j] = byte(q)
		sum += int(q)
	}
	putHalf(b[2:], float32(sum)*d)
}

// quantQ8_K maps the super-block onto −127…127 by its signed max (−127 and
// not −128, which the x86 IQ dot products could not negate), stores d as a
// float32, and the sums of each 16 quants for the K-quant dot products.
func quantQ8_K(x []float32, b []byte) {
	max, amax := signedMax(x)
	if amax == 0 {
		clear(b)
		return
	}
	iscale := -127 / max
	qs := b[4:260]
	for j, v := range x {
		qs[j] = byte(int8(min(127, nearestInt(iscale*v))))
	}
	for g := range 16 {
		sum := 0
		for _, q := range qs[16*g : 16*g+16] {
			sum += int(int8(q))
		}
		binary.LittleEndian.PutUint16(b[260+2*g:], uint16(int16(sum)))
	}
	binary.LittleEndian.PutUint32(b, math.Float32bits(1/iscale))
}
