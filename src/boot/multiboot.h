/* Multiboot v1 (specification 0.6.96): kernel header and boot information structures. */
#ifndef TRIVISOR_BOOT_MULTIBOOT_H
#define TRIVISOR_BOOT_MULTIBOOT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cpu_state.h"
#include "core/err.h"

#define MB_HEADER_MAGIC     0x1badb002u
#define MB_BOOTLOADER_MAGIC 0x2badb002u
#define MB_SEARCH_LIMIT     8192

/* Header flags: bits 0..15 are requirements, 16..31 optional features. */
#define MB_HF_PAGE_ALIGN    (1u << 0)   /* modules page aligned */
#define MB_HF_MEMORY_INFO   (1u << 1)   /* mem_* (and mmap) wanted */
#define MB_HF_VIDEO_MODE    (1u << 2)
#define MB_HF_AOUT_KLUDGE   (1u << 16)  /* address fields of the header are valid */

/* Info flags */
#define MB_INFO_MEMORY      (1u << 0)
#define MB_INFO_CMDLINE     (1u << 2)
#define MB_INFO_MODS        (1u << 3)
#define MB_INFO_MEM_MAP     (1u << 6)
#define MB_INFO_LOADER_NAME (1u << 9)

struct __attribute__((packed)) mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr; /* kludge */
};
static_assert(sizeof(struct mb_header) == 32, "mb_header size");

struct __attribute__((packed)) mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;      /* KiB below 640K / from 1 MiB to the first hole */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;    /* offset 44 */
	uint32_t drives_length, drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;          /* offset 64 */
	uint32_t apm_table;
	uint32_t vbe_control_info, vbe_mode_info;
	uint16_t vbe_mode, vbe_interface_seg, vbe_interface_off, vbe_interface_len;
};
static_assert(offsetof(struct mb_info, mmap_length) == 44, "mb_info layout");
static_assert(offsetof(struct mb_info, boot_loader_name) == 64, "mb_info layout");
static_assert(sizeof(struct mb_info) == 88, "mb_info size");

struct __attribute__((packed)) mb_module {
	uint32_t mod_start, mod_end;        /* [start, end) */
	uint32_t string, reserved;
};

struct __attribute__((packed)) mb_mmap_entry {
	uint32_t size;                      /* of the rest of the entry: 20 */
	uint64_t base_addr, length;
	uint32_t type;
};
static_assert(sizeof(struct mb_mmap_entry) == 24, "mb_mmap_entry size");

/* The boot data block, which the loader places where the kernel does not load, as a
 * PC's boot loader would (the specification lets it go anywhere else): offsets from its
 * page-aligned base. The entry ESP is base + MB_STACK_SIZE (the kernel must set up its
 * own stack, but a few pushes before it does harm nothing); the module string and the
 * command line follow the fixed part. */
#define MB_STACK_SIZE   0x1000
#define MB_GDT_OFF      0x1000          /* entry GDT and TSS (BOOT_GDT_SIZE bytes) */
#define MB_INFO_OFF     0x1100
#define MB_MODS_OFF     0x1180
#define MB_MMAP_OFF     0x1200
#define MB_MMAP_MAX     32
#define MB_NAME_OFF     0x1500
#define MB_STR_OFF      0x1540          /* module string, then the command line */
#define MB_MODSTR_MAX   4096            /* bytes of the module string, with its NUL */

struct vm;
struct boot_image;

/* Find a header with a valid checksum, 32-bit aligned in the first 8192 bytes. */
bool multiboot_find_header(const uint8_t *data, size_t size, size_t *off);

/* Load the kernel whose header is at off, write the boot data block and the module,
 * set *bsp (EBX: the info structure). */
int multiboot_load(struct vm *vm, struct cpu_state *bsp, const struct boot_image *img,
                   size_t off, struct err *e);

#endif
