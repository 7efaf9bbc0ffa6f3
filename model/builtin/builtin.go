// Package builtin embeds aha's default model, Andrej Karpathy's stories260K
// (MIT, see LICENSE in this folder): a 260K-parameter llama trained on
// TinyStories, small enough to ship inside the binary so that `aha generate`
// works on a fresh machine with no model flag at all.
package builtin

import _ "embed"

// Name is how the embedded model is named on the command line and in output.
const Name = "stories260K"

// Stories260K is the GGUF file (F32 weights, SentencePiece vocabulary).
//
//go:embed stories260K.gguf
var Stories260K []byte
