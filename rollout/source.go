package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aha-inference/aha/rollout/data"
)

// Source is what rollout files were sampled from, as their manifests
// record it: aha rollout's arguments, and the folder of the first file,
// against which a relative --data path is also tried (the run may have
// started elsewhere).
type Source struct {
	Args map[string]string
	dir  string
}

// sourceArgs are the arguments that decide the prompts; every file of a
// run must agree on them.
var sourceArgs = []string{"data", "answer-field", "task", "style", "hint", "unsat-share", "level", "count", "seed", "system", "prefill-think"}

// ReadSource reads the manifests beside rollout files. ok is false when
// the first has none (a file written by other means).
func ReadSource(files []string) (src Source, ok bool, err error) {
	for i, file := range files {
		b, err := os.ReadFile(ManifestPath(file))
		if errors.Is(err, fs.ErrNotExist) && i == 0 {
			return src, false, nil
		}
		if err != nil {
			return src, false, err
		}
		var m Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return src, false, fmt.Errorf("%s: %w", ManifestPath(file), err)
		}
		if i == 0 {
			src = Source{Args: m.Args, dir: filepath.Dir(file)}
			continue
		}
		for _, name := range sourceArgs {
			if m.Args[name] != src.Args[name] {
				return src, false, fmt.Errorf("%s and %s were sampled with different --%s (%q, %q)", files[0], file, name, src.Args[name], m.Args[name])
			}
		}
	}
	return src, true, nil
}

// Fields are the data file's answer and task fields the run read.
func (s Source) Fields() data.Fields {
	return data.Fields{Answer: s.Args["answer-field"], Task: s.Args["task-field"]}
}

// DataPath is the --data file of the run, "" for generated tasks.
func (s Source) DataPath() (string, error) {
	path := s.Args["data"]
	if path == "" || filepath.IsAbs(path) {
		return path, nil
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if beside := filepath.Join(s.dir, path); exists(beside) {
		return beside, nil
	}
	return "", fmt.Errorf("the rollouts came from %s, which is not here or beside them; name it with --data", path)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Problems gives every problem of the run, indexed by prompt id, with its
// conversation as aha rollout sent it to the chat template (the data
// set's or the task's turns, and the system message it added), and
// whether the assistant turn was prefilled with "<think>". dataPath
// overrides the manifest's --data. The manifest records every flag with
// its value, so --system counts as given when it differs from the default
// (a style's own system message is used otherwise, as aha rollout does).
// A raw prompt (--raw-prompt) has no conversation: it stays the one
// message it was.
func (s Source) Problems(dataPath string) ([]data.Problem, bool, error) {
	system := s.Args["system"]
	p := Problems{Task: s.Args["task"], Style: s.Args["style"], Fields: s.Fields(),
		AnyTask: s.Args["reward-cmd"] != "", TaskSystem: system == DefaultSystem}
	if p.Task != "" && dataPath == "" {
		level, err1 := strconv.Atoi(s.Args["level"])
		count, err2 := strconv.Atoi(s.Args["count"])
		seed, err3 := strconv.ParseUint(s.Args["seed"], 10, 64)
		var err4 error
		if share := s.Args["unsat-share"]; share != "" { // manifests from before the flag have none
			p.Options.UnsatShare, err4 = strconv.ParseFloat(share, 64)
		}
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return nil, false, fmt.Errorf("the rollouts' manifest: %w", err)
		}
		p.Level, p.Count, p.Seed, p.Options.Hint = level, count, seed, s.Args["hint"]
	} else {
		p.Data = dataPath
		if p.Data == "" {
			var err error
			if p.Data, err = s.DataPath(); err != nil {
				return nil, false, err
			}
		}
	}
	problems, err := p.Load(All)
	if err != nil {
		return nil, false, fmt.Errorf("the rollouts' problems: %w", err)
	}
	if s.Args["raw-prompt"] != "true" {
		for i := range problems {
			problems[i].Messages = WithSystem(problems[i].Messages, system)
		}
	}
	return problems, s.Args["prefill-think"] == "true", nil
}
