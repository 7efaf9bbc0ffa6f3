package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/aha-inference/aha/loader"
	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/rewardcmd"
	"github.com/aha-inference/aha/rollout/tasks"
	"github.com/aha-inference/aha/rollout/verify"
	"github.com/aha-inference/aha/tokenizer/template"
)

func init() {
	register("rollout", "sample tasks or a data set n times per prompt, verify and score every sample (resumable, shardable)", runRollout)
}

// runtimeFlags do not change the records, so a resumed run may set them
// differently (a moved model or adapter is recognized by its hash).
var runtimeFlags = []string{"m", "lora", "o", "t", "force", "kv-cache", "batch-tokens", "max-seqs", "no-prefix-cache", "concurrency", "reward-timeout"}

// rewardFlags are the scoring options of aha rollout and aha verify.
type rewardFlags struct {
	reward, logicWeights, mathWeights, require string
	prefillThink                               bool
}

func (r *rewardFlags) register(fs *flag.FlagSet, prefillHelp string) {
	fs.StringVar(&r.reward, "reward", "aha", "reward of the logic tasks: aha (verify.Logic) or maa (Meta-Ability-Alignment's reward code, on the prompt and completion)")
	fs.StringVar(&r.logicWeights, "logic-weights", "1,-1,2,-1.5,-2", "rewards of the logic tasks: format ok, format bad, answer correct, wrong, unparseable")
	fs.StringVar(&r.mathWeights, "math-weights", "0,0,1,0,0", "rewards of math answers, in the same order")
	fs.StringVar(&r.require, "require", "", "score math answers only when found as boxed, answer_tag, prose or last_number, or a stricter tier (default: any)")
	fs.BoolVar(&r.prefillThink, "prefill-think", false, prefillHelp)
}

// rewards reads the flags into the verifiers' choices.
func (r *rewardFlags) rewards() (verify.Rewards, error) {
	var rw verify.Rewards
	var err error
	if rw.Scheme, err = verify.ParseScheme(r.reward); err != nil {
		return rw, usagef("--reward %q: want aha or maa", r.reward)
	}
	if rw.Logic, err = verify.ParseWeights(r.logicWeights); err != nil {
		return rw, usagef("--logic-weights %v", err)
	}
	if rw.Math, err = verify.ParseWeights(r.mathWeights); err != nil {
		return rw, usagef("--math-weights %v", err)
	}
	rw.Logic.PrefilledThink, rw.Math.PrefilledThink = r.prefillThink, r.prefillThink
	var ok bool
	if rw.Math.Require, ok = verify.ParseTier(r.require); !ok {
		return rw, usagef("--require %q: want boxed, answer_tag, prose or last_number", r.require)
	}
	return rw, nil
}

// rolloutFlags are the options of aha rollout.
type rolloutFlags struct {
	modelPath, lora, out string
	n                    int
	problems             rollout.Problems
	rawPrompt            bool
	system, templateFile string
	force                bool
	shard                string
	rewardCmd            string
	rewardTimeout        time.Duration
	concurrency          int
	rf                   rewardFlags
	sf                   samplingFlags
	ef                   engineFlags
}

