/* AHCI HBA and SATA disk (see ahci.h). Everything here runs with the PCI device's lock
 * held: the BAR handler, the configuration hook, and creation before the device is
 * visible. */
#include "ahci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atapi.h"
#include "core/log.h"
#include "core/snap.h"

#define SECTOR        512
#define MAX_MULTIPLE  16          /* sectors per READ/WRITE MULTIPLE block */
#define DSM_MAX_BLOCKS 8          /* 512-byte blocks of TRIM ranges per command */
#define IOV_BATCH     64          /* iovecs per host read or write */
#define PRD_TABLE     0x80        /* offset of the PRD table in a command table */
#define ACMD_OFF      0x40
#define CMD_HDR_SIZE  32
#define PCI_CAP_ID_MSI 0x05
#define MSI_CAP_LEN   14          /* 64-bit addresses, no per-vector masking */

/* CAP: 64-bit DMA, command list override, Gen3, AHCI only, 32 slots */
#define CAP_S64A      (1u << 31)
#define CAP_SCLO      (1u << 24)
#define CAP_ISS_GEN3  (3u << 20)
#define CAP_SAM       (1u << 18)
#define CAP_NCS_32    (31u << 8)

/* Register H2D FIS (SATA 10.3.4) */
#define FIS_H2D       0x27
#define FIS_D2H       0x34
#define FIS_PIO_SETUP 0x5f
#define FIS_C         0x80        /* command, not device control */
#define CTL_SRST      0x04

/* ATA commands (ATA8-ACS) */
enum {
	ATA_NOP = 0x00, ATA_DSM = 0x06, ATA_DEVICE_RESET = 0x08,
	ATA_READ_SECTORS = 0x20, ATA_READ_SECTORS_NR = 0x21, ATA_READ_SECTORS_EXT = 0x24,
	ATA_READ_DMA_EXT = 0x25, ATA_READ_MULTIPLE_EXT = 0x29,
	ATA_WRITE_SECTORS = 0x30, ATA_WRITE_SECTORS_NR = 0x31, ATA_WRITE_SECTORS_EXT = 0x34,
	ATA_WRITE_DMA_EXT = 0x35, ATA_WRITE_MULTIPLE_EXT = 0x39, ATA_WRITE_DMA_FUA_EXT = 0x3d,
	ATA_VERIFY = 0x40, ATA_VERIFY_NR = 0x41, ATA_VERIFY_EXT = 0x42, ATA_SEEK = 0x70,
	ATA_EXEC_DIAG = 0x90, ATA_INIT_PARAMS = 0x91, ATA_PACKET = 0xa0, ATA_ID_PACKET = 0xa1,
	ATA_READ_MULTIPLE = 0xc4, ATA_WRITE_MULTIPLE = 0xc5, ATA_SET_MULTIPLE = 0xc6,
	ATA_READ_DMA = 0xc8, ATA_READ_DMA_NR = 0xc9, ATA_WRITE_DMA = 0xca, ATA_WRITE_DMA_NR = 0xcb,
	ATA_WRITE_MULTIPLE_FUA_EXT = 0xce,
	ATA_STANDBY_IMM = 0xe0, ATA_IDLE_IMM = 0xe1, ATA_STANDBY = 0xe2, ATA_IDLE = 0xe3,
	ATA_CHECK_POWER = 0xe5, ATA_SLEEP = 0xe6, ATA_FLUSH = 0xe7, ATA_FLUSH_EXT = 0xea,
	ATA_IDENTIFY = 0xec, ATA_SET_FEATURES = 0xef,
};

/* SET FEATURES subcommands */
#define SF_WCACHE_ON  0x02
#define SF_XFER_MODE  0x03
#define SF_WCACHE_OFF 0x82

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static struct guest_mem *gmem(const struct ahci_port *p) { return &p->hba->vm->mem; }

/* -- interrupts ------------------------------------------------------------------------ */

static bool msi_enabled(const struct ahci *a)
{
	return a->msi_cap && (pci_get16(&a->pci, a->msi_cap + 2) & 1);
}

/* A port with an enabled PxIS bit sets its IS bit (which stays until written 1, and
 * comes back while the port still has one). INTx is up while GHC.IE and any IS bit.
 * With MSI, a message goes out whenever a port gains an enabled PxIS bit it did not
 * have: not tied to IS, since Linux's per-port MSI handling never clears IS. */
static void update_irq(struct ahci *a)
{
	bool msi = msi_enabled(a), fresh = false;
	for (unsigned i = 0; i < a->nports; i++) {
		struct ahci_port *p = &a->port[i];
		uint32_t pend = p->is & p->ie;
		if (pend)
			a->is |= 1u << i;
		if (!msi || !(a->ghc & AHCI_GHC_IE)) {
			p->msi_seen = 0;          /* enabling them later signals what is pending */
			continue;
		}
		fresh |= (pend & ~p->msi_seen) != 0;
		p->msi_seen = pend;
	}
	if (!msi) {
		pci_set_irq(&a->pci, (a->ghc & AHCI_GHC_IE) && a->is);
		return;
	}
	pci_set_irq(&a->pci, false);
	if (fresh && pci_bus_master(&a->pci)) {
		const struct pci_dev *d = &a->pci;
		uint64_t addr = pci_get32(d, a->msi_cap + 4) | (uint64_t)pci_get32(d, a->msi_cap + 8) << 32;
		vm_signal_msi(a->vm, addr, pci_get16(d, a->msi_cap + 12));
		a->msis++;
	}
}

/* -- received FISes ------------------------------------------------------------------- */

static void post_fis(struct ahci_port *p, unsigned off, const uint8_t *f)
{
	if (!(p->cmd & PX_CMD_FRE))
		return;
	if (mem_write(gmem(p), p->fb + off, f, 20))
		p->st.lost_fis++;
}

/* The register fields of a D2H or PIO setup FIS: the command's own, or the device's
 * signature. */
