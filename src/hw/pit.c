/* Intel 8254 PIT (82C54 datasheet) and PC/AT system control port B (0x61).
 *
 * Time is computed, not simulated: a counter remembers the PIT clock tick at which its
 * current count started and derives its count and OUT from the clock when asked, so
 * polling the counter costs no host CPU between accesses. Counter 0's OUT drives GSI 0:
 * with the host clock, a thread sleeps until OUT next changes (pit_next_change) and then
 * sets the line; while counter 0 is idle (never programmed, one-shot expired, gate-stopped)
 * the thread waits with no deadline. A mode 2 or 4 low pulse lasts one PIT clock
 * (838 ns): it is delivered as a low-then-high edge at the end of the pulse instead of as
 * two wakeups.
 *
 * Counter 1 (DRAM refresh on the AT) is modelled but drives nothing; counter 2's gate is
 * port 0x61 bit 0 and its OUT reads back in bit 5 (what Linux's PIT calibration polls).
 * Simplifications: a count takes effect at the tick it is written (the datasheet loads
 * it at the next CLK edge, one tick later); BCD counting is supported as the modulus
 * and value encoding only. */
#include "pit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/vm.h"

#define NS 1000000000ull
#define REFRESH_NS 15085ull   /* port 0x61 bit 4 toggles every ~15 us */
/* Counter 0 in mode 2 or 3 can change OUT every tick or two (838 ns): a thread waking
 * that often takes a good part of a host CPU besides the vCPU's (hostile_storm).
 * Like KVM's PIT (min_timer_period_us), the thread then wakes at most every 200 us;
 * the edges that came due meanwhile reach the guest as one. */
#define MIN_PERIODIC_WAKE_NS 200000ull

enum { RW_LATCH = 0, RW_LSB = 1, RW_MSB = 2, RW_WORD = 3 };

struct counter {
	uint8_t mode, rw, bcd;   /* control word */
	bool gate;
	uint16_t cr;             /* count register as written (BCD if bcd) */
	bool wr_msb, rd_msb;     /* RW_WORD: the next write / read is the high byte */
	uint32_t n;              /* the count in effect, 1..65536 (BCD: 1..10000, to 16665 with digits above 9) */
	bool loaded;             /* a count was written since the control word */
	bool started;            /* modes 1, 5: triggered since the count was written */
	bool running;            /* counting (a stopped mode 0/4 counter keeps `frozen`) */
	uint64_t t0;             /* tick the current count started at */
	uint64_t frozen;         /* elapsed ticks when the gate stopped a mode 0/4 count */
	uint64_t load_tick;      /* tick of the last count write (null count until later) */
	bool pending;            /* modes 2, 3: a count to load at the end of the period */
	uint32_t pending_n;
	uint64_t pending_at;
	bool latched, status_latched;
	uint16_t latch;
	uint8_t status;
};

struct pit {
	struct vm *vm;
	struct pit_clock clock;
	bool own_clock;          /* the host clock and a thread */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool thread_started, quit;
	uint64_t base_ns;        /* clock time of tick 0 */
	struct counter c[3];
	uint8_t port61;          /* bits 0-3 as written */
	bool irq_level;          /* what GSI 0 was last set to */
	uint64_t irq_next;       /* tick at which counter 0's OUT next changes */
};

static uint64_t host_now_ns(void *opaque)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static uint64_t clock_ns(struct pit *p)
{
	return p->clock.now_ns(p->clock.opaque);
}

static uint64_t ns_to_tick(uint64_t ns)
{
	return ns / NS * PIT_HZ + ns % NS * PIT_HZ / NS;
}

/* The first clock time at or after tick t. */
static uint64_t tick_to_ns(uint64_t t)
{
	return t / PIT_HZ * NS + (t % PIT_HZ * NS + PIT_HZ - 1) / PIT_HZ;
}

static uint64_t now_tick(struct pit *p)
{
	uint64_t ns = clock_ns(p);
	return ns > p->base_ns ? ns_to_tick(ns - p->base_ns) : 0;
}

static uint32_t modulus(const struct counter *c)
{
	return c->bcd ? 10000 : 65536;
}

static uint32_t from_bcd(uint16_t v)
{
	return (v >> 12) * 1000u + ((v >> 8) & 15) * 100u + ((v >> 4) & 15) * 10u + (v & 15);
}

static uint16_t to_bcd(uint32_t v)
{
	return (uint16_t)((v / 1000 % 10) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10);
}

/* Apply a mode 2/3 count written while counting once its period has ended. */
static void sync_counter(struct counter *c, uint64_t now)
{
	if (c->pending && now >= c->pending_at) {
		c->t0 = c->pending_at;
		c->n = c->pending_n;
		c->pending = false;
	}
}

static uint64_t elapsed(const struct counter *c, uint64_t now)
{
	return c->running ? now - c->t0 : c->frozen;
}

static bool periodic(const struct counter *c)
{
	return c->mode == 2 || c->mode == 3;
}

static bool out_at(const struct counter *c, uint64_t now)
{
	if (!c->loaded)
		return c->mode != 0;
	uint64_t d = elapsed(c, now), n = c->n;
	switch (c->mode) {
	case 0: return d >= n;
	case 1: return !c->started || d >= n;
	case 2: return !c->running || d % n != n - 1;
	case 3: return !c->running || d % n < (n + 1) / 2;
	case 4: return d != n;
	default: return !c->started || d != n; /* 5 */
	}
}

/* The tick after `now` at which OUT next changes, or PIT_NEVER. Mode 2's one-tick low
 * pulse is reported as its end (the rising edge). */
static uint64_t next_change(const struct counter *c, uint64_t now)
{
	if (!c->loaded || !c->running || ((c->mode == 1 || c->mode == 5) && !c->started))
		return PIT_NEVER;
	uint64_t d = now - c->t0, n = c->n, base = now - d;
	switch (c->mode) {
	case 0:
	case 1:
		return d < n ? base + n : PIT_NEVER;
	case 2:
		return base + (d / n + 1) * n;
	case 3: {
		uint64_t p = d % n, hi = (n + 1) / 2;
		return base + d - p + (p < hi ? hi : n);
	}
	default: /* 4, 5 */
		return d < n ? base + n : d == n ? base + n + 1 : PIT_NEVER;
	}
}

/* The counting element's value. */
static uint16_t count_at(const struct counter *c, uint64_t now)
{
	uint32_t m = modulus(c), v;
	if (!c->loaded)
		return 0;
	uint64_t d = elapsed(c, now), n = c->n;
	if (c->mode == 2) {
		v = (uint32_t)(n - d % n);
	} else if (c->mode == 3) {
		/* Counts down by two through each half (an odd count spends the extra
		 * tick in the high half). */
		uint64_t p = d % n, hi = (n + 1) / 2, even = n & ~1ull;
		uint64_t k = p < hi ? p : p - hi;
		v = (uint32_t)(even - 2 * k);
		if (v == 0)
			v = 2;
	} else if ((c->mode == 1 || c->mode == 5) && !c->started) {
		v = (uint32_t)n;
	} else {
		v = (uint32_t)((n + m - d % m) % m);
	}
	v %= m;
	return c->bcd ? to_bcd(v) : (uint16_t)v;
}

/* GSI 0 follows counter 0's OUT. Called with the lock held whenever counter 0 changed or
 * its next change is due; `edge` forces a low-high pulse (the change that was due was a
 * rising edge the line may already show as high). */
static void update_irq(struct pit *p, uint64_t now, bool edge)
{
	struct counter *c = &p->c[0];
	sync_counter(c, now);
	bool out = out_at(c, now);
	if (edge && out && p->irq_level) {
		vm_set_irq(p->vm, 0, 0);
		vm_set_irq(p->vm, 0, 1);
	} else if (out != p->irq_level) {
		vm_set_irq(p->vm, 0, out);
	}
	p->irq_level = out;
	p->irq_next = next_change(c, now);
	if (c->pending && c->pending_at < p->irq_next)
		p->irq_next = c->pending_at;
}

static void counter0_changed(struct pit *p, uint64_t now)
{
	update_irq(p, now, false);
	if (p->own_clock)
		pthread_cond_signal(&p->cond);
}

static uint64_t poll_locked(struct pit *p)
{
	uint64_t now = now_tick(p);
	if (p->irq_next != PIT_NEVER && now >= p->irq_next)
		update_irq(p, now, true);
	return p->irq_next == PIT_NEVER ? PIT_NEVER : p->base_ns + tick_to_ns(p->irq_next);
}

uint64_t pit_poll(struct pit *p)
{
	pthread_mutex_lock(&p->lock);
	uint64_t r = poll_locked(p);
	pthread_mutex_unlock(&p->lock);
	return r;
}

