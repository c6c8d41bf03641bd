/* x87 floating point (Intel SDM vol. 1, chapter 8; vol. 2 instruction pages).
 *
 * The register stack, tags, TOP, stack faults (#IS) with their masked responses, the
 * status and control words and the environment/save images are modelled here. Every
 * numeric operation runs on the host's x87 unit: the operands are loaded into a clean
 * host stack under the guest's control word (precision, rounding and exception masks),
 * the host instruction is executed, the status word is read and cleared with no-wait
 * instructions (so an unmasked exception never traps on the host; the host's unmasked
 * responses -- destination left alone, exponent-scaled overflow/underflow results --
 * are what the guest gets), and the host stack is read back. So results, including the
 * transcendental instructions', are the host CPU's bit for bit (they may differ in the
 * last place between vendors), and odd encodings (pseudo-denormals, unnormals,
 * pseudo-NaNs) are treated exactly as the host treats them.
 *
 * Not tracked: FIP/FDP/FOP (kept as loaded). An unmasked exception sets ES; the next
 * waiting x87 instruction (FWAIT, FLDCW, FLDENV and FRSTOR included; the FN* forms do not
 * wait) raises #MF (vector 16), as do MMX instructions (fp_gate, ops_fp.h). With CR0.EM
 * or CR0.TS set every x87 instruction raises #NM first, except FWAIT (x87_gate). */
#include "engine/soft/fpu/ops_fp.h"
#include "engine/soft/fpu/x87.h"

#define SW_SF 0x0040u
#define SW_ES 0x0080u
#define SW_C0 0x0100u
#define SW_C1 0x0200u
#define SW_C2 0x0400u
#define SW_C3 0x4000u
#define SW_B 0x8000u
#define SW_CC (SW_C0 | SW_C1 | SW_C2 | SW_C3)

static const struct x87reg indefinite = { 0xc000000000000000ull, 0xffff };

/* ---- host execution ---- */

struct xh {
	long double a, b;       /* ST0 and ST1 of the host stack before the operation */
	long double r[3];       /* the host stack after it (r[0] = ST0) */
	union { uint64_t q; uint8_t b[16]; } m; /* memory operand */
	uint16_t cw, mcw, sw;
	uint8_t zf, pf, cf;
};

#define XH(name, loads, body)                                                               \
	static void name(struct xh *h)                                                           \
	{                                                                                        \
		uint16_t old;                                                                        \
		__asm__ volatile("fnstcw %[old]\n\tfninit\n\tfldcw %[cw]\n\t" loads body "\n\t"      \
		                 "fnstsw %[sw]\n\tfnclex\n\tfldcw %[mcw]\n\t"                        \
		                 "fstpt %[r0]\n\tfstpt %[r1]\n\tfstpt %[r2]\n\tfninit\n\tfldcw %[old]" \
		                 : [r0] "=m"(h->r[0]), [r1] "=m"(h->r[1]), [r2] "=m"(h->r[2]),       \
		                   [sw] "=m"(h->sw), [old] "=m"(old), [m] "+m"(h->m.b),                \
		                   [z] "=m"(h->zf), [p] "=m"(h->pf), [c] "=m"(h->cf)                   \
		                 : [a] "m"(h->a), [b] "m"(h->b), [cw] "m"(h->cw), [mcw] "m"(h->mcw)   \
		                 : "cc");                                                            \
	}
#define LD0 ""
#define LD1 "fldt %[a]\n\t"
#define LD2 "fldt %[b]\n\tfldt %[a]\n\t"

