/* MSI-X (PCI Local Bus 3.0, 6.8.2): the capability, a vector table and a pending-bit
 * array (PBA) in one of the device's memory BARs, and delivery through vm_signal_msi.
 *
 * All functions run with the device's lock held (from its BAR handler, its
 * configuration hooks or its own code). */
#ifndef TRIVISOR_HW_PCI_MSIX_H
#define TRIVISOR_HW_PCI_MSIX_H

#include <stdbool.h>
#include <stdint.h>

#include "pci.h"

#define PCI_MSIX_MAX_VECTORS 64
#define PCI_MSIX_ENTRY_SIZE  16
#define PCI_MSIX_CAP_LEN     12

/* Message control (capability + 2) */
#define PCI_MSIX_CTRL_ENABLE (1u << 15)
#define PCI_MSIX_CTRL_MASKALL (1u << 14)
/* Vector control (entry + 12) */
#define PCI_MSIX_ENTRY_MASKED 1u

struct pci_msix {
	struct pci_dev *dev;
	unsigned nvec;
	unsigned cap;                 /* configuration offset of the capability */
	uint32_t table_off, pba_off;  /* inside the BAR */
	uint8_t table[PCI_MSIX_MAX_VECTORS * PCI_MSIX_ENTRY_SIZE];
	uint64_t pending;             /* the PBA: one bit per vector */
	unsigned long sent, masked_hits;
};

/* Add the capability to d: nvec vectors, table at table_off and PBA at pba_off (both
 * 8-byte aligned) of BAR bar, which the caller declares and whose handler passes
 * accesses to [table_off, table end) and [pba_off, PBA end) to pci_msix_access. */
int pci_msix_init(struct pci_msix *m, struct pci_dev *d, unsigned nvec, unsigned bar,
                  uint32_t table_off, uint32_t pba_off);

/* Bytes of the table and PBA. */
static inline uint32_t pci_msix_table_size(const struct pci_msix *m)
{
	return m->nvec * PCI_MSIX_ENTRY_SIZE;
}
static inline uint32_t pci_msix_pba_size(const struct pci_msix *m)
{
	return ((m->nvec + 63) / 64) * 8;
}

/* An access to the BAR at off: true if it was the table's or the PBA's. */
bool pci_msix_access(struct pci_msix *m, uint64_t off, uint8_t *data, unsigned size,
                     bool is_write);

/* Call after every configuration write to the device (unmasking may deliver). */
void pci_msix_cfg_written(struct pci_msix *m, unsigned off, unsigned len);

/* MSI-X enabled by the guest? */
bool pci_msix_enabled(const struct pci_msix *m);

/* Signal vector vec: delivered now, or left pending while masked. False if MSI-X is
 * off, vec is out of range, or bus mastering is off (the caller may fall back). */
bool pci_msix_notify(struct pci_msix *m, unsigned vec);

/* Back to the power-on state: disabled, every vector masked, nothing pending. */
void pci_msix_reset(struct pci_msix *m);

#endif
