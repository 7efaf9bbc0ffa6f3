package model

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/quant"
)

// Cache is a paged KV cache: the keys and values of many sequences, kept in
// blocks of BlockSize positions taken from one pool. A sequence owns a list
// of blocks (its block table) that grows as it does, so memory follows the
// tokens actually held rather than each sequence's maximum length. Blocks
// are reference-counted: sequences forked from one prompt, and the engine's
// prefix cache, share the prompt's blocks; a shared block is copied before
// it is written (copy on write).
//
// The keys and values themselves live in the backend's memory (a
// kernels.KVPool); the Cache keeps the bookkeeping on the host: block
// tables, reference counts and the free list.
//
// A Cache and its sequences are used by one goroutine at a time.
type Cache struct {
	m         *Model
	backend   kernels.Backend // the model's when the cache was made
	vecs      *vectors        // the model's small vectors on backend
	kvType    quant.Type      // element type of keys and values: one of kernels.KVTypes
	blockSize int
	pool      kernels.KVPool // per layer: blocks × blockSize positions of keys and values
	refs      []int32        // per block: sequences (and other holders) using it
	free      []int          // blocks with no holder, used last-in first-out

	buf *buffers // activations of the current forward call
}

// DefaultBlockSize is the positions per block unless a caller chooses.
// Small enough that a short sequence wastes little, large enough that block
// tables stay short.
const DefaultBlockSize = 16

// DefaultKVType is the KV type the commands use unless told otherwise:
// float16 halves the cache and is faster at depth, and drifts from float32
// less than bfloat16 on every test fixture (0.013 in logprob where
// activations stay float32). The README gives the measurements.
const DefaultKVType = quant.F16

// ErrCacheFull is returned when a sequence needs a block and none is free.
var ErrCacheFull = errors.New("KV cache is full")

// NewCache makes a cache with room for at least tokens positions, in blocks
// of blockSize (≤ 0: DefaultBlockSize), holding keys and values as kvType,
// one of kernels.KVTypes, in the memory of the model's backend. The cache
// runs on that backend even if the model is given another later.
func (m *Model) NewCache(tokens, blockSize int, kvType quant.Type) (*Cache, error) {
	c := &m.Config
	if m.backend == nil {
		return nil, fmt.Errorf("KV cache: %w", ErrNoBackend)
	}
	if m.vecs.err != nil {
		return nil, fmt.Errorf("KV cache: the model's vectors on %s: %w", m.backend.Name(), m.vecs.err)
	}
	if kernels.KVTypeSize(kvType) == 0 {
		return nil, fmt.Errorf("KV cache: %v is not a KV type (%v)", kvType, kernels.KVTypes)
	}
	if blockSize <= 0 {
		blockSize = DefaultBlockSize
	}
	blocks := max(1, (tokens+blockSize-1)/blockSize)
	pool, err := m.backend.NewKVPool(c.Layers, blocks, blockSize, c.KVHeads*c.HeadDim, kvType)
	if err != nil {
		return nil, fmt.Errorf("KV cache of %d positions on %s: %w", blocks*blockSize, m.backend.Name(), err)
	}
	kc := &Cache{
		m: m, backend: m.backend, vecs: m.vecs, kvType: kvType, blockSize: blockSize, pool: pool, buf: &buffers{},
		refs: make([]int32, blocks), free: make([]int, blocks),
	}
	// A device's memory is not the garbage collector's: the pool and the
	// activations go back to the backend with the last reference to the
	// cache (the engine drops its cache when it swaps models).
	runtime.AddCleanup(kc, func(p kernels.KVPool) { p.Free() }, pool)
	runtime.AddCleanup(kc, (*buffers).release, kc.buf)
	for i := range kc.free {
		kc.free[i] = blocks - 1 - i // hand out block 0 first
	}
	return kc, nil
}

// CacheBytesPerToken is the memory one cached position takes in m's cache
// of KV type kvType.
func (m *Model) CacheBytesPerToken(kvType quant.Type) int64 {
	return int64(2 * kernels.KVTypeSize(kvType) * m.Config.Layers * m.Config.KVHeads * m.Config.HeadDim)
}

