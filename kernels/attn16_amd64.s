#include "textflag.h"

// AVX-512 attention pieces for KV caches of float16 (VCVTPH2PS widens a
// row chunk in one instruction) and bfloat16 (the top half of a float32:
// zero-extend and shift left 16). The kernels' body is attn16_amd64.h;
// attn_amd64.h holds what they share with the float32 kernels.

#include "attn_amd64.h"

#define KVLOAD(m, z) VCVTPH2PS m, z
#define SCORES ·attnScoresF16
#define AXPY ·attnAXPYF16
#include "attn16_amd64.h"
#undef KVLOAD
#undef SCORES
#undef AXPY

#define KVLOAD(m, z) \
	VPMOVZXWD m, z \
	VPSLLD    $16, z, z
#define SCORES ·attnScoresBF16
#define AXPY ·attnAXPYBF16
#include "attn16_amd64.h"
