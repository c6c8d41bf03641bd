/* virtio 1.x device core (virtio 1.2, chapters 2 and 3), independent of the transport:
 * feature negotiation, device status and reset, split virtqueues, notifications in both
 * directions.
 *
 * A device type (blk.c, ...) fills a struct virtio_dev and its ops; a transport
 * (virtio_pci.c, virtio_mmio.c) exposes it to the guest and turns the core's interrupt
 * requests into MSI-X messages or an interrupt line. Every call into a virtio_dev
 * happens with the transport's lock held.
 *
 * A driver that breaks the protocol (rings outside RAM, descriptor loops, out-of-range
 * indexes, ...) puts the device in DEVICE_NEEDS_RESET: it stops processing queues,
 * signals a configuration change, and counts and logs the event once; nothing is ever
 * read or written outside guest RAM. */
#ifndef TRIVISOR_HW_VIRTIO_H
#define TRIVISOR_HW_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "virtqueue.h"

struct vm;

/* Device status (2.1) */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER      0x02
#define VIRTIO_STATUS_DRIVER_OK   0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

/* Reserved feature bits (6) */
#define VIRTIO_F_INDIRECT_DESC    28
#define VIRTIO_F_EVENT_IDX        29
#define VIRTIO_F_VERSION_1        32

#define VIRTIO_MAX_QUEUES 8

/* Device IDs (5) */
#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG     4

struct virtio_dev;

struct virtio_dev_ops {
	/* The driver notified queue q (DRIVER_OK is set, the queue is enabled). Typically
	 * virtio_process_queue with the device's request handler. */
	void (*queue_notify)(struct virtio_dev *v, unsigned q);
	/* Reset the device-specific state (the core resets the rest). May be NULL. */
	void (*reset)(struct virtio_dev *v);
	/* A driver write to the device configuration space. NULL: read-only. */
	void (*config_write)(struct virtio_dev *v, unsigned off, const uint8_t *data, unsigned size);
};

/* What the core asks of its transport: deliver the interrupt for queue q's used
 * buffers, or for a configuration change when q < 0. */
typedef void (*virtio_interrupt_fn)(void *transport, int q);

/* Protocol errors logged per device; the rest are only counted, so that a driver
 * breaking the protocol in a loop cannot flood the host's log. */
#define VIRTIO_WARN_MAX 5

struct virtio_dev {
	const char *name;
	struct vm *vm;
	uint16_t device_id;
	const struct virtio_dev_ops *ops;
	void *opaque;                 /* the device type's state */

	uint64_t features;            /* offered */
	uint64_t driver_features;     /* written by the driver */
	uint8_t status;
	uint8_t isr;                  /* bit 0: used buffers, bit 1: configuration change */
	uint8_t config_generation;
	const uint8_t *config;        /* device configuration space (the device's memory) */
	unsigned config_len;

	unsigned nqueues;
	struct virtq vqs[VIRTIO_MAX_QUEUES];
	struct vq_chain chain;        /* scratch for the chain being processed */

	virtio_interrupt_fn interrupt;
	void *transport;

	/* counters */
	unsigned long protocol_errors;  /* times the device had to ask for a reset */
	unsigned warned;                /* of which logged: the first VIRTIO_WARN_MAX */
	unsigned long ignored_notifies; /* notifications for queues that cannot run */
	unsigned long dropped;          /* chains the device could not answer */
};

/* Set up v with nqueues queues of at most qmax (power of two <= VIRTQ_MAX_SIZE)
 * entries. VIRTIO_F_VERSION_1 is always offered. */
void virtio_init(struct virtio_dev *v, struct vm *vm, const char *name, uint16_t device_id,
                 uint64_t features, unsigned nqueues, uint16_t qmax,
                 const struct virtio_dev_ops *ops, void *opaque);

/* Device reset (a driver writing 0 to the status, or the transport). */
void virtio_reset(struct virtio_dev *v);

/* Driver writes. Features are accepted only before FEATURES_OK; FEATURES_OK is refused
 * (not set) for a feature set that is not a subset of the offer or lacks VERSION_1. */
void virtio_set_driver_features(struct virtio_dev *v, unsigned word, uint32_t val);
void virtio_set_status(struct virtio_dev *v, uint8_t status);

/* 32-bit word `word` of the offered / the driver's features (0 past bit 63). */
uint32_t virtio_features_word(const struct virtio_dev *v, uint32_t word);
uint32_t virtio_driver_features_word(const struct virtio_dev *v, uint32_t word);

/* Device configuration space accesses of any width at any offset: reads past its end
 * give zeros, writes past its end (or to a read-only space) are dropped. */
void virtio_config_read(const struct virtio_dev *v, uint64_t off, uint8_t *data, unsigned size);
void virtio_config_write(struct virtio_dev *v, uint64_t off, const uint8_t *data, unsigned size);

/* Queue configuration by the driver: allowed while the queue is not enabled. Enabling
 * checks the ring layout (size a power of two <= the maximum, alignment, all three
 * rings in RAM); a bad one needs a reset. */
void virtio_queue_set_size(struct virtio_dev *v, unsigned q, uint16_t size);
void virtio_queue_set_addr(struct virtio_dev *v, unsigned q, uint64_t desc, uint64_t avail,
                           uint64_t used);
void virtio_queue_enable(struct virtio_dev *v, unsigned q);
/* The driver took queue q back (virtio-mmio QueueReady = 0): the device stops using
 * it; its configuration stays for the driver to read or change. */
void virtio_queue_disable(struct virtio_dev *v, unsigned q);

/* The driver notified queue q. */
void virtio_queue_notify(struct virtio_dev *v, unsigned q);

/* The handler of one request: returns how many bytes it wrote into the chain's
 * writable part, or < 0 to drop the chain (it is returned with length 0). */
typedef int64_t (*virtio_request_fn)(struct virtio_dev *v, struct virtq *q, struct vq_chain *c);

/* Pop every available chain of queue q, hand each to fn, return it to the used ring,
 * and interrupt the driver if it wants to be. */
void virtio_process_queue(struct virtio_dev *v, unsigned q, virtio_request_fn fn);

/* The device found the driver breaking the protocol: set DEVICE_NEEDS_RESET, signal a
 * configuration change, log once. */
void virtio_needs_reset(struct virtio_dev *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The device configuration changed (bumps config_generation, interrupts). */
void virtio_config_changed(struct virtio_dev *v);

/* Snapshots: the core's state (features, status, ISR, every queue's configuration and
 * position), written and read by the transport inside its own section. There are no
 * requests in flight to save: each one is served whole on the thread that notified, so
 * a paused VM has none half done. load checks what it reads as a driver's writes would
 * be (a queue the driver enabled must still pass vq_check) and refuses a device that
 * offers other features than it did (its disk became read-only, ...). */
struct snap_writer;
struct snap_reader;
void virtio_save(const struct virtio_dev *v, struct snap_writer *w);
int virtio_load(struct virtio_dev *v, struct snap_reader *r);

static inline bool virtio_has_feature(const struct virtio_dev *v, unsigned bit)
{
	return v->driver_features >> bit & 1;
}

#endif
