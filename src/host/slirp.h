/* User-mode networking through libslirp: the guest's network is 10.0.2.0/24 with the
 * host (and the gateway, whose address reaches the host's loopback) at 10.0.2.2, DNS
 * at 10.0.2.3 and DHCP handing out 10.0.2.15; host ports forward into the guest
 * (hostfwd). No privileges needed.
 *
 * libslirp is not thread-safe: one thread of ours owns the Slirp instance and runs its
 * event loop (sockets, timers). The guest's frames are queued to that thread (send
 * never blocks the vCPU), and frames for the guest are handed to the device's receive
 * callback on it. */
#ifndef TRIVISOR_HOST_SLIRP_H
#define TRIVISOR_HOST_SLIRP_H

#include "core/vm.h"
#include "net_backend.h"

#define SLIRP_TXQ_LEN 256        /* guest frames queued for the slirp thread, at most */

struct slirp_stats {
	unsigned long tx_frames, rx_frames;
	unsigned long tx_dropped;    /* the queue to the slirp thread was full */
	unsigned long guest_errors;  /* libslirp's complaints about the guest's packets */
};

/* Start user networking for cfg (backend VM_NET_USER) with receive(opaque, ...) taking
 * the frames for the guest. Owned by the VM (the thread stops at vm_destroy). */
int slirp_net_create(struct vm *vm, const struct vm_net_config *cfg,
                     void (*receive)(void *opaque, const uint8_t *frame, size_t len),
                     void *opaque, struct net_backend **out, struct err *e);

#endif
