/* The chipset of the firmware-booted PC: an Intel 440FX host bridge (82441FX PMC, at
 * 00:00.0) and a PIIX3 ISA bridge (00:01.0) with PIIX4 power management (00:01.3), the
 * devices SeaBIOS looks for (Intel 440FX PCIset and 82371AB PIIX4 datasheets).
 *
 * What is modelled: their identities and the configuration registers firmware programs.
 * The PAM (shadow RAM) registers read back what was written, but 0xC0000-0xFFFFF is
 * always RAM holding the BIOS copy, so a guest can write it whatever PAM says. The
 * PIRQ route registers are kept for firmware tables; INTx reaches the I/O APIC as
 * pci.h describes. Power management sits at the fixed PC_ACPI_PM1A_EVT block (where
 * SeaBIOS puts it, at 0x600); PMBA reads back but does not move it. There is no SMM:
 * the APMC enable bit (DEVACTB bit 25) reads as set, which tells SeaBIOS SMM is already
 * set up, and the SMRAM register is read-only. */
#ifndef TRIVISOR_HW_CHIPSET_H
#define TRIVISOR_HW_CHIPSET_H

#include "core/err.h"

struct vm;
struct pci_host;

#define CHIPSET_ISA_SLOT 1    /* PIIX: 00:01.0 ISA bridge, 00:01.3 power management */

/* Give the host bridge the 440FX's identity and add the PIIX functions. */
int chipset_create(struct vm *vm, struct pci_host *pci, struct err *e);

#endif
