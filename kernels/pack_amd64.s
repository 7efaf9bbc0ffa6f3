#include "textflag.h"

// AVX-512 kernels for packed Q8_0 and Q4_0 weights (pack.go): 16 weight
// rows against 4 tokens (or 1). A 64-byte chunk of the packed weights holds
// four consecutive columns of each of the 16 rows, one row per 32-bit lane,
// so VPDPBUSD with one token's four activation bytes broadcast to every
// lane advances all 16 rows' dot products at once, and each lane's sum is
// already its row's: no horizontal reductions, and the float work (convert,
// scale, accumulate) is three instructions per 32-column block for 16 rows.
//
// Per block and token, the int32 accumulator starts from the activation
// record's correction (−c·Σx, c the offset that made the weights unsigned)
// and takes the block's chunks in order; then
//	acc = fma(d_w, float(sum)·d_x, acc)
// per row. Every output sees these instructions in this order in the ×4 and
// ×1 kernels alike, so it never depends on the batch or the thread.
//
// Arguments come in a packArgs; the offsets below must match it.

#define PA_W 0
#define PA_X 8
#define PA_S 16
#define PA_C 24
#define PA_STRIDE 32
#define PA_OUT 40
#define PA_OSTRIDE 48
#define PA_N 56

// PLOAD: R8 weights, DI token 0's quants, BX its
// block scales, R9 its corrections, R12 the token stride and R13 three
// strides, DX token 0's outputs, SI the output stride, CX the blocks.
#define PLOAD \
	MOVQ a+0(FP), AX          \
	MOVQ PA_W(AX), R8         \
	MOVQ PA_X(AX), DI         \
	MOVQ PA_S(AX), BX         \
	MOVQ PA_C(AX), R9         \
	MOVQ PA_STRIDE(AX), R12   \
	LEAQ (R12)(R12*2), R13    \
	MOVQ PA_OUT(AX), DX       \
	MOVQ PA_OSTRIDE(AX), SI   \
	MOVQ PA_N(AX), CX

// Z0…Z3 the float accumulators of tokens 0…3, Z4…Z7 their block sums,
// Z16 the block's 16 row scales, Z17 and Z18 weight chunks, Z30 nibbles.

#define INIT4 \
	VPBROADCASTD (R9), Z4          \
	VPBROADCASTD (R9)(R12*1), Z5   \
	VPBROADCASTD (R9)(R12*2), Z6   \
	VPBROADCASTD (R9)(R13*1), Z7

// The ×1 kernels split a block's sum between Z4 and Z8 (added before
// scaling; integer sums are exact, so the split changes no bit): one chain
// of eight dependent VPDPBUSD per block would leave decoding waiting on
// their latency.
#define INIT1 \
	VPBROADCASTD (R9), Z4 \
	VPXORD       Z8, Z8, Z8

#define DOT4(W, xoff) \
	VPDPBUSD.BCST xoff(DI), W, Z4        \
	VPDPBUSD.BCST xoff(DI)(R12*1), W, Z5 \
	VPDPBUSD.BCST xoff(DI)(R12*2), W, Z6 \
	VPDPBUSD.BCST xoff(DI)(R13*1), W, Z7

#define DOT1(W, xoff) \
	VPDPBUSD.BCST xoff(DI), W, Z4

#define DOT1B(W, xoff) \
	VPDPBUSD.BCST xoff(DI), W, Z8

#define SCALE(I, F, s) \
	VCVTDQ2PS    I, I    \
	VMULPS.BCST  s, I, I \
	VFMADD231PS  Z16, I, F

#define SCALE4 \
	SCALE(Z4, Z0, (BX))          \
	SCALE(Z5, Z1, (BX)(R12*1))   \
	SCALE(Z6, Z2, (BX)(R12*2))   \
	SCALE(Z7, Z3, (BX)(R13*1))

#define SCALE1 \
	VPADDD Z8, Z4, Z4 \
	SCALE(Z4, Z0, (BX))

// PFDIST is how far ahead of the bytes being read the kernels fetch:
// decoding streams the weights from memory, and the hardware prefetchers
// alone leave the kernels waiting.
#define PFDIST 8192

// Quantized groups come in pairs of blocks, one stream: 64 bytes of row
// scales (block b's 16 float16, then block b+1's), then b's chunks, then
// b+1's; an odd last block has its pair to itself.

// Q8_0: a block is eight chunks (512 bytes, weights + 128) at coff.
#define Q8CHUNK(DOT, off, xoff) \
	PREFETCHT0 (off+PFDIST)(R8) \
	VMOVDQU8 off(R8), Z17 \
	DOT(Z17, xoff)

