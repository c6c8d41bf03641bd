/* See devices.h. Order on the bus (after the disks): rng, net, console. */
#include "devices.h"

#include <errno.h>

#include "console.h"
#include "host/slirp.h"
#include "host/tap.h"
#include "net.h"
#include "rng.h"
#include "virtio_pci.h"

#define PCI_CLASS_NETWORK_ETHERNET 0x020000
#define PCI_CLASS_OTHER            0xff0000
#define PCI_CLASS_COMM_OTHER       0x078000

static int net_create(struct vm *vm, struct pci_host *pci, struct err *e)
{
	const struct vm_net_config *cfg = &vm->cfg.net;
	struct virtio_net *n;
	struct virtio_pci *t;
	int r;

	if ((r = virtio_net_create(vm, cfg->mac, &n, e)) ||
	    (r = virtio_pci_create(vm, pci, &n->vdev, PCI_CLASS_NETWORK_ETHERNET, &t, e)))
		return r;
	n->lock = &t->pci.lock;
	switch (cfg->backend) {
	case VM_NET_USER:
		return slirp_net_create(vm, cfg, virtio_net_receive, n, &n->backend, e);
	case VM_NET_TAP:
		return tap_net_create(vm, cfg, virtio_net_receive, n, &n->backend, e);
	default:
		return err_set(e, ENOTSUP, "--net: unknown backend");
	}
}

int virtio_devices_create(struct vm *vm, struct pci_host *pci, struct err *e)
{
	int r = 0;

	if (vm->cfg.rng) {
		struct virtio_rng *rng;
		if ((r = virtio_rng_create(vm, &rng, e)) ||
		    (r = virtio_pci_create(vm, pci, &rng->vdev, PCI_CLASS_OTHER, NULL, e)))
			return r;
	}
	if (vm->cfg.net.backend != VM_NET_NONE && (r = net_create(vm, pci, e)))
		return r;
	if (vm->cfg.console == VM_CONSOLE_VIRTIO) {
		struct virtio_console *con;
		struct virtio_pci *t;
		if ((r = virtio_console_create(vm, vm->cfg.console_out, &con, e)) ||
		    (r = virtio_pci_create(vm, pci, &con->vdev, PCI_CLASS_COMM_OTHER, &t, e)))
			return r;
		con->lock = &t->pci.lock;
		vm->console_dev = con;
		vm->console_receive = virtio_console_receive;
	}
	return 0;
}
