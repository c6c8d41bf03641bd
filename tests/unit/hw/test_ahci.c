/* The AHCI controller, driven the way Linux's ahci and SeaBIOS drive it: find it in
 * configuration space, set up each port's command list and received-FIS area in guest
 * RAM, issue commands through PxCI and read the results from PxIS, PxTFD, the
 * received FISes and PRDBC. A disk on a temporary image (IDENTIFY, DMA and PIO reads
 * and writes reaching the file, FLUSH, TRIM, out-of-range and malformed commands and
 * the recovery after them, host I/O errors), a read-only disk, an ATAPI CD-ROM on a
 * temporary "ISO" (INQUIRY, READ CAPACITY, READ(10), sense data, TOC, configuration),
 * an empty drive, resets (HBA, COMRESET, SRST), INTx and MSI. */
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../check.h"
#include "hw/ahci.h"
#include "hw/atapi.h"
#include "hw/pc.h"
#include "hw/pci.h"
#include "hw_test.h"

#define RAM         (16u << 20)
#define CLB(p)      (0x10000u + 0x1000u * (p))
#define FB(p)       (0x18000u + 0x100u * (p))
#define CT(p, s)    (0x20000u + 0x2000u * (p) + 0x100u * (s))
#define BUF         0x100000u
#define BUF2        0x200000u
#define DISK_SECTORS 2048u             /* 1 MiB */
#define ISO_BLOCKS  16u

enum { P_DISK, P_RO, P_CD, P_EMPTY, P_NOMEDIA, NPORTS };

static struct vm vm;
static struct ahci *hba;
static unsigned slot;
static uint64_t abar;
static char disk_path[64], ro_path[64], iso_path[64];
static int disk_fd;

/* -- bus and memory helpers ----------------------------------------------------------- */

static uint32_t cfg_rd(unsigned reg, unsigned size)
{
	io_out(&vm, PC_PCI_CONF_ADDR, 4, 0x80000000u | slot << 11 | (reg & 0xfc));
	return (uint32_t)io_in(&vm, PC_PCI_CONF_DATA + (reg & 3), size);
}

static void cfg_wr(unsigned reg, unsigned size, uint32_t v)
{
	io_out(&vm, PC_PCI_CONF_ADDR, 4, 0x80000000u | slot << 11 | (reg & 0xfc));
	io_out(&vm, PC_PCI_CONF_DATA + (reg & 3), size, v);
}

static uint64_t mmio_rd(uint64_t off, unsigned size)
{
	uint8_t d[8];
	uint64_t v = 0;
	memset(d, 0xcc, sizeof(d));
	bus_access(&vm.mmio, abar + off, d, size, false);
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)d[i] << (8 * i);
	return v;
}

static void mmio_wr(uint64_t off, unsigned size, uint64_t v)
{
	uint8_t d[8];
	for (unsigned i = 0; i < size; i++)
		d[i] = (uint8_t)(v >> (8 * i));
	bus_access(&vm.mmio, abar + off, d, size, true);
}

static uint32_t rd(uint64_t off) { return (uint32_t)mmio_rd(off, 4); }
static void wr(uint64_t off, uint32_t v) { mmio_wr(off, 4, v); }
static uint64_t px(unsigned port, unsigned reg) { return AHCI_PORT_BASE + AHCI_PORT_SIZE * port + reg; }

static void put(uint64_t gpa, const void *b, size_t n)
{
	if (mem_write(&vm.mem, gpa, b, n))
		abort();
}

static void get(uint64_t gpa, void *b, size_t n)
{
	if (mem_read(&vm.mem, gpa, b, n))
		abort();
}

