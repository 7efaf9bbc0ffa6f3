package serve

import (
	"encoding/json"
	"testing"

	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/tokenizer"
)

// FuzzRequest feeds arbitrary bodies through the request parsing of
// /v1/completions and TRL's /generate/: nothing may panic, every refusal is
// a 4xx with a message, and every accepted request is one the engine
// accepts.
func FuzzRequest(f *testing.F) {
	for _, seed := range []string{
		`{"prompt": "Once upon a time", "n": 2, "max_tokens": 8, "temperature": 0.7, "top_p": 0.9, "stop": ["\n"]}`,
		`{"prompt": [[1, 2, 3], "text"], "logit_bias": {"5": -100}, "seed": -1, "top_k": -1, "min_p": 0.1}`,
		`{"prompts": [[1, 2]], "generation_kwargs": {"seed": 3, "stop_token_ids": [2], "logprob_mode": "raw"}}`,
		`{"prompt": [1, 600], "stop": "", "response_format": {"type": "text"}, "tools": []}`,
		`{"prompts": ["a"], "images": [null], "logprobs": null, "repetition_penalty": 1.2, "min_tokens": 2}`,
		`[]`, `null`, `{"n": 1e400}`,
		`{"prompt": "a", "bad_words": ["the", " cat dog"], "allowed_token_ids": [5, 6], "truncate_prompt_tokens": -1}`,
		`{"prompts": [[1]], "generation_kwargs": {"detokenize": false, "stop": ["x"], "spaces_between_special_tokens": false}}`,
	} {
		f.Add([]byte(seed))
	}
	m, err := model.Load("") // the embedded stories260K, for its tokenizer (bad_words)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	tok, err := tokenizer.FromGGUF(m.GGUF)
	if err != nil {
		f.Fatal(err)
	}
	lim := limits{vocab: tok.VocabSize(), context: 256, maxN: 8, maxLogprobs: 20, tok: tok}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
			return
		}
		check := func(err *apiError) bool {
			if err == nil {
				return true
			}
			if err.status < 400 || err.status >= 500 || err.message == "" {
				t.Fatalf("refusal %d %q", err.status, err.message)
			}
			return false
		}
		if trl, _, err := (&Server{}).trlParams(body, fields, lim); check(err) {
			if err := trl.Sampling.Validate(lim.vocab); err != nil || trl.TopLogprobs > lim.maxLogprobs {
				t.Fatalf("/generate/ accepted what the engine refuses: %v, top logprobs %d", err, trl.TopLogprobs)
			}
		}
		if !check(checkUnsupported(fields, "")) {
			return
		}
		var req completionRequest
		if !check(decodeInto(body, &req, "")) {
			return
		}
		prompts, err := parsePrompts(req.Prompt, "prompt")
		if !check(err) {
			return
		}
		base, err := req.request(lim, 16)
		if !check(err) {
			return
		}
		if base.N < 1 || base.N > lim.maxN || base.MaxTokens < 1 || base.MaxTokens >= lim.context || base.MinTokens > base.MaxTokens {
			t.Fatalf("accepted n %d, max_tokens %d, min_tokens %d", base.N, base.MaxTokens, base.MinTokens)
		}
		if err := base.Sampling.Validate(lim.vocab); err != nil {
			t.Fatalf("accepted sampling the engine refuses: %v", err)
		}
		for _, s := range base.Stop {
			if s == "" {
				t.Fatal("accepted an empty stop string")
			}
		}
		for _, p := range prompts {
			if p.isText || !check(checkPrompt(p.ids, base.MaxTokens, "max_tokens", lim, "prompt")) {
				continue
			}
			for _, id := range p.ids {
				if id < 0 || id >= lim.vocab {
					t.Fatalf("accepted token id %d", id)
				}
			}
			if len(p.ids)+base.MaxTokens > lim.context {
				t.Fatalf("accepted %d + %d tokens in a context of %d", len(p.ids), base.MaxTokens, lim.context)
			}
		}
	})
}
