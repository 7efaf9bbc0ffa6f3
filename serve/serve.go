package serve

import (
	"context"
	"crypto/subtle"
	"errors"
	"log"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/tokenizer"
	"github.com/aha-inference/aha/tokenizer/template"
)

// Config says what to serve. Engine, Tokenizer and Name are required.
type Config struct {
	Engine    *engine.Engine
	Tokenizer *tokenizer.Tokenizer
	// Name is the model id /v1/models lists; a request that names a model
	// must name this one.
	Name string
	// Chat renders a conversation with the model's chat template (ending
	// with the assistant's turn opened) and tokenizes it, as the loader's
	// Chat does. Nil: the chat endpoints answer 501.
	Chat Chat

	MaxBodyBytes int64 // largest request body (default 32 MiB)
	MaxN         int   // largest n (default 128; keep it within the engine's MaxSeqs)
	MaxPrompts   int   // most prompts or sequences in one request (default 4096)
	MaxLogprobs  int   // most top logprobs per position (default 100, TRL's scoring default)
	// SwapDrain is how long /load_weights/ lets running requests finish
	// before aborting them (default 30 s).
	SwapDrain time.Duration
	// APIKey, when set, must come with every request but /health/ as
	// "Authorization: Bearer KEY" (vLLM's --api-key).
	APIKey string
	// AllowRemoteLoad lets clients other than loopback ones call
	// /load_weights/, which reads any path the server can read.
	AllowRemoteLoad bool
	Log             *log.Logger // default: the standard logger
}

// Chat turns a conversation into prompt tokens; kwargs are extra template
// variables (chat_template_kwargs, tools). *loader.Chat is one.
type Chat interface {
	Prompt(msgs []template.Message, kwargs map[string]any) (ids []int, text string, err error)
}

// Server is the HTTP handler. Its methods are safe for concurrent use.
type Server struct {
	cfg      Config
	routes   map[string]route
	metrics  *metrics
	draining atomic.Bool

	// Model work in flight, so Drain can say when it is over.
	runMu   sync.Mutex
	running int
	idle    chan struct{} // closed when draining and nothing runs
	swapMu  sync.Mutex    // one /load_weights/ at a time
	started time.Time
}

// route is one endpoint. A handler returns an error only while it has
// written nothing; once it has, it reports failures itself.
type route struct {
	method string
	handle func(w http.ResponseWriter, r *http.Request) *apiError
	admits bool // runs model work: refused while draining
}

// New makes the handler.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Engine == nil:
		return nil, errors.New("serve: no engine")
	case cfg.Tokenizer == nil:
		return nil, errors.New("serve: no tokenizer")
	case cfg.Name == "":
		return nil, errors.New("serve: no model name")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	if cfg.MaxN <= 0 {
		cfg.MaxN = 128
	}
	if cfg.MaxPrompts <= 0 {
		cfg.MaxPrompts = 4096
	}
	if cfg.MaxLogprobs <= 0 {
		cfg.MaxLogprobs = 100
	}
	if cfg.SwapDrain <= 0 {
		cfg.SwapDrain = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = log.Default()
	}
	s := &Server{cfg: cfg, metrics: newMetrics(), started: time.Now(), idle: make(chan struct{})}
	// Paths are matched without their trailing slash: TRL's have one,
	// OpenAI's do not, and clients are not always exact.
	s.routes = map[string]route{
		"/v1/models":           {http.MethodGet, s.models, false},
		"/v1/completions":      {http.MethodPost, s.completions, true},
		"/v1/chat/completions": {http.MethodPost, s.chatCompletions, true},

		"/health":                {http.MethodGet, s.health, false},
		"/get_world_size":        {http.MethodGet, s.worldSize, false},
		"/generate":              {http.MethodPost, s.trlGenerate, true},
		"/chat":                  {http.MethodPost, s.trlChat, true},
		"/get_sequence_logprobs": {http.MethodPost, s.sequenceLogprobs, true},
		"/reset_prefix_cache":    {http.MethodPost, s.resetPrefixCache, false},
		"/init_communicator":     {http.MethodPost, s.noCommunicator, false},
		"/update_named_param":    {http.MethodPost, s.noCommunicator, false},
		"/close_communicator":    {http.MethodPost, s.closeCommunicator, false},

		"/load_weights": {http.MethodPost, s.loadWeights, true},
		"/metrics":      {http.MethodGet, s.serveMetrics, false},
	}
	return s, nil
}

// Drain makes the server refuse new model work with 503 and Retry-After
// (and /health/ report it), for a graceful shutdown: requests already
// running go on. The channel it returns is closed once they have all
// finished (or been aborted through the engine).
func (s *Server) Drain() <-chan struct{} {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if !s.draining.Swap(true) && s.running == 0 {
		close(s.idle)
	}
	return s.idle
}

// begin counts a request that runs model work, unless the server is
// draining; end uncounts it.
func (s *Server) begin() bool {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.running++
	return true
}

func (s *Server) end() {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.running--; s.running == 0 && s.draining.Load() {
		close(s.idle)
	}
}

// shuttingDown is the answer to model work while draining: clients that
// retry (TRL's, the OpenAI SDKs) go to another server or try later.
func shuttingDown(w http.ResponseWriter) *apiError {
	w.Header().Set("Retry-After", "5")
	return &apiError{status: http.StatusServiceUnavailable, message: "the server is shutting down"}
}

