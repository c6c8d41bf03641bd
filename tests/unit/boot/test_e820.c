/* e820 map from the RAM slots: small RAM, RAM across the 32-bit hole, tiny RAM. */
#include "../check.h"
#include "boot/e820.h"
#include "hw/pc.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static struct guest_mem fake_mem(uint64_t low, uint64_t high)
{
	/* e820_build only reads gpa/size: no RAM needs to be mapped. */
	struct guest_mem m = { .nslots = 1, .ram_size = low + high };
	m.slots[0] = (struct mem_slot){ .gpa = 0, .size = low };
	if (high)
		m.slots[m.nslots++] = (struct mem_slot){ .gpa = MEM_4G, .size = high };
	return m;
}

static void check_entry(const struct e820_entry *x, uint64_t addr, uint64_t size, uint32_t type)
{
	CHECK_EQ(x->addr, addr);
	CHECK_EQ(x->size, size);
	CHECK_EQ(x->type, type);
}

int main(void)
{
	struct e820_entry t[16];
	struct guest_mem m;
	unsigned n;

	m = fake_mem(128 * MiB, 0);
	n = e820_build(&m, t, 16);
	CHECK_EQ(n, 5);
	check_entry(&t[0], 0, 0x9fc00, E820_RAM);
	check_entry(&t[1], 0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED);
	check_entry(&t[2], 0x100000, 127 * MiB, E820_RAM);
	check_entry(&t[3], PC_IOAPIC_ADDR, 0x1000, E820_RESERVED);
	check_entry(&t[4], PC_LAPIC_ADDR, 0x1000, E820_RESERVED);
	/* The ACPI tables sit in the reserved BIOS area. */
	CHECK(PC_ACPI_ADDR >= t[1].addr && PC_ACPI_ADDR + PC_ACPI_SIZE <= t[1].addr + t[1].size);

	/* 4 GiB of RAM: 3 GiB below the hole, 1 GiB above 4 GiB. */
	m = fake_mem(MEM_HOLE_START, 4 * GiB - MEM_HOLE_START);
	n = e820_build(&m, t, 16);
	CHECK_EQ(n, 6);
	check_entry(&t[2], 0x100000, MEM_HOLE_START - 0x100000, E820_RAM);
	check_entry(&t[5], MEM_4G, 1 * GiB, E820_RAM);
	for (unsigned i = 1; i < n; i++)
		CHECK(t[i].addr >= t[i - 1].addr + t[i - 1].size);   /* sorted, disjoint */

	/* Less than 640 KiB: just the RAM there is. */
	m = fake_mem(512 * 1024, 0);
	n = e820_build(&m, t, 16);
	CHECK_EQ(n, 3);
	check_entry(&t[0], 0, 512 * 1024, E820_RAM);
	check_entry(&t[1], PC_IOAPIC_ADDR, 0x1000, E820_RESERVED);

	/* Exactly 1 MiB: no RAM above it. */
	m = fake_mem(MiB, 0);
	n = e820_build(&m, t, 16);
	CHECK_EQ(n, 4);
	check_entry(&t[1], 0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED);

	/* The table limit is respected. */
	m = fake_mem(MEM_HOLE_START, GiB);
	n = e820_build(&m, t, 2);
	CHECK_EQ(n, 2);
	return check_done();
}
