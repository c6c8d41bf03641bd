/* Multiboot v1 loader: header search and checksum, the address-kludge and ELF forms,
 * the info structure (memory, mmap, command line, module, loader name), the 32-bit entry
 * state, boot data placed clear of kernels that load low, refused layouts. Arguments, if
 * any, are the built test guests (hello.elf, hello_kludge.bin, hello_low.elf) to load. */
#include <errno.h>

#include "../check.h"
#include "boot/boot.h"
#include "boot/e820.h"
#include "boot/loader.h"
#include "boot/multiboot.h"
#include "boot_test.h"

#define MiB (1ull << 20)

static void put_header(uint8_t *p, uint32_t flags)
{
	poke32(p, MB_HEADER_MAGIC);
	poke32(p + 4, flags);
	poke32(p + 8, (uint32_t)-(MB_HEADER_MAGIC + flags));
}

static void test_find_header(void)
{
	static uint8_t b[12000];
	size_t off;

	memset(b, 0, sizeof(b));
	CHECK(!multiboot_find_header(b, sizeof(b), &off));
	put_header(b + 64, 3);
	CHECK(multiboot_find_header(b, sizeof(b), &off));
	CHECK_EQ(off, 64);
	CHECK(!multiboot_find_header(b, 70, &off));   /* header cut by the file end */
	poke32(b + 72, 0);                            /* bad checksum */
	CHECK(!multiboot_find_header(b, sizeof(b), &off));
	memset(b, 0, sizeof(b));
	put_header(b + 66, 3);                        /* not 32-bit aligned */
	CHECK(!multiboot_find_header(b, sizeof(b), &off));
	memset(b, 0, sizeof(b));
	put_header(b + 8180, 3);                      /* last slot inside 8192 bytes */
	CHECK(multiboot_find_header(b, sizeof(b), &off));
	CHECK_EQ(off, 8180);
	memset(b, 0, sizeof(b));
	put_header(b + 8184, 3);                      /* straddles the 8192-byte limit */
	CHECK(!multiboot_find_header(b, sizeof(b), &off));
	memset(b, 0, sizeof(b));
	put_header(b + 8192, 3);
	CHECK(!multiboot_find_header(b, sizeof(b), &off));
}

#define KL_ADDR  0x100000u
#define KL_SIZE  0x400u
#define KL_BSS   0x102000u
#define KL_ENTRY 0x100040u

