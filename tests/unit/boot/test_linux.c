/* Linux loaders: setup header checks, bzImage and vmlinux loading into a RAM-only VM,
 * zero page contents, initrd placement, command line limits, entry state, and a
 * mutation pass that must never crash. */
#include <errno.h>

#include "../check.h"
#include "boot/boot.h"
#include "boot/bootparam.h"
#include "boot/loader.h"
#include "boot_test.h"
#include "hw/pc.h"

#define MiB (1ull << 20)
#define KSIZE 8192

/* A synthetic bzImage: 4 setup sectors (+ boot sector) and KSIZE bytes of "kernel". */
static uint8_t *fake_bzimage(size_t *size)
{
	size_t setup = 5 * 512;
	uint8_t *b = calloc(1, setup + KSIZE);
	b[0x1f1] = 4;                                   /* setup_sects */
	poke32(b + 0x1f4, KSIZE / 16);                  /* syssize */
	poke16(b + 0x1fe, 0xaa55);
	b[0x200] = 0xeb;                                /* jmp to the end of the header */
	b[0x201] = 0x26c - 0x202;
	poke32(b + 0x202, 0x53726448);                  /* HdrS */
	poke16(b + 0x206, 0x020f);
	b[0x211] = LOADED_HIGH;
	poke32(b + 0x214, 0x100000);
	poke32(b + 0x22c, 0x37ffffff);                  /* initrd_addr_max */
	poke32(b + 0x230, 0x200000);                    /* kernel_alignment */
	b[0x234] = 1;                                   /* relocatable */
	poke16(b + 0x236, XLF_KERNEL_64);
	poke32(b + 0x238, 255);                         /* cmdline_size */
	poke64(b + 0x258, 0x1000000);                   /* pref_address */
	poke32(b + 0x260, 0x400000);                    /* init_size */
	for (size_t i = 0; i < KSIZE; i++)
		b[setup + i] = (uint8_t)(i * 7 + 1);
	*size = setup + KSIZE;
	return b;
}

static int load_buf(struct vm *vm, const uint8_t *buf, size_t len, struct cpu_state *s,
                    struct err *e)
{
	char path[64];
	write_temp(path, buf, len);
	vm->cfg.kernel_path = path;
	int r = boot_load(vm, s, e);
	unlink(path);
	vm->cfg.kernel_path = NULL;
	return r;
}