#define Q8BLOCK(INIT, DOT, DOTB, SCALEN, soff, coff) \
	VCVTPH2PS soff(R8), Z16          \
	INIT                             \
	Q8CHUNK(DOT, (coff), 0)          \
	Q8CHUNK(DOTB, (coff+64), 4)      \
	Q8CHUNK(DOT, (coff+128), 8)      \
	Q8CHUNK(DOTB, (coff+192), 12)    \
	Q8CHUNK(DOT, (coff+256), 16)     \
	Q8CHUNK(DOTB, (coff+320), 20)    \
	Q8CHUNK(DOT, (coff+384), 24)     \
	Q8CHUNK(DOTB, (coff+448), 28)    \
	SCALEN                           \
	ADDQ $32, DI                     \
	ADDQ $4, BX                      \
	ADDQ $4, R9

// Q4_0: a block is four chunks (256 bytes); the low nibbles of chunk c are
// columns 4c…4c+3 and the high ones 16+4c…16+4c+3, as in a Q4_0 block.
#define Q4CHUNK(DOT, DOTB, off, xlo, xhi) \
	PREFETCHT0 (off+PFDIST)(R8) \
	VMOVDQU8 off(R8), Z17      \
	VPSRLW   $4, Z17, Z18      \
	VPANDD   Z30, Z17, Z17     \
	VPANDD   Z30, Z18, Z18     \
	DOT(Z17, xlo)              \
	DOTB(Z18, xhi)

#define Q4BLOCK(INIT, DOT, DOTB, SCALEN, soff, coff) \
	VCVTPH2PS soff(R8), Z16                  \
	INIT                                     \
	Q4CHUNK(DOT, DOTB, (coff), 0, 16)        \
	Q4CHUNK(DOT, DOTB, (coff+64), 4, 20)     \
	Q4CHUNK(DOT, DOTB, (coff+128), 8, 24)    \
	Q4CHUNK(DOT, DOTB, (coff+192), 12, 28)   \
	SCALEN                                   \
	ADDQ $32, DI                             \
	ADDQ $4, BX                              \
	ADDQ $4, R9

// QKERNEL is a quantized kernel's loop: pairs of blocks, then an odd last
// one. BLOCK is Q8BLOCK or Q4BLOCK, cb its chunk bytes.
#define QPAIR(BLOCK, INIT, DOT, DOTB, SCALEN, cb) \
	PREFETCHT0 PFDIST(R8)                            \
	BLOCK(INIT, DOT, DOTB, SCALEN, 0, 64)             \
	BLOCK(INIT, DOT, DOTB, SCALEN, 32, (64+cb))       \
	ADDQ $(64+2*cb), R8

#define QLAST(BLOCK, INIT, DOT, DOTB, SCALEN) \
	BLOCK(INIT, DOT, DOTB, SCALEN, 0, 64)

// QHEAD leaves BX… as PLOAD does, CX the pairs and R10 the blocks' parity,
// and jumps to last when there is no pair.
#define QHEAD(last) \
	PLOAD          \
	PZERO          \
	MOVQ CX, R10   \
	ANDQ $1, R10   \
	SHRQ $1, CX    \
	JZ   last

#define STOREOUT4 \
	VMOVUPS Z0, (DX)        \
	VMOVUPS Z1, (DX)(SI*1)  \
	VMOVUPS Z2, (DX)(SI*2)  \
	LEAQ    (SI)(SI*2), AX  \
	VMOVUPS Z3, (DX)(AX*1)

#define PZERO \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3

#define NIBBLES \
	MOVL         $0x0f0f0f0f, AX \
	VPBROADCASTD AX, Z30

// func q8_0PackX4(a *packArgs)
TEXT ·q8_0PackX4(SB), NOSPLIT, $0-8
	QHEAD(q80packx4last)
q80packx4loop:
	QPAIR(Q8BLOCK, INIT4, DOT4, DOT4, SCALE4, 512)
	DECQ CX
	JNZ  q80packx4loop
q80packx4last:
	TESTQ R10, R10
	JZ    q80packx4done
	QLAST(Q8BLOCK, INIT4, DOT4, DOT4, SCALE4)
q80packx4done:
	STOREOUT4
	VZEROUPPER
	RET

// func q8_0PackX1(a *packArgs)
TEXT ·q8_0PackX1(SB), NOSPLIT, $0-8
	QHEAD(q80packx1last)
q80packx1loop:
	QPAIR(Q8BLOCK, INIT1, DOT1, DOT1B, SCALE1, 512)
	DECQ CX
	JNZ  q80packx1loop
