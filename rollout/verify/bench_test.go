package verify

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// benchSample is one generated completion and its reference.
type benchSample struct{ completion, truth string }

var (
	benchOnce    sync.Once
	benchSamples []benchSample
)

// benchCompletions generates 10,000 completions of about 2,000 tokens
// (8 KB) each: reasoning prose with inline and display math, ending in
// answers of every kind and every extraction tier.
func benchCompletions() []benchSample {
	benchOnce.Do(func() {
		r := rand.New(rand.NewPCG(1, 2))
		answers := []struct{ got, truth string }{
			{"%d", "%d"},
			{`\frac{%d}{7}`, `\dfrac{%d}{7}`},
			{`%d\sqrt{3}`, `\sqrt{%d^2 \cdot 3}`},
			{`[-%d, 7)`, `-%d \le x < 7`},
			{`1 \pm \sqrt{%d}`, `\{1+\sqrt{%d}, 1-\sqrt{%d}\}`},
			{`\begin{pmatrix} %d & 0 \\ 0 & 1 \end{pmatrix}`, `\begin{bmatrix} %d & 0 \\ 0 & 1 \end{bmatrix}`},
			{`(x+%d)^2`, `x^2 + 2 \cdot %d x + %d^2`},
			{`%d\%%`, `%d`},
		}
		wrappers := []string{
			"Therefore the answer is $\\boxed{%s}$.",
			"<answer>%s</answer>",
			"Final Answer: The final answer is $%s$. I hope it is correct.",
			"So we conclude \\[ %s \\]",
		}
		filler := []string{
			"Let us consider the equation $x^2 - 5x + 6 = 0$, which factors as $(x-2)(x-3) = 0$. ",
			"We substitute $y = 2x + 1$ into the second equation and simplify the terms carefully. ",
			"By the AM-GM inequality, \\[ \\frac{a+b}{2} \\ge \\sqrt{ab}, \\] with equality when $a = b$. ",
			"Wait, let me double-check the arithmetic: 17 times 23 is 391, and 391 minus 12 is 379. ",
			"The sum of the first $n$ integers is $\\frac{n(n+1)}{2}$, so for $n = 40$ we get 820. ",
		}
		benchSamples = make([]benchSample, 10_000)
		for i := range benchSamples {
			var b strings.Builder
			for b.Len() < 8000 {
				b.WriteString(filler[r.IntN(len(filler))])
			}
			a := answers[i%len(answers)]
			n := 2 + r.IntN(50)
			got := strings.ReplaceAll(a.got, "%d", fmt.Sprint(n))
			if i%len(answers) == 7 {
				got = fmt.Sprintf(`%d\%%`, n)
			}
			truth := strings.ReplaceAll(a.truth, "%d", fmt.Sprint(n))
			if r.IntN(4) == 0 { // a quarter are wrong
				truth = strings.ReplaceAll(a.truth, "%d", fmt.Sprint(n+1))
			}
			fmt.Fprintf(&b, wrappers[(i/len(answers))%len(wrappers)], got)
			benchSamples[i] = benchSample{b.String(), truth}
		}
	})
	return benchSamples
}

// BenchmarkMath scores the generated completions on one goroutine; run
// with -cpu 1,N for one core and all cores, and see completions/s.
func BenchmarkMath(b *testing.B) {
	samples := benchCompletions()
	opt := DefaultMathOptions()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		s := samples[i%len(samples)]
		Math(s.completion, s.truth, opt)
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "completions/s")
}

// BenchmarkMathParallel scores them on GOMAXPROCS goroutines.
func BenchmarkMathParallel(b *testing.B) {
	samples := benchCompletions()
	opt := DefaultMathOptions()
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s := samples[int(next.Add(1))%len(samples)]
			Math(s.completion, s.truth, opt)
		}
	})
	b.ReportMetric(float64(next.Load())/b.Elapsed().Seconds(), "completions/s")
}

// TestBenchCompletions checks that the generated answers are scored as
// generated: about three quarters right.
func TestBenchCompletions(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 80 MB")
	}
	samples := benchCompletions()[:400]
	right := 0
	for _, s := range samples {
		if Math(s.completion, s.truth, DefaultMathOptions()).Verdict == Correct {
			right++
		}
	}
	if right < len(samples)*6/10 || right > len(samples)*9/10 {
		t.Errorf("%d of %d generated completions correct, want about 3/4", right, len(samples))
	}
}
