// Package progress draws a progress bar on a terminal for long work
// (loading weights, writing models, rollouts, benchmarks). When the output
// is not a terminal it stays silent, so logs and test output hold only
// results.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar is a progress bar over a known total. It is safe for concurrent use.
type Bar struct {
	mu      sync.Mutex
	w       io.Writer
	label   string
	total   int64
	done    int64
	start   time.Time
	drawn   time.Time
	enabled bool
	info    string
}

// New starts a bar on w labelled label; it draws only if w is a terminal.
func New(w io.Writer, label string, total int64) *Bar {
	return &Bar{w: w, label: label, total: total, start: time.Now(), enabled: isTerminal(w)}
}

// Add records n more units done and redraws at most ten times a second.
func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if b.enabled && time.Since(b.drawn) >= 100*time.Millisecond {
		b.draw()
	}
}

// SetInfo sets text drawn after the bar, such as rates and running means.
func (b *Bar) SetInfo(info string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.info = info
}

// Finish draws the bar complete and ends its line.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.enabled {
		b.done = b.total
		b.draw()
		fmt.Fprintln(b.w)
	}
}

func (b *Bar) draw() {
	b.drawn = time.Now()
	frac := 1.0
	if b.total > 0 {
		frac = min(float64(b.done)/float64(b.total), 1)
	}
	const width = 30
	filled := int(frac * width)
	elapsed := time.Since(b.start)
	line := fmt.Sprintf("\r%s [%s%s] %3.0f%% %v", b.label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		100*frac, elapsed.Round(100*time.Millisecond))
	if frac > 0 && frac < 1 {
		line += fmt.Sprintf(" ETA %v", time.Duration(float64(elapsed)*(1-frac)/frac).Round(time.Second))
	}
	if b.info != "" {
		line += " " + b.info
	}
	// Clear what a longer previous line left behind.
	fmt.Fprint(b.w, line+"\x1b[K")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
