/* Linux loaders: bzImage through the 64-bit boot protocol (boot.rst, "64-bit boot
 * protocol"), and an uncompressed ELF64 vmlinux entered at e_entry the same way. */
#include <errno.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/bootparam.h"
#include "boot/e820.h"
#include "boot/elf.h"
#include "boot/loader.h"
#include "core/mem.h"
#include "core/vm.h"
#include "hw/pc.h"

#define MIN_PROTOCOL      0x0206   /* cmdline_size */
#define PROTOCOL_XLF      0x020c   /* xloadflags, hence XLF_KERNEL_64 */
#define PROTOCOL_PREF     0x020a   /* pref_address, init_size */
#define PROTOCOL_RSDP     0x020e   /* acpi_rsdp_addr */
#define ENTRY64_OFFSET    0x200
#define VMLINUX_CMDLINE   2047     /* x86 COMMAND_LINE_SIZE - 1 */
#define VMLINUX_INITRD_MAX 0x7fffffffu

bool linux_is_bzimage(const uint8_t *data, size_t size)
{
	return size >= SETUP_OFF(header) + 4 && boot_le16(data + SETUP_OFF(boot_flag)) ==
	       SETUP_BOOT_FLAG && boot_le32(data + SETUP_OFF(header)) == SETUP_HDR_MAGIC;
}

int linux_check_setup_header(const struct boot_image *img, struct setup_header *hdr,
                             struct err *e)
{
	const uint8_t *d = img->data;
	const char *path = img->path;

	memset(hdr, 0, sizeof(*hdr));
	if (img->size < SETUP_OFF(header) + 4)
		return err_set(e, ENOEXEC, "%s: truncated bzImage setup header", path);
	if (!linux_is_bzimage(d, img->size))
		return err_set(e, ENOEXEC, "%s: not a bzImage (no boot_flag 0xaa55 and \"HdrS\")",
		               path);
	/* The header runs from 0x1f1 to the target of the jump at 0x200. */
	size_t hdr_end = SETUP_OFF(header) + d[SETUP_OFF(jump) + 1];
	if (hdr_end > img->size)
		return err_set(e, ENOEXEC, "%s: truncated bzImage setup header", path);
	size_t copy = hdr_end < SETUP_OFF(kernel_info_offset) + 4 ?
	              hdr_end : SETUP_OFF(kernel_info_offset) + 4;
	memcpy(hdr, d + SETUP_HDR_OFFSET, copy - SETUP_HDR_OFFSET);

	if (hdr->version < MIN_PROTOCOL)
		return err_set(e, ENOEXEC, "%s: boot protocol %u.%02u is too old (need 2.06 or "
		               "later)", path, hdr->version >> 8, hdr->version & 0xff);
	if (copy < SETUP_OFF(cmdline_size) + 4)
		return err_set(e, ENOEXEC, "%s: setup header too short for protocol %u.%02u",
		               path, hdr->version >> 8, hdr->version & 0xff);
	if (hdr->version < PROTOCOL_XLF || !(hdr->xloadflags & XLF_KERNEL_64))
		return err_set(e, ENOEXEC, "%s: kernel has no 64-bit entry point (XLF_KERNEL_64)",
		               path);
	if (!(hdr->loadflags & LOADED_HIGH))
		return err_set(e, ENOEXEC, "%s: kernel is not loaded high (zImage unsupported)",
		               path);
	if (hdr->setup_sects == 0)
		hdr->setup_sects = 4;
	size_t setup_size = ((size_t)hdr->setup_sects + 1) * 512;
	if (setup_size >= img->size)
		return err_set(e, ENOEXEC, "%s: truncated bzImage (no protected-mode kernel after "
		               "%u setup sectors)", path, hdr->setup_sects);
	/* syssize: the protected-mode kernel's size in 16-byte paragraphs. A file cut short
	 * (an interrupted download or copy) would otherwise boot and crash in the guest. */
	if ((uint64_t)hdr->syssize * 16 > img->size - setup_size)
		return err_set(e, ENOEXEC, "%s: truncated bzImage (the header says %llu bytes of "
		               "kernel after the setup sectors, the file has %zu)", path,
		               (unsigned long long)hdr->syssize * 16, img->size - setup_size);
	return 0;
}

