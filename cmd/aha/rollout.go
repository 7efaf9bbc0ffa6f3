package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/internal/progress"
	"github.com/aha-inference/aha/model/builtin"
	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/data"
	"github.com/aha-inference/aha/rollout/rewardcmd"
	"github.com/aha-inference/aha/rollout/tasks"
	"github.com/aha-inference/aha/rollout/verify"
	"github.com/aha-inference/aha/tokenizer/template"
)

func init() {
	register("rollout", "sample tasks or a data set n times per prompt, verify and score every sample (resumable, shardable)", runRollout)
}

// defaultSystem asks for the layout the format reward checks.
const defaultSystem = "You are a helpful assistant. Think through the problem step by step inside <think> </think> tags, then give the final answer inside <answer> </answer> tags."

// runtimeFlags do not change the records, so a resumed run may set them
// differently (a moved model or adapter is recognized by its hash).
var runtimeFlags = []string{"m", "lora", "o", "t", "force", "kv-cache", "batch-tokens", "max-seqs", "no-prefix-cache", "concurrency", "reward-timeout"}

// rolloutFlags are the options of aha rollout.
type rolloutFlags struct {
	modelPath, lora, out      string
	n                         int
	task                      string
	level, count              int
	dataPath, answerField     string
	taskField                 string
	rawPrompt                 bool
	reward, style             string
	opts                      tasks.Options
	system, templateFile      string
	prefillThink, force       bool
	shard                     string
	rewardCmd                 string
	rewardTimeout             time.Duration
	logicWeights, mathWeights string
	requireTier               string
	concurrency               int
	sf                        samplingFlags
	ef                        engineFlags
}

func runRollout(args []string) error {
	fs := newFlags("rollout", "-o OUT.jsonl (--task TASK [--level L] [--count C] | --data FILE) [-m MODEL] [-n N] [flags]")
	var f rolloutFlags
	fs.StringVar(&f.modelPath, "m", "", "model: a GGUF file or a Hugging Face folder (default: the embedded stories260K)")
	fs.StringVar(&f.lora, "lora", "", "a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) to fold into the model's weights at load, in memory, as aha merge --lora would")
	fs.StringVar(&f.out, "o", "", "output JSONL file, one record per sample; its manifest goes beside it (OUT.manifest.json)")
	fs.IntVar(&f.n, "n", 4, "samples per prompt, drawn together from one prefill")
	fs.StringVar(&f.task, "task", "", "generate prompts: deduction, induction or abduction")
	fs.StringVar(&f.style, "style", "aha", "with --task: aha, or maa for the distributions, prompts and answers of Meta-Ability-Alignment's released data")
	fs.StringVar(&f.opts.Hint, "hint", "", "with --task induction: show or hide the rule family in the prompt (default: the style's own, aha shows it, maa hides it as the released prompt does)")
	fs.Float64Var(&f.opts.UnsatShare, "unsat-share", 0, "with --task deduction --style maa: share 0..1 of puzzles no assignment satisfies, answered \""+tasks.MAAUnsatisfiable+"\" (scored by --reward aha only)")
	fs.IntVar(&f.level, "level", 1, "with --task: difficulty 1..5")
	fs.IntVar(&f.count, "count", 100, "with --task: number of prompts")
	fs.StringVar(&f.dataPath, "data", "", "read prompts from a .jsonl or .parquet file (prompt or messages, and an answer)")
	fs.StringVar(&f.answerField, "answer-field", "", "with --data: the answer's field, dotted for nested ones (default: answer, solution, reward_model.ground_truth)")
	fs.StringVar(&f.taskField, "task-field", "", "with --data: the task's field, dotted for nested ones (default: task, else inferred from data_source and ability, logic_assignment rows by their answer)")
	fs.BoolVar(&f.rawPrompt, "raw-prompt", false, "with --data: the prompt's first message is the whole rendered prompt, sampled as it is (no chat template, no system message), as verl reads Meta-Ability-Alignment's files")
	fs.StringVar(&f.reward, "reward", "aha", "reward of the logic tasks: aha (verify.Logic) or maa (Meta-Ability-Alignment's reward code, on the prompt and completion)")
	fs.StringVar(&f.system, "system", defaultSystem, "system message, added unless the prompt has one (\"\" for none)")
	fs.StringVar(&f.templateFile, "template", "", "chat template file overriding the model's")
	fs.BoolVar(&f.prefillThink, "prefill-think", false, "start the assistant turn with \"<think>\" (the format check then counts it)")
	fs.StringVar(&f.shard, "shard", "", "K/N: run only the prompts i with i mod N = K; N alone takes K from $JOB_COMPLETION_INDEX")
	fs.BoolVar(&f.force, "force", false, "start OUT afresh instead of resuming it")
	fs.StringVar(&f.rewardCmd, "reward-cmd", "", "score with this long-running command (sh -c): one JSON sample per line in, {\"id\":N,…}, one JSON object per line out, {\"id\":N,\"reward\":R}")
	fs.DurationVar(&f.rewardTimeout, "reward-timeout", 30*time.Second, "with --reward-cmd: longest wait for one reward")
	fs.StringVar(&f.logicWeights, "logic-weights", "1,-1,2,-1.5,-2", "rewards of the logic tasks: format ok, format bad, answer correct, wrong, unparseable")
	fs.StringVar(&f.mathWeights, "math-weights", "0,0,1,0,0", "rewards of math answers, in the same order")
	fs.StringVar(&f.requireTier, "require", "", "score math answers only when found as boxed, answer_tag, prose or last_number, or a stricter tier (default: any)")
	fs.IntVar(&f.concurrency, "concurrency", 0, "prompts in flight at once (0: enough to fill --max-seqs)")
	f.sf.register(fs)
	f.sf.maxTokens = 2048
	fs.Lookup("max-tokens").DefValue = "2048"
	f.ef.register(fs)
	if err := parseFlags(fs, args, ""); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	argv := map[string]string{}
	fs.VisitAll(func(fl *flag.Flag) { argv[fl.Name] = fl.Value.String() })
	return rolloutRun(&f, set, argv)
}

