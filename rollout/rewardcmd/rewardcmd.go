// Package rewardcmd scores samples with a user's own program: a
// long-running child process that reads one JSON sample per line on stdin
// and answers each with one JSON object per line on stdout. Keeping one
// process alive spares each sample the start of an interpreter and its
// model or library loads.
//
// Each request is the sample with a number "id" as its first member,
// {"id":7,"prompt_id":…}, and its answer must echo it: {"id": 7,
// "reward": 1.5}. Without the echo, one extra line (a banner, a second
// answer) would shift every later reward onto the wrong sample, silently;
// so an answer without an id is refused rather than taken on trust. While
// sample 7 waits:
//   - a line that does not start with "{" (a banner, a log line) is skipped;
//   - an object with an older id (a duplicate or late answer) is discarded;
//   - an object with id 7 is the answer;
//   - any other object (no id, an id never sent, not JSON) fails sample 7,
//     which is always safe, and the stream goes on with sample 8.
//
// A line may be at most 1 MiB long; a longer one fails the sample at hand
// and is skipped up to its newline without being held in memory. Errors
// quote at most 1 KiB of a line.
//
// A slow, crashed or confused program costs only the sample at hand: the
// error is returned for that sample, the program's whole process group is
// killed if it may still be working (so a shell's children go too), and a
// fresh one is started for the next sample.
package rewardcmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/aha-inference/aha/rollout/verify"
)

const (
	maxLine  = 1 << 20 // longest answer line, newline included
	maxQuote = 1 << 10 // longest part of a line quoted in an error
)

// Reward is the program's answer. Only Reward is required; the others,
// when present, replace the built-in verifier's values.
type Reward struct {
	Reward          float64         `json:"reward"`
	RewardFormat    *float64        `json:"reward_format,omitempty"`
	RewardAnswer    *float64        `json:"reward_answer,omitempty"`
	Verdict         *verify.Verdict `json:"verdict,omitempty"`
	ExtractedAnswer *string         `json:"extracted_answer,omitempty"`
}

// Process is a running reward program. Score may be called from many
// goroutines; samples go to the program one at a time.
type Process struct {
	command string
	timeout time.Duration
	stderr  io.Writer

	mu     sync.Mutex
	lastID uint64 // one sequence across restarts, so that an id names one sample of the run
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan line // closed when stdout ends
	dead   chan struct{}
}

// line is one line of the program's stdout, or the news that a line grew
// past maxLine (the rest of it is skipped).
type line struct {
	text     []byte
	overlong bool
}

// New prepares the program command (run by sh -c, in a process group of
// its own) with a per-sample timeout. The program's stderr goes to stderr:
// an *os.File is handed to it directly and any other writer is fed through
// exec's fixed-size copy, so its stderr never blocks it on aha nor piles
// up in aha's memory. The process starts with the first sample.
func New(command string, timeout time.Duration, stderr io.Writer) *Process {
	return &Process{command: command, timeout: timeout, stderr: stderr}
}

// start runs the program; p.mu is held.
func (p *Process) start() error {
	cmd := exec.Command("sh", "-c", p.command)
	cmd.Stderr = p.stderr
	ownGroup(cmd)
	// A child that left the process group may hold the pipes open; do not
	// wait on it for long.
	cmd.WaitDelay = time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("reward command: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("reward command: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("reward command %q: %w", p.command, err)
	}
	lines, dead := make(chan line), make(chan struct{})
	go readLines(stdout, lines, dead)
	p.cmd, p.stdin, p.lines, p.dead = cmd, stdin, lines, dead
	return nil
}

// readLines sends stdout's lines until it ends or dead is closed. Memory
// stays within maxLine whatever the program prints: a longer line is
// reported once, as overlong, and read on to its newline without keeping
// it. A last line without a newline is dropped, as the program ended
// without finishing it.
func readLines(stdout io.Reader, lines chan<- line, dead <-chan struct{}) {
	defer close(lines)
	send := func(l line) bool {
		select {
		case lines <- l:
			return true
		case <-dead:
			return false
		}
	}
	r := bufio.NewReaderSize(stdout, 64<<10)
	var text []byte
	skipping := false
	for {
		chunk, err := r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
		if !skipping && len(text)+len(chunk) > maxLine {
			skipping, text = true, nil
			if !send(line{overlong: true}) {
				return
			}
		}
		if !skipping {
			text = append(text, chunk...)
		}
		if err == nil { // the newline
			if !skipping && !send(line{text: text}) {
				return
			}
			skipping, text = false, nil
		}
	}
}

// stop kills the program's process group and reaps it; p.mu is held. It
// returns how the process ended.
func (p *Process) stop() string {
	if p.cmd == nil {
		return ""
	}
	// The group is killed before its leader is reaped, while its number
	// cannot belong to anyone else.
	killGroup(p.cmd.Process)
	p.stdin.Close()
	close(p.dead)
	err := p.cmd.Wait()
	p.cmd = nil
	if err == nil {
		return "exited"
	}
	return err.Error()
}

