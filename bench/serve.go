package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Load is the work driven at an OpenAI-compatible server: Requests
// completions, streamed, each asking for exactly MaxTokens tokens
// (ignore_eos), their prompts taken in turn from Prompts. Requests arrive
// at Rate per second with exponentially distributed gaps (a Poisson
// process, drawn from Seed), or, when Rate is 0, Concurrency at a time,
// each sent as soon as one finishes (a closed loop).
type Load struct {
	URL         string // the server: http://host:port, with or without /v1
	Model       string // the "model" field; "" sends none
	Prompts     []string
	MaxTokens   int
	Requests    int
	Rate        float64
	Concurrency int
	Seed        uint64
}

// completionsURL is the completions endpoint of a server given as
// http://host:port or http://host:port/v1.
func completionsURL(base string) string {
	return strings.TrimSuffix(strings.TrimSuffix(base, "/"), "/v1") + "/v1/completions"
}

// Client drives loads at servers. The zero value is not usable: make one
// with NewClient.
type Client struct {
	http *http.Client
}

// NewClient makes a client whose connections are kept for reuse however
// many requests are in flight (Go's default keeps two per host, which
// would make a high-concurrency run open a connection per request).
func NewClient() *Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 0, 4096
	return &Client{http: &http.Client{Transport: t}}
}

// ModelName asks the server for the model it serves (GET /v1/models, the
// first one listed); "" if it does not say.
func (c *Client) ModelName(ctx context.Context, base string) string {
	url := strings.TrimSuffix(completionsURL(base), "/completions") + "/models"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ""
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil || len(list.Data) == 0 {
		return ""
	}
	return list.Data[0].ID
}

// WarmUp sends one short request and reports whether the server answered
// it properly, so that a wrong URL fails before the measured run.
func (c *Client) WarmUp(ctx context.Context, l Load) error {
	rec := c.send(ctx, l, l.Prompts[0], min(l.MaxTokens, 4))
	if rec.err != nil {
		return fmt.Errorf("warm-up request to %s: %w", l.URL, rec.err)
	}
	return nil
}

// Run drives the load and returns its figures (Server is left for the
// caller to name). progress, if not nil, is told of each finished request.
func (c *Client) Run(ctx context.Context, l Load, progress func(int64)) (ServeRun, error) {
	switch {
	case len(l.Prompts) == 0:
		return ServeRun{}, errors.New("serve: no prompts")
	case l.Requests < 1 || l.MaxTokens < 1:
		return ServeRun{}, errors.New("serve: need at least one request of at least one token")
	case l.Rate <= 0 && l.Concurrency < 1:
		return ServeRun{}, errors.New("serve: need a request rate or a concurrency of at least 1")
	}
	records := make([]record, l.Requests)
	var mu sync.Mutex // progress is called by one request at a time
	one := func(i int) {
		records[i] = c.send(ctx, l, l.Prompts[i%len(l.Prompts)], l.MaxTokens)
		mu.Lock()
		tick(progress)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	if l.Rate > 0 {
		rng := rand.New(rand.NewPCG(l.Seed, 0x706f6973736f6e))
		next := time.Now()
		for i := range l.Requests {
			if i > 0 {
				next = next.Add(time.Duration(rng.ExpFloat64() / l.Rate * float64(time.Second)))
				select {
				case <-time.After(time.Until(next)):
				case <-ctx.Done():
				}
			}
			if ctx.Err() != nil {
				break
			}
			wg.Go(func() { one(i) })
		}
	} else {
		var next atomic.Int64
		for range min(l.Concurrency, l.Requests) {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < l.Requests && ctx.Err() == nil; i = int(next.Add(1) - 1) {
					one(i)
				}
			})
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return ServeRun{}, err
	}
	run := summarize(records)
	run.URL, run.Rate = l.URL, l.Rate
	if l.Rate <= 0 {
		run.Concurrency = l.Concurrency
	}
	return run, nil
}

// record is what the client saw of one request: when it was sent, when
// each token event arrived and the stream ended (since it was sent), and
// the token counts the server reported (0 if it did not).
type record struct {
	start        time.Time
	arrivals     []time.Duration
	end          time.Duration
	inputTokens  int
	outputTokens int
	err          error
}

// send makes one streamed completion request and records its timing.
func (c *Client) send(ctx context.Context, l Load, prompt string, maxTokens int) (rec record) {
	body := map[string]any{
		"prompt": prompt, "max_tokens": maxTokens, "stream": true, "ignore_eos": true,
		"stream_options": map[string]any{"include_usage": true},
	}
	if l.Model != "" {
		body["model"] = l.Model
	}
	data, _ := json.Marshal(body) // only strings, numbers and bools
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, completionsURL(l.URL), bytes.NewReader(data))
	if err != nil {
		rec.err = err
		return rec
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	// A server may close a kept-alive connection just as a request goes
	// out on it; marked idempotent (an empty key is not sent), the request
	// is sent again on a new connection instead of failing.
	req.Header["Idempotency-Key"] = []string{}
	rec.start = time.Now()
	defer func() { rec.end = time.Since(rec.start) }()
	resp, err := c.http.Do(req)
	if err != nil {
		rec.err = err
		return rec
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		rec.err = fmt.Errorf("HTTP %s: %s", resp.Status, bytes.TrimSpace(msg))
		return rec
	}
	rec.err = readStream(resp.Body, func(ev streamEvent) {
		if ev.isToken() {
			rec.arrivals = append(rec.arrivals, time.Since(rec.start))
		}
		if ev.Usage != nil {
			rec.inputTokens, rec.outputTokens = ev.Usage.PromptTokens, ev.Usage.CompletionTokens
		}
	})
	if rec.err == nil && len(rec.arrivals) == 0 {
		rec.err = errors.New("the stream held no tokens")
	}
	return rec
}

