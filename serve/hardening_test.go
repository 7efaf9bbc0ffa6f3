package serve

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aha-inference/aha/engine"
)

// TestTinyTemperatureIsGreedy: temperatures that underflow float32 sample
// greedily with finite logprobs (they once gave NaN distributions, or
// counted as 1), and one that overflows it is refused.
func TestTinyTemperatureIsGreedy(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	type resp struct {
		Choices []struct {
			TokenIDs []int `json:"token_ids"`
			Logprobs struct {
				TokenLogprobs []*float64 `json:"token_logprobs"`
			} `json:"logprobs"`
		} `json:"choices"`
	}
	ask := func(temp float64) resp {
		var r resp
		ts.postOK(t, "/v1/completions", map[string]any{"prompt": "Once upon a time", "max_tokens": 12, "temperature": temp,
			"seed": 1, "logprobs": 0, "return_token_ids": true}, &r)
		return r
	}
	greedy := ask(0)
	for _, temp := range []float64{1e-40, 1e-50, 1e-300} {
		got := ask(temp)
		if !slices.Equal(got.Choices[0].TokenIDs, greedy.Choices[0].TokenIDs) {
			t.Errorf("temperature %g: %v, greedy %v", temp, got.Choices[0].TokenIDs, greedy.Choices[0].TokenIDs)
		}
		for i, lp := range got.Choices[0].Logprobs.TokenLogprobs {
			if lp == nil {
				t.Errorf("temperature %g: token %d has a null logprob", temp, i)
			}
		}
	}
	if status, body := ts.post(t, "/v1/completions", `{"prompt": "a", "temperature": 1e39}`); status != 400 {
		t.Errorf("temperature 1e39: status %d: %s", status, body)
	}
}

