package merge

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
	"github.com/aha-inference/aha/safetensors"
)

// loraModules are the linear layers of the llama family a LoRA adapter may
// target ("all-linear" in PEFT's terms, the output head excluded).
var loraModules = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

// adapterConfig is PEFT's adapter_config.json, the fields that change what
// merging means. Anything that makes an adapter more than W + s·B·A on
// those modules is refused rather than ignored.
type adapterConfig struct {
	PEFTType          string          `json:"peft_type"`
	R                 int             `json:"r"`
	Alpha             float64         `json:"lora_alpha"`
	TargetModules     json.RawMessage `json:"target_modules"`
	UseRSLoRA         bool            `json:"use_rslora"`
	UseDoRA           bool            `json:"use_dora"`
	FanInFanOut       bool            `json:"fan_in_fan_out"`
	Bias              string          `json:"bias"`
	LoRABias          bool            `json:"lora_bias"`
	ModulesToSave     []string        `json:"modules_to_save"`
	RankPattern       map[string]any  `json:"rank_pattern"`
	AlphaPattern      map[string]any  `json:"alpha_pattern"`
	LayersToTransform json.RawMessage `json:"layers_to_transform"`
}

// scale is the factor of B·A: alpha/r, or alpha/√r with rsLoRA.
func (c *adapterConfig) scale() float64 {
	if c.UseRSLoRA {
		return c.Alpha / math.Sqrt(float64(c.R))
	}
	return c.Alpha / float64(c.R)
}

// readAdapterConfig reads and checks adapter_config.json, returning the
// modules it targets.
func readAdapterConfig(dir string) (*adapterConfig, []string, error) {
	path := filepath.Join(dir, "adapter_config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("adapter: %w", err)
	}
	var c adapterConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, nil, fmt.Errorf("adapter %s: %w", path, err)
	}
	unsupported := func(what string) error {
		return fmt.Errorf("adapter %s: %s is not supported (aha merges plain LoRA: W + s·B·A)", path, what)
	}
	switch {
	case c.PEFTType != "" && c.PEFTType != "LORA":
		return nil, nil, unsupported("peft_type " + c.PEFTType)
	case c.UseDoRA:
		return nil, nil, unsupported("DoRA (use_dora)")
	case c.FanInFanOut:
		return nil, nil, unsupported("fan_in_fan_out (Conv1D layers)")
	case c.Bias != "" && c.Bias != "none", c.LoRABias:
		return nil, nil, unsupported("a trained bias")
	case len(c.ModulesToSave) > 0:
		return nil, nil, unsupported(fmt.Sprintf("modules_to_save %v", c.ModulesToSave))
	case len(c.RankPattern) > 0 || len(c.AlphaPattern) > 0:
		return nil, nil, unsupported("a per-module rank_pattern or alpha_pattern")
	case len(c.LayersToTransform) > 0 && string(c.LayersToTransform) != "null":
		return nil, nil, unsupported("layers_to_transform")
	case c.R <= 0:
		return nil, nil, fmt.Errorf("adapter %s: r is %d, want a positive rank", path, c.R)
	}
	var targets []string
	var all string
	if err := json.Unmarshal(c.TargetModules, &targets); err != nil {
		if json.Unmarshal(c.TargetModules, &all) != nil || all != "all-linear" {
			return nil, nil, fmt.Errorf("adapter %s: target_modules %s: want a list of module names or \"all-linear\"", path, c.TargetModules)
		}
		targets = loraModules
	}
	for _, m := range targets {
		if !slices.Contains(loraModules, m) {
			return nil, nil, fmt.Errorf("adapter %s: target module %q is not one aha has (it has %s)", path, m, strings.Join(loraModules, ", "))
		}
	}
	return &c, targets, nil
}

// loraPair is the two factors of one adapted matrix: A is [r, in], B is
// [out, r].
type loraPair struct {
	a, b *safetensors.Tensor
}

// adapter is a PEFT LoRA adapter checked against a base model: the factors
// of each weight it changes, by the weight's name, and their scale.
type adapter struct {
	file  *safetensors.File
	pairs map[string]*loraPair
	scale float64
}

