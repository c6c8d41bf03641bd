/* Per-vCPU counters, written only by the vCPU's own thread and summed at exit. */
#ifndef TRIVISOR_STATS_H
#define TRIVISOR_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "exit.h"

struct vcpu_stats {
	uint64_t exits[EXIT__COUNT];
	uint64_t ns_in_guest;     /* time inside vcpu_run */
	uint64_t ns_in_core;      /* time handling exits */
};

struct vm;
struct vcpu;
void stats_print(FILE *f, const struct vm *vm);
/* Registers of a stopped vCPU, for error reports and -v. */
void vcpu_dump_state(FILE *f, struct vcpu *v);
uint64_t now_ns(void);

#endif
