package rollout

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard selects the prompts of one of N machines: those whose index i has
// i mod N = K. Seeds depend on i alone, so the N shards together write
// exactly the records of one unsharded run.
type Shard struct{ K, N int }

// All is the shard of an unsharded run.
var All = Shard{0, 1}

// ParseShard reads "K/N", or "N" alone with K taken from jobIndex (a
// Kubernetes Indexed Job's JOB_COMPLETION_INDEX); "" is All.
func ParseShard(s, jobIndex string) (Shard, error) {
	if s == "" {
		return All, nil
	}
	ks, ns, ok := strings.Cut(s, "/")
	if !ok {
		if jobIndex == "" {
			return Shard{}, fmt.Errorf("shard %q: want K/N, or N with JOB_COMPLETION_INDEX set", s)
		}
		ks, ns = jobIndex, s
	}
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.Atoi(ns)
	if err1 != nil || err2 != nil || n < 1 || k < 0 || k >= n {
		return Shard{}, fmt.Errorf("shard %s/%s: want 0 ≤ K < N", ks, ns)
	}
	return Shard{k, n}, nil
}

// Has reports whether prompt i belongs to the shard.
func (s Shard) Has(i int) bool { return i%s.N == s.K }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// SampleSeed is the seed of sample j of prompt i when each prompt gets n
// samples: prompt i's request has seed + i·n, and the engine gives its
// sample j that plus j.
func SampleSeed(seed uint64, i, n, j int) uint64 { return seed + uint64(i)*uint64(n) + uint64(j) }

// Missing groups the sample indexes 0..n-1 of prompt i that done lacks
// into runs [start, end): each run is one request of end−start samples
// whose seed is SampleSeed(seed, i, n, start), which draws exactly those
// samples again.
func Missing(done func(Key) bool, i, n int) [][2]int {
	var runs [][2]int
	for j := 0; j < n; j++ {
		if done(Key{i, j}) {
			continue
		}
		if len(runs) > 0 && runs[len(runs)-1][1] == j {
			runs[len(runs)-1][1]++
		} else {
			runs = append(runs, [2]int{j, j + 1})
		}
	}
	return runs
}
