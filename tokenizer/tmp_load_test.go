package tokenizer
import ("testing";"time";"github.com/aha-inference/aha/internal/shared")
func TestTmpLoadTimes(t *testing.T) {
	for _, p := range []string{"testdata/tokenizers/llama3.2","testdata/tokenizers/llama3","testdata/tokenizers/qwen3","testdata/vocab/ggml-vocab-llama-bpe.gguf","testdata/vocab/ggml-vocab-qwen2.gguf"} {
		start := time.Now()
		if _, err := Load(shared.Path(t, p)); err != nil { t.Fatal(err) }
		t.Logf("%s %v", p, time.Since(start))
	}
}
