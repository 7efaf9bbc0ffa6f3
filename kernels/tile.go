package kernels

import (
	"sync"
	"unsafe"

	"github.com/aha-inference/aha/quant"
)

// Tiles are the batched matmul kernels: 4 weight rows against 4 activation
// rows (or 1, for the last tokens of a batch), so each weight vector loaded
// from memory is multiplied into several tokens while it sits in a register,
// and each activation vector into several rows. A tile computes every one of
// its outputs with the same instructions as any other tile would — the
// ×1 and ×4 kernels share them — so an output never depends on the batch.

// tileArgs is what a tile kernel reads; the assembly knows its layout.
type tileArgs struct {
	w       [4]*byte // the four weight rows (repeated when fewer are left)
	x       *byte    // activations of the first token
	s       *float32 // their block scales (quantized activations)
	stride  int      // bytes from one token's activations (and scales) to the next
	out     *float32 // out[first token][first row]
	ostride int      // bytes from one token's outputs to the next
	n       int      // columns (float weights) or 32-column blocks (quantized)
	pf      int      // prefetch distance: the next group's rows are this far on
}

// tilePair is one weight type's kernels: ×4 tokens and ×1 token.
type tilePair struct{ x4, x1 func(*tileArgs) }

// tileKernels are the tiles of one instruction set. The quantized types'
// tiles read Q8_0 activations; a type without tiles goes through the
// float32 ones on dequantized rows.
type tileKernels struct {
	name            string
	f32, q4_K, q6_K *tilePair
	// The kernels for packed matrices (pack.go); bf16DotPacked multiplies
	// bfloat16 activations.
	q8_0Packed, q4_0Packed, f16Packed, bf16Packed, bf16DotPacked packPair
	// quantizeQ8 is quantizeQ8Row, faster.
	quantizeQ8 func(x []float32, q []byte, scales []float32, sums []int32)
	// toBF16 is toBF16Row, faster.
	toBF16 func(x []float32, out []uint16)
}

// simdTiles is set at init by the architecture's file when the CPU has the
// needed features (nil: none).
var simdTiles *tileKernels

const (
	tileRows = 4
	tileToks = 4
	// actBlockBytes bounds the activations one pass over the weights
	// multiplies, so that they stay in the L2 cache while the pass runs.
	actBlockBytes = 256 << 10
)

// pair returns the tiles for w, or nil.
func (k *tileKernels) pair(t quant.Type) *tilePair {
	if k == nil {
		return nil
	}
	switch t {
	case quant.F32:
		return k.f32
	case quant.Q4_K:
		return k.q4_K
	case quant.Q6_K:
		return k.q6_K
	}
	return nil
}

// activations are the kernels' view of x: n records of stride bytes.
type activations struct {
	base   *byte
	scales *float32 // nil for float activations
	corrs  *int32   // −bias·Σx per block, for packed weights
	stride int
	n      int // tileArgs.n
	buf    *[]byte
	// dequantize says the tiles are float32 ones, for weights of a type
	// they do not read: each group's rows are dequantized first.
	dequantize bool
}

// actBufs recycles the buffers of rearranged activations between calls.
var actBufs = sync.Pool{New: func() any { return new([]byte) }}

// actBuffer returns size bytes from actBufs starting on a cache line, and
// the buffer to put back there when done.
func actBuffer(size int) ([]byte, *[]byte) {
	buf := actBufs.Get().(*[]byte)
	if cap(*buf) < size+64 {
		*buf = make([]byte, size+64)
	}
	b := (*buf)[:size+64]
	off := int(-uintptr(unsafe.Pointer(&b[0])) & 63)
	return b[off : off+size], buf
}

// q8Record lays out one token's Q8_0 activations: cols signed bytes padded
// to 64 (a last odd block is read as a full 64-byte vector), then one
// float32 scale per block, then one int32 correction per block (for packed
// weights), each padded to 64.
func q8Record(cols int) (quants, corrs, stride int) {
	quants = (cols + 63) &^ 63
	sb := (cols/32*4 + 63) &^ 63
	return quants, quants + sb, quants + 2*sb
}

// quantizeQ8 quantizes the n rows of x to Q8_0 records, splitting the rows
// between the pool's threads. The values are those of quant.Quantize(Q8_0):
// d = amax/127 stored as f16, q = round(x·127/amax) half away from zero.
// With bias ≠ 0 each block's correction −bias·Σq is filled in too.
func (c *CPU) quantizeQ8(x []float32, n, cols int, bias int32, quantize func(x []float32, q []byte, scales []float32, sums []int32)) activations {
	qb, cb, stride := q8Record(cols)
	b, buf := actBuffer(n * stride)
	c.pool.run(n, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			rec := b[t*stride : (t+1)*stride]
			scales := unsafe.Slice((*float32)(unsafe.Pointer(&rec[qb])), cols/32)
			var corrs []int32
			if bias != 0 {
				corrs = unsafe.Slice((*int32)(unsafe.Pointer(&rec[cb])), cols/32)
			}
			quantize(x[t*cols:(t+1)*cols], rec[:cols], scales, corrs)
			for k := range corrs {
				corrs[k] *= -bias // Σq → −bias·Σq
			}
		}
	})
	return activations{base: &b[0], scales: (*float32)(unsafe.Pointer(&b[qb])), corrs: (*int32)(unsafe.Pointer(&b[cb])),
		stride: stride, n: cols / 32, buf: buf}
}

