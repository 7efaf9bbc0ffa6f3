package tasks

import (
	"math/rand/v2"
	"testing"
)

// TestSatisfiableBruteForce compares DPLL with trying every assignment on
// random small CNF formulas around the satisfiability threshold.
func TestSatisfiableBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sat := 0
	for range 2000 {
		n := 1 + r.IntN(10)
		clauses := make([][]literal, r.IntN(5*n))
		for i := range clauses {
			for range 1 + r.IntN(3) {
				l := pos(r.IntN(n))
				if r.IntN(2) == 0 {
					l = -l
				}
				clauses[i] = append(clauses[i], l)
			}
		}
		want := false
		for a := 0; a < 1<<n && !want; a++ {
			want = true
			for _, c := range clauses {
				ok := false
				for _, l := range c {
					ok = ok || (a>>l.atom()&1 == 1) == (l > 0)
				}
				want = want && ok
			}
		}
		if got := satisfiable(n, clauses); got != want {
			t.Fatalf("satisfiable(%d, %v) = %v, brute force %v", n, clauses, got, want)
		}
		if want {
			sat++
		}
	}
	if sat < 200 || sat > 1800 {
		t.Errorf("%d of 2000 satisfiable: the test formulas are too one-sided", sat)
	}
}
