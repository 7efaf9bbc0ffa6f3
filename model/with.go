package model

import (
	"fmt"
	"slices"

	"github.com/aha-inference/aha/kernels"
)

// Matrices returns the model's weight matrices by their Hugging Face names
// (such as model.layers.0.self_attn.q_proj.weight), whichever format the
// model was loaded from.
func (m *Model) Matrices() map[string]*kernels.Matrix {
	ms := map[string]*kernels.Matrix{}
	for _, w := range m.tensors() {
		if w.mat != nil {
			ms[w.hf] = w.mat
		}
	}
	return ms
}

// With returns a model that runs m with the matrices in changed (by
// Hugging Face name, each of the shape of the one it replaces) in place of
// m's. Every other matrix is m's own, still mapped, and prepared for the
// backend once for both: Ready prepares them in m (see Base). The new
// model shares m's files: m must stay open while it is used, and closing
// the new model leaves them open.
func (m *Model) With(changed map[string]kernels.Matrix) (*Model, error) {
	c := *m
	c.Layers = slices.Clone(m.Layers)
	c.closer = nil
	c.base = m.Base()
	c.own = map[*kernels.Matrix]bool{}
	ms := c.Matrices()
	for name, nw := range changed {
		w := ms[name]
		if w == nil {
			return nil, fmt.Errorf("the model has no matrix %s", name)
		}
		if nw.Rows != w.Rows || nw.Cols != w.Cols {
			return nil, fmt.Errorf("%s is %d×%d, want %d×%d", name, nw.Rows, nw.Cols, w.Rows, w.Cols)
		}
		*w = nw
		c.own[w] = true
	}
	if c.Config.TiedEmbeddings {
		c.Output = c.Embed
		c.own[&c.Output] = c.own[&c.Embed]
	}
	return &c, nil
}

// Base is the model whose mapped files m uses: m itself, or the model that
// With made m from. Closing m closes them only when it is its own base.
func (m *Model) Base() *Model {
	if m.base != nil {
		return m.base
	}
	return m
}
