/* PCI host bridge, configuration space and BAR mapping (see pci.h). */
#include "pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/snap.h"
#include "core/vm.h"
#include "pc.h"

/* The host bridge's identity: Red Hat's generic PCIe host bridge ID (1b36:0008), which
 * Linux handles with no quirks. */
#define HOST_VENDOR 0x1b36
#define HOST_DEVICE 0x0008
#define HOST_CLASS  0x060000      /* bridge, host bridge */

#define CF8_ENABLE  0x80000000u
#define CF8_MASK    0x80fffffcu   /* bits 30:24 reserved, 1:0 always 0 */

#define CMD_WMASK   (PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_PARITY | \
                     PCI_CMD_SERR | PCI_CMD_INTX_OFF)
#define STATUS_W1C  0xf900u       /* error bits 15:11 and 8 */

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
                  uint32_t class_code, uint8_t revision)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	pthread_mutex_init(&d->lock, NULL);
	pci_set16(d, PCI_VENDOR_ID, vendor);
	pci_set16(d, PCI_DEVICE_ID, device);
	d->cfg[PCI_REVISION_ID] = revision;
	d->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
	d->cfg[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
	d->cfg[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
	pci_set_wmask16(d, PCI_COMMAND, CMD_WMASK);
	d->w1c[PCI_STATUS] = (uint8_t)STATUS_W1C;
	d->w1c[PCI_STATUS + 1] = (uint8_t)(STATUS_W1C >> 8);
	d->wmask[PCI_CACHE_LINE] = 0xff;
	d->wmask[PCI_INT_LINE] = 0xff;
	d->cap_end = PCI_CAP_START;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		d->bars[i].dev = d;
}

void pci_dev_destroy(struct pci_dev *d)
{
	pthread_mutex_destroy(&d->lock);
}

static uint64_t pow2_at_least(uint64_t v, uint64_t min)
{
	uint64_t p = min;
	while (p < v && p < (1ull << 63))
		p <<= 1;
	return p;
}

int pci_dev_set_bar(struct pci_dev *d, unsigned i, enum pci_bar_type type, uint64_t size,
                    io_handler_fn fn, void *opaque)
{
	if (i >= PCI_NUM_BARS || (type == PCI_BAR_MEM64 && i + 1 >= PCI_NUM_BARS) ||
	    (type == PCI_BAR_MEM32 && size > (1ull << 31)) || (type == PCI_BAR_IO && size > 256))
		return -EINVAL;
	struct pci_bar *b = &d->bars[i];
	unsigned reg = PCI_BAR0 + 4 * i;
	b->type = type;
	b->size = pow2_at_least(size, type == PCI_BAR_IO ? 4 : 16);
	b->fn = fn;
	b->opaque = opaque;
	switch (type) {
	case PCI_BAR_IO:
		pci_set32(d, reg, PCI_BAR_F_IO);
		/* All 32 address bits are writable, as firmware sizing a BAR expects (it reads
		 * back ~(size - 1) | 1); one above 64 KiB is simply never mapped. */
		pci_set_wmask32(d, reg, (uint32_t)~(b->size - 1) & ~0x3u);
		break;
	case PCI_BAR_MEM32:
		pci_set32(d, reg, 0);
		pci_set_wmask32(d, reg, (uint32_t)~(b->size - 1) & ~0xfu);
		break;
	case PCI_BAR_MEM64:
		pci_set32(d, reg, PCI_BAR_F_MEM64);
		pci_set_wmask32(d, reg, (uint32_t)~(b->size - 1) & ~0xfu);
		pci_set32(d, reg + 4, 0);
		pci_set_wmask32(d, reg + 4, (uint32_t)(~(b->size - 1) >> 32));
		break;
	case PCI_BAR_UNUSED:
		break;
	}
	return 0;
}

unsigned pci_dev_add_cap(struct pci_dev *d, uint8_t id, unsigned len)
{
	unsigned off = d->cap_end;
	if (len < 2 || off + len > PCI_CFG_SIZE)
		return 0;
	d->cfg[off] = id;
	d->cfg[off + 1] = 0;
	if (d->cap_last)
		d->cfg[d->cap_last + 1] = (uint8_t)off;
	else
		d->cfg[PCI_CAP_PTR] = (uint8_t)off;
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAPS;
	d->cap_last = (uint8_t)off;
	d->cap_end = (uint16_t)((off + len + 3) & ~3u);
	return off;
}

uint64_t pci_bar_addr(const struct pci_dev *d, unsigned i)
{
	const struct pci_bar *b = &d->bars[i];
	return b->mapped ? b->mapped_at : 0;
}

/* Where the guest has put BAR i (0: unassigned). */
static uint64_t bar_decode(const struct pci_dev *d, unsigned i)
{
	unsigned reg = PCI_BAR0 + 4 * i;
	switch (d->bars[i].type) {
	case PCI_BAR_IO:
		return pci_get32(d, reg) & ~0x3u;
	case PCI_BAR_MEM32:
		return pci_get32(d, reg) & ~0xfu;
	case PCI_BAR_MEM64:
		return (pci_get32(d, reg) & ~0xfu) | (uint64_t)pci_get32(d, reg + 4) << 32;
	default:
		return 0;
	}
}

/* The bus handler of every BAR: the device's handler under its lock. */
static void bar_access(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct pci_bar *b = opaque;
	pthread_mutex_lock(&b->dev->lock);
	b->fn(b->opaque, off, data, size, is_write);
	pthread_mutex_unlock(&b->dev->lock);
}

/* The line d's pin reaches (PCI_INTX_GSI_BASE + line). */
static unsigned intx_line(const struct pci_dev *d)
{
	unsigned pin = d->cfg[PCI_INT_PIN];
	return (d->slot + (pin ? pin - 1 : 0)) % PCI_INTX_LINES;
}

/* Drive the line from what the device wants and INTX_OFF; the device lock is held. The
 * count is per line, so the host's lock would do, but that lock is taken before the
 * device's: an atomic count needs neither. */
static void update_intx(struct pci_dev *d)
{
	bool drive = d->intx_want && !(pci_get16(d, PCI_COMMAND) & PCI_CMD_INTX_OFF) &&
	             d->cfg[PCI_INT_PIN] && d->host;
	if (drive == d->intx_driven)
		return;
	d->intx_driven = drive;
	unsigned line = intx_line(d);
	unsigned n = drive ? atomic_fetch_add(&d->host->intx_count[line], 1) + 1 :
	                     atomic_fetch_sub(&d->host->intx_count[line], 1) - 1;
	if ((drive && n == 1) || (!drive && n == 0))
		vm_set_irq(d->host->vm, PCI_INTX_GSI_BASE + line, drive);
}

void pci_set_irq(struct pci_dev *d, bool level)
{
	d->intx_want = level;
	if (level)
		d->cfg[PCI_STATUS] |= PCI_STATUS_INTX;
	else
		d->cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTX;
	update_intx(d);
}

/* Map each BAR where the guest put it, if the command register enables its space;
 * unmap it otherwise. A BAR the bus refuses (overlap, e.g. halfway through sizing with
 * decoding left on) stays unmapped until the guest moves it again. */
static void update_bars(struct pci_dev *d)
{
	if (!d->host)
		return;
	struct vm *vm = d->host->vm;
	uint16_t cmd = pci_get16(d, PCI_COMMAND);

	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &d->bars[i];
		if (b->type == PCI_BAR_UNUSED)
			continue;
		bool io = b->type == PCI_BAR_IO;
		struct bus *bus = io ? &vm->pio : &vm->mmio;
		uint64_t addr = bar_decode(d, i);
		bool want = (cmd & (io ? PCI_CMD_IO : PCI_CMD_MEM)) && addr != 0 &&
		            addr + b->size - 1 >= addr && (!io || addr + b->size <= 0x10000);
		if (b->mapped && want && b->mapped_at == addr)
			continue;
		if (b->mapped) {
			bus_unregister(bus, b->mapped_at, b);
			b->mapped = false;
		}
		if (!want)
			continue;
		struct err e;
		if (bus_register(bus, addr, b->size, bar_access, b, d->name, &e) == 0) {
			b->mapped = true;
			b->mapped_at = addr;
			log_debug("pci", "%s: BAR%u at 0x%llx", d->name, i, (unsigned long long)addr);
		} else {
			log_debug("pci", "%s: BAR%u not mapped: %s", d->name, i, e.msg);
		}
	}
}

