/* The AHCI controller (ahci.c, atapi.c) with the input as its driver: register
 * accesses of any width anywhere in the ABAR, command headers, FISes, ATAPI packets
 * and PRD tables as the input writes them, guest RAM poked anywhere, PCI configuration
 * writes (bus mastering, MSI). Five ports: a writable disk, an ATAPI CD-ROM, a
 * read-only disk, an empty port and a drive with no medium, on temporary images.
 *
 * Input, little-endian, ops until it ends (short operands read as zeros):
 *   0 u16 off, u8 size (low 2 bits: 1/2/4/8 bytes), u64 value   ABAR write
 *   1 u16 off, u8 size                                          ABAR read
 *   2 u32 gpa (mod RAM), u8 n, n bytes                          RAM fill
 *   3 u8 port, u8 slot, u32 header DW0, 20 bytes FIS, 16 bytes packet, u8 nprd (mod 9),
 *     nprd * 16 bytes of PRD entries                            build the command, set PxCI
 *   4 u8 port                                                   bring the port up
 *   5 u8 reg, u8 size, u32 value                                configuration write
 * Layout in RAM: port p's command list at FZ_CLB(p), its FIS area at FZ_FB(p), slot s's
 * table at FZ_CT(s), buffers from FZ_BUF. tests/fuzz/seeds.py writes seeds in this form.
 *
 * Invariants: the images keep their size, nothing is ever written to the read-only disk
 * or the CD, counters add up (malformed + host errors <= errors <= commands), a port
 * with ST clear has nothing issued, interrupt status has only defined bits. */
#include "fuzz.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hw/ahci.h"
#include "hw/pci.h"

#define FZ_CLB(p)  (0x1000u * (p))
#define FZ_FB(p)   (0x6000u + 0x100u * (p))
#define FZ_CT(s)   (0x8000u + 0x100u * (s))
#define FZ_BUF     0x10000u

#define DISK_SECTORS 128
#define CD_BLOCKS    16

enum { P_DISK, P_CD, P_RO, P_EMPTY, P_NOMEDIA, NPORTS };

static struct ahci *hba;
static struct pci_host *host;
static uint32_t bar;             /* where the ABAR was put: each input starts there */

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void stats(FILE *out)
{
	struct ahci_port_stats t = { 0 }, s;
	uint64_t cd_read = 0;
	for (unsigned i = 0; i < NPORTS; i++) {
		if (!ahci_get_stats(hba, i, &s))
			continue;
		t.commands += s.commands;
		t.packets += s.packets;
		t.errors += s.errors;
		t.malformed += s.malformed;
		t.io_errors += s.io_errors;
		t.lost_fis += s.lost_fis;
		t.flushes += s.flushes;
		t.resets += s.resets;
		t.ignored_issues += s.ignored_issues;
		t.sectors_read += s.sectors_read;
		t.sectors_written += s.sectors_written;
		if (i == P_CD)
			cd_read = s.sectors_read;
	}
	fprintf(out, " commands=%lu packets=%lu errors=%lu malformed=%lu io_errors=%lu lost_fis=%lu"
	        " flushes=%lu resets=%lu ignored=%lu sectors_read=%llu sectors_written=%llu"
	        " cd_read=%llu msis=%lu", t.commands, t.packets, t.errors, t.malformed, t.io_errors,
	        t.lost_fis, t.flushes, t.resets, t.ignored_issues,
	        (unsigned long long)t.sectors_read, (unsigned long long)t.sectors_written,
	        (unsigned long long)cd_read, hba->msis);
}

static void abar_access(struct vm *vm, uint16_t off, unsigned size, uint64_t v, bool write)
{
	uint8_t d[8];
	for (unsigned i = 0; i < 8; i++)
		d[i] = (uint8_t)(v >> (8 * i));
	bus_access(&vm->mmio, pci_bar_addr(&hba->pci, AHCI_BAR) + off % AHCI_BAR_SIZE, d, size, write);
}

static void reg_wr(struct vm *vm, unsigned off, uint32_t v)
{
	abar_access(vm, (uint16_t)off, 4, v, true);
}

static void cfg_write(unsigned reg, unsigned size, uint32_t v)
{
	struct pci_dev *d = &hba->pci;
	pthread_mutex_lock(&d->lock);
	pci_cfg_write_locked(d, reg, size, v);
	pthread_mutex_unlock(&d->lock);
}

static void port_up(struct vm *vm, unsigned p)
{
	unsigned base = AHCI_PORT_BASE + AHCI_PORT_SIZE * (p % NPORTS);
	reg_wr(vm, base + PX_CMD, 0);
	reg_wr(vm, base + PX_CLB, FZ_CLB(p % NPORTS));
	reg_wr(vm, base + PX_CLBU, 0);
	reg_wr(vm, base + PX_FB, FZ_FB(p % NPORTS));
	reg_wr(vm, base + PX_FBU, 0);
	reg_wr(vm, base + PX_CMD, PX_CMD_FRE | PX_CMD_ST);
	reg_wr(vm, base + PX_IE, 0xffffffff);
	reg_wr(vm, AHCI_GHC, AHCI_GHC_AE | AHCI_GHC_IE);
}