/* Fill the zero page fields common to both loaders and write it with the e820 map. */
static int write_zero_page(struct vm *vm, struct boot_params *bp, uint64_t initrd,
                           uint64_t initrd_size, struct err *e)
{
	struct e820_entry map[E820_MAX_ZEROPAGE];

	bp->hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
	bp->hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
	bp->ext_cmd_line_ptr = (uint32_t)(BOOT_CMDLINE_ADDR >> 32);
	bp->hdr.ramdisk_image = (uint32_t)initrd;
	bp->hdr.ramdisk_size = (uint32_t)initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(initrd >> 32);
	bp->ext_ramdisk_size = (uint32_t)(initrd_size >> 32);
	if (bp->hdr.version >= PROTOCOL_RSDP)
		bp->acpi_rsdp_addr = PC_ACPI_ADDR;
	if (pc_has_vga(&vm->cfg)) {
		/* What a BIOS leaves in screen_info (Linux's uapi screen_info.h): 80x25 colour
		 * text, mode 3, an EGA/VGA (EGA BX != 0x10), 16-line font, cursor at 0,0.
		 * vgacon takes the screen only when it finds this. */
		uint8_t *si = bp->screen_info;
		si[0x06] = 3;             /* orig_video_mode */
		si[0x07] = 80;            /* orig_video_cols */
		si[0x0a] = 0x03;          /* orig_video_ega_bx: colour, 256 KiB */
		si[0x0e] = 25;            /* orig_video_lines */
		si[0x0f] = 1;             /* orig_video_isVGA */
		si[0x10] = 16;            /* orig_video_points */
	}
	unsigned n = e820_build(&vm->mem, map, E820_MAX_ZEROPAGE);
	memcpy(bp->e820_table, map, n * sizeof(map[0]));
	bp->e820_entries = (uint8_t)n;
	if (mem_write(&vm->mem, BOOT_ZERO_PAGE_ADDR, bp, sizeof(*bp)))
		return err_set(e, ENOMEM, "guest RAM too small for the zero page");
	return 0;
}

/* Command line and initrd, shared by both loaders. kernel_end: first free byte. */
static int load_cmdline_initrd(struct vm *vm, uint32_t cmdline_size, uint64_t initrd_max_end,
                               uint64_t kernel_end, uint64_t *initrd, uint64_t *initrd_size,
                               struct err *e)
{
	const char *append = vm->cfg.append ? vm->cfg.append : "";
	int r = boot_write_cmdline(vm, BOOT_CMDLINE_ADDR, append, cmdline_size,
	                           vm->cfg.kernel_path, e);
	if (r)
		return r;
	*initrd = *initrd_size = 0;
	if (!vm->cfg.initrd_path)
		return 0;
	return boot_load_initrd(vm, vm->cfg.initrd_path, kernel_end, initrd_max_end, true,
	                        initrd, initrd_size, e);
}

int linux_load_bzimage(struct vm *vm, struct cpu_state *bsp, const struct boot_image *img,
                       struct err *e)
{
	struct boot_params bp;
	struct setup_header hdr;
	uint64_t initrd, initrd_size;
	int r = linux_check_setup_header(img, &hdr, e);
	if (r)
		return r;

	size_t setup_size = ((size_t)hdr.setup_sects + 1) * 512;
	const uint8_t *kdata = img->data + setup_size;
	uint64_t ksize = img->size - setup_size;
	uint64_t need = hdr.init_size > ksize ? hdr.init_size : ksize;
	uint64_t pref = hdr.version >= PROTOCOL_PREF ? hdr.pref_address : 0;

