package kernels

import (
	"fmt"
	"math"

	"github.com/aha-inference/aha/internal/mmap"
	"github.com/aha-inference/aha/quant"
)

// HostBuffer is the Buffer of the CPU backends (Reference and CPU): host
// memory, so that an operation on it is the plain function on the slice
// and the seam costs nothing on the CPU.
type HostBuffer []float32

func (b HostBuffer) Len() int { return len(b) }

// Free does nothing: the garbage collector takes host buffers back.
func (b HostBuffer) Free() {}

// host is the slice behind a buffer the CPU backends made.
func host(b Buffer) []float32 { return b.(HostBuffer) }

// hostPool is the KVPool of the CPU backends: per layer, a pool of keys
// and one of values, blocks × blockSize rows of width elements of typ.
//
// The pool lives outside the Go heap. At hundreds of megabytes it would be
// most of the live heap, and the collector lets garbage grow to the size
// of the live heap before it collects, so a pool on the heap costs up to
// twice its size in resident memory; outside it, a page is resident once
// written.
type hostPool struct {
	typ              quant.Type
	blockSize, width int
	keys, values     [][]byte
	free             func() // unmaps the pool; nil once done
}

func newHostPool(layers, blocks, blockSize, width int, t quant.Type) (*hostPool, error) {
	es := KVTypeSize(t)
	if es == 0 {
		return nil, fmt.Errorf("KV pool: %v is not a KV type (%v)", t, KVTypes)
	}
	if layers < 0 || blocks < 0 || blockSize <= 0 || width < 0 {
		return nil, fmt.Errorf("KV pool: %d layers of %d blocks of %d positions of %d elements", layers, blocks, blockSize, width)
	}
	n := blocks * blockSize * width * es // bytes of one layer's keys (or values)
	if blocks > 0 && width > 0 && (n/blocks/width != blockSize*es || n > math.MaxInt/max(2*layers, 1)) {
		return nil, fmt.Errorf("KV pool: %d layers of %d blocks of %d positions of %d elements overflow", layers, blocks, blockSize, width)
	}
	data, free := mmap.AllocPages(2 * layers * n)
	p := &hostPool{typ: t, blockSize: blockSize, width: width, keys: make([][]byte, layers), values: make([][]byte, layers), free: free}
	for l := range p.keys {
		p.keys[l] = data[2*l*n : (2*l+1)*n : (2*l+1)*n]
		p.values[l] = data[(2*l+1)*n : (2*l+2)*n : (2*l+2)*n]
	}
	return p, nil
}

// Free unmaps the pool; nothing may read it afterwards (the model's cache
// frees its pool when the cache itself is unreachable).
func (p *hostPool) Free() {
	if p.free != nil {
		p.free()
		p.free, p.keys, p.values = nil, nil, nil
	}
}

// kv is layer's view of the pool for a sequence with the given block table.
func (p *hostPool) kv(layer int, blocks []int) KV {
	return KV{Type: p.typ, Keys: p.keys[layer], Values: p.values[layer], Blocks: blocks, BlockSize: p.blockSize, Width: p.width}
}

// store writes row t of k and v to slot slots[t] of layer.
func (p *hostPool) store(layer int, k, v []float32, slots []int) {
	w, rb := p.width, p.width*KVTypeSize(p.typ)
	for t, s := range slots {
		storeKV(p.typ, p.keys[layer][s*rb:(s+1)*rb], k[t*w:(t+1)*w])
		storeKV(p.typ, p.values[layer][s*rb:(s+1)*rb], v[t*w:(t+1)*w])
	}
}

// copyBlock copies the first rows positions of block src to block dst in
// every layer.
func (p *hostPool) copyBlock(dst, src, rows int) {
	row := p.width * KVTypeSize(p.typ)
	block, used := p.blockSize*row, rows*row
	for l := range p.keys {
		copy(p.keys[l][dst*block:][:used], p.keys[l][src*block:])
		copy(p.values[l][dst*block:][:used], p.values[l][src*block:])
	}
}

// attend runs a single-sequence attention function over each sequence's
// rows in turn.
func (p *hostPool) attend(attention func(out, q []float32, kv *KV, pos []int, nHeads, nKVHeads, headDim int),
	out, q []float32, layer int, seqs []SeqBlocks, pos []int, nHeads, nKVHeads, headDim int) {
	qw, t := nHeads*headDim, 0
	for _, s := range seqs {
		kv := p.kv(layer, s.Blocks)
		attention(out[t*qw:(t+s.Rows)*qw], q[t*qw:(t+s.Rows)*qw], &kv, pos[t:t+s.Rows], nHeads, nKVHeads, headDim)
		t += s.Rows
	}
}

// gather copies row rows[i] of src to row i of dst.
func gather(dst, src []float32, rows []int, width int) {
	for i, r := range rows {
		copy(dst[i*width:(i+1)*width], src[r*width:(r+1)*width])
	}
}

// Reference is the Backend made of the plain reference functions, over
// host memory.
type Reference struct{}

func (Reference) Name() string { return "reference" }

func (Reference) Alloc(n int) Buffer { return make(HostBuffer, n) }

func (Reference) Upload(dst Buffer, src []float32) { copy(host(dst), src) }

func (Reference) Read(dst []float32, src Buffer) { copy(dst, host(src)) }

func (Reference) NewKVPool(layers, blocks, blockSize, width int, t quant.Type) (KVPool, error) {
	return newHostPool(layers, blocks, blockSize, width, t)
}

func (Reference) Embed(out Buffer, table *Matrix, ids []int) {
	o := host(out)
	for t, id := range ids {
		Embed(o[t*table.Cols:(t+1)*table.Cols], table, id)
	}
}

func (Reference) RMSNorm(out, x, weight Buffer, n int, eps float32) {
	RMSNorm(host(out), host(x)[:n], host(weight), eps)
}

func (Reference) AddBias(x, bias Buffer, rows int) {
	AddBias(host(x)[:rows*bias.Len()], host(bias))
}

func (Reference) RoPE(x Buffer, pos []int, nHeads, headDim int, rope *Rope) {
	RoPE(host(x), pos, nHeads, headDim, rope.Freqs, rope.Layout)
}

func (Reference) MatMul(out Buffer, w *Matrix, x Buffer, n int) { MatMul(host(out), w, host(x), n) }

func (Reference) StoreKV(pool KVPool, layer int, k, v Buffer, slots []int) {
	pool.(*hostPool).store(layer, host(k), host(v), slots)
}

func (Reference) Attention(out, q Buffer, pool KVPool, layer int, seqs []SeqBlocks, pos []int, nHeads, nKVHeads, headDim int) {
	pool.(*hostPool).attend(Attention, host(out), host(q), layer, seqs, pos, nHeads, nKVHeads, headDim)
}

func (Reference) CopyBlock(pool KVPool, dst, src, rows int) {
	pool.(*hostPool).copyBlock(dst, src, rows)
}

func (Reference) Gather(dst, src Buffer, rows []int, width int) {
	gather(host(dst), host(src), rows, width)
}

func (Reference) SiLUMul(gate, up Buffer, n int) { SiLUMul(host(gate)[:n], host(up)) }

func (Reference) Add(x, y Buffer, n int) { Add(host(x)[:n], host(y)) }

// Err is always nil: the reference cannot fail.
func (Reference) Err() error { return nil }
