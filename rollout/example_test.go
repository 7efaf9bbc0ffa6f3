package rollout_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/verify"
	"github.com/aha-inference/aha/tokenizer"
	"github.com/aha-inference/aha/tokenizer/template"
)

// A rollout of two generated deduction puzzles, three samples each, on the
// embedded stories260K model: every sample is verified and scored, and
// its record written to a file that a rerun resumes. The little
// story model never writes the <think>/<answer> layout, so every sample
// fails the format and earns the lowest reward, −3.
func ExampleRun() {
	m, err := model.Load("") // the embedded stories260K
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	cpu := kernels.NewCPU(1)
	defer cpu.Close()
	m.SetBackend(cpu)
	tok, err := tokenizer.FromGGUF(m.GGUF)
	if err != nil {
		log.Fatal(err)
	}
	eng, err := engine.New(m, engine.Options{
		NewDecoder: func(prompt []int) engine.Decoder { return tok.NewStream(prompt, true) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()

	problems, err := rollout.Problems{Task: "deduction", Level: 1, Count: 2, Seed: 7}.Load(rollout.All)
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "rollout")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "out.jsonl")
	opt := rollout.Options{
		Out: out, N: 3,
		Request: engine.Request{MaxTokens: 16, Sampling: engine.SamplingParams{Temperature: 1, TopP: 1, Seed: 7}},
		Prompts: rollout.Prompts{
			Chat: func(msgs []template.Message) ([]int, string, error) {
				text, err := template.Fallback.Render(template.Context{Messages: msgs, AddGenerationPrompt: true})
				return tok.Encode(text, true), text, err
			},
			Encode: func(text string) []int { return tok.Encode(text, false) },
			System: rollout.DefaultSystem,
		},
		Rewards:     verify.DefaultRewards(),
		Concurrency: 2,
	}
	sum, err := rollout.Run(context.Background(), eng, problems, opt)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d records, %d new\n", sum.Records, sum.Records-sum.Resumed)

	recs, err := rollout.ReadRecords(out)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rollout.Summarize(recs) {
		fmt.Printf("%s level %d: %d problems, %d samples, verdicts %v, mean reward %.1f\n",
			r.Task, r.Level, r.Problems, r.Samples, r.Verdicts, r.MeanReward)
	}

	// Run again: the file is complete, so nothing is sampled.
	if sum, err = rollout.Run(context.Background(), eng, problems, opt); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("rerun: %d records, %s\n", sum.Records, sum)
	// Output:
	// 6 records, 6 new
	// deduction level 1: 2 problems, 6 samples, verdicts map[format_error:6], mean reward -3.0
	// rerun: 6 records, nothing left to sample
}