// streamEvent is one server-sent event of a streamed completion.
type streamEvent struct {
	Choices []struct {
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// isToken tells whether the event brings a generated token. Like vLLM's
// benchmark, an event with choices counts even when its text is empty
// (special and unused tokens print as nothing); but an empty one that only
// carries the finish reason, as llama-server sends after the last token,
// does not.
func (e *streamEvent) isToken() bool {
	if len(e.Choices) == 0 {
		return false
	}
	if e.text() != "" {
		return true
	}
	for _, c := range e.Choices {
		if c.FinishReason != nil {
			return false
		}
	}
	return true
}

func (e *streamEvent) text() string {
	var s strings.Builder
	for _, c := range e.Choices {
		s.WriteString(c.Text)
	}
	return s.String()
}

// readStream reads server-sent events ("data: {json}" lines, ending with
// "data: [DONE]") and passes each to fn. Comment lines, other fields and
// blank lines are skipped; an event carrying an error ends the stream
// with that error.
func readStream(r io.Reader, fn func(streamEvent)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		data = strings.TrimSpace(data)
		if data == "[DONE]" {
			return nil
		}
		var ev streamEvent
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return fmt.Errorf("stream event %q: %w", data, err)
		}
		if ev.Error != nil {
			return fmt.Errorf("server error: %s", ev.Error.Message)
		}
		fn(ev)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the stream: %w", err)
	}
	return errors.New("the stream ended without [DONE]")
}

// summarize computes a run's figures from its requests' records, the way
// vLLM's serving benchmark defines them: TTFT is the time to the first
// token event; TPOT, per request with more than one output token, is the
// rest of its latency over its other tokens; ITL pools the gaps between
// successive token events of every request; the duration runs from the first
// request sent to the last one finished, and the rates divide by it.
// Failed requests count only in Failed (and Errors).
func summarize(records []record) ServeRun {
	run := ServeRun{Requests: len(records)}
	var ttft, tpot, itl, e2e []float64
	var first, last time.Time
	completed := 0
	for _, r := range records {
		if !r.start.IsZero() {
			if first.IsZero() || r.start.Before(first) {
				first = r.start
			}
			if end := r.start.Add(r.end); end.After(last) {
				last = end
			}
		}
		if r.err != nil {
			run.Failed++
			if msg := r.err.Error(); len(run.Errors) < 5 && !slices.Contains(run.Errors, msg) {
				run.Errors = append(run.Errors, msg)
			}
			continue
		}
		completed++
		out := r.outputTokens
		if out == 0 {
			out = len(r.arrivals)
		}
		run.InputTokens += r.inputTokens
		run.OutputTokens += out
		ttft = append(ttft, ms(r.arrivals[0]))
		e2e = append(e2e, ms(r.end))
		if out > 1 {
			tpot = append(tpot, ms(r.end-r.arrivals[0])/float64(out-1))
		}
		for i := 1; i < len(r.arrivals); i++ {
			itl = append(itl, ms(r.arrivals[i]-r.arrivals[i-1]))
		}
	}
	run.TTFT, run.TPOT, run.ITL, run.E2E = SummarizeLatency(ttft), SummarizeLatency(tpot), SummarizeLatency(itl), SummarizeLatency(e2e)
	if d := last.Sub(first); d > 0 {
		run.DurationS = d.Seconds()
		run.RequestsPerSec = float64(completed) / run.DurationS
		run.OutputTokensPerSec = float64(run.OutputTokens) / run.DurationS
	}
	return run
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ReadPrompts reads a JSONL file of objects with a "prompt" string (other
// fields are ignored; blank lines skipped).
func ReadPrompts(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	var prompts []string
	n := 0
	for line := range bytes.Lines(data) {
		n++
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var p struct {
			Prompt *string `json:"prompt"`
		}
		if err := json.Unmarshal(line, &p); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if p.Prompt == nil {
			return nil, fmt.Errorf(`%s:%d: no "prompt" string`, path, n)
		}
		prompts = append(prompts, *p.Prompt)
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("%s holds no prompts", path)
	}
	return prompts, nil
}

// SyntheticPrompts makes n prompts of words random common English words
// each, drawn from seed. Common words are about one token each in the
// usual vocabularies, so words approximates the prompt's token count.
func SyntheticPrompts(n, words int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 0x70726f6d7074))
	prompts := make([]string, n)
	for i := range prompts {
		w := make([]string, words)
		for j := range w {
			w[j] = commonWords[rng.IntN(len(commonWords))]
		}
		prompts[i] = strings.Join(w, " ")
	}
	return prompts
}

var commonWords = strings.Fields(`the of and to in is was for on that with as it by at from his her he she
they we you this which but not are or have had be one all were there been has their when who will more
no if out so said what up its about into than them can only other new some could time these two may then
do first any my now such like our over man me even most made after also did many before must through back
years where much your way well down should because each just those people how too little state good very
make world still own see men work long get here between both life being under never day same another know
while last might us great old year off come since against go came right used take three house small water`)
