/* The kernel and firmware loaders (src/boot: boot_load with the bzImage, ELF vmlinux and
 * multiboot loaders, and firmware_load's BIOS images) on hostile files: the input
 * becomes a kernel (or BIOS) file, an initrd and a command line, loaded into a VM of one
 * of a few RAM sizes whose RAM is zeroed before each input.
 *
 * Invariants: boot_load succeeds, or fails with a message and one of the errnos a bad
 * file or too little RAM gives (a failed write after a passed range check is a finding);
 * it writes nothing in the firmware area (0x9fc00..1 MiB) but the ACPI tables (a
 * firmware boot: only the BIOS's shadow copy); it leaks no memory (LeakSanitizer) and
 * no file descriptor. On success: the entry state is the protocol's, RIP is in RAM where
 * the loader says the kernel starts, the kernel's bytes (segment by segment for ELF,
 * bss zero) are intact where it loaded, the command line is NUL-terminated where the
 * zero page or multiboot info says, the initrd's bytes are where they say, and none of
 * these overlap each other, the boot data or the firmware area.
 *
 * Input, little-endian (short input reads as zeros):
 *   u8  flags   bit 0: a firmware boot (the image is the BIOS, kernel_path NULL)
 *               bit 1: a VGA (the zero page's screen_info)
 *               bit 2: two virtio-mmio devices (described in ACPI)
 *               bits 3-4: vCPUs, from ncpus_choice[]
 *               bit 5: no --append at all (else a command line of the length below)
 *   u8  ram     RAM size: ram_sizes[ram % N]
 *   u32 cmdline length, mod CMDLINE_TRY (up to past the 64 KiB limit), of a pattern
 *   u8 isel, u32 ival   initrd (isel % 4): none; ival % 64 KiB bytes; RAM size minus
 *               ival % RAM size; ival pages (past 64 KiB the file is sparse, only its
 *               first and last 16 bytes written)
 *   u8 ksel, u32 kval   image file size (ksel % 4): the rest of the input; 64 KiB *
 *               (1 + kval % 256); kval % (16 MiB + 8 KiB); just past the loader's
 *               limit. The rest of the input is the file's start, zeros follow.
 *   the image's bytes
 * tests/fuzz/seeds.py (boot_seeds) writes seeds in this format. */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/bootparam.h"
#include "boot/elf.h"
#include "boot/firmware.h"
#include "boot/loader.h"
#include "boot/multiboot.h"
#include "core/log.h"
#include "hw/pc.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define FW_AREA_START  0x9fc00ull           /* boot.c's firmware area */
#define FW_AREA_END    0x100000ull
#define SHADOW_MAX     (128 * KiB)           /* firmware.c's shadow copy below 1 MiB */
#define KERNEL_LIMIT   (1ull << 30)          /* boot.c's largest kernel file */
#define CMDLINE_TRY    (BOOT_CMDLINE_MAX + 256)
#define SMALL_INITRD   (64 * KiB)            /* written whole; larger ones are sparse */
#define MARK           16                    /* bytes written at a sparse initrd's ends */
#define ZERO_CHECK     (64 * KiB)            /* bss checked at each end, not all of it */

/* From "too small to boot" and "only loads below 1 MiB" to room for 200 MiB initrds:
 * kernels and initrds barely fit or not in between. */
static const uint64_t ram_sizes[] = { 640 * KiB, 1 * MiB, 2 * MiB, 5 * MiB, 17 * MiB,
                                      33 * MiB, 64 * MiB, 256 * MiB };
#define NRAM (sizeof(ram_sizes) / sizeof(ram_sizes[0]))
static const unsigned ncpus_choice[] = { 1, 2, 8, VM_MAX_CPUS };

static struct vm *vms[NRAM];
static int kfd = -1, ifd = -1, fd_mark = -1;
static char kpath[32], ipath[32];
static char line[CMDLINE_TRY + 1];

/* The current input. */
static struct vm *vm;
static bool firmware;
static const uint8_t *img;       /* the image file's bytes (NULL when past the limit) */
static uint64_t img_size;
static uint64_t initrd_size;
static const char *append;

