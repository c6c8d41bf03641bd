/* Intel 82540EM (see e1000.h). Section numbers are the 8254x SDM's. Every function here
 * runs with the PCI device's lock held (BAR handlers, or e1000_receive). */
#include "e1000.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/snap.h"

#define R(off) (d->regs[(off) >> 2])

#define ICR_CAUSES     0x1ffffu     /* the cause bits the 82540EM has (13.4.17) */
#define RAH_MASK       0x8003ffffu  /* AV, AS, address bits 47:32 */
#define RX_MAX_NO_LPE  1518         /* longest frame without FCS when RCTL.LPE is clear */
#define ETH_ZLEN       60           /* shortest frame without FCS */
#define FCS_LEN        4

/* PHY registers (M88E1011, IEEE 802.3 clause 22 and Marvell's) */
enum {
	PHY_BMCR = 0, PHY_BMSR = 1, PHY_ID1 = 2, PHY_ID2 = 3, PHY_ANAR = 4, PHY_ANLPAR = 5,
	PHY_ANER = 6, PHY_1000T_CTRL = 9, PHY_1000T_STATUS = 10, PHY_EXT_STATUS = 15,
	PHY_PSCR = 16, PHY_PSSR = 17,
};
#define BMCR_RESET      0x8000
#define BMCR_AN_RESTART 0x0200
#define BMSR_BASE       0x7949  /* 10/100 half/full, extended status, preamble suppression,
                                 * can autonegotiate, extended capabilities */
#define BMSR_LINK       0x0004
#define BMSR_AN_DONE    0x0020

/* The Microwire command: a start bit, two opcode bits, six address bits (64 words). */
#define EE_CMD_BITS     9
#define EE_OP_READ      2
#define EECD_SW_BITS    (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_REQ | 0x30u)

