/* Data movement and small state instructions: MOV/MOVZX/MOVSX(D)/LEA, XCHG, XADD,
 * CMPXCHG(8B/16B), sign extensions of rAX, flag instructions, XLAT, NOP. */
#include "engine/soft/mmu/mem.h"
#include "engine/soft/interp/ops.h"

int h_mov(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t v;
	if (op_read(c, i, 1, &v))
		return SOFT_EXC;
	return op_write(c, i, 0, v);
}

int h_movzx(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t v;
	if (op_read(c, i, 1, &v))
		return SOFT_EXC;
	reg_set(c, i->o[0].reg, i->o[0].size, v);
	return SOFT_OK;
}

int h_movsx(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t v;
	if (op_read(c, i, 1, &v))
		return SOFT_EXC;
	reg_set(c, i->o[0].reg, i->o[0].size, (uint64_t)sx(v, i->o[1].size));
	return SOFT_OK;
}

int h_lea(struct soft_cpu *c, const struct sinsn *i)
{
	reg_set(c, i->o[0].reg, i->opsz, ea_off(c, i));
	return SOFT_OK;
}

int h_xchg(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t a, b;
	if (op_read_rmw(c, i, 0, &a) || op_read_rmw(c, i, 1, &b))
		return SOFT_EXC;
	/* Memory first: after it succeeds the register write cannot fail. */
	if (i->o[1].kind == OPK_MEM) {
		if (op_write(c, i, 1, a))
			return SOFT_EXC;
		op_write(c, i, 0, b);
	} else {
		if (op_write(c, i, 0, b))
			return SOFT_EXC;
		op_write(c, i, 1, a);
	}
	return SOFT_OK;
}

int h_xadd(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	uint64_t a, b, r;
	if (op_read_rmw(c, i, 0, &a) || op_read(c, i, 1, &b))
		return SOFT_EXC;
	r = (a + b) & sz_mask(sz);
	if (i->o[0].kind == OPK_MEM) {
		if (op_write(c, i, 0, r))
			return SOFT_EXC;
		op_write(c, i, 1, a);
	} else {
		op_write(c, i, 1, a);
		op_write(c, i, 0, r); /* same register twice: the sum wins */
	}
	flags_lazy(c, LF_ADD, sz, a, b, r);
	return SOFT_OK;
}

int h_cmpxchg(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	uint64_t d, s, acc = reg_get(c, R_RAX, sz);
	if (op_read_rmw(c, i, 0, &d) || op_read(c, i, 1, &s))
		return SOFT_EXC;
	if (acc == d) {
		if (op_write(c, i, 0, s))
			return SOFT_EXC;
	} else {
		/* The destination is written back even when the comparison fails. */
		if (i->o[0].kind == OPK_MEM && op_write(c, i, 0, d))
			return SOFT_EXC;
		reg_set(c, R_RAX, sz, d);
	}
	flags_lazy(c, LF_SUB, sz, acc, d, (acc - d) & sz_mask(sz));
	return SOFT_OK;
}

static int cmpxchg16b_host(struct soft_cpu *c, uint8_t *h, uint64_t pa)
{
	uint64_t lo = c->gpr[R_RAX], hi = c->gpr[R_RDX];
	bool eq;
	__asm__ volatile("lock cmpxchg16b %1"
	                 : "=@ccz"(eq), "+m"(*(unsigned __int128 *)(void *)h), "+a"(lo), "+d"(hi)
	                 : "b"(c->gpr[R_RBX]), "c"(c->gpr[R_RCX])
	                 : "memory");
	if (eq && soft_code_store(&c->cache, pa, 16))
		c->stats.code_invalidations++;
	if (!eq) {
		c->gpr[R_RAX] = lo;
		c->gpr[R_RDX] = hi;
	}
	flags_update(c, FL_ZF, eq ? FL_ZF : 0);
	return SOFT_OK;
}