/* arithmetic: a = destination, b / m = source */
#define ARITH(op) XH(x_##op##_r, LD2, "f" #op " %%st(1), %%st")                              \
	XH(x_##op##_m32, LD1, "f" #op "s %[m]") XH(x_##op##_m64, LD1, "f" #op "l %[m]")           \
	XH(x_##op##_i16, LD1, "fi" #op "s %[m]") XH(x_##op##_i32, LD1, "fi" #op "l %[m]")
ARITH(add)
ARITH(mul)
ARITH(sub)
ARITH(subr)
ARITH(div)
ARITH(divr)
/* compares: a = ST0, b / m = the other operand */
XH(x_com_r, LD2, "fcom %%st(1)")
XH(x_com_m32, LD1, "fcoms %[m]")
XH(x_com_m64, LD1, "fcoml %[m]")
XH(x_com_i16, LD1, "ficoms %[m]")
XH(x_com_i32, LD1, "ficoml %[m]")
XH(x_ucom_r, LD2, "fucom %%st(1)")
XH(x_comi, LD2, "fcomi %%st(1), %%st\n\tsetz %[z]\n\tsetp %[p]\n\tsetc %[c]")
XH(x_ucomi, LD2, "fucomi %%st(1), %%st\n\tsetz %[z]\n\tsetp %[p]\n\tsetc %[c]")
XH(x_tst, LD1, "ftst")
XH(x_xam, LD1, "fxam")
/* loads (push) and stores (of a) */
XH(x_ld_m32, LD0, "flds %[m]")
XH(x_ld_m64, LD0, "fldl %[m]")
XH(x_ld_i16, LD0, "filds %[m]")
XH(x_ld_i32, LD0, "fildl %[m]")
XH(x_ld_i64, LD0, "fildll %[m]")
XH(x_st_m32, LD1, "fsts %[m]")
XH(x_st_m64, LD1, "fstl %[m]")
XH(x_st_i16, LD1, "fists %[m]")
XH(x_st_i32, LD1, "fistl %[m]")
XH(x_st_i64, LD1, "fistpll %[m]")
XH(x_stt_i16, LD1, "fisttps %[m]")
XH(x_stt_i32, LD1, "fisttpl %[m]")
XH(x_stt_i64, LD1, "fisttpll %[m]")
XH(x_bld, LD0, "fbld %[m]")
XH(x_bstp, LD1, "fbstp %[m]")
XH(x_ld1, LD0, "fld1")
XH(x_ldl2t, LD0, "fldl2t")
XH(x_ldl2e, LD0, "fldl2e")
XH(x_ldpi, LD0, "fldpi")
XH(x_ldlg2, LD0, "fldlg2")
XH(x_ldln2, LD0, "fldln2")
XH(x_ldz, LD0, "fldz")
/* stack-shape operations on ST0 (and ST1) */
XH(x_chs, LD1, "fchs")
XH(x_abs, LD1, "fabs")
XH(x_sqrt, LD1, "fsqrt")
XH(x_rndint, LD1, "frndint")
XH(x_f2xm1, LD1, "f2xm1")
XH(x_sin, LD1, "fsin")
XH(x_cos, LD1, "fcos")
XH(x_ptan, LD1, "fptan")
XH(x_sincos, LD1, "fsincos")
XH(x_xtract, LD1, "fxtract")
XH(x_patan, LD2, "fpatan")
XH(x_yl2x, LD2, "fyl2x")
XH(x_yl2xp1, LD2, "fyl2xp1")
XH(x_scale, LD2, "fscale")
XH(x_prem, LD2, "fprem")
XH(x_prem1, LD2, "fprem1")

typedef void (*xh_fn)(struct xh *);

static const xh_fn arith_fns[6][5] = {
	[XA_ADD] = { x_add_r, x_add_m32, x_add_m64, x_add_i16, x_add_i32 },
	[XA_MUL] = { x_mul_r, x_mul_m32, x_mul_m64, x_mul_i16, x_mul_i32 },
	[XA_SUB] = { x_sub_r, x_sub_m32, x_sub_m64, x_sub_i16, x_sub_i32 },
	[XA_SUBR] = { x_subr_r, x_subr_m32, x_subr_m64, x_subr_i16, x_subr_i32 },
	[XA_DIV] = { x_div_r, x_div_m32, x_div_m64, x_div_i16, x_div_i32 },
	[XA_DIVR] = { x_divr_r, x_divr_m32, x_divr_m64, x_divr_i16, x_divr_i32 },
};

/* Stack-shape operations: host function, operands used, condition codes defined. */
static const struct { xh_fn fn; uint8_t n; uint16_t cc; } shape_ops[] = {
	[XS_CHS] = { x_chs, 1, SW_C1 }, [XS_ABS] = { x_abs, 1, SW_C1 },
	[XS_SQRT] = { x_sqrt, 1, SW_C1 }, [XS_RNDINT] = { x_rndint, 1, SW_C1 },
	[XS_F2XM1] = { x_f2xm1, 1, SW_C1 }, [XS_SIN] = { x_sin, 1, SW_C1 | SW_C2 },
	[XS_COS] = { x_cos, 1, SW_C1 | SW_C2 }, [XS_PTAN] = { x_ptan, 1, SW_C1 | SW_C2 },
	[XS_SINCOS] = { x_sincos, 1, SW_C1 | SW_C2 }, [XS_XTRACT] = { x_xtract, 1, SW_C1 },
	[XS_PATAN] = { x_patan, 2, SW_C1 }, [XS_YL2X] = { x_yl2x, 2, SW_C1 },
	[XS_YL2XP1] = { x_yl2xp1, 2, SW_C1 }, [XS_SCALE] = { x_scale, 2, SW_C1 },
	[XS_PREM] = { x_prem, 2, SW_CC }, [XS_PREM1] = { x_prem1, 2, SW_CC },
	[XS_TST] = { x_tst, 1, SW_CC }, [XS_XAM] = { x_xam, 1, SW_CC },
};

/* ---- guest stack ---- */

static inline unsigned phys(const struct soft_cpu *c, unsigned i)
{
	return (c->fpu.top + i) & 7;
}

static inline bool empty(const struct soft_cpu *c, unsigned i)
{
	return !((c->fpu.valid >> phys(c, i)) & 1);
}

static inline void to_ld(long double *d, const struct x87reg *r)
{
	memset(d, 0, sizeof(*d));
	memcpy(d, &r->mant, 8);
	memcpy((uint8_t *)d + 8, &r->se, 2);
}

static inline struct x87reg from_ld(const long double *d)
{
	struct x87reg r;
	memcpy(&r.mant, d, 8);
	memcpy(&r.se, (const uint8_t *)d + 8, 2);
	return r;
}

static inline void st_set(struct soft_cpu *c, unsigned i, struct x87reg v)
{
	unsigned p = phys(c, i);
	c->fpu.st[p] = v;
	c->fpu.valid |= (uint8_t)(1u << p);
}

static inline void pop(struct soft_cpu *c)
{
	c->fpu.valid &= (uint8_t)~(1u << c->fpu.top);
	c->fpu.top = (c->fpu.top + 1) & 7;
}

static inline void push(struct soft_cpu *c, struct x87reg v)
{
	c->fpu.top = (c->fpu.top - 1) & 7;
	st_set(c, 0, v);
}

/* Value of ST(i) for an operation; an empty register is a stack underflow: the value is
 * the indefinite and *fault gets IE|SF (C1 = 0). */
static inline struct x87reg st_val(const struct soft_cpu *c, unsigned i, uint16_t *fault)
{
	if (empty(c, i)) {
		*fault |= MXCSR_IE | SW_SF;
		return indefinite;
	}
	return c->fpu.st[phys(c, i)];
}

/* Record exception flags; true if one of them is unmasked (the operation must then leave
 * its destination alone for IE/DE/ZE). */
static inline void set_flags(struct soft_cpu *c, uint16_t flags)
{
	c->fpu.fsw |= flags & (0x3f | SW_SF);
}

static inline bool unmasked(const struct soft_cpu *c, uint16_t flags)
{
	return (flags & 0x3f & ~c->fpu.fcw) != 0;
}

static inline void set_cc(struct soft_cpu *c, uint16_t mask, uint16_t v)
{
	c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~mask) | (v & mask));
}

