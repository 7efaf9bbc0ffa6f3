//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/aha-inference/aha/kernels"
)

// maxHeadDim is the largest head the attention kernel holds in registers
// (MAX_DIM_PER_LANE·32 in attention.cu).
const maxHeadDim = 256

// Attention is kernels.Attention on the device: causal grouped-query
// attention of each sequence's query rows over its blocks of the pool.
// A float32 pool is on the device and the kernel follows the block tables
// there; a 16-bit pool is on the host (see kvPool), where the reference
// computes it.
func (b *Backend) Attention(out, q kernels.Buffer, pool kernels.KVPool, layer int, seqs []kernels.SeqBlocks, pos []int, nHeads, nKVHeads, headDim int) {
	p := pool.(*kvPool)
	if len(pos) == 0 {
		return
	}
	if p.keys == nil {
		b.must("attention", func() error { return b.attendHost(out, q, p, layer, seqs, pos, nHeads, nKVHeads, headDim) })
		return
	}
	if headDim > maxHeadDim || nKVHeads <= 0 || nHeads%nKVHeads != 0 {
		// Shapes the kernel was not written for: no model aha loads has them.
		b.fail(fmt.Errorf("cuda attention: %d heads of %d over %d KV heads is not a shape the kernel computes", nHeads, headDim, nKVHeads))
		return
	}
	b.must("attention", func() error {
		qw, t := nHeads*headDim, 0
		for _, s := range seqs {
			off := devicePtr(4 * t * qw)
			if err := b.attend(dev(out)+off, dev(q)+off, p, layer, s.Blocks, pos[t:t+s.Rows], nHeads, nKVHeads, headDim); err != nil {
				return err
			}
			t += s.Rows
		}
		return nil
	})
}

// attend runs the attention kernels for one sequence's rows.
func (b *Backend) attend(out, q devicePtr, p *kvPool, layer int, table, pos []int, nHeads, nKVHeads, headDim int) error {
	n := len(pos)
	posd, err := uploadSlice(b, "positions", int32s(pos))
	if err != nil {
		return err
	}
	tabled, err := uploadSlice(b, "block table", int32s(table))
	if err != nil {
		return err
	}
	maxPos := slices.Max(pos)
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
	hpb := headsPerBlock(nHeads / nKVHeads)
	scale := float32(1 / math.Sqrt(float64(headDim)))
	err = b.ctx.launch(b.fn["attention_split"], [3]int{heads / hpb, splits, 1}, [3]int{32 * hpb, 1, 1}, 0,
		q, p.keys[layer], p.values[layer], tabled, posd, pm, pl, po, int32(n), int32(nHeads), int32(nKVHeads), int32(headDim),
		int32(p.blockSize), int32(attentionSplit), int32(splits), scale)
	if err != nil {
		return err
	}
	threads := min(32*ceilDiv(headDim, 32), 256)
	return b.ctx.launch(b.fn["attention_combine"], [3]int{heads, 1, 1}, [3]int{threads, 1, 1}, 0,
		pm, pl, po, posd, out, int32(nHeads), int32(headDim), int32(attentionSplit), int32(splits))
}

// attendHost computes attention over a host pool with the reference: the
// queries come down and the outputs go back up.
func (b *Backend) attendHost(out, q kernels.Buffer, p *kvPool, layer int, seqs []kernels.SeqBlocks, pos []int, nHeads, nKVHeads, headDim int) error {
	qw := nHeads * headDim
	qh, oh := make([]float32, len(pos)*qw), make([]float32, len(pos)*qw)
	if err := b.download(qh, q); err != nil {
		return err
	}
	if err := b.ctx.sync(); err != nil {
		return err
	}
	t := 0
	for _, s := range seqs {
		kv := p.hostKV(layer, s.Blocks)
		kernels.Attention(oh[t*qw:(t+s.Rows)*qw], qh[t*qw:(t+s.Rows)*qw], &kv, pos[t:t+s.Rows], nHeads, nKVHeads, headDim)
		t += s.Rows
	}
	if err := b.ctx.upload(dev(out), unsafe.Pointer(unsafe.SliceData(oh)), 4*len(oh)); err != nil {
		return err
	}
	// oh must outlive the copy, which reads it in stream order.
	return b.ctx.sync()
}
