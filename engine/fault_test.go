package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/aha-inference/aha/kernels"
)

// faultyBackend is the CPU backend with one fault: its failAt-th operation
// fails, as a lost device or an allocation on one would, writing NaN where
// its output should be, and reports the failure through Err.
type faultyBackend struct {
	*kernels.CPU
	ops, failAt int
	err         error
}

var errInjected = errors.New("injected fault")

// fault counts an operation and says whether it is the one that fails.
func (f *faultyBackend) fault(out []float32) bool {
	f.ops++
	if f.ops != f.failAt {
		return false
	}
	for i := range out {
		out[i] = float32(math.NaN())
	}
	f.err = fmt.Errorf("operation %d: %w", f.ops, errInjected)
	return true
}

func (f *faultyBackend) MatMul(out kernels.Buffer, w *kernels.Matrix, x kernels.Buffer, n int) {
	if !f.fault(out.(kernels.HostBuffer)[:n*w.Rows]) {
		f.CPU.MatMul(out, w, x, n)
	}
}

func (f *faultyBackend) Attention(out, q kernels.Buffer, pool kernels.KVPool, layer int, seqs []kernels.SeqBlocks, pos []int, nHeads, nKVHeads, headDim int) {
	if !f.fault(out.(kernels.HostBuffer)[:len(pos)*nHeads*headDim]) {
		f.CPU.Attention(out, q, pool, layer, seqs, pos, nHeads, nKVHeads, headDim)
	}
}

func (f *faultyBackend) SiLUMul(gate, up kernels.Buffer, n int) {
	if !f.fault(gate.(kernels.HostBuffer)[:n]) {
		f.CPU.SiLUMul(gate, up, n)
	}
}

func (f *faultyBackend) Err() error {
	err := f.err
	f.err = nil
	return err
}

// TestBackendFailure fails an operation in the step where a request's two
// samples decode together: the request fails once, with the backend's
// error, its blocks are freed, and the engine goes on to serve the next
// requests as a healthy one does.
func TestBackendFailure(t *testing.T) {
	req := Request{Prompt: []int{1, 403, 407, 261}, N: 2, Sampling: SamplingParams{Temperature: 1, TopP: 1, Seed: 7}, MaxTokens: 12, IgnoreEOS: true}
	want := generate(t, newEngine(t, 2, Options{}), req)

	cpu := kernels.NewCPU(2)
	defer cpu.Close()
	f := &faultyBackend{CPU: cpu}
	e := newEngineOn(t, f, Options{})
	// Count the prompt step's operations, then fail the third of the next
	// step, the samples' first decode.
	first := req
	first.MaxTokens = 1
	generate(t, e, first)
	e.ResetPrefixCache()
	f.failAt = 2*f.ops + 3
	if _, err := e.Generate(context.Background(), req, nil); !errors.Is(err, errInjected) || !strings.Contains(err.Error(), fmt.Sprintf("operation %d", f.failAt)) {
		t.Errorf("error %v does not carry the backend's", err)
	}
	checkBlocksFree(t, e)
	for i := range 2 {
		if got := generate(t, e, req); !reflect.DeepEqual(samplesTokens(got), samplesTokens(want)) {
			t.Errorf("request %d after the failure: %v, want %v", i, samplesTokens(got), samplesTokens(want))
		}
	}
	checkBlocksFree(t, e)
}

func samplesTokens(o *Output) [][]int {
	var ts [][]int
	for _, s := range o.Samples {
		ts = append(ts, s.Tokens)
	}
	return ts
}
