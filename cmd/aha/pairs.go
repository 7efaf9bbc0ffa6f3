package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/data"
	"github.com/aha-inference/aha/tokenizer/template"
)

func init() {
	register("pairs", "correct and wrong completions of each problem as DPO pairs, KTO rows, or ReaLM's multi-route prompts", runPairs)
}

// pairsFlags are the options of aha pairs.
type pairsFlags struct {
	out, format, dataPath   string
	c, w, routes, positives int
	seed                    uint64
	keepTrunc, keepFormat   bool
	marked                  bool
	stages                  int
}

func runPairs(args []string) error {
	fs := newFlags("pairs", "ROLLOUT.jsonl... -o OUT.jsonl [--format dpo|kto|mrpv] [flags]")
	var f pairsFlags
	fs.StringVar(&f.out, "o", "", "output JSONL")
	fs.StringVar(&f.format, "format", "dpo", "dpo: prompt, chosen, rejected (TRL's DPOTrainer); kto: prompt, completion, label (TRL's KTOTrainer); mrpv: a prompt holding several routes and the reference answer (ReaLM)")
	mix := fs.String("mix", "1:1", "C:W: per problem, up to C correct and W wrong completions (dpo pairs every correct one with every wrong one; kto writes each)")
	fs.IntVar(&f.routes, "routes", 4, "mrpv: routes per prompt")
	fs.IntVar(&f.positives, "positives", 2, "mrpv: how many of the routes are correct")
	fs.BoolVar(&f.marked, "mark-routes", false, "mrpv: mark each route correct or incorrect (without it the model must tell)")
	fs.IntVar(&f.stages, "eaai-stages", 0, "mrpv: write N files OUT-stageS.jsonl in which the routes fade, all at stage 1, none at stage N (N ≥ 2)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the draw of completions and of the routes' order")
	fs.BoolVar(&f.keepTrunc, "keep-truncated", false, "use completions cut off at the token limit (finish_reason length)")
	fs.BoolVar(&f.keepFormat, "keep-format-failed", false, "use completions that failed the format (verdict format_error)")
	fs.StringVar(&f.dataPath, "data", "", "the data file the rollouts came from (default: the --data their manifest records)")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 || f.out == "" {
		return usagef("name the rollout files and the output (-o)")
	}
	cs, ws, ok := strings.Cut(*mix, ":")
	c, err1 := strconv.Atoi(cs)
	w, err2 := strconv.Atoi(ws)
	if !ok || err1 != nil || err2 != nil || c < 1 || w < 1 {
		return usagef("--mix %q: want C:W, two counts of at least 1", *mix)
	}
	f.c, f.w = c, w
	switch {
	case f.format != "dpo" && f.format != "kto" && f.format != "mrpv":
		return usagef("--format %q: want dpo, kto or mrpv", f.format)
	case f.format == "mrpv" && (f.routes < 1 || f.positives < 0 || f.positives > f.routes):
		return usagef("--routes %d --positives %d: want at least one route and 0 ≤ positives ≤ routes", f.routes, f.positives)
	case f.stages != 0 && (f.format != "mrpv" || f.stages < 2):
		return usagef("--eaai-stages %d: the routes of --format mrpv fade over at least 2 stages", f.stages)
	}
	recs, err := rollout.ReadRecords(files...)
	if err != nil {
		return err
	}
	prompts, err := pairPrompts(files, f.dataPath, recs)
	if err != nil {
		return err
	}
	if f.format == "mrpv" && prompts == nil {
		return fmt.Errorf("--format mrpv puts routes into the problem's messages, and %s has no manifest naming its --data or --task; give --data", files[0])
	}
	routes, dropped := rollout.GroupRoutes(recs, f.keepTrunc, f.keepFormat, f.seed)
	fmt.Fprintf(os.Stderr, "%d of %d samples left out (truncated, format failed or reward error; see --keep-truncated, --keep-format-failed)\n", dropped, len(recs))
	switch f.format {
	case "dpo":
		pairs, skipped := rollout.Pairs(routes, f.c, f.w)
		rows := make([]map[string]any, len(pairs))
		for i, p := range pairs {
			rows[i] = dpoRow(p, prompts)
		}
		fmt.Fprintf(os.Stderr, "%d pairs → %s; %d problems had no correct or no wrong completion\n", len(rows), f.out, skipped)
		return data.WriteJSONL(f.out, rows)
	case "kto":
		var rows []map[string]any
		for _, g := range routes {
			for _, r := range slices.Concat(g.Right[:min(f.c, len(g.Right))], g.Wrong[:min(f.w, len(g.Wrong))]) {
				rows = append(rows, ktoRow(r, prompts))
			}
		}
		fmt.Fprintf(os.Stderr, "%d completions → %s\n", len(rows), f.out)
		return data.WriteJSONL(f.out, rows)
	}
	return writeMRPV(&f, routes, prompts)
}

// pairPrompts is every prompt's messages, by prompt id, when the rollouts'
// manifest says where they came from; nil when it does not (the prompt is
// then the rendered text of the records).
func pairPrompts(files []string, dataPath string, recs []rollout.Record) (*promptSet, error) {
	src, ok, err := readSource(files)
	if err != nil || !ok && dataPath == "" {
		return nil, err
	}
	problems, prefill, err := src.problems(dataPath)
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
func writeMRPV(f *pairsFlags, routes []rollout.Routes, ps *promptSet) error {
	stages := max(f.stages, 1)
	rows := make([][]map[string]any, stages)
	skipped := 0
	for _, g := range routes {
		perStage, ok := rollout.MRPVRoutes(g, f.routes, f.positives, stages, f.seed)
		if !ok {
			skipped++
			continue
		}
		for s, shown := range perStage {
			rows[s] = append(rows[s], mrpvRow(g, shown, ps, f.marked, s+1))
		}
	}
	for s := range stages {
		out := f.out
		if f.stages > 0 {
			ext := filepath.Ext(out)
			out = fmt.Sprintf("%s-stage%d%s", strings.TrimSuffix(out, ext), s+1, ext)
		}
		if err := data.WriteJSONL(out, rows[s]); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%d prompts → %s\n", len(rows[s]), out)
	}
	fmt.Fprintf(os.Stderr, "%d problems had fewer than %d correct or %d wrong completions\n", skipped, f.positives, f.routes-f.positives)
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
