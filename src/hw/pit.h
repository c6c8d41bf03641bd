/* Intel 8254 programmable interval timer (ports 0x40-0x43) and system control port B
 * (0x61: counter 2 gate, speaker enable, refresh toggle, counter 2 output). */
#ifndef TRIVISOR_HW_PIT_H
#define TRIVISOR_HW_PIT_H

#include <stdint.h>

#include "core/chip_state.h"
#include "core/err.h"
#include "core/snap.h"

struct vm;
struct pit;

#define PIT_HZ 1193182u          /* 14.31818 MHz / 12 */
#define PIT_NEVER UINT64_MAX

/* Where the PIT reads the time: nanoseconds from any fixed origin, never going back. */
struct pit_clock {
	uint64_t (*now_ns)(void *opaque);
	void *opaque;
};

/* Claim 0x40-0x43 and 0x61. clock NULL: the host's CLOCK_MONOTONIC, and a thread that
 * sleeps until counter 0's output next changes and drives GSI 0 then (it sleeps with no
 * deadline while counter 0 is idle). With a clock (unit tests) there is no thread:
 * the caller moves its clock and calls pit_poll. */
int pit_create(struct vm *vm, const struct pit_clock *clock, struct pit **out, struct err *e);

/* Bring GSI 0 up to date with counter 0's output at the clock's current time. Returns
 * the clock time (ns) of the output's next change, or PIT_NEVER. */
uint64_t pit_poll(struct pit *pit);

/* The engine-neutral state (core/chip_state.h) at the clock's current time; set makes the
 * counters go on from it (each counter's elapsed time is rebased on this clock), brings
 * GSI 0 up to date and wakes the timer thread. set returns 0, or -EINVAL with a message
 * for a state no guest could program. */
void pit_get_state(struct pit *pit, struct pit_state *s);
int pit_set_state(struct pit *pit, const struct pit_state *s, struct err *e);
/* The "pit" snapshot section (vm_save_fn/vm_load_fn, core/vm.h; opaque: the struct pit),
 * the same stream the kvm engine writes for KVM's PIT. */
int pit_save(void *pit, struct snap_writer *w);
int pit_load(void *pit, struct snap_reader *r);

#endif
