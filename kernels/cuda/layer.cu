// The elementwise and per-row operations of a decoder layer, so activations
// can stay on the device between matmuls. Each repeats the float operations
// of its Go reference in kernels/ref.go, float64 included where the
// reference uses it, and spells out rounding (__fmul_rn and friends) where
// the compiler could otherwise fuse a multiply and an add.
#include "quant.cuh"

#define NORM_THREADS 256

// rmsnorm: out = x / sqrt(mean(x²) + eps) · weight, one block of
// NORM_THREADS per row of d values; the squares are summed in float64, each
// thread over a fixed stride, then in a fixed tree. out may be x.
extern "C" __global__ void rmsnorm(float *out, const float *x, const float *weight, int d, float eps) {
	__shared__ double part[NORM_THREADS];
	const float *xr = x + (long long)blockIdx.x * d;
	float *outr = out + (long long)blockIdx.x * d;
	double ss = 0;
	for (int i = threadIdx.x; i < d; i += NORM_THREADS) ss += (double)xr[i] * (double)xr[i];
	part[threadIdx.x] = ss;
	__syncthreads();
	for (int s = NORM_THREADS / 2; s > 0; s >>= 1) {
		if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
		__syncthreads();
	}
	float scale = (float)(1.0 / sqrt(part[0] / d + (double)eps));
	for (int i = threadIdx.x; i < d; i += NORM_THREADS) outr[i] = __fmul_rn(__fmul_rn(xr[i], scale), weight[i]);
}

// rope rotates pair i of every head of row t by pos[t]·freqs[i]; one thread
// per pair. interleaved pairs elements 2i, 2i+1, else i, i+headDim/2.
extern "C" __global__ void rope(float *x, const int *pos, const double *freqs, int n, int nHeads, int headDim,
                                int interleaved) {
	int half = headDim / 2;
	long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x;
	if (id >= (long long)n * nHeads * half) return;
	int i = id % half;
	long long head = id / half;  // t·nHeads + h
	int t = head / nHeads;
	double sn, cs;
	sincos((double)pos[t] * freqs[i], &sn, &cs);
	float s = (float)sn, c = (float)cs;
	float *hp = x + head * headDim;
	int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
	float a = hp[ia], b = hp[ib];
	hp[ia] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
	hp[ib] = __fadd_rn(__fmul_rn(a, s), __fmul_rn(b, c));
}

// silu_mul: gate = silu(gate)·up.
extern "C" __global__ void silu_mul(float *gate, const float *up, long long n) {
	long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n) return;
	float g = gate[i];
	gate[i] = __fmul_rn(__fdiv_rn(g, __fadd_rn(1.f, (float)exp(-(double)g))), up[i]);
}

// add_rows: x[i] += y[i % d]. With d = n it is the residual add; with d a
// row width it adds a bias to every row.
extern "C" __global__ void add_rows(float *x, const float *y, long long n, long long d) {
	long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) x[i] = __fadd_rn(x[i], y[i % d]);
}

// embed: out row t = row ids[t] of the table, decoded; one thread per group
// of 8 columns (cols is a multiple of 8 for every type but the float ones,
// whose tail the last thread copies).
template <int t>
__device__ void embed(float *out, const uint8_t *table, long long rowBytes, const int *ids, int cols) {
	int g = blockIdx.x * blockDim.x + threadIdx.x, groups = (cols + 7) / 8;
	if (g >= groups) return;
	const uint8_t *row = table + ids[blockIdx.y] * rowBytes;
	float *o = out + (long long)blockIdx.y * cols;
	if (8 * g + 8 <= cols) {
		float w[8];
		decode8<t>(row, g, w);
		for (int e = 0; e < 8; e++) o[8 * g + e] = w[e];
		return;
	}
	for (int i = 8 * g; i < cols; i++) o[i] = decode1<t>(row, i);
}

#define EMBED(name, type)                                                                                 \
	extern "C" __global__ void name(float *out, const uint8_t *table, long long rowBytes, const int *ids, \
	                                int cols) {                                                           \
		embed<type>(out, table, rowBytes, ids, cols);                                                      \
	}
EMBED(embed_f32, T_F32)
EMBED(embed_f16, T_F16)
EMBED(embed_bf16, T_BF16)
EMBED(embed_q8_0, T_Q8_0)
EMBED(embed_q4_0, T_Q4_0)
EMBED(embed_q4_k, T_Q4_K)
EMBED(embed_q6_k, T_Q6_K)
