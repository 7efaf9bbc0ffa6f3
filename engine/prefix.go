package engine

import (
	"hash/maphash"
	"slices"

	"github.com/aha-inference/aha/model"
)

// prefixCache remembers the KV blocks of prompts already computed, so a
// prompt that starts with the same tokens skips that part of its prefill.
// Only full blocks are cached, each under the hash of every token up to
// its end (its own tokens and its parent's hash), so a block is found only
// after the same whole prefix. The cache holds each block it lists (one
// reference); a block only the cache holds can be evicted when the
// scheduler needs room.
type prefixCache struct {
	cache   *model.Cache
	seed    maphash.Seed
	entries map[uint64]*prefixEntry
	clock   uint64
}

type prefixEntry struct {
	block  int
	tokens []int // the block's tokens, compared on lookup (hashes can collide)
	parent uint64
	depth  int // blocks before this one: evict deeper blocks first on ties
	used   uint64
}

func newPrefixCache(c *model.Cache) *prefixCache {
	return &prefixCache{cache: c, seed: maphash.MakeSeed(), entries: map[uint64]*prefixEntry{}}
}

func (p *prefixCache) key(parent uint64, tokens []int) uint64 {
	var h maphash.Hash
	h.SetSeed(p.seed)
	var b [8]byte
	put := func(v uint64) {
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		h.Write(b[:])
	}
	put(parent)
	for _, t := range tokens {
		put(uint64(t))
	}
	return h.Sum64()
}

// match returns the keys of the cached blocks that hold the longest
// prefix of tokens made of whole blocks, at most limit positions. It
// changes nothing: use marks the blocks a sequence takes.
func (p *prefixCache) match(tokens []int, limit int) []uint64 {
	if p == nil {
		return nil
	}
	bs := p.cache.BlockSize()
	var keys []uint64
	var parent uint64
	for end := bs; end <= min(len(tokens), limit); end += bs {
		k := p.key(parent, tokens[end-bs:end])
		e := p.entries[k]
		if e == nil || e.parent != parent || !slices.Equal(e.tokens, tokens[end-bs:end]) {
			break
		}
		keys = append(keys, k)
		parent = k
	}
	return keys
}

// use marks the entries of keys (a match) as used now, and returns their
// blocks.
func (p *prefixCache) use(keys []uint64) []int {
	if len(keys) == 0 {
		return nil
	}
	p.clock++
	blocks := make([]int, len(keys))
	for i, k := range keys {
		e := p.entries[k]
		e.used = p.clock
		blocks[i] = e.block
	}
	return blocks
}

// insert lists the full blocks of a sequence holding tokens.
func (p *prefixCache) insert(tokens []int, blocks []int) {
	if p == nil {
		return
	}
	bs := p.cache.BlockSize()
	p.clock++
	var parent uint64
	for i := 0; (i+1)*bs <= len(tokens) && i < len(blocks); i++ {
		chunk := tokens[i*bs : (i+1)*bs]
		k := p.key(parent, chunk)
		if e := p.entries[k]; e == nil {
			p.entries[k] = &prefixEntry{block: blocks[i], tokens: slices.Clone(chunk), parent: parent, depth: i, used: p.clock}
			p.cache.Hold(blocks[i])
		} else if e.parent != parent || !slices.Equal(e.tokens, chunk) {
			return // a collision: leave the older entry, cache nothing deeper
		} else {
			e.used = p.clock
		}
		parent = k
	}
}

// list describes every entry for the scheduler, which chooses what to
// evict (evictionOrder).
func (p *prefixCache) list() []cachedBlock {
	if p == nil {
		return nil
	}
	out := make([]cachedBlock, 0, len(p.entries))
	for k, e := range p.entries {
		out = append(out, cachedBlock{Key: k, Block: e.block, Used: e.used, Depth: e.depth})
	}
	return out
}

// drop forgets the entries of keys and releases their blocks.
func (p *prefixCache) drop(keys []uint64) {
	for _, k := range keys {
		p.cache.Release(p.entries[k].block)
		delete(p.entries, k)
	}
}

// reset drops every entry.
func (p *prefixCache) reset() {
	if p == nil {
		return
	}
	for k, e := range p.entries {
		p.cache.Release(e.block)
		delete(p.entries, k)
	}
}
