package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model"
)

func TestSamplerValidates(t *testing.T) {
	for _, p := range []SamplingParams{
		{Temperature: -1, TopP: 1},
		{Temperature: 1, TopP: 0},
		{Temperature: 1, TopP: 1.5},
		{Temperature: 1, TopP: 1, MinP: 1},
		{Temperature: math.NaN(), TopP: 1},
	} {
		if _, err := NewSampler(p); err == nil {
			t.Errorf("%+v accepted", p)
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
		s, err := NewSampler(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			// Ties go to the lower id, so greedy-like settings pick 1, not 4.
			if got := s.Sample(logits); got != 1 {
				t.Fatalf("%+v: sampled %d, want 1", p, got)
			}
		}
	}
}

// TestSamplingDistribution draws many samples and compares the frequencies
// with the softmax at the given temperature, within 5 standard errors.
func TestSamplingDistribution(t *testing.T) {
	logits := []float32{1, 2, 0.5, -1, 1.5}
	for _, temp := range []float64{1, 0.5, 2} {
		s, _ := NewSampler(SamplingParams{Temperature: temp, TopP: 1, Seed: 42})
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
		s, err := NewSampler(p)
		if err != nil {
			t.Fatal(err)
		}
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
	} {
		if got := allowed(tc.p); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: sampled %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestSeedDeterminism(t *testing.T) {
	logits := []float32{1, 2, 0.5, -1, 1.5, 0.2}
	draw := func(seed uint64) []int {
		s, _ := NewSampler(SamplingParams{Temperature: 1, TopP: 1, Seed: seed})
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
	got := topLogprobs(lp, 3)
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
			out, h := m.add(p)
			released.WriteString(out)
			if h {
				hit = true
				break
			}
		}
		if !hit {
			released.WriteString(m.flush())
		}
		if released.String() != tc.released || hit != tc.hit || m.text.String() != tc.text {
			t.Errorf("%q %q: released %q hit %v text %q; want %q %v %q", tc.stops, tc.pieces, released.String(), hit, m.text.String(), tc.released, tc.hit, tc.text)
		}
	}
}

// idDecoder stands in for the tokenizer: every id becomes "<id>".
type idDecoder struct{}

func (idDecoder) Add(id int) string { return fmt.Sprintf("<%d>", id) }
func (idDecoder) Flush() string     { return "" }

// TestGenerateStories greedy-decodes the embedded stories260K model from
// "Once upon a time" and expects llama.cpp's 64 tokens.
func TestGenerateStories(t *testing.T) {
	var ref struct {
		Prompt    []int `json:"prompt_token_ids_with_bos"`
		Generated []int `json:"generated_token_ids"`
	}
	data, err := os.ReadFile(shared.Path(t, "models/stories260K/reference-greedy-llama.cpp.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	var streamed strings.Builder
	res, err := Generate(context.Background(), m, idDecoder{}, Request{
		Prompt: ref.Prompt, Sampling: SamplingParams{TopP: 1}, MaxTokens: len(ref.Generated), Logprobs: 2,
	}, func(tok Token) error {
		streamed.WriteString(tok.Text)
		if len(tok.Top) != 2 || tok.Top[0].ID != tok.ID || tok.Top[0].Logprob != tok.Logprob {
			t.Errorf("token %d: top %v, logprob %v", tok.ID, tok.Top, tok.Logprob)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Tokens, ref.Generated) {
		t.Errorf("tokens\n got %v\nwant %v", res.Tokens, ref.Generated)
	}
	if res.FinishReason != FinishLength || streamed.String() != res.Text {
		t.Errorf("finish %q, streamed %q, text %q", res.FinishReason, streamed.String(), res.Text)
	}

	// A stop string ends the text before it; the stop token ends at once.
	stopAt := fmt.Sprintf("<%d>", ref.Generated[5])
	res, err = Generate(context.Background(), m, idDecoder{}, Request{Prompt: ref.Prompt, Sampling: SamplingParams{TopP: 1}, MaxTokens: 64, Stop: []string{stopAt}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason != FinishStop || strings.Contains(res.Text, stopAt) || len(res.Tokens) > 6 {
		t.Errorf("stop string: finish %q, %d tokens, text %q", res.FinishReason, len(res.Tokens), res.Text)
	}
	res, err = Generate(context.Background(), m, idDecoder{}, Request{Prompt: ref.Prompt, Sampling: SamplingParams{TopP: 1}, MaxTokens: 64, StopIDs: []int{ref.Generated[3]}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason != FinishStop || len(res.Tokens) != 4 {
		t.Errorf("stop id: finish %q after %d tokens", res.FinishReason, len(res.Tokens))
	}

	// Cancelling returns the partial output with finish reason abort.
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	res, err = Generate(ctx, m, idDecoder{}, Request{Prompt: ref.Prompt, Sampling: DefaultSampling(), MaxTokens: 64}, func(Token) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if err != nil || res.FinishReason != FinishAbort || len(res.Tokens) != 4 {
		t.Errorf("abort: %v, finish %q after %d tokens", err, res.FinishReason, len(res.Tokens))
	}
}

func TestGenerateErrors(t *testing.T) {
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	long := make([]int, m.Config.MaxPositions)
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Sampling: DefaultSampling()}, "prompt is empty"},
		{Request{Prompt: long, Sampling: DefaultSampling()}, "the model's context is 2048"},
		{Request{Prompt: []int{1, 9999}, Sampling: DefaultSampling()}, "outside the vocabulary"},
		{Request{Prompt: []int{1}, Sampling: SamplingParams{Temperature: -1, TopP: 1}}, "temperature"},
	} {
		_, err := Generate(context.Background(), m, idDecoder{}, tc.req, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}
