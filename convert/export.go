package convert

import (
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
)

// Exporting writes a model as a GGUF file with the metadata, tensor names
// and shapes llama.cpp's converter produces, its matrices in a chosen
// weight type. Tensors are produced one at a time while the file is
// written, so exporting a model takes memory for one tensor, not the model.

// Options says how to write a GGUF file.
type Options struct {
	// Type is the weight type of the matrices. Vectors (norms, biases, rope
	// factors) are always written as F32, as llama.cpp does.
	Type quant.Type
	// Name is general.name; empty means the source's own name.
	Name string
	// Log, if set, receives a line for every decision the caller should
	// know about, such as matrices kept in a wider type.
	Log func(format string, args ...any)
	// Progress, if set, is called after each tensor with the bytes of
	// tensor data written so far and the total.
	Progress func(done, total int64)
}

// fileTypes maps the weight types Export writes to GGUF's general.file_type
// (llama.cpp's llama_ftype). A file with one K-quant throughout has no
// exact llama_ftype; it is given the usual "_M" mix's number.
var fileTypes = map[quant.Type]uint32{
	quant.F32: 0, quant.F16: 1, quant.Q4_0: 2, quant.Q4_1: 3, quant.Q8_0: 7, quant.Q5_0: 8, quant.Q5_1: 9,
	quant.Q2_K: 10, quant.Q3_K: 12, quant.Q4_K: 15, quant.Q5_K: 17, quant.Q6_K: 18, quant.BF16: 32,
}

// Types lists the weight types Export can write, by name.
func Types() []string {
	var names []string
	for t := range fileTypes {
		names = append(names, strings.ToLower(t.String()))
	}
	sort.Strings(names)
	return names
}

// Export writes the model to path as a GGUF file. The tokenizer comes along:
// a GGUF source's tokenizer.* keys are copied, a Hugging Face folder's
// tokenizer.json is converted. Llama Q/K rows from a Hugging Face folder are
// permuted to the interleaved order llama GGUFs use, and llama3 rope
// scaling becomes the rope_freqs tensor.
func Export(m *model.Model, path string, opts Options) error {
	name, tok, tensors, err := exportSource(m)
	if err != nil {
		return fmt.Errorf("export %s: %w", m.Path, err)
	}
	if opts.Name != "" {
		name = opts.Name
	}
	return WriteGGUF(path, &m.Config, name, tok, tensors, opts)
}

// ExportFile writes the model at in (a GGUF file or a Hugging Face folder)
// to out as a GGUF file.
func ExportFile(in, out string, opts Options) error {
	m, err := model.Load(in)
	if err != nil {
		return err
	}
	defer m.Close()
	return Export(m, out, opts)
}

// exportSource returns what Export writes besides the hyper-parameters:
// the model's name, its tokenizer keys and its tensors.
func exportSource(m *model.Model) (name string, tok []gguf.KV, tensors []Tensor, err error) {
	if m.GGUF != nil {
		for _, kv := range m.GGUF.KV {
			if strings.HasPrefix(kv.Key, "tokenizer.") {
				tok = append(tok, kv)
			}
		}
		name, _ = m.GGUF.String("general.name")
	} else {
		ids, err := hfConfigTokenIDs(m.Path)
		if err != nil {
			return "", nil, nil, err
		}
		if tok, err = hfTokenizerMetadata(m.Path, m.Config.Architecture, m.Config.VocabSize, ids); err != nil {
			return "", nil, nil, err
		}
	}
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(m.Path), filepath.Ext(m.Path))
	}
	tensors, err = exportTensors(m)
	return name, tok, tensors, err
}

// Tensor is one tensor to write: a vector, or a matrix whose rows
// come from a stored matrix (possibly reordered) or from a generator.
type Tensor struct {
	Name       string
	Vec        []float32 // a vector's values; nil for a matrix
	Rows, Cols int
	// Gen fills row r of a matrix made up on the fly (a synthetic model's);
	// nil for one read from a loaded model.
	Gen  func(r int, row []float32)
	src  *kernels.Matrix
	perm []int // row r of the output is row perm[r] of src; nil keeps the order
}

