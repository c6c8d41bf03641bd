/* SSE/SSE2/SSE3 floating point: arithmetic, comparisons, conversions.
 *
 * Every operation runs on the host's SSE unit (SSE2 is part of every x86-64 host) with
 * the guest's MXCSR rounding, DAZ and FTZ loaded and all exceptions masked, so results,
 * NaN propagation and the exception flags raised are the architectural ones; the host's
 * own MXCSR is saved and restored around each operation. What the masked run cannot show
 * is decided here (Intel SDM vol. 1, 11.5.2): an unmasked exception leaves the
 * destination unchanged and raises #XM; if a pre-computation exception (IE, DE, ZE) is
 * unmasked only the pre-computation flags are recorded; an unmasked underflow is also
 * signalled for exact tiny (denormal) results, which masked underflow ignores; unmasked
 * overflow and underflow report PE for the unbounded-exponent rounding (see sse_exc).
 *
 * RCPPS/RCPSS/RSQRTPS/RSQRTSS return the host's approximation (the architecture only
 * bounds the relative error, vendors differ). */
#include "engine/soft/fpu/ops_fp.h"

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

/* ---- unmasked numeric overflow / underflow (SDM vol. 1, 11.5.2.4, 11.5.2.5) ----
 *
 * With OE or UE unmasked, a lane whose result overflows or is tiny does not deliver the
 * masked response (infinity / largest finite, denormal / zero) whose rounding the host's
 * masked run reports: the result is rounded to the destination precision as if the
 * exponent range were unbounded, and PE reports whether that rounding was inexact (as the
 * host does). So on this rare path every lane that can overflow or underflow is
 * recomputed on the host's x87 unit, whose 15-bit exponent cannot overflow for these
 * operands, with its precision control set to the SSE format's significand (24 or 53
 * bits, the unbounded-exponent rounding) and the guest's rounding mode. Tininess is
 * detected after rounding. A lane of an operation not ending in #XM keeps the masked
 * response, so its flags are the masked ones (a tiny masked lane signals UE|PE only when
 * the denormalised result is inexact, or always under FTZ). */

enum { LK_ADD, LK_SUB, LK_MUL, LK_DIV };

struct lane {
	uint8_t kind;      /* LK_* */
	uint64_t x, y;     /* operand bits: float (low 32) or double */
};

#define X87LANE(name, T, ld, insn)                                                          \
	static uint16_t name(T x, T y, uint16_t cw, long double *r)                              \
	{                                                                                        \
		uint16_t sw, old;                                                                    \
		__asm__ volatile("fnstcw %[old]\n\tfldcw %[cw]\n\tfnclex\n\t" ld " %[x]\n\t"          \
		                 insn " %[y]\n\tfnstsw %[sw]\n\tfstpt %[r]\n\tfnclex\n\tfldcw %[old]"   \
		                 : [r] "=m"(*r), [sw] "=m"(sw), [old] "=m"(old)                       \
		                 : [x] "m"(x), [y] "m"(y), [cw] "m"(cw));                             \
		return sw;                                                                           \
	}
X87LANE(xl_add32, uint32_t, "flds", "fadds")
X87LANE(xl_sub32, uint32_t, "flds", "fsubs")
X87LANE(xl_mul32, uint32_t, "flds", "fmuls")
X87LANE(xl_div32, uint32_t, "flds", "fdivs")
X87LANE(xl_add64, uint64_t, "fldl", "faddl")
X87LANE(xl_sub64, uint64_t, "fldl", "fsubl")
X87LANE(xl_mul64, uint64_t, "fldl", "fmull")
X87LANE(xl_div64, uint64_t, "fldl", "fdivl")

/* x op y on the x87 at precision control pc (0: 24 bits, 2: 53, 3: 64) under the guest's
 * rounding; returns the x87 status (PE = 0x20) and the result's mantissa and unbiased
 * exponent. */
static uint16_t lane_x87(const struct lane *l, bool in64, unsigned pc, uint32_t mxcsr,
                         uint64_t *mant, int *exp)
{
	static uint16_t (*const f32[4])(uint32_t, uint32_t, uint16_t, long double *) = {
		xl_add32, xl_sub32, xl_mul32, xl_div32,
	};
	static uint16_t (*const f64[4])(uint64_t, uint64_t, uint16_t, long double *) = {
		xl_add64, xl_sub64, xl_mul64, xl_div64,
	};
	uint16_t cw = (uint16_t)(0x7f | pc << 8 | ((mxcsr & MXCSR_RC) >> 13) << 10);
	long double r;
	uint16_t sw = in64 ? f64[l->kind](l->x, l->y, cw, &r)
	                   : f32[l->kind]((uint32_t)l->x, (uint32_t)l->y, cw, &r);
	uint16_t se;
	memcpy(mant, &r, 8);
	memcpy(&se, (const uint8_t *)&r + 8, 2);
	*exp = (se & 0x7fff) - 16383;
	return sw;
}

