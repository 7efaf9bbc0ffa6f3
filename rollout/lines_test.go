package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aha-inference/aha/rollout/verify"
)

// TestScoreLines: every input layout is read, bad lines get an error and
// the run goes on, and output keeps the input's order and members.
func TestScoreLines(t *testing.T) {
	in := strings.Join([]string{
		`{"id":1,"completion":"so \\boxed{4}","answer":"4"}`,
		`{"id":2,"response":"the final answer is $\\frac{1}{2}$","reward_model":{"ground_truth":"0.5"}}`,
		`not json`,
		`{"id":4,"output":"x"}`,
		`{"id":5,"completion":"<think>x</think><answer>A is True B is False</answer>","solution":"(1) A is True (2) B is False","task":"deduction"}`,
		`{"id":6,"completion":"\\boxed{3}","ground_truth":"4","task":"nonsense"}`,
	}, "\n") + "\n"
	var out bytes.Buffer
	st, err := ScoreLines(context.Background(), strings.NewReader(in), &out, LineOptions{Rewards: verify.DefaultRewards(), Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if st.Lines != 6 || st.Correct != 3 || st.Errors != 3 || st.Reward != 5 {
		t.Errorf("stats %+v, want 6 lines, 3 correct, 3 errors, reward 5", st)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d output lines, want 6:\n%s", len(lines), out.String())
	}
	want := []struct {
		verdict, extraction string
		reward              float64
		err                 bool
	}{
		{"correct", "boxed", 1, false},
		{"correct", "prose", 1, false},
		{err: true},
		{err: true},
		{"correct", "", 3, false},
		{err: true},
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		w := want[i]
		if _, isErr := m["error"]; isErr != w.err {
			t.Errorf("line %d: error %v, want %v: %s", i+1, m["error"], w.err, l)
			continue
		}
		if w.err {
			continue
		}
		if m["verdict"] != w.verdict || m["extraction"] != w.extraction || m["reward"] != w.reward || m["id"] != float64(i+1) {
			t.Errorf("line %d: %s", i+1, l)
		}
	}
}