/* A flat image: 16 bytes of padding, header at offset 16 (address 0x100010). */
static uint8_t *fake_kludge(size_t *size)
{
	uint8_t *b = calloc(1, KL_SIZE);
	uint32_t flags = MB_HF_PAGE_ALIGN | MB_HF_MEMORY_INFO | MB_HF_AOUT_KLUDGE;
	put_header(b + 16, flags);
	poke32(b + 28, KL_ADDR + 16);                 /* header_addr */
	poke32(b + 32, KL_ADDR);                      /* load_addr */
	poke32(b + 36, 0);                            /* load_end_addr: whole file */
	poke32(b + 40, KL_BSS);                       /* bss_end_addr */
	poke32(b + 44, KL_ENTRY);                     /* entry_addr */
	for (unsigned i = 0x40; i < KL_SIZE; i++)
		b[i] = (uint8_t)i;
	*size = KL_SIZE;
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

static void check_entry32(const struct cpu_state *s, uint64_t eip)
{
	CHECK_EQ(s->rip, eip);
	CHECK_EQ(s->gpr[R_RAX], MB_BOOTLOADER_MAGIC);
	CHECK(s->gpr[R_RBX] != 0 && s->gpr[R_RBX] < 0x100000000ull);
	CHECK_EQ(s->cr0 & (CR0_PE | CR0_PG), CR0_PE);
	CHECK_EQ(s->efer & EFER_LMA, 0);
	CHECK_EQ(s->rflags & (1u << 9 | 1u << 17), 0);  /* IF and VM clear */
	for (int i = 0; i < S__COUNT; i++) {
		CHECK_EQ(s->seg[i].base, 0);
		CHECK_EQ(s->seg[i].limit, 0xffffffff);
		CHECK(s->seg[i].attr & SEG_ATTR_DB);
		CHECK(!(s->seg[i].attr & SEG_ATTR_L));
	}
	CHECK(s->seg[S_CS].attr & 0x8);             /* code */
	CHECK(!(s->seg[S_DS].attr & 0x8));          /* data */
}

static void test_kludge(void)
{
	size_t n;
	uint8_t *b = fake_kludge(&n);
	struct vm *vm = test_vm(64 * MiB);
	struct cpu_state s;
	struct err e = { { 0 } };
	char kpath[64], ipath[64];
	static uint8_t initrd[5000];

	memset(initrd, 0xab, sizeof(initrd));
	write_temp(ipath, initrd, sizeof(initrd));
	write_temp(kpath, b, n);
	vm->cfg.kernel_path = kpath;
	vm->cfg.initrd_path = ipath;
	vm->cfg.append = "console=ttyS0 foo=bar";
	memset(gptr(vm, KL_ADDR + KL_SIZE, 16), 0xcc, 16);      /* bss gets cleared */
	CHECK_EQ(boot_load(vm, &s, &e), 0);
	check_entry32(&s, KL_ENTRY);
	CHECK(memcmp(gptr(vm, KL_ADDR, KL_SIZE), b, KL_SIZE) == 0);
	CHECK_EQ(gptr(vm, KL_ADDR + KL_SIZE, 1)[0], 0);

	const struct mb_info *mi = (const void *)gptr(vm, s.gpr[R_RBX], sizeof(*mi));
	CHECK(s.gpr[R_RBX] < 0x9fc00);                /* in conventional memory */
	CHECK_EQ(mi->flags & (MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MODS | MB_INFO_MEM_MAP |
	                      MB_INFO_LOADER_NAME),
	         MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MODS | MB_INFO_MEM_MAP |
	         MB_INFO_LOADER_NAME);
	CHECK_EQ(mi->mem_lower, 639);
	CHECK_EQ(mi->mem_upper, 63 * 1024);
	char want[128];
	snprintf(want, sizeof(want), "%s console=ttyS0 foo=bar", kpath);
	CHECK_STR((const char *)gptr(vm, mi->cmdline, strlen(want) + 1), want);
	CHECK_STR((const char *)gptr(vm, mi->boot_loader_name, 9), "trivisor");

	CHECK_EQ(mi->mods_count, 1);
	const struct mb_module *mod = (const void *)gptr(vm, mi->mods_addr, sizeof(*mod));
	CHECK_EQ(mod->mod_start, KL_BSS);             /* first page after the kernel */
	CHECK_EQ(mod->mod_end, KL_BSS + sizeof(initrd));
	CHECK(memcmp(gptr(vm, mod->mod_start, sizeof(initrd)), initrd, sizeof(initrd)) == 0);
	CHECK_STR((const char *)gptr(vm, mod->string, strlen(ipath) + 1), ipath);

	/* mmap = the e820 map, in 24-byte entries whose size field says 20. */
	struct e820_entry map[16];
	unsigned nmap = e820_build(&vm->mem, map, 16);
	CHECK_EQ(mi->mmap_length, nmap * 24);
	const uint8_t *mm = gptr(vm, mi->mmap_addr, mi->mmap_length);
	for (unsigned i = 0; i < nmap; i++) {
		CHECK_EQ(peek32(mm + 24 * i), 20);
		CHECK_EQ(peek64(mm + 24 * i + 4), map[i].addr);
		CHECK_EQ(peek64(mm + 24 * i + 12), map[i].size);
		CHECK_EQ(peek32(mm + 24 * i + 20), map[i].type);
	}
	CHECK_EQ(peek32(mm + 20), 1);                 /* first entry: RAM at 0 */

	/* No append, no initrd: cmdline is the path alone, no modules. */
	vm->cfg.append = NULL;
	vm->cfg.initrd_path = NULL;
	CHECK_EQ(boot_load(vm, &s, &e), 0);
	mi = (const void *)gptr(vm, s.gpr[R_RBX], sizeof(*mi));
	CHECK_STR((const char *)gptr(vm, mi->cmdline, strlen(kpath) + 1), kpath);
	CHECK_EQ(mi->mods_count, 0);
	unlink(kpath);
	unlink(ipath);

	/* load_end_addr inside the file. */
	poke32(b + 36, KL_ADDR + 0x100);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	CHECK_EQ(gptr(vm, KL_ADDR + 0x100, 1)[0], 0);  /* rest is bss */
	/* ... or past its end. */
	poke32(b + 36, KL_ADDR + KL_SIZE + 1);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	poke32(b + 36, 0);
	/* header_addr below load_addr, or too far above it. */
	poke32(b + 28, KL_ADDR - 4);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	poke32(b + 28, KL_ADDR + 0x20);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	poke32(b + 28, KL_ADDR + 16);
	/* bss_end below load_end. */
	poke32(b + 40, KL_ADDR + 0x10);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	poke32(b + 40, KL_BSS);
	/* Entry outside the image. */
	poke32(b + 44, 0x200000);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	poke32(b + 44, KL_ENTRY);
	/* Over the firmware area (EBDA at 0x9fc00). */
	poke32(b + 28, 0x9fa10);
	poke32(b + 32, 0x9fa00);
	poke32(b + 40, 0);
	poke32(b + 44, 0x9fa40);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	CHECK(strstr(e.msg, "overlaps the firmware area") != NULL);
	/* Past the end of RAM. */
	poke32(b + 28, 64 * MiB - 0x100 + 16);
	poke32(b + 32, 64 * MiB - 0x100);
	poke32(b + 44, 64 * MiB - 0x100 + 0x40);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -E2BIG);
	/* At the top of the 32-bit space (not RAM). */
	poke32(b + 28, 0xfffff010);
	poke32(b + 32, 0xfffff000);
	poke32(b + 44, 0xfffff040);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	free(b);

	/* Required features trivisor lacks (video mode). */
	b = fake_kludge(&n);
	put_header(b + 16, MB_HF_AOUT_KLUDGE | MB_HF_VIDEO_MODE);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	CHECK(strstr(e.msg, "video") != NULL);
	/* Header truncated by the end of the file. */
	put_header(b + 16, MB_HF_AOUT_KLUDGE);
	CHECK_EQ(load_buf(vm, b, 36, &s, &e), -ENOEXEC);
	/* Neither ELF nor kludge. */
	put_header(b + 16, 0);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	free(b);
	test_vm_free(vm);
}

