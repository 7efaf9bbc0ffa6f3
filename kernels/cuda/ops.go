//go:build cuda

package cuda

import (
	"fmt"

	"github.com/aha-inference/aha/kernels"
)

// The rest of a decoder layer, each with the signature of its reference in
// kernels, called by the forward pass through kernels.Backend. These copy
// their operands in and out on every call, which makes them slower than the
// CPU's, until the backend owns the activations and they stay on the
// device.

// RMSNorm is kernels.RMSNorm: each row of x (of len(weight) values),
// normalized and scaled into out.
func (b *Backend) RMSNorm(out, x, weight []float32, eps float32) {
	d := len(weight)
	if len(x) == 0 {
		return
	}
	b.must("rmsnorm", func() error {
		xd, err := uploadSlice(b, "x", x)
		if err != nil {
			return err
		}
		wd, err := uploadSlice(b, "norm weight", weight)
		if err != nil {
			return err
		}
		err = b.ctx.launch(b.fn["rmsnorm"], [3]int{len(x) / d, 1, 1}, [3]int{256, 1, 1}, 0, xd, xd, wd, int32(d), eps)
		if err != nil {
			return err
		}
		return downloadFloats(b, out[:len(x)], xd)
	})
}

// RoPE is kernels.RoPE: every head of row t of x turned by position pos[t].
func (b *Backend) RoPE(x []float32, pos []int, nHeads, headDim int, freqs []float64, layout kernels.RopeLayout) {
	n := len(pos)
	pairs := n * nHeads * (headDim / 2)
	if pairs == 0 {
		return
	}
	interleaved := int32(0)
	if layout == kernels.RopeInterleaved {
		interleaved = 1
	}
	b.must("rope", func() error {
		xd, err := uploadSlice(b, "x", x[:n*nHeads*headDim])
		if err != nil {
			return err
		}
		posd, err := uploadSlice(b, "positions", int32s(pos))
		if err != nil {
			return err
		}
		fd, err := uploadSlice(b, "rope frequencies", freqs[:headDim/2])
		if err != nil {
			return err
		}
		err = b.ctx.launch(b.fn["rope"], [3]int{ceilDiv(pairs, 256), 1, 1}, [3]int{256, 1, 1}, 0,
			xd, posd, fd, int32(n), int32(nHeads), int32(headDim), interleaved)
		if err != nil {
			return err
		}
		return downloadFloats(b, x[:n*nHeads*headDim], xd)
	})
}

// SiLUMul is kernels.SiLUMul: gate = silu(gate)·up.
func (b *Backend) SiLUMul(gate, up []float32) {
	b.binary("silu_mul", gate, up, func(xd, yd devicePtr) error {
		return b.ctx.launch(b.fn["silu_mul"], [3]int{ceilDiv(len(gate), 256), 1, 1}, [3]int{256, 1, 1}, 0,
			xd, yd, int64(len(gate)))
	})
}

// Add is kernels.Add: x += y.
func (b *Backend) Add(x, y []float32) { b.addRows(x, y) }

// AddBias is kernels.AddBias: bias added to each row of x.
func (b *Backend) AddBias(x, bias []float32) { b.addRows(x, bias) }

// addRows adds y to x, y repeating every len(y) values.
func (b *Backend) addRows(x, y []float32) {
	b.binary("add_rows", x, y, func(xd, yd devicePtr) error {
		return b.ctx.launch(b.fn["add_rows"], [3]int{ceilDiv(len(x), 256), 1, 1}, [3]int{256, 1, 1}, 0,
			xd, yd, int64(len(x)), int64(len(y)))
	})
}

// binary runs an in-place kernel on x with a second operand y.
func (b *Backend) binary(op string, x, y []float32, launch func(xd, yd devicePtr) error) {
	if len(x) == 0 {
		return
	}
	b.must(op, func() error {
		xd, err := uploadSlice(b, "x", x)
		if err != nil {
			return err
		}
		yd, err := uploadSlice(b, "y", y)
		if err != nil {
			return err
		}
		if err := launch(xd, yd); err != nil {
			return err
		}
		return downloadFloats(b, x, xd)
	})
}

// Embed writes row ids[t] of table, decoded, as row t of out (kernels.Embed
// for a batch of tokens). The table is uploaded on first use, like any
// weight; types without a device decoder are decoded to f32 then.
func (b *Backend) Embed(out []float32, table *kernels.Matrix, ids []int) {
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
		od, err := b.scratchBuf("out", 4*n*cols)
		if err != nil {
			return err
		}
		grid := [3]int{ceilDiv(ceilDiv(cols, 8), 128), n, 1}
		err = b.ctx.launch(b.fn[embedKernel[d.typ]], grid, [3]int{128, 1, 1}, 0, od, d.data, int64(d.rowBytes), idd, int32(cols))
		if err != nil {
			return err
		}
		return downloadFloats(b, out[:n*cols], od)
	})
}
