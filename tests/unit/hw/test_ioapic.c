/* I/O APIC: ID/version, redirection entries, masking, edge delivery, level delivery with
 * remote IRR, EOI and re-assertion, active-low pins, and delivery into LAPICs. */
#include "../check.h"
#include "hw/ioapic.h"

static struct lapic_irq sent[16];
static unsigned nsent;

static void fake_deliver(void *o, const struct lapic_irq *irq)
{
	(void)o;
	if (nsent < 16)
		sent[nsent] = *irq;
	nsent++;
}

static const struct ioapic_ops ops = { .deliver = fake_deliver };

static uint32_t rd(struct ioapic *io, uint8_t reg)
{
	uint8_t d[4];
	ioapic_mmio(io, 0, &reg, 1, true);
	ioapic_mmio(io, 0x10, d, 4, false);
	return (uint32_t)d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24;
}

static void wr(struct ioapic *io, uint8_t reg, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	ioapic_mmio(io, 0, &reg, 1, true);
	ioapic_mmio(io, 0x10, d, 4, true);
}

int main(void)
{
	struct ioapic *io;
	CHECK_EQ(ioapic_create(4, &ops, &io, NULL), 0);
	CHECK_EQ(rd(io, 0), 4u << 24);
	CHECK_EQ(rd(io, 1), 0x170011);
	CHECK_EQ(rd(io, 2), 4u << 24);
	CHECK_EQ(rd(io, 0x10), 0x10000);      /* masked at reset */
	wr(io, 1, 0);                          /* version read-only */
	CHECK_EQ(rd(io, 1), 0x170011);

	/* edge pin 0 -> vector 0x30, physical APIC 1 */
	ioapic_set_irq(io, 0, true);           /* masked: lost */
	ioapic_set_irq(io, 0, false);
	CHECK_EQ(nsent, 0);
	wr(io, 0x11, 1u << 24);
	wr(io, 0x10, 0x30);
	CHECK_EQ(rd(io, 0x11), 1u << 24);
	ioapic_set_irq(io, 0, true);
	CHECK_EQ(nsent, 1);
	CHECK_EQ(sent[0].vector, 0x30);
	CHECK_EQ(sent[0].dest, 1);
	CHECK(!sent[0].level && !sent[0].logical && sent[0].mode == LAPIC_DM_FIXED);
	ioapic_set_irq(io, 0, true);           /* no new edge */
	CHECK_EQ(nsent, 1);
	ioapic_set_irq(io, 0, false);
	ioapic_set_irq(io, 0, true);
	CHECK_EQ(nsent, 2);

	/* level pin 9 (active high), logical lowest priority */
	nsent = 0;
	wr(io, 0x10 + 18 + 1, 0x03u << 24);
	wr(io, 0x10 + 18, 0x8000 | 0x800 | 0x100 | 0x41);
	ioapic_set_irq(io, 9, true);
	CHECK_EQ(nsent, 1);
	CHECK(sent[0].level && sent[0].logical && sent[0].mode == LAPIC_DM_LOWEST);
	CHECK_EQ(sent[0].dest, 3);
	CHECK_EQ(rd(io, 0x10 + 18) >> 14 & 1, 1);   /* remote IRR */
	ioapic_set_irq(io, 9, true);
	CHECK_EQ(nsent, 1);                    /* waits for EOI */
	ioapic_eoi(io, 0x42);                  /* other vector: nothing */
	CHECK_EQ(rd(io, 0x10 + 18) >> 14 & 1, 1);
	ioapic_eoi(io, 0x41);                  /* still asserted: delivered again */
	CHECK_EQ(nsent, 2);
	CHECK_EQ(rd(io, 0x10 + 18) >> 14 & 1, 1);
	ioapic_set_irq(io, 9, false);
	ioapic_eoi(io, 0x41);
	CHECK_EQ(nsent, 2);
	CHECK_EQ(rd(io, 0x10 + 18) >> 14 & 1, 0);
	/* masked while asserted, delivered on unmask */
	wr(io, 0x10 + 18, 0x18941);
	ioapic_set_irq(io, 9, true);
	CHECK_EQ(nsent, 2);
	wr(io, 0x10 + 18, 0x08941);
	CHECK_EQ(nsent, 3);
	wr(io, 0x10 + 18, 0x0c941);           /* remote IRR is read-only */
	CHECK_EQ(rd(io, 0x10 + 18) >> 14 & 1, 1);

	/* active-low level pin 11 (a PCI INTx line): ioapic_set_irq's level means asserted,
	 * whatever the polarity (KVM_IRQ_LINE's contract), so an idle line stays quiet */
	nsent = 0;
	wr(io, 0x10 + 22, 0xa000 | 0x51);
	CHECK_EQ(nsent, 0);
	ioapic_set_irq(io, 11, true);
	CHECK_EQ(nsent, 1);
	ioapic_set_irq(io, 11, false);
	ioapic_eoi(io, 0x51);
	CHECK_EQ(nsent, 1);

	/* out-of-range pin and registers */
	ioapic_set_irq(io, 24, true);
	CHECK_EQ(rd(io, 0x10 + 48), 0);
	ioapic_destroy(io);
	return check_done();
}
