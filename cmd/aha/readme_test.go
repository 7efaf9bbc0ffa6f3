//go:build unix

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestReadmeCurl runs the README's curl commands against `aha serve` on
// the embedded model, so the examples stay true: each must answer JSON
// without an error object.
func TestReadmeCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is missing; CI installs it")
		}
		t.Skip("curl is not installed")
	}
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "curl ") {
			continue
		}
		cmd := lines[i]
		for strings.HasSuffix(cmd, "\\") && i+1 < len(lines) {
			i++
			cmd = strings.TrimSuffix(cmd, "\\") + lines[i]
		}
		cmds = append(cmds, cmd)
	}
	if len(cmds) == 0 {
		t.Fatal("no curl command in the README")
	}
	url := startServe(t)
	for _, cmd := range cmds {
		cmd = strings.ReplaceAll(cmd, "localhost:8000", strings.TrimPrefix(url, "http://"))
		out, err := exec.Command("sh", "-c", cmd+" --fail-with-body").Output()
		var v map[string]any
		if err != nil || json.Unmarshal(out, &v) != nil || v["error"] != nil {
			t.Errorf("%s\n%v: %s", cmd, err, out)
		}
	}
}
