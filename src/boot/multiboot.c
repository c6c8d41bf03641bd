/* Multiboot v1 loader (specification 0.6.96): ELF or address-kludge kernels, entered in
 * flat 32-bit protected mode with EAX = 0x2BADB002 and EBX = the info structure. */
#include "boot/multiboot.h"

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
                       const struct mb_header *h, uint64_t *entry, uint64_t *end,
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
	int r = boot_check_load(vm, h->load_addr, mem_end - h->load_addr, path, "kernel", e);
	if (r)
		return r;
	if (mem_write(&vm->mem, h->load_addr, img->data + file_off, load_size))
		return err_set(e, EFAULT, "%s: cannot write the kernel", path);
	void *bss = mem_ptr(&vm->mem, load_end, mem_end - load_end);
	if (bss)
		memset(bss, 0, mem_end - load_end);
	*entry = h->entry_addr;
	*end = mem_end;
	return 0;
}

static int load_elf(struct vm *vm, const struct boot_image *img, uint64_t *entry,
                    uint64_t *end, struct err *e)
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
	return elf_load(vm, img, &info, end, e);
}

/* "kernel_path append" */
static int write_cmdline(struct vm *vm, struct err *e)
{
	const char *append = vm->cfg.append;
	size_t len = strlen(vm->cfg.kernel_path) + (append ? 1 + strlen(append) : 0) + 1;
	char *s = malloc(len);
	if (!s)
		return err_set(e, ENOMEM, "out of memory");
	snprintf(s, len, "%s%s%s", vm->cfg.kernel_path, append ? " " : "", append ? append : "");
	int r = boot_write_cmdline(vm, s, BOOT_CMDLINE_MAX - 1, vm->cfg.kernel_path, e);
	free(s);
	return r;
}

static int write_info(struct vm *vm, uint64_t kernel_end, struct err *e)
{
	struct mb_info info;
	struct e820_entry map[MB_MMAP_MAX];
	struct mb_mmap_entry mm[MB_MMAP_MAX];
	const uint64_t base = BOOT_MB_INFO_ADDR;
	struct guest_mem *m = &vm->mem;
	uint64_t low_end = mem_low_end(m);
	int r;

	memset(&info, 0, sizeof(info));
	info.flags = MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MODS | MB_INFO_MEM_MAP |
	             MB_INFO_LOADER_NAME;
	info.mem_lower = (uint32_t)((low_end < E820_LOW_RAM_END ? low_end : E820_LOW_RAM_END) >> 10);
	info.mem_upper = low_end > E820_HIGH_START ? (uint32_t)((low_end - E820_HIGH_START) >> 10) : 0;
	info.cmdline = (uint32_t)BOOT_CMDLINE_ADDR;
	r = write_cmdline(vm, e);
	if (r)
		return r;

	info.mods_addr = (uint32_t)(base + MB_MODS_OFF);
	if (vm->cfg.initrd_path) {
		const char *ipath = vm->cfg.initrd_path;
		size_t slen = strlen(ipath) + 1;
		uint64_t addr, size;
		if (slen > BOOT_MB_INFO_END - (base + MB_MODSTR_OFF))
			return err_set(e, ENAMETOOLONG, "initrd path too long: %s", ipath);
		r = boot_load_initrd(vm, ipath, kernel_end, low_end, false, &addr, &size, e);
		if (r)
			return r;
		struct mb_module mod = { .mod_start = (uint32_t)addr,
		                         .mod_end = (uint32_t)(addr + size),
		                         .string = (uint32_t)(base + MB_MODSTR_OFF) };
		if (mem_write(m, base + MB_MODS_OFF, &mod, sizeof(mod)) ||
		    mem_write(m, base + MB_MODSTR_OFF, ipath, slen))
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
	return 0;
}

int multiboot_load(struct vm *vm, struct cpu_state *bsp, const struct boot_image *img,
                   size_t off, struct err *e)
{
	struct mb_header h;
	uint64_t entry, end;
	int r;

	memset(&h, 0, sizeof(h));
	memcpy(&h, img->data + off, img->size - off < sizeof(h) ? img->size - off : sizeof(h));
	if (h.flags & 0xffff & ~MB_SUPPORTED_REQS)
		return err_set(e, ENOEXEC, "%s: multiboot kernel requires unsupported features "
		               "(header flags 0x%x%s)", img->path, h.flags,
		               (h.flags & MB_HF_VIDEO_MODE) ? ": video mode information" : "");
	if (h.flags & MB_HF_AOUT_KLUDGE)
		r = load_kludge(vm, img, off, &h, &entry, &end, e);
	else if (elf_is_elf(img->data, img->size))
		r = load_elf(vm, img, &entry, &end, e);
	else
		r = err_set(e, ENOEXEC, "%s: multiboot kernel is neither ELF nor uses the address "
		            "fields (flag bit 16)", img->path);
	if (r)
		return r;
	r = write_info(vm, end, e);
	if (r)
		return r;
	return boot_entry32(vm, bsp, (uint32_t)entry, MB_BOOTLOADER_MAGIC,
	                    (uint32_t)BOOT_MB_INFO_ADDR, e);
}