static void test_setup_header(void)
{
	size_t n;
	uint8_t *b = fake_bzimage(&n);
	struct boot_image img = { .path = "k", .data = b, .size = n };
	struct setup_header h;
	struct err e = { { 0 } };

	CHECK_EQ(linux_check_setup_header(&img, &h, &e), 0);
	CHECK_EQ(h.version, 0x020f);
	CHECK_EQ(h.setup_sects, 4);
	CHECK_EQ(h.pref_address, 0x1000000);
	CHECK_EQ(h.init_size, 0x400000);

	b[0x1f1] = 0;                                   /* 0 means 4 */
	CHECK_EQ(linux_check_setup_header(&img, &h, &e), 0);
	CHECK_EQ(h.setup_sects, 4);

	poke16(b + 0x206, 0x0205);
	CHECK_EQ(linux_check_setup_header(&img, &h, &e), -ENOEXEC);
	CHECK(strstr(e.msg, "too old") != NULL);
	poke16(b + 0x206, 0x020b);                      /* no xloadflags yet */
	CHECK_EQ(linux_check_setup_header(&img, &h, &e), -ENOEXEC);
	CHECK(strstr(e.msg, "64-bit") != NULL);
	poke16(b + 0x206, 0x020f);

	poke16(b + 0x236, 0);
	CHECK_EQ(linux_check_setup_header(&img, &h, &e), -ENOEXEC);
	poke16(b + 0x236, XLF_KERNEL_64);
	b[0x211] = 0;
	CHECK_EQ(linux_check_setup_header(&img, &h, &e), -ENOEXEC);
	b[0x211] = LOADED_HIGH;

	poke32(b + 0x202, 0x53726449);                  /* bad magic */
	CHECK(!linux_is_bzimage(b, n));
	CHECK_EQ(linux_check_setup_header(&img, &h, &e), -ENOEXEC);
	poke32(b + 0x202, 0x53726448);
	poke16(b + 0x1fe, 0x55aa);
	CHECK(!linux_is_bzimage(b, n));
	poke16(b + 0x1fe, 0xaa55);
	CHECK(linux_is_bzimage(b, n));

	/* Truncations: inside the header, at the end of the setup sectors. */
	img.size = 0x210;
	CHECK_EQ(linux_check_setup_header(&img, &h, &e), -ENOEXEC);
	CHECK(strstr(e.msg, "truncated") != NULL);
	img.size = 0x204;
	CHECK_EQ(linux_check_setup_header(&img, &h, &e), -ENOEXEC);
	img.size = 5 * 512;
	CHECK_EQ(linux_check_setup_header(&img, &h, &e), -ENOEXEC);
	CHECK(strstr(e.msg, "truncated") != NULL);
	img.size = n - 1;                               /* the kernel's last byte missing */
	CHECK_EQ(linux_check_setup_header(&img, &h, &e), -ENOEXEC);
	CHECK(strstr(e.msg, "truncated") != NULL);
	img.size = n;
	b[0x201] = 0x20;                                /* header ends before cmdline_size */
	CHECK_EQ(linux_check_setup_header(&img, &h, &e), -ENOEXEC);
	free(b);
}

