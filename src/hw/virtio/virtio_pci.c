/* virtio-pci modern transport (see virtio_pci.h). Every handler here runs with the
 * PCI device's lock held (BAR accesses and configuration hooks), which serializes
 * everything that touches the virtio device. */
#include "virtio_pci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/snap.h"
#include "core/vm.h"

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

static struct virtq *selected(struct virtio_pci *t)
{
	return t->queue_select < t->vdev->nqueues ? &t->vdev->vqs[t->queue_select] : NULL;
}

static void common_snapshot(struct virtio_pci *t, uint8_t b[VIRTIO_PCI_COMMON_LEN])
{
	struct virtio_dev *v = t->vdev;
	struct virtq *q = selected(t);

	memset(b, 0, VIRTIO_PCI_COMMON_LEN);
	put32(b + VPCI_DFSELECT, t->dfselect);
	put32(b + VPCI_DF, virtio_features_word(v, t->dfselect));
	put32(b + VPCI_GFSELECT, t->gfselect);
	put32(b + VPCI_GF, virtio_driver_features_word(v, t->gfselect));
	put16(b + VPCI_MSIX_CONFIG, t->config_vector);
	put16(b + VPCI_NUM_QUEUES, (uint16_t)v->nqueues);
	b[VPCI_STATUS] = v->status;
	b[VPCI_CFG_GEN] = v->config_generation;
	put16(b + VPCI_Q_SELECT, t->queue_select);
	put16(b + VPCI_Q_MSIX, VIRTIO_NO_VECTOR);
	if (q) {     /* a queue that does not exist reads size 0 (4.1.4.3) */
		put16(b + VPCI_Q_SIZE, q->size);
		put16(b + VPCI_Q_MSIX, t->queue_vector[t->queue_select]);
		put16(b + VPCI_Q_ENABLE, q->enabled);
		put16(b + VPCI_Q_NOFF, t->queue_select);
		put64(b + VPCI_Q_DESC, q->desc);
		put64(b + VPCI_Q_AVAIL, q->avail);
		put64(b + VPCI_Q_USED, q->used);
	}
}

/* A vector the table has, or NO_VECTOR: what the driver reads back tells it whether
 * the mapping took (4.1.5.1.2). */
static uint16_t vector(struct virtio_pci *t, uint16_t v)
{
	return v < t->msix.nvec ? v : VIRTIO_NO_VECTOR;
}

static void transport_reset(struct virtio_pci *t)
{
	t->dfselect = t->gfselect = 0;
	t->queue_select = 0;
	t->config_vector = VIRTIO_NO_VECTOR;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		t->queue_vector[i] = VIRTIO_NO_VECTOR;
}

/* A write of any width at any offset: lay it over the current values, then apply each
 * field it touched, in offset order. */
static void common_write(struct virtio_pci *t, unsigned off, const uint8_t *data, unsigned size)
{
	struct virtio_dev *v = t->vdev;
	uint8_t b[VIRTIO_PCI_COMMON_LEN];

	common_snapshot(t, b);
	memcpy(b + off, data, size);
#define TOUCHED(o, l) (off < (o) + (l) && off + size > (o))
	if (TOUCHED(VPCI_DFSELECT, 4))
		t->dfselect = get32(b + VPCI_DFSELECT);
	if (TOUCHED(VPCI_GFSELECT, 4))
		t->gfselect = get32(b + VPCI_GFSELECT);
	if (TOUCHED(VPCI_GF, 4))
		virtio_set_driver_features(v, t->gfselect, get32(b + VPCI_GF));
	if (TOUCHED(VPCI_MSIX_CONFIG, 2))
		t->config_vector = vector(t, get16(b + VPCI_MSIX_CONFIG));
	if (TOUCHED(VPCI_STATUS, 1)) {
		virtio_set_status(v, b[VPCI_STATUS]);
		if (b[VPCI_STATUS] == 0)
			transport_reset(t);
	}
	if (TOUCHED(VPCI_Q_SELECT, 2))
		t->queue_select = get16(b + VPCI_Q_SELECT);
	if (!selected(t))
		return;
	unsigned q = t->queue_select;
	if (TOUCHED(VPCI_Q_SIZE, 2))
		virtio_queue_set_size(v, q, get16(b + VPCI_Q_SIZE));
	if (TOUCHED(VPCI_Q_MSIX, 2))
		t->queue_vector[q] = vector(t, get16(b + VPCI_Q_MSIX));
	if (TOUCHED(VPCI_Q_DESC, 24))
		virtio_queue_set_addr(v, q, get64(b + VPCI_Q_DESC), get64(b + VPCI_Q_AVAIL),
		                      get64(b + VPCI_Q_USED));
	if (TOUCHED(VPCI_Q_ENABLE, 2) && get16(b + VPCI_Q_ENABLE) == 1)
		virtio_queue_enable(v, q);
#undef TOUCHED
}

