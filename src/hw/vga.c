/* Standard VGA with the Bochs VBE extension, written from the IBM VGA technical
 * reference and the FreeVGA register descriptions (registers, memory organisation,
 * write and read modes) and the Bochs VBE "DISPI" interface description.
 *
 * Video memory is four 64 KiB planes. The CPU reaches them through the legacy window in
 * one of three ways, chosen by the sequencer's memory mode register: chain 4 (the two
 * low address bits pick the plane), odd/even (address bit 0 picks planes 0/2 or 1/3:
 * text mode, characters in plane 0 and attributes in plane 1 at the same offset) or
 * planar (the map mask picks the planes, through the graphics controller's latches,
 * rotate, set/reset, logical operation and bit mask). The CRT controller reads text
 * in word mode: character cell n of the screen lives at offset 2 * (start + n).
 *
 * Everything, the legacy ports and window included, is guarded by the PCI function's
 * lock (the BAR handlers already run under it). Every guest value that becomes an index
 * or an address is masked to its array, so no access can leave the planes, the
 * register files or the framebuffer. */
#include "vga.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/snap.h"
#include "core/vm.h"
#include "pci.h"

/* Sequencer (SR), graphics controller (GR), attribute controller (AR) and CRT
 * controller (CR) register numbers used below. */
#define SR_MAP_MASK    0x02
#define SR_MEM_MODE    0x04
#define SR_MEM_CHAIN4  0x08
#define SR_MEM_SEQ     0x04      /* odd/even host addressing disabled */
#define GR_SET_RESET   0x00
#define GR_ENABLE_SR   0x01
#define GR_COLOR_CMP   0x02
#define GR_ROTATE      0x03
#define GR_READ_MAP    0x04
#define GR_MODE        0x05
#define GR_MISC        0x06
#define GR_DONT_CARE   0x07
#define GR_BIT_MASK    0x08
#define GR_MODE_ODDEVEN 0x10
#define GR_MODE_READ1  0x08
#define AR_MODE        0x10
#define AR_MODE_GRAPHICS 0x01
#define AR_MODE_BLINK  0x08
#define CR_HDISP_END   0x01
#define CR_OVERFLOW    0x07
#define CR_MAX_SCAN    0x09
#define CR_CURSOR_START 0x0a
#define CR_CURSOR_END  0x0b
#define CR_START_HI    0x0c
#define CR_START_LO    0x0d
#define CR_CURSOR_HI   0x0e
#define CR_CURSOR_LO   0x0f
#define CR_VRETR_END   0x11      /* bit 7 write-protects CR0-CR7 */
#define CR_VDISP_END   0x12
#define CR_OFFSET      0x13
#define CR_LAST        0x18

#define NSR 8
#define NGR 16
#define NAR 32
#define NCR 64

/* Writable bits of each register (reserved bits read 0). */
static const uint8_t sr_mask[NSR] = { 0x03, 0x3d, 0x0f, 0x3f, 0x0e, 0, 0, 0 };
static const uint8_t gr_mask[NGR] = { 0x0f, 0x0f, 0x0f, 0x1f, 0x03, 0x7b, 0x0f, 0x0f, 0xff };
static const uint8_t ar_mask[NAR] = {
	0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f,
	0x3f, 0x3f, 0xef, 0xff, 0x3f, 0x0f, 0x0f,
};

/* BIOS mode 3, 80x25 colour text with the 9x16 font (the IBM VGA's register table). */
static const uint8_t mode3_sr[NSR] = { 0x03, 0x00, 0x03, 0x00, 0x02 };
static const uint8_t mode3_gr[NGR] = { 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff };
static const uint8_t mode3_ar[NAR] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d,
	0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00,
};
static const uint8_t mode3_cr[CR_LAST + 1] = {
	0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00,
	0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff,
};
#define MODE3_MISC 0x67

/* Bochs VBE (DISPI) registers and values. */
enum {
	DISPI_ID, DISPI_XRES, DISPI_YRES, DISPI_BPP, DISPI_ENABLE, DISPI_BANK,
	DISPI_VIRT_WIDTH, DISPI_VIRT_HEIGHT, DISPI_X_OFFSET, DISPI_Y_OFFSET,
	DISPI_VIDEO_MEMORY_64K, DISPI_NREGS,
};
#define DISPI_ID0         0xb0c0
#define DISPI_ID5         0xb0c5
#define DISPI_ENABLED     0x01
#define DISPI_GETCAPS     0x02
#define DISPI_8BIT_DAC    0x20
#define DISPI_LFB         0x40
#define DISPI_NOCLEARMEM  0x80
#define DISPI_MAX_XRES    2560
#define DISPI_MAX_YRES    1600
#define DISPI_MAX_BPP     32
#define DISPI_BANK_SIZE   0x10000u

/* BAR2 layout (the stdvga's MMIO window). */
#define MMIO_PORTS        0x400   /* 0x400-0x41F: ports 0x3C0-0x3DF */
#define MMIO_DISPI        0x500   /* 0x500-0x515: DISPI register i at 2 * i */
#define MMIO_QEXT         0x600   /* 0x600 size of this block, 0x604 framebuffer byte order */
#define QEXT_SIZE         8
#define QEXT_LITTLE       0x1e1e1e1eu

