package main

import (
	"context"
	"errors"
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

	"github.com/aha-inference/aha/model/builtin"
	"github.com/aha-inference/aha/serve"
	"github.com/aha-inference/aha/tokenizer/template"
)

func init() {
	register("serve", "serve the OpenAI API and TRL's vllm-serve endpoints over HTTP", runServe)
}

func runServe(args []string) error {
	fs := newFlags("serve", "[-m MODEL] [--host 127.0.0.1] [--port 8000] [flags]")
	modelPath := fs.String("m", "", "model: a GGUF file or a Hugging Face folder (default: the embedded stories260K)")
	host := fs.String("host", "127.0.0.1", "address to listen on: loopback by default, 0.0.0.0 for every interface")
	port := fs.Int("port", 8000, "port to listen on (0: any free port)")
	name := fs.String("served-model-name", "", "model id of the API (default: the model's file or folder name)")
	templateFile := fs.String("template", "", "chat template file overriding the model's")
	threads := fs.Int("t", 0, "threads (0 = one per physical core, at most the CPUs this process may use)")
	maxN := fs.Int("max-n", 128, "largest n one request may ask for (at most --max-seqs)")
	maxBody := fs.Int64("max-body-bytes", 32<<20, "largest request body")
	swapDrain := fs.Duration("swap-drain", 30*time.Second, "how long /load_weights/ lets running requests finish before aborting them")
	grace := fs.Duration("shutdown-timeout", 30*time.Second, "on SIGTERM or Ctrl-C, how long running requests may finish before they are aborted")
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
	if *maxN < 1 || *maxBody < 1 {
		return usagef("--max-n and --max-body-bytes must be at least 1")
	}

	l, err := load(*modelPath, *threads)
	if err != nil {
		return err
	}
	defer l.close()
	if *name == "" {
		*name = modelName(l.model.Path)
	}
	eng, err := l.engine(opts)
	if err != nil {
		return err
	}
	handler, err := serve.New(serve.Config{
		Engine:    eng,
		Tokenizer: l.tok,
		Name:      *name,
		ChatPrompt: func(msgs []template.Message, kwargs map[string]any) ([]int, error) {
			ids, _, err := l.chatPrompt(*name, msgs, *templateFile, kwargs)
			return ids, err
		},
		MaxBodyBytes: *maxBody,
		MaxN:         min(*maxN, ef.maxSeqs),
		SwapDrain:    *swapDrain,
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
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Printf("serving %s on http://%s (OpenAI API under /v1/, TRL's /generate/, /chat/, /get_sequence_logprobs/, /load_weights/, /metrics)", *name, ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	select {
	case err := <-served:
		eng.Close()
		return err
	case <-ctx.Done():
	}
	stop() // a second signal ends the process at once

	// Stop admitting, let running requests finish within the grace period,
	// then abort the rest (their clients get what was generated, ended
	// with finish_reason "abort").
	log.Printf("shutting down: running requests have %v to finish", *grace)
	handler.Drain()
	graceCtx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := srv.Shutdown(graceCtx); errors.Is(err, context.DeadlineExceeded) {
		log.Printf("aborting the requests still running")
		eng.AbortAll()
		abortCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(abortCtx); err != nil {
			srv.Close()
		}
	}
	eng.Close()
	// /load_weights/ may have replaced the model loaded at the start (which
	// it then closed); close the one served last.
	eng.Model().Close()
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
