//go:build cuda

package cuda

import (
	"fmt"
	"unsafe"

	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/quant"
)

// The backend's memory: buffers and KV pools in device memory, so that a
// step's activations and the cache's history stay on the device and only
// the integers a step needs go up and the logits come down.

// deviceBuffer is a kernels.Buffer in device memory: n float32 values at
// ptr (0 when the allocation failed, which Err reports).
type deviceBuffer struct {
	b   *Backend
	ptr devicePtr
	n   int
}

func (d *deviceBuffer) Len() int { return d.n }

// Free returns the memory to the device; the buffer must not be used
// afterwards.
func (d *deviceBuffer) Free() {
	if d.ptr == 0 {
		return
	}
	p := d.ptr
	d.ptr = 0
	// Not must: a buffer is freed even after a failure.
	d.b.run(func() error { d.b.ctx.free(p); return nil })
}

// dev is the device address of a buffer this backend made.
func dev(buf kernels.Buffer) devicePtr { return buf.(*deviceBuffer).ptr }

// Alloc returns n zeroed float32 values of device memory.
func (b *Backend) Alloc(n int) kernels.Buffer {
	d := &deviceBuffer{b: b, n: n}
	b.must("alloc", func() error {
		p, err := b.ctx.alloc(4 * n)
		if err != nil {
			return b.memoryError(4*n, err)
		}
		d.ptr = p
		return b.ctx.zero(p, 4*n)
	})
	return d
}

// Upload copies host values into the start of dst.
func (b *Backend) Upload(dst kernels.Buffer, src []float32) {
	b.must("upload", func() error {
		return b.ctx.upload(dev(dst), unsafe.Pointer(unsafe.SliceData(src)), 4*len(src))
	})
}

// Read copies the first len(dst) values of src to the host.
func (b *Backend) Read(dst []float32, src kernels.Buffer) {
	b.must("read", func() error {
		return b.download(dst, src)
	})
}

// Gather copies row rows[i] of src to row i of dst, a run of consecutive
// rows in one copy.
func (b *Backend) Gather(dst, src kernels.Buffer, rows []int, width int) {
	b.must("gather", func() error {
		rb := 4 * width
		for i := 0; i < len(rows); {
			j := run(rows, i)
			if err := b.ctx.copyDevice(dev(dst)+devicePtr(i*rb), dev(src)+devicePtr(rows[i]*rb), (j-i)*rb); err != nil {
				return err
			}
			i = j
		}
		return nil
	})
}

// run returns the end of the run of consecutive values starting at s[i].
func run(s []int, i int) int {
	j := i + 1
	for j < len(s) && s[j] == s[j-1]+1 {
		j++
	}
	return j
}

// kvPool is the backend's KV pool. A float32 pool lives on the device,
// where the attention kernel reads it; the kernel does not read float16
// or bfloat16 yet, so those pools stay on the host, written and read by
// the reference functions, at the cost of copying the step's keys, values,
// queries and attention outputs across.
type kvPool struct {
	b                *Backend
	typ              quant.Type
	blockSize, width int
	keys, values     []devicePtr // per layer: float32 pools on the device
	hostKeys         [][]byte    // per layer: 16-bit pools on the host
	hostValues       [][]byte
}

// NewKVPool makes the KV cache's memory.
func (b *Backend) NewKVPool(layers, blocks, blockSize, width int, t quant.Type) (kernels.KVPool, error) {
	es := kernels.KVTypeSize(t)
	if es == 0 {
		return nil, fmt.Errorf("cuda KV pool: %v is not a KV type (%v)", t, kernels.KVTypes)
	}
	if layers < 0 || blocks < 0 || blockSize <= 0 || width < 0 {
		return nil, fmt.Errorf("cuda KV pool: %d layers of %d blocks of %d positions of %d elements", layers, blocks, blockSize, width)
	}
	p := &kvPool{b: b, typ: t, blockSize: blockSize, width: width}
	bytes := blocks * blockSize * width * es
	if t != quant.F32 {
		for range layers {
			p.hostKeys = append(p.hostKeys, make([]byte, bytes))
			p.hostValues = append(p.hostValues, make([]byte, bytes))
		}
		return p, nil
	}
	err := b.run(func() error {
		for range layers {
			for _, pool := range []*[]devicePtr{&p.keys, &p.values} {
				ptr, err := b.ctx.alloc(bytes)
				if err != nil {
					return b.memoryError(bytes, err)
				}
				*pool = append(*pool, ptr)
			}
		}
		return nil
	})
	if err != nil {
		p.Free()
		return nil, fmt.Errorf("cuda KV pool: %w", err)
	}
	return p, nil
}

