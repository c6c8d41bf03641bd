/* VGA: the PCI function, mode 3 at reset (text at 0xB8000 shows without a BIOS), the
 * cursor and start address registers, the BIOS's font upload into plane 2 beside the
 * text, planar write and read modes, the attribute flip-flop, DAC, the Bochs VBE probe
 * and modes, BAR2's register window, hostile values, the screen dump and the key
 * translation of the display. */
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "core/mem.h"
#include "host/display.h"
#include "hw/pc.h"
#include "hw/pci.h"
#include "hw/vga.h"
#include "hw_test.h"

static struct vm vm;
static struct vga *vga;
static struct vga_text txt;
static unsigned slot;

static uint32_t cfg_read(unsigned reg)
{
	io_out(&vm, PC_PCI_CONF_ADDR, 4, 0x80000000u | slot << 11 | reg);
	return (uint32_t)io_in(&vm, PC_PCI_CONF_DATA, 4);
}

static void mem_out(uint64_t addr, unsigned size, uint64_t v)
{
	uint8_t d[8];
	for (unsigned i = 0; i < size; i++)
		d[i] = (uint8_t)(v >> (8 * i));
	CHECK(bus_access(&vm.mmio, addr, d, size, true));
}

static uint64_t mem_in(uint64_t addr, unsigned size)
{
	uint8_t d[8];
	uint64_t v = 0;
	memset(d, 0xcc, sizeof(d));
	CHECK(bus_access(&vm.mmio, addr, d, size, false));
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)d[i] << (8 * i);
	return v;
}

static void seq(uint8_t idx, uint8_t v) { io_out(&vm, 0x3c4, 2, (unsigned)v << 8 | idx); }
static void gc(uint8_t idx, uint8_t v) { io_out(&vm, 0x3ce, 2, (unsigned)v << 8 | idx); }
static void crtc(uint8_t idx, uint8_t v) { outb(&vm, 0x3d4, idx); outb(&vm, 0x3d5, v); }
static uint8_t crtc_in(uint8_t idx) { outb(&vm, 0x3d4, idx); return inb(&vm, 0x3d5); }
static void dispi(uint16_t idx, uint16_t v)
{
	io_out(&vm, 0x1ce, 2, idx);
	io_out(&vm, 0x1cf, 2, v);
}

static uint16_t dispi_in(uint16_t idx)
{
	io_out(&vm, 0x1ce, 2, idx);
	return (uint16_t)io_in(&vm, 0x1cf, 2);
}

static bool snap(void)
{
	return vga_text_snapshot(vga, &txt);
}

static void put_text(unsigned row, unsigned col, const char *s, uint8_t attr)
{
	for (unsigned i = 0; s[i]; i++)
		mem_out(0xb8000 + 2 * (row * 80 + col + i), 2, (unsigned)attr << 8 | (uint8_t)s[i]);
}

static void test_pci(void)
{
	CHECK_EQ(cfg_read(0x00), 0x11111234u);
	CHECK_EQ(cfg_read(0x08) >> 8, 0x030000u);          /* VGA-compatible controller */
	uint32_t bar0 = cfg_read(0x10), bar2 = cfg_read(0x18);
	CHECK_EQ(bar0 & 0xf, 0x8);                          /* 32-bit, prefetchable */
	CHECK(bar0 >= PC_PCI_MEM32_ADDR);
	CHECK_EQ(bar0 & (VGA_FB_SIZE - 1) & ~0xfu, 0);
	CHECK_EQ(bar2 & 0xf, 0);
	CHECK(bar2 >= PC_PCI_MEM32_ADDR);
	CHECK_EQ(cfg_read(0x04) & 0x2, 0x2);                /* memory decoding on */

	/* The framebuffer BAR is memory; bounds are the bus's and the handler's. */
	uint64_t fb = bar0 & ~0xfu;
	mem_out(fb, 4, 0x11223344);
	mem_out(fb + VGA_FB_SIZE - 8, 8, 0x0102030405060708ull);
	CHECK_EQ(mem_in(fb, 4), 0x11223344);
	CHECK_EQ(mem_in(fb + VGA_FB_SIZE - 8, 8), 0x0102030405060708ull);
	CHECK_EQ(mem_in(fb + 1, 2), 0x2233);
	uint8_t d[8];
	CHECK(!bus_access(&vm.mmio, fb + VGA_FB_SIZE - 4, d, 8, false)); /* straddles the end */

	/* BAR2: ports 0x3C0-0x3DF at 0x400 (index and data in one access), DISPI at 0x500. */
	uint64_t mmio = bar2 & ~0xfu;
	mem_out(mmio + 0x400 + 4, 2, 0x0502);               /* SR2 = 5 */
	outb(&vm, 0x3c4, 2);
	CHECK_EQ(inb(&vm, 0x3c5), 0x05);
	seq(2, 0x03);
	CHECK_EQ(mem_in(mmio + 0x500, 2), 0xb0c5);
	CHECK_EQ(mem_in(mmio + 0x500 + 2 * 0xa, 2), VGA_FB_SIZE >> 16);
	CHECK_EQ(mem_in(mmio + 0x600, 4), 8);
	CHECK_EQ(mem_in(mmio + 0x604, 4), 0x1e1e1e1e);
	CHECK_EQ(mem_in(mmio, 4), 0);                       /* no EDID */
}