static uint32_t get32(uint64_t gpa)
{
	uint8_t b[4];
	get(gpa, b, 4);
	return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static struct ahci_port_stats stats(unsigned port)
{
	struct ahci_port_stats s;
	CHECK(ahci_get_stats(hba, port, &s));
	return s;
}

/* -- the driver ----------------------------------------------------------------------- */

struct prd {
	uint64_t addr;
	uint32_t len;
};

/* A register H2D FIS: command, LBA, count, features. */
static void fis(uint8_t f[20], uint8_t command, uint64_t lba, uint16_t count, uint8_t feature)
{
	memset(f, 0, 20);
	f[0] = 0x27;
	f[1] = 0x80;
	f[2] = command;
	f[3] = feature;
	f[4] = (uint8_t)lba;
	f[5] = (uint8_t)(lba >> 8);
	f[6] = (uint8_t)(lba >> 16);
	f[7] = (uint8_t)(0x40 | ((lba >> 24) & 0xf));
	f[8] = (uint8_t)(lba >> 24);
	f[9] = (uint8_t)(lba >> 32);
	f[10] = (uint8_t)(lba >> 40);
	f[12] = (uint8_t)count;
	f[13] = (uint8_t)(count >> 8);
}

/* Build slot s's header and table (cfl dwords of FIS, packet, PRDs) and issue it.
 * Returns PxIS afterwards (and clears it). */
static uint32_t issue_raw(unsigned port, unsigned s, const uint8_t f[20], unsigned cfl,
                          const uint8_t *packet, const struct prd *prd, unsigned nprd, bool write)
{
	uint8_t hdr[32] = { 0 };
	put32(hdr, cfl | (packet ? 1u << 5 : 0) | (write ? 1u << 6 : 0) | nprd << 16);
	put32(hdr + 4, 0xdeadbeef);                       /* PRDBC: the HBA rewrites it */
	put64(hdr + 8, CT(port, s));
	put(CLB(port) + 32 * s, hdr, sizeof(hdr));
	uint8_t t[0x80 + 16 * 8] = { 0 };
	memcpy(t, f, 20);
	if (packet)
		memcpy(t + 0x40, packet, 16);
	for (unsigned i = 0; i < nprd && i < 8; i++) {
		put64(t + 0x80 + 16 * i, prd[i].addr);
		put32(t + 0x80 + 16 * i + 12, prd[i].len - 1);
	}
	put(CT(port, s), t, sizeof(t));
	wr(px(port, PX_CI), 1u << s);
	uint32_t is = rd(px(port, PX_IS));
	wr(px(port, PX_IS), is);
	return is;
}

static uint32_t issue(unsigned port, const uint8_t f[20], const struct prd *prd, unsigned nprd,
                      bool write)
{
	return issue_raw(port, 0, f, 5, NULL, prd, nprd, write);
}

/* One ATAPI packet with a single PRD of len bytes at BUF. */
static uint32_t packet(unsigned port, const uint8_t *cdb, uint32_t len)
{
	uint8_t f[20], p[16] = { 0 };
	struct prd prd = { BUF, len ? len : 2 };
	fis(f, 0xa0, 0, 0, 1);
	memcpy(p, cdb, 12);
	return issue_raw(port, 0, f, 5, p, &prd, 1, false);
}

static uint32_t prdbc(unsigned port, unsigned s) { return get32(CLB(port) + 32 * s + 4); }
static uint8_t tfd_status(unsigned port) { return (uint8_t)rd(px(port, PX_TFD)); }
static uint8_t tfd_error(unsigned port) { return (uint8_t)(rd(px(port, PX_TFD)) >> 8); }

/* Linux's port bring-up: stop, set the list and FIS area, FRE, ST, enable interrupts. */
static void port_start(unsigned port)
{
	wr(px(port, PX_CMD), 0);
	wr(px(port, PX_CLB), CLB(port));
	wr(px(port, PX_CLBU), 0);
	wr(px(port, PX_FB), FB(port));
	wr(px(port, PX_FBU), 0);
	wr(px(port, PX_CMD), PX_CMD_FRE);
	wr(px(port, PX_CMD), PX_CMD_FRE | PX_CMD_ST);
	wr(px(port, PX_SERR), 0xffffffff);
	wr(px(port, PX_IS), 0xffffffff);
	wr(px(port, PX_IE), 0x7dc000ffu);
}

/* The AHCI 6.2.2.1 recovery after an error: ST off, wait for CR, clear, ST on. */
static void port_recover(unsigned port)
{
	uint32_t cmd = rd(px(port, PX_CMD));
	wr(px(port, PX_CMD), cmd & ~PX_CMD_ST);
	CHECK_EQ(rd(px(port, PX_CMD)) & PX_CMD_CR, 0);
	CHECK_EQ(rd(px(port, PX_CI)), 0);
	wr(px(port, PX_IS), rd(px(port, PX_IS)));
	wr(px(port, PX_CMD), cmd | PX_CMD_ST);
}

/* -- setup ----------------------------------------------------------------------------- */

static int temp_file(char *path, const char *tag, size_t size, unsigned seed)
{
	snprintf(path, 64, "/tmp/trivisor-ahci-%s-XXXXXX", tag);
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, (off_t)size))
		abort();
	uint8_t b[512];
	for (size_t off = 0; off < size; off += sizeof(b)) {
		for (unsigned i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)((off / 512) * seed + i);
		if (pwrite(fd, b, sizeof(b), (off_t)off) != (ssize_t)sizeof(b))
			abort();
	}
	return fd;
}

static void setup(void)
{
	struct pci_host *host;
	struct err e;

	disk_fd = temp_file(disk_path, "disk", DISK_SECTORS * 512, 7);
	close(temp_file(ro_path, "ro", DISK_SECTORS * 512, 3));
	close(temp_file(iso_path, "iso", ISO_BLOCKS * 2048, 5));
	test_vm_init(&vm, RAM, 1, -1);
	if (pci_host_create(&vm, &host, &e)) {
		fprintf(stderr, "pci_host_create: %s\n", e.msg);
		exit(1);
	}
	struct ahci_port_config pc[NPORTS] = {
		[P_DISK] = { .path = disk_path },
		[P_RO] = { .path = ro_path, .read_only = true },
		[P_CD] = { .path = iso_path, .cdrom = true },
		[P_EMPTY] = { 0 },
		[P_NOMEDIA] = { .cdrom = true },
	};
	if (ahci_create(&vm, host, pc, NPORTS, &hba, &e)) {
		fprintf(stderr, "ahci_create: %s\n", e.msg);
		exit(1);
	}
	/* The same image writable a second time: refused (locked). */
	struct ahci *again;
	CHECK(ahci_create(&vm, host, pc, 1, &again, &e) < 0);
}

/* -- tests ----------------------------------------------------------------------------- */

