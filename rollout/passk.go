package rollout

// PassAtK is the unbiased estimator of pass@k from n samples of which c
// are correct (Chen et al. 2021, "Evaluating Large Language Models Trained
// on Code"): 1 − C(n−c, k)/C(n, k), the chance that k samples drawn
// without replacement include a correct one, computed as a product to stay
// exact for large n. It is 0 for k > n, where nothing can be estimated.
func PassAtK(n, c, k int) float64 {
	if k > n || k < 1 {
		return 0
	}
	if n-c < k {
		return 1
	}
	fail := 1.0
	for i := n - c + 1; i <= n; i++ {
		fail *= 1 - float64(k)/float64(i)
	}
	return 1 - fail
}