static void test_bzimage_load(void)
{
	size_t n;
	uint8_t *b = fake_bzimage(&n);
	struct vm *vm = test_vm(64 * MiB);
	struct cpu_state s;
	struct err e = { { 0 } };

	vm->cfg.append = "console=ttyS0 quiet";
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	/* Kernel at pref_address. */
	CHECK(memcmp(gptr(vm, 0x1000000, KSIZE), b + 5 * 512, KSIZE) == 0);
	/* Entry state: 64-bit, RSI = zero page, RIP = load + 0x200. */
	CHECK_EQ(s.rip, 0x1000200);
	CHECK_EQ(s.gpr[R_RSI], BOOT_ZERO_PAGE_ADDR);
	CHECK_EQ(s.cr0 & (CR0_PE | CR0_PG), CR0_PE | CR0_PG);
	CHECK_EQ(s.cr4 & CR4_PAE, CR4_PAE);
	CHECK_EQ(s.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
	CHECK_EQ(s.cr3, BOOT_PML4_ADDR);
	CHECK_EQ(s.seg[S_CS].sel, 0x10);
	CHECK(s.seg[S_CS].attr & SEG_ATTR_L);
	CHECK(!(s.seg[S_CS].attr & SEG_ATTR_DB));
	CHECK_EQ(s.seg[S_DS].sel, 0x18);
	CHECK_EQ(s.seg[S_SS].sel, 0x18);
	CHECK_EQ(s.rflags & (1u << 9), 0);            /* IF clear */
	CHECK_EQ(s.tr.attr & 0xf, 0xb);
	/* GDT descriptors match the cached segments. */
	const uint8_t *gdt = gptr(vm, s.gdt.base, s.gdt.limit + 1u);
	CHECK_EQ(peek64(gdt + 0x10), 0x00af9b000000ffffull);
	CHECK_EQ(peek64(gdt + 0x18), 0x00cf93000000ffffull);
	CHECK_EQ(peek64(gdt + 0x08), 0x00cf9b000000ffffull);
	/* Identity page tables: PML4[0] -> PDPT, PDPT[3] -> 4th PD, 2 MiB pages. */
	CHECK_EQ(peek64(gptr(vm, BOOT_PML4_ADDR, 8)) & ~0xfffull, BOOT_PDPT_ADDR);
	CHECK_EQ(peek64(gptr(vm, BOOT_PDPT_ADDR + 24, 8)) & ~0xfffull, BOOT_PD_ADDR + 3 * 4096);
	CHECK_EQ(peek64(gptr(vm, BOOT_PD_ADDR + 3 * 4096 + 511 * 8, 8)),
	         0xffe00000ull | 0x83);
	CHECK_EQ(peek64(gptr(vm, BOOT_PD_ADDR + 8, 8)), 0x200000ull | 0x83);

	/* Zero page. */
	const struct boot_params *bp = (const void *)gptr(vm, BOOT_ZERO_PAGE_ADDR, 4096);
	CHECK_EQ(bp->hdr.boot_flag, 0xaa55);
	CHECK_EQ(bp->hdr.header, 0x53726448);
	CHECK_EQ(bp->hdr.type_of_loader, 0xff);
	CHECK_EQ(bp->hdr.code32_start, 0x1000000);
	CHECK_EQ(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	CHECK_STR((const char *)gptr(vm, bp->hdr.cmd_line_ptr, 32), "console=ttyS0 quiet");
	CHECK_EQ(bp->hdr.ramdisk_image, 0);
	CHECK_EQ(bp->hdr.ramdisk_size, 0);
	CHECK_EQ(bp->acpi_rsdp_addr, PC_ACPI_ADDR);
	CHECK_EQ(bp->e820_entries, 5);
	CHECK_EQ(bp->e820_table[0].addr, 0);
	CHECK_EQ(bp->e820_table[0].size, 0x9fc00);
	CHECK_EQ(bp->e820_table[0].type, E820_RAM);
	CHECK_EQ(bp->e820_table[2].addr, 0x100000);
	CHECK_EQ(bp->e820_table[2].size, 63 * MiB);
	CHECK(memcmp(gptr(vm, PC_ACPI_ADDR, 8), "RSD PTR ", 8) == 0);

	/* Not relocatable: loaded at 1 MiB, still needs RAM at pref_address + init_size. */
	b[0x234] = 0;
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	CHECK_EQ(s.rip, 0x100200);
	CHECK(memcmp(gptr(vm, 0x100000, KSIZE), b + 5 * 512, KSIZE) == 0);
	b[0x234] = 1;
	test_vm_free(vm);

	/* Too little memory for pref_address + init_size (16 + 4 MiB). */
	vm = test_vm(16 * MiB);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -E2BIG);
	CHECK(strstr(e.msg, "20 MiB") != NULL);
	test_vm_free(vm);

	/* Boot protocol 2.13: no acpi_rsdp_addr. */
	vm = test_vm(64 * MiB);
	poke16(b + 0x206, 0x020d);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	bp = (const void *)gptr(vm, BOOT_ZERO_PAGE_ADDR, 4096);
	CHECK_EQ(bp->acpi_rsdp_addr, 0);
	poke16(b + 0x206, 0x020f);
	test_vm_free(vm);
	free(b);
}

static void test_cmdline_limit(void)
{
	size_t n;
	uint8_t *b = fake_bzimage(&n);
	struct vm *vm = test_vm(64 * MiB);
	struct cpu_state s;
	struct err e = { { 0 } };
	char line[300];

	memset(line, 'a', 255);
	line[255] = 0;
	vm->cfg.append = line;
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);       /* exactly cmdline_size */
	line[255] = 'a';
	line[256] = 0;
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -E2BIG);
	CHECK(strstr(e.msg, "command line too long") != NULL);
	test_vm_free(vm);
	free(b);
}

