/* SSE/SSE2/SSE3 floating point: arithmetic, comparisons, conversions.
 *
 * Every operation runs on the host's SSE unit (SSE2 is part of every x86-64 host) with
 * the guest's MXCSR rounding, DAZ and FTZ loaded and all exceptions masked, so results,
 * NaN propagation and the exception flags raised are the architectural ones; the host's
 * own MXCSR is saved and restored around each operation. What the masked run cannot show
 * is decided here (Intel SDM vol. 1, 11.5.2): an unmasked exception leaves the
 * destination unchanged and raises #XM; if a pre-computation exception (IE, DE, ZE) is
 * unmasked only the pre-computation flags are recorded; an unmasked underflow is also
 * signalled for exact tiny (denormal) results, which masked underflow ignores.
 *
 * RCPPS/RCPSS/RSQRTPS/RSQRTSS return the host's approximation (the architecture only
 * bounds the relative error, vendors differ). */
#include "engine/soft/ops_fp.h"

typedef double v2df __attribute__((vector_size(16)));

typedef void (*host_fn)(union xmmreg *d, const union xmmreg *s, uint32_t *mx);

/* One host instruction "insn src, dst" on full XMM registers under MXCSR *mx, which
 * receives the MXCSR after the operation. */
#define HOST2(fname, insn)                                                                  \
	static void fname(union xmmreg *d, const union xmmreg *s, uint32_t *mx)                 \
	{                                                                                        \
		v2df x, y;                                                                           \
		uint32_t saved;                                                                      \
		memcpy(&x, d, 16);                                                                   \
		memcpy(&y, s, 16);                                                                   \
		__asm__ volatile("stmxcsr %[sv]\n\tldmxcsr %[m]\n\t" insn " %[y], %[x]\n\t"          \
		                 "stmxcsr %[m]\n\tldmxcsr %[sv]"                                     \
		                 : [x] "+x"(x), [m] "+m"(*mx), [sv] "=m"(saved)                       \
		                 : [y] "x"(y));                                                      \
		memcpy(d, &x, 16);                                                                   \
	}

