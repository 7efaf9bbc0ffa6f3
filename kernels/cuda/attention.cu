// Causal grouped-query attention over a paged KV cache (see the reference
// kernels.Attention): query row t at position pos[t] attends to positions
// 0…pos[t], whose keys and values live in the pools at block
// table[p/blockSize], row p%blockSize.
//
// One algorithm serves prefill and decode alike, so a query row gets the same
// numbers however the prompt was chunked or batched. The context is cut into
// splits of splitLen positions (a constant of the Go side), so the number of
// splits depends only on the row's position. A warp computes one (row, head,
// split): flash-attention's online softmax over the split's keys, with the
// running maximum m, normalizer l and unnormalized output o. attention_combine
// then merges the splits in order. The warps of a block are query heads that
// share one KV head (GQA), so they read the same keys and values together.
#include <math_constants.h>

#define MAX_DIM_PER_LANE 8  // head sizes up to 256

// Grid: (n · nHeads/heads, max splits), block heads·32, heads dividing the
// group size nHeads/nKVHeads.
extern "C" __global__ void attention_split(const float *q, const float *K, const float *V, const int *table,
                                           const int *pos, float *pm, float *pl, float *po, int n, int nHeads,
                                           int nKVHeads, int headDim, int blockSize, int splitLen, int maxSplits,
                                           float scale) {
	int heads = blockDim.x / 32, lane = threadIdx.x % 32;
	int t = blockIdx.x / (nHeads / heads);
	int h = blockIdx.x % (nHeads / heads) * heads + threadIdx.x / 32;
	int split = blockIdx.y, p = pos[t];
	int j0 = split * splitLen, j1 = min(p + 1, j0 + splitLen);
	if (j0 > p) return;  // this row's context has fewer splits
	int width = nKVHeads * headDim, kvOff = h / (nHeads / nKVHeads) * headDim;
	int dims = (headDim + 31) / 32;  // dimensions lane, lane+32, … of the head are this lane's

	float qr[MAX_DIM_PER_LANE], o[MAX_DIM_PER_LANE];
	const float *qh = q + ((long long)t * nHeads + h) * headDim;
	for (int c = 0; c < dims; c++) {
		int i = lane + 32 * c;
		qr[c] = i < headDim ? qh[i] : 0.f;
		o[c] = 0.f;
	}
	float m = -CUDART_INF_F, l = 0.f;
	for (int j = j0; j < j1; j++) {
		long long row = ((long long)table[j / blockSize] * blockSize + j % blockSize) * width + kvOff;
		float s = 0.f;
		for (int c = 0; c < dims; c++) {
			int i = lane + 32 * c;
			if (i < headDim) s = fmaf(qr[c], K[row + i], s);
		}
		for (int d = 16; d > 0; d >>= 1) s += __shfl_xor_sync(0xffffffffu, s, d);
		s = __shfl_sync(0xffffffffu, s, 0) * scale;  // one value for every lane
		float mNew = fmaxf(m, s), corr = expf(m - mNew), e = expf(s - mNew);
		l = l * corr + e;
		for (int c = 0; c < dims; c++) {
			int i = lane + 32 * c;
			if (i < headDim) o[c] = o[c] * corr + e * V[row + i];
		}
		m = mNew;
	}
	long long at = ((long long)t * nHeads + h) * maxSplits + split;
	if (lane == 0) {
		pm[at] = m;
		pl[at] = l;
	}
	for (int c = 0; c < dims; c++) {
		int i = lane + 32 * c;
		if (i < headDim) po[at * headDim + i] = o[c];
	}
}

// attention_combine merges a (row, head)'s splits, in split order, into its
// output. Grid: n·nHeads, block up to headDim threads.
extern "C" __global__ void attention_combine(const float *pm, const float *pl, const float *po, const int *pos,
                                             float *out, int nHeads, int headDim, int splitLen, int maxSplits) {
	int t = blockIdx.x / nHeads;
	int splits = pos[t] / splitLen + 1;
	const float *m = pm + (long long)blockIdx.x * maxSplits, *l = pl + (long long)blockIdx.x * maxSplits;
	float M = m[0];
	for (int s = 1; s < splits; s++) M = fmaxf(M, m[s]);
	float L = 0.f;
	for (int s = 0; s < splits; s++) L += l[s] * expf(m[s] - M);
	for (int i = threadIdx.x; i < headDim; i += blockDim.x) {
		float acc = 0.f;
		for (int s = 0; s < splits; s++) acc += po[((long long)blockIdx.x * maxSplits + s) * headDim + i] * expf(m[s] - M);
		out[(long long)blockIdx.x * headDim + i] = acc / L;
	}
}
