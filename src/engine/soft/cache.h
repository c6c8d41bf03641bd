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

#define SOFT_BLOCK_HASH 65536   /* buckets, power of two: ~100k blocks in a Linux boot */
#define SOFT_PAGE_HASH 1024
#define SOFT_JC_SIZE 4096       /* jump cache: linear rip -> block */

struct sblock;

/* Code coherence between vCPUs that run on their own threads over one guest RAM, each
 * with its own cache: per guest page, which vCPUs hold code decoded from it. A store to
 * such a page drops the storing vCPU's blocks at once and asks the others to drop
 * theirs (notify: they do it at their next block boundary, which is what x86 promises
 * for cross-modifying code: the other processor must serialize before it runs the new
 * bytes, SDM vol. 3A 8.1.3). Pages some vCPU holds code from never get write-TLB
 * entries in any vCPU: when a page first becomes code, gen moves and every vCPU drops
 * its write-TLB entries before its next block. */
struct soft_code_share {
	uint64_t *mask;              /* per page frame: bit k = vCPU k holds code from it */
	uint64_t npages;
	uint64_t gen;                /* atomic */
	/* Ask the vCPUs in `vcpus` to drop their blocks in [gpa, gpa+len). */
	void (*notify)(void *opaque, uint64_t vcpus, uint64_t gpa, uint64_t len);
	void *opaque;
};

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
	struct soft_code_share *share; /* NULL: the only CPU on its memory */
	uint64_t self;               /* this CPU's bit in share->mask */
	uint64_t gen_seen;           /* share->gen when the write TLB was last cleaned */
	ZydisDecoder dec64, dec32, dec16; /* by code size: 64-bit, 32-bit and 16-bit code */
};

int soft_cache_init(struct soft_code_cache *cc);
void soft_cache_destroy(struct soft_code_cache *cc);
/* Drop all blocks decoded from bytes in [gpa, gpa+len). */
void soft_code_invalidate(struct soft_code_cache *cc, uint64_t gpa, uint64_t len);
/* True if the page holding gpa has decoded code in this cache. */
bool soft_code_page_used(const struct soft_code_cache *cc, uint64_t gpa);
/* True if the page holding gpa has decoded code in any CPU's cache: no write-TLB entry. */
bool soft_code_page_shared(const struct soft_code_cache *cc, uint64_t gpa);
/* This CPU stored to [gpa, gpa+len) (len within one page): drop the code decoded from
 * it, here and (through share->notify) in the other CPUs. True if this cache dropped
 * blocks. */
bool soft_code_store(struct soft_code_cache *cc, uint64_t gpa, uint64_t len);
/* Mark the page of gpa as this CPU's code page before decoding from it, so that stores
 * by other CPUs from then on reach this cache; soft_code_unclaim undoes it if no block
 * was inserted. True if it was not one yet: this CPU's write-TLB entries for it have
 * to go (none can be filled while it is one). */
bool soft_code_claim(struct soft_code_cache *cc, uint64_t gpa);
void soft_code_unclaim(struct soft_code_cache *cc, uint64_t gpa);
/* Drop everything (e.g. on a CPU mode change). */
void soft_code_flush(struct soft_code_cache *cc);

#endif
