/* Device-initiated delivery (implemented in virtio.c beside virtio_process_queue): data that arrives from the host side (received frames,
 * console input) goes into the next buffer the driver made available, from whichever
 * thread the data arrived on. The caller holds the transport's lock (the device's
 * `lock`, see net.h / console.h), like every call into a virtio_dev. */
#ifndef TRIVISOR_HW_VIRTIO_DELIVER_H
#define TRIVISOR_HW_VIRTIO_DELIVER_H

#include "virtio.h"

/* Can queue q take buffers now (DRIVER_OK, no reset pending, queue enabled)? */
bool virtio_queue_ready(const struct virtio_dev *v, unsigned q);

/* Take one available chain of queue q, let fn fill it (its result as for
 * virtio_process_queue), return it to the used ring and interrupt the driver if it
 * wants to be. Returns 1 when a chain was used, 0 when the driver has made none
 * available (with EVENT_IDX the driver is then asked to notify when it does), -1 when
 * the queue cannot run or the driver broke the protocol (the device then needs a
 * reset). */
int virtio_deliver(struct virtio_dev *v, unsigned q, virtio_request_fn fn);

#endif
