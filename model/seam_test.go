package model

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/quant"
)

// recorder is a backend writing down each operation it runs and counting
// what crosses between the host and the backend's memory: floats uploaded
// and read back, and the integers (ids, positions, slots, block tables,
// rows) the operations take from the host.
type recorder struct {
	kernels.Backend
	ops                 []string
	floatsIn, floatsOut int
	ints                int
}

func (r *recorder) reset() { r.ops, r.floatsIn, r.floatsOut, r.ints = nil, 0, 0, 0 }

func (r *recorder) Upload(dst kernels.Buffer, src []float32) {
	r.ops = append(r.ops, "upload")
	r.floatsIn += len(src)
	r.Backend.Upload(dst, src)
}

func (r *recorder) Read(dst []float32, src kernels.Buffer) {
	r.ops = append(r.ops, "read")
	r.floatsOut += len(dst)
	r.Backend.Read(dst, src)
}

func (r *recorder) Embed(out kernels.Buffer, table *kernels.Matrix, ids []int) {
	r.ops = append(r.ops, fmt.Sprintf("embed %d", len(ids)))
	r.ints += len(ids)
	r.Backend.Embed(out, table, ids)
}

func (r *recorder) RMSNorm(out, x, weight kernels.Buffer, n int, eps float32) {
	r.ops = append(r.ops, "rmsnorm")
	r.Backend.RMSNorm(out, x, weight, n, eps)
}

func (r *recorder) AddBias(x, bias kernels.Buffer, rows int) {
	r.ops = append(r.ops, "bias")
	r.Backend.AddBias(x, bias, rows)
}

func (r *recorder) RoPE(x kernels.Buffer, pos []int, nHeads, headDim int, rope *kernels.Rope) {
	r.ops = append(r.ops, "rope")
	r.ints += len(pos)
	r.Backend.RoPE(x, pos, nHeads, headDim, rope)
}

func (r *recorder) MatMul(out kernels.Buffer, w *kernels.Matrix, x kernels.Buffer, n int) {
	r.ops = append(r.ops, "matmul")
	r.Backend.MatMul(out, w, x, n)
}

func (r *recorder) StoreKV(pool kernels.KVPool, layer int, k, v kernels.Buffer, slots []int) {
	r.ops = append(r.ops, "store")
	r.ints += len(slots)
	r.Backend.StoreKV(pool, layer, k, v, slots)
}

func (r *recorder) Attention(out, q kernels.Buffer, pool kernels.KVPool, layer int, seqs []kernels.SeqBlocks, pos []int, nHeads, nKVHeads, headDim int) {
	r.ops = append(r.ops, "attention")
	r.ints += len(pos)
	for _, s := range seqs {
		r.ints += len(s.Blocks)
	}
	r.Backend.Attention(out, q, pool, layer, seqs, pos, nHeads, nKVHeads, headDim)
}

func (r *recorder) CopyBlock(pool kernels.KVPool, dst, src, rows int) {
	r.ops = append(r.ops, "copy")
	r.Backend.CopyBlock(pool, dst, src, rows)
}

func (r *recorder) Gather(dst, src kernels.Buffer, rows []int, width int) {
	r.ops = append(r.ops, "gather")
	r.ints += len(rows)
	r.Backend.Gather(dst, src, rows, width)
}

func (r *recorder) SiLUMul(gate, up kernels.Buffer, n int) {
	r.ops = append(r.ops, "silu")
	r.Backend.SiLUMul(gate, up, n)
}

func (r *recorder) Add(x, y kernels.Buffer, n int) {
	r.ops = append(r.ops, "add")
	r.Backend.Add(x, y, n)
}

