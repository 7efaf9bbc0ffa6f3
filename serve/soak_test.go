package serve

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/aha-inference/aha/engine"
)

// TestLoadSoak sends 20 rounds of 256 prompts × n=4 to /generate/ (TRL's
// batch size and more): resident memory after the last round stays within
// 10% of what it was after the first, the live heap after each round
// within 4 MiB of what it was before the first (finished requests, with
// their samplers, must not stay reachable), and every KV block is free at
// the end. The soft memory limit makes the collector fight a regression
// before it takes the machine down.
func TestLoadSoak(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a 20-round load test: not under -short or the race detector")
	}
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(2 << 30))
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	prompts := make([]string, 256)
	for i := range prompts {
		prompts[i] = "Once upon a time, number " + strconv.Itoa(i)
	}
	req := map[string]any{"prompts": prompts, "n": 4, "max_tokens": 8, "logprobs": 0, "generation_kwargs": map[string]any{"seed": 1}}
	ts.postOK(t, "/generate/", map[string]any{"prompts": []string{"warm up"}, "max_tokens": 2}, &struct{}{})
	base := liveHeap()
	var first int64
	for round := range 20 {
		var out struct {
			CompletionIDs [][]int `json:"completion_ids"`
		}
		ts.postOK(t, "/generate/", req, &out)
		if len(out.CompletionIDs) != 1024 {
			t.Fatalf("round %d: %d completions, want 1024", round, len(out.CompletionIDs))
		}
		if live := liveHeap(); live > base+4<<20 {
			t.Fatalf("round %d: %.1f MiB live on the heap, %.1f MiB before the first round", round, float64(live)/(1<<20), float64(base)/(1<<20))
		}
		rss := residentBytes(t)
		if round == 0 {
			first = rss
			continue
		}
		if rss > first+first/10 {
			t.Fatalf("round %d: resident memory %d MiB, after the first round %d MiB", round, rss>>20, first>>20)
		}
	}
	t.Logf("resident memory after the first round %d MiB, after the last %d MiB", first>>20, residentBytes(t)>>20)
	checkBlocksFree(t, ts)
}

// liveHeap is the heap that survives a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// residentBytes is the process's resident memory once the garbage the
// rounds left is collected and returned to the system.
func residentBytes(t *testing.T) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("reads /proc/self/statm:", err)
	}
	f := strings.Fields(string(data))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}