q80packx1last:
	TESTQ R10, R10
	JZ    q80packx1done
	QLAST(Q8BLOCK, INIT1, DOT1, DOT1B, SCALE1)
q80packx1done:
	VMOVUPS Z0, (DX)
	VZEROUPPER
	RET

// func q4_0PackX4(a *packArgs)
TEXT ·q4_0PackX4(SB), NOSPLIT, $0-8
	NIBBLES
	QHEAD(q40packx4last)
q40packx4loop:
	QPAIR(Q4BLOCK, INIT4, DOT4, DOT4, SCALE4, 256)
	DECQ CX
	JNZ  q40packx4loop
q40packx4last:
	TESTQ R10, R10
	JZ    q40packx4done
	QLAST(Q4BLOCK, INIT4, DOT4, DOT4, SCALE4)
q40packx4done:
	STOREOUT4
	VZEROUPPER
	RET

// func q4_0PackX1(a *packArgs)
TEXT ·q4_0PackX1(SB), NOSPLIT, $0-8
	NIBBLES
	QHEAD(q40packx1last)
q40packx1loop:
	QPAIR(Q4BLOCK, INIT1, DOT1, DOT1B, SCALE1, 256)
	DECQ CX
	JNZ  q40packx1loop
q40packx1last:
	TESTQ R10, R10
	JZ    q40packx1done
	QLAST(Q4BLOCK, INIT1, DOT1, DOT1B, SCALE1)
q40packx1done:
	VMOVUPS Z0, (DX)
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// Packed float weights against float activations. F16: a 32-byte chunk is
// one column of the 16 rows. BF16: a 64-byte chunk is two columns, each
// lane a row's (column k, column k+1) pair, which VDPBF16PS multiplies with
// a token's two bfloat16 activations in one instruction, and which shifts
// and masks widen to float32 for float activations.
//
// Even chunks accumulate into Z0…Z3 and odd ones into Z4…Z7 (tokens 0…3),
// summed at the end: one chain per token would wait on the FMA latency.
// The activations are float32 rows (bfloat16 pairs for VDPBF16PS), R12
// bytes apart; CX counts chunks.

#define FZERO \
	PZERO                 \
	VPXORD Z4, Z4, Z4     \
	VPXORD Z5, Z5, Z5     \
	VPXORD Z6, Z6, Z6     \
	VPXORD Z7, Z7, Z7

#define FMA4(W, xoff, A0, A1, A2, A3) \
	VFMADD231PS.BCST xoff(DI), W, A0        \
	VFMADD231PS.BCST xoff(DI)(R12*1), W, A1 \
	VFMADD231PS.BCST xoff(DI)(R12*2), W, A2 \
	VFMADD231PS.BCST xoff(DI)(R13*1), W, A3

#define FMA1(W, xoff, A0, A1, A2, A3) \
	VFMADD231PS.BCST xoff(DI), W, A0

// Go's assembler does not know VDPBF16PS (EVEX.512.F3.0F38.W0 52 /r), so
// DPBF16R spells out its encoding for accumulator Z<acc> += Z<w>·Z<x>, all
// registers; objdump reads it back. The activation pair is broadcast into
// a register first.
#define EVEX_P0(r, x, b) BYTE $((((31-(r))>>3)&1)<<7 | (((31-(x))>>3)&1)<<6 | (((31-(b))>>3)&1)<<5 | (((31-(r))>>4)&1)<<4 | 2)
#define EVEX_P1(v) BYTE $(((31-(v))&15)<<3 | 4 | 2)
#define EVEX_P2(v) BYTE $(0x40 | (((31-(v))>>4)&1)<<3)
#define DPBF16R(acc, w, x) BYTE $0x62; EVEX_P0(acc, (x)>>1, x); EVEX_P1(w); EVEX_P2(w); BYTE $0x52; BYTE $(0xc0 | ((acc)&7)<<3 | ((x)&7))

#define DPBF4(w, xoff, a0, a1, a2, a3) \
	VPBROADCASTD xoff(DI), Z24        \
	VPBROADCASTD xoff(DI)(R12*1), Z25 \
	VPBROADCASTD xoff(DI)(R12*2), Z26 \
	VPBROADCASTD xoff(DI)(R13*1), Z27 \
	DPBF16R(a0, w, 24)                \
	DPBF16R(a1, w, 25)                \
	DPBF16R(a2, w, 26)                \
	DPBF16R(a3, w, 27)

#define DPBF1(w, xoff, a0, a1, a2, a3) \
	VPBROADCASTD xoff(DI), Z24 \
	DPBF16R(a0, w, 24)

