package kernels

// Backend runs the operations of a transformer layer. The model's forward
// pass calls only these, so a faster CPU implementation or a GPU one can
// take the reference's place without the model code changing.
//
// Operations have no error result, so that the forward pass reads as its
// math; a backend that can fail (a device lost, out of device memory)
// keeps the first failure and reports it through Err, which the model
// calls at the end of every step. Once an operation has failed, the
// outputs of that step's operations are undefined and the step is
// discarded.
type Backend interface {
	// Name identifies the backend in logs and benchmark output.
	Name() string
	// MatMul computes out = x·Wᵀ for n rows of x (see the reference MatMul).
	MatMul(out []float32, w *Matrix, x []float32, n int)
	// Attention is causal grouped-query attention over a paged KV cache (see the
	// reference Attention).
	Attention(out, q []float32, kv *KV, pos []int, nHeads, nKVHeads, headDim int)
	// SiLUMul is the SwiGLU activation, gate = silu(gate)·up (see the
	// reference SiLUMul): after the matmuls, the MLP's largest op.
	SiLUMul(gate, up []float32)
	// Err returns the first failure since the previous call of Err, or nil,
	// and forgets it, so that the next step starts clean.
	Err() error
}

// Preparer is a Backend that keeps its own copy of weight matrices (the
// CPU's packed layout, the GPU's device memory) and takes it once, at
// load, rather than on first use; done is called with each matrix's
// stored bytes.
type Preparer interface {
	Prepare(ws []*Matrix, done func(bytes int64)) error
}

// Reference is the Backend made of the plain reference functions.
type Reference struct{}

func (Reference) Name() string { return "reference" }

func (Reference) MatMul(out []float32, w *Matrix, x []float32, n int) { MatMul(out, w, x, n) }

func (Reference) SiLUMul(gate, up []float32) { SiLUMul(gate, up) }

// Err is always nil: the reference cannot fail.
func (Reference) Err() error { return nil }

func (Reference) Attention(out, q []float32, kv *KV, pos []int, nHeads, nKVHeads, headDim int) {
	Attention(out, q, kv, pos, nHeads, nKVHeads, headDim)
}
