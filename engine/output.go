package engine

import (
	"slices"
	"strings"
)

// Decoder turns generated ids into text incrementally without splitting a
// UTF-8 character (the tokenizer's streaming decoder).
type Decoder interface {
	Add(id int) string
	Flush() string
}

// output turns one sample's tokens into what the caller sees: it
// detokenizes them, finds stop ids and stop strings, and ends the sample
// at its length limit.
type output struct {
	stopIDs     []int // the request's StopIDs and, unless IgnoreEOS, the model's EOS ids
	minTokens   int   // stop ids and stop strings apply from this many tokens on
	maxTokens   int   // the request's MaxTokens within the context
	includeStop bool
	dec         Decoder // nil: no text
	stop        stopMatcher
	n           int // tokens added
}

// newOutput starts the output of one sample of req.
func (e *Engine) newOutput(req Request, stopIDs []int, maxTokens int) *output {
	o := &output{stopIDs: stopIDs, minTokens: req.MinTokens, maxTokens: maxTokens, includeStop: req.IncludeStop, stop: newStopMatcher(req.Stop)}
	if e.opts.NewDecoder != nil {
		o.dec = e.opts.NewDecoder(req.Prompt)
	}
	return o
}

// add takes the next token and returns the text it releases and, when it
// ends the sample, why.
func (o *output) add(id int) (text, finish string) {
	o.n++
	armed := o.n >= o.minTokens
	if armed && slices.Contains(o.stopIDs, id) {
		// The stop token's text is not part of the output.
		return o.flush(), FinishStop
	}
	var piece string
	if o.dec != nil {
		piece = o.dec.Add(id)
	}
	text, hit := o.stop.add(piece, armed)
	switch {
	case hit != "":
		if o.includeStop {
			text += hit
			o.stop.text.WriteString(hit)
		}
		return text, FinishStop
	case o.n >= o.maxTokens:
		return text + o.flush(), FinishLength
	}
	return text, ""
}

// flush releases the text the decoder and the stop matcher hold back.
func (o *output) flush() string {
	var tail string
	if o.dec != nil {
		tail = o.dec.Flush()
	}
	return o.stop.flush(tail)
}

// text is everything released so far.
func (o *output) text() string { return o.stop.text.String() }

// stopMatcher holds back text that might begin a stop string, releases
// the rest, and reports when a stop string is complete. The released text
// (without the stop string) accumulates in text.
type stopMatcher struct {
	stops   []string
	pending string
	text    strings.Builder
}

func newStopMatcher(stops []string) stopMatcher {
	var s []string
	for _, stop := range stops {
		if stop != "" {
			s = append(s, stop)
		}
	}
	return stopMatcher{stops: s}
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

// stopIDsFor lists the tokens that end a sample of req.
func (e *Engine) stopIDsFor(req Request) []int {
	ids := slices.Clone(req.StopIDs)
	if !req.IgnoreEOS {
		ids = append(ids, e.m.Config.EOS...)
	}
	return ids
}