struct vga {
	struct pci_dev pci;       /* first: its lock guards all of the below */
	struct vm *vm;
	uint8_t misc, feature, vse;
	uint8_t sr_idx, sr[NSR];
	uint8_t gr_idx, gr[NGR];
	uint8_t cr_idx, cr[NCR];
	uint8_t ar_idx;           /* bits 0-4 index, bit 5 palette address source */
	bool ar_data;             /* the flip-flop: the next 0x3C0 write is data */
	uint8_t ar[NAR];
	uint8_t dac_mask, dac_state, dac_widx, dac_ridx, dac_sub;
	uint8_t dac[256][3];
	unsigned st1_reads;       /* drives the retrace bits of input status 1 */
	uint8_t latch[4];
	uint16_t dispi_idx, dispi[DISPI_NREGS];
	uint8_t planes[4][VGA_PLANE_SIZE];
	uint8_t *fb;              /* VGA_FB_SIZE bytes */
	uint64_t generation;      /* bumped by every write that may change the screen */
	struct vga_stats st;
};

/* Registers as after power-on (BIOS mode 3); video memory keeps its content. */
static void reset(struct vga *v)
{
	v->feature = v->vse = 0;
	v->sr_idx = v->gr_idx = v->cr_idx = 0;
	v->ar_data = false;
	v->st1_reads = 0;
	v->dac_state = v->dac_widx = v->dac_ridx = v->dac_sub = 0;
	memset(v->dac, 0, sizeof(v->dac));
	memset(v->latch, 0, sizeof(v->latch));
	memset(v->dispi, 0, sizeof(v->dispi));
	v->dispi_idx = 0;
	v->misc = MODE3_MISC;
	memcpy(v->sr, mode3_sr, sizeof(v->sr));
	memcpy(v->gr, mode3_gr, sizeof(v->gr));
	memcpy(v->ar, mode3_ar, sizeof(v->ar));
	memset(v->cr, 0, sizeof(v->cr));
	memcpy(v->cr, mode3_cr, sizeof(mode3_cr));
	v->ar_idx = 0x20;
	v->dac_mask = 0xff;
	/* The EGA colours of mode 3's palette: DAC index bits are rgbRGB. */
	for (unsigned i = 0; i < 64; i++) {
		v->dac[i][0] = (uint8_t)((i >> 2 & 1) * 0x2a + (i >> 5 & 1) * 0x15);
		v->dac[i][1] = (uint8_t)((i >> 1 & 1) * 0x2a + (i >> 4 & 1) * 0x15);
		v->dac[i][2] = (uint8_t)((i & 1) * 0x2a + (i >> 3 & 1) * 0x15);
	}
	v->dispi[DISPI_ID] = DISPI_ID5;
	v->dispi[DISPI_XRES] = 640;
	v->dispi[DISPI_YRES] = 480;
	v->dispi[DISPI_BPP] = 8;
	v->dispi[DISPI_VIRT_WIDTH] = 640;
	v->dispi[DISPI_VIRT_HEIGHT] = (uint16_t)(VGA_FB_SIZE / 640 > 0xffff ? 0xffff : VGA_FB_SIZE / 640);
	v->dispi[DISPI_VIDEO_MEMORY_64K] = (uint16_t)(VGA_FB_SIZE / DISPI_BANK_SIZE);
	v->generation++;
}

/* -- Bochs VBE ------------------------------------------------------------------------ */

static bool dispi_on(const struct vga *v)
{
	return v->dispi[DISPI_ENABLE] & DISPI_ENABLED;
}

/* Bytes per scan line of a width at a depth (0 for a depth DISPI does not know). */
static uint32_t dispi_line(unsigned width, unsigned bpp)
{
	switch (bpp) {
	case 4: return width / 2;
	case 8: return width;
	case 15: case 16: return width * 2;
	case 24: return width * 3;
	case 32: return width * 4;
	default: return 0;
	}
}

static void dispi_fit_virt(struct vga *v)
{
	uint32_t line = dispi_line(v->dispi[DISPI_VIRT_WIDTH], v->dispi[DISPI_BPP]);
	uint32_t h = line ? VGA_FB_SIZE / line : 0;
	v->dispi[DISPI_VIRT_HEIGHT] = (uint16_t)(h > 0xffff ? 0xffff : h);
}

static uint16_t dispi_read(const struct vga *v, unsigned idx)
{
	if (v->dispi[DISPI_ENABLE] & DISPI_GETCAPS) {
		switch (idx) {
		case DISPI_XRES: return DISPI_MAX_XRES;
		case DISPI_YRES: return DISPI_MAX_YRES;
		case DISPI_BPP: return DISPI_MAX_BPP;
		}
	}
	return idx < DISPI_NREGS ? v->dispi[idx] : 0;
}