static uint16_t get16le(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32le(const uint8_t *p) { return get16le(p) | (uint32_t)get16le(p + 2) << 16; }
static uint64_t get64le(const uint8_t *p) { return get32le(p) | (uint64_t)get32le(p + 4) << 32; }
static uint16_t get16be(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32be(const uint8_t *p) { return (uint32_t)get16be(p) << 16 | get16be(p + 2); }
static void put16le(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32le(uint8_t *p, uint32_t v) { put16le(p, (uint16_t)v); put16le(p + 2, (uint16_t)(v >> 16)); }
static void put16be(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32be(uint8_t *p, uint32_t v) { put16be(p, (uint16_t)(v >> 16)); put16be(p + 2, (uint16_t)v); }

/* -- interrupts (3.6) ------------------------------------------------------------------ */

/* INTx follows ICR & IMS. */
static void update_irq(struct e1000 *d)
{
	pci_set_irq(&d->pci, (R(E1000_ICR) & R(E1000_IMS)) != 0);
}

static void raise_causes(struct e1000 *d, uint32_t causes)
{
	R(E1000_ICR) |= causes;
	update_irq(d);
}

/* -- statistics (13.7): saturating counters, cleared when read ------------------------- */

static void stat_add(struct e1000 *d, unsigned off, uint32_t n)
{
	uint32_t *r = &R(off);
	*r = *r > UINT32_MAX - n ? UINT32_MAX : *r + n;
}

/* A 64-bit octet counter in a low/high pair. */
static void stat_add64(struct e1000 *d, unsigned lo, uint64_t n)
{
	uint64_t v = R(lo) | (uint64_t)R(lo + 4) << 32;
	v = v > UINT64_MAX - n ? UINT64_MAX : v + n;
	R(lo) = (uint32_t)v;
	R(lo + 4) = (uint32_t)(v >> 32);
}

/* The size bucket (64, 127, 255, 511, 1023, 1522 bytes with FCS) of the PRC/PTC counters
 * starting at base, if any. */
static void stat_size(struct e1000 *d, unsigned base, size_t wire_len)
{
	static const size_t top[] = { 64, 127, 255, 511, 1023, 1522 };
	for (unsigned i = 0; i < 6; i++) {
		if (wire_len <= top[i]) {
			stat_add(d, base + 4 * i, 1);
			return;
		}
	}
}

static uint32_t stat_read(struct e1000 *d, unsigned off)
{
	uint32_t v = R(off);
	switch (off) {
	case E1000_GORCL: case E1000_GOTCL: case E1000_TORL: case E1000_TOTL:
		return v;                 /* the high half's read clears the pair */
	case E1000_GORCH: case E1000_GOTCH: case E1000_TORH: case E1000_TOTH:
		R(off - 4) = 0;
		break;
	}
	R(off) = 0;
	return v;
}

/* -- EEPROM (5, 13.4.3-4): a 93C46-style Microwire part on EECD's pins ------------------ */

static void eeprom_init(struct e1000 *d)
{
	uint16_t *w = d->eeprom, sum = 0;
	for (unsigned i = 0; i < 3; i++)
		w[i] = (uint16_t)(d->mac[2 * i] | d->mac[2 * i + 1] << 8);
	w[0x0a] = 0x4003;              /* init control 1: signature 01b, load the IDs below */
	w[0x0b] = 0x001e;              /* subsystem ID (PRO/1000 MT Desktop) */
	w[0x0c] = E1000_VENDOR;        /* subsystem vendor */
	w[0x0d] = E1000_DEVICE;
	w[0x0e] = E1000_VENDOR;
	w[0x0f] = 0x0000;              /* init control 2: no flow control (PAUSE bits 13:12 clear) */
	for (unsigned i = 0; i < E1000_EEPROM_WORDS - 1; i++)
		sum = (uint16_t)(sum + w[i]);
	w[E1000_EEPROM_WORDS - 1] = (uint16_t)(E1000_EEPROM_SUM - sum);
}

/* One rising edge of SK with CS high: take a command bit, or present the next data bit
 * (a READ answers with a dummy 0, then D15..D0, then goes on with the next word). */
static void eeprom_clock(struct e1000 *d, bool di)
{
	struct e1000_eeprom_io *ee = &d->ee;
	if (ee->reading) {
		ee->dout = d->eeprom[ee->addr] >> (15 - ee->bit) & 1;
		if (++ee->bit == 16) {
			ee->bit = 0;
			ee->addr = (ee->addr + 1) % E1000_EEPROM_WORDS;
		}
		return;
	}
	if ((ee->nbits == 0 && !di) || ee->nbits >= EE_CMD_BITS)
		return;   /* before the start bit; or a command we ignore (writes) until CS drops */
	ee->cmd = ee->cmd << 1 | di;
	if (++ee->nbits == EE_CMD_BITS && (ee->cmd >> 6 & 3) == EE_OP_READ) {
		ee->reading = true;
		ee->addr = ee->cmd & (E1000_EEPROM_WORDS - 1);
		ee->bit = 0;
		ee->dout = false;
	}
}

static void eecd_write(struct e1000 *d, uint32_t val)
{
	struct e1000_eeprom_io *ee = &d->ee;
	uint32_t old = ee->eecd;
	ee->eecd = val & EECD_SW_BITS;
	if (!(val & E1000_EECD_CS)) {   /* deselected: the part forgets the command */
		ee->nbits = 0;
		ee->cmd = 0;
		ee->reading = false;
		ee->dout = false;
		return;
	}
	if (!(old & E1000_EECD_SK) && (val & E1000_EECD_SK))
		eeprom_clock(d, val & E1000_EECD_DI);
}

/* Software owns the pins once it asks (EE_REQ): the grant is immediate. */
static uint32_t eecd_read(struct e1000 *d)
{
	uint32_t v = d->ee.eecd | E1000_EECD_PRES;   /* EE_SIZE clear: 64 words */
	if (v & E1000_EECD_REQ)
		v |= E1000_EECD_GNT;
	if (d->ee.dout)
		v |= E1000_EECD_DO;
	return v;
}

static void eerd_write(struct e1000 *d, uint32_t val)
{
	if (!(val & E1000_EERD_START)) {
		R(E1000_EERD) = val & ~(E1000_EERD_START | E1000_EERD_DONE);
		return;
	}
	unsigned a = val >> 8 & 0xff;
	uint16_t w = a < E1000_EEPROM_WORDS ? d->eeprom[a] : 0;
	R(E1000_EERD) = (uint32_t)w << 16 | a << 8 | E1000_EERD_DONE;
}

/* -- PHY through MDIC (13.4.7; M88E1011 registers) ------------------------------------- */

static void phy_reset(struct e1000 *d)
{
	memset(d->phy, 0, sizeof(d->phy));
	d->phy[PHY_BMCR] = 0x1140;        /* autonegotiation, full duplex, 1000 Mb/s */
	d->phy[PHY_ANAR] = 0x01e1;        /* 10/100 half and full, 802.3 selector */
	d->phy[PHY_1000T_CTRL] = 0x0300;  /* 1000BASE-T half and full */
	d->phy[PHY_PSCR] = 0x0068;        /* auto crossover, CRS on transmit */
}

static uint16_t phy_read(struct e1000 *d, unsigned reg)
{
	bool up = d->link_up;
	switch (reg) {
	case PHY_BMSR:
		return BMSR_BASE | (up ? BMSR_LINK | BMSR_AN_DONE : 0);
	case PHY_ID1:
		return E1000_PHY_ID1;
	case PHY_ID2:
		return E1000_PHY_ID2;
	case PHY_ANLPAR:                  /* partner: 10/100 half/full, pause, acknowledged */
		return up ? 0x45e1 : 0;
	case PHY_ANER:                    /* the partner autonegotiates */
		return up ? 0x0001 : 0;
	case PHY_1000T_STATUS:            /* local and remote receivers fine, partner 1000 half/full */
		return up ? 0x3c00 : 0;
	case PHY_EXT_STATUS:              /* 1000BASE-T half and full */
		return 0x3000;
	case PHY_PSSR:                    /* 1000 Mb/s, full duplex, resolved, link */
		return up ? 0xac00 : 0;
	default:
		return d->phy[reg & 31];
	}
}

static void phy_write(struct e1000 *d, unsigned reg, uint16_t v)
{
	switch (reg) {
	case PHY_BMCR:
		/* A soft reset commits the configuration (it keeps the registers); a restarted
		 * autonegotiation completes at once, which the MAC reports as a link change. */
		if ((v & BMCR_AN_RESTART) && d->link_up)
			raise_causes(d, E1000_ICR_LSC);
		d->phy[PHY_BMCR] = v & (uint16_t)~(BMCR_RESET | BMCR_AN_RESTART);
		return;
	case PHY_BMSR: case PHY_ID1: case PHY_ID2: case PHY_ANLPAR: case PHY_ANER:
	case PHY_1000T_STATUS: case PHY_EXT_STATUS: case PHY_PSSR:
		return;                       /* read-only */
	default:
		d->phy[reg & 31] = v;
	}
}

/* Any PHY address but the internal PHY's, or a reserved opcode, fails with MDIC.E. */
static void mdic_write(struct e1000 *d, uint32_t val)
{
	unsigned reg = val >> 16 & 31, addr = val >> 21 & 31, op = val >> 26 & 3;
	uint32_t r = val & ~(E1000_MDIC_READY | E1000_MDIC_ERROR | 1u << 31);

	if (addr != E1000_PHY_ADDR || (op != 1 && op != 2))
		r |= E1000_MDIC_ERROR;
	else if (op == 2)
		r = (r & ~0xffffu) | phy_read(d, reg);
	else
		phy_write(d, reg, (uint16_t)val);
	R(E1000_MDIC) = r | E1000_MDIC_READY;
	if (val & E1000_MDIC_I)
		raise_causes(d, E1000_ICR_MDAC);
}

/* -- reset --------------------------------------------------------------------------- */

static void fifo_clear(struct e1000 *d)
{
	while (d->fifo_count) {
		free(d->fifo[d->fifo_head].data);
		d->fifo_head = (d->fifo_head + 1) % E1000_RX_FIFO;
		d->fifo_count--;
	}
	d->fifo_head = 0;
}

/* Power-on and CTRL.RST: registers to their defaults, RAL0/RAH0 from the EEPROM, the
 * PHY reset, pending frames and the half-gathered packet forgotten. The link, the
 * statistics the host keeps and the PCI configuration stay. */
static void dev_reset(struct e1000 *d)
{
	memset(d->regs, 0, sizeof(d->regs));
	R(E1000_CTRL) = E1000_CTRL_FD | E1000_CTRL_ASDE | E1000_CTRL_SLU;
	R(E1000_VET) = 0x8100;
	R(E1000_PBA) = 0x00100030;        /* 48 KiB receive, 16 KiB transmit */
	R(E1000_LEDCTL) = 0x07068302;
	R(E1000_RA) = get32le(d->mac);
	R(E1000_RA + 4) = get16le(d->mac + 4) | E1000_RAH_AV;
	memset(&d->ee, 0, sizeof(d->ee));
	phy_reset(d);
	memset(&d->ctx, 0, sizeof(d->ctx));
	d->tx_len = 0;
	d->tx_started = d->tx_drop = false;
	fifo_clear(d);
	update_irq(d);
}

/* -- descriptor rings (3.2.6, 3.4) ----------------------------------------------------- */

struct ring {
	uint64_t base;
	unsigned size, head, tail;
};

/* The ring whose registers start at bal (RDBAL or TDBAL: LEN +8, H +0x10, T +0x18).
 * False when it is empty or an index lies beyond it: the hardware then stops. */
static bool ring_get(struct e1000 *d, unsigned bal, struct ring *r)
{
	r->base = R(bal) | (uint64_t)R(bal + 4) << 32;
	r->size = R(bal + 8) / E1000_DESC_SIZE;
	r->head = R(bal + 0x10);
	r->tail = R(bal + 0x18);
	return r->size && r->head < r->size && r->tail < r->size;
}

/* -- receive (3.2) -------------------------------------------------------------------- */

/* Ethernet FCS: CRC-32, reflected, a nibble at a time. */
static uint32_t crc32_eth(const uint8_t *p, size_t n)
{
	static const uint32_t t[16] = {
		0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
		0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
		0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
	};
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		c = c >> 4 ^ t[c & 15];
		c = c >> 4 ^ t[c & 15];
	}
	return ~c;
}

/* RCTL.BSIZE/BSEX (13.4.22); BSEX with BSIZE 00 is reserved: taken as 2048. */
static unsigned rx_buf_size(uint32_t rctl)
{
	unsigned bsize = rctl >> E1000_RCTL_BSIZE_SHIFT & 3;
	if (rctl & E1000_RCTL_BSEX)
		return bsize ? 32768u >> bsize : 2048;
	return 2048u >> bsize;
}

static bool vlan_tagged(struct e1000 *d, const uint8_t *f, size_t len)
{
	return len >= 18 && get16be(f + 12) == (uint16_t)R(E1000_VET);
}

/* The destination filter (3.2.1): VLAN filter table, exact addresses (RAL/RAH with AV),
 * promiscuous modes, broadcast, the multicast hash (RCTL.MO picks the 12 bits). */
static bool rx_accept(struct e1000 *d, const uint8_t *f, size_t len)
{
	uint32_t rctl = R(E1000_RCTL);
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if ((rctl & E1000_RCTL_VFE) && vlan_tagged(d, f, len)) {
		unsigned vid = get16be(f + 14) & 0xfff;
		if (!(R(E1000_VFTA + 4 * (vid >> 5)) >> (vid & 31) & 1))
			return false;
	}
	if (!memcmp(f, bcast, 6))
		return rctl & (E1000_RCTL_BAM | E1000_RCTL_MPE);
	if (rctl & ((f[0] & 1) ? E1000_RCTL_MPE : E1000_RCTL_UPE))
		return true;
	for (unsigned i = 0; i < 16; i++) {
		uint32_t lo = R(E1000_RA + 8 * i), hi = R(E1000_RA + 8 * i + 4);
		if ((hi & E1000_RAH_AV) && !(hi >> 16 & 3) && get32le(f) == lo &&
		    get16le(f + 4) == (uint16_t)hi)
			return true;
	}
	if (!(f[0] & 1))
		return false;
	unsigned shift = 4 - (rctl >> E1000_RCTL_MO_SHIFT & 3);
	if (shift == 1)
		shift = 0;                /* MO 11: bits 43:32 */
	unsigned hash = (f[4] >> shift | (unsigned)f[5] << (8 - shift)) & 0xfff;
	return R(E1000_MTA + 4 * (hash >> 5)) >> (hash & 31) & 1;
}

/* A frame lost for want of descriptors (MPC, ICR.RXO). */
static void rx_overrun(struct e1000 *d)
{
	d->st.rx_no_desc++;
	stat_add(d, E1000_MPC, 1);
	raise_causes(d, E1000_ICR_RXO);
}

/* Put one frame in the ring. 1: done with it (written, or dropped on a DMA failure);
 * 0: not enough free descriptors for it, nothing written. */
static int rx_deliver(struct e1000 *d, const uint8_t *frame, size_t len)
{
	uint32_t rctl = R(E1000_RCTL);
	struct ring r;

	if (!ring_get(d, E1000_RDBAL, &r))
		return 0;
	bool strip = (R(E1000_CTRL) & E1000_CTRL_VME) && vlan_tagged(d, frame, len);
	bool fcs = !(rctl & E1000_RCTL_SECRC);
	size_t wire = len < ETH_ZLEN ? ETH_ZLEN : len;
	size_t n = wire - (strip ? 4 : 0) + (fcs ? FCS_LEN : 0);
	unsigned bsize = rx_buf_size(rctl);
	size_t need = (n + bsize - 1) / bsize;
	if (need >= r.size) {        /* more buffers than the ring can ever offer */
		rx_overrun(d);
		return 1;
	}
	if ((r.tail + r.size - r.head) % r.size < need)
		return 0;
	if (!pci_bus_master(&d->pci)) {
		d->st.dma_disabled++;
		return 1;
	}

	/* The frame as the ring gets it: padded, the tag moved to the descriptor, the FCS
	 * of what was on the wire appended. */
	uint8_t *b = d->rx_buf;
	uint16_t special = strip ? get16be(frame + 14) : 0;
	memcpy(b, frame, len);
	memset(b + len, 0, wire - len);
	uint32_t crc = fcs ? crc32_eth(b, wire) : 0;
	size_t m = wire;
	if (strip) {
		memmove(b + 12, b + 16, wire - 16);
		m -= 4;
	}
	if (fcs)
		put32le(b + m, crc);

	bool bad = false;
	size_t off = 0;
	while (off < n) {
		uint64_t da = r.base + (uint64_t)r.head * E1000_DESC_SIZE;
		uint8_t desc[16], wb[8];
		if (mem_read(&d->vm->mem, da, desc, sizeof(desc))) {
			d->st.bad_dma++;
			bad = true;
			break;             /* the ring itself is unreachable: the frame is lost */
		}
		size_t chunk = n - off < bsize ? n - off : bsize;
		uint8_t err = 0;
		if (mem_write(&d->vm->mem, get64le(desc), b + off, chunk)) {
			d->st.bad_dma++;
			bad = true;
			err = E1000_RXD_ERR_RXE;
		}
		off += chunk;
		bool last = off == n;
		put16le(wb, (uint16_t)chunk);
		put16le(wb + 2, 0);        /* packet checksum: not computed (IXSM says so) */
		wb[4] = E1000_RXD_STA_DD | (last ? E1000_RXD_STA_EOP | E1000_RXD_STA_IXSM : 0) |
		        (last && strip ? E1000_RXD_STA_VP : 0);
		wb[5] = err;
		put16le(wb + 6, last ? special : 0);
		if (mem_write(&d->vm->mem, da + 8, wb, sizeof(wb)))
			d->st.bad_dma++;
		r.head = (r.head + 1) % r.size;
	}
	R(E1000_RDH) = r.head;

	uint32_t causes = E1000_ICR_RXT0;
	unsigned rdmts = rctl >> E1000_RCTL_RDMTS_SHIFT & 3;
	if ((r.tail + r.size - r.head) % r.size <= r.size >> (rdmts == 3 ? 3 : rdmts + 1))
		causes |= E1000_ICR_RXDMT0;
	if (!bad) {
		d->st.rx_frames++;
		d->st.rx_bytes += len;
		stat_add(d, E1000_GPRC, 1);
		stat_add64(d, E1000_GORCL, wire + FCS_LEN);
		stat_size(d, E1000_PRC64, wire + FCS_LEN);
		if (frame[0] & 1)
			stat_add(d, memcmp(frame, "\xff\xff\xff\xff\xff\xff", 6) ? E1000_MPRC : E1000_BPRC, 1);
	}
	raise_causes(d, causes);
	return 1;
}

/* Move waiting frames into the ring while it has room. */
static void rx_flush(struct e1000 *d)
{
	while (d->fifo_count && (R(E1000_RCTL) & E1000_RCTL_EN)) {
		struct e1000_rx_held *h = &d->fifo[d->fifo_head];
		if (!rx_deliver(d, h->data, h->len))
			return;
		free(h->data);
		d->fifo_head = (d->fifo_head + 1) % E1000_RX_FIFO;
		d->fifo_count--;
	}
}

static void receive_locked(struct e1000 *d, const uint8_t *frame, size_t len)
{
	uint32_t rctl = R(E1000_RCTL);

	if (!(rctl & E1000_RCTL_EN)) {
		d->st.rx_disabled++;
		return;
	}
	stat_add(d, E1000_TPR, 1);
	stat_add64(d, E1000_TORL, len + FCS_LEN);
	if (len < E1000_MIN_FRAME || len > E1000_MAX_FRAME ||
	    (!(rctl & E1000_RCTL_LPE) && len > RX_MAX_NO_LPE)) {
		d->st.rx_bad_size++;
		if (len >= E1000_MIN_FRAME)
			stat_add(d, E1000_ROC, 1);
		return;
	}
	if (!rx_accept(d, frame, len)) {
		d->st.rx_filtered++;
		return;
	}
	rx_flush(d);
	if (d->fifo_count == 0 && rx_deliver(d, frame, len))
		return;
	/* The ring is full: hold the frame, as the chip's packet buffer would. */
	stat_add(d, E1000_RNBC, 1);
	uint8_t *copy = d->fifo_count < E1000_RX_FIFO ? malloc(len) : NULL;
	if (!copy) {
		rx_overrun(d);
		return;
	}
	memcpy(copy, frame, len);
	d->fifo[(d->fifo_head + d->fifo_count) % E1000_RX_FIFO] =
		(struct e1000_rx_held){ .len = len, .data = copy };
	d->fifo_count++;
	d->st.rx_queued++;
}

void e1000_receive(void *opaque, const uint8_t *frame, size_t len)
{
	struct e1000 *d = opaque;
	vm_input_begin(d->vm);
	pthread_mutex_lock(&d->pci.lock);
	receive_locked(d, frame, len);
	pthread_mutex_unlock(&d->pci.lock);
	vm_input_end(d->vm);
}

/* -- transmit (3.3, 3.5) -------------------------------------------------------------- */

static uint64_t csum_bytes(const uint8_t *p, size_t n)
{
	uint64_t s = 0;
	size_t i;
	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < n)
		s += (uint32_t)p[i] << 8;
	return s;
}

/* Insert the Internet checksum of p[start..end] (end inclusive; 0 or past the frame:
 * to its end), plus extra (a TSO segment's length for the pseudo-header), at p[at].
 * The field itself is summed as it stands: it holds 0, or the driver's pseudo-header
 * sum. A region or field outside the frame is left alone. */
static void csum_insert(uint8_t *p, size_t n, size_t start, size_t end, size_t at, bool udp,
                        uint32_t extra)
{
	if (start >= n || at + 2 > n)
		return;
	size_t stop = end && end < n ? end + 1 : n;
	if (stop <= start)
		return;
	uint64_t s = extra + csum_bytes(p + start, stop - start);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	uint16_t c = (uint16_t)~s;
	if (udp && c == 0)
		c = 0xffff;        /* UDP's 0 means "no checksum" */
	put16be(p + at, c);
}

/* Hand one frame to the backend: the VLAN tag inserted (VLE with CTRL.VME), short frames
 * padded (TCTL.PSP). f is tx_buf or tx_out, len <= E1000_MAX_FRAME. */
static void tx_send(struct e1000 *d, uint8_t *f, size_t len, bool vle, uint16_t vlan)
{
	if (vle && (R(E1000_CTRL) & E1000_CTRL_VME)) {
		if (len < 12) {
			d->st.tx_malformed++;
			return;
		}
		uint8_t *o = d->tx_out;
		if (f == o) {
			memmove(o + 16, o + 12, len - 12);
		} else {
			memcpy(o, f, 12);
			memcpy(o + 16, f + 12, len - 12);
		}
		put16be(o + 12, (uint16_t)R(E1000_VET));
		put16be(o + 14, vlan);
		f = o;
		len += 4;
	}
	if ((R(E1000_TCTL) & E1000_TCTL_PSP) && len < ETH_ZLEN) {
		memset(f + len, 0, ETH_ZLEN - len);
		len = ETH_ZLEN;
	}
	if (len < E1000_MIN_FRAME) {
		d->st.tx_malformed++;
		return;
	}
	d->st.tx_frames++;
	d->st.tx_bytes += len;
	stat_add(d, E1000_GPTC, 1);
	stat_add(d, E1000_TPT, 1);
	stat_add64(d, E1000_GOTCL, len + FCS_LEN);
	stat_add64(d, E1000_TOTL, len + FCS_LEN);
	stat_size(d, E1000_PTC64, len + FCS_LEN);
	if (f[0] & 1)
		stat_add(d, memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) ? E1000_MPTC : E1000_BPTC, 1);
	if (!d->backend || d->backend->send(d->backend, f, len))
		d->st.tx_backend_drops++;
}

static void put16be_in(uint8_t *p, size_t limit, size_t at, uint16_t v)
{
	if (at + 2 <= limit)
		put16be(p + at, v);
}

/* TCP segmentation (3.5): the gathered packet is a header of HDRLEN bytes and a payload
 * cut into MSS-sized pieces; each segment gets the header with its IP total length (or
 * IPv6 payload length), IPv4 ID + n, TCP sequence number + offset (FIN and PSH only on
 * the last) or UDP length, and the checksums POPTS asks for, the TCP/UDP one adding the
 * segment's length to the driver's pseudo-header sum. */
static void tx_tso(struct e1000 *d, bool vle, uint16_t vlan)
{
	const struct e1000_tx_ctx *c = &d->ctx;
	size_t hdr = c->hdrlen, mss = c->mss, total = d->tx_len;

	if (!mss || hdr > total || hdr + mss > E1000_MAX_FRAME) {
		d->st.tx_malformed++;
		stat_add(d, E1000_TSCTFC, 1);
		return;
	}
	d->st.tx_tso++;
	stat_add(d, E1000_TSCTC, 1);
	const uint8_t *h = d->tx_buf;
	uint16_t ip_id = c->ipcss + 6u <= hdr ? get16be(h + c->ipcss + 4) : 0;
	uint32_t seq = c->tucss + 8u <= hdr ? get32be(h + c->tucss + 4) : 0;
	bool tcp = c->tucmd & E1000_TUCMD_TCP;
	size_t pay = total - hdr, off = 0;
	unsigned segno = 0;
	do {
		size_t chunk = pay - off < mss ? pay - off : mss, n = hdr + chunk;
		bool last = off + chunk == pay;
		uint8_t *s = d->tx_out;
		memcpy(s, h, hdr);
		memcpy(s + hdr, h + hdr + off, chunk);
		if (c->tucmd & E1000_TUCMD_IP) {
			put16be_in(s, hdr, c->ipcss + 2u, (uint16_t)(n - c->ipcss));
			put16be_in(s, hdr, c->ipcss + 4u, (uint16_t)(ip_id + segno));
		} else {
			put16be_in(s, hdr, c->ipcss + 4u, (uint16_t)(n - c->ipcss - 40));
		}
		if (tcp) {
			if (c->tucss + 8u <= hdr)
				put32be(s + c->tucss + 4, seq + (uint32_t)off);
			if (!last && c->tucss + 14u <= hdr)
				s[c->tucss + 13] &= (uint8_t)~0x09;   /* FIN, PSH */
		} else {
			put16be_in(s, hdr, c->tucss + 4u, (uint16_t)(n - c->tucss));
		}
		if (d->tx_popts & E1000_TXD_POPTS_IXSM)
			csum_insert(s, n, c->ipcss, c->ipcse, c->ipcso, false, 0);
		if (d->tx_popts & E1000_TXD_POPTS_TXSM)
			csum_insert(s, n, c->tucss, c->tucse, c->tucso, !tcp,
			            n > c->tucss ? (uint32_t)(n - c->tucss) : 0);
		tx_send(d, s, n, vle, vlan);
		off += chunk;
		segno++;
	} while (off < pay);
}

/* The packet is complete (eop is its last descriptor, which carries VLE, the VLAN tag
 * and the legacy checksum fields). */
static void tx_packet(struct e1000 *d, const uint8_t *eop)
{
	uint8_t cmd = eop[11];
	bool vle = cmd & E1000_TXD_CMD_VLE;
	uint16_t vlan = get16le(eop + 14);
	const struct e1000_tx_ctx *c = &d->ctx;

	if (d->tx_drop)
		return;
	if (!d->tx_ext) {
		if (cmd & E1000_TXD_CMD_IC)
			csum_insert(d->tx_buf, d->tx_len, eop[13], 0, eop[10], false, 0);
	} else if (d->tx_tse) {
		tx_tso(d, vle, vlan);
		return;
	} else {
		if (d->tx_popts & E1000_TXD_POPTS_IXSM)
			csum_insert(d->tx_buf, d->tx_len, c->ipcss, c->ipcse, c->ipcso, false, 0);
		if (d->tx_popts & E1000_TXD_POPTS_TXSM)
			csum_insert(d->tx_buf, d->tx_len, c->tucss, c->tucse, c->tucso,
			            !(c->tucmd & E1000_TUCMD_TCP), 0);
	}
	tx_send(d, d->tx_buf, d->tx_len, vle, vlan);   /* tx_desc kept it within E1000_MAX_FRAME */
}

/* One descriptor: a context, or a piece of the packet being gathered. The first
 * descriptor of a packet says its kind (legacy or extended), TSE and POPTS. */
static void tx_desc(struct e1000 *d, const uint8_t *desc)
{
	uint8_t cmd = desc[11];
	size_t len;

	if (cmd & E1000_TXD_CMD_DEXT) {
		unsigned dtyp = desc[10] >> 4;
		if (dtyp == E1000_TXD_DTYP_CTX) {
			struct e1000_tx_ctx *c = &d->ctx;
			c->ipcss = desc[0];
			c->ipcso = desc[1];
			c->ipcse = get16le(desc + 2);
			c->tucss = desc[4];
			c->tucso = desc[5];
			c->tucse = get16le(desc + 6);
			c->paylen = get32le(desc + 8) & 0xfffff;
			c->tucmd = cmd;
			c->hdrlen = desc[13];
			c->mss = get16le(desc + 14);
			return;
		}
		if (dtyp != E1000_TXD_DTYP_DATA) {
			d->st.tx_malformed++;     /* a reserved type: skipped */
			return;
		}
		len = get32le(desc + 8) & 0xfffff;
	} else {
		len = get16le(desc + 8);
	}
	if (!d->tx_started) {
		d->tx_started = true;
		d->tx_ext = cmd & E1000_TXD_CMD_DEXT;
		d->tx_tse = d->tx_ext && (cmd & E1000_TXD_CMD_TSE);
		d->tx_popts = d->tx_ext ? desc[13] : 0;
		d->tx_len = 0;
		d->tx_drop = false;
	}
	if (len && !d->tx_drop) {
		size_t limit = d->tx_tse ? E1000_TSO_MAX : E1000_MAX_FRAME;
		if (len > limit - d->tx_len) {
			d->st.tx_malformed++;
			d->tx_drop = true;
		} else if (mem_read(&d->vm->mem, get64le(desc), d->tx_buf + d->tx_len, len)) {
			d->st.bad_dma++;
			d->tx_drop = true;
		} else {
			d->tx_len += len;
		}
	}
	if (cmd & E1000_TXD_CMD_EOP) {
		tx_packet(d, desc);
		d->tx_started = false;
	}
}

/* Process the descriptors between TDH and TDT: at most one ring's worth, and none past
 * one that cannot be fetched. RS asks for DD written back and TXDW; TXQE once the ring
 * is drained. */
static void tx_kick(struct e1000 *d)
{
	struct ring r;
	uint32_t causes = 0;

	if (!(R(E1000_TCTL) & E1000_TCTL_EN) || !ring_get(d, E1000_TDBAL, &r) || r.head == r.tail)
		return;
	if (!pci_bus_master(&d->pci)) {
		d->st.dma_disabled++;
		return;
	}
	for (unsigned i = 0; i < r.size && r.head != r.tail; i++) {
		uint64_t da = r.base + (uint64_t)r.head * E1000_DESC_SIZE;
		uint8_t desc[16];
		if (mem_read(&d->vm->mem, da, desc, sizeof(desc))) {
			d->st.bad_dma++;
			break;
		}
		tx_desc(d, desc);
		r.head = (r.head + 1) % r.size;
		if (desc[11] & E1000_TXD_CMD_RS) {
			uint8_t sta = desc[12] | E1000_TXD_STA_DD;
			if (mem_write(&d->vm->mem, da + 12, &sta, 1))
				d->st.bad_dma++;
			causes |= E1000_ICR_TXDW;
		}
	}
	R(E1000_TDH) = r.head;
	if (r.head == r.tail)
		causes |= E1000_ICR_TXQE;
	raise_causes(d, causes);
}

/* -- register file (13.4) ------------------------------------------------------------ */

enum reg_kind { REG_NONE, REG_RW, REG_ZERO, REG_STAT };

static bool in(unsigned off, unsigned lo, unsigned last) { return off >= lo && off <= last; }

/* Registers without side effects: plain storage, read-as-zero (wake-up, manageability,
 * flash, FIFO diagnostics: features this model does not have), statistics. */
static enum reg_kind reg_kind(unsigned off)
{
	switch (off) {
	case E1000_FCAL: case E1000_FCAH: case E1000_FCT: case E1000_VET: case E1000_ITR:
	case E1000_FCTTV: case E1000_TXCW: case E1000_TIPG: case E1000_AIT: case E1000_LEDCTL:
	case E1000_PBA: case E1000_FCRTL: case E1000_FCRTH: case E1000_RDTR: case E1000_RXDCTL:
	case E1000_RADV: case E1000_RSRPD: case E1000_TXDMAC: case E1000_TIDV: case E1000_TXDCTL:
	case E1000_TADV: case E1000_TSPMT: case E1000_RXCSUM:
		return REG_RW;
	case E1000_FLA: case E1000_RXCW: case E1000_WUC: case 0x5808: case 0x5810:
	case E1000_MANC: case 0x5838: case 0x5900:
		return REG_ZERO;
	}
	if (in(off, E1000_MTA, 0x53fc) || in(off, E1000_RA, 0x547c) || in(off, E1000_VFTA, 0x57fc))
		return REG_RW;
	if (in(off, E1000_STATS, E1000_STATS_END - 4))
		return REG_STAT;
	if (in(off, 0x2410, 0x2430) || in(off, 0x3410, 0x3430) || in(off, 0x5840, 0x588c) ||
	    in(off, 0x5a00, 0x5a7c) || in(off, 0x5f00, 0x5f1c) || in(off, 0x9000, 0x93fc) ||
	    in(off, 0x9800, 0x9bfc))
		return REG_ZERO;
	return REG_NONE;
}

static uint32_t rw_mask(unsigned off)
{
	switch (off) {
	case E1000_ITR: case E1000_RDTR: case E1000_RADV: case E1000_TIDV: case E1000_TADV:
		return 0xffff;            /* RDTR's FPD (bit 31) is write-only */
	}
	if (in(off, E1000_RA, 0x547c) && (off & 4))
		return RAH_MASK;
	return 0xffffffffu;
}

static uint32_t reg_read(struct e1000 *d, unsigned off)
{
	switch (off) {
	case E1000_STATUS: {
		uint32_t v = E1000_STATUS_FD | E1000_STATUS_SPEED_1000 | 2u << 8;  /* ASDV 1000 */
		if (d->link_up && (R(E1000_CTRL) & E1000_CTRL_SLU))
			v |= E1000_STATUS_LU;
		return v;
	}
	case E1000_EECD:
		return eecd_read(d);
	case E1000_ICR: {
		uint32_t v = R(E1000_ICR);
		R(E1000_ICR) = 0;
		update_irq(d);
		return v;
	}
	case E1000_ICS: case E1000_IMC:
		return 0;                 /* write-only */
	case E1000_CTRL: case E1000_EERD: case E1000_CTRL_EXT: case E1000_MDIC: case E1000_IMS:
	case E1000_RCTL: case E1000_TCTL: case E1000_RDBAL: case E1000_RDBAH: case E1000_RDLEN:
	case E1000_RDH: case E1000_RDT: case E1000_TDBAL: case E1000_TDBAH: case E1000_TDLEN:
	case E1000_TDH: case E1000_TDT:
		return R(off);
	}
	switch (reg_kind(off)) {
	case REG_RW:
		return R(off);
	case REG_STAT:
		return stat_read(d, off);
	case REG_ZERO:
		return 0;
	default:
		d->st.unknown_regs++;
		return 0;
	}
}

static void reg_write(struct e1000 *d, unsigned off, uint32_t val)
{
	switch (off) {
	case E1000_CTRL: {
		uint32_t old = R(E1000_CTRL);
		if (val & E1000_CTRL_RST) {
			dev_reset(d);     /* self-clearing */
			return;
		}
		if ((val & E1000_CTRL_PHY_RST) && !(old & E1000_CTRL_PHY_RST))
			phy_reset(d);
		R(E1000_CTRL) = val;
		if ((val & E1000_CTRL_SLU) && !(old & E1000_CTRL_SLU) && d->link_up)
			raise_causes(d, E1000_ICR_LSC);
		return;
	}
	case E1000_STATUS:
		return;
	case E1000_EECD:
		eecd_write(d, val);
		return;
	case E1000_EERD:
		eerd_write(d, val);
		return;
	case E1000_CTRL_EXT:
		R(off) = val & ~E1000_CTRL_EXT_EE_RST;   /* the reload is instant */
		return;
	case E1000_MDIC:
		mdic_write(d, val);
		return;
	case E1000_ICR:
		R(E1000_ICR) &= ~val;
		update_irq(d);
		return;
	case E1000_ICS:
		raise_causes(d, val & ICR_CAUSES);
		return;
	case E1000_IMS:
		R(E1000_IMS) |= val & ICR_CAUSES;
		update_irq(d);
		return;
	case E1000_IMC:
		R(E1000_IMS) &= ~val;
		update_irq(d);
		return;
	case E1000_RCTL:
		R(off) = val;
		rx_flush(d);
		return;
	case E1000_TCTL:
		R(off) = val;
		tx_kick(d);
		return;
	case E1000_RDBAL: case E1000_TDBAL:
		R(off) = val & ~0xfu;
		return;
	case E1000_RDBAH: case E1000_TDBAH:
		R(off) = val;
		return;
	case E1000_RDLEN: case E1000_TDLEN:
		R(off) = val & 0xfff80;   /* a multiple of 128 bytes (8 descriptors) */
		return;
	case E1000_RDH: case E1000_TDH:
		R(off) = val & 0xffff;
		return;
	case E1000_RDT:
		R(off) = val & 0xffff;
		rx_flush(d);
		return;
	case E1000_TDT:
		R(off) = val & 0xffff;
		tx_kick(d);
		return;
	}
	switch (reg_kind(off)) {
	case REG_RW:
		R(off) = val & rw_mask(off);
		return;
	case REG_STAT: case REG_ZERO:
		return;
	default:
		d->st.unknown_regs++;
	}
}

/* -- BARs ---------------------------------------------------------------------------- */

static void fill(uint8_t *data, unsigned size, uint64_t v)
{
	for (unsigned i = 0; i < size; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

/* BAR0. The registers are 32 bits wide: a 64-bit access is two, a narrower read sees
 * its bytes of the register (side effects included), a narrower write is dropped. */
static void mmio_access(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct e1000 *d = opaque;
	unsigned o = (unsigned)(off & ~3ull);

	if (off >= E1000_MMIO_SIZE) {
		if (!is_write)
			fill(data, size, 0);
		return;
	}
	if ((size == 4 && !(off & 3)) || (size == 8 && !(off & 7))) {
		for (unsigned i = 0; i < size / 4; i++) {
			if (is_write)
				reg_write(d, o + 4 * i, get32le(data + 4 * i));
			else
				put32le(data + 4 * i, reg_read(d, o + 4 * i));
		}
		return;
	}
	d->st.unknown_regs++;
	if (!is_write)
		fill(data, size, (uint64_t)reg_read(d, o) >> (8 * (off & 3)));
}

/* BAR1: IOADDR (offset 0) selects a register, IODATA (offset 4) reaches it (13.2.1).
 * Only aligned 32-bit accesses do anything. */
static void io_access(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct e1000 *d = opaque;

	if (size != 4 || (off & 3) || off >= E1000_IO_SIZE) {
		d->st.unknown_regs++;
		if (!is_write)
			fill(data, size, 0);
		return;
	}
	if (off == 0) {
		if (is_write)
			d->ioaddr = get32le(data);
		else
			put32le(data, d->ioaddr);
		return;
	}
	unsigned reg = d->ioaddr & (E1000_MMIO_SIZE - 4);    /* bits 16:2 */
	if (is_write)
		reg_write(d, reg, get32le(data));
	else
		put32le(data, reg_read(d, reg));
}

/* -- device -------------------------------------------------------------------------- */

void e1000_set_link(struct e1000 *d, bool up)
{
	pthread_mutex_lock(&d->pci.lock);
	d->link_up = up;
	raise_causes(d, E1000_ICR_LSC);
	pthread_mutex_unlock(&d->pci.lock);
}

/* --stats: what went where, and what was refused. */
static void print_stats(void *opaque, FILE *f)
{
	struct e1000 *d = opaque;
	pthread_mutex_lock(&d->pci.lock);
	const struct e1000_stats s = d->st;
	pthread_mutex_unlock(&d->pci.lock);
	fprintf(f, "e1000: tx %lu frames (%llu bytes, %lu TSO packets), rx %lu frames (%llu bytes);"
	        " dropped: tx malformed %lu, backend %lu; rx disabled %lu, filtered %lu, bad size"
	        " %lu, no descriptor %lu (held %lu); bad DMA %lu, DMA off %lu; unknown registers %lu\n",
	        s.tx_frames, (unsigned long long)s.tx_bytes, s.tx_tso, s.rx_frames,
	        (unsigned long long)s.rx_bytes, s.tx_malformed, s.tx_backend_drops,
	        s.rx_disabled, s.rx_filtered, s.rx_bad_size, s.rx_no_desc, s.rx_queued,
	        s.bad_dma, s.dma_disabled, s.unknown_regs);
}

/* -- snapshots --------------------------------------------------------------------------
 * The register file, the PHY, the EEPROM interface, the transmit context and a packet
 * gathered across TDT writes, and the frames waiting in the receive FIFO. The EEPROM's
 * words are made from the MAC, the configuration space is the PCI host's. A load takes
 * each register as its write would shape it (what no write can set must be 0). */

/* The bits a register can hold (0: none, a register the model does not store). */
static uint32_t reg_bits(unsigned off)
{
	switch (off) {
	case E1000_CTRL: return ~E1000_CTRL_RST;
	case E1000_CTRL_EXT: return ~E1000_CTRL_EXT_EE_RST;
	case E1000_EERD: case E1000_MDIC: case E1000_RCTL: case E1000_TCTL:
	case E1000_RDBAH: case E1000_TDBAH:
		return 0xffffffffu;
	case E1000_ICR: case E1000_IMS: return ICR_CAUSES;
	case E1000_RDBAL: case E1000_TDBAL: return ~0xfu;
	case E1000_RDLEN: case E1000_TDLEN: return 0xfff80;
	case E1000_RDH: case E1000_RDT: case E1000_TDH: case E1000_TDT: return 0xffff;
	case E1000_STATUS: case E1000_EECD: case E1000_ICS: case E1000_IMC: return 0;
	}
	switch (reg_kind(off)) {
	case REG_RW: return rw_mask(off);
	case REG_STAT: return 0xffffffffu;
	default: return 0;
	}
}

static int snap_save(void *opaque, struct snap_writer *w)
{
	struct e1000 *d = opaque;
	pthread_mutex_lock(&d->pci.lock);
	snap_put_u8(w, d->link_up);
	for (unsigned i = 0; i < E1000_NREGS; i++)
		snap_put_u32(w, d->regs[i]);
	for (unsigned i = 0; i < 32; i++)
		snap_put_u16(w, d->phy[i]);
	const struct e1000_eeprom_io *ee = &d->ee;
	snap_put_u32(w, ee->eecd);
	snap_put_u32(w, ee->nbits);
	snap_put_u32(w, ee->cmd);
	snap_put_u8(w, ee->reading);
	snap_put_u32(w, ee->addr);
	snap_put_u32(w, ee->bit);
	snap_put_u8(w, ee->dout);
	snap_put_u32(w, d->ioaddr);
	const struct e1000_tx_ctx *c = &d->ctx;
	const uint8_t cb[] = { c->ipcss, c->ipcso, c->tucss, c->tucso, c->tucmd, c->hdrlen };
	snap_put_bytes(w, cb, sizeof(cb));
	snap_put_u16(w, c->ipcse);
	snap_put_u16(w, c->tucse);
	snap_put_u16(w, c->mss);
	snap_put_u32(w, c->paylen);
	const uint8_t tb[] = { d->tx_started, d->tx_ext, d->tx_tse, d->tx_drop, d->tx_popts };
	snap_put_bytes(w, tb, sizeof(tb));
	snap_put_u32(w, (uint32_t)d->tx_len);
	snap_put_bytes(w, d->tx_buf, d->tx_len);
	snap_put_u8(w, (uint8_t)d->fifo_count);
	for (unsigned i = 0; i < d->fifo_count; i++) {
		const struct e1000_rx_held *h = &d->fifo[(d->fifo_head + i) % E1000_RX_FIFO];
		snap_put_u32(w, (uint32_t)h->len);
		snap_put_bytes(w, h->data, h->len);
	}
	pthread_mutex_unlock(&d->pci.lock);
	return 0;
}

static int snap_load(void *opaque, struct snap_reader *r)
{
	struct e1000 *d = opaque;
	pthread_mutex_lock(&d->pci.lock);
	fifo_clear(d);
	d->link_up = snap_get_bool(r);
	for (unsigned i = 0; i < E1000_NREGS && !r->failed; i++) {
		d->regs[i] = snap_get_u32(r);
		if (d->regs[i] & ~reg_bits(i * 4))
			snap_fail(r, "register 0x%x out of range", i * 4);
	}
	for (unsigned i = 0; i < 32; i++)
		d->phy[i] = snap_get_u16(r);
	struct e1000_eeprom_io *ee = &d->ee;
	ee->eecd = snap_get_u32(r);
	ee->nbits = snap_get_u32(r);
	ee->cmd = snap_get_u32(r);
	ee->reading = snap_get_bool(r);
	ee->addr = snap_get_u32(r);
	ee->bit = snap_get_u32(r);
	ee->dout = snap_get_bool(r);
	snap_check(r, !(ee->eecd & ~EECD_SW_BITS) && ee->nbits <= EE_CMD_BITS &&
	           ee->cmd < (1u << EE_CMD_BITS) && ee->addr < E1000_EEPROM_WORDS && ee->bit < 16,
	           "EEPROM interface");
	d->ioaddr = snap_get_u32(r);
	struct e1000_tx_ctx *c = &d->ctx;
	c->ipcss = snap_get_u8(r);
	c->ipcso = snap_get_u8(r);
	c->tucss = snap_get_u8(r);
	c->tucso = snap_get_u8(r);
	c->tucmd = snap_get_u8(r);
	c->hdrlen = snap_get_u8(r);
	c->ipcse = snap_get_u16(r);
	c->tucse = snap_get_u16(r);
	c->mss = snap_get_u16(r);
	c->paylen = snap_get_u32(r);
	snap_check(r, c->paylen <= 0xfffff, "TCP/IP context");
	d->tx_started = snap_get_bool(r);
	d->tx_ext = snap_get_bool(r);
	d->tx_tse = snap_get_bool(r);
	d->tx_drop = snap_get_bool(r);
	d->tx_popts = snap_get_u8(r);
	uint32_t len = snap_get_u32(r);
	if (snap_check(r, len <= (d->tx_tse ? E1000_TSO_MAX : E1000_MAX_FRAME),
	               "packet being gathered"))
		d->tx_len = len;
	else
		d->tx_len = 0;
	snap_get_bytes(r, d->tx_buf, d->tx_len);
	unsigned n = snap_get_u8(r);
	snap_check(r, n <= E1000_RX_FIFO, "receive FIFO");
	for (unsigned i = 0; i < n && !r->failed; i++) {
		uint32_t flen = snap_get_u32(r);
		if (!snap_check(r, flen >= E1000_MIN_FRAME && flen <= E1000_MAX_FRAME &&
		                flen <= r->len - r->off, "waiting frame length"))
			break;
		uint8_t *copy = malloc(flen);
		if (!copy) {
			snap_fail(r, "out of memory");
			break;
		}
		snap_get_bytes(r, copy, flen);
		d->fifo[d->fifo_count++] = (struct e1000_rx_held){ .len = flen, .data = copy };
	}
	if (r->failed)
		dev_reset(d);
	update_irq(d);
	pthread_mutex_unlock(&d->pci.lock);
	return snap_status(r);
}

static void destroy(void *opaque)
{
	struct e1000 *d = opaque;
	fifo_clear(d);
	pci_dev_destroy(&d->pci);
	free(d);
}

int e1000_create(struct vm *vm, struct pci_host *pci, const uint8_t mac[6], struct e1000 **out,
                 struct err *e)
{
	struct e1000 *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return err_set(e, ENOMEM, "out of memory");
	pci_dev_init(&d->pci, "e1000", E1000_VENDOR, E1000_DEVICE, 0x020000, 0x02);
	if ((r = vm_add_device(vm, d, destroy, e)) == 0) {
		vm_set_device_stats(vm, d, print_stats);
		vm_set_device_snapshot(vm, d, "e1000", snap_save, snap_load);
	}
	if (r) {
		destroy(d);
		return r;
	}
	d->vm = vm;
	d->pci.opaque = d;
	d->link_up = true;
	memcpy(d->mac, mac, 6);
	pci_set16(&d->pci, PCI_SUBSYS_VENDOR, E1000_VENDOR);
	pci_set16(&d->pci, PCI_SUBSYS_ID, 0x001e);
	d->pci.cfg[PCI_INT_PIN] = 1;
	pci_dev_set_bar(&d->pci, 0, PCI_BAR_MEM32, E1000_MMIO_SIZE, mmio_access, d);
	pci_dev_set_bar(&d->pci, 1, PCI_BAR_IO, E1000_IO_SIZE, io_access, d);
	eeprom_init(d);
	dev_reset(d);
	if ((r = pci_host_add(pci, &d->pci, -1, e)))
		return r;
	*out = d;
	return 0;
}
