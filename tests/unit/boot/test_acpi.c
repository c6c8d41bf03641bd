/* ACPI tables, parsed back from guest memory: every checksum, the FADT's fixed
 * hardware, the DSDT's AML (\_S5, the PCI host bridge, virtio-mmio devices; byte for byte against AML that
 * `iasl -d` disassembles to the intended ASL), the MCFG, and the MADT for 1, 4 and 64
 * vCPUs; the AML builder's encodings. */
#include "../check.h"
#include "boot/acpi.h"
#include "boot/aml.h"
#include "boot_test.h"
#include "hw/virtio/virtio_mmio.h"

#define MiB (1ull << 20)

/* The kernel-boot board's DSDT body with nmmio virtio-mmio devices. */
static size_t dsdt_body(uint8_t *out, size_t cap, unsigned nmmio)
{
	struct acpi_board b = acpi_board_default(1, nmmio);
	return acpi_dsdt_aml(out, cap, &b);
}

/* The DSDT body. `iasl -d` (acpica-tools) gives, besides Name(\_S5, Package(0x04)
 * {5, 5, 0, 0}):
 *   Scope (\_SB) {
 *     Device (PCI0) {
 *       Name (_HID, EisaId ("PNP0A08")) Name (_CID, EisaId ("PNP0A03"))
 *       Name (_SEG, Zero) Name (_BBN, Zero) Name (_UID, Zero)
 *       Name (_CRS, ResourceTemplate () {
 *         WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0, 0, 1)
 *         IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08)
 *         WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
 *                 0, 0x0000, 0x0CF7, 0, 0x0CF8)
 *         WordIO (..., 0, 0x0D00, 0xFFFF, 0, 0xF300)
 *         DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable,
 *                      ReadWrite, 0, 0xC0000000, 0xDFFFFFFF, 0, 0x20000000) }) }
 *     Device (PCIR) {
 *       Name (_HID, EisaId ("PNP0C02")) Name (_UID, One)
 *       Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xE0000000, 0x00100000) }) } } */
static const uint8_t dsdt_aml[] = {
	0x08, 0x5c, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00, 0x10,
	0x43, 0x0c, 0x5c, 0x5f, 0x53, 0x42, 0x5f, 0x5b, 0x82, 0x4b, 0x08, 0x50, 0x43, 0x49, 0x30, 0x08,
	0x5f, 0x48, 0x49, 0x44, 0x0c, 0x41, 0xd0, 0x0a, 0x08, 0x08, 0x5f, 0x43, 0x49, 0x44, 0x0c, 0x41,
	0xd0, 0x0a, 0x03, 0x08, 0x5f, 0x53, 0x45, 0x47, 0x00, 0x08, 0x5f, 0x42, 0x42, 0x4e, 0x00, 0x08,
	0x5f, 0x55, 0x49, 0x44, 0x00, 0x08, 0x5f, 0x43, 0x52, 0x53, 0x11, 0x49, 0x05, 0x0b, 0x54, 0x00,
	0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
	0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08, 0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00,
	0x00, 0x00, 0xf7, 0x0c, 0x00, 0x00, 0xf8, 0x0c, 0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00,
	0x00, 0x0d, 0xff, 0xff, 0x00, 0x00, 0x00, 0xf3, 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xff, 0xdf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x20, 0x79, 0x00, 0x5b, 0x82, 0x2d, 0x50, 0x43, 0x49, 0x52, 0x08, 0x5f, 0x48, 0x49, 0x44,
	0x0c, 0x41, 0xd0, 0x0c, 0x02, 0x08, 0x5f, 0x55, 0x49, 0x44, 0x01, 0x08, 0x5f, 0x43, 0x52, 0x53,
	0x11, 0x12, 0x0b, 0x0e, 0x00, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe0, 0x00, 0x00, 0x10,
	0x00, 0x79, 0x00,
};

