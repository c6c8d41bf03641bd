/* Stack accesses in every mode: the stack pointer width comes from SS.B (or is 64 bits
 * in 64-bit mode), the linear address from SS's base; SS limits are checked when SS is
 * not flat (sys.seg_check). Pushes compute, check and write before RSP changes. */
#ifndef TRIVISOR_SOFT_STACK_H
#define TRIVISOR_SOFT_STACK_H

#include "engine/soft/mmu/mem.h"

/* Read sz bytes at stack offset sp (already wrapped to the stack width). */
static inline int stack_read(struct soft_cpu *c, uint64_t sp, unsigned sz, uint64_t *v)
{
	if (__builtin_expect(c->sys.seg_check & (1u << S_SS), 0) &&
	    soft_seg_check(c, S_SS, sp, sz, false))
		return SOFT_EXC;
	return mem_read(c, (sp + c->seg_base[S_SS]) & c->sys.la_mask, sz, v, MF_SS);
}

static inline int stack_write(struct soft_cpu *c, uint64_t sp, unsigned sz, uint64_t v)
{
	if (__builtin_expect(c->sys.seg_check & (1u << S_SS), 0) &&
	    soft_seg_check(c, S_SS, sp, sz, true))
		return SOFT_EXC;
	return mem_write(c, (sp + c->seg_base[S_SS]) & c->sys.la_mask, sz, v, MF_SS);
}

/* RSP with its low sp_mask bits replaced. */
static inline void set_sp(struct soft_cpu *c, uint64_t sp)
{
	uint64_t m = c->sys.sp_mask;
	c->gpr[R_RSP] = (c->gpr[R_RSP] & ~m) | (sp & m);
}

/* The stack offset `delta` bytes above (positive) or below the current one. */
static inline uint64_t sp_at(const struct soft_cpu *c, int64_t delta)
{
	return (c->gpr[R_RSP] + (uint64_t)delta) & c->sys.sp_mask;
}

static inline int stack_push(struct soft_cpu *c, unsigned sz, uint64_t v)
{
	uint64_t sp = sp_at(c, -(int64_t)sz);
	if (stack_write(c, sp, sz, v))
		return SOFT_EXC;
	set_sp(c, sp);
	return SOFT_OK;
}

#endif
