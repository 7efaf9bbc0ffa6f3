package convert

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/internal/modelfile"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/tokenizer"
)

// A GGUF file carries its tokenizer as tokenizer.* metadata. Exporting a
// Hugging Face folder means building those keys from tokenizer.json and
// tokenizer_config.json the way llama.cpp's convert_hf_to_gguf.py does for
// GPT-2-style byte-level BPE tokenizers (Qwen2/2.5/3, Llama 3), so that
// llama.cpp and aha read the result exactly as they read the converter's
// own files.

// GGUF token types (llama.cpp's llama_token_type).
const (
	tokenNormal      int32 = 1
	tokenControl     int32 = 3
	tokenUserDefined int32 = 4
	tokenUnused      int32 = 5
)

// tokenizerPre names llama.cpp's pre-tokenizer (the regex that splits text
// before BPE) for each architecture. llama.cpp's converter recognises it by
// hashing the tokenizer's output on a test text; aha's architectures each
// use one.
var tokenizerPre = map[string]string{
	"llama": "llama-bpe", // Llama 3.x
	"qwen2": "qwen2",
	"qwen3": "qwen2",
}

type hfTokenizerJSON struct {
	Model struct {
		Type         string          `json:"type"`
		ByteFallback bool            `json:"byte_fallback"`
		Vocab        map[string]int  `json:"vocab"`
		Merges       json.RawMessage `json:"merges"`
	} `json:"model"`
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	PostProcessor *postProcessor `json:"post_processor"`
}

// postProcessor is the part of tokenizer.json's post_processor that says
// which special tokens encoding adds around a text.
type postProcessor struct {
	Type       string          `json:"type"`
	Processors []postProcessor `json:"processors"` // type Sequence
	Single     []templatePiece `json:"single"`     // type TemplateProcessing
	Pair       []templatePiece `json:"pair"`
}

type templatePiece struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
}

// special is the content of a special token piece, or "".
func (p templatePiece) special() string {
	if p.SpecialToken == nil {
		return ""
	}
	return p.SpecialToken.ID
}

// TokenizerMetadata builds the GGUF tokenizer keys of the Hugging Face
// folder dir for a model of config c, as Export writes them.
func TokenizerMetadata(dir string, c *model.Config) ([]gguf.KV, error) {
	ids, err := hfConfigTokenIDs(dir)
	if err != nil {
		return nil, err
	}
	return hfTokenizerMetadata(dir, c.Architecture, c.VocabSize, ids)
}

// hfTokenizerMetadata builds the GGUF tokenizer keys from a tokenizer.json
// file, or a folder holding one, with the tokenizer_config.json beside it.
// The token list has exactly vocabSize entries: ids the tokenizer does not
// use become "[PAD<id>]" tokens of type UNUSED, as the converter writes
// them. configIDs are config.json's integer <role>_token_id values, used
// for roles tokenizer_config.json does not name.
func hfTokenizerMetadata(path, arch string, vocabSize int, configIDs map[string]int) ([]gguf.KV, error) {
	dir, file := path, filepath.Join(path, "tokenizer.json")
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		dir, file = filepath.Dir(path), path
	}
	data, err := modelfile.Read(file, modelfile.MaxTokenizer)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var tj hfTokenizerJSON
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", file, err)
	}
	if tj.Model.Type != "BPE" || tj.Model.ByteFallback {
		return nil, fmt.Errorf("tokenizer %s: a %s model (byte_fallback %v); only byte-level BPE tokenizers (GPT-2 style, as Qwen and Llama 3 use) can be converted", file, tj.Model.Type, tj.Model.ByteFallback)
	}
	tc, err := tokenizer.ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	pre, ok := tokenizerPre[arch]
	if !ok {
		return nil, fmt.Errorf("tokenizer: no pre-tokenizer known for architecture %q", arch)
	}

	tokens, types, err := tj.tokenList(vocabSize)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", file, err)
	}
	merges, err := parseMerges(tj.Model.Merges)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", file, err)
	}
	kv := []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: "gpt2"},
		{Key: "tokenizer.ggml.pre", Value: pre},
		{Key: "tokenizer.ggml.tokens", Value: tokens},
		{Key: "tokenizer.ggml.token_type", Value: types},
		{Key: "tokenizer.ggml.merges", Value: merges},
	}
	ids, adds := tj.specialTokens(tc, configIDs, vocabSize)
	for _, s := range ids {
		kv = append(kv, gguf.KV{Key: s.key, Value: uint32(s.id)})
	}
	for _, a := range adds {
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.add_" + a.role + "_token", Value: a.add})
	}
	templates, err := chatTemplates(dir, tc)
	if err != nil {
		return nil, err
	}
	return append(kv, templates...), nil
}

