/* Intel 82540EM Gigabit Ethernet controller (PCI 8086:100E), what Linux's stock e1000
 * driver (and most other systems') knows, written from Intel's "PCI/PCI-X Family of
 * Gigabit Ethernet Controllers Software Developer's Manual" (8254x SDM).
 *
 * BAR0: 128 KiB of registers; BAR1: 8 bytes of I/O (IOADDR, IODATA: the same
 * registers reached indirectly, which Linux uses to issue the reset). INTx pin A, level:
 * asserted while ICR & IMS is non-zero. The 64-word Microwire EEPROM (bit-banged
 * through EECD, or read through EERD) holds the MAC address; the M88E1011 PHY behind
 * MDIC always has a 1000 Mb/s full-duplex link.
 *
 * Transmit runs on the vCPU thread that writes TDT (legacy descriptors, context and
 * data descriptors with checksum insertion and TCP segmentation) and hands frames to
 * the host backend (host/net_backend.h). Frames for the guest arrive on the backend's
 * thread (e1000_receive), pass the address filter and go into the receive ring, or wait
 * in a short FIFO (the chip's packet buffer) while the ring is full. Interrupt
 * moderation timers are accepted and ignored: causes are signalled at once.
 *
 * Locking: the PCI device's lock (held around BAR handlers) guards everything; the
 * receive path takes it. */
#ifndef TRIVISOR_HW_E1000_H
#define TRIVISOR_HW_E1000_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/vm.h"
#include "host/net_backend.h"
#include "pci.h"

#define E1000_VENDOR       0x8086
#define E1000_DEVICE       0x100e     /* 82540EM, desktop */
#define E1000_MMIO_SIZE    0x20000
#define E1000_IO_SIZE      8
#define E1000_NREGS        (0x6000 / 4)  /* the register file that stores values */
#define E1000_EEPROM_WORDS 64
#define E1000_EEPROM_SUM   0xbaba     /* words 0x00-0x3f add up to this */
#define E1000_PHY_ADDR     1          /* the internal PHY's MDIO address */
#define E1000_PHY_ID1      0x0141     /* Marvell M88E1011 */
#define E1000_PHY_ID2      0x0c20
#define E1000_RX_FIFO      32         /* frames held while the receive ring is full */
#define E1000_MIN_FRAME    14         /* an Ethernet header */
#define E1000_MAX_FRAME    16384      /* longest frame either way (LPE), without FCS */
#define E1000_MAX_TX_FRAME (E1000_MAX_FRAME + 4)   /* plus an inserted VLAN tag */
#define E1000_TSO_MAX      (65536 + 256)  /* a TSO packet before segmentation */
#define E1000_DESC_SIZE    16

/* Registers (SDM 13.4), byte offsets in BAR0 */
enum {
	E1000_CTRL = 0x0000, E1000_STATUS = 0x0008, E1000_EECD = 0x0010, E1000_EERD = 0x0014,
	E1000_CTRL_EXT = 0x0018, E1000_FLA = 0x001c, E1000_MDIC = 0x0020,
	E1000_FCAL = 0x0028, E1000_FCAH = 0x002c, E1000_FCT = 0x0030, E1000_VET = 0x0038,
	E1000_ICR = 0x00c0, E1000_ITR = 0x00c4, E1000_ICS = 0x00c8, E1000_IMS = 0x00d0,
	E1000_IMC = 0x00d8, E1000_RCTL = 0x0100, E1000_FCTTV = 0x0170, E1000_TXCW = 0x0178,
	E1000_RXCW = 0x0180, E1000_TCTL = 0x0400, E1000_TIPG = 0x0410, E1000_AIT = 0x0458,
	E1000_LEDCTL = 0x0e00, E1000_PBA = 0x1000, E1000_FCRTL = 0x2160, E1000_FCRTH = 0x2168,
	E1000_RDBAL = 0x2800, E1000_RDBAH = 0x2804, E1000_RDLEN = 0x2808, E1000_RDH = 0x2810,
	E1000_RDT = 0x2818, E1000_RDTR = 0x2820, E1000_RXDCTL = 0x2828, E1000_RADV = 0x282c,
	E1000_RSRPD = 0x2c00, E1000_TXDMAC = 0x3000, E1000_TDBAL = 0x3800, E1000_TDBAH = 0x3804,
	E1000_TDLEN = 0x3808, E1000_TDH = 0x3810, E1000_TDT = 0x3818, E1000_TIDV = 0x3820,
	E1000_TXDCTL = 0x3828, E1000_TADV = 0x382c, E1000_TSPMT = 0x3830,
	E1000_STATS = 0x4000, E1000_STATS_END = 0x4100,   /* statistics, clear on read */
	E1000_RXCSUM = 0x5000, E1000_MTA = 0x5200, E1000_RA = 0x5400, E1000_VFTA = 0x5600,
	E1000_WUC = 0x5800, E1000_MANC = 0x5820,
};

