/* virtio-net (net.c): transmit chains parsed into frames for a backend that consumes
 * them (the thing under test is the device's parsing, not a network), and frames from
 * the host (the input) delivered into the driver's receive buffers, or queued while
 * there are none. Invariant: the backend only ever sees frames of a legal length, every
 * byte of which it can read. */
#include "fuzz.h"


#include "hw/virtio/net.h"

static int sink(struct net_backend *b, const uint8_t *frame, size_t len)
{
	return fuzz_frame_sink(frame, len, VIRTIO_NET_MIN_FRAME, VIRTIO_NET_MAX_FRAME);
}

static struct net_backend backend = { .name = "fuzz sink", .send = sink };

/* A frame from the host: u16 length (mod 2048, or up to the maximum), its bytes. */
static void receive(void *ctx, struct fz *f)
{
	static uint8_t frame[VIRTIO_NET_MAX_FRAME + 1];
	uint16_t n = fz_u16(f);
	size_t len = n & 0x8000 ? (size_t)n * 2 : n % 2048;
	fz_bytes(f, frame, len < 256 ? len : 256);     /* the rest: zeros (or last frame) */
	virtio_net_receive(ctx, frame, len);
}

static struct virtio_net *net;

static void stats(FILE *out)
{
	const struct virtio_net_stats *s = &net->st;
	fprintf(out, " tx_frames=%lu rx_frames=%lu tx_malformed=%lu tx_backend_drops=%lu"
	        " rx_not_ready=%lu rx_overflow=%lu rx_small_buffer=%lu protocol_errors=%lu",
	        s->tx_frames, s->rx_frames, s->tx_malformed, s->tx_backend_drops, s->rx_not_ready,
	        s->rx_overflow, s->rx_small_buffer, net->vdev.protocol_errors);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!net) {
		static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
		struct err e;
		if (virtio_net_create(fuzz_vm(), mac, &net, &e))
			fuzz_fail("virtio_net_create: %s", e.msg);
		net->backend = &backend;
		fuzz_stats_at_exit(stats);
	}
	fuzz_virtio_dev(&net->vdev, data, size, receive, net);
	if (net->pending_count)
		fuzz_fail("%u frames still wait after a reset", net->pending_count);
	return 0;
}
