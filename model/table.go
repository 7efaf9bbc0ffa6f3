package model

import (
	"strings"

	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/safetensors"
)

// Tensor is one entry of the weight table, for tools that read or write
// model files (conversion, inspection): its names in both conventions, its
// shape (Rows = 1 for a vector) and, for a loaded model, its data.
type Tensor struct {
	GGUF, HF   string
	Rows, Cols int
	IsVector   bool
	Matrix     *kernels.Matrix // a loaded model's matrix
	Vector     []float32       // a loaded model's vector
}

// Tensors lists the model's tensors in the table's order, with their data.
func (m *Model) Tensors() []Tensor { return exported(m.tensors()) }

// Tensors lists the tensors a model of config c has, in the table's order,
// without data.
func (c *Config) Tensors() []Tensor {
	m := &Model{Config: *c, Layers: make([]Layer, c.Layers)}
	return exported(m.tensors())
}

// GlobalTensors lists the tensors of config c outside the layers, without
// data.
func (c *Config) GlobalTensors() []Tensor { return exported((&Model{Config: *c}).globalTensors()) }

// LayerTensors lists the tensors of layer i of config c, without data.
func (c *Config) LayerTensors(i int) []Tensor {
	return exported((&Model{Config: *c}).layerTensors(i, new(Layer)))
}

func exported(ws []weight) []Tensor {
	ts := make([]Tensor, len(ws))
	for i, w := range ws {
		ts[i] = Tensor{GGUF: w.gguf, HF: w.hf, Rows: w.rows, Cols: w.cols, IsVector: w.vec != nil, Matrix: w.mat}
		if w.vec != nil {
			ts[i].Vector = *w.vec
		}
	}
	return ts
}

// CheckGGUF checks config c's counts against the tensors of f, and
// CheckHF against those of a safetensors checkpoint, as loading does
// before anything is sized by them (see Model.checkCounts).
func (c *Config) CheckGGUF(f *gguf.File) error {
	return (&Model{Config: *c}).checkCounts(c.Architecture+".block_count", ggufTensor(f))
}

// CheckHF checks config c's counts against the tensors of ckpt.
func (c *Config) CheckHF(ckpt *safetensors.Checkpoint) error {
	return (&Model{Config: *c}).checkCounts("config.json num_hidden_layers", hfTensor(ckpt))
}

// ApplyArchitecture sets what c's architecture fixes for every model of
// it (q/k/v biases, QK-norm), for a config written by hand.
func (c *Config) ApplyArchitecture() error {
	arch, err := archByName(c.Architecture)
	if err != nil {
		return err
	}
	c.AttentionBias, c.QKNorm = arch.attentionBias, arch.qkNorm
	return nil
}

// GGUFRopeLayout is how the GGUF files of architecture arch pair Q/K
// elements for RoPE.
func GGUFRopeLayout(arch string) (kernels.RopeLayout, error) {
	a, err := archByName(arch)
	if err != nil {
		return 0, err
	}
	return a.ggufRope, nil
}

// QKHeads is the number of heads of a Q or K projection (whose rows RoPE
// rotates), or 0 for any other tensor.
func (c *Config) QKHeads(ggufName string) int {
	switch {
	case strings.HasSuffix(ggufName, ".attn_q.weight"):
		return c.Heads
	case strings.HasSuffix(ggufName, ".attn_k.weight"):
		return c.KVHeads
	}
	return 0
}
