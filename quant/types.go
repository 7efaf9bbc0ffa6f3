// Package quant describes the weight types aha reads and writes — the GGML
// tensor types that GGUF files store — and converts them to and from float32.
//
// Every type is stored in blocks: BlockSize elements packed into TypeSize
// bytes. A row of n elements (n a multiple of BlockSize) takes RowBytes(n)
// bytes. The dequantizers here are the plain reference, the oracle the fast
// kernels are tested against; the quantizers reproduce ggml's reference
// quantizers byte for byte, so files written here match llama-quantize's.
package quant

import (
	"fmt"
	"strings"
)

// Type is a GGML tensor type id, as stored in GGUF tensor infos.
type Type uint32

// The ids are GGML's; they are part of the GGUF file format.
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q4_1 Type = 3
	Q5_0 Type = 6
	Q5_1 Type = 7
	Q8_0 Type = 8
	Q8_1 Type = 9
	Q2_K Type = 10
	Q3_K Type = 11
	Q4_K Type = 12
	Q5_K Type = 13
	Q6_K Type = 14
	Q8_K Type = 15
	BF16 Type = 30
)

type typeInfo struct {
	name      string
	blockSize int // elements per block
	typeSize  int // bytes per block
}

// QK_K is the number of elements in a K-quant super-block.
const QK_K = 256

var types = map[Type]typeInfo{
	F32:  {"F32", 1, 4},
	F16:  {"F16", 1, 2},
	BF16: {"BF16", 1, 2},
	Q4_0: {"Q4_0", 32, 2 + 16},
	Q4_1: {"Q4_1", 32, 2 + 2 + 16},
	Q5_0: {"Q5_0", 32, 2 + 4 + 16},
	Q5_1: {"Q5_1", 32, 2 + 2 + 4 + 16},
	Q8_0: {"Q8_0", 32, 2 + 32},
	Q8_1: {"Q8_1", 32, 2 + 2 + 32},
	Q2_K: {"Q2_K", QK_K, QK_K/16 + QK_K/4 + 2 + 2},
	Q3_K: {"Q3_K", QK_K, QK_K/8 + QK_K/4 + 12 + 2},
	Q4_K: {"Q4_K", QK_K, 2 + 2 + 12 + QK_K/2},
	Q5_K: {"Q5_K", QK_K, 2 + 2 + 12 + QK_K/8 + QK_K/2},
	Q6_K: {"Q6_K", QK_K, QK_K/2 + QK_K/4 + QK_K/16 + 2},
	Q8_K: {"Q8_K", QK_K, 4 + QK_K + QK_K/16*2},
}

// Known reports whether t is a type this package can describe.
func (t Type) Known() bool { _, ok := types[t]; return ok }

func (t Type) String() string {
	if info, ok := types[t]; ok {
		return info.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements in one block of t (1 for float types).
func (t Type) BlockSize() int { return types[t].blockSize }

// TypeSize is the number of bytes in one block of t.
func (t Type) TypeSize() int { return types[t].typeSize }

// RowBytes is the number of bytes n elements of type t take. n must be a
// multiple of t.BlockSize(); RowBytes returns an error otherwise.
func (t Type) RowBytes(n int) (int, error) {
	info, ok := types[t]
	if !ok {
		return 0, fmt.Errorf("unknown tensor type %d", uint32(t))
	}
	if n < 0 || n%info.blockSize != 0 {
		return 0, fmt.Errorf("%s: row of %d elements is not a multiple of the block size %d", info.name, n, info.blockSize)
	}
	return n / info.blockSize * info.typeSize, nil
}

// ParseType maps a type name ("q8_0", "BF16", …) to its Type.
func ParseType(name string) (Type, error) {
	for t, info := range types {
		if strings.EqualFold(info.name, name) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown weight type %q", name)
}
