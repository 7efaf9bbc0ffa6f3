package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the report as aligned text tables: one row per
// throughput figure (median and min–max tokens/s, the comparison and the
// ratio) or per server and load level, then the peak memory.
func WriteTable(w io.Writer, r *Report) error {
	if len(r.Rows) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		vs := ""
		for _, row := range r.Rows {
			if row.Vs != "" && row.Vs != "single" {
				vs = row.Vs
			}
		}
		head := "figure\tprompt\tgen\tdepth\tbatch\taha tok/s\tmin–max\t"
		if vs != "" {
			head += vs + " tok/s\tmin–max\taha/" + vs + "\t"
		}
		fmt.Fprintln(tw, head)
		for _, row := range r.Rows {
			line := fmt.Sprintf("%s\t%s\t%s\t%d\t%d\t%s\t%s\t",
				row.Figure, dash(row.PromptTokens), dash(row.GenTokens), row.Depth, row.Batch, rate(row.TokensPerSec.Median), spread(row.TokensPerSec))
			switch {
			case row.Vs == "single":
				line += fmt.Sprintf("\t\t×%.2f vs single\t", row.Ratio)
			case row.VsTokensPerS != nil:
				line += fmt.Sprintf("%s\t%s\t%.2f\t", rate(row.VsTokensPerS.Median), spread(*row.VsTokensPerS), row.Ratio)
			case vs != "":
				line += "–\t\t\t"
			}
			fmt.Fprintln(tw, line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Serve) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "server\tload\treqs\tfailed\treq/s\tout tok/s\tTTFT ms mean/p50/p90/p99\tTPOT ms\tITL ms\tE2E ms\t")
		for i, s := range r.Serve {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.2f\t%.1f\t%s\t%s\t%s\t%s\t\n", s.Server, loadName(s), s.Requests, s.Failed,
				s.RequestsPerSec, s.OutputTokensPerSec, latency(s.TTFT), latency(s.TPOT), latency(s.ITL), latency(s.E2E))
			// After each vs-url run, the ratio to the url run at the same load.
			if i == 0 || s.Server != "vs-url" || r.Serve[i-1].Server != "url" || loadName(r.Serve[i-1]) != loadName(s) {
				continue
			}
			a := r.Serve[i-1]
			fmt.Fprintf(tw, "url/vs-url\t\t\t\t%s\t%s\t%s\t%s\t%s\t%s\t\n", ratio(a.RequestsPerSec, s.RequestsPerSec),
				ratio(a.OutputTokensPerSec, s.OutputTokensPerSec), latencyRatio(a.TTFT, s.TTFT), latencyRatio(a.TPOT, s.TPOT),
				latencyRatio(a.ITL, s.ITL), latencyRatio(a.E2E, s.E2E))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r.Backend != "" {
		fmt.Fprintf(w, "backend: %s", r.Backend)
		if r.Threads > 0 {
			fmt.Fprintf(w, ", %d threads", r.Threads)
			if r.ThreadsWhy != "" {
				fmt.Fprintf(w, " (%s)", r.ThreadsWhy)
			}
		}
		if r.KVType != "" {
			fmt.Fprintf(w, ", KV cache %s", r.KVType)
		}
		fmt.Fprintln(w)
	}
	if r.PeakRSSBytes > 0 {
		fmt.Fprintf(w, "peak resident memory: aha %s", mib(r.PeakRSSBytes))
		if r.Peer != nil && r.Peer.PeakRSSBytes > 0 {
			fmt.Fprintf(w, ", %s %s", r.Peer.Name, mib(r.Peer.PeakRSSBytes))
		}
		fmt.Fprintln(w)
	}
	if r.Peer != nil && r.Peer.Note != "" {
		fmt.Fprintf(w, "%s: %s\n", r.Peer.Name, r.Peer.Note)
	}
	return nil
}

func dash(n int) string {
	if n == 0 {
		return "–"
	}
	return strconv.Itoa(n)
}

// rate prints tokens/s with three or more significant digits.
func rate(x float64) string {
	switch {
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}

func spread(s Stats) string { return rate(s.Min) + "–" + rate(s.Max) }

func latency(l Latency) string {
	if l.Count == 0 {
		return "–"
	}
	parts := []string{}
	for _, x := range []float64{l.Mean, l.P50, l.P90, l.P99} {
		parts = append(parts, strconv.FormatFloat(x, 'f', 1, 64))
	}
	return strings.Join(parts, "/")
}

func loadName(s ServeRun) string {
	if s.Rate > 0 {
		return fmt.Sprintf("rate %g/s", s.Rate)
	}
	return fmt.Sprintf("conc %d", s.Concurrency)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

func latencyRatio(a, b Latency) string {
	if a.Count == 0 || b.Count == 0 {
		return "–"
	}
	return strings.Join([]string{ratio(a.Mean, b.Mean), ratio(a.P50, b.P50), ratio(a.P90, b.P90), ratio(a.P99, b.P99)}, "/")
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