// job is one request: samples [start, end) of prompt i.
type job struct {
	prompt     *rolloutPrompt
	start, end int
}

// rolloutPrompt is a problem ready to sample.
type rolloutPrompt struct {
	id      int
	problem data.Problem
	text    string
	ids     []int
	pending atomic.Int32 // jobs not yet finished
}

func rolloutRun(f *rolloutFlags, set map[string]bool, argv map[string]string) error {
	if f.out == "" {
		return usagef("give the output file with -o")
	}
	if (f.task == "") == (f.dataPath == "") {
		return usagef("give either --task or --data")
	}
	if f.n < 1 {
		return usagef("-n %d: at least one sample per prompt", f.n)
	}
	if f.reward != "aha" && f.reward != "maa" {
		return usagef("--reward %q: want aha or maa", f.reward)
	}
	if f.opts.UnsatShare > 0 && f.reward == "maa" {
		return usagef("--unsat-share with --reward maa: the reference reward cannot score an unsatisfiable puzzle's answer")
	}
	if f.rawPrompt && (f.dataPath == "" || f.prefillThink) {
		return usagef("--raw-prompt goes with --data, without --prefill-think (a raw prompt holds its own prefill)")
	}
	shard, err := rollout.ParseShard(f.shard, os.Getenv("JOB_COMPLETION_INDEX"))
	if err != nil {
		return usagef("--shard: %v", err)
	}
	argv["shard"] = shard.String() // the shard it resolved to, whatever spelled it
	logicW, err := parseWeights("logic-weights", f.logicWeights)
	if err != nil {
		return err
	}
	mathW, err := parseWeights("math-weights", f.mathWeights)
	if err != nil {
		return err
	}
	logicW.PrefilledThink, mathW.PrefilledThink = f.prefillThink, f.prefillThink
	var ok bool
	if mathW.Require, ok = verify.ParseTier(f.requireTier); !ok {
		return usagef("--require %q: want boxed, answer_tag, prose or last_number", f.requireTier)
	}
	opts, err := f.ef.options()
	if err != nil {
		return err
	}
	problems, err := rolloutProblems(f, shard, set["system"])
	if err != nil {
		return err
	}

	l, err := loadOn(f.modelPath, f.lora, f.ef.device, f.ef.threads)
	if err != nil {
		return err
	}
	defer l.close()
	man := rollout.Manifest{AhaVersion: version, Args: argv}
	if man.ModelSHA256, err = modelSHA256(l); err != nil {
		return err
	}
	if man.TemplateSHA256, err = templateSHA256(l, f.templateFile); err != nil {
		return err
	}
	out, err := rollout.Open(f.out, man, f.force, runtimeFlags)
	if err != nil {
		return err
	}
	defer out.Close()
	if out.Dropped > 0 {
		fmt.Fprintf(os.Stderr, "dropped a half-written last line (%d bytes) of %s\n", out.Dropped, f.out)
	}
	resumed := out.Len()

	// Render the prompts that still need samples, and plan their requests.
	var jobs []job
	total, done := 0, 0
	for id, p := range problems {
		if !shard.Has(id) {
			continue
		}
		total++
		runs := rollout.Missing(out.Done, id, f.n)
		if len(runs) == 0 {
			done++
			continue
		}
		rp := &rolloutPrompt{id: id, problem: p}
		if rp.text, rp.ids, err = renderPrompt(l, f, p); err != nil {
			return fmt.Errorf("prompt %d: %w", id, err)
		}
		rp.pending.Store(int32(len(runs)))
		for _, r := range runs {
			jobs = append(jobs, job{rp, r[0], r[1]})
		}
	}
	if resumed > 0 {
		fmt.Fprintf(os.Stderr, "resuming %s: %d samples already done, %d prompts to go\n", f.out, resumed, total-done)
	}

	eng, err := l.engine(opts)
	if err != nil {
		return err
	}
	defer eng.Close()
	var scorer *rewardcmd.Process
	if f.rewardCmd != "" {
		scorer = rewardcmd.New(f.rewardCmd, f.rewardTimeout, os.Stderr)
		defer scorer.Close()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	bar := progress.New(os.Stderr, "rollout", int64(total))
	bar.Add(int64(done))
	st := &rolloutStats{start: time.Now()}
	workers := f.concurrency
	if workers <= 0 {
		workers = max(1, f.ef.maxSeqs/f.n)
	}
	queue := make(chan job)
	var wg sync.WaitGroup
	for range min(workers, max(len(jobs), 1)) {
		wg.Go(func() {
			for j := range queue {
				if err := rolloutJob(ctx, f, set, l, eng, scorer, out, j, logicW, mathW, st); err != nil {
					cancel(err)
					continue
				}
				if j.prompt.pending.Add(-1) == 0 {
					bar.Add(1)
				}
				bar.SetInfo(st.info())
			}
		})
	}
feed:
	for _, j := range jobs {
		select {
		case queue <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	bar.Finish()
	fmt.Fprintf(os.Stderr, "%s: %d records (%d new), %s\n", f.out, out.Len(), out.Len()-resumed, st.summary())
	return nil
}

// rolloutProblems builds the prompt list of the whole (unsharded) run, so
// indexes, and with them seeds, do not depend on the shard. Generated
// instances outside the shard are left empty rather than generated. An
// instance's own system message (the maa style's) is used unless --system
// was given.
func rolloutProblems(f *rolloutFlags, shard rollout.Shard, systemSet bool) ([]data.Problem, error) {
	if f.dataPath != "" {
		problems, err := data.Read(f.dataPath, data.Fields{Answer: f.answerField, Task: f.taskField})
		if err != nil {
			return nil, err
		}
		for i, p := range problems {
			if _, ok := tasks.Generators[p.Task]; !ok && p.Task != "math" && f.rewardCmd == "" {
				return nil, fmt.Errorf("%s: row %d: no verifier for task %q (want math, deduction, induction or abduction, or give --reward-cmd)", f.dataPath, i+1, p.Task)
			}
		}
		return problems, nil
	}
	if _, ok := tasks.Generators[f.task]; !ok {
		return nil, usagef("--task %q: want deduction, induction or abduction (math prompts come from --data)", f.task)
	}
	gen, err := tasks.Lookup(f.task, f.style, f.opts)
	if err != nil {
		return nil, usagef("--style, --hint, --unsat-share: %v", err)
	}
	if f.count < 1 {
		return nil, usagef("--count %d: at least one prompt", f.count)
	}
	problems := make([]data.Problem, f.count)
	for i := range problems {
		if !shard.Has(i) {
			continue
		}
		in, err := gen.Generate(f.sf.seed, f.level, i)
		if err != nil {
			return nil, usagef("--task %s: %v", f.task, err)
		}
		msgs := []template.Message{{"role": "user", "content": in.Prompt}}
		if in.System != "" && !systemSet {
			msgs = append([]template.Message{{"role": "system", "content": in.System}}, msgs...)
		}
		problems[i] = data.Problem{Messages: msgs, Answer: in.Answer, Task: in.Task, Level: in.Level}
	}
	return problems, nil
}

// renderPrompt applies the chat template, with the system message and the
// optional "<think>" prefill. A raw prompt is the first message's text as
// it is, tokenized without special tokens added, as verl's RLHFDataset
// reads Meta-Ability-Alignment's files.
func renderPrompt(l *loaded, f *rolloutFlags, p data.Problem) (string, []int, error) {
	if f.rawPrompt {
		text, _ := p.Messages[0]["content"].(string) // data.Read makes every content a string
		return text, l.tok.Encode(text, false), nil
	}
	msgs := p.Messages
	if f.system != "" && !slices.ContainsFunc(msgs, func(m template.Message) bool { return m["role"] == "system" }) {
		msgs = append([]template.Message{{"role": "system", "content": f.system}}, msgs...)
	}
	ids, text, err := l.chatPrompt(l.model.Path, msgs, f.templateFile, nil)
	if err != nil {
		return "", nil, err
	}
	if f.prefillThink {
		text += "<think>"
		ids = append(ids, l.tok.Encode("<think>", false)...)
	}
	return text, ids, nil
}

// rolloutJob generates one request's samples; each is scored and its
// record appended as soon as that sample finishes, so a long sample never
// holds back (or, killed, loses) its finished siblings.
func rolloutJob(ctx context.Context, f *rolloutFlags, set map[string]bool, l *loaded, eng *engine.Engine,
	scorer *rewardcmd.Process, out *rollout.Output, j job, logicW, mathW verify.Options, st *rolloutStats) error {
	p := j.prompt
	req := f.sf.request(l.model, set, p.ids)
	req.N = j.end - j.start
	req.Sampling.Seed = rollout.SampleSeed(f.sf.seed, p.id, f.n, j.start)
	req.Logprobs = true
	start := time.Now()
	type partial struct {
		ids  []int
		lps  []float32
		text strings.Builder
	}
	samples := make([]partial, req.N)
	_, err := eng.Generate(ctx, req, func(ev engine.Event) error {
		s := &samples[ev.Sample]
		if ev.ID >= 0 {
			s.ids = append(s.ids, ev.ID)
			s.lps = append(s.lps, ev.Logprob)
		}
		s.text.WriteString(ev.Text)
		switch ev.Finish {
		case "":
			return nil
		case engine.FinishAbort:
			return ctx.Err() // interrupted: an unfinished sample is not a record
		}
		rec := &rollout.Record{
			PromptID: p.id, SampleIndex: j.start + ev.Sample, Seed: req.Sampling.Seed + uint64(ev.Sample),
			Task: p.problem.Task, Level: p.problem.Level, Prompt: p.text, Answer: p.problem.Answer,
			Completion: s.text.String(), PromptTokenIDs: p.ids, CompletionTokenIDs: s.ids,
			Logprobs: rollout.JSONLogprobs(s.lps), FinishReason: ev.Finish,
			Elapsed: time.Since(start).Seconds(),
		}
		if err := scoreRecord(ctx, rec, scorer, f.reward, logicW, mathW); err != nil {
			return fmt.Errorf("prompt %d: %w", p.id, err)
		}
		if err := out.Append(rec); err != nil {
			return fmt.Errorf("%s: %w", f.out, err)
		}
		st.add(rec)
		return nil
	})
	if err != nil {
		return fmt.Errorf("prompt %d: %w", p.id, err)
	}
	return nil
}

// scoreRecord fills the verdict and rewards: the built-in verifier of the
// task, then the reward command's answer over it. A reward command's
// failure is recorded in the record, never fatal. The maa reward scores
// the prompt and completion together, as the reference's trainer decodes
// them.
func scoreRecord(ctx context.Context, rec *rollout.Record, scorer *rewardcmd.Process, reward string, logicW, mathW verify.Options) error {
	var res verify.Result
	switch _, logic := tasks.Generators[rec.Task]; {
	case logic && reward == "maa":
		var err error
		if res, err = verify.MAA(rec.Prompt+rec.Completion, rec.Answer, logicW); err != nil {
			return err
		}
	case logic:
		var err error
		if res, err = verify.Logic(rec.Task, rec.Completion, rec.Answer, logicW); err != nil {
			return err
		}
	case rec.Task == "math":
		res = verify.Math(rec.Completion, rec.Answer, mathW)
	}
	rec.ExtractedAnswer, rec.Extraction, rec.Verdict = res.ExtractedAnswer, string(res.Extraction), string(res.Verdict)
	rec.Reward, rec.RewardFormat, rec.RewardAnswer = res.Reward, res.RewardFormat, res.RewardAnswer
	if scorer == nil {
		return nil
	}
	r, err := scorer.Score(ctx, rec)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rec.RewardError, rec.Verdict, rec.Reward = err.Error(), "reward_error", 0
		return nil
	}
	rec.Reward = r.Reward
	if r.RewardFormat != nil {
		rec.RewardFormat = *r.RewardFormat
	}
	if r.RewardAnswer != nil {
		rec.RewardAnswer = *r.RewardAnswer
	}
	if r.Verdict != nil {
		rec.Verdict = *r.Verdict
	}
	if r.ExtractedAnswer != nil {
		rec.ExtractedAnswer = *r.ExtractedAnswer
	}
	return nil
}

// parseWeights reads "format ok, format bad, correct, wrong, unparseable".
func parseWeights(name, s string) (verify.Options, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 5 {
		return verify.Options{}, usagef("--%s %q: want five numbers: format ok, format bad, correct, wrong, unparseable", name, s)
	}
	var w [5]float64
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return verify.Options{}, usagef("--%s: %q is not a number", name, p)
		}
		w[i] = v
	}
	return verify.Options{FormatOK: w[0], FormatBad: w[1], Correct: w[2], Wrong: w[3], Unparseable: w[4]}, nil
}

