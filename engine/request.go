package engine

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Request is one prompt to sample N times (or, with Score, to score).
type Request struct {
	Prompt []int
	// N is the number of samples (0 means 1). They share the prompt's KV
	// cache: it is computed once and forked.
	N int
	// Sampling applies to every sample; sample i draws with seed
	// Sampling.Seed + i (the vLLM convention).
	Sampling SamplingParams

	MaxTokens   int      // ≤ 0: until the context is full
	MinTokens   int      // EOS, stop ids and stop strings are ignored before this many tokens
	Stop        []string // stop strings; the text ends before them unless IncludeStop
	IncludeStop bool
	StopIDs     []int // stop tokens besides the model's EOS ids
	IgnoreEOS   bool  // keep going past the model's EOS ids (not past StopIDs)

	// Logprobs records each sampled token's log-probability; TopLogprobs
	// adds that many most likely alternatives per position (all of them
	// when the vocabulary is smaller; in processed mode, tokens truncation
	// removed fill the list at −∞). LogprobMode says under which
	// distribution (default LogprobsProcessed).
	Logprobs    bool
	TopLogprobs int
	LogprobMode LogprobMode
	// PromptLogprobs records the log-probability of every prompt token
	// after the first (with PromptTopLogprobs alternatives). Such a request
	// computes its whole prompt: it does not use the prefix cache.
	PromptLogprobs    bool
	PromptTopLogprobs int
}

// LogprobMode names the distribution a reported logprob comes from.
type LogprobMode string

const (
	// LogprobsProcessed is the distribution actually sampled from: logits
	// after logit bias, min_tokens, repetition/presence/frequency
	// penalties and temperature (1 when sampling greedily), with tokens
	// removed by top-k, top-p and min-p at −∞ and the rest renormalized.
	// This is vLLM's processed_logprobs, and the default.
	LogprobsProcessed LogprobMode = "processed"
	// LogprobsRaw is the log-softmax of the model's logits over the whole
	// vocabulary, nothing applied.
	LogprobsRaw LogprobMode = "raw"
	// LogprobsScaled is the log-softmax of logits / temperature over the
	// whole vocabulary (a greedy temperature counts as 1), no penalties and no
	// truncation: what TRL and verl recompute in the trainer.
	LogprobsScaled LogprobMode = "scaled"
)

// ParseLogprobMode accepts "", "processed", "raw" and "scaled".
func ParseLogprobMode(s string) (LogprobMode, error) {
	switch m := LogprobMode(s); m {
	case "":
		return LogprobsProcessed, nil
	case LogprobsProcessed, LogprobsRaw, LogprobsScaled:
		return m, nil
	}
	return "", fmt.Errorf("logprob mode %q: want processed, raw or scaled", s)
}

// Finish reasons.
const (
	FinishStop   = "stop"   // an EOS token, a stop id or a stop string
	FinishLength = "length" // max tokens or the context
	FinishAbort  = "abort"  // cancelled: the sample holds what was generated until then
)

// TokenLogprob is a token and its log-probability. A token the processed
// distribution excludes has logprob −∞ (float32(math.Inf(-1))); JSON
// writers must map it to a finite stand-in (aha writes -9999).
type TokenLogprob struct {
	ID      int     `json:"id"`
	Logprob float32 `json:"logprob"`
}

// LogprobFloor is the finite value JSON writers put for a logprob of −∞
// (JSON has no infinities).
const LogprobFloor = -9999

// Finite returns lp, or LogprobFloor when lp is −∞.
func Finite(lp float32) float32 {
	if lp < LogprobFloor {
		return LogprobFloor
	}
	return lp
}

// Event is one step of one sample, delivered in order to Generate's emit.
type Event struct {
	Sample  int            // index within the request
	ID      int            // the token just generated; −1 on an abort's final event, which carries none
	Text    string         // text it released (stop strings and held-back bytes excluded)
	Logprob float32        // when Request.Logprobs
	Top     []TokenLogprob // when Request.TopLogprobs > 0
	Finish  string         // set on the sample's last event
}

// Sample is one finished sample.
type Sample struct {
	Index        int
	Seed         uint64
	Tokens       []int
	Text         string
	Logprobs     []float32        // when Request.Logprobs
	TopLogprobs  [][]TokenLogprob // when Request.TopLogprobs > 0
	FinishReason string
}

