package tokenizer_test

import (
	"fmt"
	"log"

	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/model/builtin"
	"github.com/aha-inference/aha/tokenizer"
)

// Read the tokenizer of the embedded stories260K (a GGUF file's tokenizer.*
// keys), encode a text with the BOS the model wants, and decode it again.
func Example() {
	f, err := gguf.Parse(builtin.Stories260K)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("Once upon a time", tok.AddBOS())
	for _, id := range ids {
		fmt.Printf("%d %q\n", id, tok.Token(id))
	}
	fmt.Printf("%q\n", tok.Decode(ids, true))
	// Output:
	// 1 "<s>"
	// 403 "▁Once"
	// 407 "▁upon"
	// 261 "▁a"
	// 378 "▁time"
	// "Once upon a time"
}
