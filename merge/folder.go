package merge

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/aha-inference/aha/quant"
	"github.com/aha-inference/aha/safetensors"
)

// Model is one input of a merge: a Hugging Face folder and the name the
// merge knows it by in messages.
type Model struct {
	Name, Dir string
}

// Output says where and how a merged model is written.
type Output struct {
	// Dir is the folder to create; it must not exist. The model is written
	// to a temporary folder beside it and renamed into place only when
	// complete, so an error leaves nothing at Dir.
	Dir string
	// Cast writes every tensor as Type (F32, F16 or BF16); otherwise each
	// tensor keeps the type it has in the first input.
	Cast bool
	Type quant.Type
	// ShardSize bounds the bytes of tensor data in one safetensors file;
	// 0 means DefaultShardSize.
	ShardSize int64
	// Progress, if set, is called after each piece of work with the bytes
	// of tensor data written so far and the total.
	Progress func(done, total int64)
}

// DefaultShardSize is Hugging Face's default largest shard (5 GB).
const DefaultShardSize = 5_000_000_000

// chunk is how many elements of a tensor an elementwise merge takes at a
// time: the memory it needs is a few chunks per worker, not a few tensors.
const chunk = 1 << 18

// Folders merges the safetensors weights of models, and of base for the
// methods that need one, by r (r.Weights in the order of models) and
// writes the result to out. The config, tokenizer and generation config
// are copied from the base, or from the first model when there is none.
// Every input must have the same architecture, vocabulary, tensor names
// and shapes; the first difference is an error naming both sides.
//
// Tensors are merged one at a time, read from the memory-mapped inputs and
// written into the memory-mapped output, whose pages are released as they
// are done: linear and task arithmetic need a few small chunks of memory
// per thread, TIES and slerp (which need whole tensors) float32 copies of
// the largest tensor, one per input and one more.
func Folders(r Recipe, base string, models []Model, out Output) error {
	if err := r.Check(len(models)); err != nil {
		return err
	}
	if NeedsBase(r.Method) != (base != "") {
		if base == "" {
			return fmt.Errorf("%s needs a base model", r.Method)
		}
		return fmt.Errorf("%s takes no base model", r.Method)
	}
	inputs := slices.Clone(models)
	if base != "" {
		inputs = append([]Model{{Name: "base", Dir: base}}, inputs...)
	}
	if err := sameModel(inputs); err != nil {
		return err
	}
	ckpts := make([]*safetensors.Checkpoint, len(inputs))
	defer func() {
		for _, c := range ckpts {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i, in := range inputs {
		c, err := safetensors.OpenDir(in.Dir)
		if err != nil {
			return fmt.Errorf("model %s: %w", in.Name, err)
		}
		ckpts[i] = c
	}
	if err := sameTensors(inputs, ckpts); err != nil {
		return err
	}
	m := &merger{recipe: r, ckpts: ckpts, withBase: base != ""}
	var jobs []job
	for _, name := range ckpts[0].Names() {
		t := ckpts[0].Tensor(name)
		typ := t.Type
		if out.Cast {
			typ = out.Type
		}
		jobs = append(jobs, job{name: name, typ: typ, shape: t.Shape,
			fill: func(dst []byte, done func([]byte)) error { return m.merge(name, typ, dst, done) }})
	}
	return writeFolder(out, inputs[0].Dir, jobs)
}

// checkOutput refuses an output folder that exists: a merge never writes
// over a model.
func checkOutput(dir string) error {
	if dir == "" {
		return errors.New("no output folder")
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("output %s already exists", dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// hfConfig holds the config.json fields that must agree between inputs.
type hfConfig struct {
	ModelType     string   `json:"model_type"`
	Architectures []string `json:"architectures"`
	VocabSize     int      `json:"vocab_size"`
}

func readConfig(dir string) (hfConfig, error) {
	var c hfConfig
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	return c, nil
}

// vocab is the part of tokenizer.json that gives tokens their ids.
type vocab struct {
	Model struct {
		Vocab map[string]int `json:"vocab"`
	} `json:"model"`
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
	} `json:"added_tokens"`
}

func readVocab(dir string) (*vocab, error) {
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var v vocab
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "tokenizer.json"), err)
	}
	return &v, nil
}

// sameModel checks that the inputs share an architecture and a
// vocabulary: models that merely have the same shapes but number their
// tokens differently would merge into nonsense.
func sameModel(inputs []Model) error {
	first, err := readConfig(inputs[0].Dir)
	if err != nil {
		return fmt.Errorf("model %s: %w", inputs[0].Name, err)
	}
	firstVocab, err := readVocab(inputs[0].Dir)
	if err != nil {
		return fmt.Errorf("model %s: %w", inputs[0].Name, err)
	}
	for _, in := range inputs[1:] {
		c, err := readConfig(in.Dir)
		if err != nil {
			return fmt.Errorf("model %s: %w", in.Name, err)
		}
		if c.ModelType != first.ModelType || !slices.Equal(c.Architectures, first.Architectures) {
			return fmt.Errorf("models %s and %s have different architectures: %s %v and %s %v",
				inputs[0].Name, in.Name, first.ModelType, first.Architectures, c.ModelType, c.Architectures)
		}
		if c.VocabSize != first.VocabSize {
			return fmt.Errorf("models %s and %s have different vocabularies: vocab_size %d and %d",
				inputs[0].Name, in.Name, first.VocabSize, c.VocabSize)
		}
		v, err := readVocab(in.Dir)
		if err != nil {
			return fmt.Errorf("model %s: %w", in.Name, err)
		}
		if err := sameVocab(firstVocab, v); err != nil {
			return fmt.Errorf("models %s and %s have different vocabularies: %w", inputs[0].Name, in.Name, err)
		}
	}
	return nil
}

func sameVocab(a, b *vocab) error {
	if a == nil || b == nil {
		return nil // a folder without tokenizer.json: the shapes must do
	}
	if !maps.Equal(a.Model.Vocab, b.Model.Vocab) {
		// Name the differing token of lowest id, so the message is stable.
		first, firstID := "", -1
		for tok, id := range a.Model.Vocab {
			if other, ok := b.Model.Vocab[tok]; (!ok || other != id) && (firstID < 0 || id < firstID) {
				first, firstID = tok, id
			}
		}
		if firstID < 0 {
			return fmt.Errorf("the second has %d tokens, the first %d", len(b.Model.Vocab), len(a.Model.Vocab))
		}
		other, ok := b.Model.Vocab[first]
		return fmt.Errorf("token %q is %d in the first and %s in the second", first, firstID, idOrMissing(other, ok))
	}
	added := func(v *vocab) map[int]string {
		m := map[int]string{}
		for _, t := range v.AddedTokens {
			m[t.ID] = t.Content
		}
		return m
	}
	if am, bm := added(a), added(b); !maps.Equal(am, bm) {
		return fmt.Errorf("added tokens differ (%d and %d)", len(am), len(bm))
	}
	return nil
}

func idOrMissing(id int, ok bool) string {
	if !ok {
		return "missing"
	}
	return fmt.Sprint(id)
}

// sameTensors checks that every input has the same tensor names and shapes.
func sameTensors(inputs []Model, ckpts []*safetensors.Checkpoint) error {
	names := ckpts[0].Names()
	for i, c := range ckpts[1:] {
		other := c.Names()
		for _, n := range names {
			if c.Tensor(n) == nil {
				return fmt.Errorf("tensor %s is in model %s but not in %s", n, inputs[0].Name, inputs[i+1].Name)
			}
		}
		for _, n := range other {
			if ckpts[0].Tensor(n) == nil {
				return fmt.Errorf("tensor %s is in model %s but not in %s", n, inputs[i+1].Name, inputs[0].Name)
			}
		}
		for _, n := range names {
			a, b := ckpts[0].Tensor(n).Shape, c.Tensor(n).Shape
			if !slices.Equal(a, b) {
				return fmt.Errorf("tensor %s has shape %v in model %s and %v in %s", n, a, inputs[0].Name, b, inputs[i+1].Name)
			}
		}
	}
	return nil
}

// merger merges the tensors of one set of checkpoints.
type merger struct {
	recipe   Recipe
	ckpts    []*safetensors.Checkpoint // the base first, if there is one
	withBase bool
	mu       sync.Mutex
	pool     [][]float32 // float32 buffers, reused between tensors
}

// merge writes the merge of the named tensor into dst, in type typ.
func (m *merger) merge(name string, typ quant.Type, dst []byte, done func([]byte)) error {
	ins := make([]*safetensors.Tensor, len(m.ckpts))
	for i, c := range m.ckpts {
		ins[i] = c.Tensor(name)
	}
	n := len(ins[0].Data) / ins[0].Type.TypeSize()
	size := n
	if m.recipe.Elementwise() {
		size = min(n, chunk)
	}
	pieces := (n + size - 1) / max(size, 1)
	workers := max(1, min(runtime.GOMAXPROCS(0), pieces))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			bufs := m.get(len(ins)+1, size)
			defer m.put(bufs)
			for p := w; p < pieces && errs[w] == nil; p += workers {
				lo, hi := p*size, min(n, (p+1)*size)
				errs[w] = m.piece(ins, typ, dst, lo, hi, bufs)
				done(dst[lo*typ.TypeSize() : hi*typ.TypeSize()])
			}
		})
	}
	wg.Wait()
	for i, c := range m.ckpts {
		c.Release(ins[i].Data)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tensor %s: %w", name, err)
	}
	return nil
}

