package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aha-inference/aha/engine"
)

// waitIdle waits (a bounded while) for the engine to retire cancelled
// requests, then checks every KV block is free. ResetPrefixCache runs on
// the scheduler between steps and refreshes the stats, which an engine gone
// idle right after an abort does not otherwise do.
func waitIdle(t *testing.T, ts *testServer) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		ts.eng.ResetPrefixCache()
		if st := ts.eng.Stats(); st.Running == 0 && st.Waiting == 0 {
			break
		}
	}
	checkBlocksFree(t, ts)
}

// TestDisconnect checks that a client leaving mid-stream cancels its
// request and frees its KV blocks.
func TestDisconnect(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	body := `{"prompt": "Once upon a time", "max_tokens": 2000, "ignore_eos": true, "stream": true}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.url+"/v1/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for i := 0; i < 3 && sc.Scan(); i++ {
	}
	cancel()
	resp.Body.Close()
	waitIdle(t, ts)
	// The request ended long before its 2000 tokens.
	if st := ts.eng.Stats(); st.GeneratedTokens >= 2000 {
		t.Errorf("%d tokens generated: the request was not cancelled", st.GeneratedTokens)
	}
}

func TestMetrics(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	var out completionOut
	ts.postOK(t, "/v1/completions", map[string]any{"prompt": "Once upon a time", "max_tokens": 8, "ignore_eos": true}, &out)
	ts.post(t, "/v1/completions", `{"n": 0}`)
	status, body := ts.get(t, "/metrics")
	text := string(body)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	st := ts.eng.Stats()
	for _, want := range []string{
		`aha_requests_total{endpoint="/v1/completions",code="200"} 1`,
		`aha_requests_total{endpoint="/v1/completions",code="400"} 1`,
		`aha_time_to_first_token_seconds_count 1`,
		`aha_time_per_output_token_seconds_count 1`,
		`aha_time_to_first_token_seconds_bucket{le="+Inf"} 1`,
		fmt.Sprintf("aha_kv_blocks_capacity %d", st.BlocksTotal),
		fmt.Sprintf("aha_generation_tokens_total %d", st.GeneratedTokens),
		fmt.Sprintf("aha_prompt_tokens_total %d", st.PromptTokens),
		"aha_running_sequences 0",
		"# TYPE aha_time_per_output_token_seconds histogram",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("no line %q in\n%s", want, text)
		}
	}
	checkExposition(t, text)
}

// checkExposition parses a Prometheus text exposition and checks the rules
// promtool check metrics applies: every family has one HELP and one TYPE
// before its samples, which are contiguous; names and label names are
// snake_case; counters end in _total and nothing else does; only
// histograms have _bucket, _sum and _count series and the le label; a
// histogram's buckets are cumulative with increasing bounds, end at +Inf
// and agree with its count.
func checkExposition(t *testing.T, text string) {
	t.Helper()
	nameRE := regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	sampleRE := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)
	labelRE := regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"$`)
	type family struct {
		help, typ  bool
		kind       string
		done       bool // its samples ended: no more may follow
		buckets    []float64
		cumulative []float64
		count      float64
		counted    bool
	}
	families := map[string]*family{}
	get := func(name string) *family {
		if families[name] == nil {
			families[name] = &family{}
		}
		return families[name]
	}
	var current string // the family of the last sample
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			what, rest, _ := strings.Cut(rest, " ")
			name, arg, _ := strings.Cut(rest, " ")
			f := get(name)
			if len(f.cumulative) > 0 || f.counted || f.done || current == name {
				t.Errorf("%q after the samples of %s", line, name)
			}
			switch what {
			case "HELP":
				if f.help || arg == "" {
					t.Errorf("%q: a second or empty HELP", line)
				}
				f.help = true
			case "TYPE":
				if f.typ {
					t.Errorf("%q: a second TYPE", line)
				}
				f.typ, f.kind = true, arg
				switch arg {
				case "counter", "gauge", "histogram":
				default:
					t.Errorf("%q: type %q", line, arg)
				}
			default:
				t.Errorf("comment %q is neither HELP nor TYPE", line)
			}
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("malformed line %q", line)
			continue
		}
		name, value := m[1], m[4]
		v, err := strconv.ParseFloat(value, 64)
		if err != nil && value != "+Inf" && value != "-Inf" && value != "NaN" {
			t.Errorf("%q: value %q", line, value)
		}
		labels := map[string]string{}
		if m[3] != "" {
			for _, l := range strings.Split(m[3], ",") {
				lm := labelRE.FindStringSubmatch(l)
				if lm == nil || !nameRE.MatchString(lm[1]) {
					t.Errorf("%q: label %q", line, l)
					continue
				}
				labels[lm[1]] = lm[2]
			}
		}
		base, suffix := name, ""
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, s); ok && families[b] != nil && families[b].kind == "histogram" {
				base, suffix = b, s
			}
		}
		f := families[base]
		switch {
		case f == nil || !f.help || !f.typ:
			t.Errorf("%q: no HELP and TYPE for %s before it", line, base)
			continue
		case f.done:
			t.Errorf("%q: the samples of %s are not together", line, base)
		}
		if current != "" && current != base {
			families[current].done = true
		}
		current = base
		if !nameRE.MatchString(base) || !strings.HasPrefix(base, "aha_") {
			t.Errorf("%s: not a snake_case aha_ name", base)
		}
		if isCounter := f.kind == "counter"; isCounter != strings.HasSuffix(base, "_total") {
			t.Errorf("%s: a %s; counters, and only they, end in _total", base, f.kind)
		}
		if f.kind != "histogram" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				if strings.HasSuffix(base, s) {
					t.Errorf("%s: a %s must not end in %s", base, f.kind, s)
				}
			}
		}
		if _, ok := labels["le"]; ok != (suffix == "_bucket") {
			t.Errorf("%q: le belongs to histogram buckets, and they need it", line)
		}
		switch suffix {
		case "_bucket":
			le, err := strconv.ParseFloat(labels["le"], 64)
			if err != nil {
				t.Errorf("%q: le %q", line, labels["le"])
			}
			if n := len(f.buckets); n > 0 && (le <= f.buckets[n-1] || v < f.cumulative[n-1]) {
				t.Errorf("%q: bounds must increase and counts be cumulative", line)
			}
			f.buckets, f.cumulative = append(f.buckets, le), append(f.cumulative, v)
		case "_count":
			f.count, f.counted = v, true
		}
	}
	for name, f := range families {
		if !f.help || !f.typ {
			t.Errorf("%s: HELP or TYPE missing", name)
		}
		if f.kind != "histogram" {
			continue
		}
		if n := len(f.buckets); n == 0 || !math.IsInf(f.buckets[n-1], 1) || !f.counted || f.cumulative[n-1] != f.count {
			t.Errorf("%s: a histogram needs buckets up to le=\"+Inf\" holding _count, and _count", name)
		}
	}
}

