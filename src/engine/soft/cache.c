/* Decoded-instruction cache: hash by physical address, page index for invalidation. */
#include <errno.h>
#include <stdlib.h>

#include "engine/soft/block.h"

static unsigned bhash(uint64_t pa)
{
	return (unsigned)((pa ^ (pa >> 14) ^ (pa >> 28)) % SOFT_BLOCK_HASH);
}

static unsigned phash(uint64_t pfn)
{
	return (unsigned)((pfn ^ (pfn >> 10)) % SOFT_PAGE_HASH);
}

int soft_cache_init(struct soft_code_cache *cc)
{
	*cc = (struct soft_code_cache){0};
	cc->hash = calloc(SOFT_BLOCK_HASH, sizeof(*cc->hash));
	cc->pages = calloc(SOFT_PAGE_HASH, sizeof(*cc->pages));
	if (!cc->hash || !cc->pages) {
		free(cc->hash);
		free(cc->pages);
		return -ENOMEM;
	}
	if (ZYAN_FAILED(ZydisDecoderInit(&cc->dec64, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)) ||
	    ZYAN_FAILED(ZydisDecoderInit(&cc->dec32, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32)) ||
	    ZYAN_FAILED(ZydisDecoderInit(&cc->dec16, ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16))) {
		free(cc->hash);
		free(cc->pages);
		return -EINVAL;
	}
	return 0;
}

void soft_cache_destroy(struct soft_code_cache *cc)
{
	if (!cc->hash)
		return;
	soft_code_flush(cc);
	soft_cache_reap(cc);
	free(cc->hash);
	free(cc->pages);
	cc->hash = NULL;
	cc->pages = NULL;
}

struct sblock *soft_cache_lookup(struct soft_code_cache *cc, uint64_t pa, unsigned mode)
{
	for (struct sblock *b = cc->hash[bhash(pa)]; b; b = b->hnext)
		if (b->pa == pa && b->mode == mode)
			return b;
	return NULL;
}

static struct soft_cpage *page_find(const struct soft_code_cache *cc, uint64_t pfn)
{
	for (struct soft_cpage *p = cc->pages[phash(pfn)]; p; p = p->next)
		if (p->pfn == pfn)
			return p;
	return NULL;
}

bool soft_code_page_used(const struct soft_code_cache *cc, uint64_t gpa)
{
	return page_find(cc, gpa >> 12) != NULL;
}

static uint64_t *share_slot(const struct soft_code_cache *cc, uint64_t pfn)
{
	return cc->share && pfn < cc->share->npages ? &cc->share->mask[pfn] : NULL;
}

bool soft_code_page_shared(const struct soft_code_cache *cc, uint64_t gpa)
{
	uint64_t *m = share_slot(cc, gpa >> 12);
	if (!m)
		return soft_code_page_used(cc, gpa);
	return __atomic_load_n(m, __ATOMIC_ACQUIRE) != 0;
}

bool soft_code_claim(struct soft_code_cache *cc, uint64_t gpa)
{
	uint64_t *m = share_slot(cc, gpa >> 12);
	if (!m)
		return !soft_code_page_used(cc, gpa);
	if (__atomic_load_n(m, __ATOMIC_RELAXED) & cc->self)
		return false;
	/* Sequentially consistent, as the store side's check: either the storing CPU sees
	 * this bit, or this CPU's decoding (after the claim) sees the stored bytes. */
	if (__atomic_fetch_or(m, cc->self, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_fetch_add(&cc->share->gen, 1, __ATOMIC_SEQ_CST) == cc->gen_seen)
		cc->gen_seen++;   /* only this CPU moved it: its own entries for the page go
		                   * with soft_tlb_drop_write_pa */
	return true;
}

void soft_code_unclaim(struct soft_code_cache *cc, uint64_t gpa)
{
	uint64_t *m = share_slot(cc, gpa >> 12);
	if (m && !page_find(cc, gpa >> 12))
		__atomic_fetch_and(m, ~cc->self, __ATOMIC_RELEASE);
}

static void page_free(struct soft_code_cache *cc, struct soft_cpage *p)
{
	soft_code_unclaim(cc, p->pfn << 12);
	free(p);
}

bool soft_code_store(struct soft_code_cache *cc, uint64_t gpa, uint64_t len)
{
	uint64_t *m = share_slot(cc, gpa >> 12);
	uint64_t holders;
	if (m) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the store before the look: see claim */
		holders = __atomic_load_n(m, __ATOMIC_ACQUIRE);
		if (holders & ~cc->self)
			cc->share->notify(cc->share->opaque, holders & ~cc->self, gpa, len);
		if (!(holders & cc->self))
			return false;
	}
	if (!soft_code_page_used(cc, gpa))
		return false;
	soft_code_invalidate(cc, gpa, len);
	return true;
}

/* Which of b's page links belongs to page pfn. */
static int link_of(const struct sblock *b, uint64_t pfn)
{
	return (b->pa >> 12) == pfn ? 0 : 1;
}