// Free returns the pool's device memory.
func (p *kvPool) Free() {
	ptrs := append(p.keys, p.values...)
	p.keys, p.values = nil, nil
	if len(ptrs) == 0 {
		return
	}
	p.b.run(func() error {
		for _, ptr := range ptrs {
			p.b.ctx.free(ptr)
		}
		return nil
	})
}

// hostKV is layer's view of a host pool for a sequence's block table.
func (p *kvPool) hostKV(layer int, blocks []int) kernels.KV {
	return kernels.KV{Type: p.typ, Keys: p.hostKeys[layer], Values: p.hostValues[layer], Blocks: blocks, BlockSize: p.blockSize, Width: p.width}
}

// StoreKV writes row t of k and v to slot slots[t] of layer; consecutive
// slots go in one copy.
func (b *Backend) StoreKV(pool kernels.KVPool, layer int, k, v kernels.Buffer, slots []int) {
	p := pool.(*kvPool)
	b.must("store kv", func() error {
		if p.keys == nil {
			return p.storeHost(layer, k, v, slots)
		}
		rb := 4 * p.width
		for i := 0; i < len(slots); {
			j := run(slots, i)
			for _, c := range []struct {
				dst devicePtr
				src kernels.Buffer
			}{{p.keys[layer], k}, {p.values[layer], v}} {
				if err := b.ctx.copyDevice(c.dst+devicePtr(slots[i]*rb), dev(c.src)+devicePtr(i*rb), (j-i)*rb); err != nil {
					return err
				}
			}
			i = j
		}
		return nil
	})
}

// storeHost brings the step's keys and values to a host pool.
func (p *kvPool) storeHost(layer int, k, v kernels.Buffer, slots []int) error {
	n := len(slots) * p.width
	kh, vh := make([]float32, n), make([]float32, n)
	if err := p.b.download(kh, k); err != nil {
		return err
	}
	if err := p.b.download(vh, v); err != nil {
		return err
	}
	if err := p.b.ctx.sync(); err != nil {
		return err
	}
	kv := p.hostKV(layer, []int{0})
	kv.BlockSize = len(kv.Keys) / (p.width * kernels.KVTypeSize(p.typ)) // slots address the pool directly
	for t, s := range slots {
		kv.Put(s, kh[t*p.width:(t+1)*p.width], vh[t*p.width:(t+1)*p.width])
	}
	return nil
}

// CopyBlock copies the first rows positions of block src to block dst in
// every layer.
func (b *Backend) CopyBlock(pool kernels.KVPool, dst, src, rows int) {
	p := pool.(*kvPool)
	rb := p.width * kernels.KVTypeSize(p.typ)
	block, used := p.blockSize*rb, rows*rb
	if p.keys == nil {
		for l := range p.hostKeys {
			copy(p.hostKeys[l][dst*block:][:used], p.hostKeys[l][src*block:])
			copy(p.hostValues[l][dst*block:][:used], p.hostValues[l][src*block:])
		}
		return
	}
	b.must("copy block", func() error {
		for l := range p.keys {
			for _, pl := range [][]devicePtr{p.keys, p.values} {
				if err := b.ctx.copyDevice(pl[l]+devicePtr(dst*block), pl[l]+devicePtr(src*block), used); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// download queues a copy of the first len(dst) values of src to the host;
// dst is valid after the stream is synchronized.
func (b *Backend) download(dst []float32, src kernels.Buffer) error {
	return b.ctx.download(unsafe.Pointer(unsafe.SliceData(dst)), dev(src), 4*len(dst))
}
