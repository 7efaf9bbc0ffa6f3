package model

import (
	"errors"
	"fmt"
	"runtime"
	"slices"

	"github.com/aha-inference/aha/kernels"
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

// vectors are the model's small vectors in its backend's memory, put
// there once by SetBackend: the output norm, and each layer's norms and
// biases (nil where the family has none).
type vectors struct {
	backend kernels.Backend
	outNorm kernels.Buffer
	layers  []layerVectors
	err     error // the backend's failure while uploading them
}

type layerVectors struct {
	attnNorm, ffnNorm   kernels.Buffer
	qBias, kBias, vBias kernels.Buffer // qwen2
	qNorm, kNorm        kernels.Buffer // qwen3
}

// upload puts m's small vectors in b's memory.
func (m *Model) upload(b kernels.Backend) *vectors {
	vs := &vectors{backend: b, layers: make([]layerVectors, len(m.Layers))}
	if b == nil {
		return vs
	}
	put := func(v []float32) kernels.Buffer {
		if v == nil {
			return nil
		}
		buf := b.Alloc(len(v))
		b.Upload(buf, v)
		return buf
	}
	vs.outNorm = put(m.OutNorm)
	for i := range m.Layers {
		l := &m.Layers[i]
		vs.layers[i] = layerVectors{
			attnNorm: put(l.AttnNorm), ffnNorm: put(l.FFNNorm),
			qBias: put(l.QBias), kBias: put(l.KBias), vBias: put(l.VBias),
			qNorm: put(l.QNorm), kNorm: put(l.KNorm),
		}
	}
	vs.err = b.Err()
	return vs
}

// buffers are the activations of one forward call, in the backend's
// memory, reused across calls (grown when a call has more tokens than any
// before it), and the host rows the logits are read into.
type buffers struct {
	n                   int
	x, h, q, k, v, attn kernels.Buffer
	gate, up            kernels.Buffer
	logits              kernels.Buffer // rows of VocabSize, for the rows that want them
	logitRows           int
	host                []float32 // the logits, read back

	// The step's integers, as the backend takes them.
	ids, pos, slots, want []int
	seqs                  []kernels.SeqBlocks
}

// ensure makes room for n tokens and rows logit rows.
func (b *buffers) ensure(be kernels.Backend, c *Config, n, rows int) {
	if n > b.n {
		q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
		b.free(b.x, b.h, b.q, b.k, b.v, b.attn, b.gate, b.up)
		b.n = n
		b.x = be.Alloc(n * c.Hidden)
		b.h = be.Alloc(n * max(c.Hidden, q))
		b.q = be.Alloc(n * q)
		b.k = be.Alloc(n * kv)
		b.v = be.Alloc(n * kv)
		b.attn = be.Alloc(n * q)
		b.gate = be.Alloc(n * c.Intermediate)
		b.up = be.Alloc(n * c.Intermediate)
	}
	if rows > b.logitRows {
		b.free(b.logits)
		b.logitRows = rows
		b.logits = be.Alloc(rows * c.VocabSize)
		b.host = make([]float32, rows*c.VocabSize)
	}
}

// release hands every buffer back to the backend.
func (b *buffers) release() { b.free(b.x, b.h, b.q, b.k, b.v, b.attn, b.gate, b.up, b.logits) }

func (b *buffers) free(bufs ...kernels.Buffer) {
	for _, buf := range bufs {
		if buf != nil {
			buf.Free()
		}
	}
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
	if m.vecs != c.vecs {
		return nil, errors.New("forward: the model's backend changed since its cache was made")
	}
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

	// What the step sends to the backend: the token ids, their positions
	// and KV slots, each sequence's block table, and the rows that want
	// logits.
	be, b := c.backend, c.buf
	ids, pos, slots, want := b.ids[:0], b.pos[:0], b.slots[:0], b.want[:0]
	seqs := slices.Grow(b.seqs[:0], len(steps))[:len(steps)]
	for i, st := range steps {
		s := st.Seq
		for j, id := range st.Tokens {
			p := s.len + j
			ids, pos = append(ids, id), append(pos, p)
			slots = append(slots, s.blocks[p/c.blockSize]*c.blockSize+p%c.blockSize)
		}
		last := s.len + len(st.Tokens) - 1
		seqs[i] = kernels.SeqBlocks{Rows: len(st.Tokens), Blocks: s.blocks[:last/c.blockSize+1]}
		for r := len(st.Tokens) - st.Logits; r < len(st.Tokens); r++ {
			want = append(want, len(ids)-len(st.Tokens)+r)
		}
	}

	b.ids, b.pos, b.slots, b.want, b.seqs = ids, pos, slots, want, seqs
	b.ensure(be, cfg, n, rows)
	be.Embed(b.x, &m.Embed, ids)
	for l := range m.Layers {
		m.layer(c, l, n, pos, slots, seqs)
	}

	// Normalize and project only the rows that want logits.
	out := make([][]float32, len(steps))
	if rows > 0 {
		be.Gather(b.h, b.x, want, cfg.Hidden)
		be.RMSNorm(b.h, b.h, c.vecs.outNorm, rows*cfg.Hidden, cfg.NormEps)
		be.MatMul(b.logits, &m.Output, b.h, rows)
		logits := b.host[:rows*cfg.VocabSize]
		be.Read(logits, b.logits)
		r := 0
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
	if err := be.Err(); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	for _, st := range steps {
		st.Seq.len += len(st.Tokens)
	}
	// The pool may live outside the Go heap and is freed when the cache is
	// collected (NewCache): the cache must stay reachable until the
	// backend's last read of it, whatever the caller still holds.
	runtime.KeepAlive(c)
	return out, nil
}

// layer runs decoder block i over the n rows of the step's hidden states
// (at positions pos, the steps' tokens one after another), updating them
// in place.
func (m *Model) layer(kc *Cache, i, n int, pos, slots []int, seqs []kernels.SeqBlocks) {
	c, l, v, b, be := &m.Config, &m.Layers[i], &kc.vecs.layers[i], kc.buf, kc.backend
	qw, kvw := n*c.Heads*c.HeadDim, n*c.KVHeads*c.HeadDim

	// Attention: normalize, project to queries, keys and values.
	be.RMSNorm(b.h, b.x, v.attnNorm, n*c.Hidden, c.NormEps)
	be.MatMul(b.q, &l.Q, b.h, n)
	be.MatMul(b.k, &l.K, b.h, n)
	be.MatMul(b.v, &l.V, b.h, n)
	if c.AttentionBias {
		be.AddBias(b.q, v.qBias, n)
		be.AddBias(b.k, v.kBias, n)
		be.AddBias(b.v, v.vBias, n)
	}
	if c.QKNorm {
		// q and k are rows of HeadDim per head; each head is normalized alone.
		be.RMSNorm(b.q, b.q, v.qNorm, qw, c.NormEps)
		be.RMSNorm(b.k, b.k, v.kNorm, kvw, c.NormEps)
	}
	be.RoPE(b.q, pos, c.Heads, c.HeadDim, m.rope)
	be.RoPE(b.k, pos, c.KVHeads, c.HeadDim, m.rope)

	// The step's keys and values join the cache, then each sequence's
	// queries attend over its own blocks.
	be.StoreKV(kc.pool, i, b.k, b.v, slots)
	be.Attention(b.attn, b.q, kc.pool, i, seqs, pos, c.Heads, c.KVHeads, c.HeadDim)

	// Output projection and residual.
	be.MatMul(b.h, &l.O, b.attn, n)
	be.Add(b.x, b.h, n*c.Hidden)

	// MLP: normalize, SwiGLU, project down, residual.
	be.RMSNorm(b.h, b.x, v.ffnNorm, n*c.Hidden, c.NormEps)
	be.MatMul(b.gate, &l.Gate, b.h, n)
	be.MatMul(b.up, &l.Up, b.h, n)
	be.SiLUMul(b.gate, b.up, n*c.Intermediate)
	be.MatMul(b.h, &l.Down, b.gate, n)
	be.Add(b.x, b.h, n*c.Hidden)
}
