package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSummarizeRecords checks the serving figures on requests whose
// timings are known exactly.
func TestSummarizeRecords(t *testing.T) {
	t0 := time.Unix(1000, 0)
	msd := func(ms ...float64) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m*float64(time.Millisecond)))
		}
		return out
	}
	records := []record{
		// 4 chunks, no usage: 4 output tokens. TTFT 100, gaps 10, 20, 30,
		// ends at 170: TPOT (170−100)/3.
		{start: t0, arrivals: msd(100, 110, 130, 160), end: msd(170)[0]},
		// usage says 5 tokens in 2 chunks. TTFT 200, gap 100, ends at 400
		// (sent 50 ms after the first, so the run lasts 450 ms): TPOT
		// (400−200)/4 = 50.
		{start: t0.Add(50 * time.Millisecond), arrivals: msd(200, 300), end: msd(400)[0], inputTokens: 7, outputTokens: 5},
		// One token: no TPOT, no ITL.
		{start: t0.Add(10 * time.Millisecond), arrivals: msd(40), end: msd(60)[0], inputTokens: 3, outputTokens: 1},
		// Failures count apart, each distinct message once.
		{start: t0, end: msd(5)[0], err: errors.New("HTTP 500")},
		{start: t0, end: msd(5)[0], err: errors.New("HTTP 500")},
	}
	run := summarize(records)
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if run.Requests != 5 || run.Failed != 2 || !slices.Equal(run.Errors, []string{"HTTP 500"}) {
		t.Errorf("requests %d, failed %d, errors %q", run.Requests, run.Failed, run.Errors)
	}
	if run.OutputTokens != 10 || run.InputTokens != 10 {
		t.Errorf("tokens: in %d out %d, want 10 and 10", run.InputTokens, run.OutputTokens)
	}
	near("duration", run.DurationS, 0.45)
	near("requests/s", run.RequestsPerSec, 3/0.45)
	near("output tokens/s", run.OutputTokensPerSec, 10/0.45)
	// TTFT 100, 200, 40.
	if run.TTFT.Count != 3 {
		t.Errorf("TTFT count %d", run.TTFT.Count)
	}
	near("TTFT mean", run.TTFT.Mean, 340.0/3)
	near("TTFT p50", run.TTFT.P50, 100)
	near("TTFT p90", run.TTFT.P90, 180)           // 40, 100, 200: h = 1.8
	near("TTFT p99", run.TTFT.P99, 198)           // h = 1.98
	near("TPOT p50", run.TPOT.P50, (70.0/3+50)/2) // two values: their mean
	near("TPOT mean", run.TPOT.Mean, (70.0/3+50)/2)
	if run.TPOT.Count != 2 {
		t.Errorf("TPOT count %d, want 2", run.TPOT.Count)
	}
	// ITL pools 10, 20, 30 and 100.
	if run.ITL.Count != 4 {
		t.Errorf("ITL count %d, want 4", run.ITL.Count)
	}
	near("ITL mean", run.ITL.Mean, 40)
	near("ITL p50", run.ITL.P50, 25)
	near("ITL p90", run.ITL.P90, 79)  // h = 2.7: 30 + 0.7·70
	near("E2E p50", run.E2E.P50, 170) // 60, 170, 400
	near("E2E mean", run.E2E.Mean, 210)
}

func TestReadStream(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		texts    []string
		tokens   int // events counted as tokens
		usage    int
		err      string
	}{
		{"plain", "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"choices\":[{\"text\":\"b\",\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n", []string{"a", "b"}, 2, 0, ""},
		{"no space, comments, usage", ": keep-alive\ndata:{\"choices\":[{\"text\":\"x\"}]}\nevent: foo\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":9}}\ndata: [DONE]\n", []string{"x", ""}, 1, 9, ""},
		// llama-server: unused tokens print as nothing, and an empty event
		// with the finish reason and usage closes the stream.
		{"llama-server", "data: {\"choices\":[{\"text\":\"\",\"finish_reason\":null}]}\ndata: {\"choices\":[{\"text\":\"\",\"finish_reason\":null}]}\ndata: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}],\"usage\":{\"completion_tokens\":2}}\ndata: [DONE]\n", []string{"", "", ""}, 2, 2, ""},
		{"error event", "data: {\"choices\":[{\"text\":\"a\"}]}\ndata: {\"error\":{\"message\":\"context too long\"}}\n", []string{"a"}, 1, 0, "server error: context too long"},
		{"cut short", "data: {\"choices\":[{\"text\":\"a\"}]}\n", []string{"a"}, 1, 0, "without [DONE]"},
		{"bad json", "data: {nope\n", nil, 0, 0, "stream event"},
	} {
		var texts []string
		tokens, usage := 0, 0
		err := readStream(strings.NewReader(tc.in), func(ev streamEvent) {
			texts = append(texts, ev.text())
			if ev.isToken() {
				tokens++
			}
			if ev.Usage != nil {
				usage = ev.Usage.CompletionTokens
			}
		})
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
		if !slices.Equal(texts, tc.texts) || tokens != tc.tokens || usage != tc.usage {
			t.Errorf("%s: texts %q, %d tokens, usage %d; want %q, %d and %d", tc.name, texts, tokens, usage, tc.texts, tc.tokens, tc.usage)
		}
	}
}

