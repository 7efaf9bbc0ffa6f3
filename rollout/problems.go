package rollout

import (
	"cmp"
	"fmt"

	"github.com/aha-inference/aha/rollout/data"
	"github.com/aha-inference/aha/rollout/tasks"
	"github.com/aha-inference/aha/rollout/verify"
	"github.com/aha-inference/aha/tokenizer/template"
)

// Problems say where a run's problems come from: a data file (Data), or
// else Count instances of a generated task.
type Problems struct {
	Data   string      // a .jsonl or .parquet file
	Fields data.Fields // the data file's answer and task fields
	// AnyTask accepts rows of tasks without a verifier, for a run whose
	// reward program scores them.
	AnyTask bool

	Task    string // deduction, induction or abduction
	Style   string // the task's style (tasks.Lookup); "" is aha
	Options tasks.Options
	Level   int
	Count   int
	Seed    uint64 // the data set seed of the instances
	// TaskSystem keeps a generated instance's own system message (the
	// maa style's); without it the run's system message is used.
	TaskSystem bool
}

// Load gives the problems of the whole (unsharded) run, indexed by prompt
// id, so ids, and with them seeds, do not depend on the shard. Generated
// instances outside the shard are left empty rather than generated.
func (p Problems) Load(shard Shard) ([]data.Problem, error) {
	if p.Data != "" {
		return p.read()
	}
	if p.Count < 1 {
		return nil, fmt.Errorf("%d problems: want at least one", p.Count)
	}
	gen, err := tasks.Lookup(p.Task, cmp.Or(p.Style, "aha"), p.Options)
	if err != nil {
		return nil, err
	}
	problems := make([]data.Problem, p.Count)
	for i := range problems {
		if !shard.Has(i) {
			continue
		}
		in, err := gen.Generate(p.Seed, p.Level, i)
		if err != nil {
			return nil, err
		}
		problems[i] = instanceProblem(in, p.TaskSystem)
	}
	return problems, nil
}

// read reads the data file, every row of a task some verifier scores
// unless AnyTask.
func (p Problems) read() ([]data.Problem, error) {
	problems, err := data.Read(p.Data, p.Fields)
	if err != nil {
		return nil, err
	}
	for i, pr := range problems {
		if _, ok := verify.For(pr.Task); !ok && !p.AnyTask {
			return nil, fmt.Errorf("%s: row %d: no verifier for task %q (want %s, or a reward command)", p.Data, i+1, pr.Task, verify.Names())
		}
	}
	return problems, nil
}

// instanceProblem is a generated instance as a problem: the user turn,
// after the instance's system message when it has one and system is set.
func instanceProblem(in tasks.Instance, system bool) data.Problem {
	msgs := []template.Message{{"role": "user", "content": in.Prompt}}
	if system {
		msgs = WithSystem(msgs, in.System)
	}
	return data.Problem{Messages: msgs, Answer: in.Answer, Task: in.Task, Level: in.Level}
}
