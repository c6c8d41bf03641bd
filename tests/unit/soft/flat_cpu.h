/* A software CPU over flat RAM for the unit tests (reset state: 64-bit mode, no paging,
 * physical = linear). The flat memory lives beside the CPU, which points to it. */
#ifndef TRIVISOR_TEST_FLAT_CPU_H
#define TRIVISOR_TEST_FLAT_CPU_H

#include <stdlib.h>

#include "engine/soft/mmu/flatmem.h"
#include "engine/soft/soft.h"

struct flat_cpu {
	uint8_t *ram;
	struct soft_flatmem flat;
	struct soft_cpu *c;
};

static inline int flat_cpu_new(struct flat_cpu *f, size_t ram_size)
{
	f->ram = calloc(1, ram_size);
	f->flat = (struct soft_flatmem){ f->ram, ram_size };
	f->c = calloc(1, sizeof(*f->c));
	if (f->ram && f->c && soft_cpu_init(f->c, &soft_flat_ops, &f->flat) == 0)
		return 0;
	free(f->c);
	free(f->ram);
	return -1;
}

static inline void flat_cpu_free(struct flat_cpu *f)
{
	soft_cpu_destroy(f->c);
	free(f->c);
	free(f->ram);
}

/* Run cases on an interpreting CPU, then on a translating one, each over flat RAM of
 * ram_size bytes of its own; tier names the CPU for messages. -1 if one could not be
 * made. */
static inline int flat_cpu_both_tiers(size_t ram_size,
                                      void (*cases)(struct flat_cpu *f, const char *tier))
{
	for (int t = 0; t < 2; t++) {
		struct flat_cpu f;
		if (flat_cpu_new(&f, ram_size))
			return -1;
		if (t && soft_cpu_set_tier(f.c, SOFT_TIER_TRANSLATE)) {
			flat_cpu_free(&f);
			return -1;
		}
		cases(&f, t ? "translator" : "interpreter");
		flat_cpu_free(&f);
	}
	return 0;
}

#endif