static unsigned long bz_ok, bz_refused, vmlinux_ok, vmlinux_refused, mb_elf_ok, mb_kludge_ok,
	mb_refused, fw_ok, fw_refused, not_kernel, too_large, initrd_ok, initrd_refused,
	cmdline_refused, ram_refused;

static void stats(FILE *out)
{
	fprintf(out, " bzimage_ok=%lu bzimage_refused=%lu vmlinux_ok=%lu vmlinux_refused=%lu"
	        " multiboot_elf_ok=%lu multiboot_kludge_ok=%lu multiboot_refused=%lu"
	        " firmware_ok=%lu firmware_refused=%lu not_kernel=%lu too_large=%lu"
	        " initrd_ok=%lu initrd_refused=%lu cmdline_refused=%lu ram_refused=%lu",
	        bz_ok, bz_refused, vmlinux_ok, vmlinux_refused, mb_elf_ok, mb_kludge_ok,
	        mb_refused, fw_ok, fw_refused, not_kernel, too_large, initrd_ok, initrd_refused,
	        cmdline_refused, ram_refused);
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* Every loader write passes here: only the ACPI tables (a firmware boot: the shadow
 * copy of the BIOS) may land in the firmware area. */
static void on_write(void *opaque, uint64_t gpa, uint64_t len)
{
	uint64_t lo = firmware ? FW_AREA_END - SHADOW_MAX : PC_ACPI_ADDR;
	uint64_t hi = firmware ? FW_AREA_END : PC_ACPI_ADDR + PC_ACPI_SIZE;
	bool outside = gpa < lo || gpa + len > hi;
	if (firmware ? outside :
	    outside && overlaps(gpa, len, FW_AREA_START, FW_AREA_END - FW_AREA_START))
		fuzz_fail("%s wrote guest RAM at 0x%llx+0x%llx, outside 0x%llx..0x%llx",
		          firmware ? "firmware_load" : "boot_load (in the firmware area)",
		          (unsigned long long)gpa, (unsigned long long)len, (unsigned long long)lo,
		          (unsigned long long)hi);
}

static int open_temp(const char *dir, const char *name, char path[32])
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s/%s-XXXXXX", dir, name);
	int fd = mkstemp(tmp);
	if (fd < 0)
		fuzz_fail("cannot make a temporary file in %s", dir);
	unlink(tmp);             /* nothing left behind, even after a crash */
	snprintf(path, 32, "/proc/self/fd/%d", fd);
	return fd;
}

/* The command line's pattern: words of 7 letters. */
static char line_char(unsigned i)
{
	return i % 8 == 7 ? ' ' : (char)('a' + i % 26);
}

static void setup(void)
{
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	kfd = open_temp(dir, "trivboot-kernel", kpath);
	ifd = open_temp(dir, "trivboot-initrd", ipath);
	for (unsigned i = 0; i < CMDLINE_TRY; i++)
		line[i] = line_char(i);
	log_threshold = LOG_ERROR;    /* hostile input is expected: no warning per input */
	fuzz_stats_at_exit(stats);
}

/* The lowest free descriptor, which each input must leave free. */
static void mark_fds(void)
{
	fd_mark = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(fd_mark);
}

/* The VM with RAM of ram_sizes[i], made on first use, RAM zeroed. */
static struct vm *get_vm(unsigned i)
{
	if (!vms[i]) {
		struct vm_config cfg = { .mem_size = ram_sizes[i], .ncpus = 1, .console_in = -1,
		                         .console_out = -1 };
		struct err e;
		vms[i] = calloc(1, sizeof(*vms[i]));
		if (!vms[i] || vm_init_core(vms[i], &cfg, &e))
			fuzz_fail("vm_init_core: %s", vms[i] ? e.msg : "out of memory");
		vms[i]->mem.write_hook = on_write;
		mark_fds();                   /* the VM holds an eventfd */
		return vms[i];
	}
	struct guest_mem *m = &vms[i]->mem;
	/* Drop the BIOS ROM of a firmware boot (always the last slot, as added). */
	while (m->nslots && m->slots[m->nslots - 1].rom) {
		m->nslots--;
		munmap(m->slots[m->nslots].host, m->slots[m->nslots].size);
	}
	/* Private anonymous RAM: reads back as zeros, and only touched pages cost. */
	for (unsigned s = 0; s < m->nslots; s++)
		madvise(m->slots[s].host, m->slots[s].size, MADV_DONTNEED);
	return vms[i];
}

