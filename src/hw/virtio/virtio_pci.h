/* virtio over PCI, modern (non-transitional) interface (virtio 1.2, 4.1): vendor
 * 0x1af4, device 0x1040 + virtio device ID, revision 1; the common, notify, ISR and
 * device configuration structures in one 64-bit memory BAR (BAR 0), the MSI-X table
 * and PBA in a 32-bit one (BAR 2), and the PCI configuration access capability. No
 * INTx: the driver must use MSI-X (Linux does). */
#ifndef TRIVISOR_HW_VIRTIO_PCI_H
#define TRIVISOR_HW_VIRTIO_PCI_H

#include "hw/pci.h"
#include "hw/pci_msix.h"
#include "virtio.h"

#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_NO_VECTOR       0xffff

/* Capability types (4.1.4) */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG    3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG    5

/* BAR 0 layout */
#define VIRTIO_PCI_BAR           0
#define VIRTIO_PCI_COMMON_OFF    0x0000
#define VIRTIO_PCI_COMMON_LEN    0x40
#define VIRTIO_PCI_ISR_OFF       0x1000
#define VIRTIO_PCI_ISR_LEN       4
#define VIRTIO_PCI_DEVICE_OFF    0x2000
#define VIRTIO_PCI_DEVICE_LEN    0x1000
#define VIRTIO_PCI_NOTIFY_OFF    0x3000
#define VIRTIO_PCI_NOTIFY_MULT   4
#define VIRTIO_PCI_BAR_SIZE      0x4000
/* BAR 2: MSI-X */
#define VIRTIO_PCI_MSIX_BAR      2
#define VIRTIO_PCI_MSIX_TABLE    0x000
#define VIRTIO_PCI_MSIX_PBA      0x800
#define VIRTIO_PCI_MSIX_BAR_SIZE 0x1000

/* Common configuration structure offsets (4.1.4.3) */
#define VPCI_DFSELECT      0x00
#define VPCI_DF            0x04
#define VPCI_GFSELECT      0x08
#define VPCI_GF            0x0c
#define VPCI_MSIX_CONFIG   0x10
#define VPCI_NUM_QUEUES    0x12
#define VPCI_STATUS        0x14
#define VPCI_CFG_GEN       0x15
#define VPCI_Q_SELECT      0x16
#define VPCI_Q_SIZE        0x18
#define VPCI_Q_MSIX        0x1a
#define VPCI_Q_ENABLE      0x1c
#define VPCI_Q_NOFF        0x1e
#define VPCI_Q_DESC        0x20
#define VPCI_Q_AVAIL       0x28
#define VPCI_Q_USED        0x30

struct pci_host;

struct virtio_pci {
	struct pci_dev pci;
	struct pci_msix msix;
	struct virtio_dev *vdev;
	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	uint16_t config_vector;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	unsigned cfg_cap;             /* the PCI configuration access capability */
	unsigned long no_vector;      /* interrupts dropped: no MSI-X vector assigned/enabled */
	char snap_name[40];           /* its snapshot section: virtio-pci.<device> */
};

/* Put vdev on the PCI bus (class_code: what lspci shows). Owned by the VM. Devices are
 * attached through virtio_attach (devices.h), which honours --virtio-transport. */
int virtio_pci_create(struct vm *vm, struct pci_host *host, struct virtio_dev *vdev,
                      uint32_t class_code, struct virtio_pci **out, struct err *e);

#endif
