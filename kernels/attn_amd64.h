// Macros and constants the attention kernels of attn_amd64.s and
// attn16_amd64.s share.

// SCORES16ZERO clears the sixteen accumulators Z0…Z15 (key j in Zj).
#define SCORES16ZERO \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z4, Z4, Z4 \
	VPXORD Z5, Z5, Z5 \
	VPXORD Z6, Z6, Z6 \
	VPXORD Z7, Z7, Z7 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15

// SCORES16REDUCE sums each accumulator's lanes: 256-bit halves of key
// pairs (2m, 2m+1) into Z2m, then 128-bit quarters into Z4n (lane k: key
// 4n+k), then 64-bit pairs and single lanes across Z0, Z4, Z8, Z12.
#define SCORES16REDUCE \
	VSHUFF64X2 $0x44, Z1, Z0, Z16 \
	VSHUFF64X2 $0xee, Z1, Z0, Z17 \
	VADDPS     Z17, Z16, Z0 \
	VSHUFF64X2 $0x44, Z3, Z2, Z16 \
	VSHUFF64X2 $0xee, Z3, Z2, Z17 \
	VADDPS     Z17, Z16, Z2 \
	VSHUFF64X2 $0x44, Z5, Z4, Z16 \
	VSHUFF64X2 $0xee, Z5, Z4, Z17 \
	VADDPS     Z17, Z16, Z4 \
	VSHUFF64X2 $0x44, Z7, Z6, Z16 \
	VSHUFF64X2 $0xee, Z7, Z6, Z17 \
	VADDPS     Z17, Z16, Z6 \
	VSHUFF64X2 $0x44, Z9, Z8, Z16 \
	VSHUFF64X2 $0xee, Z9, Z8, Z17 \
	VADDPS     Z17, Z16, Z8 \
	VSHUFF64X2 $0x44, Z11, Z10, Z16 \
	VSHUFF64X2 $0xee, Z11, Z10, Z17 \
	VADDPS     Z17, Z16, Z10 \
	VSHUFF64X2 $0x44, Z13, Z12, Z16 \
	VSHUFF64X2 $0xee, Z13, Z12, Z17 \
	VADDPS     Z17, Z16, Z12 \
	VSHUFF64X2 $0x44, Z15, Z14, Z16 \
	VSHUFF64X2 $0xee, Z15, Z14, Z17 \
	VADDPS     Z17, Z16, Z14 \
	VSHUFF64X2 $0x88, Z2, Z0, Z16 \
	VSHUFF64X2 $0xdd, Z2, Z0, Z17 \
	VADDPS     Z17, Z16, Z0 \
	VSHUFF64X2 $0x88, Z6, Z4, Z16 \
	VSHUFF64X2 $0xdd, Z6, Z4, Z17 \
	VADDPS     Z17, Z16, Z4 \
	VSHUFF64X2 $0x88, Z10, Z8, Z16 \
	VSHUFF64X2 $0xdd, Z10, Z8, Z17 \
	VADDPS     Z17, Z16, Z8 \
	VSHUFF64X2 $0x88, Z14, Z12, Z16 \
	VSHUFF64X2 $0xdd, Z14, Z12, Z17 \
	VADDPS     Z17, Z16, Z12 \
	VUNPCKLPD  Z4, Z0, Z16 \
	VUNPCKHPD  Z4, Z0, Z17 \
	VADDPS     Z17, Z16, Z0 \
	VUNPCKLPD  Z12, Z8, Z16 \
	VUNPCKHPD  Z12, Z8, Z17 \
	VADDPS     Z17, Z16, Z8 \
	VSHUFPS    $0x88, Z8, Z0, Z16 \
	VSHUFPS    $0xdd, Z8, Z0, Z17 \
	VADDPS     Z17, Z16, Z0

// After the reduction lane 4k+m holds key 4m+k; scoreperm puts key j in
// lane j.
DATA scoreperm<>+0(SB)/4, $0
DATA scoreperm<>+4(SB)/4, $4
DATA scoreperm<>+8(SB)/4, $8
DATA scoreperm<>+12(SB)/4, $12
DATA scoreperm<>+16(SB)/4, $1
DATA scoreperm<>+20(SB)/4, $5
DATA scoreperm<>+24(SB)/4, $9
DATA scoreperm<>+28(SB)/4, $13
DATA scoreperm<>+32(SB)/4, $2
DATA scoreperm<>+36(SB)/4, $6
DATA scoreperm<>+40(SB)/4, $10
DATA scoreperm<>+44(SB)/4, $14
DATA scoreperm<>+48(SB)/4, $3
DATA scoreperm<>+52(SB)/4, $7
DATA scoreperm<>+56(SB)/4, $11
DATA scoreperm<>+60(SB)/4, $15
GLOBL scoreperm<>(SB), RODATA|NOPTR, $64
