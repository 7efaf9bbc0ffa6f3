package rollout

import (
	"reflect"
	"testing"
)

// samples makes records: kinds[p] lists prompt p's samples: 'c' correct,
// 'w' wrong, 't' correct but truncated, 'u' wrong and truncated, 'f'
// format failed, 'e' a failed reward command.
func samples(kinds ...string) []Record {
	var out []Record
	for p, ks := range kinds {
		for j, k := range ks {
			r := Record{PromptID: p, SampleIndex: j, Task: "induction", Answer: "7", Completion: string([]rune{rune('A' + p), k, rune('0' + j)}),
				FinishReason: "stop", Verdict: "wrong"}
			switch k {
			case 'c':
				r.Verdict = "correct"
			case 't':
				r.Verdict, r.FinishReason = "correct", "length"
			case 'u':
				r.FinishReason = "length"
			case 'f':
				r.Verdict = "format_error"
			case 'e':
				r.Verdict, r.RewardError = "reward_error", "exit status 1"
			}
			out = append(out, r)
		}
	}
	return out
}

func TestUsable(t *testing.T) {
	for _, c := range []struct {
		kind                  rune
		keepTrunc, keepFormat bool
		want                  bool
	}{
		{'c', false, false, true},
		{'w', false, false, true},
		{'t', false, false, false},
		{'t', true, false, true},
		{'u', false, true, false},
		{'u', true, false, true},
		{'f', false, false, false},
		{'f', false, true, true},
		{'f', true, false, false},
		{'e', true, true, false},
	} {
		r := samples(string(c.kind))[0]
		if got := Usable(&r, c.keepTrunc, c.keepFormat); got != c.want {
			t.Errorf("%c keep truncated %v keep format-failed %v: %v, want %v", c.kind, c.keepTrunc, c.keepFormat, got, c.want)
		}
	}
}