static void fis_regs(const struct ahci_cmd *c, uint8_t *f)
{
	if (c->sig) {
		f[4] = 1;
		f[5] = c->p->type == AHCI_DEV_CDROM ? 0x14 : 0;
		f[6] = c->p->type == AHCI_DEV_CDROM ? 0xeb : 0;
		f[12] = 1;
		return;
	}
	memcpy(f + 4, c->fis + 4, 7);           /* LBA 7:0 .. 47:24 and device */
	f[12] = (uint8_t)c->count;
	f[13] = (uint8_t)(c->count >> 8);
}

static void post_d2h(struct ahci_cmd *c, bool irq)
{
	uint8_t f[20] = { FIS_D2H, irq ? 0x40 : 0, c->status, c->error };
	fis_regs(c, f);
	post_fis(c->p, RFIS_D2H, f);
}

/* PIO data-in ends with the PIO setup FIS alone: E_Status is the final status. */
static void post_pio_setup(struct ahci_cmd *c)
{
	uint8_t f[20] = { FIS_PIO_SETUP, 0x40 | 0x20, ATA_ST_DRDY | ATA_ST_DSC | ATA_ST_DRQ, 0 };
	fis_regs(c, f);
	f[15] = c->status;
	f[16] = (uint8_t)c->done;
	f[17] = (uint8_t)(c->done >> 8);
	post_fis(c->p, RFIS_PIO, f);
}

/* After a reset, the device tells its type with a D2H FIS (no interrupt). */
static void post_signature(struct ahci_port *p)
{
	struct ahci_cmd c = { .p = p, .sig = true, .error = 1,
	                      .status = p->type == AHCI_DEV_DISK ? ATA_ST_DRDY | ATA_ST_DSC : 0 };
	p->sig = p->type == AHCI_DEV_CDROM ? AHCI_SIG_ATAPI : AHCI_SIG_DISK;
	p->tfd = (uint32_t)c.error << 8 | c.status;
	post_d2h(&c, false);
}

/* -- DMA ------------------------------------------------------------------------------- */

/* The next piece of PRD space, at most max bytes: its length (0 when the table is used
 * up, -1 when an entry cannot be read) and address. */
static int64_t prd_next(struct ahci_cmd *c, uint64_t max, uint64_t *gpa)
{
	while (c->seg_left == 0) {
		uint8_t e[16];
		if (c->prd >= c->prdtl)
			return 0;
		if (mem_read(gmem(c->p), c->ctba + PRD_TABLE + 16ull * c->prd, e, sizeof(e)))
			return -1;
		c->prd++;
		c->seg_addr = le64(e) & ~1ull;        /* DBA bit 0 is reserved: word aligned */
		uint32_t dw3 = le32(e + 12);
		c->seg_left = (dw3 & 0x3fffff) + 1;
		c->prd_irq |= dw3 >> 31;
	}
	uint64_t n = max < c->seg_left ? max : c->seg_left;
	*gpa = c->seg_addr;
	c->seg_addr += n;
	c->seg_left -= (uint32_t)n;
	return (int64_t)n;
}

enum ahci_xfer ahci_dma_buf(struct ahci_cmd *c, void *buf, uint32_t len, bool to_guest)
{
	uint8_t *b = buf;
	for (uint32_t off = 0; off < len;) {
		uint64_t gpa;
		int64_t n = prd_next(c, len - off, &gpa);
		if (n <= 0)
			return AHCI_XFER_MALFORMED;
		int r = to_guest ? mem_write(gmem(c->p), gpa, b + off, (uint64_t)n)
		                 : mem_read(gmem(c->p), gpa, b + off, (uint64_t)n);
		if (r)
			return AHCI_XFER_MALFORMED;
		off += (uint32_t)n;
		c->done += (uint32_t)n;
	}
	return AHCI_XFER_OK;
}

enum ahci_xfer ahci_dma_disk(struct ahci_cmd *c, uint64_t off, uint64_t len, bool write)
{
	struct ahci_port *p = c->p;
	struct guest_mem *m = gmem(p);
	struct iovec iov[IOV_BATCH];
	uint64_t gpa[IOV_BATCH], seg[IOV_BATCH];

	while (len) {
		unsigned n = 0;
		uint64_t batch = 0;
		while (n < IOV_BATCH && batch < len) {
			int64_t k = prd_next(c, len - batch, &gpa[n]);
			void *h = k > 0 ? mem_ptr(m, gpa[n], (uint64_t)k) : NULL;
			if (!h)
				return AHCI_XFER_MALFORMED;
			iov[n] = (struct iovec){ h, (size_t)k };
			seg[n++] = (uint64_t)k;
			batch += (uint64_t)k;
		}
		int r = write ? disk_writev(&p->disk, iov, (int)n, off) : disk_readv(&p->disk, iov, (int)n, off);
		if (!write && m->write_hook)
			for (unsigned i = 0; i < n; i++)
				m->write_hook(m->write_hook_opaque, gpa[i], seg[i]);
		if (r) {
			log_warn("ahci", "port %u: %s at byte %llu: %s", p->index, write ? "write" : "read",
			         (unsigned long long)off, strerror(-r));
			return AHCI_XFER_IO_ERROR;
		}
		c->done += (uint32_t)batch;
		off += batch;
		len -= batch;
	}
	return AHCI_XFER_OK;
}

/* -- ATA disk commands ----------------------------------------------------------------- */

static void ok(struct ahci_cmd *c)
{
	c->status = ATA_ST_DRDY | ATA_ST_DSC;
	c->error = 0;
}

void ahci_cmd_fail(struct ahci_cmd *c, uint8_t error)
{
	c->status = ATA_ST_DRDY | ATA_ST_ERR;
	c->error = error;
	c->pio = false;
}

void ahci_cmd_malformed(struct ahci_cmd *c)
{
	c->p->st.malformed++;
	ahci_cmd_fail(c, ATA_ER_ABRT);
}

void ahci_id_string(uint16_t *w, const char *s, unsigned chars)
{
	size_t len = strlen(s);
	for (unsigned i = 0; i < chars; i += 2) {
		uint8_t hi = (uint8_t)(i < len ? s[i] : ' '), lo = (uint8_t)(i + 1 < len ? s[i + 1] : ' ');
		w[i / 2] = (uint16_t)(hi << 8 | lo);
	}
}

