/* Shared helpers and handler list of the x87/MMX/SSE instruction handlers
 * (ops_x87.c, ops_mmx.c, ops_sse_*.c), and the operand conventions lower_fp.c fills in.
 *
 * Operands: struct sop.kind is OPK_XMM / OPK_MM / OPK_ST for FP/SIMD registers (reg =
 * register number), OPK_REG for a GPR, OPK_MEM, OPK_IMM (the imm8 is in sinsn.imm).
 * sinsn.imm2 carries FPF_* flags. */
#ifndef TRIVISOR_SOFT_OPS_FP_H
#define TRIVISOR_SOFT_OPS_FP_H

#include "engine/soft/cpu.h"
#include "engine/soft/fpu/fpu.h"
#include "engine/soft/mmu/mem.h"

#define OPK_XMM 8
#define OPK_MM 9
#define OPK_ST 10

#define FPF_ALIGN 1u   /* a 16-byte memory operand must be 16-byte aligned (#GP) */
#define FPF_W64 2u     /* 64-bit GPR operand (REX.W) */
/* Which state an instruction uses, for the CR0/CR4 checks of fp_gate(). */
#define FPF_MMX 4u     /* MMX registers: #UD if CR0.EM, #NM if CR0.TS, #MF if pending */
#define FPF_XMM 8u     /* XMM registers or MXCSR: also #UD if CR4.OSFXSR = 0 */
#define FPF_FXSR 16u   /* FXSAVE/FXRSTOR: #NM if CR0.EM or CR0.TS */

/* ---- CR0/CR4 gating (SDM vol. 3A 2.5, 13.1 table 13-1, 22.25.3 tables 22-4..22-8) ----
 *   SSE/SSE2/SSE3/SSSE3 (FPF_XMM): #UD if CR4.OSFXSR = 0 or CR0.EM = 1, else #NM if TS;
 *   MMX (FPF_MMX): #UD if EM, #NM if TS, #MF if an unmasked x87 exception is pending
 *   (both flags: the forms with MMX and XMM operands, e.g. CVTPI2PS xmm, mm);
 *   FXSAVE/FXRSTOR: #NM if EM or TS.
 * The fences, PREFETCHh and MOVNTI are not gated (they do not reach these handlers).
 * x87 instructions are gated in h_x87. An unmasked SIMD exception is #XM with
 * CR4.OSXMMEXCPT = 1, else #UD (sse_exc). */
int fp_gate_slow(struct soft_cpu *c, const struct sinsn *i);

static inline bool x87_pending(const struct soft_cpu *c)
{
	return (c->fpu.fsw & ~c->fpu.fcw & 0x3f) != 0;
}

static inline int fp_gate(struct soft_cpu *c, const struct sinsn *i)
{
	if (__builtin_expect(!(c->sys.cr0 & (CR0_EM | CR0_TS)) && (c->sys.cr4 & CR4_OSFXSR) &&
	                     !((i->imm2 & FPF_MMX) && x87_pending(c)), 1))
		return SOFT_OK;
	return fp_gate_slow(c, i);
}


/* ---- memory: up to 16 bytes, no partial writes on a fault ---- */

static inline int fp_read(struct soft_cpu *c, uint64_t la, unsigned sz, void *dst, unsigned mf)
{
	uint64_t v;
	if (sz <= 8) {
		if (mem_read(c, la, sz, &v, mf))
			return SOFT_EXC;
		memcpy(dst, &v, sz);
		return SOFT_OK;
	}
	uint64_t hi;
	if (mem_read(c, la, 8, &v, mf) || mem_read(c, la + 8, 8, &hi, mf))
		return SOFT_EXC;
	memcpy(dst, &v, 8);
	memcpy((uint8_t *)dst + 8, &hi, 8);
	return SOFT_OK;
}

/* Check that [la, la+sz) can be written, one byte per page (for multi-part stores). */
int fp_probe_write(struct soft_cpu *c, uint64_t la, unsigned sz, unsigned mf);

static inline int fp_write(struct soft_cpu *c, uint64_t la, unsigned sz, const void *src, unsigned mf)
{
	uint64_t v = 0, hi;
	if (sz <= 8) {
		memcpy(&v, src, sz);
		return mem_write(c, la, sz, v, mf);
	}
	if (((la ^ (la + 15)) & ~0xfffull) && fp_probe_write(c, la, 16, mf))
		return SOFT_EXC;
	memcpy(&v, src, 8);
	memcpy(&hi, (const uint8_t *)src + 8, 8);
	if (mem_write(c, la, 8, v, mf))
		return SOFT_EXC;
	return mem_write(c, la + 8, 8, hi, mf);
}

