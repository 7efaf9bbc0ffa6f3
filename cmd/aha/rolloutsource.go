package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/data"
	"github.com/aha-inference/aha/rollout/tasks"
	"github.com/aha-inference/aha/tokenizer/template"
)

// rolloutSource is what rollout files were sampled from, as their
// manifests record it: aha rollout's arguments, and the folder of the
// first file, against which a relative --data path is also tried (the
// run may have started elsewhere).
type rolloutSource struct {
	args map[string]string
	dir  string
}

// sourceArgs are the arguments that decide the prompts; every file of a
// run must agree on them.
var sourceArgs = []string{"data", "answer-field", "task", "level", "count", "seed", "system", "prefill-think"}

// readSource reads the manifests beside rollout files. ok is false when
// the first has none (a file written by other means).
func readSource(files []string) (src rolloutSource, ok bool, err error) {
	for i, file := range files {
		b, err := os.ReadFile(rollout.ManifestPath(file))
		if errors.Is(err, fs.ErrNotExist) && i == 0 {
			return src, false, nil
		}
		if err != nil {
			return src, false, err
		}
		var m rollout.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return src, false, fmt.Errorf("%s: %w", rollout.ManifestPath(file), err)
		}
		if i == 0 {
			src = rolloutSource{args: m.Args, dir: filepath.Dir(file)}
			continue
		}
		for _, name := range sourceArgs {
			if m.Args[name] != src.args[name] {
				return src, false, fmt.Errorf("%s and %s were sampled with different --%s (%q, %q)", files[0], file, name, src.args[name], m.Args[name])
			}
		}
	}
	return src, true, nil
}

// dataPath is the --data file of the run, "" for generated tasks.
func (s rolloutSource) dataPath() (string, error) {
	path := s.args["data"]
	if path == "" || filepath.IsAbs(path) {
		return path, nil
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if beside := filepath.Join(s.dir, path); fileExists(beside) {
		return beside, nil
	}
	return "", fmt.Errorf("the rollouts came from %s, which is not here or beside them; name it with --data", path)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// problems gives every problem of the run, indexed by prompt id, with its
// conversation as aha rollout sent it to the chat template (the data
// set's or the task's turns, and the system message it added), and
// whether the assistant turn was prefilled with "<think>". dataPath
// overrides the manifest's --data.
func (s rolloutSource) problems(dataPath string) ([]data.Problem, bool, error) {
	var problems []data.Problem
	if dataPath == "" && s.args["task"] != "" {
		gen, ok := tasks.Generators[s.args["task"]]
		if !ok {
			return nil, false, fmt.Errorf("the rollouts' task %q is not one aha generates", s.args["task"])
		}
		level, err1 := strconv.Atoi(s.args["level"])
		count, err2 := strconv.Atoi(s.args["count"])
		seed, err3 := strconv.ParseUint(s.args["seed"], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, false, fmt.Errorf("the rollouts' manifest: %w", err)
		}
		for i := range count {
			in, err := gen.Generate(seed, level, i)
			if err != nil {
				return nil, false, err
			}
			problems = append(problems, data.Problem{Messages: []template.Message{{"role": "user", "content": in.Prompt}}, Answer: in.Answer})
		}
	} else {
		if dataPath == "" {
			var err error
			if dataPath, err = s.dataPath(); err != nil {
				return nil, false, err
			}
		}
		var err error
		if problems, err = data.Read(dataPath, s.args["answer-field"]); err != nil {
			return nil, false, err
		}
	}
	// As aha rollout's renderPrompt: the system message unless the prompt
	// has one.
	system := s.args["system"]
	for i, p := range problems {
		if system != "" && !slices.ContainsFunc(p.Messages, func(m template.Message) bool { return m["role"] == "system" }) {
			problems[i].Messages = append([]template.Message{{"role": "system", "content": system}}, p.Messages...)
		}
	}
	return problems, s.args["prefill-think"] == "true", nil
}
