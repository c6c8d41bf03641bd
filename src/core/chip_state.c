/* The interrupt controllers' and the PIT's engine-neutral state in snapshot streams
 * (chip_state.h). */
#include "chip_state.h"

#include <string.h>

static void put_ioapic(struct snap_writer *w, const struct ioapic_state *s)
{
	snap_put_u8(w, s->id);
	snap_put_u8(w, s->sel);
	snap_put_u32(w, s->lines);
	for (unsigned p = 0; p < CHIP_IOAPIC_PINS; p++)
		snap_put_u64(w, s->rte[p]);
}

static void get_ioapic(struct snap_reader *r, struct ioapic_state *s)
{
	s->id = snap_get_u8(r);
	snap_check(r, s->id < 16, "IOAPIC ID");
	s->sel = snap_get_u8(r);
	s->lines = snap_get_u32(r);
	snap_check(r, s->lines < (1u << CHIP_IOAPIC_PINS), "IOAPIC input lines");
	for (unsigned p = 0; p < CHIP_IOAPIC_PINS; p++)
		s->rte[p] = snap_get_u64(r);
}

static void put_pic(struct snap_writer *w, const struct pic_chip_state *c)
{
	snap_put_u8(w, c->irr);
	snap_put_u8(w, c->isr);
	snap_put_u8(w, c->imr);
	snap_put_u8(w, c->elcr);
	snap_put_u8(w, c->lines);
	snap_put_u8(w, c->base);
	snap_put_u8(w, c->priority_add);
	snap_put_u8(w, c->init_step);
	snap_put_u16(w, c->flags);
}

static void get_pic(struct snap_reader *r, struct pic_chip_state *c)
{
	c->irr = snap_get_u8(r);
	c->isr = snap_get_u8(r);
	c->imr = snap_get_u8(r);
	c->elcr = snap_get_u8(r);
	c->lines = snap_get_u8(r);
	c->base = snap_get_u8(r);
	snap_check(r, (c->base & 7) == 0, "8259A vector base");
	c->priority_add = snap_get_u8(r);
	snap_check(r, c->priority_add < 8, "8259A priority");
	c->init_step = snap_get_u8(r);
	snap_check(r, c->init_step <= 3, "8259A initialization step");
	c->flags = snap_get_u16(r);
	snap_check(r, !(c->flags & ~PIC_FLAGS), "8259A mode");
}

void engine_vm_state_save(struct snap_writer *w, const struct engine_vm_state *s)
{
	snap_put_u64(w, s->clock_ns);
	snap_put_u32(w, s->tsc_khz);
	put_ioapic(w, &s->ioapic);
	put_pic(w, &s->pic.chip[0]);
	put_pic(w, &s->pic.chip[1]);
}

int engine_vm_state_load(struct snap_reader *r, struct engine_vm_state *s)
{
	memset(s, 0, sizeof(*s));
	s->clock_ns = snap_get_u64(r);
	/* Below 2^62 ns (146 years): the clock's arithmetic cannot overflow. */
	snap_check(r, s->clock_ns < (1ull << 62), "guest clock");
	s->tsc_khz = snap_get_u32(r);
	snap_check(r, s->tsc_khz >= 1000 && s->tsc_khz <= 100000000, "TSC frequency");
	get_ioapic(r, &s->ioapic);
	get_pic(r, &s->pic.chip[0]);
	get_pic(r, &s->pic.chip[1]);
	return snap_status(r);
}

static void put_channel(struct snap_writer *w, const struct pit_channel_state *c)
{
	snap_put_u32(w, c->count);
	snap_put_u16(w, c->latched_count);
	snap_put_u8(w, c->count_latched);
	snap_put_u8(w, c->status_latched);
	snap_put_u8(w, c->status);
	snap_put_u8(w, c->read_state);
	snap_put_u8(w, c->write_state);
	snap_put_u8(w, c->write_latch);
	snap_put_u8(w, c->rw_mode);
	snap_put_u8(w, c->mode);
	snap_put_u8(w, c->bcd);
	snap_put_u8(w, c->gate);
	snap_put_u64(w, c->elapsed_ns);
	snap_put_u8(w, c->loaded);
	snap_put_u8(w, c->started);
	snap_put_u8(w, c->running);
	snap_put_u8(w, c->null_count);
	snap_put_u8(w, c->pending);
	snap_put_u32(w, c->pending_count);
	snap_put_u64(w, c->pending_in_ns);
}

/* A count the counter can hold (chip_state.h); 0 for none, when not loaded. */
static bool count_ok(uint32_t n, bool bcd, bool zero_ok)
{
	return (zero_ok && n == 0) || (n >= 1 && n <= (bcd ? PIT_BCD_COUNT_MAX : PIT_COUNT_MAX));
}

static void get_channel(struct snap_reader *r, struct pit_channel_state *c)
{
	c->count = snap_get_u32(r);
	c->latched_count = snap_get_u16(r);
	c->count_latched = snap_get_u8(r);
	snap_check(r, c->count_latched <= PIT_RW_WORD1, "PIT latch state");
	c->status_latched = snap_get_bool(r);
	c->status = snap_get_u8(r);
	c->read_state = snap_get_u8(r);
	c->write_state = snap_get_u8(r);
	snap_check(r, c->read_state >= PIT_RW_LSB && c->read_state <= PIT_RW_WORD1 &&
	              c->write_state >= PIT_RW_LSB && c->write_state <= PIT_RW_WORD1,
	           "PIT access state");
	c->write_latch = snap_get_u8(r);
	c->rw_mode = snap_get_u8(r);
	snap_check(r, c->rw_mode >= PIT_RW_LSB && c->rw_mode <= 3, "PIT access mode");
	c->mode = snap_get_u8(r);
	snap_check(r, c->mode <= 5, "PIT mode");
	c->bcd = snap_get_bool(r);
	c->gate = snap_get_bool(r);
	c->elapsed_ns = snap_get_u64(r);
	snap_check(r, c->elapsed_ns < (1ull << 62), "PIT elapsed time");
	c->loaded = snap_get_bool(r);
	c->started = snap_get_bool(r);
	c->running = snap_get_bool(r);
	c->null_count = snap_get_bool(r);
	c->pending = snap_get_bool(r);
	c->pending_count = snap_get_u32(r);
	c->pending_in_ns = snap_get_u64(r);
	snap_check(r, c->pending_in_ns < (1ull << 62), "PIT pending time");
	snap_check(r, count_ok(c->count, c->bcd, !c->loaded), "PIT count");
	snap_check(r, count_ok(c->pending_count, c->bcd, !c->pending), "PIT pending count");
}

void pit_state_save(struct snap_writer *w, const struct pit_state *s)
{
	for (unsigned i = 0; i < 3; i++)
		put_channel(w, &s->ch[i]);
	snap_put_u8(w, s->port61);
	snap_put_u8(w, s->out0);
}

int pit_state_load(struct snap_reader *r, struct pit_state *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < 3; i++)
		get_channel(r, &s->ch[i]);
	s->port61 = snap_get_u8(r);
	snap_check(r, s->port61 < 16, "port 0x61");
	s->out0 = snap_get_bool(r);
	return snap_status(r);
}
