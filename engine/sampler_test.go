package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aha-inference/aha/kernels"
)

func TestSamplerValidates(t *testing.T) {
	for _, p := range []SamplingParams{
		{Temperature: -1, TopP: 1},
		{Temperature: 1, TopP: 0},
		{Temperature: 1, TopP: 1.5},
		{Temperature: 1, TopP: 1, MinP: 1},
		{Temperature: math.NaN(), TopP: 1},
		{Temperature: 1e39, TopP: 1}, // +Inf in float32
		{Temperature: 1, TopP: 1, RepetitionPenalty: -1},
		{Temperature: 1, TopP: 1, LogitBias: map[int]float32{10: 1}},
		{Temperature: 1, TopP: 1, PresencePenalty: math.Inf(1)},
		{Temperature: 1, TopP: 1, AllowedIDs: []int{3, 10}},
		{Temperature: 1, TopP: 1, BadWords: [][]int{{1}, {}}},
		{Temperature: 1, TopP: 1, BadWords: [][]int{{1, -1}}},
	} {
		if err := p.Validate(10); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

// TestValidateNamesParam: each refusal is a *ParamError naming the
// parameter as the APIs do, and its message names it too.
func TestValidateNamesParam(t *testing.T) {
	ok := DefaultSampling()
	for _, tc := range []struct {
		set   func(*SamplingParams)
		param string
	}{
		{func(p *SamplingParams) { p.Temperature = -0.5 }, "temperature"},
		{func(p *SamplingParams) { p.TopP = 0 }, "top_p"},
		{func(p *SamplingParams) { p.TopK = -2 }, "top_k"},
		{func(p *SamplingParams) { p.MinP = 1 }, "min_p"},
		{func(p *SamplingParams) { p.RepetitionPenalty = -1 }, "repetition_penalty"},
		{func(p *SamplingParams) { p.PresencePenalty = 2.5 }, "presence_penalty"},
		{func(p *SamplingParams) { p.FrequencyPenalty = -3 }, "frequency_penalty"},
		{func(p *SamplingParams) { p.LogitBias = map[int]float32{3: 101} }, "logit_bias"},
		{func(p *SamplingParams) { p.LogitBias = map[int]float32{-1: 1} }, "logit_bias"},
		{func(p *SamplingParams) { p.AllowedIDs = []int{} }, "allowed_token_ids"},
		{func(p *SamplingParams) { p.AllowedIDs = []int{10} }, "allowed_token_ids"},
		{func(p *SamplingParams) { p.BadWords = [][]int{{1, 10}} }, "bad_words"},
	} {
		p := ok
		tc.set(&p)
		var pe *ParamError
		if err := p.Validate(10); !errors.As(err, &pe) || pe.Param != tc.param || !strings.Contains(err.Error(), tc.param) {
			t.Errorf("%+v: %v, want a ParamError naming %s", p, err, tc.param)
		}
	}
	for _, p := range []SamplingParams{ok, {Temperature: 0, TopP: 1, TopK: -1, RepetitionPenalty: 0, PresencePenalty: 2, LogitBias: map[int]float32{9: -100}}} {
		if err := p.Validate(10); err != nil {
			t.Errorf("%+v refused: %v", p, err)
		}
	}
}

func TestGreedyAndTruncation(t *testing.T) {
	logits := []float32{0.5, 3, 2.9, -1, 3}
	for _, p := range []SamplingParams{
		{Temperature: 0, TopP: 1},
		{Temperature: 1, TopK: 1, TopP: 1, Seed: 5},
		{Temperature: 1, TopP: 1e-6, Seed: 5},
	} {
		s := NewSampler(p, nil, 0, nil)
		for i := 0; i < 20; i++ {
			// Ties go to the lower id, so greedy-like settings pick 1, not 4.
			if got := s.Sample(logits); got != 1 {
				t.Fatalf("%+v: sampled %d, want 1", p, got)
			}
		}
	}
}

// TestTinyTemperatures: temperatures whose division overflows float32
// (or that float32 rounds to 0) sample greedily, with finite processed
// logprobs, and scale nothing in the scaled mode, like temperature 0.
func TestTinyTemperatures(t *testing.T) {
	logits := []float32{0.5, 3, 2.9, -1, 3}
	greedy := NewSampler(SamplingParams{TopP: 1}, nil, 0, nil)
	greedy.Sample(logits)
	for _, temp := range []float64{9e-6, 1e-20, 1e-40, 1e-50, 1e-300} {
		p := SamplingParams{Temperature: temp, TopP: 1, Seed: 3}
		if err := p.Validate(len(logits)); err != nil {
			t.Fatalf("temperature %g refused: %v", temp, err)
		}
		s := NewSampler(p, nil, 0, nil)
		for range 10 {
			if got := s.Sample(logits); got != 1 {
				t.Fatalf("temperature %g sampled %d, want the argmax 1", temp, got)
			}
		}
		for _, mode := range []LogprobMode{LogprobsProcessed, LogprobsScaled} {
			for id := range logits {
				got, _ := s.Logprob(mode, logits, id, 0)
				want, _ := greedy.Logprob(mode, logits, id, 0)
				if got != want || math.IsNaN(float64(got)) {
					t.Errorf("temperature %g, %s logprob of %d: %v, temperature 0 gives %v", temp, mode, id, got, want)
				}
			}
		}
	}
	if p := (SamplingParams{Temperature: 2e-5}); p.Greedy() {
		t.Error("temperature 2e-5 counted as greedy")
	}
}

// TestSamplingDistribution draws many samples and compares the frequencies
// with the softmax at the given temperature, within 5 standard errors.
func TestSamplingDistribution(t *testing.T) {
	logits := []float32{1, 2, 0.5, -1, 1.5}
	for _, temp := range []float64{1, 0.5, 2} {
		s := NewSampler(SamplingParams{Temperature: temp, TopP: 1, Seed: 42}, nil, 0, nil)
		const n = 20000
		counts := make([]int, len(logits))
		for i := 0; i < n; i++ {
			counts[s.Sample(logits)]++
		}
		scaled := make([]float32, len(logits))
		for i, l := range logits {
			scaled[i] = float32(float64(l) / temp)
		}
		kernels.Softmax(scaled)
		for i, p := range scaled {
			got := float64(counts[i]) / n
			se := math.Sqrt(float64(p) * (1 - float64(p)) / n)
			if math.Abs(got-float64(p)) > 5*se+1e-9 {
				t.Errorf("temperature %g token %d: frequency %.4f, probability %.4f", temp, i, got, p)
			}
		}
	}
}

func TestTopKTopPMinP(t *testing.T) {
	// Probabilities at temperature 1: token 0 ≈ .64, 1 ≈ .24, 2 ≈ .09, 3 ≈ .03.
	logits := []float32{3, 2, 1, 0}
	allowed := func(p SamplingParams) map[int]bool {
		s := NewSampler(p, nil, 0, nil)
		seen := map[int]bool{}
		for i := 0; i < 2000; i++ {
			seen[s.Sample(logits)] = true
		}
		return seen
	}
	for _, tc := range []struct {
		p    SamplingParams
		want map[int]bool
	}{
		{SamplingParams{Temperature: 1, TopK: 2, TopP: 1}, map[int]bool{0: true, 1: true}},
		{SamplingParams{Temperature: 1, TopP: 0.8}, map[int]bool{0: true, 1: true}},
		{SamplingParams{Temperature: 1, TopP: 1, MinP: 0.1}, map[int]bool{0: true, 1: true, 2: true}},
		{SamplingParams{Temperature: 1, TopP: 1}, map[int]bool{0: true, 1: true, 2: true, 3: true}},
		// top-p applies to what top-k left, renormalized: .64/(.64+.24) ≈ .73 < .75.
		{SamplingParams{Temperature: 1, TopK: 2, TopP: 0.75}, map[int]bool{0: true, 1: true}},
		{SamplingParams{Temperature: 1, TopK: 2, TopP: 0.7}, map[int]bool{0: true}},
	} {
		if got := allowed(tc.p); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: sampled %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestSeedDeterminism(t *testing.T) {
	logits := []float32{1, 2, 0.5, -1, 1.5, 0.2}
	draw := func(seed uint64) []int {
		s := NewSampler(SamplingParams{Temperature: 1, TopP: 1, Seed: seed}, nil, 0, nil)
		var out []int
		for i := 0; i < 50; i++ {
			out = append(out, s.Sample(logits))
		}
		return out
	}
	if !reflect.DeepEqual(draw(7), draw(7)) {
		t.Error("the same seed gave different draws")
	}
	if reflect.DeepEqual(draw(7), draw(8)) {
		t.Error("different seeds gave the same 50 draws")
	}
}

func TestTopLogprobs(t *testing.T) {
	lp := []float32{-3, -1, -2, -1, -5}
	got := topBy(len(lp), 3, func(i int) float32 { return lp[i] })
	want := []TokenLogprob{{1, -1}, {3, -1}, {2, -2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestStopMatcher(t *testing.T) {
	for _, tc := range []struct {
		stops    []string
		pieces   []string
		released string // concatenation of what add released before the hit
		hit      bool
		text     string
	}{
		{nil, []string{"a", "b"}, "ab", false, "ab"},
		{[]string{"END"}, []string{"x", "E", "N", "y"}, "xENy", false, "xENy"},
		{[]string{"END"}, []string{"x", "E", "ND", "z"}, "x", true, "x"},
		{[]string{"END"}, []string{"xEN", "Dz"}, "x", true, "x"},
		{[]string{"\n\n", "Q:"}, []string{"a\n", "Q", ":b"}, "a\n", true, "a\n"},
		{[]string{"ab"}, []string{"aab"}, "a", true, "a"},
	} {
		m := newStopMatcher(tc.stops)
		var released strings.Builder
		hit := false
		for _, p := range tc.pieces {
			out, h := m.add(p, true)
			released.WriteString(out)
			if h != "" {
				hit = true
				break
			}
		}
		if !hit {
			released.WriteString(m.flush(""))
		}
		if released.String() != tc.released || hit != tc.hit || m.text.String() != tc.text {
			t.Errorf("%q %q: released %q hit %v text %q; want %q %v %q", tc.stops, tc.pieces, released.String(), hit, m.text.String(), tc.released, tc.hit, tc.text)
		}
	}
}

// TestPenalties checks each logit adjustment against its definition by
// reading the processed distribution back as logprobs.
func TestPenalties(t *testing.T) {
	logits := []float32{2, -1, 0.5, 1}
	ninf := float32(math.Inf(-1))
	processed := func(p SamplingParams, prompt, generated []int, minTokens int, stop []int) []float32 {
		s := NewSampler(p, prompt, minTokens, stop)
		for _, id := range generated {
			s.Accept(id)
		}
		s.next(logits)
		out := make([]float32, len(logits))
		for i := range out {
			out[i], _ = s.Logprob(LogprobsProcessed, logits, i, 0)
		}
		return out
	}
	logSoftmax := func(z []float32) []float32 {
		out := make([]float32, len(z))
		kernels.LogSoftmax(out, z)
		return out
	}
	base := SamplingParams{Temperature: 1, TopP: 1}
	for _, tc := range []struct {
		name      string
		p         func(SamplingParams) SamplingParams
		prompt    []int
		generated []int
		minTokens int
		stop      []int
		want      []float32 // the processed logits
	}{
		{"none", func(p SamplingParams) SamplingParams { return p }, []int{0}, []int{3}, 0, nil, []float32{2, -1, 0.5, 1}},
		{"repetition", func(p SamplingParams) SamplingParams { p.RepetitionPenalty = 2; return p }, []int{0}, []int{1}, 0, nil, []float32{1, -2, 0.5, 1}},
		{"presence", func(p SamplingParams) SamplingParams { p.PresencePenalty = 0.5; return p }, []int{0}, []int{3, 3, 2}, 0, nil, []float32{2, -1, 0, 0.5}},
		{"frequency", func(p SamplingParams) SamplingParams { p.FrequencyPenalty = 0.25; return p }, []int{0}, []int{3, 3, 2}, 0, nil, []float32{2, -1, 0.25, 0.5}},
		{"bias", func(p SamplingParams) SamplingParams { p.LogitBias = map[int]float32{1: 3}; return p }, nil, nil, 0, nil, []float32{2, 2, 0.5, 1}},
		{"temperature", func(p SamplingParams) SamplingParams { p.Temperature = 0.5; return p }, nil, nil, 0, nil, []float32{4, -2, 1, 2}},
		{"min tokens", func(p SamplingParams) SamplingParams { return p }, nil, []int{2}, 2, []int{0}, []float32{float32(math.Inf(-1)), -1, 0.5, 1}},
		{"min tokens reached", func(p SamplingParams) SamplingParams { return p }, nil, []int{2, 2}, 2, []int{0}, []float32{2, -1, 0.5, 1}},
		{"allowed", func(p SamplingParams) SamplingParams { p.AllowedIDs = []int{1, 3}; return p }, nil, nil, 0, nil, []float32{ninf, -1, ninf, 1}},
		{"allowed and biased", func(p SamplingParams) SamplingParams {
			p.AllowedIDs, p.LogitBias = []int{3, 1}, map[int]float32{1: 3, 2: 5}
			return p
		}, nil, nil, 0, nil, []float32{ninf, 2, ninf, 1}},
		{"bad word", func(p SamplingParams) SamplingParams { p.BadWords = [][]int{{2}}; return p }, nil, []int{2}, 0, nil, []float32{2, -1, ninf, 1}},
		{"bad words after their start", func(p SamplingParams) SamplingParams { p.BadWords = [][]int{{3, 0}, {2, 3, 1}}; return p }, nil, []int{2, 3}, 0, nil, []float32{ninf, ninf, 0.5, 1}},
		{"bad words elsewhere", func(p SamplingParams) SamplingParams { p.BadWords = [][]int{{3, 0}, {2, 3, 1}}; return p }, nil, []int{3, 2}, 0, nil, []float32{2, -1, 0.5, 1}},
		{"bad word started in the prompt", func(p SamplingParams) SamplingParams { p.BadWords = [][]int{{3, 0}}; return p }, []int{3}, nil, 0, nil, []float32{2, -1, 0.5, 1}},
	} {
		got := processed(tc.p(base), tc.prompt, tc.generated, tc.minTokens, tc.stop)
		want := logSoftmax(tc.want)
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-6 && !(math.IsInf(float64(got[i]), -1) && math.IsInf(float64(want[i]), -1)) {
				t.Errorf("%s: logprobs %v, want %v", tc.name, got, want)
				break
			}
		}
	}
}

// TestLogprobModes checks the three modes on one distribution with
// penalties, temperature and truncation all in play.
func TestLogprobModes(t *testing.T) {
	logits := []float32{3, 2, 1, 0, -1}
	p := SamplingParams{Temperature: 0.5, TopK: 3, TopP: 1, PresencePenalty: 1}
	s := NewSampler(p, nil, 0, nil)
	s.Accept(1)
	s.next(logits)
	lse := func(z []float32) []float32 { out := make([]float32, len(z)); kernels.LogSoftmax(out, z); return out }
	raw := lse(logits)
	scaled := lse([]float32{6, 4, 2, 0, -2})
	kept := lse([]float32{6, 2, 2}) // token 1 penalized to 1/0.5; top-3 keeps 0, 1, 2 (tie by id)
	for id := range logits {
		if got, _ := s.Logprob(LogprobsRaw, logits, id, 0); math.Abs(float64(got-raw[id])) > 1e-6 {
			t.Errorf("raw %d: %v want %v", id, got, raw[id])
		}
		if got, _ := s.Logprob(LogprobsScaled, logits, id, 0); math.Abs(float64(got-scaled[id])) > 1e-6 {
			t.Errorf("scaled %d: %v want %v", id, got, scaled[id])
		}
		got, _ := s.Logprob(LogprobsProcessed, logits, id, 0)
		if id < 3 && math.Abs(float64(got-kept[id])) > 1e-6 || id >= 3 && !math.IsInf(float64(got), -1) {
			t.Errorf("processed %d: %v", id, got)
		}
	}
	// Asked for more tokens than truncation kept, the list is still full:
	// the kept ones best first, then the removed ones at −∞ in the order of
	// their processed logits (0 and −2 for tokens 3 and 4).
	inf := float32(math.Inf(-1))
	for n, want := range map[int][]TokenLogprob{
		2: {{0, kept[0]}, {1, kept[1]}},
		3: {{0, kept[0]}, {1, kept[1]}, {2, kept[2]}},
		5: {{0, kept[0]}, {1, kept[1]}, {2, kept[2]}, {3, inf}, {4, inf}},
		9: {{0, kept[0]}, {1, kept[1]}, {2, kept[2]}, {3, inf}, {4, inf}},
	} {
		_, top := s.Logprob(LogprobsProcessed, logits, 0, n)
		if len(top) != len(want) {
			t.Fatalf("processed top %d: %v, want %v", n, top, want)
		}
		for i := range top {
			if top[i].ID != want[i].ID || !(math.Abs(float64(top[i].Logprob-want[i].Logprob)) <= 1e-6 || top[i].Logprob == want[i].Logprob) {
				t.Errorf("processed top %d: %v, want %v", n, top, want)
				break
			}
		}
	}
}

// BenchmarkSample measures one draw over a Qwen-sized vocabulary with the
// RL defaults (temperature 1, nothing truncated) and with truncation.
func BenchmarkSample(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, 151936)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 3)
	}
	for _, p := range []SamplingParams{
		{Temperature: 1, TopP: 1},
		{Temperature: 0.7, TopK: 50, TopP: 0.95},
		{Temperature: 1, TopP: 0.95},
	} {
		b.Run(fmt.Sprintf("T%g-k%d-p%g", p.Temperature, p.TopK, p.TopP), func(b *testing.B) {
			s := NewSampler(p, nil, 0, nil)
			for b.Loop() {
				id := s.Sample(logits)
				s.Logprob(LogprobsProcessed, logits, id, 0)
			}
		})
	}
}

// TestSelectBest checks quickselect against a full sort on random
// candidates with many ties.
func TestSelectBest(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(300)
		c := make([]candidate, n)
		for i := range c {
			c[i] = candidate{i, float32(rng.IntN(20))}
		}
		rng.Shuffle(n, func(i, j int) { c[i], c[j] = c[j], c[i] })
		k := 1 + rng.IntN(n)
		want := slices.Clone(c)
		slices.SortFunc(want, better)
		selectBest(c, k)
		got := slices.Clone(c[:k])
		slices.SortFunc(got, better)
		if !slices.Equal(got, want[:k]) {
			t.Fatalf("n=%d k=%d: got %v, want %v", n, k, got, want[:k])
		}
	}
}

// TestNothingDrawable: masks that leave no token to draw are refused up
// front instead of sampling from a distribution of −∞ everywhere.
func TestNothingDrawable(t *testing.T) {
	e := newEngine(t, 1, Options{})
	eos := e.Model().Config.EOS
	for _, req := range []Request{
		{Prompt: testPrompts[1], MaxTokens: 4, MinTokens: 2, Sampling: SamplingParams{Temperature: 1, TopP: 1, AllowedIDs: eos}},
		{Prompt: testPrompts[1], MaxTokens: 4, Sampling: SamplingParams{Temperature: 1, TopP: 1, AllowedIDs: []int{7, 9}, BadWords: [][]int{{9}, {7}}}},
	} {
		if _, err := e.Generate(context.Background(), req, nil); err == nil || !strings.Contains(err.Error(), "no token to draw") {
			t.Errorf("%+v: %v", req.Sampling, err)
		}
	}
	// One token left is enough.
	req := Request{Prompt: testPrompts[1], MaxTokens: 3, Sampling: SamplingParams{Temperature: 1, TopP: 1, AllowedIDs: []int{7, 9}, BadWords: [][]int{{9}}}, Logprobs: true}
	out, err := e.Generate(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range out.Samples[0].Tokens {
		if id != 7 || math.IsNaN(float64(out.Samples[0].Logprobs[i])) {
			t.Errorf("token %d: %d (logprob %v), want 7", i, id, out.Samples[0].Logprobs[i])
		}
	}
}