static void dispi_write(struct vga *v, unsigned idx, uint16_t val)
{
	bool ok = true;

	switch (idx) {
	case DISPI_ID:
		ok = val >= DISPI_ID0 && val <= DISPI_ID5;
		break;
	case DISPI_XRES:
		ok = val && val <= DISPI_MAX_XRES;
		break;
	case DISPI_YRES:
		ok = val && val <= DISPI_MAX_YRES;
		break;
	case DISPI_BPP:
		if (val == 0)
			val = 8;        /* the interface's documented default */
		ok = dispi_line(8, val) != 0;
		break;
	case DISPI_ENABLE:
		val &= DISPI_ENABLED | DISPI_GETCAPS | DISPI_8BIT_DAC | DISPI_LFB | DISPI_NOCLEARMEM;
		if ((val & DISPI_ENABLED) && !dispi_on(v)) {
			/* A mode set: the virtual screen starts as the visible one. */
			v->dispi[DISPI_VIRT_WIDTH] = v->dispi[DISPI_XRES];
			v->dispi[DISPI_X_OFFSET] = v->dispi[DISPI_Y_OFFSET] = 0;
			v->dispi[DISPI_BANK] = 0;
			dispi_fit_virt(v);
			if (!(val & DISPI_NOCLEARMEM)) {
				uint64_t n = (uint64_t)dispi_line(v->dispi[DISPI_XRES], v->dispi[DISPI_BPP]) *
				             v->dispi[DISPI_YRES];
				memset(v->fb, 0, n < VGA_FB_SIZE ? n : VGA_FB_SIZE);
			}
		}
		break;
	case DISPI_BANK:
		ok = val < VGA_FB_SIZE / DISPI_BANK_SIZE;
		break;
	case DISPI_VIRT_WIDTH:
		ok = val && dispi_line(val, v->dispi[DISPI_BPP]) <= VGA_FB_SIZE;
		if (ok) {
			v->dispi[idx] = val;
			dispi_fit_virt(v);
		}
		return;
	case DISPI_VIRT_HEIGHT:
	case DISPI_VIDEO_MEMORY_64K:
		ok = false;     /* computed by the adapter */
		break;
	case DISPI_X_OFFSET:
	case DISPI_Y_OFFSET:
		break;
	default:
		ok = false;
		break;
	}
	if (!ok) {
		v->st.ignored_writes++;
		return;
	}
	v->dispi[idx] = val;
	v->generation++;
}

/* -- registers ------------------------------------------------------------------------ */

static void attr_write(struct vga *v, uint8_t val)
{
	if (!v->ar_data) {
		v->ar_idx = val & 0x3f;
	} else {
		unsigned i = v->ar_idx & 0x1f;
		v->ar[i] = val & ar_mask[i];
	}
	v->ar_data = !v->ar_data;
}

static void crtc_write(struct vga *v, uint8_t val)
{
	unsigned i = v->cr_idx & (NCR - 1);

	if (i > CR_LAST) {
		v->st.ignored_writes++;
		return;
	}
	/* CR11 bit 7 protects CR0-CR7, all but CR7's line compare bit 8. */
	if (i <= CR_OVERFLOW && (v->cr[CR_VRETR_END] & 0x80)) {
		if (i == CR_OVERFLOW)
			v->cr[i] = (uint8_t)((v->cr[i] & ~0x10) | (val & 0x10));
		else
			v->st.ignored_writes++;
		return;
	}
	v->cr[i] = val;
}

static void dac_write(struct vga *v, uint8_t val)
{
	uint8_t mask = (v->dispi[DISPI_ENABLE] & DISPI_8BIT_DAC) ? 0xff : 0x3f;
	v->dac[v->dac_widx][v->dac_sub] = val & mask;
	if (++v->dac_sub == 3) {
		v->dac_sub = 0;
		v->dac_widx++;          /* wraps at 256: uint8_t */
	}
}

static uint8_t dac_read(struct vga *v)
{
	uint8_t val = v->dac[v->dac_ridx][v->dac_sub];
	if (++v->dac_sub == 3) {
		v->dac_sub = 0;
		v->dac_ridx++;
	}
	return val;
}

/* Input status 1: display-disabled (bit 0) toggles on every read and vertical retrace
 * (bit 3) shows on every fourth, so BIOS loops waiting for either edge end quickly. */
static uint8_t input_status1(struct vga *v)
{
	unsigned n = v->st1_reads++;
	bool vr = (n & 3) == 3;
	v->ar_data = false;
	return (uint8_t)((vr || (n & 1) ? 0x01 : 0) | (vr ? 0x08 : 0));
}

/* One byte at a port of 0x3B0-0x3DF. Index writes leave the screen as it is; data
 * writes may change it (the display then looks again). */