void ahci_id_checksum(uint16_t *id)
{
	uint8_t sum = 0xa5;
	id[255] = 0xa5;
	for (unsigned i = 0; i < 255; i++)
		sum = (uint8_t)(sum + (id[i] & 0xff) + (id[i] >> 8));
	id[255] = (uint16_t)((uint8_t)-sum << 8 | 0xa5);
}

void ahci_id_dma_modes(const struct ahci_port *p, uint16_t *id)
{
	unsigned mode = p->xfer_mode & 7;
	id[63] = 0x0007;
	id[88] = 0x007f;
	if ((p->xfer_mode & 0xf8) == 0x20)
		id[63] |= (uint16_t)(0x100 << mode);
	else if ((p->xfer_mode & 0xf8) == 0x40)
		id[88] |= (uint16_t)(0x100 << mode);
}

/* IDENTIFY DEVICE (ATA8-ACS 7.16). */
static void ata_identify(const struct ahci_port *p, uint16_t id[256])
{
	uint64_t n = p->blocks;
	uint64_t cyl = n / (16 * 63);
	if (cyl > 16383)
		cyl = 16383;
	uint32_t lba28 = n < 0x0fffffff ? (uint32_t)n : 0x0fffffff;

	memset(id, 0, 512);
	id[0] = 0x0040;                    /* fixed, ATA */
	id[1] = (uint16_t)cyl;
	id[2] = 0xc837;                    /* no spin-up needed, IDENTIFY complete */
	id[3] = 16;
	id[6] = 63;
	ahci_id_string(&id[10], p->serial, 20);
	ahci_id_string(&id[23], "1.0", 8);
	ahci_id_string(&id[27], "trivisor SATA disk", 40);
	id[47] = 0x8000 | MAX_MULTIPLE;
	id[49] = 0x0b00;                   /* IORDY, LBA, DMA */
	id[50] = 0x4000;
	id[53] = 0x0006;                   /* words 64-70 and 88 valid */
	id[54] = (uint16_t)cyl;
	id[55] = 16;
	id[56] = 63;
	id[57] = (uint16_t)(cyl * 16 * 63);
	id[58] = (uint16_t)((cyl * 16 * 63) >> 16);
	id[59] = (uint16_t)(p->multiple ? 0x100 | p->multiple : 0);
	id[60] = (uint16_t)lba28;
	id[61] = (uint16_t)(lba28 >> 16);
	ahci_id_dma_modes(p, id);
	id[64] = 0x0003;                   /* PIO 3 and 4 */
	id[65] = id[66] = id[67] = id[68] = 120;
	id[76] = 0x000e;                   /* SATA Gen1-3 */
	id[80] = 0x01f0;                   /* ATA/ATAPI-4 .. ATA8-ACS */
	id[82] = 0x4068;                   /* NOP, look-ahead, write cache, power management */
	id[83] = 0x7400;                   /* FLUSH CACHE EXT, FLUSH CACHE, 48-bit */
	id[84] = 0x4000;
	id[85] = (uint16_t)(0x4048 | (p->wcache ? 0x20 : 0));
	id[86] = 0x3400;
	id[87] = 0x4000;
	id[93] = 0;                        /* SATA: no PATA reset results */
	for (unsigned i = 0; i < 4; i++)
		id[100 + i] = (uint16_t)(n >> (16 * i));
	id[105] = DSM_MAX_BLOCKS;
	id[106] = 0x4000;                  /* one logical sector per physical, 512 bytes */
	id[169] = p->disk.read_only ? 0 : 1;   /* DATA SET MANAGEMENT TRIM */
	id[217] = 1;                       /* non-rotating */
	ahci_id_checksum(id);
}

static void send_identify(struct ahci_cmd *c, uint16_t id[256])
{
	uint8_t b[512];
	for (unsigned i = 0; i < 256; i++) {
		b[2 * i] = (uint8_t)id[i];
		b[2 * i + 1] = (uint8_t)(id[i] >> 8);
	}
	if (ahci_dma_buf(c, b, sizeof(b), true) != AHCI_XFER_OK) {
		ahci_cmd_malformed(c);
		return;
	}
	ok(c);
	c->pio = true;
}

/* LBA and sector count of a 28- or 48-bit command (a count of 0 means 256 / 65536). */
static void ata_lba(const uint8_t *f, bool lba48, uint64_t *lba, uint32_t *count)
{
	if (lba48) {
		*lba = f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16 | (uint64_t)f[8] << 24 |
		       (uint64_t)f[9] << 32 | (uint64_t)f[10] << 40;
		*count = f[12] | (uint32_t)f[13] << 8;
		if (*count == 0)
			*count = 65536;
	} else {
		*lba = f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16 | (uint64_t)(f[7] & 0xf) << 24;
		*count = f[12] ? f[12] : 256;
	}
}

static bool in_range(const struct ahci_port *p, uint64_t lba, uint64_t n)
{
	return lba <= p->blocks && n <= p->blocks - lba;
}

static bool flush(struct ahci_port *p)
{
	p->st.flushes++;
	if (disk_flush(&p->disk)) {
		p->st.io_errors++;
		return false;
	}
	return true;
}

/* READ/WRITE SECTOR(S), MULTIPLE, DMA, 28- and 48-bit, and READ VERIFY (verify: no
 * transfer). */
static void ata_rw(struct ahci_cmd *c, bool lba48, bool write, bool pio, bool fua, bool verify)
{
	struct ahci_port *p = c->p;
	uint64_t lba;
	uint32_t n;

	ata_lba(c->fis, lba48, &lba, &n);
	p->standby = false;
	if (!in_range(p, lba, n)) {
		ahci_cmd_fail(c, ATA_ER_IDNF);
		return;
	}
	if (verify) {
		ok(c);
		return;
	}
	if (write && p->disk.read_only) {
		ahci_cmd_fail(c, ATA_ER_ABRT);
		return;
	}
	switch (ahci_dma_disk(c, lba * SECTOR, (uint64_t)n * SECTOR, write)) {
	case AHCI_XFER_MALFORMED:
		ahci_cmd_malformed(c);
		return;
	case AHCI_XFER_IO_ERROR:
		p->st.io_errors++;
		ahci_cmd_fail(c, write ? ATA_ER_ABRT : ATA_ER_UNC);
		return;
	case AHCI_XFER_OK:
		break;
	}
	if (write && (fua || !p->wcache) && !flush(p)) {
		ahci_cmd_fail(c, ATA_ER_ABRT);
		return;
	}
	if (write)
		p->st.sectors_written += n;
	else
		p->st.sectors_read += n;
	ok(c);
	c->pio = pio && !write;
}

