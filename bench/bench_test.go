package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
)

func embedded(t *testing.T) *model.Model {
	t.Helper()
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	m.SetBackend(kernels.Default(1))
	t.Cleanup(func() { m.Close() })
	return m
}

func TestModelRunner(t *testing.T) {
	m := embedded(t)
	specs := []Spec{
		{Figure: "prefill", Prompt: 600}, // two chunks
		{Figure: "decode", Gen: 3, Depth: 20, Batch: 1},
		{Figure: "decode", Gen: 3, Depth: 20, Batch: 5},
	}
	r, err := NewModelRunner(m, specs, quant.F32, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WarmUp(specs); err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		tps, err := r.Measure(s)
		if err != nil || !(tps > 0) {
			t.Errorf("%s: %v tokens/s, %v", s, tps, err)
		}
		if r.cache.FreeBlocks() != r.cache.Blocks() {
			t.Errorf("%s left %d of %d blocks held", s, r.cache.Blocks()-r.cache.FreeBlocks(), r.cache.Blocks())
		}
	}
	for _, bad := range []Spec{
		{Figure: "prefill", Prompt: 0},
		{Figure: "prefill", Prompt: 4096},
		{Figure: "decode", Gen: 2000, Depth: 100, Batch: 1},
		{Figure: "decode", Gen: 1, Batch: 0},
		{Figure: "sideways", Prompt: 1},
	} {
		if _, err := NewModelRunner(m, []Spec{bad}, quant.F32, 1); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// fakePeer reports fixed speeds per spec, or fails from its failAt-th
// call on, and records how many progress ticks had come before each call.
type fakePeer struct {
	speed  []float64
	calls  int
	failAt int
	ticks  *int
	seen   []int
}

func (p *fakePeer) Measure(ctx context.Context, specs []Spec) ([]float64, error) {
	p.calls++
	p.seen = append(p.seen, *p.ticks)
	if p.failAt > 0 && p.calls >= p.failAt {
		return nil, errors.New("it broke")
	}
	return p.speed, nil
}

func TestThroughputAlternates(t *testing.T) {
	m := embedded(t)
	specs := []Spec{{Figure: "prefill", Prompt: 8}, {Figure: "decode", Gen: 2, Depth: 4, Batch: 2}}
	r, err := NewModelRunner(m, specs, quant.F32, 1)
	if err != nil {
		t.Fatal(err)
	}
	ticks := 0
	progress := func(n int64) { ticks += int(n) }
	peer := &fakePeer{speed: []float64{1e-3, 1e-3}, ticks: &ticks}
	rows, note, err := Throughput(context.Background(), r, specs, 4, peer, "llama.cpp", progress)
	if err != nil || note != "" {
		t.Fatal(err, note)
	}
	// Each side ticks once per spec. Repetitions alternate who goes first:
	// aha, peer | peer, aha | aha, peer | peer, aha.
	if want := []int{2, 4, 10, 12}; !slices.Equal(peer.seen, want) {
		t.Errorf("the peer ran after %v ticks, want %v", peer.seen, want)
	}
	if ticks != 2*2*4 {
		t.Errorf("%d progress ticks, want 16", ticks)
	}
	if len(rows) != 2 || rows[0].Figure != "prefill" || rows[0].Batch != 1 || rows[1].Batch != 2 || rows[1].Depth != 4 || rows[1].GenTokens != 2 {
		t.Fatalf("rows %+v", rows)
	}
	for _, row := range rows {
		if len(row.TokensPerSec.Samples) != 4 || row.Vs != "llama.cpp" || row.VsTokensPerS == nil || row.VsTokensPerS.Median != 1e-3 {
			t.Errorf("row %+v", row)
			continue
		}
		if want := row.TokensPerSec.Median / 1e-3; row.Ratio != want {
			t.Errorf("ratio %v, want %v", row.Ratio, want)
		}
	}

	// A peer failing at its second run is dropped with a note; aha goes on.
	rows, note, err = Throughput(context.Background(), r, specs, 3, &fakePeer{speed: []float64{1, 1}, failAt: 2, ticks: &ticks}, "llama.cpp", nil)
	if err != nil || !strings.Contains(note, "llama.cpp stopped after 1 repetitions: it broke") {
		t.Fatalf("err %v, note %q", err, note)
	}
	if len(rows[0].TokensPerSec.Samples) != 3 || len(rows[0].VsTokensPerS.Samples) != 1 {
		t.Errorf("after the peer broke: %+v", rows[0])
	}
}

func TestRollout(t *testing.T) {
	m := embedded(t)
	e, err := engine.New(m, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	spec := RolloutSpec{Prompts: 2, Samples: 3, PromptTokens: 5, Gen: 4}
	rows, err := Rollout(context.Background(), e, spec, 2, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Figure != "rollout" || rows[0].Batch != 6 || rows[1].Figure != "rollout_single" || rows[1].Batch != 1 {
		t.Fatalf("rows %+v", rows)
	}
	if rows[0].Vs != "single" || rows[0].Ratio != rows[0].TokensPerSec.Median/rows[1].TokensPerSec.Median || !(rows[1].TokensPerSec.Min > 0) {
		t.Errorf("comparison %+v vs %+v", rows[0], rows[1])
	}
	// Every sample generated its Gen tokens (ignore EOS): 2·3·4 per
	// batched run, 1 + warm-up runs' too.
	st := e.Stats()
	if want := int64(2*(2*3*4)*2 + 2*3*2); st.GeneratedTokens != want {
		t.Errorf("generated %d tokens, want %d", st.GeneratedTokens, want)
	}
	if _, err := Rollout(context.Background(), e, RolloutSpec{Prompts: 1}, 1, 1, nil); err == nil {
		t.Error("an empty rollout was accepted")
	}
}

// sampleReport has every field set, so that the schema test sees them all.
func sampleReport() *Report {
	st := Stats{Median: 2, Mean: 2.5, Min: 1, Max: 4, Samples: []float64{1, 2, 4, 3}}
	vs := Stats{Median: 1, Mean: 1, Min: 1, Max: 1, Samples: []float64{1, 1, 1, 1}}
	lat := Latency{Count: 3, Mean: 1, P50: 2, P90: 3, P99: 4}
	return &Report{
		Version: "dev", Mode: "default", Command: "aha bench", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Model: "/m.gguf", Synthetic: "qwen2.5-0.5b Q8_0", Backend: "cpu-avx2", Threads: 2, Repetitions: 4,
		Peer: &Peer{Name: "llama.cpp", Path: "/bin", Found: true, Note: "n", Commands: []string{"llama-bench"}, PeakRSSBytes: 5 << 20},
		Rows: []Row{
			{Figure: "prefill", PromptTokens: 128, Batch: 1, TokensPerSec: st, Vs: "llama.cpp", VsTokensPerS: &vs, Ratio: 2},
			{Figure: "decode", GenTokens: 64, Depth: 128, Batch: 4, TokensPerSec: st},
		},
		Serve: []ServeRun{{Server: "url", URL: "http://x", Rate: 2, Concurrency: 1, Requests: 3, Failed: 1, DurationS: 1.5,
			InputTokens: 10, OutputTokens: 20, RequestsPerSec: 1, OutputTokensPerSec: 13, TTFT: lat, TPOT: lat, ITL: lat, E2E: lat, Errors: []string{"e"}}},
		PeakRSSBytes: 7 << 20,
	}
}

// TestReportSchema: the report round-trips through JSON, and its field
// names are the documented ones (README's table of figures).
func TestReportSchema(t *testing.T) {
	r := sampleReport()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, &back) {
		t.Errorf("round trip changed the report:\n%+v\n%+v", r, &back)
	}
	var doc map[string]any
	json.Unmarshal(data, &doc)
	keys := func(v any) []string {
		var ks []string
		for k := range v.(map[string]any) {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	for _, tc := range []struct {
		where string
		v     any
		want  string
	}{
		{"report", doc, "aha_version backend command mode model peak_rss_bytes peer repetitions rows serve started synthetic threads"},
		{"peer", doc["peer"], "commands found name note path peak_rss_bytes"},
		{"row", doc["rows"].([]any)[0], "batch depth figure gen_tokens prompt_tokens ratio tokens_per_s vs vs_tokens_per_s"},
		{"stats", doc["rows"].([]any)[0].(map[string]any)["tokens_per_s"], "max mean median min samples"},
		{"serve", doc["serve"].([]any)[0], "concurrency duration_s e2e_latency errors failed input_tokens itl output_tokens output_tokens_per_s rate requests requests_per_s server tpot ttft url"},
		{"latency", doc["serve"].([]any)[0].(map[string]any)["ttft"], "count mean_ms p50_ms p90_ms p99_ms"},
	} {
		if got := strings.Join(keys(tc.v), " "); got != tc.want {
			t.Errorf("%s fields:\n got %s\nwant %s", tc.where, got, tc.want)
		}
	}
	// A row without a comparison leaves the comparison out.
	row := doc["rows"].([]any)[1].(map[string]any)
	if _, ok := row["vs_tokens_per_s"]; ok {
		t.Error("vs_tokens_per_s present without a peer")
	}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	r := sampleReport()
	r.Serve = append(r.Serve, r.Serve[0])
	r.Serve[1].Server, r.Serve[1].OutputTokensPerSec = "vs-url", 26
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	lines := map[string][]string{}
	for _, l := range strings.Split(b.String(), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = f
		}
	}
	for first, want := range map[string]string{
		"figure":     "figure prompt gen depth batch aha tok/s min–max llama.cpp tok/s min–max aha/llama.cpp",
		"prefill":    "prefill 128 – 0 1 2.00 1.00–4.00 1.00 1.00–1.00 2.00",
		"decode":     "decode – 64 128 4 2.00 1.00–4.00 –",
		"url":        "url rate 2/s 3 1 1.00 13.0 1.0/2.0/3.0/4.0 1.0/2.0/3.0/4.0 1.0/2.0/3.0/4.0 1.0/2.0/3.0/4.0",
		"url/vs-url": "url/vs-url 1.00 0.50 1.00/1.00/1.00/1.00 1.00/1.00/1.00/1.00 1.00/1.00/1.00/1.00 1.00/1.00/1.00/1.00",
		"peak":       "peak resident memory: aha 7 MiB, llama.cpp 5 MiB",
		"llama.cpp:": "llama.cpp: n",
	} {
		if got := strings.Join(lines[first], " "); got != want {
			t.Errorf("table line\n got %q\nwant %q\n%s", got, want, b.String())
		}
	}
}

func TestPlot(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	rollout := []Row{
		{Figure: "rollout", Batch: 16, TokensPerSec: Stats{Median: 9, Min: 8, Max: 10}},
		{Figure: "rollout_single", Batch: 1, TokensPerSec: Stats{Median: 3, Min: 3, Max: 3}},
	}
	for name, rep := range map[string]*Report{
		"throughput": {Rows: r.Rows},
		"rollout":    {Rows: rollout},
		"serve":      {Serve: []ServeRun{r.Serve[0], {Server: "vs-url", Rate: 4, TTFT: Latency{Count: 1, P50: 3}}}},
	} {
		path := filepath.Join(dir, name+".png")
		if err := Plot(rep, path); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		data, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) || len(data) < 5000 {
			t.Errorf("%s: not a PNG (%d bytes, %v)", name, len(data), err)
		}
	}
	if err := Plot(&Report{}, filepath.Join(dir, "empty.png")); err == nil {
		t.Error("an empty report was plotted")
	}
}

func TestPeakRSS(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	before := PeakRSS()
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = 1 // touch every page
	}
	after := PeakRSS()
	if before <= 0 || after < before+60<<20 {
		t.Errorf("peak RSS %d before and %d after touching 64 MiB", before, after)
	}
}