static void test_probe(void)
{
	for (slot = 0; slot < PCI_SLOTS; slot++)
		if (cfg_rd(0, 4) == (AHCI_DEVICE << 16 | AHCI_VENDOR))
			break;
	CHECK(slot < PCI_SLOTS);
	CHECK_EQ(cfg_rd(PCI_CLASS_PROG, 1), 0x01);
	CHECK_EQ(cfg_rd(PCI_CLASS_PROG + 1, 2), 0x0106);
	CHECK_EQ(cfg_rd(PCI_INT_PIN, 1), 1);
	abar = cfg_rd(PCI_BAR0 + 4 * AHCI_BAR, 4) & ~0xfu;
	CHECK(abar >= PC_PCI_MEM32_ADDR);
	/* The BAR sizes to 4 KiB */
	cfg_wr(PCI_BAR0 + 4 * AHCI_BAR, 4, 0xffffffff);
	CHECK_EQ(cfg_rd(PCI_BAR0 + 4 * AHCI_BAR, 4), 0xfffff000u);
	cfg_wr(PCI_BAR0 + 4 * AHCI_BAR, 4, (uint32_t)abar);
	/* An MSI capability in the list */
	unsigned msi = 0;
	for (unsigned p = cfg_rd(PCI_CAP_PTR, 1), n = 0; p && n < 16; p = cfg_rd(p + 1, 1), n++)
		if (cfg_rd(p, 1) == 0x05)
			msi = p;
	CHECK(msi != 0);
	cfg_wr(PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_MASTER);

	uint32_t cap = rd(AHCI_CAP);
	CHECK_EQ(cap & 0x1f, NPORTS - 1);
	CHECK_EQ((cap >> 8) & 0x1f, 31);
	CHECK(cap & (1u << 31));                           /* S64A */
	CHECK(cap & (1u << 18));                           /* AHCI only */
	CHECK_EQ(mmio_rd(AHCI_CAP, 1), cap & 0xff);        /* byte access */
	CHECK_EQ(mmio_rd(AHCI_CAP + 1, 2), (cap >> 8) & 0xffff);
	CHECK_EQ(rd(AHCI_PI), (1u << NPORTS) - 1);
	CHECK_EQ(rd(AHCI_VS), 0x10300);
	CHECK_EQ(rd(AHCI_CAP2), 0);
	CHECK(rd(AHCI_GHC) & AHCI_GHC_AE);
	CHECK_EQ(rd(0xffc), 0);                            /* past the ports */

	/* HBA reset: done at once, AE stays */
	wr(AHCI_GHC, AHCI_GHC_AE | AHCI_GHC_HR);
	CHECK_EQ(rd(AHCI_GHC), AHCI_GHC_AE);

	CHECK_EQ(rd(px(P_DISK, PX_SIG)), AHCI_SIG_DISK);
	CHECK_EQ(rd(px(P_DISK, PX_SSTS)) & 0xf0f, 0x103);
	CHECK_EQ(tfd_status(P_DISK), 0x50);
	CHECK_EQ(rd(px(P_CD, PX_SIG)), AHCI_SIG_ATAPI);
	CHECK_EQ(rd(px(P_CD, PX_SSTS)) & 0xf, 3);
	CHECK_EQ(rd(px(P_NOMEDIA, PX_SIG)), AHCI_SIG_ATAPI);
	CHECK_EQ(rd(px(P_EMPTY, PX_SSTS)), 0);
	CHECK_EQ(rd(px(P_EMPTY, PX_SIG)), 0xffffffff);
	CHECK_EQ(rd(px(P_DISK, PX_CMD)) & (PX_CMD_SUD | PX_CMD_POD), PX_CMD_SUD | PX_CMD_POD);

	for (unsigned p = 0; p < NPORTS; p++)
		port_start(p);
	CHECK_EQ(rd(px(P_DISK, PX_CMD)) & (PX_CMD_CR | PX_CMD_FR), PX_CMD_CR | PX_CMD_FR);
	CHECK_EQ(rd(px(P_DISK, PX_CLB)), CLB(P_DISK));
	wr(px(P_DISK, PX_CLB), CLB(P_DISK) | 0x3ff);        /* 1 KiB aligned: low bits read 0 */
	CHECK_EQ(rd(px(P_DISK, PX_CLB)), CLB(P_DISK));
}

static void test_identify(void)
{
	uint8_t f[20], id[512];
	struct prd prd = { BUF, 512 };

	fis(f, 0xec, 0, 0, 0);
	uint32_t is = issue(P_DISK, f, &prd, 1, false);
	CHECK(is & PX_IS_PSS);
	CHECK(!(is & PX_IS_TFES));
	CHECK_EQ(rd(px(P_DISK, PX_CI)), 0);
	CHECK_EQ(tfd_status(P_DISK), 0x50);
	CHECK_EQ(prdbc(P_DISK, 0), 512);
	uint8_t ps[20];
	get(FB(P_DISK) + RFIS_PIO, ps, sizeof(ps));
	CHECK_EQ(ps[0], 0x5f);
	CHECK_EQ(ps[2] & 0x41, 0x40);                    /* SeaBIOS reads this: DRDY, no ERR */
	CHECK_EQ(ps[15], 0x50);                          /* E_Status: Linux reads this */
	get(BUF, id, sizeof(id));
	uint8_t sum = 0;
	for (unsigned i = 0; i < 512; i++)
		sum = (uint8_t)(sum + id[i]);
	CHECK_EQ(sum, 0);
	CHECK_EQ(id[510], 0xa5);
	char model[41];
	for (unsigned i = 0; i < 40; i += 2) {
		model[i] = (char)id[54 + i + 1];
		model[i + 1] = (char)id[54 + i];
	}
	model[40] = 0;
	CHECK(strncmp(model, "trivisor SATA disk  ", 20) == 0);
	uint64_t sectors = 0;
	for (unsigned i = 0; i < 4; i++)
		sectors |= (uint64_t)(id[200 + 2 * i] | id[201 + 2 * i] << 8) << (16 * i);
	CHECK_EQ(sectors, DISK_SECTORS);
	CHECK_EQ(id[120] | id[121] << 8 | id[122] << 16 | (uint32_t)id[123] << 24, DISK_SECTORS);
	CHECK((id[83 * 2 + 1] << 8 | id[83 * 2]) & (1u << 10));     /* 48-bit */
	CHECK((id[83 * 2 + 1] << 8 | id[83 * 2]) & (1u << 13));     /* FLUSH CACHE EXT */
	CHECK((id[85 * 2 + 1] << 8 | id[85 * 2]) & (1u << 5));      /* write cache on */
	CHECK_EQ(id[88 * 2 + 1], 0x20);                              /* UDMA 5 selected */

	/* SET FEATURES transfer mode UDMA 2: IDENTIFY follows; an invalid mode is refused */
	fis(f, 0xef, 0, 0x42, 0x03);
	CHECK(issue(P_DISK, f, NULL, 0, false) & PX_IS_DHRS);
	CHECK_EQ(tfd_status(P_DISK), 0x50);
	fis(f, 0xec, 0, 0, 0);
	issue(P_DISK, f, &prd, 1, false);
	get(BUF, id, sizeof(id));
	CHECK_EQ(id[88 * 2 + 1], 0x04);
	fis(f, 0xef, 0, 0x47, 0x03);
	CHECK(issue(P_DISK, f, NULL, 0, false) & PX_IS_TFES);
	CHECK_EQ(tfd_error(P_DISK), ATA_ER_ABRT);
	port_recover(P_DISK);

	/* IDENTIFY PACKET DEVICE: aborted by a disk, as SeaBIOS's probe expects */
	fis(f, 0xa1, 0, 0, 0);
	is = issue(P_DISK, f, &prd, 1, false);
	CHECK(is & PX_IS_TFES);
	CHECK(is & PX_IS_DHRS);
	uint8_t d2h[20];
	get(FB(P_DISK) + RFIS_D2H, d2h, sizeof(d2h));
	CHECK_EQ(d2h[0], 0x34);
	CHECK_EQ(d2h[2], 0x41);
	CHECK_EQ(d2h[3], ATA_ER_ABRT);
	CHECK_EQ(rd(px(P_DISK, PX_CI)), 1);              /* stays issued until recovery */
	port_recover(P_DISK);
}