/* DATA SET MANAGEMENT with TRIM: count blocks of 64 ranges (48-bit LBA, 16-bit
 * length; length 0 is an unused entry). */
static void ata_trim(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;
	uint8_t ranges[DSM_MAX_BLOCKS * SECTOR];
	unsigned blocks = le16(c->fis + 12);

	if (!(c->fis[3] & 1) || blocks == 0 || blocks > DSM_MAX_BLOCKS || p->disk.read_only) {
		ahci_cmd_fail(c, ATA_ER_ABRT);
		return;
	}
	if (ahci_dma_buf(c, ranges, blocks * SECTOR, false) != AHCI_XFER_OK) {
		ahci_cmd_malformed(c);
		return;
	}
	for (unsigned i = 0; i < blocks * SECTOR; i += 8) {
		uint64_t e = le64(ranges + i), lba = e & 0xffffffffffffull, n = e >> 48;
		if (n == 0)
			continue;
		if (!in_range(p, lba, n)) {
			ahci_cmd_fail(c, ATA_ER_IDNF);
			return;
		}
		if (disk_discard(&p->disk, lba * SECTOR, n * SECTOR)) {
			p->st.io_errors++;
			ahci_cmd_fail(c, ATA_ER_ABRT);
			return;
		}
	}
	ok(c);
}

static bool xfer_mode_valid(uint8_t v)
{
	unsigned mode = v & 7;
	switch (v & 0xf8) {
	case 0x00: return mode <= 1;          /* PIO default */
	case 0x08: return mode <= 4;          /* PIO flow control */
	case 0x20: return mode <= 2;          /* multiword DMA */
	case 0x40: return mode <= 6;          /* Ultra DMA */
	default: return false;
	}
}

/* Commands both device types share; false if op is not one of them. */
static bool common_cmd(struct ahci_cmd *c, uint8_t op)
{
	struct ahci_port *p = c->p;
	bool atapi = p->type == AHCI_DEV_CDROM;

	switch (op) {
	case ATA_EXEC_DIAG:
		c->status = atapi ? 0 : ATA_ST_DRDY | ATA_ST_DSC;
		c->error = 0x01;                  /* device 0 passed */
		c->sig = true;
		p->sense = (struct atapi_sense){ 0 };
		return true;
	case ATA_SET_FEATURES:
		if (c->fis[3] == SF_XFER_MODE) {
			if (!xfer_mode_valid(c->fis[12])) {
				ahci_cmd_fail(c, ATA_ER_ABRT);
				return true;
			}
			p->xfer_mode = c->fis[12];
		} else if (c->fis[3] == SF_WCACHE_ON && !atapi) {
			p->wcache = true;
		} else if (c->fis[3] == SF_WCACHE_OFF && !atapi) {
			p->wcache = false;
			if (!flush(p)) {
				ahci_cmd_fail(c, ATA_ER_ABRT);
				return true;
			}
		}
		ok(c);                            /* the others: accepted, nothing to do */
		return true;
	case ATA_CHECK_POWER:
		ok(c);
		c->count = p->standby ? 0x00 : 0xff;
		return true;
	case ATA_STANDBY_IMM:
	case ATA_STANDBY:
	case ATA_SLEEP:
		p->standby = true;
		ok(c);
		return true;
	case ATA_IDLE_IMM:
	case ATA_IDLE:
		p->standby = false;
		ok(c);
		return true;
	default:
		return false;
	}
}

static void disk_cmd(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;
	uint8_t op = c->fis[2];
	uint16_t id[256];

	if (common_cmd(c, op))
		return;
	switch (op) {
	case ATA_IDENTIFY:
		ata_identify(p, id);
		send_identify(c, id);
		return;
	case ATA_READ_DMA:
	case ATA_READ_DMA_NR:
		ata_rw(c, false, false, false, false, false);
		return;
	case ATA_READ_DMA_EXT:
		ata_rw(c, true, false, false, false, false);
		return;
	case ATA_WRITE_DMA:
	case ATA_WRITE_DMA_NR:
		ata_rw(c, false, true, false, false, false);
		return;
	case ATA_WRITE_DMA_EXT:
	case ATA_WRITE_DMA_FUA_EXT:
		ata_rw(c, true, true, false, op == ATA_WRITE_DMA_FUA_EXT, false);
		return;
	case ATA_READ_MULTIPLE:
	case ATA_READ_MULTIPLE_EXT:
	case ATA_WRITE_MULTIPLE:
	case ATA_WRITE_MULTIPLE_EXT:
	case ATA_WRITE_MULTIPLE_FUA_EXT:
		if (!p->multiple) {
			ahci_cmd_fail(c, ATA_ER_ABRT);
			return;
		}
		ata_rw(c, op == ATA_READ_MULTIPLE_EXT || op == ATA_WRITE_MULTIPLE_EXT ||
		          op == ATA_WRITE_MULTIPLE_FUA_EXT,
		       op != ATA_READ_MULTIPLE && op != ATA_READ_MULTIPLE_EXT, true,
		       op == ATA_WRITE_MULTIPLE_FUA_EXT, false);
		return;
	case ATA_READ_SECTORS:
	case ATA_READ_SECTORS_NR:
	case ATA_READ_SECTORS_EXT:
		ata_rw(c, op == ATA_READ_SECTORS_EXT, false, true, false, false);
		return;
	case ATA_WRITE_SECTORS:
	case ATA_WRITE_SECTORS_NR:
	case ATA_WRITE_SECTORS_EXT:
		ata_rw(c, op == ATA_WRITE_SECTORS_EXT, true, true, false, false);
		return;
	case ATA_VERIFY:
	case ATA_VERIFY_NR:
	case ATA_VERIFY_EXT:
		ata_rw(c, op == ATA_VERIFY_EXT, false, false, false, true);
		return;
	case ATA_FLUSH:
	case ATA_FLUSH_EXT:
		if (flush(p))
			ok(c);
		else
			ahci_cmd_fail(c, ATA_ER_ABRT);
		return;
	case ATA_DSM:
		ata_trim(c);
		return;
	case ATA_SET_MULTIPLE: {
		uint8_t n = c->fis[12];
		if (n > MAX_MULTIPLE || (n & (n - 1))) {
			ahci_cmd_fail(c, ATA_ER_ABRT);
			return;
		}
		p->multiple = n;
		ok(c);
		return;
	}
	case ATA_INIT_PARAMS:
		ok(c);                            /* CHS translation: LBA only, nothing to set */
		return;
	default:
		if ((op & 0xf0) == ATA_SEEK) {
			ok(c);
			return;
		}
		ahci_cmd_fail(c, ATA_ER_ABRT);   /* NOP, PACKET, IDENTIFY PACKET, unknown */
		return;
	}
}

