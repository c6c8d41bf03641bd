/* Control transfer and the stack: JMP/Jcc/LOOP/JrCXZ, CALL/RET, PUSH/POP, PUSHF/POPF,
 * ENTER/LEAVE, INT3, and #UD for everything the CPU does not implement. 64-bit mode:
 * near branches always use a 64-bit operand size; the stack address size is 64. */
#include "engine/soft/mmu/mem.h"
#include "engine/soft/interp/ops.h"
#include "engine/soft/interp/stack.h"

static int push(struct soft_cpu *c, unsigned sz, uint64_t v)
{
	return stack_push(c, sz, v);
}

static int peek(struct soft_cpu *c, uint64_t sp, unsigned sz, uint64_t *v)
{
	return stack_read(c, sp & c->sys.sp_mask, sz, v);
}

/* A branch target that is not canonical faults on the branch itself; outside 64-bit
 * mode the target wraps to the operand size and must lie within CS's limit. */
static int go_sz(struct soft_cpu *c, uint64_t target, unsigned opsz)
{
	if (c->sys.mode == SOFT_MODE64) {
		if (!canonical(target))
			return raise_exc(c, VEC_GP, true, 0);
	} else {
		target &= opsz == 2 ? 0xffffull : 0xffffffffull;
		if (target > c->sys.seg[S_CS].limit)
			return raise_exc(c, VEC_GP, true, 0);
	}
	c->next_rip = target;
	return SOFT_OK;
}

static int target_of(struct soft_cpu *c, const struct sinsn *i, uint64_t *t)
{
	if (i->o[0].kind == OPK_IMM) {
		*t = c->next_rip + i->imm;
		return SOFT_OK;
	}
	return op_read(c, i, 0, t);
}

int h_jmp(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t t;
	if (target_of(c, i, &t))
		return SOFT_EXC;
	return go_sz(c, t, i->opsz);
}

int h_jcc(struct soft_cpu *c, const struct sinsn *i)
{
	if (!cond(c, i->op))
		return SOFT_OK;
	return go_sz(c, c->next_rip + i->imm, i->opsz);
}

int h_loop(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned asz = i->adsz;
	uint64_t cnt = reg_get(c, R_RCX, asz);
	bool taken;
	if (i->op == LOOP_JRCXZ) {
		taken = cnt == 0;
	} else {
		cnt = (cnt - 1) & sz_mask(asz);
		taken = cnt != 0;
		if (i->op == LOOP_LOOPE)
			taken = taken && (flags_get(c) & FL_ZF);
		else if (i->op == LOOP_LOOPNE)
			taken = taken && !(flags_get(c) & FL_ZF);
	}
	if (taken && go_sz(c, c->next_rip + i->imm, i->opsz))
		return SOFT_EXC;
	if (i->op != LOOP_JRCXZ)
		reg_set(c, R_RCX, asz, cnt);
	return SOFT_OK;
}

int h_call(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t t;
	uint64_t ret = c->next_rip;
	if (target_of(c, i, &t))
		return SOFT_EXC;
	if (go_sz(c, t, i->opsz))
		return SOFT_EXC;
	if (push(c, i->opsz, ret)) {
		c->next_rip = ret;
		return SOFT_EXC;
	}
	return SOFT_OK;
}

int h_ret(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t t;
	unsigned sz = c->sys.mode == SOFT_MODE64 ? 8 : i->opsz;
	if (peek(c, c->gpr[R_RSP], sz, &t))
		return SOFT_EXC;
	if (go_sz(c, t, sz))
		return SOFT_EXC;
	set_sp(c, c->gpr[R_RSP] + sz + (i->imm & 0xffff));
	return SOFT_OK;
}

int h_push(struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t v;
	if (op_read(c, i, 0, &v))
		return SOFT_EXC;
	return push(c, i->opsz, v);
}

int h_pop(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	uint64_t v, old = c->gpr[R_RSP];
	if (peek(c, old, sz, &v))
		return SOFT_EXC;
	set_sp(c, old + sz);
	if (i->o[0].kind == OPK_REG) {
		reg_set(c, i->o[0].reg, sz, v); /* POP RSP: the popped value wins */
		return SOFT_OK;
	}
	/* A memory destination's address uses the incremented RSP. */
	if (op_write(c, i, 0, v)) {
		c->gpr[R_RSP] = old;
		return SOFT_EXC;
	}
	return SOFT_OK;
}