/* With two virtio-mmio devices, Scope(\_SB) also holds (`iasl -d`):
 *   Device (VR00) {
 *     Name (_HID, "LNRO0005") Name (_UID, Zero)
 *     Name (_CRS, ResourceTemplate () {
 *       Memory32Fixed (ReadWrite, 0xFEB00000, 0x00000200)
 *       Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, ) { 0x00000010 } }) }
 *   Device (VR01) { ... _UID One, 0xFEB00200, GSI 0x00000011 }
 * and the scope's PkgLength grows from 0xc3 to 0x13d bytes. */
static const uint8_t vr_aml[] = {
	0x5b, 0x82, 0x3b, 0x56, 0x52, 0x30, 0x30, 0x08, 0x5f, 0x48, 0x49, 0x44, 0x0d, 0x4c, 0x4e, 0x52,
	0x4f, 0x30, 0x30, 0x30, 0x35, 0x00, 0x08, 0x5f, 0x55, 0x49, 0x44, 0x00, 0x08, 0x5f, 0x43, 0x52,
	0x53, 0x11, 0x1b, 0x0b, 0x17, 0x00, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xb0, 0xfe, 0x00, 0x02,
	0x00, 0x00, 0x89, 0x06, 0x00, 0x01, 0x01, 0x10, 0x00, 0x00, 0x00, 0x79, 0x00, 0x5b, 0x82, 0x3b,
	0x56, 0x52, 0x30, 0x31, 0x08, 0x5f, 0x48, 0x49, 0x44, 0x0d, 0x4c, 0x4e, 0x52, 0x4f, 0x30, 0x30,
	0x30, 0x35, 0x00, 0x08, 0x5f, 0x55, 0x49, 0x44, 0x01, 0x08, 0x5f, 0x43, 0x52, 0x53, 0x11, 0x1b,
	0x0b, 0x17, 0x00, 0x86, 0x09, 0x00, 0x01, 0x00, 0x02, 0xb0, 0xfe, 0x00, 0x02, 0x00, 0x00, 0x89,
	0x06, 0x00, 0x01, 0x01, 0x11, 0x00, 0x00, 0x00, 0x79, 0x00,
};
#define SCOPE_PKGLEN 16         /* offset of Scope(\_SB)'s two-byte PkgLength in dsdt_aml */

static void test_dsdt_virtio_mmio(void)
{
	uint8_t b[4096];
	CHECK_EQ(dsdt_body(b, sizeof(b), 2), sizeof(dsdt_aml) + sizeof(vr_aml));
	CHECK(memcmp(b, dsdt_aml, SCOPE_PKGLEN) == 0);
	CHECK_EQ(b[SCOPE_PKGLEN], 0x4d);
	CHECK_EQ(b[SCOPE_PKGLEN + 1], 0x13);
	CHECK(memcmp(b + SCOPE_PKGLEN + 2, dsdt_aml + SCOPE_PKGLEN + 2,
	             sizeof(dsdt_aml) - SCOPE_PKGLEN - 2) == 0);
	CHECK(memcmp(b + sizeof(dsdt_aml), vr_aml, sizeof(vr_aml)) == 0);

	/* Every slot: device i at its window and GSI, and the DSDT still fits. */
	static const uint8_t mem32[] = { 0x86, 0x09, 0x00, 0x01 }, irq[] = { 0x89, 0x06, 0x00, 0x01, 0x01 };
	size_t n = dsdt_body(b, sizeof(b), VIRTIO_MMIO_SLOTS);
	CHECK(36 + n <= ACPI_DSDT_MAX);
	for (unsigned i = 0; i < VIRTIO_MMIO_SLOTS; i++) {
		char name[5];
		snprintf(name, sizeof(name), "VR%02X", i);
		const uint8_t *d = memmem(b, n, name, 4);
		CHECK(d != NULL);
		if (!d)
			continue;
		const uint8_t *m = memmem(d, (size_t)(b + n - d), mem32, sizeof(mem32));
		const uint8_t *q = memmem(d, (size_t)(b + n - d), irq, sizeof(irq));
		CHECK(m && q && m < q);
		if (m && q) {
			CHECK_EQ(peek32(m + 4), VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE);
			CHECK_EQ(peek32(m + 8), VIRTIO_MMIO_SIZE);
			CHECK_EQ(peek32(q + 5), VIRTIO_MMIO_GSI_BASE + i);
		}
	}
	/* The slots and GSIs collide with nothing the platform has. */
	uint64_t lo = VIRTIO_MMIO_BASE, hi = lo + VIRTIO_MMIO_SLOTS * VIRTIO_MMIO_SIZE;
	CHECK(lo >= PC_PCI_ECAM_ADDR + PC_PCI_ECAM_SIZE && hi <= PC_IOAPIC_ADDR);
	CHECK(lo >= (uint64_t)PC_PCI_MEM32_ADDR + PC_PCI_MEM32_SIZE);
	CHECK(VIRTIO_MMIO_GSI_BASE >= 16 && VIRTIO_MMIO_GSI_BASE + VIRTIO_MMIO_SLOTS <= PC_IOAPIC_PINS);
}

