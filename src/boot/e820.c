/* The e820 memory map, computed from the guest's RAM slots. */
#include "boot/e820.h"

#include "hw/pc.h"

static void add(struct e820_entry *out, unsigned max, unsigned *n, uint64_t addr,
                uint64_t size, uint32_t type)
{
	if (size == 0)
		return;
	/* Merge with the previous entry when contiguous and of the same type. */
	if (*n > 0) {
		struct e820_entry *p = &out[*n - 1];
		if (p->type == type && p->addr + p->size == addr) {
			p->size += size;
			return;
		}
	}
	if (*n < max)
		out[(*n)++] = (struct e820_entry){ .addr = addr, .size = size, .type = type };
}

/* The part of [lo, hi) inside [a, b) as (start, size), size 0 when disjoint. */
static void clip(uint64_t lo, uint64_t hi, uint64_t a, uint64_t b, uint64_t *start,
                 uint64_t *size)
{
	uint64_t s = lo > a ? lo : a, t = hi < b ? hi : b;
	*start = s;
	*size = t > s ? t - s : 0;
}

unsigned e820_build(const struct guest_mem *m, struct e820_entry *out, unsigned max)
{
	unsigned n = 0;
	uint64_t s, len;

	for (unsigned i = 0; i < m->nslots; i++) {
		uint64_t lo = m->slots[i].gpa, hi = lo + m->slots[i].size;
		clip(lo, hi, 0, E820_LOW_RAM_END, &s, &len);
		add(out, max, &n, s, len, E820_RAM);
		clip(lo, hi, E820_LOW_RAM_END, E820_HIGH_START, &s, &len);
		add(out, max, &n, s, len, E820_RESERVED);
		clip(lo, hi, E820_HIGH_START, UINT64_MAX, &s, &len);
		add(out, max, &n, s, len, E820_RAM);
		/* The MMIO pages of the interrupt controllers follow the low slot. */
		if (lo == 0) {
			add(out, max, &n, PC_IOAPIC_ADDR, 0x1000, E820_RESERVED);
			add(out, max, &n, PC_LAPIC_ADDR, 0x1000, E820_RESERVED);
		}
	}
	return n;
}
