/* The PC wiring: PIC through LINT0/ExtINT (and directly while the LAPIC is disabled),
 * GSIs through the IOAPIC to a LAPIC, level-triggered EOI broadcast back to the IOAPIC,
 * MSIs, and IPIs between vCPUs. */
#include <errno.h>

#include "../check.h"
#include "hw/irqchip.h"

static uint64_t fake_ns = 1000;
static unsigned kicked[4];
static uint64_t fake_now(void *o) { (void)o; return fake_ns; }
static void fake_kick(void *o, unsigned v) { (void)o; kicked[v & 3]++; }

static uint32_t lrd(struct lapic *l, unsigned off)
{
	uint8_t d[4];
	lapic_mmio(l, off, d, 4, false);
	return (uint32_t)d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24;
}

static void lwr(struct lapic *l, unsigned off, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	lapic_mmio(l, off, d, 4, true);
}

static void iowr(struct ioapic *io, uint8_t reg, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	ioapic_mmio(io, 0, &reg, 1, true);
	ioapic_mmio(io, 0x10, d, 4, true);
}

static void pout(struct pic *p, uint16_t port, uint8_t v) { pic_io(p, port, &v, 1, true); }

int main(void)
{
	struct irqchip *ic;
	struct irqchip_ops ops = { .now_ns = fake_now, .kick = fake_kick };
	CHECK_EQ(irqchip_create(2, &ops, &ic, NULL), 0);

	/* PIC straight to the CPU while the LAPIC is software-disabled */
	pout(ic->pic, 0x20, 0x11); pout(ic->pic, 0x21, 0x20); pout(ic->pic, 0x21, 4); pout(ic->pic, 0x21, 1);
	pout(ic->pic, 0xa0, 0x11); pout(ic->pic, 0xa1, 0x28); pout(ic->pic, 0xa1, 2); pout(ic->pic, 0xa1, 1);
	pout(ic->pic, 0x21, 0); pout(ic->pic, 0xa1, 0);
	irqchip_set_irq(ic, 4, true);
	CHECK(kicked[0] > 0);
	CHECK(irqchip_pending(ic, 0));
	CHECK(!irqchip_pending(ic, 1));
	CHECK_EQ(irqchip_ack(ic, 0), 0x24);
	pout(ic->pic, 0x20, 0x20);
	irqchip_set_irq(ic, 4, false);
	CHECK(!irqchip_pending(ic, 0));

	/* LAPIC enabled: LINT0 masked blocks the PIC, ExtINT passes it */
	lwr(ic->lapic[0], 0xf0, 0x1ff);
	lwr(ic->lapic[1], 0xf0, 0x1ff);
	irqchip_set_irq(ic, 3, true);
	CHECK(!irqchip_pending(ic, 0));
	lwr(ic->lapic[0], 0x350, 0x700);
	CHECK(irqchip_pending(ic, 0));
	CHECK_EQ(irqchip_ack(ic, 0), 0x23);
	pout(ic->pic, 0x20, 0x20);
	irqchip_set_irq(ic, 3, false);
	pout(ic->pic, 0x21, 0xff); pout(ic->pic, 0xa1, 0xff);   /* as Linux does with an IOAPIC */

	/* GSI 9, level, to APIC 1; EOI broadcast clears remote IRR and re-delivers */
	iowr(ic->ioapic, 0x10 + 19, 1u << 24);
	iowr(ic->ioapic, 0x10 + 18, 0x8000 | 0x49);
	irqchip_set_irq(ic, 9, true);
	CHECK(irqchip_pending(ic, 1));
	CHECK(!irqchip_pending(ic, 0));
	CHECK_EQ(irqchip_ack(ic, 1), 0x49);
	lwr(ic->lapic[1], 0xb0, 0);
	CHECK_EQ(irqchip_ack(ic, 1), 0x49);     /* still asserted */
	irqchip_set_irq(ic, 9, false);
	lwr(ic->lapic[1], 0xb0, 0);
	CHECK(!irqchip_pending(ic, 1));

	/* GSI 0 (PIT) edge on IOAPIC pin 0 */
	iowr(ic->ioapic, 0x11, 0);
	iowr(ic->ioapic, 0x10, 0x30);
	irqchip_set_irq(ic, 0, true);
	CHECK_EQ(irqchip_ack(ic, 0), 0x30);
	lwr(ic->lapic[0], 0xb0, 0);
	irqchip_set_irq(ic, 0, false);

	/* MSI: physical APIC 1, vector 0x61; out-of-window address rejected */
	CHECK_EQ(irqchip_msi(ic, 0xfee01000, 0x61), 0);
	CHECK_EQ(irqchip_ack(ic, 1), 0x61);
	lwr(ic->lapic[1], 0xb0, 0);
	CHECK_EQ(irqchip_msi(ic, 0xfed00000, 0x61), -EINVAL);
	/* MSI logical flat to LDR bit 1 */
	lwr(ic->lapic[1], 0xd0, 2u << 24);
	CHECK_EQ(irqchip_msi(ic, 0xfee02004, 0x62), 0);
	CHECK_EQ(irqchip_ack(ic, 1), 0x62);
	lwr(ic->lapic[1], 0xb0, 0);

	/* IPI from vCPU 1 to vCPU 0 kicks it */
	unsigned k = kicked[0];
	lwr(ic->lapic[1], 0x310, 0);
	lwr(ic->lapic[1], 0x300, 0x55);
	CHECK(kicked[0] > k);
	CHECK_EQ(irqchip_ack(ic, 0), 0x55);
	CHECK_EQ(lrd(ic->lapic[0], 0xa0), 0x50);
	lwr(ic->lapic[0], 0xb0, 0);
	CHECK_EQ(irqchip_ack(ic, 5), -1);
	irqchip_destroy(ic);
	return check_done();
}
