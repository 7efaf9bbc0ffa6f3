// Package engine turns a model into a service that runs many sequences at
// once: a paged KV cache shared through forks and a prefix cache, a
// scheduler that batches every running sequence into one forward step
// (continuous batching), the sampler with its penalties and logprob modes,
// stop conditions, and scoring.
//
// A request's life runs through these files: engine.go is the API and the
// step loop; schedule.go is the scheduling policy, a pure function from
// the engine's state to a step's plan; batch.go applies the plan, runs the
// forward step and turns its logits into tokens, prompt logprobs and
// scores; sequence.go admits, forks, preempts and retires sequences;
// output.go detokenizes and applies the stop conditions; sampler.go draws
// tokens; prefix.go is the prefix cache.
package engine
