/* The legacy PC board: every device at its fixed place (pc.h). */
#include "pc.h"

#include <errno.h>

#include "acpi_pm.h"
#include "ahci.h"
#include "boot/firmware.h"
#include "chipset.h"
#include "core/vm.h"
#include "debug_exit.h"
#include "e1000.h"
#include "engine/engine.h"
#include "host/net_backend.h"
#include "fw_cfg.h"
#include "i8042.h"
#include "pci.h"
#include "pit.h"
#include "rtc.h"
#include "uart.h"
#include "vga.h"
#include "virtio/blk.h"
#include "virtio/devices.h"

#define PCI_CLASS_STORAGE_OTHER 0x018000

bool pc_has_vga(const struct vm_config *cfg)
{
	return !cfg->kernel_path || cfg->display != VM_DISPLAY_NONE || cfg->screen_dump || cfg->vga;
}

/* The emulated storage controller: one AHCI port per emulated --disk and --cdrom, in
 * command-line order (Linux: sda, sdb... and sr0). */
static int ahci_init(struct vm *vm, struct pci_host *pci, struct err *e)
{
	struct ahci_port_config ports[AHCI_MAX_PORTS];
	unsigned n = 0;
	for (unsigned i = 0; i < vm->cfg.ndisks; i++) {
		const struct vm_disk_config *d = &vm->cfg.disks[i];
		if (d->kind != VM_DEV_EMULATED)
			continue;
		if (n == AHCI_MAX_PORTS)
			return err_set(e, EINVAL, "at most %d AHCI disks and CD-ROMs", AHCI_MAX_PORTS);
		ports[n++] = (struct ahci_port_config){ .path = d->path, .read_only = d->read_only,
		                                        .cdrom = d->cdrom };
	}
	struct ahci *a;
	return n ? ahci_create(vm, pci, ports, n, &a, e) : 0;
}

/* The emulated NIC on the --net backend. */
static int e1000_init(struct vm *vm, struct pci_host *pci, struct err *e)
{
	const struct vm_net_config *cfg = &vm->cfg.net;
	struct e1000 *d;
	int r;
	if (cfg->backend == VM_NET_NONE || cfg->kind != VM_DEV_EMULATED)
		return 0;
	if ((r = e1000_create(vm, pci, cfg->mac, &d, e)))
		return r;
	return net_backend_create(vm, cfg, e1000_receive, d, &d->backend, e);
}

/* PCI: the host bridge (and on the firmware board the PIIX functions at 00:01), then
 * one virtio-blk per virtio --disk, in order (with --kernel, 00:01.0 is the first disk,
 * which Linux names vda), then the other virtio devices, each on the transport
 * --virtio-transport picks; then the emulated devices: AHCI, e1000, and the VGA (on
 * the firmware board, or when something shows its screen). */
static int pci_devices_init(struct vm *vm, bool firmware, struct firmware_board *fb,
                            struct err *e)
{
	struct pci_host *pci;
	int r = pci_host_create(vm, &pci, e);
	if (r == 0)
		r = firmware ? chipset_create(vm, pci, e) : pci_host_add_ecam(pci, e);
	for (unsigned i = 0, n = 0; r == 0 && i < vm->cfg.ndisks; i++) {
		struct virtio_blk *b;
		if (vm->cfg.disks[i].kind != VM_DEV_VIRTIO)
			continue;
		r = virtio_blk_create(vm, &vm->cfg.disks[i], n++, &b, e);
		if (r == 0)
			r = virtio_attach(vm, pci, &b->vdev, PCI_CLASS_STORAGE_OTHER, NULL, e);
	}
	if (r == 0)
		r = virtio_devices_create(vm, pci, e);   /* --rng, --net, --console virtio */
	if (r == 0)
		r = ahci_init(vm, pci, e);
	if (r == 0)
		r = e1000_init(vm, pci, e);
	if (r == 0 && pc_has_vga(&vm->cfg)) {
		r = vga_create(vm, pci, &vm->vga, e);
		fb->vga_rom = FIRMWARE_DEFAULT_VGA_ROM;
	}
	return r;
}

/* Each device belongs to the VM as soon as it exists (vm_add_device), so on failure we
 * just return: the machine's error path (vm_destroy) tears down what was built.
 *
 * The PIT (with port 0x61, whose bits are its counter 2 gate and output) is created
 * only when the engine has no in-kernel one (engine_ops.pit_in_engine): the kvm
 * engine creates KVM's PIT with KVM_PIT_SPEAKER_DUMMY, which serves 0x61 too. */
int pc_board_init(struct vm *vm, struct err *e)
{
	bool firmware = vm->cfg.kernel_path == NULL;
	struct firmware_board fb = { 0 };
	struct fw_cfg *fw;
	int r;

	struct uart *com1;
	r = uart_create(vm, PC_COM1_PORT, PC_COM1_IRQ, &com1, e);
	if (r == 0) {                  /* the console (--console virtio takes it over) */
		vm->console_dev = com1;
		vm->console_receive = uart_receive;
	}
	if (r == 0)
		r = i8042_create(vm, true, &vm->kbd, e);
	if (r == 0)
		r = rtc_create(vm, e);
	if (r == 0)
		r = post_port_create(vm, PC_POST_PORT, e);
	if (r == 0)
		r = debug_exit_create(vm, PC_DEBUG_EXIT_PORT, e);
	if (r == 0 && firmware)
		r = debugcon_create(vm, PC_DEBUGCON_PORT, e);
	if (r == 0)
		r = fw_cfg_create(vm, &fw, e);
	if (r == 0)
		r = acpi_pm_create(vm, NULL, e);
	if (r == 0 && !(vm->engine && vm->engine->pit_in_engine)) {
		struct pit *pit;
		if ((r = pit_create(vm, NULL, &pit, e)) == 0)
			vm_set_device_snapshot(vm, pit, "pit", pit_save, pit_load);
	}
	if (r == 0)
		r = pci_devices_init(vm, firmware, &fb, e);
	if (r == 0 && firmware)
		r = firmware_fw_cfg(vm, fw, &fb, e);
	return r;
}
