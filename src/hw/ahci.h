/* An AHCI 1.3 SATA host bus adapter (Serial ATA AHCI 1.3.1), presented as Intel's
 * ICH9 controller (8086:2922, class 01 06 01) so that stock drivers (Linux's ahci,
 * SeaBIOS) take it. BAR 5 (ABAR) holds the registers: generic host control, then
 * 0x80 bytes per port. INTx pin A, or one MSI vector when the guest enables it.
 *
 * Each port is empty, a SATA disk (ATA8-ACS command set over a host disk image) or
 * an ATAPI CD-ROM (MMC commands over a read-only image of 2048-byte blocks, see
 * atapi.h). Commands run synchronously in the MMIO write that sets PxCI, on the vCPU
 * thread, under the PCI device's lock: the command list, tables and PRDs are fetched
 * through the checked guest-memory accessors, and anything malformed (a bad FIS, a
 * PRD table too short for the transfer, an address outside RAM) fails the command
 * with a task-file error (PxIS.TFES, status ERR, error ABRT) and is counted. No
 * native command queuing, no port multipliers. */
#ifndef TRIVISOR_HW_AHCI_H
#define TRIVISOR_HW_AHCI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "core/vm.h"
#include "host/disk.h"
#include "pci.h"

#define AHCI_MAX_PORTS   6
#define AHCI_SLOTS       32
#define AHCI_BAR         5
#define AHCI_BAR_SIZE    0x1000
#define AHCI_PORT_BASE   0x100
#define AHCI_PORT_SIZE   0x80
#define AHCI_VENDOR      0x8086
#define AHCI_DEVICE      0x2922
#define AHCI_CLASS       0x010601   /* mass storage, SATA, AHCI 1.0 interface */

/* Generic host control (3.1) */
#define AHCI_CAP         0x00
#define AHCI_GHC         0x04
#define AHCI_IS          0x08
#define AHCI_PI          0x0c
#define AHCI_VS          0x10
#define AHCI_CAP2        0x24
#define AHCI_GHC_HR      (1u << 0)
#define AHCI_GHC_IE      (1u << 1)
#define AHCI_GHC_AE      (1u << 31)

/* Port registers, offsets inside a port's 0x80 bytes (3.3) */
#define PX_CLB   0x00
#define PX_CLBU  0x04
#define PX_FB    0x08
#define PX_FBU   0x0c
#define PX_IS    0x10
#define PX_IE    0x14
#define PX_CMD   0x18
#define PX_TFD   0x20
#define PX_SIG   0x24
#define PX_SSTS  0x28
#define PX_SCTL  0x2c
#define PX_SERR  0x30
#define PX_SACT  0x34
#define PX_CI    0x38
#define PX_SNTF  0x3c

/* PxIS / PxIE bits */
#define PX_IS_DHRS  (1u << 0)     /* D2H register FIS received */
#define PX_IS_PSS   (1u << 1)     /* PIO setup FIS received */
#define PX_IS_DSS   (1u << 2)
#define PX_IS_SDBS  (1u << 3)
#define PX_IS_DPS   (1u << 5)     /* a PRD with its I bit was done */
#define PX_IS_TFES  (1u << 30)    /* task file error */
#define PX_IS_MASK  0xfdc000ffu   /* the bits the register has */

/* PxCMD bits */
#define PX_CMD_ST   (1u << 0)
#define PX_CMD_SUD  (1u << 1)
#define PX_CMD_POD  (1u << 2)
#define PX_CMD_CLO  (1u << 3)
#define PX_CMD_FRE  (1u << 4)
#define PX_CMD_FR   (1u << 14)
#define PX_CMD_CR   (1u << 15)
#define PX_CMD_ATAPI (1u << 24)
#define PX_CMD_DLAE (1u << 25)
#define PX_CMD_CCS_SHIFT 8

/* Signatures (PxSIG: LBA high, LBA mid, LBA low, sector count of the first D2H FIS) */
#define AHCI_SIG_DISK  0x00000101u
#define AHCI_SIG_ATAPI 0xeb140101u

/* The received-FIS area (4.2.1) */
#define RFIS_PIO    0x20
#define RFIS_D2H    0x40
#define RFIS_SIZE   0x100

/* ATA status and error bits */
#define ATA_ST_ERR  0x01
#define ATA_ST_DRQ  0x08
#define ATA_ST_DSC  0x10
#define ATA_ST_DF   0x20
#define ATA_ST_DRDY 0x40
#define ATA_ST_BSY  0x80
#define ATA_ER_ABRT 0x04
#define ATA_ER_IDNF 0x10
#define ATA_ER_UNC  0x40

enum ahci_dev_type { AHCI_DEV_NONE, AHCI_DEV_DISK, AHCI_DEV_CDROM };

/* What a port holds. path NULL: an empty port (or, with cdrom, a drive with no
 * medium). CD-ROMs are always read-only. */
struct ahci_port_config {
	const char *path;
	bool read_only;
	bool cdrom;
};

