package kernels

import (
	"runtime"
	"testing"

	"github.com/aha-inference/aha/quant"
)

// The CPU's KV pool lives outside the Go heap, so the collector's pacing
// (garbage up to the live heap's size) does not double its cost; Free
// unmaps it and may be called twice.
func TestHostPoolOutsideHeap(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const layers, blocks, blockSize, width = 4, 256, 16, 512
	p, err := newHostPool(layers, blocks, blockSize, width, quant.F16)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	size := uint64(2 * layers * blocks * blockSize * width * 2) // 32 MiB
	if grew := after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc); grew > size/8 {
		t.Errorf("a %d-byte pool grew the Go heap by %d bytes", size, grew)
	}
	k := make([]float32, width)
	for i := range k {
		k[i] = float32(i)
	}
	last := blocks*blockSize - 1
	p.store(layers-1, k, k, []int{last})
	got := make([]float32, width)
	kv := p.kv(layers-1, []int{blocks - 1})
	for i := range got {
		got[i] = quant.F16ToF32(uint16(kv.Key(blockSize - 1)[2*i]) | uint16(kv.Key(blockSize - 1)[2*i+1])<<8)
	}
	for i := range got {
		if got[i] != k[i] {
			t.Fatalf("the last slot's key %d: got %v, stored %v", i, got[i], k[i])
		}
	}
	p.Free()
	p.Free()
	if p.keys != nil {
		t.Error("Free left the pool's layers in place")
	}
}