uint16_t soft_x87_fsw(const struct soft_fpu *f)
{
	uint16_t sw = (uint16_t)((f->fsw & ~(0x3800u | SW_ES | SW_B)) | (f->top & 7) << 11);
	if (sw & 0x3f & ~f->fcw)
		sw |= SW_ES | SW_B;
	return sw;
}

/* The control word as stored: reserved bits 7, 13-15 read as 0, bit 6 as 1. */
static inline uint16_t fcw_of(uint64_t v)
{
	return (uint16_t)((v & 0x1f3f) | 0x40);
}

static inline void host_prep(struct soft_cpu *c, struct xh *h)
{
	h->cw = c->fpu.fcw;
	h->mcw = c->fpu.fcw | 0x3f;
	h->zf = h->pf = h->cf = 0;
}

/* ---- memory operands ---- */

static int rd(struct soft_cpu *c, const struct sinsn *i, unsigned sz, uint64_t *v)
{
	return mem_read(c, ea(c, i), sz, v, mf_of(i));
}

/* ---- handler ---- */

static int pending_mf(struct soft_cpu *c)
{
	return raise_exc(c, VEC_MF, false, 0);
}

static int do_arith(struct soft_cpu *c, const struct sinsn *i)
{
	struct xh h;
	uint16_t fault = 0;
	unsigned form = i->imm & 15, dst = 0;
	host_prep(c, &h);
	if (form == XM_REG) {
		/* op[0] = destination ST(i), op[1] = source ST(j) */
		dst = i->o[0].reg;
		struct x87reg a = st_val(c, dst, &fault), b = st_val(c, i->o[1].reg, &fault);
		to_ld(&h.a, &a);
		to_ld(&h.b, &b);
	} else {
		static const uint8_t sz[] = { [XM_M32] = 4, [XM_M64] = 8, [XM_I16] = 2, [XM_I32] = 4 };
		if (rd(c, i, sz[form], &h.m.q))
			return SOFT_EXC;
		struct x87reg a = st_val(c, 0, &fault);
		to_ld(&h.a, &a);
	}
	if (fault) {
		set_flags(c, fault);
		set_cc(c, SW_C1, 0);
		if (unmasked(c, fault))
			return SOFT_OK;
		st_set(c, dst, indefinite);
	} else {
		arith_fns[(i->imm >> 4) & 7][form](&h);
		set_flags(c, h.sw);
		set_cc(c, SW_C1, h.sw);
		if (unmasked(c, h.sw & (MXCSR_IE | MXCSR_DE | MXCSR_ZE)))
			return SOFT_OK;
		st_set(c, dst, from_ld(&h.r[0]));
	}
	if (i->imm2 & XF_POP)
		pop(c);
	return SOFT_OK;
}

