/* debug exit, POST port, fw_cfg, ACPI PM1 and PM timer. */
#include <time.h>

#include "../check.h"
#include "hw/acpi_pm.h"
#include "hw/debug_exit.h"
#include "hw/fw_cfg.h"
#include "hw/pc.h"
#include "hw_test.h"

static void new_vm(struct vm *vm)
{
	test_vm_init(vm, 256ull << 20, 3, -1);
}

static void test_debug_exit(void)
{
	struct vm vm;
	struct err e;

	new_vm(&vm);
	CHECK_EQ(debug_exit_create(&vm, PC_DEBUG_EXIT_PORT, &e), 0);
	CHECK_EQ(post_port_create(&vm, PC_POST_PORT, &e), 0);
	outb(&vm, PC_POST_PORT, 0x12);
	CHECK_EQ(inb(&vm, PC_POST_PORT), 0xff);
	CHECK_EQ(vm.pio.unclaimed_writes + vm.pio.unclaimed_reads, 0);
	CHECK_EQ(io_in(&vm, PC_DEBUG_EXIT_PORT, 4), 0xffffffff);
	CHECK_EQ(vm.stop_reason, VM_RUNNING);
	outb(&vm, PC_DEBUG_EXIT_PORT, 0x10);
	CHECK_EQ(vm.stop_reason, VM_STOP_DEBUG_EXIT);
	CHECK_EQ(vm.exit_status, 0x21);
	vm_destroy(&vm);

	/* 32-bit write: the status keeps its low 8 bits ((v << 1) | 1) */
	new_vm(&vm);
	CHECK_EQ(debug_exit_create(&vm, PC_DEBUG_EXIT_PORT, &e), 0);
	io_out(&vm, PC_DEBUG_EXIT_PORT, 4, 0xdeadbeef);
	CHECK_EQ(vm.stop_reason, VM_STOP_DEBUG_EXIT);
	CHECK(vm.exit_status >= 0);
	CHECK_EQ(vm.exit_status & 0xff, (0xdeadbeefu << 1 | 1) & 0xff);
	vm_destroy(&vm);
}

static void fw_select(struct vm *vm, uint16_t key)
{
	io_out(vm, PC_FW_CFG_PORT, 2, key);
}

static uint64_t fw_read(struct vm *vm, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)inb(vm, PC_FW_CFG_PORT + 1) << (8 * i);
	return v;
}

