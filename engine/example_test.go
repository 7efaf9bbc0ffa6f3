package engine_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/tokenizer"
)

// Greedy decoding of the embedded stories260K model: the engine turns a
// prompt's token ids into a sample's tokens and text.
func Example() {
	m, err := model.Load("") // "": the embedded model
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	cpu := kernels.NewCPU(0) // the default thread count
	defer cpu.Close()
	m.SetBackend(cpu)
	tok, err := tokenizer.FromGGUF(m.GGUF)
	if err != nil {
		log.Fatal(err)
	}
	e, err := engine.New(m, engine.Options{
		NewDecoder: func(prompt []int) engine.Decoder { return tok.NewStream(prompt, true) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	prompt := "Once upon a time"
	req := engine.Request{
		Prompt:    tok.Encode(prompt, true),
		Sampling:  engine.SamplingParams{Temperature: 0, TopP: 1}, // greedy
		MaxTokens: 16,
	}
	out, err := e.Generate(context.Background(), req, nil)
	if err != nil {
		log.Fatal(err)
	}
	s := out.Samples[0]
	// The text is what the tokens add to the prompt's.
	fmt.Printf("%s%s\n%d tokens, finish reason %q\n", prompt, s.Text, len(s.Tokens), s.FinishReason)
	// Output:
	// Once upon a time, there was a little girl named Lily. She loved to play
	// 16 tokens, finish reason "length"
}