// fakeServer is an OpenAI-compatible completions server that streams
// chunks text chunks, the first after first, the others gap apart, then
// the usage, recording the requests it got. Requests whose prompt is
// "fail" get an HTTP 500.
type fakeServer struct {
	first, gap time.Duration
	chunks     int

	mu     sync.Mutex
	bodies []map[string]any
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/models" {
		fmt.Fprint(w, `{"object":"list","data":[{"id":"fake-model"}]}`)
		return
	}
	if r.URL.Path != "/v1/completions" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.mu.Unlock()
	if body["prompt"] == "fail" {
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	flusher := w.(http.Flusher)
	n := f.chunks
	if max, ok := body["max_tokens"].(float64); ok && int(max) < n {
		n = int(max)
	}
	for i := range n {
		if i == 0 {
			time.Sleep(f.first)
		} else {
			time.Sleep(f.gap)
		}
		fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"text\":\" tok%d\"}]}\n\n", i)
		flusher.Flush()
	}
	fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":%d}}\n\n", n)
	fmt.Fprint(w, "data: [DONE]\n\n")
	flusher.Flush()
}

// TestServeFakeServer drives the in-process server: counts are exact;
// latencies are at least the server's delays (and not wildly more).
func TestServeFakeServer(t *testing.T) {
	const first, gap, chunks = 40 * time.Millisecond, 15 * time.Millisecond, 5
	fake := &fakeServer{first: first, gap: gap, chunks: chunks}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	c := NewClient()
	ctx := context.Background()
	name := c.ModelName(ctx, srv.URL+"/v1/")
	if name != "fake-model" {
		t.Fatalf("model name %q", name)
	}
	prompts := SyntheticPrompts(3, 6, 1)
	for _, load := range []Load{
		{Concurrency: 3},
		{Rate: 200},
	} {
		load.URL, load.Model, load.Prompts, load.MaxTokens, load.Requests = srv.URL, name, prompts, 8, 6
		finished := 0
		run, err := c.Run(ctx, load, func(n int64) { finished += int(n) })
		if err != nil {
			t.Fatal(err)
		}
		if run.Requests != 6 || run.Failed != 0 || finished != 6 || run.OutputTokens != 6*chunks || run.InputTokens != 6*4 {
			t.Fatalf("%+v: requests %d, failed %d (%q), progress %d, tokens %d/%d", load, run.Requests, run.Failed, run.Errors, finished, run.InputTokens, run.OutputTokens)
		}
		if run.Rate != load.Rate || run.Concurrency != load.Concurrency || run.URL != srv.URL {
			t.Errorf("load not recorded: %+v", run)
		}
		msOf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		slack := 2000.0 // ms: a loaded machine delays, it never speeds up
		check := func(name string, l Latency, count int, least float64) {
			t.Helper()
			if l.Count != count || l.P50 < least || l.P50 > least+slack || l.P99 < l.P90 || l.P90 < l.P50 {
				t.Errorf("%+v: %s = %+v, want %d values, p50 ≥ %.0f ms", load, name, l, count, least)
			}
		}
		check("TTFT", run.TTFT, 6, msOf(first))
		check("ITL", run.ITL, 6*(chunks-1), msOf(gap))
		check("TPOT", run.TPOT, 6, msOf(gap))
		check("E2E", run.E2E, 6, msOf(first+(chunks-1)*gap))
		if run.DurationS <= 0 || run.OutputTokensPerSec != float64(run.OutputTokens)/run.DurationS {
			t.Errorf("duration %v, output tokens/s %v", run.DurationS, run.OutputTokensPerSec)
		}
	}
	// Every request asked for a stream of exactly max_tokens from the model.
	for _, b := range fake.bodies {
		if b["stream"] != true || b["ignore_eos"] != true || b["max_tokens"] != 8.0 || b["model"] != "fake-model" || !slices.Contains(prompts, b["prompt"].(string)) {
			t.Errorf("request body %v", b)
		}
	}
	if len(fake.bodies) != 12 {
		t.Errorf("server got %d requests, want 12", len(fake.bodies))
	}

	// Failed requests are counted apart; a dead server fails the warm-up.
	run, err := c.Run(ctx, Load{URL: srv.URL, Prompts: []string{"fail", "ok"}, MaxTokens: 2, Requests: 4, Concurrency: 2}, nil)
	if err != nil || run.Failed != 2 || run.TTFT.Count != 2 || len(run.Errors) != 1 || !strings.Contains(run.Errors[0], "500") {
		t.Errorf("half failing: %v, %+v", err, run)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if err := c.WarmUp(ctx, Load{URL: dead.URL, Prompts: []string{"x"}, MaxTokens: 1}); err == nil {
		t.Error("warm-up against a closed server succeeded")
	}
}

// TestServeRetriesClosedConnection: a server that drops a kept-alive
// connection when a second request arrives on it (as llama-server does
// with idle ones) costs a retry, not a failed request.
func TestServeRetriesClosedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	body := "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: [DONE]\n\n"
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				req, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				http.ReadRequest(r) // the next request on this connection: dropped
			}()
		}
	}()
	run, err := NewClient().Run(context.Background(), Load{URL: "http://" + ln.Addr().String(), Prompts: []string{"p"}, MaxTokens: 1, Requests: 5, Concurrency: 1}, nil)
	if err != nil || run.Failed != 0 || run.OutputTokens != 5 {
		t.Errorf("%v: %d failed (%q), %d tokens", err, run.Failed, run.Errors, run.OutputTokens)
	}
}

