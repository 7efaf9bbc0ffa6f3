package serve

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
)

// eventStream writes server-sent events: one "data: {json}" per chunk and
// "data: [DONE]" at the end, as OpenAI streams. Many goroutines (one per
// prompt) may send at once.
type eventStream struct {
	mu  sync.Mutex
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error // the first write error: the client is gone
}

func startStream(w http.ResponseWriter) *eventStream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // tell reverse proxies not to buffer
	w.WriteHeader(http.StatusOK)
	return &eventStream{w: w, rc: http.NewResponseController(w)}
}

// send writes one chunk and flushes it to the client.
func (s *eventStream) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.write("data: " + string(b) + "\n\n")
}

// fail reports an error met after the stream began, as vLLM does: an
// error object in place of a chunk.
func (s *eventStream) fail(e *apiError) {
	s.send(map[string]any{"error": map[string]any{
		"message": e.message, "type": e.errorType(), "param": nullable(e.param), "code": nullable(e.code)}})
}

func (s *eventStream) done() { s.write("data: [DONE]\n\n") }

func (s *eventStream) write(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if _, s.err = s.w.Write([]byte(text)); s.err == nil {
		s.err = s.rc.Flush()
	}
	return s.err
}

// logprob is a log-probability as JSON. A token the processed distribution
// excludes has logprob −∞, which JSON cannot hold: it is written as -9999.
type logprob float32

func (l logprob) MarshalJSON() ([]byte, error) {
	v := float64(l)
	switch {
	case math.IsNaN(v):
		return []byte("null"), nil
	case v <= -9999:
		return []byte("-9999"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 32), nil
}

// newID makes a response id such as "cmpl-3f2a…".
func newID(prefix string) string {
	return fmt.Sprintf("%s-%016x%016x", prefix, rand.Uint64(), rand.Uint64())
}
