/* I/O APIC, written from the Intel 82093AA datasheet (see ioapic.h). */
#include "hw/ioapic.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RTE_DELIVS (1ull << 12)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL (1ull << 15)
#define RTE_MASK (1ull << 16)
#define RTE_RO (RTE_DELIVS | RTE_REMOTE_IRR)
#define RTE_WRITABLE (0xff000000000000ffull | 0x1af00ull)   /* dest, vector, mode..mask minus RO */

struct ioapic {
	pthread_mutex_t lock;
	struct ioapic_ops ops;
	uint32_t id;             /* bits 24-27 */
	uint8_t sel;
	uint64_t rte[IOAPIC_PINS];
	bool pin[IOAPIC_PINS];   /* input asserted */
};

/* Devices say "asserted", not the electrical level (vm_set_irq has KVM_IRQ_LINE's
 * contract): the polarity bit is kept for the guest to read back, nothing more. */
static bool asserted(const struct ioapic *io, unsigned p)
{
	return io->pin[p];
}

static void deliver(struct ioapic *io, unsigned p)
{
	uint64_t r = io->rte[p];
	struct lapic_irq irq = {
		.vector = (uint8_t)r, .mode = r >> 8 & 7, .logical = r >> 11 & 1,
		.level = (r & RTE_LEVEL) != 0, .assert = true, .dest = (uint32_t)(r >> 56),
	};
	if (irq.level && irq.mode <= LAPIC_DM_LOWEST)
		io->rte[p] |= RTE_REMOTE_IRR;
	if (io->ops.deliver)
		io->ops.deliver(io->ops.opaque, &irq);
}

/* A level pin that is asserted, unmasked and not waiting for its EOI fires again. */
static void level_check(struct ioapic *io, unsigned p)
{
	uint64_t r = io->rte[p];
	if ((r & RTE_LEVEL) && !(r & (RTE_MASK | RTE_REMOTE_IRR)) && asserted(io, p))
		deliver(io, p);
}

int ioapic_create(unsigned id, const struct ioapic_ops *ops, struct ioapic **out, struct err *e)
{
	struct ioapic *io = calloc(1, sizeof(*io));
	if (!io)
		return err_set(e, ENOMEM, "out of memory for the I/O APIC");
	pthread_mutex_init(&io->lock, NULL);
	io->ops = *ops;
	io->id = (id & 0xf) << 24;
	for (unsigned p = 0; p < IOAPIC_PINS; p++)
		io->rte[p] = RTE_MASK;
	*out = io;
	return 0;
}

void ioapic_destroy(struct ioapic *io)
{
	if (!io)
		return;
	pthread_mutex_destroy(&io->lock);
	free(io);
}

static uint32_t reg_read(struct ioapic *io)
{
	unsigned s = io->sel;
	if (s == 0x00 || s == 0x02)
		return io->id;   /* arbitration ID follows the APIC ID after reset */
	if (s == 0x01)
		return 0x11 | (IOAPIC_PINS - 1) << 16;
	if (s >= 0x10 && s < 0x10 + 2 * IOAPIC_PINS) {
		uint64_t r = io->rte[(s - 0x10) / 2];
		return (s & 1) ? (uint32_t)(r >> 32) : (uint32_t)r;
	}
	return 0;
}

static void reg_write(struct ioapic *io, uint32_t v)
{
	unsigned s = io->sel;
	if (s == 0x00) {
		io->id = v & 0x0f000000;
		return;
	}
	if (s < 0x10 || s >= 0x10 + 2 * IOAPIC_PINS)
		return;   /* version, arbitration: read-only */
	unsigned p = (s - 0x10) / 2;
	uint64_t r = io->rte[p], w = (s & 1) ? (uint64_t)v << 32 | (r & 0xffffffff)
	                                     : (r & 0xffffffff00000000ull) | v;
	r = (r & RTE_RO) | (w & RTE_WRITABLE);
	if (!(r & RTE_LEVEL))
		r &= ~RTE_REMOTE_IRR;
	io->rte[p] = r;
	level_check(io, p);
}

void ioapic_mmio(struct ioapic *io, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	uint32_t v = 0;
	pthread_mutex_lock(&io->lock);
	if (off == 0x00 && is_write) {
		io->sel = data[0];
	} else if (off == 0x00) {
		memset(data, 0, size);
		data[0] = io->sel;
	} else if (off == 0x10 && size == 4) {
		if (is_write) {
			for (unsigned i = 0; i < 4; i++)
				v |= (uint32_t)data[i] << (8 * i);
			reg_write(io, v);
		} else {
			v = reg_read(io);
			for (unsigned i = 0; i < 4; i++)
				data[i] = (uint8_t)(v >> (8 * i));
		}
	} else if (!is_write) {
		memset(data, 0, size);
	}
	pthread_mutex_unlock(&io->lock);
}

void ioapic_set_irq(struct ioapic *io, unsigned pin, bool level)
{
	if (pin >= IOAPIC_PINS)
		return;
	pthread_mutex_lock(&io->lock);
	bool was = asserted(io, pin);
	io->pin[pin] = level;
	bool now = asserted(io, pin);
	if (io->rte[pin] & RTE_LEVEL)
		level_check(io, pin);
	else if (now && !was && !(io->rte[pin] & RTE_MASK))
		deliver(io, pin);
	pthread_mutex_unlock(&io->lock);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	pthread_mutex_lock(&io->lock);
	for (unsigned p = 0; p < IOAPIC_PINS; p++) {
		if ((uint8_t)io->rte[p] != vector || !(io->rte[p] & RTE_REMOTE_IRR))
			continue;
		io->rte[p] &= ~RTE_REMOTE_IRR;
		level_check(io, p);
	}
	pthread_mutex_unlock(&io->lock);
}

void ioapic_get_state(struct ioapic *io, struct ioapic_state *s)
{
	pthread_mutex_lock(&io->lock);
	*s = (struct ioapic_state){ .id = (uint8_t)(io->id >> 24 & 0xf), .sel = io->sel };
	for (unsigned p = 0; p < IOAPIC_PINS; p++) {
		s->rte[p] = io->rte[p];
		s->lines |= (uint32_t)io->pin[p] << p;
	}
	pthread_mutex_unlock(&io->lock);
}

void ioapic_set_state(struct ioapic *io, const struct ioapic_state *s)
{
	_Static_assert(IOAPIC_PINS == CHIP_IOAPIC_PINS, "IOAPIC pin count");
	pthread_mutex_lock(&io->lock);
	io->id = (uint32_t)(s->id & 0xf) << 24;
	io->sel = s->sel;
	for (unsigned p = 0; p < IOAPIC_PINS; p++) {
		uint64_t r = s->rte[p] & (RTE_WRITABLE | RTE_REMOTE_IRR);
		if (!(r & RTE_LEVEL))
			r &= ~RTE_REMOTE_IRR;
		io->rte[p] = r;
		io->pin[p] = s->lines >> p & 1;
	}
	pthread_mutex_unlock(&io->lock);
}