static void port_write(struct vga *v, unsigned port, uint8_t val)
{
	switch (port) {
	case 0x3b4: case 0x3d4: v->cr_idx = val; return;
	case 0x3ba: case 0x3da: v->feature = val; return;
	case 0x3c3: v->vse = val & 1; return;
	case 0x3c4: v->sr_idx = val; return;
	case 0x3c7: v->dac_ridx = val; v->dac_sub = 0; v->dac_state = 3; return;
	case 0x3c8: v->dac_widx = val; v->dac_sub = 0; v->dac_state = 0; return;
	case 0x3ce: v->gr_idx = val; return;
	case 0x3b5: case 0x3d5: crtc_write(v, val); break;
	case 0x3c0: case 0x3c1: attr_write(v, val); break;
	case 0x3c2: v->misc = val; break;
	case 0x3c5: v->sr[v->sr_idx & (NSR - 1)] = val & sr_mask[v->sr_idx & (NSR - 1)]; break;
	case 0x3c6: v->dac_mask = val; break;
	case 0x3c9: dac_write(v, val); break;
	case 0x3cf: v->gr[v->gr_idx & (NGR - 1)] = val & gr_mask[v->gr_idx & (NGR - 1)]; break;
	default: v->st.ignored_writes++; return;
	}
	v->generation++;
}

static uint8_t port_read(struct vga *v, unsigned port)
{
	switch (port) {
	case 0x3b4: case 0x3d4: return v->cr_idx;
	case 0x3b5: case 0x3d5:
		return (v->cr_idx & (NCR - 1)) <= CR_LAST ? v->cr[v->cr_idx & (NCR - 1)] : 0;
	case 0x3ba: case 0x3da: return input_status1(v);
	case 0x3c0: return v->ar_idx;
	case 0x3c1: return v->ar[v->ar_idx & 0x1f];
	case 0x3c2: return 0x00;    /* input status 0: no interrupt pending */
	case 0x3c3: return v->vse;
	case 0x3c4: return v->sr_idx;
	case 0x3c5: return v->sr[v->sr_idx & (NSR - 1)];
	case 0x3c6: return v->dac_mask;
	case 0x3c7: return v->dac_state;
	case 0x3c8: return v->dac_widx;
	case 0x3c9: return dac_read(v);
	case 0x3ca: return v->feature;
	case 0x3cc: return v->misc;
	case 0x3ce: return v->gr_idx;
	case 0x3cf: return v->gr[v->gr_idx & (NGR - 1)];
	default: return 0xff;
	}
}

/* Ports are byte registers: a wider access is bytes at consecutive ports, lowest first
 * (an index and its data in one OUTW). */
static void ports_locked(struct vga *v, unsigned port, uint8_t *data, unsigned size, bool is_write)
{
	for (unsigned i = 0; i < size; i++) {
		unsigned p = port + i;
		if (p < VGA_PORT_BASE || p >= VGA_PORT_BASE + VGA_PORT_COUNT) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		if (is_write)
			port_write(v, p, data[i]);
		else
			data[i] = port_read(v, p);
	}
	if (is_write)
		v->st.port_writes++;
	else
		v->st.port_reads++;
}

static void vga_ports_io(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct vga *v = opaque;
	pthread_mutex_lock(&v->pci.lock);
	ports_locked(v, VGA_PORT_BASE + (unsigned)(off < VGA_PORT_COUNT ? off : VGA_PORT_COUNT),
	             data, size, is_write);
	pthread_mutex_unlock(&v->pci.lock);
}

/* 0x1CE: the 16-bit index; 0x1CF: the 16-bit data register. */
static void dispi_ports_io(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct vga *v = opaque;
	uint16_t val = (uint16_t)(data[0] | (size > 1 ? data[1] << 8 : 0));

	if (off > 1 || size > 2) {    /* 0x1D0 alone, or wider than the registers */
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&v->pci.lock);
	if (is_write && off == 0) {
		v->dispi_idx = val;
	} else if (is_write) {
		dispi_write(v, v->dispi_idx, val);
	} else {
		val = off == 0 ? v->dispi_idx : dispi_read(v, v->dispi_idx);
		data[0] = (uint8_t)val;
		if (size > 1)
			data[1] = (uint8_t)(val >> 8);
	}
	pthread_mutex_unlock(&v->pci.lock);
}

/* -- the legacy window ---------------------------------------------------------------- */

/* Offset off (0..0x1FFFF from 0xA0000) inside the map the graphics controller selects,
 * as a CPU address a; false if the map does not cover it. */
static bool window(const struct vga *v, uint32_t off, uint32_t *a)
{
	switch ((v->gr[GR_MISC] >> 2) & 3) {
	case 0: *a = off; return true;                              /* A0000-BFFFF */
	case 1: *a = off; return off < 0x10000;                     /* A0000-AFFFF */
	case 2: *a = off - 0x10000; return off >= 0x10000 && off < 0x18000; /* B0000-B7FFF */
	default: *a = off - 0x18000; return off >= 0x18000;         /* B8000-BFFFF */
	}
}

/* While the VBE extension shows a packed-pixel mode, A0000-AFFFF is a 64 KiB bank of
 * the framebuffer: its index into fb, or -1. */
static int64_t bank_offset(const struct vga *v, uint32_t off)
{
	if (off >= DISPI_BANK_SIZE)
		return -1;
	uint64_t o = (uint64_t)v->dispi[DISPI_BANK] * DISPI_BANK_SIZE + off;
	return o < VGA_FB_SIZE ? (int64_t)o : -1;
}