// openAdapter reads the adapter in the folder dir (adapter_config.json and
// adapter_model.safetensors, mapped) and checks it against a base model
// whose weights' shapes shape gives by name (nil for a weight the base
// does not have). The caller closes the adapter's file.
func openAdapter(dir string, shape func(name string) []int64) (*adapter, error) {
	c, targets, err := readAdapterConfig(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "adapter_model.safetensors")
	if _, err := os.Stat(path); err != nil {
		if _, binErr := os.Stat(filepath.Join(dir, "adapter_model.bin")); binErr == nil {
			return nil, fmt.Errorf("adapter %s has adapter_model.bin (a pickle); aha reads adapter_model.safetensors only", dir)
		}
		return nil, fmt.Errorf("adapter: %w", err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	pairs, err := adapterPairs(f, shape, c, targets)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &adapter{file: f, pairs: pairs, scale: c.scale()}, nil
}

// adapterPairs matches the tensors of adapter_model.safetensors to the
// base weights they change, checking every name and shape.
func adapterPairs(adapter *safetensors.File, shape func(name string) []int64, c *adapterConfig, targets []string) (map[string]*loraPair, error) {
	pairs := map[string]*loraPair{}
	var order []string // the weights in the file's order, so the first error named is always the same
	for _, t := range adapter.Tensors {
		module, factor, ok := strings.Cut(strings.TrimPrefix(t.Name, "base_model.model."), ".lora_")
		if !ok || (factor != "A.weight" && factor != "B.weight") {
			return nil, fmt.Errorf("adapter tensor %s is not a LoRA factor (lora_A.weight or lora_B.weight) of a linear layer; aha cannot merge it", t.Name)
		}
		kind := module[strings.LastIndex(module, ".")+1:]
		if !slices.Contains(targets, kind) {
			return nil, fmt.Errorf("adapter tensor %s adapts %s, which is not among the target modules %v", t.Name, kind, targets)
		}
		weight := module + ".weight"
		if shape(weight) == nil {
			return nil, fmt.Errorf("adapter tensor %s adapts %s, which the base model does not have", t.Name, weight)
		}
		p := pairs[weight]
		if p == nil {
			p = &loraPair{}
			pairs[weight] = p
			order = append(order, weight)
		}
		if factor == "A.weight" {
			p.a = t
		} else {
			p.b = t
		}
	}
	for _, weight := range order {
		p, ws := pairs[weight], shape(weight)
		if p.a == nil || p.b == nil {
			return nil, fmt.Errorf("adapter has only one of lora_A and lora_B for %s", weight)
		}
		if len(ws) != 2 {
			return nil, fmt.Errorf("adapter adapts %s, which has shape %v, not a matrix", weight, ws)
		}
		out, in, r := ws[0], ws[1], int64(c.R)
		if !slices.Equal(p.a.Shape, []int64{r, in}) || !slices.Equal(p.b.Shape, []int64{out, r}) {
			return nil, fmt.Errorf("adapter for %s %v: lora_A is %v and lora_B is %v, want [%d %d] and [%d %d] at r=%d",
				weight, ws, p.a.Shape, p.b.Shape, r, in, out, r, r)
		}
	}
	if len(pairs) == 0 {
		return nil, errors.New("adapter has no LoRA tensors")
	}
	return pairs, nil
}

// LoRA merges the PEFT LoRA adapter in the folder adapter (adapter_config.json
// and adapter_model.safetensors) into the model in the folder base and
// writes the result to out: each adapted weight becomes W + s·B·A, with
// s = lora_alpha/r, or lora_alpha/√r with use_rslora. B·A and the sum are
// computed in float64 and rounded once to the output type. Adapters with
// features beyond that (DoRA, trained biases, saved modules, per-module
// ranks) or modules aha does not have are refused.
func LoRA(adapter, base string, out Output) error {
	ckpt, err := safetensors.OpenDir(base)
	if err != nil {
		return fmt.Errorf("base: %w", err)
	}
	defer ckpt.Close()
	a, err := openAdapter(adapter, func(name string) []int64 {
		if t := ckpt.Tensor(name); t != nil {
			return t.Shape
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer a.file.Close()
	var jobs []job
	for _, name := range ckpt.Names() {
		w := ckpt.Tensor(name)
		typ := w.Type
		if out.Cast {
			typ = out.Type
		}
		fill := func(dst []byte, done func([]byte)) error { return convert(ckpt, w, typ, dst, done) }
		if a.pairs[name] != nil {
			fill = func(dst []byte, done func([]byte)) error {
				wm, err := kernels.NewMatrix(w.Type, int(w.Shape[0]), int(w.Shape[1]), w.Data)
				if err != nil {
					return fmt.Errorf("tensor %s: %w", name, err)
				}
				dm, err := kernels.NewMatrix(typ, wm.Rows, wm.Cols, dst)
				if err != nil {
					return fmt.Errorf("tensor %s: %w", name, err)
				}
				err = a.fold(name, &wm, &dm, done)
				ckpt.Release(w.Data)
				return err
			}
		}
		jobs = append(jobs, job{name: name, typ: typ, shape: w.Shape, fill: fill})
	}
	return writeFolder(out, base, jobs)
}

// convert writes t into dst as typ, a chunk at a time.
func convert(c *safetensors.Checkpoint, t *safetensors.Tensor, typ quant.Type, dst []byte, done func([]byte)) error {
	n := len(t.Data) / t.Type.TypeSize()
	buf := make([]float32, min(n, chunk))
	for lo := 0; lo < n; lo += chunk {
		hi := min(n, lo+chunk)
		src, out := t.Data[lo*t.Type.TypeSize():hi*t.Type.TypeSize()], dst[lo*typ.TypeSize():hi*typ.TypeSize()]
		if typ == t.Type {
			copy(out, src)
		} else if err := quant.Dequantize(t.Type, src, buf[:hi-lo]); err != nil {
			return fmt.Errorf("tensor %s: %w", t.Name, err)
		} else if err := quant.Quantize(typ, buf[:hi-lo], out); err != nil {
			return fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		c.Release(src)
		done(out)
	}
	return nil
}

// fold writes the base weight name, w, plus the adapter's s·B·A into dst
// (w's shape, in dst's type), rows in parallel, calling done with each
// row of dst as it is finished. B·A and the sum are float64, rounded once.
// LoRA and Adapt both fold through here, so that a model adapted at load
// holds exactly the weights of the folder LoRA writes.
func (a *adapter) fold(name string, w, dst *kernels.Matrix, done func([]byte)) error {
	p := a.pairs[name]
	rows, cols, r := w.Rows, w.Cols, int(p.a.Shape[0])
	a32 := make([]float32, r*cols)
	b32 := make([]float32, rows*r)
	if err := quant.Dequantize(p.a.Type, p.a.Data, a32); err != nil {
		return fmt.Errorf("%s: %w", p.a.Name, err)
	}
	if err := quant.Dequantize(p.b.Type, p.b.Data, b32); err != nil {
		return fmt.Errorf("%s: %w", p.b.Name, err)
	}
	af := make([]float64, len(a32))
	for i, v := range a32 {
		af[i] = float64(v)
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), rows))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Go(func() {
			in := make([]float32, cols)
			acc := make([]float64, cols)
			for row := k; row < rows && errs[k] == nil; row += workers {
				if err := quant.Dequantize(w.Type, w.Row(row), in); err != nil {
					errs[k] = err
					return
				}
				// acc = (B·A)[row] = Σ_j B[row,j]·A[j]
				clear(acc)
				for j, bj := range b32[row*r : (row+1)*r] {
					bv := float64(bj)
					for i, av := range af[j*cols : (j+1)*cols] {
						acc[i] += bv * av
					}
				}
				for i := range in {
					in[i] = float32(float64(in[i]) + a.scale*acc[i])
				}
				piece := dst.Row(row)
				if err := quant.Quantize(dst.Type, in, piece); err != nil {
					errs[k] = err
					return
				}
				done(piece)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tensor %s: %w", name, err)
	}
	return nil
}

// Adapt returns base with the PEFT LoRA adapter in the folder dir folded
// in, checked and computed exactly as LoRA does, each adapted matrix in its
// type in base: the model runs as the folder LoRA writes would, without a
// file written. The adapted matrices are new, in memory; every other is
// base's, still mapped (see model.Model.With): base must stay open while
// the result is used, and closing the result leaves base open.
func Adapt(base *model.Model, dir string) (*model.Model, error) {
	ms := base.Matrices()
	a, err := openAdapter(dir, func(name string) []int64 {
		if w := ms[name]; w != nil {
			return []int64{int64(w.Rows), int64(w.Cols)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer a.file.Close()
	changed := map[string]kernels.Matrix{}
	for name := range a.pairs {
		w := ms[name]
		dst, err := kernels.NewMatrix(w.Type, w.Rows, w.Cols, make([]byte, len(w.Data)))
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", name, err)
		}
		if err := a.fold(name, w, &dst, func([]byte) {}); err != nil {
			return nil, err
		}
		changed[name] = dst
	}
	m, err := base.With(changed)
	if err != nil {
		return nil, err
	}
	m.Adapter = dir
	return m, nil
}