/* -- the files -------------------------------------------------------------------------- */

static uint8_t initrd_byte(uint64_t off)
{
	return (uint8_t)(off * 167 + initrd_size * 13 + 1);
}

static void write_at(int fd, const void *buf, size_t n, uint64_t off)
{
	if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
		fuzz_fail("cannot write a temporary file");
}

static void make_initrd(void)
{
	uint8_t b[SMALL_INITRD];
	if (ftruncate(ifd, 0) || ftruncate(ifd, (off_t)initrd_size))
		fuzz_fail("cannot size the initrd file to %llu", (unsigned long long)initrd_size);
	if (initrd_size <= SMALL_INITRD) {
		for (uint64_t i = 0; i < initrd_size; i++)
			b[i] = initrd_byte(i);
		write_at(ifd, b, initrd_size, 0);
		return;
	}
	for (uint64_t i = 0; i < MARK; i++) {
		b[i] = initrd_byte(i);
		b[MARK + i] = initrd_byte(initrd_size - MARK + i);
	}
	write_at(ifd, b, MARK, 0);
	write_at(ifd, b + MARK, MARK, initrd_size - MARK);
}

/* -- checks on a loaded guest ------------------------------------------------------------ */

static const uint8_t *ram(uint64_t gpa, uint64_t len, const char *what)
{
	static const uint8_t none;
	if (len == 0)
		return &none;          /* an empty range may sit at the end of RAM */
	const uint8_t *p = mem_ptr(&vm->mem, gpa, len);
	if (!p)
		fuzz_fail("%s at 0x%llx+0x%llx is not in guest RAM", what, (unsigned long long)gpa,
		          (unsigned long long)len);
	return p;
}

static void check_string(uint64_t gpa, const char *want, const char *what)
{
	size_t n = strlen(want) + 1;
	if (memcmp(ram(gpa, n, what), want, n) != 0)
		fuzz_fail("%s at 0x%llx is not the %zu-byte string given", what,
		          (unsigned long long)gpa, n - 1);
}

static void check_initrd(uint64_t gpa, uint64_t size, const char *what)
{
	if (size != initrd_size)
		fuzz_fail("%s: size %llu, the file has %llu", what, (unsigned long long)size,
		          (unsigned long long)initrd_size);
	const uint8_t *p = ram(gpa, size, what);
	for (uint64_t i = 0; i < size; i++) {
		if (size > SMALL_INITRD && i == MARK)
			i = size - MARK;             /* the sparse middle: zeros like the RAM was */
		if (p[i] != initrd_byte(i))
			fuzz_fail("%s at 0x%llx: byte %llu differs from the file", what,
			          (unsigned long long)gpa, (unsigned long long)i);
	}
	if (overlaps(gpa, size, 0, BOOT_AREA_END) ||
	    overlaps(gpa, size, FW_AREA_START, FW_AREA_END - FW_AREA_START))
		fuzz_fail("%s at 0x%llx+0x%llx overlaps the boot data or firmware area", what,
		          (unsigned long long)gpa, (unsigned long long)size);
}

/* The image's bytes [off, off+len) at gpa, and zeros for the next zlen bytes. */
static void check_loaded(uint64_t gpa, uint64_t off, uint64_t len, uint64_t zlen,
                         const char *what)
{
	if (off > img_size || len > img_size - off)
		fuzz_fail("%s: file range 0x%llx+0x%llx outside the %llu-byte file", what,
		          (unsigned long long)off, (unsigned long long)len,
		          (unsigned long long)img_size);
	if (memcmp(ram(gpa, len, what), img + off, len) != 0)
		fuzz_fail("%s at 0x%llx: not the file's bytes at 0x%llx", what,
		          (unsigned long long)gpa, (unsigned long long)off);
	const uint8_t *z = ram(gpa + len, zlen, what);
	for (uint64_t i = 0; i < zlen; i++) {
		if (i == ZERO_CHECK && zlen > 2 * ZERO_CHECK)
			i = zlen - ZERO_CHECK;
		if (z[i])
			fuzz_fail("%s: bss byte at 0x%llx not zero", what,
			          (unsigned long long)(gpa + len + i));
	}
}