static void test_fw_cfg(void)
{
	struct vm vm;
	struct err e;
	char sig[5] = { 0 };

	struct fw_cfg *f;
	new_vm(&vm);
	CHECK_EQ(fw_cfg_create(&vm, &f, &e), 0);
	fw_select(&vm, FW_CFG_SIGNATURE);
	for (int i = 0; i < 4; i++)
		sig[i] = (char)inb(&vm, PC_FW_CFG_PORT + 1);
	CHECK_STR(sig, "QEMU");
	CHECK_EQ(inb(&vm, PC_FW_CFG_PORT + 1), 0);      /* past the end */
	fw_select(&vm, FW_CFG_SIGNATURE);              /* re-selecting rewinds */
	CHECK_EQ(inb(&vm, PC_FW_CFG_PORT + 1), 'Q');
	fw_select(&vm, FW_CFG_ID);
	CHECK_EQ(fw_read(&vm, 4), 3);                  /* traditional and DMA */
	fw_select(&vm, FW_CFG_RAM_SIZE);
	CHECK_EQ(fw_read(&vm, 8), 256ull << 20);
	fw_select(&vm, FW_CFG_NB_CPUS);
	CHECK_EQ(fw_read(&vm, 2), 3);
	fw_select(&vm, FW_CFG_MAX_CPUS);
	CHECK_EQ(fw_read(&vm, 2), 3);
	fw_select(&vm, FW_CFG_FILE_DIR);
	CHECK_EQ(fw_read(&vm, 4), 0);                  /* no files */
	fw_select(&vm, 0x8003);
	CHECK_EQ(fw_read(&vm, 8), 0);                  /* unknown: empty */

	/* Files: the directory lists them (big-endian size, key, name). */
	CHECK_EQ(fw_cfg_add_file(f, "etc/one", "abc", 3, &e), 0);
	CHECK_EQ(fw_cfg_add_file(f, "etc/two", "0123456789", 10, &e), 0);
	CHECK(fw_cfg_add_file(f, "", "x", 1, &e) < 0);
	uint8_t dir[4 + 2 * 64];
	fw_select(&vm, FW_CFG_FILE_DIR);
	for (unsigned i = 0; i < sizeof(dir); i++)
		dir[i] = (uint8_t)inb(&vm, PC_FW_CFG_PORT + 1);
	CHECK_EQ(dir[3], 2);
	CHECK_EQ(dir[4 + 64 + 3], 10);                 /* second file's size */
	CHECK_EQ(dir[4 + 64 + 4] << 8 | dir[4 + 64 + 5], FW_CFG_FILE_FIRST + 1);
	CHECK_STR((char *)dir + 4 + 8, "etc/one");
	CHECK_STR((char *)dir + 4 + 64 + 8, "etc/two");

	/* DMA: select the second file, skip 2 bytes, read 4 into RAM at 0x2000. */
	uint8_t desc[16] = { 0, FW_CFG_FILE_FIRST + 1, 0, FW_CFG_DMA_SELECT | FW_CFG_DMA_SKIP,
	                     0, 0, 0, 2 };
	mem_write(&vm.mem, 0x1000, desc, 16);
	io_out(&vm, PC_FW_CFG_DMA_PORT, 4, 0);
	io_out(&vm, PC_FW_CFG_DMA_PORT + 4, 4, 0x00100000);   /* 0x1000, big-endian */
	uint8_t back[16];
	mem_read(&vm.mem, 0x1000, back, 4);
	CHECK_EQ(back[0] | back[1] | back[2] | back[3], 0);    /* done, no error */
	uint8_t rd[16] = { 0, 0, 0, FW_CFG_DMA_READ, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0x20, 0 };
	mem_write(&vm.mem, 0x1000, rd, 16);
	io_out(&vm, PC_FW_CFG_DMA_PORT + 4, 4, 0x00100000);
	char got[5] = { 0 };
	mem_read(&vm.mem, 0x2000, got, 4);
	CHECK_STR(got, "2345");
	/* A read aimed outside RAM fails with the error bit and copies nothing. */
	rd[8] = 0xff;
	mem_write(&vm.mem, 0x1000, rd, 16);
	io_out(&vm, PC_FW_CFG_DMA_PORT + 4, 4, 0x00100000);
	mem_read(&vm.mem, 0x1000, back, 4);
	CHECK_EQ(back[3], FW_CFG_DMA_ERROR);
	struct fw_cfg_stats st;
	fw_cfg_get_stats(f, &st);
	CHECK_EQ(st.dma_ops, 3);
	CHECK_EQ(st.dma_errors, 1);
	/* The DMA port reads back its signature. */
	CHECK_EQ(io_in(&vm, PC_FW_CFG_DMA_PORT, 4), 0x554d4551);  /* "QEMU" */
	vm_destroy(&vm);
}