static void cdrom_cmd(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;
	uint16_t id[256];

	if (common_cmd(c, c->fis[2]))
		return;
	switch (c->fis[2]) {
	case ATA_PACKET:
		p->st.packets++;
		atapi_packet(c);
		return;
	case ATA_ID_PACKET:
		atapi_identify(p, id);
		send_identify(c, id);
		return;
	case ATA_DEVICE_RESET:
		p->sense = (struct atapi_sense){ 0 };
		c->status = 0;
		c->error = 0x01;
		c->sig = true;
		return;
	case ATA_IDENTIFY:
		/* A packet device aborts it and shows its signature (7.16.4) */
		ahci_cmd_fail(c, ATA_ER_ABRT);
		c->sig = true;
		return;
	default:
		ahci_cmd_fail(c, ATA_ER_ABRT);
		return;
	}
}

/* -- command list ---------------------------------------------------------------------- */

static void write_prdbc(struct ahci_cmd *c)
{
	uint8_t b[4];
	put32(b, c->done);
	if (mem_write(gmem(c->p), c->p->clb + CMD_HDR_SIZE * c->slot + 4, b, 4))
		c->p->st.lost_fis++;
}

/* A device control FIS (C clear): SRST set then cleared resets the device, which
 * answers with its signature. No interrupt: the driver polls CI and PxTFD. */
static void control_fis(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;
	if (c->fis[15] & CTL_SRST) {
		p->srst = true;
	} else if (p->srst) {
		p->srst = false;
		p->sense = (struct atapi_sense){ 0 };
		p->st.resets++;
		post_signature(p);
	}
	write_prdbc(c);
	p->ci &= ~(1u << c->slot);
	p->sact &= ~(1u << c->slot);
}

/* Report the end of c: PRDBC, the task file, a FIS and the interrupt bits. A failed
 * command stays in CI and stops the port until software clears PxCMD.ST (6.2.2). */
static void complete(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;
	uint32_t bit = 1u << c->slot;

	write_prdbc(c);
	if (c->prd_irq)
		p->is |= PX_IS_DPS;
	p->tfd = (uint32_t)c->error << 8 | c->status;
	if (c->status & ATA_ST_ERR) {
		p->st.errors++;
		post_d2h(c, true);
		p->is |= PX_IS_DHRS | PX_IS_TFES;
		p->stalled = true;
		return;
	}
	if (c->pio) {
		post_pio_setup(c);
		p->is |= PX_IS_PSS;
	} else {
		post_d2h(c, true);
		p->is |= PX_IS_DHRS;
	}
	p->ci &= ~bit;
	p->sact &= ~bit;
}

static void exec_slot(struct ahci_port *p, unsigned slot)
{
	struct guest_mem *m = gmem(p);
	struct ahci_cmd c = { .p = p, .slot = slot };
	uint8_t hdr[16];

	p->st.commands++;
	p->cmd = (p->cmd & ~(0x1fu << PX_CMD_CCS_SHIFT)) | slot << PX_CMD_CCS_SHIFT;
	if (mem_read(m, p->clb + CMD_HDR_SIZE * slot, hdr, sizeof(hdr))) {
		ahci_cmd_malformed(&c);
		goto out;
	}
	uint32_t dw0 = le32(hdr);
	unsigned cfl = dw0 & 0x1f;
	c.prdtl = dw0 >> 16;
	c.ctba = le64(hdr + 8) & ~0x7full;
	/* A register FIS is 5 dwords; the table must not wrap around the address space. */
	if (cfl < 5 || cfl > 16 || c.ctba > UINT64_MAX - PRD_TABLE - 16ull * 0x10000 ||
	    mem_read(m, c.ctba, c.fis, sizeof(c.fis)) || c.fis[0] != FIS_H2D) {
		ahci_cmd_malformed(&c);
		goto out;
	}
	if (!(c.fis[1] & FIS_C)) {
		control_fis(&c);
		return;
	}
	if (c.fis[2] == ATA_PACKET && mem_read(m, c.ctba + ACMD_OFF, c.acmd, sizeof(c.acmd))) {
		ahci_cmd_malformed(&c);
		goto out;
	}
	if (p->type == AHCI_DEV_DISK)
		disk_cmd(&c);
	else
		cdrom_cmd(&c);
out:
	complete(&c);
}

/* Run the issued slots in order while the port may (ST set, no failed command
 * pending, a device on a live link, bus mastering allowed). */
static void port_run(struct ahci_port *p)
{
	if (!p->ci || !(p->cmd & PX_CMD_ST) || p->stalled)
		return;
	if (p->type == AHCI_DEV_NONE || (p->ssts & 0xf) != 3 || !pci_bus_master(&p->hba->pci)) {
		p->st.ignored_issues++;           /* no device to answer: stays issued */
		return;
	}
	for (unsigned s = 0; s < AHCI_SLOTS && !p->stalled; s++)
		if (p->ci & (1u << s))
			exec_slot(p, s);
}