// tokenList lists the tokens by id with their GGUF types. Added tokens are
// CONTROL when marked special or when they look like control tokens
// (<|…|>), which some tokenizers forget to mark; the other added tokens are
// USER_DEFINED. The converter would also re-normalize added tokens marked
// "normalized"; byte-level BPE tokenizers mark none, so aha does not.
func (tj *hfTokenizerJSON) tokenList(vocabSize int) ([]string, []int32, error) {
	tokens := make([]string, vocabSize)
	types := make([]int32, vocabSize)
	set := func(id int, tok string, typ int32) error {
		if id < 0 || id >= vocabSize {
			return fmt.Errorf("token %q has id %d, outside the model's vocabulary of %d", tok, id, vocabSize)
		}
		tokens[id], types[id] = tok, typ
		return nil
	}
	for tok, id := range tj.Model.Vocab {
		if err := set(id, tok, tokenNormal); err != nil {
			return nil, nil, err
		}
	}
	for _, a := range tj.AddedTokens {
		typ := tokenUserDefined
		if a.Special || looksSpecial(a.Content) {
			typ = tokenControl
		}
		if err := set(a.ID, a.Content, typ); err != nil {
			return nil, nil, err
		}
	}
	for id := range tokens {
		if types[id] == 0 {
			tokens[id], types[id] = fmt.Sprintf("[PAD%d]", id), tokenUnused
		}
	}
	return tokens, types, nil
}

// looksSpecial reports whether an added token not marked special is a
// control token by its shape, as the converter decides.
func looksSpecial(tok string) bool {
	switch tok {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return strings.HasPrefix(tok, "<|") && strings.HasSuffix(tok, "|>") ||
		strings.HasPrefix(tok, "<｜") && strings.HasSuffix(tok, "｜>") ||
		strings.HasPrefix(tok, "<unused") && strings.HasSuffix(tok, ">")
}

// parseMerges reads tokenizer.json's merges: "a b" strings, or (since
// transformers 4.45) [a, b] pairs, whose parts may contain spaces. GGUF
// stores "a b" strings, so a space inside a part is written as U+0120 (Ġ),
// the byte-level alphabet's space.
func parseMerges(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("tokenizer model has no merges")
	}
	var merges []string
	if json.Unmarshal(raw, &merges) == nil {
		for i, m := range merges {
			if strings.Count(m, " ") != 1 {
				return nil, fmt.Errorf("merge %d %q is not two tokens separated by one space", i, m)
			}
		}
		return merges, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("merges are neither strings nor pairs of strings: %w", err)
	}
	merges = make([]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("merge %d has %d parts, want 2", i, len(p))
		}
		merges[i] = strings.ReplaceAll(p[0], " ", "Ġ") + " " + strings.ReplaceAll(p[1], " ", "Ġ")
	}
	return merges, nil
}

type specialID struct {
	key string
	id  int
}

type addFlag struct {
	role string
	add  bool
}

