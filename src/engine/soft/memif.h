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
	/* Translate la for one access kind at privilege level cpl. On success return 0 with
	 * *pa = physical address of la and *host = host pointer to the byte at la, valid up
	 * to the end of its 4 KiB page, or NULL if the page is not RAM. On failure return -1
	 * with f->vector / has_err / err / cr2 filled (e.g. #PF and its error code). */
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

#define SOFT_TLB_SIZE 256
#define SOFT_TLB_INVALID 1ull  /* never equal to a page-aligned address */

struct soft_tlb_entry {
	uint64_t tag;      /* linear page address, or SOFT_TLB_INVALID */
	uint8_t *host;     /* host address of the page */
	uint64_t pa;       /* physical page address */
};

/* Separate arrays for reads, writes and fetches: a page is only in `w` if writes to it
 * need no check (writable, RAM, and holds no decoded code). */
struct soft_tlb {
	struct soft_tlb_entry r[SOFT_TLB_SIZE], w[SOFT_TLB_SIZE], x[SOFT_TLB_SIZE];
};

#endif
