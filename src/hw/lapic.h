/* Local APIC of one vCPU (Intel SDM vol. 3A ch. 11): ID, version, TPR/PPR, ISR/IRR/TMR,
 * EOI (with the level-triggered EOI broadcast), SVR, the LVTs, ESR, ICR (fixed, lowest
 * priority, NMI, INIT, SIPI, shorthands, physical and logical flat/cluster destinations),
 * the timer (one-shot, periodic, TSC-deadline) on an injectable clock, the xAPIC MMIO page
 * and the x2APIC MSRs. Pure logic: the owner routes IPIs and EOI broadcasts through
 * struct lapic_ops. Every entry point takes the LAPIC's own mutex, so any thread may
 * deliver to any LAPIC. */
#ifndef TRIVISOR_HW_LAPIC_H
#define TRIVISOR_HW_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cpu_state.h"
#include "core/err.h"

struct lapic;

#define LAPIC_BASE_DEFAULT 0xfee00000u
#define LAPIC_NEVER UINT64_MAX
#define LAPIC_TIMER_NS_PER_TICK 1u   /* the timer's bus clock: 1 GHz before the divider */

enum lapic_dm { LAPIC_DM_FIXED = 0, LAPIC_DM_LOWEST = 1, LAPIC_DM_SMI = 2, LAPIC_DM_NMI = 4,
                LAPIC_DM_INIT = 5, LAPIC_DM_SIPI = 6, LAPIC_DM_EXTINT = 7 };

/* One interrupt message (an ICR write, an IOAPIC redirection, an MSI). */
struct lapic_irq {
	uint8_t vector;
	uint8_t mode;           /* enum lapic_dm */
	bool logical;           /* destination mode */
	bool level;             /* trigger mode: level */
	bool assert;            /* level: assert (INIT de-assert is ignored) */
	uint8_t shorthand;      /* 0 none, 1 self, 2 all including self, 3 all excluding self */
	uint32_t dest;          /* xAPIC: 8 bits; x2APIC: 32 bits */
};

struct lapic_ops {
	uint64_t (*now_ns)(void *opaque);                 /* monotonic ns, never goes back */
	void (*kick)(void *opaque, unsigned vcpu);        /* the vCPU has something new */
	void (*send)(void *opaque, unsigned src_vcpu, const struct lapic_irq *irq); /* ICR */
	void (*eoi)(void *opaque, uint8_t vector);        /* level-triggered EOI broadcast */
	uint64_t tsc_per_ns_num, tsc_per_ns_den;          /* guest TSC = now_ns * num / den */
	void *opaque;
};

int lapic_create(unsigned vcpu_id, const struct lapic_ops *ops, struct lapic **out, struct err *e);
void lapic_destroy(struct lapic *l);
void lapic_reset(struct lapic *l);    /* power-on / INIT state (keeps the ID and APIC base) */

/* xAPIC page: off is the offset inside the 4 KiB page; size 1..8. Reads of
 * write-only/reserved registers give 0. */
void lapic_mmio(struct lapic *l, uint64_t off, uint8_t *data, unsigned size, bool is_write);

/* IA32_APIC_BASE (0x1b), TSC_DEADLINE (0x6e0) and the x2APIC range 0x800-0x8ff.
 * Return 0, or -1 for a #GP (unknown register, x2APIC MSR while not in x2APIC mode, ...). */
int lapic_msr_read(struct lapic *l, uint32_t msr, uint64_t *val);
int lapic_msr_write(struct lapic *l, uint32_t msr, uint64_t val);
uint64_t lapic_base(struct lapic *l);         /* physical base of the MMIO page, 0 if disabled */
bool lapic_x2apic(struct lapic *l);

/* Destination match of a message against this LAPIC (no shorthand). */
bool lapic_match(struct lapic *l, bool logical, uint32_t dest);
unsigned lapic_id(struct lapic *l);

/* Deliver one message to this LAPIC (the destination already chosen): fixed/lowest set
 * IRR (and TMR for level), NMI/INIT/SIPI/ExtINT set the event flags. Kicks the vCPU. */
void lapic_accept(struct lapic *l, const struct lapic_irq *irq);

/* Route a message among n LAPICs (index = vCPU id): shorthand, physical/logical match,
 * lowest priority as fixed to the lowest APIC ID of the set. src: the sender for shorthands. */
void lapic_route(struct lapic **all, unsigned n, unsigned src, const struct lapic_irq *irq);

/* The CPU side. pending_vector: the highest IRR vector above PPR, or -1 (also fires an
 * expired timer). ack moves that vector IRR -> ISR and returns it. */
int lapic_pending_vector(struct lapic *l);
int lapic_ack(struct lapic *l);

/* For PV EOI (the KVM para-virtual ABI), where the guest may signal an EOI in memory
 * instead of writing the register. eoi_optional: the EOI of vec, just delivered, would
 * change nothing but ISR (vec edge-triggered, the only vector in service, none
 * requested), so it may be left to the guest's flag. irr_pending: some vector is
 * requested. eoi: the EOI a write to the register would do. */
bool lapic_eoi_optional(struct lapic *l, uint8_t vec);
bool lapic_irr_pending(struct lapic *l);
void lapic_eoi(struct lapic *l);

/* Events for the engine, read and cleared at once. */
#define LAPIC_EV_NMI    1u
#define LAPIC_EV_INIT   2u
#define LAPIC_EV_SIPI   4u
#define LAPIC_EV_EXTINT 8u
unsigned lapic_take_events(struct lapic *l, uint8_t *sipi_vector);

/* LINT0/LINT1 input level (LINT0: the 8259A INTR). Returns true if the LVT routes it as
 * ExtINT (the CPU must then ask the PIC for the vector). */
void lapic_set_lint(struct lapic *l, unsigned pin, bool level);
/* Software-enabled (SVR bit 8) and hardware-enabled (APIC_BASE bit 11). */
bool lapic_enabled(struct lapic *l);

/* Whether the 8259A's INTR reaches the CPU through this LAPIC: LVT LINT0 is an unmasked
 * ExtINT, or the LAPIC is disabled (hardware or software: the legacy path). */
bool lapic_lint0_extint(struct lapic *l);

/* Clock time (ns) at which the timer next fires, or LAPIC_NEVER. */
uint64_t lapic_next_timer_deadline(struct lapic *l);

/* The LAPIC in the engine-neutral form of core/cpu_state.h (the register page, TMCCT the
 * timer's current count now), after firing an expired timer; and IA32_APIC_BASE. The
 * TSC deadline is in this LAPIC's clock TSC (ops.now_ns scaled by tsc_per_ns): the owner
 * converts it to and from the guest's TSC. Events not yet taken (lapic_take_events) are
 * not part of it: the owner takes them first.
 * set installs one (the timer counts on from TMCCT, or fires at the TSC deadline) with
 * the checks of the guest's own writes: 0, or -EINVAL with a message for what no write
 * could produce (reserved APIC base bits, x2APIC without the enable bit or with another
 * ID than this vCPU's). Pending events are cleared. */
void lapic_get_state(struct lapic *l, struct cpu_lapic *s, uint64_t *apic_base);
int lapic_set_state(struct lapic *l, uint64_t apic_base, const struct cpu_lapic *s, struct err *e);

#endif