static void test_mode3_at_reset(void)
{
	CHECK(snap());
	CHECK(!txt.graphics);
	CHECK_EQ(txt.cols, 80);
	CHECK_EQ(txt.rows, 25);
	CHECK(txt.cursor_visible);
	CHECK_EQ(txt.cursor_x, 0);
	CHECK_EQ(txt.cursor_y, 0);
	CHECK(txt.blink);
	CHECK_EQ(inb(&vm, 0x3cc), 0x67);
	CHECK_EQ(crtc_in(0x01), 0x4f);
	CHECK(!snap());                                     /* unchanged: nothing copied */

	put_text(0, 0, "Hello", 0x1f);
	mem_out(0xb8000 + 2 * 80, 1, 'W');                  /* one byte: the character */
	mem_out(0xb8000 + 2 * 80 + 1, 1, 0x4e);             /* the next: its attribute */
	mem_out(0xb8000 + 2 * 81, 4, 0x07790770);           /* "py", two cells at once */
	CHECK(snap());
	CHECK(memcmp(txt.ch[0], "Hello", 5) == 0);
	CHECK_EQ(txt.attr[0][0], 0x1f);
	CHECK_EQ(txt.attr[0][4], 0x1f);
	CHECK_EQ(txt.ch[1][0], 'W');
	CHECK_EQ(txt.attr[1][0], 0x4e);
	CHECK_EQ(txt.ch[1][1], 'p');
	CHECK_EQ(txt.ch[1][2], 'y');
	CHECK_EQ(txt.attr[1][2], 0x07);
	/* Words read back as written (vgacon's probe writes 0xAA55/0x55AA and reads). */
	CHECK_EQ(mem_in(0xb8000, 2), 0x1f48);
	CHECK_EQ(mem_in(0xb8000, 4), 0x1f651f48);
	/* B0000-B7FFF is not mapped in colour text mode (memory map 3). */
	CHECK_EQ(mem_in(0xb0000, 1), 0xff);
	mem_out(0xb0000, 1, 'X');
	CHECK(!snap());
	CHECK_EQ(mem_in(0xa0000, 1), 0xff);
}

static void test_cursor_and_start(void)
{
	crtc(0x0e, 0x00);
	crtc(0x0f, 85);                                     /* row 1, column 5 */
	CHECK(snap());
	CHECK(txt.cursor_visible);
	CHECK_EQ(txt.cursor_x, 5);
	CHECK_EQ(txt.cursor_y, 1);
	CHECK_EQ(crtc_in(0x0f), 85);

	crtc(0x0a, 0x2d);                                   /* bit 5: cursor off */
	snap();
	CHECK(!txt.cursor_visible);
	crtc(0x0a, 31);                                     /* start > end: vgacon's "erase" */
	crtc(0x0b, 30);
	snap();
	CHECK(!txt.cursor_visible);
	crtc(0x0a, 0x0d);
	crtc(0x0b, 0x0e);
	crtc(0x0e, 0x07);                                   /* off screen */
	crtc(0x0f, 0xd0);
	snap();
	CHECK(!txt.cursor_visible);

	/* Hardware scrolling: the start address moves the screen by whole rows. */
	crtc(0x0c, 0);
	crtc(0x0d, 80);
	crtc(0x0e, 0);
	crtc(0x0f, 85);
	snap();
	CHECK_EQ(txt.ch[0][0], 'W');
	CHECK_EQ(txt.cursor_y, 0);
	CHECK_EQ(txt.cursor_x, 5);
	crtc(0x0d, 0);
	snap();
	CHECK_EQ(txt.ch[0][0], 'H');

	/* CR0-CR7 are write-protected while CR11 bit 7 is set. */
	crtc(0x01, 0x27);
	CHECK_EQ(crtc_in(0x01), 0x4f);
	crtc(0x11, crtc_in(0x11) & 0x7f);
	crtc(0x01, 0x27);                                   /* 40 columns */
	snap();
	CHECK_EQ(txt.cols, 40);
	crtc(0x01, 0x4f);
	crtc(0x11, crtc_in(0x11) | 0x80);
}

/* What SeaVGABIOS and vgacon do to reach the font: plane 2, sequential addressing,
 * A0000, then back to odd/even text. The text must survive. */
static void test_font_upload(void)
{
	seq(0x00, 0x01);
	seq(0x02, 0x04);
	seq(0x04, 0x07);
	seq(0x00, 0x03);
	gc(0x04, 0x02);
	gc(0x05, 0x00);
	gc(0x06, 0x04);
	for (unsigned c = 0; c < 256; c++)
		for (unsigned l = 0; l < 16; l++)
			mem_out(0xa0000 + c * 32 + l, 1, (uint8_t)(c ^ l ^ 0xa5));
	CHECK_EQ(mem_in(0xa0000 + 'H' * 32 + 3, 1), (uint8_t)('H' ^ 3 ^ 0xa5));
	CHECK_EQ(mem_in(0xb8000, 1), 0xff);                 /* B8000 not mapped now */
	seq(0x00, 0x01);
	seq(0x02, 0x03);
	seq(0x04, 0x03);
	seq(0x00, 0x03);
	gc(0x04, 0x00);
	gc(0x05, 0x10);
	gc(0x06, 0x0e);

	CHECK(snap());
	CHECK(memcmp(txt.ch[0], "Hello", 5) == 0);
	CHECK_EQ(txt.attr[0][0], 0x1f);
	CHECK_EQ(txt.ch[0][5], 0);
	CHECK_EQ(mem_in(0xb8000, 2), 0x1f48);
	/* Text writes with map mask 3 leave plane 2 alone. */
	put_text(2, 0, "ok", 0x07);
	gc(0x04, 0x02);
	gc(0x05, 0x00);
	gc(0x06, 0x04);
	seq(0x04, 0x07);
	CHECK_EQ(mem_in(0xa0000, 1), 0xa5);
	CHECK_EQ(mem_in(0xa0000 + 2 * 160, 1), (uint8_t)(10 ^ 0 ^ 0xa5));
	seq(0x04, 0x03);
	gc(0x04, 0x00);
	gc(0x05, 0x10);
	gc(0x06, 0x0e);
	snap();
	CHECK(memcmp(txt.ch[2], "ok", 2) == 0);
}

/* Planar graphics addressing: write modes 0-3, set/reset, logical operations, the
 * latches, read modes 0 and 1. */
static void test_planar(void)
{
	seq(0x04, 0x06);                                    /* planar, sequential */
	seq(0x02, 0x0f);
	gc(0x06, 0x05);                                     /* graphics, A0000-AFFFF */
	gc(0x05, 0x00);
	gc(0x08, 0xff);
	const uint64_t a = 0xa8000;

	mem_out(a, 1, 0x3c);                                /* mode 0: all planes */
	for (unsigned p = 0; p < 4; p++) {
		gc(0x04, (uint8_t)p);
		CHECK_EQ(mem_in(a, 1), 0x3c);
	}
	gc(0x01, 0x05);                                     /* set/reset planes 0, 2 */
	gc(0x00, 0x01);                                     /* to 1 in plane 0, 0 in plane 2 */
	mem_out(a, 1, 0x3c);
	gc(0x04, 0); CHECK_EQ(mem_in(a, 1), 0xff);
	gc(0x04, 1); CHECK_EQ(mem_in(a, 1), 0x3c);
	gc(0x04, 2); CHECK_EQ(mem_in(a, 1), 0x00);
	gc(0x01, 0x00);

	gc(0x08, 0x0f);                                     /* bit mask: latches keep the rest */
	gc(0x04, 1);
	(void)mem_in(a, 1);                                 /* loads the latches */
	mem_out(a, 1, 0x00);
	CHECK_EQ(mem_in(a, 1), 0x30);
	gc(0x08, 0xff);

	gc(0x03, 0x18);                                     /* XOR */
	(void)mem_in(a, 1);
	mem_out(a, 1, 0xff);
	gc(0x04, 0); CHECK_EQ(mem_in(a, 1), 0x0f);
	gc(0x04, 2); CHECK_EQ(mem_in(a, 1), 0xff);
	gc(0x03, 0x00);

	gc(0x05, 0x02);                                     /* mode 2: colour 0b1010 */
	mem_out(a, 1, 0x0a);
	gc(0x05, 0x00);
	gc(0x04, 0); CHECK_EQ(mem_in(a, 1), 0x00);
	gc(0x04, 1); CHECK_EQ(mem_in(a, 1), 0xff);
	gc(0x04, 3); CHECK_EQ(mem_in(a, 1), 0xff);

	(void)mem_in(a, 1);                                 /* mode 1: copy the latches */
	gc(0x05, 0x01);
	mem_out(a + 1, 1, 0x00);
	gc(0x05, 0x00);
	gc(0x04, 1); CHECK_EQ(mem_in(a + 1, 1), 0xff);

	gc(0x00, 0x0f);                                     /* mode 3: set/reset through */
	gc(0x05, 0x03);                                     /* a mask from the CPU byte */
	(void)mem_in(a + 2, 1);
	mem_out(a + 2, 1, 0xf0);
	gc(0x05, 0x00);
	gc(0x04, 2); CHECK_EQ(mem_in(a + 2, 1), 0xf0);
	gc(0x00, 0x00);

	gc(0x05, 0x08);                                     /* read mode 1: colour compare */
	gc(0x07, 0x0f);
	gc(0x02, 0x0a);
	CHECK_EQ(mem_in(a, 1), 0xff);                       /* a holds 0b1010 everywhere */
	gc(0x02, 0x01);
	CHECK_EQ(mem_in(a, 1), 0x00);
	gc(0x07, 0x00);                                     /* nothing compared: all match */
	CHECK_EQ(mem_in(a, 1), 0xff);
	gc(0x05, 0x00);

	seq(0x04, 0x0e);                                    /* chain 4: planes by address */
	mem_out(0xa0000 + 0x101, 1, 0x77);
	seq(0x04, 0x06);
	gc(0x04, 1);
	CHECK_EQ(mem_in(0xa0000 + 0x100, 1), 0x77);

	/* Graphics reported as such while the attribute controller says so. */
	(void)inb(&vm, 0x3da);
	outb(&vm, 0x3c0, 0x30);
	outb(&vm, 0x3c0, 0x01);
	CHECK(snap());
	CHECK(txt.graphics);
	CHECK_EQ(txt.gfx_width, 640);
	(void)inb(&vm, 0x3da);
	outb(&vm, 0x3c0, 0x30);
	outb(&vm, 0x3c0, 0x0c);

	seq(0x04, 0x02);
	seq(0x02, 0x03);
	gc(0x04, 0x00);
	gc(0x05, 0x10);
	gc(0x06, 0x0e);
	snap();
	CHECK(!txt.graphics);
	CHECK(memcmp(txt.ch[0], "Hello", 5) == 0);
}

static void test_attr_dac_status(void)
{
	/* The flip-flop: reading input status 1 resets it to "index". */
	(void)inb(&vm, 0x3da);
	outb(&vm, 0x3c0, 0x10);
	CHECK_EQ(inb(&vm, 0x3c0), 0x10);
	outb(&vm, 0x3c0, 0x04);                             /* mode control: no blink */
	CHECK_EQ(inb(&vm, 0x3c1), 0x04);
	outb(&vm, 0x3c0, 0x20);                             /* index again, video on */
	snap();
	CHECK(!txt.blink);
	(void)inb(&vm, 0x3da);
	outb(&vm, 0x3c0, 0x30);
	outb(&vm, 0x3c0, 0x0c);
	snap();
	CHECK(txt.blink);
	(void)inb(&vm, 0x3da);
	outb(&vm, 0x3c0, 0x06);
	CHECK_EQ(inb(&vm, 0x3c1), 0x14);                   /* mode 3's brown */
	(void)inb(&vm, 0x3da);
	outb(&vm, 0x3c0, 0x20);

	/* DAC: write index, three components, auto-increment; read back the same way. */
	outb(&vm, 0x3c8, 5);
	outb(&vm, 0x3c9, 0x3f); outb(&vm, 0x3c9, 0x41); outb(&vm, 0x3c9, 0x07);
	outb(&vm, 0x3c9, 0x01);
	CHECK_EQ(inb(&vm, 0x3c8), 6);
	outb(&vm, 0x3c7, 5);
	CHECK_EQ(inb(&vm, 0x3c7), 3);
	CHECK_EQ(inb(&vm, 0x3c9), 0x3f);
	CHECK_EQ(inb(&vm, 0x3c9), 0x01);                   /* 6-bit DAC */
	CHECK_EQ(inb(&vm, 0x3c9), 0x07);
	CHECK_EQ(inb(&vm, 0x3c9), 0x01);
	outb(&vm, 0x3c7, 1);
	CHECK_EQ(inb(&vm, 0x3c9), 0x00);
	CHECK_EQ(inb(&vm, 0x3c9), 0x00);
	CHECK_EQ(inb(&vm, 0x3c9), 0x2a);                   /* blue */

	/* Retrace polling ends: both edges of bit 3 within a few reads. */
	unsigned n = 0;
	while (!(inb(&vm, 0x3da) & 0x08) && n < 16)
		n++;
	CHECK(n < 8);
	n = 0;
	while ((inb(&vm, 0x3da) & 0x08) && n < 16)
		n++;
	CHECK(n < 8);
	CHECK_EQ(inb(&vm, 0x3ba) & 0x30, 0);                /* mono alias */
	CHECK_EQ(inb(&vm, 0x3b0), 0xff);                    /* nothing there */
}

static void test_dispi(void)
{
	/* The probe of SeaVGABIOS: write ID0, read it back, then claim ID5. */
	dispi(0, 0xb0c0);
	CHECK_EQ(dispi_in(0), 0xb0c0);
	dispi(0, 0xb0c5);
	CHECK_EQ(dispi_in(0), 0xb0c5);
	dispi(0, 0x1234);
	CHECK_EQ(dispi_in(0), 0xb0c5);
	CHECK_EQ(io_in(&vm, 0x1ce, 2), 0);
	CHECK_EQ(dispi_in(0xa), VGA_FB_SIZE >> 16);
	dispi(4, 0x02);                                     /* GETCAPS: the maxima */
	CHECK_EQ(dispi_in(1), 2560);
	CHECK_EQ(dispi_in(2), 1600);
	CHECK_EQ(dispi_in(3), 32);
	dispi(4, 0x00);

	dispi(3, 32);
	dispi(1, 1024);
	dispi(2, 768);
	dispi(3, 7);                                        /* no such depth: ignored */
	CHECK_EQ(dispi_in(3), 32);
	dispi(4, 0x41);                                     /* enabled, linear framebuffer */
	CHECK_EQ(dispi_in(4), 0x41);
	CHECK_EQ(dispi_in(6), 1024);
	CHECK_EQ(dispi_in(7), VGA_FB_SIZE / 4096);
	CHECK(snap());
	CHECK(txt.graphics);
	CHECK_EQ(txt.gfx_width, 1024);
	CHECK_EQ(txt.gfx_height, 768);
	CHECK_EQ(txt.gfx_bpp, 32);

	/* Banked access at A0000 reaches the framebuffer. */
	dispi(5, 3);
	mem_out(0xa0010, 2, 0xbeef);
	uint64_t fb = cfg_read(0x10) & ~0xfu;
	CHECK_EQ(mem_in(fb + 3 * 0x10000 + 0x10, 2), 0xbeef);
	dispi(5, 256);                                      /* past 16 MiB: ignored */
	CHECK_EQ(dispi_in(5), 3);
	CHECK_EQ(mem_in(0xb8000, 1), 0xff);                 /* only A0000-AFFFF is banked */

	dispi(4, 0x00);
	snap();
	CHECK(!txt.graphics);
	CHECK(memcmp(txt.ch[0], "Hello", 5) == 0);
}

