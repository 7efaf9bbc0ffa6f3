package quant

import "math"

// The K-quant quantizers search, per sub-block, for the scale (and min) that
// minimise a weighted squared or absolute error, then quantize those
// sub-block scales themselves against one f16 super-block scale, and finally
// re-quantize every element against the scale it will actually be decoded
// with. They follow ggml's quantize_row_*_ref step for step, float32 rounding
// included, so that the bytes are llama-quantize's: another search could be
// as good, but its files could not be checked against llama.cpp's.

// groupMaxEps is ggml's threshold below which a group counts as all zeros.
const groupMaxEps = 1e-15

// nearestInt rounds to the nearest integer, ties to even, the way ggml does:
// adding 1.5·2²³ pushes the fraction out of the float32 mantissa and the
// integer is read from the low mantissa bits. It is exact for |f| < 2²²;
// beyond that (only for degenerate blocks) it returns what ggml returns.
// The float32 conversion keeps the caller's product from fusing into an FMA.
func nearestInt(f float32) int {
	v := float32(f) + 12582912
	return int(math.Float32bits(v)&0x7fffff) - 0x400000
}

func clampInt(v, lo, hi int) int { return max(lo, min(hi, v)) }

// makeQXQuants is ggml's make_qx_quants for weights w = x² and no importance
// matrix: it quantizes x to signed levels −nmax…nmax−1 (stored in q offset by
// nmax) and returns the scale. It tries 19 candidate inverse scales around
// nmax/max and keeps the one whose least-squares scale explains most of x.
func makeQXQuants(x []float32, nmax int, q []int8) float32 {
	max, amax := signedMax(x)
	if amax < groupMaxEps {
		clear(q)
		return 0
	}
	// sums accumulates Σw·x·l and Σw·l² for the quants of one inverse scale.
	sums := func(iscale float32) (sumlx, suml2 float32) {
		for _, v := range x {
			l := float32(clampInt(nearestInt(iscale*v), -nmax, nmax-1))
			w := v * v
			sumlx += float32(w * v * l)
			suml2 += float32(w * l * l)
		}
		return sumlx, suml2
	}
	setL := func(iscale float32) {
		for i, v := range x {
			q[i] = int8(clampInt(nearestInt(iscale*v), -nmax, nmax-1) + nmax)
		}
	}

	iscale := -float32(nmax) / max
	setL(iscale)
	sumlx, suml2 := sums(iscale)
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(0.1*float32(is))) / max
		sumlx, suml2 = sums(iscale)
		// The least-squares scale sumlx/suml2 leaves an error of
		// Σw·x² − sumlx²/suml2: the larger sumlx²/suml2, the better.
		if suml2 > 0 && sumlx*sumlx > best*suml2 {
			setL(iscale)
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

// makeQ3Quants is ggml's make_q3_quants with do_rmse: levels −nmax…nmax−1
// (stored offset by nmax) weighted by x², refined by up to five passes of
// coordinate descent that move one quant at a time while that lowers the
// error of the least-squares scale. It returns that scale.
func makeQ3Quants(x []float32, nmax int, q []int8) float32 {
	max, amax := signedMax(x)
	if amax < groupMaxEps {
		clear(q)
		return 0
	}
	iscale := -float32(nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
		q[i] = int8(l)
		w := v * v
		sumlx += float32(w * v * float32(l))
		suml2 += float32(w * float32(l) * float32(l))
	}
	for range 5 {
		changed := false
		for i, v := range x {
			w := v * v
			li := float32(q[i])
			slx := sumlx - float32(w*v*li)
			if !(slx > 0) {
				continue
			}
			sl2 := suml2 - float32(w*li*li)
			newL := clampInt(nearestInt(v*sl2/slx), -nmax, nmax-1)
			if newL == int(q[i]) {
				continue
			}
			nl := float32(newL)
			slx += float32(w * v * nl)
			sl2 += float32(w * nl * nl)
			if sl2 > 0 && slx*slx*suml2 > sumlx*sumlx*sl2 {
				q[i], sumlx, suml2 = int8(newL), slx, sl2
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	for i := range q {
		q[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// makeQKX2Quants is ggml's make_qkx2_quants: it fits x ≈ scale·q − offset
// with q in 0…nmax and offset ≥ 0, minimising the weighted squared (or, with
// mad, absolute) error. Starting from the plain range [min(x,0), max(x)], it
// tries nstep+1 inverse scales (rmin + rdelta·is + nmax)/range and, for each
// rounding, solves the weighted least-squares scale and offset in closed form.
func makeQKX2Quants(x, weights []float32, nmax int, q, qtry []uint8, rmin, rdelta float32, nstep int, mad bool) (scale, offset float32) {
	lo, hi := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < len(x); i++ {
		if x[i] < lo {
			lo = x[i]
		}
		if x[i] > hi {
			hi = x[i]
		}
		sumW += weights[i]
		sumX += float32(weights[i] * x[i])
	}
	if lo > 0 {
		lo = 0
	}
	if hi == lo {
		clear(q)
		return 0, -lo
	}
	// errorOf is the weighted error of decoding quants lv as s·lv + m.
	errorOf := func(lv []uint8, s, m float32) float32 {
		var e float32
		for i, v := range x {
			diff := float32(s*float32(lv[i])) + m - v
			if mad {
				diff = abs32(diff)
			} else {
				diff *= diff
			}
			e += float32(weights[i] * diff)
		}
		return e
	}
	// roundAll rounds x−m against the inverse scale iscale into dst.
	roundAll := func(dst []uint8, iscale, m float32) {
		for i, v := range x {
			dst[i] = uint8(clampInt(nearestInt(iscale*(v-m)), 0, nmax))
		}
	}

	// m is the best offset so far; like ggml, later candidates are measured
	// from it rather than from the original minimum.
	m := lo
	iscale := float32(nmax) / (hi - m)
	scale = 1 / iscale
	roundAll(q, iscale, m)
	best := errorOf(q, scale, m)
	for is := 0; is <= nstep; is++ {
		iscale = (float32(rmin+float32(rdelta*float32(is))) + float32(nmax)) / (hi - m)
		roundAll(qtry, iscale, m)
		var sumL, sumL2, sumXL float32
		for i, l := range qtry {
			w := weights[i]
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(w * fl * fl)
			sumXL += float32(w * fl * x[i])
		}
		det := float32(sumW*sumL2) - float32(sumL*sumL)
		if !(det > 0) {
			continue
		}
		s := (float32(sumW*sumXL) - float32(sumX*sumL)) / det
		mm := (float32(sumL2*sumX) - float32(sumL*sumXL)) / det
		if mm > 0 {
			mm = 0
			s = sumXL / sumL2
		}
		if e := errorOf(qtry, s, mm); e < best {
			copy(q, qtry)
			best, scale, m = e, s, mm
		}
	}
	return scale, -m
}

// Q2_K: sixteen sub-blocks of 16, each fitted as scale·q − min with 2-bit q;
// scales and mins are then quantized to 4 bits against d = maxScale/15 and
// dmin = maxMin/15.
func quantQ2_K(x []float32, b []byte) {
	var q [QK_K]uint8
	var qtry [16]uint8
	var weights [16]float32
	var scales, mins [16]float32
	var maxScale, maxMin float32
	for j := range 16 {
		xs := x[16*j : 16*j+16]
		for l, v := range xs {
			weights[l] = abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(xs, weights[:], 3, q[16*j:16*j+16], qtry[:], -0.5, 0.1, 15, true)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}

	sc := b[0:16]
	clear(sc)
	if maxScale > 0 {
		iscale := 15 / maxScale
		for j := range sc {
			sc[j] = uint8(nearestInt(iscale * scales[j]))
		}
	}
	putHalf(b[80:], maxScale/15)
	if maxMin > 0 {
		iscale := 15 / maxMin
		for j := range sc {
			sc[j] |= uint8(nearestInt(iscale*mins[j]) << 4)
		}
	}
	putHalf(b[82:], maxMin/15)

	d, dmin := half(b[80:]), half(b[82:])
	for j := range 16 {
		dl := d * float32(sc[j]&0xf)
		if dl == 0 {
			continue
		}
		ml := dmin * float32(sc[j]>>4)
		for i := 16 * j; i < 16*j+16; i++ {
			q[i] = uint8(clampInt(nearestInt((x[i]+ml)/dl), 0, 3))
		}
	}
	pack2Bit(b[16:80], q[:])
}

// pack2Bit stores 256 values of 0…3 in the two-halves bit-plane layout
// described above dequantQ2_K.
func pack2Bit(qs []byte, q []uint8) {
	for h := range 2 {
		for l := range 32 {
			e := 128*h + l
			qs[32*h+l] = q[e] | q[e+32]<<2 | q[e+64]<<4 | q[e+96]<<6
		}
	}
}

// Q3_K: sixteen sub-blocks of 16 with symmetric 3-bit quants (−4…3); their
// signed scales are quantized to 6 bits (−32…31) against d = maxScale/−32.
func quantQ3_K(x []float32, b []byte) {
	var q [QK_K]int8
	var scales [16]float32
	var maxScale, amax float32
	for j := range 16 {
		scales[j] = makeQ3Quants(x[16*j:16*j+16], 4, q[16*j:16*j+16])
		if a := abs32(scales[j]); a > amax {
			amax, maxScale = a, scales[j]
		}
	}

	sc := b[96:108]
	clear(sc)
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := range 16 {
			l := uint8(clampInt(nearestInt(iscale*scales[j]), -32, 31) + 32)
			if j < 8 {
				sc[j] = l & 0xf
			} else {
				sc[j-8] |= l << 4
			}
			sc[8+j%4] |= l >> 4 << (2 * (j / 4))
		}
		putHalf(b[108:], 1/iscale)
	} else {
		putHalf(b[108:], 0)
	}

	d := half(b[108:])
	for j := range 16 {
		dl := d * float32(q3kScale(sc, j))
		if dl == 0 {
			continue
		}
		for i := 16 * j; i < 16*j+16; i++ {
			q[i] = int8(clampInt(nearestInt(x[i]/dl), -4, 3) + 4)
		}
	}

	// The third bit goes to hmask; the low two bits to the 2-bit planes.
	hmask := b[0:32]
	clear(hmask)
	var low [QK_K]uint8
	for e, l := range q {
		if l > 3 {
			hmask[e%32] |= 1 << (e / 32)
			l -= 4
		}
		low[e] = uint8(l)
	}
	pack2Bit(b[32:96], low[:])
}

// quantScaleMinK is the part Q4_K and Q5_K share: eight sub-blocks of 32, each
// fitted as scale·q − min with q in 0…nmax, weighted by rms(x)+|x|; their
// scales and mins quantized to 6 bits against f16 d and dmin (written to
// b[0:16]); then every element re-quantized into q against the decoded scales.
func quantScaleMinK(x []float32, b []byte, nmax int, rmin float32, nstep int, q *[QK_K]uint8) {
	var qtry [32]uint8
	var weights [32]float32
	var scales, mins [8]float32
	var maxScale, maxMin float32
	for j := range 8 {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(xs, weights[:], nmax, q[32*j:32*j+32], qtry[:], rmin, 0.1, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}

	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := b[4:16]
	for j := range 8 {
		ls := min(63, uint8(nearestInt(invScale*scales[j])))
		lm := min(63, uint8(nearestInt(invMin*mins[j])))
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = ls&0xf | lm<<4
			sc[j-4] |= ls >> 4 << 6
			sc[j] |= lm >> 4 << 6
		}
	}
	putHalf(b[0:], maxScale/63)
	putHalf(b[2:], maxMin/63)

	d, dmin := half(b[0:]), half(b[2:])
	for j := range 8 {
		s, m := scaleMinK4(sc, j)
		dl := d * float32(s)
		if dl == 0 {
			continue
		}
		ml := dmin * float32(m)
		for i := 32 * j; i < 32*j+32; i++ {
			q[i] = uint8(clampInt(nearestInt((x[i]+ml)/dl), 0, nmax))
		}
	}
}

// Q4_K: 4-bit quants, sub-blocks 2k and 2k+1 sharing 32 bytes (low, high
// nibble).
func quantQ4_K(x []float32, b []byte) {
	var q [QK_K]uint8
	quantScaleMinK(x, b, 15, -1, 20, &q)
	qs := b[16:144]
	for k := range 4 {
		for l := range 32 {
			qs[32*k+l] = q[64*k+l] | q[64*k+32+l]<<4
		}
	}
}

// Q5_K: Q4_K's layout plus the fifth bit of element 32s+l in bit s of qh[l].
func quantQ5_K(x []float32, b []byte) {
	var q [QK_K]uint8
	quantScaleMinK(x, b, 31, -0.5, 15, &q)
	qh, qs := b[16:48], b[48:176]
	clear(qh)
	for e, l := range q {
		qh[e%32] |= l >> 4 << (e / 32)
	}
	for k := range 4 {
		for l := range 32 {
			qs[32*k+l] = q[64*k+l]&0xf | q[64*k+32+l]<<4
		}
	}
}

// Q6_K: sixteen sub-blocks of 16 with symmetric 6-bit quants (−32…31); their
// signed scales are quantized to int8 against d = maxScale/−128.
func quantQ6_K(x []float32, b []byte) {
	var q [QK_K]int8
	var scales [16]float32
	var maxScale, amax float32
	for j := range 16 {
		scales[j] = makeQXQuants(x[16*j:16*j+16], 32, q[16*j:16*j+16])
		if a := abs32(scales[j]); a > amax {
			amax, maxScale = a, scales[j]
		}
	}
	if amax < groupMaxEps {
		clear(b)
		return
	}

	iscale := -128 / maxScale
	putHalf(b[208:], 1/iscale)
	sc := b[192:208]
	for j := range sc {
		sc[j] = byte(int8(min(127, nearestInt(iscale*scales[j]))))
	}

	d := half(b[208:])
	for j := range 16 {
		dl := d * float32(int8(sc[j]))
		if dl == 0 {
			continue
		}
		for i := 16 * j; i < 16*j+16; i++ {
			q[i] = int8(clampInt(nearestInt(x[i]/dl), -32, 31) + 32)
		}
	}

	// Layout as described above dequantQ6_K.
	ql, qh := b[0:128], b[128:192]
	for h := range 2 {
		for l := range 32 {
			e := 128*h + l
			v := [4]uint8{uint8(q[e]), uint8(q[e+32]), uint8(q[e+64]), uint8(q[e+96])}
			ql[64*h+l] = v[0]&0xf | v[2]<<4
			ql[64*h+32+l] = v[1]&0xf | v[3]<<4
			qh[32*h+l] = v[0]>>4 | v[1]>>4<<2 | v[2]>>4<<4 | v[3]>>4<<6
		}
	}
}