#define HOST4(name) HOST2(h_##name##ps, #name "ps") HOST2(h_##name##pd, #name "pd") \
	HOST2(h_##name##ss, #name "ss") HOST2(h_##name##sd, #name "sd")
HOST4(add)
HOST4(sub)
HOST4(mul)
HOST4(div)
HOST4(sqrt)
HOST4(min)
HOST4(max)
HOST2(h_rcpps, "rcpps")
HOST2(h_rcpss, "rcpss")
HOST2(h_rsqrtps, "rsqrtps")
HOST2(h_rsqrtss, "rsqrtss")
HOST2(h_cvtss2sd, "cvtss2sd")
HOST2(h_cvtsd2ss, "cvtsd2ss")
HOST2(h_cvtps2pd, "cvtps2pd")
HOST2(h_cvtpd2ps, "cvtpd2ps")
HOST2(h_cvtdq2ps, "cvtdq2ps")
HOST2(h_cvtps2dq, "cvtps2dq")
HOST2(h_cvttps2dq, "cvttps2dq")
HOST2(h_cvtdq2pd, "cvtdq2pd")
HOST2(h_cvtpd2dq, "cvtpd2dq")
HOST2(h_cvttpd2dq, "cvttpd2dq")
HOST2(h_addsubps, "addsubps")
HOST2(h_addsubpd, "addsubpd")
HOST2(h_haddps, "haddps")
HOST2(h_haddpd, "haddpd")
HOST2(h_hsubps, "hsubps")
HOST2(h_hsubpd, "hsubpd")

#define CMP8(f) HOST2(h_##f##0, #f " $0,") HOST2(h_##f##1, #f " $1,") HOST2(h_##f##2, #f " $2,") \
	HOST2(h_##f##3, #f " $3,") HOST2(h_##f##4, #f " $4,") HOST2(h_##f##5, #f " $5,")         \
	HOST2(h_##f##6, #f " $6,") HOST2(h_##f##7, #f " $7,")
CMP8(cmpps)
CMP8(cmppd)
CMP8(cmpss)
CMP8(cmpsd)

/* What to check for exact tiny results (unmasked underflow), and where the result goes. */
enum { UE_NONE, UE_F32X4, UE_F32X1, UE_F64X2, UE_F64X1 };
enum { TO_XMM, TO_XMM_LO64, TO_MM };

struct fpop {
	host_fn fn;
	uint8_t ue;
	uint8_t to;
	bool src_lo64;   /* only the low 64 bits of the source are an operand */
};

#define CMPS(f, base) [base + 0] = { h_##f##0, 0, 0, 0 }, [base + 1] = { h_##f##1, 0, 0, 0 }, \
	[base + 2] = { h_##f##2, 0, 0, 0 }, [base + 3] = { h_##f##3, 0, 0, 0 },                  \
	[base + 4] = { h_##f##4, 0, 0, 0 }, [base + 5] = { h_##f##5, 0, 0, 0 },                  \
	[base + 6] = { h_##f##6, 0, 0, 0 }, [base + 7] = { h_##f##7, 0, 0, 0 }

static const struct fpop fpops[FP__COUNT] = {
	[FP_ADDPS] = { h_addps, UE_F32X4, TO_XMM, false },
	[FP_ADDPD] = { h_addpd, UE_F64X2, TO_XMM, false },
	[FP_ADDSS] = { h_addss, UE_F32X1, TO_XMM, false },
	[FP_ADDSD] = { h_addsd, UE_F64X1, TO_XMM, false },
	[FP_SUBPS] = { h_subps, UE_F32X4, TO_XMM, false },
	[FP_SUBPD] = { h_subpd, UE_F64X2, TO_XMM, false },
	[FP_SUBSS] = { h_subss, UE_F32X1, TO_XMM, false },
	[FP_SUBSD] = { h_subsd, UE_F64X1, TO_XMM, false },
	[FP_MULPS] = { h_mulps, UE_F32X4, TO_XMM, false },
	[FP_MULPD] = { h_mulpd, UE_F64X2, TO_XMM, false },
	[FP_MULSS] = { h_mulss, UE_F32X1, TO_XMM, false },
	[FP_MULSD] = { h_mulsd, UE_F64X1, TO_XMM, false },
	[FP_DIVPS] = { h_divps, UE_F32X4, TO_XMM, false },
	[FP_DIVPD] = { h_divpd, UE_F64X2, TO_XMM, false },
	[FP_DIVSS] = { h_divss, UE_F32X1, TO_XMM, false },
	[FP_DIVSD] = { h_divsd, UE_F64X1, TO_XMM, false },
	[FP_SQRTPS] = { h_sqrtps, UE_NONE, TO_XMM, false },
	[FP_SQRTPD] = { h_sqrtpd, UE_NONE, TO_XMM, false },
	[FP_SQRTSS] = { h_sqrtss, UE_NONE, TO_XMM, false },
	[FP_SQRTSD] = { h_sqrtsd, UE_NONE, TO_XMM, false },
	[FP_MINPS] = { h_minps, UE_NONE, TO_XMM, false },
	[FP_MINPD] = { h_minpd, UE_NONE, TO_XMM, false },
	[FP_MINSS] = { h_minss, UE_NONE, TO_XMM, false },
	[FP_MINSD] = { h_minsd, UE_NONE, TO_XMM, false },
	[FP_MAXPS] = { h_maxps, UE_NONE, TO_XMM, false },
	[FP_MAXPD] = { h_maxpd, UE_NONE, TO_XMM, false },
	[FP_MAXSS] = { h_maxss, UE_NONE, TO_XMM, false },
	[FP_MAXSD] = { h_maxsd, UE_NONE, TO_XMM, false },
	[FP_RCPPS] = { h_rcpps, UE_NONE, TO_XMM, false },
	[FP_RCPSS] = { h_rcpss, UE_NONE, TO_XMM, false },
	[FP_RSQRTPS] = { h_rsqrtps, UE_NONE, TO_XMM, false },
	[FP_RSQRTSS] = { h_rsqrtss, UE_NONE, TO_XMM, false },
	[FP_CVTSS2SD] = { h_cvtss2sd, UE_NONE, TO_XMM, false },
	[FP_CVTSD2SS] = { h_cvtsd2ss, UE_F32X1, TO_XMM, false },
	[FP_CVTPS2PD] = { h_cvtps2pd, UE_NONE, TO_XMM, false },
	[FP_CVTPD2PS] = { h_cvtpd2ps, UE_F32X4, TO_XMM, false },
	[FP_CVTDQ2PS] = { h_cvtdq2ps, UE_NONE, TO_XMM, false },
	[FP_CVTPS2DQ] = { h_cvtps2dq, UE_NONE, TO_XMM, false },
	[FP_CVTTPS2DQ] = { h_cvttps2dq, UE_NONE, TO_XMM, false },
	[FP_CVTDQ2PD] = { h_cvtdq2pd, UE_NONE, TO_XMM, false },
	[FP_CVTPD2DQ] = { h_cvtpd2dq, UE_NONE, TO_XMM, false },
	[FP_CVTTPD2DQ] = { h_cvttpd2dq, UE_NONE, TO_XMM, false },
	[FP_CVTPI2PS] = { h_cvtdq2ps, UE_NONE, TO_XMM_LO64, true },
	[FP_CVTPS2PI] = { h_cvtps2dq, UE_NONE, TO_MM, true },
	[FP_CVTTPS2PI] = { h_cvttps2dq, UE_NONE, TO_MM, true },
	[FP_CVTPI2PD] = { h_cvtdq2pd, UE_NONE, TO_XMM, true },
	[FP_CVTPD2PI] = { h_cvtpd2dq, UE_NONE, TO_MM, false },
	[FP_CVTTPD2PI] = { h_cvttpd2dq, UE_NONE, TO_MM, false },
	[FP_ADDSUBPS] = { h_addsubps, UE_F32X4, TO_XMM, false },
	[FP_ADDSUBPD] = { h_addsubpd, UE_F64X2, TO_XMM, false },
	[FP_HADDPS] = { h_haddps, UE_F32X4, TO_XMM, false },
	[FP_HADDPD] = { h_haddpd, UE_F64X2, TO_XMM, false },
	[FP_HSUBPS] = { h_hsubps, UE_F32X4, TO_XMM, false },
	[FP_HSUBPD] = { h_hsubpd, UE_F64X2, TO_XMM, false },
	CMPS(cmpps, FP_CMPPS),
	CMPS(cmppd, FP_CMPPD),
	CMPS(cmpss, FP_CMPSS),
	CMPS(cmpsd, FP_CMPSD),
};

/* Any denormal result among the checked lanes? */
static bool tiny_result(const union xmmreg *r, unsigned ue)
{
	unsigned n32 = ue == UE_F32X4 ? 4 : ue == UE_F32X1 ? 1 : 0;
	unsigned n64 = ue == UE_F64X2 ? 2 : ue == UE_F64X1 ? 1 : 0;
	for (unsigned k = 0; k < n32; k++)
		if (!(r->d[k] & 0x7f800000u) && (r->d[k] & 0x7fffffu))
			return true;
	for (unsigned k = 0; k < n64; k++)
		if (!(r->q[k] & 0x7ff0000000000000ull) && (r->q[k] & 0xfffffffffffffull))
			return true;
	return false;
}

/* Record the flags an operation raised: OK, or #XM (flags per SDM 11.5.2) with the
 * destination left alone. */
static inline int sse_flags(struct soft_cpu *c, uint32_t raised, bool tiny)
{
	uint32_t unmasked = ~(c->fpu.mxcsr >> 7) & 0x3f;
	if (tiny && (unmasked & MXCSR_UE))
		raised |= MXCSR_UE;
	if (__builtin_expect(!(raised & unmasked), 1)) {
		c->fpu.mxcsr |= raised;
		return SOFT_OK;
	}
	uint32_t pre = raised & (MXCSR_IE | MXCSR_DE | MXCSR_ZE);
	if (pre & unmasked)
		raised = pre;
	c->fpu.mxcsr |= raised;
	return raise_exc(c, VEC_XM, false, 0);
}

/* The MXCSR the host runs with: the guest's controls, every exception masked, no flags. */
static inline uint32_t run_mxcsr(const struct soft_cpu *c)
{
	return (c->fpu.mxcsr | MXCSR_MASKS) & ~0x3fu;
}

int h_ssefp(struct soft_cpu *c, const struct sinsn *i)
{
	const struct fpop *op = &fpops[i->op];
	union xmmreg a, b;
	if (xop_read(c, i, 1, &b))
		return SOFT_EXC;
	if (op->src_lo64)
		b.q[1] = 0;
	if (op->to == TO_MM)
		a.q[0] = a.q[1] = 0;
	else
		a = c->fpu.xmm[i->o[0].reg];
	uint32_t mx = run_mxcsr(c);
	op->fn(&a, &b, &mx);
	bool tiny = op->ue != UE_NONE && !(c->fpu.mxcsr & 0x800) && tiny_result(&a, op->ue);
	if (i->o[1].kind == OPK_MM || op->to == TO_MM)
		mmx_enter(c); /* even when the operation then faults */
	if (sse_flags(c, mx & 0x3f, tiny))
		return SOFT_EXC;
	switch (op->to) {
	case TO_XMM: c->fpu.xmm[i->o[0].reg] = a; break;
	case TO_XMM_LO64: c->fpu.xmm[i->o[0].reg].q[0] = a.q[0]; break;
	default:
		mm_set(c, i->o[0].reg, a.q[0]);
		break;
	}
	return SOFT_OK;
}

/* CVT(T)SS2SI / CVT(T)SD2SI r32/r64, xmm/m */
#define CVT2SI(fname, insn, mod)                                                            \
	static uint64_t fname(const union xmmreg *s, uint32_t *mx)                              \
	{                                                                                        \
		v2df y;                                                                              \
		uint64_t g = 0;                                                                      \
		uint32_t saved;                                                                      \
		memcpy(&y, s, 16);                                                                   \
		__asm__ volatile("stmxcsr %[sv]\n\tldmxcsr %[m]\n\t" insn " %[y], %" mod "[g]\n\t"  \
		                 "stmxcsr %[m]\n\tldmxcsr %[sv]"                                     \
		                 : [g] "+r"(g), [m] "+m"(*mx), [sv] "=m"(saved)                       \
		                 : [y] "x"(y));                                                      \
		return g;                                                                            \
	}
CVT2SI(cvtss2si32, "cvtss2si", "k")
CVT2SI(cvtss2si64, "cvtss2si", "q")
CVT2SI(cvttss2si32, "cvttss2si", "k")
CVT2SI(cvttss2si64, "cvttss2si", "q")
CVT2SI(cvtsd2si32, "cvtsd2si", "k")
CVT2SI(cvtsd2si64, "cvtsd2si", "q")
CVT2SI(cvttsd2si32, "cvttsd2si", "k")
CVT2SI(cvttsd2si64, "cvttsd2si", "q")

int h_cvt2si(struct soft_cpu *c, const struct sinsn *i)
{
	static uint64_t (*const fns[4][2])(const union xmmreg *, uint32_t *) = {
		[CV_SS2SI] = { cvtss2si32, cvtss2si64 }, [CV_TSS2SI] = { cvttss2si32, cvttss2si64 },
		[CV_SD2SI] = { cvtsd2si32, cvtsd2si64 }, [CV_TSD2SI] = { cvttsd2si32, cvttsd2si64 },
	};
	union xmmreg b;
	if (xop_read(c, i, 1, &b))
		return SOFT_EXC;
	uint32_t mx = run_mxcsr(c);
	unsigned sz = i->o[0].size;
	uint64_t v = fns[i->op][sz == 8](&b, &mx);
	if (sse_flags(c, mx & 0x3f, false))
		return SOFT_EXC;
	reg_set(c, i->o[0].reg, sz, v);
	return SOFT_OK;
}

/* CVTSI2SS / CVTSI2SD xmm, r/m32 or r/m64 */
#define CVTSI2(fname, insn, mod)                                                            \
	static void fname(union xmmreg *d, uint64_t g, uint32_t *mx)                            \
	{                                                                                        \
		v2df x;                                                                              \
		uint32_t saved;                                                                      \
		memcpy(&x, d, 16);                                                                   \
		__asm__ volatile("stmxcsr %[sv]\n\tldmxcsr %[m]\n\t" insn " %" mod "[g], %[x]\n\t"  \
		                 "stmxcsr %[m]\n\tldmxcsr %[sv]"                                     \
		                 : [x] "+x"(x), [m] "+m"(*mx), [sv] "=m"(saved)                       \
		                 : [g] "r"(g));                                                      \
		memcpy(d, &x, 16);                                                                   \
	}
CVTSI2(cvtsi2ss32, "cvtsi2ssl", "k")
CVTSI2(cvtsi2ss64, "cvtsi2ssq", "q")
CVTSI2(cvtsi2sd32, "cvtsi2sdl", "k")
CVTSI2(cvtsi2sd64, "cvtsi2sdq", "q")

int h_cvtsi2(struct soft_cpu *c, const struct sinsn *i)
{
	static void (*const fns[2][2])(union xmmreg *, uint64_t, uint32_t *) = {
		{ cvtsi2ss32, cvtsi2ss64 }, { cvtsi2sd32, cvtsi2sd64 },
	};
	union xmmreg b, a = c->fpu.xmm[i->o[0].reg];
	if (xop_read(c, i, 1, &b))
		return SOFT_EXC;
	uint32_t mx = run_mxcsr(c);
	fns[i->op & 1][i->o[1].size == 8](&a, b.q[0], &mx);
	if (sse_flags(c, mx & 0x3f, false))
		return SOFT_EXC;
	c->fpu.xmm[i->o[0].reg] = a;
	return SOFT_OK;
}

/* COMISS / UCOMISS / COMISD / UCOMISD: ZF, PF, CF from the comparison; OF, SF, AF 0. */
#define COMI(fname, insn)                                                                   \
	static uint64_t fname(const union xmmreg *d, const union xmmreg *s, uint32_t *mx)       \
	{                                                                                        \
		v2df x, y;                                                                           \
		bool z, p, cf;                                                                       \
		uint32_t saved;                                                                      \
		memcpy(&x, d, 16);                                                                   \
		memcpy(&y, s, 16);                                                                   \
		__asm__ volatile("stmxcsr %[sv]\n\tldmxcsr %[m]\n\t" insn " %[y], %[x]\n\t"          \
		                 "stmxcsr %[m]\n\tldmxcsr %[sv]"                                     \
		                 : "=@ccz"(z), "=@ccp"(p), "=@ccc"(cf), [m] "+m"(*mx), [sv] "=m"(saved) \
		                 : [x] "x"(x), [y] "x"(y));                                          \
		return (z ? FL_ZF : 0) | (p ? FL_PF : 0) | (cf ? FL_CF : 0);                         \
	}
COMI(ucomiss, "ucomiss")
COMI(ucomisd, "ucomisd")
COMI(comiss, "comiss")
COMI(comisd, "comisd")

int h_comis(struct soft_cpu *c, const struct sinsn *i)
{
	static uint64_t (*const fns[4])(const union xmmreg *, const union xmmreg *, uint32_t *) = {
		ucomiss, ucomisd, comiss, comisd,
	};
	union xmmreg b;
	if (xop_read(c, i, 1, &b))
		return SOFT_EXC;
	uint32_t mx = run_mxcsr(c);
	uint64_t f = fns[i->op & 3](&c->fpu.xmm[i->o[0].reg], &b, &mx);
	if (sse_flags(c, mx & 0x3f, false))
		return SOFT_EXC;
	flags_update(c, FL_ARITH, f);
	return SOFT_OK;
}
