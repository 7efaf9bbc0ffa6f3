package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Floating-point note for this file and the quantizers: each function
// reproduces ggml's order of float32 operations so that results agree bit for
// bit. Go may fuse a*b+c into one FMA instruction (it does on arm64, and on
// amd64 with GOAMD64=v3), which skips the rounding of a*b that ggml's C does;
// an explicit float32(a*b) conversion forbids that fusion, which is why such
// conversions appear around products that are then added to.

// Dequantize decodes len(dst) elements of type t from src into dst.
// len(dst) must be a multiple of t.BlockSize() and src must hold at least
// t.RowBytes(len(dst)) bytes; bytes past that are ignored.
func Dequantize(t Type, src []byte, dst []float32) error {
	need, err := t.RowBytes(len(dst))
	if err != nil {
		return fmt.Errorf("dequantize: %w", err)
	}
	if len(src) < need {
		return fmt.Errorf("dequantize %s: %d elements need %d bytes, got %d", t, len(dst), need, len(src))
	}
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
		return nil
	case F16:
		for i := range dst {
			dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
		return nil
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
		return nil
	}
	decode, ok := blockDecoders[t]
	if !ok {
		return fmt.Errorf("dequantize: no dequantizer for %s", t)
	}
	bs, ts := t.BlockSize(), t.TypeSize()
	for i := range len(dst) / bs {
		decode(src[i*ts:(i+1)*ts], dst[i*bs:(i+1)*bs])
	}
	return nil
}

// blockDecoders decode one block (TypeSize bytes) into BlockSize floats.
var blockDecoders = map[Type]func(b []byte, y []float32){
	Q4_0: dequantQ4_0,
	Q4_1: dequantQ4_1,
	Q5_0: dequantQ5_0,
	Q5_1: dequantQ5_1,
	Q8_0: dequantQ8_0,
	Q8_1: dequantQ8_1,
	Q2_K: dequantQ2_K,
	Q3_K: dequantQ3_K,
	Q4_K: dequantQ4_K,
	Q5_K: dequantQ5_K,
	Q6_K: dequantQ6_K,
	Q8_K: dequantQ8_K,
}

// half reads the little-endian f16 at b[0:2] as a float32.
func half(b []byte) float32 { return F16ToF32(binary.LittleEndian.Uint16(b)) }

// The legacy types split a block of 32 into two halves: byte j of qs holds
// element j in its low nibble and element j+16 in its high nibble. The 5-bit
// types keep the fifth bits in a little-endian uint32 qh, bit j for element j.

// Q4_0: f16 d, 16 bytes of nibbles; x = d·(q−8).
func dequantQ4_0(b []byte, y []float32) {
	d := half(b)
	qs := b[2:18]
	for j, q := range qs {
		y[j] = float32(int(q&0xf)-8) * d
		y[j+16] = float32(int(q>>4)-8) * d
	}
}

// Q4_1: f16 d, f16 m, 16 bytes of nibbles; x = d·q + m.
func dequantQ4_1(b []byte, y []float32) {
	d, m := half(b), half(b[2:])
	qs := b[4:20]
	for j, q := range qs {
		y[j] = float32(float32(q&0xf)*d) + m
		y[j+16] = float32(float32(q>>4)*d) + m
	}
}

// Q5_0: f16 d, uint32 qh, 16 bytes of nibbles; x = d·(q−16).
func dequantQ5_0(b []byte, y []float32) {
	d := half(b)
	qh := binary.LittleEndian.Uint32(b[2:])
	qs := b[6:22]
	for j, q := range qs {
		lo := int(q&0xf) | int(qh>>j&1)<<4
		hi := int(q>>4) | int(qh>>(j+16)&1)<<4
		y[j] = float32(lo-16) * d
		y[j+16] = float32(hi-16) * d
	}
}

// Q5_1: f16 d, f16 m, uint32 qh, 16 bytes of nibbles; x = d·q + m.
func dequantQ5_1(b []byte, y []float32) {
	d, m := half(b), half(b[2:])
	qh := binary.LittleEndian.Uint32(b[4:])
	qs := b[8:24]
	for j, q := range qs {
		lo := uint32(q&0xf) | (qh>>j&1)<<4
		hi := uint32(q>>4) | (qh>>(j+16)&1)<<4
		y[j] = float32(float32(lo)*d) + m
		y[j+16] = float32(float32(hi)*d) + m
	}
}

// Q8_0: f16 d, 32 int8; x = d·q.
func dequantQ8_0(b []byte, y []float32) {
	d := half(b)
	for j, q := range b[2:34] {
		y[j] = float32(int8(q)) * d
	}
}

// Q8_1: f16 d, f16 s (d·Σq, for dot products), 32 int8; x = d·q.
func dequantQ8_1(b []byte, y []float32) {
	d := half(b)
	for j, q := range b[4:36] {
		y[j] = float32(int8(q)) * d
	}
}

// The K-quants pack a super-block of 256 in sub-blocks of 16 or 32 elements,
// each with its own small integer scale (and min) that multiplies a float
// super-block scale d (and dmin). ggml computes the sub-block factor d·sc
// first and then multiplies by q; doing the same keeps results bit-exact.
//
// The 2-bit planes of Q2_K, Q3_K (and the high bits of Q6_K) are laid out in
// two halves of 128 elements; in half h, byte l of the 32-byte plane holds
// the elements 128h + l + 32s at bit offset 2s, for s = 0…3. So element e
// lives in byte 32·(e/128) + e%32 at shift 2·((e%128)/32).

