package mathexpr

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/big"
	"math/cmplx"
)

// exact evaluates n as a rational number. It returns nil when n is not
// rational (a variable, π, a surd) and ErrBudget when the number would
// exceed MaxBits.
func exact(n *Node) (*big.Rat, error) {
	switch n.Kind {
	case Num:
		return n.Rat, nil
	case Add, Mul:
		acc := new(big.Rat)
		if n.Kind == Mul {
			acc.SetInt64(1)
		}
		for _, a := range n.Args {
			r, err := exact(a)
			if r == nil || err != nil {
				return nil, err
			}
			if n.Kind == Add {
				acc.Add(acc, r)
			} else {
				acc.Mul(acc, r)
			}
			if err := checkBits(acc); err != nil {
				return nil, err
			}
		}
		return acc, nil
	case Pow:
		base, err := exact(n.Args[0])
		if base == nil || err != nil {
			return nil, err
		}
		e, err := exact(n.Args[1])
		if e == nil || err != nil {
			return nil, err
		}
		return ratPow(base, e)
	case Func:
		if n.Name != "sqrt" && n.Name != "abs" {
			return nil, nil
		}
		a, err := exact(n.Args[0])
		if a == nil || err != nil {
			return nil, err
		}
		if n.Name == "abs" {
			return new(big.Rat).Abs(a), nil
		}
		return ratPow(a, big.NewRat(1, 2))
	}
	return nil, nil
}

func checkBits(r *big.Rat) error {
	if r.Num().BitLen()+r.Denom().BitLen() > MaxBits {
		return fmt.Errorf("a number of more than %d bits: %w", MaxBits, ErrBudget)
	}
	return nil
}

// ratPow raises base to e exactly: integer powers, and powers p/q whose
// q-th root is rational (\sqrt{16}, 8^{1/3}).
func ratPow(base, e *big.Rat) (*big.Rat, error) {
	if base.Sign() == 0 {
		if e.Sign() <= 0 {
			return nil, nil // 0^0 and 0^-1 are not numbers
		}
		return new(big.Rat), nil
	}
	if base.Cmp(big.NewRat(1, 1)) == 0 {
		return base, nil
	}
	q := e.Denom()
	if !q.IsInt64() || q.Int64() > 16 {
		return nil, nil
	}
	if q.Int64() > 1 {
		if base.Sign() < 0 {
			return nil, nil
		}
		num, ok1 := intRoot(base.Num(), q.Int64())
		den, ok2 := intRoot(base.Denom(), q.Int64())
		if !ok1 || !ok2 {
			return nil, nil
		}
		base = new(big.Rat).SetFrac(num, den)
	}
	p := e.Num()
	bits := int64(base.Num().BitLen() + base.Denom().BitLen())
	// Compared by division: bits·k overflows int64 for exponents such as
	// 70^{10}, and the power would then be computed.
	k := abs64(p.Int64())
	if !p.IsInt64() || k < 0 || k > MaxBits/bits && !isMinusOne(base) {
		return nil, fmt.Errorf("a power of more than %d bits: %w", MaxBits, ErrBudget)
	}
	if isMinusOne(base) {
		k %= 2
	}
	r := new(big.Rat).SetFrac(new(big.Int).Exp(base.Num(), big.NewInt(k), nil), new(big.Int).Exp(base.Denom(), big.NewInt(k), nil))
	if p.Sign() < 0 {
		r.Inv(r)
	}
	return r, nil
}

func isMinusOne(r *big.Rat) bool { return r.Cmp(big.NewRat(-1, 1)) == 0 }

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// intRoot returns the q-th root of x when it is an integer.
func intRoot(x *big.Int, q int64) (*big.Int, bool) {
	if q == 2 {
		r := new(big.Int).Sqrt(x)
		return r, new(big.Int).Mul(r, r).Cmp(x) == 0
	}
	f, _ := new(big.Float).SetInt(x).Float64()
	r := big.NewInt(int64(math.Round(math.Pow(f, 1/float64(q)))))
	return r, new(big.Int).Exp(r, big.NewInt(q), nil).Cmp(x) == 0
}

// evaluator evaluates trees numerically, in complex arithmetic, at one of
// a fixed series of points. It counts the nodes it visits so that a
// comparison stays within a budget of work.
type evaluator struct {
	work int
}

const maxWork = 2_000_000 // node evaluations per comparison

// seed fixes the random points: the same answer always gets the same
// verdict.
const seed = 0x5eed_a4a