static void region_read(const uint8_t *src, unsigned len, uint64_t off, uint8_t *data, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		data[i] = off + i < len ? src[off + i] : 0;
}

/* BAR 0: common, ISR, device and notify structures. */
static void bar0_io(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct virtio_pci *t = opaque;
	struct virtio_dev *v = t->vdev;

	if (off < VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_LEN) {
		unsigned o = (unsigned)off - VIRTIO_PCI_COMMON_OFF;
		unsigned n = size < VIRTIO_PCI_COMMON_LEN - o ? size : VIRTIO_PCI_COMMON_LEN - o;
		if (is_write) {
			common_write(t, o, data, n);
		} else {
			uint8_t b[VIRTIO_PCI_COMMON_LEN];
			common_snapshot(t, b);
			region_read(b, VIRTIO_PCI_COMMON_LEN, o, data, size);
		}
	} else if (off >= VIRTIO_PCI_ISR_OFF && off < VIRTIO_PCI_ISR_OFF + VIRTIO_PCI_ISR_LEN) {
		if (!is_write) {     /* reading the ISR status clears it (4.1.4.5) */
			memset(data, 0, size);
			if (off == VIRTIO_PCI_ISR_OFF) {
				data[0] = v->isr;
				v->isr = 0;
			}
		}
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_DEVICE_OFF + VIRTIO_PCI_DEVICE_LEN) {
		if (!is_write)
			virtio_config_read(v, off - VIRTIO_PCI_DEVICE_OFF, data, size);
		else
			virtio_config_write(v, off - VIRTIO_PCI_DEVICE_OFF, data, size);
	} else if (off >= VIRTIO_PCI_NOTIFY_OFF &&
	           off < VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * (uint64_t)v->nqueues) {
		if (!is_write) {
			memset(data, 0, size);
		} else if (!pci_bus_master(&t->pci)) {
			v->ignored_notifies++;     /* no DMA before the driver allows it */
		} else {
			virtio_queue_notify(v, (unsigned)(off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT);
		}
	} else if (!is_write) {
		memset(data, 0, size);
	}
}

/* BAR 2: the MSI-X table and PBA. */
static void msix_bar_io(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct virtio_pci *t = opaque;
	if (!pci_msix_access(&t->msix, off, data, size, is_write) && !is_write)
		memset(data, 0, size);
}

static void interrupt(void *opaque, int q)
{
	struct virtio_pci *t = opaque;
	uint16_t vec = q < 0 ? t->config_vector : t->queue_vector[q];
	if (vec == VIRTIO_NO_VECTOR || !pci_msix_notify(&t->msix, vec))
		t->no_vector++;      /* no INTx fallback: the interrupt is lost, as the driver chose */
}

/* The PCI configuration access capability (4.1.4.9): pci_cfg_data is a window onto
 * `length` bytes of BAR `bar` at `offset`. */
static bool cfg_window(struct virtio_pci *t, uint8_t *bar, uint32_t *off, uint32_t *len)
{
	const struct pci_dev *d = &t->pci;
	*bar = d->cfg[t->cfg_cap + 4];
	*off = pci_get32(d, t->cfg_cap + 8);
	*len = pci_get32(d, t->cfg_cap + 12);
	if ((*len != 1 && *len != 2 && *len != 4) || (*off & (*len - 1)))
		return false;
	if (*bar == VIRTIO_PCI_BAR)
		return *off < VIRTIO_PCI_BAR_SIZE;
	return *bar == VIRTIO_PCI_MSIX_BAR && *off < VIRTIO_PCI_MSIX_BAR_SIZE;
}

static void cfg_window_access(struct virtio_pci *t, bool is_write)
{
	uint8_t bar;
	uint32_t off, len;
	if (!cfg_window(t, &bar, &off, &len))
		return;
	uint8_t *data = &t->pci.cfg[t->cfg_cap + 16];
	if (bar == VIRTIO_PCI_BAR)
		bar0_io(t, off, data, len, is_write);
	else
		msix_bar_io(t, off, data, len, is_write);
}

static bool touches_window(struct virtio_pci *t, unsigned off, unsigned len)
{
	return off < t->cfg_cap + 20 && off + len > t->cfg_cap + 16;
}

static void cfg_read_hook(struct pci_dev *d, unsigned off, unsigned len)
{
	struct virtio_pci *t = d->opaque;
	if (touches_window(t, off, len))
		cfg_window_access(t, false);
}

static void cfg_write_hook(struct pci_dev *d, unsigned off, unsigned len)
{
	struct virtio_pci *t = d->opaque;
	if (touches_window(t, off, len))
		cfg_window_access(t, true);
	pci_msix_cfg_written(&t->msix, off, len);
}

static unsigned add_cap(struct pci_dev *d, uint8_t type, uint8_t bar, uint32_t off,
                        uint32_t len, unsigned cap_len)
{
	unsigned c = pci_dev_add_cap(d, PCI_CAP_ID_VNDR, cap_len);
	if (c) {
		d->cfg[c + 2] = (uint8_t)cap_len;
		d->cfg[c + 3] = type;
		d->cfg[c + 4] = bar;
		pci_set32(d, c + 8, off);
		pci_set32(d, c + 12, len);
	}
	return c;
}

/* Snapshots: the transport's registers, the MSI-X table and pending bits (the message
 * control word is configuration space, which the PCI host saves), then the device's
 * virtio state. */
static int snap_save(void *opaque, struct snap_writer *w)
{
	struct virtio_pci *t = opaque;
	snap_put_u32(w, t->dfselect);
	snap_put_u32(w, t->gfselect);
	snap_put_u16(w, t->queue_select);
	snap_put_u16(w, t->config_vector);
	for (unsigned i = 0; i < t->vdev->nqueues; i++)
		snap_put_u16(w, t->queue_vector[i]);
	snap_put_bytes(w, t->msix.table, pci_msix_table_size(&t->msix));
	snap_put_u64(w, t->msix.pending);
	virtio_save(t->vdev, w);
	return 0;
}

static bool good_vector(const struct virtio_pci *t, uint16_t v)
{
	return v == VIRTIO_NO_VECTOR || v < t->msix.nvec;
}

static int snap_load(void *opaque, struct snap_reader *r)
{
	struct virtio_pci *t = opaque;
	t->dfselect = snap_get_u32(r);
	t->gfselect = snap_get_u32(r);
	t->queue_select = snap_get_u16(r);
	t->config_vector = snap_get_u16(r);
	snap_check(r, good_vector(t, t->config_vector), "configuration vector");
	for (unsigned i = 0; i < t->vdev->nqueues; i++) {
		t->queue_vector[i] = snap_get_u16(r);
		snap_check(r, good_vector(t, t->queue_vector[i]), "queue vector");
	}
	/* The table as the guest could have written it: pci_msix_access keeps the same bits. */
	struct pci_msix *m = &t->msix;
	snap_get_bytes(r, m->table, pci_msix_table_size(m));
	for (unsigned v = 0; v < m->nvec; v++) {
		uint8_t *ent = &m->table[v * PCI_MSIX_ENTRY_SIZE];
		snap_check(r, !(ent[0] & 3) && !(ent[12] & ~PCI_MSIX_ENTRY_MASKED) &&
		           !ent[13] && !ent[14] && !ent[15], "MSI-X table entry");
	}
	m->pending = snap_get_u64(r);
	snap_check(r, m->nvec == 64 || !(m->pending >> m->nvec), "MSI-X pending bits");
	if (snap_status(r))
		return -EINVAL;
	return virtio_load(t->vdev, r);
}

static void destroy(void *opaque)
{
	struct virtio_pci *t = opaque;
	pci_dev_destroy(&t->pci);
	free(t);
}

int virtio_pci_create(struct vm *vm, struct pci_host *host, struct virtio_dev *vdev,
                      uint32_t class_code, struct virtio_pci **out, struct err *e)
{
	struct virtio_pci *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return err_set(e, ENOMEM, "out of memory");
	struct pci_dev *d = &t->pci;
	pci_dev_init(d, vdev->name, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + vdev->device_id),
	             class_code, 1);
	if ((r = vm_add_device(vm, t, destroy, e))) {
		destroy(t);
		return r;
	}
	t->vdev = vdev;
	snprintf(t->snap_name, sizeof(t->snap_name), "virtio-pci.%s", vdev->name);
	vm_set_device_snapshot(vm, t, t->snap_name, snap_save, snap_load);
	transport_reset(t);
	d->opaque = t;
	d->cfg_read_hook = cfg_read_hook;
	d->cfg_write_hook = cfg_write_hook;
	pci_set16(d, PCI_SUBSYS_VENDOR, VIRTIO_PCI_VENDOR);
	pci_set16(d, PCI_SUBSYS_ID, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + vdev->device_id));

	pci_dev_set_bar(d, VIRTIO_PCI_BAR, PCI_BAR_MEM64, VIRTIO_PCI_BAR_SIZE, bar0_io, t);
	pci_dev_set_bar(d, VIRTIO_PCI_MSIX_BAR, PCI_BAR_MEM32, VIRTIO_PCI_MSIX_BAR_SIZE, msix_bar_io, t);
	unsigned notify = 0, c = 1;
	c = c && add_cap(d, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_BAR, VIRTIO_PCI_COMMON_OFF,
	                 VIRTIO_PCI_COMMON_LEN, 16);
	c = c && (notify = add_cap(d, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_BAR, VIRTIO_PCI_NOTIFY_OFF,
	                           VIRTIO_PCI_NOTIFY_MULT * vdev->nqueues, 20));
	c = c && add_cap(d, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_BAR, VIRTIO_PCI_ISR_OFF,
	                 VIRTIO_PCI_ISR_LEN, 16);
	if (c && vdev->config_len)
		c = add_cap(d, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_BAR, VIRTIO_PCI_DEVICE_OFF,
		            vdev->config_len, 16);
	c = c && (t->cfg_cap = add_cap(d, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 0, 20));
	if (!c || pci_msix_init(&t->msix, d, vdev->nqueues + 1, VIRTIO_PCI_MSIX_BAR,
	                        VIRTIO_PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_PBA))
		return err_set(e, ENOSPC, "%s: PCI capabilities do not fit", vdev->name);
	pci_set32(d, notify + 16, VIRTIO_PCI_NOTIFY_MULT);
	d->wmask[t->cfg_cap + 4] = 0xff;
	pci_set_wmask32(d, t->cfg_cap + 8, 0xffffffffu);
	pci_set_wmask32(d, t->cfg_cap + 12, 0xffffffffu);
	pci_set_wmask32(d, t->cfg_cap + 16, 0xffffffffu);

	vdev->interrupt = interrupt;
	vdev->transport = t;
	if ((r = pci_host_add(host, d, -1, e)))
		return r;
	if (out)
		*out = t;
	return 0;
}