/* Statistics registers used here (SDM 13.7) */
enum {
	E1000_MPC = 0x4010, E1000_PRC64 = 0x405c, E1000_GPRC = 0x4074, E1000_BPRC = 0x4078,
	E1000_MPRC = 0x407c, E1000_GPTC = 0x4080, E1000_GORCL = 0x4088, E1000_GORCH = 0x408c,
	E1000_GOTCL = 0x4090, E1000_GOTCH = 0x4094, E1000_RNBC = 0x40a0, E1000_ROC = 0x40ac,
	E1000_TORL = 0x40c0, E1000_TORH = 0x40c4, E1000_TOTL = 0x40c8, E1000_TOTH = 0x40cc,
	E1000_TPR = 0x40d0, E1000_TPT = 0x40d4, E1000_PTC64 = 0x40d8, E1000_MPTC = 0x40f0,
	E1000_BPTC = 0x40f4, E1000_TSCTC = 0x40f8, E1000_TSCTFC = 0x40fc,
};

#define E1000_CTRL_FD       (1u << 0)
#define E1000_CTRL_ASDE     (1u << 5)
#define E1000_CTRL_SLU      (1u << 6)
#define E1000_CTRL_RST      (1u << 26)
#define E1000_CTRL_VME      (1u << 30)
#define E1000_CTRL_PHY_RST  (1u << 31)
#define E1000_STATUS_FD     (1u << 0)
#define E1000_STATUS_LU     (1u << 1)
#define E1000_STATUS_SPEED_1000 (2u << 6)
#define E1000_EECD_SK       (1u << 0)
#define E1000_EECD_CS       (1u << 1)
#define E1000_EECD_DI       (1u << 2)
#define E1000_EECD_DO       (1u << 3)
#define E1000_EECD_REQ      (1u << 6)
#define E1000_EECD_GNT      (1u << 7)
#define E1000_EECD_PRES     (1u << 8)
#define E1000_EERD_START    (1u << 0)
#define E1000_EERD_DONE     (1u << 4)
#define E1000_CTRL_EXT_EE_RST (1u << 13)
#define E1000_MDIC_OP_WRITE (1u << 26)
#define E1000_MDIC_OP_READ  (2u << 26)
#define E1000_MDIC_READY    (1u << 28)
#define E1000_MDIC_I        (1u << 29)
#define E1000_MDIC_ERROR    (1u << 30)

/* Interrupt causes (ICR, ICS, IMS, IMC) */
#define E1000_ICR_TXDW      (1u << 0)
#define E1000_ICR_TXQE      (1u << 1)
#define E1000_ICR_LSC       (1u << 2)
#define E1000_ICR_RXDMT0    (1u << 4)
#define E1000_ICR_RXO       (1u << 6)
#define E1000_ICR_RXT0      (1u << 7)
#define E1000_ICR_MDAC      (1u << 9)

#define E1000_RCTL_EN       (1u << 1)
#define E1000_RCTL_SBP      (1u << 2)
#define E1000_RCTL_UPE      (1u << 3)
#define E1000_RCTL_MPE      (1u << 4)
#define E1000_RCTL_LPE      (1u << 5)
#define E1000_RCTL_RDMTS_SHIFT 8
#define E1000_RCTL_MO_SHIFT 12
#define E1000_RCTL_BAM      (1u << 15)
#define E1000_RCTL_BSIZE_SHIFT 16
#define E1000_RCTL_VFE      (1u << 18)
#define E1000_RCTL_BSEX     (1u << 25)
#define E1000_RCTL_SECRC    (1u << 26)
#define E1000_TCTL_EN       (1u << 1)
#define E1000_TCTL_PSP      (1u << 3)
#define E1000_RAH_AV        (1u << 31)

/* Transmit descriptors (SDM 3.3): the command byte is byte 11 of every kind */
#define E1000_TXD_CMD_EOP   0x01
#define E1000_TXD_CMD_IFCS  0x02
#define E1000_TXD_CMD_IC    0x04      /* legacy: insert checksum */
#define E1000_TXD_CMD_TSE   0x04      /* data: TCP segmentation */
#define E1000_TXD_CMD_RS    0x08
#define E1000_TXD_CMD_DEXT  0x20
#define E1000_TXD_CMD_VLE   0x40
#define E1000_TXD_CMD_IDE   0x80
#define E1000_TUCMD_TCP     0x01      /* context: TCP (else UDP) */
#define E1000_TUCMD_IP      0x02      /* context: IPv4 (else IPv6) */
#define E1000_TUCMD_TSE     0x04
#define E1000_TXD_DTYP_CTX  0x0
#define E1000_TXD_DTYP_DATA 0x1
#define E1000_TXD_POPTS_IXSM 0x01
#define E1000_TXD_POPTS_TXSM 0x02
#define E1000_TXD_STA_DD    0x01

