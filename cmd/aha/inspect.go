package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/aha-inference/aha/inspect"
	"github.com/aha-inference/aha/model"
)

func init() {
	register("inspect", "show a checkpoint's architecture, config, tokenizer and tensors", runInspect)
}

func runInspect(args []string) error {
	fs := newFlags("inspect", "[PATH] [--json]   (PATH: a GGUF file or HF folder; none = the embedded stories260K)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("inspect takes one path, got %d", len(pos))
	}
	path := ""
	if len(pos) == 1 {
		path = pos[0]
	}
	s, err := inspect.Inspect(path)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	return printSummary(os.Stdout, s)
}

func printSummary(out io.Writer, s *inspect.Summary) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(name string, format string, args ...any) {
		fmt.Fprintf(w, "  %s\t"+format+"\n", append([]any{name}, args...)...)
	}
	fmt.Fprintf(w, "%s (%s)\n", s.Path, s.Format)
	fmt.Fprintf(w, "architecture %s\n", s.Architecture)
	if c := s.Config; c != nil {
		fmt.Fprintln(w, "config")
		row("vocab size", "%d", c.VocabSize)
		row("hidden size", "%d", c.Hidden)
		row("layers", "%d", c.Layers)
		row("heads", "%d (%d KV heads, head dim %d)", c.Heads, c.KVHeads, c.HeadDim)
		row("intermediate size", "%d", c.Intermediate)
		row("max positions", "%d", c.MaxPositions)
		row("tied embeddings", "%v", c.TiedEmbeddings)
		row("attention bias", "%v", c.AttentionBias)
		row("qk norm", "%v", c.QKNorm)
		row("rms norm eps", "%g", c.NormEps)
		row("rope", "theta %g, %s layout", c.RopeTheta, s.RopeLayout)
		if r := c.RopeScaling; r != nil {
			row("rope scaling", "%s: factor %g, low/high freq factor %g/%g, original max positions %d",
				r.Type, r.Factor, r.LowFreqFactor, r.HighFreqFactor, r.OriginalMaxPositions)
		}
		row("BOS / EOS", "%s / %v", idOrNone(c.BOS), c.EOS)
		if g := generationString(c.Generation); g != "" {
			row("generation", "%s (recommended; applied only with --generation-config)", g)
		}
	} else {
		fmt.Fprintf(w, "config: %s\n", s.ConfigError)
	}

	t := s.Tokenizer
	switch {
	case t.Error != "":
		fmt.Fprintf(w, "tokenizer: %s\n", t.Error)
	case t.Model == "":
		fmt.Fprintln(w, "tokenizer: none")
	default:
		fmt.Fprintln(w, "tokenizer")
		kind := t.Model
		if t.Pre != "" {
			kind += ", pre-tokenizer " + t.Pre
		}
		row("model", "%s", kind)
		row("tokens", "%d (%d merges)", t.Tokens, t.Merges)
		row("BOS / EOS / EOT", "%s / %s / %s", ptrOrNone(t.BOS), ptrOrNone(t.EOS), ptrOrNone(t.EOT))
		if t.AddBOS != nil {
			row("adds BOS", "%v", *t.AddBOS)
		}
		row("chat template", "%v", t.ChatTemplate)
	}

	fmt.Fprintln(w, "tensors")
	fmt.Fprintln(w, "  name\ttype\tshape\tbytes")
	for _, t := range s.Tensors {
		dims := make([]string, len(t.Shape))
		for i, d := range t.Shape {
			dims[i] = fmt.Sprint(d)
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", t.Name, t.Type, strings.Join(dims, "×"), thousands(t.Bytes))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	tot := s.Totals
	_, err := fmt.Fprintf(out, "%d tensors, %s parameters, %s bytes (%.1f MiB)\n",
		tot.Tensors, thousands(tot.Parameters), thousands(tot.Bytes), float64(tot.Bytes)/(1<<20))
	return err
}

func idOrNone(id int) string {
	if id < 0 {
		return "none"
	}
	return fmt.Sprint(id)
}

func ptrOrNone(id *int) string {
	if id == nil {
		return "none"
	}
	return fmt.Sprint(*id)
}

func generationString(g model.GenerationConfig) string {
	var parts []string
	if g.Temperature != nil {
		parts = append(parts, fmt.Sprintf("temperature %g", *g.Temperature))
	}
	if g.TopP != nil {
		parts = append(parts, fmt.Sprintf("top_p %g", *g.TopP))
	}
	if g.TopK != nil {
		parts = append(parts, fmt.Sprintf("top_k %d", *g.TopK))
	}
	if g.RepetitionPenalty != nil {
		parts = append(parts, fmt.Sprintf("repetition_penalty %g", *g.RepetitionPenalty))
	}
	return strings.Join(parts, ", ")
}

// thousands writes n with comma separators.
func thousands(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
