/* The 82540EM (hw/e1000.c) driven by a hostile guest and a hostile network at once:
 * register reads and writes through its BARs, descriptor rings and buffers anywhere in
 * (or outside) guest RAM, frames from the host of any length. Invariants: the backend
 * only ever sees frames of a legal length, every byte of which it can read; the FIFO
 * and the gathered packet stay within their bounds; the interrupt pin follows ICR & IMS;
 * a reset forgets waiting frames.
 *
 * Input: actions until it ends, each an op byte and its operands (little-endian, short
 * input reads as zeros); a register selector is a u16: bit 15 set, the dword index of
 * any BAR0 offset; clear, an entry of regs[] below.
 *   0 write:   u16 reg, u32 value          1 read: u16 reg
 *   2 RAM:     u32 gpa, u8 n (mod 65), n bytes
 *   3 a descriptor: u8 (index << 1 | rx), 16 bytes, at that ring's base + 16 * index
 *   4 a frame from the host: u16 n (bit 15: length n & 0x7fff + 1, else n mod 2048),
 *     then min(length, 256) bytes (the rest zeros)
 *   5 I/O BAR: u8 offset (mod 8) | width (bits 4:5: 1, 2, 4, 8) | write (bit 7), u32 value
 *   6 odd-width MMIO: u8 width (1, 2, 4, 8 by bits 1:0) | write (bit 7), u32 offset, u64 value
 *   7 PCI command: u8 (bit 0 bus master, bit 1 INTX_OFF)
 *   8 link: u8 (bit 0 up)
 *   9 move a tail: u8 (rx in bit 0), u8 count: TDT/RDT += count, within the ring
 * tests/fuzz/seeds.py writes seeds in this format. */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#include "hw/e1000.h"
#include "hw/pci.h"

static const uint16_t regs[] = {
	E1000_CTRL, E1000_STATUS, E1000_EECD, E1000_EERD, E1000_CTRL_EXT, E1000_MDIC, E1000_ICR,
	E1000_ICS, E1000_IMS, E1000_IMC, E1000_RCTL, E1000_TCTL, E1000_RDBAL, E1000_RDBAH,
	E1000_RDLEN, E1000_RDH, E1000_RDT, E1000_TDBAL, E1000_TDBAH, E1000_TDLEN, E1000_TDH,
	E1000_TDT, E1000_RA, E1000_RA + 4, E1000_RA + 8, E1000_RA + 12, E1000_MTA,
	E1000_MTA + 0x1fc, E1000_VFTA, E1000_VET, E1000_GPRC, E1000_GORCL, E1000_GORCH,
	E1000_TPT, E1000_MPC, E1000_TSCTC, E1000_ITR, E1000_RXCSUM, E1000_MANC, 0x0004,
};

static struct e1000 *nic;
static uint64_t bar0;
static uint16_t bar1;

static int sink(struct net_backend *b, const uint8_t *frame, size_t len)
{
	return fuzz_frame_sink(frame, len, E1000_MIN_FRAME, E1000_MAX_TX_FRAME);
}

static struct net_backend backend = { .name = "fuzz sink", .send = sink };

static unsigned reg_sel(struct fz *f)
{
	uint16_t s = fz_u16(f);
	return s & 0x8000 ? (s & 0x7fffu) * 4 : regs[s % (sizeof(regs) / sizeof(regs[0]))];
}

