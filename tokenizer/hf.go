package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/aha-inference/aha/internal/modelfile"
	"golang.org/x/text/unicode/norm"
)

// FromHF builds the tokenizer of a Hugging Face model folder:
// tokenizer.json (required: a BPE model, byte-level as in Qwen and Llama 3
// or SentencePiece-style as in Llama 2, with its normalizer,
// pre-tokenizer, added tokens and post-processor) and, when present,
// tokenizer_config.json (bos_token, eos_token, add_bos_token,
// add_eos_token, chat_template), chat_template.jinja and
// generation_config.json (eos_token_id, the stop tokens).
//
// What Encode adds with addSpecial comes from the post-processor
// (TemplateProcessing), overridden by add_bos_token/add_eos_token where the
// config sets them, as transformers does for Llama tokenizers.
//
// Decode follows the tokenizers library, not transformers' decode: it does
// not apply clean_up_tokenization_spaces (which Llama 3's config turns on
// and which would turn " ." into "."), so decoding stays lossless.
func FromHF(dir string) (*Tokenizer, error) {
	path := filepath.Join(dir, "tokenizer.json")
	data, err := modelfile.Read(path, modelfile.MaxTokenizer)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := parseTokenizerJSON(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	if err := t.readConfig(dir); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

type hfJSON struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

type hfAddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfBPE struct {
	Type                    string          `json:"type"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	ByteFallback            bool            `json:"byte_fallback"`
	FuseUnk                 bool            `json:"fuse_unk"`
}

// hfComponent is any of the normalizer, pre-tokenizer, post-processor and
// decoder objects: a type and that type's fields.
type hfComponent struct {
	Type string `json:"type"`
	// Sequence
	Normalizers   []json.RawMessage `json:"normalizers"`
	PreTokenizers []json.RawMessage `json:"pretokenizers"`
	Processors    []json.RawMessage `json:"processors"`
	Decoders      []json.RawMessage `json:"decoders"`
	// Split
	Pattern  struct{ Regex, String *string } `json:"pattern"`
	Behavior string                          `json:"behavior"`
	Invert   bool                            `json:"invert"`
	// ByteLevel
	AddPrefixSpace bool  `json:"add_prefix_space"`
	UseRegex       *bool `json:"use_regex"`
	// Digits
	IndividualDigits bool `json:"individual_digits"`
	// Prepend, Replace, Strip
	Prepend     string `json:"prepend"`
	Content     string `json:"content"`
	Start, Stop int
	// TemplateProcessing
	Single        []map[string]struct{ ID string } `json:"single"`
	SpecialTokens map[string]struct{ IDs []int }   `json:"special_tokens"`
	// RobertaProcessing, BertProcessing: [text, id]
	Cls []any `json:"cls"`
	Sep []any `json:"sep"`
}

func parseComponent(raw json.RawMessage) (*hfComponent, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	c := new(hfComponent)
	if err := json.Unmarshal(raw, c); err != nil {
		return nil, err
	}
	return c, nil
}

func parseTokenizerJSON(data []byte) (*Tokenizer, error) {
	var j hfJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, err
	}
	var model hfBPE
	if len(j.Model) == 0 {
		return nil, errors.New("no model")
	}
	if err := json.Unmarshal(j.Model, &model); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if model.Type != "BPE" {
		return nil, fmt.Errorf("unsupported tokenizer model %s (want BPE)", model.Type)
	}
	if p := model.ContinuingSubwordPrefix; p != nil && *p != "" {
		return nil, fmt.Errorf("unsupported BPE continuing_subword_prefix %q", *p)
	}
	if s := model.EndOfWordSuffix; s != nil && *s != "" {
		return nil, fmt.Errorf("unsupported BPE end_of_word_suffix %q", *s)
	}

	pre, preByteLevel, err := hfPreTokenizer(j.PreTokenizer)
	if err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	dec, err := parseComponent(j.Decoder)
	if err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	v := &vocabulary{unk: -1}
	var normalize func(string) string
	addSpacePrefix := false
	switch {
	case preByteLevel && dec != nil && dec.Type == "ByteLevel":
		v.kind = byteLevel
		if normalize, err = hfNormalizer(j.Normalizer); err != nil {
			return nil, fmt.Errorf("normalizer: %w", err)
		}
	case isNull(j.PreTokenizer) && isSPMDecoder(dec):
		v.kind = sentencePiece
		if addSpacePrefix, err = spmNormalizer(j.Normalizer); err != nil {
			return nil, fmt.Errorf("normalizer: %w", err)
		}
	default:
		return nil, errors.New("unsupported tokenizer: neither byte-level BPE (ByteLevel pre-tokenizer and decoder) " +
			"nor Llama-style SentencePiece BPE (Prepend/Replace normalizer, Replace/ByteFallback/Fuse/Strip decoder)")
	}

	var vocab map[string]int
	if err := json.Unmarshal(model.Vocab, &vocab); err != nil {
		return nil, fmt.Errorf("model.vocab: %w", err)
	}
	if v.merges, err = hfMerges(model.Merges); err != nil {
		return nil, fmt.Errorf("model.merges: %w", err)
	}
	// The token tables are sized by the largest id. A file of n bytes
	// lists fewer than n tokens, and real vocabularies are dense, so an id
	// of n or more (or of 2^24 or more) is a broken file's, not one to
	// allocate for.
	limit := min(1<<24, len(data))
	size := 0
	for tok, id := range vocab {
		if id < 0 || id >= limit {
			return nil, fmt.Errorf("model.vocab: id %d of %q is out of range for a %d-byte file (0 to %d)", id, tok, len(data), limit-1)
		}
		size = max(size, id+1)
	}
	for _, a := range j.AddedTokens {
		if a.ID < 0 || a.ID >= limit {
			return nil, fmt.Errorf("added_tokens: id %d of %q is out of range for a %d-byte file (0 to %d)", a.ID, a.Content, len(data), limit-1)
		}
		size = max(size, a.ID+1)
	}
	v.tokens = make([]string, size)
	v.types = make([]TokenType, size)
	v.model = make([]bool, size)
	for i := range v.types {
		v.types[i] = Unused // an id no entry names
	}
	for tok, id := range vocab {
		v.tokens[id], v.types[id], v.model[id] = tok, Normal, true
		if v.kind == sentencePiece && isByteToken(tok) {
			v.types[id] = Byte
		}
	}
	if model.UnkToken != nil {
		id, ok := vocab[*model.UnkToken]
		if !ok {
			return nil, fmt.Errorf("model.unk_token %q is not in the vocabulary", *model.UnkToken)
		}
		v.unk, v.types[id] = id, Unknown
	}
	for _, a := range j.AddedTokens {
		ty := UserDefined
		if a.Special {
			ty = Control
		}
		if model.UnkToken != nil && a.Content == *model.UnkToken {
			ty = Unknown
		}
		v.tokens[a.ID], v.types[a.ID] = a.Content, ty
		v.added = append(v.added, addedToken{id: a.ID, content: a.Content, special: a.Special,
			lstrip: a.LStrip, rstrip: a.RStrip, singleWord: a.SingleWord, normalized: a.Normalized})
	}

	t, err := build(v)
	if err != nil {
		return nil, err
	}
	if v.kind == byteLevel {
		t.pre = pre
	}
	t.norm, t.addSpacePrefix = normalize, addSpacePrefix
	t.model.ignoreMerges, t.model.fuseUnk = model.IgnoreMerges, model.FuseUnk
	if v.kind == sentencePiece && !model.ByteFallback {
		for b := range t.model.byteIDs {
			t.model.byteIDs[b] = -1
		}
	}
	t.bos, t.eos = -1, -1
	if t.prefix, t.suffix, err = hfPostProcessor(j.PostProcessor); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	return t, nil
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// spmNormalizer accepts the normalizer of Llama-style SentencePiece
// tokenizer.json files, Sequence[Prepend("▁"), Replace(" ", "▁")] (or the
// Replace alone), and reports whether it prepends "▁".
func spmNormalizer(raw json.RawMessage) (prepend bool, err error) {
	c, err := parseComponent(raw)
	if err != nil {
		return false, err
	}
	if c != nil && c.Type == "Sequence" {
		var steps []*hfComponent
		for _, sub := range c.Normalizers {
			step, err := parseComponent(sub)
			if err != nil {
				return false, err
			}
			steps = append(steps, step)
		}
		if len(steps) == 2 && steps[0] != nil && steps[0].Type == "Prepend" && steps[0].Prepend == "▁" {
			prepend, steps = true, steps[1:]
		}
		if len(steps) == 1 {
			c = steps[0]
		}
	}
	if c == nil || c.Type != "Replace" || c.Pattern.String == nil || *c.Pattern.String != " " || c.Content != "▁" {
		return false, errors.New(`unsupported SentencePiece normalizer: want Sequence[Prepend("▁"), Replace(" ", "▁")]`)
	}
	return prepend, nil
}

// isSPMDecoder reports whether dec is the decoder of Llama-style
// SentencePiece tokenizer.json files, which decodeSPM implements:
// Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)].
func isSPMDecoder(dec *hfComponent) bool {
	if dec == nil || dec.Type != "Sequence" || len(dec.Decoders) != 4 {
		return false
	}
	var steps []*hfComponent
	for _, raw := range dec.Decoders {
		step, err := parseComponent(raw)
		if err != nil || step == nil {
			return false
		}
		steps = append(steps, step)
	}
	replace, strip := steps[0], steps[3]
	return replace.Type == "Replace" && replace.Pattern.String != nil && *replace.Pattern.String == "▁" &&
		replace.Content == " " && steps[1].Type == "ByteFallback" && steps[2].Type == "Fuse" &&
		strip.Type == "Strip" && strip.Content == " " && strip.Start == 1 && strip.Stop == 0
}

// isByteToken reports whether tok is a byte-fallback token "<0xNN>".
func isByteToken(tok string) bool {
	var b byte
	n, err := fmt.Sscanf(tok, "<0x%02X>", &b)
	return n == 1 && err == nil && len(tok) == 6
}

// hfMerges reads merges in either form: "a b" strings or ["a", "b"] pairs,
// each exactly two tokens, as the tokenizers library requires.
func hfMerges(raw json.RawMessage) ([][2]string, error) {
	// The first element says which form; guessing wrong would parse the
	// whole list twice.
	outer := bytes.TrimLeft(raw, " \t\r\n")
	if len(outer) > 0 && outer[0] == '[' && bytes.HasPrefix(bytes.TrimLeft(outer[1:], " \t\r\n"), []byte("[")) {
		// Decoding into [2]string would drop a third element silently.
		var lists [][]string
		if err := json.Unmarshal(raw, &lists); err != nil {
			return nil, err
		}
		pairs := make([][2]string, len(lists))
		for i, l := range lists {
			if len(l) != 2 {
				return nil, fmt.Errorf("merge %d %q has %d parts, want 2", i, l, len(l))
			}
			pairs[i] = [2]string{l[0], l[1]}
		}
		return pairs, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return nil, err
	}
	pairs := make([][2]string, len(lines))
	for i, line := range lines {
		a, b, ok := strings.Cut(line, " ")
		if !ok || strings.Contains(b, " ") {
			return nil, fmt.Errorf("merge %d %q is not two tokens", i, line)
		}
		pairs[i] = [2]string{a, b}
	}
	return pairs, nil
}

func hfNormalizer(raw json.RawMessage) (func(string) string, error) {
	c, err := parseComponent(raw)
	if err != nil || c == nil {
		return nil, err
	}
	switch c.Type {
	case "NFC":
		return norm.NFC.String, nil
	case "Sequence":
		var fns []func(string) string
		for _, sub := range c.Normalizers {
			fn, err := hfNormalizer(sub)
			if err != nil {
				return nil, err
			}
			if fn != nil {
				fns = append(fns, fn)
			}
		}
		switch len(fns) {
		case 0:
			return nil, nil
		case 1:
			return fns[0], nil
		}
		return func(s string) string {
			for _, fn := range fns {
				s = fn(s)
			}
			return s
		}, nil
	}
	return nil, fmt.Errorf("unsupported normalizer %s", c.Type)
}

// hfPreTokenizer returns the pre-tokenizer and whether it includes
// ByteLevel. None at all means each text segment is one word.
func hfPreTokenizer(raw json.RawMessage) (preTokenizer, bool, error) {
	c, err := parseComponent(raw)
	if err != nil {
		return nil, false, err
	}
	if c == nil {
		return whole, false, nil
	}
	switch c.Type {
	case "Sequence":
		var pre preTokenizer
		byteLevel := false
		for _, sub := range c.PreTokenizers {
			p, bl, err := hfPreTokenizer(sub)
			if err != nil {
				return nil, false, err
			}
			pre, byteLevel = chain(pre, p), byteLevel || bl
		}
		if pre == nil {
			pre = whole
		}
		return pre, byteLevel, nil
	case "Split":
		if c.Behavior != "Isolated" || c.Invert {
			return nil, false, fmt.Errorf("unsupported Split behavior %s (invert %v)", c.Behavior, c.Invert)
		}
		switch {
		case c.Pattern.Regex != nil:
			pre, err := splitRegex(*c.Pattern.Regex)
			return pre, false, err
		case c.Pattern.String != nil && *c.Pattern.String != "":
			return splitGo(regexp.MustCompile(regexp.QuoteMeta(*c.Pattern.String))), false, nil
		}
		return nil, false, errors.New("Split without a pattern")
	case "Digits":
		if c.IndividualDigits {
			pre, err := splitRegex(`\p{N}`)
			return pre, false, err
		}
		pre, err := splitRegex(`\p{N}+`)
		return pre, false, err
	case "ByteLevel":
		pre := whole
		if c.UseRegex == nil || *c.UseRegex {
			pre = splitGPT2
		}
		if c.AddPrefixSpace {
			inner := pre
			pre = func(text string, emit func(string)) {
				if !strings.HasPrefix(text, " ") {
					text = " " + text
				}
				inner(text, emit)
			}
		}
		return pre, true, nil
	}
	return nil, false, fmt.Errorf("unsupported pre-tokenizer %s", c.Type)
}

// hfPostProcessor returns the ids put before and after the text when
// special tokens are added.
func hfPostProcessor(raw json.RawMessage) (prefix, suffix []int, err error) {
	c, err := parseComponent(raw)
	if err != nil || c == nil {
		return nil, nil, err
	}
	switch c.Type {
	case "ByteLevel": // adjusts offsets only
		return nil, nil, nil
	case "Sequence":
		for _, sub := range c.Processors {
			p, s, err := hfPostProcessor(sub)
			if err != nil {
				return nil, nil, err
			}
			prefix, suffix = append(prefix, p...), append(suffix, s...)
		}
		return prefix, suffix, nil
	case "TemplateProcessing":
		seen := false
		for _, item := range c.Single {
			if _, ok := item["Sequence"]; ok {
				seen = true
				continue
			}
			tok, ok := item["SpecialToken"]
			if !ok {
				return nil, nil, fmt.Errorf("TemplateProcessing item %v", item)
			}
			st, ok := c.SpecialTokens[tok.ID]
			if !ok {
				return nil, nil, fmt.Errorf("TemplateProcessing names unknown special token %q", tok.ID)
			}
			if seen {
				suffix = append(suffix, st.IDs...)
			} else {
				prefix = append(prefix, st.IDs...)
			}
		}
		return prefix, suffix, nil
	case "RobertaProcessing", "BertProcessing":
		cls, okc := pairID(c.Cls)
		sep, oks := pairID(c.Sep)
		if !okc || !oks {
			return nil, nil, fmt.Errorf("%s without cls/sep ids", c.Type)
		}
		return []int{cls}, []int{sep}, nil
	}
	return nil, nil, fmt.Errorf("unsupported post-processor %s", c.Type)
}

// pairID reads the id of a [text, id] pair.
func pairID(p []any) (int, bool) {
	if len(p) != 2 {
		return 0, false
	}
	f, ok := p[1].(float64)
	return int(f), ok
}

// readConfig applies the optional files beside tokenizer.json.
func (t *Tokenizer) readConfig(dir string) error {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return err
	}
	t.templateVars = cfg.TemplateVars()
	if cfg != nil {
		t.bosText, t.eosText = cfg.Special["bos"], cfg.Special["eos"]
	}
	if t.bosText != "" {
		t.bos = t.ID(t.bosText)
	}
	if t.eosText != "" {
		t.eos = t.ID(t.eosText)
	}
	if add, ok := cfg.addFlag("bos"); ok {
		t.prefix = nil
		if add && t.bos >= 0 {
			t.prefix = []int{t.bos}
		}
	}
	if add, ok := cfg.addFlag("eos"); ok {
		t.suffix = nil
		if add && t.eos >= 0 {
			t.suffix = []int{t.eos}
		}
	}
	if t.chatTemplate = cfg.ChatTemplate(); t.chatTemplate == "" {
		b, err := modelfile.Read(filepath.Join(dir, "chat_template.jinja"), modelfile.MaxConfig)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		t.chatTemplate = string(b)
	}

	var gen struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if err := readOptionalJSON(filepath.Join(dir, "generation_config.json"), modelfile.MaxConfig, &gen); err != nil {
		return err
	}
	stop := []int{t.eos}
	if len(gen.EOS) > 0 && string(gen.EOS) != "null" {
		var one int
		var many []int
		if json.Unmarshal(gen.EOS, &one) == nil {
			stop = append(stop, one)
		} else if err := json.Unmarshal(gen.EOS, &many); err == nil {
			stop = append(stop, many...)
		} else {
			return fmt.Errorf("%s: eos_token_id: %w", filepath.Join(dir, "generation_config.json"), err)
		}
	}
	t.stop = stopSet(stop)
	return nil
}

// readOptionalJSON decodes path, of at most limit bytes, into v; a missing
// file leaves v as is.
func readOptionalJSON(path string, limit int64, v any) error {
	data, err := modelfile.Read(path, limit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
