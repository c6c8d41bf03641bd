/* The PC's pair of Intel 8259A programmable interrupt controllers (master at 0x20/0x21,
 * slave at 0xa0/0xa1 cascaded on master IR2) and the edge/level control registers (ELCR,
 * 0x4d0/0x4d1): ICW1-4, OCW1 (IMR), OCW2 (non-specific/specific EOI, rotation, set
 * priority), OCW3 (read IRR/ISR, poll, special mask mode), auto-EOI. Pure logic: the
 * master's INTR output leaves through ops->set_intr; the CPU's INTA is pic_ack. */
#ifndef TRIVISOR_HW_PIC_H
#define TRIVISOR_HW_PIC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/chip_state.h"
#include "core/err.h"

struct pic;

struct pic_ops {
	void (*set_intr)(void *opaque, bool level);   /* INTR changed; called with the PIC locked */
	void *opaque;
};

int pic_create(const struct pic_ops *ops, struct pic **out, struct err *e);
void pic_destroy(struct pic *p);

/* Port access: port is 0x20, 0x21, 0xa0, 0xa1, 0x4d0 or 0x4d1 (others: reads give 0xff). */
void pic_io(struct pic *p, uint16_t port, uint8_t *data, unsigned size, bool is_write);

/* Input line of IRQ 0-15. Edge pins latch on a rising edge; level pins (ELCR) follow. */
void pic_set_irq(struct pic *p, unsigned irq, bool level);

/* The master's INTR output. */
bool pic_intr(struct pic *p);

/* Interrupt acknowledge: the vector to run (spurious IRQ 7/15 when nothing is pending). */
uint8_t pic_ack(struct pic *p);

/* The engine-neutral state (core/chip_state.h); set brings INTR up to date with it. */
void pic_get_state(struct pic *p, struct pic_state *s);
void pic_set_state(struct pic *p, const struct pic_state *s);

#endif
