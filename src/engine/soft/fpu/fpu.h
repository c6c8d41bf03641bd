/* The software CPU's floating-point and SIMD state: x87 (which MMX aliases), XMM0-15
 * and MXCSR, and the entry points the rest of the engine uses (reset, FXSAVE image,
 * CPUID bits). Instruction handlers are in ops_x87.c, ops_mmx.c, ops_sse*.c; lowering
 * from Zydis in lower_fp.c; their shared helpers in ops_fp.h.
 *
 * x87 registers are kept in their raw 80-bit form (physical registers R0..R7, not stack
 * order), so MMX aliasing, FXSAVE and odd encodings (pseudo-denormals, unnormals,
 * pseudo-NaNs) survive untouched; arithmetic runs on the host's x87 unit with the guest's
 * precision and rounding control (ops_x87.c). */
#ifndef TRIVISOR_SOFT_FPU_H
#define TRIVISOR_SOFT_FPU_H

#include <stdbool.h>
#include <stdint.h>

union xmmreg {
	uint8_t b[16];
	int8_t sb[16];
	uint16_t w[8];
	int16_t sw[8];
	uint32_t d[4];
	int32_t sd[4];
	uint64_t q[2];
	int64_t sq[2];
	float f[4];
	double df[2];
};

struct x87reg {
	uint64_t mant;   /* significand incl. the explicit integer bit; MMX register value */
	uint16_t se;     /* sign (bit 15) and biased exponent */
};

struct soft_fpu {
	union xmmreg xmm[16];
	uint32_t mxcsr;
	/* x87 */
	struct x87reg st[8];   /* physical registers; ST(i) is st[(top + i) & 7] */
	uint16_t fcw;
	uint16_t fsw;          /* without TOP (bits 11-13 kept zero here) */
	uint8_t top;
	uint8_t valid;         /* bit n: physical register n is not empty */
	uint16_t fop;
	uint64_t fip, fdp;     /* restored/saved as is; not updated by instructions */
};

#define MXCSR_IE 0x0001u
#define MXCSR_DE 0x0002u
#define MXCSR_ZE 0x0004u
#define MXCSR_OE 0x0008u
#define MXCSR_UE 0x0010u
#define MXCSR_PE 0x0020u
#define MXCSR_DAZ 0x0040u
#define MXCSR_MASKS 0x1f80u
#define MXCSR_RC 0x6000u
#define MXCSR_FTZ 0x8000u
#define MXCSR_DEFAULT 0x1f80u
#define MXCSR_WRITABLE 0xffffu  /* the MXCSR_MASK reported by FXSAVE */

/* Reset state (power-on / INIT: FNINIT state, MXCSR 0x1f80, XMM zero). */
void soft_fpu_reset(struct soft_fpu *f);
/* The 512-byte FXSAVE image (64-bit layout when rexw, else FCS/FDS form with 32-bit
 * pointers); and loading one back. Load returns false (and changes nothing) if MXCSR has
 * reserved bits set, which FXRSTOR turns into #GP. */
void soft_fpu_fxsave(const struct soft_fpu *f, uint8_t img[512], bool rexw);
bool soft_fpu_fxrstor(struct soft_fpu *f, const uint8_t img[512], bool rexw);
/* CPUID.1 bits for what this file set implements: FPU, MMX, FXSR, SSE, SSE2 in EDX;
 * SSE3, SSSE3 in ECX. Sets those bits, leaves the others alone. */
void soft_fpu_cpuid_bits(uint32_t *leaf1_ecx, uint32_t *leaf1_edx);

#endif
