/* Legacy integer instructions of 16/32-bit code, all invalid in 64-bit mode (Zydis
 * rejects them there): decimal adjust (DAA, DAS, AAA, AAS, AAM, AAD), BOUND and ARPL.
 * Each follows the pseudo-code of its Intel SDM vol. 2 page; flags the SDM leaves
 * undefined get a fixed choice, noted at each handler. */
#include "engine/soft/mmu/mem.h"
#include "engine/soft/interp/ops.h"

/* SF, ZF and PF of an 8-bit result. */
static uint64_t szp8(uint64_t r)
{
	uint64_t f = 0;
	r &= 0xff;
	if (!r)
		f |= FL_ZF;
	if (r & 0x80)
		f |= FL_SF;
	if (!__builtin_parity((unsigned)r))
		f |= FL_PF;
	return f;
}

/* DAA / DAS (op 0 / 1): OF undefined, 0. */
int h_daa(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t fl = flags_get(c), al = c->gpr[R_RAX] & 0xff, old_al = al, f = 0;
	bool old_cf = fl & FL_CF, sub = i->op;
	if ((al & 0xf) > 9 || (fl & FL_AF)) {
		bool carry = sub ? al < 6 : al > 0xf9;
		al = (sub ? al - 6 : al + 6) & 0xff;
		f |= FL_AF | ((old_cf || carry) ? FL_CF : 0);
	}
	if (old_al > 0x99 || old_cf) {
		al = (sub ? al - 0x60 : al + 0x60) & 0xff;
		f |= FL_CF;
	}
	reg_set(c, R_RAX, 1, al);
	flags_update(c, FL_ARITH, f | szp8(al));
	return SOFT_OK;
}

/* AAA / AAS (op 0 / 1): AX +/- 0x106 (the carry or borrow of AL reaches AH). OF, SF,
 * ZF and PF undefined: from the AL result. */
int h_aaa(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t fl = flags_get(c), ax = c->gpr[R_RAX] & 0xffff, f = 0;
	if ((ax & 0xf) > 9 || (fl & FL_AF)) {
		ax = i->op ? ax - 0x106 : ax + 0x106;
		f = FL_AF | FL_CF;
	}
	ax &= 0xff0f;
	reg_set(c, R_RAX, 2, ax);
	flags_update(c, FL_ARITH, f | szp8(ax));
	return SOFT_OK;
}

/* AAM imm8 (op 0): AH = AL / imm8, AL = AL % imm8, #DE for 0. AAD imm8 (op 1):
 * AL = AL + AH * imm8, AH = 0. SF, ZF, PF from AL; OF, AF, CF undefined, 0. */
int h_aam(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t base = i->imm & 0xff, al = c->gpr[R_RAX] & 0xff, ah = (c->gpr[R_RAX] >> 8) & 0xff;
	uint64_t ax;
	if (i->op == 0) {
		if (!base)
			return raise_exc(c, VEC_DE, false, 0);
		ax = ((al / base) << 8) | (al % base);
	} else {
		ax = (al + ah * base) & 0xff;
	}
	reg_set(c, R_RAX, 2, ax);
	flags_update(c, FL_ARITH, szp8(ax));
	return SOFT_OK;
}

/* BOUND r, m: the signed index in r must lie in [m, m + size]; else #BR (a fault). */
int h_bound(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	uint64_t la, lo, hi;
	if (ea_checked(c, i, 2 * sz, false, &la) || mem_read(c, la, sz, &lo, mf_of(i)) ||
	    mem_read(c, (la + sz) & c->sys.la_mask, sz, &hi, mf_of(i)))
		return SOFT_EXC;
	int64_t v = sx(reg_get(c, i->o[0].reg, sz), sz);
	if (v < sx(lo, sz) || v > sx(hi, sz))
		return raise_exc(c, VEC_BR, false, 0);
	return SOFT_OK;
}

/* ARPL r/m16, r16: raise the destination selector's RPL to the source's (ZF = 1), or
 * ZF = 0. #UD outside protected mode. */
int h_arpl(struct soft_cpu *c, const struct sinsn *i)
{
	if (!(c->sys.cr0 & CR0_PE) || (c->rflags & FL_VM))
		return raise_exc(c, VEC_UD, false, 0);
	uint64_t d, s = reg_get(c, i->o[1].reg, 2);
	if (op_read_rmw(c, i, 0, &d))
		return SOFT_EXC;
	if ((d & 3) < (s & 3)) {
		if (op_write(c, i, 0, (d & ~3ull) | (s & 3)))
			return SOFT_EXC;
		flags_update(c, FL_ZF, FL_ZF);
	} else {
		flags_update(c, FL_ZF, 0);
	}
	return SOFT_OK;
}
