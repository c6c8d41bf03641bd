/* Helpers shared by the kernel loaders (internal to src/boot). */
#ifndef TRIVISOR_BOOT_LOADER_H
#define TRIVISOR_BOOT_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cpu_state.h"
#include "core/err.h"

struct vm;

#define BOOT_PAGE_SIZE 4096ull

/* A kernel file read into host memory. */
struct boot_image {
	const char *path;
	uint8_t *data;
	size_t size;
};

/* Read a whole regular file of at most max bytes. -ENOENT/-EACCES/... name the path. */
int boot_read_file(const char *what, const char *path, size_t max, struct boot_image *img,
                   struct err *e);
void boot_image_free(struct boot_image *img);

/* Little-endian field readers; the caller has checked the bounds. */
static inline uint16_t boot_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t boot_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t boot_le64(const uint8_t *p)
{
	return boot_le32(p) | (uint64_t)boot_le32(p + 4) << 32;
}

/* A kernel wants [gpa, gpa+len): it must be wholly RAM, at or above min_addr (the
 * Linux loaders' fixed boot data lies below BOOT_AREA_END) and clear of the firmware
 * area (0x9fc00..1 MiB). -E2BIG when it runs past the end of RAM (the message says how
 * much RAM would do), -ENOEXEC otherwise. */
int boot_check_load(const struct vm *vm, uint64_t gpa, uint64_t len, uint64_t min_addr,
                    const char *path, const char *what, struct err *e);

/* A guest-physical range [start, end) a kernel occupies. */
struct boot_range {
	uint64_t start, end;
};

/* Place size bytes of loader data, page aligned and clear of the n ranges used[], as
 * low as possible: in conventional memory (from 0x1000, past the real-mode IVT and BIOS
 * data, up to the firmware area) if it fits there, else in RAM from 1 MiB up to the end
 * of low RAM. -ENOMEM if neither has room. */
int boot_place_clear(const struct vm *vm, uint64_t size, const struct boot_range *used,
                     unsigned n, uint64_t *addr);

/* Place size bytes page aligned in [min_addr, max_end): at the highest address if top,
 * else at the lowest. Pure; -ENOMEM if it does not fit. */
int boot_place(uint64_t size, uint64_t min_addr, uint64_t max_end, bool top, uint64_t *addr);

/* Read the initrd at path into guest RAM, placed by boot_place() clear of the firmware
 * area (0x9fc00..1 MiB). */
int boot_load_initrd(struct vm *vm, const char *path, uint64_t min_addr, uint64_t max_end,
                     bool top, uint64_t *addr, uint64_t *size, struct err *e);

/* Write the NUL-terminated command line at addr; -E2BIG if strlen(cmdline) exceeds
 * limit (or BOOT_CMDLINE_MAX - 1). */
int boot_write_cmdline(struct vm *vm, uint64_t addr, const char *cmdline, uint64_t limit,
                       const char *path, struct err *e);

/* Entry states (entry.c). Both write the GDT and TSS (BOOT_GDT_SIZE bytes at gdt) and
 * set RSP; entry64 also writes the identity page tables for 0..4 GiB at BOOT_PML4_ADDR,
 * with the GDT at BOOT_GDT_ADDR and RSP = BOOT_STACK_TOP. *s is filled completely. */
int boot_entry64(struct vm *vm, struct cpu_state *s, uint64_t rip, uint64_t rsi, struct err *e);
/* The 32-bit entry: its registers, and where the GDT (and TSS) go. */
struct boot_entry32_regs {
	uint32_t eip, eax, ebx, esp, gdt;
};
int boot_entry32(struct vm *vm, struct cpu_state *s, const struct boot_entry32_regs *regs,
                 struct err *e);

/* Linux loaders (linux.c). */
struct setup_header;
bool linux_is_bzimage(const uint8_t *data, size_t size);
/* Validate a bzImage's setup header and copy it out (fields past the file's header
 * length are zero). -ENOEXEC with a message on any problem. */
int linux_check_setup_header(const struct boot_image *img, struct setup_header *hdr,
                             struct err *e);
int linux_load_bzimage(struct vm *vm, struct cpu_state *bsp, const struct boot_image *img,
                       struct err *e);
int linux_load_vmlinux(struct vm *vm, struct cpu_state *bsp, const struct boot_image *img,
                       struct err *e);

#endif
