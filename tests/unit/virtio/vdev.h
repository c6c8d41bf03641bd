/* Bringing a virtio device up through the core API, as a driver would over any
 * transport: features, FEATURES_OK, queues on fabricated rings, DRIVER_OK. */
#ifndef TRIVISOR_TEST_VDEV_H
#define TRIVISOR_TEST_VDEV_H

#include "hw/virtio/virtio.h"
#include "vtest.h"

/* Negotiate want (VERSION_1 added), put queue i on rings[i] (already ring_init'ed),
 * set DRIVER_OK. */
static inline void vdev_up(struct virtio_dev *v, uint64_t want, struct ring *rings, unsigned n)
{
	want |= 1ull << VIRTIO_F_VERSION_1;
	virtio_set_status(v, 0);
	virtio_set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(v, 0, (uint32_t)want);
	virtio_set_driver_features(v, 1, (uint32_t)(want >> 32));
	virtio_set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	CHECK(v->status & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned i = 0; i < n; i++) {
		virtio_queue_set_size(v, i, rings[i].size);
		virtio_queue_set_addr(v, i, rings[i].desc, rings[i].avail, rings[i].used);
		virtio_queue_enable(v, i);
		CHECK(v->vqs[i].enabled);
	}
	virtio_set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	                     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

#endif