static void test_rw(void)
{
	uint8_t f[20], out[4096], in[4096], file[4096];
	for (unsigned i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 13 + 1);
	put(BUF, out, 1000);                 /* split over two PRDs of uneven size */
	put(BUF2, out + 1000, sizeof(out) - 1000);
	struct prd w[2] = { { BUF, 1000 }, { BUF2, sizeof(out) - 1000 } };
	struct ahci_port_stats s0 = stats(P_DISK);

	fis(f, 0x35, 100, 8, 0);             /* WRITE DMA EXT */
	uint32_t is = issue(P_DISK, f, w, 2, true);
	CHECK(is & PX_IS_DHRS);
	CHECK(!(is & PX_IS_TFES));
	CHECK_EQ(tfd_status(P_DISK), 0x50);
	CHECK_EQ(prdbc(P_DISK, 0), 4096);
	CHECK_EQ(pread(disk_fd, file, sizeof(file), 100 * 512), (ssize_t)sizeof(file));
	CHECK(memcmp(file, out, sizeof(out)) == 0);

	struct prd r = { BUF2 + 0x10000, sizeof(in) };
	fis(f, 0x25, 100, 8, 0);             /* READ DMA EXT */
	is = issue(P_DISK, f, &r, 1, false);
	CHECK(is & PX_IS_DHRS);
	get(BUF2 + 0x10000, in, sizeof(in));
	CHECK(memcmp(in, out, sizeof(in)) == 0);

	/* 28-bit READ DMA in another slot, at the last sector */
	struct prd r1 = { BUF, 512 };
	fis(f, 0xc8, DISK_SECTORS - 1, 1, 0);
	CHECK(issue_raw(P_DISK, 5, f, 5, NULL, &r1, 1, false) & PX_IS_DHRS);
	CHECK_EQ(prdbc(P_DISK, 5), 512);
	CHECK_EQ(get32(BUF) & 0xff, (uint8_t)((DISK_SECTORS - 1) * 7));

	/* PIO: WRITE SECTORS then READ SECTORS EXT (a PIO setup FIS for data-in) */
	put(BUF, out, 512);
	fis(f, 0x30, 7, 1, 0);
	CHECK(issue(P_DISK, f, &r1, 1, true) & PX_IS_DHRS);
	fis(f, 0x24, 7, 1, 0);
	memset(in, 0, 512);
	put(BUF, in, 512);
	CHECK(issue(P_DISK, f, &r1, 1, false) & PX_IS_PSS);
	get(BUF, in, 512);
	CHECK(memcmp(in, out, 512) == 0);

	/* FLUSH CACHE EXT, READ VERIFY, CHECK POWER MODE */
	fis(f, 0xea, 0, 0, 0);
	CHECK(issue(P_DISK, f, NULL, 0, false) & PX_IS_DHRS);
	CHECK_EQ(tfd_status(P_DISK), 0x50);
	fis(f, 0x42, 0, 16, 0);
	CHECK(!(issue(P_DISK, f, NULL, 0, false) & PX_IS_TFES));
	fis(f, 0xe5, 0, 0, 0);
	issue(P_DISK, f, NULL, 0, false);
	uint8_t d2h[20];
	get(FB(P_DISK) + RFIS_D2H, d2h, sizeof(d2h));
	CHECK_EQ(d2h[12], 0xff);

	struct ahci_port_stats s1 = stats(P_DISK);
	CHECK_EQ(s1.sectors_written - s0.sectors_written, 9);
	CHECK_EQ(s1.sectors_read - s0.sectors_read, 10);
	CHECK_EQ(s1.flushes - s0.flushes, 1);
	CHECK_EQ(s1.errors, s0.errors);

	/* TRIM sectors 100-107: they read back as zeros */
	uint8_t ranges[512] = { 0 };
	put64(ranges, 100 | 8ull << 48);
	put(BUF, ranges, sizeof(ranges));
	struct prd t = { BUF, 512 };
	fis(f, 0x06, 0, 1, 1);
	CHECK(!(issue(P_DISK, f, &t, 1, true) & PX_IS_TFES));
	CHECK_EQ(pread(disk_fd, file, 512, 100 * 512), 512);
	CHECK_EQ(file[0] | file[511], 0);
}