/* #GP(0) for a misaligned FXSAVE/FXRSTOR area of sz bytes at la; a non-canonical address
 * is reported first (#SS for the stack segment), as the host does. (A misaligned 16-byte
 * SSE operand is #GP(0) even when its address is also non-canonical: fp_ea.) */
static inline int fp_misaligned(struct soft_cpu *c, const struct sinsn *i, uint64_t la, unsigned sz)
{
	if (!canonical(la) || !canonical(la + sz - 1))
		return raise_exc(c, i->seg == S_SS ? VEC_SS : VEC_GP, true, 0);
	return raise_exc(c, VEC_GP, true, 0);
}

/* Linear address of the memory operand, with the 16-byte alignment check if flagged. */
static inline int fp_ea(struct soft_cpu *c, const struct sinsn *i, unsigned k, uint64_t *la)
{
	*la = ea(c, i);
	if (i->o[k].size == 16 && (i->imm2 & FPF_ALIGN) && (*la & 15))
		return raise_exc(c, VEC_GP, true, 0);
	return SOFT_OK;
}

/* MMX instructions (all but EMMS) make every x87 register valid and TOP 0. */
static inline void mmx_enter(struct soft_cpu *c)
{
	c->fpu.top = 0;
	c->fpu.valid = 0xff;
}

static inline void mm_set(struct soft_cpu *c, unsigned r, uint64_t v)
{
	c->fpu.st[r].mant = v;
	c->fpu.st[r].se = 0xffff;
}

/* Read operand k (XMM, MM, GPR or memory of o[k].size bytes) zero-extended to 128 bits. */
static inline int xop_read(struct soft_cpu *c, const struct sinsn *i, unsigned k, union xmmreg *v)
{
	const struct sop *o = &i->o[k];
	switch (o->kind) {
	case OPK_XMM:
		*v = c->fpu.xmm[o->reg];
		return SOFT_OK;
	case OPK_MM:
		v->q[0] = c->fpu.st[o->reg].mant;
		v->q[1] = 0;
		return SOFT_OK;
	case OPK_REG:
		v->q[0] = reg_get(c, o->reg, o->size);
		v->q[1] = 0;
		return SOFT_OK;
	default: {
		uint64_t la;
		v->q[0] = v->q[1] = 0;
		if (fp_ea(c, i, k, &la))
			return SOFT_EXC;
		return fp_read(c, la, o->size, v, mf_of(i));
	}
	}
}

/* ---- handlers ---- */

/* h_pint (ops_sse_int.c): packed integer operations on MMX or XMM operands. */
enum {
	PI_PADDB, PI_PADDW, PI_PADDD, PI_PADDQ, PI_PADDSB, PI_PADDSW, PI_PADDUSB, PI_PADDUSW,
	PI_PSUBB, PI_PSUBW, PI_PSUBD, PI_PSUBQ, PI_PSUBSB, PI_PSUBSW, PI_PSUBUSB, PI_PSUBUSW,
	PI_PAND, PI_PANDN, PI_POR, PI_PXOR,
	PI_PCMPEQB, PI_PCMPEQW, PI_PCMPEQD, PI_PCMPGTB, PI_PCMPGTW, PI_PCMPGTD,
	PI_PMULLW, PI_PMULHW, PI_PMULHUW, PI_PMULUDQ, PI_PMADDWD, PI_PSADBW, PI_PAVGB, PI_PAVGW,
	PI_PMINUB, PI_PMAXUB, PI_PMINSW, PI_PMAXSW,
	PI_PSLLW, PI_PSLLD, PI_PSLLQ, PI_PSRLW, PI_PSRLD, PI_PSRLQ, PI_PSRAW, PI_PSRAD,
	PI_PSLLDQ, PI_PSRLDQ,
	PI_PUNPCKLBW, PI_PUNPCKLWD, PI_PUNPCKLDQ, PI_PUNPCKLQDQ,
	PI_PUNPCKHBW, PI_PUNPCKHWD, PI_PUNPCKHDQ, PI_PUNPCKHQDQ,
	PI_PACKSSWB, PI_PACKSSDW, PI_PACKUSWB,
	PI_PSHUFD, PI_PSHUFHW, PI_PSHUFLW, PI_PSHUFW,
	/* bitwise FP-domain forms (same operation) */
	PI_ANDPS = PI_PAND, PI_ANDNPS = PI_PANDN, PI_ORPS = PI_POR, PI_XORPS = PI_PXOR,
	PI_SHUFPS = PI_PSHUFW + 1, PI_SHUFPD, PI_UNPCKLPS, PI_UNPCKHPS, PI_UNPCKLPD, PI_UNPCKHPD,
	/* SSE3 / SSSE3 */
	PI_MOVDDUP, PI_MOVSHDUP, PI_MOVSLDUP,
	PI_PSHUFB, PI_PALIGNR, PI_PHADDW, PI_PHADDD, PI_PHADDSW, PI_PHSUBW, PI_PHSUBD, PI_PHSUBSW,
	PI_PSIGNB, PI_PSIGNW, PI_PSIGND, PI_PABSB, PI_PABSW, PI_PABSD, PI_PMULHRSW, PI_PMADDUBSW,
};
int h_pint(struct soft_cpu *c, const struct sinsn *i);
int h_pinsrw(struct soft_cpu *c, const struct sinsn *i);
int h_pextrw(struct soft_cpu *c, const struct sinsn *i);
int h_pmovmskb(struct soft_cpu *c, const struct sinsn *i);
int h_movmskps(struct soft_cpu *c, const struct sinsn *i);  /* op 0 PS, 1 PD */