/* Where the kernel loaded, for the overlap checks. */
static struct boot_range kr[ELF_MAX_SEGS];
static unsigned nkr;

static void add_kernel_range(uint64_t start, uint64_t len)
{
	if (overlaps(start, len, FW_AREA_START, FW_AREA_END - FW_AREA_START))
		fuzz_fail("kernel at 0x%llx+0x%llx overlaps the firmware area",
		          (unsigned long long)start, (unsigned long long)len);
	kr[nkr++] = (struct boot_range){ start, start + len };
}

static void check_clear_of_kernel(uint64_t gpa, uint64_t len, const char *what)
{
	for (unsigned i = 0; i < nkr; i++)
		if (overlaps(gpa, len, kr[i].start, kr[i].end - kr[i].start))
			fuzz_fail("%s at 0x%llx+0x%llx overlaps the kernel at 0x%llx..0x%llx", what,
			          (unsigned long long)gpa, (unsigned long long)len,
			          (unsigned long long)kr[i].start, (unsigned long long)kr[i].end);
}

/* Each ELF segment no later one overwrote holds its bytes; returns e_entry, physical. */
static uint64_t check_elf(void)
{
	struct boot_image bi = { .path = kpath, .data = (uint8_t *)img, .size = img_size };
	struct elf_info info;
	struct err e;
	if (elf_parse(&bi, &info, &e))
		fuzz_fail("loaded an ELF kernel elf_parse refuses: %s", e.msg);
	for (unsigned i = 0; i < info.nseg; i++) {
		const struct elf_seg *s = &info.seg[i];
		bool later = false;
		for (unsigned j = i + 1; j < info.nseg; j++)
			later |= overlaps(s->paddr, s->memsz, info.seg[j].paddr, info.seg[j].memsz);
		if (!later)
			check_loaded(s->paddr, s->offset, s->filesz, s->memsz - s->filesz, "ELF segment");
		add_kernel_range(s->paddr, s->memsz);
	}
	return elf_entry_phys(&info);
}

