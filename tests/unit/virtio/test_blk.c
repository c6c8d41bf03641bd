/* virtio-blk on virtio-pci, driven by a driver written here the way Linux drives it:
 * find the device and its capabilities in configuration space, negotiate features,
 * set up a queue and MSI-X, then issue requests (read, write, flush, get ID, discard,
 * write zeroes) on a temporary image file, and malformed ones (out of range, odd
 * lengths, short headers, unknown types, no status byte, a looping chain). Also: a
 * read-only disk, the PCI configuration access capability, image locking. */
#include "vtest.h"

#include <fcntl.h>
#include <unistd.h>

#include "hw/pc.h"
#include "hw/pci.h"
#include "hw/virtio/blk.h"
#include "hw/virtio/virtio_pci.h"

#define RAM    (16 * MiB)
#define RING   0x10000
#define HDR    0x20000
#define DATA   0x30000
#define STATUS 0x40000
#define QSIZE  8
#define IMG_SECTORS 2048          /* 1 MiB */

static struct vm *vm;

struct drv {
	unsigned slot;
	uint64_t bar0;
	unsigned common, notify, isr, device, pcicfg, msix;
	uint32_t notify_mult;
	struct ring r;
	uint64_t msix_tbl;
};

static uint32_t cf8(unsigned slot, unsigned reg) { return 0x80000000u | slot << 11 | (reg & 0xfc); }
static uint64_t cfg_rd(unsigned slot, unsigned reg, unsigned size)
{
	bus_wr(&vm->pio, PC_PCI_CONF_ADDR, 4, cf8(slot, reg));
	return bus_rd(&vm->pio, PC_PCI_CONF_DATA + (reg & 3), size);
}
static void cfg_wr(unsigned slot, unsigned reg, unsigned size, uint64_t v)
{
	bus_wr(&vm->pio, PC_PCI_CONF_ADDR, 4, cf8(slot, reg));
	bus_wr(&vm->pio, PC_PCI_CONF_DATA + (reg & 3), size, v);
}

static uint64_t common_rd(struct drv *d, unsigned off, unsigned size)
{
	return bus_rd(&vm->mmio, d->bar0 + d->common + off, size);
}
static void common_wr(struct drv *d, unsigned off, unsigned size, uint64_t v)
{
	bus_wr(&vm->mmio, d->bar0 + d->common + off, size, v);
}

/* Find the device in slot and its capabilities; enable memory decoding and mastering. */
static void probe(struct drv *d, unsigned slot)
{
	memset(d, 0, sizeof(*d));
	d->slot = slot;
	CHECK_EQ(cfg_rd(slot, 0, 4), 0x10421af4);
	CHECK_EQ(cfg_rd(slot, PCI_REVISION_ID, 1), 1);
	CHECK_EQ(cfg_rd(slot, PCI_SUBSYS_ID, 2) >= 0x40, 1);
	CHECK_EQ(cfg_rd(slot, PCI_INT_PIN, 1), 0);              /* MSI-X only */
	for (unsigned p = (unsigned)cfg_rd(slot, PCI_CAP_PTR, 1), n = 0; p && n < 48; n++) {
		unsigned id = (unsigned)cfg_rd(slot, p, 1);
		if (id == PCI_CAP_ID_MSIX) {
			d->msix = p;
		} else if (id == PCI_CAP_ID_VNDR) {
			unsigned type = (unsigned)cfg_rd(slot, p + 3, 1), off = (unsigned)cfg_rd(slot, p + 8, 4);
			CHECK(type == VIRTIO_PCI_CAP_PCI_CFG || cfg_rd(slot, p + 4, 1) == 0);
			if (type == VIRTIO_PCI_CAP_COMMON_CFG) {
				d->common = off;
				CHECK(cfg_rd(slot, p + 12, 4) >= 0x38);
			} else if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
				d->notify = off;
				d->notify_mult = (uint32_t)cfg_rd(slot, p + 16, 4);
			} else if (type == VIRTIO_PCI_CAP_ISR_CFG) {
				d->isr = off;
			} else if (type == VIRTIO_PCI_CAP_DEVICE_CFG) {
				d->device = off;
			} else if (type == VIRTIO_PCI_CAP_PCI_CFG) {
				d->pcicfg = p;
			}
		}
		p = (unsigned)cfg_rd(slot, p + 1, 1);
	}
	CHECK(d->msix && d->pcicfg && d->notify && d->isr && d->device);
	CHECK_EQ(d->notify_mult, 4);
	d->bar0 = (cfg_rd(slot, PCI_BAR0, 4) & ~0xfull) | cfg_rd(slot, PCI_BAR0 + 4, 4) << 32;
	d->msix_tbl = cfg_rd(slot, PCI_BAR0 + 8, 4) & ~0xfull;
	CHECK(d->bar0 >= PC_PCI_MEM32_ADDR && d->bar0 < PC_PCI_ECAM_ADDR);
	cfg_wr(slot, PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_MASTER);
}

