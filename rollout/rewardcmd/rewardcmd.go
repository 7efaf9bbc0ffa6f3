// Package rewardcmd scores samples with a user's own program: a
// long-running child process that reads one JSON sample per line on stdin
// and answers each with one JSON object per line on stdout, at least
// {"reward": 1.5}. Keeping one process alive spares each sample the start
// of an interpreter and its model or library loads.
//
// A slow, crashed or confused program costs only the sample at hand: the
// error is returned for that sample, the process is killed if it may still
// answer late (its next line would be taken for the next sample's reward),
// and a fresh one is started for the next sample.
package rewardcmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Reward is the program's answer. Only Reward is required; the others,
// when present, replace the built-in verifier's values.
type Reward struct {
	Reward          float64  `json:"reward"`
	RewardFormat    *float64 `json:"reward_format,omitempty"`
	RewardAnswer    *float64 `json:"reward_answer,omitempty"`
	Verdict         *string  `json:"verdict,omitempty"`
	ExtractedAnswer *string  `json:"extracted_answer,omitempty"`
}

// Process is a running reward program. Score may be called from many
// goroutines; samples go to the program one at a time.
type Process struct {
	command string
	timeout time.Duration
	stderr  io.Writer

	mu    sync.Mutex
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // closed when stdout ends
	dead  chan struct{}
}

// New prepares the program command (run by sh -c) with a per-sample
// timeout; its stderr goes to stderr. The process starts with the first
// sample.
func New(command string, timeout time.Duration, stderr io.Writer) *Process {
	return &Process{command: command, timeout: timeout, stderr: stderr}
}

// start runs the program; p.mu is held.
func (p *Process) start() error {
	cmd := exec.Command("sh", "-c", p.command)
	cmd.Stderr = p.stderr
	// A killed shell's children may hold its pipes open; do not wait on
	// them for long.
	cmd.WaitDelay = time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("reward command %q: %w", p.command, err)
	}
	lines, dead := make(chan string), make(chan struct{})
	go func() {
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			select {
			case lines <- line:
			case <-dead:
				return
			}
		}
	}()
	p.cmd, p.stdin, p.lines, p.dead = cmd, stdin, lines, dead
	return nil
}

// stop kills the program and reaps it; p.mu is held. It returns how the
// process ended.
func (p *Process) stop() string {
	if p.cmd == nil {
		return ""
	}
	p.stdin.Close()
	p.cmd.Process.Kill()
	close(p.dead)
	err := p.cmd.Wait()
	p.cmd = nil
	if err == nil {
		return "exited"
	}
	return err.Error()
}

// Score sends one sample (anything that marshals to a JSON object) and
// returns the program's reward. An error concerns this sample only: the
// next call starts a new process if this one died or had to be killed.
func (p *Process) Score(ctx context.Context, sample any) (Reward, error) {
	line, err := json.Marshal(sample)
	if err != nil {
		return Reward{}, fmt.Errorf("reward command: encoding the sample: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		if err := p.start(); err != nil {
			return Reward{}, err
		}
	}
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		return Reward{}, fmt.Errorf("reward command: writing the sample: %w (%s)", err, p.stop())
	}
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	var out string
	select {
	case l, ok := <-p.lines:
		if !ok {
			return Reward{}, fmt.Errorf("reward command ended without answering (%s)", p.stop())
		}
		out = l
	case <-timer.C:
		p.stop()
		return Reward{}, fmt.Errorf("reward command gave no answer in %v; restarting it", p.timeout)
	case <-ctx.Done():
		p.stop()
		return Reward{}, ctx.Err()
	}
	var r struct {
		Reward
		Value *float64 `json:"reward"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return Reward{}, fmt.Errorf("reward command answered %q: %w", strings.TrimSpace(out), err)
	}
	if r.Value == nil {
		return Reward{}, fmt.Errorf(`reward command answered %q: no "reward" number`, strings.TrimSpace(out))
	}
	r.Reward.Reward = *r.Value
	return r.Reward, nil
}

// Close ends the program: stdin is closed so it can finish, and it is
// killed if it has not after a second.
func (p *Process) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	p.stdin.Close()
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-time.After(time.Second):
		p.cmd.Process.Kill()
		err = <-exited
	}
	close(p.dead)
	p.cmd = nil
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("reward command: %w", err)
	}
	return nil
}
