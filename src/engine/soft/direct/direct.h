/* Direct execution: the soft engine's third tier (--soft-tier direct). The guest kernel
 * stays on the translator; the guest's busy 64-bit user processes run natively on the
 * host CPU, each in a sandboxed helper process whose address space mirrors the guest's
 * page tables (guest RAM mapped, from the RAM memfd, at the guest-virtual addresses and
 * with the rights the guest kernel gave). See direct.c for how each event gets back to
 * the guest kernel, and docs/architecture.md for the design. */
#ifndef TRIVISOR_SOFT_DIRECT_H
#define TRIVISOR_SOFT_DIRECT_H

#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/stats.h"

struct soft_cpu;
struct soft_direct;

/* What soft_direct_run returns. */
enum {
	SOFT_DIRECT_DECLINE,  /* not run natively: go on translating until CR3 changes */
	SOFT_DIRECT_STEP,     /* the instruction at RIP needs the soft CPU (a system call, a
	                       * fault, CPUID, RDTSC...): soft_step it, then come back */
	SOFT_DIRECT_KICKED,   /* an interrupt, a timer or a stop wants the engine */
	SOFT_DIRECT_DBTRAP,   /* a single-step trap (the program set TF) after RIP's insn */
	SOFT_DIRECT_FAULT,    /* deliver the exception in soft_cpu.fault */
};

/* Called when a guest page becomes writable by native code: decoded code of that
 * physical page must go (the translator's store tracking does not see native stores). */
typedef void (*soft_direct_written_fn)(void *opaque, uint64_t pa);

/* One per vCPU, created and used on that vCPU's thread only (the helpers are its ptrace
 * children), but for soft_direct_kick. mem must have been made with mem_init(shared).
 * Once user code runs natively, the calling thread is pinned to one host CPU (vcpu_id
 * modulo the CPUs it may use). */
int soft_direct_create(struct soft_direct **out, struct guest_mem *mem, unsigned vcpu_id,
                       soft_direct_written_fn written, void *opaque, struct err *e);
void soft_direct_destroy(struct soft_direct *d);

/* soft_run said SOFT_RUN_DIRECT. Run c's user code natively until an event, deadline
 * (soft_now_ns time, or UINT64_MAX) included. Returns a SOFT_DIRECT_* or -errno (a
 * helper died or could not start; e says why). */
int soft_direct_run(struct soft_direct *d, struct soft_cpu *c, uint64_t deadline, struct err *e);

/* An external interrupt arrived while c ran at CPL 3: a sample of where user time goes.
 * Address spaces that collect enough of them go direct. */
void soft_direct_tick(struct soft_direct *d, struct soft_cpu *c);

/* From any thread: the vCPU's kick flag is set; get its native code to stop. */
void soft_direct_kick(struct soft_direct *d);

/* The counters for --stats ("direct execution"); d may be NULL (all zero). */
void soft_direct_stats(const struct soft_direct *d, struct engine_counters *k);

#endif