// F16 chunks: one column each, four a step into four accumulator sets
// (see DPBFSTEP4), the last ones one at a time into the first.
#define F16STEP4(OP) \
	PREFETCHT0 PFDIST(R8)               \
	PREFETCHT0 (PFDIST+64)(R8)          \
	VCVTPH2PS  (R8), Z16                \
	VCVTPH2PS  32(R8), Z17              \
	VCVTPH2PS  64(R8), Z18              \
	VCVTPH2PS  96(R8), Z19              \
	OP(Z16, 0, Z0, Z1, Z2, Z3)          \
	OP(Z17, 4, Z4, Z5, Z6, Z7)          \
	OP(Z18, 8, Z8, Z9, Z10, Z11)        \
	OP(Z19, 12, Z12, Z13, Z14, Z15)     \
	ADDQ       $128, R8                 \
	ADDQ       $16, DI

#define F16LAST(OP) \
	VCVTPH2PS (R8), Z16        \
	OP(Z16, 0, Z0, Z1, Z2, Z3) \
	ADDQ      $32, R8          \
	ADDQ      $4, DI

// BF16 chunks widened to float32: column k is the low half of each lane
// shifted up, column k+1 the high half with the low one cleared (Z30).
#define BF16STEP2(OP) \
	PREFETCHT0 PFDIST(R8)         \
	VMOVDQU32  (R8), Z16          \
	VMOVDQU32  64(R8), Z18        \
	VPSLLD     $16, Z16, Z17      \
	VPANDD     Z30, Z16, Z16      \
	OP(Z17, 0, Z0, Z1, Z2, Z3)    \
	OP(Z16, 4, Z0, Z1, Z2, Z3)    \
	VPSLLD     $16, Z18, Z19      \
	VPANDD     Z30, Z18, Z18      \
	OP(Z19, 8, Z4, Z5, Z6, Z7)    \
	OP(Z18, 12, Z4, Z5, Z6, Z7)   \
	ADDQ       $128, R8           \
	ADDQ       $16, DI

#define BF16LAST(OP) \
	VMOVDQU32 (R8), Z16          \
	VPSLLD    $16, Z16, Z17      \
	VPANDD    Z30, Z16, Z16      \
	OP(Z17, 0, Z0, Z1, Z2, Z3)   \
	OP(Z16, 4, Z0, Z1, Z2, Z3)

// BF16 chunks against bfloat16 activation pairs: four chunks a step, into
// four accumulator sets (Z0…Z3, Z4…Z7, Z8…Z11, Z12…Z15 for tokens 0…3),
// as VDPBF16PS's latency needs 16 chains in flight; the last chunks go
// into the first set one at a time.
#define DPBFSTEP4(OP) \
	PREFETCHT0 PFDIST(R8)         \
	PREFETCHT0 (PFDIST+64)(R8)    \
	PREFETCHT0 (PFDIST+128)(R8)   \
	PREFETCHT0 (PFDIST+192)(R8)   \
	VMOVDQU32  (R8), Z16          \
	VMOVDQU32  64(R8), Z17        \
	VMOVDQU32  128(R8), Z18       \
	VMOVDQU32  192(R8), Z19       \
	OP(16, 0, 0, 1, 2, 3)         \
	OP(17, 4, 4, 5, 6, 7)         \
	OP(18, 8, 8, 9, 10, 11)       \
	OP(19, 12, 12, 13, 14, 15)    \
	ADDQ       $256, R8           \
	ADDQ       $16, DI

#define DPBFLAST(OP) \
	VMOVDQU32 (R8), Z16   \
	OP(16, 0, 0, 1, 2, 3) \
	ADDQ      $64, R8     \
	ADDQ      $4, DI

// DPSUM adds the four sets of a token: (s0+s1) + (s2+s3).
#define DPSUM(a, b, c, d) \
	VADDPS b, a, a \
	VADDPS d, c, c \
	VADDPS c, a, a

#define DPSUM4 \
	DPSUM(Z0, Z4, Z8, Z12)  \
	DPSUM(Z1, Z5, Z9, Z13)  \
	DPSUM(Z2, Z6, Z10, Z14) \
	DPSUM(Z3, Z7, Z11, Z15) \
	STOREOUT4

#define DPSUM1 \
	DPSUM(Z0, Z4, Z8, Z12) \
	VMOVUPS Z0, (DX)

