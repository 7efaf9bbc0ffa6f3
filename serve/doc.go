// Package serve is aha's HTTP server. One handler answers, over one engine
// that batches every concurrent request into the same forward steps:
//
//   - the OpenAI API: GET /v1/models (and /v1/models/{id}), POST /v1/completions and
//     POST /v1/chat/completions, streamed as server-sent events on request;
//   - the generation contract of TRL's vllm-serve, which RL trainers call:
//     GET /health/, GET /get_world_size/, POST /generate/, POST /chat/,
//     POST /get_sequence_logprobs/, POST /reset_prefix_cache/ (its NCCL
//     weight-sync endpoints answer 501: a Go process cannot join them);
//   - POST /load_weights/, which swaps in a trainer's new checkpoint;
//   - GET /metrics in the Prometheus text format.
//
// Each HTTP request runs in its own goroutine and calls the engine, which
// batches it with the others; a client that disconnects cancels its request
// and frees its KV cache. Bad input gets a 4xx with an OpenAI-style error
// object naming the field, and never disturbs other requests.
package serve
