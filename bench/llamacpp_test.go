package bench

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// llama-bench -o json output (one test; most fields cut).
const llamaBenchJSON = `[
  {
    "build_commit": "3f545becc",
    "model_filename": "/m/stories260K.gguf",
    "n_threads": 2,
    "n_prompt": 16,
    "n_gen": 0,
    "n_depth": 0,
    "avg_ns": 596810,
    "avg_ts": 26868.775352,
    "stddev_ts": 1789.221087,
    "samples_ns": [ 624912, 568708 ],
    "samples_ts": [ 25603.6, 28133.9 ]
  },
  {
    "n_threads": 2,
    "n_prompt": 0,
    "n_gen": 8,
    "n_depth": 16,
    "avg_ts": 9843.545667,
    "stddev_ts": 2770.662858,
    "samples_ts": [ 11802.7, 7884.39 ]
  }
]
`

// llama-batched-bench --output-format jsonl output, with the "-nan" it
// prints for a prefill of no tokens.
const batchedBenchJSONL = `
{"n_kv_max": 1024, "n_batch": 2048, "n_ubatch": 512, "flash_attn": -1, "is_pp_shared": 0, "n_gpu_layers": -1, "n_threads": 2, "n_threads_batch": 2, "pp": 0, "tg": 8, "pl": 1, "n_kv": 8, "t_pp": 0.000000, "speed_pp": -nan, "t_tg": 0.000758, "speed_tg": 10554.089844, "t": 0.000758, "speed": 10554.089844}
{"n_kv_max": 1024, "n_batch": 2048, "n_ubatch": 512, "flash_attn": -1, "is_pp_shared": 0, "n_gpu_layers": -1, "n_threads": 2, "n_threads_batch": 2, "pp": 16, "tg": 8, "pl": 4, "n_kv": 96, "t_pp": 0.001450, "speed_pp": 44137.929688, "t_tg": 0.001576, "speed_tg": 20304.568359, "t": 0.003026, "speed": inf}

`

