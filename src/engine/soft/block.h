/* A decoded block: straight-line instructions ending at a control transfer, a page end
 * or a length limit. An instruction may cross into a second page (the last one). */
#ifndef TRIVISOR_SOFT_BLOCK_H
#define TRIVISOR_SOFT_BLOCK_H

#include "engine/soft/cpu.h"

#define SOFT_BLOCK_MAX 48
#define SOFT_NO_PAGE (~0ull)

struct sblock {
	uint64_t pa;           /* physical address of the first byte */
	uint64_t pa2;          /* physical page of bytes past the first page, or SOFT_NO_PAGE */
	uint64_t la;           /* linear address it was last entered at */
	struct sblock *hnext;  /* hash chain, or retired list */
	struct sblock *pnext[2]; /* page lists: [0] first page, [1] second page */
	uint8_t mode;          /* SOFT_MODE16/32/64: how it was decoded */
	uint32_t n;
	uint32_t bytes;        /* length of its code: outside 64-bit mode it must fit in CS */
	const void *code;      /* its translation (jit.h), or NULL: interpreted */
	struct sinsn ins[];
};

struct sblock *soft_cache_lookup(struct soft_code_cache *cc, uint64_t pa, unsigned mode);
/* Insert a new block; its pages become code pages. -ENOMEM (block not inserted). */
int soft_cache_insert(struct soft_code_cache *cc, struct sblock *b);
/* Free the retired blocks (call only when no block is running). */
void soft_cache_reap(struct soft_code_cache *cc);

static inline unsigned soft_jc_index(uint64_t la)
{
	return (unsigned)((la ^ (la >> 12)) % SOFT_JC_SIZE);
}

/* Decode a block of at most max instructions at linear address la (physical pa) in the
 * CPU's current mode. Returns SOFT_OK with *out, or SOFT_EXC with c->fault set (fetch
 * fault of the first instruction). */
int soft_decode_block(struct soft_cpu *c, uint64_t la, uint64_t pa, uint8_t *host,
                      unsigned max, struct sblock **out);

#endif
