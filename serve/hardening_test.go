package serve

import (
	"slices"
	"testing"

	"github.com/aha-inference/aha/engine"
)

// TestTinyTemperatureIsGreedy: temperatures that underflow float32 sample
// greedily with finite logprobs (they once gave NaN distributions, or
// counted as 1), and one that overflows it is refused.
func TestTinyTemperatureIsGreedy(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	type resp struct {
		Choices []struct {
			TokenIDs []int `json:"token_ids"`
			Logprobs struct {
				TokenLogprobs []*float64 `json:"token_logprobs"`
			} `json:"logprobs"`
		} `json:"choices"`
	}
	ask := func(temp float64) resp {
		var r resp
		ts.postOK(t, "/v1/completions", map[string]any{"prompt": "Once upon a time", "max_tokens": 12, "temperature": temp,
			"seed": 1, "logprobs": 0, "return_token_ids": true}, &r)
		return r
	}
	greedy := ask(0)
	for _, temp := range []float64{1e-40, 1e-50, 1e-300} {
		got := ask(temp)
		if !slices.Equal(got.Choices[0].TokenIDs, greedy.Choices[0].TokenIDs) {
			t.Errorf("temperature %g: %v, greedy %v", temp, got.Choices[0].TokenIDs, greedy.Choices[0].TokenIDs)
		}
		for i, lp := range got.Choices[0].Logprobs.TokenLogprobs {
			if lp == nil {
				t.Errorf("temperature %g: token %d has a null logprob", temp, i)
			}
		}
	}
	if status, body := ts.post(t, "/v1/completions", `{"prompt": "a", "temperature": 1e39}`); status != 400 {
		t.Errorf("temperature 1e39: status %d: %s", status, body)
	}
}
