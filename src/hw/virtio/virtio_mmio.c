/* virtio-mmio transport (see virtio_mmio.h). The register handler runs under the
 * transport's lock, as does every host-side call into the device (net.h, console.h),
 * so the interrupt line's level always matches InterruptStatus. */
#include "virtio_mmio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/snap.h"
#include "core/vm.h"

static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static struct virtq *selected(struct virtio_mmio *t)
{
	return t->queue_sel < t->vdev->nqueues ? &t->vdev->vqs[t->queue_sel] : NULL;
}

/* Level-triggered: the line is high exactly while some InterruptStatus bit is set. */
static void update_line(struct virtio_mmio *t)
{
	bool level = t->vdev->isr != 0;
	if (level != t->line) {
		t->line = level;
		vm_set_irq(t->vm, t->gsi, level);
	}
}

/* The core's interrupt request: it has already set the InterruptStatus bit. */
static void interrupt(void *opaque, int q)
{
	update_line(opaque);
}

static void transport_reset(struct virtio_mmio *t)
{
	t->dfsel = t->gfsel = 0;
	t->queue_sel = 0;
	update_line(t);      /* the core cleared InterruptStatus */
}

static uint32_t reg_read(struct virtio_mmio *t, unsigned off)
{
	struct virtio_dev *v = t->vdev;
	struct virtq *q = selected(t);

	switch (off) {
	case VMMIO_MAGIC: return VIRTIO_MMIO_MAGIC;
	case VMMIO_VERSION: return VIRTIO_MMIO_VERSION;
	case VMMIO_DEVICE_ID: return v->device_id;
	case VMMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
	case VMMIO_DEVICE_FEATURES: return virtio_features_word(v, t->dfsel);
	case VMMIO_QUEUE_NUM_MAX: return q ? q->max_size : 0;  /* 0: no such queue */
	case VMMIO_QUEUE_READY: return q ? q->enabled : 0;
	case VMMIO_INTERRUPT_STATUS: return v->isr;
	case VMMIO_STATUS: return v->status;
	/* No shared memory regions: every region reads length -1 (4.2.2). */
	case VMMIO_SHM_LEN_LOW: case VMMIO_SHM_LEN_HIGH:
	case VMMIO_SHM_BASE_LOW: case VMMIO_SHM_BASE_HIGH: return 0xffffffffu;
	case VMMIO_CONFIG_GENERATION: return v->config_generation;
	default:     /* write-only or unknown */
		t->bad_accesses++;
		return 0;
	}
}

/* Replace the low or high half of a 64-bit value. */
static uint64_t half(uint64_t old, bool high, uint32_t val)
{
	return high ? (old & 0xffffffffull) | (uint64_t)val << 32
	            : (old & ~0xffffffffull) | val;
}

/* A ring address register: allowed while the selected queue is not ready. */
static void ring_addr_write(struct virtio_mmio *t, unsigned off, uint32_t val)
{
	struct virtq *q = selected(t);
	if (!q || q->enabled) {
		t->ignored_writes++;
		return;
	}
	uint64_t desc = q->desc, avail = q->avail, used = q->used;
	switch (off & ~4u) {
	case VMMIO_QUEUE_DESC_LOW: desc = half(desc, off & 4, val); break;
	case VMMIO_QUEUE_DRIVER_LOW: avail = half(avail, off & 4, val); break;
	default: used = half(used, off & 4, val); break;
	}
	virtio_queue_set_addr(t->vdev, t->queue_sel, desc, avail, used);
}

static void reg_write(struct virtio_mmio *t, unsigned off, uint32_t val)
{
	struct virtio_dev *v = t->vdev;
	struct virtq *q = selected(t);

	switch (off) {
	case VMMIO_DEVICE_FEATURES_SEL: t->dfsel = val; break;
	case VMMIO_DRIVER_FEATURES_SEL: t->gfsel = val; break;
	case VMMIO_DRIVER_FEATURES:
		if (t->gfsel > 1 || (v->status & VIRTIO_STATUS_FEATURES_OK))
			t->ignored_writes++;
		else
			virtio_set_driver_features(v, t->gfsel, val);
		break;
	case VMMIO_QUEUE_SEL: t->queue_sel = val; break;
	case VMMIO_QUEUE_NUM:
		if (!q || q->enabled || val > 0xffff)
			t->ignored_writes++;
		else
			virtio_queue_set_size(v, t->queue_sel, (uint16_t)val);
		break;
	case VMMIO_QUEUE_READY:
		if (!q || val > 1)
			t->ignored_writes++;
		else if (val)
			virtio_queue_enable(v, t->queue_sel);   /* a bad layout needs a reset */
		else
			virtio_queue_disable(v, t->queue_sel);
		break;
	case VMMIO_QUEUE_NOTIFY:
		virtio_queue_notify(v, val);     /* the core counts notifies it cannot serve */
		break;
	case VMMIO_INTERRUPT_ACK:
		v->isr &= (uint8_t)~val;
		update_line(t);
		break;
	case VMMIO_STATUS:
		if (val > 0xff) {
			t->ignored_writes++;
			break;
		}
		virtio_set_status(v, (uint8_t)val);
		if (val == 0)
			transport_reset(t);
		break;
	case VMMIO_QUEUE_DESC_LOW: case VMMIO_QUEUE_DESC_HIGH:
	case VMMIO_QUEUE_DRIVER_LOW: case VMMIO_QUEUE_DRIVER_HIGH:
	case VMMIO_QUEUE_DEVICE_LOW: case VMMIO_QUEUE_DEVICE_HIGH:
		ring_addr_write(t, off, val);
		break;
	case VMMIO_SHM_SEL:
		break;           /* any region: none exists */
	default:             /* read-only, unknown, or QueueReset (VIRTIO_F_RING_RESET not offered) */
		t->bad_accesses++;
		break;
	}
}

