/* The slow half of the CPU's data access path: translation, TLB fills, accesses that
 * cross a page, MMIO, canonical-address checks, and dropping decoded code on writes to
 * code pages. A multi-page access translates every page before touching any byte, so
 * a fault leaves memory unchanged. */
#include "engine/soft/mmu/mem.h"

/* Translate, giving the translation's SOFT_XL_* word, or -1 with c->fault set. */
static int xlat(struct soft_cpu *c, uint64_t la, enum soft_acc acc, uint64_t *pa, uint8_t **host)
{
	return c->mem.ops->translate(c->mem.opaque, la, acc, c->cpl, pa, host, &c->fault);
}

static int check_canonical(struct soft_cpu *c, uint64_t la, unsigned sz, unsigned mf)
{
	if (canonical(la) && canonical(la + sz - 1))
		return SOFT_OK;
	return raise_exc(c, (mf & MF_SS) ? VEC_SS : VEC_GP, true, 0);
}

static unsigned large_bit(uint64_t la, unsigned shift)
{
	return (unsigned)((la >> shift) % SOFT_TLB_SIZE);
}

static void tlb_note_large(struct soft_tlb *t, uint64_t la, unsigned shift, bool global)
{
	unsigned b = large_bit(la, shift);
	t->large_rgn[b / 64] |= 1ull << (b % 64);
	t->large_shifts |= 1ull << shift;
	if (global) {
		t->glarge_rgn[b / 64] |= 1ull << (b % 64);
		t->glarge_shifts |= 1ull << shift;
	}
}

/* Might a cached piece of a large page cover la? */
static bool tlb_maybe_large(const struct soft_tlb *t, uint64_t la)
{
	for (uint64_t m = t->large_shifts; m; m &= m - 1) {
		unsigned b = large_bit(la, (unsigned)__builtin_ctzll(m));
		if (t->large_rgn[b / 64] >> (b % 64) & 1)
			return true;
	}
	return false;
}

/* Does e hold la's translation (itself, or a piece of a larger page covering la)? */
static bool tlb_covers(const struct soft_tlb_entry *e, uint64_t la)
{
	return e->tag != SOFT_TLB_INVALID && (((e->tag ^ la) & ~0xfffull) >> e->shift) == 0;
}

/* Which array slot e (of la's index) is in: 0 r, 1 w, 2 x. */
static unsigned tlb_array(const struct soft_tlb *t, const struct soft_tlb_entry *e, uint64_t la)
{
	unsigned k = (unsigned)((la >> 12) % SOFT_TLB_SIZE);
	return e == &t->r[k] ? 0 : e == &t->w[k] ? 1 : 2;
}

bool soft_tlb_victim(struct soft_cpu *c, struct soft_tlb_entry *e, uint64_t la)
{
	struct soft_tlb *t = &c->tlb;
	struct soft_tlb_entry *v = t->victim[tlb_array(t, e, la)];
	for (unsigned n = 0; n < SOFT_TLB_VICTIMS; n++)
		if (tlb_maps(&v[n], t->mask, la)) {
			struct soft_tlb_entry old = *e;
			*e = v[n];
			v[n] = old;
			return true;
		}
	return false;
}

void soft_tlb_fill(struct soft_cpu *c, struct soft_tlb_entry *e, uint64_t la, uint64_t pa,
                   uint8_t *host, int xl, bool write)
{
	if (e->tag != SOFT_TLB_INVALID && ((e->tag ^ la) & ~0xfffull)) {
		unsigned a = tlb_array(&c->tlb, e, la);
		c->tlb.victim[a][c->tlb.victim_next[a]++ % SOFT_TLB_VICTIMS] = *e;
	}
	/* The access that filled it was allowed at the current CPL; CPL 3 may use it too
	 * unless U/S (or, for writes, R/W) forbids. Supervisor rights are a superset of
	 * user rights here (no SMEP/SMAP), and CR0.WP changes flush. */
	bool super = (xl & SOFT_XL_SUPER) || (write && (xl & SOFT_XL_RO));
	unsigned shift = SOFT_XL_SHIFT(xl);
	e->tag = (la & ~0xfffull) | (super ? SOFT_TLB_SUPER : 0);
	e->addend = (uint64_t)(uintptr_t)host - la;
	e->pa = pa & ~0xfffull;
	e->shift = (uint8_t)(shift ? shift : 12);
	e->global = (xl & SOFT_XL_GLOBAL) != 0;
	if (!e->global) {
		unsigned k = (unsigned)((la >> 12) % SOFT_TLB_SIZE);
		c->tlb.local[k / 64] |= 1ull << (k % 64);
	}
	if (shift > 12)
		tlb_note_large(&c->tlb, la, shift, e->global);
}

