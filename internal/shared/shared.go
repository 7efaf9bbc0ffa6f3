// Package shared locates the read-only test data folder that sits beside the
// repository (../shared: models, tokenizer vectors, chat templates, quant
// vectors). Tests that need it call Path; on a machine without it they skip
// with a message, except under CI (CI=true), where a missing folder is a
// failure, so a broken checkout can never pass by skipping.
package shared

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Root returns the shared folder, or "" if there is none. AHA_SHARED
// overrides the default location (the folder beside the repository root).
func Root() string {
	if dir := os.Getenv("AHA_SHARED"); dir != "" {
		return dir
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	// file is <repo>/internal/shared/shared.go.
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return ""
	}
	return dir
}

// Path returns the path of rel inside the shared folder. When the folder or
// the file is missing it skips the test, or fails it when CI=true.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	root := Root()
	if root == "" {
		missing(tb, "the shared test data folder (../shared beside the repository, or $AHA_SHARED) is missing")
		return ""
	}
	p := filepath.Join(root, rel)
	if _, err := os.Stat(p); err != nil {
		missing(tb, "shared test data "+rel+" is missing: "+err.Error())
		return ""
	}
	return p
}

func missing(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}