static struct soft_cpage *page_get(struct soft_code_cache *cc, uint64_t pfn)
{
	struct soft_cpage *p = page_find(cc, pfn);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return NULL;
		p->pfn = pfn;
		soft_code_claim(cc, pfn << 12);
		p->next = cc->pages[phash(pfn)];
		cc->pages[phash(pfn)] = p;
	}
	return p;
}

int soft_cache_insert(struct soft_code_cache *cc, struct sblock *b)
{
	bool two = b->pa2 != SOFT_NO_PAGE && (b->pa2 >> 12) != (b->pa >> 12);
	struct soft_cpage *p0 = page_get(cc, b->pa >> 12);
	struct soft_cpage *p1 = two ? page_get(cc, b->pa2 >> 12) : NULL;
	if (!p0 || (two && !p1)) {
		/* An empty page entry is harmless: it only sends writes down the slow path. */
		return -ENOMEM;
	}
	unsigned h = bhash(b->pa);
	b->hnext = cc->hash[h];
	cc->hash[h] = b;
	b->pnext[0] = p0->blocks;
	p0->blocks = b;
	if (two) {
		b->pnext[1] = p1->blocks;
		p1->blocks = b;
	}
	cc->nblocks++;
	return 0;
}

static void page_unlink(struct soft_code_cache *cc, uint64_t pfn, struct sblock *b)
{
	struct soft_cpage **pp = &cc->pages[phash(pfn)];
	while (*pp && (*pp)->pfn != pfn)
		pp = &(*pp)->next;
	struct soft_cpage *p = *pp;
	if (!p)
		return;
	struct sblock **bp = &p->blocks;
	while (*bp && *bp != b)
		bp = &(*bp)->pnext[link_of(*bp, pfn)];
	if (*bp)
		*bp = b->pnext[link_of(b, pfn)];
	if (!p->blocks) {
		*pp = p->next;
		page_free(cc, p);
	}
}

static void page_drop(struct soft_code_cache *cc, struct soft_cpage *p);

static void retire(struct soft_code_cache *cc, struct sblock *b)
{
	struct sblock **hp = &cc->hash[bhash(b->pa)];
	while (*hp && *hp != b)
		hp = &(*hp)->hnext;
	if (*hp)
		*hp = b->hnext;
	unsigned j = soft_jc_index(b->la);
	if (cc->jc[j] == b)
		cc->jc[j] = NULL;
	page_unlink(cc, b->pa >> 12, b);
	if (b->pa2 != SOFT_NO_PAGE && (b->pa2 >> 12) != (b->pa >> 12))
		page_unlink(cc, b->pa2 >> 12, b);
	b->hnext = cc->retired;
	cc->retired = b;
	cc->nblocks--;
	cc->dirty = true;
}

/* Retire every block of page p; p itself is freed with its last block (or here if it
 * never got one). */
static void page_drop(struct soft_code_cache *cc, struct soft_cpage *p)
{
	uint64_t pfn = p->pfn;
	if (!p->blocks) {
		struct soft_cpage **pp = &cc->pages[phash(pfn)];
		while (*pp != p)
			pp = &(*pp)->next;
		*pp = p->next;
		page_free(cc, p);
		return;
	}
	while ((p = page_find(cc, pfn)) != NULL && p->blocks)
		retire(cc, p->blocks);
	if (p)
		page_drop(cc, p);
}

void soft_code_invalidate(struct soft_code_cache *cc, uint64_t gpa, uint64_t len)
{
	if (!len)
		return;
	uint64_t first = gpa >> 12;
	uint64_t last = gpa + len - 1 < gpa ? UINT64_MAX >> 12 : (gpa + len - 1) >> 12;
	if (last - first >= SOFT_PAGE_HASH) {
		/* A big range (DMA of many pages): walk the code pages instead. */
		for (unsigned h = 0; h < SOFT_PAGE_HASH; h++) {
			struct soft_cpage *p = cc->pages[h];
			while (p) {
				struct soft_cpage *nx = p->next;
				if (p->pfn >= first && p->pfn <= last) {
					page_drop(cc, p);
					nx = cc->pages[h]; /* the chain changed: rescan it */
				}
				p = nx;
			}
		}
		return;
	}
	for (uint64_t pfn = first; ; pfn++) {
		struct soft_cpage *p = page_find(cc, pfn);
		if (p)
			page_drop(cc, p);
		if (pfn == last)
			break;
	}
}

void soft_code_flush(struct soft_code_cache *cc)
{
	for (unsigned h = 0; h < SOFT_PAGE_HASH; h++)
		while (cc->pages[h])
			page_drop(cc, cc->pages[h]);
}

void soft_cache_reap(struct soft_code_cache *cc)
{
	while (cc->retired) {
		struct sblock *b = cc->retired;
		cc->retired = b->hnext;
		free(b);
	}
}
