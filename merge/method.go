package merge

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Methods lists the merge methods by name.
var Methods = []string{"linear", "task_arithmetic", "ties", "slerp"}

// Recipe is a merge: its method, one weight per model and the method's
// parameters.
type Recipe struct {
	Method  string
	Weights []float32 // one per model
	// Normalize divides the weighted sum by the sum of the weights (for
	// TIES, of the weights of the models that agree with the elected sign).
	Normalize bool
	Density   float32 // TIES: the fraction of each task vector kept
	T         float32 // slerp: 0 gives the base, 1 the model
}

// DefaultNormalize is mergekit's default for a method's normalize: on for
// linear and TIES, off for task arithmetic.
func DefaultNormalize(method string) bool { return method == "linear" || method == "ties" }

// NeedsBase reports whether the method works on differences from a base.
func NeedsBase(method string) bool { return method != "linear" }

// Check validates the recipe for models input models.
func (r *Recipe) Check(models int) error {
	if !slices.Contains(Methods, r.Method) {
		return fmt.Errorf("unknown merge method %q (known: %s)", r.Method, strings.Join(Methods, ", "))
	}
	if len(r.Weights) != models {
		return fmt.Errorf("%d weights for %d models", len(r.Weights), models)
	}
	switch r.Method {
	case "linear":
		if models < 1 {
			return errors.New("linear needs at least one model")
		}
		if r.Normalize && sum(r.Weights) == 0 {
			return errors.New("linear with normalize: the weights sum to 0")
		}
	case "task_arithmetic", "ties":
		if models < 1 {
			return fmt.Errorf("%s needs at least one model besides the base", r.Method)
		}
		if r.Method == "ties" && !(r.Density > 0 && r.Density <= 1) {
			return fmt.Errorf("ties: density %v is not in (0, 1]", r.Density)
		}
	case "slerp":
		if models != 1 {
			return fmt.Errorf("slerp interpolates the base and one model, not %d", models)
		}
		if !(r.T >= 0 && r.T <= 1) {
			return fmt.Errorf("slerp: t %v is not in [0, 1]", r.T)
		}
	}
	return nil
}

// Elementwise reports whether each output element depends only on the same
// element of the inputs, so that a tensor can be merged a piece at a time.
// TIES (which trims by the magnitude ranking of a whole tensor) and slerp
// (which uses the angle between whole tensors) cannot.
func (r *Recipe) Elementwise() bool { return r.Method == "linear" || r.Method == "task_arithmetic" }

// Merge writes the merge of models (and base, nil for linear) into dst.
// Every slice has dst's length. Call Check first.
func (r *Recipe) Merge(dst, base []float32, models [][]float32) {
	switch r.Method {
	case "linear":
		Linear(dst, models, r.Weights, r.Normalize)
	case "task_arithmetic":
		TaskArithmetic(dst, base, models, r.Weights, r.Normalize)
	case "ties":
		TIES(dst, base, models, r.Weights, r.Density, r.Normalize)
	case "slerp":
		Slerp(dst, base, models[0], r.T)
	}
}

// sum adds in float32, in order.
func sum(w []float32) float32 {
	var s float32
	for _, x := range w {
		s += x
	}
	return s
}

// Linear is the weighted average: dst = Σ wᵢ·xᵢ, divided by Σ wᵢ when
// normalize is set. The products are rounded to float32 before they are
// added, in model order (no fused multiply-add), and the sum of the
// weights is a float32 sum in the same order.
func Linear(dst []float32, models [][]float32, weights []float32, normalize bool) {
	clear(dst)
	for i, x := range models {
		w := weights[i]
		for j, v := range x {
			dst[j] += float32(w * v)
		}
	}
	if normalize {
		s := sum(weights)
		for j := range dst {
			dst[j] /= s
		}
	}
}

// TaskArithmetic adds the weighted task vectors (each model minus the
// base) to the base: dst = base + Σ wᵢ·(xᵢ − base), the sum divided by
// Σ wᵢ when normalize is set. Differences and products are float32, added
// in model order.
func TaskArithmetic(dst, base []float32, models [][]float32, weights []float32, normalize bool) {
	clear(dst)
	for i, x := range models {
		w := weights[i]
		for j, v := range x {
			dst[j] += float32(w * (v - base[j]))
		}
	}
	s := sum(weights)
	for j := range dst {
		if normalize && s != 0 {
			dst[j] /= s
		}
		dst[j] += base[j]
	}
}

