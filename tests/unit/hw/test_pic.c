/* 8259A pair: Linux's init sequence, IRR/ISR/IMR reads, priority and nesting, non-specific
 * and specific EOI, the cascade through IR2, auto-EOI, level pins through the ELCR,
 * spurious IRQ 7, poll mode and the INTR output. */
#include "../check.h"
#include "hw/pic.h"

static bool intr;
static unsigned intr_changes;
static void fake_intr(void *o, bool level) { (void)o; intr = level; intr_changes++; }
static const struct pic_ops ops = { .set_intr = fake_intr };

static void out(struct pic *p, uint16_t port, uint8_t v) { pic_io(p, port, &v, 1, true); }
static uint8_t in(struct pic *p, uint16_t port) { uint8_t v; pic_io(p, port, &v, 1, false); return v; }

static struct pic *linux_init(bool aeoi)
{
	struct pic *p;
	intr = false;
	CHECK_EQ(pic_create(&ops, &p, NULL), 0);
	out(p, 0x21, 0xff); out(p, 0xa1, 0xff);
	out(p, 0x20, 0x11); out(p, 0x21, 0x30); out(p, 0x21, 0x04); out(p, 0x21, aeoi ? 3 : 1);
	out(p, 0xa0, 0x11); out(p, 0xa1, 0x38); out(p, 0xa1, 0x02); out(p, 0xa1, 0x01);
	out(p, 0x21, 0x00); out(p, 0xa1, 0x00);
	return p;
}

int main(void)
{
	struct pic *p = linux_init(false);
	CHECK_EQ(in(p, 0x21), 0);
	CHECK(!intr);
	pic_set_irq(p, 4, true);
	CHECK(intr);
	CHECK_EQ(in(p, 0x20), 0x10);            /* IRR */
	pic_set_irq(p, 1, true);
	CHECK_EQ(pic_ack(p), 0x31);             /* IRQ 1 beats IRQ 4 */
	out(p, 0x20, 0x0b);                     /* OCW3: read ISR */
	CHECK_EQ(in(p, 0x20), 0x02);
	CHECK(!intr);                           /* IRQ 4 blocked by IRQ 1 in service */
	pic_set_irq(p, 0, true);
	CHECK(intr);                            /* IRQ 0 nests */
	CHECK_EQ(pic_ack(p), 0x30);
	CHECK_EQ(in(p, 0x20), 0x03);
	out(p, 0x20, 0x20);                     /* non-specific EOI: IRQ 0 */
	CHECK_EQ(in(p, 0x20), 0x02);
	out(p, 0x20, 0x61);                     /* specific EOI IRQ 1 */
	CHECK_EQ(in(p, 0x20), 0x00);
	CHECK(intr);
	CHECK_EQ(pic_ack(p), 0x34);
	out(p, 0x20, 0x20);
	/* masking */
	pic_set_irq(p, 0, false); pic_set_irq(p, 1, false); pic_set_irq(p, 4, false);
	out(p, 0x21, 0x08);
	pic_set_irq(p, 3, true);
	CHECK(!intr);
	out(p, 0x21, 0x00);
	CHECK(intr);
	CHECK_EQ(pic_ack(p), 0x33);
	out(p, 0x20, 0x20);
	pic_set_irq(p, 3, false);
	/* cascade: IRQ 12 on the slave, via master IR2 */
	pic_set_irq(p, 12, true);
	CHECK(intr);
	CHECK_EQ(pic_ack(p), 0x3c);
	out(p, 0x20, 0x0a);                     /* read IRR again */
	out(p, 0xa0, 0x0b);
	CHECK_EQ(in(p, 0xa0), 0x10);            /* slave ISR bit 4 */
	out(p, 0x20, 0x0b);
	CHECK_EQ(in(p, 0x20), 0x04);            /* master ISR bit 2 */
	out(p, 0xa0, 0x20); out(p, 0x20, 0x20);
	CHECK_EQ(in(p, 0xa0), 0);
	CHECK_EQ(in(p, 0x20), 0);
	pic_set_irq(p, 12, false);
	CHECK(!intr);
	/* spurious: the edge went away before INTA */
	pic_set_irq(p, 5, true);
	pic_set_irq(p, 5, false);
	CHECK(!intr);
	CHECK_EQ(pic_ack(p), 0x37);
	CHECK_EQ(in(p, 0x20), 0);               /* no ISR bit for a spurious IRQ 7 */
	/* ELCR: IRQ 9 and 11 level; IRQ 0-2 cannot be level */
	out(p, 0x4d0, 0xff);
	CHECK_EQ(in(p, 0x4d0), 0xf8);
	out(p, 0x4d0, 0x00);
	out(p, 0x4d1, 0x0a);
	CHECK_EQ(in(p, 0x4d1), 0x0a);
	pic_set_irq(p, 9, true);
	CHECK_EQ(pic_ack(p), 0x39);
	out(p, 0xa0, 0x20); out(p, 0x20, 0x20);
	CHECK(intr);                            /* still high: level requests again */
	CHECK_EQ(pic_ack(p), 0x39);
	pic_set_irq(p, 9, false);
	out(p, 0xa0, 0x20); out(p, 0x20, 0x20);
	CHECK(!intr);
	/* poll mode */
	pic_set_irq(p, 6, true);
	out(p, 0x20, 0x0c);
	CHECK_EQ(in(p, 0x20), 0x86);
	out(p, 0x20, 0x0b);
	CHECK_EQ(in(p, 0x20), 0x40);
	out(p, 0x20, 0x20);
	pic_set_irq(p, 6, false);
	out(p, 0x20, 0x0c);
	CHECK_EQ(in(p, 0x20), 0x00);
	/* unknown port */
	CHECK_EQ(in(p, 0x22), 0xff);
	pic_destroy(p);

	/* auto-EOI: no ISR bit */
	p = linux_init(true);
	pic_set_irq(p, 3, true);
	CHECK_EQ(pic_ack(p), 0x33);
	out(p, 0x20, 0x0b);
	CHECK_EQ(in(p, 0x20), 0);
	pic_set_irq(p, 3, false);
	CHECK(intr_changes > 0);
	pic_destroy(p);
	return check_done();
}