int h_cmpxchg8b(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t la = ea(c, i);
	unsigned mf = mf_of(i);
	if (i->opsz == 8) { /* CMPXCHG16B */
		if (la & 15)
			return raise_exc(c, VEC_GP, true, 0);
		if (c->atom.on) {   /* LOCK: one host CMPXCHG16B (soft_locked) */
			uint8_t *h;
			uint64_t pa;
			if (soft_host_rmw(c, la, 16, mf, &h, &pa))
				return SOFT_EXC;
			if (h)
				return cmpxchg16b_host(c, h, pa);
		}
		uint64_t lo, hi;
		if (mem_read(c, la, 8, &lo, mf | MF_RMW) || mem_read(c, la + 8, 8, &hi, mf | MF_RMW))
			return SOFT_EXC;
		bool eq = lo == c->gpr[R_RAX] && hi == c->gpr[R_RDX];
		uint64_t nlo = eq ? c->gpr[R_RBX] : lo, nhi = eq ? c->gpr[R_RCX] : hi;
		if (mem_write(c, la, 8, nlo, mf) || mem_write(c, la + 8, 8, nhi, mf))
			return SOFT_EXC; /* same aligned page: the second cannot fail alone */
		if (!eq) {
			c->gpr[R_RAX] = lo;
			c->gpr[R_RDX] = hi;
		}
		flags_update(c, FL_ZF, eq ? FL_ZF : 0);
		return SOFT_OK;
	}
	uint64_t v;
	if (mem_read(c, la, 8, &v, mf | MF_RMW))
		return SOFT_EXC;
	uint64_t cmp = (uint32_t)c->gpr[R_RAX] | (c->gpr[R_RDX] << 32);
	bool eq = v == cmp;
	uint64_t nv = eq ? ((uint32_t)c->gpr[R_RBX] | (c->gpr[R_RCX] << 32)) : v;
	if (mem_write(c, la, 8, nv, mf))
		return SOFT_EXC;
	if (!eq) {
		c->gpr[R_RAX] = (uint32_t)v;
		c->gpr[R_RDX] = v >> 32;
	}
	flags_update(c, FL_ZF, eq ? FL_ZF : 0);
	return SOFT_OK;
}

int h_cbw(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	reg_set(c, R_RAX, sz, (uint64_t)sx(reg_get(c, R_RAX, sz / 2), sz / 2));
	return SOFT_OK;
}

int h_cwd(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	reg_set(c, R_RDX, sz, (reg_get(c, R_RAX, sz) & sz_sign(sz)) ? ~0ull : 0);
	return SOFT_OK;
}

int h_flagop(struct soft_cpu *c, const struct sinsn *i)
{
	switch (i->op) {
	case FO_CLC: flags_update(c, FL_CF, 0); break;
	case FO_STC: flags_update(c, FL_CF, FL_CF); break;
	case FO_CMC: flags_update(c, FL_CF, flags_get(c) ^ FL_CF); break;
	case FO_CLD: c->rflags &= ~FL_DF; break;
	default: c->rflags |= FL_DF; break;
	}
	return SOFT_OK;
}

int h_lahf(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t f = flags_get(c);
	reg_set(c, SREG_AH, 1, (f & (FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF)) | FL_1);
	return SOFT_OK;
}

int h_sahf(struct soft_cpu *c, const struct sinsn *i)
{
	flags_update(c, FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF, reg_get(c, SREG_AH, 1));
	return SOFT_OK;
}

int h_xlat(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t off = c->gpr[R_RBX] + (c->gpr[R_RAX] & 0xff), v;
	if (i->adsz == 4)
		off = (uint32_t)off;
	else if (i->adsz == 2)
		off = (uint16_t)off;
	if (__builtin_expect(c->sys.seg_check & (1u << i->seg), 0) &&
	    soft_seg_check(c, i->seg, off, 1, false))
		return SOFT_EXC;
	if (mem_read(c, (off + c->seg_base[i->seg]) & c->sys.la_mask, 1, &v, mf_of(i)))
		return SOFT_EXC;
	reg_set(c, R_RAX, 1, v);
	return SOFT_OK;
}

int h_nop(struct soft_cpu *c, const struct sinsn *i)
{
	return SOFT_OK;
}