static void test_acpi_sleep(void)
{
	struct vm vm;
	struct err e;

	new_vm(&vm);
	CHECK_EQ(acpi_pm_create(&vm, NULL, &e), 0);
	CHECK_EQ(io_in(&vm, PC_ACPI_PM1A_CNT, 2) & 1, 1);   /* SCI_EN */
	/* S5 type without SLP_EN, then S1 with it: no stop, woken at once */
	io_out(&vm, PC_ACPI_PM1A_CNT, 2, PC_ACPI_S5_TYP << 10 | 1);
	CHECK_EQ(io_in(&vm, PC_ACPI_PM1A_CNT, 2), PC_ACPI_S5_TYP << 10 | 1);
	io_out(&vm, PC_ACPI_PM1A_CNT, 2, 1 << 10 | 1 << 13 | 1);
	CHECK_EQ(vm.stop_reason, VM_RUNNING);
	CHECK_EQ(io_in(&vm, PC_ACPI_PM1A_CNT, 2) & (1 << 13), 0); /* SLP_EN is write-only */
	CHECK_EQ(io_in(&vm, PC_ACPI_PM1A_EVT, 2) & 0x8000, 0x8000); /* WAK_STS */
	io_out(&vm, PC_ACPI_PM1A_EVT, 2, 0x8000);                  /* write 1 to clear */
	CHECK_EQ(io_in(&vm, PC_ACPI_PM1A_EVT, 2), 0);
	/* enable register: plain read/write of the defined bits */
	io_out(&vm, PC_ACPI_PM1A_EVT + 2, 2, 0xffff);
	CHECK_EQ(io_in(&vm, PC_ACPI_PM1A_EVT + 2, 2), 0x0721);
	/* power button: status + SCI while enabled */
	struct acpi_pm *pm = NULL;
	vm_destroy(&vm);

	new_vm(&vm);
	CHECK_EQ(acpi_pm_create(&vm, &pm, &e), 0);
	acpi_pm_power_button(pm);
	CHECK_EQ(irq_line(&vm, PC_ACPI_SCI_IRQ), 0);            /* PWRBTN_EN off */
	io_out(&vm, PC_ACPI_PM1A_EVT + 2, 2, 0x0100);
	CHECK_EQ(irq_line(&vm, PC_ACPI_SCI_IRQ), 1);
	CHECK_EQ(io_in(&vm, PC_ACPI_PM1A_EVT, 4), 0x01000100);
	io_out(&vm, PC_ACPI_PM1A_EVT, 2, 0x0100);
	CHECK_EQ(irq_line(&vm, PC_ACPI_SCI_IRQ), 0);
	/* S5 as a byte write of the high byte: SLP_EN | SLP_TYP */
	outb(&vm, PC_ACPI_PM1A_CNT + 1, (1 << 5) | PC_ACPI_S5_TYP << 2);
	CHECK_EQ(vm.stop_reason, VM_STOP_POWEROFF);
	CHECK_EQ(vm.exit_status, 0);
	vm_destroy(&vm);

	new_vm(&vm);
	CHECK_EQ(acpi_pm_create(&vm, NULL, &e), 0);
	io_out(&vm, PC_ACPI_PM1A_CNT, 2, PC_ACPI_S5_TYP << 10 | 1 << 13);
	CHECK_EQ(vm.stop_reason, VM_STOP_POWEROFF);
	CHECK_STR(vm.stop_msg, "guest powered off (ACPI S5)");
	vm_destroy(&vm);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_pm_timer(void)
{
	struct vm vm;
	struct err e;

	new_vm(&vm);
	CHECK_EQ(acpi_pm_create(&vm, NULL, &e), 0);
	uint32_t prev = (uint32_t)io_in(&vm, PC_ACPI_PM_TMR, 4);
	int mono = 1;
	for (int i = 0; i < 10000; i++) {
		uint32_t t = (uint32_t)io_in(&vm, PC_ACPI_PM_TMR, 4);
		mono &= t >= prev;
		prev = t;
	}
	CHECK(mono);
	/* the rate: the ticks between two reads must fit the time between them, measured
	 * from outside (no assumption about how long the sleep really took) */
	uint64_t a0 = mono_ns();
	uint32_t t1 = (uint32_t)io_in(&vm, PC_ACPI_PM_TMR, 4);
	uint64_t a1 = mono_ns();
	struct timespec d = { 0, 50 * 1000 * 1000 };
	nanosleep(&d, NULL);
	uint64_t b0 = mono_ns();
	uint32_t t2 = (uint32_t)io_in(&vm, PC_ACPI_PM_TMR, 4);
	uint64_t b1 = mono_ns();
	double ticks = (double)(uint32_t)(t2 - t1);
	double lo = (double)(b0 - a1) * 3579545.0 / 1e9, hi = (double)(b1 - a0) * 3579545.0 / 1e9;
	CHECK(ticks >= lo - 2 && ticks <= hi + 2);
	CHECK(ticks > 100000);                 /* 50 ms is ~179000 ticks */
	/* writes are ignored; byte reads work */
	io_out(&vm, PC_ACPI_PM_TMR, 4, 0);
	CHECK(inb(&vm, PC_ACPI_PM_TMR + 3) <= 1);
	vm_destroy(&vm);
}

int main(void)
{
	test_debug_exit();
	test_fw_cfg();
	test_acpi_sleep();
	test_pm_timer();
	return check_done();
}
