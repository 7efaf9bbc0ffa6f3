package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// halfValue decodes an IEEE binary16 from its definition, independently of
// the package's conversion: (−1)^s · 2^(e−15) · 1.m, subnormals 2^−14 · 0.m.
func halfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10&0x1f), float64(h&0x3ff)
	switch {
	case e == 0x1f && m == 0:
		return math.Inf(int(sign))
	case e == 0x1f:
		return math.NaN()
	case e == 0:
		return sign * math.Ldexp(m/1024, -14)
	}
	return sign * math.Ldexp(1+m/1024, e-15)
}

func TestF16ToF32AllValues(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		got, want := F16ToF32(h), halfValue(h)
		if math.IsNaN(want) {
			// A NaN keeps its sign and payload and comes out quiet, as x86
			// (and so ggml's conversion) delivers it.
			wantBits := uint32(h&0x8000)<<16 | 0x7fc00000 | uint32(h&0x3ff)<<13
			if math.Float32bits(got) != wantBits {
				t.Errorf("F16ToF32(%#04x) = %#08x, want %#08x", h, math.Float32bits(got), wantBits)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Errorf("F16ToF32(%#04x) = %g, want %g", h, got, want)
		}
	}
}

func TestF32ToF16(t *testing.T) {
	// Every half survives the round trip.
	for i := range 1 << 16 {
		h := uint16(i)
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			continue // NaNs are canonicalised, tested below
		}
		if got := F32ToF16(F16ToF32(h)); got != h {
			t.Errorf("F32ToF16(F16ToF32(%#04x)) = %#04x", h, got)
		}
	}
	// Halfway between two neighbouring positive halves (all such midpoints
	// are float32s) rounds to the one with the even mantissa; a float32 ulp
	// either side rounds to the nearer one. This covers subnormals, the
	// normal/subnormal boundary and the overflow to infinity at 65520.
	for h := uint16(0); h < 0x7c00; h++ {
		lo, hi := halfValue(h), halfValue(h+1)
		if h == 0x7bff {
			hi = 65536 // where the next half would be, were there no Inf
		}
		mid := float32((lo + hi) / 2)
		even := h
		if h&1 == 1 {
			even = h + 1
		}
		for _, c := range []struct {
			x    float32
			want uint16
		}{
			{mid, even},
			{math.Nextafter32(mid, 0), h},
			{math.Nextafter32(mid, float32(math.Inf(1))), h + 1},
		} {
			if got := F32ToF16(c.x); got != c.want {
				t.Fatalf("F32ToF16(%g) = %#04x, want %#04x", c.x, got, c.want)
			}
			if got := F32ToF16(-c.x); got != c.want|0x8000 {
				t.Fatalf("F32ToF16(%g) = %#04x, want %#04x", -c.x, got, c.want|0x8000)
			}
		}
	}
	for _, c := range []struct {
		bits uint32
		want uint16
	}{
		{0x7f800000, 0x7c00},             // +Inf
		{0xff800000, 0xfc00},             // -Inf
		{math.Float32bits(1e10), 0x7c00}, // overflow
		{math.Float32bits(1e-10), 0},     // underflow
		{0x7fc00000, 0x7e00},             // quiet NaN
		{0x7f800001, 0x7e00},             // signalling NaN, payload dropped like ggml
		{0xffc12345, 0xfe00},             // negative NaN keeps its sign
	} {
		if got := F32ToF16(math.Float32frombits(c.bits)); got != c.want {
			t.Errorf("F32ToF16(%#08x) = %#04x, want %#04x", c.bits, got, c.want)
		}
	}
}

// TestF32ToF16Nearest checks random floats of every magnitude against the
// halves around the result: none may be strictly nearer.
func TestF32ToF16Nearest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		x := math.Float32frombits(r.Uint32() & 0x7fffffff)
		if x != x || x > 65504 {
			continue
		}
		h := F32ToF16(x)
		err := math.Abs(float64(x) - halfValue(h))
		for _, n := range []uint16{h - 1, h + 1} {
			if n > 0x7bff {
				continue
			}
			if e := math.Abs(float64(x) - halfValue(n)); e < err {
				t.Fatalf("F32ToF16(%g) = %#04x, but %#04x is nearer", x, h, n)
			}
		}
	}
}

func TestBF16(t *testing.T) {
	for _, c := range []struct {
		bits uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81}, // just above the tie
		{0x3f807fff, 0x3f80}, // just below the tie
		{0x80000000, 0x8000}, // -0
		{0x00000001, 0x0000}, // smallest subnormal rounds to 0
		{0x7f7fffff, 0x7f80}, // max float32 rounds to +Inf
		{0xff800000, 0xff80}, // -Inf
		{0x7f800001, 0x7fc0}, // signalling NaN made quiet, not Inf
		{0xffff0000, 0xffff}, // NaN with payload keeps its top bits
	} {
		if got := F32ToBF16(math.Float32frombits(c.bits)); got != c.want {
			t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", c.bits, got, c.want)
		}
	}
	for i := range 1 << 16 {
		h := uint16(i)
		if got := math.Float32bits(BF16ToF32(h)); got != uint32(h)<<16 {
			t.Fatalf("BF16ToF32(%#04x) = %#08x", h, got)
		}
		if h&0x7f80 == 0x7f80 && h&0x7f != 0 {
			continue // NaNs come back quiet
		}
		if got := F32ToBF16(BF16ToF32(h)); got != h {
			t.Fatalf("F32ToBF16(BF16ToF32(%#04x)) = %#04x", h, got)
		}
	}
}
