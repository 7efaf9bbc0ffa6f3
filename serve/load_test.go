package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
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
		fmt.Sprintf("aha_kv_blocks_total %d", st.BlocksTotal),
		fmt.Sprintf("aha_generation_tokens_total %d", st.GeneratedTokens),
		fmt.Sprintf("aha_prompt_tokens_total %d", st.PromptTokens),
		"aha_running_sequences 0",
		"# TYPE aha_time_per_output_token_seconds histogram",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("no line %q in\n%s", want, text)
		}
	}
	// Every line is a comment or "name{labels} value".
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		var v float64
		if _, err := fmt.Sscan(value, &v); !ok || err != nil || !strings.HasPrefix(name, "aha_") {
			t.Errorf("malformed line %q", line)
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
