/* virtio-mmio (virtio 1.2, 4.2) driven through the MMIO bus the way Linux's virtio_mmio
 * driver drives it: identify the device, negotiate features, set up a queue with
 * QueueNum/QueueDesc/QueueDriver/QueueDevice/QueueReady, DRIVER_OK, then virtio-blk
 * requests on a temporary image file with the level-triggered interrupt line and
 * InterruptStatus/InterruptACK. Then a hostile driver: wrong widths and alignments,
 * unknown and read-only registers, writes in the wrong state, bad rings, and random
 * garbage, after each of which the line must still equal (InterruptStatus != 0).
 * Also: slots and GSIs in creation order (as the DSDT describes them), the transport
 * choice (--virtio-transport) for every device type. */
#include "vdev.h"

#include <fcntl.h>
#include <unistd.h>

#include "cli.h"
#include "hw/virtio/blk.h"
#include "hw/virtio/console.h"
#include "hw/virtio/devices.h"
#include "hw/virtio/net.h"
#include "hw/virtio/rng.h"
#include "hw/virtio/virtio_mmio.h"

#define RAM    (16 * MiB)
#define RING   0x10000
#define HDR    0x20000
#define DATA   0x30000
#define STATUS 0x40000
#define QSIZE  8
#define IMG_SECTORS 2048

static struct vm *vm;

struct drv {
	uint64_t base;
	unsigned gsi;
	struct ring r;
};

static uint32_t rd(struct drv *d, unsigned off) { return (uint32_t)bus_rd(&vm->mmio, d->base + off, 4); }
static void wr(struct drv *d, unsigned off, uint32_t v) { bus_wr(&vm->mmio, d->base + off, 4, v); }

