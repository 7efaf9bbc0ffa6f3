package tasks

// A literal is an atom index plus one, negated for "not atom".
type literal int

func pos(atom int) literal { return literal(atom + 1) }
func neg(atom int) literal { return -literal(atom + 1) }

func (l literal) atom() int { return int(max(l, -l)) - 1 }

// satisfiable decides a CNF formula over atoms 0..n-1 with DPLL: unit
// propagation, then branching on the first unassigned atom of the first
// open clause. The formulas here have tens of atoms and mostly Horn
// clauses, for which propagation alone nearly always decides.
func satisfiable(n int, clauses [][]literal) bool {
	return dpll(make([]int8, n), clauses)
}

// dpll works on value: 0 unassigned, 1 true, −1 false.
func dpll(value []int8, clauses [][]literal) bool {
	value = append([]int8(nil), value...)
	for {
		unit, branch := literal(0), literal(0)
		for _, c := range clauses {
			open, free, sat := 0, literal(0), false
			for _, l := range c {
				switch v := value[l.atom()]; {
				case v == 0:
					open++
					free = l
				case (v == 1) == (l > 0):
					sat = true
				}
				if sat {
					break
				}
			}
			if sat {
				continue
			}
			if open == 0 {
				return false // every literal false: conflict
			}
			if open == 1 {
				unit = free
				break
			}
			if branch == 0 {
				branch = free
			}
		}
		if unit != 0 {
			value[unit.atom()] = sign(unit)
			continue
		}
		if branch == 0 {
			return true // every clause satisfied
		}
		value[branch.atom()] = sign(branch)
		if dpll(value, clauses) {
			return true
		}
		value[branch.atom()] = -sign(branch)
		return dpll(value, clauses)
	}
}

func sign(l literal) int8 {
	if l > 0 {
		return 1
	}
	return -1
}
