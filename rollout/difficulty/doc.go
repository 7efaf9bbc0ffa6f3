// Package difficulty rates problems by rollouts, as aha difficulty does:
// each model's pass rate on every problem, and with several models the
// levels of difficulty-aware staged RL (rollout.Levels has the rules),
// written as training files in the data set's own layout, a summary and
// a plot.
package difficulty
