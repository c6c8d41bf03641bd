/* Segment register loads and far control transfers: MOV/PUSH/POP Sreg, LDS/LES/LFS/
 * LGS/LSS, far JMP/CALL/RET, IRET/IRETD/IRETQ, INT n/INTO/INT1 (Intel SDM vol. 2 and
 * vol. 3A chapter 5). Every handler reads and checks everything before committing. */
#include "engine/soft/mmu/mem.h"
#include "engine/soft/sys/ops_sys.h"
#include "engine/soft/interp/stack.h"

static bool prot(const struct soft_cpu *c)
{
	return (c->sys.cr0 & CR0_PE) && !(c->rflags & FL_VM);
}

int h_mov_to_sreg(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t v;
	unsigned sr = i->imm2;
	if (sr == S_CS)
		return raise_exc(c, VEC_UD, false, 0);
	if (op_read(c, i, 0, &v) || soft_load_seg(c, sr, (uint16_t)v))
		return SOFT_EXC;
	if (sr == S_SS)
		c->sys.shadow = 1;
	return SOFT_OK;
}

int h_mov_from_sreg(struct soft_cpu *c, const struct sinsn *i)
{
	return op_write(c, i, 0, c->sys.seg[i->imm2].sel);
}

int h_push_sreg(struct soft_cpu *c, const struct sinsn *i)
{
	return stack_push(c, i->opsz, c->sys.seg[i->imm2].sel);
}

int h_pop_sreg(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t v, sp = c->gpr[R_RSP];
	unsigned sr = i->imm2;
	if (stack_read(c, sp & c->sys.sp_mask, i->opsz, &v))
		return SOFT_EXC;
	uint64_t m = c->sys.sp_mask;
	if (soft_load_seg(c, sr, (uint16_t)v))
		return SOFT_EXC;
	/* SS may have changed the stack width: step the old pointer with the old width. */
	c->gpr[R_RSP] = (sp & ~m) | ((sp + i->opsz) & m);
	if (sr == S_SS)
		c->sys.shadow = 1;
	return SOFT_OK;
}

int h_lxs(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	uint64_t la, off, sel;
	if (ea_checked(c, i, sz + 2, false, &la) || mem_read(c, la, sz, &off, mf_of(i)) ||
	    mem_read(c, (la + sz) & c->sys.la_mask, 2, &sel, mf_of(i)))
		return SOFT_EXC;
	if (soft_load_seg(c, i->imm2, (uint16_t)sel))
		return SOFT_EXC;
	reg_set(c, i->o[0].reg, sz, off);
	return SOFT_OK;
}

/* The far pointer of a JMP/CALL: direct ptr16:16/32 or memory m16:16/32/64. */
static int far_target(struct soft_cpu *c, const struct sinsn *i, uint64_t *off, uint16_t *sel)
{
	if (i->nops == 0) {
		*off = i->imm;
		*sel = (uint16_t)i->imm2;
		return SOFT_OK;
	}
	uint64_t la, s;
	if (ea_checked(c, i, i->opsz + 2u, false, &la) || mem_read(c, la, i->opsz, off, mf_of(i)) ||
	    mem_read(c, (la + i->opsz) & c->sys.la_mask, 2, &s, mf_of(i)))
		return SOFT_EXC;
	*sel = (uint16_t)s;
	return SOFT_OK;
}

/* The new CS for a far JMP/CALL at the same privilege (SDM vol. 3A 5.8.1). Call gates,
 * task gates and TSS targets are not implemented (#GP). */
static int far_cs(struct soft_cpu *c, uint16_t sel, uint64_t off, unsigned opsz, struct seg *cs,
                  uint64_t *raw, uint64_t *rip)
{
	if ((sel & ~3) == 0)
		return raise_exc(c, VEC_GP, true, 0);
	if (soft_read_desc(c, sel, raw))
		return SOFT_EXC;
	soft_desc_to_seg(*raw, sel, cs);
	unsigned type = SEG_ATTR_TYPE(cs->attr), dpl = SEG_ATTR_DPL(cs->attr), cpl = c->cpl;
	if (!(cs->attr & SEG_ATTR_S) || !(type & 8))
		return raise_exc(c, VEC_GP, true, sel & 0xfffc); /* TODO: call/task gates, TSS */
	if (type & 4) {
		if (dpl > cpl)
			return raise_exc(c, VEC_GP, true, sel & 0xfffc);
	} else if ((sel & 3u) > cpl || dpl != cpl) {
		return raise_exc(c, VEC_GP, true, sel & 0xfffc);
	}
	if (!(cs->attr & SEG_ATTR_P))
		return raise_exc(c, VEC_NP, true, sel & 0xfffc);
	bool lm = c->sys.efer & EFER_LMA;
	if (lm && (cs->attr & SEG_ATTR_L) && (cs->attr & SEG_ATTR_DB))
		return raise_exc(c, VEC_GP, true, sel & 0xfffc);
	if (lm && (cs->attr & SEG_ATTR_L)) {
		if (!canonical(off))
			return raise_exc(c, VEC_GP, true, 0);
	} else {
		off &= opsz == 2 ? 0xffff : 0xffffffffull;
		if (off > cs->limit)
			return raise_exc(c, VEC_GP, true, 0);
	}
	cs->sel = (uint16_t)((sel & 0xfffc) | cpl);
	cs->attr |= 1;
	*rip = off;
	return SOFT_OK;
}

