//go:build cuda

package cuda

// This file is a small binding of the CUDA driver API, loaded at run time
// with dlopen rather than linked. A binary built with -tags cuda therefore
// starts on any machine: without libcuda.so.1 (no driver), or with a driver
// but no device, New returns an error and the caller falls back to the CPU.
// gorgonia.org/cu was the first choice, but its package init calls cuInit and
// exits the process when that fails, which rules out both the fallback and
// tests that skip without a GPU.
//
// Only cuda.h's types are used at build time (Debian's nvidia-cuda-dev);
// nothing from the toolkit is linked.

/*
#cgo LDFLAGS: -ldl
#include <cuda.h>
#include <dlfcn.h>
#include <stdlib.h>

// Each driver entry point we use, as a pointer of the type cuda.h declares,
// filled by dlsym. cuda.h maps some names to versioned ones (cuMemAlloc is
// cuMemAlloc_v2), and STR spells the mapped name, which is the symbol.
#define STR2(x) #x
#define STR(x) STR2(x)
#define CU_FUNCS(X) \
	X(cuInit, (unsigned int f), (f)) \
	X(cuDeviceGetCount, (int *n), (n)) \
	X(cuDeviceGet, (CUdevice *d, int i), (d, i)) \
	X(cuDeviceGetName, (char *s, int n, CUdevice d), (s, n, d)) \
	X(cuDeviceGetAttribute, (int *v, CUdevice_attribute a, CUdevice d), (v, a, d)) \
	X(cuDevicePrimaryCtxRetain, (CUcontext *c, CUdevice d), (c, d)) \
	X(cuDevicePrimaryCtxRelease, (CUdevice d), (d)) \
	X(cuCtxSetCurrent, (CUcontext c), (c)) \
	X(cuMemAlloc, (CUdeviceptr *p, size_t n), (p, n)) \
	X(cuMemFree, (CUdeviceptr p), (p)) \
	X(cuMemGetInfo, (size_t *free, size_t *total), (free, total)) \
	X(cuMemcpyHtoDAsync, (CUdeviceptr d, const void *h, size_t n, CUstream s), (d, h, n, s)) \
	X(cuMemcpyDtoHAsync, (void *h, CUdeviceptr d, size_t n, CUstream s), (h, d, n, s)) \
	X(cuMemcpyDtoDAsync, (CUdeviceptr d, CUdeviceptr src, size_t n, CUstream s), (d, src, n, s)) \
	X(cuMemsetD8Async, (CUdeviceptr d, unsigned char v, size_t n, CUstream s), (d, v, n, s)) \
	X(cuStreamCreate, (CUstream *s, unsigned int f), (s, f)) \
	X(cuStreamDestroy, (CUstream s), (s)) \
	X(cuStreamSynchronize, (CUstream s), (s)) \
	X(cuModuleLoadDataEx, (CUmodule *m, const void *img, unsigned int n, CUjit_option *o, void **v), (m, img, n, o, v)) \
	X(cuModuleUnload, (CUmodule m), (m)) \
	X(cuModuleGetFunction, (CUfunction *f, CUmodule m, const char *name), (f, m, name)) \
	X(cuLaunchKernel, \
		(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int smem, CUstream s, void **args, void **extra), \
		(f, gx, gy, gz, bx, by, bz, smem, s, args, extra)) \
	X(cuGetErrorName, (CUresult r, const char **s), (r, s))

#define DECLARE(fn, params, args) \
	static __typeof__(fn) *p_##fn; \
	static CUresult call_##fn params { return p_##fn args; }
CU_FUNCS(DECLARE)

// load opens the driver library and resolves every entry point. It returns
// NULL on success, else a message (valid until the next dl call).
static const char *load_driver(void) {
	void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib) return dlerror();
#define RESOLVE(fn, params, args) \
	if (!(p_##fn = dlsym(lib, STR(fn)))) return "libcuda.so.1 lacks " STR(fn);
	CU_FUNCS(RESOLVE)
	return NULL;
}

// load_module JIT-compiles PTX, keeping the JIT's error log for the message.
static CUresult load_module(CUmodule *m, const char *ptx, char *log, unsigned int logSize) {
	CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
	void *vals[] = {log, (void *)(size_t)logSize};
	return p_cuModuleLoadDataEx(m, ptx, 2, opts, vals);
}
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// driverErr is a failed driver call: the function and CUDA's name for the
// result, e.g. "cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY".
type driverErr struct {
	call string
	code C.CUresult
}

func (e *driverErr) Error() string {
	var name *C.char
	if C.call_cuGetErrorName(e.code, &name) != C.CUDA_SUCCESS || name == nil {
		return fmt.Sprintf("%s: CUDA error %d", e.call, int(e.code))
	}
	return e.call + ": " + C.GoString(name)
}

// outOfMemory reports whether err is the driver saying device memory ran out.
func outOfMemory(err error) bool {
	d, ok := err.(*driverErr)
	return ok && d.code == C.CUDA_ERROR_OUT_OF_MEMORY
}

func check(call string, r C.CUresult) error {
	if r != C.CUDA_SUCCESS {
		return &driverErr{call, r}
	}
	return nil
}

var (
	initOnce sync.Once
	initErr  error
)

// initDriver loads libcuda and calls cuInit, once per process.
func initDriver() error {
	initOnce.Do(func() {
		if msg := C.load_driver(); msg != nil {
			initErr = fmt.Errorf("no CUDA driver: %s", C.GoString(msg))
			return
		}
		initErr = check("cuInit", C.call_cuInit(0))
	})
	return initErr
}

// deviceCount is the number of CUDA devices, after loading the driver.
func deviceCount() (int, error) {
	if err := initDriver(); err != nil {
		return 0, err
	}
	var n C.int
	if err := check("cuDeviceGetCount", C.call_cuDeviceGetCount(&n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

// devicePtr is an address in device memory.
type devicePtr = C.CUdeviceptr

// context is device 0's primary context with one stream. Driver calls need
// the context current on the calling OS thread; Backend locks the goroutine
// to its thread and calls makeCurrent at the start of each operation.
type context struct {
	dev    C.CUdevice
	ctx    C.CUcontext
	stream C.CUstream
	name   string
	cc     int // compute capability, major·10 + minor
}

func openContext(ordinal int) (*context, error) {
	c := &context{}
	if err := check("cuDeviceGet", C.call_cuDeviceGet(&c.dev, C.int(ordinal))); err != nil {
		return nil, err
	}
	var name [256]C.char
	if err := check("cuDeviceGetName", C.call_cuDeviceGetName(&name[0], C.int(len(name)), c.dev)); err != nil {
		return nil, err
	}
	c.name = C.GoString(&name[0])
	var major, minor C.int
	if err := check("cuDeviceGetAttribute", C.call_cuDeviceGetAttribute(&major, C.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, c.dev)); err != nil {
		return nil, err
	}
	if err := check("cuDeviceGetAttribute", C.call_cuDeviceGetAttribute(&minor, C.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, c.dev)); err != nil {
		return nil, err
	}
	c.cc = int(major)*10 + int(minor)
	if err := check("cuDevicePrimaryCtxRetain", C.call_cuDevicePrimaryCtxRetain(&c.ctx, c.dev)); err != nil {
		return nil, err
	}
	if err := c.makeCurrent(); err != nil {
		c.close()
		return nil, err
	}
	if err := check("cuStreamCreate", C.call_cuStreamCreate(&c.stream, C.CU_STREAM_NON_BLOCKING)); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *context) makeCurrent() error { return check("cuCtxSetCurrent", C.call_cuCtxSetCurrent(c.ctx)) }

func (c *context) close() {
	if c.stream != nil {
		C.call_cuStreamDestroy(c.stream)
	}
	C.call_cuDevicePrimaryCtxRelease(c.dev)
}

// memInfo is the device's free and total memory in bytes.
func (c *context) memInfo() (free, total int64, err error) {
	var f, t C.size_t
	err = check("cuMemGetInfo", C.call_cuMemGetInfo(&f, &t))
	return int64(f), int64(t), err
}

func (c *context) alloc(bytes int) (devicePtr, error) {
	var p C.CUdeviceptr
	err := check("cuMemAlloc", C.call_cuMemAlloc(&p, C.size_t(max(bytes, 1))))
	return p, err
}

func (c *context) free(p devicePtr) { C.call_cuMemFree(p) }

// upload copies host bytes to the device, in stream order.
func (c *context) upload(dst devicePtr, src unsafe.Pointer, bytes int) error {
	if bytes == 0 {
		return nil
	}
	return check("cuMemcpyHtoD", C.call_cuMemcpyHtoDAsync(dst, src, C.size_t(bytes), c.stream))
}

// download copies device bytes to the host, in stream order; the host
// memory is valid once sync returns.
func (c *context) download(dst unsafe.Pointer, src devicePtr, bytes int) error {
	if bytes == 0 {
		return nil
	}
	return check("cuMemcpyDtoH", C.call_cuMemcpyDtoHAsync(dst, src, C.size_t(bytes), c.stream))
}

// copyDevice copies device bytes within the device, in stream order.
func (c *context) copyDevice(dst, src devicePtr, bytes int) error {
	if bytes == 0 {
		return nil
	}
	return check("cuMemcpyDtoD", C.call_cuMemcpyDtoDAsync(dst, src, C.size_t(bytes), c.stream))
}

// zero clears device bytes, in stream order.
func (c *context) zero(dst devicePtr, bytes int) error {
	if bytes == 0 {
		return nil
	}
	return check("cuMemsetD8", C.call_cuMemsetD8Async(dst, 0, C.size_t(bytes), c.stream))
}

func (c *context) sync() error {
	return check("cuStreamSynchronize", C.call_cuStreamSynchronize(c.stream))
}

// module is a loaded PTX module.
type module struct{ mod C.CUmodule }

// loadModule JIT-compiles PTX text for the current device.
func (c *context) loadModule(name, ptx string) (module, error) {
	src := C.CString(ptx)
	defer C.free(unsafe.Pointer(src))
	var log [8192]C.char
	var m module
	if r := C.load_module(&m.mod, src, &log[0], C.uint(len(log))); r != C.CUDA_SUCCESS {
		return m, fmt.Errorf("load %s: %w: %s", name, &driverErr{"cuModuleLoadDataEx", r}, C.GoString(&log[0]))
	}
	return m, nil
}

func (m module) unload() { C.call_cuModuleUnload(m.mod) }

// function is a kernel entry point.
type function struct {
	fn   C.CUfunction
	name string
}

func (m module) function(name string) (function, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	f := function{name: name}
	err := check("cuModuleGetFunction "+name, C.call_cuModuleGetFunction(&f.fn, m.mod, cname))
	return f, err
}

// launch runs f on a grid of blocks. Each argument is a devicePtr, int32,
// int64 or float32, passed by value as the kernel declares it.
func (c *context) launch(f function, grid, block [3]int, sharedBytes int, args ...any) error {
	// The driver reads each argument through a pointer; the values live in
	// C memory so that no Go pointer is handed to C inside another.
	vals := C.malloc(C.size_t(8 * len(args)))
	ptrs := C.malloc(C.size_t(unsafe.Sizeof(unsafe.Pointer(nil))) * C.size_t(max(len(args), 1)))
	defer C.free(vals)
	defer C.free(ptrs)
	valSlots := unsafe.Slice((*uint64)(vals), len(args))
	ptrSlots := unsafe.Slice((*unsafe.Pointer)(ptrs), len(args))
	for i, a := range args {
		p := unsafe.Pointer(&valSlots[i])
		switch v := a.(type) {
		case devicePtr:
			*(*C.CUdeviceptr)(p) = v
		case int32:
			*(*int32)(p) = v
		case int64:
			*(*int64)(p) = v
		case float32:
			*(*float32)(p) = v
		default:
			return fmt.Errorf("launch %s: argument %d has unsupported type %T", f.name, i, a)
		}
		ptrSlots[i] = p
	}
	r := C.call_cuLaunchKernel(f.fn, C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]),
		C.uint(block[0]), C.uint(block[1]), C.uint(block[2]), C.uint(sharedBytes), c.stream,
		(*unsafe.Pointer)(ptrs), nil)
	return check("cuLaunchKernel "+f.name, r)
}
