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
	// Embed writes row ids[t] of table, decoded, as row t of out (see the
	// reference Embed).
	Embed(out []float32, table *Matrix, ids []int)
	// RMSNorm normalizes each row of x into out (see the reference
	// RMSNorm): hidden states, or one head at a time for QK-norm.
	RMSNorm(out, x, weight []float32, eps float32)
	// AddBias adds bias to each row of x.
	AddBias(x, bias []float32)
	// RoPE rotates every head of row t of x by position pos[t] (see the
	// reference RoPE).
	RoPE(x []float32, pos []int, nHeads, headDim int, freqs []float64, layout RopeLayout)
	// MatMul computes out = x·Wᵀ for n rows of x (see the reference MatMul).
	MatMul(out []float32, w *Matrix, x []float32, n int)
	// Attention is causal grouped-query attention over a paged KV cache (see the
	// reference Attention).
	Attention(out, q []float32, kv *KV, pos []int, nHeads, nKVHeads, headDim int)
	// SiLUMul is the SwiGLU activation, gate = silu(gate)·up (see the
	// reference SiLUMul): after the matmuls, the MLP's largest op.
	SiLUMul(gate, up []float32)
	// Add adds y to x elementwise: the residual connection.
	Add(x, y []float32)
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

func (Reference) Embed(out []float32, table *Matrix, ids []int) {
	for t, id := range ids {
		Embed(out[t*table.Cols:(t+1)*table.Cols], table, id)
	}
}

func (Reference) RMSNorm(out, x, weight []float32, eps float32) { RMSNorm(out, x, weight, eps) }

func (Reference) AddBias(x, bias []float32) { AddBias(x, bias) }

func (Reference) RoPE(x []float32, pos []int, nHeads, headDim int, freqs []float64, layout RopeLayout) {
	RoPE(x, pos, nHeads, headDim, freqs, layout)
}

func (Reference) MatMul(out []float32, w *Matrix, x []float32, n int) { MatMul(out, w, x, n) }

func (Reference) Add(x, y []float32) { Add(x, y) }

func (Reference) SiLUMul(gate, up []float32) { SiLUMul(gate, up) }

// Err is always nil: the reference cannot fail.
func (Reference) Err() error { return nil }

func (Reference) Attention(out, q []float32, kv *KV, pos []int, nHeads, nKVHeads, headDim int) {
	Attention(out, q, kv, pos, nHeads, nKVHeads, headDim)
}
