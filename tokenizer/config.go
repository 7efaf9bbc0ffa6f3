package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"

	"github.com/aha-inference/aha/internal/modelfile"
)

// SpecialRole is a special-token role: tokenizer_config.json writes its
// token as <Name>_token, a GGUF file its id under GGUFKey.
type SpecialRole struct{ Name, GGUFKey string }

// SpecialRoles lists the roles in the order transformers'
// special_tokens_map and llama.cpp's converter list them.
func SpecialRoles() []SpecialRole {
	return []SpecialRole{
		{"bos", "tokenizer.ggml.bos_token_id"},
		{"eos", "tokenizer.ggml.eos_token_id"},
		{"unk", "tokenizer.ggml.unknown_token_id"},
		{"sep", "tokenizer.ggml.seperator_token_id"}, // sic: llama.cpp's spelling
		{"pad", "tokenizer.ggml.padding_token_id"},
		{"cls", "tokenizer.ggml.cls_token_id"},
		{"mask", "tokenizer.ggml.mask_token_id"},
	}
}

// Config is what tokenizer_config.json says about a tokenizer: its special
// tokens, whether encoding adds them, and its chat templates. The tokenizer,
// the chat prompt and the GGUF converter all read the file through it.
type Config struct {
	// Special maps each role of SpecialRoles (by name) that the file sets to the
	// token's text, whether written as "text" or as {"content": "text"}.
	Special map[string]string
	// Additional is additional_special_tokens, in the file's order.
	Additional []string
	// Add holds the add_<role>_token flags the file sets, by role.
	Add map[string]bool
	// Templates are the chat templates: chat_template as one string (named
	// "default") or as a list of {name, template}.
	Templates []NamedTemplate
}

// NamedTemplate is one chat template of a tokenizer_config.json.
type NamedTemplate struct {
	Name     string `json:"name"`
	Template string `json:"template"`
}

// ParseConfig reads a tokenizer_config.json. A list of named templates must
// hold one named "default", the one transformers uses when no tools are
// passed.
func ParseConfig(data []byte) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	c := &Config{Special: map[string]string{}, Add: map[string]bool{}}
	for _, r := range SpecialRoles() {
		role := r.Name
		tok, err := tokenContent(raw[role+"_token"])
		if err != nil {
			return nil, fmt.Errorf("%s_token: %w", role, err)
		}
		if tok != nil {
			c.Special[role] = *tok
		}
		if flag := raw["add_"+role+"_token"]; !isNull(flag) {
			var add bool
			if err := json.Unmarshal(flag, &add); err != nil {
				return nil, fmt.Errorf("add_%s_token: want true or false, got %s", role, flag)
			}
			c.Add[role] = add
		}
	}
	if list := raw["additional_special_tokens"]; !isNull(list) {
		var items []json.RawMessage
		if err := json.Unmarshal(list, &items); err != nil {
			return nil, fmt.Errorf("additional_special_tokens: want a list, got %s", list)
		}
		for i, item := range items {
			tok, err := tokenContent(item)
			if err != nil || tok == nil {
				return nil, fmt.Errorf("additional_special_tokens[%d]: not a token: %s", i, item)
			}
			c.Additional = append(c.Additional, *tok)
		}
	}
	var err error
	if c.Templates, err = chatTemplates(raw["chat_template"]); err != nil {
		return nil, fmt.Errorf("chat_template: %w", err)
	}
	return c, nil
}

// ReadConfig reads dir's tokenizer_config.json; without one it returns nil
// and no error.
func ReadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, "tokenizer_config.json")
	data, err := modelfile.Read(path, modelfile.MaxTokenizerConfig)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ChatTemplate is the template named "default", or "" when the file has
// none (a nil Config has none).
func (c *Config) ChatTemplate() string {
	if c == nil {
		return ""
	}
	for _, t := range c.Templates {
		if t.Name == "default" {
			return t.Template
		}
	}
	return ""
}

// TemplateVars are the variables transformers passes to a chat template
// from the tokenizer: each special token that is set, as <role>_token, and
// additional_special_tokens when the file lists them. Unset ones are left
// out, so they are undefined in the template, as in transformers.
func (c *Config) TemplateVars() map[string]any {
	vars := map[string]any{}
	if c == nil {
		return vars
	}
	for role, tok := range c.Special {
		vars[role+"_token"] = tok
	}
	if c.Additional != nil {
		extra := make([]any, len(c.Additional))
		for i, tok := range c.Additional {
			extra[i] = tok
		}
		vars["additional_special_tokens"] = extra
	}
	return vars
}

// tokenContent reads a special token written as "text" or as an AddedToken
// object {"content": "text", …}; nil means unset (absent or null).
func tokenContent(raw json.RawMessage) (*string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return &s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return nil, fmt.Errorf("want a string or an object with a content string, got %s", raw)
	}
	return obj.Content, nil
}

// chatTemplates reads chat_template as a string or a list of {name, template}.
func chatTemplates(raw json.RawMessage) ([]NamedTemplate, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []NamedTemplate{{"default", s}}, nil
	}
	var named []NamedTemplate
	if err := json.Unmarshal(raw, &named); err != nil {
		return nil, fmt.Errorf("want a string or a list of {name, template}: %w", err)
	}
	for _, t := range named {
		if t.Name == "default" {
			return named, nil
		}
	}
	return nil, fmt.Errorf("%d named templates and none named \"default\"", len(named))
}

// TemplateVars are the special tokens a chat template of this tokenizer is
// given (see Config.TemplateVars), in a map the caller may add to.
func (t *Tokenizer) TemplateVars() map[string]any { return maps.Clone(t.templateVars) }

// addFlag is the add_<role>_token flag, when the file sets it.
func (c *Config) addFlag(role string) (add, ok bool) {
	if c == nil {
		return false, false
	}
	add, ok = c.Add[role]
	return add, ok
}
