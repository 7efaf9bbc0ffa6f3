package rewardcmd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the reward program: with AHA_REWARD_HELPER
// set, TestHelperProcess reads samples and answers by their completion.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("AHA_REWARD_HELPER") == "" {
		return
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var s struct{ Completion string }
		json.Unmarshal(in.Bytes(), &s)
		switch s.Completion {
		case "slow":
			time.Sleep(10 * time.Second)
		case "die":
			os.Exit(3)
		case "garbage":
			fmt.Println("not json")
		case "noreward":
			fmt.Println(`{"score": 1}`)
		case "verdict":
			fmt.Println(`{"reward": 0.5, "verdict": "custom", "reward_answer": 0.25}`)
		default:
			fmt.Printf("{\"reward\": %d, \"pid\": %d}\n", len(s.Completion), os.Getpid())
		}
	}
	os.Exit(0)
}

func helper(t *testing.T, timeout time.Duration) *Process {
	t.Setenv("AHA_REWARD_HELPER", "1")
	return New(fmt.Sprintf("exec %q -test.run=TestHelperProcess", os.Args[0]), timeout, io.Discard)
}

type sample struct {
	Completion string `json:"completion"`
}

func TestScore(t *testing.T) {
	p := helper(t, 2*time.Second)
	defer p.Close()
	ctx := context.Background()
	score := func(completion string) (Reward, error) { return p.Score(ctx, sample{completion}) }

	for _, c := range []string{"abc", "abcdefg", ""} {
		r, err := score(c)
		if err != nil || r.Reward != float64(len(c)) {
			t.Fatalf("%q: reward %v, %v; want %d", c, r.Reward, err, len(c))
		}
	}
	r, err := score("verdict")
	if err != nil || r.Reward != 0.5 || *r.Verdict != "custom" || *r.RewardAnswer != 0.25 || r.RewardFormat != nil {
		t.Errorf("extra fields: %+v, %v", r, err)
	}
	// Each failure is the sample's own; the next sample gets a reward.
	for _, c := range []struct{ completion, want string }{
		{"garbage", `answered "not json"`},
		{"noreward", `no "reward" number`},
		{"die", "ended without answering (exit status 3)"},
		{"slow", "no answer in 2s; restarting it"},
	} {
		if _, err := score(c.completion); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.completion, err, c.want)
		}
		if r, err := score("ok"); err != nil || r.Reward != 2 {
			t.Errorf("after %s: reward %v, %v", c.completion, r.Reward, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestScoreConcurrent(t *testing.T) {
	p := helper(t, 5*time.Second)
	defer p.Close()
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			c := strings.Repeat("x", i)
			r, err := p.Score(context.Background(), sample{c})
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

func TestBadCommand(t *testing.T) {
	p := New("exit 1", time.Second, io.Discard)
	defer p.Close()
	if _, err := p.Score(context.Background(), sample{"x"}); err == nil {
		t.Error("a program that exits at once gave a reward")
	}
}