static void check_linux(const struct cpu_state *s, bool bz)
{
	if (s->gpr[R_RSI] != BOOT_ZERO_PAGE_ADDR || s->cr3 != BOOT_PML4_ADDR ||
	    !(s->efer & EFER_LMA) || s->seg[S_CS].sel != BOOT_SEL_CODE64)
		fuzz_fail("Linux entry state: RSI 0x%llx CR3 0x%llx EFER 0x%llx CS 0x%x",
		          (unsigned long long)s->gpr[R_RSI], (unsigned long long)s->cr3,
		          (unsigned long long)s->efer, s->seg[S_CS].sel);
	struct boot_params bp;
	memcpy(&bp, ram(BOOT_ZERO_PAGE_ADDR, sizeof(bp), "zero page"), sizeof(bp));

	uint64_t entry, limit = 2047, initrd_end = 0x80000000ull;
	if (bz) {
		unsigned sects = img[SETUP_HDR_OFFSET] ? img[SETUP_HDR_OFFSET] : 4;
		uint64_t setup = (sects + 1ull) * 512, load = bp.hdr.code32_start;
		entry = load + 0x200;
		if (load < BOOT_KERNEL_ADDR)
			fuzz_fail("bzImage loaded at 0x%llx, below 1 MiB", (unsigned long long)load);
		check_loaded(load, setup, img_size - setup, 0, "bzImage kernel");
		add_kernel_range(load, img_size - setup);
		limit = bp.hdr.cmdline_size < BOOT_CMDLINE_MAX - 1 ? bp.hdr.cmdline_size :
		        BOOT_CMDLINE_MAX - 1;
		initrd_end = (uint64_t)bp.hdr.initrd_addr_max + 1;
	} else {
		entry = check_elf();
	}
	if (s->rip != entry || !mem_is_ram(&vm->mem, s->rip, 1))
		fuzz_fail("RIP 0x%llx: the kernel's entry is 0x%llx", (unsigned long long)s->rip,
		          (unsigned long long)entry);
	for (unsigned i = 0; i < nkr; i++)
		if (kr[i].start < BOOT_AREA_END)
			fuzz_fail("kernel at 0x%llx, in the boot data", (unsigned long long)kr[i].start);

	uint64_t cmd = bp.hdr.cmd_line_ptr | (uint64_t)bp.ext_cmd_line_ptr << 32;
	const char *want = append ? append : "";
	if (strlen(want) > limit)
		fuzz_fail("a %zu-byte command line accepted, the limit is %llu", strlen(want),
		          (unsigned long long)limit);
	check_string(cmd, want, "command line");

	uint64_t rd = bp.hdr.ramdisk_image | (uint64_t)bp.ext_ramdisk_image << 32;
	uint64_t rdsize = bp.hdr.ramdisk_size | (uint64_t)bp.ext_ramdisk_size << 32;
	if (vm->cfg.initrd_path) {
		check_initrd(rd, rdsize, "initrd");
		check_clear_of_kernel(rd, rdsize, "initrd");
		if (rd + rdsize > initrd_end)
			fuzz_fail("initrd ends at 0x%llx, past initrd_addr_max",
			          (unsigned long long)(rd + rdsize));
	} else if (rd || rdsize) {
		fuzz_fail("no initrd, but the zero page has one at 0x%llx", (unsigned long long)rd);
	}
	if (bp.e820_entries == 0 || bp.e820_entries > E820_MAX_ZEROPAGE)
		fuzz_fail("%u e820 entries", bp.e820_entries);
}

static void check_multiboot(const struct cpu_state *s, size_t off)
{
	struct mb_header h;
	memcpy(&h, img + off, img_size - off < sizeof(h) ? img_size - off : sizeof(h));
	uint64_t entry;
	if (h.flags & MB_HF_AOUT_KLUDGE) {
		uint64_t file_off = off - (h.header_addr - h.load_addr);
		uint64_t len = h.load_end_addr ? h.load_end_addr - h.load_addr : img_size - file_off;
		uint64_t end = h.bss_end_addr ? h.bss_end_addr : h.load_addr + len;
		check_loaded(h.load_addr, file_off, len, end - h.load_addr - len, "multiboot image");
		add_kernel_range(h.load_addr, end - h.load_addr);
		entry = h.entry_addr;
		mb_kludge_ok++;
	} else {
		entry = check_elf();
		mb_elf_ok++;
	}
	if (s->gpr[R_RAX] != MB_BOOTLOADER_MAGIC || s->rip != entry ||
	    !mem_is_ram(&vm->mem, s->rip, 1) || (s->cr0 & CR0_PG) || (s->efer & EFER_LMA))
		fuzz_fail("multiboot entry state: EAX 0x%llx RIP 0x%llx (entry 0x%llx) CR0 0x%llx",
		          (unsigned long long)s->gpr[R_RAX], (unsigned long long)s->rip,
		          (unsigned long long)entry, (unsigned long long)s->cr0);

	struct mb_info info;
	memcpy(&info, ram(s->gpr[R_RBX], sizeof(info), "multiboot info"), sizeof(info));
	if (!(info.flags & MB_INFO_CMDLINE))
		fuzz_fail("multiboot info flags 0x%x: no command line", info.flags);
	size_t n = strlen(kpath) + (append ? 1 + strlen(append) : 0) + 1;
	char *want = malloc(n);
	if (!want)
		abort();
	snprintf(want, n, "%s%s%s", kpath, append ? " " : "", append ? append : "");
	check_string(info.cmdline, want, "multiboot command line");
	free(want);

	/* The boot data block: from the stack's base to the command line's end. */
	uint64_t base = s->gpr[R_RSP] - MB_STACK_SIZE, end = info.cmdline + n;
	if (s->gpr[R_RBX] != base + MB_INFO_OFF || end < base)
		fuzz_fail("multiboot info at 0x%llx, stack top 0x%llx",
		          (unsigned long long)s->gpr[R_RBX], (unsigned long long)s->gpr[R_RSP]);
	ram(base, end - base, "multiboot boot data");
	check_clear_of_kernel(base, end - base, "multiboot boot data");
	if (overlaps(base, end - base, FW_AREA_START, FW_AREA_END - FW_AREA_START))
		fuzz_fail("multiboot boot data at 0x%llx in the firmware area",
		          (unsigned long long)base);
	ram(info.mmap_addr, info.mmap_length, "multiboot memory map");

	if (!vm->cfg.initrd_path) {
		if (info.mods_count)
			fuzz_fail("no initrd, %u multiboot modules", info.mods_count);
		return;
	}
	struct mb_module mod;
	if (info.mods_count != 1)
		fuzz_fail("an initrd, %u multiboot modules", info.mods_count);
	memcpy(&mod, ram(info.mods_addr, sizeof(mod), "multiboot module list"), sizeof(mod));
	if (mod.mod_start < FW_AREA_END || mod.mod_end < mod.mod_start)
		fuzz_fail("multiboot module at 0x%x..0x%x", mod.mod_start, mod.mod_end);
	check_initrd(mod.mod_start, mod.mod_end - mod.mod_start, "multiboot module");
	check_clear_of_kernel(mod.mod_start, mod.mod_end - mod.mod_start, "multiboot module");
	if (overlaps(mod.mod_start, mod.mod_end - mod.mod_start, base, end - base))
		fuzz_fail("multiboot module overlaps the boot data");
	check_string(mod.string, vm->cfg.initrd_path, "multiboot module string");
}

