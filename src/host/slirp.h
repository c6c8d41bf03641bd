/* User-mode networking through libslirp: the guest's network is 10.0.2.0/24 with the
 * host (and the gateway, whose address reaches the host's loopback) at 10.0.2.2, DNS
 * at 10.0.2.3 and DHCP handing out 10.0.2.15; host ports forward into the guest
 * (hostfwd). No privileges needed.
 *
 * libslirp is not thread-safe: one thread of ours owns the Slirp instance and runs its
 * event loop (sockets, timers). The guest's frames are queued to that thread (send
 * never blocks the vCPU), and frames for the guest are handed to the device's receive
 * callback on it.
 *
 * Errors never stop the VM: a frame the queue cannot take is dropped and counted, a
 * packet libslirp finds malformed is dropped by it (and counted when it says so), and
 * a host socket that fails (a connection refused, no descriptors left) reaches the
 * guest as TCP resets or ICMP errors, as a real network would give it. A host port
 * that cannot be forwarded (in use) is an error at start. --stats reports the counts. */
#ifndef TRIVISOR_HOST_SLIRP_H
#define TRIVISOR_HOST_SLIRP_H

#include <stdatomic.h>

#include "core/vm.h"
#include "net_backend.h"

#define SLIRP_TXQ_LEN 256        /* guest frames queued for the slirp thread, at most */

/* Written by the devices' threads (tx) and the slirp thread, read by --stats. */
struct slirp_stats {
	atomic_ulong tx_frames, rx_frames;
	atomic_ulong tx_dropped;     /* the queue to the slirp thread was full (or no memory) */
	atomic_ulong guest_errors;   /* libslirp's complaints about the guest's packets */
};

/* Start user networking for cfg (backend VM_NET_USER) with receive(opaque, ...) taking
 * the frames for the guest. Owned by the VM (the thread stops at vm_destroy). */
int slirp_net_create(struct vm *vm, const struct vm_net_config *cfg,
                     void (*receive)(void *opaque, const uint8_t *frame, size_t len),
                     void *opaque, struct net_backend **out, struct err *e);

#endif
