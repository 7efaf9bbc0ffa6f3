package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model"
)

// Request is one generation from one prompt.
type Request struct {
	Prompt    []int
	Sampling  SamplingParams
	MaxTokens int      // ≤ 0: until the context is full
	Stop      []string // stop strings; the text stops before them
	StopIDs   []int    // stop tokens besides the model's EOS ids
	IgnoreEOS bool
	Logprobs  int // how many top alternatives to report per token (0 = none)
}

// Decoder turns generated ids into text incrementally without splitting a
// UTF-8 character (the tokenizer's streaming decoder).
type Decoder interface {
	Add(id int) string
	Flush() string
}

// Token is one generated token as it is produced.
type Token struct {
	ID      int
	Text    string  // text this token released (may be empty while bytes are held back)
	Logprob float32 // log-probability of ID under the model's raw distribution
	Top     []TokenLogprob
}

// TokenLogprob is an alternative token and its log-probability.
type TokenLogprob struct {
	ID      int     `json:"id"`
	Logprob float32 `json:"logprob"`
}

// Finish reasons.
const (
	FinishStop   = "stop"   // an EOS token or a stop string
	FinishLength = "length" // max tokens or the context
	FinishAbort  = "abort"  // the context was cancelled
)

// Result is a finished generation.
type Result struct {
	Tokens       []int
	Logprobs     []float32
	Text         string
	FinishReason string
	PromptTokens int
	PrefillTime  time.Duration
	DecodeTime   time.Duration
}

// Generate runs one request on a fresh sequence. emit, if not nil, is
// called with every token as it is produced (its Text is what the caller
// should print: stop strings are never emitted). A cancelled ctx ends the
// generation with FinishAbort and the partial result.
func Generate(ctx context.Context, m *model.Model, dec Decoder, req Request, emit func(Token) error) (*Result, error) {
	if len(req.Prompt) == 0 {
		return nil, errors.New("generate: the prompt is empty")
	}
	sampler, err := NewSampler(req.Sampling)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	ctxLen := m.Config.MaxPositions
	if len(req.Prompt) >= ctxLen {
		return nil, fmt.Errorf("generate: the prompt has %d tokens, the model's context is %d", len(req.Prompt), ctxLen)
	}
	maxTokens := ctxLen - len(req.Prompt)
	if req.MaxTokens > 0 && req.MaxTokens < maxTokens {
		maxTokens = req.MaxTokens
	}
	stopIDs := map[int]bool{}
	for _, id := range req.StopIDs {
		stopIDs[id] = true
	}
	if !req.IgnoreEOS {
		for _, id := range m.Config.EOS {
			stopIDs[id] = true
		}
	}

	res := &Result{PromptTokens: len(req.Prompt)}
	state := m.NewState(len(req.Prompt) + maxTokens)
	start := time.Now()
	logits, err := m.Forward(state, req.Prompt, false)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	res.PrefillTime = time.Since(start)
	start = time.Now()
	defer func() { res.DecodeTime = time.Since(start) }()

	stop := newStopMatcher(req.Stop)
	lp := make([]float32, len(logits))
	for {
		id := sampler.Sample(logits)
		kernels.LogSoftmax(lp, logits)
		tok := Token{ID: id, Logprob: lp[id], Top: topLogprobs(lp, req.Logprobs)}
		res.Tokens = append(res.Tokens, id)
		res.Logprobs = append(res.Logprobs, tok.Logprob)

		var stringHit bool
		switch {
		case stopIDs[id]:
			res.FinishReason = FinishStop
		default:
			if tok.Text, stringHit = stop.add(dec.Add(id)); stringHit {
				res.FinishReason = FinishStop
			} else if len(res.Tokens) >= maxTokens {
				res.FinishReason = FinishLength
			} else if ctx.Err() != nil {
				res.FinishReason = FinishAbort
			}
		}
		if res.FinishReason != "" && !stringHit {
			// Release what the decoder and the stop matcher held back.
			tail, _ := stop.add(dec.Flush())
			tok.Text += tail + stop.flush()
		}
		if emit != nil {
			if err := emit(tok); err != nil {
				return res, err
			}
		}
		if res.FinishReason != "" {
			break
		}
		if logits, err = m.Forward(state, []int{id}, false); err != nil {
			return res, fmt.Errorf("generate: %w", err)
		}
	}
	res.Text = stop.text.String()
	return res, nil
}

// topLogprobs returns the n most likely tokens, best first (ties by id).
func topLogprobs(lp []float32, n int) []TokenLogprob {
	if n <= 0 {
		return nil
	}
	top := make([]TokenLogprob, 0, n+1)
	for id, v := range lp {
		if len(top) == n && v <= top[n-1].Logprob {
			continue
		}
		i := sort.Search(len(top), func(i int) bool { return top[i].Logprob < v })
		top = append(top, TokenLogprob{})
		copy(top[i+1:], top[i:])
		top[i] = TokenLogprob{id, v}
		if len(top) > n {
			top = top[:n]
		}
	}
	return top
}

// stopMatcher holds back text that might begin a stop string, releases
// the rest, and reports when a stop string is complete. The generated text
// (without the stop string) accumulates in text.
type stopMatcher struct {
	stops   []string
	pending string
	text    strings.Builder
}

func newStopMatcher(stops []string) *stopMatcher {
	var s []string
	for _, stop := range stops {
		if stop != "" {
			s = append(s, stop)
		}
	}
	return &stopMatcher{stops: s}
}

// add appends piece and returns the text that can be released, and whether
// a stop string was found (then the text before it is released and the
// rest dropped).
func (m *stopMatcher) add(piece string) (string, bool) {
	m.pending += piece
	cut, hit := len(m.pending), false
	for _, s := range m.stops {
		if i := strings.Index(m.pending, s); i >= 0 && i < cut {
			cut, hit = i, true
		}
	}
	if hit {
		out := m.pending[:cut]
		m.pending = ""
		m.text.WriteString(out)
		return out, true
	}
	// Keep the longest suffix that is a proper prefix of some stop string.
	keep := 0
	for _, s := range m.stops {
		for k := min(len(s)-1, len(m.pending)); k > keep; k-- {
			if strings.HasSuffix(m.pending, s[:k]) {
				keep = k
				break
			}
		}
	}
	out := m.pending[:len(m.pending)-keep]
	m.pending = m.pending[len(m.pending)-keep:]
	m.text.WriteString(out)
	return out, false
}

// flush releases whatever is held back.
func (m *stopMatcher) flush() string {
	out := m.pending
	m.pending = ""
	m.text.WriteString(out)
	return out
}
