/* The soft engine's per-VM and per-vCPU data, shared by its glue (engine_soft.c) and its
 * state in the engine-neutral form (state.c). Private to src/engine/soft. */
#ifndef TRIVISOR_SOFT_ENGINE_SOFT_H
#define TRIVISOR_SOFT_ENGINE_SOFT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/cpu_state.h"
#include "core/err.h"
#include "core/snap.h"
#include "core/vm.h"
#include "engine/soft/soft.h"
#include "engine/soft/sys/pv.h"
#include "engine/soft/sys/timers.h"
#include "hw/irqchip.h"

#define INV_QUEUE 16

struct soft_vm {
	struct irqchip *ic;
	struct soft_code_share share;   /* with more than one vCPU */
	struct soft_pv_vm pv;           /* the KVM para-virtual ABI (pv.h) */
	/* TSC values installed by set_state within a second of each other share one offset
	 * (state.c), as KVM synchronises the TSC writes of a VM's vCPUs. */
	pthread_mutex_t tsc_lock;
	bool tsc_synced;
	int64_t tsc_sync_offset;
};

struct soft_vcpu {
	struct soft_cpu cpu;
	struct vcpu *v;
	struct lapic *lapic;
	struct soft_mmu_ctx mmu;
	pthread_mutex_t lock;       /* halt wait and the invalidation queue */
	pthread_cond_t cond;
	int inv_pending;            /* atomic: the queue below is not empty */
	unsigned ninv;
	bool inv_all;
	uint64_t inv_gpa[INV_QUEUE], inv_len[INV_QUEUE];
	struct soft_timers timers;  /* this vCPU's deadlines; used on its own thread only */
	bool nmi_pending;
	/* An event in delivery that set_state installed (an exception, an external or
	 * software interrupt, an NMI): delivered when the vCPU next runs. */
	struct cpu_events loaded;
	struct soft_pv pv;          /* para-virtual MSRs, hypercalls, PV EOI (pv.h) */
	struct soft_direct *direct; /* --soft-tier direct (direct/direct.h), made on its thread */
};

static inline struct soft_vcpu *svc(struct vcpu *v) { return v->engine_data; }
static inline struct soft_vm *svm(struct vm *vm) { return vm->engine_data; }
static inline struct irqchip *ic_of(struct vm *vm) { return svm(vm)->ic; }

/* engine_soft.c */
/* Take the INIT, SIPI and NMI messages the LAPIC received since the last look. */
void soft_take_events(struct soft_vcpu *d);
/* Drop all of the vCPU's decoded code before it next runs. */
void soft_invalidate_all(struct soft_vcpu *d);

/* state.c: engine_ops get_state/set_state, save_state/load_state */
int soft_get_state(struct vcpu *v, struct cpu_state *s, struct err *e);
int soft_set_state(struct vcpu *v, const struct cpu_state *s, struct err *e);
/* Deliver the event set_state installed, if any: 0, or 1 for a triple fault. */
int soft_deliver_loaded(struct soft_vcpu *d);
int soft_save_state(struct vm *vm, struct snap_writer *w, struct err *e);
int soft_load_state(struct vm *vm, struct snap_reader *r, struct err *e);

#endif
