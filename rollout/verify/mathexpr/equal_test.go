package mathexpr

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func equal(t *testing.T, a, b string) (bool, error) {
	t.Helper()
	na, err := Parse(a)
	if err != nil {
		return false, err
	}
	nb, err := Parse(b)
	if err != nil {
		return false, err
	}
	return Equal(na, nb)
}

// TestEqual holds real answer strings, each pair checked both ways round.
func TestEqual(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		// Numbers in every notation.
		{"1000", "1,000", true},
		{"1000", `1,\!000`, true},
		{"1000", "1{,}000", true},
		{"14916", "14 {, }916", true},
		{"11111111100", `11,\! 111,\! 111,\! 100`, true},
		{"-7", "−7", true},
		{"12", "12.0", true},
		{"0.5", ".5", true},
		{"1500", `1.5 \times 10^{3}`, true},
		{"1500", "1.5e3", true},
		{"0", "-0", true},
		{"123456789012345678901", "123456789012345678902", false},
		{"12", "12.000001", false},
		// Fractions, roots, powers, π and e.
		{`\frac{1}{2}`, "0.5", true},
		{`\dfrac{6}{8}`, "3/4", true},
		{`\cfrac{1}{3}`, `\frac13`, true},
		{`-\frac{1}{3}`, `\frac{-1}{3}`, true},
		{`2\sqrt{3}`, `\sqrt{12}`, true},
		{`\sqrt{2}`, "1.414214", true},
		{`\sqrt{2}`, "1.41", false},
		{`\sqrt[3]{8}`, "2", true},
		{`3\pi`, `\pi\cdot3`, true},
		{`\frac94\pi`, `\frac{9}{4}\pi`, true},
		{`2^{10}`, "1024", true},
		{`e^{2}`, `\mathrm{e}^2`, true},
		// Must stay unequal.
		{`\frac{1}{3}`, "0.333", false},
		{`\frac{1}{3}`, "0.33", false},
		{"x<1", "x>-1", false},
		{`1-\frac{1}{e}`, `1+\frac{1}{e}`, false},
		{`\{1, 2, 3\}`, `\{1, 2, 4\}`, false},
		{`\{1, 2\}`, `\{1, 1\}`, false},
		{"4", `4\sqrt{2}`, false},
		{`\pi`, "3.14", false},
		// Percent, currency, units, text.
		{`50\%`, "50", true},
		{`50\%`, "0.5", true},
		{`28\%`, "28 percent", true},
		{`50\%`, "5", false},
		{`\$18.90`, "18.9", true},
		{"5", `5\text{ cm}`, true},
		{"15", `15\mbox{ cm}^2`, true},
		{"125", "125 miles", true},
		{"90", `90^\circ`, true},
		{`\text{Evelyn}`, "Evelyn", true},
		{`\text{(C)}`, "C", true},
		{`\text{E}`, "d", false},
		// Algebra: identities by evaluation at random points.
		{`\frac{x+2}{7}`, `\frac{x}{7}+\frac{2}{7}`, true},
		{`\tan^2(y)+1`, `\sec^2(y)`, true},
		{`2 \sin b \cos a`, `\sin(a+b) - \sin(a-b)`, true},
		{"(x+1)^2", "x^2+2x+1", true},
		{"(x+1)^2", "x^2+x+1", false},
		{"x+2n+1", "x+1", false},
		{`\sqrt{x^2}`, "x", false},
		{"f(x)", "f(y)", false},
		// Relations as the sets they define.
		{"x = 3", "3", true},
		{"x = 5+5+1 = 7 = 11", "11", true},
		{`x \le 5`, `5 \ge x`, true},
		{"x < 1", "-x > -1", true},
		{`x \ge 5`, `x \le 5`, false},
		{"2x+4y-3=0", `y=-\frac{1}{2}x+\frac{3}{4}`, true},
		{"x^2/4 + y^2/3 = 1", "x^2/16 + y^2/12 = 1/4", true},
		{`x \in [-2,7]`, `-2 \le x \le 7`, true},
		{`(-\infty, 3)`, "x < 3", true},
		{`(-\infty, 3]`, "x < 3", false},
		{"-793 < a < 10", "(-793, 10)", true},
		{"(p,q)=(3,2)", "(3,2)", true},
		// Sets without order, tuples and intervals with order and brackets.
		{`\{1, 2, 3\}`, `\{3, 1, 2\}`, true},
		{"-2, 5", "5, -2", true},
		{`19, 46, \text{ and } 82`, "19, 46, and 82", true},
		{"(1, 2)", "(2, 1)", false},
		{"[1, 3)", "(1, 3)", false},
		{`(-\infty, 1) \cup (2, \infty)`, `(2, \infty) \cup (-\infty, 1)`, true},
		{`(-\infty, 1) \cup (2, \infty)`, `(-\infty, 1) \cup [2, \infty)`, false},
		{"(1,2),(3,4)", "(3,4),(1,2)", true},
		// ±.
		{`\pm 2021`, `\{-2021, 2021\}`, true},
		{`\pm 2021`, "2021", false},
		{`1 \pm \sqrt{19}`, `1+\sqrt{19}, 1-\sqrt{19}`, true},
		{`\frac{-1 \pm \sqrt{13}}{4}`, `\frac{-1+\sqrt{13}}{4}, \frac{-1-\sqrt{13}}{4}`, true},
		// Matrices.
		{`\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}`, `\begin{bmatrix}1 & 2 \\ 3 & 4\end{bmatrix}`, true},
		{`\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}`, `\begin{pmatrix}1 & 2 \\ 3 & 5\end{pmatrix}`, false},
		{`\begin{pmatrix}6 & 8 \\ 10 & 12\end{pmatrix}`, `\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix} + \begin{pmatrix}5 & 6 \\ 7 & 8\end{pmatrix}`, true},
		{`\begin{pmatrix}1 \\ 2\end{pmatrix}`, `\begin{pmatrix}1 & 2\end{pmatrix}`, false},
	}
	for _, c := range cases {
		for _, ab := range [][2]string{{c.a, c.b}, {c.b, c.a}} {
			got, err := equal(t, ab[0], ab[1])
			if got != c.want || err != nil {
				t.Errorf("Equal(%q, %q) = %v, %v; want %v", ab[0], ab[1], got, err, c.want)
			}
		}
	}
}

