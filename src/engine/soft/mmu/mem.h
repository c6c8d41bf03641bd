/* The CPU's data access path: effective addresses, the TLB fast path (inline) and the
 * slow path (mem.c: translation, page-crossing accesses, MMIO, canonical checks, code
 * invalidation on writes to pages holding decoded code). */
#ifndef TRIVISOR_SOFT_MEM_H
#define TRIVISOR_SOFT_MEM_H

#include <string.h>

#include "core/cpu_state.h"
#include "engine/soft/cpu.h"

/* Access flags. */
#define MF_SS 1u    /* stack-segment access: non-canonical gives #SS, not #GP */
#define MF_RMW 2u   /* read half of a read-modify-write: checked as a write */

int soft_read_slow(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t *v, unsigned mf);
int soft_write_slow(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t v, unsigned mf);
/* The read and write halves of a locked read-modify-write (c->atom.on). */
int soft_read_atomic(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t *v, unsigned mf);
int soft_write_atomic(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t v, unsigned mf);
/* Run a locked instruction's handler fn so that its read-modify-write of guest RAM is
 * atomic with respect to the other vCPUs (which run on other host threads). */
int soft_locked(struct soft_cpu *c, const struct sinsn *i, soft_fn fn);
/* Host address of the naturally aligned RAM location la of sz bytes, checked for
 * writing at the current CPL (an exception otherwise); NULL when it is not RAM. */
int soft_host_rmw(struct soft_cpu *c, uint64_t la, unsigned sz, unsigned mf, uint8_t **host,
                  uint64_t *pa);
/* Drop every cached translation, global ones too (CR0.PG/WP, CR4.PGE/PAE/PSE, EFER.NXE
 * changes; MOV CR3 while CR4.PGE = 0). */
void soft_tlb_flush(struct soft_cpu *c);
/* Drop the non-global translations (MOV CR3 while CR4.PGE = 1). */
void soft_tlb_flush_nonglobal(struct soft_cpu *c);
/* Drop the translations of the page holding la, whatever its size (INVLPG). */
void soft_tlb_flush_page(struct soft_cpu *c, uint64_t la);
/* Fill entry e for la after a successful translate() that returned xl. */
/* On a miss in slot e (of tlb.r, w or x) for la: if la's page is among the array's
 * victims, swap it into e and return true. */
bool soft_tlb_victim(struct soft_cpu *c, struct soft_tlb_entry *e, uint64_t la);
void soft_tlb_fill(struct soft_cpu *c, struct soft_tlb_entry *e, uint64_t la, uint64_t pa,
                   uint8_t *host, int xl, bool write);
/* Drop every write-TLB entry (some page became code in another CPU's cache). */
void soft_tlb_drop_writes(struct soft_cpu *c);
/* Drop write-TLB entries for one physical page (it now holds decoded code). */
void soft_tlb_drop_write_pa(struct soft_cpu *c, uint64_t pa_page);

static inline uint64_t load_n(const uint8_t *p, unsigned sz)
{
	switch (sz) {
	case 1: return *p;
	case 2: { uint16_t x; memcpy(&x, p, 2); return x; }
	case 4: { uint32_t x; memcpy(&x, p, 4); return x; }
	default: { uint64_t x; memcpy(&x, p, 8); return x; }
	}
}

static inline void store_n(uint8_t *p, unsigned sz, uint64_t v)
{
	switch (sz) {
	case 1: *p = (uint8_t)v; break;
	case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
	default: memcpy(p, &v, 8); break;
	}
}

static inline int mem_read(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t *v, unsigned mf)
{
	if (__builtin_expect((mf & MF_RMW) && c->atom.on, 0))
		return soft_read_atomic(c, la, sz, v, mf);
	const struct soft_tlb_entry *e =
		(mf & MF_RMW) ? &c->tlb.w[(la >> 12) % SOFT_TLB_SIZE] : &c->tlb.r[(la >> 12) % SOFT_TLB_SIZE];
	if (tlb_maps(e, c->tlb.mask, la) && (la & 0xfff) + sz <= 0x1000) {
		*v = load_n(tlb_host(e, la), sz);
		return SOFT_OK;
	}
	return soft_read_slow(c, la, sz, v, mf);
}

