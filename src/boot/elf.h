/* Just enough ELF (System V gABI, ELF32 and ELF64, little-endian x86) to load a
 * kernel's PT_LOAD segments. */
#ifndef TRIVISOR_BOOT_ELF_H
#define TRIVISOR_BOOT_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define ELF_MAX_SEGS 32
#define ELF_EM_386    3
#define ELF_EM_X86_64 62

struct vm;
struct boot_image;

struct elf_seg {
	uint64_t offset;   /* in the file */
	uint64_t paddr, vaddr;
	uint64_t filesz, memsz;
};

struct elf_info {
	bool is64;
	uint16_t machine;
	uint64_t entry;    /* e_entry as written */
	unsigned nseg;     /* PT_LOAD segments with memsz > 0 */
	struct elf_seg seg[ELF_MAX_SEGS];
};

bool elf_is_elf(const uint8_t *data, size_t size);

/* Parse the headers: an executable, little-endian, with every PT_LOAD's file range
 * inside the file and filesz <= memsz. -ENOEXEC with a message otherwise. */
int elf_parse(const struct boot_image *img, struct elf_info *out, struct err *e);

/* e_entry as a physical address: unchanged if it lies in a segment's physical range,
 * else translated through the segment whose virtual range holds it. */
uint64_t elf_entry_phys(const struct elf_info *info);

/* Copy every segment to p_paddr (zeroing p_memsz - p_filesz) after boot_check_load()
 * with min_addr; *end receives the highest segment end. */
int elf_load(struct vm *vm, const struct boot_image *img, const struct elf_info *info,
             uint64_t min_addr, uint64_t *end, struct err *e);

#endif
