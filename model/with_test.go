package model

import (
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/quant"
)

// TestWith: a model made by With takes the new matrices, shares the rest
// with its base, and refuses a name or shape the model does not have.
func TestWith(t *testing.T) {
	m, err := LoadHF(shared.Path(t, "models/qwen2-tiny/hf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	q := "model.layers.1.self_attn.q_proj.weight"
	w := m.Matrices()[q]
	nw, err := kernels.NewMatrix(quant.F32, w.Rows, w.Cols, make([]byte, 4*w.Rows*w.Cols))
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.With(map[string]kernels.Matrix{q: nw})
	if err != nil {
		t.Fatal(err)
	}
	if c.Layers[1].Q.Type != quant.F32 || m.Layers[1].Q.Type == quant.F32 || &c.Layers[1].K.Data[0] != &m.Layers[1].K.Data[0] {
		t.Error("With did not replace only q_proj of layer 1")
	}
	if c.Base() != m || m.Base() != m {
		t.Error("Base is not the model With was called on")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if k := m.Layers[1].K.Data; k[len(k)-1] != c.Layers[1].K.Data[len(k)-1] { // faults if c.Close unmapped m
		t.Error("the shared matrix changed")
	}
	for name, want := range map[string]string{
		"model.layers.7.self_attn.q_proj.weight": "the model has no matrix",
		"model.layers.1.self_attn.k_proj.weight": "is 64×64, want 32×64",
	} {
		if _, err := m.With(map[string]kernels.Matrix{name: nw}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", name, err, want)
		}
	}
}