func runRollout(args []string) error {
	fs := newFlags("rollout", "-o OUT.jsonl (--task TASK [--level L] [--count C] | --data FILE) [-m MODEL] [-n N] [flags]")
	var f rolloutFlags
	p := &f.problems
	fs.StringVar(&f.modelPath, "m", "", "model: a GGUF file or a Hugging Face folder (default: the embedded stories260K)")
	fs.StringVar(&f.lora, "lora", "", "a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) to fold into the model's weights at load, in memory, as aha merge --lora would")
	fs.StringVar(&f.out, "o", "", "output JSONL file, one record per sample; its manifest goes beside it (OUT.manifest.json)")
	fs.IntVar(&f.n, "n", 4, "samples per prompt, drawn together from one prefill")
	fs.StringVar(&p.Task, "task", "", "generate prompts: deduction, induction or abduction")
	fs.StringVar(&p.Style, "style", "aha", "with --task: aha, or maa for the distributions, prompts and answers of Meta-Ability-Alignment's released data")
	fs.StringVar(&p.Options.Hint, "hint", "", "with --task induction: show or hide the rule family in the prompt (default: the style's own, aha shows it, maa hides it as the released prompt does)")
	fs.Float64Var(&p.Options.UnsatShare, "unsat-share", 0, "with --task deduction --style maa: share 0..1 of puzzles no assignment satisfies, answered \""+tasks.MAAUnsatisfiable+"\" (scored by --reward aha only)")
	fs.IntVar(&p.Level, "level", 1, "with --task: difficulty 1..5")
	fs.IntVar(&p.Count, "count", 100, "with --task: number of prompts")
	fs.StringVar(&p.Data, "data", "", "read prompts from a .jsonl or .parquet file (prompt or messages, and an answer)")
	fs.StringVar(&p.Fields.Answer, "answer-field", "", "with --data: the answer's field, dotted for nested ones (default: answer, solution, reward_model.ground_truth)")
	fs.StringVar(&p.Fields.Task, "task-field", "", "with --data: the task's field, dotted for nested ones (default: task, else inferred from data_source and ability, logic_assignment rows by their answer)")
	fs.BoolVar(&f.rawPrompt, "raw-prompt", false, "with --data: the prompt's first message is the whole rendered prompt, sampled as it is (no chat template, no system message), as verl reads Meta-Ability-Alignment's files")
	fs.StringVar(&f.system, "system", rollout.DefaultSystem, "system message, added unless the prompt has one (\"\" for none)")
	fs.StringVar(&f.templateFile, "template", "", "chat template file overriding the model's")
	fs.StringVar(&f.shard, "shard", "", "K/N: run only the prompts i with i mod N = K; N alone takes K from $JOB_COMPLETION_INDEX")
	fs.BoolVar(&f.force, "force", false, "start OUT afresh instead of resuming it")
	fs.StringVar(&f.rewardCmd, "reward-cmd", "", "score with this long-running command (sh -c): one JSON sample per line in, {\"id\":N,…}, one JSON object per line out, {\"id\":N,\"reward\":R}")
	fs.DurationVar(&f.rewardTimeout, "reward-timeout", 30*time.Second, "with --reward-cmd: longest wait for one reward")
	fs.IntVar(&f.concurrency, "concurrency", 0, "prompts in flight at once (0: enough to fill --max-seqs)")
	f.rf.register(fs, "start the assistant turn with \"<think>\" (the format check then counts it)")
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

func rolloutRun(f *rolloutFlags, set map[string]bool, argv map[string]string) error {
	p := &f.problems
	switch {
	case f.out == "":
		return usagef("give the output file with -o")
	case (p.Task == "") == (p.Data == ""):
		return usagef("give either --task or --data")
	case f.n < 1:
		return usagef("-n %d: at least one sample per prompt", f.n)
	case p.Task != "" && !tasks.Known(p.Task):
		return usagef("--task %q: want %s (math prompts come from --data)", p.Task, tasks.Names())
	case p.Task != "" && p.Count < 1:
		return usagef("--count %d: at least one prompt", p.Count)
	case f.rawPrompt && (p.Data == "" || f.rf.prefillThink):
		return usagef("--raw-prompt goes with --data, without --prefill-think (a raw prompt holds its own prefill)")
	}
	rewards, err := f.rf.rewards()
	if err != nil {
		return err
	}
	if p.Options.UnsatShare > 0 && rewards.Scheme == verify.SchemeMAA {
		return usagef("--unsat-share with --reward maa: the reference reward cannot score an unsatisfiable puzzle's answer")
	}
	shard, err := rollout.ParseShard(f.shard, os.Getenv("JOB_COMPLETION_INDEX"))
	if err != nil {
		return usagef("--shard: %v", err)
	}
	argv["shard"] = shard.String() // the shard it resolved to, whatever spelled it
	opts, err := f.ef.options()
	if err != nil {
		return err
	}
	p.Seed, p.AnyTask, p.TaskSystem = f.sf.seed, f.rewardCmd != "", !set["system"]
	problems, err := p.Load(shard)
	if err != nil && p.Task != "" {
		return usagef("--task %s: %v", p.Task, err)
	}
	if err != nil {
		return err
	}

	l, err := loader.Load(f.modelPath, f.ef.load(f.lora, f.templateFile))
	if err != nil {
		return err
	}
	defer l.Close()
	man := rollout.Manifest{AhaVersion: version, Args: argv}
	if man.ModelSHA256, err = rollout.ModelSHA256(l.Model.Path, l.Model.Adapter); err != nil {
		return err
	}
	man.TemplateSHA256 = rollout.TemplateSHA256(l.Chat.Source)
	eng, err := l.Engine(opts)
	if err != nil {
		return err
	}
	defer eng.Close()

	ro := rollout.Options{Out: f.out, Manifest: man, MayDiffer: runtimeFlags, Force: f.force, N: f.n, Shard: shard,
		Request: f.sf.request(l.Model, set, nil), Rewards: rewards, Concurrency: f.concurrency, Log: os.Stderr,
		Prompts: rollout.Prompts{
			Chat:         func(msgs []template.Message) ([]int, string, error) { return l.Chat.Prompt(msgs, nil) },
			Encode:       func(text string) []int { return l.Tokenizer.Encode(text, false) },
			System:       f.system,
			PrefillThink: f.rf.prefillThink,
			Raw:          f.rawPrompt,
		}}
	if ro.Concurrency <= 0 {
		ro.Concurrency = max(1, f.ef.maxSeqs/f.n)
	}
	if f.rewardCmd != "" {
		scorer := rewardcmd.New(f.rewardCmd, f.rewardTimeout, os.Stderr)
		defer scorer.Close()
		ro.Scorer = scorer
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum, err := rollout.Run(ctx, eng, problems, ro)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: %d records (%d new), %s\n", f.out, sum.Records, sum.Records-sum.Resumed, sum)
	return nil
}
