// Package bench measures aha's speed the way users compare engines: prompt
// processing (prefill) and generation (decode) throughput at several batch
// sizes, rollout throughput through the engine, and the latency figures of
// an OpenAI-compatible server under load (time to first token, time per
// output token, inter-token latency, end-to-end latency).
//
// Every figure is measured after a warm-up over several repetitions and
// reported as the median with its min–max spread. Side by side with a peer
// (llama.cpp's llama-bench and llama-batched-bench, or another server),
// aha's and the peer's repetitions alternate, so drift on a shared machine
// falls on both, and each figure carries the ratio aha/peer.
//
// `aha bench` (cmd/aha/bench.go) is the command line around this package.
package bench

import (
	"context"
	"fmt"
	"time"
)

// Report is the one JSON document `aha bench --json` prints. Its field
// names are stable: scripts may rely on them. Throughput modes (default,
// prefill, decode, rollout) fill Rows; serve mode fills Serve.
type Report struct {
	Version     string    `json:"aha_version"`
	Mode        string    `json:"mode"`    // "default", "prefill", "decode", "rollout" or "serve"
	Command     string    `json:"command"` // the command line that made the report
	Started     time.Time `json:"started"`
	Model       string    `json:"model,omitempty"`     // the model file or folder (for --synth, the temporary GGUF)
	Synthetic   string    `json:"synthetic,omitempty"` // "SHAPE TYPE" when the model is synthetic
	Backend     string    `json:"backend,omitempty"`   // aha's compute backend, e.g. "cpu-avx2"
	KVType      string    `json:"kv_type,omitempty"`   // the element type of aha's KV cache: F32, F16 or BF16
	Threads     int       `json:"threads,omitempty"`
	ThreadsWhy  string    `json:"threads_why,omitempty"` // how Threads was chosen ("as asked", or why the default is what it is)
	Repetitions int       `json:"repetitions,omitempty"`

	Peer  *Peer      `json:"peer,omitempty"`
	Rows  []Row      `json:"rows,omitempty"`
	Serve []ServeRun `json:"serve,omitempty"`

	// PeakRSSBytes is aha's peak resident memory (VmHWM; model pages
	// mapped from the file count once touched); 0 where unknown.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
}

// Peer describes the engine aha was compared with.
type Peer struct {
	Name  string `json:"name"`           // "llama.cpp", or "vs-url" in serve mode
	Path  string `json:"path,omitempty"` // the folder of its binaries, or its URL
	Found bool   `json:"found"`
	// Note says why the peer was not run, or stopped being run.
	Note string `json:"note,omitempty"`
	// Commands are the peer commands run, once each, to reproduce them.
	Commands []string `json:"commands,omitempty"`
	// PeakRSSBytes is the largest peak resident memory of its processes.
	PeakRSSBytes int64 `json:"peak_rss_bytes,omitempty"`
}

// Row is one throughput figure: tokens per second over the repetitions.
type Row struct {
	// Figure is "prefill" (prompt tokens/s), "decode" (generated tokens/s,
	// all sequences together), "rollout" (generated tokens/s of P prompts ×
	// n samples through the engine) or "rollout_single" (the same work as
	// n·P requests of one sample each, one at a time).
	Figure       string `json:"figure"`
	PromptTokens int    `json:"prompt_tokens"` // prompt length (prefill, rollout)
	GenTokens    int    `json:"gen_tokens"`    // tokens generated per sequence (decode, rollout)
	Depth        int    `json:"depth"`         // positions already in each sequence's cache when decoding starts
	Batch        int    `json:"batch"`         // sequences running together (rollout: P·n)

	TokensPerSec Stats `json:"tokens_per_s"`
	// Vs names what the row is compared with: "llama.cpp", or "single" for
	// the rollout row (rollout_single's figure). Empty when nothing.
	Vs           string `json:"vs,omitempty"`
	VsTokensPerS *Stats `json:"vs_tokens_per_s,omitempty"`
	// Ratio is TokensPerSec.Median / VsTokensPerS.Median.
	Ratio float64 `json:"ratio,omitempty"`
}

