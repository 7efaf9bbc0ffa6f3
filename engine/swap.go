package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/aha-inference/aha/model"
)

// Swap replaces the model with m, which must have the same architecture
// and shapes. Running requests may finish until ctx ends; the rest are
// aborted. The prefix cache is reset (its keys and values came from the
// old weights). It returns the old model for the caller to close.
func (e *Engine) Swap(ctx context.Context, m *model.Model) (*model.Model, error) {
	old := e.Model()
	if err := e.CheckSwap(m); err != nil {
		return nil, err
	}
	var err error
	e.run(func() {
		// New requests wait in the queue meanwhile: step admits none.
		for len(e.active) > 0 && ctx.Err() == nil {
			e.step(false)
		}
		for _, r := range slices.Clone(e.active) {
			e.abort(r)
		}
		e.prefix.reset()
		err = e.setModel(m)
	})
	if err != nil {
		return nil, fmt.Errorf("swap weights: %w", err)
	}
	return old, nil
}

// CheckSwap says whether Swap would take m: the same architecture and
// shapes as the served model. Call it before paging m in.
func (e *Engine) CheckSwap(m *model.Model) error {
	if err := sameShape(&e.Model().Config, &m.Config); err != nil {
		return fmt.Errorf("swap weights: %w", err)
	}
	return nil
}

func sameShape(a, b *model.Config) error {
	type shape struct {
		arch                                                   string
		vocab, hidden, layers, heads, kvHeads, headDim, interm int
	}
	sa := shape{a.Architecture, a.VocabSize, a.Hidden, a.Layers, a.Heads, a.KVHeads, a.HeadDim, a.Intermediate}
	sb := shape{b.Architecture, b.VocabSize, b.Hidden, b.Layers, b.Heads, b.KVHeads, b.HeadDim, b.Intermediate}
	if sa != sb {
		return fmt.Errorf("the new model's shape %+v differs from the served one's %+v", sb, sa)
	}
	return nil
}
