#include "textflag.h"
#include "attn_amd64.h"

// AVX-512 pieces of attention over a KV cache: score rows of keys, turn
// scores into exponentials, and add value rows weighted by them. Rows are
// dim floats (a multiple of 16), stride floats apart. Each output is
// summed in a fixed order that depends only on dim and the row count.

// SCORES16FMA multiplies the query chunk in Z16 into keys 0…15: rows
// 4a…4a+3 from R9, R10, R11, R14 (a = 0…3), R8 and R13 one and three rows.
#define SCORES16FMA \
	VFMADD231PS (R9), Z16, Z0 \
	VFMADD231PS (R9)(R8*1), Z16, Z1 \
	VFMADD231PS (R9)(R8*2), Z16, Z2 \
	VFMADD231PS (R9)(R13*1), Z16, Z3 \
	VFMADD231PS (R10), Z16, Z4 \
	VFMADD231PS (R10)(R8*1), Z16, Z5 \
	VFMADD231PS (R10)(R8*2), Z16, Z6 \
	VFMADD231PS (R10)(R13*1), Z16, Z7 \
	VFMADD231PS (R11), Z16, Z8 \
	VFMADD231PS (R11)(R8*1), Z16, Z9 \
	VFMADD231PS (R11)(R8*2), Z16, Z10 \
	VFMADD231PS (R11)(R13*1), Z16, Z11 \
	VFMADD231PS (R14), Z16, Z12 \
	VFMADD231PS (R14)(R8*1), Z16, Z13 \
	VFMADD231PS (R14)(R8*2), Z16, Z14 \
	VFMADD231PS (R14)(R13*1), Z16, Z15

