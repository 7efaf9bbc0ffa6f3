package kernels

import (
	"runtime"
	"sync"
	"unsafe"

	"github.com/aha-inference/aha/internal/mmap"
	"github.com/aha-inference/aha/quant"
)

// Packed weights: matrices rearranged once, at load, into groups of 16
// rows where each 64-byte (F16: 32-byte) chunk holds a few consecutive
// columns of every row, one row per 32-bit lane, so one instruction with a
// token's activations broadcast to every lane advances all 16 rows
// (pack_amd64.s says more). Q8_0, Q4_0, F16 and BF16 go this way; the
// rearranged copy replaces the file's bytes for matmuls, as llama.cpp's
// repacked CPU buffers do, and the file's bytes stay mapped for embedding
// lookups.

const packRows = 16

// packed is a matrix in the packed layout. Group g's bytes start at
// g·groupBytes. Float types: the chunks, one after another. Quantized
// types: pairs of blocks, each 64 bytes of row scales as float16 (block
// b's 16, then b+1's) and then b's chunks and b+1's, so that a kernel
// reads one stream; an odd last block has a pair to itself. Rows past the
// matrix's last are zero, scales included.
type packed struct {
	data       []byte
	n          int  // what the kernels count: 32-column blocks, or chunks
	chunkBytes int  // bytes of one block's chunks, or of one chunk
	quantized  bool // Q8_0 or Q4_0: blocks in pairs with their scales
	groupBytes int
	// bias is the c that made quantized weights unsigned (w+c): the
	// kernels start each block's sum from −c·Σx to take it back out.
	bias int32
}

// packPair is one kernel in its ×4-token and ×1-token forms.
type packPair [2]func(*packArgs)

// packArgs is what a packed kernel reads; the assembly knows its layout.
type packArgs struct {
	w       *byte    // the group's bytes
	x       *byte    // token 0's activations
	s       *float32 // their block scales (quantized)
	c       *int32   // their block corrections, −bias·Σx (quantized)
	stride  int      // bytes from one token's activations to the next
	out     *float32 // token 0's outputs for the group's first row
	ostride int      // bytes from one token's outputs to the next
	n       int      // blocks or chunks
}

// matrixKey identifies a matrix by its stored bytes and shape, so that
// copies of one Matrix value (a model made by With shares its base's
// matrices) find the same packed copy.
type matrixKey struct {
	data       *byte
	typ        quant.Type
	rows, cols int
}

func keyOf(w *Matrix) matrixKey { return matrixKey{unsafe.SliceData(w.Data), w.Type, w.Rows, w.Cols} }

// packs are a CPU backend's packed copies, made once per matrix, by
// Prepare or by the first MatMul, whichever comes first, and kept until
// Release.
type packs struct {
	mu sync.Mutex
	m  map[matrixKey]*packed
}

// packedOf returns w's packed form and the kernels that multiply it as the
// backend is set up now, packing it on first use; nil if w's type is not
// packed on this CPU. BF16 weights multiply a bfloat16 rounding of the
// activations with VDPBF16PS where the CPU has it, as llama.cpp does,
// unless FloatActivations asks for float32 ones.
func (c *CPU) packedOf(w *Matrix) (*packed, packPair) {
	if c.k.tiles == nil {
		return nil, packPair{}
	}
	var kp packPair
	switch w.Type {
	case quant.Q8_0:
		kp = c.k.tiles.q8_0Packed
	case quant.Q4_0:
		kp = c.k.tiles.q4_0Packed
	case quant.F16:
		kp = c.k.tiles.f16Packed
	case quant.BF16:
		kp = c.k.tiles.bf16Packed
		if c.bf16Dot() {
			kp = c.k.tiles.bf16DotPacked
		}
	}
	if kp[0] == nil || c.FloatActivations && (w.Type == quant.Q8_0 || w.Type == quant.Q4_0) {
		return nil, packPair{}
	}
	c.packs.mu.Lock()
	defer c.packs.mu.Unlock()
	k := keyOf(w)
	p := c.packs.m[k]
	if p == nil {
		if c.packs.m == nil {
			c.packs.m = map[matrixKey]*packed{}
		}
		p = c.pack(w)
		c.packs.m[k] = p
	}
	return p, kp
}

// bf16Dot says whether BF16 weights multiply bfloat16 activations.
func (c *CPU) bf16Dot() bool {
	return !c.FloatActivations && c.k.tiles != nil && c.k.tiles.bf16DotPacked[0] != nil
}

