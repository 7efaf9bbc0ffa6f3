package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/aha-inference/aha/bench"
)

// benchJSON runs aha bench with --json and decodes the report.
func benchJSON(t *testing.T, args ...string) *bench.Report {
	t.Helper()
	stdout, stderr, code := aha(t, append([]string{"bench", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("aha bench %q: exit %d\n%s", args, code, stderr)
	}
	var r bench.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	return &r
}

// TestBench runs a tiny default benchmark on the embedded model: every
// row has a positive speed, and the plot is a PNG.
func TestBench(t *testing.T) {
	png := filepath.Join(t.TempDir(), "p.png")
	r := benchJSON(t, "--reps", "2", "--prompt", "16", "--gen", "4", "--batch", "1,3", "-t", "1", "--plot", png)
	if r.Mode != "default" || r.Repetitions != 2 || r.Threads != 1 || r.Backend == "" || r.PeakRSSBytes <= 0 || r.Peer != nil {
		t.Errorf("report header %+v", r)
	}
	want := []bench.Row{
		{Figure: "prefill", PromptTokens: 16, Batch: 1},
		{Figure: "decode", GenTokens: 4, Depth: 16, Batch: 1},
		{Figure: "decode", GenTokens: 4, Depth: 16, Batch: 3},
	}
	if len(r.Rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(r.Rows), len(want))
	}
	for i, row := range r.Rows {
		w := want[i]
		if row.Figure != w.Figure || row.PromptTokens != w.PromptTokens || row.GenTokens != w.GenTokens || row.Depth != w.Depth || row.Batch != w.Batch {
			t.Errorf("row %d: %+v, want %+v", i, row, w)
		}
		if s := row.TokensPerSec; len(s.Samples) != 2 || !(s.Min > 0) || s.Median < s.Min || s.Max < s.Median {
			t.Errorf("row %d: tokens/s %+v", i, s)
		}
	}
	data, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(data, []byte("\x89PNG")) {
		t.Errorf("plot: %v", err)
	}

	// The table goes to stdout without --json.
	stdout, stderr, code := aha(t, "bench", "decode", "--reps", "1", "--gen", "2", "--depth", "3")
	if code != 0 || !strings.Contains(stdout, "aha tok/s") || !strings.Contains(stdout, "decode") || !strings.Contains(stdout, "peak resident memory") {
		t.Errorf("decode table: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestBenchRollout(t *testing.T) {
	r := benchJSON(t, "rollout", "--reps", "1", "--num-prompts", "2", "-n", "3", "--prompt", "5", "--gen", "4")
	if len(r.Rows) != 2 || r.Rows[0].Figure != "rollout" || r.Rows[0].Batch != 6 || r.Rows[1].Figure != "rollout_single" {
		t.Fatalf("rows %+v", r.Rows)
	}
	if !(r.Rows[0].TokensPerSec.Median > 0) || !(r.Rows[1].TokensPerSec.Median > 0) || r.Rows[0].Vs != "single" || !(r.Rows[0].Ratio > 0) {
		t.Errorf("rows %+v", r.Rows)
	}
}

// TestBenchServe drives a small OpenAI-compatible server in the test
// process at two concurrency levels.
func TestBenchServe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			MaxTokens int `json:"max_tokens"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		for i := range body.MaxTokens {
			fmt.Fprintf(w, "data: {\"choices\":[{\"text\":\"t%d\"}]}\n\n", i)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()
	png := filepath.Join(t.TempDir(), "serve.png")
	r := benchJSON(t, "serve", "--url", srv.URL, "--vs-url", srv.URL, "--concurrency", "1,2", "--requests", "5", "--gen", "3", "--prompt-len", "4", "--plot", png)
	if len(r.Serve) != 4 {
		t.Fatalf("%d serve runs, want 2 levels × 2 servers", len(r.Serve))
	}
	for i, s := range r.Serve {
		server, conc := []string{"url", "vs-url"}[i%2], 1+i/2
		if s.Server != server || s.Concurrency != conc || s.Requests != 5 || s.Failed != 0 || s.OutputTokens != 15 || s.TTFT.Count != 5 || s.ITL.Count != 10 || !(s.OutputTokensPerSec > 0) {
			t.Errorf("run %d: %+v", i, s)
		}
	}
	if r.Peer == nil || r.Peer.Name != "vs-url" {
		t.Errorf("peer %+v", r.Peer)
	}
	if _, err := os.Stat(png); err != nil {
		t.Error(err)
	}
}

// TestBenchPeer runs against stand-ins for llama.cpp's binaries that
// check they were given a GGUF file and the same threads, and report a
// fixed speed.
func TestBenchPeer(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake peer is a shell script")
	}
	dir := t.TempDir()
	check := `m=; t=; while [ $# -gt 0 ]; do case "$1" in -m) m=$2;; -t) t=$2;; -npl) pl=$2;; esac; shift; done
[ -f "$m" ] && [ "$(head -c 4 "$m")" = GGUF ] && [ "$t" = 1 ] || { echo "bad model $m or threads $t" >&2; exit 1; }
`
	os.WriteFile(filepath.Join(dir, "llama-bench"), []byte("#!/bin/sh\n"+check+
		`echo '[{"n_prompt": 16, "n_gen": 0, "n_depth": 0, "avg_ts": 2}, {"n_prompt": 0, "n_gen": 4, "n_depth": 16, "avg_ts": 2}]'`+"\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "llama-batched-bench"), []byte("#!/bin/sh\n"+check+
		`echo '{"pp": 16, "tg": 4, "pl": 3, "speed_tg": 2}'`+"\n"), 0o755)
	r := benchJSON(t, "--reps", "2", "--prompt", "16", "--gen", "4", "--batch", "1,3", "-t", "1", "--vs", "llama.cpp="+dir)
	if r.Peer == nil || !r.Peer.Found || r.Peer.Note != "" || len(r.Peer.Commands) != 3 {
		t.Fatalf("peer %+v", r.Peer)
	}
	for _, row := range r.Rows {
		if row.Vs != "llama.cpp" || row.VsTokensPerS == nil || len(row.VsTokensPerS.Samples) != 2 || row.Ratio != row.TokensPerSec.Median/2 {
			t.Errorf("row %+v", row)
		}
	}

	// A peer that is not there is said so, and aha runs alone.
	stdout, stderr, code := aha(t, "bench", "prefill", "--reps", "1", "--prompt", "4", "--vs", "llama.cpp="+filepath.Join(dir, "nowhere"))
	if code != 0 || !strings.Contains(stderr, "llama.cpp not found") || !strings.Contains(stdout, "prefill") {
		t.Errorf("missing peer: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestBenchBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "sideways"}, `unexpected arguments ["sideways"]`},
		{[]string{"bench", "--reps", "0"}, "at least one repetition"},
		{[]string{"bench", "decode", "--batch", "1,x"}, `--batch "1,x"`},
		{[]string{"bench", "--vs", "vllm"}, "the known peer is llama.cpp"},
		{[]string{"bench", "--synth", "gpt-5"}, "unknown synthetic shape"},
		{[]string{"bench", "--synth", "qwen3-0.6b", "--type", "int3"}, `--type "int3"`},
		{[]string{"bench", "-m", "x.gguf", "--synth", "qwen3-0.6b"}, "either -m or --synth"},
		{[]string{"bench", "--url", "http://x"}, "belong to serve mode"},
		{[]string{"bench", "serve"}, "needs the server's address"},
		{[]string{"bench", "serve", "--url", "http://x", "--rate", "1", "--concurrency", "2"}, "either --rate or --concurrency"},
		{[]string{"bench", "serve", "--url", "http://x", "--rate", "-1"}, "positive numbers"},
		{[]string{"bench", "serve", "--url", "http://x", "-m", "m.gguf"}, "serve mode drives servers"},
		{[]string{"bench", "-m", "/no/such.gguf"}, "no such file"},
		{[]string{"bench", "prefill", "--prompt", "5000"}, "holds 2048 positions"},
	} {
		_, stderr, code := aha(t, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("aha %q: exit %d, stderr %q; want an error containing %q", tc.args, code, stderr, tc.want)
		}
	}
	// A server that is not there fails the warm-up.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if _, stderr, code := aha(t, "bench", "serve", "--url", dead.URL); code != 1 || !strings.Contains(stderr, "warm-up request") {
		t.Errorf("dead server: exit %d, %s", code, stderr)
	}
}

// TestBenchThreadsFollowAffinity: on one CPU (taskset -c 0) the default
// thread count is 1, whatever the processor reports, and the report says
// why; -t still overrides.
func TestBenchThreadsFollowAffinity(t *testing.T) {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		t.Skip("taskset is not installed")
	}
	for _, c := range []struct {
		extra []string
		want  int
		why   string
	}{{nil, 1, ""}, {[]string{"-t", "3"}, 3, "as asked"}} {
		args := append([]string{"-c", "0", ahaBin, "bench", "--json", "decode", "--reps", "1", "--gen", "2", "--depth", "2"}, c.extra...)
		out, err := exec.Command(taskset, args...).Output()
		if err != nil {
			t.Fatalf("taskset %q: %v", args, err)
		}
		var r bench.Report
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		if r.Threads != c.want || r.ThreadsWhy == "" || c.why != "" && r.ThreadsWhy != c.why {
			t.Errorf("taskset -c 0 aha bench %q: %d threads (%s), want %d", c.extra, r.Threads, r.ThreadsWhy, c.want)
		}
	}
}
