/* The guest's physical memory map (BIOS e820 style), shared by the Linux zero page and
 * the multiboot mmap. */
#ifndef TRIVISOR_BOOT_E820_H
#define TRIVISOR_BOOT_E820_H

#include "boot/bootparam.h"
#include "core/mem.h"

#define E820_LOW_RAM_END 0x9fc00ull   /* start of the EBDA */
#define E820_HIGH_START  0x100000ull  /* end of the BIOS area */

/* Write the map for m's RAM slots into out (sorted, at most max entries): RAM below
 * the EBDA, the EBDA/VGA/BIOS area (ACPI tables included) reserved, RAM from 1 MiB,
 * RAM above 4 GiB, and the IOAPIC and LAPIC pages reserved. Returns the entry count. */
unsigned e820_build(const struct guest_mem *m, struct e820_entry *out, unsigned max);

#endif