// ServeRun is the figures of one load level against one server.
type ServeRun struct {
	Server      string  `json:"server"` // "url" or "vs-url": the flag naming it
	URL         string  `json:"url"`
	Rate        float64 `json:"rate,omitempty"`        // offered requests/s (Poisson arrivals); 0: closed loop
	Concurrency int     `json:"concurrency,omitempty"` // requests in flight (closed loop)

	Requests     int     `json:"requests"` // sent
	Failed       int     `json:"failed"`
	DurationS    float64 `json:"duration_s"`    // first request sent to last one finished
	InputTokens  int     `json:"input_tokens"`  // as the server reported them (usage), 0 if it did not
	OutputTokens int     `json:"output_tokens"` // usage, else one per token event

	RequestsPerSec     float64 `json:"requests_per_s"`      // completed requests / duration
	OutputTokensPerSec float64 `json:"output_tokens_per_s"` // output tokens / duration

	TTFT Latency `json:"ttft"`        // request sent to the first token event
	TPOT Latency `json:"tpot"`        // (latency − TTFT) / (output tokens − 1), per request
	ITL  Latency `json:"itl"`         // gaps between successive token events, all requests pooled
	E2E  Latency `json:"e2e_latency"` // request sent to the end of its stream

	Errors []string `json:"errors,omitempty"` // the first distinct failures
}

// Spec is one throughput figure to measure on the model.
type Spec struct {
	Figure string // "prefill" or "decode"
	Prompt int    // prefill: prompt tokens
	Gen    int    // decode: tokens generated per sequence
	Depth  int    // decode: positions in each sequence's cache before decoding
	Batch  int    // decode: sequences decoding together
}

func (s Spec) String() string {
	if s.Figure == "prefill" {
		return fmt.Sprintf("prefill %d", s.Prompt)
	}
	return fmt.Sprintf("decode %d @%d ×%d", s.Gen, s.Depth, s.Batch)
}

// PeerRunner is a peer engine's benchmark: Measure runs one repetition of
// every spec and returns tokens/s in the same order (LlamaCpp is one).
type PeerRunner interface {
	Measure(ctx context.Context, specs []Spec) ([]float64, error)
}

// Throughput measures specs on r over reps repetitions, alternating with
// peer when it is not nil: repetition i runs aha first when i is even and
// the peer first when it is odd, so slow drift of a shared machine weighs
// on both alike. A peer that fails is dropped with a note in the returned
// peerNote; aha's figures go on. progress, if not nil, is told of each
// finished measurement (len(specs) per side per repetition).
func Throughput(ctx context.Context, r *ModelRunner, specs []Spec, reps int, peer PeerRunner, peerName string, progress func(int64)) (rows []Row, peerNote string, err error) {
	if err := r.WarmUp(specs); err != nil {
		return nil, "", err
	}
	aha := make([][]float64, len(specs))
	vs := make([][]float64, len(specs))
	runAha := func() error {
		for i, s := range specs {
			if err := ctx.Err(); err != nil {
				return err
			}
			tps, err := r.Measure(s)
			if err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
			aha[i] = append(aha[i], tps)
			tick(progress)
		}
		return nil
	}
	runPeer := func() {
		if peer == nil {
			return
		}
		tps, err := peer.Measure(ctx, specs)
		if err != nil {
			peerNote = fmt.Sprintf("%s stopped after %d repetitions: %v", peerName, len(vs[0]), err)
			peer = nil
			return
		}
		for i := range specs {
			vs[i] = append(vs[i], tps[i])
			tick(progress)
		}
	}
	for rep := range reps {
		if rep%2 == 1 {
			runPeer()
		}
		if err := runAha(); err != nil {
			return nil, peerNote, err
		}
		if rep%2 == 0 {
			runPeer()
		}
	}
	for i, s := range specs {
		row := Row{Figure: s.Figure, PromptTokens: s.Prompt, GenTokens: s.Gen, Depth: s.Depth, Batch: s.Batch, TokensPerSec: Summarize(aha[i])}
		if s.Figure == "prefill" {
			row.Batch = 1
		}
		if len(vs[i]) > 0 {
			row.compare(peerName, Summarize(vs[i]))
		}
		rows = append(rows, row)
	}
	return rows, peerNote, nil
}

// compare sets the row's comparison with vs.
func (r *Row) compare(name string, vs Stats) {
	r.Vs, r.VsTokensPerS = name, &vs
	if vs.Median > 0 {
		r.Ratio = r.TokensPerSec.Median / vs.Median
	}
}

func tick(progress func(int64)) {
	if progress != nil {
		progress(1)
	}
}
