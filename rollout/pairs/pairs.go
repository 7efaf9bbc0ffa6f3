// Package pairs turns rollouts into preference data, as aha pairs does:
// DPO pairs of a correct and a wrong completion (TRL's DPOTrainer), KTO
// rows (TRL's KTOTrainer), or ReaLM's multi-route prompts (MRPV), whose
// routes fade over EAAI stages. The choice of completions is rollout's
// (GroupRoutes, Pairs, MRPVRoutes); this package writes the rows.
package pairs

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/data"
	"github.com/aha-inference/aha/tokenizer/template"
)

// Formats of the output.
const (
	DPO  = "dpo"  // prompt, chosen, rejected
	KTO  = "kto"  // prompt, completion, label
	MRPV = "mrpv" // a prompt holding several routes, and the reference answer
)

// Options configure Write.
type Options struct {
	Format string // DPO, KTO or MRPV
	// Correct and Wrong bound the completions taken per problem: DPO pairs
	// every correct one with every wrong one; KTO writes each.
	Correct, Wrong int
	// Routes per MRPV prompt, Positives of them correct; Marked says in
	// the prompt which are; Stages > 0 writes that many files
	// OUT-stageS.ext in which the routes fade (EAAISchedule).
	Routes, Positives int
	Marked            bool
	Stages            int
	Seed              uint64 // of the draw of completions and of the routes' order
	// KeepTruncated and KeepFormatFailed let in the samples rollout.Usable
	// refuses otherwise.
	KeepTruncated, KeepFormatFailed bool
	// Data is the data file the rollouts came from; "" takes the one
	// their manifest records.
	Data string
	Log  io.Writer // what was written and left out (nil: nothing)
}

// Check reports options that contradict each other.
func (opt Options) Check() error {
	switch {
	case opt.Format != DPO && opt.Format != KTO && opt.Format != MRPV:
		return fmt.Errorf("format %q: want dpo, kto or mrpv", opt.Format)
	case opt.Correct < 1 || opt.Wrong < 1:
		return fmt.Errorf("mix %d:%d: want two counts of at least 1", opt.Correct, opt.Wrong)
	case opt.Format == MRPV && (opt.Routes < 1 || opt.Positives < 0 || opt.Positives > opt.Routes):
		return fmt.Errorf("%d routes, %d positives: want at least one route and 0 ≤ positives ≤ routes", opt.Routes, opt.Positives)
	case opt.Stages != 0 && (opt.Format != MRPV || opt.Stages < 2):
		return fmt.Errorf("%d EAAI stages: the routes of the mrpv format fade over at least 2 stages", opt.Stages)
	}
	return nil
}

// Write reads the rollout files and writes the rows of opt.Format to out.
func Write(files []string, out string, opt Options) error {
	if err := opt.Check(); err != nil {
		return err
	}
	log := opt.Log
	if log == nil {
		log = io.Discard
	}
	recs, err := rollout.ReadRecords(files...)
	if err != nil {
		return err
	}
	prompts, err := pairPrompts(files, opt.Data, recs)
	if err != nil {
		return err
	}
	if opt.Format == MRPV && prompts == nil {
		return fmt.Errorf("--format mrpv puts routes into the problem's messages, and %s has no manifest naming its --data or --task; give --data", files[0])
	}
	routes, dropped := rollout.GroupRoutes(recs, opt.KeepTruncated, opt.KeepFormatFailed, opt.Seed)
	fmt.Fprintf(log, "%d of %d samples left out (truncated, format failed or reward error; see --keep-truncated, --keep-format-failed)\n", dropped, len(recs))
	switch opt.Format {
	case DPO:
		pairs, skipped := rollout.Pairs(routes, opt.Correct, opt.Wrong)
		rows := make([]map[string]any, len(pairs))
		for i, p := range pairs {
			rows[i] = dpoRow(p, prompts)
		}
		fmt.Fprintf(log, "%d pairs → %s; %d problems had no correct or no wrong completion\n", len(rows), out, skipped)
		return data.WriteJSONL(out, rows)
	case KTO:
		var rows []map[string]any
		for _, g := range routes {
			for _, r := range slices.Concat(g.Right[:min(opt.Correct, len(g.Right))], g.Wrong[:min(opt.Wrong, len(g.Wrong))]) {
				rows = append(rows, ktoRow(r, prompts))
			}
		}
		fmt.Fprintf(log, "%d completions → %s\n", len(rows), out)
		return data.WriteJSONL(out, rows)
	}
	return writeMRPV(out, opt, log, routes, prompts)
}

// pairPrompts is every prompt's messages, by prompt id, when the rollouts'
// manifest says where they came from; nil when it does not (the prompt is
// then the rendered text of the records).
func pairPrompts(files []string, dataPath string, recs []rollout.Record) (*promptSet, error) {
	src, ok, err := rollout.ReadSource(files)
	if err != nil || !ok && dataPath == "" {
		return nil, err
	}
	problems, prefill, err := src.Problems(dataPath)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.PromptID >= len(problems) || problems[r.PromptID].Answer != r.Answer {
			return nil, fmt.Errorf("prompt %d's answer %q is not the data's: these rollouts did not come from that data; name it with --data", r.PromptID, r.Answer)
		}
	}
	return &promptSet{problems, prefill}, nil
}

// promptSet is the conversations of a run's prompts.
type promptSet struct {
	problems []data.Problem
	// prefill: the assistant turn began with "<think>", which is in the
	// rendered prompt but not in the completions.
	prefill bool
}