// func attnScores(q, k *float32, stride, rows, dim int, scale float32, s *float32) float32
// s[j] = scale · Σ_i q[i]·k[j·stride+i], returning the largest s[j]
// (softmax needs it, and a scalar loop over the scores costs as much as
// computing them).
//
// Keys go sixteen at a time: sixteen accumulators of 16 lanes, then a
// transposing reduction (halves, quarters, pairs, lanes: each step adds
// lanes of the same key only) leaves the sixteen sums in one vector; the
// rows of a last partial group go one at a time. A key's score depends on
// its place in the cache block, never on the other keys.
TEXT ·attnScores(SB), NOSPLIT, $0-60
	MOVL $0xff800000, AX
	VPBROADCASTD AX, Z30          // running maximum, from −Inf
	MOVQ q+0(FP), SI
	MOVQ k+8(FP), DI
	MOVQ stride+16(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R13
	MOVQ rows+24(FP), CX
	MOVQ dim+32(FP), DX
	SHRQ $4, DX
	VBROADCASTSS scale+40(FP), Z31
	MOVQ s+48(FP), BX

s16:
	CMPQ CX, $16
	JL   srow
	SCORES16ZERO
	MOVQ DI, R9
	LEAQ (DI)(R8*4), R10
	LEAQ (R10)(R8*4), R11
	LEAQ (R11)(R8*4), R14
	MOVQ SI, AX
	MOVQ DX, R12

s16chunk:
	VMOVUPS (AX), Z16
	SCORES16FMA
	ADDQ $64, AX
	ADDQ $64, R9
	ADDQ $64, R10
	ADDQ $64, R11
	ADDQ $64, R14
	DECQ R12
	JNZ  s16chunk
	SCORES16REDUCE
	VMOVUPS scoreperm<>(SB), Z16
	VPERMPS Z0, Z16, Z0
	VMULPS  Z31, Z0, Z0
	VMOVUPS Z0, (BX)
	VMAXPS  Z0, Z30, Z30
	ADDQ $64, BX
	LEAQ (DI)(R8*8), DI
	LEAQ (DI)(R8*8), DI
	SUBQ $16, CX
	JMP  s16

srow:
	TESTQ CX, CX
	JZ    sdone
	VXORPS Z0, Z0, Z0
	MOVQ  SI, R9
	MOVQ  DI, R10
	MOVQ  DX, R11

schunk:
	VMOVUPS     (R9), Z1
	VFMADD231PS (R10), Z1, Z0
	ADDQ        $64, R9
	ADDQ        $64, R10
	DECQ        R11
	JNZ         schunk
	VSHUFF64X2   $0x4e, Z0, Z0, Z1
	VADDPS       Z1, Z0, Z0
	VEXTRACTF32X4 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0
	VMULSS       X31, X0, X0
	VMOVSS       X0, (BX)
	VMAXSS       X0, X30, X30
	ADDQ         $4, BX
	ADDQ         R8, DI
	DECQ         CX
	JMP          srow

sdone:
	VSHUFF64X2    $0x4e, Z30, Z30, Z1
	VMAXPS        Z1, Z30, Z30
	VEXTRACTF32X4 $1, Y30, X1
	VMAXPS        X1, X30, X30
	VMOVHLPS      X30, X30, X1
	VMAXPS        X1, X30, X30
	VMOVSHDUP     X30, X1
	VMAXSS        X1, X30, X30
	VMOVSS        X30, ret+56(FP)
	VZEROUPPER
	RET

DATA expc<>+0(SB)/4, $0x3fb8aa3b   // log2(e)
DATA expc<>+4(SB)/4, $0x3f318000   // ln2 high part 0.693359375
DATA expc<>+8(SB)/4, $0xb95e8083   // ln2 low part −2.12194440e−4
DATA expc<>+12(SB)/4, $0x39506967  // 1.9875691500e−4
DATA expc<>+16(SB)/4, $0x3ab743ce  // 1.3981999507e−3
DATA expc<>+20(SB)/4, $0x3c088908  // 8.3334519073e−3
DATA expc<>+24(SB)/4, $0x3d2aa9c1  // 4.1665795894e−2
DATA expc<>+28(SB)/4, $0x3e2aaaaa  // 1.6666665459e−1
DATA expc<>+32(SB)/4, $0x3f000000  // 0.5
DATA expc<>+36(SB)/4, $0x3f800000  // 1
DATA expc<>+40(SB)/4, $0xc2ae0000  // −87: below it the result is taken as 0
GLOBL expc<>(SB), RODATA|NOPTR, $44

// EXPPS sets Z3 = exp(Z1) (Z1 is clobbered), with Z21…Z24 holding log2 e,
// the two parts of ln 2 and −87 (EXPCONSTS), and K2 as scratch. Below −87
// the result is 0; above 88.7 it is +Inf.
#define EXPPS \
	VCMPPS  $0x1d, Z24, Z1, K2    \
	VMAXPS  Z24, Z1, Z1           \
	VMULPS  Z21, Z1, Z2           \
	VRNDSCALEPS $0, Z2, Z2        \
	VFNMADD231PS Z22, Z2, Z1      \
	VFNMADD231PS Z23, Z2, Z1      \
	VBROADCASTSS expc<>+12(SB), Z3 \
	VFMADD213PS.BCST expc<>+16(SB), Z1, Z3 \
	VFMADD213PS.BCST expc<>+20(SB), Z1, Z3 \
	VFMADD213PS.BCST expc<>+24(SB), Z1, Z3 \
	VFMADD213PS.BCST expc<>+28(SB), Z1, Z3 \
	VFMADD213PS.BCST expc<>+32(SB), Z1, Z3 \
	VMULPS  Z1, Z1, Z4            \
	VFMADD213PS Z1, Z4, Z3        \
	VADDPS.BCST expc<>+36(SB), Z3, Z3 \
	VSCALEFPS Z2, Z3, K2, Z3      \
	VMOVAPS.Z Z3, K2, Z3

#define EXPCONSTS \
	VBROADCASTSS expc<>+0(SB), Z21  \
	VBROADCASTSS expc<>+4(SB), Z22  \
	VBROADCASTSS expc<>+8(SB), Z23  \
	VBROADCASTSS expc<>+40(SB), Z24

// TAILMASK sets K1 to the first min(CX, 16) lanes and AX to their count.
#define TAILMASK \
	MOVQ  $16, AX     \
	CMPQ  CX, AX      \
	CMOVQLT CX, AX    \
	MOVL  $1, DX      \
	SHLXL AX, DX, DX  \
	DECL  DX          \
	KMOVW DX, K1

// func attnExp(s *float32, n int, max float32) float32
// s[j] = exp(s[j] − max) for the n scores (all ≤ max), returning their sum
// (16 lane sums, then REDUCE16's order). exp is Cephes' expf: 2^k·p(r) with
// k = round(x·log2 e), r = x − k·ln 2 in two parts, p of degree 7;
// relative error about 1e−7.
TEXT ·attnExp(SB), NOSPLIT, $0-28
	MOVQ s+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS max+16(FP), Z20
	EXPCONSTS
	VXORPS Z0, Z0, Z0

eloop:
	TESTQ CX, CX
	JZ    edone
	TAILMASK
	VMOVUPS.Z (DI), K1, Z1
	VSUBPS  Z20, Z1, Z1           // x = s − max
	EXPPS
	VMOVUPS Z3, K1, (DI)
	VADDPS  Z3, Z0, K1, Z0
	ADDQ    $64, DI
	SUBQ    AX, CX
	JMP     eloop

edone:
	VSHUFF64X2   $0x4e, Z0, Z0, Z1
	VADDPS       Z1, Z0, Z0
	VEXTRACTF32X4 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0
	VMOVSS       X0, ret+24(FP)
	VZEROUPPER
	RET

// func attnAXPY(out, v *float32, stride, rows, dim int, p *float32)
// out[i] += Σ_j p[j]·v[j·stride+i], j in order, 64 columns at a time
// (then 16).
TEXT ·attnAXPY(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), SI
	MOVQ v+8(FP), DI
	MOVQ stride+16(FP), R8
	SHLQ $2, R8
	MOVQ rows+24(FP), CX
	MOVQ dim+32(FP), DX
	MOVQ p+40(FP), BX

acol64:
	CMPQ DX, $64
	JL   acol16
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS 128(SI), Z2
	VMOVUPS 192(SI), Z3
	VPXORD  Z5, Z5, Z5
	VPXORD  Z6, Z6, Z6
	VPXORD  Z7, Z7, Z7
	VPXORD  Z8, Z8, Z8
	MOVQ DI, R9
	MOVQ BX, R10
	MOVQ CX, R11
	SHRQ $1, R11
	JZ   arow64last

// Rows in pairs, the second of each into Z5…Z8 (added at the end): one
// chain of FMAs per output chunk would wait on their latency.
arow64:
	VBROADCASTSS (R10), Z4
	VFMADD231PS (R9), Z4, Z0
	VFMADD231PS 64(R9), Z4, Z1
	VFMADD231PS 128(R9), Z4, Z2
	VFMADD231PS 192(R9), Z4, Z3
	ADDQ R8, R9
	VBROADCASTSS 4(R10), Z4
	VFMADD231PS (R9), Z4, Z5
	VFMADD231PS 64(R9), Z4, Z6
	VFMADD231PS 128(R9), Z4, Z7
	VFMADD231PS 192(R9), Z4, Z8
	ADDQ R8, R9
	ADDQ $8, R10
	DECQ R11
	JNZ  arow64

arow64last:
	TESTQ $1, CX
	JZ    astore64
	VBROADCASTSS (R10), Z4
	VFMADD231PS (R9), Z4, Z0
	VFMADD231PS 64(R9), Z4, Z1
	VFMADD231PS 128(R9), Z4, Z2
	VFMADD231PS 192(R9), Z4, Z3

astore64:
	VADDPS  Z5, Z0, Z0
	VADDPS  Z6, Z1, Z1
	VADDPS  Z7, Z2, Z2
	VADDPS  Z8, Z3, Z3
	VMOVUPS Z0, (SI)
	VMOVUPS Z1, 64(SI)
	VMOVUPS Z2, 128(SI)
	VMOVUPS Z3, 192(SI)
	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $64, DX
	JMP  acol64

acol16:
	CMPQ DX, $16
	JL   adone
	VMOVUPS (SI), Z0
	MOVQ DI, R9
	MOVQ BX, R10
	MOVQ CX, R11
	TESTQ R11, R11
	JZ   astore16

arow16:
	VBROADCASTSS (R10), Z4
	VFMADD231PS (R9), Z4, Z0
	ADDQ $4, R10
	ADDQ R8, R9
	DECQ R11
	JNZ  arow16

astore16:
	VMOVUPS Z0, (SI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, DX
	JMP  acol16

adone:
	VZEROUPPER
	RET

// func siluMul(gate, up *float32, n int)
// gate[i] = gate[i] / (1 + exp(−gate[i])) · up[i], with EXPPS.
TEXT ·siluMul(SB), NOSPLIT, $0-24
	MOVQ gate+0(FP), DI
	MOVQ up+8(FP), SI
	MOVQ n+16(FP), CX
	EXPCONSTS
	VBROADCASTSS expc<>+36(SB), Z25 // 1

sloop:
	TESTQ CX, CX
	JZ    sdone
	TAILMASK
	VMOVUPS.Z (DI), K1, Z5
	VXORPS  Z1, Z1, Z1
	VSUBPS  Z5, Z1, Z1            // −g
	EXPPS
	VADDPS  Z25, Z3, Z3           // 1 + exp(−g)
	VDIVPS  Z3, Z5, Z5            // g / (1 + exp(−g))
	VMULPS.Z (SI), Z5, K1, Z5
	VMOVUPS Z5, K1, (DI)
	ADDQ    $64, DI
	ADDQ    $64, SI
	SUBQ    AX, CX
	JMP     sloop

sdone:
	VZEROUPPER
	RET

// func storeF16(dst *byte, src *float32, n int)
// dst[i] = src[i] rounded to the nearest float16, ties to even (VCVTPS2PH
// with rounding control 0), 16 at a time.
TEXT ·storeF16(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

hloop:
	TESTQ CX, CX
	JZ    hdone
	TAILMASK
	VMOVUPS.Z (SI), K1, Z0
	VCVTPS2PH $0, Z0, K1, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	SUBQ    AX, CX
	JMP     hloop

hdone:
	VZEROUPPER
	RET
