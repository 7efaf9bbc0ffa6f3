package rollout

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/aha-inference/aha/model/builtin"
)

// ModelSHA256 hashes what defines a model, for its manifest: the GGUF
// file at path (builtin.Name for the embedded model), or a Hugging Face
// folder's safetensors and JSON files (name and content, in name order),
// then the files of the LoRA adapter folded in, if adapter names one.
func ModelSHA256(path, adapter string) (string, error) {
	if path == builtin.Name {
		sum := sha256.Sum256(builtin.Stories260K)
		return hex.EncodeToString(sum[:]), nil
	}
	files := []string{path}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		files = nil
		for _, pat := range []string{"*.safetensors", "*.json"} {
			m, err := filepath.Glob(filepath.Join(path, pat))
			if err != nil {
				return "", err
			}
			files = append(files, m...)
		}
		slices.Sort(files)
	}
	if adapter != "" {
		files = append(files, filepath.Join(adapter, "adapter_config.json"), filepath.Join(adapter, "adapter_model.safetensors"))
	}
	h := sha256.New()
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			return "", fmt.Errorf("hashing the model: %w", err)
		}
		if len(files) > 1 {
			fmt.Fprintf(h, "%s\n", filepath.Base(name))
		}
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", fmt.Errorf("hashing the model: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// TemplateSHA256 hashes the source of the chat template prompts are
// rendered with; "fallback" stands for none (the plain fallback).
func TemplateSHA256(src string) string {
	if src == "" {
		return "fallback"
	}
	sum := sha256.Sum256([]byte(src))
	return hex.EncodeToString(sum[:])
}