// DPHEAD zeroes the sixteen accumulators, leaves BX the chunk count mod 4
// and CX the number of four-chunk steps, and jumps to last when there is
// none.
#define DPHEAD(last) \
	PLOAD                 \
	FZERO                 \
	VPXORD Z8, Z8, Z8     \
	VPXORD Z9, Z9, Z9     \
	VPXORD Z10, Z10, Z10  \
	VPXORD Z11, Z11, Z11  \
	VPXORD Z12, Z12, Z12  \
	VPXORD Z13, Z13, Z13  \
	VPXORD Z14, Z14, Z14  \
	VPXORD Z15, Z15, Z15  \
	MOVQ   CX, BX         \
	ANDQ   $3, BX         \
	SHRQ   $2, CX         \
	JZ     last

#define HIMASK \
	MOVL         $0xffff0000, AX \
	VPBROADCASTD AX, Z30

#define FSUM4 \
	VADDPS Z4, Z0, Z0 \
	VADDPS Z5, Z1, Z1 \
	VADDPS Z6, Z2, Z2 \
	VADDPS Z7, Z3, Z3 \
	STOREOUT4

#define FSUM1 \
	VADDPS  Z4, Z0, Z0 \
	VMOVUPS Z0, (DX)

// FHEAD zeroes the accumulators, leaves BX the chunk count and CX the
// number of chunk pairs, and jumps to last when there is none.
#define FHEAD(last) \
	PLOAD          \
	FZERO          \
	MOVQ CX, BX    \
	SHRQ $1, CX    \
	JZ   last

// A float kernel: FHEAD, the pairs (STEP2), a last odd chunk (LAST), the
// sums stored (FSUM4 or FSUM1).

// func f16PackX4(a *packArgs)
TEXT ·f16PackX4(SB), NOSPLIT, $0-8
	DPHEAD(f16x4last)
f16x4loop:
	F16STEP4(FMA4)
	DECQ CX
	JNZ  f16x4loop
f16x4last:
	TESTQ BX, BX
	JZ    f16x4done
	F16LAST(FMA4)
	DECQ  BX
	JMP   f16x4last
f16x4done:
	DPSUM4
	VZEROUPPER
	RET

// func f16PackX1(a *packArgs)
TEXT ·f16PackX1(SB), NOSPLIT, $0-8
	DPHEAD(f16x1last)
f16x1loop:
	F16STEP4(FMA1)
	DECQ CX
	JNZ  f16x1loop
f16x1last:
	TESTQ BX, BX
	JZ    f16x1done
	F16LAST(FMA1)
	DECQ  BX
	JMP   f16x1last
f16x1done:
	DPSUM1
	VZEROUPPER
	RET

// func bf16PackX4(a *packArgs)
TEXT ·bf16PackX4(SB), NOSPLIT, $0-8
	HIMASK
	FHEAD(bf16x4last)
bf16x4loop:
	BF16STEP2(FMA4)
	DECQ CX
	JNZ  bf16x4loop
bf16x4last:
	TESTQ $1, BX
	JZ    bf16x4done
	BF16LAST(FMA4)
bf16x4done:
	FSUM4
	VZEROUPPER
	RET

// func bf16PackX1(a *packArgs)
TEXT ·bf16PackX1(SB), NOSPLIT, $0-8
	HIMASK
	FHEAD(bf16x1last)
bf16x1loop:
	BF16STEP2(FMA1)
	DECQ CX
	JNZ  bf16x1loop
bf16x1last:
	TESTQ $1, BX
	JZ    bf16x1done
	BF16LAST(FMA1)
bf16x1done:
	FSUM1
	VZEROUPPER
	RET

// func bf16DotPackX4(a *packArgs)
TEXT ·bf16DotPackX4(SB), NOSPLIT, $0-8
	DPHEAD(dpbfx4last)
dpbfx4loop:
	DPBFSTEP4(DPBF4)
	DECQ CX
	JNZ  dpbfx4loop
dpbfx4last:
	TESTQ BX, BX
	JZ    dpbfx4done
	DPBFLAST(DPBF4)
	DECQ  BX
	JMP   dpbfx4last
dpbfx4done:
	DPSUM4
	VZEROUPPER
	RET

// func bf16DotPackX1(a *packArgs)
TEXT ·bf16DotPackX1(SB), NOSPLIT, $0-8
	DPHEAD(dpbfx1last)
dpbfx1loop:
	DPBFSTEP4(DPBF1)
	DECQ CX
	JNZ  dpbfx1loop
dpbfx1last:
	TESTQ BX, BX
	JZ    dpbfx1done
	DPBFLAST(DPBF1)
	DECQ  BX
	JMP   dpbfx1last
dpbfx1done:
	DPSUM1
	VZEROUPPER
	RET
