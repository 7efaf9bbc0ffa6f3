package serve

import (
	"bytes"
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/aha-inference/aha/engine"
)

// The metrics are written by hand in the Prometheus text format (version
// 0.0.4): a dozen series, a few lines each. The official client library
// would bring a dependency tree several times the size of this server for
// the same output. Names follow Prometheus' conventions, which promtool
// check metrics enforces: counters end in _total and nothing else does,
// durations are in seconds.

type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]int64 // endpoint, status code
	ttft     *histogram
	tpot     *histogram
}

func newMetrics() *metrics {
	return &metrics{
		requests: map[[2]string]int64{},
		ttft:     newHistogram(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
		tpot:     newHistogram(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
	}
}

// request counts one answered HTTP request.
func (m *metrics) request(endpoint string, status int) {
	if status == 0 {
		status = http.StatusOK // nothing was written: net/http answers 200
	}
	m.mu.Lock()
	m.requests[[2]string{endpoint, strconv.Itoa(status)}]++
	m.mu.Unlock()
}

// observe records a finished engine request's latencies: the time to its
// first token, and the time per output token after it, taken over its
// longest sample (the samples decode side by side).
func (m *metrics) observe(out *engine.Output) {
	if out.FirstToken <= 0 {
		return // aborted before any token
	}
	longest := 0
	for _, s := range out.Samples {
		longest = max(longest, len(s.Tokens))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ttft.observe(out.FirstToken.Seconds())
	if longest > 1 {
		m.tpot.observe((out.Total - out.FirstToken).Seconds() / float64(longest-1))
	}
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) *apiError {
	st := s.cfg.Engine.Stats()
	var b bytes.Buffer
	gauge := func(name, help string, v int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	counter := func(name, help string, v int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	m := s.metrics
	m.mu.Lock()
	b.WriteString("# HELP aha_requests_total HTTP requests answered, by endpoint and status code.\n# TYPE aha_requests_total counter\n")
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "aha_requests_total{endpoint=%q,code=%q} %d\n", k[0], k[1], m.requests[k])
	}
	m.ttft.write(&b, "aha_time_to_first_token_seconds", "Time from a request's arrival at the engine to its first generated token.")
	m.tpot.write(&b, "aha_time_per_output_token_seconds", "Time per generated token after the first, per request (its longest sample).")
	m.mu.Unlock()
	gauge("aha_running_sequences", "Sequences being decoded or prefilled.", int64(st.Running))
	gauge("aha_waiting_requests", "Requests queued, not yet admitted.", int64(st.Waiting))
	gauge("aha_kv_blocks_used", "KV cache blocks held (the prefix cache's included).", int64(st.BlocksUsed))
	// Not aha_kv_blocks_total: the _total suffix is reserved for counters.
	gauge("aha_kv_blocks_capacity", "KV cache blocks in all.", int64(st.BlocksTotal))
	counter("aha_prompt_tokens_total", "Prompt tokens submitted.", st.PromptTokens)
	counter("aha_prompt_tokens_cached_total", "Prompt tokens taken from the prefix cache.", st.CachedTokens)
	counter("aha_generation_tokens_total", "Tokens generated.", st.GeneratedTokens)
	counter("aha_preemptions_total", "Sequences evicted from the KV cache to be recomputed later.", st.Preemptions)
	counter("aha_engine_steps_total", "Forward steps run.", st.Steps)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(b.Bytes())
	return nil
}

// histogram is a Prometheus histogram: counts per upper bound.
type histogram struct {
	bounds []float64
	counts []int64 // counts[i]: observations ≤ bounds[i] and > bounds[i-1]; one more for +Inf
	sum    float64
	n      int64
}

func newHistogram(bounds ...float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]int64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v)
	h.counts[i]++
	h.sum += v
	h.n++
}

func (h *histogram) write(b *bytes.Buffer, name, help string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum int64
	for i, le := range h.bounds {
		cum += h.counts[i]
		fmt.Fprintf(b, "%s_bucket{le=\"%s\"} %d\n", name, strconv.FormatFloat(le, 'g', -1, 64), cum)
	}
	fmt.Fprintf(b, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", name, h.n, name, strconv.FormatFloat(h.sum, 'g', -1, 64), name, h.n)
}