static void test_errors(void)
{
	uint8_t f[20];
	struct prd ok = { BUF, 4096 };
	struct ahci_port_stats s0 = stats(P_DISK);

	/* Out of range: IDNF, the port stops until ST is cycled */
	fis(f, 0x25, DISK_SECTORS - 2, 8, 0);
	uint32_t is = issue(P_DISK, f, &ok, 1, false);
	CHECK(is & PX_IS_TFES);
	CHECK_EQ(tfd_error(P_DISK), ATA_ER_IDNF);
	CHECK_EQ(tfd_status(P_DISK) & 1, 1);
	fis(f, 0xe7, 0, 0, 0);
	issue_raw(P_DISK, 1, f, 5, NULL, NULL, 0, false);
	CHECK_EQ(rd(px(P_DISK, PX_CI)), 3);              /* nothing runs while stalled */
	port_recover(P_DISK);

	/* A PRD outside RAM (in the PCI hole, and straddling the end of RAM): refused */
	struct prd bad[2] = { { 0xd0000000u, 4096 }, { RAM - 512, 4096 } };
	for (unsigned i = 0; i < 2; i++) {
		fis(f, 0x25, 0, 8, 0);
		is = issue(P_DISK, f, &bad[i], 1, false);
		CHECK(is & PX_IS_TFES);
		CHECK_EQ(tfd_error(P_DISK), ATA_ER_ABRT);
		port_recover(P_DISK);
		fis(f, 0x35, 0, 8, 0);
		CHECK(issue(P_DISK, f, &bad[i], 1, true) & PX_IS_TFES);
		port_recover(P_DISK);
	}
	/* PRDs too short for the transfer, a bad CFL, a FIS that is not H2D */
	struct prd shorter = { BUF, 2048 };
	fis(f, 0x25, 0, 8, 0);
	CHECK(issue(P_DISK, f, &shorter, 1, false) & PX_IS_TFES);
	port_recover(P_DISK);
	CHECK(issue_raw(P_DISK, 0, f, 1, NULL, &ok, 1, false) & PX_IS_TFES);
	port_recover(P_DISK);
	f[0] = 0x34;
	CHECK(issue(P_DISK, f, &ok, 1, false) & PX_IS_TFES);
	port_recover(P_DISK);
	/* An unknown command: ABRT, not malformed */
	fis(f, 0xff, 0, 0, 0);
	CHECK(issue(P_DISK, f, NULL, 0, false) & PX_IS_TFES);
	CHECK_EQ(tfd_error(P_DISK), ATA_ER_ABRT);
	port_recover(P_DISK);

	struct ahci_port_stats s1 = stats(P_DISK);
	CHECK_EQ(s1.malformed - s0.malformed, 7);
	CHECK_EQ(s1.errors - s0.errors, 9);

	/* Still working */
	fis(f, 0x25, 0, 8, 0);
	CHECK(!(issue(P_DISK, f, &ok, 1, false) & PX_IS_TFES));
	CHECK_EQ(get32(BUF) & 0xff, 0);
	CHECK_EQ(prdbc(P_DISK, 0), 4096);

	/* The read-only disk: reads work, writes and TRIM are aborted, the file unchanged */
	uint8_t before[512], after[512], junk[512];
	int fd = open(ro_path, O_RDONLY);
	CHECK(pread(fd, before, 512, 0) == 512);
	fis(f, 0x25, 0, 8, 0);
	CHECK(!(issue(P_RO, f, &ok, 1, false) & PX_IS_TFES));
	memset(junk, 0x5a, sizeof(junk));
	put(BUF, junk, sizeof(junk));
	fis(f, 0x35, 0, 1, 0);
	CHECK(issue(P_RO, f, &ok, 1, true) & PX_IS_TFES);
	CHECK_EQ(tfd_error(P_RO), ATA_ER_ABRT);
	port_recover(P_RO);
	CHECK(pread(fd, after, 512, 0) == 512);
	CHECK(memcmp(before, after, 512) == 0);
	close(fd);
	CHECK_EQ(stats(P_RO).sectors_written, 0);
}

/* The host disk failing: the command fails, the device goes on. */
static void test_host_errors(void)
{
	uint8_t f[20];
	struct prd one = { BUF, 512 };
	struct ahci_port_stats s0 = stats(P_DISK);

	/* Writes beyond RLIMIT_FSIZE fail with EFBIG */
	struct rlimit old, lim = { 512 * 1024, 512 * 1024 };
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim.rlim_max = old.rlim_max;
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	fis(f, 0x35, DISK_SECTORS - 1, 1, 0);
	CHECK(issue(P_DISK, f, &one, 1, true) & PX_IS_TFES);
	CHECK_EQ(tfd_error(P_DISK), ATA_ER_ABRT);
	port_recover(P_DISK);
	setrlimit(RLIMIT_FSIZE, &old);

	/* Reads from a descriptor open for writing only fail with EBADF */
	struct ahci_port *p = &hba->port[P_DISK];
	int saved = dup(p->disk.fd), wo = open(disk_path, O_WRONLY);
	dup2(wo, p->disk.fd);
	fis(f, 0x25, 0, 1, 0);
	CHECK(issue(P_DISK, f, &one, 1, false) & PX_IS_TFES);
	CHECK_EQ(tfd_error(P_DISK), ATA_ER_UNC);
	port_recover(P_DISK);
	dup2(saved, p->disk.fd);
	close(saved);
	close(wo);

	struct ahci_port_stats s1 = stats(P_DISK);
	CHECK_EQ(s1.io_errors - s0.io_errors, 2);
	CHECK_EQ(s1.malformed, s0.malformed);
	fis(f, 0x25, 0, 1, 0);
	CHECK(!(issue(P_DISK, f, &one, 1, false) & PX_IS_TFES));
}

