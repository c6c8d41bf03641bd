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

/* Snapshots (format: machine/snapshot.h).
 *
 * machine_snapshot_save: write the whole VM, which the caller has paused (vm_pause), to
 * two new files: state_path (configuration, vCPUs, the engine's VM state, every
 * device) and mem_path (guest RAM, sparse). Disks are flushed first; host input to the
 * devices (received frames, typed keys) waits meanwhile. Each file is written under a
 * temporary name, synced and renamed, so an existing snapshot is replaced whole or not
 * at all. The VM stays paused. 0, or -errno with e set ("snapshot: device X cannot be
 * saved" for a device with no save).
 *
 * machine_restore: build a fresh machine from a snapshot on engine and load every piece
 * of state into it; the caller then vm_start()s it (or keeps it paused, not started).
 * The machine is the snapshot's: its configuration, RAM, devices and disks (opened by
 * their paths, which must still exist). What the host provides comes from vm->cfg as
 * the caller filled it on entry: console_in/out, stats, soft_tier, display and
 * screen_dump (a VM with no VGA refuses those two), snapshot_state/snapshot_mem, and
 * restore_lazy: guest RAM mapped from the memory file (a restore in milliseconds, the
 * file must then stay as it is while the VM runs; not under --soft-tier direct, whose
 * RAM is a memfd: read then) rather than read and checked against its digest.
 * Everything in the files is checked; on failure e says what is wrong and nothing is
 * left built (vm is destroyed, as for machine_create). An engine other than the one
 * the snapshot was taken on is tried (moving a VM between engines): what it cannot
 * take yet (another CPU model, engine state it cannot read) is refused by name. */
int machine_snapshot_save(struct vm *vm, const char *state_path, const char *mem_path,
                          struct err *e);
int machine_restore(struct vm *vm, const struct engine_ops *engine, const char *state_path,
                    const char *mem_path, struct err *e);

/* The engine a snapshot was taken on (its file checked whole), into engine[16]. */
int machine_snapshot_engine(const char *state_path, char engine[16], struct err *e);

/* vm->snapshot_key for the console's Ctrl-A w: machine_snapshot_save to the paths of
 * --snapshot (vm->cfg.snapshot_state, snapshot_mem). */
int machine_snapshot_key(struct vm *vm, struct err *e);

#endif
