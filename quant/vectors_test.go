package quant

import (
	"encoding/binary"
	"math"
	"os"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
)

// The shared vectors (../shared/testdata/quants, see its SOURCE.md) are 128
// rows of 256 floats quantized by llama.cpp's ggml_quantize_chunk without an
// importance matrix, and llama.cpp's dequantization of those blocks.
const vecRows, vecCols = 128, 256

var vectorTypes = []Type{F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K}

func readVector(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(shared.Path(t, "testdata/quants/"+name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readFloats(t *testing.T, name string) []float32 {
	t.Helper()
	data := readVector(t, name)
	out := make([]float32, len(data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return out
}

// TestDequantizeVectors requires bit-for-bit agreement with llama.cpp.
func TestDequantizeVectors(t *testing.T) {
	for _, typ := range vectorTypes {
		t.Run(typ.String(), func(t *testing.T) {
			blocks := readVector(t, typ.String()+".bin")
			want := readFloats(t, typ.String()+".f32")
			if n, _ := typ.RowBytes(vecRows * vecCols); len(blocks) != n || len(want) != vecRows*vecCols {
				t.Fatalf("vector sizes: %d bytes, %d floats", len(blocks), len(want))
			}
			got := make([]float32, len(want))
			if err := Dequantize(typ, blocks, got); err != nil {
				t.Fatal(err)
			}
			bad := 0
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					if bad < 5 {
						t.Errorf("element %d (row %d): got %g (%#08x), want %g (%#08x)", i, i/vecCols,
							got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d elements differ", bad, len(want))
			}
		})
	}
}

// TestQuantizeVectors requires byte-for-byte agreement with llama.cpp's
// quantization of source.f32, quantized row by row.
func TestQuantizeVectors(t *testing.T) {
	src := readFloats(t, "source.f32")
	for _, typ := range vectorTypes {
		t.Run(typ.String(), func(t *testing.T) {
			want := readVector(t, typ.String()+".bin")
			rowBytes, _ := typ.RowBytes(vecCols)
			got := make([]byte, len(want))
			for r := range vecRows {
				if err := Quantize(typ, src[r*vecCols:(r+1)*vecCols], got[r*rowBytes:(r+1)*rowBytes]); err != nil {
					t.Fatal(err)
				}
			}
			badRows := 0
			for r := range vecRows {
				g, w := got[r*rowBytes:(r+1)*rowBytes], want[r*rowBytes:(r+1)*rowBytes]
				for i := range g {
					if g[i] != w[i] {
						if badRows < 5 {
							t.Errorf("row %d: first difference at byte %d: got %#02x, want %#02x", r, i, g[i], w[i])
						}
						badRows++
						break
					}
				}
			}
			if badRows > 0 {
				t.Errorf("%d of %d rows differ", badRows, vecRows)
			}
		})
	}
}
