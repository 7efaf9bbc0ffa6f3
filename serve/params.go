package serve

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/tokenizer"
)

// sampling holds the generation fields the OpenAI and TRL endpoints share,
// under vLLM's SamplingParams names (TRL's generation_kwargs are handed to
// that class, so they use these names too). Pointers tell an absent field
// from a zero one.
type sampling struct {
	N                      *int               `json:"n"`
	MaxTokens              *int               `json:"max_tokens"`
	MinTokens              *int               `json:"min_tokens"`
	Temperature            *float64           `json:"temperature"`
	TopP                   *float64           `json:"top_p"`
	TopK                   *int               `json:"top_k"`
	MinP                   *float64           `json:"min_p"`
	RepetitionPenalty      *float64           `json:"repetition_penalty"`
	PresencePenalty        *float64           `json:"presence_penalty"`
	FrequencyPenalty       *float64           `json:"frequency_penalty"`
	LogitBias              map[string]float64 `json:"logit_bias"`
	Seed                   *int64             `json:"seed"`
	Stop                   json.RawMessage    `json:"stop"`
	StopTokenIDs           []int              `json:"stop_token_ids"`
	IgnoreEOS              bool               `json:"ignore_eos"`
	IncludeStopStrInOutput bool               `json:"include_stop_str_in_output"`
	SkipSpecialTokens      *bool              `json:"skip_special_tokens"`
	// SpacesBetweenSpecialTokens is accepted and changes nothing: aha's
	// text leaves special tokens out (skip_special_tokens = false is
	// refused), and vLLM ignores it for fast tokenizers, whose decoding
	// aha follows.
	SpacesBetweenSpecialTokens *bool    `json:"spaces_between_special_tokens"`
	AllowedTokenIDs            []int    `json:"allowed_token_ids"`
	BadWords                   []string `json:"bad_words"`
	TruncatePromptTokens       *int     `json:"truncate_prompt_tokens"`
	// LogprobMode is aha's extra: raw, scaled or processed (the default,
	// vLLM's processed_logprobs, which TRL's vllm-serve also uses).
	LogprobMode string `json:"logprob_mode"`

	// maxField is the name the request gave MaxTokens, for errors: chat's
	// max_completion_tokens lands there too.
	maxField string
	// keepPrompt is truncate_prompt_tokens as request resolved it: how many
	// prompt tokens to keep, from the end (0: all).
	keepPrompt int
}

// maxBadWords bounds the token sequences bad_words may become (vLLM's
// default limit): each is checked at every step of every sample.
const maxBadWords = 128

// maxTokensField names the field MaxTokens came from.
func (sp *sampling) maxTokensField() string {
	if sp.maxField == "" {
		return "max_tokens"
	}
	return sp.maxField
}

// limits are what a request is checked against.
type limits struct {
	vocab, context int
	maxN           int
	maxLogprobs    int
	tok            *tokenizer.Tokenizer // turns bad_words into tokens
}

// setFloat sets *dst to the field's value when the request gave one.
func setFloat(dst, field *float64) {
	if field != nil {
		*dst = *field
	}
}

