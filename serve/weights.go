package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/aha-inference/aha/loader"
	"github.com/aha-inference/aha/model"
)

// loadWeights swaps in a new checkpoint: POST /load_weights/ {"path": DIR}.
//
// DIR is a Hugging Face folder, or a PEFT LoRA adapter (a folder with
// adapter_config.json). An adapter is folded into the base: the last full
// checkpoint loaded (at the start, the one the server was started with),
// never on top of the adapter served before it, so each adapter a trainer
// sends is the whole difference from the base, and any adapter served
// earlier (serve --lora's too) is replaced. Only the adapted matrices are
// new, computed in memory as merge.LoRA computes them; every other is the
// base's, still mapped and prepared. The adapter is checked against the
// base (target modules, names, shapes) before anything is computed.
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
	m, err := loader.Checkpoint(old, req.Path)
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
	// Unmap what the new model does not use: the old one unless it is the
	// new one's base, and the old one's base unless it still is the base.
	// (Closing a model with an adapter folded in unmaps nothing.)
	for _, done := range []*model.Model{prev, prev.Base()} {
		if done != m.Base() {
			if err := done.Close(); err != nil {
				s.cfg.Log.Printf("load_weights: unmapping %s: %v", done.Path, err)
			}
		}
	}
	serving := m.Path
	if m.Adapter != "" {
		serving += " with the adapter " + m.Adapter
	}
	s.cfg.Log.Printf("load_weights: now serving %s (loaded in %v, swapped in %v)", serving, loaded.Round(time.Millisecond), (time.Since(start) - loaded).Round(time.Millisecond))
	resp := map[string]any{
		"message": "loaded " + req.Path,
		"path":    m.Path,
		"seconds": json.Number(fmt.Sprintf("%.3f", time.Since(start).Seconds())),
	}
	if m.Adapter != "" {
		resp["adapter"] = m.Adapter
	}
	if fromLoopback(r) {
		resp["previous"] = prev.Path // not a path remote clients gave
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