// exportTensors lists the model's tensors under their GGUF names.
func exportTensors(m *model.Model) ([]Tensor, error) {
	c := &m.Config
	ggufRope, err := model.GGUFRopeLayout(c.Architecture)
	if err != nil {
		return nil, err
	}
	var ts []Tensor
	factors, err := ropeFactors(m)
	if err != nil {
		return nil, err
	}
	if factors != nil {
		ts = append(ts, Tensor{Name: "rope_freqs.weight", Vec: factors})
	}
	for _, w := range m.Tensors() {
		if w.IsVector {
			ts = append(ts, Tensor{Name: w.GGUF, Vec: w.Vector})
			continue
		}
		t := Tensor{Name: w.GGUF, Rows: w.Rows, Cols: w.Cols, src: w.Matrix}
		if heads := c.QKHeads(w.GGUF); heads > 0 && c.RopeLayout != ggufRope {
			if c.RopeLayout != kernels.RopeHalves {
				return nil, fmt.Errorf("cannot reorder %s from %v to %v rotary pairs", w.GGUF, c.RopeLayout, ggufRope)
			}
			t.perm = interleavePermutation(w.Rows, heads)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// ropeFactors returns the per-pair rope frequency divisors the file should
// carry as rope_freqs.weight: a GGUF source's own, or those of a Hugging
// Face config's rope_scaling; nil without scaling.
func ropeFactors(m *model.Model) ([]float32, error) {
	if m.GGUF != nil {
		t := m.GGUF.Tensor("rope_freqs.weight")
		if t == nil {
			return nil, nil
		}
		v := make([]float32, t.Elements())
		if err := quant.Dequantize(t.Type, t.Data, v); err != nil {
			return nil, fmt.Errorf("rope_freqs.weight: %w", err)
		}
		return v, nil
	}
	return m.Config.RopeScaling.FreqFactors(m.Config.HeadDim, m.Config.RopeTheta), nil
}

// interleavePermutation reorders the rows of a Q or K projection from
// Hugging Face's rotate-half layout, where element i of a head pairs with
// element i+d/2, to the interleaved layout of llama GGUFs, where element 2i
// pairs with 2i+1 — llama.cpp's converter's permute(w, heads). Row r of the
// result is row perm[r] of the source.
func interleavePermutation(rows, heads int) []int {
	perm := make([]int, rows)
	d := rows / heads
	for h := range heads {
		for i := range d / 2 {
			perm[h*d+2*i] = h*d + i
			perm[h*d+2*i+1] = h*d + d/2 + i
		}
	}
	return perm
}

// matrixType is the type a matrix with rows of cols elements is written
// in: want, unless cols is not a multiple of want's block size; then the
// K-quants fall back to Q8_0 (blocks of 32) and everything else to F16.
func matrixType(want quant.Type, cols int) quant.Type {
	switch {
	case cols%want.BlockSize() == 0:
		return want
	case want.BlockSize() == quant.QK_K && cols%quant.Q8_0.BlockSize() == 0:
		return quant.Q8_0
	}
	return quant.F16
}

// WriteGGUF writes a model file: c's hyper-parameters as llama.cpp's
// converter names them, the tokenizer keys tok, and the tensors, the
// matrices in opts.Type.
func WriteGGUF(path string, c *model.Config, name string, tok []gguf.KV, tensors []Tensor, opts Options) error {
	w := &gguf.Writer{}
	if err := SetMetadata(w, c, name, opts.Type); err != nil {
		return err
	}
	for _, kv := range tok {
		w.Set(kv.Key, kv.Value)
	}

	var total, done int64
	fallbacks := map[string]int{}
	var scratch []byte // reused by every tensor: the writer asks for one at a time
	for _, t := range tensors {
		typ, shape := quant.F32, []uint64{uint64(len(t.Vec))}
		if t.Vec == nil {
			typ, shape = matrixType(opts.Type, t.Cols), []uint64{uint64(t.Cols), uint64(t.Rows)}
			if typ != opts.Type {
				fallbacks[fmt.Sprintf("%s: rows of %d are not a multiple of %v's block of %d; writing %v",
					layerPattern.ReplaceAllString(t.Name, "blk.*."), t.Cols, opts.Type, opts.Type.BlockSize(), typ)]++
			}
		}
		err := w.AddTensor(t.Name, typ, shape, func() ([]byte, error) {
			data, err := t.encode(typ, &scratch)
			done += int64(len(data))
			if err == nil && opts.Progress != nil {
				opts.Progress(done, total)
			}
			return data, err
		})
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		size, _ := typ.RowBytes(int(shape[0]))
		total += int64(size) * int64(max(1, t.Rows))
	}
	if opts.Log != nil {
		msgs := make([]string, 0, len(fallbacks))
		for msg := range fallbacks {
			msgs = append(msgs, msg)
		}
		sort.Strings(msgs)
		for _, msg := range msgs {
			if n := fallbacks[msg]; n > 1 {
				msg = strings.Replace(msg, ":", fmt.Sprintf(" (%d tensors):", n), 1)
			}
			opts.Log("%s", msg)
		}
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

var layerPattern = regexp.MustCompile(`^blk\.\d+\.`)

// SetMetadata sets the general.* and <arch>.* keys of a model of config c
// named name, its matrices in type typ.
func SetMetadata(w *gguf.Writer, c *model.Config, name string, typ quant.Type) error {
	fileType, ok := fileTypes[typ]
	if !ok {
		return fmt.Errorf("export: cannot write weight type %v (supported: %s)", typ, strings.Join(Types(), ", "))
	}
	arch := c.Architecture
	key := func(k string) string { return arch + "." + k }
	w.Set("general.architecture", arch)
	w.Set("general.type", "model")
	g := c.Generation
	if g.TopK != nil {
		w.Set("general.sampling.top_k", int32(*g.TopK))
	}
	if g.TopP != nil {
		w.Set("general.sampling.top_p", float32(*g.TopP))
	}
	if g.Temperature != nil {
		w.Set("general.sampling.temp", float32(*g.Temperature))
	}
	w.Set("general.name", name)
	w.Set(key("block_count"), uint32(c.Layers))
	w.Set(key("context_length"), uint32(c.MaxPositions))
	w.Set(key("embedding_length"), uint32(c.Hidden))
	w.Set(key("feed_forward_length"), uint32(c.Intermediate))
	w.Set(key("attention.head_count"), uint32(c.Heads))
	w.Set(key("attention.head_count_kv"), uint32(c.KVHeads))
	w.Set(key("rope.freq_base"), float32(c.RopeTheta))
	w.Set(key("attention.layer_norm_rms_epsilon"), c.NormEps)
	w.Set(key("attention.key_length"), uint32(c.HeadDim))
	w.Set(key("attention.value_length"), uint32(c.HeadDim))
	w.Set("general.file_type", fileType)
	w.Set(key("vocab_size"), uint32(c.VocabSize))
	w.Set(key("rope.dimension_count"), uint32(c.HeadDim))
	w.Set("general.quantization_version", uint32(2))
	return nil
}

// encode returns the tensor's bytes in type typ, built in *scratch. The
// rows of a matrix are converted in parallel, each worker taking a
// contiguous run of rows; a row already stored in typ is copied unchanged.
func (t *Tensor) encode(typ quant.Type, scratch *[]byte) ([]byte, error) {
	if t.Vec != nil {
		out := grow(scratch, 4*len(t.Vec))
		return out, quant.Quantize(quant.F32, t.Vec, out)
	}
	rowBytes, err := typ.RowBytes(t.Cols)
	if err != nil {
		return nil, err
	}
	out := grow(scratch, t.Rows*rowBytes)
	workers := max(1, min(runtime.GOMAXPROCS(0), t.Rows))
	per := (t.Rows + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Go(func() {
			row := make([]float32, t.Cols)
			for r := k * per; r < min(t.Rows, (k+1)*per) && errs[k] == nil; r++ {
				errs[k] = t.encodeRow(r, typ, row, out[r*rowBytes:(r+1)*rowBytes])
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *Tensor) encodeRow(r int, typ quant.Type, row []float32, dst []byte) error {
	if t.Gen != nil {
		t.Gen(r, row)
		return quant.Quantize(typ, row, dst)
	}
	src := r
	if t.perm != nil {
		src = t.perm[r]
	}
	if t.src.Type == typ {
		copy(dst, t.src.Row(src))
		return nil
	}
	if err := quant.Dequantize(t.src.Type, t.src.Row(src), row); err != nil {
		return err
	}
	return quant.Quantize(typ, row, dst)
}

// grow returns (*buf)[:n], reallocating when the buffer is too small.
func grow(buf *[]byte, n int) []byte {
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	return (*buf)[:n]
}
