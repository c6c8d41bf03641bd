/* Per-vCPU counters, written only by the vCPU's own thread and summed at exit. */
#ifndef TRIVISOR_STATS_H
#define TRIVISOR_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "exit.h"

#define STATS_VECTORS 32 /* the architecture's exception vectors 0..31 */

/* Hypercalls by number: the KVM numbers 0..STATS_HC_NAMED-1 (include/uapi/linux/
 * kvm_para.h: 5 KICK_CPU, 10 SEND_IPI, 11 SCHED_YIELD, ...) one by one, any other
 * number in slot STATS_HC_OTHER. */
#define STATS_HC_NAMED 13
#define STATS_HC_OTHER STATS_HC_NAMED

/* Counters an engine keeps itself and hands over once the vCPU has stopped
 * (engine_ops.read_stats): for kvm, KVM's per-vCPU statistics, counted in the kernel
 * (hypercalls, interrupt injections, in-kernel exits that trivisor never sees). */
#define STATS_ENGINE_MAX 32
struct engine_counters {
	const char *counted_by;   /* "KVM"; NULL: the engine has no such counters */
	char missing[112];        /* why they could not be read ("" when read) */
	unsigned n;
	struct {
		const char *name;     /* static string, the engine's own name for it */
		uint64_t value;
	} c[STATS_ENGINE_MAX];
};

struct vcpu_stats {
	uint64_t exits[EXIT__COUNT];
	uint64_t ns_in_guest;     /* time inside vcpu_run */
	uint64_t ns_in_core;      /* time handling exits */
	/* Filled by engines that see them (soft); left 0 by the others (kvm). */
	uint64_t instructions;    /* guest instructions retired */
	uint64_t exceptions[STATS_VECTORS]; /* exceptions raised in the guest, by vector */
	/* Para-virtual and interrupt events handled by trivisor itself (the soft engine,
	 * through the functions below). Under kvm, KVM handles them in the kernel: they
	 * stay 0 here and appear in `in_kernel` instead. */
	uint64_t hypercalls[STATS_HC_NAMED + 1];
	uint64_t hypercalls_total;
	uint64_t irqs_injected;   /* external interrupts delivered to the guest */
	uint64_t nmis_injected;
	struct engine_counters in_kernel;
	/* soft: what its translator tier did and cost (counted_by "translator"). */
	struct engine_counters translator;
	/* soft --soft-tier direct: guest user code run natively (counted_by "direct ..."). */
	struct engine_counters direct;
};

/* For engines: count one hypercall (any number; VMCALL or VMMCALL alike). */
static inline void stats_count_hypercall(struct vcpu_stats *s, uint64_t nr)
{
	s->hypercalls[nr < STATS_HC_NAMED ? nr : STATS_HC_OTHER]++;
	s->hypercalls_total++;
}

/* For engines: count one external interrupt (vector 32..255) or NMI delivered. */
static inline void stats_count_irq(struct vcpu_stats *s) { s->irqs_injected++; }
static inline void stats_count_nmi(struct vcpu_stats *s) { s->nmis_injected++; }

/* KVM's name of hypercall slot nr ("KICK_CPU"), "other" for STATS_HC_OTHER, NULL for
 * a number with no name. */
const char *stats_hypercall_name(unsigned nr);

struct vm;
struct vcpu;
/* Ask the engine for its own counters (engine_ops.read_stats) of every stopped vCPU;
 * once, after vm_wait and before printing. */
void stats_collect(struct vm *vm);
void stats_print(FILE *f, const struct vm *vm);
/* The same counters as one JSON object (per vCPU too; zero counters included, except
 * exceptions, which list only the vectors seen). Times in ns. */
void stats_print_json(FILE *f, const struct vm *vm);
/* Registers of a stopped vCPU, for error reports and -v. */
void vcpu_dump_state(FILE *f, struct vcpu *v);
uint64_t now_ns(void);

#endif
