package merge

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// The expected vectors below are worked out by hand from each method's
// definition; their values are exact in float32.
func TestMethods(t *testing.T) {
	r := float32(math.Sqrt2 / 2)
	// Three task vectors over a base of ones, for TIES (see TestTIESSteps).
	base := []float32{1, 1, 1, 1}
	tvs := [][]float32{{5, 0, 1.5, -2}, {-1, 4, 2, 0}, {4, -4, 3, 1.1}}
	three := float32(3) // a variable, so that 3.5/3 is rounded as float32 arithmetic rounds it
	for _, tc := range []struct {
		name   string
		recipe Recipe
		base   []float32
		models [][]float32
		want   []float32
	}{
		{"linear normalized", Recipe{Method: "linear", Weights: []float32{1, 3}, Normalize: true},
			nil, [][]float32{{1, 2}, {3, 4}}, []float32{2.5, 3.5}},
		{"linear", Recipe{Method: "linear", Weights: []float32{1, 3}},
			nil, [][]float32{{1, 2}, {3, 4}}, []float32{10, 14}},
		{"linear one model", Recipe{Method: "linear", Weights: []float32{0.5}, Normalize: true},
			nil, [][]float32{{-7, 0.25}}, []float32{-7, 0.25}},
		{"task arithmetic", Recipe{Method: "task_arithmetic", Weights: []float32{1, 0.5}},
			[]float32{1, 1}, [][]float32{{2, 0}, {3, 3}}, []float32{3, 1}},
		{"task arithmetic normalized", Recipe{Method: "task_arithmetic", Weights: []float32{1, 3}, Normalize: true},
			[]float32{1, 1}, [][]float32{{2, 0}, {3, 5}}, []float32{2.75, 3.75}},
		// Trimmed to two of four: {4,0,0,-3}, {-2,3,0,0}, {3,-5,0,0}.
		// Mass {5,-2,0,-3}: signs +,−,0,−. Agreeing: {4,3}, {-5}, none, {-3}.
		{"ties", Recipe{Method: "ties", Weights: []float32{1, 1, 1}, Density: 0.5, Normalize: true},
			base, tvs, []float32{1 + 3.5, 1 - 5, 1, 1 - 3}},
		{"ties without normalize", Recipe{Method: "ties", Weights: []float32{1, 1, 1}, Density: 0.5},
			base, tvs, []float32{1 + 7, 1 - 5, 1, 1 - 3}},
		// Weighted {4,0,0,-3}, {-4,6,0,0}, {3,-5,0,0}: mass {3,1,0,-3},
		// so model 2 now wins element 1.
		{"ties weighted", Recipe{Method: "ties", Weights: []float32{1, 2, 1}, Density: 0.5, Normalize: true},
			base, tvs, []float32{1 + 3.5, 1 + 3, 1, 1 - 3}},
		// Untrimmed, signs +,−,+,−: agreeing {4,3}, {-1,-5}, all three, {-3,-1}.
		{"ties density 1", Recipe{Method: "ties", Weights: []float32{1, 1, 1}, Density: 1, Normalize: true},
			base, tvs, []float32{1 + 3.5, 1 - 3, 1 + 3.5/three, 1 - 2}},
		// Equal magnitudes: the lower indices are kept.
		{"ties ties", Recipe{Method: "ties", Weights: []float32{1}, Density: 0.5, Normalize: true},
			[]float32{0, 0, 0, 0}, [][]float32{{1, -1, 1, -1}}, []float32{1, -1, 0, 0}},
		{"slerp midpoint", Recipe{Method: "slerp", Weights: []float32{1}, T: 0.5},
			[]float32{1, 0}, [][]float32{{0, 1}}, []float32{r, r}},
		{"slerp t=0", Recipe{Method: "slerp", Weights: []float32{1}, T: 0},
			[]float32{1, 0}, [][]float32{{0, 1}}, []float32{1, 0}},
		{"slerp t=1", Recipe{Method: "slerp", Weights: []float32{1}, T: 1},
			[]float32{1, 0}, [][]float32{{0, 1}}, []float32{0, 1}},
		{"slerp parallel is linear", Recipe{Method: "slerp", Weights: []float32{1}, T: 0.25},
			[]float32{1, 2}, [][]float32{{2, 4}}, []float32{1.25, 2.5}},
		{"slerp from zero is linear", Recipe{Method: "slerp", Weights: []float32{1}, T: 0.5},
			[]float32{0, 0}, [][]float32{{1, 3}}, []float32{0.5, 1.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.recipe.Check(len(tc.models)); err != nil {
				t.Fatal(err)
			}
			dst := make([]float32, len(tc.want))
			tc.recipe.Merge(dst, tc.base, tc.models)
			if tc.recipe.Method == "slerp" {
				// sin(π/4) is not exact; compare within float32 rounding.
				for j := range dst {
					if math.Abs(float64(dst[j]-tc.want[j])) > 1e-6 {
						t.Fatalf("got %v, want %v", dst, tc.want)
					}
				}
				return
			}
			if !slices.Equal(dst, tc.want) {
				t.Fatalf("got %v, want %v", dst, tc.want)
			}
		})
	}
}

// TestTIESSteps: the task vectors of TestMethods' TIES cases, step by step.
func TestTIESSteps(t *testing.T) {
	base := []float32{1, 1, 1, 1}
	tvs := [][]float32{{5, 0, 1.5, -2}, {-1, 4, 2, 0}, {4, -4, 3, 1.1}}
	// Task vectors: {4,-1,0.5,-3}, {-2,3,1,-1}, {3,-5,2,0.1}.
	// Trimmed to the two largest magnitudes each: each alone through TIES
	// (one model, density 0.5) is its trimmed vector.
	trimmed := [][]float32{{4, 0, 0, -3}, {-2, 3, 0, 0}, {3, -5, 0, 0}}
	for i, x := range tvs {
		dst := make([]float32, 4)
		TIES(dst, base, [][]float32{x}, []float32{1}, 0.5, true)
		for j := range dst {
			if dst[j]-base[j] != trimmed[i][j] {
				t.Fatalf("model %d trimmed to %v, want %v", i, dst, trimmed[i])
			}
		}
	}
}

func TestKthLargest(t *testing.T) {
	v := []float32{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}
	sorted := slices.Clone(v)
	slices.Sort(sorted)
	slices.Reverse(sorted)
	for k := 1; k <= len(v); k++ {
		if got := kthLargest(slices.Clone(v), k); got != sorted[k-1] {
			t.Errorf("k=%d: %v, want %v", k, got, sorted[k-1])
		}
	}
}

func TestRecipeCheck(t *testing.T) {
	for _, tc := range []struct {
		r      Recipe
		models int
		want   string
	}{
		{Recipe{Method: "dare"}, 1, `unknown merge method "dare"`},
		{Recipe{Method: "linear", Weights: []float32{1}}, 2, "1 weights for 2 models"},
		{Recipe{Method: "linear", Weights: []float32{1, -1}, Normalize: true}, 2, "sum to 0"},
		{Recipe{Method: "ties", Weights: []float32{1}, Density: 0}, 1, "density 0 is not in (0, 1]"},
		{Recipe{Method: "slerp", Weights: []float32{1, 1}, T: 0.5}, 2, "not 2"},
		{Recipe{Method: "slerp", Weights: []float32{1}, T: 2}, 1, "t 2 is not in [0, 1]"},
	} {
		err := tc.r.Check(tc.models)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.r, err, tc.want)
		}
	}
}