// pack rearranges w, splitting the groups between threads.
func (c *CPU) pack(w *Matrix) *packed {
	p := &packed{}
	switch w.Type {
	case quant.Q8_0:
		p.n, p.chunkBytes, p.quantized, p.bias = w.Cols/32, 512, true, 128
	case quant.Q4_0:
		p.n, p.chunkBytes, p.quantized, p.bias = w.Cols/32, 256, true, 8
	case quant.F16:
		p.n, p.chunkBytes = w.Cols, 32
	case quant.BF16:
		p.n, p.chunkBytes = (w.Cols+1)/2, 64
	}
	p.groupBytes = p.n * p.chunkBytes
	if p.quantized {
		p.groupBytes += (p.n + 1) / 2 * 64
	}
	groups := (w.Rows + packRows - 1) / packRows
	data, free := mmap.Alloc(groups * p.groupBytes)
	p.data = data
	runtime.AddCleanup(p, func(free func()) { free() }, free)
	rb := w.RowBytes()
	c.pool.run(groups, func(lo, hi int) {
		for g := lo; g < hi; g++ {
			dst := p.data[g*p.groupBytes : (g+1)*p.groupBytes]
			for i := range min(packRows, w.Rows-g*packRows) {
				r := g*packRows + i
				packRow(w.Type, p, dst, i, w.Data[r*rb:(r+1)*rb])
			}
		}
	})
	return p
}

// packRow puts row i of a group (its stored bytes) into the group's bytes.
func packRow(t quant.Type, p *packed, dst []byte, i int, row []byte) {
	switch t {
	case quant.F16: // chunk k: column k of the 16 rows
		for k := range p.n {
			copy(dst[k*32+2*i:], row[2*k:2*k+2])
		}
	case quant.BF16: // chunk k: columns 2k and 2k+1, a pair per lane
		for k := range len(row) / 2 {
			copy(dst[k/2*64+4*i+2*(k%2):], row[2*k:2*k+2])
		}
	default: // Q8_0, Q4_0: pairs of blocks, scales first
		bb := len(row) / p.n // bytes per stored block: 34 or 18
		for b := range p.n {
			pair := b / 2 * (64 + 2*p.chunkBytes)
			chunks := pair + 64 + b%2*p.chunkBytes
			src := row[b*bb : (b+1)*bb]
			copy(dst[pair+b%2*32+2*i:], src[:2])
			q := src[2:]
			for ch := range p.chunkBytes / 64 {
				lane := dst[chunks+ch*64+4*i : chunks+ch*64+4*i+4]
				if t == quant.Q8_0 { // four signed bytes, made unsigned
					for j := range 4 {
						lane[j] = q[4*ch+j] ^ 0x80
					}
				} else { // Q4_0: bytes 4ch…4ch+3 keep both nibbles
					copy(lane, q[4*ch:4*ch+4])
				}
			}
		}
	}
}

// packedInputs puts x in the form kernels kp read.
func (c *CPU) packedInputs(w *Matrix, p *packed, x []float32, n int) activations {
	switch {
	case p.quantized:
		return c.quantizeQ8(x, n, w.Cols, p.bias, c.k.tiles.quantizeQ8)
	case w.Type == quant.BF16 && c.bf16Dot():
		return c.toBF16(x, n, w.Cols)
	case w.Type == quant.BF16 && w.Cols%2 == 1:
		// The kernels read columns in pairs: a zero after each row.
		stride := 4 * (w.Cols + 1)
		b, buf := actBuffer(n * stride)
		padded := unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n*(w.Cols+1))
		for t := range n {
			copy(padded[t*(w.Cols+1):], x[t*w.Cols:(t+1)*w.Cols])
			padded[t*(w.Cols+1)+w.Cols] = 0
		}
		return activations{base: &b[0], stride: stride, buf: buf}
	}
	return activations{base: (*byte)(unsafe.Pointer(&x[0])), stride: 4 * w.Cols}
}

// packedMatMul is MatMul through the packed kernels kp, 16 rows a group.
func (c *CPU) packedMatMul(out []float32, w *Matrix, p *packed, kp packPair, act activations, n int) {
	c.groupMatMul(out, w.Rows, packRows, n, act.stride, func() (func(int), func(int, bool, *float32, int)) {
		var a packArgs
		a.stride, a.n = act.stride, p.n
		group := func(g int) { a.w = &p.data[g*p.groupBytes] }
		call := func(t int, four bool, out *float32, ostride int) {
			a.x = (*byte)(unsafe.Add(unsafe.Pointer(act.base), t*act.stride))
			if act.scales != nil {
				a.s = (*float32)(unsafe.Add(unsafe.Pointer(act.scales), t*act.stride))
				a.c = (*int32)(unsafe.Add(unsafe.Pointer(act.corrs), t*act.stride))
			}
			a.out, a.ostride = out, ostride
			if four {
				kp[0](&a)
			} else {
				kp[1](&a)
			}
		}
		return group, call
	})
}

// Prepare packs w if the packed kernels multiply it, so that the first
// token does not pay for it.
func (c *CPU) Prepare(w *Matrix) (copied bool, err error) {
	if w.Rows == 0 || w.Cols == 0 {
		return false, nil
	}
	p, _ := c.packedOf(w)
	return p != nil, nil
}

// Release forgets the packed copy of w, if there is one; its memory goes
// back when no MatMul is using it.
func (c *CPU) Release(w *Matrix) {
	c.packs.mu.Lock()
	defer c.packs.mu.Unlock()
	delete(c.packs.m, keyOf(w))
}
