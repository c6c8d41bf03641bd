/* Multiboot v1 loader: header search and checksum, the address-kludge and ELF forms,
 * the info structure (memory, mmap, command line, module, loader name), the 32-bit entry
 * state, refused layouts. Arguments, if any, are the built test guests (hello.elf,
 * hello_kludge.bin) to load. */
#include <errno.h>

#include "../check.h"
#include "boot/boot.h"
#include "boot/e820.h"
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
	CHECK_EQ(s->gpr[R_RBX], BOOT_MB_INFO_ADDR);
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

	const struct mb_info *mi = (const void *)gptr(vm, BOOT_MB_INFO_ADDR, sizeof(*mi));
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
	mi = (const void *)gptr(vm, BOOT_MB_INFO_ADDR, sizeof(*mi));
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
	/* Loaded over the info area. */
	poke32(b + 28, 0x9010);
	poke32(b + 32, 0x9000);
	poke32(b + 40, 0);
	poke32(b + 44, 0x9040);
	CHECK_EQ(load_buf(vm, b, n, &s, &e), -ENOEXEC);
	CHECK(strstr(e.msg, "overlaps") != NULL);
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
	const struct mb_info *mi = (const void *)gptr(vm, BOOT_MB_INFO_ADDR, sizeof(*mi));
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

/* The built test guests load, and their first bytes are the multiboot header. */
static void test_guest(const char *path)
{
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
		CHECK(s.rip > 0x100000 && s.rip < 0x101000);
		CHECK_EQ(peek32(gptr(vm, 0x100000, 4)), MB_HEADER_MAGIC);
	}
	test_vm_free(vm);
}

int main(int argc, char **argv)
{
	test_find_header();
	test_kludge();
	test_elf();
	test_mutations();
	for (int i = 1; i < argc; i++)
		test_guest(argv[i]);
	return check_done();
}