/* Linux's vm_probe + virtio_dev_probe + vm_setup_vq order. Returns the device features. */
static uint64_t driver_init(struct drv *d, uint64_t want)
{
	CHECK_EQ(rd(d, VMMIO_MAGIC), 0x74726976);
	CHECK_EQ(rd(d, VMMIO_VERSION), 2);
	CHECK_EQ(rd(d, VMMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	CHECK_EQ(rd(d, VMMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	wr(d, VMMIO_STATUS, 0);
	CHECK_EQ(rd(d, VMMIO_STATUS), 0);
	wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(d, VMMIO_DEVICE_FEATURES_SEL, 1);
	uint64_t f = (uint64_t)rd(d, VMMIO_DEVICE_FEATURES) << 32;
	wr(d, VMMIO_DEVICE_FEATURES_SEL, 0);
	f |= rd(d, VMMIO_DEVICE_FEATURES);
	wr(d, VMMIO_DEVICE_FEATURES_SEL, 2);
	CHECK_EQ(rd(d, VMMIO_DEVICE_FEATURES), 0);
	wr(d, VMMIO_DRIVER_FEATURES_SEL, 1);
	wr(d, VMMIO_DRIVER_FEATURES, (uint32_t)((want & f) >> 32));
	wr(d, VMMIO_DRIVER_FEATURES_SEL, 0);
	wr(d, VMMIO_DRIVER_FEATURES, (uint32_t)(want & f));
	wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	CHECK(rd(d, VMMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);

	wr(d, VMMIO_QUEUE_SEL, 1);
	CHECK_EQ(rd(d, VMMIO_QUEUE_NUM_MAX), 0);                /* no queue 1 */
	CHECK_EQ(rd(d, VMMIO_QUEUE_READY), 0);
	wr(d, VMMIO_QUEUE_SEL, 0);
	CHECK_EQ(rd(d, VMMIO_QUEUE_READY), 0);
	CHECK_EQ(rd(d, VMMIO_QUEUE_NUM_MAX), VIRTIO_BLK_QUEUE_SIZE);
	ring_init(&d->r, vm, RING, QSIZE);
	wr(d, VMMIO_QUEUE_NUM, QSIZE);
	wr(d, VMMIO_QUEUE_DESC_LOW, (uint32_t)d->r.desc);
	wr(d, VMMIO_QUEUE_DESC_HIGH, (uint32_t)(d->r.desc >> 32));
	wr(d, VMMIO_QUEUE_DRIVER_LOW, (uint32_t)d->r.avail);
	wr(d, VMMIO_QUEUE_DRIVER_HIGH, (uint32_t)(d->r.avail >> 32));
	wr(d, VMMIO_QUEUE_DEVICE_LOW, (uint32_t)d->r.used);
	wr(d, VMMIO_QUEUE_DEVICE_HIGH, (uint32_t)(d->r.used >> 32));
	wr(d, VMMIO_QUEUE_READY, 1);
	CHECK_EQ(rd(d, VMMIO_QUEUE_READY), 1);
	wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	                    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(rd(d, VMMIO_STATUS), 0x0f);
	return f;
}

static void notify_queue0(void *d) { wr(d, VMMIO_QUEUE_NOTIFY, 0); }

/* One request on descriptors 0..2, notified through QueueNotify. Returns the status
 * byte, or -1 if no used entry came back. */
static int request(struct drv *d, uint32_t type, uint64_t sector, const void *out,
                   uint32_t out_len, uint32_t in_len, uint32_t *used_len)
{
	return vt_blk_request(&d->r, (struct vt_blk_bufs){ HDR, DATA, STATUS }, notify_queue0, d,
	                      type, sector, out, out_len, in_len, used_len);
}

/* The line is high exactly while InterruptStatus is non-zero. */
static void check_line(struct drv *d)
{
	CHECK_EQ(irq_level(vm, d->gsi), rd(d, VMMIO_INTERRUPT_STATUS) != 0);
}

/* Linux's vm_interrupt: read the status, acknowledge what it read. */
static uint32_t irq_handler(struct drv *d)
{
	uint32_t st = rd(d, VMMIO_INTERRUPT_STATUS);
	wr(d, VMMIO_INTERRUPT_ACK, st);
	return st;
}

static void test_handshake_and_requests(struct drv *d, struct virtio_blk *b, int fd)
{
	uint8_t buf[1024], file[1024];
	uint32_t ul;

	uint64_t f = driver_init(d, 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_BLK_F_FLUSH);
	CHECK(f >> VIRTIO_F_VERSION_1 & 1);
	CHECK(f >> VIRTIO_BLK_F_FLUSH & 1);
	CHECK_EQ(b->vdev.driver_features, 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_BLK_F_FLUSH);
	CHECK_EQ(b->vdev.vqs[0].desc, RING);
	CHECK_EQ(b->vdev.vqs[0].size, QSIZE);

	/* Configuration space at 0x100: capacity as two 32-bit halves and byte by byte. */
	CHECK_EQ(rd(d, VMMIO_CONFIG + VBLK_CFG_CAPACITY), IMG_SECTORS);
	CHECK_EQ(rd(d, VMMIO_CONFIG + VBLK_CFG_CAPACITY + 4), 0);
	CHECK_EQ(bus_rd(&vm->mmio, d->base + VMMIO_CONFIG + VBLK_CFG_CAPACITY + 1, 1), IMG_SECTORS >> 8);
	CHECK_EQ(rd(d, VMMIO_CONFIG + VBLK_CFG_BLK_SIZE), 512);
	CHECK_EQ(rd(d, VMMIO_CONFIG + 0xf0), 0);                /* past its end */
	uint32_t gen = rd(d, VMMIO_CONFIG_GENERATION);

	/* A read: the file's bytes, the queue's interrupt bit, the line up until acked. */
	CHECK_EQ(irq_level(vm, d->gsi), 0);
	CHECK_EQ(request(d, VIRTIO_BLK_T_IN, 2, NULL, 0, 1024, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(ul, 1025);
	mem_read(&vm->mem, DATA, buf, 1024);
	CHECK_EQ(pread(fd, file, 1024, 1024), 1024);
	CHECK(memcmp(buf, file, 1024) == 0);
	CHECK_EQ(rd(d, VMMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	CHECK_EQ(irq_level(vm, d->gsi), 1);
	CHECK_EQ(irq_level(vm, d->gsi + 1), 0);
	/* A second request while the line is up: no new edge, the status stays. */
	unsigned long changes = irq_changes;
	for (unsigned i = 0; i < 512; i++)
		buf[i] = (uint8_t)(i * 13);
	CHECK_EQ(request(d, VIRTIO_BLK_T_OUT, 7, buf, 512, 0, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(irq_changes, changes);
	CHECK_EQ(pread(fd, file, 512, 7 * 512), 512);
	CHECK(memcmp(buf, file, 512) == 0);
	CHECK_EQ(irq_handler(d), VIRTIO_MMIO_INT_VRING);
	CHECK_EQ(irq_level(vm, d->gsi), 0);
	CHECK_EQ(rd(d, VMMIO_INTERRUPT_STATUS), 0);
	CHECK_EQ(request(d, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(irq_handler(d), VIRTIO_MMIO_INT_VRING);
	CHECK(b->st.reads == 1 && b->st.writes == 1 && b->st.flushes == 1);

	/* The driver asks for no interrupts (VIRTQ_AVAIL_F_NO_INTERRUPT): none comes. */
	poke(vm, d->r.avail, VIRTQ_AVAIL_F_NO_INTERRUPT, 2);
	CHECK_EQ(request(d, VIRTIO_BLK_T_IN, 0, NULL, 0, 512, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(rd(d, VMMIO_INTERRUPT_STATUS), 0);
	CHECK_EQ(irq_level(vm, d->gsi), 0);
	poke(vm, d->r.avail, 0, 2);

	/* A configuration change: bit 1, a new generation. Acking bit 0 only leaves the
	 * line up; acking bit 1 lowers it. */
	virtio_config_changed(&b->vdev);
	CHECK_EQ(rd(d, VMMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	CHECK(rd(d, VMMIO_CONFIG_GENERATION) != gen);
	wr(d, VMMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	CHECK_EQ(irq_level(vm, d->gsi), 1);
	wr(d, VMMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	CHECK_EQ(irq_level(vm, d->gsi), 0);

	/* QueueReady = 0 (Linux's vm_del_vq): the device stops using the queue. */
	unsigned long ignored = b->vdev.ignored_notifies;
	wr(d, VMMIO_QUEUE_READY, 0);
	CHECK_EQ(rd(d, VMMIO_QUEUE_READY), 0);
	CHECK_EQ(request(d, VIRTIO_BLK_T_IN, 0, NULL, 0, 512, &ul), -1);
	CHECK_EQ(b->vdev.ignored_notifies, ignored + 1);
	CHECK_EQ(irq_level(vm, d->gsi), 0);

	/* Reset clears InterruptStatus (and lowers the line) and every QueueReady. */
	driver_init(d, 1ull << VIRTIO_F_VERSION_1);
	CHECK_EQ(request(d, VIRTIO_BLK_T_IN, 0, NULL, 0, 512, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(irq_level(vm, d->gsi), 1);
	wr(d, VMMIO_QUEUE_SEL, 3);
	wr(d, VMMIO_STATUS, 0);
	CHECK_EQ(rd(d, VMMIO_STATUS), 0);
	CHECK_EQ(rd(d, VMMIO_INTERRUPT_STATUS), 0);
	CHECK_EQ(irq_level(vm, d->gsi), 0);
	CHECK_EQ(rd(d, VMMIO_QUEUE_NUM_MAX), VIRTIO_BLK_QUEUE_SIZE);  /* QueueSel back to 0 */
	CHECK_EQ(rd(d, VMMIO_QUEUE_READY), 0);
	CHECK_EQ(b->vdev.driver_features, 0);
}

static void test_hostile(struct drv *d, struct virtio_blk *b, struct virtio_mmio *t)
{
	uint32_t ul;
	driver_init(d, 1ull << VIRTIO_F_VERSION_1);

	/* Control registers take aligned 32-bit accesses only: others read 0, write
	 * nothing, and are counted. */
	unsigned long bad = t->bad_accesses;
	CHECK_EQ(bus_rd(&vm->mmio, d->base + VMMIO_MAGIC, 1), 0);
	CHECK_EQ(bus_rd(&vm->mmio, d->base + VMMIO_MAGIC, 2), 0);
	CHECK_EQ(bus_rd(&vm->mmio, d->base + VMMIO_MAGIC, 8), 0);
	CHECK_EQ(bus_rd(&vm->mmio, d->base + VMMIO_MAGIC + 2, 4), 0);
	bus_wr(&vm->mmio, d->base + VMMIO_STATUS, 1, 0);
	bus_wr(&vm->mmio, d->base + VMMIO_STATUS, 8, 0);
	bus_wr(&vm->mmio, d->base + VMMIO_STATUS + 1, 4, 0);
	CHECK_EQ(rd(d, VMMIO_STATUS), 0x0f);
	CHECK_EQ(t->bad_accesses, bad + 7);
	/* Unknown, write-only and read-only registers. */
	CHECK_EQ(rd(d, 0x018), 0);
	CHECK_EQ(rd(d, VMMIO_QUEUE_NUM), 0);
	CHECK_EQ(rd(d, VMMIO_QUEUE_NOTIFY), 0);
	wr(d, VMMIO_MAGIC, 0);
	wr(d, VMMIO_DEVICE_ID, 7);
	wr(d, VMMIO_INTERRUPT_STATUS, 3);
	wr(d, VMMIO_QUEUE_RESET, 1);                               /* RING_RESET not offered */
	CHECK_EQ(rd(d, VMMIO_MAGIC), VIRTIO_MMIO_MAGIC);
	CHECK_EQ(rd(d, VMMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	CHECK_EQ(t->bad_accesses, bad + 14);
	/* No shared memory regions: length -1. */
	wr(d, VMMIO_SHM_SEL, 0);
	CHECK_EQ(rd(d, VMMIO_SHM_LEN_LOW), 0xffffffffu);
	CHECK_EQ(rd(d, VMMIO_SHM_LEN_HIGH), 0xffffffffu);

	/* Writes the state does not allow are ignored and counted: ring setup while the
	 * queue is ready, features after FEATURES_OK, out-of-range values. */
	unsigned long ign = t->ignored_writes;
	wr(d, VMMIO_QUEUE_NUM, 4);
	wr(d, VMMIO_QUEUE_DESC_LOW, 0x1234);
	wr(d, VMMIO_QUEUE_DEVICE_HIGH, 1);
	wr(d, VMMIO_DRIVER_FEATURES, 0xffffffff);
	wr(d, VMMIO_QUEUE_READY, 2);
	wr(d, VMMIO_STATUS, 0x100);
	CHECK_EQ(t->ignored_writes, ign + 6);
	CHECK_EQ(b->vdev.vqs[0].size, QSIZE);
	CHECK_EQ(b->vdev.vqs[0].desc, RING);
	CHECK_EQ(b->vdev.vqs[0].used, d->r.used);
	CHECK_EQ(b->vdev.driver_features, 1ull << VIRTIO_F_VERSION_1);
	CHECK_EQ(rd(d, VMMIO_STATUS), 0x0f);
	/* A queue that does not exist: reads 0, writes ignored, notifies counted. */
	wr(d, VMMIO_QUEUE_SEL, 0xffffffff);
	CHECK_EQ(rd(d, VMMIO_QUEUE_NUM_MAX), 0);
	wr(d, VMMIO_QUEUE_NUM, 8);
	wr(d, VMMIO_QUEUE_READY, 1);
	wr(d, VMMIO_QUEUE_DRIVER_LOW, 0);
	CHECK_EQ(t->ignored_writes, ign + 9);
	CHECK_EQ(rd(d, VMMIO_QUEUE_READY), 0);
	unsigned long ignored = b->vdev.ignored_notifies;
	wr(d, VMMIO_QUEUE_NOTIFY, 1);
	wr(d, VMMIO_QUEUE_NOTIFY, 0xffffffff);
	CHECK_EQ(b->vdev.ignored_notifies, ignored + 2);
	wr(d, VMMIO_QUEUE_SEL, 0);
	/* Acknowledging bits that are not set changes nothing. */
	wr(d, VMMIO_INTERRUPT_ACK, 0xfffffffc);
	check_line(d);
	/* Configuration space writes (read-only for blk) and accesses past its end. */
	bus_wr(&vm->mmio, d->base + VMMIO_CONFIG, 8, ~0ull);
	bus_wr(&vm->mmio, d->base + VIRTIO_MMIO_SIZE - 1, 1, 0xff);
	CHECK_EQ(rd(d, VMMIO_CONFIG), IMG_SECTORS);
	CHECK_EQ(bus_rd(&vm->mmio, d->base + VIRTIO_MMIO_SIZE - 8, 8), 0);
	/* An access straddling the window's end is not the device's. */
	unsigned long unclaimed = vm->mmio.unclaimed_reads;
	CHECK_EQ(bus_rd(&vm->mmio, d->base + VIRTIO_MMIO_SIZE - 2, 4), 0xffffffffu);
	CHECK_EQ(vm->mmio.unclaimed_reads, unclaimed + 1);

	/* A looping chain: NEEDS_RESET, a configuration interrupt on the line. */
	CHECK_EQ(request(d, VIRTIO_BLK_T_IN, 0, NULL, 0, 512, &ul), VIRTIO_BLK_S_OK);
	irq_handler(d);
	desc(&d->r, 0, STATUS, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(&d->r, 1, STATUS, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	avail_add(&d->r, 0);
	wr(d, VMMIO_QUEUE_NOTIFY, 0);
	CHECK(rd(d, VMMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(rd(d, VMMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	CHECK_EQ(irq_level(vm, d->gsi), 1);
	CHECK_EQ(request(d, VIRTIO_BLK_T_IN, 0, NULL, 0, 512, &ul), -1);
	wr(d, VMMIO_STATUS, 0);
	CHECK_EQ(irq_level(vm, d->gsi), 0);

	/* Rings the device cannot use: QueueReady fails and the device needs a reset. */
	static const struct { uint32_t num; uint64_t desc; } bad_rings[] = {
		{ 6, RING },                       /* not a power of two */
		{ 512, RING },                     /* above QueueNumMax */
		{ 0, RING },
		{ QSIZE, RING + 8 },               /* misaligned */
		{ QSIZE, RAM - 64 },               /* runs past the end of RAM */
		{ QSIZE, 0xfffffffffffff000ull },  /* nowhere near RAM */
	};
	for (unsigned i = 0; i < sizeof(bad_rings) / sizeof(bad_rings[0]); i++) {
		wr(d, VMMIO_STATUS, 0);
		wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
		wr(d, VMMIO_DRIVER_FEATURES_SEL, 1);
		wr(d, VMMIO_DRIVER_FEATURES, 1);
		wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		                    VIRTIO_STATUS_FEATURES_OK);
		wr(d, VMMIO_QUEUE_NUM, bad_rings[i].num);
		wr(d, VMMIO_QUEUE_DESC_LOW, (uint32_t)bad_rings[i].desc);
		wr(d, VMMIO_QUEUE_DESC_HIGH, (uint32_t)(bad_rings[i].desc >> 32));
		wr(d, VMMIO_QUEUE_DRIVER_LOW, (uint32_t)d->r.avail);
		wr(d, VMMIO_QUEUE_DEVICE_LOW, (uint32_t)d->r.used);
		wr(d, VMMIO_QUEUE_READY, 1);
		CHECK_EQ(rd(d, VMMIO_QUEUE_READY), 0);
		CHECK(rd(d, VMMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	}
	/* DRIVER_OK without FEATURES_OK: the device needs a reset, and says so. */
	wr(d, VMMIO_STATUS, 0);
	wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	CHECK(rd(d, VMMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	check_line(d);
	wr(d, VMMIO_STATUS, 0);
	check_line(d);
}

static uint64_t seed = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void) { return check_xorshift(&seed); }

/* Random register traffic: mostly aligned 32-bit accesses to real registers with
 * plausible values (so that queues do come up and requests do run), the rest anything.
 * After every access the line must equal (InterruptStatus != 0). */
static void test_random(struct drv *d)
{
	static const unsigned regs[] = {
		VMMIO_DEVICE_FEATURES_SEL, VMMIO_DRIVER_FEATURES, VMMIO_DRIVER_FEATURES_SEL,
		VMMIO_QUEUE_SEL, VMMIO_QUEUE_NUM, VMMIO_QUEUE_READY, VMMIO_QUEUE_NOTIFY,
		VMMIO_INTERRUPT_ACK, VMMIO_STATUS, VMMIO_QUEUE_DESC_LOW, VMMIO_QUEUE_DESC_HIGH,
		VMMIO_QUEUE_DRIVER_LOW, VMMIO_QUEUE_DRIVER_HIGH, VMMIO_QUEUE_DEVICE_LOW,
		VMMIO_QUEUE_DEVICE_HIGH,
	};
	ring_init(&d->r, vm, RING, QSIZE);
	for (unsigned i = 0; i < 20000; i++) {
		uint64_t x = rnd();
		unsigned off, size = 4;
		uint64_t val = rnd();
		if (x & 7) {
			off = regs[(x >> 3) % (sizeof(regs) / sizeof(regs[0]))];
			switch ((x >> 8) % 4) {
			case 0: val &= 0xff; break;
			case 1: val = (x >> 12) % 4 == 0 ? RING : (RING + 16 * QSIZE); break;
			case 2: val = QSIZE; break;
			default: break;
			}
			if (off == VMMIO_STATUS && (x & 0x10000))
				val = 0x0f;
		} else {
			off = (unsigned)(rnd() % VIRTIO_MMIO_SIZE);
			size = 1u << (rnd() % 4);
		}
		if (off + size > VIRTIO_MMIO_SIZE)
			off = VIRTIO_MMIO_SIZE - size;
		if (x & 0x20000) {
			bus_rd(&vm->mmio, d->base + off, size);
		} else {
			bus_wr(&vm->mmio, d->base + off, size, val);
			/* sometimes a plausible request for the queue */
			if ((x & 0x1c0000) == 0) {
				desc(&d->r, (uint16_t)(rnd() % QSIZE), HDR, 16, VIRTQ_DESC_F_NEXT,
				     (uint16_t)(rnd() % QSIZE));
				desc(&d->r, (uint16_t)(rnd() % QSIZE), STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
				avail_add(&d->r, (uint16_t)(rnd() % QSIZE));
			}
		}
		check_line(d);
	}
	wr(d, VMMIO_STATUS, 0);
	check_line(d);
}

/* Every device type on the transport the configuration chose, in creation order:
 * slot i at its window and GSI, the devices' locks the transport's. */
static void test_attach(const char *path)
{
	struct vm *v2 = vt_vm(RAM);
	struct err e;
	v2->cfg.virtio_transport = VM_VIRTIO_MMIO;
	struct vm_disk_config dc = { .read_only = true };
	snprintf(dc.path, sizeof(dc.path), "%s", path);
	struct virtio_blk *b;
	struct virtio_rng *r;
	struct virtio_net *n;
	struct virtio_console *c;
	pthread_mutex_t *lock = NULL;
	CHECK_EQ(virtio_blk_create(v2, &dc, 0, &b, &e), 0);
	CHECK_EQ(virtio_attach(v2, NULL, &b->vdev, 0, &lock, &e), 0);
	CHECK_EQ(virtio_rng_create(v2, &r, &e), 0);
	CHECK_EQ(virtio_attach(v2, NULL, &r->vdev, 0, NULL, &e), 0);
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 1, 2, 3 };
	CHECK_EQ(virtio_net_create(v2, mac, &n, &e), 0);
	CHECK_EQ(virtio_attach(v2, NULL, &n->vdev, 0, &n->lock, &e), 0);
	CHECK_EQ(virtio_console_create(v2, -1, &c, &e), 0);
	CHECK_EQ(virtio_attach(v2, NULL, &c->vdev, 0, &c->lock, &e), 0);
	static const uint16_t ids[] = { VIRTIO_ID_BLOCK, VIRTIO_ID_RNG, VIRTIO_ID_NET, VIRTIO_ID_CONSOLE };
	for (unsigned i = 0; i < 4; i++) {
		struct drv d = { .base = virtio_mmio_slot_base(i), .gsi = virtio_mmio_slot_gsi(i) };
		CHECK_EQ(d.base, 0xfeb00000u + 0x200 * i);
		CHECK_EQ(d.gsi, 16 + i);
		CHECK_EQ(bus_rd(&v2->mmio, d.base + VMMIO_DEVICE_ID, 4), ids[i]);
		CHECK_EQ(bus_rd(&v2->mmio, d.base + VMMIO_MAGIC, 4), VIRTIO_MMIO_MAGIC);
	}
	CHECK(lock == &((struct virtio_mmio *)b->vdev.transport)->lock);
	CHECK(n->lock == &((struct virtio_mmio *)n->vdev.transport)->lock);
	CHECK(c->lock == &((struct virtio_mmio *)c->vdev.transport)->lock);
	CHECK_EQ(((struct virtio_mmio *)c->vdev.transport)->gsi, 19);
	/* The net MAC in the configuration space at 0x100. */
	CHECK_EQ(bus_rd(&v2->mmio, virtio_mmio_slot_base(2) + VMMIO_CONFIG + 3, 1), 1);
	/* The slots run out after VIRTIO_MMIO_SLOTS devices. */
	for (unsigned i = 4; i < VIRTIO_MMIO_SLOTS; i++) {
		CHECK_EQ(virtio_rng_create(v2, &r, &e), 0);
		CHECK_EQ(virtio_attach(v2, NULL, &r->vdev, 0, NULL, &e), 0);
	}
	CHECK_EQ(virtio_rng_create(v2, &r, &e), 0);
	CHECK(virtio_attach(v2, NULL, &r->vdev, 0, NULL, &e) < 0);
	CHECK(strstr(e.msg, "virtio-mmio") != NULL);
	vt_vm_free(v2);
}

/* --virtio-transport and the device count the DSDT gets. */
static void test_cli(void)
{
	struct cli c;
	struct err e;
	char *argv[24] = { "trivisor", "run", "-k", "k" };
	CHECK_EQ(cli_parse(4, argv, &c, &e), 0);
	CHECK_EQ(c.cfg.virtio_transport, VM_VIRTIO_PCI);
	argv[4] = "--virtio-transport";
	argv[5] = "mmio";
	CHECK_EQ(cli_parse(6, argv, &c, &e), 0);
	CHECK_EQ(c.cfg.virtio_transport, VM_VIRTIO_MMIO);
	CHECK_EQ(virtio_mmio_device_count(&c.cfg), 0);
	argv[5] = "pci";
	CHECK_EQ(cli_parse(6, argv, &c, &e), 0);
	CHECK_EQ(c.cfg.virtio_transport, VM_VIRTIO_PCI);
	argv[5] = "isa";
	CHECK(cli_parse(6, argv, &c, &e) < 0);
	CHECK(strstr(e.msg, "pci or mmio") != NULL);
	/* 8 devices fit (one GSI each), 9 do not: a usage error before anything starts. */
	argv[5] = "mmio";
	int n = 6;
	for (int i = 0; i < 6; i++) {
		argv[n++] = "--disk";
		argv[n++] = "x.img";
	}
	argv[n++] = "--rng";
	argv[n++] = "--console";
	argv[n++] = "virtio";
	CHECK_EQ(cli_parse(n, argv, &c, &e), 0);
	CHECK_EQ(virtio_mmio_device_count(&c.cfg), 8);
	argv[n++] = "--net";
	argv[n++] = "user";
	CHECK(cli_parse(n, argv, &c, &e) < 0);
	CHECK(strstr(e.msg, "at most 8") != NULL);
	argv[5] = "pci";                       /* the same devices on PCI: fine */
	CHECK_EQ(cli_parse(n, argv, &c, &e), 0);
	CHECK_EQ(virtio_device_count(&c.cfg), 9);
	CHECK_EQ(virtio_mmio_device_count(&c.cfg), 0);
}

int main(void)
{
	struct err e;
	char path[128];
	int fd = vt_image(path, "trivmmio", IMG_SECTORS);

	vm = vt_vm(RAM);
	vm->cfg.virtio_transport = VM_VIRTIO_MMIO;
	struct vm_disk_config dc = { .read_only = false };
	snprintf(dc.path, sizeof(dc.path), "%s", path);
	struct virtio_blk *b;
	struct virtio_mmio *t;
	CHECK_EQ(virtio_blk_create(vm, &dc, 0, &b, &e), 0);
	CHECK_EQ(virtio_mmio_create(vm, &b->vdev, &t, &e), 0);
	CHECK_EQ(t->slot, 0);
	struct drv d = { .base = t->base, .gsi = t->gsi };
	CHECK_EQ(d.base, VIRTIO_MMIO_BASE);
	CHECK_EQ(d.gsi, VIRTIO_MMIO_GSI_BASE);

	test_handshake_and_requests(&d, b, fd);
	test_hostile(&d, b, t);
	test_random(&d);
	/* Still a working device after all that. */
	uint32_t ul;
	driver_init(&d, 1ull << VIRTIO_F_VERSION_1);
	CHECK_EQ(request(&d, VIRTIO_BLK_T_IN, 0, NULL, 0, 512, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(irq_handler(&d), VIRTIO_MMIO_INT_VRING);
	vt_vm_free(vm);

	test_attach(path);
	test_cli();
	close(fd);
	unlink(path);
	return check_done();
}
