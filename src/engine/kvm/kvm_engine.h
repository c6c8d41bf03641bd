/* The kvm engine's per-VM and per-vCPU data, shared by its glue (kvm.c) and its state in
 * the engine-neutral form (state.c). Private to src/engine/kvm. */
#ifndef TRIVISOR_KVM_ENGINE_H
#define TRIVISOR_KVM_ENGINE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/cpu_state.h"
#include "core/err.h"
#include "core/snap.h"
#include "core/vm.h"

struct kvm_vm_data {
	int sys_fd;
	int vm_fd;
	int run_size;
	/* What this KVM has for the neutral state (state.c, probed at the first vCPU): */
	bool probed;
	bool xsave, xcrs, debugregs, tsc_khz;
	unsigned nmsrs;                 /* the MSRs of cpu_state's list it models */
	uint32_t msrs[CPU_MSRS_MAX];
};

struct kvm_vcpu_data {
	int fd;
	struct kvm_run *run;
	/* The last exit was port I/O or MMIO: KVM finishes the instruction at the next
	 * KVM_RUN, which get_state makes with immediate_exit (api.rst, KVM_EXIT_IO). */
	bool io_pending;
};

static inline struct kvm_vm_data *vmd(struct vm *vm) { return vm->engine_data; }
static inline struct kvm_vcpu_data *vcd(struct vcpu *v) { return v->engine_data; }

/* state.c */
/* At the first vCPU's creation: which MSRs of the list and which state ioctls exist. */
void kvm_state_probe(struct vcpu *v);
int kvm_get_state(struct vcpu *v, struct cpu_state *s, struct err *e);
int kvm_set_state(struct vcpu *v, const struct cpu_state *s, struct err *e);
int kvm_save_state(struct vm *vm, struct snap_writer *w, struct err *e);
int kvm_load_state(struct vm *vm, struct snap_reader *r, struct err *e);
/* KVM's PIT as the "pit" snapshot section (core/chip_state.h; vm_save_fn/vm_load_fn,
 * opaque: the struct kvm_vm_data). */
int kvm_pit_save(void *d, struct snap_writer *w);
int kvm_pit_load(void *d, struct snap_reader *r);

#endif