static int do_compare(struct soft_cpu *c, const struct sinsn *i)
{
	struct xh h;
	uint16_t fault = 0;
	unsigned form = i->imm & 15;
	host_prep(c, &h);
	struct x87reg a = st_val(c, 0, &fault), b = indefinite;
	if (form == XM_REG)
		b = st_val(c, i->o[0].kind == OPK_ST ? i->o[0].reg : 1, &fault);
	else if (rd(c, i, form == XM_I16 ? 2 : form == XM_M64 ? 8 : 4, &h.m.q))
		return SOFT_EXC;
	to_ld(&h.a, &a);
	to_ld(&h.b, &b);
	static const xh_fn com[] = { x_com_r, x_com_m32, x_com_m64, x_com_i16, x_com_i32 };
	xh_fn fn = com[form];
	if (i->op == X_UCOM)
		fn = x_ucom_r;
	else if (i->op == X_COMI)
		fn = x_comi;
	else if (i->op == X_UCOMI)
		fn = x_ucomi;
	fn(&h);
	uint16_t flags = (uint16_t)(h.sw | fault);
	set_flags(c, flags);
	if (fault)
		set_cc(c, SW_C1, 0);
	if (i->op == X_COMI || i->op == X_UCOMI) {
		flags_update(c, FL_ARITH, (h.zf ? FL_ZF : 0) | (h.pf ? FL_PF : 0) | (h.cf ? FL_CF : 0));
		if (unmasked(c, flags))
			return SOFT_OK;
	} else {
		set_cc(c, SW_CC, h.sw & ~SW_C1);
		if (unmasked(c, flags))
			return SOFT_OK;
	}
	for (unsigned k = 0; k < (i->imm2 & XF_POP2 ? 2u : i->imm2 & XF_POP ? 1u : 0u); k++)
		pop(c);
	return SOFT_OK;
}

static int do_load(struct soft_cpu *c, const struct sinsn *i)
{
	struct xh h;
	uint16_t fault = 0;
	struct x87reg v;
	unsigned form = i->imm & 15;
	bool loaded_anyway = false;
	host_prep(c, &h);
	if (form == XM_REG) {
		v = st_val(c, i->o[0].reg, &fault);
	} else if (form == XM_M80) {
		uint64_t lo, hi;
		uint64_t la = ea(c, i);
		if (mem_read(c, la, 8, &lo, mf_of(i)) || mem_read(c, la + 8, 2, &hi, mf_of(i)))
			return SOFT_EXC;
		v.mant = lo;
		v.se = (uint16_t)hi;
	} else if (form == XM_BCD) {
		uint64_t la = ea(c, i), hi;
		if (mem_read(c, la, 8, &h.m.q, mf_of(i)) || mem_read(c, la + 8, 2, &hi, mf_of(i)))
			return SOFT_EXC;
		h.m.b[8] = (uint8_t)hi;
		h.m.b[9] = (uint8_t)(hi >> 8);
		x_bld(&h);
		v = from_ld(&h.r[0]);
	} else if (form == XM_CONST) {
		static const xh_fn k[] = { x_ld1, x_ldl2t, x_ldl2e, x_ldpi, x_ldlg2, x_ldln2, x_ldz };
		k[i->op - X_LD1](&h);
		v = from_ld(&h.r[0]);
	} else {
		static const uint8_t sz[] = { [XM_M32] = 4, [XM_M64] = 8, [XM_I16] = 2, [XM_I32] = 4, [XM_I64] = 8 };
		static const xh_fn ld[] = { [XM_M32] = x_ld_m32, [XM_M64] = x_ld_m64, [XM_I16] = x_ld_i16,
		                            [XM_I32] = x_ld_i32, [XM_I64] = x_ld_i64 };
		if (rd(c, i, sz[form], &h.m.q))
			return SOFT_EXC;
		ld[form](&h);
		fault = h.sw & 0x3f;
		v = from_ld(&h.r[0]);
		/* A denormal m32/m64 with DE unmasked: whether the value is still pushed is
		 * what the host did (AMD parts load it, as the host's TOP shows). */
		if (fault && ((h.sw >> 11) & 7) == 7 && !(fault & ~MXCSR_DE))
			loaded_anyway = true;
	}
	set_cc(c, SW_C1, 0);
	if (form == XM_REG && fault) { /* source empty: underflow, reported before overflow */
		set_flags(c, fault);
		if (unmasked(c, fault))
			return SOFT_OK;
		push(c, indefinite);
		return SOFT_OK;
	}
	if (!empty(c, 7)) { /* stack overflow */
		set_flags(c, MXCSR_IE | SW_SF);
		set_cc(c, SW_C1, SW_C1);
		if (unmasked(c, MXCSR_IE))
			return SOFT_OK;
		push(c, indefinite);
		return SOFT_OK;
	}
	set_flags(c, fault);
	if (unmasked(c, fault) && !loaded_anyway)
		return SOFT_OK;
	push(c, v);
	return SOFT_OK;
}

