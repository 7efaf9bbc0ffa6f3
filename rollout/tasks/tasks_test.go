package tasks

import "testing"

func TestKnownNames(t *testing.T) {
	for name, want := range map[string]bool{"deduction": true, "induction": true, "abduction": true, "math": false, "": false} {
		if Known(name) != want {
			t.Errorf("Known(%q) = %v", name, !want)
		}
	}
	if got := Names(); got != "deduction, induction or abduction" {
		t.Errorf("Names() = %q", got)
	}
	if _, err := Lookup("deduction", "paper", Options{}); err == nil {
		t.Error("style paper accepted")
	}
}
