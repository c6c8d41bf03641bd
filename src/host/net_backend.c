/* net_backend_create: the one place that maps --net's backend to its implementation. */
#include "net_backend.h"

#include <errno.h>

#include "core/vm.h"
#include "slirp.h"
#include "tap.h"

int net_backend_create(struct vm *vm, const struct vm_net_config *cfg,
                       void (*receive)(void *opaque, const uint8_t *frame, size_t len),
                       void *opaque, struct net_backend **out, struct err *e)
{
	switch (cfg->backend) {
	case VM_NET_USER:
		return slirp_net_create(vm, cfg, receive, opaque, out, e);
	case VM_NET_TAP:
		return tap_net_create(vm, cfg, receive, opaque, out, e);
	default:
		return err_set(e, ENOTSUP, "--net: unknown backend");
	}
}
