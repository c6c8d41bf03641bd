/* virtio-net on fabricated rings with a fake backend: transmitted frames reach the
 * backend without their header, received frames land in receive buffers behind a
 * header with num_buffers 1, frames wait for buffers (and the oldest go when too many
 * wait); runts, giants, offload requests, small buffers and buffers outside RAM are
 * refused and counted. */
#include "vdev.h"

#include <errno.h>

#include "hw/virtio/net.h"

#define RAM   (4 * MiB)
#define RXR   0x10000
#define TXR   0x18000
#define BUF   0x20000
#define QSIZE 16

static struct vm *vm;

struct fake_backend {
	struct net_backend be;
	unsigned n;
	size_t len;
	uint8_t last[2048];
	int fail;
};

static int fake_send(struct net_backend *b, const uint8_t *frame, size_t len)
{
	struct fake_backend *f = (struct fake_backend *)b;
	if (f->fail)
		return -ENOBUFS;
	f->n++;
	f->len = len;
	memcpy(f->last, frame, len < sizeof(f->last) ? len : sizeof(f->last));
	return 0;
}

static void frame_fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static void test_tx(struct virtio_net *n, struct ring *tx, struct fake_backend *fb)
{
	uint8_t hdr[VIRTIO_NET_HDR_LEN] = { 0 }, frame[1514];
	frame_fill(frame, sizeof(frame), 1);
	/* Header and frame split oddly across three descriptors. */
	mem_write(&vm->mem, BUF, hdr, sizeof(hdr));
	mem_write(&vm->mem, BUF + sizeof(hdr), frame, sizeof(frame));
	desc(tx, 0, BUF, 5, VIRTQ_DESC_F_NEXT, 1);
	desc(tx, 1, BUF + 5, 100, VIRTQ_DESC_F_NEXT, 2);
	desc(tx, 2, BUF + 105, sizeof(hdr) + sizeof(frame) - 105, 0, 0);
	avail_add(tx, 0);
	virtio_queue_notify(&n->vdev, VIRTIO_NET_TXQ);
	CHECK_EQ(used_idx(tx), 1);
	CHECK_EQ(fb->n, 1);
	CHECK_EQ(fb->len, sizeof(frame));
	CHECK(memcmp(fb->last, frame, sizeof(frame)) == 0);
	CHECK_EQ(n->st.tx_frames, 1);

	/* A runt, a GSO request and a checksum request: consumed, not sent. */
	desc(tx, 3, BUF, VIRTIO_NET_HDR_LEN + 10, 0, 0);
	avail_add(tx, 3);
	hdr[1] = 1;     /* VIRTIO_NET_HDR_GSO_TCPV4 */
	mem_write(&vm->mem, BUF + 0x1000, hdr, sizeof(hdr));
	desc(tx, 4, BUF + 0x1000, VIRTIO_NET_HDR_LEN + 60, 0, 0);
	avail_add(tx, 4);
	hdr[1] = 0;
	hdr[0] = 1;     /* NEEDS_CSUM */
	mem_write(&vm->mem, BUF + 0x2000, hdr, sizeof(hdr));
	desc(tx, 5, BUF + 0x2000, VIRTIO_NET_HDR_LEN + 60, 0, 0);
	avail_add(tx, 5);
	/* A giant (more than any frame, less than RAM). */
	desc(tx, 6, BUF, VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME + 1, 0, 0);
	avail_add(tx, 6);
	virtio_queue_notify(&n->vdev, VIRTIO_NET_TXQ);
	CHECK_EQ(used_idx(tx), 5);
	CHECK_EQ(fb->n, 1);
	CHECK_EQ(n->st.tx_malformed, 4);

	/* The backend refuses: counted, the buffer still comes back. */
	fb->fail = 1;
	desc(tx, 7, BUF, sizeof(hdr) + 60, 0, 0);
	mem_write(&vm->mem, BUF, (uint8_t[VIRTIO_NET_HDR_LEN]){ 0 }, VIRTIO_NET_HDR_LEN);
	avail_add(tx, 7);
	virtio_queue_notify(&n->vdev, VIRTIO_NET_TXQ);
	CHECK_EQ(used_idx(tx), 6);
	CHECK_EQ(n->st.tx_backend_drops, 1);
	fb->fail = 0;
	CHECK(!(n->vdev.status & VIRTIO_STATUS_NEEDS_RESET));
}

/* Post receive buffer i (2 KiB at BUF + 0x1000 * i; a small one when small). */
static void rx_post(struct ring *rx, uint16_t i, uint32_t size)
{
	desc(rx, i, BUF + 0x1000ull * i, size, VIRTQ_DESC_F_WRITE, 0);
	avail_add(rx, i);
}

