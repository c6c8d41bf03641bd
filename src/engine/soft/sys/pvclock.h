/* The arithmetic of the KVM para-virtual clock (kvm-clock) and steal time, as pure
 * functions: what trivisor writes into the guest's pvclock_vcpu_time_info and
 * kvm_steal_time structures (pv.c), and how a guest reads the former. Structure
 * layouts: Linux Documentation/virt/kvm/x86/msr.rst. */
#ifndef TRIVISOR_SOFT_PVCLOCK_H
#define TRIVISOR_SOFT_PVCLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* struct pvclock_vcpu_time_info (32 bytes, guest RAM, 4-byte aligned). */
#define PVCLOCK_VERSION 0        /* u32: odd while trivisor updates the structure */
#define PVCLOCK_TSC_TIMESTAMP 8  /* u64: guest TSC at system_time */
#define PVCLOCK_SYSTEM_TIME 16   /* u64: ns */
#define PVCLOCK_MUL 24           /* u32: tsc_to_system_mul */
#define PVCLOCK_SHIFT 28         /* s8: tsc_shift */
#define PVCLOCK_FLAGS 29         /* u8 */
#define PVCLOCK_SIZE 32
#define PVCLOCK_TSC_STABLE_BIT 1u  /* flags: the same time from every vCPU's structure */

/* struct pvclock_wall_clock (12 bytes): u32 version, u32 sec, u32 nsec. */
#define PVCLOCK_WALL_SIZE 12

/* struct kvm_steal_time (64 bytes, 64-byte aligned). */
#define STEAL_STEAL 0            /* u64: ns the vCPU was runnable but not running */
#define STEAL_VERSION 8          /* u32: odd while trivisor updates it */
#define STEAL_FLAGS 12           /* u32 */
#define STEAL_PREEMPTED 16       /* u8: KVM_VCPU_PREEMPTED, KVM_VCPU_FLUSH_TLB */
#define STEAL_SIZE 64
#define KVM_VCPU_PREEMPTED 1u
#define KVM_VCPU_FLUSH_TLB 2u

/* mul and shift such that ns = ((tsc_delta << shift, or >> -shift) * mul) >> 32 converts
 * ticks of a tsc_hz counter to ns, with mul in [2^31, 2^32) for the best precision.
 * tsc_hz 1 kHz .. 2^40 Hz. */
void pvclock_scale(uint64_t tsc_hz, uint32_t *mul, int8_t *shift);

/* What a guest computes from the structure's fields at TSC value tsc (the ABI's
 * formula, msr.rst): system_time + scaled (tsc - tsc_timestamp). */
uint64_t pvclock_guest_ns(uint64_t tsc, uint64_t tsc_timestamp, uint64_t system_time,
                          uint32_t mul, int8_t shift);

/* The fields of the per-vCPU structure for one moment: the clock's time now_ns (ns since
 * kvm-clock's origin) and the guest TSC at that moment. */
struct pvclock_fields {
	uint64_t tsc_timestamp, system_time;
	uint32_t mul;
	int8_t shift;
	uint8_t flags;
};
void pvclock_fill(struct pvclock_fields *f, uint64_t guest_tsc, uint64_t clock_ns,
                  uint64_t tsc_hz, bool stable);
/* Serialize into the guest's 32-byte layout (version left to the caller). */
void pvclock_encode(const struct pvclock_fields *f, uint8_t out[PVCLOCK_SIZE]);

/* The wall-clock time (UNIX epoch) at which kvm-clock read 0: host realtime now minus
 * kvm-clock's time now, split into seconds and ns. */
void pvclock_wall(uint64_t realtime_ns, uint64_t clock_ns, uint32_t *sec, uint32_t *nsec);

/* The run delay (ns waiting on a run queue) from a /proc/<tid>/schedstat line
 * "<on-cpu ns> <run-delay ns> <timeslices>": true and *ns set, or false. */
bool pvclock_parse_schedstat(const char *s, uint64_t *ns);

#endif