func TestParseLlamaBench(t *testing.T) {
	rs, err := ParseLlamaBench([]byte(llamaBenchJSON))
	if err != nil {
		t.Fatal(err)
	}
	want := []LlamaBenchResult{
		{Prompt: 16, Threads: 2, AvgTS: 26868.775352, StddevTS: 1789.221087, SamplesTS: []float64{25603.6, 28133.9}},
		{Gen: 8, Depth: 16, Threads: 2, AvgTS: 9843.545667, StddevTS: 2770.662858, SamplesTS: []float64{11802.7, 7884.39}},
	}
	if len(rs) != len(want) {
		t.Fatalf("got %d results", len(rs))
	}
	for i := range want {
		g, w := rs[i], want[i]
		if g.Prompt != w.Prompt || g.Gen != w.Gen || g.Depth != w.Depth || g.Threads != w.Threads || g.AvgTS != w.AvgTS || g.StddevTS != w.StddevTS || !slices.Equal(g.SamplesTS, w.SamplesTS) {
			t.Errorf("result %d: %+v, want %+v", i, g, w)
		}
	}
	if _, err := ParseLlamaBench([]byte("main: error: failed to load model")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestParseBatchedBench(t *testing.T) {
	rows, err := ParseBatchedBench([]byte(batchedBenchJSONL))
	if err != nil {
		t.Fatal(err)
	}
	want := []BatchedBenchRow{
		{Prompt: 0, Gen: 8, Batch: 1, SpeedTG: 10554.089844, Speed: 10554.089844},
		{Prompt: 16, Gen: 8, Batch: 4, SpeedPP: 44137.929688, SpeedTG: 20304.568359},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("got %+v\nwant %+v", rows, want)
	}
	if _, err := ParseBatchedBench([]byte("|  PP | TG |\n")); err == nil {
		t.Error("no rows parsed without an error")
	}
}

func FuzzParseBatchedBench(f *testing.F) {
	f.Add([]byte(batchedBenchJSONL))
	f.Add([]byte(`{"pp": 1, "speed": -nan}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseBatchedBench(data) // must not panic
	})
}

func FuzzParseLlamaBench(f *testing.F) {
	f.Add([]byte(llamaBenchJSON))
	f.Add([]byte(`[{"avg_ts": inf}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseLlamaBench(data)
	})
}

// fakeLlamaCpp writes shell scripts standing in for llama-bench and
// llama-batched-bench: they log their arguments to calls.log and print
// results whose speeds encode the lengths asked for, so the test can check
// which result went to which spec.
func fakeLlamaCpp(t *testing.T) string {
	if runtime.GOOS == "windows" {
		t.Skip("the fake peer is a shell script")
	}
	dir := t.TempDir()
	write := func(name, script string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// llama-bench: tokens/s = 1000·p + 10·n + d.
	write("llama-bench", `echo "llama-bench $*" >> "$(dirname "$0")/calls.log"
while [ $# -gt 0 ]; do case "$1" in -p) p=$2;; -n) n=$2;; -d) d=$2;; esac; shift; done
echo "[{\"n_prompt\": $p, \"n_gen\": $n, \"n_depth\": $d, \"avg_ts\": $((1000*p + 10*n + d)), \"samples_ts\": [1]}]"
`)
	// llama-batched-bench: S_TG = 100·batch + tg.
	write("llama-batched-bench", `echo "llama-batched-bench $*" >> "$(dirname "$0")/calls.log"
while [ $# -gt 0 ]; do case "$1" in -npp) pp=$2;; -ntg) tg=$2;; -npl) pl=$2;; esac; shift; done
echo "llama_batched_bench: some log line"
for b in $(echo $pl | tr , ' '); do
  echo "{\"pp\": $pp, \"tg\": $tg, \"pl\": $b, \"speed_pp\": -nan, \"speed_tg\": $((100*b + tg)), \"speed\": 1}"
done
`)
	return dir
}

func TestLlamaCppMeasure(t *testing.T) {
	dir := fakeLlamaCpp(t)
	if got, err := FindLlamaCpp(dir); err != nil || got != dir {
		t.Fatalf("FindLlamaCpp: %q, %v", got, err)
	}
	l := &LlamaCpp{Dir: dir, Model: "/m.gguf", Threads: 3}
	specs := []Spec{
		{Figure: "prefill", Prompt: 128},
		{Figure: "decode", Gen: 64, Depth: 128, Batch: 1},
		{Figure: "decode", Gen: 64, Depth: 128, Batch: 4},
		{Figure: "decode", Gen: 64, Depth: 128, Batch: 16},
		{Figure: "decode", Gen: 8, Depth: 0, Batch: 2},
	}
	got, err := l.Measure(context.Background(), specs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{128000, 640 + 128, 464, 1664, 208}; !slices.Equal(got, want) {
		t.Errorf("tokens/s %v, want %v", got, want)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "calls.log"))
	calls := strings.Split(strings.TrimSpace(string(log)), "\n")
	want := []string{
		"llama-bench -m /m.gguf -t 3 -r 1 -o json -p 128 -n 0 -d 0",
		"llama-bench -m /m.gguf -t 3 -r 1 -o json -p 0 -n 64 -d 128",
		"llama-batched-bench -m /m.gguf -t 3 -c 4096 -npp 128 -ntg 64 -npl 4,16 --output-format jsonl",
		"llama-batched-bench -m /m.gguf -t 3 -c 512 -npp 0 -ntg 8 -npl 2 --output-format jsonl",
	}
	if !slices.Equal(calls, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if len(l.Commands) != 4 || !strings.HasPrefix(l.Commands[0], filepath.Join(dir, "llama-bench")+" -m") {
		t.Errorf("commands %q", l.Commands)
	}

	// A run that lost its last row to llama.cpp's logger is run again.
	os.WriteFile(filepath.Join(dir, "llama-batched-bench"), []byte(`#!/bin/sh
echo run >> "$(dirname "$0")/runs.log"
echo '{"pp": 0, "tg": 8, "pl": 2, "speed_tg": 5}'
[ $(wc -l < "$(dirname "$0")/runs.log") -ge 2 ] && echo '{"pp": 0, "tg": 8, "pl": 3, "speed_tg": 7}'
true
`), 0o755)
	got, err = l.Measure(context.Background(), []Spec{{Figure: "decode", Gen: 8, Batch: 2}, {Figure: "decode", Gen: 8, Batch: 3}})
	if runs, _ := os.ReadFile(filepath.Join(dir, "runs.log")); err != nil || !slices.Equal(got, []float64{5, 7}) || len(runs) != len("run\nrun\n") {
		t.Errorf("retry: %v, %v after %q", got, err, runs)
	}

	// A failing peer says what it printed.
	os.WriteFile(filepath.Join(dir, "llama-bench"), []byte("#!/bin/sh\necho 'error: failed to load model' >&2\nexit 1\n"), 0o755)
	if _, err := l.Measure(context.Background(), specs[:1]); err == nil || !strings.Contains(err.Error(), "failed to load model") {
		t.Errorf("failing llama-bench: %v", err)
	}
	if _, err := FindLlamaCpp(t.TempDir()); err == nil || !strings.Contains(err.Error(), "llama.cpp not found") {
		t.Errorf("empty folder: %v", err)
	}
}

// TestPeerPeakRSS: a peer's peak memory is its own, not the resident size
// of aha that Linux hands a child at exec.
func TestPeerPeakRSS(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "llama-bench"), []byte("#!/bin/sh\nsleep 0.3\n"), 0o755)
	ballast := make([]byte, 128<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	l := &LlamaCpp{Dir: dir}
	if _, err := l.run(context.Background(), "llama-bench", nil); err != nil {
		t.Fatal(err)
	}
	if own := PeakRSS(); l.PeakRSS <= 0 || l.PeakRSS >= own/2 {
		t.Errorf("peer peak %d bytes, aha's %d", l.PeakRSS, own)
	}
	if ballast[len(ballast)-1] != 1 {
		t.Fatal("ballast lost")
	}
}
