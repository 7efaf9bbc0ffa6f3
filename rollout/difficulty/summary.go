package difficulty

import (
	"fmt"
	"io"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/aha-inference/aha/bench"
	"github.com/aha-inference/aha/rollout"
)

// LevelStats are the problems of one level and each model's mean pass
// rate on them.
type LevelStats struct {
	Level     string             `json:"level"`
	Problems  int                `json:"problems"`
	MeanRates map[string]float64 `json:"mean_pass_rates"`
}

// levelRows are the rows of the summary: each level, then the problems
// in none and the dropped ones.
var levelRows = []string{rollout.L1, rollout.L2, rollout.L3, "none", "dropped"}

// summarizeLevels counts each level's problems and averages each model's
// pass rate over them.
func summarizeLevels(staged []rollout.Staged, names []string) []LevelStats {
	stats := make([]LevelStats, len(levelRows))
	sums := make([][]float64, len(levelRows))
	for i, l := range levelRows {
		stats[i] = LevelStats{Level: l, MeanRates: map[string]float64{}}
		sums[i] = make([]float64, len(names))
	}
	for _, s := range staged {
		rows := s.Levels
		switch {
		case s.Dropped:
			rows = []string{"dropped"}
		case len(rows) == 0:
			rows = []string{"none"}
		}
		for _, l := range rows {
			i := slices.Index(levelRows, l)
			stats[i].Problems++
			for m, r := range s.PassRates {
				sums[i][m] += r
			}
		}
	}
	for i := range stats {
		for m, n := range names {
			if stats[i].Problems > 0 {
				stats[i].MeanRates[n] = sums[i][m] / float64(stats[i].Problems)
			}
		}
	}
	return stats
}

// Print writes the summary as a table: each level's problems and every
// model's mean pass rate on them.
func (s Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "%-8s %8s", "level", "problems")
	for _, n := range s.names {
		fmt.Fprintf(w, " %*s", max(8, len(n)), n)
	}
	fmt.Fprintln(w, "   (mean pass rate per model)")
	for _, l := range s.Levels {
		fmt.Fprintf(w, "%-8s %8d", l.Level, l.Problems)
		for _, n := range s.names {
			if l.Problems == 0 {
				fmt.Fprintf(w, " %*s", max(8, len(n)), "-")
				continue
			}
			fmt.Fprintf(w, " %*.3f", max(8, len(n)), l.MeanRates[n])
		}
		fmt.Fprintln(w)
	}
}

// passRateBins are the bars of the pass-rate histograms: 0 and 1 apart,
// since the level rules turn on them, and fifths in between.
var passRateBins = []string{"0", "<.2", "<.4", "<.6", "<.8", "<1", "1"}

// binPassRate is the bar of pass rate p.
func binPassRate(p float64) int {
	switch {
	case p <= 0:
		return 0
	case p >= 1:
		return len(passRateBins) - 1
	}
	return 1 + min(int(p*5), 4)
}

// plotLevels draws one pass-rate histogram per model and the size of
// each level.
func plotLevels(path string, staged []rollout.Staged, stats []LevelStats, names []string) error {
	var panels []*plot.Plot
	for m, n := range names {
		counts := make(plotter.Values, len(passRateBins))
		for _, s := range staged {
			counts[binPassRate(s.PassRates[m])]++
		}
		p, err := barPanel("pass rate of "+n, "pass rate", counts, passRateBins)
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	sizes := make(plotter.Values, len(stats))
	for i, s := range stats {
		sizes[i] = float64(s.Problems)
	}
	p, err := barPanel("level sizes", "level", sizes, levelRows)
	if err != nil {
		return err
	}
	return bench.WritePNG(path, append(panels, p))
}

func barPanel(title, x string, values plotter.Values, labels []string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = "problems"
	bars, err := plotter.NewBarChart(values, vg.Points(20))
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	p.Add(bars)
	p.NominalX(labels...)
	return p, nil
}
