/* PC interrupt wiring for the soft engine (see irqchip.h). */
#include "hw/irqchip.h"

#include <errno.h>
#include <stdlib.h>

#include "core/vm.h"

static uint64_t ic_now(void *o)
{
	struct irqchip *ic = o;
	return ic->ops.now_ns(ic->ops.opaque);
}

static void ic_kick(void *o, unsigned v)
{
	struct irqchip *ic = o;
	if (ic->ops.kick)
		ic->ops.kick(ic->ops.opaque, v);
}

static void ic_send(void *o, unsigned src, const struct lapic_irq *irq)
{
	struct irqchip *ic = o;
	lapic_route(ic->lapic, ic->n, src, irq);
}

static void ic_eoi(void *o, uint8_t vector)
{
	struct irqchip *ic = o;
	ioapic_eoi(ic->ioapic, vector);
}

static void ic_ioapic_deliver(void *o, const struct lapic_irq *irq)
{
	struct irqchip *ic = o;
	lapic_route(ic->lapic, ic->n, 0, irq);
}

static void ic_pic_intr(void *o, bool level)
{
	struct irqchip *ic = o;
	if (level)
		ic_kick(ic, 0);
}

int irqchip_create(unsigned ncpus, const struct irqchip_ops *ops, struct irqchip **out, struct err *e)
{
	struct irqchip *ic = calloc(1, sizeof(*ic));
	int r = -ENOMEM;
	if (!ic || !(ic->lapic = calloc(ncpus, sizeof(*ic->lapic)))) {
		free(ic);
		return err_set(e, ENOMEM, "out of memory for the interrupt controllers");
	}
	ic->ops = *ops;
	ic->n = ncpus;
	struct lapic_ops lo = { .now_ns = ic_now, .kick = ic_kick, .send = ic_send, .eoi = ic_eoi,
	                        .tsc_per_ns_num = ops->tsc_per_ns_num,
	                        .tsc_per_ns_den = ops->tsc_per_ns_den, .opaque = ic };
	for (unsigned i = 0; i < ncpus; i++)
		if ((r = lapic_create(i, &lo, &ic->lapic[i], e)))
			goto fail;
	if ((r = ioapic_create(ncpus, &(struct ioapic_ops){ ic_ioapic_deliver, ic }, &ic->ioapic, e)))
		goto fail;
	if ((r = pic_create(&(struct pic_ops){ ic_pic_intr, ic }, &ic->pic, e)))
		goto fail;
	*out = ic;
	return 0;
fail:
	irqchip_destroy(ic);
	return r;
}

void irqchip_destroy(struct irqchip *ic)
{
	if (!ic)
		return;
	for (unsigned i = 0; i < ic->n; i++)
		lapic_destroy(ic->lapic[i]);
	ioapic_destroy(ic->ioapic);
	pic_destroy(ic->pic);
	free(ic->lapic);
	free(ic);
}

void irqchip_set_irq(struct irqchip *ic, unsigned gsi, bool level)
{
	ioapic_set_irq(ic->ioapic, gsi, level);
	if (gsi < 16)
		pic_set_irq(ic->pic, gsi, level);
}

int irqchip_msi(struct irqchip *ic, uint64_t addr, uint32_t data)
{
	if ((addr & ~(uint64_t)0xfffff) != MSI_ADDR_BASE)
		return -EINVAL;
	struct lapic_irq irq = {
		.vector = (uint8_t)data, .mode = data >> 8 & 7, .level = data >> 15 & 1,
		.assert = !(data >> 15 & 1) || (data >> 14 & 1),
		.logical = addr >> 2 & 1, .dest = (uint32_t)(addr >> 12) & 0xff,
	};
	/* RH=1: the message goes to the lowest-priority processor of the destination set */
	if ((addr >> 3 & 1) && irq.mode == LAPIC_DM_FIXED)
		irq.mode = LAPIC_DM_LOWEST;
	if (irq.level && !irq.assert)
		return 0;
	lapic_route(ic->lapic, ic->n, 0, &irq);
	return 0;
}

static bool extint(struct irqchip *ic, unsigned v)
{
	return v == 0 && pic_intr(ic->pic) && lapic_lint0_extint(ic->lapic[0]);
}

bool irqchip_pending(struct irqchip *ic, unsigned v)
{
	if (v >= ic->n)
		return false;
	return extint(ic, v) || lapic_pending_vector(ic->lapic[v]) >= 0;
}

int irqchip_ack(struct irqchip *ic, unsigned v)
{
	if (v >= ic->n)
		return -1;
	if (extint(ic, v))
		return pic_ack(ic->pic);
	return lapic_ack(ic->lapic[v]);
}
