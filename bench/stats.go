package bench

import (
	"math"
	"slices"
)

// Percentile returns the p-th percentile (0 ≤ p ≤ 100) of xs by linear
// interpolation between the two nearest ranks: with the values sorted,
// the percentile sits at rank h = (n−1)·p/100, and is
// x[⌊h⌋] + (h−⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]). This is NumPy's default
// ("linear") method, so the numbers match numpy.percentile and vLLM's
// serving benchmark. It returns NaN for no values.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return percentileSorted(s, p)
}

func percentileSorted(s []float64, p float64) float64 {
	h := float64(len(s)-1) * min(max(p, 0), 100) / 100
	lo := int(math.Floor(h))
	if lo+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// Mean is the arithmetic mean of xs (NaN for none).
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// Stats summarizes repeated measurements of one figure. Samples keeps the
// measurements in the order they were taken.
type Stats struct {
	Median  float64   `json:"median"`
	Mean    float64   `json:"mean"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Samples []float64 `json:"samples"`
}

// Summarize computes Stats over xs; the median is the 50th percentile
// (the middle value, or the mean of the two middle ones). For no values
// every field is zero (JSON has no NaN).
func Summarize(xs []float64) Stats {
	if len(xs) == 0 {
		return Stats{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Stats{Median: percentileSorted(s, 50), Mean: Mean(s), Min: s[0], Max: s[len(s)-1], Samples: slices.Clone(xs)}
}

// Latency summarizes a latency distribution in milliseconds the way
// serving benchmarks report it. Count is the number of values; with none,
// every figure is zero.
type Latency struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
}

// SummarizeLatency computes Latency over xs (milliseconds).
func SummarizeLatency(xs []float64) Latency {
	if len(xs) == 0 {
		return Latency{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Latency{Count: len(s), Mean: Mean(s), P50: percentileSorted(s, 50), P90: percentileSorted(s, 90), P99: percentileSorted(s, 99)}
}