static void test_rx(struct virtio_net *n, struct ring *rx)
{
	uint8_t frame[600], got[600];
	uint32_t id, len;
	frame_fill(frame, sizeof(frame), 9);

	rx_post(rx, 0, 2048);
	virtio_net_receive(n, frame, sizeof(frame));
	CHECK_EQ(used_idx(rx), 1);
	used_elem(rx, 0, &id, &len);
	CHECK_EQ(id, 0);
	CHECK_EQ(len, VIRTIO_NET_HDR_LEN + sizeof(frame));
	CHECK_EQ(peek(vm, BUF, 8), 0);                  /* flags, gso_type, hdr_len, gso_size */
	CHECK_EQ(peek(vm, BUF + 8, 2), 0);              /* csum_offset */
	CHECK_EQ(peek(vm, BUF + 10, 2), 1);             /* num_buffers */
	mem_read(&vm->mem, BUF + VIRTIO_NET_HDR_LEN, got, sizeof(got));
	CHECK(memcmp(got, frame, sizeof(frame)) == 0);
	CHECK(msis.n == 0);                              /* no transport in this test */
	CHECK(n->vdev.isr & 1);

	/* No buffers: frames wait, then go in order once buffers come. */
	for (uint8_t s = 0; s < 3; s++) {
		frame_fill(frame, sizeof(frame), s);
		virtio_net_receive(n, frame, sizeof(frame));
	}
	CHECK_EQ(used_idx(rx), 1);
	CHECK_EQ(n->pending_count, 3);
	rx_post(rx, 1, 2048);
	rx_post(rx, 2, 2048);
	virtio_queue_notify(&n->vdev, VIRTIO_NET_RXQ);
	CHECK_EQ(used_idx(rx), 3);
	CHECK_EQ(n->pending_count, 1);
	frame_fill(frame, sizeof(frame), 1);
	mem_read(&vm->mem, BUF + 0x2000 + VIRTIO_NET_HDR_LEN, got, sizeof(got));
	CHECK(memcmp(got, frame, sizeof(frame)) == 0);
	rx_post(rx, 3, 2048);
	virtio_queue_notify(&n->vdev, VIRTIO_NET_RXQ);
	CHECK_EQ(used_idx(rx), 4);
	CHECK_EQ(n->pending_count, 0);

	/* Too many waiting: the oldest are dropped and counted. */
	for (unsigned k = 0; k < VIRTIO_NET_PENDING + 5; k++)
		virtio_net_receive(n, frame, sizeof(frame));
	CHECK_EQ(n->pending_count, VIRTIO_NET_PENDING);
	CHECK_EQ(n->st.rx_overflow, 5);

	/* A buffer too small for the frame: returned empty and counted, the frame dropped
	 * (the driver broke the rule that every buffer holds a whole frame). */
	rx_post(rx, 4, 100);
	virtio_queue_notify(&n->vdev, VIRTIO_NET_RXQ);
	CHECK_EQ(used_idx(rx), 5);
	CHECK_EQ(n->pending_count, VIRTIO_NET_PENDING - 1);
	used_elem(rx, 4, &id, &len);
	CHECK_EQ(len, 0);
	CHECK_EQ(n->st.rx_small_buffer, 1);

	/* Runts and giants from the backend are ignored. */
	unsigned long before = n->st.rx_frames;
	virtio_net_receive(n, frame, 10);
	CHECK_EQ(n->st.rx_frames, before);

	/* A receive buffer outside RAM: the device needs a reset, waiting frames go. */
	desc(rx, 5, RAM + 0x1000, 2048, VIRTQ_DESC_F_WRITE, 0);
	avail_add(rx, 5);
	virtio_queue_notify(&n->vdev, VIRTIO_NET_RXQ);
	CHECK(n->vdev.status & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(n->pending_count, 0);
	virtio_net_receive(n, frame, sizeof(frame));
	CHECK_EQ(n->pending_count, 0);
	CHECK(n->st.rx_not_ready >= 1);
}

int main(void)
{
	struct err e;
	struct virtio_net *n;
	struct ring q[2];
	struct fake_backend fb = { .be = { .name = "fake", .send = fake_send } };
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };

	vm = vt_vm(RAM);
	CHECK_EQ(virtio_net_create(vm, mac, &n, &e), 0);
	n->backend = &fb.be;
	CHECK_EQ(n->vdev.device_id, VIRTIO_ID_NET);
	CHECK_EQ(n->vdev.nqueues, 2);
	CHECK(n->vdev.features >> VIRTIO_NET_F_MAC & 1);
	CHECK(memcmp(n->vdev.config, mac, 6) == 0);
	CHECK_EQ(n->vdev.config[6], VIRTIO_NET_S_LINK_UP);

	/* Before the driver is up, frames are dropped. */
	uint8_t frame[64] = { 0 };
	virtio_net_receive(n, frame, sizeof(frame));
	CHECK_EQ(n->st.rx_not_ready, 1);

	ring_init(&q[0], vm, RXR, QSIZE);
	ring_init(&q[1], vm, TXR, QSIZE);
	vdev_up(&n->vdev, 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS, q, 2);
	test_tx(n, &q[1], &fb);
	test_rx(n, &q[0]);

	/* Reset and up again (EVENT_IDX this time): works. */
	ring_init(&q[0], vm, RXR, QSIZE);
	ring_init(&q[1], vm, TXR, QSIZE);
	vdev_up(&n->vdev, 1ull << VIRTIO_F_EVENT_IDX, q, 2);
	rx_post(&q[0], 0, 2048);
	virtio_net_receive(n, frame, sizeof(frame));
	CHECK_EQ(used_idx(&q[0]), 1);

	vt_vm_free(vm);
	return check_done();
}
