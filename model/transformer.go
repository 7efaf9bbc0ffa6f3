package model

import (
	"errors"
	"fmt"

	"github.com/aha-inference/aha/quant"
)

// The forward pass shared by llama, qwen2 and qwen3: a pre-norm decoder with
// grouped-query attention, RoPE and a SwiGLU MLP. What differs between the
// families (q/k/v biases, QK-norm, the rotary layout, rope scaling) is
// switched by the Config their files declare; see llama.go, qwen2.go and
// qwen3.go.

// State is a single sequence with a cache of its own: the simple way to run
// one prompt. Many sequences share one Cache and run together through
// Cache.Forward.
type State struct {
	cache *Cache
	seq   *Seq
	ctx   int
}

// ErrContextFull is returned when a forward call would run past the
// sequence's context size.
var ErrContextFull = errors.New("context is full")

// NewState makes an empty sequence with room for ctx positions, its keys
// and values held as kvType (one of kernels.KVTypes). ctx is capped at the
// model's maximum positions.
func (m *Model) NewState(ctx int, kvType quant.Type) (*State, error) {
	if ctx <= 0 || ctx > m.Config.MaxPositions {
		ctx = m.Config.MaxPositions
	}
	c, err := m.NewCache(ctx, 0, kvType)
	if err != nil {
		return nil, err
	}
	return &State{cache: c, seq: c.NewSeq(), ctx: ctx}, nil
}

// Len is the number of positions already in the cache.
func (s *State) Len() int { return s.seq.Len() }

// Context is the most positions the state can hold.
func (s *State) Context() int { return s.ctx }

// Truncate forgets every position from n on, so a sequence can be rewound
// (for example to re-run a shared prompt with another continuation).
func (s *State) Truncate(n int) { s.seq.Truncate(n) }

// Forward runs tokens through the model at positions s.Len(), s.Len()+1, …
// and appends them to the cache. It returns the logits of every token
// (len(tokens) rows of VocabSize) when all is set, else only the last
// token's row. A whole prompt goes through in one call (prefill); decoding
// then feeds one token at a time. The logits live in the state's buffers:
// they are valid until the next Forward on s.
func (m *Model) Forward(s *State, tokens []int, all bool) ([]float32, error) {
	if s.seq.Len()+len(tokens) > s.ctx {
		return nil, fmt.Errorf("forward: %d tokens after %d would exceed the context of %d: %w", len(tokens), s.seq.Len(), s.ctx, ErrContextFull)
	}
	want := 1
	if all {
		want = len(tokens)
	}
	logits, err := s.cache.Forward([]Step{{Seq: s.seq, Tokens: tokens, Logits: want}})
	if err != nil {
		return nil, err
	}
	return logits[0], nil
}

// Step is one sequence's share of a batched forward call: tokens to append
// at positions Seq.Len(), Seq.Len()+1, …, and how many of the last of them
// want their logits back: 0 for a prompt chunk that is not the last, 1 for
// the next-token distribution, len(Tokens) for every position (prompt
// logprobs, scoring).
type Step struct {
	Seq    *Seq
	Tokens []int
	Logits int
}

// buffers are the activations of one forward call, reused across calls
// (grown when a call has more tokens than any before it).
type buffers struct {
	n                   int
	x, h, q, k, v, attn []float32
	gate, up            []float32
	logits              []float32
	ids, pos            []int
}

func (b *buffers) ensure(c *Config, n int) {
	if n <= b.n {
		return
	}
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	b.n = n
	b.x = make([]float32, n*c.Hidden)
	b.h = make([]float32, n*max(c.Hidden, q))
	b.q = make([]float32, n*q)
	b.k = make([]float32, n*kv)
	b.v = make([]float32, n*kv)
	b.attn = make([]float32, n*q)
	b.gate = make([]float32, n*c.Intermediate)
	b.up = make([]float32, n*c.Intermediate)
	b.ids = make([]int, n)
	b.pos = make([]int, n)
}