/* The builder's encodings (ACPI 6.x 20.2): PkgLength sizes at their boundaries, name
 * strings, integers, EISA IDs, a package nested deep enough to need long lengths. */
static void test_aml(void)
{
	uint8_t b[8192], pl[4];
	struct aml a;

	CHECK_EQ(aml_pkg_length(pl, 0), 1);
	CHECK_EQ(pl[0], 1);
	CHECK_EQ(aml_pkg_length(pl, 62), 1);          /* 63: the largest one-byte length */
	CHECK_EQ(pl[0], 63);
	CHECK_EQ(aml_pkg_length(pl, 62 + 1), 2);      /* 65 with its two bytes */
	CHECK_EQ(pl[0], 0x40 | 1);
	CHECK_EQ(pl[1], 4);
	CHECK_EQ(aml_pkg_length(pl, 4093), 2);        /* 4095 */
	CHECK_EQ(pl[0], 0x4f);
	CHECK_EQ(pl[1], 0xff);
	CHECK_EQ(aml_pkg_length(pl, 4094), 3);        /* 4097 */
	CHECK_EQ(pl[0], 0x81);
	CHECK_EQ(pl[1], 0x00);
	CHECK_EQ(pl[2], 0x01);
	CHECK_EQ(aml_pkg_length(pl, (1u << 20) - 4), 3);  /* 2^20 - 1 */
	CHECK_EQ(aml_pkg_length(pl, (1u << 20) - 3), 4);
	CHECK_EQ(aml_pkg_length(pl, 1u << 28), 0);

	CHECK_EQ(aml_eisaid_value("PNP0A03"), 0x030ad041);
	CHECK_EQ(aml_eisaid_value("PNP0C02"), 0x020cd041);

	static const uint8_t names[] = {
		0x5c, 0x5f, 0x53, 0x42, 0x5f,                               /* \_SB_ */
		0x5c, 0x2e, 0x5f, 0x53, 0x42, 0x5f, 0x50, 0x43, 0x49, 0x30,  /* \_SB.PCI0 */
		0x2f, 0x03, 0x41, 0x5f, 0x5f, 0x5f, 0x42, 0x42, 0x5f, 0x5f,
		0x43, 0x43, 0x43, 0x5f,                                     /* A.BB.CCC */
		0x5e, 0x58, 0x5f, 0x5f, 0x5f,                               /* ^X */
	};
	aml_init(&a, b, sizeof(b));
	aml_name_string(&a, "\\_SB");
	aml_name_string(&a, "\\_SB.PCI0");
	aml_name_string(&a, "A.BB.CCC");
	aml_name_string(&a, "^X");
	CHECK_EQ(a.len, sizeof(names));
	CHECK(memcmp(b, names, sizeof(names)) == 0);

	static const uint8_t ints[] = { 0x00, 0x01, 0x0a, 0x02, 0x0a, 0xff, 0x0b, 0x00, 0x01,
	                                0x0c, 0x00, 0x00, 0x01, 0x00, 0x0e, 0, 0, 0, 0, 1, 0, 0, 0,
	                                0x0d, 'h', 'i', 0x00 };
	aml_init(&a, b, sizeof(b));
	aml_int(&a, 0);
	aml_int(&a, 1);
	aml_int(&a, 2);
	aml_int(&a, 0xff);
	aml_int(&a, 0x100);
	aml_int(&a, 0x10000);
	aml_int(&a, 1ull << 32);
	aml_string(&a, "hi");
	CHECK_EQ(a.len, sizeof(ints));
	CHECK(memcmp(b, ints, sizeof(ints)) == 0);

	/* A package of 200 ones: body 1 + 200 bytes -> two-byte PkgLength 203 (0xcb). */
	aml_init(&a, b, sizeof(b));
	size_t p = aml_package(&a, 200);
	for (int i = 0; i < 200; i++)
		aml_int(&a, 1);
	aml_close(&a, p);
	CHECK_EQ(a.len, 1 + 2 + 1 + 200);
	CHECK_EQ(b[0], 0x12);
	CHECK_EQ(b[1], 0x40 | 0xb);
	CHECK_EQ(b[2], 0x0c);
	CHECK_EQ(b[3], 200);
	CHECK_EQ(b[4], 0x01);
	CHECK(!a.overflow);

	/* Overflow is reported, never written past the end. */
	uint8_t small[8];
	memset(small, 0xee, sizeof(small));
	aml_init(&a, small, 4);
	aml_string(&a, "too long");
	CHECK(a.overflow);
	CHECK_EQ(a.len, 4);
	CHECK_EQ(small[4], 0xee);
	CHECK_EQ(dsdt_body(b, 100, 0), 0);
	CHECK_EQ(dsdt_body(b, sizeof(b), 0), sizeof(dsdt_aml));

	/* Extended Interrupt descriptors: level/edge, high/low. */
	static const uint8_t irqs[] = { 0x89, 0x06, 0x00, 0x01, 0x01, 0x10, 0x00, 0x00, 0x00,
	                                0x89, 0x06, 0x00, 0x07, 0x01, 0x78, 0x56, 0x34, 0x12 };
	aml_init(&a, b, sizeof(b));
	aml_res_interrupt(&a, 16, false, false);
	aml_res_interrupt(&a, 0x12345678, true, true);
	CHECK_EQ(a.len, sizeof(irqs));
	CHECK(memcmp(b, irqs, sizeof(irqs)) == 0);
}

