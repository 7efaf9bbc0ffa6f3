// Package merge combines checkpoints in parameter space: the merge methods
// of mergekit (linear, task arithmetic, TIES, slerp) as functions over
// float32 tensors, Folders to apply them to Hugging Face folders tensor by
// tensor, and LoRA to fold a PEFT adapter into its base model.
//
// All arithmetic is float32, whatever the files hold: each input tensor is
// widened to float32, merged, and rounded once to the output type. The
// methods are written so that their results can be recomputed exactly:
// each says the order of its float32 operations.
package merge
