package model

import (
	"errors"
	"fmt"

	"github.com/aha-inference/aha/kernels"
)

// The forward pass shared by llama, qwen2 and qwen3: a pre-norm decoder with
// grouped-query attention, RoPE and a SwiGLU MLP. What differs between the
// families (q/k/v biases, QK-norm, the rotary layout, rope scaling) is
// switched by the Config their files declare; see llama.go, qwen2.go and
// qwen3.go.

// State is one sequence's KV cache and scratch space. It holds Len()
// positions of keys and values for every layer, up to its context size.
type State struct {
	len, ctx     int
	keys, values [][]float32 // per layer: ctx rows of KVHeads·HeadDim
	buf          buffers
}

// buffers are the activations of one forward call, reused across calls
// (grown when a call has more tokens than any before it).
type buffers struct {
	n                   int
	x, h, q, k, v, attn []float32
	gate, up            []float32
	logits              []float32
	pos                 []int
}

// ErrContextFull is returned when a forward call would run past the
// sequence's context size.
var ErrContextFull = errors.New("context is full")

// NewState makes an empty sequence with room for ctx positions. ctx is
// capped at the model's maximum positions.
func (m *Model) NewState(ctx int) *State {
	c := &m.Config
	if ctx <= 0 || ctx > c.MaxPositions {
		ctx = c.MaxPositions
	}
	s := &State{ctx: ctx, keys: make([][]float32, c.Layers), values: make([][]float32, c.Layers)}
	kv := c.KVHeads * c.HeadDim
	for i := range s.keys {
		s.keys[i] = make([]float32, ctx*kv)
		s.values[i] = make([]float32, ctx*kv)
	}
	return s
}

// Len is the number of positions already in the cache.
func (s *State) Len() int { return s.len }

// Context is the most positions the state can hold.
func (s *State) Context() int { return s.ctx }

// Truncate forgets every position from n on, so a sequence can be rewound
// (for example to re-run a shared prompt with another continuation).
func (s *State) Truncate(n int) {
	if n < s.len {
		s.len = n
	}
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
	b.pos = make([]int, n)
}

// Forward runs tokens through the model at positions s.Len(), s.Len()+1, …
// and appends them to the cache. It returns the logits of every token
// (len(tokens) rows of VocabSize) when all is set, else only the last
// token's row. A whole prompt goes through in one call (prefill); decoding
// then feeds one token at a time. The logits live in the state's buffers:
// they are valid until the next Forward on s.
func (m *Model) Forward(s *State, tokens []int, all bool) ([]float32, error) {
	c := &m.Config
	n := len(tokens)
	if n == 0 {
		return nil, errors.New("forward: no tokens")
	}
	if s.len+n > s.ctx {
		return nil, fmt.Errorf("forward: %d tokens after %d would exceed the context of %d: %w", n, s.len, s.ctx, ErrContextFull)
	}
	for _, id := range tokens {
		if id < 0 || id >= c.VocabSize {
			return nil, fmt.Errorf("forward: token id %d is outside the vocabulary (0…%d)", id, c.VocabSize-1)
		}
	}
	s.buf.ensure(c, n)
	pos := s.buf.pos[:n]
	for t := range pos {
		pos[t] = s.len + t
	}

	x := s.buf.x[:n*c.Hidden]
	for t, id := range tokens {
		kernels.Embed(x[t*c.Hidden:(t+1)*c.Hidden], &m.Embed, id)
	}
	for i := range m.Layers {
		m.layer(s, i, x, pos)
	}
	s.len += n

	rows := x
	if !all {
		rows, n = x[(n-1)*c.Hidden:], 1
	}
	h := s.buf.h[:n*c.Hidden]
	kernels.RMSNorm(h, rows, m.OutNorm, c.NormEps)
	if cap(s.buf.logits) < n*c.VocabSize {
		s.buf.logits = make([]float32, n*c.VocabSize)
	}
	logits := s.buf.logits[:n*c.VocabSize]
	m.backend.MatMul(logits, &m.Output, h, n)
	return logits, nil
}

// layer runs decoder block i over the n rows of x (at positions pos),
// updating x in place.
func (m *Model) layer(s *State, i int, x []float32, pos []int) {
	c, l, b := &m.Config, &m.Layers[i], &s.buf
	n := len(pos)
	qw, kvw := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	h, q, k, v, attn := b.h[:n*c.Hidden], b.q[:n*qw], b.k[:n*kvw], b.v[:n*kvw], b.attn[:n*qw]

	// Attention: normalize, project to queries, keys and values.
	kernels.RMSNorm(h, x, l.AttnNorm, c.NormEps)
	m.backend.MatMul(q, &l.Q, h, n)
	m.backend.MatMul(k, &l.K, h, n)
	m.backend.MatMul(v, &l.V, h, n)
	if c.AttentionBias {
		kernels.AddBias(q, l.QBias)
		kernels.AddBias(k, l.KBias)
		kernels.AddBias(v, l.VBias)
	}
	if c.QKNorm {
		// q and k are rows of HeadDim per head; each head is normalized alone.
		kernels.RMSNorm(q, q, l.QNorm, c.NormEps)
		kernels.RMSNorm(k, k, l.KNorm, c.NormEps)
	}
	kernels.RoPE(q, pos, c.Heads, c.HeadDim, m.RopeFreqs, c.RopeLayout)
	kernels.RoPE(k, pos, c.KVHeads, c.HeadDim, m.RopeFreqs, c.RopeLayout)

	// Append this call's keys and values to the cache, then attend over it.
	copy(s.keys[i][pos[0]*kvw:], k)
	copy(s.values[i][pos[0]*kvw:], v)
	m.backend.Attention(attn, q, s.keys[i], s.values[i], pos, c.Heads, c.KVHeads, c.HeadDim)

	// Output projection and residual.
	out := h[:n*c.Hidden]
	m.backend.MatMul(out, &l.O, attn, n)
	kernels.Add(x, out)

	// MLP: normalize, SwiGLU, project down, residual.
	kernels.RMSNorm(h, x, l.FFNNorm, c.NormEps)
	gate, up := b.gate[:n*c.Intermediate], b.up[:n*c.Intermediate]
	m.backend.MatMul(gate, &l.Gate, h, n)
	m.backend.MatMul(up, &l.Up, h, n)
	kernels.SiLUMul(gate, up)
	m.backend.MatMul(out, &l.Down, gate, n)
	kernels.Add(x, out)
}