// piece merges elements [lo, hi) of the inputs into dst, using bufs: one
// buffer per input and one for the result.
func (m *merger) piece(ins []*safetensors.Tensor, typ quant.Type, dst []byte, lo, hi int, bufs [][]float32) error {
	xs := make([][]float32, len(ins))
	for i, t := range ins {
		xs[i] = bufs[i][:hi-lo]
		es := t.Type.TypeSize()
		if err := quant.Dequantize(t.Type, t.Data[lo*es:hi*es], xs[i]); err != nil {
			return err
		}
	}
	out := bufs[len(ins)][:hi-lo]
	var base []float32
	if m.withBase {
		base, xs = xs[0], xs[1:]
	}
	m.recipe.Merge(out, base, xs)
	es := typ.TypeSize()
	if err := quant.Quantize(typ, out, dst[lo*es:hi*es]); err != nil {
		return err
	}
	for i, t := range ins {
		es := t.Type.TypeSize()
		m.ckpts[i].Release(t.Data[lo*es : hi*es])
	}
	return nil
}

// get returns k float32 buffers of at least n elements from the pool.
func (m *merger) get(k, n int) [][]float32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	bufs := make([][]float32, k)
	for i := range bufs {
		if len(m.pool) > 0 {
			bufs[i], m.pool = m.pool[len(m.pool)-1], m.pool[:len(m.pool)-1]
		}
		if cap(bufs[i]) < n {
			bufs[i] = make([]float32, n)
		}
		bufs[i] = bufs[i][:n]
	}
	return bufs
}

