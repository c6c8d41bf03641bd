/* ACPI tables (ACPI 6.x): RSDP, RSDT, XSDT, FADT, FACS, DSDT (\_S5, the PCI host
 * bridge \_SB.PCI0, the ECAM window as a motherboard resource, the virtio-mmio
 * devices), MADT and MCFG
 * (PCI Firmware 3.x), written into the firmware area at PC_ACPI_ADDR. */
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
#define ACPI_FACS_OFF  0x0c0
#define ACPI_FADT_OFF  0x100
#define ACPI_MCFG_OFF  0x240
#define ACPI_MADT_OFF  0x280   /* up to 44 + 8 * 255 + 22 bytes */
#define ACPI_DSDT_OFF  0xb00
#define ACPI_DSDT_MAX  0x1000

#define ACPI_MCFG_LEN  60      /* header, reserved, one allocation */

#define ACPI_FADT_LEN  276   /* revision 6 layout */

/* Build the tables for ncpus (1..VM_MAX_CPUS) vCPUs and the first nvirtio_mmio
 * (0..VIRTIO_MMIO_SLOTS) virtio-mmio slots into buf (at least PC_ACPI_SIZE bytes,
 * which will sit at guest address base). Returns the bytes used. Pure. */
size_t acpi_build(uint8_t *buf, uint32_t base, unsigned ncpus, unsigned nvirtio_mmio);

/* Build and write them to guest RAM at PC_ACPI_ADDR. */
int acpi_install(struct guest_mem *m, unsigned ncpus, unsigned nvirtio_mmio, struct err *e);

/* The AML the DSDT carries: Name(\_S5, Package(){S5_TYP, S5_TYP, 0, 0}). Writes it to
 * out (room for 32 bytes) and returns its length. */
size_t acpi_s5_aml(uint8_t *out);

/* The DSDT's whole body (after the header): \_S5, then Scope(\_SB) with Device(PCI0)
 * (PNP0A08/PNP0A03, _SEG, _BBN, _UID, _CRS with bus numbers, I/O and memory windows),
 * a PNP0C02 device reserving the ECAM window, and Device(VRnn) for each of the first
 * nvirtio_mmio virtio-mmio slots (_HID "LNRO0005", _UID, _CRS with the register window
 * and the GSI). Returns its length, 0 if it does not fit in cap. */
size_t acpi_dsdt_aml(uint8_t *out, size_t cap, unsigned nvirtio_mmio);

/* Sum of len bytes modulo 256 (0 for a correctly checksummed table). */
uint8_t acpi_sum(const uint8_t *p, size_t len);

#endif
