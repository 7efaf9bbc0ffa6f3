package pairs

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	ok := Options{Format: MRPV, Correct: 1, Wrong: 1, Routes: 4, Positives: 2, Stages: 3}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*Options){
		func(o *Options) { o.Format = "xyz" },
		func(o *Options) { o.Correct = 0 },
		func(o *Options) { o.Positives = 5 },
		func(o *Options) { o.Routes = 0 },
		func(o *Options) { o.Stages = 1 },
		func(o *Options) { o.Format = DPO },
	} {
		o := ok
		bad(&o)
		if err := o.Check(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestMRPVPrompt(t *testing.T) {
	if got := mrpvPrompt("Q?", nil, nil, true); got != "Q?" {
		t.Errorf("no routes: %q", got)
	}
	routes, correct := []string{"r1", "r2"}, []bool{true, false}
	marked := mrpvPrompt("Q?", routes, correct, true)
	if !strings.HasPrefix(marked, "Q?\n\nHere are 2 attempted solutions") || !strings.Contains(marked, "Route 1 (correct):\nr1") ||
		!strings.Contains(marked, "Route 2 (incorrect):\nr2") {
		t.Errorf("marked:\n%s", marked)
	}
	unmarked := mrpvPrompt("Q?", routes, correct, false)
	if strings.Contains(unmarked, "correct)") || !strings.Contains(unmarked, "Some may be wrong.") || !strings.Contains(unmarked, "Route 2:\nr2") {
		t.Errorf("unmarked:\n%s", unmarked)
	}
}
