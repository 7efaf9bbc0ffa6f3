package model_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/aha-inference/aha/convert"
	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
)

// tinyConfig is the smallest sensible qwen2 (biases included), for files
// made to be broken.
func tinyConfig() model.Config {
	return model.Config{Architecture: "qwen2", VocabSize: 32, Hidden: 64, Layers: 1, Heads: 2, KVHeads: 1, HeadDim: 32,
		Intermediate: 64, MaxPositions: 128, AttentionBias: true, NormEps: 1e-6, RopeTheta: 1e6}
}

// writeTinyGGUF writes tinyConfig's model as an F32 GGUF after edit has
// had its way with the tensor list.
func writeTinyGGUF(t *testing.T, path string, edit func([]convert.Tensor) []convert.Tensor) {
	t.Helper()
	c := tinyConfig()
	if err := convert.WriteGGUF(path, &c, "tiny", nil, edit(convert.SyntheticTensors(&c, 1)), convert.Options{Type: quant.F32}); err != nil {
		t.Fatal(err)
	}
}

// stTensor is a tensor to write into a safetensors file.
type stTensor struct {
	name, dtype string
	shape       []int64
}

// writeHFFolder writes tinyConfig's model as a Hugging Face folder of F32
// zeros, after edit has changed the config.json fields or the tensor list.
func writeHFFolder(t *testing.T, dir string, editConfig func(map[string]any), edit func([]stTensor) []stTensor) {
	t.Helper()
	c := tinyConfig()
	cfg := map[string]any{
		"architectures": []string{"Qwen2ForCausalLM"}, "model_type": "qwen2", "vocab_size": c.VocabSize,
		"hidden_size": c.Hidden, "num_hidden_layers": c.Layers, "num_attention_heads": c.Heads,
		"num_key_value_heads": c.KVHeads, "intermediate_size": c.Intermediate, "max_position_embeddings": c.MaxPositions,
		"rms_norm_eps": c.NormEps, "rope_theta": c.RopeTheta, "tie_word_embeddings": false,
	}
	editConfig(cfg)
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var ts []stTensor
	for _, w := range c.Tensors() {
		shape := []int64{int64(w.Rows), int64(w.Cols)}
		if w.IsVector {
			shape = shape[1:]
		}
		ts = append(ts, stTensor{w.HF, "F32", shape})
	}
	writeSafetensors(t, filepath.Join(dir, "model.safetensors"), edit(ts))
}

// writeSafetensors writes zero-filled tensors (4 bytes an element).
func writeSafetensors(t *testing.T, path string, ts []stTensor) {
	t.Helper()
	header := map[string]any{}
	var offset int64
	for _, x := range ts {
		n := int64(4)
		for _, d := range x.shape {
			n *= d
		}
		header[x.name] = map[string]any{"dtype": x.dtype, "shape": x.shape, "data_offsets": []int64{offset, offset + n}}
		offset += n
	}
	h, _ := json.Marshal(header)
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint64(len(h)))
	buf.Write(h)
	buf.Write(make([]byte, offset))
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, path string, frac float64) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(float64(st.Size())*frac)); err != nil {
		t.Fatal(err)
	}
}