// TestLoad runs 64 concurrent streaming clients through a fixed number of
// requests, a fifth of them hanging up midway: no 5xx, every finished
// stream well-formed, every KV block free at the end. It logs the
// throughput and the time to first token the clients saw.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const clients, requests = 64, 256
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	prompts := []string{"Once upon a time", "Lily and Tom", "The little dog", "One day, a bird", "Sara had a red ball"}

	type result struct {
		status int
		ttft   time.Duration
		hungUp bool
		err    string
	}
	results := make([]result, requests)
	next := make(chan int)
	go func() {
		for i := range requests {
			next <- i
		}
		close(next)
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = loadRequest(ts.url, client, i, prompts[i%len(prompts)], i%5 == 4)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	var ttfts []time.Duration
	completed := 0
	for i, r := range results {
		switch {
		case r.status >= 500:
			t.Errorf("request %d: status %d: %s", i, r.status, r.err)
		case r.err != "":
			t.Errorf("request %d: %s", i, r.err)
		case !r.hungUp:
			completed++
			ttfts = append(ttfts, r.ttft)
		}
	}
	waitIdle(t, ts)
	_, metrics := ts.get(t, "/metrics")
	for _, line := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(line, "aha_requests_total") && strings.Contains(line, `code="5`) {
			t.Errorf("server counted a 5xx: %s", line)
		}
	}
	slices.Sort(ttfts)
	if len(ttfts) == 0 {
		t.Fatal("no request completed")
	}
	pct := func(p float64) time.Duration { return ttfts[int(p*float64(len(ttfts)-1))] }
	t.Logf("%d requests (%d completed, %d hung up) by %d clients in %v: %.1f requests/s; TTFT p50 %v, p99 %v; %d tokens generated",
		requests, completed, requests-completed, clients, elapsed.Round(time.Millisecond), float64(requests)/elapsed.Seconds(),
		pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), ts.eng.Stats().GeneratedTokens)
}

// loadRequest runs one streaming request of the load test; a chat request
// every third time. hangUp closes the connection after a few chunks.
func loadRequest(url string, client *http.Client, i int, prompt string, hangUp bool) (r struct {
	status int
	ttft   time.Duration
	hungUp bool
	err    string
}) {
	path := "/v1/completions"
	body := map[string]any{"prompt": prompt, "max_tokens": 32, "stream": true, "seed": i, "n": 1 + i%2,
		"return_token_ids": true, "stream_options": map[string]any{"include_usage": true}}
	if i%3 == 0 {
		path = "/v1/chat/completions"
		delete(body, "prompt")
		body["messages"] = []map[string]any{{"role": "user", "content": prompt}}
	}
	data, _ := json.Marshal(body)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+path, bytes.NewReader(data))
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		r.err = err.Error()
		return r
	}
	defer resp.Body.Close()
	r.status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		r.err = fmt.Sprintf("status %d", resp.StatusCode)
		return r
	}
	// Assemble the stream: token ids per choice, a finish reason for each,
	// the usage, then [DONE].
	n := body["n"].(int)
	tokens := make([]int, n)
	finished := make([]bool, n)
	usage, done, chunks := -1, false, 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || done {
			r.err = fmt.Sprintf("bad stream line %q", line)
			return r
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var c struct {
			Choices []struct {
				Index        int     `json:"index"`
				TokenIDs     []int   `json:"token_ids"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			r.err = fmt.Sprintf("chunk %q: %v", data, err)
			return r
		}
		if c.Usage != nil {
			usage = c.Usage.CompletionTokens
			continue
		}
		if len(c.Choices) != 1 || c.Choices[0].Index >= n || finished[c.Choices[0].Index] {
			r.err = fmt.Sprintf("bad chunk %q", data)
			return r
		}
		ch := c.Choices[0]
		if len(ch.TokenIDs) > 0 && r.ttft == 0 {
			r.ttft = time.Since(start)
		}
		tokens[ch.Index] += len(ch.TokenIDs)
		finished[ch.Index] = ch.FinishReason != nil
		if chunks++; hangUp && chunks == 3 {
			r.hungUp = true
			return r // the deferred cancel and Close hang up
		}
	}
	total := 0
	for i := range n {
		if !finished[i] {
			r.err = fmt.Sprintf("choice %d has no finish reason", i)
		}
		total += tokens[i]
	}
	if !done || usage != total {
		r.err = fmt.Sprintf("stream ended without [DONE] (%v) or usage %d ≠ %d tokens streamed", done, usage, total)
	}
	return r
}
