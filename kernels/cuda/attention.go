//go:build cuda

package cuda

import (
	"math"
	"slices"
	"unsafe"

	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/quant"
)

// maxHeadDim is the largest head the attention kernel holds in registers
// (MAX_DIM_PER_LANE·32 in attention.cu).
const maxHeadDim = 256

// Attention is kernels.Attention on the device: causal grouped-query
// attention of n query rows over the sequence's paged KV cache.
//
// The cache lives in host memory for now, so each call copies the blocks
// the rows read (positions 0…max(pos)) to the same block numbers of a device
// pool, and the kernel follows the real block table.
func (b *Backend) Attention(out, q []float32, kv *kernels.KV, pos []int, nHeads, nKVHeads, headDim int) {
	n := len(pos)
	if n == 0 {
		return
	}
	if headDim > maxHeadDim || nKVHeads <= 0 || nHeads%nKVHeads != 0 || kv.Type != quant.F32 {
		// Shapes the kernel was not written for (no model aha loads has
		// them), and 16-bit caches, which the kernel does not read yet.
		kernels.Attention(out, q, kv, pos, nHeads, nKVHeads, headDim)
		return
	}
	b.must("attention", func() error {
		maxPos := slices.Max(pos)
		table := kv.Blocks[:maxPos/kv.BlockSize+1]
		kd, vd, err := b.uploadKV(kv, table, maxPos)
		if err != nil {
			return err
		}
		qd, err := uploadSlice(b, "q", q[:n*nHeads*headDim])
		if err != nil {
			return err
		}
		posd, err := uploadSlice(b, "positions", int32s(pos))
		if err != nil {
			return err
		}
		tabled, err := uploadSlice(b, "block table", int32s(table))
		if err != nil {
			return err
		}
		splits := maxPos/attentionSplit + 1
		heads := n * nHeads
		pm, err := b.scratchBuf("attention max", 4*heads*splits)
		if err != nil {
			return err
		}
		pl, err := b.scratchBuf("attention sum", 4*heads*splits)
		if err != nil {
			return err
		}
		po, err := b.scratchBuf("attention partial", 4*heads*splits*headDim)
		if err != nil {
			return err
		}
		od, err := b.scratchBuf("out", 4*heads*headDim)
		if err != nil {
			return err
		}
		hpb := headsPerBlock(nHeads / nKVHeads)
		scale := float32(1 / math.Sqrt(float64(headDim)))
		err = b.ctx.launch(b.fn["attention_split"], [3]int{heads / hpb, splits, 1}, [3]int{32 * hpb, 1, 1}, 0,
			qd, kd, vd, tabled, posd, pm, pl, po, int32(n), int32(nHeads), int32(nKVHeads), int32(headDim),
			int32(kv.BlockSize), int32(attentionSplit), int32(splits), scale)
		if err != nil {
			return err
		}
		threads := min(32*ceilDiv(headDim, 32), 256)
		err = b.ctx.launch(b.fn["attention_combine"], [3]int{heads, 1, 1}, [3]int{threads, 1, 1}, 0,
			pm, pl, po, posd, od, int32(nHeads), int32(headDim), int32(attentionSplit), int32(splits))
		if err != nil {
			return err
		}
		return downloadFloats(b, out[:heads*headDim], od)
	})
}

// uploadKV copies the cache rows of positions 0…maxPos, block by block, to
// the same block numbers in device pools big enough for the largest block.
func (b *Backend) uploadKV(kv *kernels.KV, table []int, maxPos int) (keys, values devicePtr, err error) {
	blockFloats := kv.BlockSize * kv.Width
	bytes := 4 * (slices.Max(table) + 1) * blockFloats
	if keys, err = b.scratchBuf("keys", bytes); err != nil {
		return 0, 0, err
	}
	if values, err = b.scratchBuf("values", bytes); err != nil {
		return 0, 0, err
	}
	for i, blk := range table {
		rows := kv.BlockSize
		if i == len(table)-1 {
			rows = maxPos%kv.BlockSize + 1
		}
		off := blk * blockFloats
		for _, c := range []struct {
			dst devicePtr
			src []byte
		}{{keys, kv.Keys}, {values, kv.Values}} {
			src := c.src[4*off : 4*(off+rows*kv.Width)]
			if err := b.ctx.upload(c.dst+devicePtr(4*off), unsafe.Pointer(unsafe.SliceData(src)), len(src)); err != nil {
				return 0, 0, err
			}
		}
	}
	return keys, values, nil
}
