/* virtio-net, virtio-rng and virtio-console against random drivers: random descriptor
 * tables (addresses in, across the end of and beyond RAM, any lengths and flags, loops,
 * indirect tables of garbage), random available rings, notifications on every queue
 * and host-side input, thousands of times. Under ASan+UBSan this is the short fuzz run
 * of the devices' request parsing: nothing may crash or touch memory outside RAM, and
 * each device either answers within the ring's bounds or asks for a reset. */
#include "vdev.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "hw/virtio/console.h"
#include "hw/virtio/net.h"
#include "hw/virtio/rng.h"

#define RAM  (2 * MiB)
#define RING 0x10000
#define BUF  0x40000
#define TBL  0x30000
#define ITERS 5000

static struct vm *vm;
static uint64_t seed = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) { return check_xorshift(&seed); }

static int drop_send(struct net_backend *b, const uint8_t *frame, size_t len)
{
	return rnd() & 1 ? 0 : -ENOBUFS;
}

static void random_ring(struct ring *r, uint64_t base)
{
	uint16_t size = (uint16_t)(1u << (1 + rnd() % 6));     /* 2..64 */
	ring_init(r, vm, base, size);
	for (unsigned i = 0; i < size; i++) {
		uint64_t x = rnd();
		/* mostly plausible, so that runs get past the first chain; 1 in 8 hostile */
		uint64_t addr = (x & 7) == 0 ? (x & 8 ? rnd() : RAM - rnd() % 4096)
		                             : BUF + rnd() % (RAM - BUF - 0x10000);
		uint32_t len;
		switch (rnd() % 6) {
		case 0: len = 0; break;
		case 1: len = (uint32_t)(rnd() % 16); break;
		case 2: len = VIRTIO_NET_HDR_LEN + (uint32_t)(rnd() % 1600); break;
		case 3: len = rnd() & 1 ? (uint32_t)rnd() : 2048; break;
		default: len = (uint32_t)(rnd() % 4096); break;
		}
		uint16_t flags = (uint16_t)(rnd() & 3), next = (uint16_t)((i + 1) % size);
		if ((x & 0x30) == 0)
			next = (uint16_t)(rnd() % (size + 2u));
		if ((x & 0x1c0) == 0)
			flags |= VIRTQ_DESC_F_INDIRECT;
		if ((flags & VIRTQ_DESC_F_INDIRECT) && (x & 0x200)) {
			addr = TBL + (rnd() % 64) * 16;
			len = (uint32_t)(rnd() % 16) * 16;
		}
		desc(r, (uint16_t)i, addr, len, flags, next);
	}
	for (unsigned i = 0; i < size; i++)
		poke(vm, r->avail + 4 + 2 * i, rnd() % (size + 1u), 2);
	r->avail_idx = (uint16_t)(rnd() % (size + 2u));
	poke(vm, r->avail + 2, r->avail_idx, 2);
}

/* After the device ran: either it needs a reset, or every queue's used index moved by
 * at most the chains the driver offered. */
static void check_bounds(struct virtio_dev *v, struct ring *rings, unsigned n)
{
	if (v->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	for (unsigned i = 0; i < n; i++)
		CHECK(used_idx(&rings[i]) <= rings[i].avail_idx);
}

int main(void)
{
	struct err e;
	struct virtio_net *net;
	struct virtio_rng *rng;
	struct virtio_console *con;
	struct net_backend be = { .name = "drop", .send = drop_send };
	struct ring q[2];
	uint8_t frame[2048], input[300];
	int null = open("/dev/null", O_WRONLY);
	unsigned resets = 0;

	vm = vt_vm(RAM);
	CHECK_EQ(virtio_net_create(vm, (const uint8_t *)"\x52\x54\0\0\0\1", &net, &e), 0);
	CHECK_EQ(virtio_rng_create(vm, &rng, &e), 0);
	CHECK_EQ(virtio_console_create(vm, null, &con, &e), 0);
	net->backend = &be;
	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)rnd();
	memset(input, 'x', sizeof(input));

	for (unsigned iter = 0; iter < ITERS; iter++) {
		uint64_t features = (rnd() & 1) << VIRTIO_F_EVENT_IDX | (rnd() & 1) << VIRTIO_F_INDIRECT_DESC;
		uint8_t *t = mem_ptr(&vm->mem, TBL, 4096);
		for (unsigned i = 0; i < 4096; i++)
			t[i] = (uint8_t)rnd();
		struct virtio_dev *v;
		unsigned nq = 2;
		switch (iter % 3) {
		case 0: v = &net->vdev; break;
		case 1: v = &rng->vdev; nq = 1; break;
		default: v = &con->vdev; break;
		}
		random_ring(&q[0], RING);
		if (nq == 2)
			random_ring(&q[1], RING + 0x8000);
		vdev_up(v, features, q, nq);
		for (unsigned k = 0; k < 4; k++) {
			unsigned which = (unsigned)(rnd() % (nq + 1));
			if (which < nq)
				virtio_queue_notify(v, which);
			else if (v == &net->vdev)
				virtio_net_receive(net, frame, 14 + rnd() % (sizeof(frame) - 14));
			else if (v == &con->vdev)
				virtio_console_receive(con, input, 1 + rnd() % sizeof(input));
		}
		check_bounds(v, q, nq);
		resets += !!(v->status & VIRTIO_STATUS_NEEDS_RESET);
	}
	printf("random drivers: %lu net frames out, %lu in; %llu rng bytes; %lu console bytes "
	       "out, %lu in; %u runs ended needing a reset\n", net->st.tx_frames,
	       net->st.rx_frames, (unsigned long long)rng->bytes, con->tx_bytes, con->rx_bytes,
	       resets);
	CHECK(net->st.tx_frames > 0 && net->st.rx_frames > 0 && rng->bytes > 0);
	CHECK(con->tx_bytes > 0 && con->rx_bytes > 0);
	CHECK(resets > 0 && resets < ITERS);

	vt_vm_free(vm);
	close(null);
	return check_done();
}