static int do_store(struct soft_cpu *c, const struct sinsn *i)
{
	struct xh h;
	uint16_t fault = 0;
	unsigned form = i->imm & 15;
	struct x87reg a = st_val(c, 0, &fault);
	host_prep(c, &h);
	static const uint8_t msz[] = { [XM_M32] = 4, [XM_M64] = 8, [XM_I16] = 2, [XM_I32] = 4,
	                               [XM_I64] = 8, [XM_M80] = 10, [XM_BCD] = 10 };
	/* The destination must be writable before anything changes. */
	if (form != XM_REG && fp_probe_write(c, ea(c, i), msz[form], mf_of(i)))
		return SOFT_EXC;
	set_cc(c, SW_C1, 0);
	if (form == XM_REG) {
		set_flags(c, fault);
		if (unmasked(c, fault))
			return SOFT_OK;
		st_set(c, i->o[0].reg, a);
	} else if (form == XM_M80) {
		uint64_t la = ea(c, i);
		set_flags(c, fault);
		if (unmasked(c, fault))
			return SOFT_OK;
		if (mem_write(c, la, 8, a.mant, mf_of(i)) || mem_write(c, la + 8, 2, a.se, mf_of(i)))
			return SOFT_EXC;
	} else if (form == XM_BCD) {
		uint64_t la = ea(c, i);
		to_ld(&h.a, &a);
		x_bstp(&h);
		uint16_t flags = (uint16_t)(h.sw | fault);
		set_flags(c, flags);
		set_cc(c, SW_C1, h.sw);
		if (unmasked(c, flags & (MXCSR_IE | MXCSR_DE | MXCSR_OE | MXCSR_UE)))
			return SOFT_OK;
		uint16_t top16;
		memcpy(&top16, h.m.b + 8, 2);
		if (mem_write(c, la, 8, h.m.q, mf_of(i)) || mem_write(c, la + 8, 2, top16, mf_of(i)))
			return SOFT_EXC;
	} else {
		static const uint8_t sz[] = { [XM_M32] = 4, [XM_M64] = 8, [XM_I16] = 2, [XM_I32] = 4, [XM_I64] = 8 };
		static const xh_fn st[] = { [XM_M32] = x_st_m32, [XM_M64] = x_st_m64, [XM_I16] = x_st_i16,
		                            [XM_I32] = x_st_i32, [XM_I64] = x_st_i64 };
		static const xh_fn stt[] = { [XM_I16] = x_stt_i16, [XM_I32] = x_stt_i32, [XM_I64] = x_stt_i64 };
		uint64_t la = ea(c, i);
		to_ld(&h.a, &a);
		h.m.q = 0;
		(i->op == X_STT ? stt : st)[form](&h);
		uint16_t flags = (uint16_t)(h.sw | fault);
		set_flags(c, flags);
		set_cc(c, SW_C1, h.sw);
		if (unmasked(c, flags & (MXCSR_IE | MXCSR_DE | MXCSR_OE | MXCSR_UE)))
			return SOFT_OK;
		if (mem_write(c, la, sz[form], h.m.q, mf_of(i)))
			return SOFT_EXC;
	}
	if (i->imm2 & XF_POP)
		pop(c);
	return SOFT_OK;
}