static void mmio(struct vm *vm, unsigned off, uint64_t v, unsigned size, bool write)
{
	uint8_t b[8];
	for (unsigned i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	bus_access(&vm->mmio, bar0 + off, b, size, write);
}

static uint32_t rd(struct vm *vm, unsigned off)
{
	uint8_t b[4] = { 0 };
	bus_access(&vm->mmio, bar0 + off, b, 4, false);
	return (uint32_t)b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static void set_command(uint8_t bits)
{
	pthread_mutex_lock(&nic->pci.lock);
	uint16_t cmd = PCI_CMD_MEM | PCI_CMD_IO | (bits & 1 ? PCI_CMD_MASTER : 0) |
	               (bits & 2 ? PCI_CMD_INTX_OFF : 0);
	pci_cfg_write_locked(&nic->pci, PCI_COMMAND, 2, cmd);
	pthread_mutex_unlock(&nic->pci.lock);
}

static void host_frame(struct fz *f)
{
	static uint8_t frame[0x8000];
	uint16_t n = fz_u16(f);
	size_t len = n & 0x8000 ? (size_t)(n & 0x7fff) + 1 : n % 2048;
	fz_bytes(f, frame, len < 256 ? len : 256);
	memset(frame + (len < 256 ? len : 256), 0, len > 256 ? len - 256 : 0);
	e1000_receive(nic, frame, len);
}

static void check(void)
{
	const uint32_t *r = nic->regs;
	if (nic->fifo_count > E1000_RX_FIFO)
		fuzz_fail("%u frames in the FIFO", nic->fifo_count);
	if (nic->tx_len > E1000_TSO_MAX)
		fuzz_fail("a %zu-byte packet gathered", nic->tx_len);
	bool want = (r[E1000_ICR / 4] & r[E1000_IMS / 4]) != 0;
	if (nic->pci.intx_want != want)
		fuzz_fail("INTx %d with ICR 0x%x IMS 0x%x", nic->pci.intx_want, r[E1000_ICR / 4],
		          r[E1000_IMS / 4]);
	if ((r[E1000_RDH / 4] | r[E1000_RDT / 4] | r[E1000_TDH / 4] | r[E1000_TDT / 4]) > 0xffff)
		fuzz_fail("a ring index beyond 16 bits");
}

static void ops(struct vm *vm, struct fz *f)
{
	while (f->n) {
		uint8_t op = fz_u8(f);
		switch (op % 10) {
		case 0: {
			unsigned off = reg_sel(f);
			mmio(vm, off, fz_u32(f), 4, true);
			break;
		}
		case 1:
			rd(vm, reg_sel(f));
			break;
		case 2: {
			uint32_t gpa = fz_u32(f) % FUZZ_RAM;
			fuzz_fill(vm, f, gpa, fz_u8(f) % 65);
			break;
		}
		case 3: {
			uint8_t which = fz_u8(f);
			unsigned bal = which & 1 ? E1000_RDBAL : E1000_TDBAL;
			uint64_t base = rd(vm, bal) | (uint64_t)rd(vm, bal + 4) << 32;
			uint8_t desc[16];
			fz_bytes(f, desc, sizeof(desc));
			mem_write(&vm->mem, base + 16ull * (which >> 1), desc, sizeof(desc));
			break;
		}
		case 4:
			host_frame(f);
			break;
		case 5: {
			uint8_t a = fz_u8(f);
			unsigned size = 1u << (a >> 4 & 3);
			uint32_t v = fz_u32(f);
			uint8_t b[8] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
			bus_access(&vm->pio, bar1 + (a & 7), b, size, a & 0x80);
			break;
		}
		case 6: {
			uint8_t a = fz_u8(f);
			uint32_t off = fz_u32(f) % E1000_MMIO_SIZE;
			unsigned size = 1u << (a & 3);
			uint64_t v = fz_u64(f);
			if (off + size <= E1000_MMIO_SIZE)
				mmio(vm, off, v, size, a & 0x80);
			break;
		}
		case 7:
			set_command(fz_u8(f));
			break;
		case 8:
			e1000_set_link(nic, fz_u8(f) & 1);
			break;
		case 9: {
			uint8_t which = fz_u8(f);
			unsigned bal = which & 1 ? E1000_RDBAL : E1000_TDBAL;
			unsigned size = rd(vm, bal + 8) / 16;
			unsigned t = rd(vm, bal + 0x18) + fz_u8(f);
			mmio(vm, bal + 0x18, size ? t % size : t & 0xffff, 4, true);
			break;
		}
		}
		check();
	}
}

static void stats(FILE *out)
{
	const struct e1000_stats *s = &nic->st;
	fprintf(out, " tx_frames=%lu rx_frames=%lu tx_tso=%lu tx_malformed=%lu tx_backend_drops=%lu"
	        " rx_disabled=%lu rx_filtered=%lu rx_bad_size=%lu rx_queued=%lu rx_no_desc=%lu"
	        " bad_dma=%lu dma_disabled=%lu unknown_regs=%lu",
	        s->tx_frames, s->rx_frames, s->tx_tso, s->tx_malformed, s->tx_backend_drops,
	        s->rx_disabled, s->rx_filtered, s->rx_bad_size, s->rx_queued, s->rx_no_desc,
	        s->bad_dma, s->dma_disabled, s->unknown_regs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm *vm = fuzz_vm();
	if (!nic) {
		static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
		struct pci_host *pci;
		struct err e;
		if (pci_host_create(vm, &pci, &e) || e1000_create(vm, pci, mac, &nic, &e))
			fuzz_fail("setup: %s", e.msg);
		nic->backend = &backend;
		bar0 = pci_bar_addr(&nic->pci, 0);
		bar1 = (uint16_t)pci_bar_addr(&nic->pci, 1);
		if (!bar0 || !bar1)
			fuzz_fail("BARs not mapped");
		fuzz_stats_at_exit(stats);
	}
	set_command(1);
	e1000_set_link(nic, true);
	mmio(vm, E1000_CTRL, E1000_CTRL_RST, 4, true);
	struct fz f = { data, size };
	ops(vm, &f);
	set_command(1);
	mmio(vm, E1000_CTRL, E1000_CTRL_RST, 4, true);
	if (nic->fifo_count || nic->pci.intx_want)
		fuzz_fail("after a reset: %u frames wait, INTx %d", nic->fifo_count, nic->pci.intx_want);
	return 0;
}