// specialTokens finds the special token ids and the add_*_token flags the
// converter writes. Ids come from tokenizer_config.json's <role>_token
// entries (looked up among the added tokens), then from config.json. The
// flags come from the post-processor's template — a leading BOS means
// add_bos, a separator between the pair's two texts add_sep — and are
// overridden by tokenizer_config.json's add_<role>_token. Only bos, eos and
// sep flags have GGUF keys.
func (tj *hfTokenizerJSON) specialTokens(tc *tokenizer.Config, configIDs map[string]int, vocabSize int) ([]specialID, []addFlag) {
	var adds []addFlag
	setAdd := func(role string, add bool) {
		for i := range adds {
			if adds[i].role == role {
				adds[i].add = add
				return
			}
		}
		adds = append(adds, addFlag{role, add})
	}

	content := map[string]string{}
	var addFlags map[string]bool
	if tc != nil {
		maps.Copy(content, tc.Special)
		addFlags = tc.Add
	}
	// Encoder-style configs name cls/sep only; they stand in for bos/eos.
	if content["bos"] == "" {
		content["bos"] = content["cls"]
	}
	if content["eos"] == "" {
		content["eos"] = content["sep"]
	}
	if pp := tj.PostProcessor; pp != nil {
		procs := pp.Processors
		if len(procs) == 0 {
			procs = []postProcessor{*pp}
		}
		for _, p := range procs {
			if p.Type == "TemplateProcessing" {
				templateFlags(p, content, tc == nil, setAdd)
			}
		}
	}

	var ids []specialID
	have := map[string]bool{}
	setID := func(key string, id int) {
		if id >= 0 && id < vocabSize && !have[key] {
			have[key] = true
			ids = append(ids, specialID{key, id})
		}
	}
	for _, s := range tokenizer.SpecialRoles() {
		if add, ok := addFlags[s.Name]; ok && (s.Name == "bos" || s.Name == "eos" || s.Name == "sep") {
			setAdd(s.Name, add)
		}
		if tc == nil || content[s.Name] == "" {
			continue
		}
		for _, a := range tj.AddedTokens {
			if a.Content == content[s.Name] {
				setID(s.GGUFKey, a.ID)
				break
			}
		}
	}
	for _, s := range tokenizer.SpecialRoles() {
		if id, ok := configIDs[s.Name]; ok {
			setID(s.GGUFKey, id)
		}
	}
	return ids, adds
}

// templateFlags reads a TemplateProcessing post-processor: "single" is the
// template for one text ([BOS] A [EOS]), "pair" for two (… A [SEP] B …).
// Without a tokenizer_config.json the template's own first and last
// special tokens are taken as BOS and EOS.
func templateFlags(p postProcessor, content map[string]string, noConfig bool, setAdd func(string, bool)) {
	if len(p.Single) < 2 {
		return
	}
	first, last := p.Single[0].special(), p.Single[len(p.Single)-1].special()
	bos, eos, sep := content["bos"], content["eos"], content["sep"]
	if noConfig {
		bos, eos = first, last
	}
	if first != "" {
		setAdd("bos", first == bos)
	}
	if last != "" {
		setAdd("eos", last == eos)
	}
	pair := p.Pair
	if first != "" && len(pair) > 0 && pair[0].special() == first {
		pair = pair[1:]
	}
	if last != "" && len(pair) > 0 && pair[len(pair)-1].special() == last {
		pair = pair[:len(pair)-1]
	}
	// What is left should be A, one or two separators, B.
	if len(pair) < 3 || len(pair) > 4 || pair[0].Sequence == nil || pair[len(pair)-1].Sequence == nil {
		return
	}
	isSep := func(s string) bool { return s != "" && (s == sep || s == eos) }
	add := isSep(pair[1].special()) && last == ""
	if len(pair) == 4 && isSep(pair[2].special()) {
		add = true
	}
	setAdd("sep", add)
}

// chatTemplates returns the chat template keys: tokenizer_config.json's
// chat_template — one template, or a list of named ones — or else the
// chat_template.jinja file newer folders carry.
func chatTemplates(dir string, tc *tokenizer.Config) ([]gguf.KV, error) {
	if tc != nil && len(tc.Templates) > 0 {
		var kv []gguf.KV
		for _, t := range tc.Templates {
			key := "tokenizer.chat_template"
			if t.Name != "default" {
				key += "." + t.Name
			}
			kv = append(kv, gguf.KV{Key: key, Value: t.Template})
		}
		return kv, nil
	}
	data, err := modelfile.Read(filepath.Join(dir, "chat_template.jinja"), modelfile.MaxConfig)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return []gguf.KV{{Key: "tokenizer.chat_template", Value: string(data)}}, nil
}

// hfConfigTokenIDs reads config.json's integer <role>_token_id entries (a
// list, as Llama 3.1+ gives for eos, is skipped, as the converter does).
func hfConfigTokenIDs(dir string) (map[string]int, error) {
	data, err := modelfile.Read(filepath.Join(dir, "config.json"), modelfile.MaxConfig)
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	ids := map[string]int{}
	for _, s := range tokenizer.SpecialRoles() {
		var id int
		if json.Unmarshal(raw[s.Name+"_token_id"], &id) == nil {
			ids[s.Name] = id
		}
	}
	return ids, nil
}