uint32_t pci_cfg_read_locked(struct pci_dev *d, unsigned off, unsigned len)
{
	uint32_t v = 0;
	if (off >= PCI_CFG_SIZE)
		return 0;         /* extended space (ECAM): empty, no extended capabilities */
	if (len > PCI_CFG_SIZE - off)
		len = PCI_CFG_SIZE - off;
	if (d->cfg_read_hook)
		d->cfg_read_hook(d, off, len);
	for (unsigned i = 0; i < len; i++)
		v |= (uint32_t)d->cfg[off + i] << (8 * i);
	return v;
}

static bool overlaps(unsigned off, unsigned len, unsigned lo, unsigned hi)
{
	return off < hi && off + len > lo;
}

void pci_cfg_write_locked(struct pci_dev *d, unsigned off, unsigned len, uint32_t val)
{
	if (off >= PCI_CFG_SIZE)
		return;
	if (len > PCI_CFG_SIZE - off)
		len = PCI_CFG_SIZE - off;
	for (unsigned i = 0; i < len; i++) {
		uint8_t v = (uint8_t)(val >> (8 * i)), m = d->wmask[off + i];
		uint8_t n = (uint8_t)((d->cfg[off + i] & ~m) | (v & m));
		d->cfg[off + i] = (uint8_t)(n & ~(v & d->w1c[off + i]));
	}
	if (overlaps(off, len, PCI_COMMAND, PCI_COMMAND + 2) ||
	    overlaps(off, len, PCI_BAR0, PCI_BAR0 + 4 * PCI_NUM_BARS))
		update_bars(d);
	if (overlaps(off, len, PCI_COMMAND + 1, PCI_COMMAND + 2))
		update_intx(d);
	if (d->cfg_write_hook)
		d->cfg_write_hook(d, off, len);
}

