#include "textflag.h"

// AVX-512 matmul tiles: 4 weight rows against 1 or 4 activation rows, each
// weight vector loaded once and multiplied into every activation row while
// it is in a register. Arguments come in a tileArgs (tile.go); the field
// offsets below must match it.
//
// Every output element (row r, token t) has its own 16-lane accumulator and
// sees the same instructions in the same order in the ×1 and ×4 tiles —
// chunk after chunk along the row, then the fixed reduction REDUCE16 — so
// it never depends on which tile, batch or thread computed it.
//
// Registers: Z0…Z15 accumulators (token-major: Z(4t+r)), Z16…Z19 the
// current weight chunk of rows 0…3, Z20…Z23 their block scales, Z24…Z31
// scratch and constants.

#define ARG_W0 0
#define ARG_W1 8
#define ARG_W2 16
#define ARG_W3 24
#define ARG_X 32
#define ARG_S 40
#define ARG_STRIDE 48
#define ARG_OUT 56
#define ARG_OSTRIDE 64
#define ARG_N 72
#define ARG_PF 80

// LOADARGS: R8…R11 weight rows, DI activations of token 0, BX their scales,
// R12 the stride between tokens and R13 three strides, DX the output of
// token 0, SI the output stride, CX the count.
#define LOADARGS \
	MOVQ a+0(FP), AX            \
	MOVQ ARG_W0(AX), R8         \
	MOVQ ARG_W1(AX), R9         \
	MOVQ ARG_W2(AX), R10        \
	MOVQ ARG_W3(AX), R11        \
	MOVQ ARG_X(AX), DI          \
	MOVQ ARG_S(AX), BX          \
	MOVQ ARG_STRIDE(AX), R12    \
	LEAQ (R12)(R12*2), R13      \
	MOVQ ARG_OUT(AX), DX        \
	MOVQ ARG_OSTRIDE(AX), SI    \
	MOVQ ARG_N(AX), CX          \
	MOVQ ARG_PF(AX), R14

#define ZERO4(a, b, c, d) \
	VPXORD a, a, a \
	VPXORD b, b, b \
	VPXORD c, c, c \
	VPXORD d, d, d

// REDUCE16 sums the 16 lanes of F (halves, then quarters, pairs, and the
// last two) and stores the float32 at addr.
#define REDUCE16(F, addr) \
	VSHUFF64X2   $0x4e, F, F, Z30 \
	VADDPS       Z30, F, Z30      \
	VEXTRACTF32X4 $1, Y30, X31     \
	VADDPS       X31, X30, X30    \
	VMOVHLPS     X30, X30, X31    \
	VADDPS       X31, X30, X30    \
	VMOVSHDUP    X30, X31         \
	VADDSS       X31, X30, X30    \
	VMOVSS       X30, addr

// STORE4 writes the four rows of one token at DX, then moves DX to the
// next token's outputs.
#define STORE4(a, b, c, d) \
	REDUCE16(a, (DX))   \
	REDUCE16(b, 4(DX))  \
	REDUCE16(c, 8(DX))  \
	REDUCE16(d, 12(DX)) \
	ADDQ SI, DX

// ---------------------------------------------------------------------------
// Quantized weights against Q8_0 activations (Q6_K here; Q4_K below has
// its own steps, and Q8_0 and Q4_0 are packed, see pack_amd64.s).
//
// Activations are signed bytes (token-major records, see quantizeQ8) and
// weights unsigned for VPDPBUSD (unsigned × signed bytes): a Q6_K weight is
// stored as q = w+32, so each 4-byte lane sums Σ(w+c)·x and starts from
// −c·Σx (TOKEN) to leave Σw·x, exact.
// A step covers two 32-element blocks, block b in lanes 0…7 and b+1 in
// 8…15; each lane's int32 sum is converted (exactly: |sum| < 2²⁴), scaled
// by d_w·d_x of its block and added to the accumulator with one FMA.
// An odd last block runs alone with zero scales in the upper lanes.
//
// Z24 −c·Σx per lane of the current token, Z25 its block scales d_x, Z26
// and Z27 scratch, Z28 zero, Z29 the byte c.

