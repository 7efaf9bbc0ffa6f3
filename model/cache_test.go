package model

import (
	"errors"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/quant"
)

func loadBuiltin(t *testing.T, b kernels.Backend) *Model {
	t.Helper()
	m, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	m.SetBackend(b)
	return m
}

// alone runs prompt then the given continuation one token at a time on a
// State of its own, returning the logits after each step.
func alone(t *testing.T, m *Model, kvType quant.Type, prompt, cont []int) [][]float32 {
	t.Helper()
	s, err := m.NewState(0, kvType)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]float32
	logits, err := m.Forward(s, prompt, false)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, append([]float32(nil), logits...))
	for _, id := range cont {
		if logits, err = m.Forward(s, []int{id}, false); err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]float32(nil), logits...))
	}
	return out
}

func newCache(t *testing.T, m *Model, tokens, blockSize int, kvType quant.Type) *Cache {
	t.Helper()
	c, err := m.NewCache(tokens, blockSize, kvType)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sameFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBatchMatchesAlone runs three sequences through one paged cache —
// prompts split into chunks, decode steps mixed with other sequences'
// prompt chunks, small blocks — and checks every logit is bit-identical to
// the sequence run alone: batching must never change a sequence's numbers,
// whatever the KV type. The embedded model's heads of 8 take the CPU
// backend's plain attention loops, qwen3-tiny's of 128 its vector kernels.
func TestBatchMatchesAlone(t *testing.T) {
	for _, path := range []string{"", "qwen3-tiny/qwen3-tiny-bf16.gguf"} {
		for _, kvType := range kernels.KVTypes {
			t.Run(path+"/"+kvType.String(), func(t *testing.T) { checkBatchMatchesAlone(t, path, kvType) })
		}
	}
}

func checkBatchMatchesAlone(t *testing.T, path string, kvType quant.Type) {
	if path != "" {
		path = shared.Path(t, "models/"+path)
	}
	for _, threads := range []int{1, 2} {
		cpu := kernels.NewCPU(threads)
		defer cpu.Close()
		m, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		m.SetBackend(cpu)
		prompts := [][]int{{1, 403, 407, 261, 378}, {1, 67, 89, 300, 301, 302, 303, 304, 305, 12, 13}, {1, 9}}
		conts := [][]int{{30, 40, 50, 60}, {70, 80, 90, 100}, {5, 6, 7, 8}}
		var want [][][]float32
		for i := range prompts {
			want = append(want, alone(t, m, kvType, prompts[i], conts[i]))
		}

		c := newCache(t, m, 64, 4, kvType)
		seqs := []*Seq{c.NewSeq(), c.NewSeq(), c.NewSeq()}
		got := make([][][]float32, 3)
		keep := func(i int, l []float32) { got[i] = append(got[i], append([]float32(nil), l...)) }
		// Step 1: sequence 0's whole prompt, sequence 1's first chunk.
		out, err := c.Forward([]Step{{seqs[0], prompts[0], 1}, {seqs[1], prompts[1][:6], 0}})
		if err != nil {
			t.Fatal(err)
		}
		if out[1] != nil {
			t.Fatal("a 0 step got logits")
		}
		keep(0, out[0])
		// Then each step: sequence 0 decodes, sequence 1 finishes its prompt
		// or decodes, sequence 2 joins late.
		steps := []Step{{seqs[0], conts[0][:1], 1}, {seqs[1], prompts[1][6:], 1}, {seqs[2], prompts[2], 1}}
		for k := 0; k < 4; k++ {
			if out, err = c.Forward(steps); err != nil {
				t.Fatal(err)
			}
			for i := range steps {
				keep(i, out[i])
			}
			steps = steps[:0]
			if k+1 < 4 {
				steps = append(steps, Step{seqs[0], conts[0][k+1 : k+2], 1})
			}
			steps = append(steps, Step{seqs[1], conts[1][k : k+1], 1}, Step{seqs[2], conts[2][k : k+1], 1})
		}
		if out, err = c.Forward(steps); err != nil {
			t.Fatal(err)
		}
		keep(1, out[0])
		keep(2, out[1])
		for i := range want {
			if len(got[i]) != len(want[i]) {
				t.Fatalf("threads=%d seq %d: %d steps, want %d", threads, i, len(got[i]), len(want[i]))
			}
			for k := range want[i] {
				if !sameFloats(got[i][k], want[i][k]) {
					t.Errorf("threads=%d seq %d step %d: batched logits differ from the sequence run alone", threads, i, k)
				}
			}
		}
		for _, s := range seqs {
			s.Free()
		}
		if c.FreeBlocks() != c.Blocks() {
			t.Errorf("%d of %d blocks free after every sequence ended", c.FreeBlocks(), c.Blocks())
		}
	}
}

// TestForkCopyOnWrite forks a prompt whose last block is partly filled and
// sends the forks different ways: each must match its own run alone, so a
// write to the shared block must have been copied first, in each KV type.
func TestForkCopyOnWrite(t *testing.T) {
	for _, kvType := range kernels.KVTypes {
		t.Run(kvType.String(), func(t *testing.T) { checkForkCopyOnWrite(t, kvType) })
	}
}

func checkForkCopyOnWrite(t *testing.T, kvType quant.Type) {
	m := loadBuiltin(t, kernels.Reference{})
	prompt := []int{1, 403, 407, 261, 378, 300} // 1½ blocks of 4
	c := newCache(t, m, 32, 4, kvType)
	root := c.NewSeq()
	if _, err := c.Forward([]Step{{root, prompt, 1}}); err != nil {
		t.Fatal(err)
	}
	forks := []*Seq{root, root.Fork(), root.Fork()}
	if c.Holders(root.Blocks()[1]) != 3 {
		t.Fatalf("shared block has %d holders, want 3", c.Holders(root.Blocks()[1]))
	}
	conts := [][]int{{10, 11, 12}, {20, 21, 22}, {30, 31, 32}}
	for k := 0; k < 3; k++ {
		var steps []Step
		for i, s := range forks {
			steps = append(steps, Step{s, conts[i][k : k+1], 1})
		}
		out, err := c.Forward(steps)
		if err != nil {
			t.Fatal(err)
		}
		for i := range forks {
			want := alone(t, m, kvType, append(append([]int(nil), prompt...), conts[i][:k]...), conts[i][k:k+1])
			if !sameFloats(out[i], want[1]) {
				t.Fatalf("fork %d step %d differs from its run alone", i, k)
			}
		}
	}
	if c.Holders(forks[1].Blocks()[0]) != 3 {
		t.Errorf("the full first block should still be shared by all three forks")
	}
	for _, s := range forks {
		s.Free()
	}
	if c.FreeBlocks() != c.Blocks() {
		t.Errorf("%d of %d blocks free after every fork ended", c.FreeBlocks(), c.Blocks())
	}
}

// TestCacheFull checks that a step that does not fit fails whole, naming
// the problem, and changes no sequence.
func TestCacheFull(t *testing.T) {
	m := loadBuiltin(t, kernels.Reference{})
	c := newCache(t, m, 8, 4, quant.F32) // two blocks
	a, b := c.NewSeq(), c.NewSeq()
	if _, err := c.Forward([]Step{{a, []int{1, 2, 3, 4, 5}, 1}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Forward([]Step{{a, []int{6}, 1}, {b, []int{1}, 1}})
	if !errors.Is(err, ErrCacheFull) {
		t.Fatalf("error %v, want ErrCacheFull", err)
	}
	if a.Len() != 5 || b.Len() != 0 || c.FreeBlocks() != 0 {
		t.Errorf("a failed step changed state: lens %d %d, %d free", a.Len(), b.Len(), c.FreeBlocks())
	}
	if _, err := c.Forward([]Step{{a, []int{6, 7, 8}, 1}}); err != nil {
		t.Errorf("a step that fits the remaining room failed: %v", err)
	}
	a.Truncate(2)
	if a.Len() != 2 || c.FreeBlocks() != 1 {
		t.Errorf("truncate to 2: len %d, %d free blocks, want 2 and 1", a.Len(), c.FreeBlocks())
	}
	_, err = c.Forward([]Step{{a, []int{600}, 1}})
	if err == nil || !strings.Contains(err.Error(), "600") {
		t.Errorf("token outside the vocabulary: error %v should name it", err)
	}
}
