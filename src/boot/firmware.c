/* Firmware boot (see firmware.h). The fw_cfg files follow what SeaBIOS reads (QEMU's
 * fw_cfg documentation names them): "etc/e820" (20-byte little-endian entries),
 * "etc/acpi/tables" and "etc/acpi/rsdp" with the "etc/table-loader" script that tells
 * the firmware where to put them and which pointers and checksums to patch, and small
 * integers ("etc/sercon-port", "etc/show-boot-menu", "etc/boot-fail-wait"). The boot
 * order is the CMOS's (rtc.c), as SeaBIOS reads it on emulators. */
#include "boot/firmware.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot/acpi.h"
#include "boot/loader.h"
#include "core/mem.h"
#include "core/vm.h"
#include "hw/fw_cfg.h"
#include "hw/pc.h"

#define KiB (1u << 10)
#define SHADOW_MAX (128 * KiB)       /* the legacy BIOS area: 0xE0000-0xFFFFF */
#define SHADOW_END 0x100000u

/* Table-loader commands (128 bytes each): allocate a file in a zone, add a file's
 * address to a pointer in another, fix a checksum. */
#define LOADER_ENTRY    128
#define LOADER_ALLOCATE 1
#define LOADER_POINTER  2
#define LOADER_CHECKSUM 3
#define ZONE_HIGH       1            /* anywhere in RAM */
#define ZONE_FSEG       2            /* the 0xF0000 segment, where an OS scans for the RSDP */
#define TABLES_FILE "etc/acpi/tables"
#define RSDP_FILE   "etc/acpi/rsdp"
#define MAX_LOADER  64

#define E820_RAM_TYPE 1

