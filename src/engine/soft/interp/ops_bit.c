/* Bit instructions: BT/BTS/BTR/BTC, BSF/BSR/TZCNT/LZCNT/POPCNT, SETcc, CMOVcc, BSWAP. */
#include "engine/soft/mmu/mem.h"
#include "engine/soft/interp/ops.h"

int h_bt(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz, bits = sz * 8;
	uint64_t src, v, nv;
	unsigned bit;
	bool wb = i->op != BT_BT;

	if (op_read(c, i, 1, &src))
		return SOFT_EXC;
	if (i->o[0].kind == OPK_REG) {
		bit = (unsigned)(src & (bits - 1));
		v = reg_get(c, i->o[0].reg, sz);
	} else {
		uint64_t off = ea_off(c, i);
		if (i->o[1].kind == OPK_REG) {
			/* A register bit offset is signed and may reach outside the operand:
			 * the operand-sized unit holding the bit is accessed. */
			int64_t s = sx(src, sz);
			int64_t unit = s >> (sz == 8 ? 6 : sz == 4 ? 5 : 4);
			off += (uint64_t)unit * sz;
			if (i->adsz == 4)
				off = (uint32_t)off;
			bit = (unsigned)(s & (bits - 1));
		} else {
			bit = (unsigned)(src & (bits - 1));
		}
		uint64_t la = off + c->seg_base[i->seg];
		if (mem_read(c, la, sz, &v, mf_of(i) | (wb ? MF_RMW : 0)))
			return SOFT_EXC;
		uint64_t cf = (v >> bit) & 1;
		nv = i->op == BT_BTS ? v | (1ull << bit) : i->op == BT_BTR ? v & ~(1ull << bit)
		                                                       : v ^ (1ull << bit);
		if (wb && mem_write(c, la, sz, nv, mf_of(i)))
			return SOFT_EXC;
		flags_update(c, FL_CF, cf ? FL_CF : 0);
		return SOFT_OK;
	}
	uint64_t cf = (v >> bit) & 1;
	nv = i->op == BT_BTS ? v | (1ull << bit) : i->op == BT_BTR ? v & ~(1ull << bit)
	                                                       : v ^ (1ull << bit);
	if (wb)
		reg_set(c, i->o[0].reg, sz, nv);
	flags_update(c, FL_CF, cf ? FL_CF : 0);
	return SOFT_OK;
}

int h_bitscan(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz, bits = sz * 8;
	uint64_t src, r;

	if (op_read(c, i, 1, &src))
		return SOFT_EXC;
	switch (i->op) {
	case BS_BSF:
	case BS_BSR:
		if (src == 0) { /* destination unchanged (AMD documents it; Intel parts do it) */
			flags_update(c, FL_ZF, FL_ZF);
			return SOFT_OK;
		}
		r = i->op == BS_BSF ? (uint64_t)__builtin_ctzll(src) : (uint64_t)(63 - __builtin_clzll(src));
		reg_set(c, i->o[0].reg, sz, r);
		flags_update(c, FL_ZF, 0);
		return SOFT_OK;
	case BS_TZCNT:
	case BS_LZCNT:
		if (src == 0)
			r = bits;
		else if (i->op == BS_TZCNT)
			r = (uint64_t)__builtin_ctzll(src);
		else
			r = (uint64_t)__builtin_clzll(src) - (64 - bits);
		reg_set(c, i->o[0].reg, sz, r);
		flags_update(c, FL_CF | FL_ZF, (src == 0 ? FL_CF : 0) | (r == 0 ? FL_ZF : 0));
		return SOFT_OK;
	default: /* POPCNT */
		r = (uint64_t)__builtin_popcountll(src);
		reg_set(c, i->o[0].reg, sz, r);
		flags_update(c, FL_ARITH, src == 0 ? FL_ZF : 0);
		return SOFT_OK;
	}
}

int h_setcc(struct soft_cpu *c, const struct sinsn *i)
{
	return op_write(c, i, 0, cond(c, i->op) ? 1 : 0);
}

int h_cmovcc(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t v;
	if (op_read(c, i, 1, &v)) /* the source is read even if the move does not happen */
		return SOFT_EXC;
	if (cond(c, i->op))
		reg_set(c, i->o[0].reg, i->opsz, v);
	else if (i->opsz == 4)
		reg_set(c, i->o[0].reg, 4, reg_get(c, i->o[0].reg, 4)); /* 32-bit dest: zero-extends */
	return SOFT_OK;
}

int h_bswap(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned r = i->o[0].reg;
	if (i->opsz == 8)
		c->gpr[r] = __builtin_bswap64(c->gpr[r]);
	else if (i->opsz == 4)
		c->gpr[r] = __builtin_bswap32((uint32_t)c->gpr[r]);
	else
		reg_set(c, r, 2, 0); /* undefined for 16-bit operands; zero as most parts give */
	return SOFT_OK;
}
