/* The decoded-instruction cache: blocks of pre-decoded straight-line code keyed by the
 * guest physical address (and CPU mode) of their first byte, indexed by physical page
 * so that a write to a page drops every block decoded from it.
 *
 * soft_code_invalidate() is the write-hook entry point: the CPU's own stores call it for
 * pages holding code (such pages never get write-TLB entries), and the core's guest
 * memory write hook calls it for device/DMA writes. */
#ifndef TRIVISOR_SOFT_CACHE_H
#define TRIVISOR_SOFT_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include <Zydis/Zydis.h>

#define SOFT_BLOCK_HASH 16384   /* buckets, power of two */
#define SOFT_PAGE_HASH 1024
#define SOFT_JC_SIZE 4096       /* jump cache: linear rip -> block */

struct sblock;

struct soft_cpage {
	uint64_t pfn;
	struct sblock *blocks;       /* chained through sblock.pnext[] */
	struct soft_cpage *next;
};

struct soft_code_cache {
	struct sblock **hash;        /* SOFT_BLOCK_HASH buckets, by physical address */
	struct soft_cpage **pages;   /* SOFT_PAGE_HASH buckets, by page frame */
	struct sblock *jc[SOFT_JC_SIZE];
	struct sblock *retired;      /* dropped blocks, freed once none can be running */
	bool dirty;                  /* a drop happened: the running block may be stale */
	uint64_t nblocks;
	ZydisDecoder dec64, dec32, dec16; /* by code size: 64-bit, 32-bit and 16-bit code */
};

int soft_cache_init(struct soft_code_cache *cc);
void soft_cache_destroy(struct soft_code_cache *cc);
/* Drop all blocks decoded from bytes in [gpa, gpa+len). */
void soft_code_invalidate(struct soft_code_cache *cc, uint64_t gpa, uint64_t len);
/* True if the page holding gpa has decoded code. */
bool soft_code_page_used(const struct soft_code_cache *cc, uint64_t gpa);
/* Drop everything (e.g. on a CPU mode change). */
void soft_code_flush(struct soft_code_cache *cc);

#endif