/* One configuration access, routed to bus/device/function. No device: reads all ones
 * (the vendor ID 0xffff that means "nobody here"), writes ignored. */
static void cfg_access(struct pci_host *h, unsigned bus, unsigned slot, unsigned fn,
                       unsigned reg, uint8_t *data, unsigned size, bool is_write)
{
	struct pci_dev *d = bus == 0 && slot < PCI_SLOTS && fn < PCI_FUNCS ? h->devs[slot][fn] : NULL;
	if (!d) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (is_write) {
		uint32_t v = 0;
		for (unsigned i = 0; i < size; i++)
			v |= (uint32_t)data[i] << (8 * i);
		pci_cfg_write_locked(d, reg, size, v);
	} else {
		uint32_t v = pci_cfg_read_locked(d, reg, size);
		for (unsigned i = 0; i < size; i++)
			data[i] = (uint8_t)(v >> (8 * i));
	}
	pthread_mutex_unlock(&d->lock);
}

/* 0xCF8: the address latch, dword accesses only. Byte accesses to 0xCF8-0xCFB are other
 * registers on real chipsets: the reset control at 0xCF9 (PIIX3 RCR, ICH9 RST_CNT),
 * whose bit 2 resets the machine (how firmware and Linux's reboot=pci reboot); the
 * rest read all ones. */
#define RCR_PORT_OFF 1
#define RCR_RST_CPU  0x04
static void conf_addr_io(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct pci_host *h = opaque;
	if (off == RCR_PORT_OFF && size == 1 && is_write && (data[0] & RCR_RST_CPU)) {
		vm_request_stop(h->vm, VM_STOP_RESET, VM_STATUS_OK, "the guest reset the machine");
		return;
	}
	if (off != 0 || size != 4) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&h->lock);
	if (is_write)
		h->cf8 = (data[0] | data[1] << 8 | data[2] << 16 | (uint32_t)data[3] << 24) & CF8_MASK;
	else
		for (unsigned i = 0; i < 4; i++)
			data[i] = (uint8_t)(h->cf8 >> (8 * i));
	pthread_mutex_unlock(&h->lock);
}

/* 0xCFC-0xCFF: the data window onto the dword the latch selects; a byte/word access at
 * 0xCFC+n reaches byte n of it. */
static void conf_data_io(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct pci_host *h = opaque;
	pthread_mutex_lock(&h->lock);
	uint32_t a = h->cf8;
	if (!(a & CF8_ENABLE) || off + size > 4) {
		if (!is_write)
			memset(data, 0xff, size);
	} else {
		cfg_access(h, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7,
		           (a & 0xfc) + (unsigned)off, data, size, is_write);
	}
	pthread_mutex_unlock(&h->lock);
}

/* ECAM: bus << 20 | device << 15 | function << 12 | register. Accesses must be naturally
 * aligned and at most 4 bytes (PCIe 7.2.2); others read all ones and are counted. */
static void ecam_io(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct pci_host *h = opaque;
	if (size > 4 || (off & (size - 1))) {
		atomic_fetch_add_explicit(&h->bad_accesses, 1, memory_order_relaxed);
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&h->lock);
	cfg_access(h, (unsigned)(off >> 20), (off >> 15) & 0x1f, (off >> 12) & 7,
	           off & 0xfff, data, size, is_write);
	pthread_mutex_unlock(&h->lock);
}

