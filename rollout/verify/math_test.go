package verify

import (
	"strings"
	"testing"
)

func TestLastBoxed(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{`so \boxed{5}`, "5", true},
		{`\boxed{1} then \boxed{\frac{1}{2}}`, `\frac{1}{2}`, true},
		{`\boxed{\{1, 2\}}`, `\{1, 2\}`, true},
		{`\fbox{7} and not \boxed{8}`, "8", true},
		{`\boxed{8} or \fbox{x^{2}}`, "x^{2}", true},
		{`The answer is $\boxed 5$.`, "5", true},
		{"\\boxed 12\nmore", "12", true},
		{`\boxed{\text{(C)}}`, `\text{(C)}`, true},
		{`\boxed{3`, "", false}, // cut off by max tokens
		{`no box here`, "", false},
		{`\boxed`, "", false},
		{`\boxed{}`, "", true},
	}
	for _, c := range cases {
		got, ok := LastBoxed(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("LastBoxed(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestNormalize(t *testing.T) {
	cases := []struct{ in, want string }{
		{`\left( 1, 2 \right)`, "(1,2)"},
		{`\dfrac{3}{4}`, `\frac{3}{4}`},
		{`\tfrac12`, `\frac{1}{2}`},
		{`\frac1{10}`, `\frac{1}{10}`},
		{`\sqrt3`, `\sqrt{3}`},
		{`2\sqrt2x`, `2\sqrt{2}x`},
		{`90^\circ`, "90"},
		{`90^{\circ}`, "90"},
		{`50\%`, "50"},
		{`\$18.90`, "18.90"},
		{`5\text{ cm}`, "5"},
		{`10\text{ inches}^2`, "10^2"}, // what strip_string does too: unit text only
		{`\text{Monday}`, "Monday"},
		{`x = 3`, "3"},
		{`y=\frac{1}{2}`, `\frac{1}{2}`},
		{`.5`, "0.5"},
		{`3/4`, `\frac{3}{4}`},
		{`1,\!000`, "1000"},
		{`1,000,000`, "1000000"},
		{`1, 000`, "1,000"}, // a list of two numbers, not a thousand
		{"\\frac{1}{2}.", `\frac{1}{2}`},
		{`\displaystyle\frac{\pi}{4}`, `\frac{\pi}{4}`},
	}
	for _, c := range cases {
		if got := Normalize(c.in); got != c.want {
			t.Errorf("Normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestEquivalent(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		// Integers, separators, signs.
		{"1000", "1,000", true},
		{"1000", `1,\!000`, true},
		{"1000", "1{,}000", false}, // braces are not a separator we know
		{"-7", "−7", false},        // a Unicode minus is not TeX
		{"123456789012345678901", "123456789012345678902", false},
		{"12", "12.0", true},
		{"12", "12.000001", false},
		{"0", "-0", true},
		// Fractions, decimals, unreduced fractions.
		{`\frac{1}{2}`, "0.5", true},
		{`\frac{2}{4}`, `\frac{1}{2}`, true},
		{`\dfrac{6}{8}`, "3/4", true},
		{`\frac12`, `\frac{1}{2}`, true},
		{`-\frac{1}{3}`, `\frac{-1}{3}`, true},
		{`\frac{1}{3}`, "0.333333", false}, // rationals compare exactly
		{`\frac{1}{3}`, "0.33", false},
		{`\frac{7}{2}`, "3.5", true},
		{`\frac{1}{2}`, `\frac{1}{3}`, false},
		// Percentages.
		{`50\%`, "50", true},
		{`50\%`, "0.5", true},
		{`12.5\%`, `\frac{1}{8}`, true},
		{`50\%`, "5", false},
		// Units, degrees, dollars, "x =".
		{"5", `5\text{ cm}`, true},
		{`5\text{ cm}`, `5\text{ m}`, true}, // units are dropped, as in strip_string
		{"30", `30^\circ`, true},
		{`\$5.50`, "5.5", true},
		{"3", "x = 3", true},
		{"3", "x = 4", false},
		// Surds and π.
		{`2\sqrt{3}`, `\sqrt{12}`, true},
		{`\sqrt3`, `\sqrt{3}`, true},
		{`\sqrt{2}`, "1.414214", true},
		{`\sqrt{2}`, "1.41", false},
		{`\frac{\sqrt{3}}{2}`, `\frac{1}{2}\sqrt{3}`, true},
		{`3\pi`, `\pi\cdot3`, true},
		{`\frac{\pi}{4}`, `0.25\pi`, true},
		{`\pi`, "3.14", false},
		{`2^{10}`, "1024", true},
		{`1+\sqrt{2}`, `\sqrt{2}+1`, true},
		// Tuples, intervals, sets, lists.
		{"(1, 2)", "(1,2)", true},
		{"(1, 2)", "(2, 1)", false},
		{`\left(\frac{1}{2}, -3\right)`, "(0.5, -3)", true},
		{"[1, 3)", "[1,3)", true},
		{"[1, 3)", "(1, 3)", false},
		{"[1, 3]", "[1, 3)", false},
		{`(-\infty, 3)`, "x < 3", true},
		{`(-\infty, 3]`, `x \le 3`, true},
		{`(-\infty, 3]`, "x < 3", false},
		{`[2, \infty)`, `x\geq 2`, true},
		{`(-2, 5]`, `-2 < x \leq 5`, true},
		{`(-2, 5)`, `5 > x > -2`, true},
		{`(-\infty, 1) \cup (2, \infty)`, `(2, \infty) \cup (-\infty, 1)`, true},
		{`(-\infty, 1) \cup (2, \infty)`, `(-\infty, 1) \cup [2, \infty)`, false},
		{`\{1, 2, 3\}`, `\{3, 1, 2\}`, true},
		{`\{1, 2, 3\}`, `\{1, 2\}`, false},
		{`\{1, 2\}`, `\{1, 1\}`, false},
		{"-2, 5", "5, -2", true},
		{"-2, 5", "5", false},
		{`\frac{1}{2}, 3`, "3, 0.5", true},
		// Words and expressions are compared as strings only.
		{`\text{(C)}`, "(C)", true},
		{"Monday", `\text{Monday}`, true},
		{"x^2+1", "x^{2}+1", false},
		{"x^2+1", "x^2+1", true},
		{"", "0", false},
	}
	for _, c := range cases {
		if got := Equivalent(c.a, c.b); got != c.want {
			t.Errorf("Equivalent(%q, %q) = %v, want %v (normalized %q, %q)", c.a, c.b, got, c.want, Normalize(c.a), Normalize(c.b))
		}
		if got := Equivalent(c.b, c.a); got != c.want {
			t.Errorf("Equivalent(%q, %q) = %v, want %v (not symmetric)", c.b, c.a, got, c.want)
		}
	}
}

func TestMath(t *testing.T) {
	const solution = `We have $x^2 = 4$, so $x = \boxed{2}$ or, more carefully, the positive root is $\boxed{\dfrac{4}{2}}$.`
	cases := []struct {
		completion, truth string
		verdict           Verdict
		extracted         string
	}{
		{`<think>2+2</think><answer>\boxed{4}</answer>`, "4", Correct, "4"},
		{`The total is \boxed{1,000} dollars.`, "1000", Correct, "1,000"},
		{`<think>..</think><answer>4</answer>`, "4", Correct, "4"}, // no box: the answer tag
		{`So \boxed{2}.`, solution, Correct, "2"},                  // the truth is a worked solution
		{`First \boxed{3}, no wait: \boxed{5}`, "5", Correct, "5"},
		{`\boxed{72}`, "She earns 6 * 12 = 72 dollars.\n#### 72", Correct, "72"},
		{`\boxed{3}`, "5", Wrong, "3"},
		{`I think it is 5.`, "5", Unparseable, ""},
		{`\boxed{5`, "5", Unparseable, ""},
		{`<answer> </answer>`, "5", Unparseable, ""},
	}
	for _, c := range cases {
		r := Math(c.completion, c.truth, DefaultMathOptions())
		if r.Verdict != c.verdict || r.ExtractedAnswer != c.extracted {
			t.Errorf("Math(%q, %q) = %+v, want %s %q", c.completion, c.truth, r, c.verdict, c.extracted)
		}
		want := 0.0
		if c.verdict == Correct {
			want = 1
		}
		if r.Reward != want || r.RewardFormat != 0 {
			t.Errorf("Math(%q): reward %v (format %v), want %v", c.completion, r.Reward, r.RewardFormat, want)
		}
	}
	opt := Options{FormatOK: 0.5, FormatBad: -0.5, Correct: 1, Wrong: -1, Unparseable: -2}
	if r := Math(`<think>x</think><answer>\boxed{3}</answer>`, "4", opt); r.Reward != -0.5 || r.RewardFormat != 0.5 {
		t.Errorf("weighted wrong answer: %+v", r)
	}
	if r := Math(`\boxed{4}`, "4", opt); r.Reward != 0.5 || r.Verdict != Correct {
		t.Errorf("weighted right answer, bad format: %+v", r)
	}
}

func FuzzLastBoxed(f *testing.F) {
	for _, s := range []string{`\boxed{1}`, `\fbox{\{a\}}`, `\boxed 3$`, `\boxed{{}`, `\boxed{\}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := LastBoxed(s)
		if ok && !strings.Contains(s, got) {
			t.Fatalf("LastBoxed(%q) = %q, not a substring", s, got)
		}
	})
}

func FuzzEquivalent(f *testing.F) {
	for _, c := range [][2]string{
		{`\frac{1}{2}`, "0.5"}, {`(-\infty, 3)`, "x<3"}, {`\{1,2\}`, "2,1"}, {`2\sqrt{3}`, `\sqrt{12}`},
		{`50\%`, "0.5"}, {`2^{10}`, "1024"}, {`\frac12`, `\sqrt3`}, {`-2<x\le5`, `(1,2)\cup[3,4]`},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !Equivalent(a, a) {
			t.Fatalf("%q is not equivalent to itself", a)
		}
		if Equivalent(a, b) != Equivalent(b, a) {
			t.Fatalf("Equivalent(%q, %q) is not symmetric", a, b)
		}
		Math(a, b, DefaultMathOptions())
	})
}
