package inspect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aha-inference/aha/convert"
	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/safetensors"
)

// Summary describes a checkpoint from its metadata. Both formats are
// described in GGUF terms — tensor names, shapes in GGML order (row length first), tokenizer
// keys — so a GGUF and the HF folder it came from read alike.
type Summary struct {
	Path         string `json:"path"`
	Format       string `json:"format"` // "gguf" or "safetensors"
	Architecture string `json:"architecture"`
	// Config is nil when the metadata does not make a model aha can load
	// (a vocab-only GGUF, say); ConfigError says why.
	Config      *model.Config    `json:"config"`
	ConfigError string           `json:"config_error,omitempty"`
	RopeLayout  string           `json:"rope_layout,omitempty"`
	Tokenizer   TokenizerSummary `json:"tokenizer"`
	Tensors     []TensorInfo     `json:"tensors"`
	Totals      Totals           `json:"totals"`
}

// TokenizerSummary is what a model's tokenizer metadata says.
type TokenizerSummary struct {
	// Model is tokenizer.ggml.model: "gpt2" (byte-level BPE), "llama"
	// (SentencePiece), or "" without a tokenizer; Error says why when
	// one could not be read.
	Model        string `json:"model"`
	Pre          string `json:"pre,omitempty"`
	Tokens       int    `json:"tokens"`
	Merges       int    `json:"merges"`
	BOS          *int   `json:"bos_token_id,omitempty"`
	EOS          *int   `json:"eos_token_id,omitempty"`
	EOT          *int   `json:"eot_token_id,omitempty"`
	AddBOS       *bool  `json:"add_bos_token,omitempty"`
	ChatTemplate bool   `json:"has_chat_template"`
	Error        string `json:"error,omitempty"`
}

// TensorInfo describes one stored tensor.
type TensorInfo struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Shape []uint64 `json:"shape"`
	Bytes uint64   `json:"bytes"`
}

// Totals sums the tensors.
type Totals struct {
	Tensors    int    `json:"tensors"`
	Parameters uint64 `json:"parameters"`
	Bytes      uint64 `json:"bytes"`
}

// Inspect describes the checkpoint at path: a GGUF file, a Hugging Face
// folder, or, for "" or builtin.Name, the embedded model.
func Inspect(path string) (*Summary, error) {
	f, dir, err := model.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	if dir != "" {
		return inspectHF(dir)
	}
	defer f.Close()
	return inspectGGUF(f), nil
}

func inspectGGUF(f *gguf.File) *Summary {
	s := &Summary{Path: f.Path, Format: "gguf"}
	s.Architecture, _ = f.String("general.architecture")
	// A config whose counts the tensors contradict is no model aha can
	// load, and its numbers (2^24 layers, say) would mislead.
	c, err := model.ConfigFromGGUF(f)
	if err == nil {
		err = c.CheckGGUF(f)
	}
	if err != nil {
		s.ConfigError = err.Error()
	} else {
		s.Config, s.RopeLayout = c, c.RopeLayoutName()
	}
	s.Tokenizer = summarizeTokenizer(f.KV)
	for _, t := range f.Tensors {
		s.add(TensorInfo{t.Name, t.Type.String(), t.Shape, uint64(len(t.Data))})
	}
	return s
}

func inspectHF(dir string) (*Summary, error) {
	c, err := model.ConfigFromHF(dir)
	if err != nil {
		return nil, err
	}
	ckpt, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer ckpt.Close()
	// The per-layer table below and the tokenizer's token list are sized
	// by the config's counts, so those are checked against the tensors
	// first.
	if err := c.CheckHF(ckpt); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	s := &Summary{Path: dir, Format: "safetensors", Architecture: c.Architecture, Config: c, RopeLayout: c.RopeLayoutName()}
	s.Tokenizer = hfTokenizerSummary(dir, c)

	// The tensors aha knows, in the order of its table and under their GGUF
	// names; then any others under their own.
	known := map[string]bool{}
	describe := func(ws []model.Tensor) {
		for _, w := range ws {
			if t := ckpt.Tensor(w.HF); t != nil {
				known[w.HF] = true
				s.add(hfTensorInfo(w.GGUF, t))
			}
		}
	}
	describe(c.GlobalTensors())
	for i := range c.Layers {
		describe(c.LayerTensors(i))
	}
	for _, name := range ckpt.Names() {
		if !known[name] {
			s.add(hfTensorInfo(name, ckpt.Tensor(name)))
		}
	}
	return s, nil
}

// hfTensorInfo describes a safetensors tensor with GGML's shape order.
func hfTensorInfo(name string, t *safetensors.Tensor) TensorInfo {
	shape := make([]uint64, len(t.Shape))
	for i, d := range t.Shape {
		shape[len(shape)-1-i] = uint64(d)
	}
	return TensorInfo{name, t.Type.String(), shape, uint64(len(t.Data))}
}

func (s *Summary) add(t TensorInfo) {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d
	}
	s.Tensors = append(s.Tensors, t)
	s.Totals.Tensors++
	s.Totals.Parameters += n
	s.Totals.Bytes += t.Bytes
}

// hfTokenizerSummary describes a folder's tokenizer as convert.Export would write
// it into a GGUF.
func hfTokenizerSummary(dir string, c *model.Config) TokenizerSummary {
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); errors.Is(err, os.ErrNotExist) {
		return TokenizerSummary{}
	}
	kv, err := convert.TokenizerMetadata(dir, c)
	if err != nil {
		return TokenizerSummary{Error: err.Error()}
	}
	return summarizeTokenizer(kv)
}

// summarizeTokenizer reads the tokenizer.* keys of a GGUF's metadata.
func summarizeTokenizer(kv []gguf.KV) TokenizerSummary {
	var s TokenizerSummary
	id := func(v any) *int {
		var i int
		switch n := v.(type) {
		case uint32:
			i = int(n)
		case int32:
			i = int(n)
		default:
			return nil
		}
		return &i
	}
	length := func(v any) int {
		switch a := v.(type) {
		case gguf.Array:
			return a.Len()
		case []string:
			return len(a)
		}
		return 0
	}
	for _, e := range kv {
		switch e.Key {
		case "tokenizer.ggml.model":
			s.Model, _ = e.Value.(string)
		case "tokenizer.ggml.pre":
			s.Pre, _ = e.Value.(string)
		case "tokenizer.ggml.tokens":
			s.Tokens = length(e.Value)
		case "tokenizer.ggml.merges":
			s.Merges = length(e.Value)
		case "tokenizer.ggml.bos_token_id":
			s.BOS = id(e.Value)
		case "tokenizer.ggml.eos_token_id":
			s.EOS = id(e.Value)
		case "tokenizer.ggml.eot_token_id":
			s.EOT = id(e.Value)
		case "tokenizer.ggml.add_bos_token":
			if b, ok := e.Value.(bool); ok {
				s.AddBOS = &b
			}
		case "tokenizer.chat_template":
			s.ChatTemplate = true
		}
	}
	return s
}
