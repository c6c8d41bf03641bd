/* Multiboot v1 loader (specification 0.6.96): ELF or address-kludge kernels, entered in
 * flat 32-bit protected mode with EAX = 0x2BADB002 and EBX = the info structure. */
#include "boot/multiboot.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/e820.h"
#include "boot/elf.h"
#include "boot/loader.h"
#include "core/mem.h"
#include "core/vm.h"

#define MB_SUPPORTED_REQS (MB_HF_PAGE_ALIGN | MB_HF_MEMORY_INFO)
#define MB_LOADER_NAME    "trivisor"
/* The module goes at or above 1 MiB, out of conventional memory, as PC loaders do. */
#define MB_MODULE_MIN     0x100000ull

static_assert(MB_GDT_OFF >= MB_STACK_SIZE && MB_GDT_OFF + BOOT_GDT_SIZE <= MB_INFO_OFF &&
              MB_INFO_OFF + sizeof(struct mb_info) <= MB_MODS_OFF &&
              MB_MODS_OFF + sizeof(struct mb_module) <= MB_MMAP_OFF &&
              MB_MMAP_OFF + MB_MMAP_MAX * sizeof(struct mb_mmap_entry) <= MB_NAME_OFF &&
              MB_NAME_OFF + sizeof(MB_LOADER_NAME) <= MB_STR_OFF, "multiboot block layout");

/* Where the kernel loads: its ranges (one per ELF segment, or the kludge image). */
struct kernel_ranges {
	unsigned n;
	struct boot_range r[ELF_MAX_SEGS];
	uint64_t end;          /* the highest end */
};

bool multiboot_find_header(const uint8_t *data, size_t size, size_t *off)
{
	size_t limit = size < MB_SEARCH_LIMIT ? size : MB_SEARCH_LIMIT;
	for (size_t o = 0; o + 12 <= limit; o += 4) {
		uint32_t magic = boot_le32(data + o);
		if (magic == MB_HEADER_MAGIC &&
		    (uint32_t)(magic + boot_le32(data + o + 4) + boot_le32(data + o + 8)) == 0) {
			*off = o;
			return true;
		}
	}
	return false;
}

/* The address-kludge form: a flat image described by the header's address fields. */
static int load_kludge(struct vm *vm, const struct boot_image *img, size_t off,
                       const struct mb_header *h, uint64_t *entry, struct kernel_ranges *k,
                       struct err *e)
{
	const char *path = img->path;
	if (off + sizeof(*h) > img->size || off + sizeof(*h) > MB_SEARCH_LIMIT)
		return err_set(e, ENOEXEC, "%s: multiboot header truncated", path);
	if (h->load_addr > h->header_addr || h->header_addr - h->load_addr > off)
		return err_set(e, ENOEXEC, "%s: multiboot header_addr/load_addr inconsistent "
		               "with the header's file offset", path);
	uint64_t file_off = off - (h->header_addr - h->load_addr);
	uint64_t load_size;
	if (h->load_end_addr == 0) {
		load_size = img->size - file_off;
	} else {
		if (h->load_end_addr <= h->load_addr)
			return err_set(e, ENOEXEC, "%s: multiboot load_end_addr below load_addr", path);
		load_size = (uint64_t)h->load_end_addr - h->load_addr;
		if (load_size > img->size - file_off)
			return err_set(e, ENOEXEC, "%s: multiboot image truncated (load_end_addr past "
			               "the end of the file)", path);
	}
	uint64_t load_end = h->load_addr + load_size;
	uint64_t mem_end = load_end;
	if (h->bss_end_addr) {
		if (h->bss_end_addr < load_end)
			return err_set(e, ENOEXEC, "%s: multiboot bss_end_addr below load_end_addr",
			               path);
		mem_end = h->bss_end_addr;
	}
	if (h->entry_addr < h->load_addr || h->entry_addr >= load_end)
		return err_set(e, ENOEXEC, "%s: multiboot entry_addr 0x%x outside the loaded image",
		               path, h->entry_addr);
	int r = boot_check_load(vm, h->load_addr, mem_end - h->load_addr, 0, path, "kernel", e);
	if (r)
		return r;
	if (mem_write(&vm->mem, h->load_addr, img->data + file_off, load_size))
		return err_set(e, EFAULT, "%s: cannot write the kernel", path);
	void *bss = mem_ptr(&vm->mem, load_end, mem_end - load_end);
	if (bss)
		memset(bss, 0, mem_end - load_end);
	*entry = h->entry_addr;
	k->n = 1;
	k->r[0] = (struct boot_range){ h->load_addr, mem_end };
	k->end = mem_end;
	return 0;
}