// TestEqualAnswerIsCalculation: an answer that is a calculation ending in
// a value matches that value, but a reference that is an equation is not
// matched by one of its sides.
func TestEqualAnswerIsCalculation(t *testing.T) {
	for _, c := range []struct {
		answer, reference string
		want              bool
	}{
		{`\frac{1}{2} = \frac{10}{9}`, `\frac{10}{9}`, true},
		{"11a+c", "7 = 11a+c", false},
		{"0", "a+3z = 0", false},
	} {
		if got, err := equal(t, c.answer, c.reference); got != c.want || err != nil {
			t.Errorf("Equal(%q, %q) = %v, %v; want %v", c.answer, c.reference, got, err, c.want)
		}
	}
}

// TestBudget checks that answers beyond the budgets get a verdict, and
// fast.
func TestBudget(t *testing.T) {
	cases := []struct{ a, b string }{
		{`10^{10^{10}}`, "5"},
		{`2^{2^{2^{64}}}`, `2^{2^{2^{63}}}`},
		{strings.Repeat("(", 500) + "1" + strings.Repeat(")", 500), "1"},
		{strings.Repeat(`\frac{1}{`, 200) + "2" + strings.Repeat("}", 200), "2"},
		{strings.Repeat("x+", 5000) + "x", "x"},
	}
	for _, c := range cases {
		start := time.Now()
		got, err := equal(t, c.a, c.b)
		if got || !errors.Is(err, ErrBudget) {
			t.Errorf("Equal(%.40q, %q) = %v, %v; want ErrBudget", c.a, c.b, got, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Equal(%.40q, %q) took %v", c.a, c.b, d)
		}
	}
}

// FuzzParseEqual: no panic, bounded time, every parsed answer equal to
// itself, and Equal symmetric where the answer is not an equation.
func FuzzParseEqual(f *testing.F) {
	for _, c := range [][2]string{
		{`\frac{1}{2}`, "0.5"}, {`(-\infty, 3)`, "x<3"}, {`\{1,2\}`, "2,1"}, {`2\sqrt{3}`, `\sqrt{12}`},
		{`50\%`, "0.5"}, {`2^{10}`, "1024"}, {`\frac12`, `\sqrt3`}, {`-2<x\le5`, `(1,2)\cup[3,4]`},
		{`\begin{pmatrix}1&2\\3&4\end{pmatrix}`, `1 \pm \sqrt{2}`}, {`\sum_{k=0}^{n} k`, `x \in [0,1)`},
		{`10^{10^{10}}`, `\text{odd}`},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		start := time.Now()
		na, erra := Parse(a)
		nb, errb := Parse(b)
		if erra != nil || errb != nil {
			return
		}
		if eq, err := Equal(na, na); !eq && err == nil {
			t.Fatalf("%q (%v) is not equal to itself", a, na)
		}
		ab, errab := Equal(na, nb)
		ba, errba := Equal(nb, na)
		if na.Kind != Rel && nb.Kind != Rel && errab == nil && errba == nil && ab != ba {
			t.Fatalf("Equal(%q, %q) = %v but Equal(%q, %q) = %v", a, b, ab, b, a, ba)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%q vs %q took %v", a, b, d)
		}
	})
}
