package engine

import (
	"cmp"
	"hash/maphash"
	"slices"

	"github.com/aha-inference/aha/model"
)

// prefixCache remembers the KV blocks of prompts already computed, so a
// prompt that starts with the same tokens skips that part of its prefill.
// Only full blocks are cached, each under the hash of every token up to
// its end (its own tokens and its parent's hash), so a block is found only
// after the same whole prefix. The cache holds each block it lists (one
// reference); a block only the cache holds can be evicted, least recently
// used first, when the scheduler needs room.
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

// lookup returns the cached blocks that hold the longest prefix of tokens
// made of whole blocks, at most limit positions.
func (p *prefixCache) lookup(tokens []int, limit int) []int {
	if p == nil {
		return nil
	}
	bs := p.cache.BlockSize()
	p.clock++
	var blocks []int
	var parent uint64
	for end := bs; end <= min(len(tokens), limit); end += bs {
		k := p.key(parent, tokens[end-bs:end])
		e := p.entries[k]
		if e == nil || e.parent != parent || !slices.Equal(e.tokens, tokens[end-bs:end]) {
			break
		}
		e.used = p.clock
		blocks = append(blocks, e.block)
		parent = k
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

// evictable counts the blocks only the prefix cache holds.
func (p *prefixCache) evictable() int {
	if p == nil {
		return 0
	}
	n := 0
	for _, e := range p.entries {
		if p.cache.Holders(e.block) == 1 {
			n++
		}
	}
	return n
}

// evict frees up to n blocks only the cache holds, least recently used
// first, and returns how many it freed.
func (p *prefixCache) evict(n int) int {
	if p == nil || n <= 0 {
		return 0
	}
	var victims []uint64
	for k, e := range p.entries {
		if p.cache.Holders(e.block) == 1 {
			victims = append(victims, k)
		}
	}
	slices.SortFunc(victims, func(a, b uint64) int {
		ea, eb := p.entries[a], p.entries[b]
		if c := cmp.Compare(ea.used, eb.used); c != 0 {
			return c
		}
		return cmp.Compare(eb.depth, ea.depth)
	})
	freed := 0
	for _, k := range victims[:min(n, len(victims))] {
		p.cache.Release(p.entries[k].block)
		delete(p.entries, k)
		freed++
	}
	return freed
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
