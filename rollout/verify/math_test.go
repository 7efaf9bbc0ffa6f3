package verify

import (
	"strings"
	"testing"
	"time"
)

func TestExtract(t *testing.T) {
	cases := []struct {
		completion, answer string
		tier               Tier
	}{
		{`so \boxed{5}`, "5", TierBoxed},
		{`First \boxed{3}, no wait, that was wrong: \boxed{5}`, "5", TierBoxed},
		{`\boxed{-2} \quad \text{and} \quad \boxed{1}`, "-2, 1", TierBoxed},
		{`\boxed{1} papers and \boxed{2} bins`, "1, 2", TierBoxed},
		{`\boxed{004} … so \boxed{004}`, "004", TierBoxed},
		{`\fbox{7}`, "7", TierBoxed},
		{`The answer is $\boxed 5$.`, "5", TierBoxed},
		{`\boxed{255} … Final Answer: The final answer is $10,455$. I hope it is correct.`, "10,455", TierProse},
		{"<think>x</think><answer>42</answer>", "42", TierAnswerTag},
		{"<think>x</think><answer>The answer is $9$.</answer>", "9", TierAnswerTag},
		{"so the final answer is $9$.", "9", TierProse},
		{"Final Answer: The largest $n$ is 34.", "34", TierProse},
		{"We get \\[ x = \\frac{1}{2} \\] and stop.", `x = \frac{1}{2}`, TierProse},
		{"there are 12 apples", "12", TierLastNumber},
		{"the sum is 12,000,023 in all", "12000023", TierLastNumber},
		{"Soucis : 2,74 $ a..", "2.74", TierLastNumber},
		{"no answer here", "", TierNone},
		{`\boxed{3`, "3", TierLastNumber}, // cut off by max tokens
	}
	for _, c := range cases {
		got, tier := Extract(c.completion)
		if got != c.answer || tier != c.tier {
			t.Errorf("Extract(%q) = %q, %q; want %q, %q", c.completion, got, tier, c.answer, c.tier)
		}
	}
}

func TestMath(t *testing.T) {
	const solution = `We have $x^2 = 4$, so the positive root is $\boxed{\dfrac{4}{2}}$.`
	cases := []struct {
		completion, truth string
		verdict           Verdict
		extracted         string
		tier              Tier
	}{
		{`<think>2+2</think><answer>\boxed{4}</answer>`, "4", Correct, "4", TierBoxed},
		{`The total is \boxed{1,000} dollars.`, "1000", Correct, "1,000", TierBoxed},
		{`<think>..</think><answer>4</answer>`, "4", Correct, "4", TierAnswerTag},
		{`So \boxed{2}.`, solution, Correct, "2", TierBoxed},
		{`\boxed{72}`, "She earns 6 * 12 = 72 dollars.\n#### 72", Correct, "72", TierBoxed},
		{`\boxed{3}`, "5", Wrong, "3", TierBoxed},
		{"the final answer is $9$", "9", Correct, "9", TierProse},
		{`\boxed{10^{10^{10}}}`, "5", Unverifiable, `10^{10^{10}}`, TierBoxed},
		{`<answer> </answer>`, "5", Unparseable, "", TierNone},
	}
	for _, c := range cases {
		r := Math(c.completion, c.truth, DefaultMathOptions())
		if r.Verdict != c.verdict || r.ExtractedAnswer != c.extracted || r.Extraction != c.tier {
			t.Errorf("Math(%q, %q) = %+v, want %s %q %s", c.completion, c.truth, r, c.verdict, c.extracted, c.tier)
		}
	}
	// An RL recipe that demands \boxed scores the prose tier as unparseable.
	opt := DefaultMathOptions()
	opt.Require = TierBoxed
	if r := Math("the final answer is $9$", "9", opt); r.Verdict != Unparseable || r.Reward != 0 || r.Extraction != TierProse {
		t.Errorf("prose answer with boxed required: %+v", r)
	}
	if r := Math(`\boxed{9}`, "9", opt); r.Verdict != Correct || r.Reward != 1 {
		t.Errorf("boxed answer with boxed required: %+v", r)
	}
	w := Options{FormatOK: 0.5, FormatBad: -0.5, Correct: 1, Wrong: -1, Unparseable: -2}
	if r := Math(`<think>x</think><answer>\boxed{3}</answer>`, "4", w); r.Reward != -0.5 || r.RewardFormat != 0.5 {
		t.Errorf("weighted wrong answer: %+v", r)
	}
}

// TestMathBounded: a 100 KB completion and a deeply nested answer get a
// verdict quickly.
func TestMathBounded(t *testing.T) {
	for _, c := range []string{
		strings.Repeat("Let $x_1 = 3$ and so on, 7 apples. ", 3000) + `\boxed{5}`,
		strings.Repeat("$", 100_000),
		`\boxed{` + strings.Repeat(`\frac{1}{`, 300) + "2" + strings.Repeat("}", 300) + "}",
		`\boxed{` + strings.Repeat("(", 50_000) + "}",
	} {
		start := time.Now()
		Math(c, "5", DefaultMathOptions())
		if d := time.Since(start); d > time.Second {
			t.Errorf("Math on %d bytes took %v", len(c), d)
		}
	}
}

func FuzzMath(f *testing.F) {
	for _, s := range []string{`\boxed{1}`, `\fbox{\{a\}}`, `\boxed 3$`, `\boxed{{}`, "<answer>x</answer>", "the answer is $5$"} {
		f.Add(s, "5")
	}
	f.Fuzz(func(t *testing.T, completion, truth string) {
		r := Math(completion, truth, DefaultMathOptions())
		if r.ExtractedAnswer != "" && r.Extraction == TierNone {
			t.Fatalf("answer %q without a tier", r.ExtractedAnswer)
		}
	})
}