func (m *merger) put(bufs [][]float32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pool = append(m.pool, bufs...)
}

// job is one tensor of an output folder: its name, type and shape, and
// fill, which writes its bytes into dst and hands each piece of dst it
// finishes to done, which counts it and releases its memory.
type job struct {
	name  string
	typ   quant.Type
	shape []int64
	fill  func(dst []byte, done func(piece []byte)) error
}

// sideFiles are the files of a Hugging Face folder other than the weights
// that a merged model takes from its first input; config.json is required.
var sideFiles = []string{
	"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
	"vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json", "chat_template.jinja", "chat_template.json",
}

// torchDTypes are config.json's torch_dtype names of the types a merge writes.
var torchDTypes = map[quant.Type]string{quant.F32: "float32", quant.F16: "float16", quant.BF16: "bfloat16"}

// writeFolder writes jobs as the sharded safetensors of a new folder
// out.Dir, with the side files of the folder from, through a temporary
// folder renamed into place at the end; on error nothing is left behind.
func writeFolder(out Output, from string, jobs []job) (err error) {
	if err := checkOutput(out.Dir); err != nil {
		return err
	}
	if out.Cast {
		if _, ok := torchDTypes[out.Type]; !ok {
			return fmt.Errorf("cannot write type %v (supported: F32, F16, BF16)", out.Type)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(out.Dir)), "."+filepath.Base(out.Dir)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := copySideFiles(from, tmp, out); err != nil {
		return err
	}
	shards, total := planShards(jobs, out.ShardSize)
	var mu sync.Mutex
	var written int64
	count := func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		written += n
		if out.Progress != nil {
			out.Progress(written, total)
		}
	}
	weightMap := map[string]string{}
	for s, shard := range shards {
		file := fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, len(shards))
		ts := make([]safetensors.Tensor, len(shard))
		for i, j := range shard {
			ts[i] = safetensors.Tensor{Name: j.name, Type: j.typ, Shape: j.shape}
			weightMap[j.name] = file
		}
		w, err := safetensors.Create(filepath.Join(tmp, file), ts, map[string]string{"format": "pt"})
		if err != nil {
			return err
		}
		done := func(piece []byte) {
			w.Release(piece)
			count(int64(len(piece)))
		}
		for i, j := range shard {
			dst := w.Tensors[i].Data
			if err := j.fill(dst, done); err != nil {
				w.Abort()
				return err
			}
			w.Release(dst) // the pages that pieces shared at their edges
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	index, err := json.MarshalIndent(map[string]any{
		"metadata":   map[string]any{"total_size": total},
		"weight_map": weightMap,
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "model.safetensors.index.json"), append(index, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, out.Dir)
}

// planShards groups jobs, in order, into shards of at most max bytes of
// data (a tensor larger than that gets a shard of its own), and returns
// them with the total bytes.
func planShards(jobs []job, limit int64) ([][]job, int64) {
	if limit <= 0 {
		limit = DefaultShardSize
	}
	var shards [][]job
	var total, size int64
	for _, j := range jobs {
		n := int64(j.typ.TypeSize())
		for _, d := range j.shape {
			n *= d
		}
		if len(shards) == 0 || size+n > limit && size > 0 {
			shards = append(shards, nil)
			size = 0
		}
		shards[len(shards)-1] = append(shards[len(shards)-1], j)
		size += n
		total += n
	}
	if len(shards) == 0 {
		shards = append(shards, nil)
	}
	return shards, total
}

// copySideFiles copies the side files of from into dir; with out.Cast,
// config.json's torch_dtype is set to the type written.
func copySideFiles(from, dir string, out Output) error {
	for _, name := range sideFiles {
		data, err := os.ReadFile(filepath.Join(from, name))
		if errors.Is(err, os.ErrNotExist) && name != "config.json" {
			continue
		}
		if err != nil {
			return err
		}
		if name == "config.json" && out.Cast {
			var cfg map[string]any
			if err := json.Unmarshal(data, &cfg); err != nil {
				return fmt.Errorf("%s: %w", filepath.Join(from, name), err)
			}
			cfg["torch_dtype"] = torchDTypes[out.Type]
			if data, err = json.MarshalIndent(cfg, "", "  "); err != nil {
				return err
			}
			data = append(data, '\n')
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
