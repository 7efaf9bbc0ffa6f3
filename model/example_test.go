package model_test

import (
	"fmt"
	"log"

	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
	"github.com/aha-inference/aha/tokenizer"
)

// Load the embedded stories260K, run a prompt through one forward step, and
// pick the most likely next token.
func Example() {
	m, err := model.Load("") // "" is the embedded model
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	m.SetBackend(kernels.NewCPU(1))
	if err := m.Ready(nil); err != nil {
		log.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(m.GGUF)
	if err != nil {
		log.Fatal(err)
	}

	s, err := m.NewState(64, quant.F32)
	if err != nil {
		log.Fatal(err)
	}
	logits, err := m.Forward(s, tok.Encode("Once upon a time", true), false)
	if err != nil {
		log.Fatal(err)
	}
	best := 0
	for id, l := range logits {
		if l > logits[best] {
			best = id
		}
	}
	fmt.Printf("%d positions, next token %d %q\n", s.Len(), best, tok.Piece(best))
	// Output: 5 positions, next token 432 ","
}
