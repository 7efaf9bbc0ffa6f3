package kernels

import (
	"runtime"
	"sync"
	"unsafe"

	"github.com/aha-inference/aha/internal/mmap"
	"github.com/aha-inference/aha/quant"
)

// Packed weights: Q8_0 and Q4_0 matrices rearranged once, at load, into
// groups of 16 rows where each 64-byte chunk holds four consecutive columns
// of every row (pack_amd64.s says why). The rearranged copy replaces the
// file's bytes for matmuls, as llama.cpp's repacked CPU buffers do; the
// file's bytes stay mapped for embedding lookups.

const packRows = 16

// packed is a matrix in the packed layout. Group g's bytes start at
// g·groupBytes: first the chunks of every block (chunkBytes per block),
// then each block's 16 row scales as float16 (32 bytes per block). Rows
// past the matrix's last are zero, scale included.
type packed struct {
	data       []byte
	blocks     int // 32-column blocks per row
	chunkBytes int // 512 (Q8_0: weight+128 as bytes) or 256 (Q4_0 nibbles)
	groupBytes int
	// bias is the c that made the weights unsigned (w+c): the kernels
	// start each block's sum from −c·Σx to take it back out.
	bias int32
}

// packPair is one weight type's packed kernels: ×4 tokens and ×1 token.
type packPair [2]func(*packArgs)

// packArgs is what a packed kernel reads; the assembly knows its layout.
type packArgs struct {
	w       *byte    // the group's chunks, at the first block
	ws      *byte    // its block scales
	x       *byte    // token 0's quantized activations
	s       *float32 // their block scales
	c       *int32   // their block corrections, −bias·Σx
	stride  int      // bytes from one token's record to the next
	out     *float32 // token 0's outputs for the group's first row
	ostride int      // bytes from one token's outputs to the next
	n       int      // blocks
}

// packMu guards Matrix.packed: matrices are packed once, by Prepare or by
// the first MatMul, whichever comes first.
var packMu sync.Mutex

// packedOf returns w's packed form and kernels when the CPU multiplies it
// through the packed kernels, packing it on first use; nil otherwise.
func (c *CPU) packedOf(w *Matrix) (*packed, packPair) {
	if tiles == nil || c.FloatActivations {
		return nil, packPair{}
	}
	var kp packPair
	var chunk int
	var bias int32
	switch w.Type {
	case quant.Q8_0:
		kp, chunk, bias = tiles.q8_0Packed, 512, 128
	case quant.Q4_0:
		kp, chunk, bias = tiles.q4_0Packed, 256, 8
	}
	if kp[0] == nil {
		return nil, kp
	}
	packMu.Lock()
	defer packMu.Unlock()
	if w.packed == nil {
		w.packed = c.pack(w, chunk, bias)
	}
	return w.packed, kp
}

// pack rearranges w (Q8_0 or Q4_0), splitting the groups between threads.
func (c *CPU) pack(w *Matrix, chunk int, bias int32) *packed {
	blocks := w.Cols / 32
	p := &packed{blocks: blocks, chunkBytes: chunk, groupBytes: blocks * (chunk + 32), bias: bias}
	groups := (w.Rows + packRows - 1) / packRows
	data, free := mmap.Alloc(groups * p.groupBytes)
	p.data = data
	runtime.AddCleanup(p, func(free func()) { free() }, free)
	rb := w.RowBytes()
	bb := rb / blocks // bytes per source block: 34 or 18
	c.pool.run(groups, func(lo, hi int) {
		for g := lo; g < hi; g++ {
			dst := p.data[g*p.groupBytes : (g+1)*p.groupBytes]
			scales := dst[blocks*chunk:]
			for i := range min(packRows, w.Rows-g*packRows) {
				row := w.Data[(g*packRows+i)*rb : (g*packRows+i+1)*rb]
				for b := range blocks {
					src := row[b*bb : (b+1)*bb]
					copy(scales[b*32+2*i:], src[:2])
					q := src[2:]
					for ch := range chunk / 64 {
						lane := dst[b*chunk+ch*64+4*i : b*chunk+ch*64+4*i+4]
						if chunk == 512 { // Q8_0: four signed bytes, made unsigned
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
	})
	return p
}

// packedMatMul is MatMul through the packed kernels. Workers take groups
// of 16 rows; within a group the tokens go four at a time, in blocks small
// enough to stay in cache while the group is multiplied into them.
func (c *CPU) packedMatMul(out []float32, w *Matrix, p *packed, kp packPair, act activations, n int) {
	rows := w.Rows
	tokBlock := max(tileToks, actBlockBytes/act.stride/tileToks*tileToks)
	groups := (rows + packRows - 1) / packRows
	c.pool.run(groups, func(glo, ghi int) {
		var a packArgs
		var part [packRows * tileToks]float32 // outputs of a group past the last row
		a.stride, a.n = act.stride, p.blocks
		for t0 := 0; t0 < n; t0 += tokBlock {
			for g := glo; g < ghi; g++ {
				grp := p.data[g*p.groupBytes:]
				r0 := g * packRows
				whole := r0+packRows <= rows
				for t := t0; t < min(n, t0+tokBlock); {
					k, kernel := tileToks, kp[0]
					if t+tileToks > n {
						k, kernel = 1, kp[1]
					}
					a.w, a.ws = &grp[0], &grp[p.blocks*p.chunkBytes]
					a.x = (*byte)(unsafe.Add(unsafe.Pointer(act.base), t*act.stride))
					a.s = (*float32)(unsafe.Add(unsafe.Pointer(act.scales), t*act.stride))
					a.c = (*int32)(unsafe.Add(unsafe.Pointer(act.corrs), t*act.stride))
					if whole {
						a.out, a.ostride = &out[t*rows+r0], 4*rows
					} else {
						a.out, a.ostride = &part[0], 4*packRows
					}
					kernel(&a)
					if !whole {
						for j := range k {
							copy(out[(t+j)*rows+r0:(t+j)*rows+rows], part[j*packRows:])
						}
					}
					t += k
				}
			}
		}
	})
}

// Prepare packs the matrices the packed kernels multiply, so that the
// first token does not pay for it; done is called with each matrix's
// stored bytes.
func (c *CPU) Prepare(ws []*Matrix, done func(bytes int64)) error {
	for _, w := range ws {
		if w.Rows > 0 && w.Cols > 0 {
			c.packedOf(w)
		}
		done(int64(len(w.Data)))
	}
	return nil
}
