/* The host side of a network device: where the guest's frames go and where the
 * guest's incoming frames come from (slirp.h: user-mode networking; tap later). */
#ifndef TRIVISOR_HOST_NET_BACKEND_H
#define TRIVISOR_HOST_NET_BACKEND_H

#include <stddef.h>
#include <stdint.h>

struct net_backend {
	const char *name;
	/* Take one Ethernet frame from the guest (the device's thread, its lock held; must
	 * not block or call back into the device). 0, or -errno: the frame is dropped. */
	int (*send)(struct net_backend *b, const uint8_t *frame, size_t len);
	/* Set by the device before the backend starts: a frame for the guest, called on
	 * the backend's own thread with no backend lock held. */
	void (*receive)(void *opaque, const uint8_t *frame, size_t len);
	void *opaque;
};

struct vm;
struct vm_net_config;
struct err;

/* The backend --net asks for (user: slirp.h, tap: tap.h), delivering the guest's
 * incoming frames to receive(opaque, ...). Whichever device model is in front of it. */
int net_backend_create(struct vm *vm, const struct vm_net_config *cfg,
                       void (*receive)(void *opaque, const uint8_t *frame, size_t len),
                       void *opaque, struct net_backend **out, struct err *e);

#endif