/* The bus handler. The driver must use aligned 32-bit accesses for the control
 * registers (4.2.2.2); the configuration space takes any width. */
static void mmio_io(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct virtio_mmio *t = opaque;

	pthread_mutex_lock(&t->lock);
	if (off >= VMMIO_CONFIG) {
		if (is_write)
			virtio_config_write(t->vdev, off - VMMIO_CONFIG, data, size);
		else
			virtio_config_read(t->vdev, off - VMMIO_CONFIG, data, size);
	} else if (size != 4 || (off & 3)) {
		t->bad_accesses++;
		if (!is_write)
			memset(data, 0, size);
	} else if (is_write) {
		reg_write(t, (unsigned)off, get32(data));
	} else {
		put32(data, reg_read(t, (unsigned)off));
	}
	pthread_mutex_unlock(&t->lock);
}

/* Snapshots: the selectors, then the device's virtio state; the line follows the ISR. */
static int snap_save(void *opaque, struct snap_writer *w)
{
	struct virtio_mmio *t = opaque;
	snap_put_u32(w, t->dfsel);
	snap_put_u32(w, t->gfsel);
	snap_put_u32(w, t->queue_sel);
	virtio_save(t->vdev, w);
	return 0;
}

static int snap_load(void *opaque, struct snap_reader *r)
{
	struct virtio_mmio *t = opaque;
	t->dfsel = snap_get_u32(r);
	t->gfsel = snap_get_u32(r);
	t->queue_sel = snap_get_u32(r);
	if (snap_status(r) || virtio_load(t->vdev, r))
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	update_line(t);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static void destroy(void *opaque)
{
	struct virtio_mmio *t = opaque;
	if (t->bad_accesses || t->ignored_writes)
		log_info("virtio-mmio", "%s: refused %lu bad accesses, ignored %lu writes",
		         t->vdev->name, t->bad_accesses, t->ignored_writes);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int virtio_mmio_create(struct vm *vm, struct virtio_dev *vdev, struct virtio_mmio **out,
                       struct err *e)
{
	unsigned slot = 0;
	int r;

	while (slot < VIRTIO_MMIO_SLOTS && bus_find(&vm->mmio, virtio_mmio_slot_base(slot)))
		slot++;
	if (slot == VIRTIO_MMIO_SLOTS)
		return err_set(e, ENOSPC, "%s: no free virtio-mmio slot (at most %u devices)",
		               vdev->name, VIRTIO_MMIO_SLOTS);
	struct virtio_mmio *t = calloc(1, sizeof(*t));
	if (!t)
		return err_set(e, ENOMEM, "out of memory");
	pthread_mutex_init(&t->lock, NULL);
	if ((r = vm_add_device(vm, t, destroy, e))) {
		pthread_mutex_destroy(&t->lock);
		free(t);
		return r;
	}
	t->vm = vm;
	t->vdev = vdev;
	t->slot = slot;
	t->base = virtio_mmio_slot_base(slot);
	t->gsi = virtio_mmio_slot_gsi(slot);
	snprintf(t->snap_name, sizeof(t->snap_name), "virtio-mmio.%s", vdev->name);
	vm_set_device_snapshot(vm, t, t->snap_name, snap_save, snap_load);
	if ((r = bus_register(&vm->mmio, t->base, VIRTIO_MMIO_SIZE, mmio_io, t, vdev->name, e)))
		return r;
	vdev->interrupt = interrupt;
	vdev->transport = t;
	if (out)
		*out = t;
	return 0;
}
