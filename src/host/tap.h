/* A TAP interface as the network backend (--net tap,ifname=NAME): the guest's frames
 * are written to the host's tap device, and frames the host sends there go to the
 * guest. Needs /dev/net/tun and the right to attach to NAME (root or CAP_NET_ADMIN, or
 * an interface made beforehand with `ip tuntap add NAME mode tap user USER`); the
 * host configures the interface (address, bridge) itself. */
#ifndef TRIVISOR_HOST_TAP_H
#define TRIVISOR_HOST_TAP_H

#include "core/vm.h"
#include "net_backend.h"

struct tap_stats {
	unsigned long tx_frames, rx_frames;
	unsigned long tx_dropped;    /* the tap device would have blocked, or failed */
};

/* Attach to (or create) cfg->ifname with receive(opaque, ...) taking the frames for the
 * guest on the backend's thread. Owned by the VM. */
int tap_net_create(struct vm *vm, const struct vm_net_config *cfg,
                   void (*receive)(void *opaque, const uint8_t *frame, size_t len),
                   void *opaque, struct net_backend **out, struct err *e);

#endif
