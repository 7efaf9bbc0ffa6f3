#include "textflag.h"

// The float kernels keep four 8-lane accumulators over blocks of 32
// elements, then one over blocks of 8, add them pairwise, and finish the
// last len%8 elements one by one on the total: a fixed order for each
// length.

// REDUCE adds the accumulators Y0…Y3 into the low float of X0.
#define REDUCE \
	VADDPS       Y1, Y0, Y0 \
	VADDPS       Y3, Y2, Y2 \
	VADDPS       Y2, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVHLPS     X0, X0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVSHDUP    X0, X1     \
	VADDSS       X1, X0, X0

#define ZERO4 \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3

// func dotF32AVX2(w []byte, x []float32) float32
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-52
	MOVQ w_base+0(FP), SI
	MOVQ x_base+24(FP), DI
	MOVQ x_len+32(FP), CX
	ZERO4

f32loop32:
	CMPQ        CX, $32
	JL          f32loop8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         f32loop32

f32loop8:
	CMPQ        CX, $8
	JL          f32reduce
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         f32loop8

f32reduce:
	REDUCE

f32tail:
	TESTQ       CX, CX
	JZ          f32done
	VMOVSS      (SI), X1
	VFMADD231SS (DI), X1, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         f32tail

f32done:
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func dotBF16AVX2(w []byte, x []float32) float32
// A bfloat16 widens to float32 by a 16-bit left shift.
TEXT ·dotBF16AVX2(SB), NOSPLIT, $0-52
	MOVQ w_base+0(FP), SI
	MOVQ x_base+24(FP), DI
	MOVQ x_len+32(FP), CX
	ZERO4

bf16loop32:
	CMPQ        CX, $32
	JL          bf16loop8
	VPMOVZXWD   (SI), Y4
	VPMOVZXWD   16(SI), Y5
	VPMOVZXWD   32(SI), Y6
	VPMOVZXWD   48(SI), Y7
	VPSLLD      $16, Y4, Y4
	VPSLLD      $16, Y5, Y5
	VPSLLD      $16, Y6, Y6
	VPSLLD      $16, Y7, Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $64, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         bf16loop32

bf16loop8:
	CMPQ        CX, $8
	JL          bf16reduce
	VPMOVZXWD   (SI), Y4
	VPSLLD      $16, Y4, Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $16, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         bf16loop8

bf16reduce:
	REDUCE

bf16tail:
	TESTQ       CX, CX
	JZ          bf16done
	MOVWLZX     (SI), AX
	SHLL        $16, AX
	VMOVD       AX, X1
	VFMADD231SS (DI), X1, X0
	ADDQ        $2, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         bf16tail

bf16done:
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func dotF16AVX2(w []byte, x []float32) float32
// F16C's VCVTPH2PS widens eight halves at a time, exactly.
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-52
	MOVQ w_base+0(FP), SI
	MOVQ x_base+24(FP), DI
	MOVQ x_len+32(FP), CX
	ZERO4

f16loop32:
	CMPQ        CX, $32
	JL          f16loop8
	VCVTPH2PS   (SI), Y4
	VCVTPH2PS   16(SI), Y5
	VCVTPH2PS   32(SI), Y6
	VCVTPH2PS   48(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $64, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         f16loop32

f16loop8:
	CMPQ        CX, $8
	JL          f16reduce
	VCVTPH2PS   (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $16, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         f16loop8

f16reduce:
	REDUCE

f16tail:
	TESTQ       CX, CX
	JZ          f16done
	MOVWLZX     (SI), AX
	VMOVD       AX, X1
	VCVTPH2PS   X1, X1
	VFMADD231SS (DI), X1, X0
	ADDQ        $2, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         f16tail

f16done:
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// The quantized kernels multiply signed bytes with VPMADDUBSW, which wants
// one unsigned operand: |w| and x·sign(w) have the same products. Pairs sum
// to at most 2·128·127 < 2¹⁵, so nothing saturates. VPMADDWD by ones then
// gives eight exact int32 partial sums per block, which are scaled by
// d_w·d_x and accumulated lane-wise in Y0.

// BLOCKSCALE sets Y1 to d_w·d_x, the f16 scales at (SI) and (DI).
#define BLOCKSCALE \
	MOVWLZX      (SI), AX \
	VMOVD        AX, X1   \
	VCVTPH2PS    X1, X1   \
	MOVWLZX      (DI), AX \
	VMOVD        AX, X2   \
	VCVTPH2PS    X2, X2   \
	VMULSS       X2, X1, X1 \
	VBROADCASTSS X1, Y1

// BLOCKDOT accumulates Y1 · Σ (Y2 as int8)·(Y3 as int8) into Y0; Y7 holds
// 16-bit ones.
#define BLOCKDOT \
	VPABSB     Y2, Y4     \
	VPSIGNB    Y2, Y3, Y5 \
	VPMADDUBSW Y5, Y4, Y6 \
	VPMADDWD   Y7, Y6, Y6 \
	VCVTDQ2PS  Y6, Y6     \
	VFMADD231PS Y6, Y1, Y0

// REDUCE1 adds the lanes of Y0 into the low float of X0.
#define REDUCE1 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVHLPS     X0, X0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVSHDUP    X0, X1     \
	VADDSS       X1, X0, X0

// func dotQ8_0AVX2(w, xq []byte) float32
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-52
	MOVQ     w_base+0(FP), SI
	MOVQ     xq_base+24(FP), DI
	MOVQ     xq_len+32(FP), CX
	VXORPS   Y0, Y0, Y0
	VPCMPEQW Y7, Y7, Y7
	VPSRLW   $15, Y7, Y7

q8loop:
	CMPQ    CX, $34
	JL      q8done
	BLOCKSCALE
	VMOVDQU 2(SI), Y2
	VMOVDQU 2(DI), Y3
	BLOCKDOT
	ADDQ    $34, SI
	ADDQ    $34, DI
	SUBQ    $34, CX
	JMP     q8loop

q8done:
	REDUCE1
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func dotQ4_0AVX2(w, xq []byte) float32
// A Q4_0 byte holds element j in its low nibble and j+16 in its high one,
// so the low nibbles form the first 16 bytes of the block and the high
// nibbles the second; both are stored offset by 8.
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-52
	MOVQ         w_base+0(FP), SI
	MOVQ         xq_base+24(FP), DI
	MOVQ         xq_len+32(FP), CX
	VXORPS       Y0, Y0, Y0
	VPCMPEQW     Y7, Y7, Y7
	VPSRLW       $15, Y7, Y7
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X8
	VPBROADCASTD X8, Y8
	MOVL         $0x08080808, AX
	VMOVD        AX, X9
	VPBROADCASTD X9, Y9

q4loop:
	CMPQ        CX, $34
	JL          q4done
	BLOCKSCALE
	VMOVDQU     2(SI), X2
	VPSRLW      $4, X2, X3
	VINSERTI128 $1, X3, Y2, Y2
	VPAND       Y8, Y2, Y2
	VPSUBB      Y9, Y2, Y2
	VMOVDQU     2(DI), Y3
	BLOCKDOT
	ADDQ        $18, SI
	ADDQ        $34, DI
	SUBQ        $34, CX
	JMP         q4loop

q4done:
	REDUCE1
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET
