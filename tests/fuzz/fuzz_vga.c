/* The VGA (hw/vga.c) as a hostile guest drives it, and the display's text formatting
 * and key translation (host/display.c) on whatever it shows. The input is a sequence of
 * actions, each an op byte and its operands (little-endian; short input reads as 0):
 *   op & 7 = 0: port 0x3B0 + (u8 % 0x30)       \
 *            1: port 0x1CE + (u8 % 3)           |  then u8 flags: size 1 << (flags & 3),
 *            2: legacy window, offset u16 | (op >> 3 & 1) << 16  |  write if flags & 4;
 *            3: BAR0 (framebuffer), offset u32 % 16 MiB           |  then u64 data
 *            4: BAR2 (registers), offset u16 % 4 KiB             /
 *            5: text snapshot, formatted as the screen dump would be
 *            6: u8 n, then n bytes typed on the terminal (display_keys_feed), then a flush
 *            7: (op >> 3) + 1 one-byte writes of one value at consecutive offsets of the
 *               legacy window: u32 offset (mod 128 KiB), u8 value (a BIOS filling memory)
 * Invariants: no sanitizer finding; the snapshot within VGA_TEXT_MAX_COLS/ROWS, its
 * cursor on the screen; the formatted text within DISPLAY_TEXT_MAX; no more scancodes
 * per typed byte than DISPLAY_KEY_MAX. tests/fuzz/seeds.py writes seeds in this format. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "host/display.h"
#include "hw/pc.h"
#include "hw/pci.h"
#include "hw/vga.h"

static struct vm *vm;
static struct vga *vga;
static uint64_t fb_base, mmio_base;
static struct vga_text *txt;
static char *text;
static unsigned long snapshots, text_screens, graphics_screens, cursors, chars, scancodes;

static void stats(FILE *out)
{
	struct vga_stats s;
	vga_get_stats(vga, &s);
	fprintf(out, " port_writes=%lu mem_writes=%lu fb_writes=%lu mmio=%lu unmapped=%lu "
	        "ignored=%lu snapshots=%lu text_screens=%lu graphics_screens=%lu cursors=%lu "
	        "chars=%lu scancodes=%lu", (unsigned long)s.port_writes,
	        (unsigned long)s.mem_writes, (unsigned long)s.fb_writes,
	        (unsigned long)s.mmio_accesses, (unsigned long)s.unmapped,
	        (unsigned long)s.ignored_writes, snapshots, text_screens, graphics_screens,
	        cursors, chars, scancodes);
}

static uint32_t cfg_read(unsigned slot, unsigned reg)
{
	uint8_t d[4];
	uint32_t a = 0x80000000u | slot << 11 | reg;
	memcpy(d, &a, 4);
	bus_access(&vm->pio, PC_PCI_CONF_ADDR, d, 4, true);
	bus_access(&vm->pio, PC_PCI_CONF_DATA, d, 4, false);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void setup(void)
{
	struct pci_host *h;
	struct err e;

	vm = fuzz_vm();
	if (pci_host_create(vm, &h, &e) || vga_create(vm, h, &vga, &e))
		fuzz_fail("setup: %s", e.msg);
	for (unsigned slot = 0; slot < PCI_SLOTS; slot++)
		if (cfg_read(slot, 0) == ((uint32_t)VGA_DEVICE_ID << 16 | VGA_VENDOR_ID)) {
			fb_base = cfg_read(slot, 0x10) & ~0xfu;
			mmio_base = cfg_read(slot, 0x18) & ~0xfu;
		}
	txt = calloc(1, sizeof(*txt));
	text = malloc(DISPLAY_TEXT_MAX);
	if (!fb_base || !mmio_base || !txt || !text)
		fuzz_fail("setup: no VGA BARs or no memory");
	fuzz_stats_at_exit(stats);
}

static void touch(struct bus *bus, uint64_t addr, struct fz *f)
{
	uint8_t flags = fz_u8(f), d[8];
	uint64_t v = fz_u64(f);
	memcpy(d, &v, 8);
	bus_access(bus, addr, d, 1u << (flags & 3), flags & 4);
}

static void snapshot(void)
{
	snapshots++;
	txt->generation = 0;
	if (!vga_text_snapshot(vga, txt))
		fuzz_fail("a snapshot with generation 0 copied nothing");
	if (txt->cols < 1 || txt->cols > VGA_TEXT_MAX_COLS || txt->rows < 1 ||
	    txt->rows > VGA_TEXT_MAX_ROWS)
		fuzz_fail("snapshot of %ux%u", txt->cols, txt->rows);
	if (txt->cursor_visible && (txt->cursor_x >= txt->cols || txt->cursor_y >= txt->rows))
		fuzz_fail("cursor at %u,%u on %ux%u", txt->cursor_x, txt->cursor_y, txt->cols,
		          txt->rows);
	if (vga_text_snapshot(vga, txt))
		fuzz_fail("an unchanged screen copied again");
	size_t n = display_format_text(txt, text, DISPLAY_TEXT_MAX);
	if (n >= DISPLAY_TEXT_MAX)
		fuzz_fail("formatted text of %zu bytes", n);
	if (txt->graphics) {
		graphics_screens++;
	} else {
		text_screens++;
		cursors += txt->cursor_visible;
		for (size_t i = 0; i < n; i++)
			chars += text[i] != '\n' && text[i] != ' ';
	}
}

static void type(struct fz *f)
{
	struct display_keys k = { 0 };
	uint8_t out[DISPLAY_KEY_MAX + 16], n = fz_u8(f);
	for (unsigned i = 0; i < n; i++) {
		size_t got = display_keys_feed(&k, fz_u8(f), out);
		if (got > DISPLAY_KEY_MAX)
			fuzz_fail("%zu scancodes for one byte", got);
		scancodes += got;
	}
	size_t got = display_keys_flush(&k, out);
	if (got > DISPLAY_KEY_MAX)
		fuzz_fail("%zu scancodes at the flush", got);
	scancodes += got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };

	if (!vga)
		setup();
	vga_reset(vga);
	while (f.n) {
		uint8_t op = fz_u8(&f);
		switch (op & 7) {
		case 0:
			touch(&vm->pio, VGA_PORT_BASE + fz_u8(&f) % VGA_PORT_COUNT, &f);
			break;
		case 1:
			touch(&vm->pio, VGA_DISPI_PORT + fz_u8(&f) % VGA_DISPI_NPORTS, &f);
			break;
		case 2: {
			uint32_t off = fz_u16(&f) | (uint32_t)(op >> 3 & 1) << 16;
			touch(&vm->mmio, MEM_VGA_START + off, &f);
			break;
		}
		case 3:
			touch(&vm->mmio, fb_base + fz_u32(&f) % VGA_FB_SIZE, &f);
			break;
		case 4:
			touch(&vm->mmio, mmio_base + fz_u16(&f) % VGA_MMIO_SIZE, &f);
			break;
		case 5:
			snapshot();
			break;
		case 6:
			type(&f);
			break;
		default: {
			unsigned n = (op >> 3) + 1u;
			uint32_t off = fz_u32(&f) % 0x20000;
			uint8_t v = fz_u8(&f);
			for (unsigned i = 0; i < n; i++)
				bus_access(&vm->mmio, MEM_VGA_START + (off + i) % 0x20000, &v, 1, true);
			break;
		}
		}
	}
	snapshot();
	return 0;
}
