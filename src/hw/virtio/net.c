/* virtio-net (see net.h). */
#include "net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/snap.h"
#include "deliver.h"

#define HDR_GSO_NONE 0

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

/* -- transmit ------------------------------------------------------------------------- */

static int64_t tx_request(struct virtio_dev *v, struct virtq *q, struct vq_chain *c)
{
	struct virtio_net *n = v->opaque;
	uint8_t hdr[VIRTIO_NET_HDR_LEN];

	if (c->rlen < VIRTIO_NET_HDR_LEN + VIRTIO_NET_MIN_FRAME ||
	    c->rlen - VIRTIO_NET_HDR_LEN > VIRTIO_NET_MAX_FRAME) {
		n->st.tx_malformed++;
		return 0;     /* consumed and ignored, as a NIC drops a runt or giant frame */
	}
	size_t len = (size_t)(c->rlen - VIRTIO_NET_HDR_LEN);
	vq_chain_read(c, q->mem, 0, hdr, sizeof(hdr));
	/* flags (NEEDS_CSUM, ...) and GSO need features we never offer. */
	if (hdr[0] != 0 || hdr[1] != HDR_GSO_NONE) {
		n->st.tx_malformed++;
		return 0;
	}
	vq_chain_read(c, q->mem, VIRTIO_NET_HDR_LEN, n->frame, len);
	n->st.tx_frames++;
	n->st.tx_bytes += len;
	if (!n->backend || n->backend->send(n->backend, n->frame, len))
		n->st.tx_backend_drops++;
	return 0;
}

/* -- receive -------------------------------------------------------------------------- */

static int64_t rx_request(struct virtio_dev *v, struct virtq *q, struct vq_chain *c)
{
	struct virtio_net *n = v->opaque;
	uint8_t hdr[VIRTIO_NET_HDR_LEN] = { 0 };

	if (c->wlen < VIRTIO_NET_HDR_LEN + n->rx_len) {
		/* Without MRG_RXBUF every buffer must hold a whole frame (5.1.6.3.1). */
		n->st.rx_small_buffer++;
		return -1;
	}
	put16(hdr + 10, 1);      /* num_buffers */
	vq_chain_write(c, q->mem, 0, hdr, sizeof(hdr));
	vq_chain_write(c, q->mem, VIRTIO_NET_HDR_LEN, n->rx_frame, n->rx_len);
	n->st.rx_frames++;
	n->st.rx_bytes += n->rx_len;
	return (int64_t)(VIRTIO_NET_HDR_LEN + n->rx_len);
}

/* Deliver one frame: 1 delivered (or dropped for a small buffer), 0 no buffer, -1 the
 * queue cannot run. */
static int deliver(struct virtio_net *n, const uint8_t *frame, size_t len)
{
	n->rx_frame = frame;
	n->rx_len = len;
	int r = virtio_deliver(&n->vdev, VIRTIO_NET_RXQ, rx_request);
	n->rx_frame = NULL;
	return r;
}

static void pending_drop_oldest(struct virtio_net *n)
{
	free(n->pending[n->pending_head].data);
	n->pending_head = (n->pending_head + 1) % VIRTIO_NET_PENDING;
	n->pending_count--;
}

static void pending_clear(struct virtio_net *n)
{
	while (n->pending_count)
		pending_drop_oldest(n);
}

/* Deliver waiting frames while there are buffers. */
static void flush_pending(struct virtio_net *n)
{
	while (n->pending_count) {
		struct net_pending *p = &n->pending[n->pending_head];
		int r = deliver(n, p->data, p->len);
		if (r == 0)
			return;
		if (r < 0) {
			pending_clear(n);
			return;
		}
		pending_drop_oldest(n);
	}
}

static void receive_locked(struct virtio_net *n, const uint8_t *frame, size_t len)
{
	if (!virtio_queue_ready(&n->vdev, VIRTIO_NET_RXQ)) {
		n->st.rx_not_ready++;
		return;
	}
	flush_pending(n);
	if (n->pending_count == 0 && deliver(n, frame, len) != 0)
		return;
	/* No buffer now: wait for the driver to add some. */
	uint8_t *copy = malloc(len);
	if (!copy) {
		n->st.rx_overflow++;
		return;
	}
	memcpy(copy, frame, len);
	if (n->pending_count == VIRTIO_NET_PENDING) {
		pending_drop_oldest(n);
		n->st.rx_overflow++;
	}
	n->pending[(n->pending_head + n->pending_count) % VIRTIO_NET_PENDING] =
		(struct net_pending){ .len = len, .data = copy };
	n->pending_count++;
}