// TOKEN2 loads the token activations at x into Z31 (scales at s0, s1) for
// a step of two blocks; TOKEN1 for a last single block (its upper lanes'
// scale is 0).
#define TOKEN2(x, s0, s1) \
	VMOVDQU8      x, Z31         \
	VPXORD        Z24, Z24, Z24  \
	VPDPBUSD      Z31, Z29, Z24  \
	VPSUBD        Z24, Z28, Z24  \
	VBROADCASTSS  s0, Y25        \
	VBROADCASTSS  s1, Y30        \
	VINSERTF64X4  $1, Y30, Z25, Z25

#define TOKEN1(x, s0) \
	VMOVDQU8      x, Z31         \
	VPXORD        Z24, Z24, Z24  \
	VPDPBUSD      Z31, Z29, Z24  \
	VPSUBD        Z24, Z28, Z24  \
	VBROADCASTSS  s0, Y25

// PAIR accumulates weight row (W, scales S) · the token (loaded into Z31
// by TOKEN; x is unused) into F.
#define PAIR(F, W, S, x) \
	VMOVDQA32   Z24, Z26       \
	VPDPBUSD    Z31, W, Z26    \
	VCVTDQ2PS   Z26, Z26       \
	VMULPS      Z25, S, Z27    \
	VFMADD231PS Z27, Z26, F

