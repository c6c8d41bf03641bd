/* The KVM para-virtual ABI in the soft engine, under the para guest interface (Linux
 * Documentation/virt/kvm/x86/cpuid.rst, msr.rst, hypercalls.rst): kvm-clock (the system
 * time and wall clock MSRs, new and old numbers), steal time with the PV TLB flush
 * request, PV EOI, and the hypercalls KICK_CPU, SEND_IPI and SCHED_YIELD through VMCALL
 * or VMMCALL. SOFT_PV_FEATURES is exactly what CPUID 0x4000_0001 advertises
 * (features.c). Under the full guest interface none of it exists: the MSRs are the core's
 * (#GP) and VMCALL/VMMCALL raise #UD.
 *
 * Everything here runs on the vCPU's own thread except the other vCPUs' hypercalls
 * (a KICK_CPU sets `unhalt`, atomically). Guest RAM is reached only through the core's
 * checked accessor (mem_ptr), looked up again at every use: a structure the guest
 * placed outside RAM is never written (the MSR write is refused or ignored, as KVM). */
#ifndef TRIVISOR_SOFT_PV_H
#define TRIVISOR_SOFT_PV_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cpu_state.h"
#include "core/cpuid.h"

#define SOFT_PV_FEATURES (KVM_PV_CLOCKSOURCE2 | KVM_PV_STEAL_TIME | KVM_PV_EOI | \
                          KVM_PV_UNHALT | KVM_PV_TLB_FLUSH | KVM_PV_SEND_IPI | \
                          KVM_PV_SCHED_YIELD | KVM_PV_CLOCKSOURCE_STABLE)

/* MSRs (msr.rst): the old numbers; the new ones are in core/cpu_state.h. */
#define MSR_KVM_WALL_CLOCK 0x11
#define MSR_KVM_SYSTEM_TIME 0x12

/* Hypercalls (hypercalls.rst) and their error codes (include/uapi/linux/kvm_para.h). */
#define KVM_HC_KICK_CPU 5
#define KVM_HC_SEND_IPI 10
#define KVM_HC_SCHED_YIELD 11
#define KVM_ENOSYS 1000
#define KVM_EPERM 1

struct vm;
struct vcpu;
struct soft_cpu;
struct lapic;
struct irqchip;

struct soft_pv;

/* Per VM: kvm-clock's origin, the wall clock MSR, and the vCPUs for kicks and IPIs. */
struct soft_pv_vm {
	struct vm *vm;
	struct irqchip *ic;
	void (*kick)(struct vcpu *v);   /* make v's vcpu_run look again (engine's kick) */
	uint64_t origin_ns;             /* soft_now_ns() at which kvm-clock reads 0 */
	uint64_t wall_clock_msr;
	struct soft_pv *cpu[64];
};

/* Per vCPU. */
struct soft_pv {
	struct soft_pv_vm *pvm;
	struct vcpu *v;
	struct soft_cpu *c;
	struct lapic *lapic;
	bool para;                 /* the para guest interface: everything here exists */

	uint64_t system_time_msr;  /* as written (GPA | enable) */
	bool clock_on;             /* enabled and wholly in RAM */
	int64_t clock_tsc_offset;  /* the TSC offset the structure was computed for */
	uint32_t clock_version;

	uint64_t steal_msr;
	bool steal_on;
	uint32_t steal_version;
	uint64_t steal_ns;         /* steal time reported so far */
	uint64_t run_delay0;       /* the thread's run delay when steal time was enabled */
	uint64_t steal_next_ns;    /* next refresh (soft_now_ns) */
	int schedstat_fd;          /* /proc/thread-self/schedstat, or -1 */
	bool steal_restart;        /* set_state enabled steal time: count from the next entry */
	bool clock_dirty;          /* kvm-clock's origin moved (load_state): rewrite it */

	uint64_t eoi_msr;
	bool eoi_armed;            /* the guest's PV EOI bit is set for an in-service vector */

	int unhalt;                /* atomic: KVM_HC_KICK_CPU arrived; leaves the next HLT */
};

void soft_pv_vm_init(struct soft_pv_vm *pvm, struct vm *vm, struct irqchip *ic,
                     void (*kick)(struct vcpu *v));
void soft_pv_vcpu_init(struct soft_pv *p, struct soft_pv_vm *pvm, struct vcpu *v,
                       struct soft_cpu *c, struct lapic *lapic);
void soft_pv_vcpu_destroy(struct soft_pv *p);
/* INIT: the vCPU's PV MSRs are 0 again (as after KVM's vCPU reset), so nothing is
 * written any more to structures the previous kernel registered. */
void soft_pv_reset(struct soft_pv *p);

/* MSR hooks (struct soft_platform's convention): 1 not a PV MSR (or not para), 0 done,
 * -1 #GP. */
int soft_pv_rdmsr(struct soft_pv *p, uint32_t msr, uint64_t *val);
int soft_pv_wrmsr(struct soft_pv *p, uint32_t msr, uint64_t val);

/* VMCALL/VMMCALL: SOFT_OK with the result in RAX, or SOFT_EXC (#UD, not para). */
int soft_pv_hypercall(struct soft_pv *p);

/* At vcpu_run entry: a PV TLB flush the guest asked for, steal time, kvm-clock after
 * a TSC write. */
void soft_pv_entry(struct soft_pv *p);
/* True (once) if a KICK_CPU arrived: the vCPU leaves HLT even with IF = 0. */
bool soft_pv_take_unhalt(struct soft_pv *p);

/* The PV MSRs in a vCPU's state (core/cpu_state.h), under their new numbers: none
 * outside the para interface. set installs one as the guest's write would (checked the
 * same way: -1 refused, 1 not a PV MSR here), with the vCPU stopped, from any thread:
 * what needs the vCPU's own thread (steal time's run delay) waits for its next entry.
 * An enabled PV EOI whose flag is set in guest memory stays armed (another engine set
 * it for an interrupt in service, which the guest will end by clearing it). */
void soft_pv_get_msrs(struct soft_pv *p, struct cpu_state *s);
int soft_pv_set_msr(struct soft_pv *p, uint32_t msr, uint64_t val);
/* kvm-clock's origin (soft_pv_vm.origin_ns) changed: every vCPU rewrites its structure
 * at its next entry. */
void soft_pv_clock_moved(struct soft_pv_vm *pvm);

/* PV EOI around interrupt injection: sync before looking for an interrupt (an EOI the
 * guest signalled in memory reaches the LAPIC; an armed bit is withdrawn when another
 * interrupt waits), arm after delivering external vector vec when EOI may be skipped. */
void soft_pv_eoi_sync(struct soft_pv *p);
void soft_pv_eoi_arm(struct soft_pv *p, int vec);

#endif