// symbolValue is the value of the named variable at a point: a real in
// ±[0.3, 2.5], drawn from a hash of the name, the point and the seed. Both
// signs, so that |x| and x, or \sqrt{x^2} and x, differ.
func symbolValue(name string, point int) complex128 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%s", seed, point, name)
	u := splitmix(h.Sum64())
	v := 0.3 + 2.2*float64(u>>11)/(1<<53)
	if u&1 == 1 {
		v = -v
	}
	return complex(v, 0)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// value evaluates n at point; NaN when n is not a number (a set, text).
func (ev *evaluator) value(n *Node, point int) complex128 {
	ev.work++
	if ev.work > maxWork {
		return cmplx.NaN()
	}
	switch n.Kind {
	case Num:
		f, _ := n.Rat.Float64()
		return complex(f, 0)
	case Const:
		switch n.Name {
		case "pi":
			return math.Pi
		case "e":
			return math.E
		}
		return cmplx.Inf()
	case Sym:
		return symbolValue(n.Name, point)
	case Add:
		var s complex128
		for _, a := range n.Args {
			s += ev.value(a, point)
		}
		return s
	case Mul:
		p := complex(1, 0)
		for _, a := range n.Args {
			p *= ev.value(a, point)
		}
		return p
	case Pow:
		b, e := ev.value(n.Args[0], point), ev.value(n.Args[1], point)
		if imag(e) == 0 && real(e) == math.Trunc(real(e)) && math.Abs(real(e)) <= 64 {
			return powInt(b, int(real(e))) // exact signs for (-2)^3
		}
		return cmplx.Pow(b, e)
	case Percent:
		return ev.value(n.Args[0], point) / 100
	case Func:
		args := make([]complex128, len(n.Args))
		for i, a := range n.Args {
			args[i] = ev.value(a, point)
		}
		return apply(n.Name, args)
	}
	return cmplx.NaN()
}

func powInt(b complex128, k int) complex128 {
	if k < 0 {
		return 1 / powInt(b, -k)
	}
	r := complex(1, 0)
	for range k {
		r *= b
	}
	return r
}

func apply(name string, a []complex128) complex128 {
	x := a[0]
	switch name {
	case "sin":
		return cmplx.Sin(x)
	case "cos":
		return cmplx.Cos(x)
	case "tan":
		return cmplx.Tan(x)
	case "sec":
		return 1 / cmplx.Cos(x)
	case "csc":
		return 1 / cmplx.Sin(x)
	case "cot":
		return 1 / cmplx.Tan(x)
	case "asin":
		return cmplx.Asin(x)
	case "acos":
		return cmplx.Acos(x)
	case "atan":
		return cmplx.Atan(x)
	case "sinh":
		return cmplx.Sinh(x)
	case "cosh":
		return cmplx.Cosh(x)
	case "tanh":
		return cmplx.Tanh(x)
	case "ln", "log":
		return cmplx.Log(x)
	case "log10":
		return cmplx.Log10(x)
	case "logb":
		return cmplx.Log(a[1]) / cmplx.Log(x)
	case "exp":
		return cmplx.Exp(x)
	case "sqrt":
		return cmplx.Sqrt(x)
	case "abs":
		return complex(cmplx.Abs(x), 0)
	case "fact":
		if imag(x) == 0 && real(x) > -1 && real(x) < 171 {
			return complex(math.Gamma(real(x)+1), 0)
		}
	case "binom":
		n, k := a[0], a[1]
		if imag(n) == 0 && imag(k) == 0 && real(n) < 171 && real(k) > -1 && real(n)-real(k) > -1 {
			return complex(math.Gamma(real(n)+1)/math.Gamma(real(k)+1)/math.Gamma(real(n)-real(k)+1), 0)
		}
	}
	return opaque(name, a)
}

// opaque evaluates a function the evaluator does not know (a sum, a limit,
// gcd) as a fixed smooth function of its name and arguments, so equal
// arguments give equal values and different ones almost surely differ.
func opaque(name string, a []complex128) complex128 {
	h := fnv.New64a()
	h.Write([]byte(name))
	k := h.Sum64()
	v := complex(float64(k%97)/31+0.5, 0)
	for i, x := range a {
		k = splitmix(k + uint64(i))
		w := complex(0.2+float64(k%1000)/1500, 0)
		v += w * cmplx.Sin(w*x+complex(float64(i), 0))
	}
	return v
}