/* On a return to an outer privilege level, data segment registers the new level may
 * not use (DPL < new CPL, except conforming code) become null (SDM vol. 2, RET/IRET). */
static void null_inner_data_segs(struct soft_sys *y, unsigned rpl)
{
	static const unsigned data_segs[] = { S_ES, S_DS, S_FS, S_GS };
	for (unsigned k = 0; k < 4; k++) {
		struct seg *d = &y->seg[data_segs[k]];
		unsigned t = SEG_ATTR_TYPE(d->attr);
		bool conf_code = (t & 8) && (t & 4);
		if (!d->unusable && !conf_code && SEG_ATTR_DPL(d->attr) < rpl) {
			d->unusable = 1;
			d->sel = 0;
		}
	}
}

/* The checks RET far and IRET make on the code segment they return to (SDM vol. 2,
 * RET and IRET, "return to ... privilege level"): a non-null selector with RPL >= CPL
 * naming a present code segment whose DPL fits the RPL (conforming: DPL <= RPL). */
static int load_return_cs(struct soft_cpu *c, uint16_t s, unsigned cpl, struct seg *cs,
                          uint64_t *raw)
{
	unsigned rpl = s & 3;

	if ((s & ~3) == 0)
		return raise_exc(c, VEC_GP, true, 0);
	if (rpl < cpl)
		return raise_exc(c, VEC_GP, true, s & 0xfffc);
	if (soft_read_desc(c, s, raw))
		return SOFT_EXC;
	soft_desc_to_seg(*raw, s, cs);
	unsigned type = SEG_ATTR_TYPE(cs->attr), dpl = SEG_ATTR_DPL(cs->attr);
	if (!(cs->attr & SEG_ATTR_S) || !(type & 8) || ((type & 4) ? dpl > rpl : dpl != rpl))
		return raise_exc(c, VEC_GP, true, s & 0xfffc);
	if (!(cs->attr & SEG_ATTR_P))
		return raise_exc(c, VEC_NP, true, s & 0xfffc);
	return SOFT_OK;
}

static int far_ret(struct soft_cpu *c, const struct sinsn *i)
{
	struct soft_sys *y = &c->sys;
	unsigned sz = i->opsz, cpl = c->cpl;
	uint64_t off, sel, imm = i->imm & 0xffff;
	if (stack_read(c, sp_at(c, 0), sz, &off) || stack_read(c, sp_at(c, sz), sz, &sel))
		return SOFT_EXC;
	if (!prot(c)) {
		off &= sz == 2 ? 0xffff : 0xffffffffull;
		y->seg[S_CS].sel = (uint16_t)sel;
		y->seg[S_CS].base = (sel & 0xffff) << 4;
		set_sp(c, c->gpr[R_RSP] + 2 * sz + imm);
		c->next_rip = off;
		soft_sys_update_mode(c);
		return SOFT_OK;
	}
	uint16_t s = (uint16_t)sel;
	unsigned rpl = s & 3;
	struct seg cs;
	uint64_t raw;
	int r = load_return_cs(c, s, cpl, &cs, &raw);
	if (r != SOFT_OK)
		return r;
	bool lm = y->efer & EFER_LMA, to64 = lm && (cs.attr & SEG_ATTR_L);
	if (to64 ? !canonical(off) : (off &= sz == 2 ? 0xffff : 0xffffffffull, off > cs.limit))
		return raise_exc(c, VEC_GP, true, 0);
	cs.sel = s;
	cs.attr |= 1;

	if (rpl == cpl) {
		y->seg[S_CS] = cs;
		set_sp(c, c->gpr[R_RSP] + 2 * sz + imm);
		c->next_rip = off;
		soft_sys_update_mode(c);
		return SOFT_OK;
	}
	/* To an outer privilege level: SS:RSP follow the parameters. */
	uint64_t nsp, nss;
	if (stack_read(c, sp_at(c, (int64_t)(2 * sz + imm)), sz, &nsp) ||
	    stack_read(c, sp_at(c, (int64_t)(3 * sz + imm)), sz, &nss))
		return SOFT_EXC;
	struct soft_sys save = *y;
	unsigned old_cpl = c->cpl;
	soft_set_cpl(c, rpl);
	if (soft_load_seg(c, S_SS, (uint16_t)nss)) {
		*y = save;
		soft_set_cpl(c, old_cpl);
		return SOFT_EXC;
	}
	y->seg[S_CS] = cs;
	soft_sys_update_mode(c);
	c->gpr[R_RSP] = to64 ? nsp + imm : ((nsp + imm) & y->sp_mask);
	null_inner_data_segs(y, rpl);
	c->next_rip = off;
	soft_sys_update_mode(c);
	return SOFT_OK;
}