/* Anything at all on the ports and in the window, then the snapshot's bounds. */
static void test_hostile(void)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;
	static const unsigned sizes[] = { 1, 2, 4, 8 };

	for (unsigned i = 0; i < 200000; i++) {
		uint64_t r = check_xorshift(&s);
		unsigned size = sizes[r & 3];
		uint8_t d[8];
		memcpy(d, &s, 8);
		bool w = r >> 2 & 1;
		switch (r >> 3 & 3) {
		case 0:
			bus_access(&vm.pio, 0x3b0 + (r >> 8) % 0x30, d, size, w);
			break;
		case 1:
			bus_access(&vm.pio, 0x1ce + (r >> 8) % 3, d, size, w);
			break;
		case 2:
			bus_access(&vm.mmio, MEM_VGA_START + (r >> 8) % 0x20000, d, size, w);
			break;
		default:
			if (i % 1000 == 0) {
				memset(&txt, 0, sizeof(txt));
				CHECK(snap());
				CHECK(txt.cols >= 1 && txt.cols <= VGA_TEXT_MAX_COLS);
				CHECK(txt.rows >= 1 && txt.rows <= VGA_TEXT_MAX_ROWS);
				CHECK(!txt.cursor_visible ||
				      (txt.cursor_x < txt.cols && txt.cursor_y < txt.rows));
			}
			break;
		}
	}
	/* Extreme geometry: clamped. */
	crtc(0x11, 0x00);
	crtc(0x01, 0xff);
	crtc(0x12, 0xff);
	crtc(0x07, 0x42);
	crtc(0x09, 0x00);
	crtc(0x13, 0xff);
	crtc(0x0c, 0xff);
	crtc(0x0d, 0xff);
	dispi(4, 0);
	(void)inb(&vm, 0x3da);
	outb(&vm, 0x3c0, 0x30);
	outb(&vm, 0x3c0, 0x0c);
	snap();
	CHECK_EQ(txt.cols, VGA_TEXT_MAX_COLS);
	CHECK_EQ(txt.rows, VGA_TEXT_MAX_ROWS);
	crtc(0x12, 0x00);
	crtc(0x07, 0x00);
	crtc(0x09, 0x1f);
	snap();
	CHECK_EQ(txt.rows, 1);
}

static void test_dump(void)
{
	struct vga_text t;
	char path[] = "/tmp/trivisor-vga-XXXXXX";
	char buf[8192];
	struct err e;

	memset(&t, 0, sizeof(t));
	t.cols = 80;
	t.rows = 25;
	memcpy(t.ch[0], "Hello   ", 8);
	t.ch[1][0] = 0xc4;                                  /* box drawing: U+2500 */
	t.ch[1][1] = 0x01;                                  /* smiley: U+263A */
	t.ch[1][2] = 0x82;                                  /* e acute: U+00E9 */
	t.ch[1][3] = ' ';
	t.ch[1][4] = 0xff;                                  /* a blank: trimmed */
	t.ch[24][79] = '$';
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(display_dump_text(&t, path, &e), 0);
	fd = open(path, O_RDONLY);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK(n > 0);
	buf[n > 0 ? n : 0] = 0;
	char want[4096], *p = want;
	p += sprintf(p, "Hello\n\xe2\x94\x80\xe2\x98\xba\xc3\xa9\n");
	for (unsigned r = 2; r < 24; r++)
		*p++ = '\n';
	sprintf(p, "%79s$\n", "");
	CHECK_STR(buf, want);
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	CHECK(access(tmp, F_OK) != 0);                      /* renamed away */

	t.graphics = true;
	t.gfx_width = 1024, t.gfx_height = 768, t.gfx_bpp = 32;
	CHECK_EQ(display_dump_text(&t, path, &e), 0);
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	CHECK_STR(buf, "[graphics mode 1024x768x32]\n");
	unlink(path);

	CHECK(display_dump_text(&t, "/nonexistent-dir/x", &e) < 0);
	size_t len = display_format_text(&t, buf, 5);       /* truncated, never overrun */
	CHECK(len < 5);
}

