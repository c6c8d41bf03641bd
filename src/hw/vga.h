/* A standard VGA as the Bochs/QEMU "stdvga" PCI device (1234:1111, class 03 00 00),
 * the adapter SeaBIOS's vgabios-stdvga.bin and Linux's vgacon drive:
 *   - the VGA registers at ports 0x3B0-0x3DF (misc output, sequencer, graphics and
 *     attribute controllers, CRTC, DAC, input status), 0x3B4/0x3B5/0x3BA always decoded
 *     as aliases of 0x3D4/0x3D5/0x3DA whatever the misc output's I/O select says;
 *   - the legacy memory window 0xA0000-0xBFFFF over four 64 KiB planes (chain 4,
 *     odd/even and planar addressing, write modes 0-3, read modes 0-1), or over the
 *     framebuffer's 64 KiB bank while the VBE extension is enabled;
 *   - the Bochs VBE "DISPI" registers (index port 0x1CE, data port 0x1CF);
 *   - BAR0: a 16 MiB prefetchable framebuffer; BAR2: a 4 KiB MMIO window with the VGA
 *     ports (0x400-0x41F) and the DISPI registers (0x500-0x515).
 * Only text mode is rendered (vga_text_snapshot); graphics modes are accepted and
 * reported as such. The reset state is BIOS mode 3 (80x25 colour text at 0xB8000), so
 * text written there shows without any BIOS. */
#ifndef TRIVISOR_HW_VGA_H
#define TRIVISOR_HW_VGA_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct vm;
struct pci_host;
struct vga;

#define VGA_VENDOR_ID     0x1234
#define VGA_DEVICE_ID     0x1111
#define VGA_CLASS         0x030000u

#define VGA_PORT_BASE     0x3b0      /* 0x3B0-0x3DF */
#define VGA_PORT_COUNT    0x30
#define VGA_DISPI_PORT    0x1ce      /* index; 0x1CF data (0x1D0 its odd half) */
#define VGA_DISPI_NPORTS  3
#define VGA_FB_SIZE       (16u << 20) /* BAR0 */
#define VGA_MMIO_SIZE     0x1000u     /* BAR2 */
#define VGA_PLANE_SIZE    0x10000u

/* The largest text screen a snapshot holds; a CRTC programmed for more is clamped. */
#define VGA_TEXT_MAX_COLS 160
#define VGA_TEXT_MAX_ROWS 100

/* What the screen shows, copied under the device lock. */
struct vga_text {
	uint64_t generation;     /* the device's change counter when copied */
	bool graphics;           /* a graphics mode: cells are blank, gfx_* say which */
	unsigned gfx_width, gfx_height, gfx_bpp;
	unsigned cols, rows;     /* 1..VGA_TEXT_MAX_COLS/ROWS */
	bool cursor_visible;     /* then cursor_x < cols, cursor_y < rows */
	unsigned cursor_x, cursor_y;
	bool blink;              /* attribute bit 7 blinks (else: bright background) */
	uint8_t ch[VGA_TEXT_MAX_ROWS][VGA_TEXT_MAX_COLS];   /* code page 437 */
	uint8_t attr[VGA_TEXT_MAX_ROWS][VGA_TEXT_MAX_COLS]; /* bg << 4 | fg */
};

struct vga_stats {
	uint64_t port_reads, port_writes;
	uint64_t mem_reads, mem_writes;       /* the legacy window */
	uint64_t fb_reads, fb_writes;         /* BAR0 */
	uint64_t mmio_accesses;               /* BAR2 */
	uint64_t unmapped;        /* legacy window accesses outside the selected map or bank */
	uint64_t ignored_writes;  /* protected CRTC registers, bad indexes or DISPI values */
};

/* Create the adapter: its PCI function on pci (first free slot), the legacy ports and
 * memory window on vm's buses. Owned by the VM (vm_add_device) from then on; out may be
 * NULL. The legacy window must not be RAM (mem.h: MEM_VGA_START..MEM_VGA_END). */
int vga_create(struct vm *vm, struct pci_host *pci, struct vga **out, struct err *e);

/* Copy the text screen into out unless out->generation already equals the device's
 * change counter (the caller zeroes it before the first call): returns true if out
 * was (re)filled. Any thread. */
bool vga_text_snapshot(struct vga *v, struct vga_text *out);

/* Registers back to their power-on state (mode 3); video memory keeps its content, as
 * on hardware. Any thread. */
void vga_reset(struct vga *v);

void vga_get_stats(struct vga *v, struct vga_stats *out);

#endif
