package kernels

// The reference operations: the specification of every operation a
// transformer layer needs (see doc.go).

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/aha-inference/aha/quant"
)

// Matrix is a weight matrix stored row by row in one of the quant types:
// Rows rows of Cols elements each, Data holding Rows·RowBytes bytes (usually
// a slice of a memory-mapped file).
type Matrix struct {
	Type       quant.Type
	Rows, Cols int
	Data       []byte
}

// NewMatrix checks that data holds exactly rows×cols elements of type t.
func NewMatrix(t quant.Type, rows, cols int, data []byte) (Matrix, error) {
	rb, err := t.RowBytes(cols)
	if err != nil {
		return Matrix{}, err
	}
	if rows < 0 || len(data) != rows*rb {
		return Matrix{}, fmt.Errorf("%d×%d %v matrix needs %d bytes, have %d", rows, cols, t, rows*rb, len(data))
	}
	return Matrix{Type: t, Rows: rows, Cols: cols, Data: data}, nil
}

// RowBytes is the size of one row in bytes.
func (m *Matrix) RowBytes() int {
	n, _ := m.Type.RowBytes(m.Cols)
	return n
}

// Row returns the raw bytes of row r.
func (m *Matrix) Row(r int) []byte {
	rb := m.RowBytes()
	return m.Data[r*rb : (r+1)*rb]
}

// DequantizeRow writes row r as float32 into dst (len Cols).
func (m *Matrix) DequantizeRow(r int, dst []float32) {
	// The row length was validated by NewMatrix, so this cannot fail.
	if err := quant.Dequantize(m.Type, m.Row(r), dst); err != nil {
		panic(err)
	}
}

// Dot is Σ a[i]·b[i], accumulated in float32 in index order.
func Dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// MatMul computes out = x·Wᵀ for n input rows: out[t][r] = Σ_c W[r][c]·x[t][c].
// x holds n rows of w.Cols values, out n rows of w.Rows values. Weight rows
// are dequantized to float32 one at a time.
func MatMul(out []float32, w *Matrix, x []float32, n int) {
	row := make([]float32, w.Cols)
	for r := 0; r < w.Rows; r++ {
		w.DequantizeRow(r, row)
		for t := 0; t < n; t++ {
			out[t*w.Rows+r] = Dot(row, x[t*w.Cols:(t+1)*w.Cols])
		}
	}
}

// AddBias adds bias to each row of x.
func AddBias(x, bias []float32) {
	for t := 0; t < len(x); t += len(bias) {
		for i, b := range bias {
			x[t+i] += b
		}
	}
}

// Add adds y to x elementwise (the residual connection).
func Add(x, y []float32) {
	for i := range x {
		x[i] += y[i]
	}
}

// RMSNorm normalizes each row of x (of width len(weight)) by its root mean
// square and scales it by weight: out = x / sqrt(mean(x²) + eps) · weight.
// out may be x.
func RMSNorm(out, x, weight []float32, eps float32) {
	d := len(weight)
	for t := 0; t < len(x); t += d {
		var ss float64
		for _, v := range x[t : t+d] {
			ss += float64(v) * float64(v)
		}
		scale := float32(1 / math.Sqrt(ss/float64(d)+float64(eps)))
		for i := 0; i < d; i++ {
			out[t+i] = x[t+i] * scale * weight[i]
		}
	}
}

// RopeLayout says which elements of a head form the pairs RoPE rotates.
type RopeLayout int

const (
	// RopeHalves pairs element i with element i+d/2 ("rotate half"): Hugging
	// Face checkpoints, and Qwen GGUFs.
	RopeHalves RopeLayout = iota
	// RopeInterleaved pairs elements 2i and 2i+1: llama-architecture GGUFs,
	// whose converter permuted the Q/K rows to match.
	RopeInterleaved
)

func (l RopeLayout) String() string {
	if l == RopeInterleaved {
		return "interleaved"
	}
	return "halves"
}

// RopeFrequencies returns the rotation speed of each of the headDim/2 pairs:
// theta^(-2i/headDim), divided by factors[i] when factors is given (llama3
// frequency scaling).
func RopeFrequencies(headDim int, theta float64, factors []float32) []float64 {
	freqs := make([]float64, headDim/2)
	for i := range freqs {
		freqs[i] = math.Pow(theta, -2*float64(i)/float64(headDim))
		if factors != nil {
			freqs[i] /= float64(factors[i])
		}
	}
	return freqs
}

