package engine

import "strings"

// stopMatcher holds back text that might begin a stop string, releases
// the rest, and reports when a stop string is complete. The released text
// (without the stop string) accumulates in text.
type stopMatcher struct {
	stops   []string
	pending string
	text    strings.Builder
}

func newStopMatcher(stops []string) *stopMatcher {
	var s []string
	for _, stop := range stops {
		if stop != "" {
			s = append(s, stop)
		}
	}
	return &stopMatcher{stops: s}
}

// add appends piece and returns the text that can be released and the stop
// string found, if any (then the text before it is released and the rest
// dropped). While not armed (before min_tokens) stop strings are not
// looked for and everything is released.
func (m *stopMatcher) add(piece string, armed bool) (string, string) {
	m.pending += piece
	if !armed {
		return m.flush(""), ""
	}
	cut, hit := len(m.pending), ""
	for _, s := range m.stops {
		if i := strings.Index(m.pending, s); i >= 0 && i < cut {
			cut, hit = i, s
		}
	}
	if hit != "" {
		out := m.pending[:cut]
		m.pending = ""
		m.text.WriteString(out)
		return out, hit
	}
	// Keep the longest suffix that is a proper prefix of some stop string.
	keep := 0
	for _, s := range m.stops {
		for k := min(len(s)-1, len(m.pending)); k > keep; k-- {
			if strings.HasSuffix(m.pending, s[:k]) {
				keep = k
				break
			}
		}
	}
	out := m.pending[:len(m.pending)-keep]
	m.pending = m.pending[len(m.pending)-keep:]
	m.text.WriteString(out)
	return out, ""
}

// flush releases whatever is held back, and extra after it.
func (m *stopMatcher) flush(extra string) string {
	out := m.pending + extra
	m.pending = ""
	m.text.WriteString(out)
	return out
}