static void set_gate(struct counter *c, bool gate, uint64_t now)
{
	if (gate == c->gate)
		return;
	c->gate = gate;
	if (!c->loaded)
		return;
	if (!gate) {
		if (c->mode == 0 || c->mode == 4) {
			c->frozen = now - c->t0;
			c->running = false;
		} else if (periodic(c)) {
			c->running = false;   /* OUT goes high at once; reload on the rising edge */
			c->pending = false;
		}
		return;
	}
	if (c->mode == 0 || c->mode == 4) {
		c->t0 = now - c->frozen;
	} else {
		/* modes 1, 5: (re)trigger; 2, 3: reload and start a new period */
		c->t0 = now;
		c->started = true;
	}
	c->running = true;
}

static void write_count(struct counter *c, uint64_t now)
{
	uint32_t n = c->bcd ? from_bcd(c->cr) : c->cr;
	if (n == 0)
		n = modulus(c);
	if (periodic(c) && n < 2)
		n = 2;  /* 1 is illegal in modes 2 and 3 */
	c->load_tick = now;
	if (periodic(c) && c->loaded && c->running) {
		/* A new count takes effect at the end of the current period. */
		c->pending = true;
		c->pending_n = n;
		c->pending_at = c->t0 + ((now - c->t0) / c->n + 1) * c->n;
		return;
	}
	c->n = n;
	c->loaded = true;
	c->pending = false;
	c->t0 = now;
	c->frozen = 0;
	c->started = c->mode != 1 && c->mode != 5;
	c->running = c->mode == 1 || c->mode == 5 || c->gate;
}

static uint8_t status_byte(const struct counter *c, uint64_t now)
{
	bool null = !c->loaded || c->pending || now <= c->load_tick;
	return (uint8_t)(out_at(c, now) << 7 | null << 6 | c->rw << 4 | c->mode << 1 | c->bcd);
}

static void latch_count(struct counter *c, uint64_t now)
{
	if (c->latched)
		return;
	c->latched = true;
	c->latch = count_at(c, now);
	c->rd_msb = false;
}

static void control_word(struct pit *p, uint8_t v, uint64_t now)
{
	unsigned sc = v >> 6;
	if (sc == 3) {
		/* Read-back: bit 5 low latches counts, bit 4 low latches status. */
		for (unsigned i = 0; i < 3; i++) {
			struct counter *c = &p->c[i];
			if (!(v & (2u << i)))
				continue;
			sync_counter(c, now);
			if (!(v & 0x10) && !c->status_latched) {
				c->status = status_byte(c, now);
				c->status_latched = true;
			}
			if (!(v & 0x20))
				latch_count(c, now);
		}
		return;
	}
	struct counter *c = &p->c[sc];
	sync_counter(c, now);
	if (((v >> 4) & 3) == RW_LATCH) {
		latch_count(c, now);
		return;
	}
	c->rw = (v >> 4) & 3;
	c->mode = (v >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4;  /* 6 and 7 are aliases of 2 and 3 */
	c->bcd = v & 1;
	c->loaded = c->started = c->running = c->pending = false;
	c->latched = c->status_latched = false;
	c->wr_msb = c->rd_msb = false;
	if (sc == 0)
		counter0_changed(p, now);
}

static void data_write(struct pit *p, unsigned i, uint8_t v, uint64_t now)
{
	struct counter *c = &p->c[i];
	sync_counter(c, now);
	switch (c->rw) {
	case RW_LSB: c->cr = v; break;
	case RW_MSB: c->cr = (uint16_t)(v << 8); break;
	default:
		if (!c->wr_msb) {
			c->cr = (uint16_t)((c->cr & 0xff00) | v);
			c->wr_msb = true;
			/* Mode 0: writing the first byte stops the count (OUT stays low). */
			if (c->mode == 0 && c->loaded) {
				c->loaded = false;
				if (i == 0)
					counter0_changed(p, now);
			}
			return;
		}
		c->cr = (uint16_t)((c->cr & 0xff) | v << 8);
		c->wr_msb = false;
	}
	write_count(c, now);
	if (i == 0)
		counter0_changed(p, now);
}

static uint8_t data_read(struct pit *p, unsigned i, uint64_t now)
{
	struct counter *c = &p->c[i];
	sync_counter(c, now);
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	uint16_t v = c->latched ? c->latch : count_at(c, now);
	bool msb;
	if (c->rw == RW_WORD) {
		msb = c->rd_msb;
		c->rd_msb = !c->rd_msb;
		if (msb)
			c->latched = false;
	} else {
		msb = c->rw == RW_MSB;
		c->latched = false;
	}
	return (uint8_t)(msb ? v >> 8 : v);
}

static void pit_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct pit *p = opaque;
	pthread_mutex_lock(&p->lock);
	uint64_t now = now_tick(p);
	for (unsigned k = 0; k < size; k++) {
		uint64_t reg = offset + k;
		if (reg > 3) {
			if (!is_write)
				data[k] = 0xff;
		} else if (reg == 3) {
			if (is_write)
				control_word(p, data[k], now);
			else
				data[k] = 0xff;   /* the control register is write-only */
		} else if (is_write) {
			data_write(p, (unsigned)reg, data[k], now);
		} else {
			data[k] = data_read(p, (unsigned)reg, now);
		}
	}
	pthread_mutex_unlock(&p->lock);
}