static bool banked(const struct vga *v)
{
	return dispi_on(v) && v->dispi[DISPI_BPP] != 4;
}

static uint8_t rotate_right(uint8_t x, unsigned n)
{
	n &= 7;
	return n ? (uint8_t)(x >> n | x << (8 - n)) : x;
}

/* A planar write through the graphics controller (write modes 0-3). */
static void planar_write(struct vga *v, uint32_t o, uint8_t val)
{
	uint8_t mask = v->gr[GR_BIT_MASK], sr = v->gr[GR_SET_RESET], esr = v->gr[GR_ENABLE_SR];
	unsigned mode = v->gr[GR_MODE] & 3, op = (v->gr[GR_ROTATE] >> 3) & 3;

	if (mode == 0 || mode == 3)
		val = rotate_right(val, v->gr[GR_ROTATE]);
	if (mode == 3) {
		mask &= val;
		esr = 0x0f;             /* every plane takes the set/reset colour */
	}
	for (unsigned p = 0; p < 4; p++) {
		if (!(v->sr[SR_MAP_MASK] & (1u << p)))
			continue;
		uint8_t b, l = v->latch[p];
		if (mode == 1) {
			v->planes[p][o] = l;
			continue;
		}
		if (mode == 2)
			b = (val >> p & 1) ? 0xff : 0x00;
		else
			b = (esr >> p & 1) ? ((sr >> p & 1) ? 0xff : 0x00) : val;
		switch (op) {
		case 1: b &= l; break;
		case 2: b |= l; break;
		case 3: b ^= l; break;
		}
		v->planes[p][o] = (uint8_t)((b & mask) | (l & ~mask));
	}
}

static void load_latches(struct vga *v, uint32_t o)
{
	for (unsigned p = 0; p < 4; p++)
		v->latch[p] = v->planes[p][o];
}

static void vmem_write(struct vga *v, uint32_t off, uint8_t val)
{
	uint32_t a;

	if (banked(v)) {
		int64_t o = bank_offset(v, off);
		if (o >= 0)
			v->fb[o] = val;
		else
			v->st.unmapped++;
		return;
	}
	if (!window(v, off, &a)) {
		v->st.unmapped++;
		return;
	}
	v->generation++;
	uint8_t mm = v->sr[SR_MAP_MASK] & 0x0f;
	if (v->sr[SR_MEM_MODE] & SR_MEM_CHAIN4) {
		unsigned p = a & 3;
		if (mm >> p & 1)
			v->planes[p][a & 0xfffc] = val;
	} else if (!(v->sr[SR_MEM_MODE] & SR_MEM_SEQ)) {
		uint8_t planes = mm & ((a & 1) ? 0x0a : 0x05);
		for (unsigned p = 0; p < 4; p++)
			if (planes >> p & 1)
				v->planes[p][a & 0xfffe] = val;
	} else {
		planar_write(v, a & 0xffff, val);
	}
}

static uint8_t vmem_read(struct vga *v, uint32_t off)
{
	uint32_t a;

	if (banked(v)) {
		int64_t o = bank_offset(v, off);
		if (o >= 0)
			return v->fb[o];
		v->st.unmapped++;
		return 0xff;
	}
	if (!window(v, off, &a)) {
		v->st.unmapped++;
		return 0xff;
	}
	if (v->sr[SR_MEM_MODE] & SR_MEM_CHAIN4) {
		load_latches(v, a & 0xfffc);
		return v->planes[a & 3][a & 0xfffc];
	}
	if (v->gr[GR_MODE] & GR_MODE_ODDEVEN) {
		load_latches(v, a & 0xfffe);
		return v->planes[(v->gr[GR_READ_MAP] & 2) | (a & 1)][a & 0xfffe];
	}
	load_latches(v, a & 0xffff);
	if (!(v->gr[GR_MODE] & GR_MODE_READ1))
		return v->latch[v->gr[GR_READ_MAP] & 3];
	/* Read mode 1: a bit is set where every plane not "don't care" matches the
	 * colour compare value. */
	uint8_t r = 0xff;
	for (unsigned p = 0; p < 4; p++)
		if (v->gr[GR_DONT_CARE] >> p & 1)
			r &= (uint8_t)~(v->latch[p] ^ ((v->gr[GR_COLOR_CMP] >> p & 1) ? 0xff : 0x00));
	return r;
}

static void vga_mem_io(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct vga *v = opaque;
	const uint64_t len = MEM_VGA_END - MEM_VGA_START;

	pthread_mutex_lock(&v->pci.lock);
	for (unsigned i = 0; i < size; i++) {
		if (off + i >= len) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		if (is_write)
			vmem_write(v, (uint32_t)(off + i), data[i]);
		else
			data[i] = vmem_read(v, (uint32_t)(off + i));
	}
	if (is_write)
		v->st.mem_writes++;
	else
		v->st.mem_reads++;
	pthread_mutex_unlock(&v->pci.lock);
}

/* -- PCI BARs (called with the device lock held) -------------------------------------- */