static bool keys(const char *in, size_t n, bool flush, const uint8_t *want, size_t wn)
{
	struct display_keys k = { 0 };
	uint8_t out[256];
	size_t got = 0;
	for (size_t i = 0; i < n; i++)
		got += display_keys_feed(&k, (uint8_t)in[i], out + got);
	if (flush)
		got += display_keys_flush(&k, out + got);
	return got == wn && (wn == 0 || memcmp(out, want, wn) == 0);
}

#define KEYS(in, flush, ...) \
	keys(in, sizeof(in) - 1, flush, (const uint8_t[]){ __VA_ARGS__ }, \
	     sizeof((const uint8_t[]){ __VA_ARGS__ }))

static void test_keys(void)
{
	CHECK(KEYS("a", false, 0x1e, 0x9e));
	CHECK(KEYS("A", false, 0x2a, 0x1e, 0x9e, 0xaa));
	CHECK(KEYS("1", false, 0x02, 0x82));
	CHECK(KEYS("?", false, 0x2a, 0x35, 0xb5, 0xaa));
	CHECK(KEYS(" ", false, 0x39, 0xb9));
	CHECK(KEYS("\r", false, 0x1c, 0x9c));
	CHECK(KEYS("\t", false, 0x0f, 0x8f));
	CHECK(KEYS("\x7f", false, 0x0e, 0x8e));
	CHECK(KEYS("\x03", false, 0x1d, 0x2e, 0xae, 0x9d));           /* Ctrl-C */
	CHECK(KEYS("\x1b[A", false, 0xe0, 0x48, 0xe0, 0xc8));         /* up */
	CHECK(KEYS("\x1bOD", false, 0xe0, 0x4b, 0xe0, 0xcb));         /* left, SS3 */
	CHECK(KEYS("\x1b[3~", false, 0xe0, 0x53, 0xe0, 0xd3));        /* delete */
	CHECK(KEYS("\x1b[24~", false, 0x58, 0xd8));                   /* F12 */
	CHECK(KEYS("\x1bOP", false, 0x3b, 0xbb));                     /* F1 */
	CHECK(KEYS("\x1b[1;5C", false, 0x1d, 0xe0, 0x4d, 0xe0, 0xcd, 0x9d)); /* Ctrl-right */
	CHECK(KEYS("\x1b", true, 0x01, 0x81));                        /* Esc alone */
	CHECK(keys("\x1b", 1, false, NULL, 0));                       /* ... only once flushed */
	CHECK(KEYS("\x1bx", false, 0x38, 0x2d, 0xad, 0xb8));          /* Alt-x */
	CHECK(KEYS("\x1b\x1b", true, 0x01, 0x81, 0x01, 0x81));
	CHECK(KEYS("\x1b[\x01", false, 0x1d, 0x1e, 0x9e, 0x9d));      /* broken: dropped */
	CHECK(keys("\xc3\xa9", 2, false, NULL, 0));                   /* not on the layout */
}

/* What the display's thread typed on the "keyboard": two bytes per call at most, so
 * that it has to keep the rest and come back. */