int firmware_load(struct vm *vm, struct cpu_state *bsp, struct err *e)
{
	const char *path = vm->cfg.bios_path ? vm->cfg.bios_path : FIRMWARE_DEFAULT_BIOS;
	struct boot_image img;
	int r = boot_read_file("firmware", path, FIRMWARE_MAX_SIZE, &img, e);
	if (r)
		return r;
	if (img.size < 64 * KiB || img.size % (4 * KiB)) {
		r = err_set(e, EINVAL, "firmware %s: %zu bytes is not a BIOS image (a multiple "
		            "of 4 KiB, at least 64 KiB)", path, img.size);
	} else if (mem_low_end(&vm->mem) < SHADOW_END) {
		r = err_set(e, ENOMEM, "guest RAM too small: a firmware boot needs at least 1 MiB");
	} else {
		size_t shadow = img.size < SHADOW_MAX ? img.size : SHADOW_MAX;
		r = mem_add_rom(&vm->mem, MEM_4G - img.size, img.data, img.size, e);
		if (r == 0 && mem_write(&vm->mem, SHADOW_END - shadow, img.data + img.size - shadow,
		                        shadow))
			r = err_set(e, EFAULT, "firmware %s: cannot copy it below 1 MiB", path);
	}
	boot_image_free(&img);
	if (r)
		return r;

	/* The reset state: real mode, CS = 0xF000 with base 0xFFFF0000, IP = 0xFFF0. */
	memset(bsp, 0, sizeof(*bsp));
	bsp->rflags = 2;
	bsp->rip = 0xfff0;
	bsp->cr0 = 0x60000010;             /* CD, NW, ET */
	for (unsigned k = 0; k < S__COUNT; k++)
		bsp->seg[k] = (struct seg){ .limit = 0xffff, .attr = 0x93 };
	bsp->seg[S_CS] = (struct seg){ .sel = 0xf000, .base = 0xffff0000, .limit = 0xffff,
	                               .attr = 0x9b };
	bsp->tr = (struct seg){ .limit = 0xffff, .attr = 0x8b };
	bsp->ldtr = (struct seg){ .limit = 0xffff, .attr = 0x82 };
	bsp->gdt.limit = bsp->idt.limit = 0xffff;
	bsp->apic_base = PC_LAPIC_ADDR | (1u << 11) | (1u << 8);   /* enabled, BSP */
	return 0;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int add_int(struct fw_cfg *f, const char *name, uint64_t v, unsigned n, struct err *e)
{
	uint8_t b[8];
	put_le(b, v, n);
	return fw_cfg_add_file(f, name, b, n, e);
}

/* The e820 RAM ranges as QEMU gives them: all of low RAM from 0 (SeaBIOS carves out
 * the VGA and BIOS areas itself), then RAM above 4 GiB. */
static int add_e820(struct vm *vm, struct fw_cfg *f, struct err *e)
{
	uint8_t map[MEM_MAX_SLOTS * 20];
	size_t n = 0;
	put_le(map, 0, 8);
	put_le(map + 8, mem_low_end(&vm->mem), 8);
	put_le(map + 16, E820_RAM_TYPE, 4);
	n++;
	for (unsigned i = 0; i < vm->mem.nslots; i++) {
		const struct mem_slot *s = &vm->mem.slots[i];
		if (s->rom || s->gpa < MEM_4G)
			continue;
		put_le(map + 20 * n, s->gpa, 8);
		put_le(map + 20 * n + 8, s->size, 8);
		put_le(map + 20 * n + 16, E820_RAM_TYPE, 4);
		n++;
	}
	return fw_cfg_add_file(f, "etc/e820", map, 20 * n, e);
}

struct loader {
	uint8_t cmds[MAX_LOADER * LOADER_ENTRY];
	unsigned n;
};

static uint8_t *loader_cmd(struct loader *l, uint32_t cmd, const char *file)
{
	uint8_t *c = l->cmds + LOADER_ENTRY * l->n++;   /* callers stay below MAX_LOADER */
	put_le(c, cmd, 4);
	strncpy((char *)c + 4, file, FW_CFG_NAME_MAX - 1);
	return c + 4 + FW_CFG_NAME_MAX;                  /* the command's next field */
}

static void loader_alloc(struct loader *l, const char *file, uint32_t align, uint8_t zone)
{
	uint8_t *p = loader_cmd(l, LOADER_ALLOCATE, file);
	put_le(p, align, 4);
	p[4] = zone;
}

/* dest's size-byte field at off holds an offset into src: add src's address to it. */
static void loader_pointer(struct loader *l, const char *dest, const char *src, uint32_t off,
                           uint8_t size)
{
	uint8_t *p = loader_cmd(l, LOADER_POINTER, dest);
	strncpy((char *)p, src, FW_CFG_NAME_MAX - 1);
	put_le(p + FW_CFG_NAME_MAX, off, 4);
	p[FW_CFG_NAME_MAX + 4] = size;
}

static void loader_checksum(struct loader *l, const char *file, uint32_t field, uint32_t start,
                            uint32_t len)
{
	uint8_t *p = loader_cmd(l, LOADER_CHECKSUM, file);
	put_le(p, field, 4);
	put_le(p + 4, start, 4);
	put_le(p + 8, len, 4);
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The tables acpi_build writes, built at address 0 so that every pointer in them is
 * an offset into the tables file, which the loader script turns into an address. */
static int add_acpi(struct vm *vm, struct fw_cfg *f, bool vga, struct err *e)
{
	struct acpi_board b = acpi_board_default(vm->ncpus, 0);
	b.legacy_pci = true;
	b.vga = vga;
	/* Where SeaBIOS puts the BARs of a 440FX machine: from 2 GiB (3 GiB when low RAM
	 * is larger) up to the I/O APIC. */
	b.mem32_start = mem_low_end(&vm->mem) <= 0x80000000u ? 0x80000000u : 0xc0000000u;
	b.mem32_end = PC_IOAPIC_ADDR - 1;
	if (vm->ncpus > 255)
		return err_set(e, EINVAL, "ACPI: cannot describe %u vCPUs", vm->ncpus);

	uint8_t *buf = calloc(1, PC_ACPI_SIZE);
	struct loader *l = calloc(1, sizeof(*l));
	int r = 0;
	if (!buf || !l) {
		r = err_set(e, ENOMEM, "out of memory");
		goto out;
	}
	size_t len = acpi_build(buf, 0, &b);
	uint8_t rsdp[36];
	memcpy(rsdp, buf + ACPI_RSDP_OFF, sizeof(rsdp));
	memset(buf + ACPI_RSDP_OFF, 0, sizeof(rsdp));    /* one RSDP: the one in FSEG */

	loader_alloc(l, RSDP_FILE, 16, ZONE_FSEG);
	loader_alloc(l, TABLES_FILE, 64, ZONE_HIGH);       /* the FACS wants 64 */
	loader_pointer(l, RSDP_FILE, TABLES_FILE, 16, 4);
	loader_pointer(l, RSDP_FILE, TABLES_FILE, 24, 8);
	loader_checksum(l, RSDP_FILE, 8, 0, 20);
	loader_checksum(l, RSDP_FILE, 32, 0, 36);
	loader_pointer(l, TABLES_FILE, TABLES_FILE, ACPI_FADT_OFF + 36, 4);    /* FACS */
	loader_pointer(l, TABLES_FILE, TABLES_FILE, ACPI_FADT_OFF + 40, 4);    /* DSDT */
	loader_pointer(l, TABLES_FILE, TABLES_FILE, ACPI_FADT_OFF + 132, 8);   /* X_FACS */
	loader_pointer(l, TABLES_FILE, TABLES_FILE, ACPI_FADT_OFF + 140, 8);   /* X_DSDT */
	loader_checksum(l, TABLES_FILE, ACPI_FADT_OFF + 9, ACPI_FADT_OFF, ACPI_FADT_LEN);
	uint32_t rsdt_len = le32(buf + ACPI_RSDT_OFF + 4), xsdt_len = le32(buf + ACPI_XSDT_OFF + 4);
	for (uint32_t o = 36; o + 4 <= rsdt_len && l->n < MAX_LOADER - 2; o += 4)
		loader_pointer(l, TABLES_FILE, TABLES_FILE, ACPI_RSDT_OFF + o, 4);
	for (uint32_t o = 36; o + 8 <= xsdt_len && l->n < MAX_LOADER - 2; o += 8)
		loader_pointer(l, TABLES_FILE, TABLES_FILE, ACPI_XSDT_OFF + o, 8);
	loader_checksum(l, TABLES_FILE, ACPI_RSDT_OFF + 9, ACPI_RSDT_OFF, rsdt_len);
	loader_checksum(l, TABLES_FILE, ACPI_XSDT_OFF + 9, ACPI_XSDT_OFF, xsdt_len);

	if ((r = fw_cfg_add_file(f, TABLES_FILE, buf, len, e)) == 0 &&
	    (r = fw_cfg_add_file(f, RSDP_FILE, rsdp, sizeof(rsdp), e)) == 0)
		r = fw_cfg_add_file(f, "etc/table-loader", l->cmds, LOADER_ENTRY * l->n, e);
out:
	free(l);
	free(buf);
	return r;
}

int firmware_fw_cfg(struct vm *vm, struct fw_cfg *f, const struct firmware_board *b,
                    struct err *e)
{
	int r;
	if ((r = add_e820(vm, f, e)) || (r = add_acpi(vm, f, b->vga_rom != NULL, e)))
		return r;
	/* SeaBIOS's serial console: its messages and the boot loader's (INT 10h) reach COM1,
	 * and COM1's input is the keyboard (INT 16h). */
	if ((r = add_int(f, "etc/sercon-port", PC_COM1_PORT, 2, e)) ||
	    (r = add_int(f, "etc/show-boot-menu", 0, 2, e)) ||
	    (r = add_int(f, "etc/boot-fail-wait", 5000, 4, e)))   /* ms before it resets */
		return r;
	if (b->vga_rom) {
		struct boot_image rom;
		if ((r = boot_read_file("VGA BIOS", b->vga_rom, FIRMWARE_MAX_SIZE, &rom, e)))
			return r;
		/* SeaBIOS runs the file named after the VGA's PCI IDs as its option ROM. */
		r = fw_cfg_add_file(f, "pci1234,1111.rom", rom.data, rom.size, e);
		boot_image_free(&rom);
	}
	return r;
}