/* OE, UE and PE of one lane (finite operands only: NaN, infinity and division by zero
 * produce none of them). */
static uint32_t lane_flags(struct lane l, bool in64, bool out64, uint32_t mxcsr, uint32_t unm)
{
	unsigned ebits = in64 ? 11 : 8, fbits = in64 ? 52 : 23;
	uint64_t emask = ((1ull << ebits) - 1) << fbits, fmask = (1ull << fbits) - 1;
	uint64_t sign = 1ull << (ebits + fbits);
	uint64_t *ops[2] = { &l.x, &l.y };
	for (unsigned k = 0; k < 2; k++) {
		uint64_t v = *ops[k];
		if ((v & emask) == emask)
			return 0;
		if ((mxcsr & MXCSR_DAZ) && !(v & emask))
			*ops[k] = v & sign; /* DAZ: a denormal operand is a signed zero */
	}
	if (l.kind == LK_DIV && !(l.y & (emask | fmask)))
		return 0;
	int emin = out64 ? -1022 : -126, emax = out64 ? 1023 : 127, p = out64 ? 53 : 24;
	uint64_t mant;
	int e;
	uint16_t sw = lane_x87(&l, in64, out64 ? 2 : 0, mxcsr, &mant, &e);
	uint32_t inexact = (sw & 0x20) ? MXCSR_PE : 0;
	if (!mant)
		return 0;
	if (e > emax)
		return MXCSR_OE | ((unm & MXCSR_OE) ? inexact : MXCSR_PE);
	if (e >= emin)
		return inexact;
	if (unm & MXCSR_UE)
		return MXCSR_UE | inexact;
	if (mxcsr & MXCSR_FTZ)
		return MXCSR_UE | MXCSR_PE;
	/* Masked: inexact if the exact result has bits below the denormal grid 2^(emin-p+1).
	 * A 64-bit rounding that is itself inexact means more bits than any denormal holds. */
	if (lane_x87(&l, in64, 3, mxcsr, &mant, &e) & 0x20)
		return MXCSR_UE | MXCSR_PE;
	int shift = (emin - p + 1) - (e - 63);
	bool off_grid = shift >= 64 || (shift > 0 && (mant & ((1ull << shift) - 1)));
	return off_grid ? MXCSR_UE | MXCSR_PE : 0;
}

/* The result lanes of op that can overflow or underflow, from destination a and source
 * b; sets *in64 / *out64 for double operands / results. Returns the number of lanes. */
static unsigned post_lanes(unsigned op, const union xmmreg *a, const union xmmreg *b,
                           struct lane l[4], bool *in64, bool *out64)
{
	static const uint64_t one64 = 0x3ff0000000000000ull;
	unsigned n = 0;
	if (op <= FP_DIVSD) { /* FP_ADDPS is 0 */
		unsigned kind = (op - FP_ADDPS) / 4, form = (op - FP_ADDPS) % 4; /* PS PD SS SD */
		*in64 = *out64 = form & 1;
		n = form == 0 ? 4 : form == 1 ? 2 : 1;
		for (unsigned k = 0; k < n; k++)
			l[k] = *in64 ? (struct lane){ (uint8_t)kind, a->q[k], b->q[k] }
			             : (struct lane){ (uint8_t)kind, a->d[k], b->d[k] };
		return n;
	}
	switch (op) {
	case FP_CVTSD2SS: case FP_CVTPD2PS: /* x * 1.0 rounds to the float precision */
		*in64 = true;
		*out64 = false;
		n = op == FP_CVTSD2SS ? 1 : 2;
		for (unsigned k = 0; k < n; k++)
			l[k] = (struct lane){ LK_MUL, b->q[k], one64 };
		return n;
	case FP_ADDSUBPS:
		*in64 = *out64 = false;
		for (unsigned k = 0; k < 4; k++)
			l[k] = (struct lane){ k & 1 ? LK_ADD : LK_SUB, a->d[k], b->d[k] };
		return 4;
	case FP_ADDSUBPD:
		*in64 = *out64 = true;
		l[0] = (struct lane){ LK_SUB, a->q[0], b->q[0] };
		l[1] = (struct lane){ LK_ADD, a->q[1], b->q[1] };
		return 2;
	case FP_HADDPS: case FP_HSUBPS: {
		uint8_t kind = op == FP_HADDPS ? LK_ADD : LK_SUB;
		*in64 = *out64 = false;
		l[0] = (struct lane){ kind, a->d[0], a->d[1] };
		l[1] = (struct lane){ kind, a->d[2], a->d[3] };
		l[2] = (struct lane){ kind, b->d[0], b->d[1] };
		l[3] = (struct lane){ kind, b->d[2], b->d[3] };
		return 4;
	}
	case FP_HADDPD: case FP_HSUBPD: {
		uint8_t kind = op == FP_HADDPD ? LK_ADD : LK_SUB;
		*in64 = *out64 = true;
		l[0] = (struct lane){ kind, a->q[0], a->q[1] };
		l[1] = (struct lane){ kind, b->q[0], b->q[1] };
		return 2;
	}
	default:
		return 0;
	}
}

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