/* An ELF32 multiboot kernel: text at 1 MiB (vaddr 0xc0100000), bss after it. */
static uint8_t *fake_elf32(size_t *size)
{
	size_t n = 0x1200;
	uint8_t *b = calloc(1, n);
	memcpy(b, "\177ELF", 4);
	b[4] = 1;                                     /* ELFCLASS32 */
	b[5] = 1;
	b[6] = 1;
	poke16(b + 16, 2);                            /* ET_EXEC */
	poke16(b + 18, 3);                            /* EM_386 */
	poke32(b + 20, 1);
	poke32(b + 24, 0x100010);                     /* e_entry */
	poke32(b + 28, 52);                           /* e_phoff */
	poke16(b + 40, 52);
	poke16(b + 42, 32);                           /* e_phentsize */
	poke16(b + 44, 2);                            /* e_phnum */
	uint8_t *ph = b + 52;
	poke32(ph, 1);                                /* PT_LOAD text */
	poke32(ph + 4, 0x1000);
	poke32(ph + 8, 0xc0100000);
	poke32(ph + 12, 0x100000);
	poke32(ph + 16, 0x200);
	poke32(ph + 20, 0x200);
	ph += 32;
	poke32(ph, 1);                                /* PT_LOAD bss */
	poke32(ph + 4, 0);
	poke32(ph + 8, 0xc0101000);
	poke32(ph + 12, 0x101000);
	poke32(ph + 16, 0);
	poke32(ph + 20, 0x3000);
	put_header(b + 0x1000, MB_HF_PAGE_ALIGN | MB_HF_MEMORY_INFO);
	for (int i = 12; i < 0x200; i++)
		b[0x1000 + i] = (uint8_t)i;
	*size = n;
	return b;
}

static void test_elf(void)
{
	size_t n;
	uint8_t *b = fake_elf32(&n);
	struct vm *vm = test_vm(32 * MiB);
	struct cpu_state s;
	struct err e = { { 0 } };

	memset(gptr(vm, 0x101000, 0x3000), 0xcc, 0x3000);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	check_entry32(&s, 0x100010);
	CHECK(memcmp(gptr(vm, 0x100000, 0x200), b + 0x1000, 0x200) == 0);
	CHECK_EQ(gptr(vm, 0x103fff, 1)[0], 0);
	const struct mb_info *mi = (const void *)gptr(vm, s.gpr[R_RBX], sizeof(*mi));
	CHECK_EQ(mi->mem_upper, 31 * 1024);

	/* Virtual entry point: translated to physical. */
	poke32(b + 24, 0xc0100020);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	CHECK_EQ(s.rip, 0x100020);
	/* Entry in the bss (not loaded from the file). */
	poke32(b + 24, 0x101000);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	poke32(b + 24, 0x100010);
	/* Wrong machine. */
	poke16(b + 18, 40);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	poke16(b + 18, 3);
	/* Truncated segment. */
	CHECK_EQ(load_buf(vm, b, 0x1100, &s, &e), -ENOEXEC);
	/* filesz > memsz. */
	poke32(b + 52 + 20, 0x100);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	poke32(b + 52 + 20, 0x200);
	/* Huge phnum. */
	poke16(b + 44, 0xfff0);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	poke16(b + 44, 2);
	/* bss past the end of RAM. */
	poke32(b + 52 + 32 + 20, 0x3000000);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -E2BIG);
	CHECK(strstr(e.msg, "MiB") != NULL);
	poke32(b + 52 + 32 + 20, 0x3000);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	free(b);
	test_vm_free(vm);
}