// Q2_K: scales[16] (low nibble scale, high nibble min per 16 elements),
// qs[64] 2-bit quants, f16 d, f16 dmin; x = d·sc·q − dmin·m.
func dequantQ2_K(b []byte, y []float32) {
	scales, qs := b[0:16], b[16:80]
	d, dmin := half(b[80:]), half(b[82:])
	for s, sc := range scales {
		dl := d * float32(sc&0xf)
		ml := dmin * float32(sc>>4)
		for e := 16 * s; e < 16*s+16; e++ {
			q := qs[32*(e/128)+e%32] >> (2 * (e % 128 / 32)) & 3
			y[e] = float32(dl*float32(q)) - ml
		}
	}
}

// Q3_K: hmask[32] (third bit of element e: bit e/32 of byte e%32), qs[64]
// low 2 bits, scales[12] (sixteen 6-bit scales offset by 32), f16 d;
// x = d·sc·(q−4), the stored third bit set meaning "no −4".
func dequantQ3_K(b []byte, y []float32) {
	hmask, qs, scales := b[0:32], b[32:96], b[96:108]
	d := half(b[108:])
	for s := range 16 {
		dl := d * float32(q3kScale(scales, s))
		for e := 16 * s; e < 16*s+16; e++ {
			q := int(qs[32*(e/128)+e%32] >> (2 * (e % 128 / 32)) & 3)
			if hmask[e%32]&(1<<(e/32)) == 0 {
				q -= 4
			}
			y[e] = dl * float32(q)
		}
	}
}

// q3kScale unpacks the signed 6-bit scale of Q3_K sub-block j: its low 4 bits
// are nibble j%8 of bytes 0…7 (low nibbles first), its high 2 bits sit in
// byte 8 + j%4 at shift 2·(j/4).
func q3kScale(scales []byte, j int) int {
	lo := scales[j%8] & 0xf
	if j >= 8 {
		lo = scales[j%8] >> 4
	}
	hi := scales[8+j%4] >> (2 * (j / 4)) & 3
	return int(lo|hi<<4) - 32
}

// scaleMinK4 unpacks the 6-bit scale and min of Q4_K/Q5_K sub-block j from
// their 12 scale bytes: sub-blocks 0…3 keep scale and min in the low 6 bits of
// bytes j and j+4; sub-blocks 4…7 keep their low 4 bits in the nibbles of
// byte j+4 and their top 2 bits in the spare top bits of bytes j−4 and j.
func scaleMinK4(scales []byte, j int) (sc, m uint8) {
	if j < 4 {
		return scales[j] & 63, scales[j+4] & 63
	}
	sc = scales[j+4]&0xf | scales[j-4]>>6<<4
	m = scales[j+4]>>4 | scales[j]>>6<<4
	return sc, m
}

// Q4_K: f16 d, f16 dmin, scales[12], qs[128]; eight sub-blocks of 32, each
// pair 2k, 2k+1 sharing bytes 32k…32k+31 (low nibbles, then high nibbles);
// x = d·sc·q − dmin·m.
func dequantQ4_K(b []byte, y []float32) {
	d, dmin := half(b), half(b[2:])
	scales, qs := b[4:16], b[16:144]
	for s := range 8 {
		sc, m := scaleMinK4(scales, s)
		dl, ml := d*float32(sc), dmin*float32(m)
		for l, q := range qs[32*(s/2) : 32*(s/2)+32] {
			q = q >> (4 * (s % 2)) & 0xf
			y[32*s+l] = float32(dl*float32(q)) - ml
		}
	}
}

// Q5_K: as Q4_K plus qh[32]: the fifth bit of element 32s+l is bit s of
// qh[l].
func dequantQ5_K(b []byte, y []float32) {
	d, dmin := half(b), half(b[2:])
	scales, qh, qs := b[4:16], b[16:48], b[48:176]
	for s := range 8 {
		sc, m := scaleMinK4(scales, s)
		dl, ml := d*float32(sc), dmin*float32(m)
		for l, q := range qs[32*(s/2) : 32*(s/2)+32] {
			q = q>>(4*(s%2))&0xf | (qh[l]>>s&1)<<4
			y[32*s+l] = float32(dl*float32(q)) - ml
		}
	}
}

// Q6_K: ql[128] low 4 bits, qh[64] high 2 bits, int8 scales[16], f16 d;
// x = d·sc·(q−32). In half h (128 elements), quarter k, position l: the low
// bits are nibble k/2 of ql[64h + 32·(k%2) + l], the high bits are at shift
// 2k of qh[32h + l].
func dequantQ6_K(b []byte, y []float32) {
	ql, qh, scales := b[0:128], b[128:192], b[192:208]
	d := half(b[208:])
	for s := range 16 {
		dl := d * float32(int8(scales[s]))
		for e := 16 * s; e < 16*s+16; e++ {
			h, k, l := e/128, e%128/32, e%32
			lo := ql[64*h+32*(k%2)+l] >> (4 * (k / 2)) & 0xf
			hi := qh[32*h+l] >> (2 * k) & 3
			y[e] = dl * float32(int(lo|hi<<4)-32)
		}
	}
}

// Q8_K: f32 d, int8 qs[256], int16 bsums[16] (sums of 16 quants, used only by
// dot products); x = d·q.
func dequantQ8_K(b []byte, y []float32) {
	d := math.Float32frombits(binary.LittleEndian.Uint32(b))
	for j, q := range b[4:260] {
		y[j] = d * float32(int8(q))
	}
}
