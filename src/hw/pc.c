/* The legacy PC board: every device at its fixed place (pc.h). */
#include "pc.h"

#include "acpi_pm.h"
#include "core/vm.h"
#include "debug_exit.h"
#include "fw_cfg.h"
#include "i8042.h"
#include "rtc.h"
#include "uart.h"

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
	return r;
}
