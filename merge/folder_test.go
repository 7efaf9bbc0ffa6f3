package merge

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
	"github.com/aha-inference/aha/safetensors"
)

// variant writes a copy of the HF folder src to a new folder: the same
// side files, and every tensor x changed to x + amp·sin(seed + i) (element
// i), stored as typ, unless edit (if set) drops (nil) or replaces it.
func variant(t testing.TB, src string, seed, amp float64, typ quant.Type, edit func(safetensors.Tensor) *safetensors.Tensor) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range sideFiles {
		if data, err := os.ReadFile(filepath.Join(src, name)); err == nil {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	c, err := safetensors.OpenDir(src)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ts []safetensors.Tensor
	for _, name := range c.Names() {
		x := safetensors.Tensor{Name: name, Type: typ, Shape: c.Tensor(name).Shape}
		if edit != nil {
			e := edit(x)
			if e == nil {
				continue
			}
			x = *e
		}
		ts = append(ts, x)
	}
	w, err := safetensors.Create(filepath.Join(dir, "model.safetensors"), ts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range w.Tensors {
		in := c.Tensor(x.Name)
		v := make([]float32, len(x.Data)/x.Type.TypeSize())
		if in != nil && slices.Equal(in.Shape, x.Shape) {
			if err := quant.Dequantize(in.Type, in.Data, v); err != nil {
				t.Fatal(err)
			}
		}
		for i := range v {
			v[i] += float32(amp * math.Sin(seed+float64(i)))
		}
		if err := quant.Quantize(x.Type, v, x.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// decode reads element i of a tensor's data as float32, independently of
// the quant package.
func decode(typ quant.Type, data []byte, i int) float32 {
	switch typ {
	case quant.F32:
		return math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	case quant.BF16:
		return math.Float32frombits(uint32(binary.LittleEndian.Uint16(data[2*i:])) << 16)
	}
	panic("test decodes F32 and BF16 only")
}

// toBF16 rounds to bfloat16 (to nearest, ties to even), independently of
// the quant package.
func toBF16(f float32) uint16 {
	b := math.Float32bits(f)
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

func open(t testing.TB, dir string) *safetensors.Checkpoint {
	t.Helper()
	c, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestLinearFolders: the Meta-Ability-Alignment recipe (1.0, 0.2, 0.1,
// normalized) over the tiny qwen2 and two variants of it, one stored as
// F32: every output element is the float32 arithmetic done here, rounded
// to the first model's BF16, and the folder is sharded, indexed and
// complete.
func TestLinearFolders(t *testing.T) {
	src := shared.Path(t, "models/qwen2-tiny/hf")
	dirs := []string{src, variant(t, src, 1, 0.01, quant.BF16, nil), variant(t, src, 2, 0.02, quant.F32, nil)}
	weights := []float32{1, 0.2, 0.1}
	out := filepath.Join(t.TempDir(), "merged")
	var last, total int64
	err := Folders(Recipe{Method: "linear", Weights: weights, Normalize: true}, "",
		[]Model{{"ded", dirs[0]}, {"ind", dirs[1]}, {"abd", dirs[2]}},
		Output{Dir: out, ShardSize: 8 << 20, Progress: func(done, tot int64) { last, total = done, tot }})
	if err != nil {
		t.Fatal(err)
	}
	if last != total || total == 0 {
		t.Errorf("progress ended at %d of %d", last, total)
	}
	ins := []*safetensors.Checkpoint{open(t, dirs[0]), open(t, dirs[1]), open(t, dirs[2])}
	got := open(t, out)
	if len(got.Files) < 2 {
		t.Errorf("%d shards, want several at 8 MiB", len(got.Files))
	}
	if !slices.Equal(got.Names(), ins[0].Names()) {
		t.Fatalf("tensors %v, want %v", got.Names(), ins[0].Names())
	}
	wsum := weights[0] + weights[1] + weights[2]
	for _, name := range got.Names() {
		g := got.Tensor(name)
		if g.Type != quant.BF16 || !slices.Equal(g.Shape, ins[0].Tensor(name).Shape) {
			t.Fatalf("%s: %v %v", name, g.Type, g.Shape)
		}
		for i := range len(g.Data) / 2 {
			var s float32
			for k, c := range ins {
				x := c.Tensor(name)
				s += float32(weights[k] * decode(x.Type, x.Data, i))
			}
			s /= wsum
			if want, have := toBF16(s), binary.LittleEndian.Uint16(g.Data[2*i:]); want != have {
				t.Fatalf("%s[%d] = %#04x, want %#04x (%v)", name, i, have, want, s)
			}
		}
	}
	for _, name := range []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"} {
		a, _ := os.ReadFile(filepath.Join(src, name))
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || string(a) != string(b) {
			t.Errorf("%s not copied from the first model (%v)", name, err)
		}
	}
	var index struct {
		Metadata struct {
			TotalSize int64 `json:"total_size"`
		} `json:"metadata"`
	}
	data, _ := os.ReadFile(filepath.Join(out, "model.safetensors.index.json"))
	if err := json.Unmarshal(data, &index); err != nil || index.Metadata.TotalSize != total {
		t.Errorf("index total_size %d, want %d (%v)", index.Metadata.TotalSize, total, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".merged.tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary folders left: %v", leftovers)
	}
}

// TestMergedModelRuns: a model merged with itself is itself (bit for bit,
// and the same logits); a real merge loads and runs.
func TestMergedModelRuns(t *testing.T) {
	src := shared.Path(t, "models/qwen2-tiny/hf")
	same := filepath.Join(t.TempDir(), "same")
	if err := Folders(Recipe{Method: "linear", Weights: []float32{1, 3}, Normalize: true}, "",
		[]Model{{"a", src}, {"b", src}}, Output{Dir: same}); err != nil {
		t.Fatal(err)
	}
	mixed := filepath.Join(t.TempDir(), "mixed")
	if err := Folders(Recipe{Method: "ties", Weights: []float32{1, 1}, Density: 0.5, Normalize: true}, src,
		[]Model{{"a", variant(t, src, 1, 0.01, quant.BF16, nil)}, {"b", variant(t, src, 2, 0.01, quant.BF16, nil)}},
		Output{Dir: mixed}); err != nil {
		t.Fatal(err)
	}
	want := logits(t, src)
	if got := logits(t, same); !slices.Equal(got, want) {
		t.Errorf("a model merged with itself gives other logits")
	}
	got := logits(t, mixed)
	for _, v := range got {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("merged model's logits are not finite")
		}
	}
	if slices.Equal(got, want) {
		t.Error("the TIES merge changed nothing")
	}
}

// logits runs a short prompt through the model in dir and returns the last
// token's logits.
func logits(t *testing.T, dir string) []float32 {
	t.Helper()
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.SetBackend(kernels.Reference{})
	s, err := m.NewState(16, quant.F32)
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Forward(s, []int{9707, 11, 1879, 0}, false)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(l)
}

// TestBaseMethodsFolders: task arithmetic, TIES and slerp written as F32
// equal the methods applied to whole decoded tensors, and task arithmetic
// equals the float32 arithmetic done here.
func TestBaseMethodsFolders(t *testing.T) {
	src := shared.Path(t, "models/qwen2-tiny/hf")
	a, b := variant(t, src, 1, 0.01, quant.BF16, nil), variant(t, src, 2, 0.03, quant.BF16, nil)
	for _, r := range []Recipe{
		{Method: "task_arithmetic", Weights: []float32{0.7, 0.4}},
		{Method: "ties", Weights: []float32{1, 0.5}, Density: 0.3, Normalize: true},
		{Method: "slerp", Weights: []float32{1}, T: 0.3},
	} {
		t.Run(r.Method, func(t *testing.T) {
			models := []Model{{"a", a}, {"b", b}}[:len(r.Weights)]
			out := filepath.Join(t.TempDir(), "out")
			if err := Folders(r, src, models, Output{Dir: out, Cast: true, Type: quant.F32}); err != nil {
				t.Fatal(err)
			}
			got, base := open(t, out), open(t, src)
			var ins []*safetensors.Checkpoint
			for _, m := range models {
				ins = append(ins, open(t, m.Dir))
			}
			for _, name := range got.Names() {
				g := got.Tensor(name)
				n := len(g.Data) / 4
				bv := tensor(t, base.Tensor(name))
				var xs [][]float32
				for _, c := range ins {
					xs = append(xs, tensor(t, c.Tensor(name)))
				}
				want := make([]float32, n)
				if r.Method == "task_arithmetic" {
					for i := range want {
						var s float32
						for k, x := range xs {
							s += float32(r.Weights[k] * (x[i] - bv[i]))
						}
						want[i] = bv[i] + s
					}
				} else {
					r.Merge(want, bv, xs)
				}
				for i := range n {
					if have := decode(quant.F32, g.Data, i); have != want[i] {
						t.Fatalf("%s[%d] = %v, want %v", name, i, have, want[i])
					}
				}
			}
		})
	}
}

func tensor(t testing.TB, x *safetensors.Tensor) []float32 {
	v := make([]float32, len(x.Data)/x.Type.TypeSize())
	for i := range v {
		v[i] = decode(x.Type, x.Data, i)
	}
	return v
}

// TestFolderErrors: models that cannot merge, bad files and bad recipes
// give an error that names the problem, and leave no output behind.
func TestFolderErrors(t *testing.T) {
	src := shared.Path(t, "models/qwen2-tiny/hf")
	llama := shared.Path(t, "models/llama3-tiny/hf")
	linear := Recipe{Method: "linear", Weights: []float32{1, 1}, Normalize: true}
	reshaped := variant(t, src, 1, 0.01, quant.BF16, func(x safetensors.Tensor) *safetensors.Tensor {
		if x.Name == "model.layers.1.mlp.up_proj.weight" {
			x.Shape = []int64{64, 128}
		}
		return &x
	})
	missing := variant(t, src, 1, 0.01, quant.BF16, func(x safetensors.Tensor) *safetensors.Tensor {
		if x.Name == "model.norm.weight" {
			return nil
		}
		return &x
	})
	truncated := variant(t, src, 1, 0.01, quant.BF16, nil)
	st := filepath.Join(truncated, "model.safetensors")
	if fi, err := os.Stat(st); err != nil || os.Truncate(st, fi.Size()/2) != nil {
		t.Fatal("cannot truncate", err)
	}
	revocab := variant(t, src, 1, 0.01, quant.BF16, nil)
	tok, _ := os.ReadFile(filepath.Join(src, "tokenizer.json"))
	tok = []byte(strings.Replace(string(tok), `"!": 0,`, `"!": 1,`, 1))
	tok = []byte(strings.Replace(string(tok), `"\"": 1,`, `"\"": 0,`, 1))
	os.WriteFile(filepath.Join(revocab, "tokenizer.json"), tok, 0o644)
	exists := t.TempDir()

	for _, tc := range []struct {
		name   string
		r      Recipe
		base   string
		models []Model
		out    string
		want   []string
	}{
		{"shapes", linear, "", []Model{{"a", src}, {"b", reshaped}}, "", []string{"model.layers.1.mlp.up_proj.weight", "[128 64] in model a", "[64 128] in b"}},
		{"missing tensor", linear, "", []Model{{"a", src}, {"b", missing}}, "", []string{"model.norm.weight is in model a but not in b"}},
		{"architecture", linear, "", []Model{{"a", src}, {"b", llama}}, "", []string{"different architectures", "qwen2", "llama"}},
		{"vocabulary", linear, "", []Model{{"a", src}, {"b", revocab}}, "", []string{"different vocabularies", `token "!" is 0 in the first and 1 in the second`}},
		{"truncated", linear, "", []Model{{"a", src}, {"b", truncated}}, "", []string{"model b", "truncated"}},
		{"missing folder", linear, "", []Model{{"a", src}, {"b", filepath.Join(src, "none")}}, "", []string{"model b", "none"}},
		{"unknown method", Recipe{Method: "dare", Weights: []float32{1, 1}}, "", []Model{{"a", src}, {"b", src}}, "", []string{`unknown merge method "dare"`}},
		{"no base", Recipe{Method: "task_arithmetic", Weights: []float32{1}}, "", []Model{{"a", src}}, "", []string{"task_arithmetic needs a base model"}},
		{"output exists", linear, "", []Model{{"a", src}, {"b", src}}, exists, []string{"already exists"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			out := tc.out
			if out == "" {
				out = filepath.Join(parent, "out")
			}
			err := Folders(tc.r, tc.base, tc.models, Output{Dir: out})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if left, _ := os.ReadDir(parent); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}