static void test_place_clear(void)
{
	struct vm *vm = test_vm(8 * MiB);
	uint64_t a = 0;

	CHECK_EQ(boot_place_clear(vm, 0x2000, NULL, 0, &a), 0);
	CHECK_EQ(a, 0x1000);                          /* page 0 is left to the IVT */
	struct boot_range gaps[] = { { 0x1000, 0x2000 }, { 0x3000, 0x5000 } };
	CHECK_EQ(boot_place_clear(vm, 0x1000, gaps, 2, &a), 0);
	CHECK_EQ(a, 0x2000);                          /* a gap that just fits */
	CHECK_EQ(boot_place_clear(vm, 0x1001, gaps, 2, &a), 0);
	CHECK_EQ(a, 0x5000);
	struct boot_range odd[] = { { 0x800, 0x2001 } };
	CHECK_EQ(boot_place_clear(vm, 0x1000, odd, 1, &a), 0);
	CHECK_EQ(a, 0x3000);                          /* page aligned past an odd end */
	struct boot_range low[] = { { 0x1000, 0x9f000 } };
	CHECK_EQ(boot_place_clear(vm, 0x1000, low, 1, &a), 0);
	CHECK_EQ(a, 0x100000);                        /* conventional memory full: 1 MiB */
	CHECK_EQ(boot_place_clear(vm, 0xa0000, NULL, 0, &a), 0);
	CHECK_EQ(a, 0x100000);                        /* larger than conventional memory */
	struct boot_range both[] = { { 0x1000, 0x9f000 }, { 0x100000, 0x7ff000 } };
	CHECK_EQ(boot_place_clear(vm, 0x1000, both, 2, &a), 0);
	CHECK_EQ(a, 0x7ff000);                        /* the last page of RAM */
	CHECK_EQ(boot_place_clear(vm, 0x1001, both, 2, &a), -ENOMEM);
	CHECK_EQ(boot_place_clear(vm, 8 * MiB, NULL, 0, &a), -ENOMEM);
	struct boot_range top[] = { { 0x100000, UINT64_MAX } };
	CHECK_EQ(boot_place_clear(vm, 0xa0000, top, 1, &a), -ENOMEM);
	test_vm_free(vm);
}

/* Every piece of boot data the entry state s points at: in RAM, clear of the kernel's
 * ranges, of the firmware area and of each other. */
static void check_boot_data_clear(struct vm *vm, const struct cpu_state *s,
                                  const struct boot_range *kernel, unsigned nk)
{
	struct boot_range d[10];
	unsigned n = 0;
	const struct mb_info *mi = (const void *)gptr(vm, s->gpr[R_RBX], sizeof(*mi));
	d[n++] = (struct boot_range){ s->gpr[R_RBX], s->gpr[R_RBX] + sizeof(*mi) };
	d[n++] = (struct boot_range){ s->gdt.base, s->gdt.base + s->gdt.limit + 1 };
	d[n++] = (struct boot_range){ s->tr.base, s->tr.base + s->tr.limit + 1 };
	d[n++] = (struct boot_range){ s->gpr[R_RSP] - 256, s->gpr[R_RSP] };  /* some stack */
	d[n++] = (struct boot_range){ mi->mmap_addr, mi->mmap_addr + mi->mmap_length };
	const char *cl = (const char *)gptr(vm, mi->cmdline, 1);
	d[n++] = (struct boot_range){ mi->cmdline, mi->cmdline + strlen(cl) + 1 };
	d[n++] = (struct boot_range){ mi->boot_loader_name, mi->boot_loader_name + 9 };
	if (mi->mods_count) {
		const struct mb_module *mod = (const void *)gptr(vm, mi->mods_addr, sizeof(*mod));
		d[n++] = (struct boot_range){ mi->mods_addr, mi->mods_addr + sizeof(*mod) };
		const char *str = (const char *)gptr(vm, mod->string, 1);
		d[n++] = (struct boot_range){ mod->string, mod->string + strlen(str) + 1 };
		d[n++] = (struct boot_range){ mod->mod_start, mod->mod_end };
		CHECK(mod->mod_start >= 0x100000);
	}
	for (unsigned i = 0; i < n; i++) {
		gptr(vm, d[i].start, d[i].end - d[i].start);
		CHECK(d[i].end <= 0x9fc00 || d[i].start >= 0x100000);
		for (unsigned k = 0; k < nk; k++)
			CHECK(d[i].end <= kernel[k].start || d[i].start >= kernel[k].end);
		for (unsigned j = 0; j < i; j++)
			CHECK(d[i].end <= d[j].start || d[i].start >= d[j].end);
	}
}