// ServeHTTP routes a request, counts it, and turns a panic into a 500
// (logged) so that no input can take the server down.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w}
	key := strings.TrimSuffix(r.URL.Path, "/")
	rt, found := s.routes[key]
	label := key
	switch {
	case !found && strings.HasPrefix(key, modelPath):
		// GET /v1/models/{id}; the id may itself hold slashes ("Qwen/Qwen3-8B").
		rt, found, label = route{http.MethodGet, s.model, false}, true, modelPath+"{id}"
	case !found:
		label = "other" // unknown paths must not grow the metric without bound
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.cfg.Log.Printf("panic serving %s %s: %v\n%s", r.Method, r.URL.Path, v, debug.Stack())
			if !rec.wrote {
				writeError(rec, &apiError{status: http.StatusInternalServerError, message: "internal error (logged on the server)"})
			}
		}
		s.metrics.request(label, rec.status)
	}()
	var err *apiError
	switch {
	case key != "/health" && !s.authorized(r):
		rec.Header().Set("WWW-Authenticate", "Bearer")
		err = &apiError{status: http.StatusUnauthorized, code: "invalid_api_key",
			message: "a valid API key is required: send it as Authorization: Bearer KEY"}
	case !found:
		err = &apiError{status: http.StatusNotFound, message: "no endpoint at " + r.URL.Path}
	case r.Method != rt.method && !(r.Method == http.MethodHead && rt.method == http.MethodGet):
		rec.Header().Set("Allow", rt.method)
		err = &apiError{status: http.StatusMethodNotAllowed, message: r.Method + " is not allowed on " + r.URL.Path + "; use " + rt.method}
	case rt.admits && !s.begin():
		err = shuttingDown(rec)
	case rt.admits:
		err = func() *apiError { defer s.end(); return rt.handle(rec, r) }()
	default:
		err = rt.handle(rec, r)
	}
	if err != nil {
		writeError(rec, err)
	}
}

// authorized reports whether r carries the API key, if one is set. The
// comparison takes the same time wherever the keys differ.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.APIKey == "" {
		return true
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.cfg.APIKey)) == 1
}

// fromLoopback reports whether r came over a loopback connection.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// recorder remembers the status written, for the metrics and the panic
// handler, and passes Flush through for streaming.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// limits reads the served model's bounds (they can change with
// /load_weights/).
func (s *Server) limits() limits {
	return limits{
		vocab:       s.cfg.Engine.Model().Config.VocabSize,
		context:     s.cfg.Engine.Context(),
		maxN:        s.cfg.MaxN,
		maxLogprobs: s.cfg.MaxLogprobs,
		tok:         s.cfg.Tokenizer,
	}
}

// checkModel answers 404 when a request names a model other than ours.
func (s *Server) checkModel(name *string) *apiError {
	if name == nil || *name == "" || *name == s.cfg.Name {
		return nil
	}
	return s.unknownModel(*name)
}

// unknownModel is the 404 for a model this server does not serve.
func (s *Server) unknownModel(name string) *apiError {
	return &apiError{status: http.StatusNotFound, param: "model", code: "model_not_found",
		message: "the model " + name + " does not exist here; this server serves " + s.cfg.Name}
}

// tokenize turns prompts into token ids; text gets the tokenizer's special
// tokens (BOS) when addSpecial.
func (s *Server) tokenize(prompts []prompt, addSpecial bool) [][]int {
	ids := make([][]int, len(prompts))
	for i, p := range prompts {
		if p.isText {
			ids[i] = s.cfg.Tokenizer.Encode(p.text, addSpecial)
		} else {
			ids[i] = p.ids
		}
	}
	return ids
}

// generate runs one engine request and records its metrics. A nil error
// with a partial output means emit failed (the client went away).
func (s *Server) generate(ctx context.Context, req engine.Request, emit func(engine.Event) error) (*engine.Output, *apiError) {
	out, err := s.cfg.Engine.Generate(ctx, req, emit)
	if err != nil && out == nil {
		return nil, s.engineError(err)
	}
	s.metrics.observe(out)
	return out, nil
}

// statusClientClosed is nginx's status for a request whose client left.
const statusClientClosed = 499

// engineError maps an engine failure to a response. Requests are checked
// before they reach the engine, so what remains is a request too large for
// the KV cache, shutdown, a scoring request a swap or shutdown aborted, or
// a bug.
func (s *Server) engineError(err error) *apiError {
	switch {
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this.
		return &apiError{status: statusClientClosed, message: "the request was cancelled"}
	case errors.Is(err, engine.ErrClosed):
		return &apiError{status: http.StatusServiceUnavailable, message: "the server is shutting down"}
	case errors.Is(err, engine.ErrAborted):
		return s.aborted()
	case errors.Is(err, engine.ErrInvalid):
		return refused(err)
	case errors.Is(err, model.ErrCacheFull):
		return invalid("n", "the request needs more KV cache than the server has: %v", err)
	}
	s.cfg.Log.Printf("engine error: %v", err)
	return &apiError{status: http.StatusInternalServerError, message: err.Error()}
}

// aborted is the error for a request the engine aborted while the client
// was still waiting: a weight swap's drain ran out, or the server is
// shutting down. Both are worth retrying.
func (s *Server) aborted() *apiError {
	msg := "a weight swap (/load_weights/) aborted the request before it finished; retry it: it will run on the new weights"
	if s.draining.Load() {
		msg = "the server is shutting down and aborted the request before it finished; retry it on a running server"
	}
	return &apiError{status: http.StatusServiceUnavailable, code: "request_aborted", message: msg}
}

// runAll runs reqs concurrently (the engine batches them) and returns
// their outputs in order. The first failure cancels the rest.
func (s *Server) runAll(ctx context.Context, reqs []engine.Request, emit func(i int, ev engine.Event) error) ([]*engine.Output, *apiError) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	outs := make([]*engine.Output, len(reqs))
	errs := make([]*apiError, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var fn func(engine.Event) error
			if emit != nil {
				fn = func(ev engine.Event) error { return emit(i, ev) }
			}
			if outs[i], errs[i] = s.generate(ctx, req, fn); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return outs, nil
}