/* -- registers ------------------------------------------------------------------------- */

/* The link comes up (after COMRESET or an HBA reset): the device, if any, sends its
 * signature. */
static void port_link_up(struct ahci_port *p)
{
	p->ci = p->sact = 0;
	p->stalled = p->srst = false;
	if (p->type == AHCI_DEV_NONE) {
		p->ssts = 0;
		p->tfd = 0x7f;
		p->sig = 0xffffffff;
		return;
	}
	unsigned spd = (p->sctl >> 4) & 0xf;
	p->ssts = 3 | (spd && spd < 3 ? spd : 3) << 4 | 1 << 8;   /* present, Gen3, active */
	p->sense = (struct atapi_sense){ 0 };
	p->standby = false;
	p->st.resets++;
	post_signature(p);
}

static void port_reset(struct ahci_port *p)
{
	p->is = p->ie = p->serr = p->sctl = 0;
	p->cmd = PX_CMD_SUD | PX_CMD_POD;      /* no staggered spin-up, no cold presence */
	p->ci = p->sact = 0;
	p->stalled = false;
	port_link_up(p);
}

static void hba_reset(struct ahci *a)
{
	a->ghc = 0;
	a->is = 0;
	for (unsigned i = 0; i < a->nports; i++)
		port_reset(&a->port[i]);
}

static void cmd_write(struct ahci_port *p, uint32_t v)
{
	const uint32_t rw = PX_CMD_ST | PX_CMD_FRE | PX_CMD_ATAPI | PX_CMD_DLAE;
	uint32_t old = p->cmd;

	p->cmd = (old & ~rw) | (v & rw);
	if (v & PX_CMD_CLO)
		p->tfd &= ~(uint32_t)(ATA_ST_BSY | ATA_ST_DRQ);
	if (p->cmd & PX_CMD_FRE)
		p->cmd |= PX_CMD_FR;
	else
		p->cmd &= ~PX_CMD_FR;
	if (p->cmd & PX_CMD_ST) {
		p->cmd |= PX_CMD_CR;
	} else {                                   /* the engine stops: CI and SACT clear */
		p->cmd &= ~(PX_CMD_CR | 0x1fu << PX_CMD_CCS_SHIFT);
		p->ci = p->sact = 0;
		p->stalled = false;
	}
}

/* SCTL.DET: 1 holds COMRESET (no device seen), 4 takes the PHY offline, back to 0
 * brings the link up again. */
static void sctl_write(struct ahci_port *p, uint32_t v)
{
	unsigned old = p->sctl & 0xf, det = v & 0xf;
	p->sctl = v & 0xfff;
	if (det == 1) {
		p->ssts = 0;
		p->ci = p->sact = 0;
	} else if (det == 4) {
		p->ssts = 4;
	} else if (det == 0 && (old == 1 || old == 4)) {
		port_link_up(p);
	}
}

static uint32_t port_read(const struct ahci_port *p, unsigned reg)
{
	switch (reg) {
	case PX_CLB:  return (uint32_t)p->clb;
	case PX_CLBU: return (uint32_t)(p->clb >> 32);
	case PX_FB:   return (uint32_t)p->fb;
	case PX_FBU:  return (uint32_t)(p->fb >> 32);
	case PX_IS:   return p->is;
	case PX_IE:   return p->ie;
	case PX_CMD:  return p->cmd;
	case PX_TFD:  return p->tfd;
	case PX_SIG:  return p->sig;
	case PX_SSTS: return p->ssts;
	case PX_SCTL: return p->sctl;
	case PX_SERR: return p->serr;
	case PX_SACT: return p->sact;
	case PX_CI:   return p->ci;
	default:      return 0;
	}
}

/* v holds the bytes the guest wrote (mask: which), already merged with the register
 * for read-write registers. */
static void port_write(struct ahci_port *p, unsigned reg, uint32_t v, uint32_t mask)
{
	switch (reg) {
	case PX_CLB:  p->clb = (p->clb & ~0xffffffffull) | (v & ~0x3ffu); break;
	case PX_CLBU: p->clb = (p->clb & 0xffffffffull) | (uint64_t)v << 32; break;
	case PX_FB:   p->fb = (p->fb & ~0xffffffffull) | (v & ~0xffu); break;
	case PX_FBU:  p->fb = (p->fb & 0xffffffffull) | (uint64_t)v << 32; break;
	case PX_IS:   p->is &= ~(v & mask); break;
	case PX_IE:   p->ie = v & PX_IS_MASK; break;
	case PX_CMD:  cmd_write(p, v); break;
	case PX_SCTL: sctl_write(p, v); break;
	case PX_SERR: p->serr &= ~(v & mask); break;
	case PX_SACT:
		if (p->cmd & PX_CMD_ST)
			p->sact |= v & mask;
		break;
	case PX_CI:
		if (p->cmd & PX_CMD_ST) {
			p->ci |= v & mask;
			port_run(p);
		} else if (v & mask) {
			p->st.ignored_issues++;
		}
		break;
	default:
		break;
	}
}

static uint32_t reg_read(struct ahci *a, unsigned reg)
{
	if (reg >= AHCI_PORT_BASE) {
		unsigned i = (reg - AHCI_PORT_BASE) / AHCI_PORT_SIZE;
		return i < a->nports ? port_read(&a->port[i], (reg - AHCI_PORT_BASE) % AHCI_PORT_SIZE) : 0;
	}
	switch (reg) {
	case AHCI_CAP:
		return CAP_S64A | CAP_SCLO | CAP_ISS_GEN3 | CAP_SAM | CAP_NCS_32 | (a->nports - 1);
	case AHCI_GHC: return a->ghc | AHCI_GHC_AE;
	case AHCI_IS:  return a->is;
	case AHCI_PI:  return (1u << a->nports) - 1;
	case AHCI_VS:  return 0x10300;
	default:       return 0;      /* CAP2, CCC, enclosure management: none */
	}
}

