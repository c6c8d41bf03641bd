/* I/O APIC (Intel 82093AA datasheet): IOREGSEL/IOWIN, ID, version 0x11 with 24 pins,
 * arbitration ID, and the redirection table (vector, delivery mode fixed/lowest/SMI/NMI/
 * INIT/ExtINT, physical/logical destination, polarity, edge/level trigger with remote IRR
 * cleared by the LAPICs' EOI broadcast, mask). Pure logic: messages leave through
 * ops->deliver; the owner maps the page and routes them to the LAPICs. Thread-safe. */
#ifndef TRIVISOR_HW_IOAPIC_H
#define TRIVISOR_HW_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/chip_state.h"
#include "core/err.h"
#include "hw/lapic.h"

#define IOAPIC_BASE_DEFAULT 0xfec00000u
#define IOAPIC_PINS 24

struct ioapic;

struct ioapic_ops {
	void (*deliver)(void *opaque, const struct lapic_irq *irq);   /* called with the IOAPIC locked */
	void *opaque;
};

int ioapic_create(unsigned id, const struct ioapic_ops *ops, struct ioapic **out, struct err *e);
void ioapic_destroy(struct ioapic *io);

/* The register window: IOREGSEL at 0x00, IOWIN at 0x10 (32-bit accesses; others ignored). */
void ioapic_mmio(struct ioapic *io, uint64_t off, uint8_t *data, unsigned size, bool is_write);

/* Assert (level true) or deassert an input pin, whatever its polarity. */
void ioapic_set_irq(struct ioapic *io, unsigned pin, bool level);

/* EOI broadcast for vector: clears remote IRR of level pins with that vector and
 * re-delivers the ones still asserted. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

/* The engine-neutral state (core/chip_state.h). set installs it as the guest's register
 * writes would (read-only bits other than remote IRR of level entries are dropped) and
 * delivers nothing: the LAPICs' state, loaded after it, holds what was in flight. */
void ioapic_get_state(struct ioapic *io, struct ioapic_state *s);
void ioapic_set_state(struct ioapic *io, const struct ioapic_state *s);

#endif
