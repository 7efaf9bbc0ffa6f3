// Matrix multiplication out = x·Wᵀ: W is rows×cols in its stored type, x is n
// rows of cols floats, out is n rows of rows floats.
//
// Every output element is computed by the same operations whatever n is and
// wherever its row and token fall in the grid: each (row, token) pair has its
// own accumulator, and the order in which the columns are summed depends only
// on cols. The columns are split into chunks of splitLen (chosen from cols
// alone, a multiple of 256) so that small batches still fill the GPU; each
// chunk's sum lands in part[split][token][row], and sum_splits adds the chunks
// in order. With one chunk the kernels write out directly.
#include "quant.cuh"

#define WARPS 4  // warps (weight rows, or 16-row tiles) per block
#define TB 8     // tokens per matvec warp

__device__ __forceinline__ float warp_sum(float s) {
	for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
	return __shfl_sync(0xffffffffu, s, 0);  // lanes may differ in the last bit: take lane 0's
}

// matvec: one warp per weight row and TB tokens, plain FMA in float32. Lane
// l takes groups l, l+32, … of the split's columns, decoding each group of 8
// weights once for all TB tokens; the lanes' sums meet in a fixed tree.
// Grid: (⌈rows/WARPS⌉, ⌈n/TB⌉, splits), block WARPS·32.
template <int t>
__device__ void matvec(const uint8_t *W, long long rowBytes, const float *x, float *dst,
                       int rows, int cols, int n, int splitLen) {
	int lane = threadIdx.x % 32;
	int r = blockIdx.x * WARPS + threadIdx.x / 32;
	int t0 = blockIdx.y * TB, split = blockIdx.z;
	if (r >= rows) return;
	int c0 = split * splitLen, c1 = min(cols, c0 + splitLen);
	const uint8_t *row = W + r * rowBytes;
	float acc[TB];
	for (int j = 0; j < TB; j++) acc[j] = 0.f;
	for (int g = c0 / 8 + lane; g < c1 / 8; g += 32) {
		float w[8];
		decode8<t>(row, g, w);
		for (int j = 0; j < TB; j++) {
			if (t0 + j >= n) break;
			const float *xt = x + (long long)(t0 + j) * cols + 8 * g;
			float s = acc[j];
			for (int e = 0; e < 8; e++) s = fmaf(w[e], xt[e], s);
			acc[j] = s;
		}
	}
	if (t == T_F32 || t == T_F16 || t == T_BF16) {
		int i = c1 / 8 * 8 + lane;  // the last split's tail, one column per lane
		if (i < c1) {
			float w = decode1<t>(row, i);
			for (int j = 0; j < TB && t0 + j < n; j++) acc[j] = fmaf(w, x[(long long)(t0 + j) * cols + i], acc[j]);
		}
	}
	for (int j = 0; j < TB; j++) {
		float s = warp_sum(acc[j]);  // every lane takes part in the shuffles
		if (lane == 0 && t0 + j < n) dst[((long long)split * n + t0 + j) * rows + r] = s;
	}
}

#define MATVEC(name, type)                                                                          \
	extern "C" __global__ void name(const uint8_t *W, long long rowBytes, const float *x, float *dst, \
	                                int rows, int cols, int n, int splitLen) {                         \
		matvec<type>(W, rowBytes, x, dst, rows, cols, n, splitLen);                                     \
	}
MATVEC(matvec_f32, T_F32)
MATVEC(matvec_f16, T_F16)
MATVEC(matvec_bf16, T_BF16)
MATVEC(matvec_q8_0, T_Q8_0)
MATVEC(matvec_q4_0, T_Q4_0)
MATVEC(matvec_q4_k, T_Q4_K)
MATVEC(matvec_q6_k, T_Q6_K)

// The tensor-core path for f16 and bf16 weights: mma.sync m16n8k16 with
// float32 accumulators, the activations rounded to the weights' type. A warp
// owns a tile of 16 weight rows × 32 tokens (four 16×8 accumulators) and
// walks the split's columns 16 at a time, so every element's sum runs over
// the same instruction sequence whatever the batch. Rows, tokens and
// columns past the ends are read as zeros.
// Grid: (⌈rows/(16·WARPS)⌉, ⌈n/32⌉, splits), block WARPS·32.
#define MMA_TOKENS 32