// TestLoadErrors: bad input gives an error that names the problem, never a
// panic.
func TestLoadErrors(t *testing.T) {
	keep := func(ts []convert.Tensor) []convert.Tensor { return ts }
	keepST := func(ts []stTensor) []stTensor { return ts }
	noEdit := func(map[string]any) {}
	cases := []struct {
		name  string
		setup func(dir string) string // returns the path to load
		want  []string
	}{
		{"missing file", func(dir string) string { return filepath.Join(dir, "none.gguf") }, []string{"none.gguf", "no such file"}},
		{"folder without config.json", func(dir string) string { return dir }, []string{"no config.json"}},
		{"config.json not JSON", func(dir string) string {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte("{hidden_size: 3"), 0o644)
			return dir
		}, []string{"config.json"}},
		{"unknown architecture in config.json", func(dir string) string {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": "mamba", "architectures": ["MambaForCausalLM"]}`), 0o644)
			return dir
		}, []string{`unsupported architecture "mamba"`, "supported: llama, qwen2, qwen3"}},
		{"inconsistent config.json", func(dir string) string {
			writeHFFolder(t, dir, func(c map[string]any) {
				c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"] = 3, 2, 32
			}, keepST)
			return dir
		}, []string{"config.json: num_attention_heads 3 is not a multiple of num_key_value_heads 2"}},
		{"HF folder without weights", func(dir string) string {
			writeHFFolder(t, dir, noEdit, keepST)
			os.Remove(filepath.Join(dir, "model.safetensors"))
			return dir
		}, []string{"neither model.safetensors nor model.safetensors.index.json"}},
		{"HF missing tensor", func(dir string) string {
			writeHFFolder(t, dir, noEdit, func(ts []stTensor) []stTensor { return ts[:len(ts)-1] })
			return dir
		}, []string{"tensor model.layers.0.self_attn.v_proj.bias is missing"}},
		{"HF tensor of the wrong shape", func(dir string) string {
			writeHFFolder(t, dir, noEdit, func(ts []stTensor) []stTensor {
				for i := range ts {
					if strings.HasSuffix(ts[i].name, "q_proj.weight") {
						ts[i].shape = []int64{64, 32}
					}
				}
				return ts
			})
			return dir
		}, []string{"model.layers.0.self_attn.q_proj.weight has shape 64×32", "want 64×64"}},
		{"HF unsupported dtype", func(dir string) string {
			writeHFFolder(t, dir, noEdit, func(ts []stTensor) []stTensor { ts[0].dtype = "I32"; return ts })
			return dir
		}, []string{`dtype "I32"`, "supported: F32, F16, BF16"}},
		{"HF truncated weights", func(dir string) string {
			writeHFFolder(t, dir, noEdit, keepST)
			truncate(t, filepath.Join(dir, "model.safetensors"), 0.5)
			return dir
		}, []string{"model.safetensors", "truncated"}},
		{"not a GGUF", func(dir string) string {
			p := filepath.Join(dir, "x.gguf")
			os.WriteFile(p, []byte("PK\x03\x04 a zip file, say"), 0o644)
			return p
		}, []string{"x.gguf", "not a GGUF file"}},
		{"GGUF of an unknown architecture", func(dir string) string {
			p := filepath.Join(dir, "x.gguf")
			w := &gguf.Writer{}
			w.Set("general.architecture", "mamba")
			if err := w.WriteFile(p); err != nil {
				t.Fatal(err)
			}
			return p
		}, []string{`unsupported architecture "mamba"`, "supported: llama, qwen2, qwen3"}},
		{"GGUF without block_count", func(dir string) string {
			p := filepath.Join(dir, "x.gguf")
			w := &gguf.Writer{}
			w.Set("general.architecture", "qwen2")
			w.Set("qwen2.embedding_length", uint32(64))
			if err := w.WriteFile(p); err != nil {
				t.Fatal(err)
			}
			return p
		}, []string{`"qwen2.block_count" is missing`}},
		{"GGUF missing tensor", func(dir string) string {
			p := filepath.Join(dir, "x.gguf")
			writeTinyGGUF(t, p, func(ts []convert.Tensor) []convert.Tensor { return ts[:len(ts)-1] })
			return p
		}, []string{"tensor blk.0.attn_v.bias is missing"}},
		{"GGUF tensor of the wrong shape", func(dir string) string {
			p := filepath.Join(dir, "x.gguf")
			writeTinyGGUF(t, p, func(ts []convert.Tensor) []convert.Tensor {
				for i := range ts {
					if ts[i].Name == "blk.0.ffn_up.weight" {
						ts[i].Rows++
					}
				}
				return ts
			})
			return p
		}, []string{"blk.0.ffn_up.weight has shape 65×64", "want 64×64"}},
		{"GGUF tensor with a zero dimension", func(dir string) string {
			p := filepath.Join(dir, "x.gguf")
			writeTinyGGUF(t, p, func(ts []convert.Tensor) []convert.Tensor {
				ts[0].Cols = 0 // token_embd.weight: rows of no elements
				return ts
			})
			return p
		}, []string{"token_embd.weight has shape 32×0", "want 32×64"}},
		{"GGUF tensor of an unsupported type", func(dir string) string {
			p := filepath.Join(dir, "x.gguf")
			writeTinyGGUF(t, p, keep)
			setTensorType(t, p, "output_norm.weight", 39) // MXFP4, which aha does not read
			return p
		}, []string{`tensor "output_norm.weight" has unsupported type type(39)`}},
		{"GGUF truncated", func(dir string) string {
			p := filepath.Join(dir, "x.gguf")
			writeTinyGGUF(t, p, keep)
			truncate(t, p, 0.7)
			return p
		}, []string{"x.gguf", "truncated"}},
		{"GGUF truncated in the header", func(dir string) string {
			p := filepath.Join(dir, "x.gguf")
			writeTinyGGUF(t, p, keep)
			os.Truncate(p, 100)
			return p
		}, []string{"x.gguf", "truncated"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.setup(t.TempDir())
			m, err := model.Load(path)
			if err == nil {
				m.Close()
				t.Fatalf("loaded without error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// The untouched fixtures load: the errors above come from the edits.
	dir := t.TempDir()
	writeHFFolder(t, dir, noEdit, keepST)
	writeTinyGGUF(t, filepath.Join(dir, "ok.gguf"), keep)
	for _, p := range []string{dir, filepath.Join(dir, "ok.gguf")} {
		m, err := model.Load(p)
		if err != nil {
			t.Fatalf("the unedited fixture %s: %v", p, err)
		}
		m.Close()
	}
}

// setTensorType overwrites the type id in the tensor info of name, which
// follows the name, its dimension count and its dimensions.
func setTensorType(t *testing.T, path, name string, typ uint32) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key := binary.LittleEndian.AppendUint64(nil, uint64(len(name)))
	i := bytes.Index(data, append(key, name...))
	if i < 0 {
		t.Fatalf("tensor %s not found in %s", name, path)
	}
	at := i + len(key) + len(name)
	dims := int(binary.LittleEndian.Uint32(data[at:]))
	binary.LittleEndian.PutUint32(data[at+4+8*dims:], typ)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// holeWriter writes a file leaving holes where the data is zeros, so a
// large file of zeros costs neither disk nor time.
type holeWriter struct {
	f *os.File
	n int64
}

var zeroBlock = make([]byte, 1<<20)

func (w *holeWriter) Write(p []byte) (int, error) {
	zero := true
	for rest := p; zero && len(rest) > 0; rest = rest[min(len(rest), len(zeroBlock)):] {
		zero = bytes.Equal(rest[:min(len(rest), len(zeroBlock))], zeroBlock[:min(len(rest), len(zeroBlock))])
	}
	var err error
	if zero {
		_, err = w.f.Seek(int64(len(p)), io.SeekCurrent)
	} else {
		_, err = w.f.Write(p)
	}
	w.n += int64(len(p))
	return len(p), err
}

// residentBytes is the process's resident memory (Linux).
func residentBytes(t *testing.T) int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm:", err)
	}
	fields := strings.Fields(string(data))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestLoadDoesNotCopy loads a ≈1 GB GGUF (sparse: its tensors are zeros)
// and checks that the process's resident memory grows by far less than the
// file: the weights stay in the mapping, untouched until used.
func TestLoadDoesNotCopy(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/statm")
	}
	c := model.Config{Architecture: "llama", VocabSize: 32000, Hidden: 2048, Layers: 6, Heads: 16, KVHeads: 8, HeadDim: 128,
		Intermediate: 8192, MaxPositions: 4096, NormEps: 1e-5, RopeTheta: 10000}
	w := &gguf.Writer{}
	if err := convert.SetMetadata(w, &c, "big", quant.F16); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, c.VocabSize*c.Hidden*2) // the largest tensor, never written, so never resident
	for _, wt := range c.Tensors() {
		typ, shape := quant.F16, []uint64{uint64(wt.Cols), uint64(wt.Rows)}
		if wt.IsVector {
			typ, shape = quant.F32, shape[:1]
		}
		size, _ := typ.RowBytes(wt.Cols)
		size *= wt.Rows
		if err := w.AddTensor(wt.GGUF, typ, shape, func() ([]byte, error) { return zeros[:size], nil }); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "big.gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	hw := &holeWriter{f: f}
	if _, err := w.WriteTo(hw); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(hw.n); err != nil { // a trailing hole
		t.Fatal(err)
	}
	f.Close()
	if hw.n < 1<<30-100<<20 {
		t.Fatalf("the file has %d bytes, want ≈ 1 GB", hw.n)
	}

	before := residentBytes(t)
	m, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	grew := residentBytes(t) - before
	t.Logf("loading a %d MB file grew resident memory by %.1f MB", hw.n>>20, float64(grew)/(1<<20))
	if grew > hw.n/20 {
		t.Errorf("resident memory grew by %d bytes loading a %d-byte file (> 5%%): weights were copied", grew, hw.n)
	}
}
