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

unsigned e820_build(const struct guest_mem *m, struct e820_entry *out, unsigned max)
{
	unsigned n = 0;
	uint64_t low = mem_low_end(m);

	/* Below 4 GiB: conventional memory, the EBDA/VGA/BIOS area (the VGA window's hole
	 * in RAM with it), RAM from 1 MiB, then the interrupt controllers' MMIO pages. */
	add(out, max, &n, 0, low < E820_LOW_RAM_END ? low : E820_LOW_RAM_END, E820_RAM);
	if (low > E820_LOW_RAM_END)
		add(out, max, &n, E820_LOW_RAM_END,
		    (low < E820_HIGH_START ? low : E820_HIGH_START) - E820_LOW_RAM_END, E820_RESERVED);
	if (low > E820_HIGH_START)
		add(out, max, &n, E820_HIGH_START, low - E820_HIGH_START, E820_RAM);
	add(out, max, &n, PC_IOAPIC_ADDR, 0x1000, E820_RESERVED);
	add(out, max, &n, PC_LAPIC_ADDR, 0x1000, E820_RESERVED);
	for (unsigned i = 0; i < m->nslots; i++)
		if (!m->slots[i].rom && m->slots[i].gpa >= MEM_4G)
			add(out, max, &n, m->slots[i].gpa, m->slots[i].size, E820_RAM);
	return n;
}