static void fb_io(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct vga *v = opaque;

	if (off >= VGA_FB_SIZE || size > VGA_FB_SIZE - off) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	if (is_write) {
		memcpy(v->fb + off, data, size);
		v->st.fb_writes++;
	} else {
		memcpy(data, v->fb + off, size);
		v->st.fb_reads++;
	}
}

static void mmio_io(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct vga *v = opaque;

	v->st.mmio_accesses++;
	if (off >= MMIO_PORTS && off < MMIO_PORTS + 0x20) {
		/* Ports 0x3C0-0x3DF, several in one access, index first. */
		ports_locked(v, 0x3c0 + (unsigned)(off - MMIO_PORTS), data, size, is_write);
		return;
	}
	for (unsigned i = 0; i < size; i++) {
		uint64_t o = off + i;
		if (o >= MMIO_DISPI && o < MMIO_DISPI + 2 * DISPI_NREGS) {
			unsigned idx = (unsigned)(o - MMIO_DISPI) / 2, hi = (o & 1) * 8;
			uint16_t cur = dispi_read(v, idx);
			if (!is_write) {
				data[i] = (uint8_t)(cur >> hi);
				continue;
			}
			/* A register's two bytes in one access make one write; a lone byte
			 * replaces its half. */
			uint16_t val = (uint16_t)(data[i] << hi);
			if (!hi && i + 1 < size) {
				val |= (uint16_t)(data[i + 1] << 8);
				i++;
			} else {
				val |= (uint16_t)(v->dispi[idx] & (hi ? 0x00ff : 0xff00));
			}
			dispi_write(v, idx, val);
		} else if (!is_write && o >= MMIO_QEXT && o < MMIO_QEXT + QEXT_SIZE) {
			uint32_t w = o < MMIO_QEXT + 4 ? QEXT_SIZE : QEXT_LITTLE;
			data[i] = (uint8_t)(w >> (8 * (o & 3)));
		} else if (!is_write) {
			data[i] = 0;    /* no EDID, unused space */
		}
	}
}

/* -- the text screen ------------------------------------------------------------------ */

static void graphics_geometry(const struct vga *v, struct vga_text *t)
{
	t->graphics = true;
	if (dispi_on(v)) {
		t->gfx_width = v->dispi[DISPI_XRES];
		t->gfx_height = v->dispi[DISPI_YRES];
		t->gfx_bpp = v->dispi[DISPI_BPP];
		return;
	}
	unsigned lines = (v->cr[CR_VDISP_END] | (v->cr[CR_OVERFLOW] & 0x02) << 7 |
	                  (v->cr[CR_OVERFLOW] & 0x40) << 3) + 1u;
	t->gfx_width = (v->cr[CR_HDISP_END] + 1u) * 8;
	t->gfx_height = (v->cr[CR_MAX_SCAN] & 0x80) ? lines / 2 : lines;
	t->gfx_bpp = (v->sr[SR_MEM_MODE] & SR_MEM_CHAIN4) ? 8 : 4;
}

static void text_locked(const struct vga *v, struct vga_text *t)
{
	unsigned lines = (v->cr[CR_VDISP_END] | (v->cr[CR_OVERFLOW] & 0x02) << 7 |
	                  (v->cr[CR_OVERFLOW] & 0x40) << 3) + 1u;
	unsigned cell_h = (v->cr[CR_MAX_SCAN] & 0x1f) + 1u;
	unsigned cols = v->cr[CR_HDISP_END] + 1u;
	unsigned rows = lines / ((v->cr[CR_MAX_SCAN] & 0x80) ? 2 * cell_h : cell_h);
	unsigned stride = 2u * v->cr[CR_OFFSET];
	unsigned start = (unsigned)v->cr[CR_START_HI] << 8 | v->cr[CR_START_LO];

	t->cols = cols < 1 ? 1 : cols > VGA_TEXT_MAX_COLS ? VGA_TEXT_MAX_COLS : cols;
	t->rows = rows < 1 ? 1 : rows > VGA_TEXT_MAX_ROWS ? VGA_TEXT_MAX_ROWS : rows;
	t->blink = v->ar[AR_MODE] & AR_MODE_BLINK;
	if (t->graphics) {
		memset(t->ch, 0, sizeof(t->ch));
		memset(t->attr, 0, sizeof(t->attr));
		return;
	}
	for (unsigned r = 0; r < t->rows; r++)
		for (unsigned c = 0; c < t->cols; c++) {
			unsigned o = ((start + r * stride + c) << 1) & (VGA_PLANE_SIZE - 1);
			t->ch[r][c] = v->planes[0][o];
			t->attr[r][c] = v->planes[1][o];
		}

	/* The cursor: on unless CR0A bit 5 disables it or its scan lines are empty. */
	unsigned cs = v->cr[CR_CURSOR_START] & 0x1f, ce = v->cr[CR_CURSOR_END] & 0x1f;
	unsigned loc = (unsigned)v->cr[CR_CURSOR_HI] << 8 | v->cr[CR_CURSOR_LO];
	unsigned rel = (loc - start) & 0xffff;
	unsigned x = stride ? rel % stride : rel, y = stride ? rel / stride : 0;
	t->cursor_visible = !(v->cr[CR_CURSOR_START] & 0x20) && cs <= ce && cs < cell_h &&
	                    x < t->cols && y < t->rows;
	t->cursor_x = t->cursor_visible ? x : 0;
	t->cursor_y = t->cursor_visible ? y : 0;
}

