/* SSE/SSE2/MMX data movement, MXCSR access, FXSAVE/FXRSTOR, EMMS, and the FPU state's
 * reset, FXSAVE image and CPUID bits (fpu.h). */
#include "engine/soft/fpu/ops_fp.h"
#include "engine/soft/fpu/x87.h"

int fp_probe_write(struct soft_cpu *c, uint64_t la, unsigned sz, unsigned mf)
{
	uint64_t v;
	for (uint64_t off = 0; off < sz; off = ((la + off) | 0xfff) + 1 - la)
		if (mem_read(c, la + off, 1, &v, mf | MF_RMW))
			return SOFT_EXC;
	return SOFT_OK;
}

int fp_gate_slow(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t cr0 = c->sys.cr0;
	unsigned f = i->imm2;
	if (f & FPF_FXSR)
		return (cr0 & (CR0_EM | CR0_TS)) ? raise_exc(c, VEC_NM, false, 0) : SOFT_OK;
	if ((cr0 & CR0_EM) || ((f & FPF_XMM) && !(c->sys.cr4 & CR4_OSFXSR)))
		return raise_exc(c, VEC_UD, false, 0);
	if (cr0 & CR0_TS)
		return raise_exc(c, VEC_NM, false, 0);
	if ((f & FPF_MMX) && x87_pending(c))
		return raise_exc(c, VEC_MF, false, 0);
	return SOFT_OK;
}

int h_xmov(struct soft_cpu *c, const struct sinsn *i)
{
	union xmmreg v;
	const struct sop *d = &i->o[0];
	if (fp_gate(c, i))
		return SOFT_EXC;
	if (xop_read(c, i, 1, &v))
		return SOFT_EXC;
	if (i->op == MV_HI_TO_LO)
		v.q[0] = v.q[1];
	switch (d->kind) {
	case OPK_XMM: {
		union xmmreg *x = &c->fpu.xmm[d->reg];
		switch (i->op) {
		case MV_FULL: *x = v; break;
		case MV_ZX64: x->q[0] = v.q[0]; x->q[1] = 0; break;
		case MV_LO32: x->d[0] = v.d[0]; break;
		case MV_HI_LOAD: x->q[1] = v.q[0]; break;
		default: x->q[0] = v.q[0]; break; /* MV_LO64, MV_HI_TO_LO */
		}
		break;
	}
	case OPK_MM:
		mmx_enter(c);
		mm_set(c, d->reg, v.q[0]);
		break;
	case OPK_REG:
		reg_set(c, d->reg, d->size, v.q[0]);
		break;
	default: {
		uint64_t la;
		if (fp_ea(c, i, 0, &la) || fp_write(c, la, d->size, &v, mf_of(i)))
			return SOFT_EXC;
		break;
	}
	}
	if (i->o[1].kind == OPK_MM)
		mmx_enter(c);
	return SOFT_OK;
}

/* MASKMOVDQU xmm, xmm / MASKMOVQ mm, mm: store the bytes of o[0] whose mask byte in o[1]
 * has its top bit set to DS:rDI. The pages are checked first. */
int h_maskmov(struct soft_cpu *c, const struct sinsn *i)
{
	union xmmreg v, m;
	bool mm = i->o[0].kind == OPK_MM;
	unsigned n = mm ? 8 : 16, first = n, last = 0;
	if (fp_gate(c, i))
		return SOFT_EXC;
	xop_read(c, i, 0, &v);
	xop_read(c, i, 1, &m);
	if (mm)
		mmx_enter(c);
	for (unsigned k = 0; k < n; k++)
		if (m.b[k] & 0x80) {
			if (first == n)
				first = k;
			last = k;
		}
	/* The whole operand is checked, even with an empty mask (as AMD parts do; the SDM
	 * leaves that implementation-specific). */
	uint64_t la = ea(c, i), mf = mf_of(i);
	if (fp_probe_write(c, la, n, (unsigned)mf))
		return SOFT_EXC;
	if (first == n)
		return SOFT_OK;
	for (unsigned k = first; k <= last; k++)
		if ((m.b[k] & 0x80) && mem_write(c, la + k, 1, v.b[k], (unsigned)mf))
			return SOFT_EXC;
	return SOFT_OK;
}

int h_ldmxcsr(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t v;
	if (fp_gate(c, i))
		return SOFT_EXC;
	if (mem_read(c, ea(c, i), 4, &v, mf_of(i)))
		return SOFT_EXC;
	if (v & ~(uint64_t)MXCSR_WRITABLE)
		return raise_exc(c, VEC_GP, true, 0);
	c->fpu.mxcsr = (uint32_t)v;
	return SOFT_OK;
}

int h_stmxcsr(struct soft_cpu *c, const struct sinsn *i)
{
	if (fp_gate(c, i))
		return SOFT_EXC;
	return mem_write(c, ea(c, i), 4, c->fpu.mxcsr, mf_of(i));
}