/* ST0 (and ST1) through a host instruction that may change the stack depth. */
static int do_shape(struct soft_cpu *c, const struct sinsn *i)
{
	struct xh h;
	uint16_t fault = 0;
	unsigned op = i->op - X_SHAPE, n = shape_ops[op].n;
	host_prep(c, &h);
	struct x87reg a = st_val(c, 0, &fault), b = n > 1 ? st_val(c, 1, &fault) : indefinite;
	if (op == XS_XAM) {
		if (empty(c, 0)) { /* FXAM reports an empty register, no fault */
			set_cc(c, SW_CC, SW_C3 | SW_C0 | ((a.se >> 15) ? SW_C1 : 0));
			set_cc(c, SW_C1, (c->fpu.st[phys(c, 0)].se >> 15) ? SW_C1 : 0);
			return SOFT_OK;
		}
		fault = 0;
	}
	if (fault) { /* stack underflow: the masked response is the indefinite */
		set_flags(c, fault);
		set_cc(c, shape_ops[op].cc & (SW_C1 | SW_C2), 0);
		if (op == XS_TST)
			set_cc(c, SW_C0 | SW_C2 | SW_C3, SW_C0 | SW_C2 | SW_C3);
		if (unmasked(c, fault))
			return SOFT_OK;
		if (op == XS_TST)
			;
		else if (op == XS_PTAN || op == XS_SINCOS || op == XS_XTRACT) {
			st_set(c, 0, indefinite);
			push(c, indefinite);
		} else if (op == XS_PATAN || op == XS_YL2X || op == XS_YL2XP1) {
			st_set(c, 1, indefinite);
			pop(c);
		} else {
			st_set(c, 0, indefinite);
		}
		return SOFT_OK;
	}
	if ((op == XS_PTAN || op == XS_SINCOS || op == XS_XTRACT) && !empty(c, 7)) {
		set_flags(c, MXCSR_IE | SW_SF); /* the push would overflow */
		set_cc(c, SW_C1 | (shape_ops[op].cc & SW_C2), SW_C1);
		if (unmasked(c, MXCSR_IE))
			return SOFT_OK;
		st_set(c, 0, indefinite);
		push(c, indefinite);
		return SOFT_OK;
	}
	to_ld(&h.a, &a);
	to_ld(&h.b, &b);
	shape_ops[op].fn(&h);
	uint16_t flags = h.sw;
	set_flags(c, flags);
	if (unmasked(c, flags & (MXCSR_IE | MXCSR_DE | MXCSR_ZE))) {
		/* The stack is left alone; C1 and (for the partial-result instructions FPREM,
		 * FPREM1, FSIN, FCOS, FSINCOS, FPTAN) C2 are cleared as the host does, C0/C3
		 * keep their value. */
		set_cc(c, op == XS_TST ? SW_CC : SW_C1 | (shape_ops[op].cc & SW_C2), h.sw);
		return SOFT_OK;
	}
	uint16_t cc = shape_ops[op].cc;
	if ((op == XS_PREM || op == XS_PREM1) &&
	    ((h.sw & MXCSR_IE) || ((h.r[0] == h.r[0]) == 0)))
		cc = SW_C1 | SW_C2; /* NaN result: no quotient bits */
	set_cc(c, cc, h.sw);
	if (op == XS_TST || op == XS_XAM)
		return SOFT_OK;
	unsigned depth = (8 - ((h.sw >> 11) & 7)) & 7;
	for (unsigned k = depth; k < n; k++)
		pop(c);
	for (unsigned k = n; k < depth; k++)
		c->fpu.top = (c->fpu.top - 1) & 7;
	for (unsigned k = 0; k < depth; k++)
		st_set(c, k, from_ld(&h.r[k]));
	return SOFT_OK;
}

/* Full tag word from the register contents (FNSTENV, FNSAVE). */
static uint16_t full_tags(const struct soft_fpu *f)
{
	uint16_t t = 0;
	for (unsigned p = 0; p < 8; p++) {
		const struct x87reg *r = &f->st[p];
		unsigned e = r->se & 0x7fff, tag;
		if (!((f->valid >> p) & 1))
			tag = 3;
		else if (e == 0x7fff || (e == 0 && r->mant) || (e && !(r->mant >> 63)))
			tag = 2;
		else if (e == 0)
			tag = 1;
		else
			tag = 0;
		t |= (uint16_t)(tag << (2 * p));
	}
	return t;
}

