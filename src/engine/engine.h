/* The engine interface: the only way the core talks to a CPU engine. No engine checks
 * outside src/engine/. */
#ifndef TRIVISOR_ENGINE_H
#define TRIVISOR_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/cpu_state.h"
#include "core/cpuid.h"
#include "core/err.h"
#include "core/exit.h"

struct vm;
struct vcpu;
struct mem_slot;

struct engine_ops {
	const char *name;
	/* The engine models the PIT (with port 0x61) itself: KVM's in-kernel one. The board
	 * then does not create the user-space model. The interrupt controllers are always
	 * the engine's (kvm: KVM's in-kernel irqchip; soft: the user-space models of
	 * hw/irqchip.h, which engine_soft.c wires to its CPUs). A property of the engine,
	 * read once by pc_board_init, so no device code asks which engine runs. */
	bool pit_in_engine;
	/* 0 if this engine can run on this host; otherwise -errno and a message with a hint. */
	int (*available)(struct err *e);
	/* What CPUID features the engine can give a guest (before the model shapes them). */
	int (*supported_cpuid)(struct vm *vm, struct cpuid_table *out, struct err *e);
	/* What the engine can give a guest on this host without a VM, for the portable CPU
	 * model (core/cpuid.h): its supported CPUID, and in *tsc_khz the one TSC rate it
	 * runs a guest at without scaling (KVM: the host TSC's, KVM_GET_TSC_KHZ), or 0 if
	 * it runs any rate (soft). Only called when available() said yes. */
	int (*host_cpuid)(struct cpuid_table *out, uint32_t *tsc_khz, struct err *e);
	int (*vm_init)(struct vm *vm, struct err *e);
	int (*map_ram)(struct vm *vm, unsigned slot_id, const struct mem_slot *slot, struct err *e);
	/* Create the vCPU; the bootstrap processor (id 0) then gets its entry state via set_state. */
	int (*vcpu_init)(struct vcpu *vcpu, struct err *e);
	/* Run until something the core must handle, or until kicked (EXIT_NONE). Called on
	 * the vCPU's own thread. Returns 0 or -errno with e set. */
	int (*vcpu_run)(struct vcpu *vcpu, struct vm_exit *exit, struct err *e);
	/* Make a running or about-to-run vcpu_run return soon. Any thread. */
	void (*vcpu_kick)(struct vcpu *vcpu);
	/* A vCPU's architectural state (core/cpu_state.h), with the vCPU stopped (not yet
	 * started, or paused): get_state first finishes what the vCPU would do before its
	 * next instruction (an IN's data, INIT/SIPI/NMI messages received) and fills every
	 * group; set_state installs the registers and the groups in s->has, checking them as
	 * the guest's own writes would be checked: 0, or -errno with e set (a state this
	 * engine's CPU cannot hold, e.g. AVX in use under soft). After a failed set_state the
	 * vCPU's state is undefined: the caller discards the VM. */
	int (*get_state)(struct vcpu *vcpu, struct cpu_state *s, struct err *e);
	int (*set_state)(struct vcpu *vcpu, const struct cpu_state *s, struct err *e);
	/* The VM-wide state the engine owns beyond its vCPUs, in one engine-neutral stream
	 * (core/chip_state.h): the guest clock and TSC frequency, the IOAPIC and the 8259A
	 * pair (and KVM's PIT, see pit_in_engine). With every vCPU stopped. load_state runs
	 * on a machine freshly built from the same configuration, guest RAM already loaded,
	 * after its vCPUs are created and before any vCPU's set_state (then each vCPU's
	 * set_state, vCPU 0 included); a stream written by either engine loads in either.
	 * 0, or -errno with e set. */
	int (*save_state)(struct vm *vm, struct snap_writer *w, struct err *e);
	int (*load_state)(struct vm *vm, struct snap_reader *r, struct err *e);
	/* Drive a GSI line (0..23) to level. Any thread. */
	int (*set_irq)(struct vm *vm, unsigned gsi, int level);
	/* Deliver a message-signalled interrupt (the memory write a PCI device's MSI or
	 * MSI-X makes: address 0xfeeXXXXX, data). Any thread. NULL if the engine has no MSI
	 * delivery yet (vm_signal_msi then drops the message). */
	int (*signal_msi)(struct vm *vm, uint64_t addr, uint32_t data);
	/* Fill vcpu->stats.in_kernel with the engine's own per-vCPU accounting (kvm: KVM's
	 * binary statistics), once the vCPU has stopped. NULL if the engine keeps none. */
	void (*read_stats)(struct vcpu *vcpu);
	void (*vcpu_destroy)(struct vcpu *vcpu);
	void (*vm_destroy)(struct vm *vm);
	/* The ioctl requests the engine (or a process it forks) may issue once the VM is
	 * set up, 0-terminated: the VMM's seccomp filter (host/seccomp.h) allows these and
	 * no others beyond the terminal's. A request missing here kills the process with
	 * SIGSYS the first time it is made. */
	const uint32_t *runtime_ioctls;
};

/* Engines compiled into this binary. */
extern const struct engine_ops engine_kvm;
extern const struct engine_ops engine_soft;

/* Find an engine by name ("kvm", "soft"); "auto" picks the first available.
 * -ENOENT for an unknown name, or the engine's own availability error. */
int engine_select(const char *name, const struct engine_ops **out, struct err *e);

/* The portable CPU model's inputs (--cpu-model portable): what the soft CPU implements,
 * narrowed by every other engine available on this host (cpuid_portable_narrow), and
 * the TSC rate all of them can run: the rate of an engine that runs only one (KVM's,
 * the host TSC's), else the host TSC's as host_tsc_khz reads it. */
int engine_portable_cpuid(struct cpuid_table *out, uint32_t *tsc_khz, struct err *e);

/* The host TSC's frequency without KVM: CPUID leaf 0x15 where the CPU enumerates it
 * (crystal and ratio), else measured against CLOCK_MONOTONIC_RAW for 50 ms, in kHz. */
uint32_t host_tsc_khz(void);

/* Print one line per engine (available, or unavailable with the reason);
 * returns how many are available. */
int engine_report(FILE *f);

#endif
