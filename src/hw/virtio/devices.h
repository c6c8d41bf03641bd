/* The para-virtual devices a configuration asks for besides disks (--rng, --net,
 * --console virtio), each with its host backend, and the choice of transport for every
 * virtio device (--virtio-transport: virtio-pci or virtio-mmio). */
#ifndef TRIVISOR_HW_VIRTIO_DEVICES_H
#define TRIVISOR_HW_VIRTIO_DEVICES_H

#include <pthread.h>

#include "core/vm.h"
#include "virtio.h"

struct pci_host;

int virtio_devices_create(struct vm *vm, struct pci_host *pci, struct err *e);

/* Put vdev on the VM's virtio transport: virtio-pci (pci_class is what lspci shows)
 * or the next virtio-mmio slot. *lock (if lock is not NULL): the transport's lock,
 * which serializes every call into vdev. */
int virtio_attach(struct vm *vm, struct pci_host *pci, struct virtio_dev *vdev,
                  uint32_t pci_class, pthread_mutex_t **lock, struct err *e);

/* How many virtio devices cfg asks for (virtio disks, rng, virtio net, console), in the
 * order they are created: with --virtio-transport mmio, device i takes virtio-mmio slot i. */
unsigned virtio_device_count(const struct vm_config *cfg);
/* The virtio-mmio slots cfg fills (what the ACPI DSDT describes): the above with
 * --virtio-transport mmio, else 0. */
unsigned virtio_mmio_device_count(const struct vm_config *cfg);

#endif
