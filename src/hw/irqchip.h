/* The soft engine's interrupt controllers, wired as on a PC: one LAPIC per vCPU (APIC ID =
 * vCPU index), the IOAPIC (GSI n = pin n, as the MADT says: no IRQ0 override, so the PIT
 * is on pin 0) and the 8259A pair whose INTR reaches vCPU 0 through LINT0 (ExtINT) or
 * directly while its LAPIC is disabled. ICR IPIs and the IOAPIC's messages are routed
 * among the LAPICs here; the level-triggered EOI broadcast goes back to the IOAPIC. */
#ifndef TRIVISOR_HW_IRQCHIP_H
#define TRIVISOR_HW_IRQCHIP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "hw/ioapic.h"
#include "hw/lapic.h"
#include "hw/pic.h"

struct irqchip_ops {
	uint64_t (*now_ns)(void *opaque);
	void (*kick)(void *opaque, unsigned vcpu);   /* vcpu has a new interrupt or event */
	uint64_t tsc_per_ns_num, tsc_per_ns_den;
	void *opaque;
};

struct irqchip {
	struct irqchip_ops ops;
	unsigned n;
	struct lapic **lapic;
	struct ioapic *ioapic;
	struct pic *pic;
};

int irqchip_create(unsigned ncpus, const struct irqchip_ops *ops, struct irqchip **out, struct err *e);
void irqchip_destroy(struct irqchip *ic);

/* A GSI line: IOAPIC pin gsi, and PIC IRQ gsi for gsi < 16. */
void irqchip_set_irq(struct irqchip *ic, unsigned gsi, bool level);
/* An MSI write (SDM 11.11): address 0xfeeXXXXX with destination ID, RH and DM; data with
 * vector, delivery mode and trigger. Returns 0, or -EINVAL for an address outside the
 * MSI window (the message is dropped). */
int irqchip_msi(struct irqchip *ic, uint64_t addr, uint32_t data);

/* The CPU side for vCPU v: is an external interrupt deliverable (PIC via ExtINT first,
 * then the LAPIC above PPR)? ack takes it and returns its vector, or -1. */
bool irqchip_pending(struct irqchip *ic, unsigned v);
int irqchip_ack(struct irqchip *ic, unsigned v);

#endif
