/* Intel 8259A pair, written from the 8259A datasheet (see pic.h). */
#include "hw/pic.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct chip {
	uint8_t irr, isr, imr, elcr, lines;
	uint8_t base;           /* ICW2 vector base (T7-T3) */
	uint8_t init_step;      /* 0 ready, 2/3/4: waiting for ICW2/3/4 */
	bool need_icw4, single, ltim, aeoi, rotate_aeoi, special_mask, read_isr, poll;
	bool sfnm;              /* ICW4 special fully nested mode: kept, not modelled */
	uint8_t lowest;         /* the IR with the lowest priority (rotation) */
	uint8_t elcr_mask;      /* ELCR bits that may be set */
	uint8_t cascade;        /* master: IR2 follows the slave's INT as a level */
};

struct pic {
	pthread_mutex_t lock;
	struct pic_ops ops;
	struct chip c[2];
	bool intr;
};

/* The IRs that are level-sensitive: all of them with LTIM, else the ELCR's and the
 * cascade. Their IRR bit follows the line at all times. */
static uint8_t level_irs(const struct chip *c)
{
	return c->ltim ? 0xff : c->elcr | c->cascade;
}

static bool is_level(const struct chip *c, unsigned i)
{
	return level_irs(c) >> i & 1;
}

/* The highest-priority IR that may interrupt now, or -1. */
static int chip_pending(const struct chip *c)
{
	uint8_t req = c->irr & ~c->imr;
	for (unsigned k = 0; k < 8; k++) {
		unsigned i = (c->lowest + 1 + k) & 7;
		if (!c->special_mask && (c->isr >> i & 1))
			return -1;   /* fully nested: an in-service IR of higher priority blocks */
		if (req >> i & 1)
			return c->special_mask && (c->isr >> i & 1) ? -1 : (int)i;
	}
	return -1;
}

static void chip_line(struct chip *c, unsigned i, bool level)
{
	bool was = c->lines >> i & 1;
	if (level)
		c->lines |= (uint8_t)(1u << i);
	else
		c->lines &= (uint8_t)~(1u << i);
	if (is_level(c, i)) {
		if (level)
			c->irr |= (uint8_t)(1u << i);
		else
			c->irr &= (uint8_t)~(1u << i);
	} else if (level && !was) {
		c->irr |= (uint8_t)(1u << i);
	} else if (!level) {
		c->irr &= (uint8_t)~(1u << i);   /* an edge request must stay high until INTA */
	}
}

static void update(struct pic *p)
{
	chip_line(&p->c[0], 2, chip_pending(&p->c[1]) >= 0);
	bool intr = chip_pending(&p->c[0]) >= 0;
	if (intr != p->intr) {
		p->intr = intr;
		if (p->ops.set_intr)
			p->ops.set_intr(p->ops.opaque, intr);
	}
}

static void chip_reset(struct chip *c, uint8_t elcr_mask)
{
	uint8_t elcr = c->elcr, lines = c->lines;
	memset(c, 0, sizeof(*c));
	c->elcr = elcr;
	c->lines = lines;
	c->elcr_mask = elcr_mask;
	c->cascade = elcr_mask == 0xf8 ? 0x04 : 0;
	c->lowest = 7;
}

int pic_create(const struct pic_ops *ops, struct pic **out, struct err *e)
{
	struct pic *p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(e, ENOMEM, "out of memory for the 8259A PICs");
	pthread_mutex_init(&p->lock, NULL);
	p->ops = *ops;
	chip_reset(&p->c[0], 0xf8);   /* IRQ 0, 1, 2 are always edge */
	chip_reset(&p->c[1], 0xde);   /* IRQ 8 and 13 are always edge */
	*out = p;
	return 0;
}

