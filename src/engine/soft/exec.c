/* The dispatch loop both tiers share: find the block at RIP (jump cache, then the
 * physical-address cache, then decode and, under the translator, translate), then run
 * its translation (translate/jit.c; it may chain into further blocks itself) or its
 * handlers back to back (the interpreter: always for single-stepping, interrupt
 * shadows and 16-bit code); stop at exceptions, exits, kicks and the budget. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/soft/block.h"
#include "engine/soft/translate/jit.h"
#include "engine/soft/mmu/mem.h"
#include "engine/soft/soft.h"

int soft_cpu_init(struct soft_cpu *c, const struct soft_mem_ops *ops, void *opaque)
{
	memset(c, 0, sizeof(*c));
	c->mem.ops = ops;
	c->mem.opaque = opaque;
	c->rflags = FL_1;
	c->lf_op = LF_NONE;
	int r = soft_cache_init(&c->cache);
	if (r)
		return r;
	soft_sys_reset64(c);
	soft_fpu_reset(&c->fpu);   /* FCW 0x37f, MXCSR 0x1f80: the power-on values */
	soft_tlb_flush(c);
	return 0;
}

void soft_cpu_destroy(struct soft_cpu *c)
{
	soft_cache_destroy(&c->cache);
	if (c->jit) {
		soft_jit_destroy(c->jit);
		free(c->jit);
		c->jit = NULL;
	}
}

int soft_cpu_set_tier(struct soft_cpu *c, enum soft_tier tier)
{
	if (tier == SOFT_TIER_INTERPRET || c->jit)
		return 0;
	struct soft_jit *j = malloc(sizeof(*j));
	if (!j)
		return -ENOMEM;
	int r = soft_jit_init(j, SOFT_JIT_DEFAULT_SIZE);
	if (r) {
		free(j);
		return r;
	}
	soft_code_flush(&c->cache);   /* blocks decoded so far have no translation */
	soft_cache_reap(&c->cache);
	c->jit = j;
	return 0;
}

uint64_t soft_get_rflags(const struct soft_cpu *c)
{
	return flags_get(c);
}

void soft_set_rflags(struct soft_cpu *c, uint64_t v)
{
	c->rflags = v | FL_1;
	c->lf_op = LF_NONE;
}

/* Does the block's second page still map where it did when it was decoded? */
static bool second_page_ok(struct soft_cpu *c, const struct sblock *b, uint64_t rip)
{
	uint64_t la2 = ((rip | 0xfff) + 1) & c->sys.la_mask, pa;
	struct soft_tlb_entry *e = &c->tlb.x[(la2 >> 12) % SOFT_TLB_SIZE];
	if (tlb_maps(e, c->tlb.mask, la2) || soft_tlb_victim(c, e, la2))
		return e->pa == b->pa2;
	uint8_t *host;
	struct soft_fault f;
	if (!canonical(la2))
		return false;
	int xl = c->mem.ops->translate(c->mem.opaque, la2, SOFT_ACC_FETCH, c->cpl, &pa, &host, &f);
	if (xl < 0)
		return false;
	if (host)
		soft_tlb_fill(c, e, la2, pa, host, xl, false);
	return (pa & ~0xfffull) == b->pa2;
}

/* Outside 64-bit mode a block runs only if all its code lies within CS's limit. */
static bool fits_cs(const struct soft_cpu *c, const struct sblock *b)
{
	return c->sys.mode == SOFT_MODE64 || c->rip + b->bytes - 1 <= c->sys.seg[S_CS].limit;
}

/* The physical address and host pointer of linear rip for a fetch at the CPU's CPL,
 * through the fetch TLB (filled on a miss). SOFT_OK, or SOFT_EXC with c->fault. */
static int fetch_at(struct soft_cpu *c, uint64_t rip, uint64_t *pa, uint8_t **host)
{
	if (c->sys.mode == SOFT_MODE64 ? !canonical(rip) : c->rip > c->sys.seg[S_CS].limit)
		return raise_exc(c, VEC_GP, true, 0);
	struct soft_tlb_entry *e = &c->tlb.x[(rip >> 12) % SOFT_TLB_SIZE];
	if (tlb_maps(e, c->tlb.mask, rip) || soft_tlb_victim(c, e, rip)) {
		*pa = e->pa | (rip & 0xfff);
		*host = tlb_host(e, rip);
		return SOFT_OK;
	}
	int xl = c->mem.ops->translate(c->mem.opaque, rip, SOFT_ACC_FETCH, c->cpl, pa, host,
	                               &c->fault);
	if (xl < 0)
		return SOFT_EXC;
	if (*host)
		soft_tlb_fill(c, e, rip, *pa, *host, xl, false);
	return SOFT_OK;
}