static void part_read(struct soft_cpu *c, uint64_t pa, const uint8_t *host, uint8_t *dst, unsigned n)
{
	if (host)
		memcpy(dst, host, n);
	else
		c->mem.ops->io_read(c->mem.opaque, pa, dst, n);
}

static void part_write(struct soft_cpu *c, uint64_t pa, uint8_t *host, const uint8_t *src, unsigned n)
{
	if (host)
		memcpy(host, src, n);
	else
		c->mem.ops->io_write(c->mem.opaque, pa, src, n);
	/* After the store: another vCPU told to drop its blocks must decode the new bytes. */
	if (soft_code_store(&c->cache, pa, n))
		c->stats.code_invalidations++;
}

int soft_read_slow(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t *v, unsigned mf)
{
	if (check_canonical(c, la, sz, mf))
		return SOFT_EXC;
	enum soft_acc acc = (mf & MF_RMW) ? SOFT_ACC_WRITE : SOFT_ACC_READ;
	unsigned off = la & 0xfff, n1 = sz < 0x1000 - off ? sz : 0x1000 - off;
	struct soft_tlb_entry *e = &(acc == SOFT_ACC_READ ? c->tlb.r : c->tlb.w)[(la >> 12) % SOFT_TLB_SIZE];
	if (n1 == sz && soft_tlb_victim(c, e, la)) {
		*v = load_n(tlb_host(e, la), sz);
		return SOFT_OK;
	}
	uint64_t pa1, pa2 = 0;
	uint8_t *h1, *h2 = NULL;
	int xl = xlat(c, la, acc, &pa1, &h1);
	if (xl < 0)
		return SOFT_EXC;
	if (n1 < sz && xlat(c, la + n1, acc, &pa2, &h2) < 0)
		return SOFT_EXC;
	uint8_t buf[8] = {0};
	part_read(c, pa1, h1, buf, n1);
	if (n1 < sz)
		part_read(c, pa2, h2, buf + n1, sz - n1);
	*v = load_n(buf, sz);
	if (h1 && (acc == SOFT_ACC_READ || !soft_code_page_shared(&c->cache, pa1)))
		soft_tlb_fill(c, e, la, pa1, h1, xl, acc != SOFT_ACC_READ);
	return SOFT_OK;
}

int soft_write_slow(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t v, unsigned mf)
{
	if (check_canonical(c, la, sz, mf))
		return SOFT_EXC;
	unsigned off = la & 0xfff, n1 = sz < 0x1000 - off ? sz : 0x1000 - off;
	struct soft_tlb_entry *e = &c->tlb.w[(la >> 12) % SOFT_TLB_SIZE];
	if (n1 == sz && soft_tlb_victim(c, e, la)) {
		store_n(tlb_host(e, la), sz, v);
		return SOFT_OK;
	}
	uint64_t pa1, pa2 = 0;
	uint8_t *h1, *h2 = NULL;
	int xl = xlat(c, la, SOFT_ACC_WRITE, &pa1, &h1);
	if (xl < 0)
		return SOFT_EXC;
	if (n1 < sz && xlat(c, la + n1, SOFT_ACC_WRITE, &pa2, &h2) < 0)
		return SOFT_EXC;
	uint8_t buf[8];
	store_n(buf, sz, v);
	part_write(c, pa1, h1, buf, n1);
	if (n1 < sz)
		part_write(c, pa2, h2, buf + n1, sz - n1);
	if (h1 && !soft_code_page_shared(&c->cache, pa1))
		soft_tlb_fill(c, e, la, pa1, h1, xl, true);
	return SOFT_OK;
}

/* ---- locked instructions ----
 * vCPUs run on their own host threads over one guest RAM, so a locked read-modify-write
 * must be atomic on the host: the read remembers the value, the write is a host
 * compare-and-swap against it, and if another vCPU changed the location in between the
 * instruction runs again (handlers write memory before registers or flags and pass a
 * failed write up as SOFT_EXC, so nothing of the first try remains). Misaligned, page-crossing and MMIO operands
 * are not atomic against other vCPUs (x86 guests avoid split locks). */

