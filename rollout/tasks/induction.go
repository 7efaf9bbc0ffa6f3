package tasks

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Induction generates sequence puzzles: a start value 1..5 is driven by a
// hidden cycle of k operations (+a, −b with a, b in 1..4, ×c with c in
// 2..4), applied in turn, and the last shown term is replaced by "?".
// The prompt names the start range, the operations and the cycle bound
// (the rule family) unless HideHint: the puzzle is determinate within that
// family either way, but hidden, the model must guess the family too.
type Induction struct {
	HideHint bool
}

// inductionLevels gives (cycle length k, sequence length shown including
// the "?") per level. With n terms there are n−2 visible transitions, so
// every operation of the cycle is seen at least once before the hidden one.
var inductionLevels = [MaxLevel]struct{ k, n int }{{1, 5}, {2, 6}, {2, 8}, {3, 9}, {4, 10}}

// maxTerm caps |x| so the sequences stay readable and far from overflow.
const maxTerm = 1_000_000_000_000

// seqOp is one operation of a cycle.
type seqOp struct {
	kind byte // '+', '-' or '*'
	arg  int64
}

func (o seqOp) apply(x int64) int64 {
	switch o.kind {
	case '+':
		return x + o.arg
	case '-':
		return x - o.arg
	}
	return x * o.arg
}

// seqOps lists every operation a cycle may use.
var seqOps = func() []seqOp {
	var ops []seqOp
	for a := int64(1); a <= 4; a++ {
		ops = append(ops, seqOp{'+', a}, seqOp{'-', a})
	}
	for c := int64(2); c <= 4; c++ {
		ops = append(ops, seqOp{'*', c})
	}
	return ops
}()

// Generate builds one sequence, kept only when it is determinate: every
// cycle of length ≤ k that reproduces the visible terms predicts the same
// hidden term.
func (g Induction) Generate(seed uint64, level, index int) (Instance, error) {
	r, err := newRand(seed, level, index)
	if err != nil {
		return Instance{}, fmt.Errorf("induction: %w", err)
	}
	lv := inductionLevels[level-1]
	for range maxAttempts {
		seq, ok := randSequence(r, lv.k, lv.n)
		if !ok {
			continue
		}
		hidden := seq[len(seq)-1]
		if preds := predictions(seq[:len(seq)-1], lv.k); len(preds) != 1 || !preds[hidden] {
			continue
		}
		return Instance{
			Task: "induction", Level: level, Seed: seed, Index: index,
			Prompt: inductionPrompt(seq[:len(seq)-1], lv.k, !g.HideHint),
			Answer: fmt.Sprint(hidden),
		}, nil
	}
	return Instance{}, fmt.Errorf("induction: no determinate sequence in %d attempts (seed %d level %d index %d)", maxAttempts, seed, level, index)
}

// randSequence draws a start and a cycle and returns the n terms, or false
// when a term leaves the cap.
func randSequence(r *rand.Rand, k, n int) ([]int64, bool) {
	cycle := make([]seqOp, k)
	for i := range cycle {
		cycle[i] = seqOps[r.IntN(len(seqOps))]
	}
	seq := []int64{1 + r.Int64N(5)}
	for i := 1; i < n; i++ {
		x := cycle[(i-1)%k].apply(seq[i-1])
		if x > maxTerm || x < -maxTerm {
			return nil, false
		}
		seq = append(seq, x)
	}
	return seq, true
}

// predictions returns every value a cycle of length ≤ kMax consistent with
// the visible terms assigns to the next term. It propagates constraints
// instead of enumerating cycles: for a cycle length L, transition t uses
// operation t mod L, so each residue class must be explained by one
// operation consistent with all its transitions, and the classes are
// independent. The hidden term comes from the class of the next
// transition; its candidate operations give the predicted values.
func predictions(visible []int64, kMax int) map[int64]bool {
	preds := map[int64]bool{}
	transitions := len(visible) - 1
	last := visible[len(visible)-1]
	for L := 1; L <= kMax; L++ {
		consistent := true
		var hiddenOps []seqOp
		for class := range L {
			var ops []seqOp
			for _, o := range seqOps {
				ok := true
				for t := class; t < transitions; t += L {
					if o.apply(visible[t]) != visible[t+1] {
						ok = false
						break
					}
				}
				if ok {
					ops = append(ops, o)
				}
			}
			if len(ops) == 0 {
				consistent = false
				break
			}
			if class == transitions%L {
				hiddenOps = ops
			}
		}
		if !consistent {
			continue
		}
		for _, o := range hiddenOps {
			preds[o.apply(last)] = true
		}
	}
	return preds
}

func inductionPrompt(visible []int64, k int, hint bool) string {
	terms := make([]string, len(visible)+1)
	for i, x := range visible {
		terms[i] = fmt.Sprint(x)
	}
	terms[len(visible)] = "?"
	var b strings.Builder
	fmt.Fprintf(&b, "The sequence %s", strings.Join(terms, ", "))
	switch {
	case !hint:
		b.WriteString(" follows a hidden rule. ")
	case k == 1:
		b.WriteString(" starts from a number between 1 and 5. " + inductionOps + "The same operation is applied at every step. ")
	default:
		fmt.Fprintf(&b, " starts from a number between 1 and 5. "+inductionOps+"The operations repeat in a fixed cycle of at most %d operations. ", k)
	}
	b.WriteString("Find the term marked ?.\n")
	b.WriteString(formatInstructions)
	b.WriteString(" Write the answer as a single integer, for example: 17\n")
	return b.String()
}

// inductionOps is the hint's description of the operations.
const inductionOps = "Each next term comes from the previous one by an operation: add a number from 1 to 4, subtract a number from 1 to 4, or multiply by a number from 2 to 4. "