static int fetch_block(struct soft_cpu *c, struct sblock **out)
{
	/* rip: the linear address of the next instruction (CS.base + RIP). */
	unsigned mode = c->sys.mode;
	uint64_t rip = (c->rip + c->seg_base[S_CS]) & c->sys.la_mask;
	unsigned j = soft_jc_index(rip);
	struct sblock *b = c->cache.jc[j];
	struct soft_tlb_entry *e = &c->tlb.x[(rip >> 12) % SOFT_TLB_SIZE];
	bool tlb_hit = tlb_maps(e, c->tlb.mask, rip);
	/* A jump-cache hit counts only while the fetch TLB (checked for this CPL) still
	 * maps rip to the block's physical address: INVLPG, MOV CR3 and CPL changes need
	 * not touch the jump cache. */
	if (b && b->la == rip && b->mode == mode && tlb_hit && b->pa == (e->pa | (rip & 0xfff)) &&
	    (b->pa2 == SOFT_NO_PAGE || second_page_ok(c, b, rip)) && fits_cs(c, b)) {
		*out = b;
		return SOFT_OK;
	}
	uint64_t pa;
	uint8_t *host;
	int r = fetch_at(c, rip, &pa, &host);
	if (r)
		return r;

	b = soft_cache_lookup(&c->cache, pa, mode);
	if (b && ((b->pa2 != SOFT_NO_PAGE && !second_page_ok(c, b, rip)) || !fits_cs(c, b))) {
		/* stale alias, or decoded under a larger CS limit: decode afresh */
		soft_code_invalidate(&c->cache, b->pa, 1);
		soft_cache_reap(&c->cache);
		b = NULL;
	}
	if (!b) {
		struct soft_jit *jit = c->jit;
		if (jit && !soft_jit_has_room(jit)) {
			/* The code arena is full: start again (before claiming the page, as a
			 * flush gives the code pages up). */
			soft_code_flush(&c->cache);
			soft_cache_reap(&c->cache);
			soft_jit_reset(jit);
			c->jit_link = 0;  /* its site went with the arena */
		}
		bool fresh = soft_code_claim(&c->cache, pa);
		r = soft_decode_block(c, rip, pa, host, SOFT_BLOCK_MAX, &b);
		if (r == 0 && jit && mode != SOFT_MODE16 && soft_jit_translate(c, b) != 0)
			jit->stats.fallback[JIT_FB_NOSPACE]++;
		if (r == 0 && (r = soft_cache_insert(&c->cache, b)) != 0)
			free(b);
		if (r) {
			soft_code_unclaim(&c->cache, pa);
			return r;
		}
		if (fresh)
			soft_tlb_drop_write_pa(c, pa & ~0xfffull);
		if (b->pa2 != SOFT_NO_PAGE)
			soft_tlb_drop_write_pa(c, b->pa2);
		c->stats.blocks_decoded++;
	}
	if (b->la != rip) {
		unsigned old = soft_jc_index(b->la);
		if (c->cache.jc[old] == b)
			c->cache.jc[old] = NULL;
		b->la = rip;
	}
	c->cache.jc[j] = b;
	*out = b;
	return SOFT_OK;
}

int soft_step(struct soft_cpu *c)
{
	uint64_t rip = (c->rip + c->seg_base[S_CS]) & c->sys.la_mask, pa;
	uint8_t *host;
	struct sblock *b;
	if (fetch_at(c, rip, &pa, &host))
		return SOFT_RUN_EXCEPTION;
	int r = soft_decode_block(c, rip, pa, host, 1, &b);
	if (r)
		return r == SOFT_EXC ? SOFT_RUN_EXCEPTION : r;
	const struct sinsn *i = &b->ins[0];
	c->next_rip = c->rip + i->len;
	r = i->fn(c, i);
	free(b);
	switch (r) {
	case SOFT_OK:
		c->rip = c->next_rip;
		c->stats.insns++;
		return SOFT_RUN_BUDGET;
	case SOFT_YIELD:
		return SOFT_RUN_BUDGET;
	case SOFT_EXIT:
		c->stats.insns++;
		return SOFT_RUN_EXIT;
	default:
		return SOFT_RUN_EXCEPTION;
	}
}

