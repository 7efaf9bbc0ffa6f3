package main

import (
	"context"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aha-inference/aha/loader"
	"github.com/aha-inference/aha/model/builtin"
	"github.com/aha-inference/aha/serve"
	"golang.org/x/net/netutil"
)

func init() {
	register("serve", "serve the OpenAI API and TRL's vllm-serve endpoints over HTTP", runServe)
}

func runServe(args []string) error {
	fs := newFlags("serve", "[-m MODEL] [--host 127.0.0.1] [--port 8000] [flags]")
	modelPath := fs.String("m", "", "model: a GGUF file or a Hugging Face folder (default: the embedded stories260K)")
	lora := fs.String("lora", "", "a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) to fold into the model's weights at load, in memory, as aha merge --lora would; adapters sent to /load_weights/ replace it")
	host := fs.String("host", "127.0.0.1", "address to listen on: loopback by default, 0.0.0.0 for every interface")
	port := fs.Int("port", 8000, "port to listen on (0: any free port)")
	name := fs.String("served-model-name", "", "model id of the API (default: the model's file or folder name)")
	templateFile := fs.String("template", "", "chat template file overriding the model's")
	maxN := fs.Int("max-n", 128, "largest n one request may ask for (at most --max-seqs)")
	maxBody := fs.Int64("max-body-bytes", 32<<20, "largest request body")
	swapDrain := fs.Duration("swap-drain", 30*time.Second, "how long /load_weights/ lets running requests finish before aborting them")
	grace := fs.Duration("shutdown-timeout", 30*time.Second, "on SIGTERM or Ctrl-C, how long running requests may finish before they are aborted")
	apiKey := fs.String("api-key", os.Getenv("AHA_API_KEY"), "require Authorization: Bearer KEY on every endpoint but /health/ (default $AHA_API_KEY)")
	allowRemoteLoad := fs.Bool("allow-remote-load", false, "let non-loopback clients call /load_weights/, which reads any path the server can read")
	readTimeout := fs.Duration("read-timeout", time.Minute, "longest time to read a request, body included")
	idleTimeout := fs.Duration("idle-timeout", 2*time.Minute, "how long an idle keep-alive connection stays open")
	maxConns := fs.Int("max-connections", 1024, "most connections open at once; more wait to be accepted")
	var ef engineFlags
	ef.register(fs)
	if err := parseFlags(fs, args, ""); err != nil {
		return err
	}
	opts, err := ef.options()
	if err != nil {
		return err
	}
	if *port < 0 || *port > 65535 {
		return usagef("--port %d: want 0…65535", *port)
	}
	if *maxN < 1 || *maxBody < 1 || *maxConns < 1 {
		return usagef("--max-n, --max-body-bytes and --max-connections must be at least 1")
	}
	if *readTimeout <= 0 || *idleTimeout <= 0 {
		return usagef("--read-timeout and --idle-timeout must be positive")
	}

	l, err := loader.Load(*modelPath, ef.load(*lora, *templateFile))
	if err != nil {
		return err
	}
	defer l.Close()
	if *name == "" {
		*name = modelName(l.Model.Path)
	}
	eng, err := l.Engine(opts)
	if err != nil {
		return err
	}
	handler, err := serve.New(serve.Config{
		Engine:          eng,
		Tokenizer:       l.Tokenizer,
		Name:            *name,
		Chat:            l.Chat,
		MaxBodyBytes:    *maxBody,
		MaxN:            min(*maxN, ef.maxSeqs),
		SwapDrain:       *swapDrain,
		APIKey:          *apiKey,
		AllowRemoteLoad: *allowRemoteLoad,
	})
	if err != nil {
		eng.Close()
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		eng.Close()
		return err
	}
	// No write timeout: a streamed completion may run for minutes.
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: min(30*time.Second, *readTimeout),
		ReadTimeout: *readTimeout, IdleTimeout: *idleTimeout}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(netutil.LimitListener(ln, *maxConns)) }()
	log.Printf("serving %s on http://%s (OpenAI API under /v1/, TRL's /generate/, /chat/, /get_sequence_logprobs/, /load_weights/, /metrics)", *name, ln.Addr())
	if ip := net.ParseIP(*host); *apiKey == "" && (ip == nil || !ip.IsLoopback()) {
		log.Printf("warning: listening on %s without --api-key: anyone who can reach the port can use the model", *host)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	select {
	case err := <-served:
		eng.Close()
		return err
	case <-ctx.Done():
	}
	stop() // a second signal ends the process at once

	// Stop admitting (new model work gets 503 with Retry-After and
	// /health/ says so, the listener staying open meanwhile), let running
	// requests finish within the grace period, then abort the rest (their
	// clients get what was generated, ended with finish_reason "abort").
	log.Printf("shutting down: running requests have %v to finish", *grace)
	idle := handler.Drain()
	select {
	case <-idle:
	case <-time.After(*grace):
		log.Printf("aborting the requests still running")
		eng.AbortAll()
		select {
		case <-idle:
		case <-time.After(10 * time.Second):
		}
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(closeCtx); err != nil {
		srv.Close()
	}
	eng.Close()
	// /load_weights/ may have replaced the model loaded at the start (which
	// it then closed); close the one served last, and its base when an
	// adapter is folded into it.
	eng.Model().Base().Close()
	log.Printf("stopped")
	return nil
}

// modelName is the API's model id for a model path: its file or folder
// name, without .gguf.
func modelName(path string) string {
	if path == builtin.Name {
		return builtin.Name
	}
	return strings.TrimSuffix(filepath.Base(filepath.Clean(path)), ".gguf")
}