static inline int mem_write(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t v, unsigned mf)
{
	if (__builtin_expect(c->atom.on, 0))
		return soft_write_atomic(c, la, sz, v, mf);
	const struct soft_tlb_entry *e = &c->tlb.w[(la >> 12) % SOFT_TLB_SIZE];
	if (tlb_maps(e, c->tlb.mask, la) && (la & 0xfff) + sz <= 0x1000) {
		store_n(tlb_host(e, la), sz, v);
		return SOFT_OK;
	}
	return soft_write_slow(c, la, sz, v, mf);
}

/* Effective address (offset within the segment) of the instruction's memory operand. */
static inline uint64_t ea_off(const struct soft_cpu *c, const struct sinsn *i)
{
	uint64_t a = (uint64_t)i->disp;
	if (i->base != SREG_NONE)
		a += i->base == SREG_RIP ? c->next_rip : c->gpr[i->base];
	if (i->index != SREG_NONE)
		a += c->gpr[i->index] << i->scale;
	if (i->adsz == 4)
		a = (uint32_t)a;
	else if (i->adsz == 2)
		a = (uint16_t)a;
	return a;
}

/* Linear address of the memory operand. In 64-bit mode seg_base is 0 for ES/CS/SS/DS;
 * outside long mode linear addresses wrap at 4 GiB. */
static inline uint64_t ea(const struct soft_cpu *c, const struct sinsn *i)
{
	return (ea_off(c, i) + c->seg_base[i->seg]) & c->sys.la_mask;
}

static inline unsigned mf_of(const struct sinsn *i)
{
	return i->seg == S_SS ? MF_SS : 0;
}

/* Linear address of a memory operand of len bytes read in parts (far pointer, GDTR/IDTR
 * image, BOUND pair), after the segment limit and permission check of all of it. */
static inline int ea_checked(struct soft_cpu *c, const struct sinsn *i, unsigned len, bool write,
                             uint64_t *la)
{
	uint64_t off = ea_off(c, i);
	if (__builtin_expect(c->sys.seg_check & (1u << i->seg), 0) &&
	    soft_seg_check(c, i->seg, off, len, write))
		return SOFT_EXC;
	*la = (off + c->seg_base[i->seg]) & c->sys.la_mask;
	return SOFT_OK;
}

/* ---- operands ---- */

/* The non-register cases, out of line (mem.c). */
int soft_op_read_slow(struct soft_cpu *c, const struct sinsn *i, unsigned k, uint64_t *v, unsigned mf);
int soft_op_write_slow(struct soft_cpu *c, const struct sinsn *i, unsigned k, uint64_t v);

static inline int op_read(struct soft_cpu *c, const struct sinsn *i, unsigned k, uint64_t *v)
{
	const struct sop *o = &i->o[k];
	if (__builtin_expect(o->kind == OPK_REG, 1)) {
		*v = reg_get(c, o->reg, o->size);
		return SOFT_OK;
	}
	return soft_op_read_slow(c, i, k, v, 0);
}

/* Read a destination that will be written back: memory is checked for writing. */
static inline int op_read_rmw(struct soft_cpu *c, const struct sinsn *i, unsigned k, uint64_t *v)
{
	const struct sop *o = &i->o[k];
	if (__builtin_expect(o->kind == OPK_REG, 1)) {
		*v = reg_get(c, o->reg, o->size);
		return SOFT_OK;
	}
	return soft_op_read_slow(c, i, k, v, MF_RMW);
}

static inline int op_write(struct soft_cpu *c, const struct sinsn *i, unsigned k, uint64_t v)
{
	const struct sop *o = &i->o[k];
	if (__builtin_expect(o->kind == OPK_REG, 1)) {
		reg_set(c, o->reg, o->size, v);
		return SOFT_OK;
	}
	return soft_op_write_slow(c, i, k, v);
}

#endif