/* The rare path of an operation whose masked run raised an unmasked exception (or, with
 * UE unmasked, produced a denormal): SOFT_OK with the masked flags recorded if it turns
 * out not to fault, else #XM with the flags SDM 11.5.2 reports and nothing stored. If a
 * pre-computation exception (IE, DE, ZE) is unmasked only those flags are recorded. */
static int sse_exc(struct soft_cpu *c, unsigned op, const union xmmreg *a,
                   const union xmmreg *b, uint32_t raised)
{
	uint32_t mxcsr = c->fpu.mxcsr, unm = ~(mxcsr >> 7) & 0x3f;
	uint32_t pre = raised & (MXCSR_IE | MXCSR_DE | MXCSR_ZE), flags = raised;
	if (pre & unm) {
		flags = pre;
	} else if (unm & (MXCSR_OE | MXCSR_UE)) {
		struct lane l[4];
		bool in64 = false, out64 = false;
		unsigned n = post_lanes(op, a, b, l, &in64, &out64);
		if (n) {
			flags = pre;
			for (unsigned k = 0; k < n; k++)
				flags |= lane_flags(l[k], in64, out64, mxcsr, unm);
		}
	}
	if (!(flags & unm)) {
		c->fpu.mxcsr |= raised;
		return SOFT_OK;
	}
	c->fpu.mxcsr |= flags;
	return raise_exc(c, (c->sys.cr4 & CR4_OSXMMEXCPT) ? VEC_XM : VEC_UD, false, 0);
}

/* Record the flags of an operation with no overflow/underflow lanes: OK, or #XM. */
static inline int sse_flags(struct soft_cpu *c, uint32_t raised)
{
	uint32_t unmasked = ~(c->fpu.mxcsr >> 7) & 0x3f;
	if (__builtin_expect(!(raised & unmasked), 1)) {
		c->fpu.mxcsr |= raised;
		return SOFT_OK;
	}
	return sse_exc(c, FP__COUNT, NULL, NULL, raised);
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
	if (fp_gate(c, i))
		return SOFT_EXC;
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
	if (i->o[1].kind == OPK_MM || op->to == TO_MM)
		mmx_enter(c); /* even when the operation then faults */
	uint32_t raised = mx & 0x3f, unm = ~(c->fpu.mxcsr >> 7) & 0x3f;
	if (__builtin_expect(!(raised & unm), 1) &&
	    (op->ue == UE_NONE || !(unm & MXCSR_UE) || !tiny_result(&a, op->ue))) {
		c->fpu.mxcsr |= raised;
	} else {
		union xmmreg d = c->fpu.xmm[i->o[0].reg];
		if (op->to == TO_MM)
			d.q[0] = d.q[1] = 0;
		if (sse_exc(c, i->op, &d, &b, raised))
			return SOFT_EXC;
	}
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
	if (fp_gate(c, i))
		return SOFT_EXC;
	if (xop_read(c, i, 1, &b))
		return SOFT_EXC;
	uint32_t mx = run_mxcsr(c);
	unsigned sz = i->o[0].size;
	uint64_t v = fns[i->op][sz == 8](&b, &mx);
	if (sse_flags(c, mx & 0x3f))
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
	if (fp_gate(c, i))
		return SOFT_EXC;
	if (xop_read(c, i, 1, &b))
		return SOFT_EXC;
	uint32_t mx = run_mxcsr(c);
	fns[i->op & 1][i->o[1].size == 8](&a, b.q[0], &mx);
	if (sse_flags(c, mx & 0x3f))
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
	if (fp_gate(c, i))
		return SOFT_EXC;
	if (xop_read(c, i, 1, &b))
		return SOFT_EXC;
	uint32_t mx = run_mxcsr(c);
	uint64_t f = fns[i->op & 3](&c->fpu.xmm[i->o[0].reg], &b, &mx);
	if (sse_flags(c, mx & 0x3f))
		return SOFT_EXC;
	flags_update(c, FL_ARITH, f);
	return SOFT_OK;
}
