/* virtio device core: features, status, reset, queue setup and processing (virtio.h). */
#include "deliver.h"
#include "virtio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/snap.h"
#include "core/vm.h"

void virtio_init(struct virtio_dev *v, struct vm *vm, const char *name, uint16_t device_id,
                 uint64_t features, unsigned nqueues, uint16_t qmax,
                 const struct virtio_dev_ops *ops, void *opaque)
{
	memset(v, 0, sizeof(*v));
	v->name = name;
	v->vm = vm;
	v->device_id = device_id;
	v->features = features | 1ull << VIRTIO_F_VERSION_1;
	v->nqueues = nqueues < VIRTIO_MAX_QUEUES ? nqueues : VIRTIO_MAX_QUEUES;
	v->ops = ops;
	v->opaque = opaque;
	for (unsigned i = 0; i < v->nqueues; i++)
		vq_reset(&v->vqs[i], &vm->mem, qmax);
}

void virtio_reset(struct virtio_dev *v)
{
	v->driver_features = 0;
	v->status = 0;
	v->isr = 0;
	for (unsigned i = 0; i < v->nqueues; i++)
		vq_reset(&v->vqs[i], v->vqs[i].mem, v->vqs[i].max_size);
	if (v->ops->reset)
		v->ops->reset(v);
}

static void interrupt(struct virtio_dev *v, int q)
{
	v->isr |= q < 0 ? 2 : 1;
	if (v->interrupt)
		v->interrupt(v->transport, q);
}

void virtio_config_changed(struct virtio_dev *v)
{
	v->config_generation++;
	if (v->status & VIRTIO_STATUS_DRIVER_OK)
		interrupt(v, -1);
}

