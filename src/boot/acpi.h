/* ACPI tables (ACPI 6.x): RSDP, RSDT, XSDT, FADT, FACS, DSDT (\_S5, the PCI host
 * bridge \_SB.PCI0, the ECAM window as a motherboard resource, the virtio-mmio
 * devices), an SSDT with the PCI interrupt routing (\_SB.PCI0._PRT), MADT and MCFG
 * (PCI Firmware 3.x). Written into the firmware area at PC_ACPI_ADDR for a kernel boot,
 * or handed to the firmware through fw_cfg (firmware.c) for a firmware boot. */
#ifndef TRIVISOR_BOOT_ACPI_H
#define TRIVISOR_BOOT_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"
#include "hw/pc.h"

#define ACPI_RSDP_ADDR PC_ACPI_ADDR   /* 16-byte aligned, found by scanning 0xe0000..0xfffff */

/* Offsets of the tables inside the area. */
#define ACPI_RSDP_OFF  0x000
#define ACPI_RSDT_OFF  0x040
#define ACPI_XSDT_OFF  0x080
#define ACPI_FACS_OFF  0x100   /* 64-byte aligned */
#define ACPI_FADT_OFF  0x140
#define ACPI_MCFG_OFF  0x260
#define ACPI_MADT_OFF  0x2c0   /* up to 44 + 8 * 255 + 22 bytes */
#define ACPI_DSDT_OFF  0xb00
#define ACPI_DSDT_MAX  0x1000

#define ACPI_MCFG_LEN  60      /* header, reserved, one allocation */

#define ACPI_FADT_LEN  276   /* revision 6 layout */

/* What the tables describe. */
struct acpi_board {
	unsigned ncpus;           /* 1..255 */
	unsigned nvirtio_mmio;    /* the first n virtio-mmio slots (0..VIRTIO_MMIO_SLOTS) */
	/* The firmware board (i440FX): conventional PCI through 0xCF8 only (no ECAM, no
	 * MCFG), BARs wherever the firmware puts them in the 32-bit window below, a VGA. */
	bool legacy_pci;
	uint32_t mem32_start, mem32_end;   /* PCI0's 32-bit memory window, inclusive */
	bool vga;                 /* a VGA is present (the FADT says so) */
};

/* The kernel-boot board: ECAM, BARs in PC_PCI_MEM32. */
struct acpi_board acpi_board_default(unsigned ncpus, unsigned nvirtio_mmio);

/* Build the tables into buf (at least PC_ACPI_SIZE bytes, which will sit at guest
 * address base) at the ACPI_*_OFF offsets, the SSDT after the DSDT. Returns the bytes
 * used. Pure. */
size_t acpi_build(uint8_t *buf, uint32_t base, const struct acpi_board *b);
/* Where acpi_build put the SSDT. */
size_t acpi_ssdt_off(const uint8_t *buf);

/* Build and write them to guest RAM at PC_ACPI_ADDR. */
int acpi_install(struct guest_mem *m, unsigned ncpus, unsigned nvirtio_mmio, struct err *e);

/* The AML the DSDT carries: Name(\_S5, Package(){S5_TYP, S5_TYP, 0, 0}). Writes it to
 * out (room for 32 bytes) and returns its length. */
size_t acpi_s5_aml(uint8_t *out);

/* The DSDT's whole body (after the header): \_S5, then Scope(\_SB) with Device(PCI0)
 * (PNP0A08/PNP0A03, or PNP0A03 alone on the legacy board, _SEG, _BBN, _UID, _CRS with
 * bus numbers, I/O and memory windows), a PNP0C02 device reserving the ECAM window (not
 * on the legacy board), and Device(VRnn) for each of the first nvirtio_mmio virtio-mmio
 * slots (_HID "LNRO0005", _UID, _CRS with the register window and the GSI). Returns
 * its length, 0 if it does not fit in cap. */
size_t acpi_dsdt_aml(uint8_t *out, size_t cap, const struct acpi_board *b);

/* Sum of len bytes modulo 256 (0 for a correctly checksummed table). */
uint8_t acpi_sum(const uint8_t *p, size_t len);

#endif