DATA nibbles<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbles<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbles<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbles<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbles<>+32(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbles<>+40(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbles<>+48(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbles<>+56(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL nibbles<>(SB), RODATA|NOPTR, $64

// QSETUP zeroes the accumulators and sets Z28 = 0, Z29 = the byte c.
#define QSETUP(c) \
	ZERO4(Z0, Z1, Z2, Z3)     \
	ZERO4(Z4, Z5, Z6, Z7)     \
	ZERO4(Z8, Z9, Z10, Z11)   \
	ZERO4(Z12, Z13, Z14, Z15) \
	VPXORD       Z28, Z28, Z28 \
	MOVL         c, AX         \
	VPBROADCASTD AX, Z29       \
	MOVL         $0xff00ff00, AX \
	KMOVD        AX, K2

// The four rows against one token at x (scales s0, s1).
#define ROWS_TOKEN(F0, F1, F2, F3, x) \
	PAIR(F0, Z16, Z20, x) \
	PAIR(F1, Z17, Z21, x) \
	PAIR(F2, Z18, Z22, x) \
	PAIR(F3, Z19, Z23, x)

// QTILE is the body of a quantized tile: ROW2/ROW1 the weight macros, BSIZE
// the weight block size in bytes, TOKENS the number of tokens (1 or 4).
#define Q8STEP4 \
	TOKEN2((DI), (BX), 4(BX))                               \
	ROWS_TOKEN(Z0, Z1, Z2, Z3, (DI))                        \
	TOKEN2((DI)(R12*1), (BX)(R12*1), 4(BX)(R12*1))          \
	ROWS_TOKEN(Z4, Z5, Z6, Z7, (DI)(R12*1))                 \
	TOKEN2((DI)(R12*2), (BX)(R12*2), 4(BX)(R12*2))          \
	ROWS_TOKEN(Z8, Z9, Z10, Z11, (DI)(R12*2))               \
	TOKEN2((DI)(R13*1), (BX)(R13*1), 4(BX)(R13*1))          \
	ROWS_TOKEN(Z12, Z13, Z14, Z15, (DI)(R13*1))

#define Q8STEP1 \
	TOKEN2((DI), (BX), 4(BX)) \
	ROWS_TOKEN(Z0, Z1, Z2, Z3, (DI))

#define ADVANCE(wstep, xstep, sstep) \
	ADDQ wstep, R8  \
	ADDQ wstep, R9  \
	ADDQ wstep, R10 \
	ADDQ wstep, R11 \
	ADDQ xstep, DI  \
	ADDQ sstep, BX

// ---------------------------------------------------------------------------
// F32 weights (and dequantized rows of types without tiles) against float32 activations: 16 columns a
// step, one FMA per (row, token); the last len%16 columns are loaded under
// the mask K1 (zeros elsewhere). Activations are rows of N floats, R12
// bytes apart.

// FSETUP zeroes the accumulators, sets K1 to the tail mask, and leaves CX
// the number of full 16-column steps and BX the tail length.
#define FSETUP \
	ZERO4(Z0, Z1, Z2, Z3)     \
	ZERO4(Z4, Z5, Z6, Z7)     \
	ZERO4(Z8, Z9, Z10, Z11)   \
	ZERO4(Z12, Z13, Z14, Z15) \
	MOVQ  CX, BX              \
	ANDQ  $15, BX             \
	SHRQ  $4, CX              \
	MOVL  $1, AX              \
	SHLXL BX, AX, AX          \
	DECL  AX                  \
	KMOVW AX, K1

#define FMA4(F0, F1, F2, F3, x) \
	VMOVUPS     x, Z24       \
	VFMADD231PS Z24, Z16, F0 \
	VFMADD231PS Z24, Z17, F1 \
	VFMADD231PS Z24, Z18, F2 \
	VFMADD231PS Z24, Z19, F3

// Each token's columns are loaded into Z24 once for the four rows (the
// tail's under the mask).
#define FMA4T(F0, F1, F2, F3, x) \
	VMOVUPS.Z   x, K1, Z24 \
	VFMADD231PS Z24, Z16, F0 \
	VFMADD231PS Z24, Z17, F1 \
	VFMADD231PS Z24, Z18, F2 \
	VFMADD231PS Z24, Z19, F3

#define FTOKENS4(FMA) \
	FMA(Z0, Z1, Z2, Z3, (DI))            \
	FMA(Z4, Z5, Z6, Z7, (DI)(R12*1))     \
	FMA(Z8, Z9, Z10, Z11, (DI)(R12*2))   \
	FMA(Z12, Z13, Z14, Z15, (DI)(R13*1))

#define FTOKENS1(FMA) \
	FMA(Z0, Z1, Z2, Z3, (DI))

#define F32ROW(w, W) PREFETCHT0 (w)(R14*1); VMOVUPS (w), W
#define F32ROWT(w, W) VMOVUPS.Z (w), K1, W

#define FROWS(ROW) \
	ROW(R8, Z16)  \
	ROW(R9, Z17)  \
	ROW(R10, Z18) \
	ROW(R11, Z19)

#define FLOATTILE(ROW, ROWT, wstep, TOKENS, STORES) \
	LOADARGS          \
	FSETUP            \
ftloop:               \
	TESTQ CX, CX      \
	JZ    fttail  \
	FROWS(ROW)        \
	TOKENS(FMA4)      \
	ADVANCE(wstep, $64, $0) \
	DECQ  CX          \
	JMP   ftloop  \
fttail:               \
	TESTQ BX, BX      \
	JZ    ftdone  \
	FROWS(ROWT)       \
	TOKENS(FMA4T)     \
ftdone:               \
	STORES            \
	VZEROUPPER        \
	RET

#define STORES4 \
	STORE4(Z0, Z1, Z2, Z3)     \
	STORE4(Z4, Z5, Z6, Z7)     \
	STORE4(Z8, Z9, Z10, Z11)   \
	STORE4(Z12, Z13, Z14, Z15)

#define STORES1 STORE4(Z0, Z1, Z2, Z3)

// func f32TileX4(a *tileArgs)
TEXT ·f32TileX4(SB), NOSPLIT, $0-8
	FLOATTILE(F32ROW, F32ROWT, $64, FTOKENS4, STORES4)

// func f32TileX1(a *tileArgs)
TEXT ·f32TileX1(SB), NOSPLIT, $0-8
	FLOATTILE(F32ROW, F32ROWT, $64, FTOKENS1, STORES1)

// QROUND sets T to the int32 of P rounded half away from zero (P within
// ±127.5): T = trunc(P), then ±1 where the remainder P − T reaches ±½.
#define QROUND(P, T, R) \
	VCVTTPS2DQ P, T             \
	VCVTDQ2PS  T, R             \
	VSUBPS     R, P, R          \
	VCMPPS     $0x1d, Z30, R, K3 \
	VPADDD     Z28, T, K3, T    \
	VCMPPS     $0x12, Z29, R, K4 \
	VPSUBD     Z28, T, K4, T

// ---------------------------------------------------------------------------
// func quantizeQ8AVX512(x *float32, q *byte, s *float32, blocks int)
// The Q8_0 quantization of quantizeQ8Row, 32 floats a step: the same
// float32 operations (amax/127, its reciprocal, x·(1/d)), rounding half
// away from zero by truncating and correcting with the exact remainder.
TEXT ·quantizeQ8AVX512(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ s+16(FP), BX
	MOVQ sums+24(FP), DX
	MOVQ blocks+32(FP), CX
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z31           // abs mask
	MOVL $0x3f000000, AX
	VPBROADCASTD AX, Z30           // 0.5
	VXORPS Z29, Z29, Z29
	VSUBPS Z30, Z29, Z29           // −0.5
	MOVL $1, AX
	VPBROADCASTD AX, Z28           // int32 1
	MOVL $0x42fe0000, AX           // 127
	VMOVD AX, X27
	MOVL $0x3f800000, AX           // 1
	VMOVD AX, X26

qloop:
	TESTQ CX, CX
	JZ    qdone
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VANDPS  Z31, Z0, Z2
	VANDPS  Z31, Z1, Z3
	VMAXPS  Z3, Z2, Z2
	VSHUFF64X2 $0x4e, Z2, Z2, Z3
	VMAXPS  Z3, Z2, Z2
	VSHUFF64X2 $0xb1, Z2, Z2, Z3
	VMAXPS  Z3, Z2, Z2
	VPERMILPS $0x4e, Z2, Z3
	VMAXPS  Z3, Z2, Z2
	VPERMILPS $0xb1, Z2, Z3
	VMAXPS  Z3, Z2, Z2             // amax in every lane
	VDIVSS  X27, X2, X4            // d = amax/127
	VXORPS  X5, X5, X5
	VUCOMISS X5, X4
	JEQ     qzero
	VDIVSS  X4, X26, X5            // id = 1/d
qzero:
	VCVTPS2PH $0, X4, X6           // d rounded to f16, nearest even
	VCVTPH2PS X6, X6
	VMOVSS  X6, (BX)
	VBROADCASTSS X5, Z5
	VMULPS  Z5, Z0, Z0
	VMULPS  Z5, Z1, Z1
	QROUND(Z0, Z2, Z3)
	QROUND(Z1, Z6, Z7)
	VPMOVSDB Z2, (DI)
	VPMOVSDB Z6, 16(DI)
	TESTQ DX, DX
	JZ    qnosum
	VPADDD  Z6, Z2, Z2             // the block's Σq, for packed weights
	VSHUFI64X2 $0x4e, Z2, Z2, Z3
	VPADDD  Z3, Z2, Z2
	VSHUFI64X2 $0xb1, Z2, Z2, Z3
	VPADDD  Z3, Z2, Z2
	VPSHUFD $0x4e, Z2, Z3
	VPADDD  Z3, Z2, Z2
	VPSHUFD $0xb1, Z2, Z3
	VPADDD  Z3, Z2, Z2
	VMOVD   X2, (DX)
	ADDQ    $4, DX
qnosum:
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, BX
	DECQ CX
	JMP  qloop

qdone:
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// Q6_K weights against Q8_0 activations: 6-bit quants q = w+32 as the
// unsigned bytes (TOKEN starts each lane from −32·Σx), a scale d·sc per 16
// columns. A 256-column super-block (210 bytes: ql[128] low 4 bits, qh[64]
// high 2 bits, int8 sc[16], f16 d) is four steps of 64 columns; step j
// reads its low bits from ql[64(j/2):] shifted by 4(j%2), its high bits
// from qh[32(j/2):] shifted by 4(j%2) (columns 0…31) or 4(j%2)+2 (32…63),
// and its scales from sc[4j:]. K3 masks the upper 16 words, Z27 holds the
// lane → scale index.

DATA threes<>+0(SB)/8, $0x0303030303030303
DATA threes<>+8(SB)/8, $0x0303030303030303
DATA threes<>+16(SB)/8, $0x0303030303030303
DATA threes<>+24(SB)/8, $0x0303030303030303
DATA threes<>+32(SB)/8, $0x0303030303030303
DATA threes<>+40(SB)/8, $0x0303030303030303
DATA threes<>+48(SB)/8, $0x0303030303030303
DATA threes<>+56(SB)/8, $0x0303030303030303
GLOBL threes<>(SB), RODATA|NOPTR, $64

DATA scaleidx<>+0(SB)/8, $0x0000000000000000
DATA scaleidx<>+8(SB)/8, $0x0000000000000000
DATA scaleidx<>+16(SB)/8, $0x0000000100000001
DATA scaleidx<>+24(SB)/8, $0x0000000100000001
DATA scaleidx<>+32(SB)/8, $0x0000000200000002
DATA scaleidx<>+40(SB)/8, $0x0000000200000002
DATA scaleidx<>+48(SB)/8, $0x0000000300000003
DATA scaleidx<>+56(SB)/8, $0x0000000300000003
GLOBL scaleidx<>(SB), RODATA|NOPTR, $64

#define Q6ROW(w, W, S, ql, qh, lsh, hsh, sc, pf) \
	PREFETCHT0   pf(w)(R14*1)            \
	VMOVDQU8     ql(w), Z31              \
	VPSRLW       $lsh, Z31, Z31          \
	VPANDD       nibbles<>(SB), Z31, W   \
	VMOVDQU8     qh(w), Y30              \
	VINSERTI64X4 $1, qh(w), Z30, Z30     \
	VPSRLW       $hsh, Z30, Z30          \
	VPSRLW       $2, Z30, K3, Z30        \
	VPANDD       threes<>(SB), Z30, Z30  \
	VPSLLW       $4, Z30, Z30            \
	VPORD        Z30, W, W               \
	VPMOVSXBD    sc(w), X30              \
	VPERMD       Z30, Z27, Z30           \
	VCVTDQ2PS    Z30, Z30                \
	VPBROADCASTW 208(w), Y31             \
	VCVTPH2PS    Y31, Z31                \
	VMULPS       Z31, Z30, S

#define Q6ROWS(ql, qh, lsh, hsh, sc, pf) \
	VMOVDQU32 scaleidx<>(SB), Z27                   \
	Q6ROW(R8, Z16, Z20, ql, qh, lsh, hsh, sc, pf)   \
	Q6ROW(R9, Z17, Z21, ql, qh, lsh, hsh, sc, pf)   \
	Q6ROW(R10, Z18, Z22, ql, qh, lsh, hsh, sc, pf)  \
	Q6ROW(R11, Z19, Z23, ql, qh, lsh, hsh, sc, pf)

#define NEXTSTEP \
	ADDQ $64, DI \
	ADDQ $8, BX

// Q6SUPER runs the four steps of a super-block with STEP (Q8STEP4 or
// Q8STEP1), then moves the weight rows on.
#define Q6SUPER(STEP) \
	Q6ROWS(0, 128, 0, 0, 192, 0)    \
	STEP                             \
	NEXTSTEP                         \
	Q6ROWS(0, 128, 4, 4, 196, 64)   \
	STEP                             \
	NEXTSTEP                         \
	Q6ROWS(64, 160, 0, 0, 200, 128) \
	STEP                             \
	NEXTSTEP                         \
	Q6ROWS(64, 160, 4, 4, 204, 192) \
	STEP                             \
	NEXTSTEP                         \
	ADDQ $210, R8                    \
	ADDQ $210, R9                    \
	ADDQ $210, R10                   \
	ADDQ $210, R11

// func q6_KTileX4(a *tileArgs)
TEXT ·q6_KTileX4(SB), NOSPLIT, $0-8
	LOADARGS
	QSETUP($0x20202020)
	MOVL  $0xffff0000, AX
	KMOVD AX, K3
	SHRQ  $3, CX                  // blocks → super-blocks

q6x4loop:
	TESTQ CX, CX
	JZ    q6x4done
	Q6SUPER(Q8STEP4)
	DECQ  CX
	JMP   q6x4loop

q6x4done:
	STORES4
	VZEROUPPER
	RET

// func q6_KTileX1(a *tileArgs)
TEXT ·q6_KTileX1(SB), NOSPLIT, $0-8
	LOADARGS
	QSETUP($0x20202020)
	MOVL  $0xffff0000, AX
	KMOVD AX, K3
	SHRQ  $3, CX

q6x1loop:
	TESTQ CX, CX
	JZ    q6x1done
	Q6SUPER(Q8STEP1)
	DECQ  CX
	JMP   q6x1loop

q6x1done:
	STORES1
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// Q4_K weights against Q8_0 activations. A 256-column super-block (144
// bytes: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, qs[128]) is
// w = d·sc·q − dmin·m per 32 columns, q a nibble; step k (64 columns) takes
// the low then the high nibbles of qs[32k:32k+32]. The nibbles go into
// VPDPBUSD as they are (each lane starting from 0), and the mins come in
// per lane through Σx: F += (Σq·x)·d·sc·d_x − (Σx)·dmin·m·d_x.
//
// At each super-block the scales and mins of the four rows are unpacked
// (as ggml packs them) into 16 bytes each in the frame (sc), sc[0…7] then
// m[0…7]; left counts the super-blocks still to do. Registers: Z24…Z27 the
// rows' dmin·m, Z28 the token's Σx per lane (float), Z29 its d_x, Z30 and
// Z31 scratch.

DATA ones<>+0(SB)/8, $0x0101010101010101
DATA ones<>+8(SB)/8, $0x0101010101010101
DATA ones<>+16(SB)/8, $0x0101010101010101
DATA ones<>+24(SB)/8, $0x0101010101010101
DATA ones<>+32(SB)/8, $0x0101010101010101
DATA ones<>+40(SB)/8, $0x0101010101010101
DATA ones<>+48(SB)/8, $0x0101010101010101
DATA ones<>+56(SB)/8, $0x0101010101010101
GLOBL ones<>(SB), RODATA|NOPTR, $64

DATA pairidx<>+0(SB)/8, $0x0000000000000000
DATA pairidx<>+8(SB)/8, $0x0000000000000000
DATA pairidx<>+16(SB)/8, $0x0000000000000000
DATA pairidx<>+24(SB)/8, $0x0000000000000000
DATA pairidx<>+32(SB)/8, $0x0000000100000001
DATA pairidx<>+40(SB)/8, $0x0000000100000001
DATA pairidx<>+48(SB)/8, $0x0000000100000001
DATA pairidx<>+56(SB)/8, $0x0000000100000001
GLOBL pairidx<>(SB), RODATA|NOPTR, $64

// K4UNPACK writes the scales and mins of the super-block at w to off(SP).
#define K4UNPACK(w, off) \
	MOVL  4(w), AX            \
	MOVL  8(w), SI            \
	MOVL  12(w), DX           \
	MOVL  DX, CX              \
	SHRL  $4, CX              \
	ANDL  $0x0f0f0f0f, CX     \
	MOVL  SI, R15             \
	SHRL  $6, R15             \
	ANDL  $0x03030303, R15    \
	SHLL  $4, R15             \
	ORL   R15, CX             \
	ANDL  $0x3f3f3f3f, SI     \
	ANDL  $0x0f0f0f0f, DX     \
	MOVL  AX, R15             \
	SHRL  $6, R15             \
	ANDL  $0x03030303, R15    \
	SHLL  $4, R15             \
	ORL   R15, DX             \
	ANDL  $0x3f3f3f3f, AX     \
	MOVL  AX, off(SP)         \
	MOVL  DX, off+4(SP)       \
	MOVL  SI, off+8(SP)       \
	MOVL  CX, off+12(SP)

// K4ROW loads step k's nibbles of the row at w into W, d·sc into S and
// dmin·m into M; qs = 16+32k, sc = off+2k, m = off+8+2k.
#define K4ROW(w, W, S, M, qs, sc, m) \
	PREFETCHT0      qs(w)(R14*1)           \
	VBROADCASTI64X4 qs(w), Z31             \
	VPSRLW          $4, Z31, K3, Z31       \
	VPANDD          nibbles<>(SB), Z31, W  \
	VMOVDQU32       pairidx<>(SB), Z28     \
	VPMOVZXBD       sc(SP), X30            \
	VPERMD          Z30, Z28, Z30          \
	VCVTDQ2PS       Z30, Z30               \
	VPBROADCASTW    (w), Y31               \
	VCVTPH2PS       Y31, Z31               \
	VMULPS          Z31, Z30, S            \
	VPMOVZXBD       m(SP), X30             \
	VPERMD          Z30, Z28, Z30          \
	VCVTDQ2PS       Z30, Z30               \
	VPBROADCASTW    2(w), Y31              \
	VCVTPH2PS       Y31, Z31               \
	VMULPS          Z31, Z30, M

#define K4ROWS(qs, sc, m) \
	K4ROW(R8, Z16, Z20, Z24, qs, sc, m)        \
	K4ROW(R9, Z17, Z21, Z25, qs, sc+16, m+16)  \
	K4ROW(R10, Z18, Z22, Z26, qs, sc+32, m+32) \
	K4ROW(R11, Z19, Z23, Z27, qs, sc+48, m+48)

// K4TOKEN: Z28 = Σx per lane of the token at x, Z29 its scales (s0, s1).
#define K4TOKEN(x, s0, s1) \
	VMOVDQU32     ones<>(SB), Z31 \
	VPXORD        Z30, Z30, Z30   \
	VPDPBUSD      x, Z31, Z30     \
	VCVTDQ2PS     Z30, Z28        \
	VBROADCASTSS  s0, Y29         \
	VBROADCASTSS  s1, Y31         \
	VINSERTF64X4  $1, Y31, Z29, Z29

#define K4PAIR(F, W, S, M, x) \
	VPXORD       Z30, Z30, Z30  \
	VPDPBUSD     x, W, Z30      \
	VCVTDQ2PS    Z30, Z30       \
	VMULPS       Z29, S, Z31    \
	VFMADD231PS  Z31, Z30, F    \
	VMULPS       Z29, M, Z31    \
	VFNMADD231PS Z31, Z28, F

#define K4TOKROWS(F0, F1, F2, F3, x, s0, s1) \
	K4TOKEN(x, s0, s1)              \
	K4PAIR(F0, Z16, Z20, Z24, x)    \
	K4PAIR(F1, Z17, Z21, Z25, x)    \
	K4PAIR(F2, Z18, Z22, Z26, x)    \
	K4PAIR(F3, Z19, Z23, Z27, x)

#define K4STEP4 \
	K4TOKROWS(Z0, Z1, Z2, Z3, (DI), (BX), 4(BX))                                 \
	K4TOKROWS(Z4, Z5, Z6, Z7, (DI)(R12*1), (BX)(R12*1), 4(BX)(R12*1))            \
	K4TOKROWS(Z8, Z9, Z10, Z11, (DI)(R12*2), (BX)(R12*2), 4(BX)(R12*2))          \
	K4TOKROWS(Z12, Z13, Z14, Z15, (DI)(R13*1), (BX)(R13*1), 4(BX)(R13*1))

#define K4STEP1 \
	K4TOKROWS(Z0, Z1, Z2, Z3, (DI), (BX), 4(BX))

#define K4SUPER(STEP) \
	K4UNPACK(R8, sc-72)      \
	K4UNPACK(R9, sc-56)      \
	K4UNPACK(R10, sc-40)     \
	K4UNPACK(R11, sc-24)     \
	K4ROWS(16, sc-72, sc-64) \
	STEP                     \
	NEXTSTEP                 \
	K4ROWS(48, sc-70, sc-62) \
	STEP                     \
	NEXTSTEP                 \
	K4ROWS(80, sc-68, sc-60) \
	STEP                     \
	NEXTSTEP                 \
	K4ROWS(112, sc-66, sc-58) \
	STEP                  \
	NEXTSTEP              \
	ADDQ $144, R8         \
	ADDQ $144, R9         \
	ADDQ $144, R10        \
	ADDQ $144, R11

// K4TILE is a Q4_K tile's body; the output registers are reloaded at the
// end since the unpacking uses them.
#define K4TILE(STEP, STORES) \
	LOADARGS                  \
	ZERO4(Z0, Z1, Z2, Z3)     \
	ZERO4(Z4, Z5, Z6, Z7)     \
	ZERO4(Z8, Z9, Z10, Z11)   \
	ZERO4(Z12, Z13, Z14, Z15) \
	MOVL  $0xffff0000, AX     \
	KMOVD AX, K3              \
	SHRQ  $3, CX              \
	MOVQ  CX, left-8(SP)      \
k4loop:                           \
	CMPQ  left-8(SP), $0      \
	JEQ   k4done              \
	K4SUPER(STEP)             \
	DECQ  left-8(SP)          \
	JMP   k4loop              \
k4done:                           \
	MOVQ  a+0(FP), AX         \
	MOVQ  ARG_OUT(AX), DX     \
	MOVQ  ARG_OSTRIDE(AX), SI \
	STORES                    \
	VZEROUPPER                \
	RET

// func q4_KTileX4(a *tileArgs)
TEXT ·q4_KTileX4(SB), NOSPLIT, $72-8
	K4TILE(K4STEP4, STORES4)

// func q4_KTileX1(a *tileArgs)
TEXT ·q4_KTileX1(SB), NOSPLIT, $72-8
	K4TILE(K4STEP1, STORES1)

// ---------------------------------------------------------------------------
// func toBF16AVX512(x *float32, out *uint16, n int)
//
// Rounds n float32 (a multiple of 16) to bfloat16 as quant.F32ToBF16 does:
// to nearest, ties to even, (u + 0x7fff + bit 16 of u) >> 16; a NaN keeps
// its upper half with the quiet bit set.
TEXT ·toBF16AVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ out+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   bf16done
	MOVL         $1, AX
	VPBROADCASTD AX, Z20             // 1
	MOVL         $0x7fff, AX
	VPBROADCASTD AX, Z21             // rounding bias
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z22             // |x| mask
	MOVL         $0x7f800000, AX
	VPBROADCASTD AX, Z23             // infinity
	MOVL         $0x40, AX
	VPBROADCASTD AX, Z24             // quiet bit, in the upper half
bf16loop:
	VMOVDQU32 (SI), Z0
	VPSRLD    $16, Z0, Z1
	VPANDD    Z20, Z1, Z2
	VPADDD    Z21, Z0, Z3
	VPADDD    Z2, Z3, Z3
	VPSRLD    $16, Z3, Z3
	VPANDD    Z22, Z0, Z4
	VPCMPUD   $6, Z23, Z4, K1        // |x| > inf: NaN
	VPORD     Z24, Z1, K1, Z3
	VPMOVDW   Z3, (DI)
	ADDQ      $64, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       bf16loop
bf16done:
	VZEROUPPER
	RET
