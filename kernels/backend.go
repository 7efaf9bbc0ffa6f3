package kernels

import "github.com/aha-inference/aha/quant"

// Backend runs the operations of a transformer layer over memory it owns.
// The model's forward pass calls only these, so a faster CPU implementation
// or a GPU one can take the reference's place without the model code
// changing.
//
// The backend allocates every buffer the forward pass works in (Alloc): the
// model's small vectors (norm weights, biases), uploaded once at load; one
// step's activations; the KV pool (NewKVPool); and the logits. Operations
// name buffers, never host slices of floats, so on a GPU the activations
// and the KV history stay in device memory from one operation and one step
// to the next. What crosses from the host in a step is small integer
// arrays (token ids, positions, KV slots, block tables, the rows that want
// logits), and what comes back is the logit rows the caller reads (Read).
// On the CPU a buffer is host memory and nothing is copied at all.
//
// An operation works on the first rows of its buffers; row widths come from
// the operation's other arguments (a matrix's Cols and Rows, a norm
// weight's length, heads × head size).
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

	// Alloc returns a buffer of n float32 values, zeroed.
	Alloc(n int) Buffer
	// Upload copies src into the start of dst: the model's small vectors,
	// once, at load.
	Upload(dst Buffer, src []float32)
	// Read copies the first len(dst) values of src to the host: the logit
	// rows, the one copy out of a step.
	Read(dst []float32, src Buffer)
	// NewKVPool makes the KV cache's memory: for each of layers layers,
	// keys and values of blocks blocks of blockSize positions, each
	// position width elements of type t (one of KVTypes).
	NewKVPool(layers, blocks, blockSize, width int, t quant.Type) (KVPool, error)

	// Embed writes row ids[t] of table, decoded, as row t of out (see the
	// reference Embed).
	Embed(out Buffer, table *Matrix, ids []int)
	// RMSNorm normalizes the first n values of x, rows of weight.Len(),
	// into out (see the reference RMSNorm): hidden states, or one head at a
	// time for QK-norm.
	RMSNorm(out, x, weight Buffer, n int, eps float32)
	// AddBias adds bias to each of the first rows rows of x.
	AddBias(x, bias Buffer, rows int)
	// RoPE rotates every head of row t of x by position pos[t] (see the
	// reference RoPE).
	RoPE(x Buffer, pos []int, nHeads, headDim int, rope *Rope)
	// MatMul computes out = x·Wᵀ for n rows of x (see the reference MatMul).
	MatMul(out Buffer, w *Matrix, x Buffer, n int)
	// StoreKV writes row t of k and v (the pool's width each) to position
	// slot slots[t] of layer's keys and values (slot = block·blockSize +
	// row in block), rounded to the pool's type (see KV.Put).
	StoreKV(pool KVPool, layer int, k, v Buffer, slots []int)
	// Attention is causal grouped-query attention over the pool's layer
	// layer (see the reference Attention), for the query rows of q taken
	// sequence by sequence: seqs[i].Rows rows that read the cache through
	// block table seqs[i].Blocks, query row t at position pos[t].
	Attention(out, q Buffer, pool KVPool, layer int, seqs []SeqBlocks, pos []int, nHeads, nKVHeads, headDim int)
	// CopyBlock copies the first rows positions of block src to block dst
	// in every layer: a copy on write, inside the pool.
	CopyBlock(pool KVPool, dst, src, rows int)
	// Gather copies row rows[i] of src to row i of dst, rows of width
	// values.
	Gather(dst, src Buffer, rows []int, width int)
	// SiLUMul is the SwiGLU activation over the first n values, gate =
	// silu(gate)·up (see the reference SiLUMul): after the matmuls, the
	// MLP's largest op.
	SiLUMul(gate, up Buffer, n int)
	// Add adds the first n values of y to x: the residual connection.
	Add(x, y Buffer, n int)

	// Err returns the first failure since the previous call of Err, or nil,
	// and forgets it, so that the next step starts clean.
	Err() error
}

// Buffer is memory a backend allocated, holding float32 values. Only the
// backend that made it reads it; Free hands it back (a host buffer is
// garbage collected, so its Free does nothing).
type Buffer interface {
	Len() int
	Free()
}

// KVPool is a KV cache's memory, made by NewKVPool: the model's Cache keeps
// the bookkeeping (block tables, reference counts, the free list) and the
// backend keeps the keys and values.
type KVPool interface {
	Free()
}

// SeqBlocks is one sequence's share of an Attention call: its number of
// query rows and its block table.
type SeqBlocks struct {
	Rows   int
	Blocks []int
}

// Rope is the rotary embedding of a model: the rotation speed of each pair
// of a head's elements (RopeFrequencies) and which elements pair up. It is
// made once, at load, and passed by pointer, so that a backend can keep
// what it derives from it (a device copy of the frequencies) by its
// identity.
type Rope struct {
	Freqs  []float64
	Layout RopeLayout
}

// Preparer is a Backend that keeps its own copy of weight matrices (the
// CPU's packed layout, the GPU's device memory) and takes it once, at
// load, rather than on first use.
type Preparer interface {
	// Prepare takes the backend's copy of w, and says whether it made one:
	// then the backend's matmuls no longer read w's stored bytes, which
	// may leave memory (embedding lookups still read them).
	Prepare(w *Matrix) (copied bool, err error)
	// Release forgets the backend's copy of w, when the model holding w
	// is closed; a later use of w takes a copy again.
	Release(w *Matrix)
}
