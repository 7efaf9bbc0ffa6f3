package model

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model/builtin"
	"github.com/aha-inference/aha/quant"
	"github.com/aha-inference/aha/safetensors"
)

// Model is a loaded checkpoint.
type Model struct {
	Config Config
	Path   string // the file or folder it came from; builtin.Name for the embedded model
	Format string // "gguf" or "safetensors"
	// Adapter is the folder of the LoRA adapter folded into the weights
	// of Path at load, if any.
	Adapter string

	Embed   kernels.Matrix
	Layers  []Layer
	OutNorm []float32
	Output  kernels.Matrix // the embedding itself when embeddings are tied

	// RopeFreqs is the rotation speed of each pair of a head's elements.
	RopeFreqs []float64
	rope      *kernels.Rope // RopeFreqs and the family's layout, for the backend

	// GGUF is the open file for GGUF models (its metadata also holds the
	// tokenizer); nil for HF folders.
	GGUF *gguf.File

	backend kernels.Backend
	vecs    *vectors // the small vectors in backend's memory
	closer  io.Closer
	ckpt    *safetensors.Checkpoint  // the open files of an HF folder
	base    *Model                   // the model whose files this one shares (With); nil if its own
	own     map[*kernels.Matrix]bool // With's matrices: those not shared with base
}