func TestReadPrompts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	got, err := ReadPrompts(write("ok.jsonl", "{\"prompt\": \"a b\", \"id\": 1}\n\n{\"prompt\": \"\"}\n{\"prompt\":\"c\"}"))
	if err != nil || !slices.Equal(got, []string{"a b", "", "c"}) {
		t.Errorf("got %q, %v", got, err)
	}
	for _, tc := range []struct{ name, content, want string }{
		{"noprompt.jsonl", "{\"prompt\":\"a\"}\n{\"text\":\"b\"}\n", `noprompt.jsonl:2: no "prompt" string`},
		{"bad.jsonl", "{\"prompt\":\"a\"}\nnot json\n", "bad.jsonl:2:"},
		{"empty.jsonl", "\n\n", "holds no prompts"},
	} {
		if _, err := ReadPrompts(write(tc.name, tc.content)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := ReadPrompts(filepath.Join(dir, "missing.jsonl")); err == nil {
		t.Error("a missing file gave no error")
	}
}

func TestSyntheticPrompts(t *testing.T) {
	a, b := SyntheticPrompts(4, 10, 7), SyntheticPrompts(4, 10, 7)
	if !slices.Equal(a, b) || slices.Equal(a, SyntheticPrompts(4, 10, 8)) {
		t.Error("prompts should depend on the seed only")
	}
	for _, p := range a {
		if n := len(strings.Fields(p)); n != 10 {
			t.Errorf("%q has %d words, want 10", p, n)
		}
	}
	if a[0] == a[1] {
		t.Error("prompts repeat")
	}
}

func TestCompletionsURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://h:8000":     "http://h:8000/v1/completions",
		"http://h:8000/":    "http://h:8000/v1/completions",
		"http://h:8000/v1":  "http://h:8000/v1/completions",
		"http://h:8000/v1/": "http://h:8000/v1/completions",
	} {
		if got := completionsURL(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// FuzzReadStream: any byte stream parses or fails with an error; every
// event counted as a token has choices.
func FuzzReadStream(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: [DONE]\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}],\"usage\":{\"completion_tokens\":2}}\ndata: [DONE]\n"))
	f.Add([]byte(": ping\ndata: {\"error\":{\"message\":\"x\"}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		readStream(bytes.NewReader(data), func(ev streamEvent) {
			if ev.isToken() && len(ev.Choices) == 0 {
				t.Errorf("a token event without choices: %+v", ev)
			}
		})
	})
}