int soft_host_rmw(struct soft_cpu *c, uint64_t la, unsigned sz, unsigned mf, uint8_t **host,
                  uint64_t *pa)
{
	*host = NULL;
	struct soft_tlb_entry *e = &c->tlb.w[(la >> 12) % SOFT_TLB_SIZE];
	if (tlb_maps(e, c->tlb.mask, la) || soft_tlb_victim(c, e, la)) {
		*host = tlb_host(e, la);
		*pa = e->pa | (la & 0xfff);
		return SOFT_OK;
	}
	if (check_canonical(c, la, sz, mf))
		return SOFT_EXC;
	uint8_t *h;
	int xl = xlat(c, la, SOFT_ACC_WRITE, pa, &h);
	if (xl < 0)
		return SOFT_EXC;
	if (h && !soft_code_page_shared(&c->cache, *pa))
		soft_tlb_fill(c, e, la, *pa, h, xl, true);
	*host = h;
	return SOFT_OK;
}

int soft_read_atomic(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t *v, unsigned mf)
{
	c->atom.host = NULL;
	if (la & (sz - 1))
		return soft_read_slow(c, la, sz, v, mf);
	uint8_t *h;
	uint64_t pa;
	if (soft_host_rmw(c, la, sz, mf, &h, &pa))
		return SOFT_EXC;
	if (!h)
		return soft_read_slow(c, la, sz, v, mf);
	switch (sz) {
	case 1: *v = __atomic_load_n(h, __ATOMIC_ACQUIRE); break;
	case 2: *v = __atomic_load_n((uint16_t *)h, __ATOMIC_ACQUIRE); break;
	case 4: *v = __atomic_load_n((uint32_t *)h, __ATOMIC_ACQUIRE); break;
	default: *v = __atomic_load_n((uint64_t *)h, __ATOMIC_ACQUIRE); break;
	}
	c->atom.host = h;
	c->atom.la = la;
	c->atom.pa = pa;
	c->atom.old = *v;
	c->atom.size = sz;
	return SOFT_OK;
}

