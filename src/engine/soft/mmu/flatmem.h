/* A flat memory for the software CPU with no VM around it: linear = physical = an offset
 * into one host buffer, anything beyond it is a page fault, device reads are all ones.
 * For the CPU's unit tests and benchmarks. */
#ifndef TRIVISOR_SOFT_FLATMEM_H
#define TRIVISOR_SOFT_FLATMEM_H

#include <string.h>

#include "engine/soft/soft.h"

struct soft_flatmem {
	uint8_t *ram;
	uint64_t size;
};

static inline int soft_flat_translate(void *opaque, uint64_t la, enum soft_acc acc,
                                      unsigned cpl, uint64_t *pa, uint8_t **host,
                                      struct soft_fault *f)
{
	const struct soft_flatmem *m = opaque;
	(void)cpl;
	if (la >= m->size) {
		f->vector = 14;
		f->has_err = true;
		f->err = acc == SOFT_ACC_WRITE ? 2 : 0;
		f->cr2 = la;
		return -1;
	}
	*pa = la;
	*host = m->ram + la;
	return 0;
}

static inline void soft_flat_io_read(void *opaque, uint64_t pa, void *dst, unsigned len)
{
	(void)opaque; (void)pa;
	memset(dst, 0xff, len);
}

static inline void soft_flat_io_write(void *opaque, uint64_t pa, const void *src, unsigned len)
{
	(void)opaque; (void)pa; (void)src; (void)len;
}

static const struct soft_mem_ops soft_flat_ops = {
	soft_flat_translate, soft_flat_io_read, soft_flat_io_write
};

#endif
