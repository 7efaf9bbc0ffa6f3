package tokenizer

import (
	"encoding/json"
	"testing"

	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/internal/shared"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		config  string
		src     string
		vars    map[string]any
		wantErr bool
	}{
		{"string template, string tokens", `{"chat_template": "T", "bos_token": "<s>", "eos_token": "</s>", "pad_token": null}`,
			"T", map[string]any{"bos_token": "<s>", "eos_token": "</s>"}, false},
		{"AddedToken objects", `{"chat_template": "T", "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false}, "unk_token": {"content": "<unk>"}}`,
			"T", map[string]any{"bos_token": "<s>", "unk_token": "<unk>"}, false},
		{"named templates", `{"chat_template": [{"name": "tool_use", "template": "U"}, {"name": "default", "template": "D"}], "eos_token": "e"}`,
			"D", map[string]any{"eos_token": "e"}, false},
		{"additional special tokens", `{"chat_template": "T", "additional_special_tokens": ["<a>", {"content": "<b>"}]}`,
			"T", map[string]any{"additional_special_tokens": []any{"<a>", "<b>"}}, false},
		{"no template", `{"eos_token": "e"}`, "", map[string]any{"eos_token": "e"}, false},
		{"named templates without default", `{"chat_template": [{"name": "tool_use", "template": "U"}]}`, "", nil, true},
		{"template of the wrong type", `{"chat_template": 3}`, "", nil, true},
		{"token of the wrong type", `{"bos_token": 3}`, "", nil, true},
		{"not JSON", `{`, "", nil, true},
		{"add flag of the wrong type", `{"add_bos_token": "yes"}`, "", nil, true},
		{"every role", `{"bos_token": "b", "eos_token": "e", "unk_token": "u", "sep_token": "s", "pad_token": "p", "cls_token": "c", "mask_token": "m"}`,
			"", map[string]any{"bos_token": "b", "cls_token": "c", "eos_token": "e", "mask_token": "m", "pad_token": "p", "sep_token": "s", "unk_token": "u"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.config))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", cfg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			src, vars := cfg.ChatTemplate(), cfg.TemplateVars()
			gotJSON, _ := json.Marshal(vars)
			wantJSON, _ := json.Marshal(tc.vars)
			if src != tc.src || string(gotJSON) != string(wantJSON) {
				t.Fatalf("got %q %s, want %q %s", src, gotJSON, tc.src, wantJSON)
			}
		})
	}
}

func TestParseConfigAddFlags(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"add_bos_token": true, "add_eos_token": false, "add_sep_token": null}`))
	if err != nil {
		t.Fatal(err)
	}
	for role, want := range map[string]bool{"bos": true, "eos": false} {
		if got, ok := cfg.Add[role]; !ok || got != want {
			t.Errorf("add_%s_token = %v (set %v), want %v", role, got, ok, want)
		}
	}
	if _, ok := cfg.Add["sep"]; ok {
		t.Errorf("add_sep_token null reads as set")
	}
}

// TestTemplateVarsHFAndGGUF: a GGUF file converted from a Hugging Face
// folder gives a chat template the same special tokens as the folder's
// tokenizer_config.json (the file may name more, such as a BOS taken from
// config.json; it has no additional_special_tokens).
func TestTemplateVarsHFAndGGUF(t *testing.T) {
	for _, m := range []struct{ hf, gguf string }{
		{"models/qwen2-tiny/hf", "models/qwen2-tiny/qwen2-tiny-f16.gguf"},
		{"models/llama3-tiny/hf", "models/llama3-tiny/llama3-tiny-f16.gguf"},
		{"models/qwen3-tiny/hf", "models/qwen3-tiny/qwen3-tiny-bf16.gguf"},
	} {
		t.Run(m.hf, func(t *testing.T) {
			hf, err := FromHF(shared.Path(t, m.hf))
			if err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(shared.Path(t, m.gguf))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			gg, err := FromGGUF(f)
			if err != nil {
				t.Fatal(err)
			}
			hv, gv := hf.TemplateVars(), gg.TemplateVars()
			if hv["eos_token"] == nil {
				t.Errorf("HF eos_token unset in %v", hv)
			}
			for k, v := range hv {
				if k != "additional_special_tokens" && gv[k] != v {
					t.Errorf("%s: HF %q, GGUF %q", k, v, gv[k])
				}
			}
		})
	}
}