/* Kernels that load low, where a loader keeping its data at fixed addresses would put
 * it: the boot data goes where they do not load (in conventional memory if it fits,
 * else above 1 MiB), the module above 1 MiB, and the kernel's bytes stay intact. */
static void test_low_kernel(void)
{
	struct vm *vm = test_vm(16 * MiB);
	struct cpu_state s;
	struct err e = { { 0 } };
	char kpath[64], ipath[64];
	static uint8_t initrd[5000];
	size_t n;
	uint8_t *b = fake_kludge(&n);

	memset(initrd, 0x5a, sizeof(initrd));
	write_temp(ipath, initrd, sizeof(initrd));
	vm->cfg.initrd_path = ipath;
	vm->cfg.append = "console=ttyS0 low";

	/* 0x8000..0x30000: over all of the Linux loaders' boot data area. */
	poke32(b + 28, 0x8010);
	poke32(b + 32, 0x8000);
	poke32(b + 40, 0x30000);
	poke32(b + 44, 0x8040);
	write_temp(kpath, b, n);
	vm->cfg.kernel_path = kpath;
	CHECK_EQ(boot_load(vm, &s, &e), 0);
	check_entry32(&s, 0x8040);
	CHECK(memcmp(gptr(vm, 0x8000, KL_SIZE), b, KL_SIZE) == 0);
	const uint8_t *bss = gptr(vm, 0x8000 + KL_SIZE, 0x30000 - 0x8000 - KL_SIZE);
	bool zero = true;
	for (size_t i = 0; i < 0x30000 - 0x8000 - KL_SIZE; i++)
		zero = zero && bss[i] == 0;
	CHECK(zero);
	struct boot_range k1 = { 0x8000, 0x30000 };
	check_boot_data_clear(vm, &s, &k1, 1);
	CHECK(s.gpr[R_RBX] < 0x9fc00);                /* conventional memory had room */
	const struct mb_info *mi = (const void *)gptr(vm, s.gpr[R_RBX], sizeof(*mi));
	char want[128];
	snprintf(want, sizeof(want), "%s console=ttyS0 low", kpath);
	CHECK_STR((const char *)gptr(vm, mi->cmdline, strlen(want) + 1), want);
	CHECK_EQ(mi->mods_count, 1);
	const struct mb_module *mod = (const void *)gptr(vm, mi->mods_addr, sizeof(*mod));
	CHECK(memcmp(gptr(vm, mod->mod_start, sizeof(initrd)), initrd, sizeof(initrd)) == 0);
	unlink(kpath);

	/* All of conventional memory but page 0: the boot data goes above 1 MiB, the
	 * module above it. */
	poke32(b + 28, 0x1010);
	poke32(b + 32, 0x1000);
	poke32(b + 40, 0x9f000);
	poke32(b + 44, 0x1040);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	struct boot_range k2 = { 0x1000, 0x9f000 };
	check_boot_data_clear(vm, &s, &k2, 1);
	CHECK(s.gpr[R_RBX] >= 0x100000);
	CHECK(memcmp(gptr(vm, 0x1000, KL_SIZE), b, KL_SIZE) == 0);
	/* From page 0 (the IVT is the kernel's to overwrite in protected mode). */
	poke32(b + 28, 0x10);
	poke32(b + 32, 0);
	poke32(b + 40, 0x2000);
	poke32(b + 44, 0x40);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	struct boot_range k3 = { 0, 0x2000 };
	check_boot_data_clear(vm, &s, &k3, 1);
	CHECK(memcmp(gptr(vm, 0, KL_SIZE), b, KL_SIZE) == 0);
	free(b);

	/* ELF: text at 0x1000, bss 0x3000..0x90000: the boot data does not fit the gap
	 * between them, so it goes after the bss, below the firmware area. */
	b = fake_elf32(&n);
	poke32(b + 24, 0x1010);                       /* e_entry */
	poke32(b + 52 + 8, 0x1000);                   /* text vaddr, paddr */
	poke32(b + 52 + 12, 0x1000);
	poke32(b + 84 + 8, 0x3000);                   /* bss vaddr, paddr, memsz */
	poke32(b + 84 + 12, 0x3000);
	poke32(b + 84 + 20, 0x8d000);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), 0);
	check_entry32(&s, 0x1010);
	struct boot_range k4[] = { { 0x1000, 0x1200 }, { 0x3000, 0x90000 } };
	check_boot_data_clear(vm, &s, k4, 2);
	CHECK(s.gpr[R_RBX] >= 0x90000 && s.gpr[R_RBX] < 0x9fc00);
	CHECK(memcmp(gptr(vm, 0x1000, 0x200), b + 0x1000, 0x200) == 0);
	free(b);
	unlink(ipath);
	test_vm_free(vm);
}

