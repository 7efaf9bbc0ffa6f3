package bench

import (
	"math"
	"testing"
)

// TestPercentile checks values worked by hand from numpy.percentile's
// default (linear) definition; 15, 20, 35, 40, 50 is the textbook example.
func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{7}, 0, 7},
		{[]float64{7}, 50, 7},
		{[]float64{7}, 99, 7},
		{[]float64{1, 2}, 50, 1.5},
		{[]float64{1, 2}, 90, 1.9},
		{[]float64{3, 1, 2}, 50, 2}, // unsorted input
		{[]float64{1, 2, 3, 4}, 50, 2.5},
		{[]float64{1, 2, 3, 4}, 25, 1.75},
		{[]float64{1, 2, 3, 4}, 0, 1},
		{[]float64{1, 2, 3, 4}, 100, 4},
		{[]float64{15, 20, 35, 40, 50}, 40, 29},   // numpy: 29.0
		{[]float64{15, 20, 35, 40, 50}, 90, 46},   // numpy: 46.0
		{[]float64{15, 20, 35, 40, 50}, 99, 49.6}, // numpy: 49.6
		{[]float64{10, 10, 10, 20}, 90, 17},       // ties
		{[]float64{-5, 0, 5}, 75, 2.5},            // negatives
	} {
		if got := Percentile(tc.xs, tc.p); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Percentile(%v, %g) = %g, want %g", tc.xs, tc.p, got, tc.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("Percentile of nothing should be NaN")
	}
	// 1..100: the p-th percentile is 1 + 0.99·p.
	var xs []float64
	for i := 100; i >= 1; i-- {
		xs = append(xs, float64(i))
	}
	for _, p := range []float64{0, 1, 50, 90, 99, 100} {
		if got, want := Percentile(xs, p), 1+0.99*p; math.Abs(got-want) > 1e-9 {
			t.Errorf("1..100: p%g = %g, want %g", p, got, want)
		}
	}
}

func TestSummarize(t *testing.T) {
	xs := []float64{4, 1, 3, 2, 10}
	s := Summarize(xs)
	if s.Median != 3 || s.Mean != 4 || s.Min != 1 || s.Max != 10 {
		t.Errorf("Summarize(%v) = %+v", xs, s)
	}
	if len(s.Samples) != 5 || s.Samples[0] != 4 || s.Samples[4] != 10 {
		t.Errorf("samples should keep their order: %v", s.Samples)
	}
	xs[0] = 99
	if s.Samples[0] != 4 {
		t.Error("Samples aliases the input")
	}
	if e := Summarize(nil); e.Median != 0 || e.Samples != nil {
		t.Errorf("Summarize(nil) = %+v, want zeros", e)
	}

	l := SummarizeLatency([]float64{15, 20, 35, 40, 50})
	if l.Count != 5 || l.Mean != 32 || l.P50 != 35 || l.P90 != 46 || math.Abs(l.P99-49.6) > 1e-12 {
		t.Errorf("SummarizeLatency = %+v, want count 5, mean 32, p50 35, p90 46, p99 49.6", l)
	}
	if (SummarizeLatency(nil) != Latency{}) {
		t.Error("SummarizeLatency(nil) should be zero")
	}
}
