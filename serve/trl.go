package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"

	"github.com/aha-inference/aha/engine"
)

// TRL's vllm-serve contract, as in trl/scripts/vllm_serve.py of TRL
// 1.10.0.dev0 (commit f2cd577, July 2026): the same paths, request fields,
// defaults and response fields, so TRL's VLLMClient (and the trainers that
// use it) can point at aha unchanged, except for NCCL weight sync.

func (s *Server) health(w http.ResponseWriter, r *http.Request) *apiError {
	if s.draining.Load() {
		return shuttingDown(w)
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// worldSize is tensor_parallel_size × data_parallel_size: one process here.
func (s *Server) worldSize(w http.ResponseWriter, r *http.Request) *apiError {
	writeJSON(w, http.StatusOK, map[string]int{"world_size": 1})
	return nil
}

func (s *Server) resetPrefixCache(w http.ResponseWriter, r *http.Request) *apiError {
	s.cfg.Engine.ResetPrefixCache()
	writeJSON(w, http.StatusOK, map[string]string{"message": "Request received, resetting prefix cache status: True"})
	return nil
}

// noCommunicator answers TRL's NCCL weight-sync endpoints.
func (s *Server) noCommunicator(w http.ResponseWriter, r *http.Request) *apiError {
	return &apiError{status: http.StatusNotImplemented, code: "not_implemented",
		message: "NCCL weight sync is not available: it needs a PyTorch process joining the trainer's NCCL group, " +
			"and aha is a Go process. Save the policy to a new folder and POST {\"path\": DIR} to /load_weights/ instead."}
}

// closeCommunicator succeeds: no communicator is ever open, and TRL's
// client calls this on exit.
func (s *Server) closeCommunicator(w http.ResponseWriter, r *http.Request) *apiError {
	writeJSON(w, http.StatusOK, map[string]string{"message": "no communicator is open (aha takes weights through /load_weights/)"})
	return nil
}

// trlSampling is the generation fields of /generate/ and /chat/; the same
// names may appear in generation_kwargs, which override them.
type trlSampling struct {
	sampling
	// Logprobs is how many top alternatives to return with each sampled
	// token's logprob (0: the sampled one only; null: no logprobs).
	Logprobs *int `json:"logprobs"`
	// Detokenize false asks vLLM for ids without text. TRL's responses
	// carry no text, so here it only refuses stop strings, as vLLM does
	// (they are matched in the text).
	Detokenize *bool `json:"detokenize"`
}

// trlResponse is the response of /generate/ and /chat/. logprobs[i][t] are
// sorted most likely first: the top alternatives, then the sampled token
// when it is not among them (vLLM's rank order).
type trlResponse struct {
	PromptIDs       [][]int       `json:"prompt_ids"`
	CompletionIDs   [][]int       `json:"completion_ids"`
	Logprobs        [][][]logprob `json:"logprobs"`
	LogprobTokenIDs [][][]int     `json:"logprob_token_ids"`
}

// trlParams reads the generation fields, generation_kwargs applied over
// them, and returns them too (they truncate the prompts). TRL hands
// generation_kwargs to vLLM's SamplingParams, which fails on a name it
// does not know: so does this.
func (s *Server) trlParams(body []byte, fields map[string]json.RawMessage, lim limits) (engine.Request, *trlSampling, *apiError) {
	if aerr := checkUnsupported(fields, ""); aerr != nil {
		return engine.Request{}, nil, aerr
	}
	// vllm-serve answers one JSON object and its client never streams;
	// refusing stream tells a caller expecting events what it will get
	// (the OpenAI endpoints stream).
	if v := strings.Join(strings.Fields(string(fields["stream"])), ""); v != "" && v != "null" && v != "false" {
		return engine.Request{}, nil, &apiError{status: http.StatusBadRequest, param: "stream", code: "unsupported_parameter",
			message: "stream is not supported by TRL's /generate/ and /chat/, which answer one JSON object; stream from /v1/completions or /v1/chat/completions"}
	}
	var p trlSampling
	if aerr := decodeInto(body, &p, ""); aerr != nil {
		return engine.Request{}, nil, aerr
	}
	if _, ok := fields["logprobs"]; !ok {
		p.Logprobs = new(int) // TRL's default 0; an explicit null means none
	}
	if kw := fields["generation_kwargs"]; !isNull(kw) {
		var kwFields map[string]json.RawMessage
		if err := json.Unmarshal(kw, &kwFields); err != nil {
			return engine.Request{}, nil, invalid("generation_kwargs", "generation_kwargs: expected an object")
		}
		if aerr := checkUnsupported(kwFields, "generation_kwargs"); aerr != nil {
			return engine.Request{}, nil, aerr
		}
		dec := json.NewDecoder(bytes.NewReader(kw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return engine.Request{}, nil, jsonError(err, "generation_kwargs")
		}
	}
	req, aerr := p.request(lim, 16) // TRL's default max_tokens
	if aerr != nil {
		return req, nil, aerr
	}
	if p.Logprobs != nil {
		if *p.Logprobs < 0 || *p.Logprobs > lim.maxLogprobs {
			return req, nil, invalid("logprobs", "logprobs = %d must be between 0 and %d", *p.Logprobs, lim.maxLogprobs)
		}
		req.Logprobs, req.TopLogprobs = true, *p.Logprobs
	}
	if p.Detokenize != nil && !*p.Detokenize && len(req.Stop) > 0 {
		return req, nil, invalid("detokenize", "stop strings need detokenize = true: they are matched in the text")
	}
	return req, &p, nil
}

func (s *Server) trlGenerate(w http.ResponseWriter, r *http.Request) *apiError {
	body, fields, aerr := readBody(w, r, s.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	lim := s.limits()
	base, p, aerr := s.trlParams(body, fields, lim)
	if aerr != nil {
		return aerr
	}
	prompts, aerr := parsePrompts(fields["prompts"], "prompts")
	if aerr != nil {
		return aerr
	}
	// vLLM adds the tokenizer's special tokens (BOS) to text prompts.
	ids := s.tokenize(prompts, true)
	for i := range ids {
		ids[i] = p.truncate(ids[i])
	}
	return s.trlRun(w, r, base, ids, "prompts", lim)
}

func (s *Server) trlChat(w http.ResponseWriter, r *http.Request) *apiError {
	body, fields, aerr := readBody(w, r, s.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	lim := s.limits()
	base, p, aerr := s.trlParams(body, fields, lim)
	if aerr != nil {
		return aerr
	}
	// TRL passes tools to vLLM's LLM.chat, which renders them with every
	// conversation; they change only the prompt (the response is token ids).
	tools, aerr := parseTools(fields["tools"])
	if aerr != nil {
		return aerr
	}
	var convs []json.RawMessage
	if err := json.Unmarshal(fields["messages"], &convs); err != nil || convs == nil {
		return invalid("messages", "messages: expected a list of conversations (lists of messages)")
	}
	ids := make([][]int, len(convs))
	for i, c := range convs {
		if ids[i], aerr = s.renderChat(c, fmt.Sprintf("messages[%d]", i), fields["chat_template_kwargs"], tools); aerr != nil {
			return aerr
		}
		ids[i] = p.truncate(ids[i])
	}
	return s.trlRun(w, r, base, ids, "messages", lim)
}

// trlRun generates for each prompt and answers in TRL's shape. A request
// aborted by a weight swap or a shutdown is an error, not a 200 with
// truncated completions: TRL's response cannot say a completion was cut
// short, and its client raises on the status, so the trainer can retry.
func (s *Server) trlRun(w http.ResponseWriter, r *http.Request, base engine.Request, prompts [][]int, field string, lim limits) *apiError {
	if len(prompts) > s.cfg.MaxPrompts {
		return invalid(field, "%d prompts is over the limit of %d", len(prompts), s.cfg.MaxPrompts)
	}
	if len(prompts) == 0 {
		// vLLM generates nothing, and TRL's server answers empty lists
		// (logprobs included, whatever was asked).
		writeJSON(w, http.StatusOK, trlResponse{PromptIDs: [][]int{}, CompletionIDs: [][]int{}, Logprobs: [][][]logprob{}, LogprobTokenIDs: [][][]int{}})
		return nil
	}
	reqs := make([]engine.Request, len(prompts))
	for i, ids := range prompts {
		if aerr := checkPrompt(ids, base.MaxTokens, "max_tokens", lim, fmt.Sprintf("%s[%d]", field, i)); aerr != nil {
			return aerr
		}
		reqs[i] = base
		reqs[i].Prompt = ids
	}
	outs, aerr := s.runAll(r.Context(), reqs, nil)
	if aerr != nil {
		return aerr
	}
	for _, out := range outs {
		for _, smp := range out.Samples {
			if smp.FinishReason == engine.FinishAbort {
				return s.aborted()
			}
		}
	}
	n := base.N
	resp := trlResponse{PromptIDs: prompts, CompletionIDs: make([][]int, len(prompts)*n)}
	if base.Logprobs {
		resp.Logprobs = make([][][]logprob, len(prompts)*n)
		resp.LogprobTokenIDs = make([][][]int, len(prompts)*n)
	}
	for i, out := range outs {
		for _, smp := range out.Samples {
			k := i*n + smp.Index
			resp.CompletionIDs[k] = nonNil(smp.Tokens)
			if !base.Logprobs {
				continue
			}
			resp.Logprobs[k] = make([][]logprob, len(smp.Tokens))
			resp.LogprobTokenIDs[k] = make([][]int, len(smp.Tokens))
			for t, id := range smp.Tokens {
				var top []engine.TokenLogprob
				if t < len(smp.TopLogprobs) {
					top = smp.TopLogprobs[t]
				}
				resp.Logprobs[k][t], resp.LogprobTokenIDs[k][t] = ranked(id, smp.Logprobs[t], top)
			}
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// ranked lists a position's logprobs in vLLM's rank order: the top
// alternatives, then the chosen token if it is not among them.
func ranked(id int, lp float32, top []engine.TokenLogprob) ([]logprob, []int) {
	lps := make([]logprob, 0, len(top)+1)
	ids := make([]int, 0, len(top)+1)
	found := false
	for _, t := range top {
		lps = append(lps, logprob(t.Logprob))
		ids = append(ids, t.ID)
		found = found || t.ID == id
	}
	if !found {
		lps = append(lps, logprob(lp))
		ids = append(ids, id)
	}
	return lps, ids
}

func nonNil(ids []int) []int {
	if ids == nil {
		return []int{}
	}
	return ids
}

// --- /get_sequence_logprobs/ ---

// maxLogprobEntries bounds a /get_sequence_logprobs/ response: 2²⁴
// logprobs with their token ids are 128 MiB of arrays before encoding.
const maxLogprobEntries = 1 << 24

type sequenceLogprobsRequest struct {
	Sequences      [][]int  `json:"sequences"`
	PromptLengths  []int    `json:"prompt_lengths"`
	TopLogprobs    *int     `json:"top_logprobs"`
	Temperature    *float64 `json:"temperature"`
	ResponseFormat string   `json:"response_format"`
	// LogprobMode is aha's extra. Without truncation or penalties the
	// default, processed, is the log-softmax of logits / temperature:
	// what vLLM's prompt logprobs report.
	LogprobMode string `json:"logprob_mode"`
}

// sequenceLogprobs scores given completions: for each sequence, the
// logprob of every token after its prompt, with the top alternatives.
func (s *Server) sequenceLogprobs(w http.ResponseWriter, r *http.Request) *apiError {
	body, _, aerr := readBody(w, r, s.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	var req sequenceLogprobsRequest
	if aerr := decodeInto(body, &req, ""); aerr != nil {
		return aerr
	}
	lim := s.limits()
	top, temp := min(100, lim.maxLogprobs), 1.0 // TRL's defaults (within the server's limit)
	if req.TopLogprobs != nil {
		top = *req.TopLogprobs
	}
	if req.Temperature != nil {
		temp = *req.Temperature
	}
	mode, err := engine.ParseLogprobMode(req.LogprobMode)
	switch {
	case len(req.Sequences) != len(req.PromptLengths):
		return invalid("prompt_lengths", "sequences has %d entries and prompt_lengths %d: they must match", len(req.Sequences), len(req.PromptLengths))
	case len(req.Sequences) > s.cfg.MaxPrompts:
		return invalid("sequences", "%d sequences is over the limit of %d", len(req.Sequences), s.cfg.MaxPrompts)
	case top < 0 || top > lim.maxLogprobs:
		return invalid("top_logprobs", "top_logprobs = %d must be between 0 and %d", top, lim.maxLogprobs)
	case req.ResponseFormat != "" && req.ResponseFormat != "json" && req.ResponseFormat != "binary":
		return invalid("response_format", "response_format %q: want json or binary", req.ResponseFormat)
	case err != nil:
		return invalid("logprob_mode", "logprob_mode: %v", err)
	}
	sampling := engine.SamplingParams{Temperature: temp, TopP: 1}
	if err := sampling.Validate(lim.vocab); err != nil {
		return refused(err)
	}
	for i, seq := range req.Sequences {
		field := fmt.Sprintf("sequences[%d]", i)
		if pl := req.PromptLengths[i]; pl < 0 || pl > len(seq) {
			name := fmt.Sprintf("prompt_lengths[%d]", i)
			return invalid(name, "%s = %d is outside [0, %d], the length of sequence %d", name, pl, len(seq), i)
		}
		if len(seq) > lim.context {
			return invalid(field, "%s has %d tokens; the context holds %d", field, len(seq), lim.context)
		}
		for j, id := range seq {
			if id < 0 || id >= lim.vocab {
				return invalid(field, "%s: token id %d at position %d is outside the vocabulary (0…%d)", field, id, j, lim.vocab-1)
			}
		}
	}

	// The response holds an entry per scored position and alternative, and
	// the binary format pads every sequence to the longest: refuse what
	// would not fit before computing or allocating anything.
	entries, longest := 0, 0
	for i, seq := range req.Sequences {
		entries += len(seq) - req.PromptLengths[i]
		longest = max(longest, len(seq)-req.PromptLengths[i])
	}
	padded := ""
	if req.ResponseFormat == "binary" {
		entries, padded = len(req.Sequences)*longest, ", every sequence padded to the longest"
	}
	if entries*max(top, 1) > maxLogprobEntries {
		return invalid("sequences", "the response would hold %d logprobs (%d positions × %d alternatives%s), over the limit of %d: send fewer or shorter sequences per request",
			entries*max(top, 1), entries, max(top, 1), padded, maxLogprobEntries)
	}

	scores, aerr := s.scoreAll(r.Context(), req.Sequences, req.PromptLengths, sampling, mode, top)
	if aerr != nil {
		return aerr
	}
	if req.ResponseFormat == "binary" {
		writeJSON(w, http.StatusOK, binaryLogprobs(req.Sequences, req.PromptLengths, scores, top))
		return nil
	}
	resp := trlResponse{Logprobs: make([][][]logprob, len(scores)), LogprobTokenIDs: make([][][]int, len(scores))}
	for i, sc := range scores {
		seq, pl := req.Sequences[i], req.PromptLengths[i]
		resp.Logprobs[i] = make([][]logprob, 0, len(seq)-pl)
		resp.LogprobTokenIDs[i] = make([][]int, 0, len(seq)-pl)
		for pos := pl; pos < len(seq); pos++ {
			if pos == 0 { // the first token has no logprob: vLLM gives None, TRL an empty list
				resp.Logprobs[i] = append(resp.Logprobs[i], []logprob{})
				resp.LogprobTokenIDs[i] = append(resp.LogprobTokenIDs[i], []int{})
				continue
			}
			t := pos - max(pl, 1)
			lps, ids := ranked(seq[pos], sc.Logprobs[t], topAt(sc, t))
			resp.Logprobs[i] = append(resp.Logprobs[i], lps)
			resp.LogprobTokenIDs[i] = append(resp.LogprobTokenIDs[i], ids)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"logprobs": resp.Logprobs, "logprob_token_ids": resp.LogprobTokenIDs})
	return nil
}

func topAt(sc *engine.Scores, t int) []engine.TokenLogprob {
	if t < len(sc.TopLogprobs) {
		return sc.TopLogprobs[t]
	}
	return nil
}

// scoreAll scores every sequence concurrently (the engine batches them).
// A sequence is scored from position max(prompt length, 1): the first
// token has no logprob. Sequences with nothing to score get empty scores.
func (s *Server) scoreAll(ctx context.Context, seqs [][]int, promptLens []int, p engine.SamplingParams, mode engine.LogprobMode, top int) ([]*engine.Scores, *apiError) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scores := make([]*engine.Scores, len(seqs))
	errs := make([]error, len(seqs))
	var wg sync.WaitGroup
	for i, seq := range seqs {
		from := max(promptLens[i], 1)
		if from >= len(seq) {
			scores[i] = &engine.Scores{}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if scores[i], errs[i] = s.cfg.Engine.Score(ctx, seq[:from], seq[from:], p, mode, top); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	// Report the failure that cancelled the others, not their cancellation.
	var first error
	for _, e := range errs {
		if e != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = e
		}
	}
	if first != nil {
		return nil, s.engineError(first)
	}
	return scores, nil
}

// binaryLogprobs is the "binary" response of /get_sequence_logprobs/:
// float32 and int32 arrays, little-endian, base64, as numpy's tobytes
// writes them on the machines TRL runs on. Missing entries are −∞ with
// token 0, as TRL pads.
func binaryLogprobs(seqs [][]int, promptLens []int, scores []*engine.Scores, top int) map[string]any {
	lengths := make([]int, len(seqs))
	longest := 0
	for i, seq := range seqs {
		lengths[i] = len(seq) - promptLens[i]
		longest = max(longest, lengths[i])
	}
	b := len(seqs)
	lps := make([]float32, b*longest*top)
	ids := make([]int32, b*longest*top)
	actualLPs := make([]float32, b*longest)
	actualIDs := make([]int32, b*longest)
	for i := range lps {
		lps[i] = float32(math.Inf(-1))
	}
	for i := range actualLPs {
		actualLPs[i] = float32(math.Inf(-1))
	}
	for i, sc := range scores {
		seq, pl := seqs[i], promptLens[i]
		for pos := max(pl, 1); pos < len(seq); pos++ {
			t := pos - pl         // row in the output
			k := pos - max(pl, 1) // index in the scores
			actualLPs[i*longest+t] = sc.Logprobs[k]
			actualIDs[i*longest+t] = int32(seq[pos])
			for j, alt := range topAt(sc, k) {
				if j < top {
					lps[(i*longest+t)*top+j] = alt.Logprob
					ids[(i*longest+t)*top+j] = int32(alt.ID)
				}
			}
		}
	}
	enc := func(v any) string {
		var buf bytes.Buffer
		binary.Write(&buf, binary.LittleEndian, v)
		return base64.StdEncoding.EncodeToString(buf.Bytes())
	}
	return map[string]any{
		"logprobs_b64":         enc(lps),
		"token_ids_b64":        enc(ids),
		"actual_logprobs_b64":  enc(actualLPs),
		"actual_token_ids_b64": enc(actualIDs),
		"shape":                []int{b, longest, top},
		"completion_lengths":   lengths,
	}
}