// RoPE rotates every head of x (nHeads heads of headDim values per row) by
// its row's position: row t is at position pos[t]. Each pair (a, b) turns by
// the angle pos·freqs[i].
func RoPE(x []float32, pos []int, nHeads, headDim int, freqs []float64, layout RopeLayout) {
	RotateHeads(x, RopeTable(nil, pos, freqs[:headDim/2]), nHeads, headDim, layout)
}

// RopeTable returns the cosine and sine of every row's angles, pos[t]·freqs[i],
// as (cos, sin) pairs, headDim/2 pairs per row, reusing dst's storage. A
// forward step computes it once and rotates every layer's queries and keys
// with it.
func RopeTable(dst []float32, pos []int, freqs []float64) []float32 {
	half := len(freqs)
	if n := 2 * half * len(pos); cap(dst) >= n {
		dst = dst[:n]
	} else {
		dst = make([]float32, n)
	}
	for t, p := range pos {
		row := dst[2*half*t : 2*half*(t+1)]
		for i, f := range freqs {
			sin, cos := math.Sincos(float64(p) * f)
			row[2*i], row[2*i+1] = float32(cos), float32(sin)
		}
	}
	return dst
}

// RotateHeads applies RoPE with the angles of a RopeTable.
func RotateHeads(x, table []float32, nHeads, headDim int, layout RopeLayout) {
	half := headDim / 2
	for t := 0; t < len(table)/(2*half); t++ {
		cs := table[2*half*t : 2*half*(t+1)]
		for h := 0; h < nHeads; h++ {
			head := x[(t*nHeads+h)*headDim : (t*nHeads+h+1)*headDim]
			for i := 0; i < half; i++ {
				cos, sin := cs[2*i], cs[2*i+1]
				ia, ib := i, i+half
				if layout == RopeInterleaved {
					ia, ib = 2*i, 2*i+1
				}
				a, b := head[ia], head[ib]
				head[ia] = a*cos - b*sin
				head[ib] = a*sin + b*cos
			}
		}
	}
}

// SiLUMul computes the SwiGLU activation in place: gate[i] = silu(gate[i])·up[i],
// silu(g) = g·σ(g).
func SiLUMul(gate, up []float32) {
	for i, g := range gate {
		gate[i] = g / (1 + float32(math.Exp(float64(-g)))) * up[i]
	}
}

// Softmax turns x into probabilities in place.
func Softmax(x []float32) {
	max := float32(math.Inf(-1))
	for _, v := range x {
		if v > max {
			max = v
		}
	}
	var sum float64
	for i, v := range x {
		e := math.Exp(float64(v - max))
		x[i] = float32(e)
		sum += e
	}
	for i := range x {
		x[i] = float32(float64(x[i]) / sum)
	}
}

// LogSoftmax writes log(softmax(x)) into out, computed from the float32
// logits with a float64 normalizer.
func LogSoftmax(out, x []float32) {
	max := float32(math.Inf(-1))
	for _, v := range x {
		if v > max {
			max = v
		}
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v - max))
	}
	lse := float64(max) + math.Log(sum)
	for i, v := range x {
		out[i] = float32(float64(v) - lse)
	}
}

// KV is one layer's keys and values for one sequence, stored in blocks of
// BlockSize positions: position p lives in block Blocks[p/BlockSize] of the
// Keys and Values pools, at row p%BlockSize. Sequences that share a prompt
// share its blocks; a contiguous cache is the special case of one block.
//
// Elements are of type Type, one of KVTypes: float32, or float16 or
// bfloat16 at half the memory. Rows are rounded to the type when stored
// (Put), and attention reads them in that type.
type KV struct {
	Type         quant.Type
	Keys, Values []byte // block pools: rows of KV heads × head size
	Blocks       []int
	BlockSize    int
	Width        int // elements per row: KV heads × head size
}

// KVTypes are the element types a KV cache may hold.
var KVTypes = []quant.Type{quant.F32, quant.F16, quant.BF16}