static void test_place(void)
{
	uint64_t a;
	CHECK_EQ(boot_place(10000, 0x2000000, 0x4000000, true, &a), 0);
	CHECK_EQ(a, (0x4000000 - 10000) & ~0xfffull);
	CHECK_EQ(boot_place(10000, 0x2000001, 0x4000000, false, &a), 0);
	CHECK_EQ(a, 0x2001000);
	CHECK_EQ(boot_place(0x1000, 0x3fff000, 0x4000000, true, &a), 0);
	CHECK_EQ(a, 0x3fff000);
	CHECK_EQ(boot_place(0x1001, 0x3fff000, 0x4000000, true, &a), -ENOMEM);
	CHECK_EQ(boot_place(0x1000, 0x3fff001, 0x4000000, false, &a), -ENOMEM);
	CHECK_EQ(boot_place(0x5000000, 0, 0x4000000, true, &a), -ENOMEM);
	CHECK_EQ(boot_place(1, UINT64_MAX - 10, UINT64_MAX, false, &a), -ENOMEM);
}

static void test_initrd(void)
{
	size_t n;
	uint8_t *b = fake_bzimage(&n);
	struct vm *vm = test_vm(64 * MiB);
	struct cpu_state s;
	struct err e = { { 0 } };
	char ipath[64];
	static uint8_t initrd[10000];

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	write_temp(ipath, initrd, sizeof(initrd));
	vm->cfg.initrd_path = ipath;

	/* Highest page below the end of RAM. */
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	const struct boot_params *bp = (const void *)gptr(vm, BOOT_ZERO_PAGE_ADDR, 4096);
	CHECK_EQ(bp->hdr.ramdisk_image, (64 * MiB - sizeof(initrd)) & ~0xfffull);
	CHECK_EQ(bp->hdr.ramdisk_size, sizeof(initrd));
	CHECK_EQ(bp->ext_ramdisk_image, 0);
	CHECK(memcmp(gptr(vm, bp->hdr.ramdisk_image, sizeof(initrd)), initrd, sizeof(initrd)) == 0);

	/* Below initrd_addr_max (inclusive limit). */
	poke32(b + 0x22c, 0x2ffffff);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	bp = (const void *)gptr(vm, BOOT_ZERO_PAGE_ADDR, 4096);
	CHECK_EQ(bp->hdr.ramdisk_image, (48 * MiB - sizeof(initrd)) & ~0xfffull);

	/* initrd_addr_max inside the kernel (16 MiB + init_size 4 MiB): no room. */
	poke32(b + 0x22c, 0x13fffff);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOMEM);
	CHECK(strstr(e.msg, "initrd") != NULL);
	poke32(b + 0x22c, 0x37ffffff);

	/* Only just fits above the kernel's init_size end (20 MiB). */
	test_vm_free(vm);
	vm = test_vm(20 * MiB + 0x3000);
	vm->cfg.initrd_path = ipath;
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	bp = (const void *)gptr(vm, BOOT_ZERO_PAGE_ADDR, 4096);
	CHECK_EQ(bp->hdr.ramdisk_image, 20 * MiB);
	test_vm_free(vm);
	vm = test_vm(20 * MiB + 0x2000);
	vm->cfg.initrd_path = ipath;
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOMEM);
	CHECK(strstr(e.msg, "21 MiB") != NULL);

	/* Missing initrd. */
	vm->cfg.initrd_path = "/nonexistent/initrd.img";
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOENT);
	CHECK(strstr(e.msg, "/nonexistent/initrd.img") != NULL);
	unlink(ipath);
	test_vm_free(vm);
	free(b);
}

