/* Per-vCPU timers of the soft engine: a device model with a deadline on one vCPU (the
 * local APIC timer, one-shot/periodic/TSC-deadline) registers a soft_timer on that vCPU.
 * The vCPU's own thread then
 *  - sleeps while halted until the earliest deadline (or a kick: an interrupt, a stop),
 *  - checks the deadlines between instruction chunks while running (soft_vcpu_run runs
 *    short chunks while any deadline is set, so expiry is late by at most a chunk),
 *  - and calls expire() once soft_now_ns() has reached the deadline.
 * VM-wide timers (the PIT) do not use this: they have their own thread and raise their
 * interrupt through vm_set_irq, which kicks the vCPU it is delivered to. */
#ifndef TRIVISOR_SOFT_TIMERS_H
#define TRIVISOR_SOFT_TIMERS_H

#include <stdint.h>

#define SOFT_NO_DEADLINE UINT64_MAX
#define SOFT_MAX_TIMERS 4

struct vcpu;

struct soft_timer {
	/* soft_now_ns() time of the next expiry, or SOFT_NO_DEADLINE. On the vCPU's thread. */
	uint64_t (*deadline)(void *opaque);
	/* The deadline has passed (now >= deadline): fire (raise the interrupt, re-arm a
	 * periodic timer). On the vCPU's thread. */
	void (*expire)(void *opaque, uint64_t now);
	void *opaque;
};

struct soft_timers {
	unsigned n;
	struct soft_timer t[SOFT_MAX_TIMERS];
};

/* Register a timer on a soft-engine vCPU (after engine vcpu_init, before it runs).
 * 0, or -ENOSPC. A deadline set from another thread needs a vcpu_kick to be seen. */
int soft_vcpu_add_timer(struct vcpu *v, const struct soft_timer *t);
/* The earliest deadline of v's timers, or SOFT_NO_DEADLINE. */
uint64_t soft_next_deadline(struct vcpu *v);

/* timers.c, used by engine_soft.c */
int soft_timers_add(struct soft_timers *ts, const struct soft_timer *t);
uint64_t soft_timers_next(const struct soft_timers *ts);
/* Expire the timers due at now; returns the earliest deadline after that. */
uint64_t soft_timers_run(struct soft_timers *ts, uint64_t now);

#endif