// KVTypeSize is the bytes one element of KV type t takes (0: t is not one
// of KVTypes).
func KVTypeSize(t quant.Type) int {
	switch t {
	case quant.F32:
		return 4
	case quant.F16, quant.BF16:
		return 2
	}
	return 0
}

// row returns the byte offset of position p's row in the pools.
func (kv *KV) row(p int) int {
	return (kv.Blocks[p/kv.BlockSize]*kv.BlockSize + p%kv.BlockSize) * kv.Width * KVTypeSize(kv.Type)
}

// Key returns the stored keys of position p, all KV heads.
func (kv *KV) Key(p int) []byte {
	o := kv.row(p)
	return kv.Keys[o : o+kv.Width*KVTypeSize(kv.Type)]
}

// Value returns the stored values of position p, all KV heads.
func (kv *KV) Value(p int) []byte {
	o := kv.row(p)
	return kv.Values[o : o+kv.Width*KVTypeSize(kv.Type)]
}

// Put stores the keys k and values v of position p (Width elements each),
// rounded to the nearest value of kv.Type, ties to even.
func (kv *KV) Put(p int, k, v []float32) {
	storeKV(kv.Type, kv.Key(p), k)
	storeKV(kv.Type, kv.Value(p), v)
}

// simdStoreF16 rounds n floats to float16 as quant.F32ToF16 does, where
// the CPU has an instruction for it (nil: none). A NaN stays a NaN of the
// same sign, its payload perhaps not F32ToF16's.
var simdStoreF16 func(dst *byte, src *float32, n int)

// storeKV writes src as elements of KV type t into dst.
func storeKV(t quant.Type, dst []byte, src []float32) {
	switch t {
	case quant.F32:
		copy(dst, floatBytes(src))
	case quant.F16:
		if simdStoreF16 != nil && len(src) > 0 {
			// Prefill stores every position of every layer: a tenth of a
			// nanosecond per element here, 3 with F32ToF16.
			simdStoreF16(&dst[:2*len(src)][0], &src[0], len(src))
			return
		}
		for i, x := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], quant.F32ToF16(x))
		}
	case quant.BF16:
		for i, x := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], quant.F32ToBF16(x))
		}
	}
}

// loadKV widens len(dst) elements of KV type t from src into dst.
func loadKV(t quant.Type, dst []float32, src []byte) {
	switch t {
	case quant.F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case quant.F16:
		for i := range dst {
			dst[i] = quant.F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case quant.BF16:
		for i := range dst {
			dst[i] = quant.BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	}
}

// Attention computes causal grouped-query attention for n query rows.
// q holds n rows of nHeads·headDim; kv holds the sequence's cache, rows of
// nKVHeads·headDim; query row t sits at position pos[t] and attends to
// cache positions 0…pos[t]. Query head h reads KV head h/(nHeads/nKVHeads).
// out receives n rows of nHeads·headDim. Keys and values are widened to
// float32 exactly, one head at a time, so every KV type shares the float32
// arithmetic.
func Attention(out, q []float32, kv *KV, pos []int, nHeads, nKVHeads, headDim int) {
	group := nHeads / nKVHeads
	scale := float32(1 / math.Sqrt(float64(headDim)))
	es := KVTypeSize(kv.Type)
	var scores []float32
	row := make([]float32, headDim)
	for t, p := range pos {
		scores = append(scores[:0], make([]float32, p+1)...)
		for h := 0; h < nHeads; h++ {
			qh := q[(t*nHeads+h)*headDim : (t*nHeads+h+1)*headDim]
			kvOff := (h / group) * headDim * es
			for j := 0; j <= p; j++ {
				loadKV(kv.Type, row, kv.Key(j)[kvOff:])
				scores[j] = Dot(qh, row) * scale
			}
			Softmax(scores)
			oh := out[(t*nHeads+h)*headDim : (t*nHeads+h+1)*headDim]
			clear(oh)
			for j := 0; j <= p; j++ {
				loadKV(kv.Type, row, kv.Value(j)[kvOff:])
				for i := range oh {
					oh[i] += scores[j] * row[i]
				}
			}
		}
	}
}

// Embed copies row id of the embedding table into out.
func Embed(out []float32, table *Matrix, id int) {
	table.DequantizeRow(id, out)
}