// toBF16 rounds the n rows of x to bfloat16 (nearest, ties to even, as
// llama.cpp does for its BF16 matmuls), each row padded with zeros to a
// multiple of 32 columns.
func (c *CPU) toBF16(x []float32, n, cols int) activations {
	stride := (cols + 31) &^ 31 * 2
	b, buf := actBuffer(n * stride)
	c.pool.run(n, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			row := unsafe.Slice((*uint16)(unsafe.Pointer(&b[t*stride])), stride/2)
			c.k.tiles.toBF16(x[t*cols:(t+1)*cols], row[:cols]) // set wherever bf16DotPacked is
			clear(row[cols:])
		}
	})
	return activations{base: &b[0], stride: stride, n: cols, buf: buf}
}

func toBF16Row(x []float32, out []uint16) {
	for i, v := range x {
		out[i] = quant.F32ToBF16(v)
	}
}

// quantizeQ8Row is the activation quantizer's plain form: quant.Quantize
// (Q8_0) block by block, its quants and scales laid out as the kernels read
// them, and, if sums is not nil, each block's Σq.
func quantizeQ8Row(x []float32, q []byte, scales []float32, sums []int32) {
	var blk [34]byte // one Q8_0 block: float16 d, 32 quants
	for b := range scales {
		if err := quant.Quantize(quant.Q8_0, x[32*b:32*b+32], blk[:]); err != nil {
			panic(err) // unreachable: 32 values make one block
		}
		scales[b] = quant.F16ToF32(uint16(blk[0]) | uint16(blk[1])<<8)
		copy(q[32*b:32*b+32], blk[2:])
		if sums != nil {
			var sum int32
			for _, v := range blk[2:] {
				sum += int32(int8(v))
			}
			sums[b] = sum
		}
	}
}

// groupMatMul runs the kernels of a matmul with n tokens into rows
// outputs each. Workers take groups of groupRows weight rows; within a
// group the tokens go four at a time (the last ones one at a time), in
// blocks small enough to stay in cache while the group is multiplied into
// them. newWorker is called once per worker: its group(g) readies group
// g's weights, and its call(t, four, out, ostride) multiplies them into
// tokens t… (four of them, or one), writing token j's outputs at
// out + j·ostride bytes. A last group past the matrix's end writes to a
// buffer, copied out row by row.
func (c *CPU) groupMatMul(out []float32, rows, groupRows, n, actStride int,
	newWorker func() (group func(g int), call func(t int, four bool, out *float32, ostride int))) {
	tokBlock := max(tileToks, actBlockBytes/actStride/tileToks*tileToks)
	groups := (rows + groupRows - 1) / groupRows
	c.pool.run(groups, func(glo, ghi int) {
		group, call := newWorker()
		var part [packRows * tileToks]float32 // groupRows ≤ packRows
		for t0 := 0; t0 < n; t0 += tokBlock {
			for g := glo; g < ghi; g++ {
				group(g)
				r0 := g * groupRows
				whole := r0+groupRows <= rows
				for t := t0; t < min(n, t0+tokBlock); {
					k := tileToks
					if t+tileToks > n {
						k = 1
					}
					if whole {
						call(t, k == tileToks, &out[t*rows+r0], 4*rows)
					} else {
						call(t, k == tileToks, &part[0], 4*groupRows)
						for j := range k {
							copy(out[(t+j)*rows+r0:(t+j)*rows+rows], part[j*groupRows:])
						}
					}
					t += k
				}
			}
		}
	})
}

// tileMatMul is MatMul through the tiles kp, four weight rows a group.
func (c *CPU) tileMatMul(out []float32, w *Matrix, kp *tilePair, act activations, n int) {
	rows, rb := w.Rows, w.RowBytes()
	c.groupMatMul(out, rows, tileRows, n, act.stride, func() (func(int), func(int, bool, *float32, int)) {
		var a tileArgs
		a.stride, a.n, a.pf = act.stride, act.n, 16*rb
		var deq []float32
		if act.dequantize {
			deq = make([]float32, tileRows*w.Cols)
			a.pf = 0
		}
		group := func(g int) {
			for i := range a.w {
				r := min(g*tileRows+i, rows-1)
				a.w[i] = &w.Data[r*rb]
				if deq != nil {
					row := deq[i*w.Cols : (i+1)*w.Cols]
					w.DequantizeRow(r, row)
					a.w[i] = (*byte)(unsafe.Pointer(&row[0]))
				}
			}
		}
		call := func(t int, four bool, out *float32, ostride int) {
			a.x = (*byte)(unsafe.Add(unsafe.Pointer(act.base), t*act.stride))
			if act.scales != nil {
				a.s = (*float32)(unsafe.Add(unsafe.Pointer(act.scales), t*act.stride))
			}
			a.out, a.ostride = out, ostride
			if four {
				kp.x4(&a)
			} else {
				kp.x1(&a)
			}
		}
		return group, call
	})
}
