//go:build cuda

package cuda

import (
	"fmt"
	"unsafe"

	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/quant"
)

// weightKey identifies a host matrix: its data (usually a slice of the mapped
// model file) and how it is read. Tied embeddings share one device copy.
type weightKey struct {
	data       *byte
	typ        quant.Type
	rows, cols int
}

// deviceMatrix is a weight matrix in device memory, in the type its kernel
// reads: the stored one, or f32 for types without a kernel of their own.
type deviceMatrix struct {
	data     devicePtr
	typ      quant.Type
	rowBytes int
}

func keyOf(m *kernels.Matrix) weightKey {
	return weightKey{unsafe.SliceData(m.Data), m.Type, m.Rows, m.Cols}
}

// Prepare uploads a weight matrix to the device ahead of use (nothing, if
// it is there already): the backend reads only its device copy from then
// on. Running out of device memory is an error here, not a failed step
// later.
func (b *Backend) Prepare(w *kernels.Matrix) (copied bool, err error) {
	err = b.run(func() error {
		_, err := b.weight(w)
		return err
	})
	return err == nil, err
}

// Release frees w's device copy, if there is one.
func (b *Backend) Release(w *kernels.Matrix) {
	b.run(func() error {
		k := keyOf(w)
		if d := b.weights[k]; d != nil {
			b.ctx.free(d.data)
			delete(b.weights, k)
		}
		return nil
	})
}

// weight returns m's device copy, uploading it on first use.
func (b *Backend) weight(m *kernels.Matrix) (*deviceMatrix, error) {
	k := keyOf(m)
	if d := b.weights[k]; d != nil {
		return d, nil
	}
	d := &deviceMatrix{typ: m.Type, rowBytes: m.RowBytes()}
	data := m.Data
	_, hasMatvec := matvecKernel[m.Type]
	_, hasMMA := mmaKernel[m.Type]
	if !hasMatvec && !hasMMA {
		// No kernel reads this type: decode it to f32 once, here.
		f := make([]float32, m.Rows*m.Cols)
		for r := 0; r < m.Rows; r++ {
			m.DequantizeRow(r, f[r*m.Cols:(r+1)*m.Cols])
		}
		d.typ, d.rowBytes = quant.F32, 4*m.Cols
		data = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*len(f))
	}
	p, err := b.ctx.alloc(len(data))
	if err != nil {
		return nil, fmt.Errorf("upload %d×%d %v weights: %w", m.Rows, m.Cols, m.Type, b.memoryError(len(data), err))
	}
	if err := b.ctx.upload(p, unsafe.Pointer(unsafe.SliceData(data)), len(data)); err != nil {
		b.ctx.free(p)
		return nil, fmt.Errorf("upload %d×%d %v weights: %w", m.Rows, m.Cols, m.Type, err)
	}
	d.data = p
	b.weights[k] = d
	return d, nil
}

// MatMul computes out = x·Wᵀ for n rows of x, like kernels.MatMul.
func (b *Backend) MatMul(out kernels.Buffer, w *kernels.Matrix, x kernels.Buffer, n int) {
	if n == 0 || w.Rows == 0 {
		return
	}
	b.must("matmul", func() error { return b.matmul(dev(out), w, dev(x), n) })
}

// matmul computes out = x·Wᵀ on device buffers.
func (b *Backend) matmul(out devicePtr, w *kernels.Matrix, x devicePtr, n int) error {
	d, err := b.weight(w)
	if err != nil {
		return err
	}
	rows, cols := w.Rows, w.Cols
	splitLen, splits := splitColumns(cols)
	chunk := tokenChunk(n, rows, splits)
	var part devicePtr
	if splits > 1 {
		if part, err = b.scratchBuf("partial sums", 4*splits*chunk*rows); err != nil {
			return err
		}
	}
	for t0 := 0; t0 < n; t0 += chunk {
		nc := min(chunk, n-t0)
		xc, oc := x+devicePtr(4*t0*cols), out+devicePtr(4*t0*rows)
		dst := oc
		if splits > 1 {
			dst = part
		}
		if name, ok := mmaKernel[d.typ]; ok {
			grid := [3]int{ceilDiv(rows, mmaRows*matWarps), ceilDiv(nc, mmaTokens), splits}
			err = b.ctx.launch(b.fn[name], grid, [3]int{32 * matWarps, 1, 1}, 0,
				d.data, xc, dst, int32(rows), int32(cols), int32(nc), int32(splitLen))
		} else {
			grid := [3]int{ceilDiv(rows, matWarps), ceilDiv(nc, matvecTokens), splits}
			err = b.ctx.launch(b.fn[matvecKernel[d.typ]], grid, [3]int{32 * matWarps, 1, 1}, 0,
				d.data, int64(d.rowBytes), xc, dst, int32(rows), int32(cols), int32(nc), int32(splitLen))
		}
		if err != nil {
			return err
		}
		if splits > 1 {
			count := nc * rows
			err = b.ctx.launch(b.fn["sum_splits"], [3]int{ceilDiv(count, 256), 1, 1}, [3]int{256, 1, 1}, 0,
				part, oc, int64(count), int32(splits))
			if err != nil {
				return err
			}
		}
	}
	return nil
}
