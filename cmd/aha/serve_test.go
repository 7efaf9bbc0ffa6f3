//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestServeShutdown starts `aha serve`, begins a long streamed completion,
// sends SIGTERM, and expects new work to get 503 with Retry-After and
// /health/ to say so during the grace period, the stream to end cleanly
// (aborted after the grace period), and exit status 0.
func TestServeShutdown(t *testing.T) {
	cmd := exec.Command(ahaBin, "serve", "--port", "0", "--shutdown-timeout", "1s", "-t", "1")
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
	var logMu sync.Mutex
	logText := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return log.String()
	}
	logDone := make(chan struct{})
	go func() {
		for lines.Scan() {
			logMu.Lock()
			log.WriteString(lines.Text() + "\n")
			logMu.Unlock()
		}
		io.Copy(io.Discard, stderr)
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
	// The log says the drain began; then the listener still answers.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logText(), "shutting down") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	late, err := http.Post(url+"/v1/completions", "application/json", strings.NewReader(`{"prompt": "a"}`))
	if err != nil {
		t.Fatalf("a request during the grace period: %v", err)
	}
	late.Body.Close()
	if late.StatusCode != http.StatusServiceUnavailable || late.Header.Get("Retry-After") == "" {
		t.Errorf("a request during the grace period: %d, Retry-After %q", late.StatusCode, late.Header.Get("Retry-After"))
	}
	if health, err := http.Get(url + "/health/"); err != nil || health.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/health/ during the grace period: %v %v", health, err)
	} else {
		health.Body.Close()
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
	if s := logText(); strings.Contains(s, "panic") || !strings.Contains(s, "stopped") {
		t.Errorf("log:\n%s", s)
	}
}

// startServe starts `aha serve` with args on a free port and returns its
// URL; the server is killed when the test ends.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(ahaBin, append([]string{"serve", "--port", "0", "-t", "1"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		if _, rest, ok := strings.Cut(lines.Text(), " on http://"); ok {
			go io.Copy(io.Discard, stderr)
			return "http://" + strings.Fields(rest)[0]
		}
	}
	t.Fatal("aha serve printed no address")
	return ""
}

// TestServeTimeouts: a client trickling its body is cut off after
// --read-timeout, and connections beyond --max-connections wait to be
// accepted instead of exhausting file descriptors.
func TestServeTimeouts(t *testing.T) {
	url := startServe(t, "--read-timeout", "500ms", "--max-connections", "2")
	addr := strings.TrimPrefix(url, "http://")
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n")
	slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	io.Copy(io.Discard, slow) // returns when the server closes the connection
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a trickling body kept its connection for %v; --read-timeout is 500ms", d)
	}

	// Two idle connections hold both slots; a third waits for one.
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond) // let the server accept them
	answered := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url + "/health/")
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("a third connection was served while two were held (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	if err := <-answered; err != nil {
		t.Errorf("the waiting connection: %v", err)
	}
}