void pic_destroy(struct pic *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* End of interrupt for IR i: clear ISR; rotate makes i the lowest priority. */
static void eoi(struct chip *c, int i, bool rotate)
{
	if (i < 0)
		return;
	c->isr &= (uint8_t)~(1u << i);
	if (rotate)
		c->lowest = (uint8_t)i;
}

static int highest_isr(const struct chip *c)
{
	for (unsigned k = 0; k < 8; k++) {
		unsigned i = (c->lowest + 1 + k) & 7;
		if (c->isr >> i & 1)
			return (int)i;
	}
	return -1;
}

/* INTA on one chip: returns the IR taken, 7 when spurious. */
static unsigned chip_ack(struct chip *c, bool *spurious)
{
	int i = chip_pending(c);
	*spurious = i < 0;
	if (i < 0)
		return 7;
	if (!is_level(c, (unsigned)i))
		c->irr &= (uint8_t)~(1u << i);
	if (c->aeoi) {
		if (c->rotate_aeoi)
			c->lowest = (uint8_t)i;
	} else {
		c->isr |= (uint8_t)(1u << i);
	}
	return (unsigned)i;
}

static void write_cmd(struct chip *c, uint8_t v)
{
	if (v & 0x10) {                  /* ICW1 */
		uint8_t elcr_mask = c->elcr_mask;
		chip_reset(c, elcr_mask);
		c->need_icw4 = v & 1;
		c->single = v & 2;
		c->ltim = v & 8;
		c->init_step = 2;
		/* The edge-sense latch is cleared; a level-sensitive IR whose line is high
		 * requests at once. */
		c->irr = c->lines & level_irs(c);
		return;
	}
	if (v & 0x08) {                  /* OCW3 */
		if (v & 0x04)
			c->poll = true;
		if (v & 0x02)
			c->read_isr = v & 1;
		if (v & 0x40)
			c->special_mask = v & 0x20;
		return;
	}
	switch (v >> 5) {                /* OCW2: R SL EOI */
	case 1: eoi(c, highest_isr(c), false); break;
	case 3: eoi(c, v & 7, false); break;
	case 5: eoi(c, highest_isr(c), true); break;
	case 7: eoi(c, v & 7, true); break;
	case 4: c->rotate_aeoi = true; break;
	case 0: c->rotate_aeoi = false; break;
	case 6: c->lowest = v & 7; break;
	default: break;
	}
}

static void write_data(struct chip *c, uint8_t v)
{
	switch (c->init_step) {
	case 2:
		c->base = v & 0xf8;
		c->init_step = c->single ? (c->need_icw4 ? 4 : 0) : 3;
		break;
	case 3:                           /* ICW3: cascade wiring is fixed on a PC */
		c->init_step = c->need_icw4 ? 4 : 0;
		break;
	case 4:
		c->aeoi = v & 2;
		c->sfnm = v & 0x10;
		c->init_step = 0;
		break;
	default:
		c->imr = v;
		break;
	}
}

static uint8_t poll(struct pic *p, unsigned n)
{
	struct chip *c = &p->c[n];
	bool spurious;
	c->poll = false;
	if (chip_pending(c) < 0)
		return 0;
	unsigned i = chip_ack(c, &spurious);
	if (n == 0 && i == 2 && !c->single) {   /* a poll of the master through the cascade */
		bool s2;
		chip_ack(&p->c[1], &s2);
	}
	return (uint8_t)(0x80 | i);
}

void pic_io(struct pic *p, uint16_t port, uint8_t *data, unsigned size, bool is_write)
{
	unsigned n;
	if (size != 1) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&p->lock);
	if (port == 0x4d0 || port == 0x4d1) {
		struct chip *c = &p->c[port & 1];
		if (is_write) {
			c->elcr = data[0] & c->elcr_mask;
			c->irr = (uint8_t)((c->irr & ~level_irs(c)) | (c->lines & level_irs(c)));
		} else {
			data[0] = c->elcr;
		}
		goto out;
	}
	if (port != 0x20 && port != 0x21 && port != 0xa0 && port != 0xa1) {
		if (!is_write)
			data[0] = 0xff;
		goto out;
	}
	n = port >= 0xa0;
	struct chip *c = &p->c[n];
	if (is_write) {
		if (port & 1)
			write_data(c, data[0]);
		else
			write_cmd(c, data[0]);
	} else if (c->poll) {
		data[0] = poll(p, n);
	} else {
		data[0] = (port & 1) ? c->imr : c->read_isr ? c->isr : c->irr;
	}
out:
	update(p);
	pthread_mutex_unlock(&p->lock);
}

