package model

import (
	"fmt"

	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/quant"
	"github.com/aha-inference/aha/safetensors"
)

// Layer holds one decoder block's weights. Matrices stay in the mapped file
// in their stored type; the small vectors (norms, biases) are converted to
// float32 at load.
type Layer struct {
	AttnNorm            []float32
	Q, K, V, O          kernels.Matrix
	QBias, KBias, VBias []float32 // qwen2 only
	QNorm, KNorm        []float32 // qwen3 only
	FFNNorm             []float32
	Gate, Up, Down      kernels.Matrix
}

// weight is one tensor the model needs: its names in both conventions, the
// shape it must have (rows × cols; rows = 1 for a vector), and where it goes.
type weight struct {
	gguf, hf   string
	rows, cols int
	mat        *kernels.Matrix // one of mat and vec is set
	vec        *[]float32
}

// tensors lists every tensor the model needs, declared once for both file
// conventions: GGUF's blk.N.attn_q.weight and HF's
// model.layers.N.self_attn.q_proj.weight.
func (m *Model) tensors() []weight {
	ws := m.globalTensors()
	for i := range m.Layers {
		ws = append(ws, m.layerTensors(i, &m.Layers[i])...)
	}
	return ws
}

// globalTensors lists the tensors outside the layers.
func (m *Model) globalTensors() []weight {
	c := &m.Config
	ws := []weight{
		mat(&m.Embed, "token_embd.weight", "model.embed_tokens.weight", c.VocabSize, c.Hidden),
		vec(&m.OutNorm, "output_norm.weight", "model.norm.weight", c.Hidden),
	}
	if !c.TiedEmbeddings {
		ws = append(ws, mat(&m.Output, "output.weight", "lm_head.weight", c.VocabSize, c.Hidden))
	}
	return ws
}

// layerTensors lists the tensors of layer i, to be stored in l.
func (m *Model) layerTensors(i int, l *Layer) []weight {
	c := &m.Config
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	g := func(s string) string { return fmt.Sprintf("blk.%d.%s", i, s) }
	h := func(s string) string { return fmt.Sprintf("model.layers.%d.%s", i, s) }
	ws := []weight{
		vec(&l.AttnNorm, g("attn_norm.weight"), h("input_layernorm.weight"), c.Hidden),
		mat(&l.Q, g("attn_q.weight"), h("self_attn.q_proj.weight"), q, c.Hidden),
		mat(&l.K, g("attn_k.weight"), h("self_attn.k_proj.weight"), kv, c.Hidden),
		mat(&l.V, g("attn_v.weight"), h("self_attn.v_proj.weight"), kv, c.Hidden),
		mat(&l.O, g("attn_output.weight"), h("self_attn.o_proj.weight"), c.Hidden, q),
		vec(&l.FFNNorm, g("ffn_norm.weight"), h("post_attention_layernorm.weight"), c.Hidden),
		mat(&l.Gate, g("ffn_gate.weight"), h("mlp.gate_proj.weight"), c.Intermediate, c.Hidden),
		mat(&l.Up, g("ffn_up.weight"), h("mlp.up_proj.weight"), c.Intermediate, c.Hidden),
		mat(&l.Down, g("ffn_down.weight"), h("mlp.down_proj.weight"), c.Hidden, c.Intermediate),
	}
	if c.AttentionBias {
		ws = append(ws,
			vec(&l.QBias, g("attn_q.bias"), h("self_attn.q_proj.bias"), q),
			vec(&l.KBias, g("attn_k.bias"), h("self_attn.k_proj.bias"), kv),
			vec(&l.VBias, g("attn_v.bias"), h("self_attn.v_proj.bias"), kv),
		)
	}
	if c.QKNorm {
		ws = append(ws,
			vec(&l.QNorm, g("attn_q_norm.weight"), h("self_attn.q_norm.weight"), c.HeadDim),
			vec(&l.KNorm, g("attn_k_norm.weight"), h("self_attn.k_norm.weight"), c.HeadDim),
		)
	}
	return ws
}

func mat(dst *kernels.Matrix, gguf, hf string, rows, cols int) weight {
	return weight{gguf: gguf, hf: hf, rows: rows, cols: cols, mat: dst}
}

func vec(dst *[]float32, gguf, hf string, n int) weight {
	return weight{gguf: gguf, hf: hf, rows: 1, cols: n, vec: dst}
}

