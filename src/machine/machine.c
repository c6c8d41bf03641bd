/* Machine assembly (see machine.h). */
#include "machine.h"

#include "boot/boot.h"
#include "engine/engine.h"
#include "hw/pc.h"

int machine_create(struct vm *vm, const struct vm_config *cfg, struct err *e)
{
	int r = vm_init_core(vm, cfg, e);
	if (r == 0)
		r = boot_load(vm, &vm->boot_state, e);
	if (r)
		vm_destroy(vm);
	return r;
}

int machine_attach_engine(struct vm *vm, const struct engine_ops *engine, struct err *e)
{
	int r;
	if ((r = vm_attach_engine(vm, engine, e)) || (r = pc_board_init(vm, e)))
		return r;
	if (vm->cfg.snapshot_state)
		vm->snapshot_key = machine_snapshot_key;
	return vm_create_vcpus(vm, e);
}