// prompt is a record's prompt in TRL's conversational format when the
// messages are known, else its rendered text (TRL's standard format).
func (ps *promptSet) prompt(r rollout.Record) any {
	if ps == nil {
		return r.Prompt
	}
	return ps.problems[r.PromptID].Messages
}

// completion is a completion in the format of the prompt: an assistant
// message, with the prefilled "<think>" restored, or the text as sampled.
func (ps *promptSet) completion(r rollout.Record) any {
	if ps == nil {
		return r.Completion
	}
	return []template.Message{{"role": "assistant", "content": ps.text(r)}}
}

// text is a completion as the assistant wrote it, prefill included.
func (ps *promptSet) text(r rollout.Record) string {
	if ps != nil && ps.prefill {
		return "<think>" + r.Completion
	}
	return r.Completion
}

// dpoRow is a preference pair as TRL's DPOTrainer reads it: prompt,
// chosen, rejected, the rest for filtering.
func dpoRow(p rollout.Pair, ps *promptSet) map[string]any {
	c, w := p.Chosen, p.Rejected
	return map[string]any{"prompt": ps.prompt(c), "chosen": ps.completion(c), "rejected": ps.completion(w),
		"prompt_id": c.PromptID, "task": c.Task, "level": c.Level, "answer": c.Answer,
		"chosen_sample": c.SampleIndex, "rejected_sample": w.SampleIndex, "chosen_reward": c.Reward, "rejected_reward": w.Reward,
		"rejected_verdict": w.Verdict}
}

// ktoRow is one completion as TRL's KTOTrainer reads it: prompt,
// completion and whether it is desirable.
func ktoRow(r rollout.Record, ps *promptSet) map[string]any {
	return map[string]any{"prompt": ps.prompt(r), "completion": ps.completion(r), "label": r.Correct(),
		"prompt_id": r.PromptID, "task": r.Task, "level": r.Level, "answer": r.Answer,
		"sample": r.SampleIndex, "reward": r.Reward, "verdict": r.Verdict}
}

// writeMRPV writes one row per problem whose prompt holds its routes, one
// file per EAAI stage.
func writeMRPV(path string, opt Options, log io.Writer, routes []rollout.Routes, ps *promptSet) error {
	stages := max(opt.Stages, 1)
	rows := make([][]map[string]any, stages)
	skipped := 0
	for _, g := range routes {
		perStage, ok := rollout.MRPVRoutes(g, opt.Routes, opt.Positives, stages, opt.Seed)
		if !ok {
			skipped++
			continue
		}
		for s, shown := range perStage {
			rows[s] = append(rows[s], mrpvRow(g, shown, ps, opt.Marked, s+1))
		}
	}
	for s := range stages {
		out := path
		if opt.Stages > 0 {
			ext := filepath.Ext(out)
			out = fmt.Sprintf("%s-stage%d%s", strings.TrimSuffix(out, ext), s+1, ext)
		}
		if err := data.WriteJSONL(out, rows[s]); err != nil {
			return err
		}
		fmt.Fprintf(log, "%d prompts → %s\n", len(rows[s]), out)
	}
	fmt.Fprintf(log, "%d problems had fewer than %d correct or %d wrong completions\n", skipped, opt.Positives, opt.Routes-opt.Positives)
	return nil
}

// mrpvRow is a problem with routes in its last user turn, and the
// reference answer: a prompt and answer that aha rollout --data, and an
// RL trainer, read as they read any problem.
func mrpvRow(g rollout.Routes, shown []rollout.Record, ps *promptSet, marked bool, stage int) map[string]any {
	msgs := append([]template.Message(nil), ps.problems[g.PromptID].Messages...)
	last := len(msgs) - 1
	texts := make([]string, len(shown))
	correct := make([]bool, len(shown))
	positives := 0
	for i, r := range shown {
		texts[i], correct[i] = ps.text(r), r.Correct()
		if correct[i] {
			positives++
		}
	}
	question, _ := msgs[last]["content"].(string) // data.Read accepts only string contents
	msgs[last] = template.Message{"role": msgs[last]["role"], "content": mrpvPrompt(question, texts, correct, marked)}
	return map[string]any{"prompt": msgs, "answer": g.Answer, "prompt_id": g.PromptID, "task": g.Task, "level": g.Level,
		"routes": len(shown), "positive_routes": positives, "stage": stage}
}

// mrpvPrompt appends routes to a question. Marked routes say whether each
// is correct; unmarked ones leave it to the model.
func mrpvPrompt(question string, routes []string, correct []bool, marked bool) string {
	if len(routes) == 0 {
		return question
	}
	var b strings.Builder
	b.WriteString(question)
	fmt.Fprintf(&b, "\n\nHere are %d attempted solutions (routes) to this problem. ", len(routes))
	if marked {
		b.WriteString("Each is marked correct or incorrect.")
	} else {
		b.WriteString("Some may be wrong.")
	}
	b.WriteString(" Compare them, find where they part ways, and solve the problem yourself.")
	for i, r := range routes {
		fmt.Fprintf(&b, "\n\nRoute %d", i+1)
		if marked {
			b.WriteString(map[bool]string{true: " (correct)", false: " (incorrect)"}[correct[i]])
		}
		b.WriteString(":\n")
		b.WriteString(r)
	}
	return b.String()
}