// Output is a finished request.
type Output struct {
	Samples      []Sample
	PromptTokens int
	CachedTokens int // prompt positions taken from the prefix cache
	// PromptLogprobs[i] is the logprob of prompt token i given the ones
	// before it; entry 0 has none and is 0 (when Request.PromptLogprobs).
	PromptLogprobs    []float32
	PromptTopLogprobs [][]TokenLogprob

	Queued     time.Duration // submission to first forward step
	FirstToken time.Duration // submission to the first sampled token
	Total      time.Duration // submission to the end
}

// Scores are the logprobs of a given completion (Engine.Score).
type Scores struct {
	Logprobs    []float32 // one per completion token
	TopLogprobs [][]TokenLogprob
}

// ErrClosed is returned for requests made to a closed engine.
var ErrClosed = errors.New("engine is closed")

// ErrInvalid marks the errors of requests the engine refuses as given
// (errors.Is(err, ErrInvalid)): the caller's mistake, not the engine's.
// Their messages are the reason alone.
var ErrInvalid = errors.New("invalid request")

type invalidError struct{ err error }

func (e invalidError) Error() string        { return e.err.Error() }
func (e invalidError) Unwrap() error        { return e.err }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

// ErrAborted is Score's error when AbortAll or a weight swap ends the
// request before it is scored (Generate returns such requests' partial
// samples, which end with FinishAbort).
var ErrAborted = errors.New("engine: the request was aborted")

// validate checks a request against the model's vocabulary and context.
func (r *Request) validate(vocab, context int) error {
	if len(r.Prompt) == 0 {
		return errors.New("the prompt is empty")
	}
	if len(r.Prompt) >= context {
		return fmt.Errorf("the prompt has %d tokens; the context holds %d, so at most %d fit with one generated token", len(r.Prompt), context, context-1)
	}
	for i, id := range r.Prompt {
		if id < 0 || id >= vocab {
			return fmt.Errorf("prompt token %d (position %d) is outside the vocabulary (0…%d)", id, i, vocab-1)
		}
	}
	for _, id := range r.StopIDs {
		if id < 0 || id >= vocab {
			return fmt.Errorf("stop token id %d is outside the vocabulary (0…%d)", id, vocab-1)
		}
	}
	if r.N < 0 {
		return fmt.Errorf("n = %d must be ≥ 1", r.N)
	}
	if r.MinTokens < 0 {
		return fmt.Errorf("min_tokens = %d must be ≥ 0", r.MinTokens)
	}
	if r.MaxTokens > 0 && r.MinTokens > r.MaxTokens {
		return fmt.Errorf("min_tokens = %d exceeds max_tokens = %d", r.MinTokens, r.MaxTokens)
	}
	if r.TopLogprobs < 0 || r.PromptTopLogprobs < 0 {
		return errors.New("the number of top logprobs must be ≥ 0")
	}
	if _, err := ParseLogprobMode(string(r.LogprobMode)); err != nil {
		return err
	}
	return r.Sampling.Validate(vocab)
}

// check refuses a request the engine cannot run as given.
func (e *Engine) check(req *Request, completion []int) error {
	vocab := e.m.Config.VocabSize
	if err := req.validate(vocab, e.context); err != nil {
		return err
	}
	if err := checkDrawable(req, e.stopIDsFor(*req)); err != nil {
		return err
	}
	if req.N > e.opts.MaxSeqs {
		return fmt.Errorf("n = %d exceeds the engine's %d sequences", req.N, e.opts.MaxSeqs)
	}
	for _, id := range completion {
		if id < 0 || id >= vocab {
			return fmt.Errorf("completion token %d is outside the vocabulary (0…%d)", id, vocab-1)
		}
	}
	if n := len(req.Prompt) + len(completion); completion != nil && n > e.context {
		return fmt.Errorf("prompt and completion hold %d tokens; the context holds %d", n, e.context)
	}
	return nil
}

// checkDrawable refuses a request whose masks leave no token to draw at
// the first step: allowed tokens that are all one-token bad words, or all
// stop tokens held back by min_tokens. Sampling would otherwise read a
// distribution of −∞ everywhere and return garbage.
func checkDrawable(req *Request, stop []int) error {
	p := &req.Sampling
	if len(p.AllowedIDs) == 0 {
		return nil
	}
	for _, id := range p.AllowedIDs {
		banned := req.MinTokens > 0 && slices.Contains(stop, id) ||
			slices.ContainsFunc(p.BadWords, func(w []int) bool { return len(w) == 1 && w[0] == id })
		if !banned {
			return nil
		}
	}
	return paramError("allowed_token_ids", "allowed_token_ids leaves no token to draw: each is a one-token bad word, or a stop token that min_tokens holds back")
}