/* ops_sse_mov.c: data movement. */
/* h_xmov: what moves where. The source is read zero-extended to 128 bits; a GPR, MM or
 * memory destination takes its own size from the low end (MV_FULL) or the high qword. */
enum {
	MV_FULL,     /* dst = src (XMM dst: the zero-extended source) */
	MV_ZX64,     /* XMM dst = low qword of src, upper zeroed (MOVQ xmm, xmm) */
	MV_LO32,     /* XMM dst dword 0 = src dword 0 (MOVSS xmm, xmm) */
	MV_LO64,     /* XMM dst qword 0 = src qword 0 (MOVSD xmm, xmm; MOVLPS load) */
	MV_HI_LOAD,  /* XMM dst qword 1 = src qword 0 (MOVHPS load, MOVLHPS) */
	MV_HI_TO_LO, /* dst low qword (XMM merge, or m64) = src qword 1 (MOVHLPS, MOVHPS store) */
};
int h_xmov(struct soft_cpu *c, const struct sinsn *i);
int h_maskmov(struct soft_cpu *c, const struct sinsn *i);
int h_ldmxcsr(struct soft_cpu *c, const struct sinsn *i);
int h_stmxcsr(struct soft_cpu *c, const struct sinsn *i);
int h_fxsave(struct soft_cpu *c, const struct sinsn *i);
int h_fxrstor(struct soft_cpu *c, const struct sinsn *i);
int h_emms(struct soft_cpu *c, const struct sinsn *i);

/* ops_sse_fp.c: floating point through the host's SSE unit under the guest's MXCSR. */
enum {
	FP_ADDPS, FP_ADDPD, FP_ADDSS, FP_ADDSD, FP_SUBPS, FP_SUBPD, FP_SUBSS, FP_SUBSD,
	FP_MULPS, FP_MULPD, FP_MULSS, FP_MULSD, FP_DIVPS, FP_DIVPD, FP_DIVSS, FP_DIVSD,
	FP_SQRTPS, FP_SQRTPD, FP_SQRTSS, FP_SQRTSD, FP_MINPS, FP_MINPD, FP_MINSS, FP_MINSD,
	FP_MAXPS, FP_MAXPD, FP_MAXSS, FP_MAXSD,
	FP_RCPPS, FP_RCPSS, FP_RSQRTPS, FP_RSQRTSS,
	FP_CVTSS2SD, FP_CVTSD2SS, FP_CVTPS2PD, FP_CVTPD2PS, FP_CVTDQ2PS, FP_CVTPS2DQ,
	FP_CVTTPS2DQ, FP_CVTDQ2PD, FP_CVTPD2DQ, FP_CVTTPD2DQ,
	FP_CVTPI2PS, FP_CVTPS2PI, FP_CVTTPS2PI, FP_CVTPI2PD, FP_CVTPD2PI, FP_CVTTPD2PI,
	FP_ADDSUBPS, FP_ADDSUBPD, FP_HADDPS, FP_HADDPD, FP_HSUBPS, FP_HSUBPD,
	FP_CMPPS, /* + predicate 0..7 */
	FP_CMPPD = FP_CMPPS + 8, FP_CMPSS = FP_CMPPD + 8, FP_CMPSD = FP_CMPSS + 8,
	FP__COUNT = FP_CMPSD + 8
};
int h_ssefp(struct soft_cpu *c, const struct sinsn *i);     /* op: FP_* */
int h_cvt2si(struct soft_cpu *c, const struct sinsn *i);    /* op: CV_* */
int h_cvtsi2(struct soft_cpu *c, const struct sinsn *i);    /* op 0 SS, 1 SD */
int h_comis(struct soft_cpu *c, const struct sinsn *i);     /* op: bit0 SD, bit1 COMIS */
enum { CV_SS2SI, CV_TSS2SI, CV_SD2SI, CV_TSD2SI };

/* ops_x87.c */
int h_x87(struct soft_cpu *c, const struct sinsn *i);

#endif