/* Receive descriptor status and errors (SDM 3.2.3) */
#define E1000_RXD_STA_DD    0x01
#define E1000_RXD_STA_EOP   0x02
#define E1000_RXD_STA_IXSM  0x04      /* no checksum was checked */
#define E1000_RXD_STA_VP    0x08
#define E1000_RXD_ERR_RXE   0x80

struct e1000_stats {
	unsigned long tx_frames, rx_frames;   /* handed to the backend / to the guest */
	uint64_t tx_bytes, rx_bytes;
	unsigned long tx_tso;            /* TSO packets segmented */
	unsigned long tx_malformed;      /* runt, oversized or inconsistent packets, dropped */
	unsigned long tx_backend_drops;  /* the backend refused the frame */
	unsigned long rx_disabled;       /* frames while RCTL.EN was clear */
	unsigned long rx_filtered;       /* not for our addresses */
	unsigned long rx_bad_size;       /* runt, or longer than RCTL.LPE allows */
	unsigned long rx_queued;         /* held in the FIFO while the ring was full */
	unsigned long rx_no_desc;        /* dropped: ring and FIFO full (MPC, ICR.RXO) */
	unsigned long bad_dma;           /* descriptors or buffers outside guest RAM */
	unsigned long dma_disabled;      /* DMA wanted with bus mastering off */
	unsigned long unknown_regs;      /* accesses to registers the model lacks, odd widths */
};

/* A frame waiting in the receive FIFO. */
struct e1000_rx_held {
	size_t len;
	uint8_t *data;
};

/* Microwire EEPROM interface state (93C46-style, 64 x 16 bits). */
struct e1000_eeprom_io {
	uint32_t eecd;                   /* the pins software drives: SK, CS, DI, REQ, FWE */
	unsigned nbits;                  /* command bits clocked in since CS rose */
	uint32_t cmd;                    /* start bit, opcode, address */
	bool reading;                    /* shifting out data */
	unsigned addr, bit;              /* word being read, next bit (0 = bit 15) */
	bool dout;
};

/* The TCP/IP context of extended descriptors (one slot on the 82540EM). */
struct e1000_tx_ctx {
	uint8_t ipcss, ipcso, tucss, tucso, tucmd, hdrlen;
	uint16_t ipcse, tucse, mss;
	uint32_t paylen;
};

struct e1000 {
	struct pci_dev pci;              /* its lock guards everything below */
	struct vm *vm;
	struct net_backend *backend;     /* NULL: transmitted frames are counted and dropped */
	bool link_up;
	uint8_t mac[6];
	uint32_t regs[E1000_NREGS];      /* storage of the plain registers, by offset / 4 */
	uint16_t eeprom[E1000_EEPROM_WORDS];
	uint16_t phy[32];
	struct e1000_eeprom_io ee;
	uint32_t ioaddr;                 /* BAR1's IOADDR */

	/* Transmit: the packet being gathered across descriptors (and TDT writes). */
	struct e1000_tx_ctx ctx;
	size_t tx_len;
	bool tx_started, tx_ext, tx_tse, tx_drop;
	uint8_t tx_popts;
	uint8_t tx_buf[E1000_TSO_MAX];
	uint8_t tx_out[E1000_MAX_TX_FRAME]; /* one segment, or a frame with its VLAN tag */

	/* Receive */
	struct e1000_rx_held fifo[E1000_RX_FIFO];
	unsigned fifo_head, fifo_count;
	uint8_t rx_buf[E1000_MAX_FRAME + 4];  /* the frame as written: padded, FCS appended */

	struct e1000_stats st;
};

/* Make the NIC with MAC address mac and put it on pci's bus (INTx pin A). No backend
 * yet: set d->backend (before the VM runs) and give the backend e1000_receive with d
 * as its opaque pointer. Owned by the VM. */
int e1000_create(struct vm *vm, struct pci_host *pci, const uint8_t mac[6], struct e1000 **out,
                 struct err *e);

/* A frame for the guest (no FCS), from any thread (takes d->pci.lock). */
void e1000_receive(void *d, const uint8_t *frame, size_t len);

/* Take the link down or up (PHY and STATUS follow, ICR.LSC is raised). Any thread. */
void e1000_set_link(struct e1000 *d, bool up);

#endif
