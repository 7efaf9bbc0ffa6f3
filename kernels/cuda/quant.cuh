// Weight decoding shared by the matmul and embedding kernels: element group g
// (elements 8g…8g+7) of a stored row, as float. The layouts are GGML's, as
// documented in quant/dequantize.go; the arithmetic repeats the Go
// dequantizers' float operations (no fused multiply-add) so a decoded weight
// is bit-identical to the CPU's.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

// Type ids: GGML's, as in quant/types.go.
enum {
	T_F32 = 0,
	T_F16 = 1,
	T_Q4_0 = 2,
	T_Q8_0 = 8,
	T_Q4_K = 12,
	T_Q6_K = 14,
	T_BF16 = 30,
};

__device__ __forceinline__ float f16(const uint8_t *p) {
	return __half2float(__ushort_as_half((unsigned short)(p[0] | p[1] << 8)));
}

// Q4_K/Q5_K's 6-bit scale and min of sub-block j (see scaleMinK4 in Go).
__device__ __forceinline__ void scale_min_k4(const uint8_t *s, int j, int *sc, int *m) {
	if (j < 4) {
		*sc = s[j] & 63;
		*m = s[j + 4] & 63;
	} else {
		*sc = (s[j + 4] & 0xf) | (s[j - 4] >> 6) << 4;
		*m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
	}
}

// decode8 writes elements 8g…8g+7 of row (of type t) into w.
template <int t>
__device__ __forceinline__ void decode8(const uint8_t *row, int g, float w[8]) {
	if (t == T_F32) {
		const float *r = (const float *)row + 8 * g;
		for (int e = 0; e < 8; e++) w[e] = r[e];
	} else if (t == T_F16) {
		const __half *r = (const __half *)row + 8 * g;
		for (int e = 0; e < 8; e++) w[e] = __half2float(r[e]);
	} else if (t == T_BF16) {
		const __nv_bfloat16 *r = (const __nv_bfloat16 *)row + 8 * g;
		for (int e = 0; e < 8; e++) w[e] = __bfloat162float(r[e]);
	} else if (t == T_Q8_0) {
		// 34-byte blocks: f16 scale, 32 int8; group g is quarter g%4.
		const uint8_t *b = row + 34 * (g / 4);
		float d = f16(b);
		const int8_t *q = (const int8_t *)b + 2 + 8 * (g % 4);
		for (int e = 0; e < 8; e++) w[e] = __fmul_rn(d, (float)q[e]);
	} else if (t == T_Q4_0) {
		// 18-byte blocks: f16 scale, 16 bytes whose low nibbles are elements
		// 0…15 and high nibbles 16…31, each stored as q+8.
		const uint8_t *b = row + 18 * (g / 4);
		float d = f16(b);
		int quarter = g % 4;
		const uint8_t *q = b + 2 + 8 * (quarter % 2);
		int shift = 4 * (quarter / 2);
		for (int e = 0; e < 8; e++) w[e] = __fmul_rn(d, (float)(((q[e] >> shift) & 0xf) - 8));
	} else if (t == T_Q4_K) {
		// 144-byte super-blocks of 256: f16 d, f16 dmin, 12 scale bytes, 128
		// bytes of nibbles; sub-blocks 2k and 2k+1 share bytes 32k…32k+31.
		const uint8_t *b = row + 144 * (g / 32);
		int j = g % 32, s = j / 4, l0 = 8 * (j % 4);
		int sc, m;
		scale_min_k4(b + 4, s, &sc, &m);
		float dl = __fmul_rn(f16(b), (float)sc), ml = __fmul_rn(f16(b + 2), (float)m);
		const uint8_t *q = b + 16 + 32 * (s / 2) + l0;
		int shift = 4 * (s % 2);
		for (int e = 0; e < 8; e++) w[e] = __fsub_rn(__fmul_rn(dl, (float)((q[e] >> shift) & 0xf)), ml);
	} else if (t == T_Q6_K) {
		// 210-byte super-blocks of 256: ql[128], qh[64], int8 scales[16], f16 d.
		const uint8_t *b = row + 210 * (g / 32);
		int e0 = 8 * (g % 32), h = e0 / 128, k = e0 % 128 / 32, l0 = e0 % 32;
		float dl = __fmul_rn(f16(b + 208), (float)(int8_t)b[192 + e0 / 16]);
		const uint8_t *ql = b + 64 * h + 32 * (k % 2) + l0, *qh = b + 128 + 32 * h + l0;
		for (int e = 0; e < 8; e++) {
			int lo = (ql[e] >> (4 * (k / 2))) & 0xf, hi = (qh[e] >> (2 * k)) & 3;
			w[e] = __fmul_rn(dl, (float)((lo | hi << 4) - 32));
		}
	}
}

// decode1 is element i of a float-typed row, for the columns past the last
// full group of 8 (quantized rows always hold whole groups).
template <int t>
__device__ __forceinline__ float decode1(const uint8_t *row, int i) {
	if (t == T_F32) return ((const float *)row)[i];
	if (t == T_F16) return __half2float(((const __half *)row)[i]);
	return __bfloat162float(((const __nv_bfloat16 *)row)[i]);
}