// KVType is the element type the cache holds keys and values in.
func (c *Cache) KVType() quant.Type { return c.kvType }

// BlockSize is the positions per block.
func (c *Cache) BlockSize() int { return c.blockSize }

// Blocks is the total number of blocks.
func (c *Cache) Blocks() int { return len(c.refs) }

// FreeBlocks is the number of blocks no sequence holds.
func (c *Cache) FreeBlocks() int { return len(c.free) }

// Hold adds a holder to block b (the prefix cache keeps blocks this way).
func (c *Cache) Hold(b int) { c.refs[b]++ }

// Release removes a holder from block b; the block is free when none is left.
func (c *Cache) Release(b int) {
	c.refs[b]--
	if c.refs[b] == 0 {
		c.free = append(c.free, b)
	}
}

// Holders is the number of holders of block b.
func (c *Cache) Holders(b int) int { return int(c.refs[b]) }

func (c *Cache) alloc() int {
	b := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	c.refs[b] = 1
	return b
}

// Seq is one sequence's place in a cache: its block table and length.
type Seq struct {
	cache  *Cache
	blocks []int
	len    int
}

// NewSeq starts an empty sequence. It holds no memory until it grows.
func (c *Cache) NewSeq() *Seq { return &Seq{cache: c} }

// NewSeqFrom starts a sequence whose first n positions are already in the
// given blocks (a prefix-cache hit); it holds each of them. n is capped at
// what the blocks can hold.
func (c *Cache) NewSeqFrom(blocks []int, n int) *Seq {
	s := &Seq{cache: c, blocks: append([]int(nil), blocks...), len: min(n, len(blocks)*c.blockSize)}
	for _, b := range blocks {
		c.Hold(b)
	}
	return s
}

// Len is the number of positions in the cache.
func (s *Seq) Len() int { return s.len }

// Blocks is the sequence's block table (not to be modified).
func (s *Seq) Blocks() []int { return s.blocks }

// Fork returns a new sequence with the same positions, sharing their
// blocks; the two diverge from here, copying a shared block on first write.
func (s *Seq) Fork() *Seq { return s.cache.NewSeqFrom(s.blocks, s.len) }

// Free releases every block; the sequence is empty afterwards.
func (s *Seq) Free() {
	for _, b := range s.blocks {
		s.cache.Release(b)
	}
	s.blocks, s.len = nil, 0
}

// Truncate forgets every position from n on, releasing blocks no longer
// needed.
func (s *Seq) Truncate(n int) {
	if n >= s.len {
		return
	}
	keep := (n + s.cache.blockSize - 1) / s.cache.blockSize
	for _, b := range s.blocks[keep:] {
		s.cache.Release(b)
	}
	s.blocks, s.len = s.blocks[:keep], n
}

// Needs is the number of free blocks appending n positions would take:
// new blocks, plus a copy of the last block if it is shared and partly
// filled.
func (s *Seq) Needs(n int) int {
	bs := s.cache.blockSize
	need := (s.len+n+bs-1)/bs - len(s.blocks)
	if s.len%bs != 0 && n > 0 && s.cache.refs[s.blocks[len(s.blocks)-1]] > 1 {
		need++
	}
	return max(need, 0)
}

// reserve makes room for n more positions, all or nothing.
func (s *Seq) reserve(n int) error {
	c := s.cache
	if need := s.Needs(n); need > len(c.free) {
		return fmt.Errorf("%d more positions need %d blocks, %d are free: %w", n, need, len(c.free), ErrCacheFull)
	}
	if last := len(s.blocks) - 1; s.len%c.blockSize != 0 && n > 0 && c.refs[s.blocks[last]] > 1 {
		old, b := s.blocks[last], c.alloc()
		c.backend.CopyBlock(c.pool, b, old, s.len%c.blockSize)
		c.Release(old)
		s.blocks[last] = b
	}
	for len(s.blocks)*c.blockSize < s.len+n {
		s.blocks = append(s.blocks, c.alloc())
	}
	return nil
}
