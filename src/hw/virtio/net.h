/* virtio-net (virtio 1.2, 5.1): one receive and one transmit queue, a MAC address and
 * link status in the configuration space, no offloads (the guest computes checksums
 * and segments itself). Every buffer starts with the 12-byte struct virtio_net_hdr
 * (the VERSION_1 layout, num_buffers included).
 *
 * Transmit runs on the notifying vCPU's thread and hands each frame to the host
 * backend (host/net_backend.h), which must not block. Frames for the guest arrive on
 * the backend's thread (virtio_net_receive); they go into the next receive buffer, or
 * wait in a short queue until the driver adds buffers (then the oldest are dropped). */
#ifndef TRIVISOR_HW_VIRTIO_NET_H
#define TRIVISOR_HW_VIRTIO_NET_H

#include <pthread.h>

#include "core/vm.h"
#include "host/net_backend.h"
#include "virtio.h"

/* Feature bits (5.1.3) */
#define VIRTIO_NET_F_MAC    5
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_HDR_LEN    12
#define VIRTIO_NET_CFG_LEN    8       /* mac[6], le16 status */
#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
#define VIRTIO_NET_MIN_FRAME  14      /* an Ethernet header */
#define VIRTIO_NET_MAX_FRAME  65550   /* no GSO: far more than any MTU-sized frame */
#define VIRTIO_NET_PENDING    64      /* received frames waiting for buffers, at most */

struct virtio_net_stats {
	unsigned long tx_frames, rx_frames;
	uint64_t tx_bytes, rx_bytes;
	unsigned long tx_malformed;     /* short, oversized, or asking for offloads we do not offer */
	unsigned long tx_backend_drops; /* the backend refused the frame */
	unsigned long rx_not_ready;     /* frames that arrived before the driver was up */
	unsigned long rx_overflow;      /* frames dropped: no buffers and the wait queue full */
	unsigned long rx_small_buffer;  /* receive buffers too small for the frame (dropped) */
};

struct net_pending {
	size_t len;
	uint8_t *data;
};

struct virtio_net {
	struct virtio_dev vdev;
	/* The transport's lock, which serializes every call into vdev: the receive path
	 * takes it. NULL when the caller serializes (unit tests without a transport). */
	pthread_mutex_t *lock;
	struct net_backend *backend;    /* NULL: transmitted frames are counted and dropped */
	uint8_t config[VIRTIO_NET_CFG_LEN];
	const uint8_t *rx_frame;        /* the frame being delivered */
	size_t rx_len;
	struct net_pending pending[VIRTIO_NET_PENDING];
	unsigned pending_head, pending_count;
	uint8_t frame[VIRTIO_NET_MAX_FRAME];
	struct virtio_net_stats st;
};

/* Make the device with MAC mac (not yet on any transport; no backend). Owned by the VM. */
int virtio_net_create(struct vm *vm, const uint8_t mac[6], struct virtio_net **out,
                      struct err *e);

/* A frame for the guest, from any thread (takes n->lock). */
void virtio_net_receive(void *net, const uint8_t *frame, size_t len);

#endif