// Score sends one sample (anything that marshals to a JSON object without
// an "id" of its own) and returns the program's reward. An error concerns
// this sample only: the next call starts a new process if this one died or
// had to be killed.
func (p *Process) Score(ctx context.Context, sample any) (Reward, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastID++
	id := p.lastID
	req, err := request(id, sample)
	if err != nil {
		return Reward{}, fmt.Errorf("reward command: encoding the sample: %w", err)
	}
	if p.cmd == nil {
		if err := p.start(); err != nil {
			return Reward{}, err
		}
	}
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	// The request is written while stdout is read, and both within the
	// timeout: a program that stops reading its stdin, or that prints much
	// before reading, must not block the write past it.
	written := make(chan error, 1)
	go func(w io.Writer) {
		_, err := w.Write(req)
		written <- err
	}(p.stdin)

	var (
		r       Reward
		rErr    error
		settled bool // r or rErr is the outcome; the loop only waits for the write
		skipped int
		last    string
	)
	for !settled || written != nil {
		lines := p.lines
		if settled {
			lines = nil
		}
		select {
		case err := <-written:
			if err != nil {
				return Reward{}, fmt.Errorf("reward command: writing the sample: %w (%s)", err, p.stop())
			}
			written = nil
		case l, ok := <-lines:
			if !ok {
				return Reward{}, fmt.Errorf("reward command ended without answering (%s)", p.stop())
			}
			if r, settled, rErr = judge(l, id); !settled {
				skipped, last = skipped+1, quote(l.text)
			}
		case <-timer.C:
			p.stop()
			var printed string
			if skipped > 0 {
				printed = fmt.Sprintf(" (lines that were not the answer: %d, the last %s)", skipped, last)
			}
			return Reward{}, fmt.Errorf("reward command gave no answer with id %d in %v%s; restarting it", id, p.timeout, printed)
		case <-ctx.Done():
			p.stop()
			return Reward{}, ctx.Err()
		}
	}
	return r, rErr
}

// request encodes a sample as one line with "id" as its first member, so
// that even a shell script can echo it.
func request(id uint64, sample any) ([]byte, error) {
	body, err := json.Marshal(sample)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("%s is not a JSON object", quote(body))
	}
	if _, ok := fields["id"]; ok {
		return nil, errors.New(`the sample has an "id" of its own`)
	}
	req := fmt.Appendf(nil, `{"id":%d`, id)
	if len(fields) > 0 {
		req = append(req, ',')
	}
	req = append(req, body[1:]...)
	return append(req, '\n'), nil
}

// judge reads one line printed while sample id waits. settled says whether
// the line decides the sample, with a reward or an error; otherwise the
// line is skipped.
func judge(l line, id uint64) (r Reward, settled bool, err error) {
	if l.overlong {
		return Reward{}, true, fmt.Errorf("reward command printed a line over %d bytes; it is skipped", maxLine)
	}
	text := bytes.TrimSpace(l.text)
	if !bytes.HasPrefix(text, []byte("{")) {
		return Reward{}, false, nil
	}
	var head struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(text, &head); err != nil {
		return Reward{}, true, fmt.Errorf("reward command answered %s: %w", quote(text), err)
	}
	if head.ID == nil {
		return Reward{}, true, fmt.Errorf(`reward command answered %s: answer without "id" (echo the request's "id")`, quote(text))
	}
	got, err := strconv.ParseUint(string(head.ID), 10, 64)
	switch {
	case err != nil:
		return Reward{}, true, fmt.Errorf(`reward command answered %s: "id" is not a request's id`, quote(text))
	case got < id:
		return Reward{}, false, nil
	case got > id:
		return Reward{}, true, fmt.Errorf("reward command answered %s: an answer for id %d, which was never sent", quote(text), got)
	}
	var a struct {
		Reward
		Value *float64 `json:"reward"`
	}
	if err := json.Unmarshal(text, &a); err != nil {
		return Reward{}, true, fmt.Errorf("reward command answered %s: %w", quote(text), err)
	}
	if a.Value == nil {
		return Reward{}, true, fmt.Errorf(`reward command answered %s: no "reward" number`, quote(text))
	}
	a.Reward.Reward = *a.Value
	return a.Reward, true, nil
}

// quote quotes a line for an error, cut to maxQuote bytes so that a huge
// answer cannot swell every record's reward_error.
func quote(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) <= maxQuote {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("%q… (truncated, %d bytes)", b[:maxQuote], len(b))
}

// Close ends the program: stdin is closed so it can finish, its process
// group is killed if it has not after a second, and whatever it left
// running in its group is killed too.
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
		// Background children outlive the leader. Its number stays
		// reserved while any of them remain in its group; with none left,
		// only pids wrapping around between these lines could reuse it.
		killGroup(p.cmd.Process)
	case <-time.After(time.Second):
		killGroup(p.cmd.Process)
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