int h_far(struct soft_cpu *c, const struct sinsn *i)
{
	struct soft_sys *y = &c->sys;
	if (i->op == FAR_RET)
		return far_ret(c, i);
	uint64_t off, rip, raw = 0;
	uint16_t sel;
	unsigned sz = i->opsz;
	if (far_target(c, i, &off, &sel))
		return SOFT_EXC;
	struct seg cs;
	if (!prot(c)) {
		cs = y->seg[S_CS];
		cs.sel = sel;
		cs.base = (uint64_t)sel << 4;
		rip = off & (sz == 2 ? 0xffff : 0xffffffffull);
	} else if (far_cs(c, sel, off, sz, &cs, &raw, &rip)) {
		return SOFT_EXC;
	}
	if (i->op == FAR_CALL) {
		uint64_t sp1 = sp_at(c, -(int64_t)sz), sp2 = sp_at(c, -2 * (int64_t)sz);
		if (stack_write(c, sp1, sz, y->seg[S_CS].sel) || stack_write(c, sp2, sz, c->next_rip))
			return SOFT_EXC;
		set_sp(c, sp2);
	}
	if (prot(c))
		soft_desc_set_accessed(c, sel, raw);
	y->seg[S_CS] = cs;
	c->next_rip = rip;
	soft_sys_update_mode(c);
	return SOFT_OK;
}

/* IRET/IRETD/IRETQ (SDM vol. 2A, IRET). Task returns (NT) and virtual-8086 mode are not
 * implemented (#GP). */