/* Linux's sequence (3.1.1): reset, ACK, DRIVER, features, FEATURES_OK, queues, MSI-X
 * vectors, DRIVER_OK. Returns the device features. */
static uint64_t driver_init(struct drv *d, uint64_t want)
{
	common_wr(d, VPCI_STATUS, 1, 0);
	CHECK_EQ(common_rd(d, VPCI_STATUS, 1), 0);
	common_wr(d, VPCI_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	common_wr(d, VPCI_DFSELECT, 4, 0);
	uint64_t f = common_rd(d, VPCI_DF, 4);
	common_wr(d, VPCI_DFSELECT, 4, 1);
	f |= common_rd(d, VPCI_DF, 4) << 32;
	common_wr(d, VPCI_DFSELECT, 4, 2);
	CHECK_EQ(common_rd(d, VPCI_DF, 4), 0);
	common_wr(d, VPCI_GFSELECT, 4, 0);
	common_wr(d, VPCI_GF, 4, (uint32_t)(want & f));
	common_wr(d, VPCI_GFSELECT, 4, 1);
	common_wr(d, VPCI_GF, 4, (uint32_t)((want & f) >> 32));
	common_wr(d, VPCI_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	                             VIRTIO_STATUS_FEATURES_OK);
	CHECK(common_rd(d, VPCI_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK);

	/* MSI-X: enabled, vector 0 (config) and 1 (queue) programmed and unmasked. */
	cfg_wr(d->slot, d->msix + 2, 2, PCI_MSIX_CTRL_ENABLE);
	for (unsigned v = 0; v < 2; v++) {
		bus_wr(&vm->mmio, d->msix_tbl + 16 * v, 4, 0xfee00000);
		bus_wr(&vm->mmio, d->msix_tbl + 16 * v + 4, 4, 0);
		bus_wr(&vm->mmio, d->msix_tbl + 16 * v + 8, 4, 0x30 + v);
		bus_wr(&vm->mmio, d->msix_tbl + 16 * v + 12, 4, 0);
	}
	common_wr(d, VPCI_MSIX_CONFIG, 2, 0);
	CHECK_EQ(common_rd(d, VPCI_MSIX_CONFIG, 2), 0);
	common_wr(d, VPCI_MSIX_CONFIG, 2, 7);                   /* no such vector */
	CHECK_EQ(common_rd(d, VPCI_MSIX_CONFIG, 2), VIRTIO_NO_VECTOR);
	common_wr(d, VPCI_MSIX_CONFIG, 2, 0);

	CHECK_EQ(common_rd(d, VPCI_NUM_QUEUES, 2), 1);
	common_wr(d, VPCI_Q_SELECT, 2, 1);
	CHECK_EQ(common_rd(d, VPCI_Q_SIZE, 2), 0);              /* no queue 1 */
	common_wr(d, VPCI_Q_SELECT, 2, 0);
	CHECK_EQ(common_rd(d, VPCI_Q_SIZE, 2), VIRTIO_BLK_QUEUE_SIZE);
	CHECK_EQ(common_rd(d, VPCI_Q_NOFF, 2), 0);
	ring_init(&d->r, vm, RING, QSIZE);
	common_wr(d, VPCI_Q_SIZE, 2, QSIZE);
	common_wr(d, VPCI_Q_MSIX, 2, 1);
	CHECK_EQ(common_rd(d, VPCI_Q_MSIX, 2), 1);
	/* 64-bit fields as two dwords, as Linux writes them. */
	common_wr(d, VPCI_Q_DESC, 4, (uint32_t)d->r.desc);
	common_wr(d, VPCI_Q_DESC + 4, 4, d->r.desc >> 32);
	common_wr(d, VPCI_Q_AVAIL, 8, d->r.avail);
	common_wr(d, VPCI_Q_USED, 4, (uint32_t)d->r.used);
	common_wr(d, VPCI_Q_USED + 4, 4, 0);
	CHECK_EQ(common_rd(d, VPCI_Q_USED, 8), d->r.used);
	common_wr(d, VPCI_Q_ENABLE, 2, 1);
	CHECK_EQ(common_rd(d, VPCI_Q_ENABLE, 2), 1);
	common_wr(d, VPCI_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	                             VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	return f;
}

static void kick(void *arg)
{
	struct drv *d = arg;
	bus_wr(&vm->mmio, d->bar0 + d->notify + 0 * d->notify_mult, 2, 0);
}

/* One request: header, optional data (out: device reads it; in: device writes it),
 * status. Returns the status byte, or -1 if the device returned no used entry, and
 * sets *used_len. */
static int request(struct drv *d, uint32_t type, uint64_t sector, const void *out,
                   uint32_t out_len, uint32_t in_len, uint32_t *used_len)
{
	return vt_blk_request(&d->r, (struct vt_blk_bufs){ HDR, DATA, STATUS }, kick, d, type,
	                      sector, out, out_len, in_len, used_len);
}

static void test_requests(struct drv *d, int fd, uint64_t features)
{
	uint8_t buf[2048], file[2048];
	uint32_t ul;

	CHECK(features >> VIRTIO_F_VERSION_1 & 1);
	CHECK(features >> VIRTIO_BLK_F_FLUSH & 1);
	CHECK(features >> VIRTIO_BLK_F_DISCARD & 1);
	CHECK(!(features >> VIRTIO_BLK_F_RO & 1));
	CHECK_EQ(bus_rd(&vm->mmio, d->bar0 + d->device + VBLK_CFG_CAPACITY, 8), IMG_SECTORS);
	CHECK_EQ(bus_rd(&vm->mmio, d->bar0 + d->device + VBLK_CFG_CAPACITY + 4, 4), 0);
	CHECK_EQ(bus_rd(&vm->mmio, d->bar0 + d->device + VBLK_CFG_SEG_MAX, 4), VIRTIO_BLK_QUEUE_SIZE - 2);

	/* read sectors 2-3: the file's bytes, an MSI with the queue's vector */
	msis.n = 0;
	CHECK_EQ(request(d, VIRTIO_BLK_T_IN, 2, NULL, 0, 1024, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(ul, 1025);
	mem_read(&vm->mem, DATA, buf, 1024);
	CHECK_EQ(pread(fd, file, 1024, 1024), 1024);
	CHECK(memcmp(buf, file, 1024) == 0);
	CHECK_EQ(msis.n, 1);
	CHECK_EQ(msis.data[0], 0x31);
	CHECK_EQ(msis.addr[0], 0xfee00000);

	/* write sector 5, then the file has it */
	for (unsigned i = 0; i < 512; i++)
		buf[i] = (uint8_t)(i * 7);
	CHECK_EQ(request(d, VIRTIO_BLK_T_OUT, 5, buf, 512, 0, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(ul, 1);
	CHECK_EQ(pread(fd, file, 512, 5 * 512), 512);
	CHECK(memcmp(buf, file, 512) == 0);
	CHECK_EQ(request(d, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0, &ul), VIRTIO_BLK_S_OK);

	/* GET_ID: the image's file name */
	CHECK_EQ(request(d, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, 20, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(ul, 21);
	CHECK(memcmp(mem_ptr(&vm->mem, DATA, 20), "trivblk-", 8) == 0);

	/* discard and write zeroes: the range reads back as zeros */
	uint8_t seg[16] = { 0 };
	seg[0] = 5;                                            /* sector 5 */
	seg[8] = 1;                                            /* one sector */
	CHECK_EQ(request(d, VIRTIO_BLK_T_DISCARD, 0, seg, 16, 0, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(request(d, VIRTIO_BLK_T_IN, 5, NULL, 0, 512, &ul), VIRTIO_BLK_S_OK);
	mem_read(&vm->mem, DATA, buf, 512);
	for (unsigned i = 0; i < 512; i++)
		CHECK_EQ(buf[i], 0);
	seg[0] = 2;
	seg[8] = 2;
	seg[12] = 1;                                           /* unmap allowed */
	CHECK_EQ(request(d, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, 0, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(pread(fd, file, 1024, 2 * 512), 1024);
	for (unsigned i = 0; i < 1024; i++)
		CHECK_EQ(file[i], 0);
	seg[12] = 2;                                           /* a reserved flag */
	CHECK_EQ(request(d, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, 0, &ul), VIRTIO_BLK_S_UNSUPP);
	seg[12] = 1;                                           /* discard takes no flags */
	CHECK_EQ(request(d, VIRTIO_BLK_T_DISCARD, 0, seg, 16, 0, &ul), VIRTIO_BLK_S_UNSUPP);
	seg[12] = 0;
	seg[0] = 0xff;                                         /* sector 2047 + 2: past the end */
	seg[1] = 0x07;
	CHECK_EQ(request(d, VIRTIO_BLK_T_DISCARD, 0, seg, 16, 0, &ul), VIRTIO_BLK_S_IOERR);

	/* malformed: out of range, overflowing, odd lengths, unknown type */
	CHECK_EQ(request(d, VIRTIO_BLK_T_IN, IMG_SECTORS, NULL, 0, 512, &ul), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(d, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, NULL, 0, 1024, &ul), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(d, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, NULL, 0, 512, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(request(d, VIRTIO_BLK_T_OUT, UINT64_MAX, buf, 512, 0, &ul), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(d, VIRTIO_BLK_T_OUT, UINT64_MAX / 512 + 1, buf, 512, 0, &ul), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(d, VIRTIO_BLK_T_IN, 0, NULL, 0, 100, &ul), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(ul, 1);
	CHECK_EQ(request(d, VIRTIO_BLK_T_OUT, 0, buf, 511, 0, &ul), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(d, 99, 0, NULL, 0, 0, &ul), VIRTIO_BLK_S_UNSUPP);

	/* a header of 8 bytes: IOERR; no writable byte at all: dropped with length 0 */
	struct ring *r = &d->r;
	uint16_t before = used_idx(r);
	desc(r, 0, HDR, 8, VIRTQ_DESC_F_NEXT, 1);
	desc(r, 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	avail_add(r, 0);
	kick(d);
	CHECK_EQ(peek(vm, STATUS, 1), VIRTIO_BLK_S_IOERR);
	desc(r, 0, HDR, 16, 0, 0);
	poke(vm, STATUS, 0xee, 1);
	avail_add(r, 0);
	kick(d);
	CHECK_EQ(used_idx(r), (uint16_t)(before + 2));
	uint32_t id;
	used_elem(r, (uint16_t)(before + 1), &id, &ul);
	CHECK_EQ(ul, 0);
	CHECK_EQ(peek(vm, STATUS, 1), 0xee);
	CHECK_EQ(common_rd(d, VPCI_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

static void test_hostile(struct drv *d)
{
	/* A looping chain: NEEDS_RESET, a configuration interrupt on vector 0, notifies
	 * ignored until the driver resets the device. */
	msis.n = 0;
	bus_rd(&vm->mmio, d->bar0 + d->isr, 1);                 /* clear the queue bit */
	struct ring *r = &d->r;
	uint16_t before = used_idx(r);
	desc(r, 0, STATUS, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(r, 1, STATUS, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	avail_add(r, 0);
	kick(d);
	CHECK(common_rd(d, VPCI_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(msis.n, 1);
	CHECK_EQ(msis.data[0], 0x30);
	CHECK_EQ(bus_rd(&vm->mmio, d->bar0 + d->isr, 1), 2);   /* config change; read clears */
	CHECK_EQ(bus_rd(&vm->mmio, d->bar0 + d->isr, 1), 0);
	desc(r, 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	avail_add(r, 0);
	kick(d);
	CHECK_EQ(used_idx(r), before);
	common_wr(d, VPCI_STATUS, 1, 0);
	CHECK_EQ(common_rd(d, VPCI_STATUS, 1), 0);
	CHECK_EQ(common_rd(d, VPCI_MSIX_CONFIG, 2), VIRTIO_NO_VECTOR);
	CHECK_EQ(common_rd(d, VPCI_Q_ENABLE, 2), 0);

	/* A queue size that is not a power of two cannot be enabled. */
	common_wr(d, VPCI_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	common_wr(d, VPCI_GFSELECT, 4, 1);
	common_wr(d, VPCI_GF, 4, 1);
	common_wr(d, VPCI_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	                             VIRTIO_STATUS_FEATURES_OK);
	common_wr(d, VPCI_Q_SIZE, 2, 6);
	common_wr(d, VPCI_Q_ENABLE, 2, 1);
	CHECK_EQ(common_rd(d, VPCI_Q_ENABLE, 2), 0);
	CHECK(common_rd(d, VPCI_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);

	/* Garbage everywhere in BAR 0 at every width: nothing breaks. */
	for (uint64_t off = 0; off < VIRTIO_PCI_BAR_SIZE; off += 0x7)
		bus_wr(&vm->mmio, d->bar0 + off, 1 + (unsigned)(off % 4), 0xdeadbeefcafef00dull);
	common_wr(d, VPCI_STATUS, 1, 0);
	CHECK_EQ(common_rd(d, VPCI_STATUS, 1), 0);
	/* Notifies without bus mastering are ignored. */
	cfg_wr(d->slot, PCI_COMMAND, 2, PCI_CMD_MEM);
	driver_init(d, 1ull << VIRTIO_F_VERSION_1);
	before = used_idx(r);
	desc(r, 0, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	avail_add(r, 0);
	kick(d);
	CHECK_EQ(used_idx(r), before);
	cfg_wr(d->slot, PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_MASTER);
	kick(d);
	CHECK_EQ(used_idx(r), (uint16_t)(before + 1));
}

/* The PCI configuration access capability: a window onto BAR 0. */
static void test_pci_cfg_window(struct drv *d)
{
	unsigned c = d->pcicfg;
	cfg_wr(d->slot, c + 4, 1, 0);                          /* BAR 0 */
	cfg_wr(d->slot, c + 8, 4, d->common + VPCI_NUM_QUEUES);
	cfg_wr(d->slot, c + 12, 4, 2);
	CHECK_EQ(cfg_rd(d->slot, c + 16, 2), 1);
	cfg_wr(d->slot, c + 8, 4, d->common + VPCI_Q_SELECT);
	cfg_wr(d->slot, c + 16, 2, 0);                         /* a write through it */
	CHECK_EQ(common_rd(d, VPCI_Q_SELECT, 2), 0);
	uint64_t sel = common_rd(d, VPCI_DFSELECT, 4);
	cfg_wr(d->slot, c + 8, 4, d->common + VPCI_DFSELECT + 1);
	cfg_wr(d->slot, c + 12, 4, 4);                         /* misaligned: ignored */
	cfg_wr(d->slot, c + 16, 4, 0x12345678);
	CHECK_EQ(common_rd(d, VPCI_DFSELECT, 4), sel);
	cfg_wr(d->slot, c + 8, 4, d->common + VPCI_DFSELECT);
	cfg_wr(d->slot, c + 16, 4, 0x12345678);                /* aligned: takes */
	CHECK_EQ(common_rd(d, VPCI_DFSELECT, 4), 0x12345678);
	cfg_wr(d->slot, c + 4, 1, 5);                          /* no BAR 5: ignored */
	cfg_wr(d->slot, c + 16, 4, 0);
	CHECK_EQ(common_rd(d, VPCI_DFSELECT, 4), 0x12345678);
}

int main(void)
{
	struct err e;
	struct pci_host *h;
	char path[128], path_ro[128];
	int fd = vt_image(path, "trivblk", IMG_SECTORS);
	int fd_ro = vt_image(path_ro, "trivblk", IMG_SECTORS);
	uint8_t before[512], after[512];
	CHECK_EQ(pread(fd_ro, before, 512, 0), 512);

	vm = vt_vm(RAM);
	CHECK_EQ(pci_host_create(vm, &h, &e), 0);
	struct vm_disk_config dc = { .read_only = false }, dc_ro = { .read_only = true };
	snprintf(dc.path, sizeof(dc.path), "%s", path);
	snprintf(dc_ro.path, sizeof(dc_ro.path), "%s", path_ro);
	struct virtio_blk *b, *b_ro, *b2;
	CHECK_EQ(virtio_blk_create(vm, &dc, 0, &b, &e), 0);
	CHECK_EQ(virtio_pci_create(vm, h, &b->vdev, 0x018000, NULL, &e), 0);
	CHECK_EQ(virtio_blk_create(vm, &dc_ro, 1, &b_ro, &e), 0);
	CHECK_EQ(virtio_pci_create(vm, h, &b_ro->vdev, 0x018000, NULL, &e), 0);
	/* The same image writable twice: refused (locked). */
	CHECK(virtio_blk_create(vm, &dc, 2, &b2, &e) < 0);
	CHECK(strstr(e.msg, "in use") != NULL);
	snprintf(dc.path, sizeof(dc.path), "/nonexistent/x.img");
	CHECK(virtio_blk_create(vm, &dc, 3, &b2, &e) < 0);
	CHECK(strstr(e.msg, "/nonexistent/x.img") != NULL);

	struct drv d;
	probe(&d, 1);
	uint64_t want = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_BLK_F_FLUSH |
	                1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES |
	                1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_RO;
	uint64_t f = driver_init(&d, want);
	test_requests(&d, fd, f);
	test_pci_cfg_window(&d);
	test_hostile(&d);

	/* Read-only: RO offered, no discard; writes fail, the file is unchanged. */
	struct drv dr;
	probe(&dr, 2);
	f = driver_init(&dr, want);
	CHECK(f >> VIRTIO_BLK_F_RO & 1);
	CHECK(!(f >> VIRTIO_BLK_F_DISCARD & 1));
	uint8_t buf[512];
	memset(buf, 0x5a, sizeof(buf));
	uint32_t ul;
	CHECK_EQ(request(&dr, VIRTIO_BLK_T_OUT, 0, buf, 512, 0, &ul), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(&dr, VIRTIO_BLK_T_IN, 0, NULL, 0, 512, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(request(&dr, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(pread(fd_ro, after, 512, 0), 512);
	CHECK(memcmp(before, after, 512) == 0);
	CHECK_EQ(b_ro->st.ioerr, 1);
	CHECK(b->st.reads == 3 && b->st.writes == 1 && b->st.flushes == 1 && b->st.discards == 1);

	vt_vm_free(vm);
	close(fd);
	close(fd_ro);
	unlink(path);
	unlink(path_ro);
	return check_done();
}