// request turns the fields into an engine request without its prompt;
// defaultMax is the max_tokens of a request that names none (0: until the
// context is full).
func (sp *sampling) request(lim limits, defaultMax int) (engine.Request, *apiError) {
	req := engine.Request{N: 1, MaxTokens: defaultMax, Sampling: engine.DefaultSampling(), IgnoreEOS: sp.IgnoreEOS, IncludeStop: sp.IncludeStopStrInOutput}
	p := &req.Sampling
	if sp.N != nil {
		if *sp.N < 1 || *sp.N > lim.maxN {
			return req, invalid("n", "n = %d must be between 1 and %d", *sp.N, lim.maxN)
		}
		req.N = *sp.N
	}
	if sp.MaxTokens != nil {
		name := sp.maxTokensField()
		if *sp.MaxTokens < 1 {
			return req, invalid(name, "%s = %d must be at least 1", name, *sp.MaxTokens)
		}
		if *sp.MaxTokens >= lim.context {
			return req, invalid(name, "%s = %d does not fit the context of %d tokens", name, *sp.MaxTokens, lim.context)
		}
		req.MaxTokens = *sp.MaxTokens
	}
	if sp.MinTokens != nil {
		if *sp.MinTokens < 0 || req.MaxTokens > 0 && *sp.MinTokens > req.MaxTokens {
			return req, invalid("min_tokens", "min_tokens = %d must be between 0 and %s", *sp.MinTokens, sp.maxTokensField())
		}
		req.MinTokens = *sp.MinTokens
	}
	// The ranges are the engine's (SamplingParams.Validate, below); here
	// the fields are only carried over.
	setFloat(&p.Temperature, sp.Temperature)
	setFloat(&p.TopP, sp.TopP)
	setFloat(&p.MinP, sp.MinP)
	setFloat(&p.PresencePenalty, sp.PresencePenalty)
	setFloat(&p.FrequencyPenalty, sp.FrequencyPenalty)
	if v := sp.TopK; v != nil {
		p.TopK = *v // vLLM's "off" is -1, OpenAI-style clients send 0: both are the engine's
	}
	if v := sp.RepetitionPenalty; v != nil {
		if *v == 0 {
			// The engine reads 0 as off; the API's off is 1, and 0 is out of range.
			return req, invalid("repetition_penalty", "repetition_penalty 0 must be > 0 (1 = off)")
		}
		p.RepetitionPenalty = *v
	}
	if len(sp.LogitBias) > 0 {
		p.LogitBias = map[int]float32{}
		for k, b := range sp.LogitBias {
			id, err := strconv.Atoi(k)
			if err != nil {
				return req, invalid("logit_bias", "logit_bias key %q is not a token id (0…%d)", k, lim.vocab-1)
			}
			p.LogitBias[id] = float32(b)
		}
	}
	if sp.Seed != nil {
		p.Seed = uint64(*sp.Seed)
	} else {
		// vLLM draws an unseeded request's randomness afresh; sample i still
		// uses seed+i, so the samples of one request differ.
		p.Seed = uint64(rand.Int64())
	}
	stop, err := parseStop(sp.Stop)
	if err != nil {
		return req, err
	}
	req.Stop = stop
	for _, id := range sp.StopTokenIDs {
		if id < 0 || id >= lim.vocab {
			return req, invalid("stop_token_ids", "stop_token_ids: token id %d is outside the vocabulary (0…%d)", id, lim.vocab-1)
		}
	}
	req.StopIDs = sp.StopTokenIDs
	if sp.SkipSpecialTokens != nil && !*sp.SkipSpecialTokens {
		// The engine's detokenizer is shared by every request.
		return req, &apiError{status: 400, param: "skip_special_tokens", code: "unsupported_parameter",
			message: "skip_special_tokens = false is not supported by aha: special tokens are always left out of the text (their ids are in the token ids)"}
	}
	p.AllowedIDs = sp.AllowedTokenIDs
	for i, w := range sp.BadWords {
		ids, aerr := badWordIDs(w, lim, fmt.Sprintf("bad_words[%d]", i))
		if aerr != nil {
			return req, aerr
		}
		p.BadWords = append(p.BadWords, ids...)
		if len(p.BadWords) > maxBadWords {
			return req, invalid("bad_words", "bad_words make %d token sequences or more; at most %d are allowed", len(p.BadWords), maxBadWords)
		}
	}
	if err := p.Validate(lim.vocab); err != nil {
		return req, refused(err)
	}
	if k := sp.TruncatePromptTokens; k != nil {
		switch {
		case *k == -1: // vLLM's "as much as the model takes"
			sp.keepPrompt = lim.context
		case *k >= 1 && *k <= lim.context:
			sp.keepPrompt = *k
		default:
			return req, invalid("truncate_prompt_tokens", "truncate_prompt_tokens = %d must be -1 (the context) or between 1 and the context of %d tokens", *k, lim.context)
		}
	}
	mode, perr := engine.ParseLogprobMode(sp.LogprobMode)
	if perr != nil {
		return req, invalid("logprob_mode", "logprob_mode: %v", perr)
	}
	req.LogprobMode = mode
	return req, nil
}

// badWordIDs turns a bad word into the token sequences to ban, as vLLM
// does: the word without its leading spaces, and, when it becomes a
// different first token but as many tokens, the word after a space (so it
// is banned at the start of the text and in the middle alike).
func badWordIDs(word string, lim limits, field string) ([][]int, *apiError) {
	word = strings.TrimLeftFunc(word, unicode.IsSpace)
	if word == "" {
		return nil, invalid("bad_words", "%s is empty", field)
	}
	bare := lim.tok.Encode(word, false)
	if len(bare) == 0 {
		return nil, invalid("bad_words", "%s has no tokens", field)
	}
	out := [][]int{bare}
	if spaced := lim.tok.Encode(" "+word, false); len(spaced) == len(bare) && spaced[0] != bare[0] {
		out = append(out, spaced)
	}
	return out, nil
}

// truncate keeps the last truncate_prompt_tokens tokens of a prompt
// (vLLM truncates on the left).
func (sp *sampling) truncate(ids []int) []int {
	if sp.keepPrompt > 0 && len(ids) > sp.keepPrompt {
		return ids[len(ids)-sp.keepPrompt:]
	}
	return ids
}