bool vga_text_snapshot(struct vga *v, struct vga_text *out)
{
	pthread_mutex_lock(&v->pci.lock);
	if (out->generation == v->generation) {
		pthread_mutex_unlock(&v->pci.lock);
		return false;
	}
	out->generation = v->generation;
	out->graphics = false;
	out->gfx_width = out->gfx_height = out->gfx_bpp = 0;
	out->cursor_visible = false;
	out->cursor_x = out->cursor_y = 0;
	if (dispi_on(v) || (v->ar[AR_MODE] & AR_MODE_GRAPHICS))
		graphics_geometry(v, out);
	text_locked(v, out);
	pthread_mutex_unlock(&v->pci.lock);
	return true;
}

void vga_reset(struct vga *v)
{
	pthread_mutex_lock(&v->pci.lock);
	reset(v);
	pthread_mutex_unlock(&v->pci.lock);
}

void vga_get_stats(struct vga *v, struct vga_stats *out)
{
	pthread_mutex_lock(&v->pci.lock);
	*out = v->st;
	pthread_mutex_unlock(&v->pci.lock);
}

/* -- creation ------------------------------------------------------------------------- */

/* -- snapshots --------------------------------------------------------------------------
 * Every register, the DAC, the latches, the four planes and the framebuffer (both
 * mostly zeros, written sparse). Video memory is the adapter's own, not guest RAM. A
 * load checks what the register writes would: masked bits, DISPI values in range. */
static int snap_save(void *opaque, struct snap_writer *w)
{
	struct vga *v = opaque;
	pthread_mutex_lock(&v->pci.lock);
	const uint8_t b[] = { v->misc, v->feature, v->vse, v->sr_idx, v->gr_idx, v->cr_idx,
	                      v->ar_idx, v->ar_data, v->dac_mask, v->dac_state, v->dac_widx,
	                      v->dac_ridx, v->dac_sub };
	snap_put_bytes(w, b, sizeof(b));
	snap_put_bytes(w, v->sr, NSR);
	snap_put_bytes(w, v->gr, NGR);
	snap_put_bytes(w, v->cr, NCR);
	snap_put_bytes(w, v->ar, NAR);
	snap_put_bytes(w, v->dac, sizeof(v->dac));
	snap_put_u32(w, v->st1_reads);
	snap_put_bytes(w, v->latch, sizeof(v->latch));
	snap_put_u16(w, v->dispi_idx);
	for (unsigned i = 0; i < DISPI_NREGS; i++)
		snap_put_u16(w, v->dispi[i]);
	snap_put_sparse(w, v->planes, sizeof(v->planes));
	snap_put_sparse(w, v->fb, VGA_FB_SIZE);
	pthread_mutex_unlock(&v->pci.lock);
	return 0;
}

/* The DISPI registers as dispi_write would have let them be. */
static bool dispi_valid(const struct vga *v)
{
	const uint16_t *d = v->dispi;
	uint16_t en = DISPI_ENABLED | DISPI_GETCAPS | DISPI_8BIT_DAC | DISPI_LFB | DISPI_NOCLEARMEM;
	return d[DISPI_ID] >= DISPI_ID0 && d[DISPI_ID] <= DISPI_ID5 && d[DISPI_XRES] &&
	       d[DISPI_XRES] <= DISPI_MAX_XRES && d[DISPI_YRES] && d[DISPI_YRES] <= DISPI_MAX_YRES &&
	       dispi_line(8, d[DISPI_BPP]) && !(d[DISPI_ENABLE] & ~en) &&
	       d[DISPI_BANK] < VGA_FB_SIZE / DISPI_BANK_SIZE && d[DISPI_VIRT_WIDTH] &&
	       dispi_line(d[DISPI_VIRT_WIDTH], d[DISPI_BPP]) <= VGA_FB_SIZE &&
	       d[DISPI_VIDEO_MEMORY_64K] == VGA_FB_SIZE / DISPI_BANK_SIZE;
}