static void check_firmware(const struct cpu_state *s)
{
	if (s->rip != 0xfff0 || s->seg[S_CS].base != 0xffff0000)
		fuzz_fail("reset state: RIP 0x%llx CS.base 0x%llx", (unsigned long long)s->rip,
		          (unsigned long long)s->seg[S_CS].base);
	const uint8_t *rom = mem_ptr_ro(&vm->mem, MEM_4G - img_size, img_size);
	if (!rom || memcmp(rom, img, img_size) != 0)
		fuzz_fail("the BIOS is not mapped below 4 GiB as the file has it");
	uint64_t shadow = img_size < SHADOW_MAX ? img_size : SHADOW_MAX;
	if (memcmp(ram(FW_AREA_END - shadow, shadow, "BIOS shadow"), img + img_size - shadow,
	           shadow) != 0)
		fuzz_fail("the BIOS's shadow below 1 MiB is not the file's end");
}

/* -- one input ----------------------------------------------------------------------------- */

enum kind { K_FIRMWARE, K_BZIMAGE, K_MULTIBOOT, K_VMLINUX, K_NONE, K_LARGE };

static enum kind classify(size_t *mb_off)
{
	if (firmware)
		return K_FIRMWARE;
	if (!img)
		return K_LARGE;
	if (linux_is_bzimage(img, img_size))
		return K_BZIMAGE;
	if (multiboot_find_header(img, img_size, mb_off))
		return K_MULTIBOOT;
	return elf_is_elf(img, img_size) ? K_VMLINUX : K_NONE;
}

