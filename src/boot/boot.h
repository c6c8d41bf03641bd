/* The boot layer: loads a kernel into guest RAM, writes the firmware tables (e820 map,
 * ACPI) and gives the bootstrap CPU its entry state. */
#ifndef TRIVISOR_BOOT_H
#define TRIVISOR_BOOT_H

#include "core/cpu_state.h"
#include "core/err.h"

struct vm;

/* Load vm->cfg.kernel_path (+ initrd_path, append) into vm->mem, build the firmware
 * tables and fill *bsp completely with the bootstrap CPU's entry state. The format is
 * detected: Linux bzImage (setup header "HdrS", 64-bit boot protocol), multiboot v1
 * (header in the first 8192 bytes: ELF or address-kludge form), else ELF64 vmlinux.
 * Uses only vm->cfg, vm->ncpus and vm->mem. Returns 0 or -errno with e set. */
int boot_load(struct vm *vm, struct cpu_state *bsp, struct err *e);

/* Guest-physical layout of what the Linux loaders write below 1 MiB (all in e820 RAM,
 * which the guest may reuse once it has consumed it). The multiboot loader instead
 * places its boot data (entry GDT, stack, info structures, command line) wherever the
 * kernel does not load (multiboot.c), so a multiboot kernel may load low. */
#define BOOT_GDT_ADDR       0x1000ull  /* GDT: see BOOT_SEL_* */
#define BOOT_TSS_OFF        0x80ull    /* a zeroed TSS so TR is valid, after the GDT */
#define BOOT_GDT_SIZE       (BOOT_TSS_OFF + 0x80) /* GDT and TSS */
#define BOOT_STACK_TOP      0x7000ull  /* initial RSP (0x2000..0x6fff) */
#define BOOT_ZERO_PAGE_ADDR 0x7000ull  /* Linux struct boot_params */
#define BOOT_PML4_ADDR      0x9000ull  /* Linux: identity page tables for 0..4 GiB */
#define BOOT_PDPT_ADDR      0xa000ull
#define BOOT_PD_ADDR        0xb000ull  /* 4 page directories of 2 MiB pages, to 0xefff */
#define BOOT_CMDLINE_ADDR   0x20000ull /* kernel command line (NUL terminated) */
#define BOOT_CMDLINE_MAX    0x10000ull /* bytes including the NUL */
#define BOOT_AREA_END       0x30000ull /* Linux kernels may not load below this */

/* Where a protected-mode kernel goes when it does not ask for another address. */
#define BOOT_KERNEL_ADDR    0x100000ull

/* GDT selectors (the Linux boot protocol wants __BOOT_CS = 0x10, __BOOT_DS = 0x18). */
#define BOOT_SEL_CODE32     0x08
#define BOOT_SEL_CODE64     0x10
#define BOOT_SEL_DATA       0x18
#define BOOT_SEL_TSS        0x20

#endif
