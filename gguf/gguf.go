// Package gguf reads and writes GGUF files, the single-file checkpoint format
// of llama.cpp: a header, typed key/value metadata, tensor descriptions, and
// the aligned tensor data.
//
// The reader maps the file into memory and never copies tensor data: a
// Tensor's Data is a slice of the mapping. Everything read from the file is
// checked against the file's size before it is used to size an allocation,
// so a corrupt or hostile file yields an error, not a panic or an
// out-of-memory crash.
package gguf

import (
	"fmt"
	"reflect"

	"github.com/aha-inference/aha/quant"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment applies when a file has no general.alignment key.
const DefaultAlignment = 32

// MaxDims is the most dimensions a GGML tensor can have.
const MaxDims = 4

// MaxTensors and MaxKV bound the tensor and metadata counts of a file read:
// far above real checkpoints' (a thousand tensors and fifty keys for the
// largest), far below what would exhaust memory.
const (
	MaxTensors = 1 << 20
	MaxKV      = 1 << 20
)

// ValueType is the type tag of a metadata value.
type ValueType uint32

const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("valuetype(%d)", uint32(t))
}

// size is the encoded size of a fixed-size value, or the least size of a
// variable-size one (a string's or array's length prefix); it bounds counts
// read from the file.
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64, TypeString:
		return 8
	case TypeArray:
		return 4 + 8
	}
	return 0
}

// KV is one metadata entry. Value holds a Go value of the matching type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64, float64, or an Array.
type KV struct {
	Key   string
	Value any
}

// Array is a metadata array. Values is a slice of the element type
// ([]uint32, []string, …); an array of arrays holds []Array.
type Array struct {
	Elem   ValueType
	Values any
}

// Len is the number of elements.
func (a Array) Len() int {
	if v := reflect.ValueOf(a.Values); v.Kind() == reflect.Slice {
		return v.Len()
	}
	return 0
}

// Tensor describes one tensor. Shape is in GGML order: Shape[0] (ne0) is the
// length of a row, the fastest-varying dimension, so a weight matrix with
// `out` rows of `in` elements has Shape [in, out] — the reverse of the
// row-major shape PyTorch and safetensors report.
type Tensor struct {
	Name   string
	Type   quant.Type
	Shape  []uint64
	Offset uint64 // from the start of the data section
	Data   []byte // the tensor's bytes, a slice of the mapped file
}

// Elements is the product of the shape.
func (t *Tensor) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Rows is the number of rows: the product of every dimension but the first
// (which may be 0).
func (t *Tensor) Rows() uint64 {
	n := uint64(1)
	for i := 1; i < len(t.Shape); i++ {
		n *= t.Shape[i]
	}
	return n
}
