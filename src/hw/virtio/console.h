/* virtio-console (virtio 1.2, 5.3) as the guest's console (Linux: hvc0), one port, no
 * multiport or size features: receiveq 0 takes what the host console types
 * (vm->console_receive, from the console thread), transmitq 1's bytes go to the host
 * console's output on the notifying vCPU's thread (--console virtio). */
#ifndef TRIVISOR_HW_VIRTIO_CONSOLE_H
#define TRIVISOR_HW_VIRTIO_CONSOLE_H

#include <pthread.h>

#include "core/vm.h"
#include "virtio.h"

#define VIRTIO_CONSOLE_QUEUE_SIZE 64
#define VIRTIO_CONSOLE_RXQ 0
#define VIRTIO_CONSOLE_TXQ 1

struct virtio_console {
	struct virtio_dev vdev;
	pthread_mutex_t *lock;        /* the transport's (see net.h); NULL: caller serializes */
	int out_fd;                   /* where the guest's output goes */
	const uint8_t *rx_data;       /* input being delivered */
	size_t rx_len, rx_done;
	unsigned long tx_bytes, rx_bytes;
	unsigned long tx_errors;      /* writes to out_fd that failed (output dropped) */
	unsigned long malformed;      /* transmit chains with writable parts, receive chains without */
};

/* Make the device writing the guest's output to out_fd (not yet on any transport).
 * Owned by the VM. */
int virtio_console_create(struct vm *vm, int out_fd, struct virtio_console **out,
                          struct err *e);

/* Input for the guest (the vm->console_receive hook): puts what fits into the
 * receive buffers the driver made available; returns how many bytes it took. */
size_t virtio_console_receive(void *console, const uint8_t *buf, size_t n);

#endif