static uint8_t typed_sc[64];
static size_t ntyped;
static pthread_mutex_t typed_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t kbd_take(void *kbd, const uint8_t *sc, size_t n)
{
	pthread_mutex_lock(&typed_lock);
	size_t k = n < 2 ? n : 2;
	if (k > sizeof(typed_sc) - ntyped)
		k = sizeof(typed_sc) - ntyped;
	memcpy(typed_sc + ntyped, sc, k);
	ntyped += k;
	pthread_mutex_unlock(&typed_lock);
	return k;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* The thread: draws into a pipe, keeps the dump file, types what comes in. */
static void test_display_thread(void)
{
	int in[2], out[2];
	char path[] = "/tmp/trivisor-vga-dump-XXXXXX";
	struct display *d;
	struct err e;

	CHECK_EQ(pipe(in), 0);
	CHECK_EQ(pipe2(out, O_NONBLOCK), 0);
	int fd = mkstemp(path);
	close(fd);
	crtc(0x11, 0x00);
	crtc(0x01, 0x4f); crtc(0x07, 0x1f); crtc(0x09, 0x4f); crtc(0x12, 0x8f); crtc(0x13, 0x28);
	crtc(0x0c, 0); crtc(0x0d, 0); crtc(0x0e, 0); crtc(0x0f, 3);
	seq(0x04, 0x02); seq(0x02, 0x03);
	gc(0x05, 0x10); gc(0x06, 0x0e);
	for (unsigned i = 0; i < 80 * 25; i++)
		mem_out(0xb8000 + 2 * i, 2, 0x0720);
	put_text(0, 0, "Hello", 0x1f);
	put_text(3, 2, "login:", 0x07);

	struct display_config cfg = { .text = true, .in_fd = in[0], .out_fd = out[1],
	                              .dump_path = path, .kbd_input = kbd_take };
	CHECK_EQ(display_start(&vm, vga, &cfg, &d, &e), 0);
	CHECK(write(in[1], "ab\x1b[A", 5) == 5);
	sleep_ms(400);
	put_text(4, 0, "later", 0x07);
	sleep_ms(400);
	display_stop(d);
	display_stop(d);                                    /* idempotent */

	static const uint8_t want[] = { 0x1e, 0x9e, 0x30, 0xb0, 0xe0, 0x48, 0xe0, 0xc8 };
	CHECK_EQ(ntyped, sizeof(want));
	CHECK(memcmp(typed_sc, want, sizeof(want)) == 0);

	static char drawn[1 << 16];
	ssize_t n = read(out[0], drawn, sizeof(drawn) - 1);
	CHECK(n > 0);
	drawn[n > 0 ? n : 0] = 0;
	CHECK(strstr(drawn, "\x1b[1;1H\x1b[0;97;44mHello") != NULL);   /* white on blue */
	CHECK(strstr(drawn, "login:") != NULL);
	CHECK(strstr(drawn, "later") != NULL);
	CHECK(strstr(drawn, "\x1b[1;4H\x1b[?25h") != NULL);         /* the cursor */

	char buf[8192];
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	const char *want_dump = "Hello\n\n\n  login:\nlater\n\n";
	CHECK(strncmp(buf, want_dump, strlen(want_dump)) == 0);
	CHECK_EQ(strlen(buf), strlen(want_dump) + 19);      /* 25 rows in all */
	unlink(path);
	close(in[0]); close(in[1]); close(out[0]); close(out[1]);
}

int main(void)
{
	struct pci_host *h;
	struct err e;

	test_vm_init(&vm, 0, 1, -1);
	CHECK_EQ(pci_host_create(&vm, &h, &e), 0);
	CHECK_EQ(vga_create(&vm, h, &vga, &e), 0);
	for (slot = 0; slot < PCI_SLOTS; slot++)
		if ((cfg_read(0) & 0xffff) == VGA_VENDOR_ID)
			break;
	CHECK(slot < PCI_SLOTS);
	memset(&txt, 0, sizeof(txt));

	test_pci();
	test_mode3_at_reset();
	test_cursor_and_start();
	test_font_upload();
	test_planar();
	test_attr_dac_status();
	test_dispi();
	test_hostile();
	test_dump();
	test_keys();
	test_display_thread();

	struct vga_stats st;
	vga_get_stats(vga, &st);
	CHECK(st.mem_writes > 0 && st.port_writes > 0 && st.unmapped > 0 && st.ignored_writes > 0);
	vm_destroy(&vm);
	return check_done();
}
