/* ACPI tables, written from the ACPI 6.x specification (chapter 5). The platform they
 * describe is hw/pc.h: PM1a event/control blocks and PM timer in I/O space, SCI on IRQ 9,
 * no SMI command port (the machine starts in ACPI mode), one IOAPIC, one LAPIC per vCPU. */
#include "boot/acpi.h"
#include "boot/aml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/pc.h"
#include "hw/pci.h"
#include "hw/rtc.h"
#include "hw/virtio/virtio_mmio.h"

#define HDR_LEN 36

#define OEM_ID       "TRIVSR"
#define OEM_TABLE_ID "TRIVISOR"
#define CREATOR_ID   "TRIV"

/* FADT fields (table 5.9) */
#define FADT_FIRMWARE_CTRL 36
#define FADT_DSDT          40
#define FADT_SCI_INT       46
#define FADT_SMI_CMD       48
#define FADT_PM1A_EVT_BLK  56
#define FADT_PM1A_CNT_BLK  64
#define FADT_PM_TMR_BLK    76
#define FADT_PM1_EVT_LEN   88
#define FADT_PM1_CNT_LEN   89
#define FADT_PM_TMR_LEN    91
#define FADT_P_LVL2_LAT    96
#define FADT_P_LVL3_LAT    98
#define FADT_CENTURY       108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS         112
#define FADT_MINOR_VERSION 131
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT        140
#define FADT_X_PM1A_EVT    148
#define FADT_X_PM1A_CNT    172
#define FADT_X_PM_TMR      208

#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_8042           (1u << 1)
#define IAPC_VGA_NOT_PRESENT (1u << 2)

#define FADT_F_WBINVD       (1u << 0)
#define FADT_F_PROC_C1      (1u << 2)
#define FADT_F_PWR_BUTTON   (1u << 4)   /* power button: control method or absent */
#define FADT_F_SLP_BUTTON   (1u << 5)   /* sleep button: control method or absent */
#define FADT_F_FIX_RTC      (1u << 6)   /* no RTC wake status in the fixed registers */
#define FADT_F_TMR_VAL_EXT  (1u << 8)   /* the PM timer counts 32 bits, not 24 */

#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_WORD  2
#define GAS_ACCESS_DWORD 3

/* MADT (5.2.12) */
#define MADT_PCAT_COMPAT  1u
#define MADT_LAPIC        0
#define MADT_IOAPIC       1
#define MADT_ISO          2
#define MADT_LAPIC_ENABLED 1u
#define MPS_INTI_ACTIVE_HIGH 0x1
#define MPS_INTI_LEVEL       0xc

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

uint8_t acpi_sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

static void header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, OEM_ID, 6);
	memcpy(t + 16, OEM_TABLE_ID, 8);
	put32(t + 24, 1);
	memcpy(t + 28, CREATOR_ID, 4);
	put32(t + 32, 1);
}

static void checksum(uint8_t *t, size_t len, size_t field)
{
	t[field] = 0;
	t[field] = (uint8_t)-acpi_sum(t, len);
}

/* Generic Address Structure (5.2.3.2) for an I/O port block. */
static void gas_io(uint8_t *p, uint8_t bits, uint8_t access, uint64_t addr)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = bits;
	p[2] = 0;
	p[3] = access;
	put64(p + 4, addr);
}

size_t acpi_s5_aml(uint8_t *out)
{
	struct aml a;
	aml_init(&a, out, 32);
	aml_name(&a, "\\_S5_");
	size_t p = aml_package(&a, 4);
	aml_int(&a, PC_ACPI_S5_TYP);          /* PM1a SLP_TYP */
	aml_int(&a, PC_ACPI_S5_TYP);          /* PM1b SLP_TYP */
	aml_int(&a, 0);
	aml_int(&a, 0);
	aml_close(&a, p);
	return a.len;
}

/* virtio-mmio slot i (hw/virtio/virtio_mmio.h) as the device Linux's virtio_mmio
 * driver matches in ACPI: its register window and its level-triggered GSI. */
static void virtio_mmio_device(struct aml *a, unsigned i)
{
	char name[5];
	snprintf(name, sizeof(name), "VR%02X", i & 0xff);
	size_t dev = aml_device(a, name);
	aml_name(a, "_HID");
	aml_string(a, "LNRO0005");
	aml_name(a, "_UID");
	aml_int(a, i);
	aml_name(a, "_CRS");
	size_t crs = aml_buffer(a);
	aml_res_mem32_fixed(a, (uint32_t)virtio_mmio_slot_base(i), VIRTIO_MMIO_SIZE);
	aml_res_interrupt(a, virtio_mmio_slot_gsi(i), false, false);
	aml_res_end(a);
	aml_buffer_close(a, crs);
	aml_close(a, dev);
}

