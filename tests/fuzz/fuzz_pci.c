/* The PCI host (hw/pci.c) as a hostile guest sees it: configuration space through
 * 0xCF8/0xCFC and ECAM (any size, any alignment, any bus/device/function), BARs sized,
 * moved onto RAM, onto each other and onto the host's own ranges, the COMMAND register,
 * INTx, and the devices behind it: the 440FX/PIIX functions (chipset.c), a virtio-rng
 * over virtio-pci with its MSI-X table and PBA (pci_msix.c), an e1000 with no backend,
 * and three small probe functions of this file (a multi-function slot, a 64-bit BAR,
 * an INTx pin sharing the e1000's line) whose BAR handler raises and lowers their pin.
 *
 * Invariants, after every action: both buses stay sorted and non-overlapping; every
 * mapped BAR is registered at the address its register holds, with its size, with its
 * space enabled, and no range of a BAR is left registered elsewhere; GSIs 16-19 are
 * exactly the wire-OR of the pins asserted and not masked by INTX_OFF (and STATUS.INTX
 * follows each pin); reads of absent functions, of a disabled CF8 latch and misaligned
 * ECAM accesses give all ones, ECAM beyond 256 bytes of a present function zeros; IDs,
 * class codes, header types and pins never change; sizing a BAR reads back its size;
 * MSI-X keeps no pending bit beyond its vectors; the VM stops only for a 0xCF9 reset.
 *
 * Input: actions until it ends, each an op byte (mod 10) and its operands,
 * little-endian, short input reads as zeros. A target is an index into the functions
 * (present ones in slot/function order: 00.0 01.0 01.3 02.0 03.0 07.0 07.2 0c.0, then
 * absent ones and other buses); a BAR an index into every declared BAR in that order.
 *   0 config:  u8 target, u8 reg, u8 mode, u32 value; mode bits 0-1: size 1, 2, 4, 4;
 *              bit 2 write; bit 3 through ECAM (else CF8 then CFC + reg % 4); bit 4
 *              keep reg unaligned; bits 5-7: ECAM register bits 8-10
 *   1 u32 to the CF8 latch             2 u8 (port 0-7 | size code << 3 | write << 5),
 *                                        u32: any access to 0xCF8-0xCFF (0xCF9: reset)
 *   3 ECAM: u32 offset, u8 (size code 1, 2, 4, 8, 3 | write << 3), u64 value
 *   4 BAR: u8 bar, u32 offset (from 8 below its start to 8 past its end), u8 (size code
 *      | write << 3), u64 value, at the address its register holds (an I/O BAR's low
 *      16 bits: what a CPU can put on the bus)
 *   5 move a BAR as a driver would, through CF8/CFC: u8 bar, u8 how, u32 value; how % 6:
 *      0 to value, 1 onto BAR (value % count), 2 size it (all ones, read, restore),
 *      3 into RAM, 4 onto the host's own ranges (0xCF8, ECAM), 5 above 4 GiB;
 *      how bit 7: with decoding off around the move
 *   6 RAM: u16 gpa, u8 n (mod 65), n bytes
 *   7 a probe's pin: u8 (probe | level << 7)       8 e1000 link: u8 (bit 0 up)
 *   9 MMIO in the BAR window: u32 offset, u8 (size code | write << 3), u64 value
 * tests/fuzz/seeds.py writes seeds in this format. */
#include "fuzz.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hw/chipset.h"
#include "hw/e1000.h"
#include "hw/pc.h"
#include "hw/pci.h"
#include "hw/virtio/devices.h"
#include "hw/virtio/rng.h"
#include "hw/virtio/virtio_pci.h"

#define MAX_FNS   16
#define MAX_BARS  24
#define CF8_EN    0x80000000u

/* A function of this file: a pin the fuzzer drives and a few bytes behind its BARs. */
struct probe {
	struct pci_dev pci;
	bool level;               /* what it last asked pci_set_irq for */
	uint8_t regs[16];
};

struct fn {
	struct pci_dev *d;
	uint8_t cfg[PCI_CFG_SIZE];   /* as set up: restored before each input */
};

