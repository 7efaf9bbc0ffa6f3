package loader

import (
	"fmt"
	"log"
	"maps"
	"os"
	"strings"
	"sync"

	"github.com/aha-inference/aha/tokenizer"
	"github.com/aha-inference/aha/tokenizer/template"
)

// Chat turns a conversation into a prompt: the model's chat template (or
// one given in a file, or the plain fallback for a model without one),
// rendered with the special tokens transformers passes, then tokenized.
type Chat struct {
	tok *tokenizer.Tokenizer
	tpl *template.Template
	// Source is the template's text; "" for the fallback.
	Source string

	name       string
	noTemplate sync.Once // says once that the model has no chat template
}

// NewChat parses the chat template of tok, or the one in templateFile if
// given. name names the model in the message saying it has no template.
func NewChat(tok *tokenizer.Tokenizer, name, templateFile string) (*Chat, error) {
	c := &Chat{tok: tok, name: name, Source: tok.ChatTemplate(), tpl: template.Fallback}
	if templateFile != "" {
		b, err := os.ReadFile(templateFile)
		if err != nil {
			return nil, fmt.Errorf("chat template: %w", err)
		}
		c.Source = string(b)
	}
	if c.Source != "" {
		tpl, err := template.Parse(c.Source)
		if err != nil {
			return nil, fmt.Errorf("chat template: %w", err)
		}
		c.tpl = tpl
	}
	return c, nil
}

// Prompt renders msgs, ending with the assistant's turn opened, and
// tokenizes the text. kwargs are extra template variables
// (chat_template_kwargs, such as Qwen3's enable_thinking). Templates write
// their own BOS where the model wants one; the BOS is added only when the
// tokenizer adds one and the text does not already start with it (the
// fallback never writes one).
func (c *Chat) Prompt(msgs []template.Message, kwargs map[string]any) (ids []int, text string, err error) {
	if c.Source == "" {
		c.noTemplate.Do(func() {
			log.Printf("%s has no chat template; using the plain fallback (system, blank line, user, blank line)", c.name)
		})
	}
	vars := c.tok.TemplateVars()
	maps.Copy(vars, kwargs)
	text, err = c.tpl.Render(template.Context{Messages: msgs, AddGenerationPrompt: true, Vars: vars})
	if err != nil {
		return nil, "", err
	}
	bos := c.tok.BOSToken()
	addBOS := c.tok.AddBOS() && (bos == "" || !strings.HasPrefix(text, bos))
	return c.tok.Encode(text, addBOS), text, nil
}
