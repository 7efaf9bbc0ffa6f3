package serve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/loader"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/tokenizer"
	"github.com/aha-inference/aha/tokenizer/template"
)

// testServer is a server over loopback and what it serves.
type testServer struct {
	url string
	srv *Server
	eng *engine.Engine
	tok *tokenizer.Tokenizer
}

// newTestServer serves m (nil: the embedded stories260K) over loopback.
func newTestServer(t *testing.T, m *model.Model, tok *tokenizer.Tokenizer, cfg Config, opts engine.Options) *testServer {
	t.Helper()
	if m == nil {
		var err error
		if m, err = model.Load(""); err != nil {
			t.Fatal(err)
		}
		if tok, err = tokenizer.FromGGUF(m.GGUF); err != nil {
			t.Fatal(err)
		}
	}
	cpu := kernels.NewCPU(2)
	m.SetBackend(cpu)
	opts.NewDecoder = func(prompt []int) engine.Decoder { return tok.NewStream(prompt, true) }
	eng, err := engine.New(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Engine, cfg.Tokenizer = eng, tok
	if cfg.Name == "" {
		cfg.Name = "test-model"
	}
	if cfg.Chat, err = loader.NewChat(tok, cfg.Name, ""); err != nil {
		t.Fatal(err)
	}
	cfg.Log = log.New(io.Discard, "", 0)
	if testing.Verbose() {
		cfg.Log = log.New(testWriter{t}, "", 0)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		eng.Close()
		eng.Model().Close()
		cpu.Close()
	})
	return &testServer{url: hs.URL, srv: srv, eng: eng, tok: tok}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// post sends body (a string or a value to marshal) and returns the status
// and the raw response.
func (ts *testServer) post(t *testing.T, path string, body any) (int, []byte) {
	t.Helper()
	var data []byte
	switch b := body.(type) {
	case string:
		data = []byte(b)
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Post(ts.url+path, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// postOK posts and decodes a 200 response into v.
func (ts *testServer) postOK(t *testing.T, path string, body, v any) {
	t.Helper()
	status, out := ts.post(t, path, body)
	if status != http.StatusOK {
		t.Fatalf("POST %s: status %d: %s", path, status, out)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("POST %s: %v in %s", path, err, out)
	}
}

func (ts *testServer) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(ts.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// readEvents splits a server-sent event stream into its data payloads,
// checking the framing, and reports whether it ended with [DONE].
func readEvents(t *testing.T, r io.Reader) (chunks []json.RawMessage, done bool) {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("stream line %q is not a data line", line)
		}
		if done {
			t.Fatalf("data after [DONE]: %q", line)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		if !json.Valid([]byte(data)) {
			t.Fatalf("chunk is not JSON: %q", data)
		}
		chunks = append(chunks, json.RawMessage(data))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return chunks, done
}

// stream posts a streaming request and returns its chunks.
func (ts *testServer) stream(t *testing.T, path string, body any) []json.RawMessage {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(ts.url+path, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		out, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: status %d: %s", path, resp.StatusCode, out)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	chunks, done := readEvents(t, resp.Body)
	if !done {
		t.Fatal("the stream did not end with data: [DONE]")
	}
	return chunks
}

// chatFunc is a function standing in for the loader's Chat.
type chatFunc func(msgs []template.Message, kwargs map[string]any) ([]int, string, error)

func (f chatFunc) Prompt(msgs []template.Message, kwargs map[string]any) ([]int, string, error) {
	return f(msgs, kwargs)
}