// parseStop reads stop: a string or a list of strings.
func parseStop(raw json.RawMessage) ([]string, *apiError) {
	if isNull(raw) {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, invalid("stop", "stop strings must not be empty")
		}
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("stop", "stop: expected a string or a list of strings")
	}
	for _, s := range list {
		if s == "" {
			return nil, invalid("stop", "stop strings must not be empty")
		}
	}
	return list, nil
}

// isNull reports whether a raw field is absent or null.
func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

// prompt is one prompt of a request: text to tokenize, or token ids.
type prompt struct {
	text   string
	ids    []int
	isText bool
}

// parsePrompts reads a prompt field: a string, a list of token ids, or a
// list of either (an empty list gives no prompts).
func parsePrompts(raw json.RawMessage, field string) ([]prompt, *apiError) {
	if isNull(raw) {
		return nil, invalid(field, "%s is required", field)
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return []prompt{{text: text, isText: true}}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalid(field, "%s: expected a string, a list of token ids, or a list of either", field)
	}
	if len(items) == 0 {
		return []prompt{}, nil
	}
	if first := strings.TrimSpace(string(items[0])); first != "" && (first[0] == '-' || first[0] >= '0' && first[0] <= '9') {
		ids, err := parseIDs(raw, field)
		if err != nil {
			return nil, err
		}
		return []prompt{{ids: ids}}, nil
	}
	out := make([]prompt, len(items))
	for i, item := range items {
		name := fmt.Sprintf("%s[%d]", field, i)
		if json.Unmarshal(item, &out[i].text) == nil {
			out[i].isText = true
			continue
		}
		ids, err := parseIDs(item, name)
		if err != nil {
			return nil, err
		}
		out[i].ids = ids
	}
	return out, nil
}

func parseIDs(raw json.RawMessage, field string) ([]int, *apiError) {
	var ids []int
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, invalid(field, "%s: expected a string or a list of integer token ids", field)
	}
	return ids, nil
}

// checkPrompt checks token ids against the vocabulary and the context,
// with room for maxTokens more (0: at least one), which the request set in
// the field maxField.
func checkPrompt(ids []int, maxTokens int, maxField string, lim limits, field string) *apiError {
	if len(ids) == 0 {
		return invalid(field, "%s is empty (no tokens)", field)
	}
	for i, id := range ids {
		if id < 0 || id >= lim.vocab {
			return invalid(field, "%s: token id %d at position %d is outside the vocabulary (0…%d)", field, id, i, lim.vocab-1)
		}
	}
	if len(ids) >= lim.context {
		return invalid(field, "%s has %d tokens; the context holds %d, so at most %d fit with one generated token", field, len(ids), lim.context, lim.context-1)
	}
	if len(ids)+maxTokens > lim.context {
		return invalid(maxField, "%s = %d after a prompt of %d tokens needs %d positions; this model's context holds %d",
			maxField, maxTokens, len(ids), len(ids)+maxTokens, lim.context)
	}
	return nil
}

// unsupported lists fields aha knows but does not implement, to refuse
// them instead of quietly ignoring what the caller asked for. A field
// holding its neutral value (null, an empty list, or the listed ones) is
// accepted.
var unsupported = map[string][]string{
	"response_format":           {`{"type":"text"}`},
	"tool_choice":               {`"none"`, `"auto"`},
	"functions":                 nil,
	"function_call":             {`"none"`, `"auto"`},
	"guided_json":               nil,
	"guided_regex":              nil,
	"guided_choice":             nil,
	"guided_grammar":            nil,
	"guided_decoding_backend":   nil,
	"guided_whitespace_pattern": nil,
	"structured_outputs":        nil,
	"structured_outputs_regex":  nil,
	"suffix":                    {`""`},
	"best_of":                   {`1`},
	"use_beam_search":           {`false`},
	"prompt_logprobs":           {`0`},
	"images":                    nil,
	"chat_template":             nil,
	"audio":                     nil,
	"modalities":                {`["text"]`},
	"prediction":                nil,
}

// checkUnsupported refuses the first (by name) unsupported field set in
// fields.
func checkUnsupported(fields map[string]json.RawMessage, prefix string) *apiError {
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		neutral, listed := unsupported[name]
		if !listed {
			continue
		}
		v := strings.Join(strings.Fields(string(fields[name])), "")
		if v == "" || v == "null" || v == "[]" || v == "{}" || allNull(v) {
			continue
		}
		ok := false
		for _, n := range neutral {
			ok = ok || v == n
		}
		if !ok {
			return unimplemented(joinField(prefix, name))
		}
	}
	return nil
}

// allNull reports whether v (without spaces) is a list of nulls, as TRL's
// client sends for images when no prompt has any.
func allNull(v string) bool {
	if len(v) < 2 || v[0] != '[' || v[len(v)-1] != ']' {
		return false
	}
	for _, e := range strings.Split(v[1:len(v)-1], ",") {
		if e != "null" {
			return false
		}
	}
	return true
}
