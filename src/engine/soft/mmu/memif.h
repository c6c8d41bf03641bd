/* The software CPU's memory interface: how it reaches guest memory by linear address.
 *
 * The CPU asks one question per 4 KiB page, "translate this linear address for this
 * kind of access", and caches the answer in a small software TLB. Behind the interface
 * sits whatever the user needs: a flat buffer (differential tester, benchmark) or, later,
 * the paging MMU over the core's guest memory. Non-RAM physical pages (MMIO) go through
 * io_read/io_write one access at a time and are never cached. */
#ifndef TRIVISOR_SOFT_MEMIF_H
#define TRIVISOR_SOFT_MEMIF_H

#include <stdbool.h>
#include <stdint.h>

enum soft_acc { SOFT_ACC_READ, SOFT_ACC_WRITE, SOFT_ACC_FETCH };

struct soft_fault;

struct soft_mem_ops {
	/* Translate la for one access kind at privilege level cpl. On success return a
	 * non-negative SOFT_XL_* word with *pa = physical address of la and *host = host
	 * pointer to the byte at la, valid up to the end of its 4 KiB page, or NULL if the
	 * page is not RAM. On failure return -1 with f->vector / has_err / err / cr2 filled
	 * (e.g. #PF and its error code). */
	int (*translate)(void *opaque, uint64_t la, enum soft_acc acc, unsigned cpl,
	                 uint64_t *pa, uint8_t **host, struct soft_fault *f);
	/* Accesses to non-RAM physical addresses; len 1..8, never crossing a page. */
	void (*io_read)(void *opaque, uint64_t pa, void *dst, unsigned len);
	void (*io_write)(void *opaque, uint64_t pa, const void *src, unsigned len);
};

struct soft_mem {
	const struct soft_mem_ops *ops;
	void *opaque;
};

/* What a successful translate() says about the whole translation, beyond the access it
 * was asked for, so that one TLB entry serves every privilege level (SDM vol. 3A 4.10.2:
 * a TLB entry holds the combined U/S and R/W rights, and G). 0 is a 4 KiB page anyone
 * may use as the access kind allows (the flat memories of the unit tests). */
#define SOFT_XL_SUPER 1      /* U/S = 0 at some level: CPL 3 may not use it */
#define SOFT_XL_RO 2         /* R/W = 0 at some level: CPL 3 may not write */
#define SOFT_XL_GLOBAL 4     /* G = 1 in the leaf entry while CR4.PGE = 1 */
#define SOFT_XL_SHIFT(xl) (((unsigned)(xl) >> 8) & 0x3f) /* page size: 21, 22, 30; 0 = 4 KiB */

#define SOFT_TLB_SIZE 1024
#define SOFT_TLB_VICTIMS 8   /* per array: the entries the last fills pushed out */
/* Tag bits below the page address. A lookup masks the tag with soft_tlb.mask and
 * compares it with the page address: INVALID never matches, SUPER only at CPL 0-2. */
#define SOFT_TLB_SUPER 1ull
#define SOFT_TLB_INVALID 2ull
#define SOFT_TLB_MASK_SUP (~0xfffull | SOFT_TLB_INVALID)
#define SOFT_TLB_MASK_USER (~0xfffull | SOFT_TLB_INVALID | SOFT_TLB_SUPER)

struct soft_tlb_entry {
	uint64_t tag;      /* linear page address | SOFT_TLB_SUPER, or SOFT_TLB_INVALID */
	uint64_t addend;   /* host address of linear la in the page: la + addend
	                    * (tlb_host; the translator's probe adds it to la) */
	uint64_t pa;       /* physical page address */
	uint8_t shift;     /* size of the page it is a piece of (12, 21, 22, 30): INVLPG */
	uint8_t global;
};

/* Does e map la's page for an access under mask (struct soft_tlb's: the CPL's)? */
static inline bool tlb_maps(const struct soft_tlb_entry *e, uint64_t mask, uint64_t la)
{
	return (e->tag & mask) == (la & ~0xfffull);
}

/* The host address of linear la through e, which maps la's page. */
static inline uint8_t *tlb_host(const struct soft_tlb_entry *e, uint64_t la)
{
	return (uint8_t *)(uintptr_t)(la + e->addend);
}

/* Separate arrays for reads, writes and fetches: a page is only in `w` if writes to it
 * need no check (writable, RAM, and holds no decoded code). Entries carry the rights
 * of every privilege level, so a CPL change only switches `mask`. */
struct soft_tlb {
	struct soft_tlb_entry r[SOFT_TLB_SIZE], w[SOFT_TLB_SIZE], x[SOFT_TLB_SIZE];
	/* Direct-mapped, the arrays thrash when two pages a program keeps using share a
	 * slot (any two SOFT_TLB_SIZE pages apart: where they land is up to the guest's
	 * address-space randomization). A fill moves the entry it replaces here, in turn;
	 * a miss looks here before it walks the page tables and swaps what it finds back
	 * into the slot. [0]: for r, [1]: w, [2]: x. */
	struct soft_tlb_entry victim[3][SOFT_TLB_VICTIMS];
	uint8_t victim_next[3];
	uint64_t mask;     /* SOFT_TLB_MASK_SUP or SOFT_TLB_MASK_USER (CPL 3) */
	/* Slots where some array may hold a non-global entry: all a MOV to CR3 with
	 * CR4.PGE = 1 has to look at, instead of every entry of the three arrays. */
	uint64_t local[SOFT_TLB_SIZE / 64];
	/* Which large pages may have pieces here, so that INVLPG of an address no cached
	 * large page covers (most of them: the kernel's direct map and text are the large
	 * pages) checks one slot instead of every one: bit (la >> shift) % SOFT_TLB_SIZE
	 * for a piece of a 2^shift-byte page, and bit shift of large_shifts (0: only
	 * 4 KiB pages here). Bits stay set when their entries are replaced (a needless
	 * scan at worst). glarge_* note the global pieces alone: what is left of large_*
	 * after a flush of the non-global entries. */
	uint64_t large_rgn[SOFT_TLB_SIZE / 64];
	uint64_t large_shifts;
	uint64_t glarge_rgn[SOFT_TLB_SIZE / 64];
	uint64_t glarge_shifts;
};

#endif