/* Random mutations of the multiboot images must never crash the loader. */
static void test_mutations(void)
{
	struct vm *vm = test_vm(32 * MiB);
	struct cpu_state s;
	struct err e;
	size_t nk, ne;
	uint8_t *kl = fake_kludge(&nk), *el = fake_elf32(&ne);
	unsigned seed = 777;
	int ok = 0, refused_with_message = 0;

	for (int it = 0; it < 400; it++) {
		const uint8_t *src = it & 1 ? el : kl;
		size_t n = it & 1 ? ne : nk;
		uint8_t *m = malloc(n);
		memcpy(m, src, n);
		for (int k = 0; k < 3; k++) {
			seed = seed * 1103515245 + 12345;
			size_t pos = (it & 1) ? (seed >> 8) % 116 : 28 + (seed >> 8) % 20;
			m[pos] = (uint8_t)(seed >> 20);
		}
		if (it & 2)   /* keep the checksum valid so the header is found */
			poke32(m + (it & 1 ? 0x1008 : 24),
			       (uint32_t)-(peek32(m + (it & 1 ? 0x1000 : 16)) +
			                   peek32(m + (it & 1 ? 0x1004 : 20))));
		seed = seed * 1103515245 + 12345;
		size_t len = (seed >> 8) % 4 == 0 ? (seed >> 10) % n : n;
		e.msg[0] = 0;
		if (load_buf(vm, m, len, &s, &e) == 0)
			ok++;
		else if (e.msg[0])
			refused_with_message++;
		free(m);
	}
	/* Survived every image; damaged ones were refused, each with a message. */
	CHECK(ok < 400);
	CHECK_EQ(ok + refused_with_message, 400);
	free(kl);
	free(el);
	test_vm_free(vm);
}

/* The built test guests load, and their first bytes are the multiboot header: at 1 MiB,
 * or at 0x2000 for hello_low.elf; their boot data stays clear of them. */
static void test_guest(const char *path)
{
	uint64_t load = strstr(path, "hello_low") ? 0x2000 : 0x100000;
	struct vm *vm = test_vm(64 * MiB);
	struct cpu_state s;
	struct err e = { { 0 } };

	vm->cfg.kernel_path = path;
	vm->cfg.append = "hello";
	int r = boot_load(vm, &s, &e);
	if (r)
		fprintf(stderr, "%s: %s\n", path, e.msg);
	CHECK_EQ(r, 0);
	if (r == 0) {
		check_entry32(&s, s.rip);
		CHECK(s.rip > load && s.rip < load + 0x1000);
		CHECK_EQ(peek32(gptr(vm, load, 4)), MB_HEADER_MAGIC);
		struct boot_range k = { load, load + 0x3000 };  /* text, then the bss page */
		check_boot_data_clear(vm, &s, &k, 1);
	}
	test_vm_free(vm);
}

int main(int argc, char **argv)
{
	test_find_header();
	test_kludge();
	test_elf();
	test_place_clear();
	test_low_kernel();
	test_mutations();
	for (int i = 1; i < argc; i++)
		test_guest(argv[i]);
	return check_done();
}