struct target {
	unsigned bus, slot, fn;
};

struct barref {
	struct pci_dev *d;
	unsigned i;
};

static struct vm *vm;
static struct pci_host *host;
static struct e1000 *nic;
static struct virtio_pci *vpci;
static struct virtio_rng *rng;
static struct probe probes[3];
static struct fn fns[MAX_FNS];
static unsigned nfns;
static struct target targets[MAX_FNS + 12];
static unsigned ntargets;
static struct barref bars[MAX_BARS];
static unsigned nbars;

static unsigned long cfg_reads, cfg_writes, ecam_accesses, absent_reads, ext_reads,
	bar_accesses, moves, sizings, refused, resets, intx_rises;

static void stats(FILE *out)
{
	fprintf(out, " cfg_reads=%lu cfg_writes=%lu ecam=%lu absent_reads=%lu ext_reads=%lu"
	        " bar_accesses=%lu moves=%lu sizings=%lu refused=%lu resets=%lu intx_rises=%lu"
	        " msix_sent=%lu msix_masked=%lu rng_requests=%lu bad_accesses=%lu",
	        cfg_reads, cfg_writes, ecam_accesses, absent_reads, ext_reads, bar_accesses, moves,
	        sizings, refused, resets, intx_rises, vpci->msix.sent, vpci->msix.masked_hits,
	        rng->requests, (unsigned long)atomic_load(&host->bad_accesses));
}

