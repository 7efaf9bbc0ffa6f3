//go:build cuda

package cuda

import (
	_ "embed"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/aha-inference/aha/kernels"
)

// The kernels, compiled to PTX by go generate and JIT-compiled by the driver
// for whatever GPU it finds.
var (
	//go:embed matmul.ptx
	matmulPTX string
	//go:embed attention.ptx
	attentionPTX string
	//go:embed layer.ptx
	layerPTX string
)

// Backend runs the model's operations on an NVIDIA GPU. Weights are copied
// to the device once, on first use or by Prepare, and so are the model's
// small vectors and rope frequencies; the activations and a float32 KV
// cache live in device memory the backend allocated (memory.go), so a step
// uploads only its token ids, positions, slots and block tables and
// downloads only the logits read.
//
// The kernels keep the CPU backend's promise: a row's result does not depend
// on what else is in the batch. Split counts and tile shapes depend only on
// matrix shapes and context lengths.
//
// The kernels.Backend methods have no error result: a device failure there
// (lost device, out of memory for activations) is kept for Err, and the
// operations after it do nothing until Err is called. Prepare uploads the
// weights at load, where running out of memory is an error.
//
// A Backend is safe for concurrent use; calls are serialized.
type Backend struct {
	mu      sync.Mutex
	ctx     *context
	modules []module
	fn      map[string]function
	weights map[weightKey]*deviceMatrix
	freqs   map[*float64]devicePtr // device copies of rope frequencies, by host slice
	scratch map[string]*buffer     // an operation's integers and partial sums, grown as needed

	errMu sync.Mutex
	err   error // the first failure since Err was last called
}

// Errors New wraps, so a caller can tell why there is no GPU.
var (
	ErrNoDevice = errors.New("no CUDA device")
	ErrTooOld   = errors.New("CUDA device too old (aha needs compute capability 8.0 or newer)")
)

// New opens the first CUDA device. It returns an error, and never panics,
// when the driver library is missing, no device is present, the device is
// older than compute capability 8.0, or the kernels fail to load.
func New() (kernels.Backend, error) {
	b, err := Open()
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Open is New with the concrete type, for callers that use Prepare or the
// per-operation methods.
func Open() (*Backend, error) {
	n, err := deviceCount()
	if err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("cuda: %w", ErrNoDevice)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx, err := openContext(0)
	if err != nil {
		return nil, fmt.Errorf("cuda: open device 0: %w", err)
	}
	if ctx.cc < 80 {
		ctx.close()
		return nil, fmt.Errorf("cuda: %s is compute capability %d.%d: %w", ctx.name, ctx.cc/10, ctx.cc%10, ErrTooOld)
	}
	b := &Backend{ctx: ctx, fn: map[string]function{}, weights: map[weightKey]*deviceMatrix{},
		freqs: map[*float64]devicePtr{}, scratch: map[string]*buffer{}}
	for _, src := range []struct{ name, ptx string }{{"matmul.ptx", matmulPTX}, {"attention.ptx", attentionPTX}, {"layer.ptx", layerPTX}} {
		if err := b.load(src.name, src.ptx); err != nil {
			b.release()
			return nil, fmt.Errorf("cuda: %w", err)
		}
	}
	return b, nil
}

// load JIT-compiles one PTX file and looks up its entry points.
func (b *Backend) load(name, ptx string) error {
	m, err := b.ctx.loadModule(name, ptx)
	if err != nil {
		return err
	}
	b.modules = append(b.modules, m)
	for _, entry := range entryPoints(ptx) {
		f, err := m.function(entry)
		if err != nil {
			return fmt.Errorf("load %s: %w", name, err)
		}
		b.fn[entry] = f
	}
	return nil
}

func (b *Backend) Name() string {
	return fmt.Sprintf("cuda (%s, compute %d.%d)", b.ctx.name, b.ctx.cc/10, b.ctx.cc%10)
}

// Close frees the device memory and releases the device; b must not be used
// afterwards.
func (b *Backend) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if b.ctx.makeCurrent() == nil {
		b.release()
	}
}

func (b *Backend) release() {
	for _, w := range b.weights {
		b.ctx.free(w.data)
	}
	for _, p := range b.freqs {
		b.ctx.free(p)
	}
	for _, buf := range b.scratch {
		b.ctx.free(buf.ptr)
	}
	for _, m := range b.modules {
		m.unload()
	}
	b.ctx.close()
}

// run calls f with the device's context current on this thread, then waits
// for the queued work, whose errors surface there.
func (b *Backend) run(f func() error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := b.ctx.makeCurrent(); err != nil {
		return err
	}
	if err := f(); err != nil {
		return err
	}
	return b.ctx.sync()
}

// must is run for the kernels.Backend methods, which have no error result:
// it keeps the first failure for Err and skips every operation after it,
// whose inputs are already undefined.
func (b *Backend) must(op string, f func() error) {
	b.errMu.Lock()
	failed := b.err != nil
	b.errMu.Unlock()
	if failed {
		return
	}
	if err := b.run(f); err != nil {
		b.fail(fmt.Errorf("cuda %s: %w", op, err))
	}
}

// fail keeps err unless an earlier failure is being kept.
func (b *Backend) fail(err error) {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	if b.err == nil {
		b.err = err
	}
}

// Err returns the first failure since the previous call, and forgets it.
func (b *Backend) Err() error {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	err := b.err
	b.err = nil
	return err
}

// buffer is device memory that grows to the largest size asked of it.
type buffer struct {
	ptr   devicePtr
	bytes int
}

// scratchBuf returns the named scratch buffer with room for at least bytes.
func (b *Backend) scratchBuf(name string, bytes int) (devicePtr, error) {
	buf := b.scratch[name]
	if buf == nil {
		buf = &buffer{}
		b.scratch[name] = buf
	}
	if err := b.grow(buf, bytes); err != nil {
		return 0, fmt.Errorf("%s buffer: %w", name, err)
	}
	return buf.ptr, nil
}

func (b *Backend) grow(buf *buffer, bytes int) error {
	if bytes <= buf.bytes {
		return nil
	}
	if buf.bytes > 0 {
		b.ctx.free(buf.ptr)
		buf.bytes = 0
	}
	p, err := b.ctx.alloc(bytes)
	if err != nil {
		return b.memoryError(bytes, err)
	}
	buf.ptr, buf.bytes = p, bytes
	return nil
}

// memoryError says how much was asked and what was free when an allocation
// fails for lack of memory.
func (b *Backend) memoryError(bytes int, err error) error {
	if !outOfMemory(err) {
		return err
	}
	free, total, ierr := b.ctx.memInfo()
	if ierr != nil {
		return fmt.Errorf("out of device memory allocating %d MiB: %w", bytes>>20, err)
	}
	return fmt.Errorf("out of device memory allocating %d MiB (%d MiB free of %d MiB): %w", bytes>>20, free>>20, total>>20, err)
}

// uploadSlice copies a host slice into the named scratch buffer.
func uploadSlice[T any](b *Backend, name string, s []T) (devicePtr, error) {
	bytes := len(s) * int(unsafe.Sizeof(*new(T)))
	p, err := b.scratchBuf(name, bytes)
	if err != nil {
		return 0, err
	}
	if bytes > 0 {
		err = b.ctx.upload(p, unsafe.Pointer(unsafe.SliceData(s)), bytes)
	}
	return p, err
}

func int32s(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}