static int load_elf(struct vm *vm, const struct boot_image *img, uint64_t *entry,
                    struct kernel_ranges *k, struct err *e)
{
	struct elf_info info;
	int r = elf_parse(img, &info, e);
	if (r)
		return r;
	if (info.machine != (info.is64 ? ELF_EM_X86_64 : ELF_EM_386))
		return err_set(e, ENOEXEC, "%s: multiboot ELF kernel is not for x86 (machine %u)",
		               img->path, info.machine);
	for (unsigned i = 0; i < info.nseg; i++) {
		const struct elf_seg *s = &info.seg[i];
		if (s->paddr >= MEM_4G || s->memsz > MEM_4G - s->paddr)
			return err_set(e, ENOEXEC, "%s: ELF segment %u is not 32-bit addressable",
			               img->path, i);
	}
	*entry = elf_entry_phys(&info);
	bool inside = false;
	for (unsigned i = 0; i < info.nseg; i++)
		if (*entry >= info.seg[i].paddr && *entry - info.seg[i].paddr < info.seg[i].filesz)
			inside = true;
	if (!inside)
		return err_set(e, ENOEXEC, "%s: ELF entry point 0x%llx is outside the loaded "
		               "segments", img->path, (unsigned long long)info.entry);
	k->n = info.nseg;
	for (unsigned i = 0; i < info.nseg; i++)
		k->r[i] = (struct boot_range){ info.seg[i].paddr, info.seg[i].paddr + info.seg[i].memsz };
	return elf_load(vm, img, &info, 0, &k->end, e);
}

/* "kernel_path append" in a new string (NULL: out of memory). */
static char *make_cmdline(const struct vm *vm)
{
	const char *append = vm->cfg.append;
	size_t len = strlen(vm->cfg.kernel_path) + (append ? 1 + strlen(append) : 0) + 1;
	char *s = malloc(len);
	if (s)
		snprintf(s, len, "%s%s%s", vm->cfg.kernel_path, append ? " " : "",
		         append ? append : "");
	return s;
}

/* Place the boot data block clear of the kernel and write it, load the module above
 * both, and fill in the entry registers. */
static int write_info(struct vm *vm, const struct kernel_ranges *k,
                      struct boot_entry32_regs *regs, struct err *e)
{
	struct mb_info info;
	struct e820_entry map[MB_MMAP_MAX];
	struct mb_mmap_entry mm[MB_MMAP_MAX];
	struct guest_mem *m = &vm->mem;
	uint64_t low_end = mem_low_end(m), base;
	const char *ipath = vm->cfg.initrd_path;
	size_t slen = ipath ? strlen(ipath) + 1 : 0;
	int r;

	if (slen > MB_MODSTR_MAX)
		return err_set(e, ENAMETOOLONG, "initrd path too long: %s", ipath);
	char *cmdline = make_cmdline(vm);
	if (!cmdline)
		return err_set(e, ENOMEM, "out of memory");
	/* A command line too long is refused by boot_write_cmdline below. */
	size_t clen = strlen(cmdline) + 1;
	uint64_t size = MB_STR_OFF + slen + (clen < BOOT_CMDLINE_MAX ? clen : BOOT_CMDLINE_MAX);
	size = (size + BOOT_PAGE_SIZE - 1) & ~(BOOT_PAGE_SIZE - 1);
	if (boot_place_clear(vm, size, k->r, k->n, &base)) {
		free(cmdline);
		return err_set(e, ENOMEM, "%s: no room in guest RAM for the multiboot boot data "
		               "(%llu KiB) where the kernel does not load", vm->cfg.kernel_path,
		               (unsigned long long)(size >> 10));
	}
	r = boot_write_cmdline(vm, base + MB_STR_OFF + slen, cmdline, BOOT_CMDLINE_MAX - 1,
	                       vm->cfg.kernel_path, e);
	free(cmdline);
	if (r)
		return r;

