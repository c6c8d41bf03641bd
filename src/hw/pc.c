/* The legacy PC board: every device at its fixed place (pc.h). */
#include "pc.h"

#include "acpi_pm.h"
#include "core/vm.h"
#include "debug_exit.h"
#include "fw_cfg.h"
#include "i8042.h"
#include "pci.h"
#include "rtc.h"
#include "uart.h"
#include "virtio/blk.h"
#include "virtio/virtio_pci.h"

#define PCI_CLASS_STORAGE_OTHER 0x018000

/* PCI: the host bridge, then one virtio-blk per --disk, in order (00:01.0 is the
 * first disk, which Linux names vda). */
static int pci_devices_init(struct vm *vm, struct err *e)
{
	struct pci_host *pci;
	int r = pci_host_create(vm, &pci, e);
	for (unsigned i = 0; r == 0 && i < vm->cfg.ndisks; i++) {
		struct virtio_blk *b;
		r = virtio_blk_create(vm, &vm->cfg.disks[i], i, &b, e);
		if (r == 0)
			r = virtio_pci_create(vm, pci, &b->vdev, PCI_CLASS_STORAGE_OTHER, NULL, e);
	}
	return r;
}

/* Each device belongs to the VM as soon as it exists (vm_add_device), so on failure we
 * just return: vm_create's error path (vm_destroy) tears down what was built.
 *
 * Port 0x61 (system control port B) is deliberately not claimed: its bits are the PIT
 * channel 2 gate and output, so it belongs with the PIT. The kvm engine creates KVM's
 * PIT with KVM_PIT_SPEAKER_DUMMY, which makes KVM serve 0x61 itself; the soft engine's
 * PIT should claim 0x40-0x43 and 0x61 together. */
int pc_board_init(struct vm *vm, struct err *e)
{
	int r;

	r = uart_create(vm, PC_COM1_PORT, PC_COM1_IRQ, &vm->com1, e);
	if (r == 0)
		r = i8042_create(vm, e);
	if (r == 0)
		r = rtc_create(vm, e);
	if (r == 0)
		r = post_port_create(vm, PC_POST_PORT, e);
	if (r == 0)
		r = debug_exit_create(vm, PC_DEBUG_EXIT_PORT, e);
	if (r == 0)
		r = fw_cfg_create(vm, e);
	if (r == 0)
		r = acpi_pm_create(vm, NULL, e);
	if (r == 0)
		r = pci_devices_init(vm, e);
	return r;
}
