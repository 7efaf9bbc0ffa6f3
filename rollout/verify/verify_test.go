package verify

import (
	"testing"
)

func TestWellFormed(t *testing.T) {
	cases := []struct {
		completion string
		prefilled  bool
		want       bool
	}{
		{"<think>x</think><answer>1</answer>", false, true},
		{"<think>x</think>\n<answer>1</answer>\n", false, true},
		{"x</think><answer>1</answer>", true, true},
		{"<think>x</think><answer>1</answer>", true, false}, // repeats the prefilled tag
		{"x</think><answer>1</answer>", false, false},
		{"<think>x</think>", false, false},
		{"<answer>1</answer><think>x</think>", false, false},
		{"<think>x</think><answer>1</answer><answer>2</answer>", false, false},
		{"<think><answer>x</think>1</answer>", false, false},
		{"", false, false},
	}
	for _, c := range cases {
		if got := WellFormed(c.completion, c.prefilled); got != c.want {
			t.Errorf("WellFormed(%q, %v) = %v, want %v", c.completion, c.prefilled, got, c.want)
		}
	}
}

func TestLogic(t *testing.T) {
	const (
		assign = "(1) A is True (2) B is False (3) C is True"
		reach  = "A is reachable B is unreachable"
		unsat  = "No satisfying assignment exists."
	)
	cases := []struct {
		task, completion, truth string
		prefilled               bool
		verdict                 Verdict
		reward                  float64
	}{
		{"deduction", "<think>hmm</think><answer>(1) A is True (2) B is False (3) C is True</answer>", assign, false, Correct, 3},
		// A puzzle no assignment satisfies, and answers either way.
		{"deduction", "<think>hmm</think><answer>No satisfying assignment exists.</answer>", unsat, false, Correct, 3},
		{"deduction", "<think>hmm</think><answer>The formulas are unsatisfiable.</answer>", unsat, false, Correct, 3},
		{"deduction", "<think>hmm</think><answer>(1) A is True (2) B is False</answer>", unsat, false, Wrong, -0.5},
		{"deduction", "<think>hmm</think><answer>no idea</answer>", unsat, false, Unparseable, -1},
		{"deduction", "<think>hmm</think><answer>No satisfying assignment exists.</answer>", assign, false, Wrong, -0.5},
		{"deduction", "<think>hmm</think><answer>a is true, c is TRUE, b is false</answer>", assign, false, Correct, 3},
		{"deduction", "hmm</think><answer>(1) A is True (2) B is False (3) C is True</answer>", assign, true, Correct, 3},
		{"deduction", "<think>hmm</think><answer>(1) A is True (2) B is True (3) C is True</answer>", assign, false, Wrong, -0.5},
		{"deduction", "<think>hmm</think><answer>(1) A is True (2) B is False</answer>", assign, false, Wrong, -0.5},
		{"deduction", "<think>hmm</think><answer>A=1 B=0 C=1</answer>", assign, false, Unparseable, -1},
		{"deduction", "<think>hmm</think><answer>A is True, A is False</answer>", assign, false, Unparseable, -1},
		{"deduction", "(1) A is True (2) B is False (3) C is True", assign, false, FormatError, -3},
		{"deduction", "<think>hmm</think><answer>A is true, B is false, C is true. This is true.</answer>", assign, false, Correct, 3},
		{"deduction", "<think>hmm</think><answer>It is true.</answer>", assign, false, Unparseable, -1},
		{"abduction", "<think></think><answer>B is unreachable\nA is reachable</answer>", reach, false, Correct, 3},
		{"abduction", "<think></think><answer>A is reachable B is reachable</answer>", reach, false, Wrong, -0.5},
		{"abduction", "<think></think><answer>maybe</answer>", reach, false, Unparseable, -1},
		{"induction", "<think>x</think><answer>42</answer>", "42", false, Correct, 3},
		{"induction", "<think>x</think><answer>The next term is −7.</answer>", "-7", false, Correct, 3},
		{"induction", "<think>x</think><answer>41</answer>", "42", false, Wrong, -0.5},
		{"induction", "<think>x</think><answer>41 or 42</answer>", "42", false, Unparseable, -1},
		{"induction", "<think>x</think><answer>99999999999999999999999</answer>", "42", false, Wrong, -0.5},
		{"induction", "<answer>42</answer>", "42", false, FormatError, -3},
		{"induction", "<think>x</think><answer>1,000,000</answer>", "1000000", false, Correct, 3},
		{"induction", "<think>x</think><answer>1, 000</answer>", "1000", false, Unparseable, -1},
	}
	for _, c := range cases {
		opt := DefaultOptions()
		opt.PrefilledThink = c.prefilled
		r, err := Logic(c.task, c.completion, c.truth, opt)
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != c.verdict || r.Reward != c.reward || r.Reward != r.RewardFormat+r.RewardAnswer {
			t.Errorf("%s %q: got %+v, want %s %v", c.task, c.completion, r, c.verdict, c.reward)
		}
	}
	if _, err := Logic("riddle", "", "1", DefaultOptions()); err == nil {
		t.Error("unknown task accepted")
	}
	if _, err := Logic("induction", "", "none", DefaultOptions()); err == nil {
		t.Error("unparseable ground truth accepted")
	}
}

func TestLogicWeights(t *testing.T) {
	opt := Options{FormatOK: 0.5, FormatBad: 0, Correct: 1, Wrong: 0, Unparseable: 0}
	r, err := Logic("induction", "<think></think><answer>5</answer>", "5", opt)
	if err != nil || r.Reward != 1.5 || r.ExtractedAnswer != "5" {
		t.Errorf("got %+v, %v", r, err)
	}
}

func FuzzLogic(f *testing.F) {
	f.Add("<think>x</think><answer>(1) A is True</answer>")
	f.Add("<think></think><answer>B is unreachable</answer>")
	f.Add("<answer>-12</answer></think>")
	f.Fuzz(func(t *testing.T, completion string) {
		for task, truth := range map[string]string{"deduction": "(1) A is True", "abduction": "A is reachable", "induction": "3"} {
			r, err := Logic(task, completion, truth, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict == Correct && r.Reward != 3 {
				t.Fatalf("correct but reward %v", r.Reward)
			}
		}
	})
}