void virtio_needs_reset(struct virtio_dev *v, const char *fmt, ...)
{
	v->protocol_errors++;
	if (v->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (v->warned < VIRTIO_WARN_MAX)
		log_warn("virtio", "%s: the driver broke the protocol (%s): device needs reset%s",
		         v->name, msg, ++v->warned == VIRTIO_WARN_MAX ?
		         "; further protocol errors are counted, not logged" : "");
	v->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (v->status & VIRTIO_STATUS_DRIVER_OK)
		interrupt(v, -1);
}

void virtio_set_driver_features(struct virtio_dev *v, unsigned word, uint32_t val)
{
	if (word > 1 || (v->status & VIRTIO_STATUS_FEATURES_OK))
		return;
	unsigned sh = 32 * word;
	v->driver_features = (v->driver_features & ~(0xffffffffull << sh)) | (uint64_t)val << sh;
}

void virtio_set_status(struct virtio_dev *v, uint8_t s)
{
	if (s == 0) {
		virtio_reset(v);
		return;
	}
	uint8_t old = v->status;
	if ((s & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		/* 3.1.1: the device accepts the features, or leaves FEATURES_OK clear. */
		if ((v->driver_features & ~v->features) ||
		    !(v->driver_features >> VIRTIO_F_VERSION_1 & 1)) {
			log_info("virtio", "%s: refusing driver features 0x%llx (offered 0x%llx)", v->name,
			         (unsigned long long)v->driver_features, (unsigned long long)v->features);
			s &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		} else {
			for (unsigned i = 0; i < v->nqueues; i++) {
				v->vqs[i].event_idx = virtio_has_feature(v, VIRTIO_F_EVENT_IDX);
				v->vqs[i].indirect = virtio_has_feature(v, VIRTIO_F_INDIRECT_DESC);
			}
		}
	}
	/* NEEDS_RESET is the device's bit; the others are the driver's. */
	v->status = (uint8_t)((s & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET));
	if ((s & VIRTIO_STATUS_DRIVER_OK) && !(v->status & VIRTIO_STATUS_FEATURES_OK))
		virtio_needs_reset(v, "DRIVER_OK without FEATURES_OK");
}

uint32_t virtio_features_word(const struct virtio_dev *v, uint32_t word)
{
	return word < 2 ? (uint32_t)(v->features >> (32 * word)) : 0;
}

uint32_t virtio_driver_features_word(const struct virtio_dev *v, uint32_t word)
{
	return word < 2 ? (uint32_t)(v->driver_features >> (32 * word)) : 0;
}

void virtio_config_read(const struct virtio_dev *v, uint64_t off, uint8_t *data, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		data[i] = off + i < v->config_len ? v->config[off + i] : 0;
}

void virtio_config_write(struct virtio_dev *v, uint64_t off, const uint8_t *data, unsigned size)
{
	if (!v->ops->config_write || off >= v->config_len)
		return;
	unsigned n = size < v->config_len - off ? size : (unsigned)(v->config_len - off);
	v->ops->config_write(v, (unsigned)off, data, n);
}

static struct virtq *queue(struct virtio_dev *v, unsigned q)
{
	return q < v->nqueues ? &v->vqs[q] : NULL;
}

void virtio_queue_set_size(struct virtio_dev *v, unsigned q, uint16_t size)
{
	struct virtq *vq = queue(v, q);
	if (vq && !vq->enabled)
		vq->size = size;
}

void virtio_queue_set_addr(struct virtio_dev *v, unsigned q, uint64_t desc, uint64_t avail,
                           uint64_t used)
{
	struct virtq *vq = queue(v, q);
	if (vq && !vq->enabled) {
		vq->desc = desc;
		vq->avail = avail;
		vq->used = used;
	}
}

void virtio_queue_enable(struct virtio_dev *v, unsigned q)
{
	struct virtq *vq = queue(v, q);
	if (!vq || vq->enabled)
		return;
	const char *why = vq_check(vq);
	if (why) {
		virtio_needs_reset(v, "queue %u: %s", q, why);
		return;
	}
	vq->last_avail = vq->used_idx = 0;
	vq->signalled_valid = false;
	vq->enabled = true;
}

void virtio_queue_disable(struct virtio_dev *v, unsigned q)
{
	struct virtq *vq = queue(v, q);
	if (vq)
		vq->enabled = false;
}

void virtio_queue_notify(struct virtio_dev *v, unsigned q)
{
	struct virtq *vq = queue(v, q);
	if (!vq || !vq->enabled || (v->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)) ||
	    !(v->status & VIRTIO_STATUS_DRIVER_OK)) {
		v->ignored_notifies++;
		return;
	}
	v->ops->queue_notify(v, q);
}

/* Let fn handle one popped chain and return it to the used ring with the length fn
 * wrote (never more than the chain's writable bytes; a refused request counts as
 * dropped and reports 0). -1 if the used ring is not in RAM. */
static int serve(struct virtio_dev *v, struct virtq *vq, struct vq_chain *c,
                 virtio_request_fn fn)
{
	int64_t w = fn(v, vq, c);
	if (w < 0) {
		v->dropped++;
		w = 0;
	}
	if ((uint64_t)w > c->wlen)
		w = (int64_t)c->wlen;
	return vq_push(vq, c->head, (uint32_t)w) ? -1 : 0;
}

void virtio_process_queue(struct virtio_dev *v, unsigned q, virtio_request_fn fn)
{
	struct virtq *vq = &v->vqs[q];
	struct vq_chain *c = &v->chain;
	const char *why = NULL;
	bool pushed = false;
	int r;

	/* No bound on the work: chains keep coming only while the guest keeps adding them
	 * (its own vCPU time). A stop request ends the loop. */
	for (unsigned long n = 1;; n++) {
		r = vq_pop(vq, c, &why);
		if (r == 0) {
			if (!vq_enable_notify(vq))
				break;
			continue;
		}
		if (r < 0)
			break;
		if (serve(v, vq, c, fn)) {
			r = -1;
			why = "used ring not in RAM";
			break;
		}
		pushed = true;
		if (n % 64 == 0 && vm_stopping(v->vm))
			break;
	}
	if (pushed && vq_need_interrupt(vq))
		interrupt(v, (int)q);
	if (r < 0)
		virtio_needs_reset(v, "queue %u: %s", q, why);
}

/* Device-initiated delivery (deliver.h). */
bool virtio_queue_ready(const struct virtio_dev *v, unsigned q)
{
	return q < v->nqueues && v->vqs[q].enabled && (v->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(v->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

int virtio_deliver(struct virtio_dev *v, unsigned q, virtio_request_fn fn)
{
	if (!virtio_queue_ready(v, q))
		return -1;
	struct virtq *vq = &v->vqs[q];
	struct vq_chain *c = &v->chain;
	const char *why = NULL;
	int r = vq_pop(vq, c, &why);
	if (r == 0 && vq_enable_notify(vq))
		r = vq_pop(vq, c, &why);     /* buffers arrived while we asked */
	if (r == 0)
		return 0;
	if (r < 0) {
		virtio_needs_reset(v, "queue %u: %s", q, why);
		return -1;
	}
	if (serve(v, vq, c, fn)) {
		virtio_needs_reset(v, "queue %u: used ring not in RAM", q);
		return -1;
	}
	if (vq_need_interrupt(vq))
		interrupt(v, (int)q);
	return 1;
}

/* -- snapshots ---------------------------------------------------------------------------- */

void virtio_save(const struct virtio_dev *v, struct snap_writer *w)
{
	snap_put_u64(w, v->features);
	snap_put_u64(w, v->driver_features);
	snap_put_u8(w, v->status);
	snap_put_u8(w, v->isr);
	snap_put_u8(w, v->config_generation);
	snap_put_u8(w, (uint8_t)v->nqueues);
	for (unsigned i = 0; i < v->nqueues; i++) {
		const struct virtq *q = &v->vqs[i];
		snap_put_u16(w, q->max_size);
		snap_put_u16(w, q->size);
		snap_put_u8(w, q->enabled);
		snap_put_u64(w, q->desc);
		snap_put_u64(w, q->avail);
		snap_put_u64(w, q->used);
		snap_put_u16(w, q->last_avail);
		snap_put_u16(w, q->used_idx);
		snap_put_u16(w, q->signalled_used);
		snap_put_u8(w, q->signalled_valid);
	}
}

int virtio_load(struct virtio_dev *v, struct snap_reader *r)
{
	snap_check(r, snap_get_u64(r) == v->features, "offered features (the device changed)");
	v->driver_features = snap_get_u64(r);
	v->status = snap_get_u8(r);
	v->isr = snap_get_u8(r);
	snap_check(r, v->isr <= 3, "ISR");
	v->config_generation = snap_get_u8(r);
	snap_check(r, snap_get_u8(r) == v->nqueues, "queue count");
	bool fok = v->status & VIRTIO_STATUS_FEATURES_OK;
	snap_check(r, !fok || (!(v->driver_features & ~v->features) &&
	                       virtio_has_feature(v, VIRTIO_F_VERSION_1)), "driver features");
	for (unsigned i = 0; i < v->nqueues && !r->failed; i++) {
		struct virtq *q = &v->vqs[i];
		snap_check(r, snap_get_u16(r) == q->max_size, "queue maximum size");
		q->size = snap_get_u16(r);
		q->enabled = snap_get_bool(r);
		q->desc = snap_get_u64(r);
		q->avail = snap_get_u64(r);
		q->used = snap_get_u64(r);
		q->last_avail = snap_get_u16(r);
		q->used_idx = snap_get_u16(r);
		q->signalled_used = snap_get_u16(r);
		q->signalled_valid = snap_get_bool(r);
		q->event_idx = fok && virtio_has_feature(v, VIRTIO_F_EVENT_IDX);
		q->indirect = fok && virtio_has_feature(v, VIRTIO_F_INDIRECT_DESC);
		if (!r->failed && q->enabled)
			snap_check(r, vq_check(q) == NULL, "enabled queue's rings");
	}
	if (r->failed) {          /* leave nothing half loaded for the caller to run */
		virtio_reset(v);
		return -EINVAL;
	}
	return 0;
}
