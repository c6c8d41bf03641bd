/* Per-vCPU counters, written only by the vCPU's own thread and summed at exit. */
#ifndef TRIVISOR_STATS_H
#define TRIVISOR_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "exit.h"

#define STATS_VECTORS 32 /* the architecture's exception vectors 0..31 */

struct vcpu_stats {
	uint64_t exits[EXIT__COUNT];
	uint64_t ns_in_guest;     /* time inside vcpu_run */
	uint64_t ns_in_core;      /* time handling exits */
	/* Filled by engines that see them (soft); left 0 by the others (kvm). */
	uint64_t instructions;    /* guest instructions retired */
	uint64_t exceptions[STATS_VECTORS]; /* exceptions raised in the guest, by vector */
};

struct vm;
struct vcpu;
void stats_print(FILE *f, const struct vm *vm);
/* The same counters as one JSON object (per vCPU too; zero counters included, except
 * exceptions, which list only the vectors seen). Times in ns. */
void stats_print_json(FILE *f, const struct vm *vm);
/* Registers of a stopped vCPU, for error reports and -v. */
void vcpu_dump_state(FILE *f, struct vcpu *v);
uint64_t now_ns(void);

#endif