static int add(struct pci_host *h, struct pci_dev *d, unsigned slot, unsigned fn, struct err *e)
{
	/* Firmware's job: addresses for the BARs, biggest first so that each one's natural
	 * alignment wastes nothing. */
	for (unsigned done = 0; done < PCI_NUM_BARS; done++) {
		int best = -1;
		for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
			const struct pci_bar *b = &d->bars[i];
			if (b->type != PCI_BAR_UNUSED && !bar_decode(d, i) &&
			    (best < 0 || b->size > d->bars[best].size))
				best = (int)i;
		}
		if (best < 0)
			break;
		struct pci_bar *b = &d->bars[best];
		unsigned reg = PCI_BAR0 + 4 * (unsigned)best;
		if (b->type == PCI_BAR_IO) {
			uint64_t a = (h->io_next + b->size - 1) & ~(b->size - 1);
			if (a + b->size > PC_PCI_IO_ADDR + PC_PCI_IO_SIZE)
				return err_set(e, ENOSPC, "%s: PCI I/O window full", d->name);
			pci_set32(d, reg, (uint32_t)a | PCI_BAR_F_IO);
			h->io_next = a + b->size;
		} else {
			uint64_t a = (h->mem32_next + b->size - 1) & ~(b->size - 1);
			if (a + b->size > (uint64_t)PC_PCI_MEM32_ADDR + PC_PCI_MEM32_SIZE)
				return err_set(e, ENOSPC, "%s: PCI memory window full", d->name);
			pci_set32(d, reg, (uint32_t)a | (b->type == PCI_BAR_MEM64 ? PCI_BAR_F_MEM64 : 0));
			h->mem32_next = a + b->size;
		}
	}
	bool has_io = false, has_mem = false;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		has_io |= d->bars[i].type == PCI_BAR_IO;
		has_mem |= d->bars[i].type == PCI_BAR_MEM32 || d->bars[i].type == PCI_BAR_MEM64;
	}
	pthread_mutex_lock(&h->lock);
	pthread_mutex_lock(&d->lock);
	d->host = h;
	d->slot = (uint8_t)slot;
	d->fn = (uint8_t)fn;
	h->devs[slot][fn] = d;
	pci_set16(d, PCI_COMMAND, pci_get16(d, PCI_COMMAND) | (has_io ? PCI_CMD_IO : 0) |
	                          (has_mem ? PCI_CMD_MEM : 0));
	update_bars(d);
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int pci_host_add(struct pci_host *h, struct pci_dev *d, int slot, struct err *e)
{
	if (slot < 0) {
		for (slot = 0; slot < PCI_SLOTS && h->devs[slot][0]; slot++)
			;
	}
	if (slot >= PCI_SLOTS || h->devs[slot][0])
		return err_set(e, ENOSPC, "%s: no free PCI slot", d->name);
	return add(h, d, (unsigned)slot, 0, e);
}

int pci_host_add_fn(struct pci_host *h, struct pci_dev *d, unsigned slot, unsigned fn,
                    struct err *e)
{
	if (slot >= PCI_SLOTS || fn == 0 || fn >= PCI_FUNCS || !h->devs[slot][0] || h->devs[slot][fn])
		return err_set(e, EINVAL, "%s: PCI %02x.%u is taken or has no function 0", d->name,
		               slot, fn);
	struct pci_dev *f0 = h->devs[slot][0];
	pthread_mutex_lock(&f0->lock);
	f0->cfg[PCI_HEADER_TYPE] |= PCI_HEADER_MULTIFN;
	pthread_mutex_unlock(&f0->lock);
	return add(h, d, slot, fn, e);
}

/* -- snapshots ---------------------------------------------------------------------------
 * The host saves every function's configuration space, so each device need not: the
 * address latch, then per function its place, IDs, the 256 bytes and whether it drives
 * its INTx pin. A load takes from the saved bytes only what a guest could have written
 * (the write mask and write-1-to-clear bits; the rest is the device's, from its
 * creation, and must be the same device), then maps the BARs where they were: every
 * BAR is unmapped first, so that one moved onto another's old place finds it free. */

static unsigned function_count(const struct pci_host *h)
{
	unsigned n = 0;
	for (unsigned s = 0; s < PCI_SLOTS; s++)
		for (unsigned f = 0; f < PCI_FUNCS; f++)
			n += h->devs[s][f] != NULL;
	return n;
}