struct acpi_board acpi_board_default(unsigned ncpus, unsigned nvirtio_mmio)
{
	return (struct acpi_board){ .ncpus = ncpus, .nvirtio_mmio = nvirtio_mmio,
	                            .mem32_start = PC_PCI_MEM32_ADDR,
	                            .mem32_end = PC_PCI_MEM32_ADDR + PC_PCI_MEM32_SIZE - 1 };
}

size_t acpi_dsdt_aml(uint8_t *out, size_t cap, const struct acpi_board *b)
{
	struct aml a;
	uint8_t s5[32];

	aml_init(&a, out, cap);
	aml_bytes(&a, s5, acpi_s5_aml(s5));

	size_t sb = aml_scope(&a, "\\_SB_");

	/* The host bridge (PCI Firmware 3.x, 4.1): bus 0 only, the I/O ports except the
	 * configuration mechanism's, the 32-bit window the BARs are placed in. */
	size_t pci = aml_device(&a, "PCI0");
	aml_name(&a, "_HID");
	if (b->legacy_pci) {
		aml_eisaid(&a, "PNP0A03");        /* PCI root bridge */
	} else {
		aml_eisaid(&a, "PNP0A08");        /* PCI Express root bridge */
		aml_name(&a, "_CID");
		aml_eisaid(&a, "PNP0A03");
	}
	aml_name(&a, "_SEG");
	aml_int(&a, 0);
	aml_name(&a, "_BBN");
	aml_int(&a, 0);
	aml_name(&a, "_UID");
	aml_int(&a, 0);
	aml_name(&a, "_CRS");
	size_t crs = aml_buffer(&a);
	aml_res_bus_numbers(&a, 0, PC_PCI_ECAM_BUSES - 1);
	aml_res_io(&a, PC_PCI_CONF_ADDR, PC_PCI_CONF_ADDR, 1, 8);
	aml_res_io_window(&a, 0x0000, PC_PCI_CONF_ADDR - 1);
	aml_res_io_window(&a, PC_PCI_CONF_ADDR + 8, 0xffff);
	aml_res_mem32_window(&a, b->mem32_start, b->mem32_end);
	aml_res_end(&a);
	aml_buffer_close(&a, crs);
	aml_close(&a, pci);

	/* The ECAM window as a motherboard resource: Linux uses MCFG's window only if
	 * firmware reserves it (here or in the e820 map). */
	if (!b->legacy_pci) {
		size_t res = aml_device(&a, "PCIR");
		aml_name(&a, "_HID");
		aml_eisaid(&a, "PNP0C02");
		aml_name(&a, "_UID");
		aml_int(&a, 1);
		aml_name(&a, "_CRS");
		crs = aml_buffer(&a);
		aml_res_mem32_fixed(&a, PC_PCI_ECAM_ADDR, PC_PCI_ECAM_SIZE);
		aml_res_end(&a);
		aml_buffer_close(&a, crs);
		aml_close(&a, res);
	}

	for (unsigned i = 0; i < b->nvirtio_mmio; i++)
		virtio_mmio_device(&a, i);

	aml_close(&a, sb);
	return a.overflow ? 0 : a.len;
}

/* The SSDT's body: Scope(\_SB.PCI0) { Name(_PRT, Package() { one entry per slot 1-31
 * and pin INTA-INTD: Package() { slot << 16 | 0xFFFF, pin, Zero, GSI } }) }, the routing
 * pci.h gives INTx (PCI_INTX_GSI_BASE + (slot + pin) % 4). Linux takes a GSI routed
 * without a link device as level-triggered, active-low: what PCI INTx is. */
static size_t prt_aml(uint8_t *out, size_t cap)
{
	struct aml a;
	aml_init(&a, out, cap);
	size_t sc = aml_scope(&a, "\\_SB_.PCI0");
	aml_name(&a, "_PRT");
	size_t prt = aml_package(&a, (PCI_SLOTS - 1) * 4);
	for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			size_t p = aml_package(&a, 4);
			aml_le(&a, 0x0c, 1);                         /* DWordPrefix */
			aml_le(&a, slot << 16 | 0xffff, 4);
			aml_int(&a, pin);
			aml_int(&a, 0);
			aml_int(&a, PCI_INTX_GSI_BASE + (slot + pin) % PCI_INTX_LINES);
			aml_close(&a, p);
		}
	}
	aml_close(&a, prt);
	aml_close(&a, sc);
	return a.overflow ? 0 : a.len;
}

