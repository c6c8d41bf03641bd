/* ACPI tables, parsed back from guest memory: every checksum, the FADT's fixed
 * hardware, the DSDT's \_S5 AML and the MADT for 1 and 4 vCPUs. */
#include "../check.h"
#include "boot/acpi.h"
#include "boot_test.h"

#define MiB (1ull << 20)

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

static void test_tables(unsigned ncpus)
{
	struct vm *vm = test_vm(64 * MiB);
	struct err e = { { 0 } };

	CHECK_EQ(acpi_install(&vm->mem, ncpus, &e), 0);

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
	CHECK_EQ(peek32(xsdt + 4), 36 + 2 * 8);
	CHECK_EQ(peek32(rsdt + 4), 36 + 2 * 4);
	CHECK_EQ(peek32(rsdt + 36), peek64(xsdt + 36));
	CHECK_EQ(peek32(rsdt + 40), peek64(xsdt + 44));

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
	static const uint8_t s5[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04,
	                              0x0a, PC_ACPI_S5_TYP, 0x0a, PC_ACPI_S5_TYP, 0x00, 0x00 };
	CHECK_EQ(peek32(dsdt + 4), 36 + sizeof(s5));
	CHECK(memcmp(dsdt + 36, s5, sizeof(s5)) == 0);

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

	test_tables(1);
	test_tables(4);
	test_tables(VM_MAX_CPUS);

	struct vm *vm = test_vm(64 * MiB);
	struct err e = { { 0 } };
	CHECK(acpi_install(&vm->mem, 0, &e) < 0);
	test_vm_free(vm);
	return check_done();
}
