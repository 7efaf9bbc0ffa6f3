package serve

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/tokenizer/template"
)

type trlOut struct {
	PromptIDs       [][]int       `json:"prompt_ids"`
	CompletionIDs   [][]int       `json:"completion_ids"`
	Logprobs        [][][]float64 `json:"logprobs"`
	LogprobTokenIDs [][][]int     `json:"logprob_token_ids"`
}

// TestTRLGenerate checks /generate/ with n=4 and logprobs against the
// engine run directly.
func TestTRLGenerate(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	prompts := []string{"Once upon a time", "The dog"}
	var out trlOut
	// TRL's client sends every field; generation_kwargs override them.
	ts.postOK(t, "/generate/", map[string]any{"prompts": prompts, "images": nil, "n": 4, "repetition_penalty": 1.0,
		"temperature": 0.5, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "max_tokens": 16, "logprobs": 2,
		"structured_outputs_regex": nil, "generation_kwargs": map[string]any{"seed": 9, "temperature": 0.8}}, &out)
	if len(out.PromptIDs) != 2 || len(out.CompletionIDs) != 8 || len(out.Logprobs) != 8 || len(out.LogprobTokenIDs) != 8 {
		t.Fatalf("shapes: %d prompts, %d completions, %d logprobs, %d ids", len(out.PromptIDs), len(out.CompletionIDs), len(out.Logprobs), len(out.LogprobTokenIDs))
	}
	for p, text := range prompts {
		ids := ts.tok.Encode(text, true)
		if !reflect.DeepEqual(out.PromptIDs[p], ids) {
			t.Errorf("prompt_ids[%d] = %v, want %v", p, out.PromptIDs[p], ids)
		}
		want, err := ts.eng.Generate(t.Context(), engine.Request{Prompt: ids, N: 4, MaxTokens: 16, Logprobs: true, TopLogprobs: 2,
			Sampling: engine.SamplingParams{Temperature: 0.8, TopP: 1, Seed: 9}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range want.Samples {
			k := p*4 + i
			if !reflect.DeepEqual(out.CompletionIDs[k], s.Tokens) {
				t.Errorf("completion %d: %v, want %v", k, out.CompletionIDs[k], s.Tokens)
			}
			if len(out.Logprobs[k]) != len(s.Tokens) {
				t.Fatalf("completion %d: %d logprob rows for %d tokens", k, len(out.Logprobs[k]), len(s.Tokens))
			}
			for pos, id := range s.Tokens {
				lps, lids := out.Logprobs[k][pos], out.LogprobTokenIDs[k][pos]
				if len(lps) != len(lids) || len(lps) < 2 || len(lps) > 3 {
					t.Fatalf("completion %d position %d: %v %v", k, pos, lps, lids)
				}
				// Sorted by rank, and the sampled token is there with its logprob.
				found := false
				for j := range lps {
					if j > 0 && lps[j] > lps[j-1] {
						t.Errorf("completion %d position %d: not sorted: %v", k, pos, lps)
					}
					if lids[j] == id {
						found = float32(lps[j]) == s.Logprobs[pos]
					}
				}
				if !found {
					t.Errorf("completion %d position %d: sampled token %d (%g) missing from %v %v", k, pos, id, s.Logprobs[pos], lids, lps)
				}
			}
		}
	}

	// logprobs 0: the sampled token only; null: no logprobs.
	ts.postOK(t, "/generate/", map[string]any{"prompts": [][]int{out.PromptIDs[0]}, "max_tokens": 5}, &out)
	if len(out.Logprobs) != 1 || len(out.Logprobs[0]) != 5 || len(out.Logprobs[0][0]) != 1 || out.LogprobTokenIDs[0][0][0] != out.CompletionIDs[0][0] {
		t.Errorf("logprobs 0: %+v", out)
	}
	status, body := ts.post(t, "/generate/", map[string]any{"prompts": []string{"a"}, "max_tokens": 3, "logprobs": nil})
	if status != 200 || !strings.Contains(string(body), `"logprobs":null`) || !strings.Contains(string(body), `"logprob_token_ids":null`) {
		t.Errorf("logprobs null: %d %s", status, body)
	}
}

func TestTRLChat(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	convs := [][]map[string]any{
		{{"role": "user", "content": "Hello!"}},
		{{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell a story."}},
	}
	var out trlOut
	ts.postOK(t, "/chat/", map[string]any{"messages": convs, "n": 2, "max_tokens": 8, "temperature": 0, "logprobs": 0,
		"chat_template_kwargs": map[string]any{}, "tools": nil}, &out)
	if len(out.PromptIDs) != 2 || len(out.CompletionIDs) != 4 || len(out.Logprobs) != 4 {
		t.Fatalf("%+v", out)
	}
	var one chatOut
	ts.postOK(t, "/v1/chat/completions", map[string]any{"messages": convs[1], "max_tokens": 8, "temperature": 0, "return_token_ids": true}, &one)
	if !reflect.DeepEqual(out.PromptIDs[1], one.PromptTokenIDs) || !reflect.DeepEqual(out.CompletionIDs[2], one.Choices[0].TokenIDs) {
		t.Errorf("/chat/ gave %v → %v, /v1/chat/completions %v → %v", out.PromptIDs[1], out.CompletionIDs[2], one.PromptTokenIDs, one.Choices[0].TokenIDs)
	}
}

// TestSequenceLogprobs scores sampled completions and expects the logprobs
// sampling reported, in both response formats.
func TestSequenceLogprobs(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	var gen trlOut
	// No truncation or penalties: the processed distribution is the
	// scaled one the scorer uses.
	ts.postOK(t, "/generate/", map[string]any{"prompts": []string{"Once upon a time", "Sam and"}, "n": 2, "max_tokens": 12,
		"temperature": 0.7, "logprobs": 0, "generation_kwargs": map[string]any{"seed": 1}}, &gen)
	var seqs [][]int
	var plens []int
	for k, c := range gen.CompletionIDs {
		p := gen.PromptIDs[k/2]
		seqs = append(seqs, append(append([]int{}, p...), c...))
		plens = append(plens, len(p))
	}
	// And one scored from its first token: position 0 has no logprob.
	seqs = append(seqs, seqs[0])
	plens = append(plens, 0)

	var js trlOut
	ts.postOK(t, "/get_sequence_logprobs/", map[string]any{"sequences": seqs, "prompt_lengths": plens, "top_logprobs": 3,
		"temperature": 0.7, "response_format": "json"}, &js)
	if len(js.Logprobs) != len(seqs) {
		t.Fatalf("%d results for %d sequences", len(js.Logprobs), len(seqs))
	}
	const tol = 1e-5 // the same forward pass, batched differently: agreement to float32 rounding
	for k, c := range gen.CompletionIDs {
		if len(js.Logprobs[k]) != len(c) {
			t.Fatalf("sequence %d: %d positions, want %d", k, len(js.Logprobs[k]), len(c))
		}
		for pos, id := range c {
			lps, ids := js.Logprobs[k][pos], js.LogprobTokenIDs[k][pos]
			var got = math.NaN()
			for j := range ids {
				if ids[j] == id {
					got = lps[j]
				}
			}
			if want := gen.Logprobs[k][pos][0]; !(math.Abs(got-want) <= tol) {
				t.Errorf("sequence %d position %d: scored %g, sampled with %g", k, pos, got, want)
			}
			if len(lps) < 3 || len(lps) > 4 {
				t.Errorf("sequence %d position %d: %d entries, want 3 or 4", k, pos, len(lps))
			}
		}
	}
	last := js.Logprobs[len(seqs)-1]
	if len(last) != len(seqs[0]) || len(last[0]) != 0 || !reflect.DeepEqual(last[plens[0]:], js.Logprobs[0]) {
		t.Errorf("prompt_length 0: %d positions, first %v; want %d, first empty, then sequence 0's", len(last), last[0], len(seqs[0]))
	}

	var bin struct {
		Logprobs          string `json:"logprobs_b64"`
		TokenIDs          string `json:"token_ids_b64"`
		ActualLogprobs    string `json:"actual_logprobs_b64"`
		ActualTokenIDs    string `json:"actual_token_ids_b64"`
		Shape             []int  `json:"shape"`
		CompletionLengths []int  `json:"completion_lengths"`
	}
	ts.postOK(t, "/get_sequence_logprobs/", map[string]any{"sequences": seqs, "prompt_lengths": plens, "top_logprobs": 3,
		"temperature": 0.7, "response_format": "binary"}, &bin)
	L := 0
	for i, s := range seqs {
		if bin.CompletionLengths[i] != len(s)-plens[i] {
			t.Errorf("completion_lengths[%d] = %d, want %d", i, bin.CompletionLengths[i], len(s)-plens[i])
		}
		L = max(L, len(s)-plens[i])
	}
	if !reflect.DeepEqual(bin.Shape, []int{len(seqs), L, 3}) {
		t.Fatalf("shape %v, want %v", bin.Shape, []int{len(seqs), L, 3})
	}
	lps := decodeArray[float32](t, bin.Logprobs, len(seqs)*L*3)
	ids := decodeArray[int32](t, bin.TokenIDs, len(seqs)*L*3)
	actual := decodeArray[float32](t, bin.ActualLogprobs, len(seqs)*L)
	actualIDs := decodeArray[int32](t, bin.ActualTokenIDs, len(seqs)*L)
	for i := range seqs {
		for pos := 0; pos < L; pos++ {
			row := i*L + pos
			if pos >= bin.CompletionLengths[i] || js.LogprobTokenIDs[i][pos] == nil || len(js.LogprobTokenIDs[i][pos]) == 0 {
				if !math.IsInf(float64(actual[row]), -1) || actualIDs[row] != 0 {
					t.Errorf("sequence %d position %d: padding holds %g %d", i, pos, actual[row], actualIDs[row])
				}
				continue
			}
			if int(actualIDs[row]) != seqs[i][plens[i]+pos] {
				t.Errorf("sequence %d position %d: actual id %d, want %d", i, pos, actualIDs[row], seqs[i][plens[i]+pos])
			}
			for j := 0; j < 3; j++ {
				if float64(lps[row*3+j]) != float64(float32(js.Logprobs[i][pos][j])) || int(ids[row*3+j]) != js.LogprobTokenIDs[i][pos][j] {
					t.Errorf("sequence %d position %d top %d: binary %g/%d, json %g/%d", i, pos, j, lps[row*3+j], ids[row*3+j], js.Logprobs[i][pos][j], js.LogprobTokenIDs[i][pos][j])
				}
			}
		}
	}
}

func decodeArray[T float32 | int32](t *testing.T, b64 string, n int) []T {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]T, n)
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, out); err != nil || len(b) != 4*n {
		t.Fatalf("%d bytes for %d values: %v", len(b), n, err)
	}
	return out
}

func TestTRLOther(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	if status, body := ts.post(t, "/reset_prefix_cache/", ""); status != 200 || !strings.Contains(string(body), "True") {
		t.Errorf("reset_prefix_cache: %d %s", status, body)
	}
	for _, path := range []string{"/init_communicator/", "/update_named_param/"} {
		status, body := ts.post(t, path, `{"host": "127.0.0.1", "port": 51216, "world_size": 2, "client_device_uuid": "x"}`)
		if status != http.StatusNotImplemented || !strings.Contains(string(body), "/load_weights/") {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
	if status, body := ts.post(t, "/close_communicator/", ""); status != 200 {
		t.Errorf("close_communicator: %d %s", status, body)
	}
}

// TestChatTemplateKwargs checks chat_template_kwargs reach the template,
// on both chat endpoints.
func TestChatTemplateKwargs(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	render := ts.srv.cfg.Chat
	var got []map[string]any
	ts.srv.cfg.Chat = chatFunc(func(msgs []template.Message, kwargs map[string]any) ([]int, string, error) {
		got = append(got, kwargs)
		return render.Prompt(msgs, kwargs)
	})
	msgs := []map[string]any{{"role": "user", "content": "hi"}}
	kw := map[string]any{"enable_thinking": false}
	var out trlOut
	ts.postOK(t, "/chat/", map[string]any{"messages": [][]map[string]any{msgs}, "max_tokens": 2, "chat_template_kwargs": kw}, &out)
	var chat map[string]any
	ts.postOK(t, "/v1/chat/completions", map[string]any{"messages": msgs, "max_tokens": 2, "chat_template_kwargs": kw}, &chat)
	if len(got) != 2 || !reflect.DeepEqual(got[0], kw) || !reflect.DeepEqual(got[1], kw) {
		t.Errorf("template variables %v, want %v twice", got, kw)
	}
}

// TestTruncatedTopLogprobs checks that processed logprobs list as many
// alternatives as asked even when top-k kept fewer tokens: vLLM reports
// the removed ones at −∞, written -9999.
func TestTruncatedTopLogprobs(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	var out trlOut
	ts.postOK(t, "/generate/", map[string]any{"prompts": []string{"Once upon a time"}, "max_tokens": 8, "top_k": 2, "logprobs": 5,
		"generation_kwargs": map[string]any{"seed": 4}}, &out)
	for pos, lps := range out.Logprobs[0] {
		if len(lps) != 5 {
			t.Fatalf("position %d: %d logprobs, want 5: %v", pos, len(lps), lps)
		}
		for j, lp := range lps {
			if removed := j >= 2; removed != (lp == -9999) {
				t.Errorf("position %d: %v, want two kept tokens then -9999", pos, lps)
				break
			}
		}
	}
	var chat struct {
		Choices []struct {
			Logprobs struct {
				Content []chatLP `json:"content"`
			} `json:"logprobs"`
		} `json:"choices"`
	}
	ts.postOK(t, "/v1/chat/completions", map[string]any{"messages": []map[string]any{{"role": "user", "content": "Hi"}}, "max_tokens": 4,
		"top_k": 2, "logprobs": true, "top_logprobs": 4, "seed": 4}, &chat)
	for _, c := range chat.Choices[0].Logprobs.Content {
		if len(c.TopLogprobs) != 4 || c.TopLogprobs[3].Logprob != -9999 {
			t.Errorf("chat top logprobs %+v, want 4 with the removed at -9999", c.TopLogprobs)
		}
	}
}

// TestTRLEmpty checks that no prompts (or no conversations) get empty
// lists in every field, as vLLM and TRL's server answer, and that
// stream: false is accepted.
func TestTRLEmpty(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	const want = `{"prompt_ids":[],"completion_ids":[],"logprobs":[],"logprob_token_ids":[]}`
	for _, req := range []struct{ path, body string }{
		{"/generate/", `{"prompts": []}`},
		{"/generate/", `{"prompts": [], "logprobs": null, "n": 4, "stream": false}`},
		{"/chat/", `{"messages": []}`},
		{"/chat/", `{"messages": [], "logprobs": 3}`},
	} {
		status, body := ts.post(t, req.path, req.body)
		if status != http.StatusOK || strings.TrimSpace(string(body)) != want {
			t.Errorf("POST %s %s: %d %s, want %s", req.path, req.body, status, body, want)
		}
	}
	// Bad parameters are still refused.
	if status, _ := ts.post(t, "/generate/", `{"prompts": [], "n": 0}`); status != http.StatusBadRequest {
		t.Errorf("no prompts with n = 0: %d", status)
	}
}

// TestTRLAborted aborts running /generate/ requests, as a weight swap's
// drain running out or a shutdown does: the client gets a retryable 503
// that says why, not a 200 with truncated completions.
func TestTRLAborted(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	for _, shutdown := range []bool{false, true} {
		type result struct {
			status int
			body   []byte
		}
		before := ts.eng.Stats().GeneratedTokens
		done := make(chan result)
		go func() {
			body, _ := json.Marshal(map[string]any{"prompts": []string{"Once upon a time"}, "n": 4, "max_tokens": ts.eng.Context() - 16,
				"generation_kwargs": map[string]any{"ignore_eos": true}})
			resp, err := http.Post(ts.url+"/generate/", "application/json", bytes.NewReader(body))
			if err != nil {
				done <- result{0, []byte(err.Error())}
				return
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			done <- result{resp.StatusCode, out}
		}()
		for ts.eng.Stats().GeneratedTokens == before { // until it runs
			select {
			case r := <-done:
				t.Fatalf("the request ended before it was aborted: %d %s", r.status, r.body)
			case <-time.After(time.Millisecond):
			}
		}
		if shutdown {
			ts.srv.Drain()
		}
		ts.eng.AbortAll()
		r := <-done
		var e struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
				Code    string `json:"code"`
			} `json:"error"`
		}
		want := "weight swap"
		if shutdown {
			want = "shutting down"
		}
		if err := json.Unmarshal(r.body, &e); r.status != http.StatusServiceUnavailable || err != nil || e.Error.Code != "request_aborted" ||
			!strings.Contains(e.Error.Message, want) || !strings.Contains(e.Error.Message, "retry") {
			t.Errorf("shutdown %v: %d %s, want a 503 saying %q and retry", shutdown, r.status, r.body, want)
		}
	}
}

// TestGenerationKwargs checks the vLLM sampling fields TRL passes in
// generation_kwargs (and the OpenAI endpoints take as extras):
// truncate_prompt_tokens keeps the prompt's last tokens, allowed_token_ids
// limits what is drawn, bad_words bans words, detokenize and
// spaces_between_special_tokens are accepted.
func TestGenerationKwargs(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	const text = "Once upon a time, there was a little girl"
	ids := ts.tok.Encode(text, true)
	run := func(kwargs map[string]any) trlOut {
		t.Helper()
		var out trlOut
		ts.postOK(t, "/generate/", map[string]any{"prompts": []string{text}, "n": 2, "max_tokens": 12, "temperature": 0.9,
			"generation_kwargs": kwargs}, &out)
		return out
	}

	out := run(map[string]any{"seed": 1, "truncate_prompt_tokens": 4, "detokenize": false, "spaces_between_special_tokens": false})
	if !reflect.DeepEqual(out.PromptIDs[0], ids[len(ids)-4:]) {
		t.Errorf("truncate_prompt_tokens 4: prompt_ids %v, want the last 4 of %v", out.PromptIDs[0], ids)
	}
	want, err := ts.eng.Generate(t.Context(), engine.Request{Prompt: ids[len(ids)-4:], N: 2, MaxTokens: 12,
		Sampling: engine.SamplingParams{Temperature: 0.9, TopP: 1, Seed: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range want.Samples {
		if !reflect.DeepEqual(out.CompletionIDs[i], s.Tokens) {
			t.Errorf("truncated prompt, completion %d: %v, want %v", i, out.CompletionIDs[i], s.Tokens)
		}
	}
	if out := run(map[string]any{"truncate_prompt_tokens": -1}); !reflect.DeepEqual(out.PromptIDs[0], ids) {
		t.Errorf("truncate_prompt_tokens -1: prompt_ids %v, want %v", out.PromptIDs[0], ids)
	}

	allowed := []int{5, 17, 300, 301, 302, 303, 411}
	for _, c := range run(map[string]any{"allowed_token_ids": allowed, "ignore_eos": true}).CompletionIDs {
		for _, id := range c {
			if !slices.Contains(allowed, id) {
				t.Errorf("allowed_token_ids %v: drew %d in %v", allowed, id, c)
			}
		}
	}

	// Ban the words greedy decoding picks first, then check they never come.
	var greedy trlOut
	ts.postOK(t, "/generate/", map[string]any{"prompts": []string{text}, "max_tokens": 12, "temperature": 0}, &greedy)
	var words []string
	banned := map[int]bool{}
	for _, id := range greedy.CompletionIDs[0][:3] {
		w := strings.TrimSpace(ts.tok.Decode([]int{id}, true))
		if w == "" {
			continue
		}
		words = append(words, w)
		if ws := ts.tok.Encode(w, false); len(ws) == 1 {
			banned[ws[0]] = true
		}
		if ws := ts.tok.Encode(" "+w, false); len(ws) == 1 {
			banned[ws[0]] = true
		}
	}
	if len(banned) == 0 {
		t.Fatalf("no one-token word among %v: the test checks nothing", greedy.CompletionIDs[0][:3])
	}
	for _, c := range run(map[string]any{"bad_words": words, "seed": 2}).CompletionIDs {
		for _, id := range c {
			if banned[id] {
				t.Errorf("bad_words %q: drew %d in %v", words, id, c)
			}
		}
	}
	var banGreedy trlOut
	ts.postOK(t, "/generate/", map[string]any{"prompts": []string{text}, "max_tokens": 12, "temperature": 0,
		"generation_kwargs": map[string]any{"bad_words": words}}, &banGreedy)
	if banned[greedy.CompletionIDs[0][0]] && banGreedy.CompletionIDs[0][0] == greedy.CompletionIDs[0][0] {
		t.Errorf("bad_words %q: greedy still begins with %d", words, greedy.CompletionIDs[0][0])
	}

	// The OpenAI endpoints take the same fields.
	var cmpl completionOut
	ts.postOK(t, "/v1/completions", map[string]any{"prompt": text, "max_tokens": 8, "allowed_token_ids": allowed, "bad_words": []string{"x"},
		"truncate_prompt_tokens": 4, "spaces_between_special_tokens": true, "return_token_ids": true, "echo": true, "ignore_eos": true}, &cmpl)
	c := cmpl.Choices[0]
	if !reflect.DeepEqual(c.PromptTokenIDs, ids[len(ids)-4:]) || !strings.HasPrefix(c.Text, ts.tok.Decode(ids[len(ids)-4:], true)) {
		t.Errorf("completions: prompt %v, text %q, want the last 4 prompt tokens echoed", c.PromptTokenIDs, c.Text)
	}
	for _, id := range c.TokenIDs {
		if !slices.Contains(allowed, id) {
			t.Errorf("completions: drew %d, not allowed", id)
		}
	}
	var chat chatOut
	ts.postOK(t, "/v1/chat/completions", map[string]any{"messages": []map[string]any{{"role": "user", "content": text}}, "max_tokens": 8,
		"allowed_token_ids": allowed, "truncate_prompt_tokens": 5, "return_token_ids": true, "ignore_eos": true}, &chat)
	if len(chat.PromptTokenIDs) != 5 {
		t.Errorf("chat: %d prompt tokens, want 5", len(chat.PromptTokenIDs))
	}
	for _, id := range chat.Choices[0].TokenIDs {
		if !slices.Contains(allowed, id) {
			t.Errorf("chat: drew %d, not allowed", id)
		}
	}
}