/* MCFG (PCI Firmware 3.x, 4.1.2): one ECAM allocation for segment 0. */
static void build_mcfg(uint8_t *t)
{
	header(t, "MCFG", ACPI_MCFG_LEN, 1);
	memset(t + HDR_LEN, 0, 8);                /* reserved */
	put64(t + 44, PC_PCI_ECAM_ADDR);
	put16(t + 52, 0);                         /* PCI segment group */
	t[54] = 0;                                /* start bus */
	t[55] = PC_PCI_ECAM_BUSES - 1;            /* end bus */
	put32(t + 56, 0);
	checksum(t, ACPI_MCFG_LEN, 9);
}

static size_t build_madt(uint8_t *t, unsigned ncpus)
{
	size_t o = HDR_LEN;
	put32(t + o, PC_LAPIC_ADDR);
	put32(t + o + 4, MADT_PCAT_COMPAT);
	o += 8;
	for (unsigned i = 0; i < ncpus; i++) {
		t[o] = MADT_LAPIC;
		t[o + 1] = 8;
		t[o + 2] = (uint8_t)i;                /* ACPI processor UID */
		t[o + 3] = (uint8_t)i;                /* APIC ID */
		put32(t + o + 4, MADT_LAPIC_ENABLED);
		o += 8;
	}
	t[o] = MADT_IOAPIC;
	t[o + 1] = 12;
	t[o + 2] = (uint8_t)ncpus;                /* IOAPIC ID, after the LAPIC IDs */
	t[o + 3] = 0;
	put32(t + o + 4, PC_IOAPIC_ADDR);
	put32(t + o + 8, 0);                      /* GSI base */
	o += 12;
	/* SCI: ISA IRQ 9 -> GSI 9, level triggered, active high. No override for IRQ 0:
	 * the in-kernel PIT drives GSI 0 directly. */
	t[o] = MADT_ISO;
	t[o + 1] = 10;
	t[o + 2] = 0;                             /* bus: ISA */
	t[o + 3] = PC_ACPI_SCI_IRQ;
	put32(t + o + 4, PC_ACPI_SCI_IRQ);
	put16(t + o + 8, MPS_INTI_ACTIVE_HIGH | MPS_INTI_LEVEL);
	o += 10;
	header(t, "APIC", (uint32_t)o, 4);
	checksum(t, o, 9);
	return o;
}

static void build_fadt(uint8_t *t, uint32_t facs, uint32_t dsdt, bool vga)
{
	header(t, "FACP", ACPI_FADT_LEN, 6);
	put32(t + FADT_FIRMWARE_CTRL, facs);
	put32(t + FADT_DSDT, dsdt);
	put16(t + FADT_SCI_INT, PC_ACPI_SCI_IRQ);
	put32(t + FADT_SMI_CMD, 0);               /* no SMI: ACPI mode from the start */
	put32(t + FADT_PM1A_EVT_BLK, PC_ACPI_PM1A_EVT);
	put32(t + FADT_PM1A_CNT_BLK, PC_ACPI_PM1A_CNT);
	put32(t + FADT_PM_TMR_BLK, PC_ACPI_PM_TMR);
	t[FADT_PM1_EVT_LEN] = 4;
	t[FADT_PM1_CNT_LEN] = 2;
	t[FADT_PM_TMR_LEN] = 4;
	put16(t + FADT_P_LVL2_LAT, 101);          /* > 100: no C2 */
	put16(t + FADT_P_LVL3_LAT, 1001);         /* > 1000: no C3 */
	t[FADT_CENTURY] = RTC_CENTURY_REG;
	put16(t + FADT_IAPC_BOOT_ARCH, IAPC_LEGACY_DEVICES | IAPC_8042 |
	                               (vga ? 0 : IAPC_VGA_NOT_PRESENT));
	put32(t + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_PWR_BUTTON |
	                      FADT_F_SLP_BUTTON | FADT_F_FIX_RTC |
	                      (PC_ACPI_PM_TMR_BITS == 32 ? FADT_F_TMR_VAL_EXT : 0));
	t[FADT_MINOR_VERSION] = 0;
	put64(t + FADT_X_FIRMWARE_CTRL, facs);
	put64(t + FADT_X_DSDT, dsdt);
	gas_io(t + FADT_X_PM1A_EVT, 32, GAS_ACCESS_WORD, PC_ACPI_PM1A_EVT);
	gas_io(t + FADT_X_PM1A_CNT, 16, GAS_ACCESS_WORD, PC_ACPI_PM1A_CNT);
	gas_io(t + FADT_X_PM_TMR, 32, GAS_ACCESS_DWORD, PC_ACPI_PM_TMR);
	checksum(t, ACPI_FADT_LEN, 9);
}