// checkCounts checks the config's counts against the file's tensors
// before anything is sized by them: the shapes of the tensors outside the
// layers and of the last layer's pin the vocabulary, hidden, head, KV head
// and intermediate sizes, and a config claiming L layers must have the
// tensors of layer L-1. layersField names the layer count as the file
// spells it.
func (m *Model) checkCounts(layersField string, find func(w weight) (*stored, error)) error {
	c := &m.Config
	for _, w := range m.globalTensors() {
		t, err := find(w)
		if err != nil {
			return err
		}
		if err := checkShape(w, t); err != nil {
			return err
		}
	}
	for _, w := range m.layerTensors(c.Layers-1, new(Layer)) {
		t, err := find(w)
		if err != nil {
			return fmt.Errorf("%s is %d, but %w", layersField, c.Layers, err)
		}
		if err := checkShape(w, t); err != nil {
			return err
		}
	}
	return nil
}

// checkShape checks that t has w's shape.
func checkShape(w weight, t *stored) error {
	if w.vec != nil {
		if t.dims != 1 || t.cols != w.cols {
			return fmt.Errorf("tensor %s has shape %d×%d, want a vector of %d", t.name, t.rows, t.cols, w.cols)
		}
		return nil
	}
	if t.dims != 2 || t.rows != w.rows || t.cols != w.cols {
		return fmt.Errorf("tensor %s has shape %d×%d (%d dims), want %d×%d", t.name, t.rows, t.cols, t.dims, w.rows, w.cols)
	}
	return nil
}

// stored is a tensor as a file holds it, its shape normalized to
// rows × cols (row-major, cols contiguous).
type stored struct {
	name       string
	typ        quant.Type
	rows, cols int
	dims       int
	data       []byte
}

// fill checks the config's counts against the file (see checkCounts),
// then looks up every weight with find and checks its shape and type.
// Layers are added as their tensors are found, so that what is allocated
// grows with the tensors the file holds, not with the count it claims.
func (m *Model) fill(layersField string, find func(w weight) (*stored, error)) error {
	if err := m.checkCounts(layersField, find); err != nil {
		return err
	}
	for _, w := range m.globalTensors() {
		if err := bind(w, find); err != nil {
			return err
		}
	}
	m.Layers = nil
	for i := range m.Config.Layers {
		var l Layer
		for _, w := range m.layerTensors(i, &l) {
			if err := bind(w, find); err != nil {
				return err
			}
		}
		m.Layers = append(m.Layers, l)
	}
	if m.Config.TiedEmbeddings {
		m.Output = m.Embed
	}
	return nil
}

// bind looks w up with find, checks its shape and type, and stores it:
// a vector converted to float32, a matrix in place.
func bind(w weight, find func(w weight) (*stored, error)) error {
	t, err := find(w)
	if err != nil {
		return err
	}
	if err := checkShape(w, t); err != nil {
		return err
	}
	if w.vec != nil {
		v := make([]float32, w.cols)
		if err := quant.Dequantize(t.typ, t.data, v); err != nil {
			return fmt.Errorf("tensor %s: %w", t.name, err)
		}
		*w.vec = v
		return nil
	}
	matrix, err := kernels.NewMatrix(t.typ, t.rows, t.cols, t.data)
	if err != nil {
		return fmt.Errorf("tensor %s: %w", t.name, err)
	}
	// Dequantizing one row proves the type is supported, touching a
	// single page of the mapping.
	if err := quant.Dequantize(t.typ, matrix.Row(0), make([]float32, t.cols)); err != nil {
		return fmt.Errorf("tensor %s: type %v is not supported: %w", t.name, t.typ, err)
	}
	*w.mat = matrix
	return nil
}

func fromGGUF(t *gguf.Tensor) *stored {
	s := &stored{name: t.Name, typ: t.Type, dims: len(t.Shape), data: t.Data, rows: 1}
	if len(t.Shape) > 0 {
		s.cols = int(t.Shape[0])
	}
	if len(t.Shape) > 1 {
		s.rows = int(t.Rows())
	}
	return s
}

func fromSafetensors(t *safetensors.Tensor) *stored {
	s := &stored{name: t.Name, typ: t.Type, dims: len(t.Shape), data: t.Data, rows: 1}
	if n := len(t.Shape); n > 0 {
		s.cols = int(t.Shape[n-1])
		for _, d := range t.Shape[:n-1] {
			s.rows *= int(d)
		}
	}
	return s
}
