package quant

import (
	"encoding/binary"
	"math"
	"testing"
)

// allTypes are the types Dequantize and Quantize handle.
var allTypes = append([]Type{F32, F16, BF16}, quantizedTypes...)

// halfFields are the offsets of the f16 scales in each block: when they are
// finite, every decoded value is (the integer quants are bounded).
var halfFields = map[Type][]int{
	F16: {0}, Q4_0: {0}, Q4_1: {0, 2}, Q5_0: {0}, Q5_1: {0, 2}, Q8_0: {0}, Q8_1: {0},
	Q2_K: {80, 82}, Q3_K: {108}, Q4_K: {0, 2}, Q5_K: {0, 2}, Q6_K: {208},
}

// finiteBlock reports whether the format promises finite values for block b.
func finiteBlock(t Type, b []byte) bool {
	switch t {
	case F32:
		return finite(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case BF16:
		return finite(BF16ToF32(binary.LittleEndian.Uint16(b)))
	case Q8_K:
		// d is a float32; d·q can overflow only if |d| > MaxFloat32/128.
		d := math.Float32frombits(binary.LittleEndian.Uint32(b))
		return math.Abs(float64(d)) <= math.MaxFloat32/128
	}
	for _, off := range halfFields[t] {
		if binary.LittleEndian.Uint16(b[off:])&0x7c00 == 0x7c00 {
			return false
		}
	}
	return true
}

func finite(v float32) bool { return !math.IsInf(float64(v), 0) && !math.IsNaN(float64(v)) }

// FuzzDequantize: arbitrary bytes decode without panicking as any type, a
// request for n elements fails exactly when n is not a whole number of
// blocks that fit in the bytes, and blocks with finite scales decode to
// finite values.
func FuzzDequantize(f *testing.F) {
	f.Add(uint8(3), 32, make([]byte, 18))
	f.Add(uint8(9), 256, []byte{0xff, 0x7b, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(uint8(12), -5, []byte("\x00\x7c\x00\xfc some K-quant bytes that are far too short"))
	f.Add(uint8(1), 7, []byte{0x00, 0x7f, 0x80, 0xff, 0x01, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, ti uint8, n int, data []byte) {
		typ := allTypes[int(ti)%len(allTypes)]
		bs, ts := typ.BlockSize(), typ.TypeSize()

		n = int(uint(n) % 4097)
		fits := n%bs == 0 && n/bs*ts <= len(data)
		if err := Dequantize(typ, data, make([]float32, n)); (err == nil) != fits {
			t.Fatalf("%s: %d elements from %d bytes: error %v", typ, n, len(data), err)
		}

		blocks := len(data) / ts
		y := make([]float32, blocks*bs)
		if err := Dequantize(typ, data, y); err != nil {
			t.Fatal(err)
		}
		for blk := range blocks {
			if !finiteBlock(typ, data[blk*ts:]) {
				continue
			}
			for i, v := range y[blk*bs : (blk+1)*bs] {
				if !finite(v) {
					t.Fatalf("%s block %d (% x): element %d decodes to %g", typ, blk, data[blk*ts:(blk+1)*ts], i, v)
				}
			}
		}
	})
}

// FuzzQuantizeRoundTrip: arbitrary float32s (the bytes, padded with zeros to
// whole blocks) quantize without panicking as any type, and when they are
// finite and within f16 range (|x| ≤ 60000, so scales and offsets fit) they
// decode within the error the format allows.
func FuzzQuantizeRoundTrip(f *testing.F) {
	f.Add(uint8(0), []byte{0, 0, 128, 63})
	f.Add(uint8(5), []byte{0, 0, 128, 63, 0, 0, 0, 192, 0, 0, 64, 64, 205, 204, 76, 62})
	f.Add(uint8(10), []byte{0, 0, 192, 127, 0, 0, 128, 127, 0, 0, 128, 255})
	f.Add(uint8(13), []byte{1, 0, 0, 0, 0, 0, 128, 0, 0, 0, 128, 63, 0, 0, 0, 0, 20, 30, 40, 50})
	f.Fuzz(func(t *testing.T, ti uint8, data []byte) {
		typ := allTypes[int(ti)%len(allTypes)]
		bs := typ.BlockSize()
		x := make([]float32, max(bs, (len(data)/4+bs-1)/bs*bs))
		sane := true
		for i := range len(data) / 4 {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			sane = sane && math.Abs(float64(x[i])) <= 60000 // false for NaN too
		}
		if sane {
			checkRoundTrip(t, typ, x)
			return
		}
		n, _ := typ.RowBytes(len(x))
		b := make([]byte, n)
		if err := Quantize(typ, x, b); err != nil {
			t.Fatal(err)
		}
		if err := Dequantize(typ, b, x); err != nil {
			t.Fatal(err)
		}
	})
}