// TIES merges task vectors as Yadav et al. (2023) do, in three steps:
//
//  1. Trim: of each task vector δᵢ = xᵢ − base keep the ⌊density·n⌋
//     elements of largest magnitude (ties go to the lower index) and set the
//     rest to zero.
//  2. Elect sign: for each element, the sign of Σ wᵢ·δᵢ over the trimmed
//     vectors — the sign with the greater total mass.
//  3. Disjoint merge: add wᵢ·δᵢ over the models whose trimmed element has
//     the elected sign; with normalize (the paper's mean), divide by the
//     sum of those models' weights (by 1 where it is below 1e-8 in
//     magnitude, as mergekit does).
//
// dst = base + the merged vector. With all weights 1 and normalize this is
// the paper's method with λ = 1; weights and normalize follow mergekit.
func TIES(dst, base []float32, models [][]float32, weights []float32, density float32, normalize bool) {
	n := len(dst)
	k := int(float64(density) * float64(n))
	// Each model keeps its elements above a threshold, and the first
	// `equal` of those at it.
	type trim struct {
		threshold float32
		equal     int
	}
	trims := make([]trim, len(models))
	mags := make([]float32, n)
	for i, x := range models {
		for j, v := range x {
			mags[j] = abs(v - base[j])
		}
		trims[i] = trim{float32(math.Inf(1)), 0}
		if k > 0 {
			t := kthLargest(mags, k)
			above := 0
			for j, v := range x {
				if abs(v-base[j]) > t {
					above++
				}
			}
			trims[i] = trim{t, k - above}
		}
	}
	delta := make([]float32, len(models)) // element j's trimmed, weighted deltas
	for j := range n {
		var mass float32
		for i, x := range models {
			d := x[j] - base[j]
			m := abs(d)
			switch {
			case m > trims[i].threshold:
			case m == trims[i].threshold && trims[i].equal > 0:
				trims[i].equal--
			default:
				d = 0
			}
			delta[i] = float32(weights[i] * d)
			mass += delta[i]
		}
		sign := sgn(mass)
		var merged, divisor float32
		for i, d := range delta {
			if sgn(d) == sign {
				merged += d
				divisor += weights[i]
			}
		}
		if normalize {
			if abs(divisor) < 1e-8 {
				divisor = 1
			}
			merged /= divisor
		}
		dst[j] = base[j] + merged
	}
}

// kthLargest returns the k-th largest value of v (1 ≤ k ≤ len(v)),
// reordering v.
func kthLargest(v []float32, k int) float32 {
	// Quickselect for index k-1 of the descending order.
	lo, hi, want := 0, len(v)-1, k-1
	for lo < hi {
		pivot := v[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for v[i] > pivot {
				i++
			}
			for v[j] < pivot {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case want <= j:
			hi = j
		case want >= i:
			lo = i
		default:
			return v[want]
		}
	}
	return v[want]
}

// Slerp interpolates spherically between a (t = 0) and b (t = 1), each
// tensor taken as one vector: with θ the angle between them,
// dst = sin((1−t)θ)/sin θ · a + sin(tθ)/sin θ · b. Where the vectors are
// nearly parallel (|cos θ| > 0.9995, as mergekit) or either is zero, it
// interpolates linearly: dst = (1−t)·a + t·b. The norms, the angle and the
// two coefficients are float64; each coefficient is rounded to float32 and
// dst = float32(c₀·a) + float32(c₁·b).
func Slerp(dst, a, b []float32, t float32) {
	var dot, na, nb float64
	for j := range a {
		x, y := float64(a[j]), float64(b[j])
		dot += x * y
		na += x * x
		nb += y * y
	}
	c0, c1 := 1-float64(t), float64(t)
	if na > 0 && nb > 0 {
		cos := dot / math.Sqrt(na*nb)
		if math.Abs(cos) <= 0.9995 {
			theta := math.Acos(cos)
			s := math.Sin(theta)
			c0, c1 = math.Sin((1-float64(t))*theta)/s, math.Sin(float64(t)*theta)/s
		}
	}
	w0, w1 := float32(c0), float32(c1)
	for j := range dst {
		dst[j] = float32(w0*a[j]) + float32(w1*b[j])
	}
}

func abs(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

func sgn(x float32) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}