/* FNSTENV/FLDENV/FNSAVE/FRSTOR environment: 28 bytes (32-bit operand size) or 14. */
static int env_store(struct soft_cpu *c, const struct sinsn *i, uint64_t la, unsigned *len)
{
	uint16_t v[7] = { c->fpu.fcw, soft_x87_fsw(&c->fpu), full_tags(&c->fpu),
	                  (uint16_t)c->fpu.fip, (uint16_t)(c->fpu.fop & 0x7ff),
	                  (uint16_t)c->fpu.fdp, 0 };
	unsigned mf = mf_of(i);
	if (i->opsz == 2) {
		*len = 14;
		if (fp_probe_write(c, la, 14, mf))
			return SOFT_EXC;
		for (unsigned k = 0; k < 7; k++)
			if (mem_write(c, la + 2 * k, 2, v[k], mf))
				return SOFT_EXC;
		return SOFT_OK;
	}
	*len = 28;
	uint32_t w[7] = { 0xffff0000u | c->fpu.fcw, 0xffff0000u | v[1], 0xffff0000u | v[2],
	                  (uint32_t)c->fpu.fip,
	                  (uint32_t)(c->fpu.fop & 0x7ff) << 16 | (uint16_t)(c->fpu.fip >> 32),
	                  (uint32_t)c->fpu.fdp, 0xffff0000u | (uint16_t)(c->fpu.fdp >> 32) };
	if (fp_probe_write(c, la, 28, mf))
		return SOFT_EXC;
	for (unsigned k = 0; k < 7; k++)
		if (mem_write(c, la + 4 * k, 4, w[k], mf))
			return SOFT_EXC;
	return SOFT_OK;
}

static int env_load(struct soft_cpu *c, const struct sinsn *i, uint64_t la, unsigned *len,
                    uint64_t w[7])
{
	unsigned step = i->opsz == 2 ? 2 : 4;
	*len = step * 7;
	for (unsigned k = 0; k < 7; k++)
		if (mem_read(c, la + step * k, step, &w[k], mf_of(i)))
			return SOFT_EXC;
	return SOFT_OK;
}

static void env_apply(struct soft_cpu *c, const uint64_t w[7])
{
	c->fpu.fcw = fcw_of(w[0]);
	c->fpu.fsw = (uint16_t)w[1] & ~0x3800;
	c->fpu.top = (w[1] >> 11) & 7;
	uint8_t valid = 0;
	for (unsigned p = 0; p < 8; p++)
		if (((w[2] >> (2 * p)) & 3) != 3)
			valid |= (uint8_t)(1u << p);
	c->fpu.valid = valid;
}

static void fninit(struct soft_fpu *f)
{
	f->fcw = 0x37f;
	f->fsw = 0;
	f->top = 0;
	f->valid = 0;
	f->fop = 0;
	f->fip = f->fdp = 0;
}