static void run(void)
{
	struct cpu_state s;
	struct err e = { { 0 } };
	size_t mb_off = 0;
	enum kind k = classify(&mb_off);

	nkr = 0;
	memset(&s, 0xa5, sizeof(s));
	int r = boot_load(vm, &s, &e);
	if (r > 0 || (r < 0 && !e.msg[0]))
		fuzz_fail("boot_load returned %d with message \"%s\"", r, e.msg);
	if (r < 0) {
		/* What bad files and small guests give: anything else (EFAULT: a write its
		 * own range check let through failed) is a loader bug. */
		if (r != -ENOEXEC && r != -E2BIG && r != -ENOMEM && r != -EFBIG && r != -EINVAL)
			fuzz_fail("boot_load: %d (%s)", r, e.msg);
		if (k == K_LARGE && r != -EFBIG && mem_low_end(&vm->mem) >= FW_AREA_END)
			fuzz_fail("an oversized kernel file refused with %d (%s)", r, e.msg);
		unsigned long *c[] = { &fw_refused, &bz_refused, &mb_refused, &vmlinux_refused,
		                       &not_kernel, &too_large };
		(*c[k])++;
		initrd_refused += strstr(e.msg, "initrd") != NULL;
		cmdline_refused += strstr(e.msg, "command line") != NULL;
		ram_refused += r == -E2BIG || r == -ENOMEM;
		return;
	}
	switch (k) {
	case K_FIRMWARE: check_firmware(&s); fw_ok++; break;
	case K_BZIMAGE: check_linux(&s, true); bz_ok++; break;
	case K_VMLINUX: check_linux(&s, false); vmlinux_ok++; break;
	case K_MULTIBOOT: check_multiboot(&s, mb_off); break;
	default: fuzz_fail("boot_load accepted a file it should not (kind %d)", k);
	}
	initrd_ok += vm->cfg.initrd_path != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (kfd < 0)
		setup();
	struct fz f = { data, size };
	uint8_t flags = fz_u8(&f);
	unsigned ri = fz_u8(&f) % NRAM;
	uint32_t clen = fz_u32(&f) % CMDLINE_TRY;
	uint8_t isel = fz_u8(&f);
	uint32_t ival = fz_u32(&f);
	uint8_t ksel = fz_u8(&f);
	uint32_t kval = fz_u32(&f);
	uint64_t rsize = ram_sizes[ri];

	vm = get_vm(ri);
	firmware = flags & 1;
	vm->ncpus = vm->cfg.ncpus = ncpus_choice[(flags >> 3) & 3];
	vm->cfg.display = flags & 2 ? VM_DISPLAY_TEXT : VM_DISPLAY_NONE;
	vm->cfg.virtio_transport = flags & 4 ? VM_VIRTIO_MMIO : VM_VIRTIO_PCI;
	vm->cfg.rng = flags & 4;
	vm->cfg.console = flags & 4 ? VM_CONSOLE_VIRTIO : VM_CONSOLE_SERIAL;
	append = vm->cfg.append = flags & 0x20 ? NULL : line;
	line[clen] = 0;

	switch (isel % 4) {
	case 0: initrd_size = 0; break;
	case 1: initrd_size = ival % SMALL_INITRD; break;
	case 2: initrd_size = rsize - ival % rsize; break;
	default: initrd_size = (uint64_t)ival << 12; break;
	}
	vm->cfg.initrd_path = isel % 4 ? ipath : NULL;
	if (vm->cfg.initrd_path)
		make_initrd();

	switch (ksel % 4) {
	case 0: img_size = f.n; break;
	case 1: img_size = 64 * KiB * (1 + kval % 256); break;
	case 2: img_size = kval % (FIRMWARE_MAX_SIZE + 8 * KiB); break;
	default: img_size = firmware ? FIRMWARE_MAX_SIZE + 4 * KiB : KERNEL_LIMIT + 1; break;
	}
	size_t head = f.n < img_size ? f.n : (size_t)img_size;
	uint8_t *buf = NULL;
	if (img_size <= FIRMWARE_MAX_SIZE + 8 * KiB) {     /* a copy for the checks */
		buf = calloc(1, img_size ? img_size : 1);
		if (!buf)
			abort();
		memcpy(buf, f.p, head);
	}
	img = buf;
	if (ftruncate(kfd, 0) || ftruncate(kfd, (off_t)img_size))
		fuzz_fail("cannot size the image file");
	write_at(kfd, f.p, head, 0);
	vm->cfg.kernel_path = firmware ? NULL : kpath;
	vm->cfg.bios_path = firmware ? kpath : NULL;

	run();

	line[clen] = line_char(clen);
	free(buf);
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd != fd_mark)
		fuzz_fail("a file descriptor leaked (next free is %d, was %d)", fd, fd_mark);
	close(fd);
	return 0;
}