/* W1C and W1S registers take only the written bytes; the rest merge with the value. */
static bool merges(unsigned reg)
{
	if (reg >= AHCI_PORT_BASE) {
		unsigned r = (reg - AHCI_PORT_BASE) % AHCI_PORT_SIZE;
		return r != PX_IS && r != PX_SERR && r != PX_SACT && r != PX_CI;
	}
	return reg != AHCI_IS;
}

static void reg_write(struct ahci *a, unsigned reg, uint32_t v, uint32_t mask)
{
	if (merges(reg))
		v = (reg_read(a, reg) & ~mask) | (v & mask);
	if (reg >= AHCI_PORT_BASE) {
		unsigned i = (reg - AHCI_PORT_BASE) / AHCI_PORT_SIZE;
		if (i < a->nports)
			port_write(&a->port[i], (reg - AHCI_PORT_BASE) % AHCI_PORT_SIZE, v, mask);
	} else if (reg == AHCI_GHC) {
		if (v & AHCI_GHC_HR)
			hba_reset(a);              /* done at once: HR reads back 0 */
		else
			a->ghc = v & AHCI_GHC_IE;
	} else if (reg == AHCI_IS) {
		a->is &= ~(v & mask);
	}
	update_irq(a);
}

/* ABAR: any width and alignment, split into the dwords it touches. */
static void abar_io(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct ahci *a = opaque;
	for (unsigned i = 0; i < size;) {
		uint64_t o = off + i;
		unsigned sh = (unsigned)(o & 3), n = 4 - sh < size - i ? 4 - sh : size - i;
		unsigned reg = (unsigned)(o & ~3ull);
		if (is_write) {
			uint32_t v = 0, mask = 0;
			for (unsigned k = 0; k < n; k++) {
				v |= (uint32_t)data[i + k] << (8 * (sh + k));
				mask |= 0xffu << (8 * (sh + k));
			}
			if (o < AHCI_BAR_SIZE)
				reg_write(a, reg, v, mask);
		} else {
			uint32_t v = o < AHCI_BAR_SIZE ? reg_read(a, reg) : 0;
			for (unsigned k = 0; k < n; k++)
				data[i + k] = (uint8_t)(v >> (8 * (sh + k)));
		}
		i += n;
	}
}

/* -- the PCI device -------------------------------------------------------------------- */

/* MSI enabled or disabled, INTx masked, bus mastering: the interrupt may move. */
static void cfg_write_hook(struct pci_dev *d, unsigned off, unsigned len)
{
	update_irq(d->opaque);
}

static void destroy(void *opaque)
{
	struct ahci *a = opaque;
	for (unsigned i = 0; i < AHCI_MAX_PORTS; i++)
		if (a->port[i].medium)
			disk_close(&a->port[i].disk);
	pci_dev_destroy(&a->pci);
	free(a);
}

/* -- snapshots -------------------------------------------------------------------------
 * The HBA's and each port's registers and the ATA/ATAPI device state. Commands run
 * whole in the MMIO write that issues them, so none is half done at a pause; the
 * configuration space (MSI included) is the PCI host's. A load checks each register as
 * its write would shape it, and that each port holds the same device and medium size. */
#define PX_CMD_BITS (PX_CMD_ST | PX_CMD_SUD | PX_CMD_POD | PX_CMD_FRE | PX_CMD_FR | \
                     PX_CMD_CR | PX_CMD_ATAPI | PX_CMD_DLAE | 0x1fu << PX_CMD_CCS_SHIFT)

static int snap_save(void *opaque, struct snap_writer *w)
{
	struct ahci *a = opaque;
	int ret = 0;
	pthread_mutex_lock(&a->pci.lock);
	snap_put_u32(w, a->ghc);
	snap_put_u32(w, a->is);
	snap_put_u8(w, (uint8_t)a->nports);
	for (unsigned i = 0; i < a->nports; i++) {
		struct ahci_port *p = &a->port[i];
		if (p->medium && !p->disk.read_only && disk_flush(&p->disk))
			ret = -EIO;
		snap_put_u8(w, (uint8_t)p->type);
		snap_put_u64(w, p->blocks);
		snap_put_u64(w, p->clb);
		snap_put_u64(w, p->fb);
		const uint32_t regs[] = { p->is, p->ie, p->cmd, p->tfd, p->sig, p->ssts, p->sctl,
		                          p->serr, p->sact, p->ci, p->msi_seen };
		for (unsigned k = 0; k < sizeof(regs) / sizeof(regs[0]); k++)
			snap_put_u32(w, regs[k]);
		const uint8_t b[] = { p->stalled, p->srst, p->xfer_mode, p->multiple, p->wcache,
		                      p->standby, p->sense.key, p->sense.asc, p->sense.ascq, p->locked };
		snap_put_bytes(w, b, sizeof(b));
	}
	pthread_mutex_unlock(&a->pci.lock);
	return ret;
}

