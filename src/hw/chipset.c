/* i440FX host bridge and PIIX3/PIIX4 functions (see chipset.h). */
#include "chipset.h"

#include <errno.h>
#include <stdlib.h>

#include "core/snap.h"
#include "core/vm.h"
#include "pc.h"
#include "pci.h"

#define INTEL             0x8086
#define I440FX_DEVICE     0x1237
#define I440FX_PAM0       0x59        /* PAM0..PAM6: 0x59..0x5f */
#define I440FX_SMRAM      0x72
#define PIIX3_ISA_DEVICE  0x7000
#define PIIX_PIRQRC       0x60        /* PIRQ A-D route control, 0x80 = disabled */
#define PIIX4_PM_DEVICE   0x7113
#define PIIX4_PMBA        0x40
#define PIIX4_DEVACTB     0x58
#define PIIX4_APMC_EN     (1u << 25)
#define PIIX4_PMREGMISC   0x80
#define PIIX4_SMBBA       0x90
#define PIIX4_SMBHSTCFG   0xd2

struct chipset {
	struct pci_dev isa, pm;
};

static void chipset_destroy(void *opaque)
{
	struct chipset *c = opaque;
	pci_dev_destroy(&c->isa);
	pci_dev_destroy(&c->pm);
	free(c);
}

/* Snapshots: the functions' state is their configuration space (PAM, PIRQ routing, PMBA
 * ...), which the PCI host saves. */
static int chipset_save(void *opaque, struct snap_writer *w)
{
	return 0;
}

static int chipset_load(void *opaque, struct snap_reader *r)
{
	return 0;
}

int chipset_create(struct vm *vm, struct pci_host *pci, struct err *e)
{
	struct pci_dev *hb = &pci->bridge;
	pthread_mutex_lock(&hb->lock);
	pci_set16(hb, PCI_VENDOR_ID, INTEL);
	pci_set16(hb, PCI_DEVICE_ID, I440FX_DEVICE);
	hb->cfg[PCI_REVISION_ID] = 2;
	hb->wmask[I440FX_PAM0] = 0x30;            /* PAM0: 0xF0000-0xFFFFF only */
	for (unsigned i = 1; i < 7; i++)
		hb->wmask[I440FX_PAM0 + i] = 0x33;    /* two 16 KiB ranges each */
	hb->cfg[I440FX_SMRAM] = 0x02;             /* C_BASE_SEG = 0xA0000, closed */
	pthread_mutex_unlock(&hb->lock);

	struct chipset *c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(e, ENOMEM, "out of memory");
	pci_dev_init(&c->isa, "PIIX3 ISA bridge", INTEL, PIIX3_ISA_DEVICE, 0x060100, 0);
	pci_dev_init(&c->pm, "PIIX4 power management", INTEL, PIIX4_PM_DEVICE, 0x068000, 3);
	int r = vm_add_device(vm, c, chipset_destroy, e);
	if (r) {
		chipset_destroy(c);
		return r;
	}
	vm_set_device_snapshot(vm, c, "chipset", chipset_save, chipset_load);
	for (unsigned i = 0; i < 4; i++) {
		c->isa.cfg[PIIX_PIRQRC + i] = 0x80;
		c->isa.wmask[PIIX_PIRQRC + i] = 0x8f;
	}
	pci_set32(&c->pm, PIIX4_PMBA, PC_ACPI_PM1A_EVT | 1);
	pci_set_wmask32(&c->pm, PIIX4_PMBA, 0xffc0);
	pci_set32(&c->pm, PIIX4_DEVACTB, PIIX4_APMC_EN);
	c->pm.wmask[PIIX4_PMREGMISC] = 0x01;
	pci_set_wmask32(&c->pm, PIIX4_SMBBA, 0xfff0);
	pci_set32(&c->pm, PIIX4_SMBBA, 1);
	c->pm.wmask[PIIX4_SMBHSTCFG] = 0x0f;
	if ((r = pci_host_add(pci, &c->isa, CHIPSET_ISA_SLOT, e)) == 0)
		r = pci_host_add_fn(pci, &c->pm, CHIPSET_ISA_SLOT, 3, e);
	return r;
}