static uint8_t sense_key;
static uint8_t sense_asc;

static void request_sense(unsigned port)
{
	uint8_t cdb[12] = { 0x03, 0, 0, 0, 18 }, b[18];
	CHECK(!(packet(port, cdb, 18) & PX_IS_TFES));
	get(BUF, b, sizeof(b));
	CHECK_EQ(b[0], 0x70);
	sense_key = b[2] & 0xf;
	sense_asc = b[12];
}

static void test_atapi(void)
{
	uint8_t f[20], b[2048 * 2];
	struct prd prd = { BUF, 512 };

	fis(f, 0xa1, 0, 0, 0);                /* IDENTIFY PACKET DEVICE */
	CHECK(issue(P_CD, f, &prd, 1, false) & PX_IS_PSS);
	get(BUF, b, 512);
	CHECK_EQ(b[0] | b[1] << 8, 0x85c0);
	fis(f, 0xec, 0, 0, 0);                /* IDENTIFY DEVICE: aborted, signature shown */
	CHECK(issue(P_CD, f, &prd, 1, false) & PX_IS_TFES);
	get(FB(P_CD) + RFIS_D2H, b, 20);
	CHECK_EQ(b[5], 0x14);
	CHECK_EQ(b[6], 0xeb);
	port_recover(P_CD);

	uint8_t inq[12] = { 0x12, 0, 0, 0, 36 };
	CHECK(!(packet(P_CD, inq, 36) & PX_IS_TFES));
	get(BUF, b, 36);
	CHECK_EQ(b[0], 0x05);
	CHECK_EQ(b[1], 0x80);
	CHECK(memcmp(b + 8, "trivisor", 8) == 0);
	CHECK(memcmp(b + 16, "CD-ROM  ", 8) == 0);
	CHECK_EQ(prdbc(P_CD, 0), 36);

	uint8_t tur[12] = { 0 };
	CHECK(!(packet(P_CD, tur, 0) & PX_IS_TFES));

	uint8_t cap[12] = { 0x25 };
	CHECK(!(packet(P_CD, cap, 8) & PX_IS_TFES));
	get(BUF, b, 8);
	CHECK_EQ(b[3], ISO_BLOCKS - 1);
	CHECK_EQ(b[6] << 8 | b[7], 2048);

	uint8_t rd10[12] = { 0x28, 0, 0, 0, 0, 3, 0, 0, 2 };
	uint32_t is = packet(P_CD, rd10, 4096);
	CHECK(is & PX_IS_DHRS);
	CHECK(!(is & PX_IS_TFES));
	CHECK_EQ(tfd_status(P_CD), 0x40);
	get(BUF, b, 4096);
	CHECK_EQ(b[0], (uint8_t)(12 * 5));    /* block 3 = 512-byte sector 12 of the file */
	CHECK_EQ(b[2048 + 1], (uint8_t)(16 * 5 + 1));
	CHECK_EQ(prdbc(P_CD, 0), 4096);
	CHECK_EQ(stats(P_CD).sectors_read, 2);

	/* Past the end: CHECK CONDITION, ILLEGAL REQUEST / LBA OUT OF RANGE */
	uint8_t past[12] = { 0x28, 0, 0, 0, 0, ISO_BLOCKS - 1, 0, 0, 2 };
	is = packet(P_CD, past, 4096);
	CHECK(is & PX_IS_TFES);
	CHECK_EQ(tfd_status(P_CD), 0x41);
	CHECK_EQ(tfd_error(P_CD) >> 4, SENSE_ILLEGAL_REQUEST);
	port_recover(P_CD);
	request_sense(P_CD);
	CHECK_EQ(sense_key, SENSE_ILLEGAL_REQUEST);
	CHECK_EQ(sense_asc, 0x21);
	request_sense(P_CD);                  /* read once: cleared */
	CHECK_EQ(sense_key, 0);

	uint8_t bogus[12] = { 0xee };
	CHECK(packet(P_CD, bogus, 0) & PX_IS_TFES);
	port_recover(P_CD);
	request_sense(P_CD);
	CHECK_EQ(sense_key, SENSE_ILLEGAL_REQUEST);
	CHECK_EQ(sense_asc, 0x20);

	/* READ(12), READ TOC (LBA and MSF), GET CONFIGURATION, GESN, MODE SENSE, MECHANISM */
	uint8_t rd12[12] = { 0xa8, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	CHECK(!(packet(P_CD, rd12, 2048) & PX_IS_TFES));
	uint8_t toc[12] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 20 };
	CHECK(!(packet(P_CD, toc, 20) & PX_IS_TFES));
	get(BUF, b, 20);
	CHECK_EQ(b[0] << 8 | b[1], 18);
	CHECK_EQ(b[2], 1);
	CHECK_EQ(b[6], 1);
	CHECK_EQ(b[14], 0xaa);
	CHECK_EQ(b[19], ISO_BLOCKS);
	toc[1] = 2;                           /* MSF: lead-out at 00:02:16 */
	CHECK(!(packet(P_CD, toc, 20) & PX_IS_TFES));
	get(BUF, b, 20);
	CHECK_EQ(b[17] << 16 | b[18] << 8 | b[19], 0x000210);
	uint8_t conf[12] = { 0x46, 0, 0, 0, 0, 0, 0, 0, 64 };
	CHECK(!(packet(P_CD, conf, 64) & PX_IS_TFES));
	get(BUF, b, 16);
	CHECK_EQ(b[6] << 8 | b[7], 0x0008);
	CHECK_EQ(b[8] << 8 | b[9], 0x0000);   /* the profile list first */
	uint8_t gesn[12] = { 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8 };
	CHECK(!(packet(P_CD, gesn, 8) & PX_IS_TFES));
	get(BUF, b, 8);
	CHECK_EQ(b[2], 4);
	CHECK_EQ(b[5], 2);
	gesn[1] = 0;                          /* asynchronous: not supported */
	CHECK(packet(P_CD, gesn, 8) & PX_IS_TFES);
	port_recover(P_CD);
	uint8_t ms[12] = { 0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 64 };
	CHECK(!(packet(P_CD, ms, 64) & PX_IS_TFES));
	get(BUF, b, 10);
	CHECK_EQ(b[8], 0x2a);
	CHECK_EQ(prdbc(P_CD, 0), 30);
	uint8_t mech[12] = { 0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8 };
	CHECK(!(packet(P_CD, mech, 8) & PX_IS_TFES));

	/* Locked, eject refused */
	uint8_t lock[12] = { 0x1e, 0, 0, 0, 1 }, eject[12] = { 0x1b, 0, 0, 0, 2 };
	CHECK(!(packet(P_CD, lock, 0) & PX_IS_TFES));
	CHECK(packet(P_CD, eject, 0) & PX_IS_TFES);
	port_recover(P_CD);
	lock[4] = 0;
	CHECK(!(packet(P_CD, lock, 0) & PX_IS_TFES));
	CHECK(!(packet(P_CD, eject, 0) & PX_IS_TFES));

	/* A reply whose PRD leaves RAM: refused, counted, and the drive still works */
	unsigned long m0 = stats(P_CD).malformed;
	uint8_t p16[16] = { 0x12, 0, 0, 0, 36 };
	struct prd out = { RAM - 16, 36 };
	fis(f, 0xa0, 0, 0, 1);
	CHECK(issue_raw(P_CD, 0, f, 5, p16, &out, 1, false) & PX_IS_TFES);
	port_recover(P_CD);
	CHECK_EQ(stats(P_CD).malformed, m0 + 1);
	CHECK(!(packet(P_CD, inq, 36) & PX_IS_TFES));

	/* No medium: NOT READY / MEDIUM NOT PRESENT; INQUIRY still answers */
	CHECK(packet(P_NOMEDIA, tur, 0) & PX_IS_TFES);
	port_recover(P_NOMEDIA);
	request_sense(P_NOMEDIA);
	CHECK_EQ(sense_key, SENSE_NOT_READY);
	CHECK_EQ(sense_asc, 0x3a);
	CHECK(!(packet(P_NOMEDIA, inq, 36) & PX_IS_TFES));

	/* The empty port: nothing answers, the command stays issued */
	fis(f, 0xec, 0, 0, 0);
	issue(P_EMPTY, f, &prd, 1, false);
	CHECK_EQ(rd(px(P_EMPTY, PX_CI)), 1);
	CHECK(stats(P_EMPTY).ignored_issues >= 1);
	port_recover(P_EMPTY);
}