// TestForwardThroughBackend records the operations of a step of two
// sequences: every operation of the forward pass is the backend's, in the
// order of the math, with each family's extras (qwen2's q/k/v biases,
// qwen3's QK-norm).
func TestForwardThroughBackend(t *testing.T) {
	for _, tc := range []struct {
		path   string
		extras []string // between the q/k/v projections and RoPE
	}{
		{"llama3-tiny/llama3-tiny-f16.gguf", nil},
		{"qwen2-tiny/qwen2-tiny-f16.gguf", []string{"bias", "bias", "bias"}},
		{"qwen3-tiny/qwen3-tiny-bf16.gguf", []string{"rmsnorm", "rmsnorm"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			m, err := Load(shared.Path(t, "models/"+tc.path))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			rec := &recorder{Backend: kernels.Reference{}}
			m.SetBackend(rec)
			c, err := m.NewCache(64, 0, quant.F16)
			if err != nil {
				t.Fatal(err)
			}
			a, b := c.NewSeq(), c.NewSeq()
			rec.reset()
			if _, err := c.Forward([]Step{{a, []int{1, 2, 3}, 1}, {b, []int{4, 5}, 2}}); err != nil {
				t.Fatal(err)
			}
			layer := slices.Concat([]string{"rmsnorm", "matmul", "matmul", "matmul"}, tc.extras,
				[]string{"rope", "rope", "store", "attention", "matmul", "add", "rmsnorm", "matmul", "matmul", "silu", "matmul", "add"})
			want := []string{"embed 5"}
			for range m.Config.Layers {
				want = append(want, layer...)
			}
			want = append(want, "gather", "rmsnorm", "matmul", "read")
			if !slices.Equal(rec.ops, want) {
				t.Errorf("operations\n got %s\nwant %s", strings.Join(rec.ops, ", "), strings.Join(want, ", "))
			}
		})
	}
}

