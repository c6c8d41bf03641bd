/* A TAP interface as the network backend (--net tap,ifname=NAME): the guest's frames
 * are written to the host's tap device, and frames the host sends there go to the
 * guest. Needs /dev/net/tun and the right to attach to NAME (root or CAP_NET_ADMIN, or
 * an interface made beforehand with `ip tuntap add NAME mode tap user USER`); the
 * host configures the interface (address, bridge) itself.
 *
 * A failing interface never stops the VM: a frame the tap device refuses (EIO while it
 * is down, EAGAIN when it is full, EBADFD once it was deleted) is dropped and counted,
 * and once the interface is gone the guest just receives nothing more. --stats reports
 * the counts. */
#ifndef TRIVISOR_HOST_TAP_H
#define TRIVISOR_HOST_TAP_H

#include <stdatomic.h>

#include "core/vm.h"
#include "net_backend.h"

/* Written by the device's thread (tx) and the tap thread (rx), read by --stats. */
struct tap_stats {
	atomic_ulong tx_frames, rx_frames;
	atomic_ulong tx_dropped;     /* the tap device would have blocked, or failed */
	atomic_int tx_errno;         /* the last write error */
	atomic_bool gone;            /* the interface went away: nothing more to receive */
};

/* Attach to (or create) cfg->ifname with receive(opaque, ...) taking the frames for the
 * guest on the backend's thread. Owned by the VM. */
int tap_net_create(struct vm *vm, const struct vm_net_config *cfg,
                   void (*receive)(void *opaque, const uint8_t *frame, size_t len),
                   void *opaque, struct net_backend **out, struct err *e);

#endif
