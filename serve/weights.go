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
	if !s.cfg.AllowRemoteLoad && !fromLoopback(r) {
		return &apiError{status: http.StatusForbidden, code: "remote_load_refused",
			message: "/load_weights/ is served to loopback clients only (start the server with --allow-remote-load to change that)"}
	}
	// One swap at a time; a second is refused rather than queued, so a
	// swap that cannot finish never holds up the ones after it.
	if !s.swapMu.TryLock() {
		return &apiError{status: http.StatusConflict, code: "swap_in_progress", message: "another /load_weights/ is in progress"}
	}
	defer s.swapMu.Unlock()
	// Remote clients learn that loading failed, not which paths exist:
	// the details go to the server's log.
	failed := func(what string, err error) *apiError {
		s.cfg.Log.Printf("load_weights: %s %s: %v", what, req.Path, err)
		if !fromLoopback(r) {
			return invalid("path", "%s the checkpoint failed (details in the server's log); the previous weights are still served", what)
		}
		return invalid("path", "%s path %s: %v (the previous weights are still served)", what, req.Path, err)
	}

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
		return failed("loading", err)
	}
	// Shapes come from the headers: check them before paging anything in.
	if err := s.cfg.Engine.CheckSwap(m); err != nil {
		m.Close()
		return failed("loading", err)
	}
	if err := m.Ready(nil); err != nil {
		m.Close()
		return failed("loading", err)
	}
	loaded := time.Since(start)

	// The swap drains for SwapDrain even if this client leaves: a
	// half-done swap would help nobody.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.SwapDrain)
	defer cancel()
	prev, err := s.cfg.Engine.Swap(ctx, m) // checks the architecture and shapes
	if err != nil {
		m.Close()
		return failed("swapping in", err)
	}
	if err := prev.Close(); err != nil {
		s.cfg.Log.Printf("load_weights: unmapping %s: %v", prev.Path, err)
	}
	s.cfg.Log.Printf("load_weights: now serving %s (loaded in %v, swapped in %v)", m.Path, loaded.Round(time.Millisecond), (time.Since(start) - loaded).Round(time.Millisecond))
	resp := map[string]any{
		"message": "loaded " + req.Path,
		"path":    m.Path,
		"seconds": json.Number(fmt.Sprintf("%.3f", time.Since(start).Seconds())),
	}
	if fromLoopback(r) {
		resp["previous"] = prev.Path // not a path remote clients gave
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