static void command(struct vm *vm, struct fz *f)
{
	unsigned p = fz_u8(f) % NPORTS, s = fz_u8(f) % AHCI_SLOTS;
	uint8_t hdr[32] = { 0 }, t[0x80 + 8 * 16] = { 0 };

	put32(hdr, fz_u32(f));
	put32(hdr + 8, FZ_CT(s));
	fz_bytes(f, t, 20);
	fz_bytes(f, t + 0x40, 16);
	unsigned nprd = fz_u8(f) % 9;
	fz_bytes(f, t + 0x80, 16u * nprd);
	mem_write(&vm->mem, FZ_CLB(p) + 32 * s, hdr, sizeof(hdr));
	mem_write(&vm->mem, FZ_CT(s), t, 0x80 + 16u * nprd);
	reg_wr(vm, AHCI_PORT_BASE + AHCI_PORT_SIZE * p + PX_CI, 1u << s);
}

static void check(int disk_fd, int cd_fd, int ro_fd)
{
	struct stat st;
	if (fstat(disk_fd, &st) || st.st_size != DISK_SECTORS * 512)
		fuzz_fail("the disk image is now %lld bytes", (long long)st.st_size);
	if (fstat(cd_fd, &st) || st.st_size != CD_BLOCKS * 2048)
		fuzz_fail("the CD image is now %lld bytes", (long long)st.st_size);
	if (fstat(ro_fd, &st) || st.st_size != DISK_SECTORS * 512)
		fuzz_fail("the read-only image is now %lld bytes", (long long)st.st_size);
	if (hba->is >> NPORTS)
		fuzz_fail("IS 0x%x has bits of ports that do not exist", hba->is);
	for (unsigned i = 0; i < NPORTS; i++) {
		const struct ahci_port *p = &hba->port[i];
		const struct ahci_port_stats *s = &p->st;
		if (!(p->cmd & PX_CMD_ST) && (p->ci || p->sact))
			fuzz_fail("port %u: CI 0x%x SACT 0x%x with ST clear", i, p->ci, p->sact);
		if (p->is & ~PX_IS_MASK)
			fuzz_fail("port %u: PxIS 0x%x", i, p->is);
		if (s->malformed + s->io_errors > s->errors || s->errors > s->commands)
			fuzz_fail("port %u: %lu malformed + %lu host errors, %lu errors, %lu commands", i,
			          s->malformed, s->io_errors, s->errors, s->commands);
		if (i != P_DISK && s->sectors_written)
			fuzz_fail("port %u wrote %llu sectors", i, (unsigned long long)s->sectors_written);
		if ((i == P_EMPTY && s->commands) || (i == P_NOMEDIA && s->sectors_read))
			fuzz_fail("port %u ran what it cannot", i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int disk_fd = -1, cd_fd = -1, ro_fd = -1;
	struct vm *vm = fuzz_vm();
	struct fz f = { data, size };

	if (!hba) {
		char disk[64], cd[64], ro[64];
		struct err e;
		snprintf(disk, sizeof(disk), "%s", fuzz_image(DISK_SECTORS));
		snprintf(cd, sizeof(cd), "%s", fuzz_image(CD_BLOCKS * 4));
		snprintf(ro, sizeof(ro), "%s", fuzz_image(DISK_SECTORS));
		struct ahci_port_config pc[NPORTS] = {
			[P_DISK] = { .path = disk },
			[P_CD] = { .path = cd, .cdrom = true },
			[P_RO] = { .path = ro, .read_only = true },
			[P_NOMEDIA] = { .cdrom = true },
		};
		if (pci_host_create(vm, &host, &e) || ahci_create(vm, host, pc, NPORTS, &hba, &e))
			fuzz_fail("setup: %s", e.msg);
		bar = (uint32_t)pci_bar_addr(&hba->pci, AHCI_BAR);
		disk_fd = hba->port[P_DISK].disk.fd;
		cd_fd = hba->port[P_CD].disk.fd;
		ro_fd = hba->port[P_RO].disk.fd;
		unlink(disk);
		unlink(cd);
		fuzz_image_done();
		fuzz_stats_at_exit(stats);
	}
	/* A fresh controller: in place, enabled, mastering, no MSI, reset. */
	cfg_write(PCI_BAR0 + 4 * AHCI_BAR, 4, bar);
	cfg_write(PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_MASTER);
	if (hba->msi_cap)
		cfg_write(hba->msi_cap + 2, 2, 0);
	reg_wr(vm, AHCI_GHC, AHCI_GHC_HR);

	while (f.n) {
		uint8_t op = fz_u8(&f);
		switch (op % 6) {
		case 0: {
			uint16_t off = fz_u16(&f);
			unsigned sz = 1u << (fz_u8(&f) & 3);
			abar_access(vm, off, sz, fz_u64(&f), true);
			break;
		}
		case 1: {
			uint16_t off = fz_u16(&f);
			abar_access(vm, off, 1u << (fz_u8(&f) & 3), 0, false);
			break;
		}
		case 2: {
			uint32_t gpa = fz_u32(&f) % FUZZ_RAM;
			fuzz_fill(vm, &f, gpa, fz_u8(&f));
			break;
		}
		case 3:
			command(vm, &f);
			break;
		case 4:
			port_up(vm, fz_u8(&f));
			break;
		case 5: {
			unsigned reg = fz_u8(&f), sz = 1u << (fz_u8(&f) % 3);
			cfg_write(reg, sz, fz_u32(&f));
			break;
		}
		}
		check(disk_fd, cd_fd, ro_fd);
	}
	return 0;
}