static const uint8_t *table_at(struct vm *vm, uint64_t addr, const char *sig)
{
	const uint8_t *t = gptr(vm, addr, 36);
	CHECK(memcmp(t, sig, 4) == 0);
	uint32_t len = peek32(t + 4);
	CHECK(len >= 36 && len < 4096);
	t = gptr(vm, addr, len);
	CHECK_EQ(acpi_sum(t, len), 0);
	return t;
}

static void check_gas_io(const uint8_t *g, unsigned bits, uint64_t addr)
{
	CHECK_EQ(g[0], 1);                           /* system I/O */
	CHECK_EQ(g[1], bits);
	CHECK_EQ(peek64(g + 4), addr);
}

static void test_tables(unsigned ncpus, unsigned nmmio)
{
	struct vm *vm = test_vm(64 * MiB);
	struct err e = { { 0 } };

	CHECK_EQ(acpi_install(&vm->mem, ncpus, nmmio, &e), 0);

	/* Find the RSDP the way a guest does: 16-byte steps through 0xe0000..0xfffff. */
	uint64_t rsdp_addr = 0;
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16)
		if (memcmp(gptr(vm, a, 8), "RSD PTR ", 8) == 0 && acpi_sum(gptr(vm, a, 20), 20) == 0) {
			rsdp_addr = a;
			break;
		}
	CHECK_EQ(rsdp_addr, ACPI_RSDP_ADDR);
	const uint8_t *rsdp = gptr(vm, rsdp_addr, 36);
	CHECK_EQ(rsdp[15], 2);                       /* revision */
	CHECK_EQ(peek32(rsdp + 20), 36);
	CHECK_EQ(acpi_sum(rsdp, 36), 0);

	const uint8_t *rsdt = table_at(vm, peek32(rsdp + 16), "RSDT");
	const uint8_t *xsdt = table_at(vm, peek64(rsdp + 24), "XSDT");
	CHECK_EQ(peek32(xsdt + 4), 36 + 4 * 8);   /* FADT, MADT, MCFG, SSDT */
	CHECK_EQ(peek32(rsdt + 4), 36 + 4 * 4);
	CHECK_EQ(peek32(rsdt + 36), peek64(xsdt + 36));
	CHECK_EQ(peek32(rsdt + 40), peek64(xsdt + 44));
	CHECK_EQ(peek32(rsdt + 44), peek64(xsdt + 52));
	CHECK_EQ(peek32(rsdt + 48), peek64(xsdt + 60));

	/* SSDT: \_SB.PCI0._PRT, one entry per slot 1-31 and pin: INTA of slot 1 on GSI 17. */
	const uint8_t *ssdt = table_at(vm, peek64(xsdt + 60), "SSDT");
	static const uint8_t prt_first[] = { 0x12, 0x0b, 0x04, 0x0c, 0xff, 0xff, 0x01, 0x00,
	                                     0x00, 0x00, 0x0a, 0x11 };
	CHECK(memmem(ssdt + 36, peek32(ssdt + 4) - 36, prt_first, sizeof(prt_first)) != NULL);

	/* MCFG: one ECAM allocation, segment 0, bus 0..0, at the window the host serves. */
	const uint8_t *mcfg = table_at(vm, peek64(xsdt + 52), "MCFG");
	CHECK_EQ(peek32(mcfg + 4), 60);
	CHECK_EQ(mcfg[8], 1);
	CHECK_EQ(peek64(mcfg + 44), PC_PCI_ECAM_ADDR);
	CHECK_EQ(peek16(mcfg + 52), 0);
	CHECK_EQ(mcfg[54], 0);
	CHECK_EQ(mcfg[55], PC_PCI_ECAM_BUSES - 1);

	const uint8_t *fadt = table_at(vm, peek64(xsdt + 36), "FACP");
	CHECK_EQ(peek32(fadt + 4), 276);
	CHECK_EQ(fadt[8], 6);
	CHECK_EQ(peek16(fadt + 46), PC_ACPI_SCI_IRQ);
	CHECK_EQ(peek32(fadt + 48), 0);               /* SMI_CMD */
	CHECK_EQ(peek32(fadt + 56), PC_ACPI_PM1A_EVT);
	CHECK_EQ(peek32(fadt + 64), PC_ACPI_PM1A_CNT);
	CHECK_EQ(peek32(fadt + 76), PC_ACPI_PM_TMR);
	CHECK_EQ(fadt[88], 4);
	CHECK_EQ(fadt[89], 2);
	CHECK_EQ(fadt[91], 4);
	CHECK(peek16(fadt + 109) & 2);                /* 8042 */
	uint32_t flags = peek32(fadt + 112);
	CHECK(flags & 1);                             /* WBINVD */
	CHECK(flags & (1u << 4));                     /* PWR_BUTTON: control method/absent */
	CHECK(flags & (1u << 5));                     /* SLP_BUTTON */
	CHECK(!(flags & (1u << 20)));                 /* not hardware reduced */
	check_gas_io(fadt + 148, 32, PC_ACPI_PM1A_EVT);
	check_gas_io(fadt + 172, 16, PC_ACPI_PM1A_CNT);
	check_gas_io(fadt + 208, 32, PC_ACPI_PM_TMR);
	CHECK_EQ(peek64(fadt + 140), peek32(fadt + 40));   /* X_DSDT == DSDT */
	CHECK_EQ(peek64(fadt + 132), peek32(fadt + 36));   /* X_FIRMWARE_CTRL == FIRMWARE_CTRL */

	const uint8_t *facs = gptr(vm, peek64(fadt + 132), 64);
	CHECK(memcmp(facs, "FACS", 4) == 0);
	CHECK_EQ(peek32(facs + 4), 64);
	CHECK_EQ(peek64(fadt + 132) % 64, 0);

	const uint8_t *dsdt = table_at(vm, peek64(fadt + 140), "DSDT");
	uint8_t body[4096];
	size_t body_len = dsdt_body(body, sizeof(body), nmmio);
	CHECK(body_len >= sizeof(dsdt_aml) + nmmio * sizeof(vr_aml) / 2);
	CHECK_EQ(peek32(dsdt + 4), 36 + body_len);
	CHECK(memcmp(dsdt + 36, body, body_len) == 0);
	if (nmmio == 0)
		CHECK(memcmp(dsdt + 36, dsdt_aml, sizeof(dsdt_aml)) == 0);

	const uint8_t *madt = table_at(vm, peek64(xsdt + 44), "APIC");
	CHECK_EQ(peek32(madt + 36), PC_LAPIC_ADDR);
	CHECK_EQ(peek32(madt + 40), 1);               /* PCAT_COMPAT */
	unsigned nlapic = 0, nioapic = 0, niso = 0;
	uint32_t len = peek32(madt + 4);
	for (uint32_t o = 44; o + 2 <= len;) {
		const uint8_t *x = madt + o;
		CHECK(x[1] >= 2 && o + x[1] <= len);
		if (x[1] < 2)
			break;
		if (x[0] == 0) {
			CHECK_EQ(x[1], 8);
			CHECK_EQ(x[3], nlapic);               /* APIC ID = vCPU index */
			CHECK_EQ(peek32(x + 4) & 1, 1);       /* enabled */
			nlapic++;
		} else if (x[0] == 1) {
			CHECK_EQ(x[1], 12);
			CHECK_EQ(x[2], ncpus);
			CHECK_EQ(peek32(x + 4), PC_IOAPIC_ADDR);
			CHECK_EQ(peek32(x + 8), 0);
			nioapic++;
		} else if (x[0] == 2) {
			CHECK_EQ(x[1], 10);
			CHECK_EQ(x[3], 9);
			CHECK_EQ(peek32(x + 4), 9);
			CHECK_EQ(peek16(x + 8), 0xd);         /* active high, level */
			niso++;
		}
		o += x[1];
	}
	CHECK_EQ(nlapic, ncpus);
	CHECK_EQ(nioapic, 1);
	CHECK_EQ(niso, 1);
	test_vm_free(vm);
}

int main(void)
{
	uint8_t aml[32];
	static const uint8_t s5[] = { 0x08, 0x5c, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08, 0x04,
	                              0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 };
	CHECK_EQ(PC_ACPI_S5_TYP, 5);
	CHECK_EQ(acpi_s5_aml(aml), sizeof(s5));
	CHECK(memcmp(aml, s5, sizeof(s5)) == 0);

	test_aml();
	test_dsdt_virtio_mmio();
	test_tables(1, 0);
	test_tables(4, 2);
	test_tables(VM_MAX_CPUS, VIRTIO_MMIO_SLOTS);

	struct vm *vm = test_vm(64 * MiB);
	struct err e = { { 0 } };
	CHECK(acpi_install(&vm->mem, 0, 0, &e) < 0);
	CHECK(acpi_install(&vm->mem, 1, VIRTIO_MMIO_SLOTS + 1, &e) < 0);
	CHECK(strstr(e.msg, "virtio-mmio") != NULL);
	test_vm_free(vm);
	return check_done();
}