static bool cas(uint8_t *h, unsigned sz, uint64_t old, uint64_t v)
{
	switch (sz) {
	case 1: { uint8_t o = (uint8_t)old; return __atomic_compare_exchange_n(h, &o, (uint8_t)v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); }
	case 2: { uint16_t o = (uint16_t)old; return __atomic_compare_exchange_n((uint16_t *)h, &o, (uint16_t)v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); }
	case 4: { uint32_t o = (uint32_t)old; return __atomic_compare_exchange_n((uint32_t *)h, &o, (uint32_t)v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); }
	default: return __atomic_compare_exchange_n((uint64_t *)h, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
}

int soft_write_atomic(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t v, unsigned mf)
{
	if (!c->atom.host || c->atom.la != la || c->atom.size != sz)
		return soft_write_slow(c, la, sz, v, mf);
	if (!cas(c->atom.host, sz, c->atom.old, v)) {
		c->atom.lost = true;
		return SOFT_EXC;
	}
	c->atom.host = NULL;
	if (soft_code_store(&c->cache, c->atom.pa, sz))
		c->stats.code_invalidations++;
	return SOFT_OK;
}

int soft_locked(struct soft_cpu *c, const struct sinsn *i, soft_fn fn)
{
	int r;
	c->atom.on = true;
	do {
		c->atom.host = NULL;
		c->atom.lost = false;
		r = fn(c, i);
	} while (r == SOFT_EXC && c->atom.lost);
	c->atom.on = false;
	return r;
}

/* The jump cache needs no flushing: a hit is only used while the fetch TLB still maps
 * the block's linear address to its physical address (exec.c). */
void soft_tlb_flush(struct soft_cpu *c)
{
	c->paging_gen++;
	c->ninvlpg = 0;
	for (unsigned k = 0; k < SOFT_TLB_SIZE; k++) {
		c->tlb.r[k].tag = SOFT_TLB_INVALID;
		c->tlb.w[k].tag = SOFT_TLB_INVALID;
		c->tlb.x[k].tag = SOFT_TLB_INVALID;
	}
	struct soft_tlb *t = &c->tlb;
	for (unsigned a = 0; a < 3; a++)
		for (unsigned n = 0; n < SOFT_TLB_VICTIMS; n++)
			t->victim[a][n].tag = SOFT_TLB_INVALID;
	memset(t->local, 0, sizeof(t->local));
	memset(t->large_rgn, 0, sizeof(t->large_rgn));
	memset(t->glarge_rgn, 0, sizeof(t->glarge_rgn));
	t->large_shifts = t->glarge_shifts = 0;
}

void soft_tlb_flush_nonglobal(struct soft_cpu *c)
{
	c->paging_gen++;
	c->ninvlpg = 0;
	struct soft_tlb *t = &c->tlb;
	for (unsigned w = 0; w < SOFT_TLB_SIZE / 64; w++) {
		for (uint64_t m = t->local[w]; m; m &= m - 1) {
			unsigned k = w * 64 + (unsigned)__builtin_ctzll(m);
			struct soft_tlb_entry *es[3] = { &t->r[k], &t->w[k], &t->x[k] };
			for (unsigned a = 0; a < 3; a++)
				if (!es[a]->global)
					es[a]->tag = SOFT_TLB_INVALID;
		}
		t->local[w] = 0;
	}
	for (unsigned a = 0; a < 3; a++)
		for (unsigned n = 0; n < SOFT_TLB_VICTIMS; n++)
			if (!t->victim[a][n].global)
				t->victim[a][n].tag = SOFT_TLB_INVALID;
	memcpy(t->large_rgn, t->glarge_rgn, sizeof(t->large_rgn));
	t->large_shifts = t->glarge_shifts;
}

void soft_tlb_flush_page(struct soft_cpu *c, uint64_t la)
{
	struct soft_tlb_entry *arr[3] = { c->tlb.r, c->tlb.w, c->tlb.x };
	la &= ~0xfffull;
	if (c->ninvlpg < sizeof(c->invlpg) / sizeof(c->invlpg[0])) {
		c->invlpg[c->ninvlpg++] = la;
	} else {
		c->paging_gen++;   /* too many to list: as good as a flush */
		c->ninvlpg = 0;
	}
	for (unsigned a = 0; a < 3; a++)
		for (unsigned n = 0; n < SOFT_TLB_VICTIMS; n++) {
			struct soft_tlb_entry *v = &c->tlb.victim[a][n];
			if (tlb_covers(v, la))
				v->tag = SOFT_TLB_INVALID;
		}
	if (!tlb_maybe_large(&c->tlb, la)) {
		/* No cached large page covers la: it can only be in its own slot. */
		unsigned k = (la >> 12) % SOFT_TLB_SIZE;
		for (unsigned a = 0; a < 3; a++)
			if ((arr[a][k].tag & ~0xfffull) == la)
				arr[a][k].tag = SOFT_TLB_INVALID;
		return;
	}
	/* A 4 KiB piece of a larger page at any slot may hold la's translation. */
	for (unsigned a = 0; a < 3; a++)
		for (unsigned k = 0; k < SOFT_TLB_SIZE; k++) {
			if (tlb_covers(&arr[a][k], la))
				arr[a][k].tag = SOFT_TLB_INVALID;
		}
}

void soft_tlb_drop_writes(struct soft_cpu *c)
{
	for (unsigned k = 0; k < SOFT_TLB_SIZE; k++)
		c->tlb.w[k].tag = SOFT_TLB_INVALID;
	for (unsigned n = 0; n < SOFT_TLB_VICTIMS; n++)
		c->tlb.victim[1][n].tag = SOFT_TLB_INVALID;
}

void soft_tlb_drop_write_pa(struct soft_cpu *c, uint64_t pa_page)
{
	for (unsigned k = 0; k < SOFT_TLB_SIZE; k++)
		if (c->tlb.w[k].tag != SOFT_TLB_INVALID && c->tlb.w[k].pa == pa_page)
			c->tlb.w[k].tag = SOFT_TLB_INVALID;
	for (unsigned n = 0; n < SOFT_TLB_VICTIMS; n++)
		if (c->tlb.victim[1][n].pa == pa_page)
			c->tlb.victim[1][n].tag = SOFT_TLB_INVALID;
}

int soft_op_read_slow(struct soft_cpu *c, const struct sinsn *i, unsigned k, uint64_t *v, unsigned mf)
{
	const struct sop *o = &i->o[k];
	if (o->kind == OPK_IMM) {
		*v = i->imm & sz_mask(o->size);
		return SOFT_OK;
	}
	if (__builtin_expect(c->sys.seg_check & (1u << i->seg), 0) &&
	    soft_seg_check(c, i->seg, ea_off(c, i), o->size, mf & MF_RMW))
		return SOFT_EXC;
	return mem_read(c, ea(c, i), o->size, v, mf_of(i) | mf);
}

int soft_op_write_slow(struct soft_cpu *c, const struct sinsn *i, unsigned k, uint64_t v)
{
	if (__builtin_expect(c->sys.seg_check & (1u << i->seg), 0) &&
	    soft_seg_check(c, i->seg, ea_off(c, i), i->o[k].size, true))
		return SOFT_EXC;
	return mem_write(c, ea(c, i), i->o[k].size, v, mf_of(i));
}