/* Port 0x61: bit 0 counter 2 gate, bit 1 speaker data enable, bits 2-3 parity check
 * enables (stored), bit 4 refresh toggle, bit 5 counter 2 OUT, bits 6-7 parity errors
 * (never). */
static void port61_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct pit *p = opaque;
	pthread_mutex_lock(&p->lock);
	uint64_t ns = clock_ns(p), now = now_tick(p);
	struct counter *c2 = &p->c[2];
	sync_counter(c2, now);
	if (is_write) {
		p->port61 = data[0] & 0x0f;
		set_gate(c2, data[0] & 1, now);
	} else {
		bool refresh = ((ns - p->base_ns) / REFRESH_NS) & 1;
		data[0] = (uint8_t)(p->port61 | refresh << 4 | out_at(c2, now) << 5);
	}
	for (unsigned k = 1; k < size; k++)
		if (!is_write)
			data[k] = 0xff;
	pthread_mutex_unlock(&p->lock);
}

static void *pit_thread(void *arg)
{
	struct pit *p = arg;
	pthread_mutex_lock(&p->lock);
	while (!p->quit) {
		uint64_t next = poll_locked(p);
		if (next == PIT_NEVER) {
			pthread_cond_wait(&p->cond, &p->lock);
		} else {
			if (periodic(&p->c[0]) && next < clock_ns(p) + MIN_PERIODIC_WAKE_NS)
				next = clock_ns(p) + MIN_PERIODIC_WAKE_NS;
			struct timespec ts = { .tv_sec = (time_t)(next / NS), .tv_nsec = (long)(next % NS) };
			pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void pit_destroy(void *opaque)
{
	struct pit *p = opaque;
	if (p->thread_started) {
		pthread_mutex_lock(&p->lock);
		p->quit = true;
		pthread_cond_signal(&p->cond);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
	}
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* ---- the neutral form (core/chip_state.h) ---- */

static void channel_get(const struct counter *c, uint64_t now, struct pit_channel_state *o)
{
	bool word = c->rw == RW_WORD;
	*o = (struct pit_channel_state){
		.count = c->loaded ? c->n : 0,
		.latched_count = c->latch,
		.count_latched = !c->latched ? 0 : !word ? c->rw : c->rd_msb ? PIT_RW_MSB : PIT_RW_WORD0,
		.status_latched = c->status_latched, .status = c->status,
		.read_state = word ? (c->rd_msb ? PIT_RW_WORD1 : PIT_RW_WORD0) : c->rw,
		.write_state = word ? (c->wr_msb ? PIT_RW_WORD1 : PIT_RW_WORD0) : c->rw,
		.write_latch = (uint8_t)c->cr,
		.rw_mode = c->rw, .mode = c->mode, .bcd = c->bcd, .gate = c->gate,
		.elapsed_ns = c->loaded ? tick_to_ns(elapsed(c, now)) : 0,
		.loaded = c->loaded, .started = c->started, .running = c->running,
		.null_count = now <= c->load_tick,
		.pending = c->pending, .pending_count = c->pending ? c->pending_n : 0,
		.pending_in_ns = c->pending && c->pending_at > now ? tick_to_ns(c->pending_at - now) : 0,
	};
}

static void channel_set(struct counter *c, uint64_t now, const struct pit_channel_state *o)
{
	uint64_t d = ns_to_tick(o->elapsed_ns);
	*c = (struct counter){
		.mode = o->mode, .rw = o->rw_mode, .bcd = o->bcd, .gate = o->gate,
		.cr = o->write_latch,
		.wr_msb = o->rw_mode == RW_WORD && o->write_state == PIT_RW_WORD1,
		.rd_msb = o->rw_mode == RW_WORD &&
		          (o->count_latched ? o->count_latched == PIT_RW_MSB : o->read_state == PIT_RW_WORD1),
		.n = o->loaded ? o->count : 0,
		.loaded = o->loaded, .started = o->started, .running = o->running,
		/* Ticks count modulo 2^64: a count older than this PIT started "before" its
		 * tick 0, and every difference with it is still right. */
		.t0 = now - d, .frozen = d,
		.load_tick = o->null_count ? now : now - (now > 0),
		.pending = o->pending && o->loaded, .pending_n = o->pending_count,
		.pending_at = now + ns_to_tick(o->pending_in_ns),
		.latched = o->count_latched != 0, .status_latched = o->status_latched,
		.latch = o->latched_count, .status = o->status,
	};
	if (!c->pending)
		c->pending_n = 0, c->pending_at = 0;
	if (periodic(c) && c->loaded && c->n < 2)
		c->n = 2;   /* as write_count: 1 is illegal in modes 2 and 3 */
}

void pit_get_state(struct pit *p, struct pit_state *s)
{
	pthread_mutex_lock(&p->lock);
	uint64_t now = now_tick(p);
	for (unsigned i = 0; i < 3; i++) {
		sync_counter(&p->c[i], now);
		channel_get(&p->c[i], now, &s->ch[i]);
	}
	s->port61 = p->port61;
	s->out0 = p->irq_level;
	pthread_mutex_unlock(&p->lock);
}

int pit_set_state(struct pit *p, const struct pit_state *s, struct err *e)
{
	for (unsigned i = 0; i < 3; i++) {
		const struct pit_channel_state *o = &s->ch[i];
		uint32_t max = o->bcd ? PIT_BCD_COUNT_MAX : PIT_COUNT_MAX;
		if (o->mode > 5 || o->rw_mode < RW_LSB || o->rw_mode > RW_WORD ||
		    (o->loaded && (o->count < 1 || o->count > max)) ||
		    (o->pending && (o->pending_count < 1 || o->pending_count > max)))
			return err_set(e, EINVAL, "pit: counter %u: mode %u, access %u, count %u: "
			               "not a state the 8254 can be in", i, o->mode, o->rw_mode, o->count);
	}
	pthread_mutex_lock(&p->lock);
	uint64_t now = now_tick(p);
	for (unsigned i = 0; i < 3; i++)
		channel_set(&p->c[i], now, &s->ch[i]);
	p->port61 = s->port61 & 0x0f;
	p->c[2].gate = p->port61 & 1;
	/* GSI 0 as it was (a level already shown is no new edge), then as counter 0 says. */
	p->irq_level = s->out0;
	vm_set_irq(p->vm, 0, s->out0);
	counter0_changed(p, now);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int pit_save(void *opaque, struct snap_writer *w)
{
	struct pit_state s;
	pit_get_state(opaque, &s);
	pit_state_save(w, &s);
	return 0;
}

int pit_load(void *opaque, struct snap_reader *r)
{
	struct pit_state s;
	if (pit_state_load(r, &s))
		return -EINVAL;
	return pit_set_state(opaque, &s, r->e);
}

int pit_create(struct vm *vm, const struct pit_clock *clock, struct pit **out, struct err *e)
{
	struct pit *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;
	int r;

	if (!p)
		return err_set(e, ENOMEM, "pit: out of memory");
	p->vm = vm;
	p->own_clock = clock == NULL;
	p->clock = clock ? *clock : (struct pit_clock){ .now_ns = host_now_ns };
	p->base_ns = clock_ns(p);
	p->irq_next = PIT_NEVER;
	for (unsigned i = 0; i < 3; i++)
		p->c[i] = (struct counter){ .rw = RW_WORD, .gate = i != 2 };
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);

	r = vm_add_device(vm, p, pit_destroy, e);
	if (r) {
		pit_destroy(p);
		return r;
	}
	vm_set_device_snapshot(vm, p, "pit", pit_save, pit_load);
	if (p->own_clock) {
		r = pthread_create(&p->thread, NULL, pit_thread, p);
		if (r)
			return err_set(e, r, "pit: cannot start its timer thread");
		p->thread_started = true;
	}
	r = bus_register(&vm->pio, 0x40, 4, pit_io, p, "i8254 PIT", e);
	if (r == 0)
		r = bus_register(&vm->pio, 0x61, 1, port61_io, p, "system control port B", e);
	if (r == 0 && out)
		*out = p;
	return r;
}
