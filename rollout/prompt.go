package rollout

import (
	"errors"
	"slices"

	"github.com/aha-inference/aha/rollout/data"
	"github.com/aha-inference/aha/tokenizer/template"
)

// DefaultSystem asks for the layout the format reward checks.
const DefaultSystem = "You are a helpful assistant. Think through the problem step by step inside <think> </think> tags, then give the final answer inside <answer> </answer> tags."

// Prompts render problems into what the model samples: the conversation
// through the model's chat template, with a system message and an
// optional "<think>" prefill.
type Prompts struct {
	// Chat renders a conversation with the model's chat template and
	// tokenizes it.
	Chat func(msgs []template.Message) (ids []int, text string, err error)
	// Encode tokenizes text as it is, without special tokens.
	Encode func(text string) []int

	System       string // added unless the problem has its own; "" for none
	PrefillThink bool   // start the assistant turn with "<think>"
	// Raw: the problem's first message is the whole rendered prompt,
	// sampled as it is (no template, no system message), as verl's
	// RLHFDataset reads Meta-Ability-Alignment's files.
	Raw bool
}

// Render gives a problem's prompt text and token ids.
func (p Prompts) Render(pr data.Problem) (string, []int, error) {
	switch {
	case len(pr.Messages) == 0:
		return "", nil, errors.New("the problem has no messages")
	case p.Encode == nil && (p.Raw || p.PrefillThink), p.Chat == nil && !p.Raw:
		return "", nil, errors.New("rendering prompts needs Prompts.Chat, and Prompts.Encode for raw prompts and the prefill")
	}
	if p.Raw {
		text, _ := pr.Messages[0]["content"].(string) // data.Read makes every content a string
		return text, p.Encode(text), nil
	}
	ids, text, err := p.Chat(WithSystem(pr.Messages, p.System))
	if err != nil {
		return "", nil, err
	}
	if p.PrefillThink {
		text += "<think>"
		ids = append(slices.Clip(ids), p.Encode("<think>")...)
	}
	return text, ids, nil
}

// WithSystem is a conversation with the system message system first,
// unless it has one already or system is "".
func WithSystem(msgs []template.Message, system string) []template.Message {
	if system == "" || slices.ContainsFunc(msgs, func(m template.Message) bool { return m["role"] == "system" }) {
		return msgs
	}
	return append([]template.Message{{"role": "system", "content": system}}, msgs...)
}