void pic_set_irq(struct pic *p, unsigned irq, bool level)
{
	if (irq >= 16 || irq == 2)
		return;   /* IR2 of the master is the cascade */
	pthread_mutex_lock(&p->lock);
	chip_line(&p->c[irq >> 3], irq & 7, level);
	update(p);
	pthread_mutex_unlock(&p->lock);
}

bool pic_intr(struct pic *p)
{
	pthread_mutex_lock(&p->lock);
	bool r = p->intr;
	pthread_mutex_unlock(&p->lock);
	return r;
}

uint8_t pic_ack(struct pic *p)
{
	bool spurious;
	uint8_t v;
	pthread_mutex_lock(&p->lock);
	unsigned i = chip_ack(&p->c[0], &spurious);
	if (!spurious && i == 2) {
		unsigned j = chip_ack(&p->c[1], &spurious);
		v = (uint8_t)(p->c[1].base | j);
		if (spurious)     /* the slave's request went away: spurious IRQ 15, master ISR2 stays */
			v = (uint8_t)(p->c[1].base | 7);
	} else {
		v = (uint8_t)(p->c[0].base | i);
	}
	update(p);
	pthread_mutex_unlock(&p->lock);
	return v;
}

static uint16_t chip_flags(const struct chip *c)
{
	return (uint16_t)((c->need_icw4 ? PIC_NEED_ICW4 : 0) | (c->single ? PIC_SINGLE : 0) |
	                  (c->ltim ? PIC_LTIM : 0) | (c->aeoi ? PIC_AUTO_EOI : 0) |
	                  (c->rotate_aeoi ? PIC_ROTATE_AEOI : 0) |
	                  (c->special_mask ? PIC_SPECIAL_MASK : 0) |
	                  (c->read_isr ? PIC_READ_ISR : 0) | (c->poll ? PIC_POLL : 0) |
	                  (c->sfnm ? PIC_SFNM : 0));
}

void pic_get_state(struct pic *p, struct pic_state *s)
{
	pthread_mutex_lock(&p->lock);
	for (unsigned n = 0; n < 2; n++) {
		const struct chip *c = &p->c[n];
		s->chip[n] = (struct pic_chip_state){
			.irr = c->irr, .isr = c->isr, .imr = c->imr, .elcr = c->elcr,
			.lines = c->lines, .base = c->base, .priority_add = (c->lowest + 1) & 7,
			.init_step = c->init_step ? c->init_step - 1 : 0, .flags = chip_flags(c),
		};
	}
	pthread_mutex_unlock(&p->lock);
}

void pic_set_state(struct pic *p, const struct pic_state *s)
{
	pthread_mutex_lock(&p->lock);
	for (unsigned n = 0; n < 2; n++) {
		struct chip *c = &p->c[n];
		const struct pic_chip_state *o = &s->chip[n];
		c->irr = o->irr;
		c->isr = o->isr;
		c->imr = o->imr;
		c->elcr = o->elcr & c->elcr_mask;
		c->lines = o->lines;
		c->base = o->base & 0xf8;
		c->lowest = (o->priority_add + 7) & 7;
		c->init_step = o->init_step ? (uint8_t)((o->init_step & 3) + 1) : 0;
		c->need_icw4 = o->flags & PIC_NEED_ICW4;
		c->single = o->flags & PIC_SINGLE;
		c->ltim = o->flags & PIC_LTIM;
		c->aeoi = o->flags & PIC_AUTO_EOI;
		c->rotate_aeoi = o->flags & PIC_ROTATE_AEOI;
		c->special_mask = o->flags & PIC_SPECIAL_MASK;
		c->read_isr = o->flags & PIC_READ_ISR;
		c->poll = o->flags & PIC_POLL;
		c->sfnm = o->flags & PIC_SFNM;
	}
	update(p);
	pthread_mutex_unlock(&p->lock);
}