static int snap_load(void *opaque, struct snap_reader *r)
{
	struct ahci *a = opaque;
	pthread_mutex_lock(&a->pci.lock);
	a->ghc = snap_get_u32(r);
	a->is = snap_get_u32(r);
	snap_check(r, !(a->ghc & ~AHCI_GHC_IE) && !(a->is >> a->nports), "HBA registers");
	snap_check(r, snap_get_u8(r) == a->nports, "port count");
	for (unsigned i = 0; i < a->nports && !r->failed; i++) {
		struct ahci_port *p = &a->port[i];
		if (snap_get_u8(r) != p->type || snap_get_u64(r) != p->blocks) {
			snap_fail(r, "port %u: not the same device, or its image changed size", i);
			break;
		}
		p->clb = snap_get_u64(r);
		p->fb = snap_get_u64(r);
		uint32_t *regs[] = { &p->is, &p->ie, &p->cmd, &p->tfd, &p->sig, &p->ssts, &p->sctl,
		                     &p->serr, &p->sact, &p->ci, &p->msi_seen };
		for (unsigned k = 0; k < sizeof(regs) / sizeof(regs[0]); k++)
			*regs[k] = snap_get_u32(r);
		p->stalled = snap_get_bool(r);
		p->srst = snap_get_bool(r);
		p->xfer_mode = snap_get_u8(r);
		p->multiple = snap_get_u8(r);
		p->wcache = snap_get_bool(r);
		p->standby = snap_get_bool(r);
		p->sense.key = snap_get_u8(r);
		p->sense.asc = snap_get_u8(r);
		p->sense.ascq = snap_get_u8(r);
		p->locked = snap_get_bool(r);
		snap_check(r, !(p->clb & 0x3ff) && !(p->fb & 0xff) && !(p->is & ~PX_IS_MASK) &&
		           !(p->ie & ~PX_IS_MASK) && !(p->msi_seen & ~PX_IS_MASK) &&
		           !(p->cmd & ~PX_CMD_BITS) && p->tfd <= 0xffff && p->ssts <= 0xfff &&
		           p->sctl <= 0xfff, "port registers");
		snap_check(r, (xfer_mode_valid(p->xfer_mode) || p->xfer_mode == 0x45) &&
		           p->multiple <= MAX_MULTIPLE && !(p->multiple & (p->multiple - 1)),
		           "device settings");
	}
	if (r->failed)
		hba_reset(a);
	update_irq(a);
	pthread_mutex_unlock(&a->pci.lock);
	return snap_status(r);
}

/* A serial number that stays the same for one image path (FNV-1a). */
static void make_serial(struct ahci_port *p, const char *path)
{
	uint32_t h = 2166136261u;
	for (const char *s = path ? path : ""; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	snprintf(p->serial, sizeof(p->serial), "TRV%u-%08X", p->index, h);
}

static void print_stats(void *a, FILE *f)
{
	ahci_print_stats(a, f);
}

int ahci_create(struct vm *vm, struct pci_host *pci, const struct ahci_port_config *ports,
                unsigned nports, struct ahci **out, struct err *e)
{
	int r;
	if (nports == 0 || nports > AHCI_MAX_PORTS)
		return err_set(e, EINVAL, "ahci: %u ports (1 to %d)", nports, AHCI_MAX_PORTS);
	struct ahci *a = calloc(1, sizeof(*a));
	if (!a)
		return err_set(e, ENOMEM, "out of memory");
	struct pci_dev *d = &a->pci;
	pci_dev_init(d, "ahci", AHCI_VENDOR, AHCI_DEVICE, AHCI_CLASS, 2);
	if ((r = vm_add_device(vm, a, destroy, e)) == 0) {
		vm_set_device_stats(vm, a, print_stats);
		vm_set_device_snapshot(vm, a, "ahci", snap_save, snap_load);
	}
	if (r) {
		destroy(a);
		return r;
	}
	a->vm = vm;
	a->nports = nports;
	for (unsigned i = 0; i < nports; i++) {
		const struct ahci_port_config *pc = &ports[i];
		struct ahci_port *p = &a->port[i];
		p->hba = a;
		p->index = i;
		p->disk.fd = -1;
		p->type = pc->cdrom ? AHCI_DEV_CDROM : pc->path ? AHCI_DEV_DISK : AHCI_DEV_NONE;
		p->xfer_mode = 0x45;             /* UDMA 5 until SET FEATURES says otherwise */
		p->multiple = MAX_MULTIPLE;
		p->wcache = true;
		make_serial(p, pc->path);
		if (!pc->path)
			continue;
		if ((r = disk_open(&p->disk, pc->path, pc->read_only || pc->cdrom, e)))
			return r;
		p->medium = true;
		p->blocks = p->disk.size / (pc->cdrom ? ATAPI_BLOCK : SECTOR);
	}
	d->opaque = a;
	d->cfg_write_hook = cfg_write_hook;
	d->cfg[PCI_INT_PIN] = 1;
	pci_set16(d, PCI_SUBSYS_VENDOR, AHCI_VENDOR);
	pci_set16(d, PCI_SUBSYS_ID, AHCI_DEVICE);
	pci_dev_set_bar(d, AHCI_BAR, PCI_BAR_MEM32, AHCI_BAR_SIZE, abar_io, a);
	a->msi_cap = pci_dev_add_cap(d, PCI_CAP_ID_MSI, MSI_CAP_LEN);
	if (a->msi_cap) {
		d->cfg[a->msi_cap + 2] = 0x80;   /* 64-bit, one vector */
		pci_set_wmask16(d, a->msi_cap + 2, 0x0001);
		pci_set_wmask32(d, a->msi_cap + 4, 0xfffffffcu);
		pci_set_wmask32(d, a->msi_cap + 8, 0xffffffffu);
		pci_set_wmask16(d, a->msi_cap + 12, 0xffff);
	}
	hba_reset(a);
	if ((r = pci_host_add(pci, d, -1, e)))
		return r;
	if (out)
		*out = a;
	return 0;
}

bool ahci_get_stats(struct ahci *a, unsigned i, struct ahci_port_stats *out)
{
	if (i >= a->nports)
		return false;
	pthread_mutex_lock(&a->pci.lock);
	*out = a->port[i].st;
	pthread_mutex_unlock(&a->pci.lock);
	return true;
}

void ahci_print_stats(struct ahci *a, FILE *f)
{
	for (unsigned i = 0; i < a->nports; i++) {
		struct ahci_port_stats s;
		if (a->port[i].type == AHCI_DEV_NONE || !ahci_get_stats(a, i, &s))
			continue;
		fprintf(f, "ahci port %u (%s): %lu commands (%lu packets), %llu blocks read, "
		        "%llu written, %lu flushes, %lu errors (%lu malformed, %lu host I/O), "
		        "%lu lost FIS, %lu resets, %lu ignored issues\n", i,
		        a->port[i].type == AHCI_DEV_CDROM ? "cdrom" : "disk", s.commands, s.packets,
		        (unsigned long long)s.sectors_read, (unsigned long long)s.sectors_written,
		        s.flushes, s.errors, s.malformed, s.io_errors, s.lost_fis, s.resets,
		        s.ignored_issues);
	}
}