// modelSHA256 hashes what defines the model: the GGUF file, or a Hugging
// Face folder's safetensors and JSON files (name and content, in name
// order), then the files of the adapter folded in, if any.
func modelSHA256(l *loaded) (string, error) {
	if l.model.Path == builtin.Name {
		sum := sha256.Sum256(builtin.Stories260K)
		return hex.EncodeToString(sum[:]), nil
	}
	files := []string{l.model.Path}
	if st, err := os.Stat(l.model.Path); err == nil && st.IsDir() {
		files = nil
		for _, pat := range []string{"*.safetensors", "*.json"} {
			m, err := filepath.Glob(filepath.Join(l.model.Path, pat))
			if err != nil {
				return "", err
			}
			files = append(files, m...)
		}
		slices.Sort(files)
	}
	if a := l.model.Adapter; a != "" {
		files = append(files, filepath.Join(a, "adapter_config.json"), filepath.Join(a, "adapter_model.safetensors"))
	}
	h := sha256.New()
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			return "", fmt.Errorf("hashing the model: %w", err)
		}
		if len(files) > 1 {
			fmt.Fprintf(h, "%s\n", filepath.Base(name))
		}
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", fmt.Errorf("hashing the model: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// templateSHA256 hashes the chat template the prompts are rendered with.
func templateSHA256(l *loaded, templateFile string) (string, error) {
	src := l.tok.ChatTemplate()
	if templateFile != "" {
		b, err := os.ReadFile(templateFile)
		if err != nil {
			return "", fmt.Errorf("chat template: %w", err)
		}
		src = string(b)
	}
	if src == "" {
		return "fallback", nil
	}
	sum := sha256.Sum256([]byte(src))
	return hex.EncodeToString(sum[:]), nil
}

// rolloutStats are the running totals the progress bar shows.
type rolloutStats struct {
	mu      sync.Mutex
	start   time.Time
	samples int
	tokens  int
	reward  float64
}

func (s *rolloutStats) add(rec *rollout.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples++
	s.tokens += len(rec.CompletionTokenIDs)
	s.reward += rec.Reward
}

func (s *rolloutStats) info() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := time.Since(s.start).Seconds()
	return fmt.Sprintf("%.1f samples/s, %.0f tok/s, mean reward %.3f", float64(s.samples)/sec, float64(s.tokens)/sec, s.reward/float64(max(s.samples, 1)))
}

func (s *rolloutStats) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.samples == 0 {
		return "nothing left to sample"
	}
	return fmt.Sprintf("%d samples, %d tokens in %v, mean reward %.3f", s.samples, s.tokens, time.Since(s.start).Round(time.Millisecond), s.reward/float64(s.samples))
}