int h_emms(struct soft_cpu *c, const struct sinsn *i)
{
	if (fp_gate(c, i))
		return SOFT_EXC;
	c->fpu.valid = 0;
	c->fpu.top = 0; /* as AMD parts do (the SDM only specifies the tags) */
	return SOFT_OK;
}

/* ---- FXSAVE / FXRSTOR (SDM vol. 1, 10.5.1) ---- */

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Bytes 8..23 (FIP/FCS, FDP/FDS) are kept as loaded: the soft CPU does not track the
 * last x87 instruction and operand pointers, so the 32-bit (FCS/FDS) and 64-bit forms
 * store the same 16 bytes back. Bytes 416..511 (reserved and software-available) are
 * not written, as on the host. */
void soft_fpu_fxsave(const struct soft_fpu *f, uint8_t img[512], bool rexw)
{
	(void)rexw;
	memset(img, 0, 416);
	put16(img + 0, f->fcw);
	put16(img + 2, soft_x87_fsw(f));
	img[4] = f->valid;
	put16(img + 6, f->fop);
	put64(img + 8, f->fip);
	put64(img + 16, f->fdp);
	put32(img + 24, f->mxcsr);
	put32(img + 28, MXCSR_WRITABLE);
	for (unsigned k = 0; k < 8; k++) {
		const struct x87reg *r = &f->st[(f->top + k) & 7];
		put64(img + 32 + 16 * k, r->mant);
		put16(img + 40 + 16 * k, r->se);
	}
	memcpy(img + 160, f->xmm, 256);
}

bool soft_fpu_fxrstor(struct soft_fpu *f, const uint8_t img[512], bool rexw)
{
	(void)rexw;
	uint32_t mx = get32(img + 24);
	if (mx & ~MXCSR_WRITABLE)
		return false;
	uint16_t sw = get16(img + 2);
	f->fcw = (uint16_t)((get16(img + 0) & 0x1f3f) | 0x40);
	f->top = (sw >> 11) & 7;
	f->fsw = sw & ~0x3800;
	f->valid = img[4];
	f->fop = get16(img + 6) & 0x7ff;
	f->fip = get64(img + 8);
	f->fdp = get64(img + 16);
	f->mxcsr = mx;
	for (unsigned k = 0; k < 8; k++) {
		struct x87reg *r = &f->st[(f->top + k) & 7];
		r->mant = get64(img + 32 + 16 * k);
		r->se = get16(img + 40 + 16 * k);
	}
	memcpy(f->xmm, img + 160, 256);
	return true;
}

void soft_fpu_reset(struct soft_fpu *f)
{
	memset(f, 0, sizeof(*f));
	f->fcw = 0x37f;
	f->mxcsr = MXCSR_DEFAULT;
}

void soft_fpu_cpuid_bits(uint32_t *leaf1_ecx, uint32_t *leaf1_edx)
{
	*leaf1_edx |= 1u << 0     /* FPU */
	            | 1u << 23    /* MMX */
	            | 1u << 24    /* FXSR */
	            | 1u << 25    /* SSE */
	            | 1u << 26;   /* SSE2 */
	*leaf1_ecx |= 1u << 0     /* SSE3 */
	            | 1u << 9;    /* SSSE3 */
}

static int fx_common(struct soft_cpu *c, const struct sinsn *i, uint64_t *la)
{
	*la = ea(c, i);
	if (*la & 15)
		return fp_misaligned(c, i, *la, 512);
	return SOFT_OK;
}

int h_fxsave(struct soft_cpu *c, const struct sinsn *i)
{
	uint8_t img[512];
	uint64_t la;
	unsigned mf = mf_of(i);
	if (fp_gate(c, i))
		return SOFT_EXC;
	if (fx_common(c, i, &la) || fp_probe_write(c, la, 512, mf))
		return SOFT_EXC;
	soft_fpu_fxsave(&c->fpu, img, i->imm2 & FPF_W64);
	for (unsigned k = 0; k < 416; k += 8)
		if (mem_write(c, la + k, 8, get64(img + k), mf))
			return SOFT_EXC;
	return SOFT_OK;
}

int h_fxrstor(struct soft_cpu *c, const struct sinsn *i)
{
	uint8_t img[512];
	uint64_t la, v;
	unsigned mf = mf_of(i);
	if (fp_gate(c, i))
		return SOFT_EXC;
	if (fx_common(c, i, &la))
		return SOFT_EXC;
	for (unsigned k = 0; k < 512; k += 8) {
		if (mem_read(c, la + k, 8, &v, mf))
			return SOFT_EXC;
		put64(img + k, v);
	}
	if (!soft_fpu_fxrstor(&c->fpu, img, i->imm2 & FPF_W64))
		return raise_exc(c, VEC_GP, true, 0);
	return SOFT_OK;
}