static void test_bad_files(void)
{
	struct vm *vm = test_vm(64 * MiB);
	struct cpu_state s;
	struct err e = { { 0 } };
	uint8_t junk[4096];

	vm->cfg.kernel_path = "/nonexistent/vmlinuz";
	CHECK_EQ(boot_load(vm, &s, &e), -ENOENT);
	CHECK(strstr(e.msg, "/nonexistent/vmlinuz") != NULL);
	vm->cfg.kernel_path = "/";
	CHECK(boot_load(vm, &s, &e) < 0);

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 13);
	CHECK_EQ(load_buf(vm, junk, sizeof(junk), &s, &e), -ENOEXEC);
	CHECK(strstr(e.msg, "not a bzImage, ELF or multiboot kernel") != NULL);
	CHECK_EQ(load_buf(vm, junk, 0, &s, &e), -ENOEXEC);
	CHECK_EQ(load_buf(vm, (const uint8_t *)"\177ELF", 4, &s, &e), -ENOEXEC);
	test_vm_free(vm);

	/* Less than 1 MiB of RAM. */
	vm = test_vm(512 * 1024);
	CHECK_EQ(load_buf(vm, junk, sizeof(junk), &s, &e), -ENOMEM);
	test_vm_free(vm);
}

/* A minimal ELF64 vmlinux: one PT_LOAD at 16 MiB physical (virtual 0xffffffff81000000). */
static uint8_t *fake_vmlinux(size_t *size)
{
	size_t n = 0x1000 + 0x100;
	uint8_t *b = calloc(1, n);
	memcpy(b, "\177ELF", 4);
	b[4] = 2;                                       /* ELFCLASS64 */
	b[5] = 1;                                       /* little endian */
	b[6] = 1;
	poke16(b + 16, 2);                              /* ET_EXEC */
	poke16(b + 18, 62);                             /* EM_X86_64 */
	poke32(b + 20, 1);
	poke64(b + 24, 0x1000000);                      /* e_entry (physical) */
	poke64(b + 32, 64);                             /* e_phoff */
	poke16(b + 52, 64);
	poke16(b + 54, 56);                             /* e_phentsize */
	poke16(b + 56, 1);                              /* e_phnum */
	uint8_t *ph = b + 64;
	poke32(ph, 1);                                  /* PT_LOAD */
	poke64(ph + 8, 0x1000);                         /* p_offset */
	poke64(ph + 16, 0xffffffff81000000ull);         /* p_vaddr */
	poke64(ph + 24, 0x1000000);                     /* p_paddr */
	poke64(ph + 32, 0x100);                         /* p_filesz */
	poke64(ph + 40, 0x3000);                        /* p_memsz */
	for (int i = 0; i < 0x100; i++)
		b[0x1000 + i] = (uint8_t)(0x90 + i);
	*size = n;
	return b;
}

static void test_vmlinux(void)
{
	size_t n;
	uint8_t *b = fake_vmlinux(&n);
	struct vm *vm = test_vm(64 * MiB);
	struct cpu_state s;
	struct err e = { { 0 } };

	vm->cfg.append = "root=/dev/vda";
	memset(gptr(vm, 0x1000100, 16), 0xcc, 16);      /* bss must be cleared */
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	CHECK(memcmp(gptr(vm, 0x1000000, 0x100), b + 0x1000, 0x100) == 0);
	CHECK_EQ(gptr(vm, 0x1000100, 1)[0], 0);
	CHECK_EQ(s.rip, 0x1000000);
	CHECK_EQ(s.gpr[R_RSI], BOOT_ZERO_PAGE_ADDR);
	CHECK(s.efer & EFER_LMA);
	const struct boot_params *bp = (const void *)gptr(vm, BOOT_ZERO_PAGE_ADDR, 4096);
	CHECK_EQ(bp->hdr.boot_flag, 0xaa55);
	CHECK_EQ(bp->hdr.header, 0x53726448);
	CHECK(bp->hdr.version >= 0x0206);
	CHECK_EQ(bp->hdr.type_of_loader, 0xff);
	CHECK(bp->hdr.cmdline_size >= 255);
	CHECK_STR((const char *)gptr(vm, bp->hdr.cmd_line_ptr, 16), "root=/dev/vda");
	CHECK_EQ(bp->e820_entries, 5);

	/* Virtual e_entry is translated through the segment. */
	poke64(b + 24, 0xffffffff81000010ull);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	CHECK_EQ(s.rip, 0x1000010);
	/* Entry outside the segments. */
	poke64(b + 24, 0x2000000);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	poke64(b + 24, 0x1000000);
	/* Segment past the end of the file. */
	CHECK_EQ(load_buf(vm, b, n - 1, &s, &e), -ENOEXEC);
	CHECK(strstr(e.msg, "truncated") != NULL);
	/* Program headers outside the file. */
	poke64(b + 32, 0x10000);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	poke64(b + 32, 64);
	/* Segment over the boot data. */
	poke64(b + 64 + 24, 0x8000);
	poke64(b + 24, 0x8000);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	CHECK(strstr(e.msg, "overlaps") != NULL);
	/* Segment past the end of RAM. */
	poke64(b + 64 + 24, 0x3fff000);
	poke64(b + 24, 0x3fff000);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -E2BIG);
	/* Segment at the top of the address space (wraps). */
	poke64(b + 64 + 24, UINT64_MAX - 0xfff);
	CHECK(load_buf(vm, b, n, &s, &e) < 0);
	test_vm_free(vm);
	free(b);
}

