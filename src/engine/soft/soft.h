/* The software x86-64 CPU core: public entry points. The engine glue (engine_ops) and
 * the test tools use these; instruction handlers live behind them. */
#ifndef TRIVISOR_SOFT_H
#define TRIVISOR_SOFT_H

#include "engine/soft/cpu.h"

enum soft_run_result {
	SOFT_RUN_BUDGET = 0,    /* max_insns retired (or about that: blocks run whole) */
	SOFT_RUN_EXCEPTION = 1, /* an exception is pending in c->fault, rip at the faulting
	                           instruction (after it, for traps such as INT3) */
	SOFT_RUN_EXIT = 2,      /* an instruction needs the engine: c->sys.exit_kind */
	SOFT_RUN_KICKED = 3,    /* c->sys.kick was set */
	SOFT_RUN_DIRECT = 4,    /* user code direct execution may want (c->direct_on) */
};

/* Initialise a CPU in 64-bit mode, CPL 0, all registers zero. 0 or -ENOMEM. */
int soft_cpu_init(struct soft_cpu *c, const struct soft_mem_ops *ops, void *opaque);
void soft_cpu_destroy(struct soft_cpu *c);

/* How the CPU runs guest code: the interpreter alone, or translated blocks (the
 * interpreter remains for real mode, 16-bit code, single-stepping and interrupt
 * shadows). */
enum soft_tier { SOFT_TIER_INTERPRET, SOFT_TIER_TRANSLATE };
/* Choose the tier before running. 0 or -errno (no memory for the code arena). */
int soft_cpu_set_tier(struct soft_cpu *c, enum soft_tier tier);

/* Run until about max_insns instructions retired or an exception. Returns an
 * enum soft_run_result, or -errno on an internal failure (out of memory). */
int soft_run(struct soft_cpu *c, uint64_t max_insns);

/* Run the one instruction at RIP on the interpreter, decoded afresh and not cached (its
 * page may have been written behind the decoded-code tracking, by natively run code).
 * Returns an enum soft_run_result (BUDGET: it retired, or a REP chunk ran) or -errno. */
int soft_step(struct soft_cpu *c);

uint64_t soft_get_rflags(const struct soft_cpu *c);
void soft_set_rflags(struct soft_cpu *c, uint64_t v);

#endif