size_t acpi_ssdt_off(const uint8_t *buf)
{
	const uint8_t *d = buf + ACPI_DSDT_OFF;
	uint32_t len = d[4] | d[5] << 8 | d[6] << 16 | (uint32_t)d[7] << 24;
	return (ACPI_DSDT_OFF + len + 15) & ~(size_t)15;
}

size_t acpi_build(uint8_t *buf, uint32_t base, const struct acpi_board *b)
{
	uint8_t *t;

	/* FACS (5.2.10): no checksum; 64 bytes, 64-byte aligned. */
	t = buf + ACPI_FACS_OFF;
	memcpy(t, "FACS", 4);
	put32(t + 4, 64);
	t[32] = 2;                                /* version */

	/* DSDT: header + AML. */
	t = buf + ACPI_DSDT_OFF;
	size_t dsdt_len = HDR_LEN + acpi_dsdt_aml(t + HDR_LEN, ACPI_DSDT_MAX - HDR_LEN, b);
	header(t, "DSDT", (uint32_t)dsdt_len, 2);
	checksum(t, dsdt_len, 9);

	size_t ssdt = acpi_ssdt_off(buf);
	t = buf + ssdt;
	size_t ssdt_len = HDR_LEN + prt_aml(t + HDR_LEN, PC_ACPI_SIZE - ssdt - HDR_LEN);
	header(t, "SSDT", (uint32_t)ssdt_len, 2);
	checksum(t, ssdt_len, 9);

	build_fadt(buf + ACPI_FADT_OFF, base + ACPI_FACS_OFF, base + ACPI_DSDT_OFF, b->vga);
	build_madt(buf + ACPI_MADT_OFF, b->ncpus);

	/* RSDT (32-bit pointers) and XSDT (64-bit): FADT, MADT, MCFG (ECAM only), SSDT. */
	uint32_t tables[4] = { base + ACPI_FADT_OFF, base + ACPI_MADT_OFF };
	unsigned nt = 2;
	if (!b->legacy_pci) {
		build_mcfg(buf + ACPI_MCFG_OFF);
		tables[nt++] = base + ACPI_MCFG_OFF;
	}
	tables[nt++] = base + (uint32_t)ssdt;
	t = buf + ACPI_RSDT_OFF;
	header(t, "RSDT", HDR_LEN + 4 * nt, 1);
	for (unsigned i = 0; i < nt; i++)
		put32(t + HDR_LEN + 4 * i, tables[i]);
	checksum(t, HDR_LEN + 4 * nt, 9);
	t = buf + ACPI_XSDT_OFF;
	header(t, "XSDT", HDR_LEN + 8 * nt, 1);
	for (unsigned i = 0; i < nt; i++)
		put64(t + HDR_LEN + 8 * i, tables[i]);
	checksum(t, HDR_LEN + 8 * nt, 9);

	/* RSDP (5.2.5.3), revision 2: checksum over the first 20 bytes, extended over 36. */
	t = buf + ACPI_RSDP_OFF;
	memcpy(t, "RSD PTR ", 8);
	memcpy(t + 9, OEM_ID, 6);
	t[15] = 2;
	put32(t + 16, base + ACPI_RSDT_OFF);
	put32(t + 20, 36);
	put64(t + 24, base + ACPI_XSDT_OFF);
	checksum(t, 20, 8);
	checksum(t, 36, 32);

	return ssdt + ssdt_len;
}

int acpi_install(struct guest_mem *m, unsigned ncpus, unsigned nvirtio_mmio, struct err *e)
{
	if (ncpus < 1 || ACPI_MADT_OFF + 44 + 8 * (size_t)ncpus + 22 > ACPI_DSDT_OFF ||
	    ncpus > 255)
		return err_set(e, EINVAL, "ACPI: cannot describe %u vCPUs", ncpus);
	if (nvirtio_mmio > VIRTIO_MMIO_SLOTS)
		return err_set(e, EINVAL, "ACPI: cannot describe %u virtio-mmio devices (at most %u)",
		               nvirtio_mmio, VIRTIO_MMIO_SLOTS);
	uint8_t *buf = calloc(1, PC_ACPI_SIZE);
	if (!buf)
		return err_set(e, ENOMEM, "out of memory");
	struct acpi_board b = acpi_board_default(ncpus, nvirtio_mmio);
	size_t len = acpi_build(buf, PC_ACPI_ADDR, &b);
	int r = mem_write(m, PC_ACPI_ADDR, buf, len);
	free(buf);
	if (r)
		return err_set(e, ENOMEM, "guest RAM too small for the ACPI tables at 0x%x",
		               PC_ACPI_ADDR);
	return 0;
}
