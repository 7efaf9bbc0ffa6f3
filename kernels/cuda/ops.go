//go:build cuda

package cuda

import (
	"fmt"
	"unsafe"

	"github.com/aha-inference/aha/kernels"
)

// The rest of a decoder layer, each over device buffers, called by the
// forward pass through kernels.Backend; each has its reference in kernels.

// RMSNorm is kernels.RMSNorm: each row of the first n values of x (rows of
// weight.Len() values), normalized and scaled into out.
func (b *Backend) RMSNorm(out, x, weight kernels.Buffer, n int, eps float32) {
	d := weight.Len()
	if n == 0 || d == 0 {
		return
	}
	b.must("rmsnorm", func() error {
		return b.ctx.launch(b.fn["rmsnorm"], [3]int{n / d, 1, 1}, [3]int{256, 1, 1}, 0, dev(out), dev(x), dev(weight), int32(d), eps)
	})
}

// RoPE is kernels.RoPE: every head of row t of x turned by position pos[t].
// The frequencies go to the device on first use and stay there.
func (b *Backend) RoPE(x kernels.Buffer, pos []int, nHeads, headDim int, rope *kernels.Rope) {
	n := len(pos)
	pairs := n * nHeads * (headDim / 2)
	if pairs == 0 {
		return
	}
	interleaved := int32(0)
	if rope.Layout == kernels.RopeInterleaved {
		interleaved = 1
	}
	b.must("rope", func() error {
		fd, err := b.ropeFreqs(rope.Freqs)
		if err != nil {
			return err
		}
		posd, err := uploadSlice(b, "positions", int32s(pos))
		if err != nil {
			return err
		}
		return b.ctx.launch(b.fn["rope"], [3]int{ceilDiv(pairs, 256), 1, 1}, [3]int{256, 1, 1}, 0,
			dev(x), posd, fd, int32(n), int32(nHeads), int32(headDim), interleaved)
	})
}

// ropeFreqs returns the device copy of a model's rope frequencies.
func (b *Backend) ropeFreqs(freqs []float64) (devicePtr, error) {
	k := unsafe.SliceData(freqs)
	if p, ok := b.freqs[k]; ok {
		return p, nil
	}
	p, err := b.ctx.alloc(8 * len(freqs))
	if err != nil {
		return 0, b.memoryError(8*len(freqs), err)
	}
	if err := b.ctx.upload(p, unsafe.Pointer(k), 8*len(freqs)); err != nil {
		b.ctx.free(p)
		return 0, err
	}
	b.freqs[k] = p
	return p, nil
}

// SiLUMul is kernels.SiLUMul over the first n values: gate = silu(gate)·up.
func (b *Backend) SiLUMul(gate, up kernels.Buffer, n int) {
	if n == 0 {
		return
	}
	b.must("silu_mul", func() error {
		return b.ctx.launch(b.fn["silu_mul"], [3]int{ceilDiv(n, 256), 1, 1}, [3]int{256, 1, 1}, 0,
			dev(gate), dev(up), int64(n))
	})
}

// Add is kernels.Add over the first n values: x += y.
func (b *Backend) Add(x, y kernels.Buffer, n int) { b.addRows(x, y, n, n) }

// AddBias is kernels.AddBias: bias added to each of the first rows rows of
// x.
func (b *Backend) AddBias(x, bias kernels.Buffer, rows int) {
	b.addRows(x, bias, rows*bias.Len(), bias.Len())
}

// addRows adds y to the first n values of x, y repeating every d values.
func (b *Backend) addRows(x, y kernels.Buffer, n, d int) {
	if n == 0 {
		return
	}
	b.must("add_rows", func() error {
		return b.ctx.launch(b.fn["add_rows"], [3]int{ceilDiv(n, 256), 1, 1}, [3]int{256, 1, 1}, 0,
			dev(x), dev(y), int64(n), int64(d))
	})
}

// Embed writes row ids[t] of table, decoded, as row t of out (kernels.Embed
// for a batch of tokens). The table is uploaded on first use, like any
// weight; types without a device decoder are decoded to f32 then.
func (b *Backend) Embed(out kernels.Buffer, table *kernels.Matrix, ids []int) {
	n, cols := len(ids), table.Cols
	if n == 0 {
		return
	}
	for _, id := range ids {
		if id < 0 || id >= table.Rows {
			b.fail(fmt.Errorf("cuda embed: token %d outside the table's %d rows", id, table.Rows))
			return
		}
	}
	b.must("embed", func() error {
		d, err := b.weight(table)
		if err != nil {
			return err
		}
		idd, err := uploadSlice(b, "token ids", int32s(ids))
		if err != nil {
			return err
		}
		grid := [3]int{ceilDiv(ceilDiv(cols, 8), 128), n, 1}
		return b.ctx.launch(b.fn[embedKernel[d.typ]], grid, [3]int{128, 1, 1}, 0, dev(out), d.data, int64(d.rowBytes), idd, int32(cols))
	})
}