// TestSeamHostTraffic counts what crosses the seam on the CPU backend: the
// model's small vectors go up once, when the backend is set; after that a
// step sends only integers (token ids; positions, to each RoPE and to
// attention; KV slots; block tables; the rows that want logits) and reads
// back only the logit rows asked for. A fork copies nothing, and its first
// write copies the shared block inside the pool.
func TestSeamHostTraffic(t *testing.T) {
	m, err := Load(shared.Path(t, "models/qwen2-tiny/qwen2-tiny-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cpu := kernels.NewCPU(2)
	defer cpu.Close()
	rec := &recorder{Backend: cpu}
	m.SetBackend(rec)

	cfg := &m.Config
	vectors := len(m.OutNorm)
	for _, l := range m.Layers {
		vectors += len(l.AttnNorm) + len(l.FFNNorm) + len(l.QBias) + len(l.KBias) + len(l.VBias) + len(l.QNorm) + len(l.KNorm)
	}
	if rec.floatsIn != vectors || rec.floatsOut != 0 || rec.ints != 0 {
		t.Errorf("setting the backend moved %d floats in, %d out and %d ints; want the %d of the small vectors in", rec.floatsIn, rec.floatsOut, rec.ints, vectors)
	}

	const bs = 4
	c, err := m.NewCache(256, bs, quant.F16)
	if err != nil {
		t.Fatal(err)
	}
	seqs := []*Seq{c.NewSeq(), c.NewSeq(), c.NewSeq()}
	blocks := func(n int) int { return (n + bs - 1) / bs }
	// check runs one step and compares its traffic with what the seam
	// allows: tokens[i] tokens for seqs[i], of which logits[i] want logits.
	check := func(what string, tokens, logits []int) {
		t.Helper()
		steps := make([]Step, len(seqs))
		n, rows, tables := 0, 0, 0
		for i, s := range seqs {
			steps[i] = Step{Seq: s, Tokens: make([]int, tokens[i]), Logits: logits[i]}
			for j := range steps[i].Tokens {
				steps[i].Tokens[j] = 1 + j
			}
			n += tokens[i]
			rows += logits[i]
			tables += blocks(s.Len() + tokens[i])
		}
		rec.reset()
		if _, err := c.Forward(steps); err != nil {
			t.Fatal(err)
		}
		// ids; per layer: positions to two RoPEs and attention, slots,
		// block tables; the logit rows' indices.
		wantInts := n + cfg.Layers*(4*n+tables) + rows
		if rec.floatsIn != 0 || rec.floatsOut != rows*cfg.VocabSize || rec.ints != wantInts {
			t.Errorf("%s: %d floats in, %d out, %d ints in; want 0, %d (%d logit rows), %d",
				what, rec.floatsIn, rec.floatsOut, rec.ints, rows*cfg.VocabSize, rows, wantInts)
		}
	}
	check("prefill", []int{5, 3, 7}, []int{1, 3, 1})
	check("decode", []int{1, 1, 1}, []int{1, 1, 1})

	// seqs[0] holds 6 positions: its second block is shared and half full
	// after a fork, so the fork's first token copies it.
	rec.reset()
	fork := seqs[0].Fork()
	if len(rec.ops) != 0 {
		t.Errorf("fork ran %v on the backend", rec.ops)
	}
	rec.reset()
	if _, err := c.Forward([]Step{{fork, []int{9}, 1}}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(strings.Join(rec.ops, " "), "copy"); got != 1 || rec.ops[0] != "copy" {
		t.Errorf("the fork's first step ran %v; want one block copy first", rec.ops)
	}
	if rec.floatsIn != 0 || rec.floatsOut != cfg.VocabSize {
		t.Errorf("the fork's first step moved %d floats in and %d out; want 0 and %d", rec.floatsIn, rec.floatsOut, cfg.VocabSize)
	}
}

// TestNoBackend: a model runs only once it is given a backend.
func TestNoBackend(t *testing.T) {
	m, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.NewState(0, quant.F32); !errors.Is(err, ErrNoBackend) {
		t.Errorf("NewState without a backend: %v, want ErrNoBackend", err)
	}
	if err := m.Ready(nil); !errors.Is(err, ErrNoBackend) {
		t.Errorf("Ready without a backend: %v, want ErrNoBackend", err)
	}
}

// preparer is the reference backend pretending to keep a copy of each
// matrix it prepares, by its stored bytes.
type preparer struct {
	kernels.Reference
	copies map[*byte]bool
}

func (p *preparer) Prepare(w *kernels.Matrix) (bool, error) {
	p.copies[unsafe.SliceData(w.Data)] = true
	return true, nil
}

func (p *preparer) Release(w *kernels.Matrix) { delete(p.copies, unsafe.SliceData(w.Data)) }

// TestCloseReleasesCopies: Ready has the backend copy every matrix it
// multiplies by; a model made by With adds a copy of only the matrix it
// changed, and closing it releases only that one; closing the base
// releases the rest.
func TestCloseReleasesCopies(t *testing.T) {
	m, err := Load(shared.Path(t, "models/qwen2-tiny/qwen2-tiny-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	p := &preparer{copies: map[*byte]bool{}}
	m.SetBackend(p)
	if err := m.Ready(nil); err != nil {
		t.Fatal(err)
	}
	base := len(p.copies)
	if want := len(m.MatMulWeights()); base != want {
		t.Fatalf("Ready made %d copies, want %d", base, want)
	}
	const name = "model.layers.0.self_attn.q_proj.weight"
	q := *m.Matrices()[name]
	q.Data = slices.Clone(q.Data)
	w, err := m.With(map[string]kernels.Matrix{name: q})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Ready(nil); err != nil {
		t.Fatal(err)
	}
	if len(p.copies) != base+1 {
		t.Errorf("after Ready on a model with one matrix changed: %d copies, want %d", len(p.copies), base+1)
	}
	w.Close()
	if len(p.copies) != base || p.copies[unsafe.SliceData(q.Data)] {
		t.Errorf("after closing it: %d copies, want the base's %d", len(p.copies), base)
	}
	m.Close()
	if len(p.copies) != 0 {
		t.Errorf("after closing the base: %d copies, want 0", len(p.copies))
	}
}
