package tokenizer

import (
	"fmt"
	"os"

	"github.com/aha-inference/aha/gguf"
)

// Load reads a tokenizer from a GGUF file or from a Hugging Face folder
// holding tokenizer.json.
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if st.IsDir() {
		return FromHF(path)
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	t, err := FromGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}
