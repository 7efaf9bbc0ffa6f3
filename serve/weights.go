package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/aha-inference/aha/model"
)

// loadWeights swaps in a new checkpoint: POST /load_weights/ {"path": DIR}.
//
// The new folder is loaded (its safetensors are memory-mapped) and paged in
// while the old weights keep serving; then running requests get SwapDrain
// to finish, the rest are aborted, the engine switches models and forgets
// its prefix cache, and the old weights are unmapped. On any failure the
// old weights stay and the error says why.
//
// Trainers must write each checkpoint to a new folder (or write it beside
// and rename it into place): rewriting a file that a server has mapped
// changes the weights under running requests and can crash the server
// when the file shrinks.
func (s *Server) loadWeights(w http.ResponseWriter, r *http.Request) *apiError {
	body, _, aerr := readBody(w, r, s.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	var req struct {
		Path string `json:"path"`
	}
	if aerr := decodeInto(body, &req, ""); aerr != nil {
		return aerr
	}
	if req.Path == "" {
		return invalid("path", "path is required: the folder of the new checkpoint")
	}
	s.swapMu.Lock()
	defer s.swapMu.Unlock()

	start := time.Now()
	old := s.cfg.Engine.Model()
	load := s.cfg.LoadWeights
	if load == nil {
		load = func(dir string) (*model.Model, error) {
			m, err := model.LoadHF(dir)
			if err != nil {
				return nil, err
			}
			m.SetBackend(old.Backend())
			return m, nil
		}
	}
	m, err := load(req.Path)
	if err != nil {
		return invalid("path", "loading path %s: %v (the previous weights are still served)", req.Path, err)
	}
	if err := m.Ready(nil); err != nil {
		m.Close()
		return invalid("path", "loading path %s: %v (the previous weights are still served)", req.Path, err)
	}
	loaded := time.Since(start)

	// The swap drains for SwapDrain even if this client leaves: a
	// half-done swap would help nobody.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.SwapDrain)
	defer cancel()
	prev, err := s.cfg.Engine.Swap(ctx, m) // checks the architecture and shapes
	if err != nil {
		m.Close()
		return invalid("path", "swapping in path %s: %v (the previous weights are still served)", req.Path, err)
	}
	if err := prev.Close(); err != nil {
		s.cfg.Log.Printf("load_weights: unmapping %s: %v", prev.Path, err)
	}
	s.cfg.Log.Printf("load_weights: now serving %s (loaded in %v, swapped in %v)", m.Path, loaded.Round(time.Millisecond), (time.Since(start) - loaded).Round(time.Millisecond))
	writeJSON(w, http.StatusOK, map[string]any{
		"message":  "loaded " + req.Path,
		"path":     m.Path,
		"previous": prev.Path,
		"seconds":  json.Number(fmt.Sprintf("%.3f", time.Since(start).Seconds())),
	})
	return nil
}
