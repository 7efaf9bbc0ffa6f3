package verify

import "testing"

func TestFor(t *testing.T) {
	for _, c := range []struct {
		name         string
		found, logic bool
	}{{"math", true, false}, {"deduction", true, true}, {"induction", true, true}, {"abduction", true, true}, {"riddles", false, false}, {"", false, false}} {
		v, ok := For(c.name)
		if ok != c.found || v.Logic != c.logic || ok && v.Name != c.name {
			t.Errorf("For(%q) = %+v, %v", c.name, v, ok)
		}
	}
	if got := Names(); got != "math, deduction, induction or abduction" {
		t.Errorf("Names() = %q", got)
	}
}

// TestTaskVerify: a task's verifier picks the reward by scheme and
// weights: math by Math with the math weights, logic by Logic or MAA.
func TestTaskVerify(t *testing.T) {
	const good = "<think>x</think><answer>A is True</answer>"
	r := DefaultRewards()
	ded, _ := For("deduction")
	if res, err := ded.Verify("", good, "(1) A is True", r); err != nil || res.Verdict != Correct || res.Reward != 3 {
		t.Errorf("aha: %+v %v", res, err)
	}
	r.Scheme = SchemeMAA // no assistant header in the prompt: unparseable
	if res, err := ded.Verify("", good, "(1) A is True", r); err != nil || res.Verdict != Unparseable {
		t.Errorf("maa without a header: %+v %v", res, err)
	}
	if res, err := ded.Verify("Assistant:", good, "(1) A is True", r); err != nil || res.Verdict != Correct {
		t.Errorf("maa: %+v %v", res, err)
	}
	math, _ := For("math")
	if res, err := math.Verify("", `\boxed{2}`, "2", r); err != nil || res.Verdict != Correct || res.Reward != 1 || res.Extraction != TierBoxed {
		t.Errorf("math: %+v %v", res, err)
	}
}

func TestParseWeights(t *testing.T) {
	w, err := ParseWeights("1,-1, 2,-1.5,-2")
	if want := DefaultOptions(); err != nil || w != want {
		t.Errorf("ParseWeights = %+v, %v; want %+v", w, err, want)
	}
	for _, bad := range []string{"1,2", "1,2,3,4,x", ""} {
		if _, err := ParseWeights(bad); err == nil {
			t.Errorf("ParseWeights(%q) accepted", bad)
		}
	}
	for s, ok := range map[string]bool{"aha": true, "maa": true, "paper": false, "": false} {
		if _, err := ParseScheme(s); (err == nil) != ok {
			t.Errorf("ParseScheme(%q): %v", s, err)
		}
	}
}