	memset(&info, 0, sizeof(info));
	info.flags = MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MODS | MB_INFO_MEM_MAP |
	             MB_INFO_LOADER_NAME;
	info.mem_lower = (uint32_t)((low_end < E820_LOW_RAM_END ? low_end : E820_LOW_RAM_END) >> 10);
	info.mem_upper = low_end > E820_HIGH_START ? (uint32_t)((low_end - E820_HIGH_START) >> 10) : 0;
	info.cmdline = (uint32_t)(base + MB_STR_OFF + slen);

	info.mods_addr = (uint32_t)(base + MB_MODS_OFF);
	if (ipath) {
		uint64_t addr, isize, min = k->end > MB_MODULE_MIN ? k->end : MB_MODULE_MIN;
		if (base + size > min)
			min = base + size;   /* the block went above 1 MiB */
		r = boot_load_initrd(vm, ipath, min, low_end, false, &addr, &isize, e);
		if (r)
			return r;
		struct mb_module mod = { .mod_start = (uint32_t)addr,
		                         .mod_end = (uint32_t)(addr + isize),
		                         .string = (uint32_t)(base + MB_STR_OFF) };
		if (mem_write(m, base + MB_MODS_OFF, &mod, sizeof(mod)) ||
		    mem_write(m, base + MB_STR_OFF, ipath, slen))
			return err_set(e, ENOMEM, "guest RAM too small for the multiboot info");
		info.mods_count = 1;
	}

	unsigned n = e820_build(m, map, MB_MMAP_MAX);
	for (unsigned i = 0; i < n; i++)
		mm[i] = (struct mb_mmap_entry){ .size = sizeof(mm[i]) - 4, .base_addr = map[i].addr,
		                                .length = map[i].size, .type = map[i].type };
	info.mmap_addr = (uint32_t)(base + MB_MMAP_OFF);
	info.mmap_length = (uint32_t)(n * sizeof(mm[0]));
	info.boot_loader_name = (uint32_t)(base + MB_NAME_OFF);

	if (mem_write(m, base + MB_MMAP_OFF, mm, n * sizeof(mm[0])) ||
	    mem_write(m, base + MB_NAME_OFF, MB_LOADER_NAME, sizeof(MB_LOADER_NAME)) ||
	    mem_write(m, base + MB_INFO_OFF, &info, sizeof(info)))
		return err_set(e, ENOMEM, "guest RAM too small for the multiboot info");
	regs->ebx = (uint32_t)(base + MB_INFO_OFF);
	regs->esp = (uint32_t)(base + MB_STACK_SIZE);
	regs->gdt = (uint32_t)(base + MB_GDT_OFF);
	return 0;
}

int multiboot_load(struct vm *vm, struct cpu_state *bsp, const struct boot_image *img,
                   size_t off, struct err *e)
{
	struct mb_header h;
	struct kernel_ranges k;
	uint64_t entry = 0;
	int r;

	memset(&h, 0, sizeof(h));
	memcpy(&h, img->data + off, img->size - off < sizeof(h) ? img->size - off : sizeof(h));
	if (h.flags & 0xffff & ~MB_SUPPORTED_REQS)
		return err_set(e, ENOEXEC, "%s: multiboot kernel requires unsupported features "
		               "(header flags 0x%x%s)", img->path, h.flags,
		               (h.flags & MB_HF_VIDEO_MODE) ? ": video mode information" : "");
	if (h.flags & MB_HF_AOUT_KLUDGE)
		r = load_kludge(vm, img, off, &h, &entry, &k, e);
	else if (elf_is_elf(img->data, img->size))
		r = load_elf(vm, img, &entry, &k, e);
	else
		r = err_set(e, ENOEXEC, "%s: multiboot kernel is neither ELF nor uses the address "
		            "fields (flag bit 16)", img->path);
	if (r)
		return r;
	struct boot_entry32_regs regs = { .eip = (uint32_t)entry, .eax = MB_BOOTLOADER_MAGIC };
	r = write_info(vm, &k, &regs, e);
	if (r)
		return r;
	return boot_entry32(vm, bsp, &regs, e);
}