/* Random byte mutations and truncations of each image kind: any result but a crash. */
static void test_mutations(void)
{
	struct vm *vm = test_vm(32 * MiB);
	struct cpu_state s;
	struct err e;
	size_t nb, nv;
	uint8_t *bz = fake_bzimage(&nb), *vl = fake_vmlinux(&nv);
	unsigned seed = 12345, ok = 0;

	for (int it = 0; it < 400; it++) {
		const uint8_t *src = it & 1 ? vl : bz;
		size_t n = it & 1 ? nv : nb;
		uint8_t *m = malloc(n);
		memcpy(m, src, n);
		for (int k = 0; k < 4; k++) {
			seed = seed * 1103515245 + 12345;
			size_t pos = (it & 1) ? (seed >> 8) % 128 : 0x1f0 + (seed >> 8) % 0x80;
			m[pos] = (uint8_t)(seed >> 20);
		}
		seed = seed * 1103515245 + 12345;
		size_t len = (seed >> 8) % 4 == 0 ? (seed >> 10) % n : n;
		if (load_buf(vm, m, len, &s, &e) == 0)
			ok++;
		free(m);
	}
	CHECK(ok < 400);
	free(bz);
	free(vl);
	test_vm_free(vm);
}

/* The built 64-bit test guests (hello64.elf, hello64.bzimage) load and enter at their
 * 64-bit entry point with the zero page filled. */
static void test_guest(const char *path)
{
	struct vm *vm = test_vm(64 * MiB);
	struct cpu_state s;
	struct err e = { { 0 } };

	vm->cfg.kernel_path = path;
	vm->cfg.append = "console=ttyS0";
	int r = boot_load(vm, &s, &e);
	if (r)
		fprintf(stderr, "%s: %s\n", path, e.msg);
	CHECK_EQ(r, 0);
	if (r == 0) {
		CHECK(s.efer & EFER_LMA);
		CHECK_EQ(s.gpr[R_RSI], BOOT_ZERO_PAGE_ADDR);
		CHECK(s.rip >= 0x1000000 && s.rip < 0x1002000);
		CHECK_EQ(gptr(vm, s.rip, 1)[0], 0xfa);         /* cli */
		const struct boot_params *bp = (const void *)gptr(vm, BOOT_ZERO_PAGE_ADDR, 4096);
		CHECK_EQ(bp->hdr.type_of_loader, 0xff);
		CHECK_STR((const char *)gptr(vm, bp->hdr.cmd_line_ptr, 14), "console=ttyS0");
	}
	test_vm_free(vm);
}

int main(int argc, char **argv)
{
	test_setup_header();
	test_bzimage_load();
	test_cmdline_limit();
	test_place();
	test_initrd();
	test_bad_files();
	test_vmlinux();
	test_mutations();
	for (int i = 1; i < argc; i++)
		test_guest(argv[i]);
	return check_done();
}