int h_iret(struct soft_cpu *c, const struct sinsn *i)
{
	struct soft_sys *y = &c->sys;
	unsigned sz = i->opsz, cpl = c->cpl;
	uint64_t rip, sel, fl, cur = flags_get(c);
	if (stack_read(c, sp_at(c, 0), sz, &rip) || stack_read(c, sp_at(c, sz), sz, &sel) ||
	    stack_read(c, sp_at(c, 2 * sz), sz, &fl))
		return SOFT_EXC;
	if (y->nmi_blocked) {
		/* IRET ends the NMI handler's blocking, even if it faults below (SDM 6.7.1). An
		 * NMI held meanwhile is due at the very next instruction boundary: make soft_run
		 * return there, so that the engine takes it before the interrupted code goes on. */
		y->nmi_blocked = false;
		__atomic_store_n(&y->kick, 1, __ATOMIC_RELEASE);
	}
	uint64_t szmask = sz_mask(sz);

	if (!(y->cr0 & CR0_PE)) {
		/* Real mode: every flag except VM/RF/VIF/VIP can be loaded. */
		uint64_t mask = (FL_ARITH | FL_TF | FL_IF | FL_DF | FL_IOPL | FL_NT | FL_AC | FL_ID) & szmask;
		flags_update(c, ~0ull, ((cur & ~mask) | (fl & mask) | FL_1) & ~FL_RF);
		y->seg[S_CS].sel = (uint16_t)sel;
		y->seg[S_CS].base = (sel & 0xffff) << 4;
		set_sp(c, c->gpr[R_RSP] + 3 * sz);
		c->next_rip = rip & (sz == 2 ? 0xffff : 0xffffffffull);
		soft_sys_update_mode(c);
		return SOFT_OK;
	}
	if ((c->rflags & FL_NT) && !(y->efer & EFER_LMA))
		return raise_exc(c, VEC_GP, true, 0); /* TODO: task return */
	if ((c->rflags & FL_NT) || (c->rflags & FL_VM) || (cpl == 0 && sz >= 4 && (fl & FL_VM)))
		return raise_exc(c, VEC_GP, true, 0);

	uint16_t s = (uint16_t)sel;
	unsigned rpl = s & 3;
	struct seg cs;
	uint64_t raw;
	int r = load_return_cs(c, s, cpl, &cs, &raw);
	if (r != SOFT_OK)
		return r;
	bool lm = y->efer & EFER_LMA, to64 = lm && (cs.attr & SEG_ATTR_L);
	if (lm && (cs.attr & SEG_ATTR_L) && (cs.attr & SEG_ATTR_DB))
		return raise_exc(c, VEC_GP, true, s & 0xfffc);
	if (to64 ? !canonical(rip) : (rip &= sz == 2 ? 0xffff : 0xffffffffull, rip > cs.limit))
		return raise_exc(c, VEC_GP, true, 0);

	bool pop_ss = rpl > cpl || y->mode == SOFT_MODE64;
	uint64_t nsp = 0, nss = 0;
	struct seg ss = y->seg[S_SS];
	if (pop_ss) {
		if (stack_read(c, sp_at(c, 3 * sz), sz, &nsp) || stack_read(c, sp_at(c, 4 * sz), sz, &nss))
			return SOFT_EXC;
		uint16_t ssel = (uint16_t)nss;
		if ((ssel & ~3) == 0) {
			/* A null SS is allowed returning to 64-bit code below CPL 3. */
			if (!to64 || rpl == 3 || (ssel & 3) != rpl)
				return raise_exc(c, VEC_GP, true, 0);
			ss = (struct seg){ .sel = ssel, .unusable = 1,
			                   .attr = (uint16_t)((rpl << 5) | SEG_ATTR_DB) };
		} else {
			uint64_t sd;
			if (soft_read_desc(c, ssel, &sd))
				return SOFT_EXC;
			soft_desc_to_seg(sd, ssel, &ss);
			unsigned st = SEG_ATTR_TYPE(ss.attr);
			if ((ssel & 3) != rpl || SEG_ATTR_DPL(ss.attr) != rpl || !(ss.attr & SEG_ATTR_S) ||
			    (st & 8) || !(st & 2))
				return raise_exc(c, VEC_GP, true, ssel & 0xfffc);
			if (!(ss.attr & SEG_ATTR_P))
				return raise_exc(c, VEC_SS, true, ssel & 0xfffc);
			soft_desc_set_accessed(c, ssel, sd);
			ss.attr |= 1;
		}
	}

	/* Commit. Which flags may change depends on the old CPL and IOPL. */
	unsigned iopl = (unsigned)((cur & FL_IOPL) >> 12);
	uint64_t mask = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_RF | FL_AC | FL_ID | FL_VIF | FL_VIP;
	if (cpl == 0)
		mask |= FL_IOPL;
	if (cpl <= iopl)
		mask |= FL_IF;
	mask &= szmask;
	flags_update(c, ~0ull, (cur & ~mask) | (fl & mask) | FL_1);
	soft_desc_set_accessed(c, s, raw);
	cs.attr |= 1;
	y->seg[S_CS] = cs;
	if (pop_ss) {
		y->seg[S_SS] = ss;
		c->gpr[R_RSP] = nsp;
	} else {
		set_sp(c, c->gpr[R_RSP] + 3 * sz);
	}
	if (rpl > cpl) {
		null_inner_data_segs(y, rpl);
	}
	soft_set_cpl(c, rpl);
	soft_sys_update_mode(c);
	c->next_rip = rip;
	return SOFT_OK;
}

int h_int(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned vec;
	bool soft = true;
	switch (i->op) {
	case INT_O:
		if (!(flags_get(c) & FL_OF))
			return SOFT_OK;
		vec = VEC_OF;
		break;
	case INT_1:
		vec = VEC_DB;
		soft = false;
		break;
	default:
		vec = (unsigned)(i->imm & 0xff);
		if ((c->rflags & FL_VM) && ((c->rflags & FL_IOPL) >> 12) < 3)
			return raise_exc(c, VEC_GP, true, 0);
		break;
	}
	uint64_t at = c->rip;
	c->rip = c->next_rip; /* the return address: after the instruction */
	if (soft_deliver(c, vec, false, 0, soft)) {
		c->rip = at;
		return SOFT_EXC;
	}
	c->next_rip = c->rip;
	return SOFT_OK;
}