func TestPairs(t *testing.T) {
	rs := samples("ccwtuf", "cccc", "wfww", "cw", "tu")
	routes, dropped := GroupRoutes(rs, false, false, 9)
	if dropped != 6 || len(routes) != 5 {
		t.Fatalf("%d dropped, %d problems", dropped, len(routes))
	}
	pairs, skipped := Pairs(routes, 2, 2)
	if skipped != 3 || len(pairs) != 2*1+1 {
		t.Fatalf("%d pairs, %d skipped", len(pairs), skipped)
	}
	for _, p := range pairs {
		if p.Chosen.PromptID != p.Rejected.PromptID || !p.Chosen.Correct() || p.Rejected.Correct() ||
			p.Chosen.FinishReason != "stop" || p.Rejected.FinishReason != "stop" || p.Rejected.Verdict == "format_error" {
			t.Errorf("pair %+v", p)
		}
	}
	// With truncated and format-failed samples let in, prompt 0 has 3
	// right and 3 wrong, and prompt 4 pairs too.
	all, _ := GroupRoutes(rs, true, true, 9)
	if pairs, skipped := Pairs(all, 3, 3); len(pairs) != 9+1+1 || skipped != 2 {
		t.Errorf("everything kept: %d pairs, %d skipped", len(pairs), skipped)
	}
	// Record order does not change the draw.
	rev := append([]Record(nil), rs...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	again, _ := GroupRoutes(rev, false, false, 9)
	if p2, _ := Pairs(again, 2, 2); !reflect.DeepEqual(p2, pairs) {
		t.Error("pairs depend on record order")
	}
	if one, _ := Pairs(routes, 1, 1); len(one) != 2 {
		t.Errorf("1:1 gave %d pairs", len(one))
	}
}

func TestEAAISchedule(t *testing.T) {
	for _, c := range []struct{ k, pos, n, s, keep, keepPos int }{
		{4, 2, 1, 0, 4, 2}, // one stage: no fading
		{4, 2, 2, 0, 4, 2},
		{4, 2, 2, 1, 0, 0},
		{4, 2, 3, 0, 4, 2},
		{4, 2, 3, 1, 2, 1},
		{4, 2, 3, 2, 0, 0},
		{4, 1, 4, 1, 3, 1}, // 8/3 rounds to 3, 3/4 to 1
		{4, 1, 4, 2, 1, 0}, // 4/3 rounds to 1, 1/4 to 0
		{4, 1, 4, 3, 0, 0},
		{6, 3, 4, 1, 4, 2},
		{6, 3, 4, 2, 2, 1},
		{0, 0, 3, 1, 0, 0},
	} {
		keep, keepPos := EAAISchedule(c.k, c.pos, c.s, c.n)
		if keep != c.keep || keepPos != c.keepPos {
			t.Errorf("k %d pos %d stage %d of %d: %d routes, %d right; want %d, %d", c.k, c.pos, c.s, c.n, keep, keepPos, c.keep, c.keepPos)
		}
	}
	// Counts only shrink, whatever k, pos and n.
	for k := range 9 {
		for pos := range k + 1 {
			for n := 1; n < 7; n++ {
				lastK, lastP := k, pos
				for s := range n {
					keep, keepPos := EAAISchedule(k, pos, s, n)
					if keep > lastK || keepPos > lastP || keep-keepPos > lastK-lastP || keepPos < 0 || keepPos > keep {
						t.Fatalf("k %d pos %d n %d stage %d: %d/%d after %d/%d", k, pos, n, s, keep, keepPos, lastK, lastP)
					}
					lastK, lastP = keep, keepPos
				}
				if n > 1 && lastK != 0 {
					t.Errorf("k %d n %d: the last stage shows %d routes", k, n, lastK)
				}
			}
		}
	}
}

func TestMRPVRoutes(t *testing.T) {
	routes, _ := GroupRoutes(samples("cccwwww", "cwww", "ccccc"), false, false, 3)
	stages, ok := MRPVRoutes(routes[0], 4, 1, 4, 3)
	if !ok || len(stages) != 4 {
		t.Fatalf("%v %d stages", ok, len(stages))
	}
	count := func(rs []Record) (right, wrong int) {
		for _, r := range rs {
			if r.Correct() {
				right++
			} else {
				wrong++
			}
		}
		return right, wrong
	}
	for s, shown := range stages {
		keep, keepPos := EAAISchedule(4, 1, s, 4)
		if right, wrong := count(shown); right != keepPos || wrong != keep-keepPos {
			t.Errorf("stage %d: %d right, %d wrong; want %d, %d", s, right, wrong, keepPos, keep-keepPos)
		}
		if s > 0 && !subsequence(shown, stages[s-1]) {
			t.Errorf("stage %d shows %v, not a subset in order of %v", s, shown, stages[s-1])
		}
	}
	if _, ok := MRPVRoutes(routes[1], 4, 2, 1, 3); ok {
		t.Error("took 2 right routes from a problem with 1")
	}
	if _, ok := MRPVRoutes(routes[2], 2, 1, 1, 3); ok {
		t.Error("took a wrong route from a problem with none")
	}
	if all, ok := MRPVRoutes(routes[2], 3, 3, 1, 3); !ok || len(all[0]) != 3 {
		t.Errorf("all right: %v %v", ok, all)
	}
	// The seed decides which routes and their order.
	other, _ := MRPVRoutes(routes[0], 4, 1, 4, 4)
	again, _ := MRPVRoutes(routes[0], 4, 1, 4, 3)
	if !reflect.DeepEqual(again, stages) || reflect.DeepEqual(other[0], stages[0]) {
		t.Error("the routes do not follow the seed")
	}
}

// subsequence reports whether a is b with some elements left out.
func subsequence(a, b []Record) bool {
	i := 0
	for _, r := range b {
		if i < len(a) && a[i].Key() == r.Key() {
			i++
		}
	}
	return i == len(a)
}