static void test_resets(void)
{
	uint8_t d2h[20], f[20];

	/* COMRESET: DET=1 drops the link; DET=0 brings it back with the signature FIS */
	wr(px(P_CD, PX_CMD), PX_CMD_FRE);
	memset(d2h, 0, sizeof(d2h));
	put(FB(P_CD) + RFIS_D2H, d2h, sizeof(d2h));
	wr(px(P_CD, PX_SCTL), 0x301);
	CHECK_EQ(rd(px(P_CD, PX_SSTS)) & 0xf, 0);
	wr(px(P_CD, PX_SCTL), 0x300);
	CHECK_EQ(rd(px(P_CD, PX_SSTS)) & 0xf, 3);
	CHECK_EQ(rd(px(P_CD, PX_SIG)), AHCI_SIG_ATAPI);
	get(FB(P_CD) + RFIS_D2H, d2h, sizeof(d2h));
	CHECK_EQ(d2h[0], 0x34);
	CHECK_EQ(d2h[5] | d2h[6] << 8, 0xeb14);
	CHECK_EQ(rd(px(P_CD, PX_IS)) & PX_IS_DHRS, 0);   /* no interrupt for it */
	wr(px(P_CD, PX_CMD), PX_CMD_FRE | PX_CMD_ST);

	/* Software reset: a control FIS with SRST, then one without */
	memset(d2h, 0, sizeof(d2h));
	put(FB(P_DISK) + RFIS_D2H, d2h, sizeof(d2h));
	fis(f, 0, 0, 0, 0);
	f[1] = 0;
	f[15] = 0x04;
	issue(P_DISK, f, NULL, 0, false);
	CHECK_EQ(rd(px(P_DISK, PX_CI)), 0);
	f[15] = 0;
	issue(P_DISK, f, NULL, 0, false);
	get(FB(P_DISK) + RFIS_D2H, d2h, sizeof(d2h));
	CHECK_EQ(d2h[0], 0x34);
	CHECK_EQ(d2h[2], 0x50);
	CHECK_EQ(d2h[4], 1);
	CHECK_EQ(d2h[12], 1);

	/* EXECUTE DEVICE DIAGNOSTIC: signature, error 01 */
	fis(f, 0x90, 0, 0, 0);
	CHECK(!(issue(P_CD, f, NULL, 0, false) & PX_IS_TFES));
	CHECK_EQ(tfd_error(P_CD), 1);

	/* No bus mastering: the command waits */
	cfg_wr(PCI_COMMAND, 2, PCI_CMD_MEM);
	fis(f, 0xe7, 0, 0, 0);
	issue(P_DISK, f, NULL, 0, false);
	CHECK_EQ(rd(px(P_DISK, PX_CI)), 1);
	cfg_wr(PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_MASTER);
	wr(px(P_DISK, PX_CI), 1);
	CHECK_EQ(rd(px(P_DISK, PX_CI)), 0);
	/* CI written with ST clear: ignored */
	wr(px(P_DISK, PX_CMD), PX_CMD_FRE);
	wr(px(P_DISK, PX_CI), 1);
	CHECK_EQ(rd(px(P_DISK, PX_CI)), 0);
	wr(px(P_DISK, PX_CMD), PX_CMD_FRE | PX_CMD_ST);
}

