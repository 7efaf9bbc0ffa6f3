package rewardcmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rewardScript is the reward program of the tests, in sh so that it needs
// nothing a fresh system lacks. It answers a sample with the length of its
// completion unless the completion names a misbehaviour. Requests begin
// {"id":N, so the id is cut from the front of the line.
const rewardScript = `while IFS= read -r line; do
	id=${line#'{"id":'}
	id=${id%%,*}
	c=${line#*'"completion":"'}
	c=${c%'"}'}
	case $c in
	banner) echo 'loading the model...' ;;
	jsonbanner) echo '{"status": "ready"}' ;;
	twice) echo "{\"id\": $id, \"reward\": ${#c}}" ;;
	noisy) head -c 10000000 /dev/zero >&2 ;;
	noid) echo '{"reward": 7}'; continue ;;
	wrongid) echo "{\"id\": $((id + 1)), \"reward\": 7}"; continue ;;
	garbage) echo '{not json'; continue ;;
	noreward) echo "{\"id\": $id, \"score\": 1}"; continue ;;
	verdict) echo "{\"id\": $id, \"reward\": 0.5, \"verdict\": \"custom\", \"reward_answer\": 0.25}"; continue ;;
	huge) head -c 20000000 /dev/zero | tr '\0' x; echo ;;
	long) printf '{"id": %s, "reward": "' "$id"; head -c 900000 /dev/zero | tr '\0' x; echo '"}'; continue ;;
	endless) exec cat /dev/zero ;;
	deaf) echo "{\"id\": $id, \"reward\": ${#c}}"; exec sleep 1000 ;;
	slow) sleep 10 ;;
	die) exit 3 ;;
	hang) sleep 1000 & echo $! >>pids; echo $$ >>pids; wait ;;
	orphan) sleep 1000 >/dev/null 2>&1 & echo $! >>pids ;;
	esac
	echo "{\"id\": $id, \"reward\": ${#c}}"
done
`

// script starts the test's reward program the way a user would write
// one: a shell changing directory before running an interpreter, which is
// therefore the shell's child. It returns the program's directory, where
// it notes the pids of what it starts.
func script(t *testing.T, timeout time.Duration) (*Process, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "reward.sh"), []byte(rewardScript), 0o644); err != nil {
		t.Fatal(err)
	}
	return New(fmt.Sprintf("cd '%s' && sh reward.sh", dir), timeout, io.Discard), dir
}

type sample struct {
	Completion string `json:"completion"`
}

func score(p *Process, completion string) (Reward, error) {
	return p.Score(context.Background(), sample{completion})
}

// Every sample gets its own reward or an error of its own, whatever the
// program prints, and the sample after gets its own reward again.
func TestRewardPerSample(t *testing.T) {
	p, _ := script(t, 2*time.Second)
	defer p.Close()

	r, err := score(p, "verdict")
	if err != nil || r.Reward != 0.5 || *r.Verdict != "custom" || *r.RewardAnswer != 0.25 || r.RewardFormat != nil {
		t.Errorf("extra fields: %+v, %v", r, err)
	}
	for _, c := range []struct{ completion, err string }{
		{"abc", ""},
		{"banner", ""},                        // a banner is skipped
		{"twice", ""},                         // the second answer is discarded by the next sample
		{"noisy", ""},                         // 10 MB of stderr block nothing
		{"huge", "a line over 1048576 bytes"}, // its own answer follows and is then discarded
		{"long", `x"… (truncated, 9000`},
		{"jsonbanner", `"{\"status\": \"ready\"}": answer without "id"`},
		{"noid", `answer without "id"`},
		{"wrongid", "which was never sent"},
		{"garbage", `answered "{not json"`},
		{"noreward", `no "reward" number`},
		{"die", "ended without answering (exit status 3)"},
		{"slow", "no answer with id"},
	} {
		r, err := score(p, c.completion)
		switch {
		case c.err == "" && (err != nil || r.Reward != float64(len(c.completion))):
			t.Errorf("%s: reward %v, %v; want %d", c.completion, r.Reward, err, len(c.completion))
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: reward %v, error %.300v; want one containing %q", c.completion, r.Reward, err, c.err)
		case err != nil && len(err.Error()) > 2<<10:
			t.Errorf("%s: a %d-byte error", c.completion, len(err.Error()))
		}
		if r, err := score(p, "ok"); err != nil || r.Reward != 2 {
			t.Errorf("after %s: reward %v, %.300v; want 2", c.completion, r.Reward, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// Output without a newline fails its sample once it passes the longest
// line, long before the timeout and without being held whole.
func TestRewardEndlessLine(t *testing.T) {
	p, _ := script(t, 3*time.Second)
	defer p.Close()
	start := time.Now()
	if _, err := score(p, "endless"); err == nil || !strings.Contains(err.Error(), "a line over 1048576 bytes") {
		t.Errorf("endless: error %.300v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("endless: the error took %v", d)
	}
	// The program still prints and no longer reads: the next sample times
	// out, and the one after has a fresh program.
	if _, err := score(p, "ok"); err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Errorf("after endless: error %.300v", err)
	}
	if r, err := score(p, "ok"); err != nil || r.Reward != 2 {
		t.Errorf("after the restart: reward %v, %.300v", r.Reward, err)
	}
}

// A program that stops reading its stdin cannot hold a large sample's
// write past the timeout.
func TestRewardStoppedReading(t *testing.T) {
	p, _ := script(t, 2*time.Second)
	if r, err := score(p, "deaf"); err != nil || r.Reward != 4 {
		t.Fatalf("deaf: reward %v, %v", r.Reward, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := score(p, strings.Repeat("x", 1<<20))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no answer") {
			t.Errorf("a sample written to a program that stopped reading: error %.300v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write of a sample outlasted the timeout")
	}
	if r, err := score(p, "ok"); err != nil || r.Reward != 2 {
		t.Errorf("after the restart: reward %v, %v", r.Reward, err)
	}
	p.Close()
}

func TestRewardConcurrent(t *testing.T) {
	p, _ := script(t, 5*time.Second)
	defer p.Close()
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			c := strings.Repeat("x", i)
			r, err := score(p, c)
			if err == nil && r.Reward != float64(i) {
				err = fmt.Errorf("sample %d got reward %v", i, r.Reward)
			}
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestRewardBadCommand(t *testing.T) {
	p := New("exit 1", time.Second, io.Discard)
	defer p.Close()
	if _, err := score(p, "x"); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("a program that exits at once: %v", err)
	}
}

// The request's "id" is the program's to echo; a sample cannot bring one.
func TestRewardSampleWithID(t *testing.T) {
	p := New("exit 1", time.Second, io.Discard)
	defer p.Close()
	if _, err := p.Score(context.Background(), map[string]int{"id": 3}); err == nil || !strings.Contains(err.Error(), `"id" of its own`) {
		t.Errorf("a sample with an id: %v", err)
	}
	if _, err := p.Score(context.Background(), []int{1}); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("a sample that is not an object: %v", err)
	}
}