int soft_run(struct soft_cpu *c, uint64_t max_insns)
{
	uint64_t done = 0, yields = 0;
	int ret = SOFT_RUN_BUDGET;

	c->jit_link = 0; /* a link is made only to the block run right after its exit */
	while (done < max_insns) {
		struct sblock *b;
		/* A kick, or an interrupt that waited for IF=1 (set by STI, POPF, IRET, ...
		 * somewhere in the previous block) and may now be taken. */
		if (__atomic_load_n(&c->sys.kick, __ATOMIC_RELAXED) ||
		    __builtin_expect(c->sys.irq_window && (c->rflags & FL_IF) && !c->sys.shadow, 0)) {
			ret = SOFT_RUN_KICKED;
			break;
		}
		if (__builtin_expect(c->direct_on, 0) && c->cpl == 3 &&
		    (c->direct_hot || c->sys.cr3 != c->direct_cr3) && c->sys.mode == SOFT_MODE64 &&
		    !(c->rflags & FL_TF) && !c->sys.shadow) {
			ret = SOFT_RUN_DIRECT;
			break;
		}
		if (c->cache.retired)
			soft_cache_reap(&c->cache);
		uint64_t gen;
		if (c->cache.share &&
		    (gen = __atomic_load_n(&c->cache.share->gen, __ATOMIC_ACQUIRE)) != c->cache.gen_seen) {
			c->cache.gen_seen = gen;
			soft_tlb_drop_writes(c);   /* a page became code for some vCPU */
		}
		if (__builtin_expect(c->sys.db_pending, 0)) { /* a stepped IN/OUT completed */
			c->sys.db_pending = false;
			soft_single_step_trap(c);
			ret = SOFT_RUN_EXCEPTION;
			break;
		}
		int r = fetch_block(c, &b);
		if (r) {
			ret = r == SOFT_EXC ? SOFT_RUN_EXCEPTION : r;
			break;
		}
		c->cache.dirty = false;
		/* Retired instructions are counted per block, not per instruction: the ones
		 * before i when the loop ends (a faulting, yielding or exiting one is not). */
		/* RFLAGS.TF at the start of an instruction: run it alone, then #DB (a trap). */
		bool step = c->rflags & FL_TF;
		/* The instruction after STI/MOV SS runs alone, so that the interrupt shadow
		 * ends exactly after it (2: consumed; the instruction may set a new one). */
		bool shadow = c->sys.shadow != 0;
		if (__builtin_expect(shadow, 0))
			c->sys.shadow = 2;
		const struct sinsn *first = b->ins, *i = first, *end = i + (step || shadow ? 1 : b->n);
		if (c->jit_link)
			soft_jit_link(c, b); /* the previous block's direct exit leads here */
		if (b->code && !step && !shadow) {
			uint64_t n;
			r = soft_jit_run(c, b, (int64_t)(max_insns - done - yields), &n);
			i = first + n;
			end = i; /* the interpreter loop below has nothing left to do */
		} else if (c->jit) {
			c->jit->stats.fallback[step ? JIT_FB_STEP : shadow ? JIT_FB_SHADOW : JIT_FB_MODE]++;
		}
		for (; i < end; i++) {
			c->next_rip = c->rip + i->len;
			r = i->fn(c, i);
			if (r != SOFT_OK)
				break;
			c->rip = c->next_rip;
			if (c->cache.dirty) {
				i++;
				break; /* this block may have been dropped by a store */
			}
		}
		done += (uint64_t)(i - first);
		if (__builtin_expect(shadow, 0) && c->sys.shadow == 2)
			c->sys.shadow = 0;
		if (__builtin_expect(step, 0) && soft_single_step(c, first, r)) {
			ret = SOFT_RUN_EXCEPTION;
			break;
		}
		if (r == SOFT_EXC) {
			ret = SOFT_RUN_EXCEPTION;
			break;
		}
		if (r == SOFT_EXIT) {
			done++; /* it completes in the engine (IN data, HLT) */
			ret = SOFT_RUN_EXIT;
			break;
		}
		if (r == SOFT_YIELD)
			yields++; /* a REP chunk uses budget so that kicks are seen */
		if (done + yields >= max_insns)
			break;
	}
	c->stats.insns += done;
	return ret;
}