static int host_save(void *opaque, struct snap_writer *w)
{
	struct pci_host *h = opaque;
	pthread_mutex_lock(&h->lock);
	snap_put_u32(w, h->cf8);
	snap_put_u32(w, function_count(h));
	for (unsigned s = 0; s < PCI_SLOTS; s++)
		for (unsigned f = 0; f < PCI_FUNCS; f++) {
			struct pci_dev *d = h->devs[s][f];
			if (!d)
				continue;
			pthread_mutex_lock(&d->lock);
			snap_put_u8(w, (uint8_t)s);
			snap_put_u8(w, (uint8_t)f);
			snap_put_bytes(w, d->cfg, PCI_CFG_SIZE);
			snap_put_u8(w, d->intx_want);
			pthread_mutex_unlock(&d->lock);
		}
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static int host_load(void *opaque, struct snap_reader *r)
{
	struct pci_host *h = opaque;
	pthread_mutex_lock(&h->lock);
	h->cf8 = snap_get_u32(r);
	snap_check(r, !(h->cf8 & ~CF8_MASK), "configuration address");
	if (snap_get_u32(r) != function_count(h))
		snap_fail(r, "the snapshot has another set of PCI functions than this machine");
	for (unsigned s = 0; s < PCI_SLOTS; s++)
		for (unsigned f = 0; f < PCI_FUNCS; f++) {
			struct pci_dev *d = h->devs[s][f];
			if (!d || r->failed)
				continue;
			uint8_t cfg[PCI_CFG_SIZE];
			unsigned ss = snap_get_u8(r), sf = snap_get_u8(r);
			snap_get_bytes(r, cfg, sizeof(cfg));
			bool intx = snap_get_bool(r);
			if (r->failed)
				break;
			if (ss != s || sf != f || memcmp(cfg, d->cfg, 4) != 0) {
				snap_fail(r, "PCI %02x.%u is not %s in the snapshot", s, f, d->name);
				break;
			}
			pthread_mutex_lock(&d->lock);
			for (unsigned i = 0; i < PCI_CFG_SIZE; i++) {
				uint8_t m = d->wmask[i] | d->w1c[i];
				d->cfg[i] = (uint8_t)((d->cfg[i] & ~m) | (cfg[i] & m));
			}
			pci_set_irq(d, intx);
			pthread_mutex_unlock(&d->lock);
		}
	/* Every BAR off the buses, then each where its register says. */
	for (unsigned pass = 0; pass < 2 && !r->failed; pass++)
		for (unsigned s = 0; s < PCI_SLOTS; s++)
			for (unsigned f = 0; f < PCI_FUNCS; f++) {
				struct pci_dev *d = h->devs[s][f];
				if (!d)
					continue;
				pthread_mutex_lock(&d->lock);
				for (unsigned i = 0; pass == 0 && i < PCI_NUM_BARS; i++) {
					struct pci_bar *b = &d->bars[i];
					if (b->mapped)
						bus_unregister(b->type == PCI_BAR_IO ? &h->vm->pio : &h->vm->mmio,
						               b->mapped_at, b);
					b->mapped = false;
				}
				if (pass == 1)
					update_bars(d);
				pthread_mutex_unlock(&d->lock);
			}
	pthread_mutex_unlock(&h->lock);
	return snap_status(r);
}

static void host_destroy(void *opaque)
{
	struct pci_host *h = opaque;
	pci_dev_destroy(&h->bridge);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int pci_host_create(struct vm *vm, struct pci_host **out, struct err *e)
{
	struct pci_host *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return err_set(e, ENOMEM, "out of memory");
	h->vm = vm;
	h->mem32_next = PC_PCI_MEM32_ADDR;
	h->io_next = PC_PCI_IO_ADDR;
	pthread_mutex_init(&h->lock, NULL);
	pci_dev_init(&h->bridge, "PCI host bridge", HOST_VENDOR, HOST_DEVICE, HOST_CLASS, 0);
	if ((r = vm_add_device(vm, h, host_destroy, e))) {
		host_destroy(h);
		return r;
	}
	vm_set_device_snapshot(vm, h, "pci", host_save, host_load);
	if ((r = bus_register(&vm->pio, PC_PCI_CONF_ADDR, 4, conf_addr_io, h, "PCI config address", e)) ||
	    (r = bus_register(&vm->pio, PC_PCI_CONF_DATA, 4, conf_data_io, h, "PCI config data", e)) ||
	    (r = pci_host_add(h, &h->bridge, 0, e)))
		return r;
	*out = h;
	return 0;
}

int pci_host_add_ecam(struct pci_host *h, struct err *e)
{
	return bus_register(&h->vm->mmio, PC_PCI_ECAM_ADDR, PC_PCI_ECAM_SIZE, ecam_io, h,
	                    "PCI ECAM", e);
}
