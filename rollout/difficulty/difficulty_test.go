package difficulty

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aha-inference/aha/rollout"
)

func TestBinPassRate(t *testing.T) {
	for p, want := range map[float64]int{0: 0, 0.1: 1, 0.2: 2, 0.5: 3, 0.79: 4, 0.8: 5, 0.99: 5, 1: 6} {
		if got := binPassRate(p); got != want || passRateBins[got] == "" {
			t.Errorf("binPassRate(%g) = %d, want %d", p, got, want)
		}
	}
}

// TestSummarizeLevels: a problem counts in each of its levels, in "none"
// without one, and in "dropped" alone when dropped; the means are over
// the problems of the row.
func TestSummarizeLevels(t *testing.T) {
	staged := []rollout.Staged{
		{PromptID: 0, PassRates: []float64{0.5, 1}, Levels: []string{rollout.L1, rollout.L2}},
		{PromptID: 1, PassRates: []float64{0.25, 0.5}, Levels: []string{rollout.L1}},
		{PromptID: 2, PassRates: []float64{1, 1}},
		{PromptID: 3, PassRates: []float64{0, 0}, Levels: []string{rollout.L3}, Dropped: true},
	}
	names := []string{"small", "large"}
	stats := summarizeLevels(staged, names)
	want := map[string]struct {
		n            int
		small, large float64
	}{rollout.L1: {2, 0.375, 0.75}, rollout.L2: {1, 0.5, 1}, rollout.L3: {0, 0, 0}, "none": {1, 1, 1}, "dropped": {1, 0, 0}}
	for _, s := range stats {
		w := want[s.Level]
		if s.Problems != w.n || s.MeanRates["small"] != w.small || s.MeanRates["large"] != w.large {
			t.Errorf("%s: %+v, want %+v", s.Level, s, w)
		}
	}
	var b bytes.Buffer
	Summary{Levels: stats, names: names}.Print(&b)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 1+len(levelRows) || !strings.HasPrefix(lines[1], "L1              2    0.375    0.750") ||
		!strings.HasSuffix(lines[3], "-        -") {
		t.Errorf("table:\n%s", b.String())
	}
}

func TestRunRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, opt := range []Options{
		{Dir: dir},
		{Models: []Model{{"a", nil}}, Dir: dir, L3Share: 2},
		{Models: []Model{{"a", nil}, {"a", nil}}, Dir: dir},
		{Models: []Model{{"a", nil}}, Filter: &Model{"a", nil}, Dir: dir},
	} {
		if _, err := Run(opt); err == nil {
			t.Errorf("%+v accepted", opt)
		}
	}
}
