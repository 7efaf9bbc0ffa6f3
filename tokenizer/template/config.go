package template

import (
	"encoding/json"
	"fmt"
)

// specialTokens are the tokenizer_config.json keys transformers passes to
// every chat template (its special_tokens_map), each only when it is set.
var specialTokens = []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}

// FromTokenizerConfig reads the chat template and the special tokens from a
// tokenizer_config.json. The template is the "chat_template" string, or, when
// that is a list of named templates, the one named "default" (as
// transformers picks when no tools are passed). src is "" when the file has
// no template: the caller then uses Fallback. vars holds the special tokens
// that are set (bos_token, eos_token, pad_token, …, and
// additional_special_tokens) as strings, whether the file writes them as
// strings or as {"content": …} objects; unset ones are left out, so they are
// undefined in the template, as in transformers.
func FromTokenizerConfig(data []byte) (src string, vars map[string]any, err error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", nil, fmt.Errorf("tokenizer_config.json: %w", err)
	}
	vars = map[string]any{}
	for _, name := range specialTokens {
		tok, err := tokenContent(cfg[name])
		if err != nil {
			return "", nil, fmt.Errorf("tokenizer_config.json %s: %w", name, err)
		}
		if tok != nil {
			vars[name] = *tok
		}
	}
	if raw, ok := cfg["additional_special_tokens"]; ok && string(raw) != "null" {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return "", nil, fmt.Errorf("tokenizer_config.json additional_special_tokens: %w", err)
		}
		extra := make([]any, 0, len(list))
		for i, item := range list {
			tok, err := tokenContent(item)
			if err != nil || tok == nil {
				return "", nil, fmt.Errorf("tokenizer_config.json additional_special_tokens[%d]: not a token: %s", i, item)
			}
			extra = append(extra, *tok)
		}
		vars["additional_special_tokens"] = extra
	}
	src, err = chatTemplate(cfg["chat_template"])
	if err != nil {
		return "", nil, fmt.Errorf("tokenizer_config.json chat_template: %w", err)
	}
	return src, vars, nil
}

// tokenContent reads a special token written as "text" or as an AddedToken
// object {"content": "text", …}; nil means unset (absent or null).
func tokenContent(raw json.RawMessage) (*string, error) {
	if len(raw) == 0 || string(raw) == "null" {
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

// chatTemplate reads chat_template as a string or a list of {name, template}.
func chatTemplate(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &named); err != nil {
		return "", fmt.Errorf("want a string or a list of {name, template}: %w", err)
	}
	for _, t := range named {
		if t.Name == "default" {
			return t.Template, nil
		}
	}
	return "", fmt.Errorf("%d named templates and none named \"default\"", len(named))
}