template <bool bf16>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
	uint32_t v;
	if (bf16) {
		__nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
		v = *(uint32_t *)&h;
	} else {
		__half2 h = __floats2half2_rn(lo, hi);
		v = *(uint32_t *)&h;
	}
	return v;
}

// weights2 loads W[r][k], W[r][k+1] as one register (k is even), lower
// index in the low half as mma expects; columns from end on read as zero.
__device__ __forceinline__ uint32_t weights2(const uint16_t *W, int rows, int cols, int end, int r, int k) {
	if (r >= rows) return 0;
	const uint16_t *p = W + (long long)r * cols + k;
	if (k + 1 < end && cols % 2 == 0) return *(const uint32_t *)p;  // aligned: rows start at even offsets
	uint32_t lo = k < end ? p[0] : 0, hi = k + 1 < end ? p[1] : 0;
	return lo | hi << 16;
}

template <bool bf16>
__device__ __forceinline__ uint32_t acts2(const float *x, int n, int cols, int end, int t, int k) {
	if (t >= n) return 0;
	const float *p = x + (long long)t * cols + k;
	return pack2<bf16>(k < end ? p[0] : 0.f, k + 1 < end ? p[1] : 0.f);
}

template <bool bf16>
__device__ void mma_gemm(const uint16_t *W, const float *x, float *dst, int rows, int cols, int n, int splitLen) {
	int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
	int r0 = (blockIdx.x * WARPS + threadIdx.x / 32) * 16;
	int t0 = blockIdx.y * MMA_TOKENS, split = blockIdx.z;
	if (r0 >= rows) return;  // whole warp: the mma below needs all 32 lanes
	int c0 = split * splitLen, c1 = min(cols, c0 + splitLen);
	float acc[MMA_TOKENS / 8][4] = {};
	for (int k = c0; k < c1; k += 16) {
		// Fragment layouts of the PTX ISA for m16n8k16: A holds rows g and
		// g+8 at columns 2q, 2q+1 (+8); B holds token g at columns 2q, 2q+1 (+8).
		uint32_t a0 = weights2(W, rows, cols, c1, r0 + g, k + 2 * q);
		uint32_t a1 = weights2(W, rows, cols, c1, r0 + g + 8, k + 2 * q);
		uint32_t a2 = weights2(W, rows, cols, c1, r0 + g, k + 2 * q + 8);
		uint32_t a3 = weights2(W, rows, cols, c1, r0 + g + 8, k + 2 * q + 8);
		for (int j = 0; j < MMA_TOKENS / 8; j++) {
			int t = t0 + 8 * j + g;
			uint32_t b0 = acts2<bf16>(x, n, cols, c1, t, k + 2 * q);
			uint32_t b1 = acts2<bf16>(x, n, cols, c1, t, k + 2 * q + 8);
			float *c = acc[j];
			if (bf16)
				asm volatile(
				    "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
				    : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
				    : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
			else
				asm volatile(
				    "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
				    : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
				    : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
		}
	}
	// Accumulator layout: c[0], c[1] are row g, tokens 2q, 2q+1; c[2], c[3]
	// the same tokens of row g+8.
	for (int j = 0; j < MMA_TOKENS / 8; j++) {
		for (int e = 0; e < 4; e++) {
			int r = r0 + g + 8 * (e / 2), t = t0 + 8 * j + 2 * q + e % 2;
			if (r < rows && t < n) dst[((long long)split * n + t) * rows + r] = acc[j][e];
		}
	}
}

extern "C" __global__ void mma_f16(const uint16_t *W, const float *x, float *dst, int rows, int cols, int n, int splitLen) {
	mma_gemm<false>(W, x, dst, rows, cols, n, splitLen);
}

extern "C" __global__ void mma_bf16(const uint16_t *W, const float *x, float *dst, int rows, int cols, int n, int splitLen) {
	mma_gemm<true>(W, x, dst, rows, cols, n, splitLen);
}

// sum_splits adds the splits' partial sums in split order: out[i] =
// Σ_s part[s·count + i].
extern "C" __global__ void sum_splits(const float *part, float *out, long long count, int splits) {
	long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= count) return;
	float s = part[i];
	for (int z = 1; z < splits; z++) s += part[z * count + i];
	out[i] = s;
}