static void test_irq(void)
{
	uint8_t f[20];
	unsigned gsi = PCI_INTX_GSI_BASE + slot % PCI_INTX_LINES;

	for (unsigned p = 0; p < NPORTS; p++)
		wr(px(p, PX_IS), 0xffffffff);
	wr(AHCI_IS, 0xffffffff);
	wr(AHCI_GHC, AHCI_GHC_AE | AHCI_GHC_IE);
	CHECK_EQ(irq_line(&vm, gsi), 0);
	fis(f, 0xe7, 0, 0, 0);
	issue_raw(P_DISK, 2, f, 5, NULL, NULL, 0, false);   /* clears PxIS after reading it */
	CHECK_EQ(rd(AHCI_IS), 1u << P_DISK);
	CHECK_EQ(irq_line(&vm, gsi), 1);                    /* IS stays until written */
	CHECK(cfg_rd(PCI_STATUS, 2) & PCI_STATUS_INTX);
	wr(AHCI_IS, 1u << P_DISK);
	CHECK_EQ(irq_line(&vm, gsi), 0);

	/* While PxIS still has an enabled bit, IS comes back */
	wr(px(P_DISK, PX_CI), 1u << 2);
	CHECK_EQ(irq_line(&vm, gsi), 1);
	wr(AHCI_IS, 1u << P_DISK);
	CHECK_EQ(irq_line(&vm, gsi), 1);
	wr(px(P_DISK, PX_IS), 0xffffffff);
	wr(AHCI_IS, 1u << P_DISK);
	CHECK_EQ(irq_line(&vm, gsi), 0);

	/* Masked by PxIE, then by GHC.IE */
	wr(px(P_DISK, PX_IE), 0);
	wr(px(P_DISK, PX_CI), 1u << 2);
	CHECK_EQ(irq_line(&vm, gsi), 0);
	wr(px(P_DISK, PX_IE), PX_IS_DHRS);
	CHECK_EQ(irq_line(&vm, gsi), 1);
	wr(AHCI_GHC, AHCI_GHC_AE);
	CHECK_EQ(irq_line(&vm, gsi), 0);
	wr(px(P_DISK, PX_IS), 0xffffffff);
	wr(AHCI_IS, 0xffffffff);

	/* MSI: INTx stays low, one message per new PxIS bit (dropped: no engine here) */
	unsigned msi = 0;
	for (unsigned p = cfg_rd(PCI_CAP_PTR, 1); p; p = cfg_rd(p + 1, 1))
		if (cfg_rd(p, 1) == 0x05)
			msi = p;
	cfg_wr(msi + 4, 4, 0xfee00000u);
	cfg_wr(msi + 8, 4, 0);
	cfg_wr(msi + 12, 2, 0x41);
	cfg_wr(msi + 2, 2, 1);
	CHECK_EQ(cfg_rd(msi + 2, 2), 0x81);
	wr(AHCI_GHC, AHCI_GHC_AE | AHCI_GHC_IE);
	unsigned long sent = hba->msis, dropped = atomic_load(&vm.msi_dropped);
	wr(px(P_DISK, PX_CI), 1u << 2);
	CHECK_EQ(irq_line(&vm, gsi), 0);
	CHECK_EQ(hba->msis, sent + 1);
	CHECK_EQ(atomic_load(&vm.msi_dropped), dropped + 1);
	wr(px(P_DISK, PX_CI), 1u << 2);                     /* DHRS still up: no new message */
	CHECK_EQ(hba->msis, sent + 1);
	wr(px(P_DISK, PX_IS), 0xffffffff);
	wr(AHCI_IS, 0xffffffff);
	wr(px(P_DISK, PX_CI), 1u << 2);
	CHECK_EQ(hba->msis, sent + 2);
	wr(px(P_DISK, PX_IS), 0xffffffff);                  /* Linux's per-port MSI: IS left set */
	wr(px(P_DISK, PX_CI), 1u << 2);
	CHECK_EQ(hba->msis, sent + 3);
	cfg_wr(msi + 2, 2, 0);
	CHECK_EQ(irq_line(&vm, gsi), 1);                    /* back on INTx, still pending */
	wr(px(P_DISK, PX_IS), 0xffffffff);
	wr(AHCI_IS, 0xffffffff);
	CHECK_EQ(irq_line(&vm, gsi), 0);
	wr(AHCI_GHC, AHCI_GHC_AE);
}

int main(void)
{
	setup();
	test_probe();
	test_identify();
	test_rw();
	test_errors();
	test_host_errors();
	test_atapi();
	test_resets();
	test_irq();
	FILE *out = fopen("/dev/null", "w");
	ahci_print_stats(hba, out ? out : stderr);
	if (out)
		fclose(out);
	vm_destroy(&vm);
	close(disk_fd);
	unlink(disk_path);
	unlink(ro_path);
	unlink(iso_path);
	return check_done();
}
