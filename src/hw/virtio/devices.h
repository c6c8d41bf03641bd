/* The para-virtual devices a configuration asks for besides disks (--rng, --net,
 * --console virtio), each on virtio-pci with its host backend. */
#ifndef TRIVISOR_HW_VIRTIO_DEVICES_H
#define TRIVISOR_HW_VIRTIO_DEVICES_H

#include "core/vm.h"

struct pci_host;

int virtio_devices_create(struct vm *vm, struct pci_host *pci, struct err *e);

#endif
