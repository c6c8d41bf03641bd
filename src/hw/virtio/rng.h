/* virtio-rng, the entropy device (virtio 1.2, 5.4): one request queue whose buffers
 * the device fills with bytes from the host's getrandom(2). No configuration space, no
 * device features. Requests run on the notifying vCPU's thread (--rng). */
#ifndef TRIVISOR_HW_VIRTIO_RNG_H
#define TRIVISOR_HW_VIRTIO_RNG_H

#include "core/vm.h"
#include "virtio.h"

#define VIRTIO_RNG_QUEUE_SIZE 64
#define VIRTIO_RNG_MAX_REQUEST (64u << 10)   /* bytes given per request, at most */

struct virtio_rng {
	struct virtio_dev vdev;
	unsigned long requests;
	unsigned long malformed;    /* chains with no device-writable buffer (dropped) */
	unsigned long failed;       /* getrandom failures (the chain returns what was filled) */
	uint64_t bytes;
};

/* Make the device (not yet on any transport). Owned by the VM. */
int virtio_rng_create(struct vm *vm, struct virtio_rng **out, struct err *e);

#endif