void virtio_net_receive(void *opaque, const uint8_t *frame, size_t len)
{
	struct virtio_net *n = opaque;
	if (len < VIRTIO_NET_MIN_FRAME || len > VIRTIO_NET_MAX_FRAME)
		return;
	vm_input_begin(n->vdev.vm);
	if (n->lock)
		pthread_mutex_lock(n->lock);
	receive_locked(n, frame, len);
	if (n->lock)
		pthread_mutex_unlock(n->lock);
	vm_input_end(n->vdev.vm);
}

/* -- device --------------------------------------------------------------------------- */

static void net_queue_notify(struct virtio_dev *v, unsigned q)
{
	struct virtio_net *n = v->opaque;
	if (q == VIRTIO_NET_TXQ)
		virtio_process_queue(v, q, tx_request);
	else
		flush_pending(n);        /* the driver added receive buffers */
}

static void net_reset(struct virtio_dev *v)
{
	pending_clear(v->opaque);
}

static const struct virtio_dev_ops net_ops = {
	.queue_notify = net_queue_notify,
	.reset = net_reset,
};

/* --stats: what went where, and what was dropped. The counters change under the
 * transport's lock (transmit on a vCPU, receive on the backend's thread). */
static void print_stats(void *opaque, FILE *f)
{
	struct virtio_net *n = opaque;
	if (n->lock)
		pthread_mutex_lock(n->lock);
	const struct virtio_net_stats st = n->st;
	unsigned long perr = n->vdev.protocol_errors;
	if (n->lock)
		pthread_mutex_unlock(n->lock);
	fprintf(f, "virtio-net: tx %lu frames (%llu bytes), rx %lu frames (%llu bytes); dropped: "
	        "tx malformed %lu, backend %lu; rx before the driver %lu, overflow %lu, small "
	        "buffers %lu; protocol errors %lu\n", st.tx_frames, (unsigned long long)st.tx_bytes,
	        st.rx_frames, (unsigned long long)st.rx_bytes, st.tx_malformed, st.tx_backend_drops,
	        st.rx_not_ready, st.rx_overflow, st.rx_small_buffer, perr);
}

/* Snapshots: the frames waiting for receive buffers (the transport saves the virtio
 * state; the backend is the host's and starts afresh). */
static int snap_save(void *opaque, struct snap_writer *w)
{
	struct virtio_net *n = opaque;
	snap_put_u32(w, n->pending_count);
	for (unsigned i = 0; i < n->pending_count; i++) {
		const struct net_pending *p = &n->pending[(n->pending_head + i) % VIRTIO_NET_PENDING];
		snap_put_u32(w, (uint32_t)p->len);
		snap_put_bytes(w, p->data, p->len);
	}
	return 0;
}

static int snap_load(void *opaque, struct snap_reader *r)
{
	struct virtio_net *n = opaque;
	pending_clear(n);
	n->pending_head = 0;
	uint32_t count = snap_get_u32(r);
	snap_check(r, count <= VIRTIO_NET_PENDING, "waiting frames");
	for (uint32_t i = 0; i < count && !r->failed; i++) {
		uint32_t len = snap_get_u32(r);
		if (!snap_check(r, len >= VIRTIO_NET_MIN_FRAME && len <= VIRTIO_NET_MAX_FRAME &&
		                len <= r->len - r->off, "waiting frame length"))
			break;
		uint8_t *copy = malloc(len);
		if (!copy)
			return snap_fail(r, "out of memory");
		snap_get_bytes(r, copy, len);
		n->pending[n->pending_count++] = (struct net_pending){ .len = len, .data = copy };
	}
	return snap_status(r);
}

static void net_destroy(void *opaque)
{
	struct virtio_net *n = opaque;
	pending_clear(n);
	free(n);
}

int virtio_net_create(struct vm *vm, const uint8_t mac[6], struct virtio_net **out,
                      struct err *e)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return err_set(e, ENOMEM, "out of memory");
	if ((r = vm_add_device(vm, n, net_destroy, e))) {
		free(n);
		return r;
	}
	vm_set_device_stats(vm, n, print_stats);
	memcpy(n->config, mac, 6);
	put16(n->config + 6, VIRTIO_NET_S_LINK_UP);
	virtio_init(&n->vdev, vm, "virtio-net", VIRTIO_ID_NET,
	            1ull << VIRTIO_F_INDIRECT_DESC | 1ull << VIRTIO_F_EVENT_IDX |
	            1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS,
	            2, VIRTIO_NET_QUEUE_SIZE, &net_ops, n);
	n->vdev.config = n->config;
	n->vdev.config_len = sizeof(n->config);
	vm_set_device_snapshot(vm, n, "virtio-net", snap_save, snap_load);
	*out = n;
	return 0;
}
