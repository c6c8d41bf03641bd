/* The 82540EM (hw/e1000.c) driven the way Linux's e1000 driver drives it, through the
 * buses of a minimal VM: reset through the I/O BAR, the EEPROM bit-banged over EECD and
 * read through EERD, the PHY over MDIC, transmit (legacy descriptors, checksum offload,
 * TSO, VLAN insertion), receive (filters, FCS, padding, multi-descriptor frames, a full
 * ring, the FIFO), the interrupt line, statistics, and a hostile guest's descriptors
 * and indexes. */
#include "hw_test.h"

#include "../check.h"
#include "hw/e1000.h"
#include "hw/pci.h"

#define RAM        (4u << 20)
#define TX_RING    0x10000u
#define RX_RING    0x11000u
#define TX_DATA    0x20000u
#define RX_BUFS    0x40000u     /* 2 KiB each */
#define NDESC      8
#define OUTSIDE    0xc0000000ull  /* the PCI hole: not RAM */

static struct vm vm;
static struct e1000 *nic;
static uint64_t bar0, bar1;
static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t peer[6] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };

/* -- a backend that keeps what it is given ------------------------------------------- */

#define MAX_SENT 16
static struct {
	unsigned n;
	size_t len[MAX_SENT];
	uint8_t data[MAX_SENT][E1000_MAX_TX_FRAME];
} sent;

static int capture(struct net_backend *b, const uint8_t *frame, size_t len)
{
	if (sent.n < MAX_SENT) {
		sent.len[sent.n] = len;
		memcpy(sent.data[sent.n], frame, len);
	}
	sent.n++;
	return 0;
}

static struct net_backend backend = { .name = "test", .send = capture };

/* -- register and RAM access --------------------------------------------------------- */

static uint32_t rd(unsigned reg)
{
	uint8_t b[4];
	bus_access(&vm.mmio, bar0 + reg, b, 4, false);
	return (uint32_t)b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr(unsigned reg, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	bus_access(&vm.mmio, bar0 + reg, b, 4, true);
}

static void ram_put(uint64_t gpa, const void *p, size_t n) { CHECK(mem_write(&vm.mem, gpa, p, n) == 0); }
static void ram_get(uint64_t gpa, void *p, size_t n) { CHECK(mem_read(&vm.mem, gpa, p, n) == 0); }

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }
static void pbe16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void pbe32(uint8_t *p, uint32_t v) { pbe16(p, (uint16_t)(v >> 16)); pbe16(p + 2, (uint16_t)v); }

static unsigned gsi(void) { return PCI_INTX_GSI_BASE + nic->pci.slot % PCI_INTX_LINES; }

/* -- checksums, computed here independently of the device ----------------------------- */

static uint32_t sum16(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i < n; i += 2)
		s += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The IPv4 pseudo-header's sum for the frame's addresses and protocol. */
static uint32_t pseudo(const uint8_t *f, unsigned l4len)
{
	return sum16(f + 26, 8) + f[23] + l4len;
}

static bool ip_ok(const uint8_t *f) { return fold(sum16(f + 14, 20)) == 0xffff; }

static bool l4_ok(const uint8_t *f, size_t len)
{
	unsigned l4 = be16(f + 16) - 20u;
	return 34 + l4 <= len && fold(pseudo(f, l4) + sum16(f + 34, l4)) == 0xffff;
}

static uint32_t crc32_ref(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? c >> 1 ^ 0xedb88320u : c >> 1;
	}
	return ~c;
}

/* Ethernet + IPv4 (10.0.2.15 -> 10.0.2.2) + TCP (proto 6) or UDP (17), payload i*7. */
static size_t make_ip(uint8_t *f, unsigned proto, size_t payload)
{
	unsigned l4h = proto == 6 ? 20 : 8;
	size_t len = 34 + l4h + payload;
	memset(f, 0, len);
	memcpy(f, peer, 6);
	memcpy(f + 6, mac, 6);
	pbe16(f + 12, 0x0800);
	f[14] = 0x45;
	pbe16(f + 16, (uint16_t)(len - 14));
	pbe16(f + 18, 0x1234);
	pbe16(f + 20, 0x4000);
	f[22] = 64;
	f[23] = (uint8_t)proto;
	static const uint8_t ips[8] = { 10, 0, 2, 15, 10, 0, 2, 2 };
	memcpy(f + 26, ips, 8);
	pbe16(f + 24, (uint16_t)~fold(sum16(f + 14, 20)));
	pbe16(f + 34, 40000);
	pbe16(f + 36, 80);
	if (proto == 6) {
		pbe32(f + 38, 1000);
		f[46] = 5 << 4;
		f[47] = 0x19;             /* FIN, PSH, ACK */
		pbe16(f + 48, 0xffff);
	} else {
		pbe16(f + 38, (uint16_t)(8 + payload));
	}
	for (size_t i = 0; i < payload; i++)
		f[34 + l4h + i] = (uint8_t)(i * 7);
	return len;
}

/* -- the driver's side --------------------------------------------------------------- */

static void cfg_command(uint16_t set, uint16_t clear)
{
	pthread_mutex_lock(&nic->pci.lock);
	uint16_t cmd = pci_get16(&nic->pci, PCI_COMMAND);
	pci_cfg_write_locked(&nic->pci, PCI_COMMAND, 2, (uint16_t)((cmd | set) & ~clear));
	pthread_mutex_unlock(&nic->pci.lock);
}