static int snap_load(void *opaque, struct snap_reader *r)
{
	struct vga *v = opaque;
	pthread_mutex_lock(&v->pci.lock);
	uint8_t *b[] = { &v->misc, &v->feature, &v->vse, &v->sr_idx, &v->gr_idx, &v->cr_idx,
	                 &v->ar_idx, NULL, &v->dac_mask, &v->dac_state, &v->dac_widx,
	                 &v->dac_ridx, &v->dac_sub };
	for (unsigned i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		if (b[i])
			*b[i] = snap_get_u8(r);
		else
			v->ar_data = snap_get_bool(r);
	}
	snap_get_bytes(r, v->sr, NSR);
	snap_get_bytes(r, v->gr, NGR);
	snap_get_bytes(r, v->cr, NCR);
	snap_get_bytes(r, v->ar, NAR);
	snap_get_bytes(r, v->dac, sizeof(v->dac));
	v->st1_reads = snap_get_u32(r);
	snap_get_bytes(r, v->latch, sizeof(v->latch));
	v->dispi_idx = snap_get_u16(r);
	for (unsigned i = 0; i < DISPI_NREGS; i++)
		v->dispi[i] = snap_get_u16(r);
	bool masked = v->vse <= 1 && v->ar_idx <= 0x3f && v->dac_sub < 3 &&
	              (v->dac_state == 0 || v->dac_state == 3);
	for (unsigned i = 0; i < NSR; i++)
		masked &= !(v->sr[i] & ~sr_mask[i]);
	for (unsigned i = 0; i < NGR; i++)
		masked &= !(v->gr[i] & ~gr_mask[i]);
	for (unsigned i = 0; i < NAR; i++)
		masked &= !(v->ar[i] & ~ar_mask[i]);
	for (unsigned i = CR_LAST + 1; i < NCR; i++)
		masked &= v->cr[i] == 0;
	snap_check(r, masked, "VGA registers");
	snap_check(r, dispi_valid(v), "VBE (DISPI) registers");
	if (!r->failed)
		dispi_fit_virt(v);       /* the virtual height is the adapter's, from the rest */
	snap_get_sparse(r, v->planes, sizeof(v->planes));
	snap_get_sparse(r, v->fb, VGA_FB_SIZE);
	if (r->failed)
		reset(v);
	v->generation++;
	pthread_mutex_unlock(&v->pci.lock);
	return snap_status(r);
}

static void vga_destroy(void *opaque)
{
	struct vga *v = opaque;
	pci_dev_destroy(&v->pci);
	free(v->fb);
	free(v);
}

static void print_stats(void *v, FILE *f)
{
	struct vga_stats s;
	vga_get_stats(v, &s);
	fprintf(f, "vga: ports %llu reads, %llu writes; window %llu reads, %llu writes; "
	        "framebuffer %llu reads, %llu writes; %llu outside the mapped window, "
	        "%llu ignored writes\n", (unsigned long long)s.port_reads,
	        (unsigned long long)s.port_writes, (unsigned long long)s.mem_reads,
	        (unsigned long long)s.mem_writes, (unsigned long long)s.fb_reads,
	        (unsigned long long)s.fb_writes, (unsigned long long)s.unmapped,
	        (unsigned long long)s.ignored_writes);
}

int vga_create(struct vm *vm, struct pci_host *pci, struct vga **out, struct err *e)
{
	struct vga *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return err_set(e, ENOMEM, "vga: out of memory");
	/* Untouched pages of a calloc this size stay unbacked until the guest draws. */
	v->fb = calloc(1, VGA_FB_SIZE);
	if (!v->fb) {
		free(v);
		return err_set(e, ENOMEM, "vga: out of memory for the framebuffer");
	}
	v->vm = vm;
	pci_dev_init(&v->pci, "vga", VGA_VENDOR_ID, VGA_DEVICE_ID, VGA_CLASS, 2);
	v->pci.opaque = v;
	pci_set16(&v->pci, PCI_SUBSYS_VENDOR, 0x1af4);
	pci_set16(&v->pci, PCI_SUBSYS_ID, 0x1100);
	reset(v);
	if ((r = vm_add_device(vm, v, vga_destroy, e)) == 0) {
		vm_set_device_stats(vm, v, print_stats);
		vm_set_device_snapshot(vm, v, "vga", snap_save, snap_load);
	}
	if (r) {
		vga_destroy(v);
		return r;
	}
	if (pci_dev_set_bar(&v->pci, 0, PCI_BAR_MEM32, VGA_FB_SIZE, fb_io, v) ||
	    pci_dev_set_bar(&v->pci, 2, PCI_BAR_MEM32, VGA_MMIO_SIZE, mmio_io, v))
		return err_set(e, EINVAL, "vga: cannot declare its BARs");
	if ((r = bus_register(&vm->pio, VGA_PORT_BASE, VGA_PORT_COUNT, vga_ports_io, v, "vga", e)) ||
	    (r = bus_register(&vm->pio, VGA_DISPI_PORT, VGA_DISPI_NPORTS, dispi_ports_io, v,
	                      "vga vbe", e)) ||
	    (r = bus_register(&vm->mmio, MEM_VGA_START, MEM_VGA_END - MEM_VGA_START, vga_mem_io, v,
	                      "vga memory", e)) ||
	    (r = pci_host_add(pci, &v->pci, -1, e)))
		return r;
	/* The framebuffer is prefetchable; the host's BAR assignment rewrote the low bits. */
	pthread_mutex_lock(&v->pci.lock);
	v->pci.cfg[PCI_BAR0] |= PCI_BAR_F_PREFETCH;
	pthread_mutex_unlock(&v->pci.lock);
	if (out)
		*out = v;
	return 0;
}
