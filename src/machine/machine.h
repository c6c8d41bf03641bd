/* The one place that assembles a machine: the layer above core that knows boot images,
 * the board and engines together. core/ provides the VM (memory, buses, vCPUs, exits);
 * boot/ loads images; hw/ builds the board; engine/ runs CPUs; a machine is all of them
 * put together in the right order. */
#ifndef TRIVISOR_MACHINE_H
#define TRIVISOR_MACHINE_H

#include "core/err.h"
#include "core/vm.h"

struct engine_ops;

/* Build the VM's memory and load the boot image into it: the kernel (--kernel) or the
 * firmware (file errors surface here, before any engine is touched). On failure the VM
 * is already destroyed. */
int machine_create(struct vm *vm, const struct vm_config *cfg, struct err *e);

/* Run it on engine: the engine's VM and RAM slots, the CPUID model, the board's
 * devices, the vCPUs and the boot CPU's entry state. On failure the caller calls
 * vm_destroy. */
int machine_attach_engine(struct vm *vm, const struct engine_ops *engine, struct err *e);

#endif