// TestDrainWaitsForRunning: Drain refuses new model work with 503 and
// Retry-After while a request runs, and says when it has finished.
func TestDrainWaitsForRunning(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	started := make(chan struct{})
	done := make(chan int)
	go func() {
		resp, err := http.Post(ts.url+"/v1/completions", "application/json",
			strings.NewReader(`{"prompt": "Once upon a time", "max_tokens": 400, "ignore_eos": true, "stream": true}`))
		if err != nil {
			t.Error(err)
			done <- 0
			return
		}
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		r.ReadString('\n') // the first chunk: running
		close(started)
		io.Copy(io.Discard, r)
		done <- resp.StatusCode
	}()
	<-started
	idle := ts.srv.Drain()
	select {
	case <-idle:
		t.Fatal("Drain said idle while a request runs")
	default:
	}
	resp, err := http.Post(ts.url+"/v1/completions", "application/json", strings.NewReader(`{"prompt": "a"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("new request while draining: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if status, body := ts.get(t, "/health/"); status != http.StatusServiceUnavailable || !strings.Contains(string(body), "shutting down") {
		t.Errorf("health while draining: %d %s", status, body)
	}
	if status := <-done; status != http.StatusOK {
		t.Errorf("the running request ended with %d", status)
	}
	select {
	case <-idle:
	case <-time.After(10 * time.Second):
		t.Fatal("Drain never said idle after the request finished")
	}
}

// TestAPIKey: with an API key, every endpoint but /health/ answers 401
// without it, and works with it.
func TestAPIKey(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{APIKey: "sk-test"}, engine.Options{})
	for _, path := range []string{"/v1/models", "/metrics", "/get_world_size/", "/no/such/path"} {
		if status, _ := ts.get(t, path); status != http.StatusUnauthorized {
			t.Errorf("GET %s without the key: %d", path, status)
		}
	}
	for _, path := range []string{"/v1/completions", "/generate/", "/load_weights/", "/reset_prefix_cache/"} {
		if status, _ := ts.post(t, path, `{"prompt": "a"}`); status != http.StatusUnauthorized {
			t.Errorf("POST %s without the key: %d", path, status)
		}
	}
	if status, _ := ts.get(t, "/health/"); status != http.StatusOK {
		t.Errorf("health without the key: %d", status)
	}
	for key, want := range map[string]int{"Bearer sk-test": 200, "Bearer sk-tes": 401, "sk-test": 401, "Bearer sk-test2": 401} {
		req, _ := http.NewRequest(http.MethodGet, ts.url+"/v1/models", nil)
		req.Header.Set("Authorization", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: %d, want %d", key, resp.StatusCode, want)
		}
	}
}

// TestLoadWeightsGuards: /load_weights/ is refused to non-loopback clients
// unless allowed, and then names no path in its errors; a second swap
// while one runs is refused, not queued behind it.
func TestLoadWeightsGuards(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	call := func(srv *Server, remote string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/load_weights/", strings.NewReader(`{"path": "/no/such/secret/dir"}`))
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	if w := call(ts.srv, "203.0.113.7:4000"); w.Code != http.StatusForbidden {
		t.Errorf("remote load: %d %s", w.Code, w.Body)
	}
	if w := call(ts.srv, "[::1]:4000"); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "/no/such/secret/dir") {
		t.Errorf("loopback load of a missing folder: %d %s", w.Code, w.Body)
	}
	open := newTestServer(t, nil, nil, Config{AllowRemoteLoad: true}, engine.Options{})
	if w := call(open.srv, "203.0.113.7:4000"); w.Code != http.StatusBadRequest || strings.Contains(w.Body.String(), "secret") {
		t.Errorf("allowed remote load of a missing folder: %d %s", w.Code, w.Body)
	}
	ts.srv.swapMu.Lock()
	w := call(ts.srv, "127.0.0.1:4000")
	ts.srv.swapMu.Unlock()
	if w.Code != http.StatusConflict {
		t.Errorf("load during another swap: %d %s", w.Code, w.Body)
	}
}

// TestHugeContentLength: a declared body over the limit is refused with
// 413 at once, not waited for.
func TestHugeContentLength(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999\r\n\r\n{")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
}

// TestSequenceLogprobsBounded: a small request whose response would be
// gigabytes (the binary format pads every sequence to the longest) is a
// 400 naming the limit, answered before anything is scored.
func TestSequenceLogprobsBounded(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{MaxLogprobs: 100}, engine.Options{})
	seqs := make([][]int, 4096)
	lens := make([]int, 4096)
	for i := range seqs {
		seqs[i] = []int{1, 2}
		lens[i] = 1
	}
	long := make([]int, 1000)
	for i := range long {
		long[i] = 1 + i%400
	}
	seqs[0] = long
	body := map[string]any{"sequences": seqs, "prompt_lengths": lens, "top_logprobs": 100, "response_format": "binary"}
	start := time.Now()
	status, out := ts.post(t, "/get_sequence_logprobs/", body)
	if status != http.StatusBadRequest || !strings.Contains(string(out), "limit") || !strings.Contains(string(out), `"param":"sequences"`) {
		t.Errorf("status %d: %s", status, out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the refusal took %v: it must come before scoring", d)
	}
	if s := ts.eng.Stats(); s.PromptTokens != 0 {
		t.Errorf("%d prompt tokens were computed before refusing", s.PromptTokens)
	}
}

// TestTemplateKwargsReserved: chat_template_kwargs cannot smuggle in tools
// (which the top-level field validates) or variables the server sets.
func TestTemplateKwargsReserved(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	for _, name := range []string{"tools", "messages", "add_generation_prompt", "bos_token"} {
		body := `{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "chat_template_kwargs": {"` + name + `": [{"x": 1}]}}`
		for _, path := range []string{"/v1/chat/completions", "/chat/"} {
			b := body
			if path == "/chat/" {
				b = `{"messages": [[{"role": "user", "content": "hi"}]], "max_tokens": 2, "chat_template_kwargs": {"` + name + `": [{"x": 1}]}}`
			}
			if status, out := ts.post(t, path, b); status != http.StatusBadRequest || !strings.Contains(string(out), "chat_template_kwargs."+name) {
				t.Errorf("%s with chat_template_kwargs.%s: %d %s", path, name, status, out)
			}
		}
	}
	var ok struct{}
	ts.postOK(t, "/v1/chat/completions", map[string]any{"messages": []map[string]string{{"role": "user", "content": "hi"}}, "max_tokens": 2,
		"chat_template_kwargs": map[string]any{"enable_thinking": false}}, &ok)
}

// TestModelsRootHidesPaths: /v1/models names the model's path to loopback
// clients only.
func TestModelsRootHidesPaths(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	for remote, want := range map[string]string{"127.0.0.1:5000": ts.eng.Model().Path, "198.51.100.4:5000": "test-model"} {
		r := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		ts.srv.ServeHTTP(w, r)
		var list struct {
			Data []struct {
				Root string `json:"root"`
			} `json:"data"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list.Data) != 1 || list.Data[0].Root != want {
			t.Errorf("client %s: %v %s, want root %q", remote, err, w.Body, want)
		}
	}
}

// TestNothingDrawableIs400: masks that leave nothing to draw are the
// client's mistake, answered with a 400, not a 500 or garbage.
func TestNothingDrawableIs400(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	eos := ts.eng.Model().Config.EOS
	status, body := ts.post(t, "/v1/completions", map[string]any{"prompt": "a", "max_tokens": 4, "min_tokens": 2, "allowed_token_ids": eos})
	if status != http.StatusBadRequest || !strings.Contains(string(body), "no token to draw") {
		t.Errorf("status %d: %s", status, body)
	}
}
