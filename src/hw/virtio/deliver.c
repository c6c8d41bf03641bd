/* Device-initiated delivery into a queue (deliver.h). */
#include "deliver.h"

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
	int64_t w = fn(v, vq, c);
	if (w < 0) {
		v->dropped++;
		w = 0;
	}
	if ((uint64_t)w > c->wlen)
		w = (int64_t)c->wlen;
	if (vq_push(vq, c->head, (uint32_t)w)) {
		virtio_needs_reset(v, "queue %u: used ring not in RAM", q);
		return -1;
	}
	if (vq_need_interrupt(vq)) {
		v->isr |= 1;
		if (v->interrupt)
			v->interrupt(v->transport, (int)q);
	}
	return 1;
}