// Forward runs one step for many sequences at once: the tokens of every
// step go through each layer together, so each weight is read once per call
// for the whole batch, while attention reads each sequence's own cache.
// Every token's result is computed by the same operations whatever else is
// in the batch (the backends' kernels are per row), so batching never
// changes a sequence's numbers.
//
// It returns, per step, the logits it asked for (rows of VocabSize), which
// stay valid until the next Forward on c. On error no sequence has a
// position more or less than before.
func (c *Cache) Forward(steps []Step) ([][]float32, error) {
	m, cfg := c.m, &c.m.Config
	n, rows := 0, 0
	need := 0
	for i, st := range steps {
		if len(st.Tokens) == 0 {
			return nil, fmt.Errorf("forward: step %d has no tokens", i)
		}
		if st.Seq.cache != c {
			return nil, fmt.Errorf("forward: step %d's sequence belongs to another cache", i)
		}
		if st.Seq.Len()+len(st.Tokens) > cfg.MaxPositions {
			return nil, fmt.Errorf("forward: %d tokens after %d would exceed the model's %d positions: %w", len(st.Tokens), st.Seq.Len(), cfg.MaxPositions, ErrContextFull)
		}
		for _, id := range st.Tokens {
			if id < 0 || id >= cfg.VocabSize {
				return nil, fmt.Errorf("forward: token id %d is outside the vocabulary (0…%d)", id, cfg.VocabSize-1)
			}
		}
		if st.Logits < 0 || st.Logits > len(st.Tokens) {
			return nil, fmt.Errorf("forward: step %d wants %d logit rows of %d tokens", i, st.Logits, len(st.Tokens))
		}
		n += len(st.Tokens)
		need += st.Seq.Needs(len(st.Tokens))
		rows += st.Logits
	}
	if need > c.FreeBlocks() {
		return nil, fmt.Errorf("forward: %d tokens need %d blocks, %d are free: %w", n, need, c.FreeBlocks(), ErrCacheFull)
	}
	for _, st := range steps {
		if err := st.Seq.reserve(len(st.Tokens)); err != nil {
			return nil, err // unreachable: the total was checked above
		}
	}

	b := &c.buf
	b.ensure(cfg, n)
	x, ids, pos := b.x[:n*cfg.Hidden], b.ids[:n], b.pos[:n]
	t := 0
	for _, st := range steps {
		for j, id := range st.Tokens {
			ids[t], pos[t] = id, st.Seq.len+j
			t++
		}
	}
	m.backend.Embed(x, &m.Embed, ids)
	for l := range m.Layers {
		m.layer(c, l, steps, x, pos)
	}

	// Gather the rows that want logits, then normalize and project only those.
	h, t, r := b.h[:rows*cfg.Hidden], 0, 0
	for _, st := range steps {
		k, w := len(st.Tokens), st.Logits
		copy(h[r*cfg.Hidden:], x[(t+k-w)*cfg.Hidden:(t+k)*cfg.Hidden])
		r += w
		t += k
	}
	out := make([][]float32, len(steps))
	if rows > 0 {
		m.backend.RMSNorm(h, h, m.OutNorm, cfg.NormEps)
		if cap(b.logits) < rows*cfg.VocabSize {
			b.logits = make([]float32, rows*cfg.VocabSize)
		}
		logits := b.logits[:rows*cfg.VocabSize]
		m.backend.MatMul(logits, &m.Output, h, rows)
		r = 0
		for i, st := range steps {
			if k := st.Logits; k > 0 {
				out[i] = logits[r*cfg.VocabSize : (r+k)*cfg.VocabSize]
				r += k
			}
		}
	}
	// The sequences take their new positions only when the backend has
	// computed them all: after a failure they keep what they had (and the
	// blocks reserved for the step, reused by the next).
	if err := m.backend.Err(); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	for _, st := range steps {
		st.Seq.len += len(st.Tokens)
	}
	return out, nil
}

// layer runs decoder block i over the n rows of x (at positions pos, the
// steps' tokens one after another), updating x in place.
func (m *Model) layer(kc *Cache, i int, steps []Step, x []float32, pos []int) {
	c, l, b := &m.Config, &m.Layers[i], &kc.buf
	n := len(pos)
	qw, kvw := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	h, q, k, v, attn := b.h[:n*c.Hidden], b.q[:n*qw], b.k[:n*kvw], b.v[:n*kvw], b.attn[:n*qw]

	// Attention: normalize, project to queries, keys and values.
	m.backend.RMSNorm(h, x, l.AttnNorm, c.NormEps)
	m.backend.MatMul(q, &l.Q, h, n)
	m.backend.MatMul(k, &l.K, h, n)
	m.backend.MatMul(v, &l.V, h, n)
	if c.AttentionBias {
		m.backend.AddBias(q, l.QBias)
		m.backend.AddBias(k, l.KBias)
		m.backend.AddBias(v, l.VBias)
	}
	if c.QKNorm {
		// q and k are rows of HeadDim per head; each head is normalized alone.
		m.backend.RMSNorm(q, q, l.QNorm, c.NormEps)
		m.backend.RMSNorm(k, k, l.KNorm, c.NormEps)
	}
	m.backend.RoPE(q, pos, c.Heads, c.HeadDim, m.RopeFreqs, c.RopeLayout)
	m.backend.RoPE(k, pos, c.KVHeads, c.HeadDim, m.RopeFreqs, c.RopeLayout)

	// Each sequence appends its keys and values to its own cache, then its
	// queries attend over that cache.
	t := 0
	for _, st := range steps {
		kv := st.Seq.kv(i)
		for j := range st.Tokens {
			kv.Put(pos[t+j], k[(t+j)*kvw:(t+j+1)*kvw], v[(t+j)*kvw:(t+j+1)*kvw])
		}
		nt := len(st.Tokens)
		m.backend.Attention(attn[t*qw:(t+nt)*qw], q[t*qw:(t+nt)*qw], &kv, pos[t:t+nt], c.Heads, c.KVHeads, c.HeadDim)
		t += nt
	}

	// Output projection and residual.
	out := h[:n*c.Hidden]
	m.backend.MatMul(out, &l.O, attn, n)
	m.backend.Add(x, out)

	// MLP: normalize, SwiGLU, project down, residual.
	m.backend.RMSNorm(h, x, l.FFNNorm, c.NormEps)
	gate, up := b.gate[:n*c.Intermediate], b.up[:n*c.Intermediate]
	m.backend.MatMul(gate, &l.Gate, h, n)
	m.backend.MatMul(up, &l.Up, h, n)
	m.backend.SiLUMul(gate, up)
	m.backend.MatMul(out, &l.Down, gate, n)
	m.backend.Add(x, out)
}
