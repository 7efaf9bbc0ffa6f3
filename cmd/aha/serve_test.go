//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestServeShutdown starts `aha serve`, begins a long streamed completion,
// sends SIGTERM, and expects the stream to end cleanly (aborted after the
// short grace period), new connections to be refused, and exit status 0.
func TestServeShutdown(t *testing.T) {
	cmd := exec.Command(ahaBin, "serve", "--port", "0", "--shutdown-timeout", "200ms", "-t", "1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stderr)
	url := ""
	var log strings.Builder
	for url == "" && lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if _, rest, ok := strings.Cut(lines.Text(), " on http://"); ok {
			url = "http://" + strings.Fields(rest)[0]
		}
	}
	if url == "" {
		t.Fatalf("no address in the log:\n%s", log.String())
	}
	logDone := make(chan struct{})
	go func() {
		io.Copy(&log, stderr)
		close(logDone)
	}()

	body := `{"prompt": "Once upon a time", "max_tokens": 2000, "ignore_eos": true, "stream": true}`
	resp, err := http.Post(url+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	stream := bufio.NewReader(resp.Body)
	if _, err := stream.ReadString('\n'); err != nil { // the first chunk: the request is running
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(stream)
	if err != nil {
		t.Fatalf("reading the stream after SIGTERM: %v", err)
	}
	events := strings.Split(strings.TrimSpace(string(rest)), "\n\n")
	if events[len(events)-1] != "data: [DONE]" {
		t.Fatalf("the stream did not end with [DONE]: ...%s", rest[max(0, len(rest)-300):])
	}
	var last struct {
		Choices []struct {
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(events[len(events)-2], "data: ")), &last); err != nil || len(last.Choices) != 1 {
		t.Fatalf("last chunk %q: %v", events[len(events)-2], err)
	}
	f := last.Choices[0].FinishReason
	if f != "abort" && f != "length" {
		t.Errorf("finish_reason %q, want abort (or length had it finished)", f)
	}
	t.Logf("the stream ended with finish_reason %q", f)
	// All of stderr first: Wait closes the pipe, and the last lines
	// would be lost.
	<-logDone
	if err := cmd.Wait(); err != nil {
		t.Errorf("aha serve exited with %v", err)
	}
	if _, err := http.Get(url + "/health/"); err == nil {
		t.Error("the server still answers after exiting")
	}
	if s := log.String(); strings.Contains(s, "panic") || !strings.Contains(s, "stopped") {
		t.Errorf("log:\n%s", s)
	}
}