static int do_misc(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t v, la;
	unsigned len;
	switch (i->op) {
	case X_FNSTSW:
		if (i->o[0].kind == OPK_REG) {
			reg_set(c, R_RAX, 2, soft_x87_fsw(&c->fpu));
			return SOFT_OK;
		}
		return mem_write(c, ea(c, i), 2, soft_x87_fsw(&c->fpu), mf_of(i));
	case X_FNSTCW:
		return mem_write(c, ea(c, i), 2, c->fpu.fcw, mf_of(i));
	case X_FLDCW:
		if (rd(c, i, 2, &v))
			return SOFT_EXC;
		c->fpu.fcw = fcw_of(v);
		return SOFT_OK;
	case X_FNCLEX:
		c->fpu.fsw &= (uint16_t)~(0x3f | SW_SF | SW_ES | SW_B);
		return SOFT_OK;
	case X_FNINIT:
		fninit(&c->fpu);
		return SOFT_OK;
	case X_FNOP:
	case X_FWAIT:
		return SOFT_OK;
	case X_FSTP1: { /* D9 D8+i: copy without the empty check */
		unsigned p0 = phys(c, 0), pd = phys(c, i->o[0].reg);
		c->fpu.st[pd] = c->fpu.st[p0];
		c->fpu.valid |= (uint8_t)(((c->fpu.valid >> p0) & 1u) << pd); /* as the host */
		set_cc(c, SW_C1, 0);
		pop(c);
		return SOFT_OK;
	}
	case X_FXCH: {
		uint16_t fault = 0;
		unsigned j = i->o[0].kind == OPK_ST ? i->o[0].reg : 1;
		struct x87reg a = st_val(c, 0, &fault), b = st_val(c, j, &fault);
		set_cc(c, SW_C1, 0);
		set_flags(c, fault);
		if (unmasked(c, fault))
			return SOFT_OK;
		st_set(c, 0, b);
		st_set(c, j, a);
		return SOFT_OK;
	}
	case X_FFREE:
		set_cc(c, SW_C1, 0);
		c->fpu.valid &= (uint8_t)~(1u << phys(c, i->o[0].reg));
		if (i->imm2 & XF_POP)
			pop(c);
		return SOFT_OK;
	case X_FINCSTP:
	case X_FDECSTP:
		c->fpu.top = (c->fpu.top + (i->op == X_FINCSTP ? 1 : 7)) & 7;
		set_cc(c, SW_C1, 0);
		return SOFT_OK;
	case X_FCMOV: {
		static const uint64_t fl[4] = { FL_CF, FL_ZF, FL_CF | FL_ZF, FL_PF };
		bool take = (flags_get(c) & fl[i->imm & 3]) != 0;
		uint16_t fault = 0;
		if (i->imm & 4)
			take = !take;
		struct x87reg b = st_val(c, i->o[1].reg, &fault);
		st_val(c, 0, &fault);
		if (fault)
			set_cc(c, SW_C1, 0);
		set_flags(c, fault);
		if (unmasked(c, fault))
			return SOFT_OK;
		if (fault)
			st_set(c, 0, indefinite);
		else if (take)
			st_set(c, 0, b);
		return SOFT_OK;
	}
	case X_FNSTENV:
		la = ea(c, i);
		if (env_store(c, i, la, &len))
			return SOFT_EXC;
		c->fpu.fcw |= 0x3f;
		return SOFT_OK;
	case X_FLDENV: {
		uint64_t w[7];
		if (env_load(c, i, ea(c, i), &len, w))
			return SOFT_EXC;
		env_apply(c, w);
		return SOFT_OK;
	}
	case X_FNSAVE: {
		la = ea(c, i);
		unsigned total = i->opsz == 2 ? 94 : 108;
		if (fp_probe_write(c, la, total, mf_of(i)) || env_store(c, i, la, &len))
			return SOFT_EXC;
		for (unsigned k = 0; k < 8; k++) {
			const struct x87reg *r = &c->fpu.st[phys(c, k)];
			mem_write(c, la + len + 10 * k, 8, r->mant, mf_of(i));
			mem_write(c, la + len + 10 * k + 8, 2, r->se, mf_of(i));
		}
		fninit(&c->fpu);
		return SOFT_OK;
	}
	case X_FRSTOR: {
		uint64_t w[7], m[8], e[8];
		la = ea(c, i);
		if (env_load(c, i, la, &len, w))
			return SOFT_EXC;
		for (unsigned k = 0; k < 8; k++)
			if (mem_read(c, la + len + 10 * k, 8, &m[k], mf_of(i)) ||
			    mem_read(c, la + len + 10 * k + 8, 2, &e[k], mf_of(i)))
				return SOFT_EXC;
		env_apply(c, w);
		for (unsigned k = 0; k < 8; k++) {
			struct x87reg *r = &c->fpu.st[phys(c, k)];
			r->mant = m[k];
			r->se = (uint16_t)e[k];
		}
		return SOFT_OK;
	}
	default:
		return raise_exc(c, VEC_UD, false, 0);
	}
}

/* CR0.EM or CR0.TS set: #NM, except WAIT/FWAIT, which faults only with TS and MP both
 * set (SDM vol. 3A 2.5, table 2-2). */
static int x87_gate(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t cr0 = c->sys.cr0;
	if (i->op == X_FWAIT && (cr0 & (CR0_TS | CR0_MP)) != (CR0_TS | CR0_MP))
		return SOFT_OK;
	return raise_exc(c, VEC_NM, false, 0);
}

int h_x87(struct soft_cpu *c, const struct sinsn *i)
{
	if (__builtin_expect(c->sys.cr0 & (CR0_EM | CR0_TS), 0) && x87_gate(c, i))
		return SOFT_EXC;
	/* Waiting instructions (FWAIT too) first deliver a pending unmasked exception. */
	if (!(i->imm2 & XF_NOWAIT) && (c->fpu.fsw & 0x3f & ~c->fpu.fcw))
		return pending_mf(c);
	switch (i->op) {
	case X_ARITH: return do_arith(c, i);
	case X_COM: case X_UCOM: case X_COMI: case X_UCOMI: return do_compare(c, i);
	case X_LD: case X_LD1: case X_LDL2T: case X_LDL2E: case X_LDPI: case X_LDLG2:
	case X_LDLN2: case X_LDZ:
		return do_load(c, i);
	case X_ST: case X_STT: return do_store(c, i);
	default:
		if (i->op >= X_SHAPE)
			return do_shape(c, i);
		return do_misc(c, i);
	}
}
