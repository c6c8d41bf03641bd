/* virtio-rng on fabricated rings: buffers come back full of (different) random bytes,
 * with the right length, split across descriptors or not; chains with nothing to
 * write, too-long requests and buffers outside RAM are refused and counted. */
#include "vdev.h"

#include "hw/virtio/rng.h"

#define RAM  (4 * MiB)
#define RING 0x10000
#define BUF  0x100000   /* 1 MiB of RAM after it: the huge request below */

static struct vm *vm;

static void test_fill(struct virtio_rng *r, struct ring *q)
{
	uint8_t a[64], b[64], zero[64] = { 0 };
	uint32_t id, len;

	/* Two 32-byte writable descriptors in one chain. */
	mem_write(&vm->mem, BUF, zero, 64);
	desc(q, 0, BUF, 32, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(q, 1, BUF + 32, 32, VIRTQ_DESC_F_WRITE, 0);
	avail_add(q, 0);
	virtio_queue_notify(&r->vdev, 0);
	CHECK_EQ(used_idx(q), 1);
	used_elem(q, 0, &id, &len);
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 64);
	mem_read(&vm->mem, BUF, a, 64);
	CHECK(memcmp(a, zero, 32) != 0 && memcmp(a + 32, zero, 32) != 0);

	/* Again: different bytes. A readable descriptor first is ignored. */
	desc(q, 2, BUF + 4096, 8, VIRTQ_DESC_F_NEXT, 3);
	desc(q, 3, BUF, 64, VIRTQ_DESC_F_WRITE, 0);
	avail_add(q, 2);
	virtio_queue_notify(&r->vdev, 0);
	CHECK_EQ(used_idx(q), 2);
	used_elem(q, 1, &id, &len);
	CHECK_EQ(id, 2);
	CHECK_EQ(len, 64);
	mem_read(&vm->mem, BUF, b, 64);
	CHECK(memcmp(a, b, 64) != 0);

	/* A huge request gets at most VIRTIO_RNG_MAX_REQUEST bytes. */
	desc(q, 4, BUF, 1u << 20, VIRTQ_DESC_F_WRITE, 0);
	avail_add(q, 4);
	virtio_queue_notify(&r->vdev, 0);
	used_elem(q, 2, &id, &len);
	CHECK_EQ(len, VIRTIO_RNG_MAX_REQUEST);
	CHECK_EQ(r->bytes, 128 + VIRTIO_RNG_MAX_REQUEST);
}

static void test_hostile(struct virtio_rng *r, struct ring *q)
{
	uint32_t id, len;
	uint16_t u = used_idx(q);

	/* Nothing writable: returned empty, counted. */
	desc(q, 0, BUF, 16, 0, 0);
	avail_add(q, 0);
	virtio_queue_notify(&r->vdev, 0);
	CHECK_EQ(used_idx(q), (uint16_t)(u + 1));
	used_elem(q, u, &id, &len);
	CHECK_EQ(len, 0);
	CHECK_EQ(r->malformed, 1);
	CHECK_EQ(r->vdev.dropped, 1);
	CHECK(!(r->vdev.status & VIRTIO_STATUS_NEEDS_RESET));

	/* A buffer that runs past the end of RAM: the device needs a reset, RAM beyond is
	 * never touched (there is none), nothing is used. */
	desc(q, 1, RAM - 16, 32, VIRTQ_DESC_F_WRITE, 0);
	avail_add(q, 1);
	virtio_queue_notify(&r->vdev, 0);
	CHECK_EQ(used_idx(q), (uint16_t)(u + 1));
	CHECK(r->vdev.status & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(r->vdev.protocol_errors, 1);
	/* Further notifications are ignored until a reset. */
	virtio_queue_notify(&r->vdev, 0);
	CHECK(r->vdev.ignored_notifies >= 1);
}

int main(void)
{
	struct err e;
	struct virtio_rng *r;
	struct ring q;

	vm = vt_vm(RAM);
	CHECK_EQ(virtio_rng_create(vm, &r, &e), 0);
	CHECK_EQ(r->vdev.device_id, VIRTIO_ID_RNG);
	CHECK_EQ(r->vdev.nqueues, 1);
	CHECK_EQ(r->vdev.config_len, 0);
	ring_init(&q, vm, RING, 16);
	vdev_up(&r->vdev, 1ull << VIRTIO_F_EVENT_IDX, &q, 1);
	test_fill(r, &q);
	test_hostile(r, &q);

	/* After a reset the device works again. */
	ring_init(&q, vm, RING, 16);
	vdev_up(&r->vdev, 0, &q, 1);
	CHECK(!(r->vdev.status & VIRTIO_STATUS_NEEDS_RESET));
	desc(&q, 0, BUF, 16, VIRTQ_DESC_F_WRITE, 0);
	avail_add(&q, 0);
	virtio_queue_notify(&r->vdev, 0);
	CHECK_EQ(used_idx(&q), 1);

	vt_vm_free(vm);
	return check_done();
}
