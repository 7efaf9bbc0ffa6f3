package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestSilentWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "load", 10)
	b.Add(5)
	b.Finish()
	if buf.Len() != 0 {
		t.Errorf("drew %q on a buffer", buf.String())
	}
}

func TestDraws(t *testing.T) {
	var buf bytes.Buffer
	b := &Bar{w: &buf, label: "load", total: 4, enabled: true}
	b.SetInfo("3.5 samples/s")
	b.Add(1)
	b.Finish()
	out := buf.String()
	if !strings.Contains(out, "load [") || !strings.Contains(out, " 25%") || !strings.HasSuffix(out, "\n") || !strings.Contains(out, "100%") ||
		!strings.Contains(out, " ETA ") || !strings.Contains(out, "3.5 samples/s") {
		t.Errorf("drew %q", out)
	}
	if isTerminal(os.NewFile(^uintptr(0), "bad")) {
		t.Error("an invalid file counted as a terminal")
	}
}
