/* See devices.h. Order of creation (after the disks): rng, net, console. */
#include "devices.h"


#include "console.h"
#include "host/net_backend.h"
#include "net.h"
#include "rng.h"
#include "virtio_mmio.h"
#include "virtio_pci.h"

#define PCI_CLASS_NETWORK_ETHERNET 0x020000
#define PCI_CLASS_OTHER            0xff0000
#define PCI_CLASS_COMM_OTHER       0x078000

unsigned virtio_device_count(const struct vm_config *cfg)
{
	unsigned n = cfg->rng + (cfg->console == VM_CONSOLE_VIRTIO) +
	             (cfg->net.backend != VM_NET_NONE && cfg->net.kind == VM_DEV_VIRTIO);
	for (unsigned i = 0; i < cfg->ndisks; i++)
		n += cfg->disks[i].kind == VM_DEV_VIRTIO;
	return n;
}

unsigned virtio_mmio_device_count(const struct vm_config *cfg)
{
	return cfg->virtio_transport == VM_VIRTIO_MMIO ? virtio_device_count(cfg) : 0;
}

int virtio_attach(struct vm *vm, struct pci_host *pci, struct virtio_dev *vdev,
                  uint32_t pci_class, pthread_mutex_t **lock, struct err *e)
{
	int r;
	if (vm->cfg.virtio_transport == VM_VIRTIO_MMIO) {
		struct virtio_mmio *t;
		if ((r = virtio_mmio_create(vm, vdev, &t, e)))
			return r;
		if (lock)
			*lock = &t->lock;
		return 0;
	}
	struct virtio_pci *t;
	if ((r = virtio_pci_create(vm, pci, vdev, pci_class, &t, e)))
		return r;
	if (lock)
		*lock = &t->pci.lock;
	return 0;
}

static int net_create(struct vm *vm, struct pci_host *pci, struct err *e)
{
	const struct vm_net_config *cfg = &vm->cfg.net;
	struct virtio_net *n;
	int r;

	if ((r = virtio_net_create(vm, cfg->mac, &n, e)) ||
	    (r = virtio_attach(vm, pci, &n->vdev, PCI_CLASS_NETWORK_ETHERNET, &n->lock, e)))
		return r;
	return net_backend_create(vm, cfg, virtio_net_receive, n, &n->backend, e);
}

int virtio_devices_create(struct vm *vm, struct pci_host *pci, struct err *e)
{
	int r = 0;

	if (vm->cfg.rng) {
		struct virtio_rng *rng;
		if ((r = virtio_rng_create(vm, &rng, e)) ||
		    (r = virtio_attach(vm, pci, &rng->vdev, PCI_CLASS_OTHER, NULL, e)))
			return r;
	}
	if (vm->cfg.net.backend != VM_NET_NONE && vm->cfg.net.kind == VM_DEV_VIRTIO &&
	    (r = net_create(vm, pci, e)))
		return r;
	if (vm->cfg.console == VM_CONSOLE_VIRTIO) {
		struct virtio_console *con;
		if ((r = virtio_console_create(vm, vm->cfg.console_out, &con, e)) ||
		    (r = virtio_attach(vm, pci, &con->vdev, PCI_CLASS_COMM_OTHER, &con->lock, e)))
			return r;
		vm->console_dev = con;
		vm->console_receive = virtio_console_receive;
	}
	return 0;
}