	/* At pref_address if the kernel may go there and RAM holds it with init_size. */
	uint64_t load = BOOT_KERNEL_ADDR;
	if (hdr.relocatable_kernel && pref >= BOOT_KERNEL_ADDR && pref + need > pref &&
	    boot_check_load(vm, pref, need, BOOT_AREA_END, img->path, "kernel", NULL) == 0)
		load = pref;
	r = boot_check_load(vm, load, ksize, BOOT_AREA_END, img->path, "kernel", e);
	if (r)
		return r;
	/* The decompressor runs at max(load address, pref_address) and uses init_size. */
	uint64_t run = load > pref ? load : pref;
	if (run + need < run)
		return err_set(e, ENOEXEC, "%s: bad init_size 0x%x", img->path, hdr.init_size);
	r = boot_check_load(vm, run, need, BOOT_AREA_END, img->path, "kernel (init_size)", e);
	if (r)
		return r;
	if (mem_write(&vm->mem, load, kdata, ksize))
		return err_set(e, EFAULT, "%s: cannot write the kernel", img->path);

	uint64_t initrd_end = (uint64_t)hdr.initrd_addr_max + 1;
	r = load_cmdline_initrd(vm, hdr.cmdline_size, initrd_end, run + need, &initrd,
	                        &initrd_size, e);
	if (r)
		return r;

	memset(&bp, 0, sizeof(bp));
	bp.hdr = hdr;
	bp.hdr.code32_start = (uint32_t)load;
	bp.hdr.loadflags &= (uint8_t)~QUIET_FLAG;
	r = write_zero_page(vm, &bp, initrd, initrd_size, e);
	if (r)
		return r;
	return boot_entry64(vm, bsp, load + ENTRY64_OFFSET, BOOT_ZERO_PAGE_ADDR, e);
}

int linux_load_vmlinux(struct vm *vm, struct cpu_state *bsp, const struct boot_image *img,
                       struct err *e)
{
	struct elf_info info;
	struct boot_params bp;
	uint64_t end, initrd, initrd_size;
	int r = elf_parse(img, &info, e);
	if (r)
		return r;
	if (!info.is64 || info.machine != ELF_EM_X86_64)
		return err_set(e, ENOEXEC, "%s: not a bzImage, ELF or multiboot kernel (ELF file "
		               "is not x86-64 and has no multiboot header)", img->path);
	uint64_t entry = elf_entry_phys(&info);
	bool inside = false;
	for (unsigned i = 0; i < info.nseg; i++)
		if (entry >= info.seg[i].paddr && entry - info.seg[i].paddr < info.seg[i].filesz)
			inside = true;
	if (!inside)
		return err_set(e, ENOEXEC, "%s: ELF entry point 0x%llx is outside the loaded "
		               "segments", img->path, (unsigned long long)info.entry);
	r = elf_load(vm, img, &info, BOOT_AREA_END, &end, e);
	if (r)
		return r;
	r = load_cmdline_initrd(vm, VMLINUX_CMDLINE, (uint64_t)VMLINUX_INITRD_MAX + 1, end,
	                        &initrd, &initrd_size, e);
	if (r)
		return r;

	memset(&bp, 0, sizeof(bp));
	bp.hdr.boot_flag = SETUP_BOOT_FLAG;
	bp.hdr.header = SETUP_HDR_MAGIC;
	bp.hdr.version = 0x020f;
	bp.hdr.loadflags = LOADED_HIGH;
	bp.hdr.cmdline_size = VMLINUX_CMDLINE;
	bp.hdr.initrd_addr_max = VMLINUX_INITRD_MAX;
	bp.hdr.kernel_alignment = 0x200000;
	bp.hdr.xloadflags = XLF_KERNEL_64;
	r = write_zero_page(vm, &bp, initrd, initrd_size, e);
	if (r)
		return r;
	return boot_entry64(vm, bsp, entry, BOOT_ZERO_PAGE_ADDR, e);
}