/* Per-port counters (--stats), read with ahci_get_stats. */
struct ahci_port_stats {
	unsigned long commands;       /* command slots executed (ATA and PACKET) */
	unsigned long packets;        /* of which ATAPI PACKET commands */
	unsigned long errors;         /* commands that ended with ERR in the status */
	unsigned long malformed;      /* of those, refused as malformed: bad FIS/CFL/PRD, DMA outside RAM */
	unsigned long io_errors;      /* of those, failed by the host disk */
	unsigned long lost_fis;       /* FISes or PRDBC not written: FB/CLB outside RAM */
	unsigned long flushes, resets, ignored_issues; /* issues: CI set with ST or bus master off */
	uint64_t sectors_read, sectors_written; /* device blocks: 512 (disk) or 2048 (CD) bytes */
};

/* Sense data of an ATAPI port (SPC fixed format). */
struct atapi_sense {
	uint8_t key, asc, ascq;
};

struct ahci;

struct ahci_port {
	struct ahci *hba;
	unsigned index;
	enum ahci_dev_type type;
	bool medium;                  /* a disk image is open */
	struct disk disk;
	uint64_t blocks;              /* capacity in device blocks */
	char serial[21];

	/* Registers */
	uint64_t clb, fb;
	uint32_t is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci;
	bool stalled;                 /* a command failed: no more until ST is cleared */
	bool srst;                    /* SRST asserted by a control FIS */
	uint32_t msi_seen;            /* enabled PxIS bits already signalled by MSI */

	/* ATA device state */
	uint8_t xfer_mode;            /* SET FEATURES transfer mode (count value) */
	uint8_t multiple;             /* SET MULTIPLE sectors per block, 0: off */
	bool wcache;                  /* volatile write cache enabled */
	bool standby;
	/* ATAPI */
	struct atapi_sense sense;
	bool locked;                  /* PREVENT MEDIUM REMOVAL */

	struct ahci_port_stats st;
};

struct ahci {
	struct pci_dev pci;
	struct vm *vm;
	unsigned nports;
	uint32_t ghc, is;
	unsigned msi_cap;             /* configuration offset of the MSI capability */
	unsigned long msis;
	struct ahci_port port[AHCI_MAX_PORTS];
};

/* One command being executed: where its table is and how far its PRDs are used. */
struct ahci_cmd {
	struct ahci_port *p;
	unsigned slot;
	uint64_t ctba;                /* command table */
	unsigned prdtl;               /* PRD entries */
	uint8_t fis[20];              /* the H2D register FIS */
	uint8_t acmd[16];             /* the ATAPI packet */
	unsigned prd;                 /* next PRD entry */
	uint64_t seg_addr;            /* what is left of the current one */
	uint32_t seg_left;
	bool prd_irq;                 /* a used entry had its I bit */
	uint32_t done;                /* bytes moved (PRDBC) */
	/* Result: the D2H register FIS */
	uint8_t status, error;
	bool pio;                     /* data-in by PIO: answered by a PIO setup FIS */
	bool sig;                     /* the FIS carries the device's signature */
	uint16_t count;               /* sector count field of the D2H FIS */
};

/* Result of a data transfer. */
enum ahci_xfer { AHCI_XFER_OK, AHCI_XFER_MALFORMED, AHCI_XFER_IO_ERROR };

/* Open the images (disk_open locks them), make the PCI device with nports ports
 * (1..AHCI_MAX_PORTS) and add it to pci in the first free slot. Owned by the VM. */
int ahci_create(struct vm *vm, struct pci_host *pci, const struct ahci_port_config *ports,
                unsigned nports, struct ahci **out, struct err *e);

/* A snapshot of port i's counters (false if there is no such port). Any thread. */
bool ahci_get_stats(struct ahci *a, unsigned i, struct ahci_port_stats *out);
/* One line per occupied port, for --stats. */
void ahci_print_stats(struct ahci *a, FILE *f);

/* For atapi.c: move len bytes between buf and the command's PRD buffers (to_guest:
 * device to memory). MALFORMED when the PRDs are too short or leave RAM. */
enum ahci_xfer ahci_dma_buf(struct ahci_cmd *c, void *buf, uint32_t len, bool to_guest);
/* Move len bytes between the port's image at off and the PRD buffers (write: memory to
 * disk). IO_ERROR when the host disk fails. */
enum ahci_xfer ahci_dma_disk(struct ahci_cmd *c, uint64_t off, uint64_t len, bool write);
/* End c with ERR and error in the task file; _malformed also counts it as malformed
 * (ABRT). */
void ahci_cmd_fail(struct ahci_cmd *c, uint8_t error);
void ahci_cmd_malformed(struct ahci_cmd *c);
/* Fill the 40/20/8-character ATA string at words w (first character in the high byte). */
void ahci_id_string(uint16_t *w, const char *s, unsigned chars);
/* IDENTIFY words 63 and 88: the DMA modes offered, and the one SET FEATURES chose. */
void ahci_id_dma_modes(const struct ahci_port *p, uint16_t *id);
/* The IDENTIFY checksum word (255): the 512 bytes sum to 0. */
void ahci_id_checksum(uint16_t *id);

#endif