static uint64_t get_le(const uint8_t *b, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void put_le(uint8_t *b, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static struct pci_dev *present(const struct target *t)
{
	return t->bus == 0 ? host->devs[t->slot][t->fn] : NULL;
}

static struct probe *probe_of(const struct pci_dev *d)
{
	for (unsigned i = 0; i < 3; i++)
		if (d == &probes[i].pci)
			return &probes[i];
	return NULL;
}

/* -- the probe functions ---------------------------------------------------------------- */

/* Offset 0: bit 0 is the pin (the device lock is held, as pci_set_irq wants). */
static void probe_bar(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct probe *p = opaque;
	for (unsigned i = 0; i < size; i++) {
		uint64_t o = off + i;
		if (!is_write) {
			data[i] = o < sizeof(p->regs) ? p->regs[o] : 0;
		} else if (o == 0) {
			p->level = data[i] & 1;
			pci_set_irq(&p->pci, p->level);
		} else if (o < sizeof(p->regs)) {
			p->regs[o] = data[i];
		}
	}
}

static void probe_init(struct probe *p, const char *name, uint8_t pin)
{
	pci_dev_init(&p->pci, name, 0x1b36, 0x0005, 0xff0000, 0);
	p->pci.cfg[PCI_INT_PIN] = pin;
	p->pci.opaque = p;
}

static void probe_irq(struct probe *p, bool level)
{
	pthread_mutex_lock(&p->pci.lock);
	p->level = level;
	pci_set_irq(&p->pci, level);
	pthread_mutex_unlock(&p->pci.lock);
}

/* -- setup ------------------------------------------------------------------------------ */

static void setup(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct err e;

	if (pci_host_create(vm, &host, &e) || chipset_create(vm, host, &e) ||
	    pci_host_add_ecam(host, &e) || virtio_rng_create(vm, &rng, &e) ||
	    virtio_attach(vm, host, &rng->vdev, 0xff0000, NULL, &e) ||
	    e1000_create(vm, host, mac, &nic, &e))
		fuzz_fail("setup: %s", e.msg);
	/* Probe A (07.0, pin A: line 3, the e1000's), B (07.2, pin C: line 1), C (0c.0,
	 * pin B: line 1 too). */
	probe_init(&probes[0], "probe A", 1);
	pci_dev_set_bar(&probes[0].pci, 0, PCI_BAR_IO, 32, probe_bar, &probes[0]);
	pci_dev_set_bar(&probes[0].pci, 1, PCI_BAR_MEM32, 4096, probe_bar, &probes[0]);
	pci_dev_set_bar(&probes[0].pci, 2, PCI_BAR_MEM64, 64 << 10, probe_bar, &probes[0]);
	probe_init(&probes[1], "probe B", 3);
	pci_dev_set_bar(&probes[1].pci, 0, PCI_BAR_MEM64, 1 << 20, probe_bar, &probes[1]);
	pci_dev_set_bar(&probes[1].pci, 5, PCI_BAR_IO, 4, probe_bar, &probes[1]);
	pci_dev_add_cap(&probes[1].pci, PCI_CAP_ID_VNDR, 8);
	pci_dev_add_cap(&probes[1].pci, PCI_CAP_ID_VNDR, 4);
	probe_init(&probes[2], "probe C", 2);
	pci_dev_set_bar(&probes[2].pci, 4, PCI_BAR_MEM32, 16, probe_bar, &probes[2]);
	if (pci_host_add(host, &probes[0].pci, 7, &e) ||
	    pci_host_add_fn(host, &probes[1].pci, 7, 2, &e) ||
	    pci_host_add(host, &probes[2].pci, 12, &e))
		fuzz_fail("probes: %s", e.msg);

	for (unsigned s = 0; s < PCI_SLOTS; s++)
		for (unsigned f = 0; f < PCI_FUNCS; f++) {
			struct pci_dev *d = host->devs[s][f];
			if (!d)
				continue;
			if (nfns == MAX_FNS)
				fuzz_fail("too many functions");
			fns[nfns].d = d;
			memcpy(fns[nfns++].cfg, d->cfg, PCI_CFG_SIZE);
			targets[ntargets++] = (struct target){ 0, s, f };
			for (unsigned i = 0; i < PCI_NUM_BARS && nbars < MAX_BARS; i++)
				if (d->bars[i].type != PCI_BAR_UNUSED)
					bars[nbars++] = (struct barref){ d, i };
			if (d->opaque && d->cfg_read_hook)
				vpci = d->opaque;     /* the one function with hooks: virtio-pci */
		}
	static const struct target absent[] = {
		{ 0, 1, 1 }, { 0, 1, 7 }, { 0, 2, 1 }, { 0, 7, 1 }, { 0, 7, 7 }, { 0, 4, 0 },
		{ 0, 31, 7 }, { 0, 12, 1 }, { 1, 0, 0 }, { 1, 2, 0 }, { 255, 31, 7 }, { 0, 30, 0 },
	};
	for (unsigned i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		targets[ntargets++] = absent[i];
	if (!vpci || nfns != 8)
		fuzz_fail("setup: %u functions, virtio-pci %s", nfns, vpci ? "found" : "missing");
	fuzz_stats_at_exit(stats);
}

/* Power-on state before each input, as far as the guest could change it: every BAR
 * unmapped first (so that the restored layout never meets a moved BAR), then each
 * function's configuration space as set up, decoding as set up, pins low, devices
 * reset. */
static void restore(void)
{
	for (unsigned i = 0; i < nfns; i++) {
		struct pci_dev *d = fns[i].d;
		pthread_mutex_lock(&d->lock);
		pci_cfg_write_locked(d, PCI_COMMAND, 2, 0);
		pthread_mutex_unlock(&d->lock);
	}
	for (unsigned i = 0; i < nfns; i++) {
		struct pci_dev *d = fns[i].d;
		pthread_mutex_lock(&d->lock);
		memcpy(d->cfg, fns[i].cfg, PCI_CFG_SIZE);
		pci_cfg_write_locked(d, PCI_COMMAND, 2, pci_get16(d, PCI_COMMAND));
		pthread_mutex_unlock(&d->lock);
	}
	for (unsigned i = 0; i < 3; i++) {
		probe_irq(&probes[i], false);
		memset(probes[i].regs, 0, sizeof(probes[i].regs));
	}
	uint8_t b[4];
	put_le(b, E1000_CTRL_RST, 4);
	bus_access(&vm->mmio, pci_bar_addr(&nic->pci, 0) + E1000_CTRL, b, 4, true);
	b[0] = 0;
	bus_access(&vm->mmio, pci_bar_addr(&vpci->pci, VIRTIO_PCI_BAR) + VPCI_STATUS, b, 1, true);
	pthread_mutex_lock(&vpci->pci.lock);
	pci_msix_reset(&vpci->msix);
	pthread_mutex_unlock(&vpci->pci.lock);
	e1000_set_link(nic, true);
	put_le(b, 0, 4);
	bus_access(&vm->pio, PC_PCI_CONF_ADDR, b, 4, true);
	for (unsigned k = 0; k < nbars; k++)
		if (!bars[k].d->bars[bars[k].i].mapped)
			fuzz_fail("%s BAR%u not mapped again after the reset", bars[k].d->name, bars[k].i);
	if (atomic_load(&vm->irq_lines) >> PCI_INTX_GSI_BASE & 0xf)
		fuzz_fail("INTx lines 0x%x still up after the reset",
		          (unsigned)(atomic_load(&vm->irq_lines) >> PCI_INTX_GSI_BASE & 0xf));
}

/* -- invariants ------------------------------------------------------------------------- */

/* Where the guest has put BAR i, from its register alone. */
static uint64_t decode(const struct pci_dev *d, unsigned i)
{
	uint32_t lo = pci_get32(d, PCI_BAR0 + 4 * i);
	switch (d->bars[i].type) {
	case PCI_BAR_IO:
		return lo & ~3u;
	case PCI_BAR_MEM32:
		return lo & ~0xfu;
	case PCI_BAR_MEM64:
		return (lo & ~0xfu) | (uint64_t)pci_get32(d, PCI_BAR0 + 4 * i + 4) << 32;
	default:
		return 0;
	}
}

static const struct pci_bar *bar_of(const void *opaque)
{
	for (unsigned k = 0; k < nbars; k++)
		if (opaque == &bars[k].d->bars[bars[k].i])
			return opaque;
	return NULL;
}

static void check_bus(const struct bus *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		const struct bus_range *r = &b->ranges[i];
		if (r->len == 0 || r->base + r->len - 1 < r->base)
			fuzz_fail("%s range %s at 0x%llx+0x%llx is empty or wraps", b->name, r->name,
			          (unsigned long long)r->base, (unsigned long long)r->len);
		if (i + 1 < b->n && r->base + r->len - 1 >= b->ranges[i + 1].base)
			fuzz_fail("%s ranges %s 0x%llx+0x%llx and %s 0x%llx overlap or are unsorted",
			          b->name, r->name, (unsigned long long)r->base,
			          (unsigned long long)r->len, b->ranges[i + 1].name,
			          (unsigned long long)b->ranges[i + 1].base);
		const struct pci_bar *bar = bar_of(r->opaque);
		if (bar && (!bar->mapped || bar->mapped_at != r->base || bar->size != r->len))
			fuzz_fail("a stale range of %s at 0x%llx+0x%llx (BAR %s at 0x%llx)", r->name,
			          (unsigned long long)r->base, (unsigned long long)r->len,
			          bar->mapped ? "mapped" : "unmapped",
			          (unsigned long long)bar->mapped_at);
	}
}

static void check_bars(void)
{
	for (unsigned k = 0; k < nbars; k++) {
		const struct pci_dev *d = bars[k].d;
		const struct pci_bar *b = &d->bars[bars[k].i];
		if (!b->mapped)
			continue;
		bool io = b->type == PCI_BAR_IO;
		const struct bus *bus = io ? &vm->pio : &vm->mmio;
		const struct bus_range *r = bus_find(bus, b->mapped_at);
		uint16_t cmd = pci_get16(d, PCI_COMMAND);
		if (!r || r->base != b->mapped_at || r->len != b->size || r->opaque != b)
			fuzz_fail("%s BAR%u mapped at 0x%llx but not on the bus there", d->name,
			          bars[k].i, (unsigned long long)b->mapped_at);
		if (decode(d, bars[k].i) != b->mapped_at)
			fuzz_fail("%s BAR%u mapped at 0x%llx, its register says 0x%llx", d->name,
			          bars[k].i, (unsigned long long)b->mapped_at,
			          (unsigned long long)decode(d, bars[k].i));
		if (!(cmd & (io ? PCI_CMD_IO : PCI_CMD_MEM)))
			fuzz_fail("%s BAR%u mapped with its space off (command 0x%x)", d->name,
			          bars[k].i, cmd);
		if (io && b->mapped_at + b->size > 0x10000)
			fuzz_fail("%s BAR%u mapped at port 0x%llx", d->name, bars[k].i,
			          (unsigned long long)b->mapped_at);
	}
}

/* The pin each function asserts, from the device's own state. */
static bool wants_intx(const struct pci_dev *d)
{
	if (d == &nic->pci)
		return (nic->regs[E1000_ICR / 4] & nic->regs[E1000_IMS / 4]) != 0;
	const struct probe *p = probe_of(d);
	return p && p->level;
}

static void check_intx(void)
{
	unsigned want = 0;
	for (unsigned i = 0; i < nfns; i++) {
		const struct pci_dev *d = fns[i].d;
		unsigned pin = d->cfg[PCI_INT_PIN];
		bool w = pin && wants_intx(d);
		if (((d->cfg[PCI_STATUS] & PCI_STATUS_INTX) != 0) != w)
			fuzz_fail("%s: STATUS.INTX %d, the device asserts %d", d->name,
			          !w, w);
		if (w && !(pci_get16(d, PCI_COMMAND) & PCI_CMD_INTX_OFF))
			want |= 1u << ((d->slot + pin - 1) % PCI_INTX_LINES);
	}
	unsigned got = (unsigned)(atomic_load(&vm->irq_lines) >> PCI_INTX_GSI_BASE) & 0xf;
	if (got != want)
		fuzz_fail("INTx lines 0x%x, the pins say 0x%x", got, want);
}

static void check_fixed(void)
{
	static const uint8_t ro[] = { 0, 1, 2, 3, 8, 9, 10, 11, PCI_HEADER_TYPE, PCI_INT_PIN };
	for (unsigned i = 0; i < nfns; i++) {
		const struct pci_dev *d = fns[i].d;
		for (unsigned k = 0; k < sizeof(ro); k++)
			if (d->cfg[ro[k]] != fns[i].cfg[ro[k]])
				fuzz_fail("%s: read-only byte 0x%x became 0x%x (was 0x%x)", d->name,
				          ro[k], d->cfg[ro[k]], fns[i].cfg[ro[k]]);
	}
	if (vpci->msix.pending >> vpci->msix.nvec)
		fuzz_fail("MSI-X pending 0x%llx with %u vectors",
		          (unsigned long long)vpci->msix.pending, vpci->msix.nvec);
}

static void check_all(void)
{
	check_bus(&vm->pio);
	check_bus(&vm->mmio);
	check_bars();
	check_intx();
	check_fixed();
}

static void expect_ones(const uint8_t *b, unsigned size, const char *what)
{
	for (unsigned i = 0; i < size; i++)
		if (b[i] != 0xff)
			fuzz_fail("%s read 0x%llx, not all ones", what,
			          (unsigned long long)get_le(b, size));
	absent_reads++;
}

/* -- actions ---------------------------------------------------------------------------- */

static const unsigned sizes[] = { 1, 2, 4, 8, 3, 1, 2, 4 };

static void cf8_set(const struct target *t, unsigned reg)
{
	uint8_t l[4];
	put_le(l, CF8_EN | t->bus << 16 | t->slot << 11 | t->fn << 8 | (reg & 0xfc), 4);
	bus_access(&vm->pio, PC_PCI_CONF_ADDR, l, 4, true);
}

static void cfg_op(struct fz *f)
{
	const struct target *t = &targets[fz_u8(f) % ntargets];
	unsigned reg = fz_u8(f), mode = fz_u8(f), size = (mode & 3) == 3 ? 4 : 1u << (mode & 3);
	bool write = mode & 4, ecam = mode & 8;
	uint8_t b[8];
	put_le(b, fz_u32(f), 4);
	if (!(mode & 0x10))
		reg &= ~(size - 1);
	const struct pci_dev *d = present(t);

	if (ecam) {
		reg |= (mode >> 5) << 8;
		uint64_t off = (uint64_t)t->bus << 20 | t->slot << 15 | t->fn << 12 | reg;
		bus_access(&vm->mmio, PC_PCI_ECAM_ADDR + off, b, size, write);
		ecam_accesses++;
		cfg_writes += write;
		if (write)
			return;
		if (!d || (reg & (size - 1)))
			expect_ones(b, size, "ECAM of an absent function or misaligned");
		else if (reg >= PCI_CFG_SIZE && get_le(b, size))
			fuzz_fail("ECAM register 0x%x of %s read 0x%llx", reg, d->name,
			          (unsigned long long)get_le(b, size));
		ext_reads += reg >= PCI_CFG_SIZE;
	} else {
		cf8_set(t, reg);
		bus_access(&vm->pio, PC_PCI_CONF_DATA + (reg & 3), b, size, write);
		cfg_writes += write;
		if (write)
			return;
		if (!d)
			expect_ones(b, size, "CFC of an absent function");
	}
	cfg_reads++;
	if (d && reg == 0 && size >= 2 && get_le(b, 2) != pci_get16(d, PCI_VENDOR_ID))
		fuzz_fail("%s: vendor ID read 0x%llx", d->name, (unsigned long long)get_le(b, 2));
}

/* Does this port access reset the machine (0xCF9, bit 2, a byte)? */
static bool is_reset(uint64_t port, const uint8_t *b, unsigned size, bool write)
{
	return write && port == PC_PCI_CONF_ADDR + 1 && size == 1 && (b[0] & 4);
}

/* 0xCF8-0xCFF as bytes, words, dwords: the latch, the reset control, the data window. */
static bool port_op(struct fz *f)
{
	uint8_t a = fz_u8(f), b[8];
	unsigned port = PC_PCI_CONF_ADDR + (a & 7), size = sizes[(a >> 3) & 3];
	bool write = a & 0x20;
	put_le(b, fz_u32(f), 4);
	bool reset = is_reset(port, b, size, write);
	uint32_t cf8 = host->cf8;
	bus_access(&vm->pio, port, b, size, write);
	if (!write) {
		unsigned off = port - PC_PCI_CONF_DATA;
		if (port < PC_PCI_CONF_DATA && !(port == PC_PCI_CONF_ADDR && size == 4))
			expect_ones(b, size, "a byte or word of 0xCF8");
		else if (port >= PC_PCI_CONF_DATA &&
		         (!(cf8 & CF8_EN) || off + size > 4 ||
		          !present(&(struct target){ (cf8 >> 16) & 0xff, (cf8 >> 11) & 0x1f,
		                                     (cf8 >> 8) & 7 })))
			expect_ones(b, size, "CFC with the latch off, straddling, or absent");
		else if (port == PC_PCI_CONF_ADDR && get_le(b, 4) != cf8)
			fuzz_fail("CF8 read 0x%llx, latched 0x%x", (unsigned long long)get_le(b, 4), cf8);
	}
	return reset;
}

static void ecam_op(struct fz *f)
{
	uint32_t off = fz_u32(f) % PC_PCI_ECAM_SIZE;
	uint8_t a = fz_u8(f), b[8];
	unsigned size = sizes[a & 7];
	put_le(b, fz_u64(f), 8);
	bus_access(&vm->mmio, PC_PCI_ECAM_ADDR + off, b, size, a & 8);
	ecam_accesses++;
	const struct pci_dev *d = present(&(struct target){ 0, (off >> 15) & 0x1f, (off >> 12) & 7 });
	if (!(a & 8) && (!d || size > 4 || (off & (size - 1))))
		expect_ones(b, size, "ECAM absent, misaligned or wide");
}

static uint64_t bar_base(const struct barref *r)
{
	uint64_t a = decode(r->d, r->i);
	return r->d->bars[r->i].type == PCI_BAR_IO ? a & 0xffff : a;
}

/* An I/O BAR's register holds 32 bits, a CPU puts 16 on the bus: the access may land on
 * any port, 0xCF9 included (returns true then if it resets). */
static bool bar_op(struct fz *f)
{
	const struct barref *r = &bars[fz_u8(f) % nbars];
	const struct pci_bar *b = &r->d->bars[r->i];
	uint64_t off = fz_u32(f) % (b->size + 16);
	uint8_t a = fz_u8(f), v[8];
	put_le(v, fz_u64(f), 8);
	bool io = b->type == PCI_BAR_IO;
	uint64_t addr = bar_base(r) + off - 8;
	if (io)
		addr &= 0xffff;
	bar_accesses += bus_access(io ? &vm->pio : &vm->mmio, addr, v, sizes[a & 7], a & 8);
	return io && is_reset(addr, v, sizes[a & 7], a & 8);
}

static uint32_t cfg_read32(struct pci_dev *d, unsigned reg)
{
	uint8_t b[4];
	cf8_set(&(struct target){ 0, d->slot, d->fn }, reg);
	bus_access(&vm->pio, PC_PCI_CONF_DATA, b, 4, false);
	return (uint32_t)get_le(b, 4);
}

static void cfg_write32(struct pci_dev *d, unsigned reg, uint32_t v)
{
	uint8_t b[4];
	put_le(b, v, 4);
	cf8_set(&(struct target){ 0, d->slot, d->fn }, reg);
	bus_access(&vm->pio, PC_PCI_CONF_DATA, b, 4, true);
}

static void cfg_write16(struct pci_dev *d, unsigned reg, uint16_t v)
{
	uint8_t b[2];
	put_le(b, v, 2);
	cf8_set(&(struct target){ 0, d->slot, d->fn }, reg);
	bus_access(&vm->pio, PC_PCI_CONF_DATA + (reg & 3), b, 2, true);
}

/* Firmware's sizing: all ones, read back, restore. */
static void size_bar(const struct barref *r)
{
	struct pci_dev *d = r->d;
	const struct pci_bar *b = &d->bars[r->i];
	unsigned reg = PCI_BAR0 + 4 * r->i;
	bool wide = b->type == PCI_BAR_MEM64;
	uint32_t lo = cfg_read32(d, reg), hi = wide ? cfg_read32(d, reg + 4) : 0;
	cfg_write32(d, reg, 0xffffffff);
	if (wide)
		cfg_write32(d, reg + 4, 0xffffffff);
	uint64_t got = cfg_read32(d, reg) | (wide ? (uint64_t)cfg_read32(d, reg + 4) << 32 : 0);
	uint64_t want = b->type == PCI_BAR_IO ? ((uint32_t)~(b->size - 1) & ~3u) | PCI_BAR_F_IO
	              : b->type == PCI_BAR_MEM32 ? (uint32_t)~(b->size - 1) & ~0xfu
	              : (~(b->size - 1) & ~0xfull) | PCI_BAR_F_MEM64;
	if (got != want)
		fuzz_fail("%s BAR%u sized as 0x%llx, want 0x%llx (size 0x%llx)", d->name, r->i,
		          (unsigned long long)got, (unsigned long long)want,
		          (unsigned long long)b->size);
	cfg_write32(d, reg, lo);
	if (wide)
		cfg_write32(d, reg + 4, hi);
	sizings++;
}

static void move_op(struct fz *f)
{
	const struct barref *r = &bars[fz_u8(f) % nbars];
	uint8_t how = fz_u8(f);
	uint32_t v = fz_u32(f);
	struct pci_dev *d = r->d;
	const struct pci_bar *b = &d->bars[r->i];
	bool io = b->type == PCI_BAR_IO, wide = b->type == PCI_BAR_MEM64;
	unsigned reg = PCI_BAR0 + 4 * r->i;
	uint16_t cmd = pci_get16(d, PCI_COMMAND);
	uint64_t to;

	if ((how & 0x7f) % 6 == 2) {
		size_bar(r);
		return;
	}
	switch ((how & 0x7f) % 6) {
	case 1: {            /* onto a BAR of the same kind (itself included) */
		const struct barref *o = &bars[v % nbars];
		for (unsigned k = 0; k < nbars && (o->d->bars[o->i].type == PCI_BAR_IO) != io; k++)
			o = &bars[(v + k) % nbars];
		to = bar_base(o);
		break;
	}
	case 3:
		to = v % FUZZ_RAM;
		break;
	case 4:
		to = io ? PC_PCI_CONF_ADDR : PC_PCI_ECAM_ADDR + v % PC_PCI_ECAM_SIZE;
		break;
	case 5:
		to = (uint64_t)(v | 1) << 32 | (v & 0xfffff000u);
		break;
	default:
		to = v;
		break;
	}
	to &= ~(b->size - 1);
	if (how & 0x80)
		cfg_write16(d, PCI_COMMAND, cmd & ~(PCI_CMD_IO | PCI_CMD_MEM));
	cfg_write32(d, reg, (uint32_t)to | (io ? PCI_BAR_F_IO : wide ? PCI_BAR_F_MEM64 : 0));
	if (wide)
		cfg_write32(d, reg + 4, (uint32_t)(to >> 32));
	if (how & 0x80)
		cfg_write16(d, PCI_COMMAND, cmd);
	uint32_t flags = io ? PCI_BAR_F_IO : wide ? PCI_BAR_F_MEM64 : 0;
	uint64_t back = cfg_read32(d, reg) | (wide ? (uint64_t)cfg_read32(d, reg + 4) << 32 : 0);
	if (back != ((wide ? to : (uint32_t)to) | flags))
		fuzz_fail("%s BAR%u moved to 0x%llx reads back 0x%llx", d->name, r->i,
		          (unsigned long long)to, (unsigned long long)back);
	moves++;
	uint64_t at = decode(d, r->i);
	bool want = (pci_get16(d, PCI_COMMAND) & (io ? PCI_CMD_IO : PCI_CMD_MEM)) && at &&
	            at + b->size - 1 >= at && (!io || at + b->size <= 0x10000);
	refused += want && !b->mapped;
}

static void window_op(struct fz *f)
{
	uint64_t addr = PC_PCI_MEM32_ADDR + fz_u32(f) % 0x200000;
	uint8_t a = fz_u8(f), v[8];
	put_le(v, fz_u64(f), 8);
	bus_access(&vm->mmio, addr, v, sizes[a & 7], a & 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vm = fuzz_vm();
	if (!host)
		setup();
	restore();
	check_all();

	struct fz f = { data, size };
	while (f.n) {
		bool reset = false;
		unsigned before = (unsigned)(atomic_load(&vm->irq_lines) >> PCI_INTX_GSI_BASE) & 0xf;
		switch (fz_u8(&f) % 10) {
		case 0:
			cfg_op(&f);
			break;
		case 1: {
			uint8_t b[4];
			put_le(b, fz_u32(&f), 4);
			bus_access(&vm->pio, PC_PCI_CONF_ADDR, b, 4, true);
			break;
		}
		case 2:
			reset = port_op(&f);
			break;
		case 3:
			ecam_op(&f);
			break;
		case 4:
			reset = bar_op(&f);
			break;
		case 5:
			move_op(&f);
			break;
		case 6: {
			uint16_t gpa = fz_u16(&f);
			fuzz_fill(vm, &f, gpa, fz_u8(&f) % 65);
			break;
		}
		case 7: {
			uint8_t a = fz_u8(&f);
			probe_irq(&probes[(a & 0x7f) % 3], a >> 7);
			break;
		}
		case 8:
			e1000_set_link(nic, fz_u8(&f) & 1);
			break;
		case 9:
			window_op(&f);
			break;
		}
		check_all();
		unsigned after = (unsigned)(atomic_load(&vm->irq_lines) >> PCI_INTX_GSI_BASE) & 0xf;
		intx_rises += (unsigned)__builtin_popcount(after & ~before);
		bool stopped = vm_stopping(vm);
		if (stopped != reset || (stopped && vm->stop_reason != VM_STOP_RESET))
			fuzz_fail("the VM %s (reason %d) after %s", stopped ? "stopped" : "did not stop",
			          vm->stop_reason, reset ? "a 0xCF9 reset" : "an access that is no reset");
		if (stopped) {
			resets++;
			pthread_mutex_lock(&vm->stop_lock);
			vm->stop_reason = VM_RUNNING;
			pthread_mutex_unlock(&vm->stop_lock);
		}
	}
	return 0;
}
