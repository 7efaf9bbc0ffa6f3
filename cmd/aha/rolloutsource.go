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
var sourceArgs = []string{"data", "answer-field", "task", "style", "hint", "unsat-share", "level", "count", "seed", "system", "prefill-think"}

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
// overrides the manifest's --data. The problems come from rolloutProblems,
// as the run made them. The manifest records every flag with its value, so
// --system counts as given when it differs from the default (a style's own
// system message is used otherwise, as aha rollout does). A raw prompt
// (--raw-prompt) has no conversation: it stays the one message it was.
func (s rolloutSource) problems(dataPath string) ([]data.Problem, bool, error) {
	f := &rolloutFlags{task: s.args["task"], style: s.args["style"], answerField: s.args["answer-field"],
		taskField: s.args["task-field"], rewardCmd: s.args["reward-cmd"], system: s.args["system"]}
	if f.style == "" {
		f.style = "aha"
	}
	if f.task != "" && dataPath == "" {
		level, err1 := strconv.Atoi(s.args["level"])
		count, err2 := strconv.Atoi(s.args["count"])
		seed, err3 := strconv.ParseUint(s.args["seed"], 10, 64)
		var err4 error
		if share := s.args["unsat-share"]; share != "" { // manifests from before the flag have none
			f.opts.UnsatShare, err4 = strconv.ParseFloat(share, 64)
		}
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return nil, false, fmt.Errorf("the rollouts' manifest: %w", err)
		}
		f.level, f.count, f.sf.seed, f.opts.Hint = level, count, seed, s.args["hint"]
	} else {
		f.dataPath = dataPath
		if f.dataPath == "" {
			var err error
			if f.dataPath, err = s.dataPath(); err != nil {
				return nil, false, err
			}
		}
	}
	problems, err := rolloutProblems(f, rollout.All, f.system != defaultSystem)
	if err != nil {
		return nil, false, fmt.Errorf("the rollouts' problems: %w", err)
	}
	if s.args["raw-prompt"] != "true" {
		for i, p := range problems {
			if f.system != "" && !slices.ContainsFunc(p.Messages, func(m template.Message) bool { return m["role"] == "system" }) {
				problems[i].Messages = append([]template.Message{{"role": "system", "content": f.system}}, p.Messages...)
			}
		}
	}
	return problems, s.args["prefill-think"] == "true", nil
}
