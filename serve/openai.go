package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/serve/toolcall"
	"github.com/aha-inference/aha/tokenizer/template"
)

// The OpenAI API, with vLLM's extras where RL stacks rely on them
// (return_token_ids, top_k, min_p, repetition_penalty, stop_token_ids …)
// and aha's logprob_mode.

// modelPath is where GET /v1/models/{id} answers.
const modelPath = "/v1/models/"

func (s *Server) models(w http.ResponseWriter, r *http.Request) *apiError {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{s.modelObject(r)}})
	return nil
}

// model answers GET /v1/models/{id}: the served model's object, or a 404
// naming the model asked for.
func (s *Server) model(w http.ResponseWriter, r *http.Request) *apiError {
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, modelPath), "/")
	if id != s.cfg.Name {
		return s.unknownModel(id)
	}
	writeJSON(w, http.StatusOK, s.modelObject(r))
	return nil
}

// modelObject is OpenAI's Model object for the served model, with vLLM's
// root and max_model_len. The root is the model's path for loopback
// clients (a trainer beside the server reads its config from there) and
// the served name for others, who need not learn the server's file system.
func (s *Server) modelObject(r *http.Request) map[string]any {
	root := s.cfg.Name
	if fromLoopback(r) {
		root = s.cfg.Engine.Model().Path
	}
	return map[string]any{
		"id":            s.cfg.Name,
		"object":        "model",
		"created":       s.started.Unix(),
		"owned_by":      "aha",
		"root":          root,
		"max_model_len": s.cfg.Engine.Context(),
	}
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func countUsage(prompts [][]int, outs []*engine.Output) *usage {
	var u usage
	for _, p := range prompts {
		u.PromptTokens += len(p)
	}
	for _, out := range outs {
		for _, smp := range out.Samples {
			u.CompletionTokens += len(smp.Tokens)
		}
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return &u
}

// --- /v1/completions ---

type completionRequest struct {
	sampling
	Model            *string         `json:"model"`
	Prompt           json.RawMessage `json:"prompt"`
	Stream           bool            `json:"stream"`
	StreamOptions    *streamOptions  `json:"stream_options"`
	Echo             bool            `json:"echo"`
	Logprobs         *int            `json:"logprobs"`
	ReturnTokenIDs   bool            `json:"return_token_ids"`
	AddSpecialTokens *bool           `json:"add_special_tokens"`
}

type completionChoice struct {
	Index          int                 `json:"index"`
	Text           string              `json:"text"`
	Logprobs       *completionLogprobs `json:"logprobs"`
	FinishReason   *string             `json:"finish_reason"`
	PromptTokenIDs []int               `json:"prompt_token_ids,omitempty"`
	TokenIDs       []int               `json:"token_ids,omitempty"`
}

// completionLogprobs is the legacy completions logprobs object. Offsets
// count code points of the choice's text (Python's len, as vLLM counts);
// top_logprobs maps each alternative's text to its logprob, the chosen
// token included (as vLLM does).
type completionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []*logprob           `json:"token_logprobs"`
	TopLogprobs   []map[string]logprob `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

type completionResponse struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   *usage             `json:"usage,omitempty"`
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) *apiError {
	body, fields, aerr := readBody(w, r, s.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	if aerr := checkUnsupported(fields, ""); aerr != nil {
		return aerr
	}
	var req completionRequest
	if aerr := decodeInto(body, &req, ""); aerr != nil {
		return aerr
	}
	if aerr := s.checkModel(req.Model); aerr != nil {
		return aerr
	}
	prompts, aerr := parsePrompts(req.Prompt, "prompt")
	if aerr != nil {
		return aerr
	}
	if len(prompts) == 0 {
		return invalid("prompt", "prompt is empty")
	}
	if len(prompts) > s.cfg.MaxPrompts {
		return invalid("prompt", "%d prompts is over the limit of %d", len(prompts), s.cfg.MaxPrompts)
	}
	lim := s.limits()
	base, aerr := req.request(lim, 16) // OpenAI's default max_tokens for completions
	if aerr != nil {
		return aerr
	}
	if req.Logprobs != nil {
		if *req.Logprobs < 0 || *req.Logprobs > lim.maxLogprobs {
			return invalid("logprobs", "logprobs = %d must be between 0 and %d", *req.Logprobs, lim.maxLogprobs)
		}
		base.Logprobs, base.TopLogprobs = true, *req.Logprobs
		if req.Echo {
			if req.Stream {
				return invalid("echo", "echo with logprobs is not supported when streaming")
			}
			base.PromptLogprobs, base.PromptTopLogprobs = true, *req.Logprobs
		}
	}
	ids := s.tokenize(prompts, req.AddSpecialTokens == nil || *req.AddSpecialTokens)
	for i := range ids {
		if kept := req.truncate(ids[i]); len(kept) < len(ids[i]) {
			// Echo shows what the model saw.
			ids[i], prompts[i] = kept, prompt{ids: kept}
		}
	}
	reqs := make([]engine.Request, len(ids))
	for i := range ids {
		field := "prompt"
		if len(ids) > 1 {
			field = fmt.Sprintf("prompt[%d]", i)
		}
		if aerr := checkPrompt(ids[i], base.MaxTokens, req.maxTokensField(), lim, field); aerr != nil {
			return aerr
		}
		reqs[i] = base
		reqs[i].Prompt = ids[i]
	}
	echo := make([]string, len(ids))
	if req.Echo {
		for i, p := range prompts {
			echo[i] = p.text
			if !p.isText {
				echo[i] = s.cfg.Tokenizer.Decode(p.ids, true)
			}
		}
	}
	head := completionResponse{ID: newID("cmpl"), Object: "text_completion", Created: time.Now().Unix(), Model: s.cfg.Name}
	if req.Stream {
		s.streamCompletions(w, r, head, reqs, echo, req.ReturnTokenIDs, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return nil
	}
	outs, aerr := s.runAll(r.Context(), reqs, nil)
	if aerr != nil {
		return aerr
	}
	resp := head
	resp.Usage = countUsage(ids, outs)
	for i, out := range outs {
		for _, smp := range out.Samples {
			c := completionChoice{Index: i*base.N + smp.Index, Text: echo[i] + smp.Text, FinishReason: &smp.FinishReason}
			if req.Logprobs != nil {
				c.Logprobs = &completionLogprobs{}
				offset := 0
				if req.Echo {
					offset = s.addLegacyLogprobs(c.Logprobs, offset, ids[i], out.PromptLogprobs, out.PromptTopLogprobs, true)
				}
				s.addLegacyLogprobs(c.Logprobs, offset, smp.Tokens, smp.Logprobs, smp.TopLogprobs, false)
			}
			if req.ReturnTokenIDs {
				c.PromptTokenIDs, c.TokenIDs = ids[i], smp.Tokens
			}
			resp.Choices = append(resp.Choices, c)
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// addLegacyLogprobs appends tokens to a legacy logprobs object, the first
// at text offset offset, and returns the offset after the last; the first
// prompt token has no logprob (null).
func (s *Server) addLegacyLogprobs(l *completionLogprobs, offset int, ids []int, lps []float32, tops [][]engine.TokenLogprob, prompt bool) int {
	for i, id := range ids {
		piece := s.cfg.Tokenizer.TokenText(id)
		l.Tokens = append(l.Tokens, piece)
		l.TextOffset = append(l.TextOffset, offset)
		offset += utf8.RuneCountInString(piece)
		if prompt && i == 0 || i >= len(lps) {
			l.TokenLogprobs = append(l.TokenLogprobs, nil)
			l.TopLogprobs = append(l.TopLogprobs, nil)
			continue
		}
		lp := logprob(lps[i])
		l.TokenLogprobs = append(l.TokenLogprobs, &lp)
		top := map[string]logprob{}
		if i < len(tops) {
			for _, t := range tops[i] {
				if p := s.cfg.Tokenizer.TokenText(t.ID); !has(top, p) {
					top[p] = logprob(t.Logprob)
				}
			}
		}
		if !has(top, piece) {
			top[piece] = lp
		}
		l.TopLogprobs = append(l.TopLogprobs, top)
	}
	return offset
}

func has(m map[string]logprob, k string) bool {
	_, ok := m[k]
	return ok
}

func (s *Server) streamCompletions(w http.ResponseWriter, r *http.Request, head completionResponse, reqs []engine.Request, echo []string, returnIDs, includeUsage bool) {
	n := reqs[0].N
	// Guarded by the stream's order: each choice's events come from one
	// goroutine.
	started := make([]bool, len(reqs)*n)
	sent := make([]int, len(reqs)*n) // code points of each choice's text so far: its next text offset
	wantLogprobs := reqs[0].Logprobs
	st := startStream(w)
	emit := func(i int, ev engine.Event) error {
		idx := i*n + ev.Sample
		c := completionChoice{Index: idx, Text: ev.Text}
		if !started[idx] {
			started[idx] = true
			c.Text = echo[i] + c.Text
			sent[idx] = utf8.RuneCountInString(echo[i])
			if returnIDs {
				c.PromptTokenIDs = reqs[i].Prompt
			}
		}
		if ev.ID >= 0 {
			if wantLogprobs {
				c.Logprobs = &completionLogprobs{}
				s.addLegacyLogprobs(c.Logprobs, sent[idx], []int{ev.ID}, []float32{ev.Logprob}, [][]engine.TokenLogprob{ev.Top}, false)
			}
			if returnIDs {
				c.TokenIDs = []int{ev.ID}
			}
		}
		sent[idx] += utf8.RuneCountInString(ev.Text)
		if ev.Finish != "" {
			c.FinishReason = &ev.Finish
		}
		chunk := head
		chunk.Choices = []completionChoice{c}
		return st.send(chunk)
	}
	outs, aerr := s.runAll(r.Context(), reqs, emit)
	if aerr != nil {
		st.fail(aerr)
	} else if includeUsage {
		prompts := make([][]int, len(reqs))
		for i := range reqs {
			prompts[i] = reqs[i].Prompt
		}
		chunk := head
		chunk.Choices = []completionChoice{}
		chunk.Usage = countUsage(prompts, outs)
		st.send(chunk)
	}
	st.done()
}

// --- /v1/chat/completions ---

type chatRequest struct {
	sampling
	Model               *string         `json:"model"`
	Messages            json.RawMessage `json:"messages"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	Logprobs            bool            `json:"logprobs"`
	TopLogprobs         *int            `json:"top_logprobs"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	ReturnTokenIDs      bool            `json:"return_token_ids"`
}

// chatMessage is a response's message: content is null when the model
// only called tools.
type chatMessage struct {
	Role      string     `json:"role"`
	Content   *string    `json:"content"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
}

// chatDelta is a streamed piece of a message; what is absent is left out.
type chatDelta struct {
	Role      string     `json:"role,omitempty"`
	Content   *string    `json:"content,omitempty"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
}

type chatChoice struct {
	Index        int           `json:"index"`
	Message      *chatMessage  `json:"message,omitempty"`
	Delta        *chatDelta    `json:"delta,omitempty"`
	Logprobs     *chatLogprobs `json:"logprobs"`
	FinishReason *string       `json:"finish_reason"`
	TokenIDs     []int         `json:"token_ids,omitempty"`
}

type chatLogprobs struct {
	Content []chatLogprob `json:"content"`
}

// chatLogprob is one position of a chat choice's logprobs. OpenAI's schema
// requires top_logprobs, an empty list when none were asked for.
type chatLogprob struct {
	Token       string           `json:"token"`
	Logprob     logprob          `json:"logprob"`
	Bytes       []int            `json:"bytes"`
	TopLogprobs []chatTopLogprob `json:"top_logprobs"`
}

// chatTopLogprob is one alternative: OpenAI's TopLogprob has no list of
// its own.
type chatTopLogprob struct {
	Token   string  `json:"token"`
	Logprob logprob `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

type chatResponse struct {
	ID             string       `json:"id"`
	Object         string       `json:"object"`
	Created        int64        `json:"created"`
	Model          string       `json:"model"`
	Choices        []chatChoice `json:"choices"`
	Usage          *usage       `json:"usage,omitempty"`
	PromptTokenIDs []int        `json:"prompt_token_ids,omitempty"`
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) *apiError {
	body, fields, aerr := readBody(w, r, s.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	if aerr := checkUnsupported(fields, ""); aerr != nil {
		return aerr
	}
	var req chatRequest
	if aerr := decodeInto(body, &req, ""); aerr != nil {
		return aerr
	}
	if aerr := s.checkModel(req.Model); aerr != nil {
		return aerr
	}
	if req.MaxCompletionTokens != nil {
		req.MaxTokens, req.maxField = req.MaxCompletionTokens, "max_completion_tokens"
	}
	lim := s.limits()
	base, aerr := req.request(lim, 0) // vLLM's chat default: until the context is full
	if aerr != nil {
		return aerr
	}
	if req.TopLogprobs != nil {
		if *req.TopLogprobs < 0 || *req.TopLogprobs > lim.maxLogprobs {
			return invalid("top_logprobs", "top_logprobs = %d must be between 0 and %d", *req.TopLogprobs, lim.maxLogprobs)
		}
		if *req.TopLogprobs > 0 && !req.Logprobs {
			return invalid("top_logprobs", "top_logprobs needs logprobs = true")
		}
		base.TopLogprobs = *req.TopLogprobs
	}
	base.Logprobs = req.Logprobs
	tools, aerr := parseTools(fields["tools"])
	if aerr != nil {
		return aerr
	}
	findCalls := wantToolCalls(fields["tool_choice"], tools)
	ids, aerr := s.renderChat(req.Messages, "messages", fields["chat_template_kwargs"], tools)
	if aerr != nil {
		return aerr
	}
	ids = req.truncate(ids)
	if aerr := checkPrompt(ids, base.MaxTokens, req.maxTokensField(), lim, "messages"); aerr != nil {
		return aerr
	}
	base.Prompt = ids
	head := chatResponse{ID: newID("chatcmpl"), Object: "chat.completion", Created: time.Now().Unix(), Model: s.cfg.Name}
	if req.Stream {
		head.Object = "chat.completion.chunk"
		s.streamChat(w, r, head, base, findCalls, req.ReturnTokenIDs, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return nil
	}
	out, aerr := s.generate(r.Context(), base, nil)
	if aerr != nil {
		return aerr
	}
	resp := head
	resp.Usage = countUsage([][]int{ids}, []*engine.Output{out})
	if req.ReturnTokenIDs {
		resp.PromptTokenIDs = ids
	}
	for _, smp := range out.Samples {
		c := chatChoice{Index: smp.Index, Message: &chatMessage{Role: "assistant", Content: &smp.Text}, FinishReason: &smp.FinishReason}
		if findCalls {
			c.Message, c.FinishReason = toolMessage(smp.Text, smp.FinishReason)
		}
		if req.Logprobs {
			c.Logprobs = &chatLogprobs{Content: []chatLogprob{}}
			for i, id := range smp.Tokens {
				var top []engine.TokenLogprob
				if i < len(smp.TopLogprobs) {
					top = smp.TopLogprobs[i]
				}
				c.Logprobs.Content = append(c.Logprobs.Content, s.chatLogprob(id, smp.Logprobs[i], top))
			}
		}
		if req.ReturnTokenIDs {
			c.TokenIDs = smp.Tokens
		}
		resp.Choices = append(resp.Choices, c)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// chatLogprob names a token by its text alone (TokenText, as vLLM does)
// and gives its bytes as they are: a token holding part of a character
// reads U+FFFD, and its bytes let a client join it to the next, as OpenAI
// intends bytes for.
func (s *Server) chatLogprob(id int, lp float32, top []engine.TokenLogprob) chatLogprob {
	tok := s.cfg.Tokenizer
	c := chatLogprob{Token: tok.TokenText(id), Logprob: logprob(lp), Bytes: byteList(tok.Piece(id)), TopLogprobs: []chatTopLogprob{}}
	for _, t := range top {
		c.TopLogprobs = append(c.TopLogprobs, chatTopLogprob{Token: tok.TokenText(t.ID), Logprob: logprob(t.Logprob), Bytes: byteList(tok.Piece(t.ID))})
	}
	return c
}

// byteList is a token's bytes as JSON numbers (a []byte would be base64).
func byteList(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}

// streamChat streams the samples of req; with findCalls, their tool calls
// as toolDelta finds them.
func (s *Server) streamChat(w http.ResponseWriter, r *http.Request, head chatResponse, req engine.Request, findCalls, returnIDs, includeUsage bool) {
	st := startStream(w)
	// Each choice opens with the assistant's role, as OpenAI streams.
	empty := ""
	for i := range req.N {
		chunk := head
		chunk.Choices = []chatChoice{{Index: i, Delta: &chatDelta{Role: "assistant", Content: &empty}}}
		if returnIDs && i == 0 {
			chunk.PromptTokenIDs = req.Prompt
		}
		if st.send(chunk) != nil {
			return
		}
	}
	// Each sample's events come from one goroutine, in order.
	parsers := make([]toolcall.Stream, req.N)
	send := func(c chatChoice) error {
		chunk := head
		chunk.Choices = []chatChoice{c}
		return st.send(chunk)
	}
	emit := func(ev engine.Event) error {
		c := chatChoice{Index: ev.Sample, Delta: &chatDelta{Content: &ev.Text}, FinishReason: nilIfEmpty(ev.Finish)}
		var calls []chatChoice
		if findCalls {
			c.Delta, c.FinishReason, calls = toolDelta(ev, &parsers[ev.Sample])
		}
		if ev.ID >= 0 {
			if req.Logprobs {
				c.Logprobs = &chatLogprobs{Content: []chatLogprob{s.chatLogprob(ev.ID, ev.Logprob, ev.Top)}}
			}
			if returnIDs {
				c.TokenIDs = []int{ev.ID}
			}
		}
		for _, c := range append([]chatChoice{c}, calls...) {
			if err := send(c); err != nil {
				return err
			}
		}
		return nil
	}
	out, aerr := s.generate(r.Context(), req, emit)
	if aerr != nil {
		st.fail(aerr)
	} else if includeUsage {
		chunk := head
		chunk.Choices = []chatChoice{}
		chunk.Usage = countUsage([][]int{req.Prompt}, []*engine.Output{out})
		st.send(chunk)
	}
	st.done()
}

// renderChat checks a conversation and renders it into prompt ids, with
// chat_template_kwargs (e.g. Qwen3's enable_thinking) as extra template
// variables and tools (nil: none) as the template's tools. Messages reach
// the template as vLLM hands them over: content a string (a list of text
// parts joined, null or absent made ""), tool_calls only on assistant
// messages, with their arguments decoded (templateToolCalls), and every
// other field as given, objects keeping their key order.
func (s *Server) renderChat(raw json.RawMessage, field string, kwargsRaw json.RawMessage, tools any) ([]int, *apiError) {
	if s.cfg.Chat == nil {
		return nil, &apiError{status: http.StatusNotImplemented, message: "this server has no chat template"}
	}
	if isNull(raw) {
		return nil, invalid(field, "%s is required", field)
	}
	var msgs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return nil, invalid(field, "%s: expected a list of messages (objects with role and content)", field)
	}
	if len(msgs) == 0 {
		return nil, invalid(field, "%s is empty", field)
	}
	conv := make([]template.Message, len(msgs))
	for i, m := range msgs {
		name := fmt.Sprintf("%s[%d]", field, i)
		if m == nil {
			return nil, invalid(name, "%s: expected a message object, got null", name)
		}
		var role string
		if err := json.Unmarshal(m["role"], &role); err != nil || role == "" {
			return nil, invalid(name+".role", "%s.role: expected a non-empty string", name)
		}
		msg := template.Message{}
		for k, v := range m {
			var err error
			if msg[k], err = template.DecodeJSON(v); err != nil {
				return nil, invalid(name+"."+k, "%s.%s: %v", name, k, err)
			}
		}
		content, aerr := messageContent(m["content"], name+".content")
		if aerr != nil {
			return nil, aerr
		}
		msg["content"] = content
		delete(msg, "tool_calls")
		if role == "assistant" {
			calls, aerr := templateToolCalls(m["tool_calls"], name+".tool_calls")
			if aerr != nil {
				return nil, aerr
			}
			if calls != nil {
				msg["tool_calls"] = calls
			}
		}
		conv[i] = msg
	}
	var kwargs map[string]any
	if !isNull(kwargsRaw) {
		if err := json.Unmarshal(kwargsRaw, &kwargs); err != nil {
			return nil, invalid("chat_template_kwargs", "chat_template_kwargs: expected an object of template variables")
		}
		// These variables come from the request's own fields (tools are
		// validated there) or the tokenizer: one way to set each.
		for _, name := range []string{"messages", "tools", "add_generation_prompt", "bos_token", "eos_token"} {
			if _, ok := kwargs[name]; ok {
				return nil, invalid("chat_template_kwargs."+name, "chat_template_kwargs may not set %s: it comes from the request's own fields or the tokenizer", name)
			}
		}
	}
	if tools != nil {
		if kwargs == nil {
			kwargs = map[string]any{}
		}
		kwargs["tools"] = tools
	}
	ids, _, err := s.cfg.Chat.Prompt(conv, kwargs)
	if err != nil {
		return nil, invalid(field, "rendering the chat template: %v", err)
	}
	return ids, nil
}

// messageContent reads a message's content: a string, a list of text parts
// (joined), or null or absent ("", as vLLM passes it).
func messageContent(raw json.RawMessage, field string) (string, *apiError) {
	if isNull(raw) {
		return "", nil
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return text, nil
	}
	var parts []any
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", invalid(field, "%s: expected a string or a list of text parts", field)
	}
	text = ""
	for j, part := range parts {
		p, _ := part.(map[string]any)
		t, isText := p["text"].(string)
		if typ, _ := p["type"].(string); typ != "text" || !isText {
			return "", invalid(fmt.Sprintf("%s[%d]", field, j), "%s[%d]: only text parts ({\"type\": \"text\", \"text\": …}) are supported", field, j)
		}
		text += t
	}
	return text, nil
}
