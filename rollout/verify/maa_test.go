package verify

import (
	"encoding/json"
	"os"
	"testing"
)

// testdata/maa_cases.json holds crafted completions (the decoded prompt and
// the completion, as the reference scores them) with the reward the
// Meta-Ability-Alignment reward code gives each, derived by reading that
// code and checked by running its compute_score (the dispatcher in
// Training/verl/utils/reward_score/mix.py) on every case: for each case,
// mix.compute_score(text, {"solution_text_format": truth}). A null reward
// is a ground truth the reference raises on.
func TestMAAAgreesWithReference(t *testing.T) {
	b, err := os.ReadFile("testdata/maa_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name, Text, Truth string
		Reward            *float64
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 100 {
		t.Fatalf("%d cases, want at least 100", len(cases))
	}
	for _, c := range cases {
		r, err := MAA(c.Text, c.Truth, DefaultOptions())
		switch {
		case c.Reward == nil && err == nil:
			t.Errorf("%s: truth %q accepted (reward %v); the reference raises", c.Name, c.Truth, r.Reward)
		case c.Reward != nil && err != nil:
			t.Errorf("%s: %v", c.Name, err)
		case c.Reward != nil && r.Reward != *c.Reward:
			t.Errorf("%s: reward %v, reference %v (%+v)", c.Name, r.Reward, *c.Reward, r)
		case c.Reward != nil && r.Reward != r.RewardFormat+r.RewardAnswer:
			t.Errorf("%s: %v ≠ %v + %v", c.Name, r.Reward, r.RewardFormat, r.RewardAnswer)
		}
	}
}

func TestMAAVerdicts(t *testing.T) {
	const p = "<|im_start|>assistant\n<think>x</think><answer>"
	cases := []struct {
		text    string
		verdict Verdict
		answer  string
	}{
		{p + " A is True </answer>", Correct, "A is True"},
		{p + "A is False</answer>", Wrong, "A is False"},
		{p + "A is True, A is True</answer>", Unparseable, "A is True, A is True"},
		{p + "A is True", FormatError, ""},
		{"<think>x</think><answer>A is True</answer>", Unparseable, ""},
	}
	for _, c := range cases {
		r, err := MAA(c.text, "(1) A is True\n", DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != c.verdict || r.ExtractedAnswer != c.answer {
			t.Errorf("%q: %s %q, want %s %q", c.text, r.Verdict, r.ExtractedAnswer, c.verdict, c.answer)
		}
	}
}

func FuzzMAA(f *testing.F) {
	f.Add("<|im_start|>assistant\n<think>x</think><answer>A is true</answer>", "(1) A is True\n")
	f.Add("Assistant: <think>x</think><answer>1_0</answer>", "10")
	f.Fuzz(func(t *testing.T, text, truth string) {
		r, err := MAA(text, truth, DefaultOptions())
		if err == nil && r.Reward != r.RewardFormat+r.RewardAnswer {
			t.Errorf("reward %v ≠ %v + %v", r.Reward, r.RewardFormat, r.RewardAnswer)
		}
	})
}

func TestLogicTask(t *testing.T) {
	for truth, want := range map[string]string{
		"(1) A is True\n(2) B is False":    "deduction",
		"No satisfying assignment exists.": "deduction",
		"-12":                              "induction",
		"(1) C is reachable":               "abduction",
		"x = 3":                            "",
	} {
		if got := LogicTask(truth); got != want {
			t.Errorf("LogicTask(%q) = %q, want %q", truth, got, want)
		}
	}
}