// Load opens a model: a GGUF file, a Hugging Face folder (config.json and
// safetensors), or, when path is "" or builtin.Name, the embedded default.
func Load(path string) (*Model, error) {
	f, dir, err := Open(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	if dir != "" {
		return LoadHF(dir)
	}
	m, err := FromGGUF(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	m.closer = f
	return m, nil
}

// Open resolves a model path without loading anything: for "" or
// builtin.Name the embedded GGUF, for a folder its path (dir), else the
// GGUF file, mapped. The caller closes f.
func Open(path string) (f *gguf.File, dir string, err error) {
	if path == "" || path == builtin.Name {
		f, err := gguf.Parse(builtin.Stories260K)
		if err != nil {
			return nil, "", fmt.Errorf("embedded model: %w", err)
		}
		f.Path = builtin.Name
		return f, "", nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", err
	}
	if st.IsDir() {
		return nil, path, nil
	}
	f, err = gguf.Open(path)
	return f, "", err
}

// FromGGUF builds a model from an open GGUF file. The file must stay open
// while the model is used.
func FromGGUF(f *gguf.File) (*Model, error) {
	c, err := ConfigFromGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	m := &Model{Config: *c, Path: f.Path, Format: "gguf", GGUF: f}
	err = m.fill(c.Architecture+".block_count", ggufTensor(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	var factors []float32
	if t := f.Tensor("rope_freqs.weight"); t != nil {
		if len(t.Shape) != 1 || int(t.Shape[0]) != c.HeadDim/2 {
			return nil, fmt.Errorf("%s: rope_freqs.weight has shape %v, want [%d]", f.Path, t.Shape, c.HeadDim/2)
		}
		factors = make([]float32, c.HeadDim/2)
		if err := quant.Dequantize(t.Type, t.Data, factors); err != nil {
			return nil, fmt.Errorf("%s: rope_freqs.weight: %w", f.Path, err)
		}
	}
	m.init(factors)
	return m, nil
}

// LoadHF loads a Hugging Face model folder.
func LoadHF(dir string) (*Model, error) {
	c, err := ConfigFromHF(dir)
	if err != nil {
		return nil, err
	}
	ckpt, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: *c, Path: dir, Format: "safetensors", closer: ckpt, ckpt: ckpt}
	err = m.fill("config.json num_hidden_layers", hfTensor(ckpt))
	if err != nil {
		ckpt.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	m.init(c.RopeScaling.FreqFactors(c.HeadDim, c.RopeTheta))
	return m, nil
}

// ggufTensor and hfTensor look weights up in each format's file.
func ggufTensor(f *gguf.File) func(weight) (*stored, error) {
	return func(w weight) (*stored, error) {
		t := f.Tensor(w.gguf)
		if t == nil {
			return nil, fmt.Errorf("tensor %s is missing", w.gguf)
		}
		return fromGGUF(t), nil
	}
}

func hfTensor(ckpt *safetensors.Checkpoint) func(weight) (*stored, error) {
	return func(w weight) (*stored, error) {
		t := ckpt.Tensor(w.hf)
		if t == nil {
			return nil, fmt.Errorf("tensor %s is missing", w.hf)
		}
		return fromSafetensors(t), nil
	}
}

func (m *Model) init(ropeFactors []float32) {
	m.RopeFreqs = kernels.RopeFrequencies(m.Config.HeadDim, m.Config.RopeTheta, ropeFactors)
	m.rope = &kernels.Rope{Freqs: m.RopeFreqs, Layout: m.Config.RopeLayout}
}

// ErrNoBackend is returned when a model without a backend is asked to run.
var ErrNoBackend = errors.New("the model has no backend (Model.SetBackend)")

// SetBackend chooses where the forward pass runs, and puts the model's
// small vectors (norm weights, biases) in the backend's memory; a failure
// there is returned by the next NewCache or Ready. Caches made before keep
// running on the backend they were made on.
func (m *Model) SetBackend(b kernels.Backend) {
	m.backend = b
	m.vecs = m.upload(b)
}

// Backend is where the forward pass runs.
func (m *Model) Backend() kernels.Backend { return m.backend }

// Close releases the backend's copies of the model's matrices (not those
// it shares with the model it was made from, see With) and the mapped
// files. The model must not be used afterwards.
func (m *Model) Close() error {
	if prep, ok := m.backend.(kernels.Preparer); ok {
		for _, w := range m.matrices() {
			if m.base == nil || m.own[w] {
				prep.Release(w)
			}
		}
	}
	if m.closer == nil {
		return nil
	}
	err := m.closer.Close()
	m.closer = nil
	return err
}

// matrices lists every weight matrix once (tied embeddings count once).
func (m *Model) matrices() []*kernels.Matrix {
	ms := []*kernels.Matrix{&m.Embed}
	if !m.Config.TiedEmbeddings {
		ms = append(ms, &m.Output)
	}
	for i := range m.Layers {
		l := &m.Layers[i]
		ms = append(ms, &l.Q, &l.K, &l.V, &l.O, &l.Gate, &l.Up, &l.Down)
	}
	return ms
}

// MatMulWeights lists the matrices the backend multiplies by: the output
// projection (the embedding itself when tied) and every layer's. A GPU
// backend uploads these once; the embedding table is only looked up.
func (m *Model) MatMulWeights() []*kernels.Matrix {
	ms := []*kernels.Matrix{&m.Output}
	for i := range m.Layers {
		l := &m.Layers[i]
		ms = append(ms, &l.Q, &l.K, &l.V, &l.O, &l.Gate, &l.Up, &l.Down)
	}
	return ms
}

// Progress opens a progress report of total bytes under label and returns
// the functions that add to it and close it.
type Progress func(label string, total int64) (add func(bytes int64), finish func())

// Ready makes the model ready to run on its backend. A backend that keeps
// its own copy of the weights (kernels.Preparer) takes it now, a matrix at
// a time, and the file pages of each matrix it copied leave the process at
// once, so the weights are never resident twice; whatever the backend
// still reads from the mapped file (every matrix, for a backend that keeps
// no copy) is then faulted in, so that the first token does not pay for
// it. progress may be nil.
func (m *Model) Ready(progress Progress) error {
	if progress == nil {
		progress = func(string, int64) (func(int64), func()) { return func(int64) {}, func() {} }
	}
	b := m.Backend()
	if b == nil {
		return ErrNoBackend
	}
	if m.vecs.err != nil {
		return fmt.Errorf("prepare weights on %s: %w", b.Name(), m.vecs.err)
	}
	prep, ok := b.(kernels.Preparer)
	mapped := !ok // whether the backend reads matrices from the files
	if ok {
		ws := m.MatMulWeights()
		var total int64
		for _, w := range ws {
			total += int64(len(w.Data))
		}
		add, finish := progress("preparing weights", total)
		var shared []*kernels.Matrix // base's matrix for each of ws that m shares
		if m.base != nil {
			shared = m.base.MatMulWeights()
		}
		for i, w := range ws {
			// A matrix shared with the base is prepared in the base, once
			// for every model With makes from it.
			from := w
			if shared != nil && !m.own[w] {
				from = shared[i]
			}
			copied, err := prep.Prepare(from)
			if err != nil {
				finish()
				return fmt.Errorf("prepare weights on %s: %w", b.Name(), err)
			}
			add(int64(len(from.Data)))
			*w = *from
			if copied {
				m.release(w)
			} else {
				mapped = true
			}
		}
		finish()
	}
	if mapped {
		add, finish := progress("loading weights", m.fileBytes())
		m.prefault(add)
		finish()
	}
	return nil
}

// prefault reads the model's files into memory, so weights are there
// before the first token instead of being faulted in during it; done is
// called with the bytes read as it goes (fileBytes in all). Load itself
// touches nothing but the headers.
func (m *Model) prefault(done func(bytes int64)) {
	switch {
	case m.GGUF != nil:
		m.GGUF.Prefault(done)
	case m.ckpt != nil:
		m.ckpt.Prefault(done)
	}
}

// release drops w's mapped bytes from resident memory: for a matrix the
// backend keeps its own copy of (kernels.Preparer), read from the file
// afterwards only for embedding rows.
func (m *Model) release(w *kernels.Matrix) {
	switch {
	case m.GGUF != nil:
		m.GGUF.Release(w.Data)
	case m.ckpt != nil:
		m.ckpt.Release(w.Data)
	}
}

// fileBytes is the size of the files prefault reads (0 for the embedded
// model, which is part of the binary).
func (m *Model) fileBytes() int64 {
	switch {
	case m.GGUF != nil:
		return m.GGUF.Size()
	case m.ckpt != nil:
		return m.ckpt.Size()
	}
	return 0
}
