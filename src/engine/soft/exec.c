/* The dispatch loop: find the block at RIP (jump cache, then the physical-address
 * cache, then decode), run its handlers back to back, stop at exceptions. */
#include <stdlib.h>
#include <string.h>

#include "engine/soft/block.h"
#include "engine/soft/mem.h"
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
	uint8_t *host;
	struct soft_fault f;
	if (!canonical(la2) ||
	    c->mem.ops->translate(c->mem.opaque, la2, SOFT_ACC_FETCH, c->cpl, &pa, &host, &f))
		return false;
	return (pa & ~0xfffull) == b->pa2;
}

static int fetch_block(struct soft_cpu *c, struct sblock **out)
{
	/* rip: the linear address of the next instruction (CS.base + RIP). */
	unsigned mode = c->sys.mode;
	uint64_t rip = (c->rip + c->seg_base[S_CS]) & c->sys.la_mask;
	unsigned j = soft_jc_index(rip);
	struct sblock *b = c->cache.jc[j];
	if (b && b->la == rip && b->mode == mode) {
		*out = b;
		return SOFT_OK;
	}
	if (mode == SOFT_MODE64 ? !canonical(rip) : c->rip > c->sys.seg[S_CS].limit)
		return raise_exc(c, VEC_GP, true, 0);

	struct soft_tlb_entry *e = &c->tlb.x[(rip >> 12) % SOFT_TLB_SIZE];
	uint64_t pa;
	uint8_t *host;
	if (e->tag == (rip & ~0xfffull)) {
		pa = e->pa | (rip & 0xfff);
		host = e->host + (rip & 0xfff);
	} else {
		if (c->mem.ops->translate(c->mem.opaque, rip, SOFT_ACC_FETCH, c->cpl, &pa, &host, &c->fault))
			return SOFT_EXC;
		if (host) {
			e->tag = rip & ~0xfffull;
			e->host = host - (rip & 0xfff);
			e->pa = pa & ~0xfffull;
		}
	}

	b = soft_cache_lookup(&c->cache, pa, mode);
	if (b && b->pa2 != SOFT_NO_PAGE && !second_page_ok(c, b, rip)) {
		soft_code_invalidate(&c->cache, b->pa, 1); /* stale alias: decode afresh */
		soft_cache_reap(&c->cache);
		b = NULL;
	}
	if (!b) {
		int r = soft_decode_block(c, rip, pa, host, &b);
		if (r)
			return r;
		r = soft_cache_insert(&c->cache, b);
		if (r) {
			free(b);
			return r;
		}
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

int soft_run(struct soft_cpu *c, uint64_t max_insns)
{
	uint64_t done = 0, yields = 0;
	int ret = SOFT_RUN_BUDGET;

	while (done < max_insns) {
		struct sblock *b;
		if (__atomic_load_n(&c->sys.kick, __ATOMIC_RELAXED)) {
			ret = SOFT_RUN_KICKED;
			break;
		}
		if (c->cache.retired)
			soft_cache_reap(&c->cache);
		int r = fetch_block(c, &b);
		if (r) {
			ret = r == SOFT_EXC ? SOFT_RUN_EXCEPTION : r;
			break;
		}
		c->cache.dirty = false;
		const struct sinsn *i = b->ins, *end = i + b->n;
		for (; i < end; i++) {
			c->next_rip = c->rip + i->len;
			r = i->fn(c, i);
			if (r != SOFT_OK)
				break;
			c->rip = c->next_rip;
			done++;
			if (c->cache.dirty)
				break; /* this block may have been dropped by a store */
		}
		if (r == SOFT_EXC) {
			ret = SOFT_RUN_EXCEPTION;
			break;
		}
		if (r == SOFT_EXIT) {
			done++;
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