int h_pushf(struct soft_cpu *c, const struct sinsn *i)
{
	return push(c, i->opsz, flags_get(c) & ~(FL_RF | FL_VM));
}

int h_popf(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	uint64_t v;
	if (peek(c, c->gpr[R_RSP], sz, &v))
		return SOFT_EXC;
	uint64_t mask = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID;
	unsigned iopl = (unsigned)((c->rflags & FL_IOPL) >> 12);
	if (c->cpl == 0)
		mask |= FL_IOPL;
	if (c->cpl <= iopl)
		mask |= FL_IF;
	if (sz == 2)
		mask &= 0xffff;
	flags_commit(c);
	c->rflags = ((c->rflags & ~mask) | (v & mask) | FL_1) & ~FL_RF;
	set_sp(c, c->gpr[R_RSP] + sz);
	return SOFT_OK;
}

int h_leave(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	uint64_t v, bp = c->gpr[R_RBP] & c->sys.sp_mask;
	if (peek(c, bp, sz, &v))
		return SOFT_EXC;
	set_sp(c, bp + sz);
	reg_set(c, R_RBP, sz, v);
	return SOFT_OK;
}

/* Check that a stack write of sz bytes at offset sp would succeed, writing nothing. */
static int probe_push(struct soft_cpu *c, uint64_t sp, unsigned sz)
{
	uint64_t v;
	if (__builtin_expect(c->sys.seg_check & (1u << S_SS), 0) &&
	    soft_seg_check(c, S_SS, sp, sz, true))
		return SOFT_EXC;
	return mem_read(c, (sp + c->seg_base[S_SS]) & c->sys.la_mask, sz, &v, MF_SS | MF_RMW);
}

/* ENTER imm16, imm8 (SDM vol. 2A): the stack offsets wrap at the stack width (SS.B, or
 * 64 bits); BP/EBP/RBP and SP/ESP/RSP change only in their low opsz / stack-width bits. */
int h_enter(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz, level = i->imm2 % 32, npush = level ? level + 1 : 1;
	uint64_t m = c->sys.sp_mask, sp = c->gpr[R_RSP] & m, bp = c->gpr[R_RBP], v;
	uint64_t frame = (sp - sz) & m, lo = (sp - npush * sz) & m;
	uint64_t final = (lo - (i->imm & 0xffff)) & m;

	/* Check every access first (the SDM also lists a fault for a write at the final
	 * stack pointer), then run the sequence: a nested-frame read may see a value this
	 * instruction has just pushed, as on hardware. */
	for (unsigned k = 1; k < level; k++)
		if (peek(c, bp - k * sz, sz, &v))
			return SOFT_EXC;
	if (probe_push(c, frame, sz) || probe_push(c, lo, sz) || probe_push(c, final, sz))
		return SOFT_EXC;
	uint64_t at = frame;
	if (stack_write(c, at, sz, reg_get(c, R_RBP, sz)))
		return SOFT_EXC;
	for (unsigned k = 1; k < level; k++) {
		at = (at - sz) & m;
		if (peek(c, bp - k * sz, sz, &v) || stack_write(c, at, sz, v))
			return SOFT_EXC;
	}
	if (level > 0) {
		at = (at - sz) & m;
		if (stack_write(c, at, sz, frame))
			return SOFT_EXC;
	}
	reg_set(c, R_RBP, sz, frame);
	set_sp(c, final);
	return SOFT_OK;
}

int h_int3(struct soft_cpu *c, const struct sinsn *i)
{
	c->rip = c->next_rip; /* a trap: reported after the instruction */
	return raise_exc(c, VEC_BP, false, 0);
}

int h_ud(struct soft_cpu *c, const struct sinsn *i)
{
	c->stats.ud++;
	return raise_exc(c, VEC_UD, false, 0);
}

int h_too_long(struct soft_cpu *c, const struct sinsn *i)
{
	return raise_exc(c, VEC_GP, true, 0); /* more than 15 bytes */
}