static void tx_setup(void)
{
	uint8_t zero[NDESC * 16] = { 0 };
	ram_put(TX_RING, zero, sizeof(zero));
	wr(E1000_TDBAL, TX_RING);
	wr(E1000_TDBAH, 0);
	wr(E1000_TDLEN, NDESC * 16);
	wr(E1000_TDH, 0);
	wr(E1000_TDT, 0);
	wr(E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
}

static unsigned tx_tail;

/* Queue one descriptor at the tail (without moving TDT). */
static void tx_put(const uint8_t desc[16])
{
	ram_put(TX_RING + 16 * tx_tail, desc, 16);
	tx_tail = (tx_tail + 1) % NDESC;
}

static void legacy(uint64_t addr, uint16_t len, uint8_t cmd, uint8_t cso, uint8_t css, uint16_t vlan)
{
	uint8_t d[16] = { 0 };
	put64(d, addr);
	put16(d + 8, len);
	d[10] = cso;
	d[11] = cmd;
	d[13] = css;
	put16(d + 14, vlan);
	tx_put(d);
}

static void context(uint8_t ipcss, uint8_t ipcso, uint16_t ipcse, uint8_t tucss, uint8_t tucso,
                    uint32_t paylen, uint8_t tucmd, uint8_t hdrlen, uint16_t mss)
{
	uint8_t d[16] = { 0 };
	d[0] = ipcss;
	d[1] = ipcso;
	put16(d + 2, ipcse);
	d[4] = tucss;
	d[5] = tucso;
	put32(d + 8, paylen | (uint32_t)(tucmd | E1000_TXD_CMD_DEXT) << 24);
	d[13] = hdrlen;
	put16(d + 14, mss);
	tx_put(d);
}

static void data(uint64_t addr, uint32_t len, uint8_t dcmd, uint8_t popts)
{
	uint8_t d[16] = { 0 };
	put64(d, addr);
	put32(d + 8, len | E1000_TXD_DTYP_DATA << 20 | (uint32_t)(dcmd | E1000_TXD_CMD_DEXT) << 24);
	d[13] = popts;
	tx_put(d);
}

static void tx_go(void) { wr(E1000_TDT, tx_tail); }

static uint8_t desc_status(uint64_t ring, unsigned i)
{
	uint8_t s;
	ram_get(ring + 16 * i + 12, &s, 1);
	return s;
}

static void rx_setup(uint32_t rctl, unsigned tail)
{
	uint8_t d[NDESC * 16] = { 0 };
	for (unsigned i = 0; i < NDESC; i++)
		put64(d + 16 * i, RX_BUFS + 2048 * i);
	ram_put(RX_RING, d, sizeof(d));
	wr(E1000_RCTL, 0);
	wr(E1000_RDBAL, RX_RING);
	wr(E1000_RDBAH, 0);
	wr(E1000_RDLEN, NDESC * 16);
	wr(E1000_RDH, 0);
	wr(E1000_RDT, tail);
	wr(E1000_RCTL, rctl | E1000_RCTL_EN);
}

struct rxd {
	uint64_t addr;
	uint16_t len;
	uint8_t status, errors;
	uint16_t special;
};

static struct rxd rx_desc(unsigned i)
{
	uint8_t b[16];
	ram_get(RX_RING + 16 * i, b, 16);
	return (struct rxd){ .addr = b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24,
	                     .len = (uint16_t)(b[8] | b[9] << 8), .status = b[12], .errors = b[13],
	                     .special = (uint16_t)(b[14] | b[15] << 8) };
}

/* -- tests --------------------------------------------------------------------------- */

static void test_pci(void)
{
	CHECK_EQ(pci_get16(&nic->pci, PCI_VENDOR_ID), 0x8086);
	CHECK_EQ(pci_get16(&nic->pci, PCI_DEVICE_ID), 0x100e);
	CHECK_EQ(pci_get32(&nic->pci, PCI_REVISION_ID) >> 8, 0x020000);
	CHECK_EQ(nic->pci.cfg[PCI_INT_PIN], 1);
	CHECK(bar0 != 0);
	CHECK(bar1 != 0);
	CHECK_EQ(nic->pci.bars[0].size, E1000_MMIO_SIZE);
	CHECK_EQ(nic->pci.bars[1].type, PCI_BAR_IO);
}

/* Linux resets through IOADDR/IODATA; RST clears itself. */
static void test_reset(void)
{
	wr(E1000_IMS, E1000_ICR_TXDW);
	io_out(&vm, (uint16_t)bar1, 4, E1000_CTRL);
	io_out(&vm, (uint16_t)bar1 + 4, 4, io_in(&vm, (uint16_t)bar1 + 4, 4) | E1000_CTRL_RST);
	CHECK_EQ(rd(E1000_CTRL) & E1000_CTRL_RST, 0);
	CHECK_EQ(rd(E1000_IMS), 0);
	CHECK_EQ(io_in(&vm, (uint16_t)bar1, 4), E1000_CTRL);
	io_out(&vm, (uint16_t)bar1, 4, E1000_STATUS);
	CHECK(io_in(&vm, (uint16_t)bar1 + 4, 4) & E1000_STATUS_LU);
	/* RAL0/RAH0 come from the EEPROM. */
	CHECK_EQ(rd(E1000_RA), 0x12005452);
	CHECK_EQ(rd(E1000_RA + 4), 0x80005634);
	uint32_t st = rd(E1000_STATUS);
	CHECK(st & E1000_STATUS_FD);
	CHECK_EQ(st & (3u << 6), E1000_STATUS_SPEED_1000);
}

/* e1000_read_eeprom's Microwire sequence. */
static uint32_t eecd;
static void ee_w(void) { wr(E1000_EECD, eecd); }
static void ee_clk(void)
{
	eecd |= E1000_EECD_SK;
	ee_w();
	eecd &= ~E1000_EECD_SK;
	ee_w();
}

static void ee_out(unsigned v, unsigned bits)
{
	for (unsigned m = 1u << (bits - 1); m; m >>= 1) {
		eecd = (eecd & ~E1000_EECD_DI) | (v & m ? E1000_EECD_DI : 0);
		ee_w();
		ee_clk();
	}
	eecd &= ~E1000_EECD_DI;
	ee_w();
}

static uint16_t ee_in(void)
{
	uint16_t v = 0;
	for (int i = 0; i < 16; i++) {
		eecd |= E1000_EECD_SK;
		ee_w();
		v = (uint16_t)(v << 1 | !!(rd(E1000_EECD) & E1000_EECD_DO));
		eecd &= ~E1000_EECD_SK;
		ee_w();
	}
	return v;
}

static void test_eeprom(void)
{
	uint16_t w[64], sum = 0;

	eecd = rd(E1000_EECD);
	CHECK(eecd & E1000_EECD_PRES);
	CHECK_EQ(eecd & 0x200, 0);                /* EE_SIZE: 64 words */
	eecd |= E1000_EECD_REQ;
	ee_w();
	eecd = rd(E1000_EECD);
	CHECK(eecd & E1000_EECD_GNT);
	eecd &= ~(E1000_EECD_DI | E1000_EECD_SK | E1000_EECD_DO | E1000_EECD_GNT | E1000_EECD_PRES);
	ee_w();
	eecd |= E1000_EECD_CS;
	ee_w();
	for (unsigned i = 0; i < 64; i++) {
		ee_out(0x6, 3);                   /* READ */
		ee_out(i, 6);
		w[i] = ee_in();
		/* standby: CS low, clock, CS high */
		eecd &= ~(E1000_EECD_CS | E1000_EECD_SK);
		ee_w();
		eecd |= E1000_EECD_SK;
		ee_w();
		eecd |= E1000_EECD_CS;
		ee_w();
		eecd &= ~E1000_EECD_SK;
		ee_w();
		sum = (uint16_t)(sum + w[i]);
	}
	eecd &= ~(E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_REQ);
	ee_w();
	CHECK_EQ(sum, 0xbaba);
	CHECK_EQ(w[0], 0x5452);
	CHECK_EQ(w[1], 0x1200);
	CHECK_EQ(w[2], 0x5634);
	CHECK_EQ(w[0x0d], 0x100e);
	CHECK_EQ(w[0x0a] >> 14, 1);               /* valid signature */

	/* Two reads without standby: the part goes on with the next word. */
	eecd = E1000_EECD_REQ | E1000_EECD_CS;
	ee_w();
	ee_out(0x6, 3);
	ee_out(1, 6);
	CHECK_EQ(ee_in(), w[1]);
	CHECK_EQ(ee_in(), w[2]);
	eecd = 0;
	ee_w();

	/* EERD */
	for (unsigned i = 0; i < 64; i += 9) {
		wr(E1000_EERD, i << 8 | E1000_EERD_START);
		uint32_t v = rd(E1000_EERD);
		CHECK(v & E1000_EERD_DONE);
		CHECK_EQ(v >> 16, w[i]);
	}
	wr(E1000_EERD, 0x80 << 8 | E1000_EERD_START);   /* beyond the part */
	CHECK_EQ(rd(E1000_EERD) >> 16, 0);
}

static uint32_t mdic(uint32_t op, unsigned phy, unsigned reg, uint16_t v)
{
	wr(E1000_MDIC, op | phy << 21 | reg << 16 | v);
	uint32_t r = rd(E1000_MDIC);
	CHECK(r & E1000_MDIC_READY);
	return r;
}

static void test_phy(void)
{
	CHECK_EQ(mdic(E1000_MDIC_OP_READ, 1, 2, 0) & 0xffff, 0x0141);
	CHECK_EQ(mdic(E1000_MDIC_OP_READ, 1, 3, 0) & 0xffff, 0x0c20);
	uint32_t bmsr = mdic(E1000_MDIC_OP_READ, 1, 1, 0);
	CHECK_EQ(bmsr & E1000_MDIC_ERROR, 0);
	CHECK_EQ(bmsr & 0x24, 0x24);             /* link, autonegotiation complete */
	CHECK_EQ(mdic(E1000_MDIC_OP_READ, 1, 10, 0) & 0x0c00, 0x0c00);  /* partner 1000BASE-T */
	CHECK_EQ(mdic(E1000_MDIC_OP_READ, 1, 5, 0) & 0x01e0, 0x01e0);
	/* Advertisement is writable; BMCR's reset and restart bits clear themselves. */
	mdic(E1000_MDIC_OP_WRITE, 1, 4, 0x0de1);
	CHECK_EQ(mdic(E1000_MDIC_OP_READ, 1, 4, 0) & 0xffff, 0x0de1);
	rd(E1000_ICR);
	mdic(E1000_MDIC_OP_WRITE, 1, 0, 0x1140 | 0x8000 | 0x0200);
	CHECK_EQ(mdic(E1000_MDIC_OP_READ, 1, 0, 0) & 0xffff, 0x1140);
	CHECK(rd(E1000_ICR) & E1000_ICR_LSC);
	/* Another PHY address: no answer. */
	CHECK(mdic(E1000_MDIC_OP_READ, 2, 2, 0) & E1000_MDIC_ERROR);
	/* The link going down shows in the PHY and STATUS. */
	e1000_set_link(nic, false);
	CHECK_EQ(mdic(E1000_MDIC_OP_READ, 1, 1, 0) & 0x4, 0);
	CHECK_EQ(rd(E1000_STATUS) & E1000_STATUS_LU, 0);
	CHECK(rd(E1000_ICR) & E1000_ICR_LSC);
	e1000_set_link(nic, true);
	CHECK(rd(E1000_STATUS) & E1000_STATUS_LU);
	rd(E1000_ICR);
}

static void test_interrupts(void)
{
	unsigned g = gsi();
	rd(E1000_ICR);
	wr(E1000_IMC, ~0u);
	CHECK_EQ(irq_line(&vm, g), 0);
	wr(E1000_ICS, E1000_ICR_TXDW);            /* pending but masked */
	CHECK_EQ(irq_line(&vm, g), 0);
	wr(E1000_IMS, E1000_ICR_TXDW | E1000_ICR_RXT0);
	CHECK_EQ(rd(E1000_IMS), E1000_ICR_TXDW | E1000_ICR_RXT0);
	CHECK_EQ(irq_line(&vm, g), 1);
	wr(E1000_IMC, E1000_ICR_TXDW);
	CHECK_EQ(irq_line(&vm, g), 0);
	wr(E1000_IMS, E1000_ICR_TXDW);
	CHECK_EQ(irq_line(&vm, g), 1);
	CHECK_EQ(rd(E1000_ICR), E1000_ICR_TXDW);  /* read clears and lowers the line */
	CHECK_EQ(irq_line(&vm, g), 0);
	CHECK_EQ(rd(E1000_ICR), 0);
	wr(E1000_ICS, E1000_ICR_LSC);             /* not enabled */
	CHECK_EQ(irq_line(&vm, g), 0);
	cfg_command(PCI_CMD_INTX_OFF, 0);         /* INTX_OFF masks the pin */
	wr(E1000_ICS, E1000_ICR_TXDW);
	CHECK_EQ(irq_line(&vm, g), 0);
	cfg_command(0, PCI_CMD_INTX_OFF);
	CHECK_EQ(irq_line(&vm, g), 1);
	rd(E1000_ICR);
	CHECK_EQ(irq_line(&vm, g), 0);
}

static void test_tx_legacy(void)
{
	uint8_t f[128];
	size_t len = make_ip(f, 17, 50);

	tx_setup();
	tx_tail = 0;
	rd(E1000_ICR);
	wr(E1000_IMS, E1000_ICR_TXDW);
	sent.n = 0;
	/* Split over two descriptors, RS on the last. */
	ram_put(TX_DATA, f, 20);
	ram_put(TX_DATA + 0x100, f + 20, len - 20);
	legacy(TX_DATA, 20, 0, 0, 0, 0);
	legacy(TX_DATA + 0x100, (uint16_t)(len - 20),
	       E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS, 0, 0, 0);
	tx_go();
	CHECK_EQ(sent.n, 1);
	CHECK_EQ(sent.len[0], len);
	CHECK(memcmp(sent.data[0], f, len) == 0);
	CHECK_EQ(desc_status(TX_RING, 1) & E1000_TXD_STA_DD, E1000_TXD_STA_DD);
	CHECK_EQ(desc_status(TX_RING, 0) & E1000_TXD_STA_DD, 0);
	CHECK_EQ(rd(E1000_TDH), 2);
	CHECK_EQ(irq_line(&vm, gsi()), 1);
	CHECK_EQ(rd(E1000_ICR), E1000_ICR_TXDW | E1000_ICR_TXQE);
	CHECK_EQ(irq_line(&vm, gsi()), 0);

	/* Legacy checksum insertion (IC): the UDP checksum field from CSS to the end. */
	uint8_t g[128];
	memcpy(g, f, len);
	pbe16(g + 40, (uint16_t)fold(pseudo(g, (unsigned)len - 34)));
	ram_put(TX_DATA, g, len);
	legacy(TX_DATA, (uint16_t)len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC | E1000_TXD_CMD_RS, 40, 34, 0);
	tx_go();
	CHECK_EQ(sent.n, 2);
	CHECK(l4_ok(sent.data[1], sent.len[1]));

	/* A runt is padded (TCTL.PSP); the statistics count good packets and octets. */
	ram_put(TX_DATA, f, 20);
	legacy(TX_DATA, 20, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0, 0);
	tx_go();
	CHECK_EQ(sent.n, 3);
	CHECK_EQ(sent.len[2], 60);
	CHECK_EQ(rd(E1000_GPTC), 3);
	CHECK_EQ(rd(E1000_GPTC), 0);              /* clear on read */
	CHECK_EQ(rd(E1000_GOTCL), (len + 4) * 2 + 64);
	CHECK_EQ(rd(E1000_GOTCH), 0);
	CHECK_EQ(rd(E1000_GOTCL), 0);
	CHECK_EQ(rd(E1000_TPT), 3);
	rd(E1000_ICR);
}

/* Checksum offload with a context descriptor, as e1000_tx_csum sets it up: the driver
 * leaves the pseudo-header sum in the field. */
static void test_tx_csum(void)
{
	uint8_t f[1600];

	sent.n = 0;
	for (unsigned proto = 6; proto <= 17; proto += 11) {
		size_t len = make_ip(f, proto, proto == 6 ? 1000 : 333);
		unsigned cso = proto == 6 ? 34 + 16 : 34 + 6;
		pbe16(f + cso, fold(pseudo(f, (unsigned)len - 34)));
		ram_put(TX_DATA, f, len);
		context(0, 0, 0, 34, (uint8_t)cso, 0, proto == 6 ? E1000_TUCMD_TCP : 0, 0, 0);
		data(TX_DATA, 100, 0, E1000_TXD_POPTS_TXSM);
		data(TX_DATA + 100, (uint32_t)len - 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
		tx_go();
		CHECK_EQ(sent.len[sent.n - 1], len);
		CHECK(l4_ok(sent.data[sent.n - 1], len));
		CHECK(ip_ok(sent.data[sent.n - 1]));
		CHECK(memcmp(sent.data[sent.n - 1] + 60, f + 60, len - 60) == 0);
	}
	CHECK_EQ(sent.n, 2);

	/* IP header checksum insertion (IXSM) over IPCSS..IPCSE. */
	size_t len = make_ip(f, 17, 10);
	pbe16(f + 24, 0);
	ram_put(TX_DATA, f, len);
	context(14, 24, 33, 34, 40, 0, E1000_TUCMD_IP, 0, 0);
	data(TX_DATA, (uint32_t)len, E1000_TXD_CMD_EOP, E1000_TXD_POPTS_IXSM);
	tx_go();
	CHECK_EQ(sent.n, 3);
	CHECK(ip_ok(sent.data[2]));
	rd(E1000_ICR);
}

/* TSO as e1000_tso sets it up: IPv4 total length and checksum 0, TCP checksum the
 * pseudo-header sum without length, PAYLEN, HDRLEN, MSS. */
static void test_tso(void)
{
	enum { PAY = 3000, MSS = 1000, HDR = 54 };
	static uint8_t f[HDR + PAY];
	make_ip(f, 6, PAY);
	pbe16(f + 16, 0);
	pbe16(f + 24, 0);
	pbe16(f + 50, fold(pseudo(f, 0)));
	ram_put(TX_DATA, f, sizeof(f));

	sent.n = 0;
	context(14, 24, 33, 34, 50, PAY, E1000_TUCMD_TCP | E1000_TUCMD_IP | E1000_TUCMD_TSE, HDR, MSS);
	/* header in one descriptor, the payload in two uneven ones */
	uint8_t popts = E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM;
	data(TX_DATA, HDR, E1000_TXD_CMD_TSE, popts);
	data(TX_DATA + HDR, 1234, E1000_TXD_CMD_TSE, popts);
	data(TX_DATA + HDR + 1234, PAY - 1234, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, popts);
	tx_go();
	CHECK_EQ(sent.n, 3);
	for (unsigned i = 0; i < 3 && i < sent.n; i++) {
		const uint8_t *s = sent.data[i];
		CHECK_EQ(sent.len[i], HDR + MSS);
		CHECK_EQ(be16(s + 16), 20 + 20 + MSS);
		CHECK_EQ(be16(s + 18), 0x1234 + i);
		CHECK(ip_ok(s));
		CHECK_EQ(be32(s + 38), 1000 + MSS * i);
		CHECK_EQ(s[47], i == 2 ? 0x19 : 0x10);   /* FIN and PSH only on the last */
		CHECK(l4_ok(s, sent.len[i]));
		CHECK(memcmp(s + HDR, f + HDR + MSS * i, MSS) == 0);
	}
	CHECK_EQ(nic->st.tx_tso, 1);
	CHECK_EQ(rd(E1000_TSCTC), 1);
	CHECK(desc_status(TX_RING, (tx_tail + NDESC - 1) % NDESC) & E1000_TXD_STA_DD);

	/* A last segment shorter than MSS; MSS 0 is refused. */
	sent.n = 0;
	context(14, 24, 33, 34, 50, 1500, E1000_TUCMD_TCP | E1000_TUCMD_IP | E1000_TUCMD_TSE, HDR, MSS);
	data(TX_DATA, HDR + 1500, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, popts);
	tx_go();
	CHECK_EQ(sent.n, 2);
	CHECK_EQ(sent.len[1], HDR + 500);
	CHECK_EQ(be16(sent.data[1] + 16), 40 + 500);
	CHECK(l4_ok(sent.data[1], sent.len[1]));
	unsigned long bad = nic->st.tx_malformed;
	context(14, 24, 33, 34, 50, 1500, E1000_TUCMD_TCP | E1000_TUCMD_IP | E1000_TUCMD_TSE, HDR, 0);
	data(TX_DATA, HDR + 1500, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, popts);
	tx_go();
	CHECK_EQ(sent.n, 2);
	CHECK_EQ(nic->st.tx_malformed, bad + 1);
	rd(E1000_ICR);
}

static void test_tx_vlan(void)
{
	uint8_t f[128];
	size_t len = make_ip(f, 17, 40);
	ram_put(TX_DATA, f, len);
	sent.n = 0;
	wr(E1000_CTRL, rd(E1000_CTRL) | E1000_CTRL_VME);
	legacy(TX_DATA, (uint16_t)len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_VLE, 0, 0, 0x2005);
	tx_go();
	CHECK_EQ(sent.n, 1);
	CHECK_EQ(sent.len[0], len + 4);
	CHECK_EQ(be16(sent.data[0] + 12), 0x8100);
	CHECK_EQ(be16(sent.data[0] + 14), 0x2005);
	CHECK(memcmp(sent.data[0] + 16, f + 12, len - 12) == 0);
	wr(E1000_CTRL, rd(E1000_CTRL) & ~E1000_CTRL_VME);
}

/* A hostile guest: a ring outside RAM, buffers outside RAM, indexes past the ring,
 * an oversized chain, bus mastering off. The device counts and keeps working. */
static void test_tx_hostile(void)
{
	uint8_t f[64];
	size_t len = make_ip(f, 17, 10);
	ram_put(TX_DATA, f, len);
	sent.n = 0;

	unsigned long bad = nic->st.bad_dma;
	unsigned head = rd(E1000_TDH);
	wr(E1000_TDBAL, (uint32_t)OUTSIDE);
	wr(E1000_TDT, (head + 1) % NDESC);
	CHECK_EQ(nic->st.bad_dma, bad + 1);
	CHECK_EQ(rd(E1000_TDH), head);
	wr(E1000_TDBAL, TX_RING);
	legacy(TX_DATA, (uint16_t)len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0, 0);
	tx_go();
	CHECK_EQ(sent.n, 1);

	/* A buffer in the PCI hole: dropped, the descriptor still completes. */
	legacy(OUTSIDE, 64, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0, 0);
	tx_go();
	CHECK_EQ(sent.n, 1);
	CHECK_EQ(nic->st.bad_dma, bad + 2);
	CHECK(desc_status(TX_RING, (tx_tail + NDESC - 1) % NDESC) & E1000_TXD_STA_DD);
	CHECK_EQ(rd(E1000_TDH), tx_tail);

	/* TDT beyond the ring: nothing happens. */
	wr(E1000_TDT, 1000);
	CHECK_EQ(rd(E1000_TDH), tx_tail);
	wr(E1000_TDT, tx_tail);

	/* A chain past E1000_MAX_FRAME without EOP: dropped at its end, as malformed. */
	unsigned long mal = nic->st.tx_malformed;
	for (int i = 0; i < 3; i++)
		legacy(TX_DATA, 0xffff, 0, 0, 0, 0);
	legacy(TX_DATA, 10, E1000_TXD_CMD_EOP, 0, 0, 0);
	tx_go();
	CHECK_EQ(sent.n, 1);
	CHECK_EQ(nic->st.tx_malformed, mal + 1);

	/* Bus mastering off: nothing is fetched until it is back on. */
	cfg_command(0, PCI_CMD_MASTER);
	legacy(TX_DATA, (uint16_t)len, E1000_TXD_CMD_EOP, 0, 0, 0);
	tx_go();
	CHECK_EQ(sent.n, 1);
	CHECK(nic->st.dma_disabled > 0);
	cfg_command(PCI_CMD_MASTER, 0);
	tx_go();
	CHECK_EQ(sent.n, 2);
	rd(E1000_ICR);
}

static void deliver(const uint8_t *dst, size_t len)
{
	uint8_t f[E1000_MAX_FRAME];
	memset(f, 0, len);
	memcpy(f, dst, 6);
	memcpy(f + 6, peer, 6);
	pbe16(f + 12, 0x0800);
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)i;
	e1000_receive(nic, f, len);
}

static void test_rx(void)
{
	uint8_t buf[2048];
	rd(E1000_ICR);
	wr(E1000_IMS, E1000_ICR_RXT0);
	rx_setup(E1000_RCTL_BAM | E1000_RCTL_SECRC, NDESC - 1);

	deliver(mac, 100);
	struct rxd d = rx_desc(0);
	CHECK_EQ(d.status & (E1000_RXD_STA_DD | E1000_RXD_STA_EOP), E1000_RXD_STA_DD | E1000_RXD_STA_EOP);
	CHECK_EQ(d.len, 100);
	CHECK_EQ(d.errors, 0);
	ram_get(RX_BUFS, buf, 100);
	CHECK(memcmp(buf, mac, 6) == 0);
	CHECK_EQ(buf[99], 99);
	CHECK_EQ(rd(E1000_RDH), 1);
	CHECK_EQ(irq_line(&vm, gsi()), 1);
	CHECK(rd(E1000_ICR) & E1000_ICR_RXT0);
	CHECK_EQ(irq_line(&vm, gsi()), 0);

	/* A runt is padded to 60 bytes; broadcast passes with BAM. */
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	deliver(bcast, 42);
	d = rx_desc(1);
	CHECK_EQ(d.len, 60);
	ram_get(RX_BUFS + 2048, buf, 60);
	CHECK_EQ(buf[41], 41);
	CHECK_EQ(buf[42], 0);
	CHECK_EQ(buf[59], 0);
	CHECK_EQ(rd(E1000_BPRC), 1);

	/* The filter: another host's unicast is dropped, unless promiscuous. */
	static const uint8_t other[6] = { 0x52, 0x54, 0x00, 0x99, 0x99, 0x99 };
	unsigned long filtered = nic->st.rx_filtered;
	deliver(other, 64);
	CHECK_EQ(nic->st.rx_filtered, filtered + 1);
	CHECK_EQ(rd(E1000_RDH), 2);
	wr(E1000_RCTL, rd(E1000_RCTL) | E1000_RCTL_UPE);
	deliver(other, 64);
	CHECK_EQ(rd(E1000_RDH), 3);
	wr(E1000_RCTL, rd(E1000_RCTL) & ~E1000_RCTL_UPE);

	/* A multicast address through the hash table (MO 00: bits 47:36). */
	static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
	unsigned hash = (mcast[4] >> 4 | mcast[5] << 4) & 0xfff;
	deliver(mcast, 64);
	CHECK_EQ(rd(E1000_RDH), 3);
	wr(E1000_MTA + 4 * (hash >> 5), 1u << (hash & 31));
	deliver(mcast, 64);
	CHECK_EQ(rd(E1000_RDH), 4);
	CHECK_EQ(rd(E1000_MPRC), 1);
	/* A second exact address (RAL1/RAH1 with AV). */
	wr(E1000_RA + 8, (uint32_t)other[0] | other[1] << 8 | other[2] << 16 | (uint32_t)other[3] << 24);
	wr(E1000_RA + 12, (uint32_t)(other[4] | other[5] << 8) | E1000_RAH_AV);
	deliver(other, 64);
	CHECK_EQ(rd(E1000_RDH), 5);
	wr(E1000_RA + 12, 0);

	/* Without SECRC the FCS follows the frame. */
	wr(E1000_RCTL, rd(E1000_RCTL) & ~E1000_RCTL_SECRC);
	deliver(mac, 200);
	d = rx_desc(5);
	CHECK_EQ(d.len, 204);
	ram_get(RX_BUFS + 5 * 2048, buf, 204);
	uint32_t crc = crc32_ref(buf, 200);
	CHECK_EQ(buf[200] | buf[201] << 8 | buf[202] << 16 | (uint32_t)buf[203] << 24, crc);
	CHECK_EQ(rd(E1000_GPRC), 6);
	rd(E1000_ICR);
}

/* Frames larger than a buffer span descriptors, EOP on the last; VLAN tags are
 * stripped into the descriptor with CTRL.VME. */
static void test_rx_multi(void)
{
	uint8_t buf[700];
	rx_setup(E1000_RCTL_SECRC | 3u << E1000_RCTL_BSIZE_SHIFT, NDESC - 1);    /* 256 bytes */
	deliver(mac, 600);
	CHECK_EQ(rd(E1000_RDH), 3);
	for (unsigned i = 0; i < 3; i++) {
		struct rxd d = rx_desc(i);
		CHECK_EQ(d.len, i < 2 ? 256 : 88);
		CHECK_EQ(d.status & E1000_RXD_STA_EOP, i == 2 ? E1000_RXD_STA_EOP : 0);
		CHECK(d.status & E1000_RXD_STA_DD);
		ram_get(RX_BUFS + 2048 * i, buf + 256 * i, d.len);
	}
	CHECK_EQ(buf[599], (uint8_t)599);
	CHECK_EQ(buf[300], (uint8_t)300);
	/* A frame wanting more buffers than the ring has is dropped, not held forever. */
	wr(E1000_RCTL, rd(E1000_RCTL) | E1000_RCTL_LPE);
	unsigned long lost = nic->st.rx_no_desc;
	deliver(mac, 3000);
	CHECK_EQ(nic->st.rx_no_desc, lost + 1);
	CHECK_EQ(nic->fifo_count, 0);
	CHECK_EQ(rd(E1000_RDH), 3);

	/* Too long without LPE; accepted with it. */
	unsigned long bad = nic->st.rx_bad_size;
	rx_setup(E1000_RCTL_SECRC | E1000_RCTL_BSEX | 1u << E1000_RCTL_BSIZE_SHIFT, NDESC - 1);
	deliver(mac, 4000);
	CHECK_EQ(nic->st.rx_bad_size, bad + 1);
	CHECK_EQ(rd(E1000_RDH), 0);
	wr(E1000_RCTL, rd(E1000_RCTL) | E1000_RCTL_LPE);
	deliver(mac, 4000);
	CHECK_EQ(rd(E1000_RDH), 1);
	CHECK_EQ(rx_desc(0).len, 4000);

	/* VLAN stripping */
	rx_setup(E1000_RCTL_SECRC, NDESC - 1);
	wr(E1000_CTRL, rd(E1000_CTRL) | E1000_CTRL_VME);
	uint8_t f[80] = { 0 };
	memcpy(f, mac, 6);
	memcpy(f + 6, peer, 6);
	pbe16(f + 12, 0x8100);
	pbe16(f + 14, 0x0007);
	pbe16(f + 16, 0x0800);
	f[79] = 0x77;
	e1000_receive(nic, f, sizeof(f));
	struct rxd d = rx_desc(0);
	CHECK_EQ(d.len, 76);
	CHECK(d.status & E1000_RXD_STA_VP);
	CHECK_EQ(d.special, 7);
	ram_get(RX_BUFS, buf, 76);
	CHECK_EQ(be16(buf + 12), 0x0800);
	CHECK_EQ(buf[75], 0x77);
	/* The VLAN filter (RCTL.VFE) wants the VID in VFTA. */
	wr(E1000_RCTL, rd(E1000_RCTL) | E1000_RCTL_VFE);
	e1000_receive(nic, f, sizeof(f));
	CHECK_EQ(rd(E1000_RDH), 1);
	wr(E1000_VFTA, 1u << 7);
	e1000_receive(nic, f, sizeof(f));
	CHECK_EQ(rd(E1000_RDH), 2);
	wr(E1000_CTRL, rd(E1000_CTRL) & ~E1000_CTRL_VME);
	rd(E1000_ICR);
}

/* The ring full: frames wait in the FIFO, then overflow (RXO, MPC); moving RDT lets
 * the waiting ones in. */
static void test_rx_full(void)
{
	rd(E1000_ICR);
	rx_setup(E1000_RCTL_SECRC | 1u << E1000_RCTL_RDMTS_SHIFT, 3);   /* 3 free, 1/4 threshold */
	rd(E1000_MPC);
	for (int i = 0; i < 3; i++)
		deliver(mac, 64);
	CHECK_EQ(rd(E1000_RDH), 3);
	CHECK(rd(E1000_ICR) & E1000_ICR_RXDMT0);
	unsigned long held = nic->st.rx_queued, lost = nic->st.rx_no_desc;
	for (int i = 0; i < E1000_RX_FIFO + 2; i++)
		deliver(mac, 64 + i);
	CHECK_EQ(nic->st.rx_queued, held + E1000_RX_FIFO);
	CHECK_EQ(nic->st.rx_no_desc, lost + 2);
	CHECK(rd(E1000_ICR) & E1000_ICR_RXO);
	CHECK_EQ(rd(E1000_MPC), 2);
	/* Room for four more: the four oldest come in, in order. */
	wr(E1000_RDT, 7);
	CHECK_EQ(rd(E1000_RDH), 7);
	CHECK_EQ(nic->fifo_count, E1000_RX_FIFO - 4);
	CHECK_EQ(rx_desc(3).len, 64);
	CHECK_EQ(rx_desc(6).len, 67);
	/* A reset forgets them. */
	wr(E1000_CTRL, E1000_CTRL_RST);
	CHECK_EQ(nic->fifo_count, 0);
	CHECK_EQ(irq_line(&vm, gsi()), 0);
}

static void test_rx_hostile(void)
{
	/* Buffers outside RAM: the descriptor reports an error, nothing is written. */
	rx_setup(E1000_RCTL_SECRC, NDESC - 1);
	uint8_t d[16] = { 0 };
	put64(d, OUTSIDE);
	ram_put(RX_RING, d, 16);
	unsigned long bad = nic->st.bad_dma;
	deliver(mac, 64);
	CHECK_EQ(nic->st.bad_dma, bad + 1);
	struct rxd r = rx_desc(0);
	CHECK(r.status & E1000_RXD_STA_DD);
	CHECK_EQ(r.errors, E1000_RXD_ERR_RXE);
	deliver(mac, 64);                        /* the next one is fine */
	CHECK_EQ(rx_desc(1).errors, 0);
	CHECK_EQ(rd(E1000_RDH), 2);

	/* The ring outside RAM: frames are lost, counted, the device goes on. */
	wr(E1000_RDBAL, (uint32_t)OUTSIDE);
	deliver(mac, 64);
	CHECK_EQ(nic->st.bad_dma, bad + 2);
	wr(E1000_RDBAL, RX_RING);
	deliver(mac, 64);
	CHECK_EQ(rd(E1000_RDH), 3);

	/* RDT and RDH beyond the ring: no descriptor is used. */
	wr(E1000_RDT, 500);
	unsigned long queued = nic->st.rx_queued;
	deliver(mac, 64);
	CHECK_EQ(nic->st.rx_queued, queued + 1);
	wr(E1000_RDT, 6);
	CHECK_EQ(rd(E1000_RDH), 4);
	wr(E1000_RDH, 0xffff);
	CHECK_EQ(rd(E1000_RDH), 0xffff);
	deliver(mac, 64);
	wr(E1000_RCTL, 0);
	unsigned long off = nic->st.rx_disabled;
	deliver(mac, 64);
	CHECK_EQ(nic->st.rx_disabled, off + 1);
	wr(E1000_CTRL, E1000_CTRL_RST);
}

/* Registers the model lacks read 0 and are counted; odd widths do no harm. */
static void test_registers(void)
{
	unsigned long unk = nic->st.unknown_regs;
	CHECK_EQ(rd(0x0004), 0);
	wr(0x0004, 0x12345678);
	CHECK_EQ(rd(0x1ff00), 0);
	CHECK_EQ(nic->st.unknown_regs, unk + 3);
	CHECK_EQ(rd(E1000_MANC), 0);              /* known, reads as zero */
	wr(E1000_RDTR, 0x8000ffff);
	CHECK_EQ(rd(E1000_RDTR), 0xffff);
	wr(E1000_TDLEN, 0x12345);
	CHECK_EQ(rd(E1000_TDLEN), 0x12300);
	wr(E1000_TDBAL, 0x1237);
	CHECK_EQ(rd(E1000_TDBAL), 0x1230);
	/* A 64-bit access is two registers; a byte read sees part of one. */
	uint8_t b[8];
	bus_access(&vm.mmio, bar0 + E1000_TDBAL, b, 8, false);
	CHECK_EQ(b[0], 0x30);
	CHECK_EQ(b[1], 0x12);
	bus_access(&vm.mmio, bar0 + E1000_TDBAL + 1, b, 1, false);
	CHECK_EQ(b[0], 0x12);
	/* IODATA with IOADDR out of range wraps inside the register space. */
	io_out(&vm, (uint16_t)bar1, 4, 0xfffffff8);
	CHECK_EQ(io_in(&vm, (uint16_t)bar1 + 4, 4), rd(0x1fff8));
	io_in(&vm, (uint16_t)bar1 + 2, 2);
	wr(E1000_CTRL, E1000_CTRL_RST);
}

int main(void)
{
	struct pci_host *pci;
	struct err e;

	test_vm_init(&vm, RAM, 1, -1);
	if (pci_host_create(&vm, &pci, &e) || e1000_create(&vm, pci, mac, &nic, &e)) {
		fprintf(stderr, "setup: %s\n", e.msg);
		return 1;
	}
	nic->backend = &backend;
	bar0 = pci_bar_addr(&nic->pci, 0);
	bar1 = pci_bar_addr(&nic->pci, 1);
	cfg_command(PCI_CMD_MASTER, 0);

	test_pci();
	test_reset();
	test_eeprom();
	test_phy();
	test_interrupts();
	test_tx_legacy();
	test_tx_csum();
	test_tso();
	test_tx_vlan();
	test_tx_hostile();
	test_rx();
	test_rx_multi();
	test_rx_full();
	test_rx_hostile();
	test_registers();
	vm_destroy(&vm);
	return check_done();
}
