/* Local APIC model, written from the Intel SDM vol. 3A ch. 11 (see lapic.h). */
#include "hw/lapic.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum {
	R_ID = 0x02, R_VER = 0x03, R_TPR = 0x08, R_APR = 0x09, R_PPR = 0x0a, R_EOI = 0x0b,
	R_RRD = 0x0c, R_LDR = 0x0d, R_DFR = 0x0e, R_SVR = 0x0f, R_ISR = 0x10, R_TMR = 0x18,
	R_IRR = 0x20, R_ESR = 0x28, R_CMCI = 0x2f, R_ICR = 0x30, R_ICR2 = 0x31,
	R_LVT_TIMER = 0x32, R_LVT_THERM = 0x33, R_LVT_PERF = 0x34, R_LVT_LINT0 = 0x35,
	R_LVT_LINT1 = 0x36, R_LVT_ERR = 0x37, R_TICR = 0x38, R_TCCR = 0x39, R_TDCR = 0x3e,
	R_SELF_IPI = 0x3f,
};

#define LVT_MASKED (1u << 16)
#define LVT_LEVEL (1u << 15)
#define LVT_REMOTE_IRR (1u << 14)
#define LVT_PENDING (1u << 12)
#define SVR_ENABLE (1u << 8)
#define SVR_NO_EOI_BCAST (1u << 12)
#define BASE_BSP (1ull << 8)
#define BASE_X2APIC (1ull << 10)
#define BASE_ENABLE (1ull << 11)
#define ESR_SEND_ILLEGAL (1u << 5)
#define ESR_RECV_ILLEGAL (1u << 6)
#define ESR_ILLEGAL_REG (1u << 7)
#define NLVT 6

struct lapic {
	pthread_mutex_t lock;
	struct lapic_ops ops;
	unsigned vcpu;
	uint64_t base;          /* IA32_APIC_BASE */
	uint32_t id;            /* xAPIC: ID << 24 as in the register */
	uint32_t tpr, ldr, dfr, svr, esr, esr_pending, icr_lo, icr_hi;
	uint32_t lvt[NLVT];     /* timer, thermal, perf, LINT0, LINT1, error */
	uint32_t isr[8], irr[8], tmr[8];
	uint32_t ticr, tdcr;
	uint64_t timer_start;   /* ns the count was loaded */
	uint64_t timer_next;    /* ns of the next expiry, LAPIC_NEVER when idle */
	uint64_t tsc_deadline;  /* guest TSC, 0 = disarmed */
	unsigned events;
	uint8_t sipi_vector;
	bool lint[2];
};

static const uint8_t lvt_reg[NLVT] = { R_LVT_TIMER, R_LVT_THERM, R_LVT_PERF,
                                       R_LVT_LINT0, R_LVT_LINT1, R_LVT_ERR };
/* Writable bits of each LVT (SDM figure 11-8). */
static const uint32_t lvt_wmask[NLVT] = { 0x700ff, 0x107ff, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff };

static bool test_bit(const uint32_t *v, unsigned b) { return v[b >> 5] >> (b & 31) & 1; }
static void set_bit(uint32_t *v, unsigned b) { v[b >> 5] |= 1u << (b & 31); }
static void clear_bit(uint32_t *v, unsigned b) { v[b >> 5] &= ~(1u << (b & 31)); }

static int highest(const uint32_t *v)
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

static bool x2(const struct lapic *l) { return (l->base & BASE_X2APIC) != 0; }
static bool sw_enabled(const struct lapic *l) { return (l->svr & SVR_ENABLE) != 0; }
static uint32_t apic_id(const struct lapic *l) { return x2(l) ? l->id : l->id >> 24; }

static uint32_t ppr(const struct lapic *l)
{
	int isrv = highest(l->isr);
	uint32_t isrc = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
	return (l->tpr & 0xf0) >= isrc ? l->tpr & 0xff : isrc;
}

static uint64_t now(const struct lapic *l) { return l->ops.now_ns(l->ops.opaque); }

static unsigned divisor(const struct lapic *l)
{
	unsigned v = (l->tdcr & 3) | (l->tdcr >> 1 & 4);
	return v == 7 ? 1 : 2u << v;
}

static unsigned timer_mode(const struct lapic *l) { return l->lvt[0] >> 17 & 3; }
static uint64_t tick_ns(const struct lapic *l) { return (uint64_t)LAPIC_TIMER_NS_PER_TICK * divisor(l); }

static uint64_t tsc_to_ns(const struct lapic *l, uint64_t tsc)
{
	uint64_t num = l->ops.tsc_per_ns_num ? l->ops.tsc_per_ns_num : 1;
	uint64_t den = l->ops.tsc_per_ns_den ? l->ops.tsc_per_ns_den : 1;
	return (uint64_t)((unsigned __int128)tsc * den / num);
}

static void kick(struct lapic *l) { if (l->ops.kick) l->ops.kick(l->ops.opaque, l->vcpu); }

static void arm_timer(struct lapic *l)
{
	if (timer_mode(l) == 2)
		l->timer_next = l->tsc_deadline ? tsc_to_ns(l, l->tsc_deadline) : LAPIC_NEVER;
	else if (l->ticr)
		l->timer_next = l->timer_start + l->ticr * tick_ns(l);
	else
		l->timer_next = LAPIC_NEVER;
}

static void set_irr(struct lapic *l, uint8_t vector, bool level)
{
	if (vector < 16) {
		l->esr_pending |= ESR_RECV_ILLEGAL;
		return;
	}
	set_bit(l->irr, vector);
	if (level)
		set_bit(l->tmr, vector);
	else
		clear_bit(l->tmr, vector);
}

/* An LVT entry fires (timer or error): fixed delivery to this LAPIC unless masked. */
static void lvt_fire(struct lapic *l, unsigned i)
{
	if (!(l->lvt[i] & LVT_MASKED))
		set_irr(l, l->lvt[i] & 0xff, false);
}

/* Fire an expired timer; periodic reloads. Called with the lock held. */
static void timer_update(struct lapic *l)
{
	if (l->timer_next == LAPIC_NEVER || !l->ops.now_ns)
		return;
	uint64_t t = now(l);
	if (t < l->timer_next)
		return;
	lvt_fire(l, 0);
	if (timer_mode(l) == 1 && l->ticr) {
		uint64_t period = l->ticr * tick_ns(l);
		uint64_t n = (t - l->timer_start) / period;   /* periods elapsed; missed ones coalesce */
		l->timer_start += n * period;
		l->timer_next = l->timer_start + period;
	} else {
		if (timer_mode(l) == 2)
			l->tsc_deadline = 0;
		l->timer_next = LAPIC_NEVER;
	}
}

static uint32_t current_count(struct lapic *l)
{
	if (timer_mode(l) == 2 || !l->ticr || l->timer_next == LAPIC_NEVER)
		return 0;
	uint64_t t = now(l), ticks = (t - l->timer_start) / tick_ns(l);
	if (timer_mode(l) == 1)
		return l->ticr - (uint32_t)(ticks % l->ticr);
	return ticks >= l->ticr ? 0 : l->ticr - (uint32_t)ticks;
}

static void reset_locked(struct lapic *l)
{
	l->tpr = l->esr = l->esr_pending = l->icr_lo = l->icr_hi = 0;
	l->ldr = 0;
	l->dfr = 0xffffffff;
	l->svr = 0xff;
	for (unsigned i = 0; i < NLVT; i++)
		l->lvt[i] = LVT_MASKED;
	memset(l->isr, 0, sizeof(l->isr));
	memset(l->irr, 0, sizeof(l->irr));
	memset(l->tmr, 0, sizeof(l->tmr));
	l->ticr = l->tdcr = 0;
	l->timer_next = LAPIC_NEVER;
	l->tsc_deadline = 0;
	l->events &= LAPIC_EV_INIT | LAPIC_EV_SIPI;
}

int lapic_create(unsigned vcpu_id, const struct lapic_ops *ops, struct lapic **out, struct err *e)
{
	struct lapic *l = calloc(1, sizeof(*l));
	if (!l)
		return err_set(e, ENOMEM, "out of memory for the local APIC");
	pthread_mutex_init(&l->lock, NULL);
	l->ops = *ops;
	l->vcpu = vcpu_id;
	l->id = vcpu_id << 24;
	l->base = LAPIC_BASE_DEFAULT | BASE_ENABLE | (vcpu_id == 0 ? BASE_BSP : 0);
	reset_locked(l);
	l->events = 0;
	*out = l;
	return 0;
}

void lapic_destroy(struct lapic *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void lapic_reset(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	reset_locked(l);
	pthread_mutex_unlock(&l->lock);
}

/* Register read by index (xAPIC offset >> 4). Returns false for an unknown register. */
static bool reg_read(struct lapic *l, unsigned r, uint32_t *v)
{
	if (r >= R_ISR && r < R_ISR + 8) { *v = l->isr[r - R_ISR]; return true; }
	if (r >= R_TMR && r < R_TMR + 8) { *v = l->tmr[r - R_TMR]; return true; }
	if (r >= R_IRR && r < R_IRR + 8) { *v = l->irr[r - R_IRR]; return true; }
	for (unsigned i = 0; i < NLVT; i++)
		if (r == lvt_reg[i]) { *v = l->lvt[i]; return true; }
	switch (r) {
	case R_ID: *v = l->id; return true;
	case R_VER: *v = 0x14 | (NLVT - 1) << 16 | 1u << 24; return true; /* EOI-bcast suppression */
	case R_TPR: *v = l->tpr; return true;
	case R_APR: *v = 0; return true;
	case R_PPR: *v = ppr(l); return true;
	case R_LDR: *v = l->ldr; return true;
	case R_DFR: *v = x2(l) ? 0 : l->dfr; return !x2(l);
	case R_SVR: *v = l->svr; return true;
	case R_ESR: *v = l->esr; return true;
	case R_ICR: *v = l->icr_lo & ~(1u << 12); return true;   /* delivery never pending */
	case R_ICR2: *v = l->icr_hi; return !x2(l);
	case R_TICR: *v = l->ticr; return true;
	case R_TCCR: *v = current_count(l); return true;
	case R_TDCR: *v = l->tdcr; return true;
	default: *v = 0; return false;
	}
}

static struct lapic_irq icr_decode(const struct lapic *l, uint32_t lo, uint32_t hi)
{
	struct lapic_irq irq = {
		.vector = lo & 0xff, .mode = lo >> 8 & 7, .logical = lo >> 11 & 1,
		.assert = lo >> 14 & 1, .level = lo >> 15 & 1, .shorthand = lo >> 18 & 3,
		.dest = x2(l) ? hi : hi >> 24,
	};
	if (irq.mode == LAPIC_DM_FIXED || irq.mode == LAPIC_DM_LOWEST || irq.mode == LAPIC_DM_NMI ||
	    irq.mode == LAPIC_DM_SIPI)
		irq.assert = true, irq.level = false;
	return irq;
}

/* Returns true if an IPI must be sent (outside the lock) into *ipi. */
/* End of interrupt: the highest vector in service leaves ISR; a level-triggered one is
 * broadcast to the IOAPIC (*eoi, *eoi_vec) unless SVR suppresses it. */
static void eoi_locked(struct lapic *l, bool *eoi, uint8_t *eoi_vec)
{
	int vec = highest(l->isr);
	if (vec >= 0) {
		clear_bit(l->isr, (unsigned)vec);
		if (test_bit(l->tmr, (unsigned)vec) && !(l->svr & SVR_NO_EOI_BCAST)) {
			*eoi = true;
			*eoi_vec = (uint8_t)vec;
		}
	}
}

static bool reg_write(struct lapic *l, unsigned r, uint32_t v, struct lapic_irq *ipi, bool *eoi,
                      uint8_t *eoi_vec)
{
	for (unsigned i = 0; i < NLVT; i++)
		if (r == lvt_reg[i]) {
			uint32_t m = lvt_wmask[i];
			unsigned was = timer_mode(l);
			if (i == 0)
				timer_update(l);      /* an expiry before the write, in the old mode */
			if (!sw_enabled(l))
				v |= LVT_MASKED;
			l->lvt[i] = (l->lvt[i] & ~m) | (v & m);
			if (i == 0) {
				if (timer_mode(l) == 3)
					l->lvt[0] &= ~(3u << 17);
				/* The LVT gives the timer its mode, vector and mask; the count runs on
				 * (SDM 11.5.4: only a write of the initial count starts it), so an
				 * expired one-shot stays expired. Into or out of TSC-deadline mode
				 * the timer is disarmed (11.5.4.1): initial count and deadline
				 * cleared, as KVM does. Between one-shot and periodic the count runs
				 * on and the new mode applies when it reaches zero, as under KVM
				 * (and QEMU), so both engines agree. */
				if ((was == 2) != (timer_mode(l) == 2)) {
					l->ticr = 0;
					l->tsc_deadline = 0;
					l->timer_next = LAPIC_NEVER;
				}
			}
			return false;
		}
	switch (r) {
	case R_ID: if (!x2(l)) l->id = v & 0xff000000; break;
	case R_TPR: l->tpr = v & 0xff; break;
	case R_EOI: eoi_locked(l, eoi, eoi_vec); break;
	case R_LDR: if (!x2(l)) l->ldr = v & 0xff000000; break;
	case R_DFR: if (!x2(l)) l->dfr = v | 0x0fffffff; break;
	case R_SVR:
		l->svr = v & 0x11ff;
		if (!sw_enabled(l))
			for (unsigned i = 0; i < NLVT; i++)
				l->lvt[i] |= LVT_MASKED;
		break;
	case R_ESR: l->esr = l->esr_pending; l->esr_pending = 0; break;
	case R_ICR2: if (!x2(l)) l->icr_hi = v; break;
	case R_ICR:
		l->icr_lo = v & 0x000ccfff;
		*ipi = icr_decode(l, l->icr_lo, l->icr_hi);
		if ((ipi->mode == LAPIC_DM_FIXED || ipi->mode == LAPIC_DM_LOWEST) && ipi->vector < 16) {
			l->esr_pending |= ESR_SEND_ILLEGAL;
			lvt_fire(l, 5);
			return false;
		}
		return true;
	case R_TICR:
		if (timer_mode(l) == 2)
			break;
		l->ticr = v;
		l->timer_start = now(l);
		arm_timer(l);
		break;
	case R_TDCR: {
		uint32_t cur = current_count(l);
		l->tdcr = v & 0xb;
		/* keep the current count: restart the remaining ticks at the new rate */
		if (l->ticr && l->timer_next != LAPIC_NEVER && timer_mode(l) != 2)
			l->timer_start = now(l) - (uint64_t)(l->ticr - cur) * tick_ns(l), arm_timer(l);
		break;
	}
	case R_SELF_IPI:
		if (!x2(l))
			return false;
		*ipi = (struct lapic_irq){ .vector = v & 0xff, .assert = true, .shorthand = 1 };
		return true;
	default: break;   /* read-only or reserved: ignored */
	}
	return false;
}

/* After a write: send an IPI / EOI broadcast outside the lock (they take other locks). */
static void after_write(struct lapic *l, bool send, const struct lapic_irq *ipi, bool eoi, uint8_t vec)
{
	if (send && l->ops.send)
		l->ops.send(l->ops.opaque, l->vcpu, ipi);
	if (eoi && l->ops.eoi)
		l->ops.eoi(l->ops.opaque, vec);
}

void lapic_mmio(struct lapic *l, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	unsigned r = (unsigned)(off >> 4) & 0xff, shift = (unsigned)(off & 3) * 8;
	struct lapic_irq ipi;
	bool send = false, eoi = false;
	uint8_t vec = 0;

	pthread_mutex_lock(&l->lock);
	if (x2(l) || (off & 0xf) >= 4 || size > 4) {   /* only 32-bit registers at 16-byte strides */
		if (!is_write)
			memset(data, 0, size);
		pthread_mutex_unlock(&l->lock);
		return;
	}
	if (!is_write) {
		uint32_t v;
		timer_update(l);
		reg_read(l, r, &v);
		v >>= shift;
		for (unsigned i = 0; i < size; i++)
			data[i] = (uint8_t)(v >> (8 * i));
	} else {
		uint32_t v = 0;
		for (unsigned i = 0; i < size && i < 4; i++)
			v |= (uint32_t)data[i] << (8 * i);
		send = reg_write(l, r, v << shift, &ipi, &eoi, &vec);
	}
	pthread_mutex_unlock(&l->lock);
	after_write(l, send, &ipi, eoi, vec);
}

int lapic_msr_read(struct lapic *l, uint32_t msr, uint64_t *val)
{
	int rc = 0;
	pthread_mutex_lock(&l->lock);
	if (msr == 0x1b) {
		*val = l->base;
	} else if (msr == 0x6e0) {
		*val = timer_mode(l) == 2 ? l->tsc_deadline : 0;
	} else if (msr >= 0x800 && msr <= 0x8ff && x2(l)) {
		uint32_t v;
		timer_update(l);
		if (msr == 0x830) {
			*val = (uint64_t)l->icr_hi << 32 | l->icr_lo;
		} else if (msr == 0x80b || msr == 0x83f || !reg_read(l, msr & 0xff, &v)) {
			rc = -1;   /* EOI and SELF IPI are write-only */
		} else {
			*val = v;
		}
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

int lapic_msr_write(struct lapic *l, uint32_t msr, uint64_t val)
{
	struct lapic_irq ipi;
	bool send = false, eoi = false;
	uint8_t vec = 0;
	int rc = 0;

	pthread_mutex_lock(&l->lock);
	if (msr == 0x1b) {
		uint64_t mode = val & (BASE_ENABLE | BASE_X2APIC), old = l->base & (BASE_ENABLE | BASE_X2APIC);
		if (mode == BASE_X2APIC || (old == (BASE_ENABLE | BASE_X2APIC) && mode == BASE_ENABLE) ||
		    (val & 0xfff00000000002ffull)) {
			rc = -1;   /* invalid transitions (SDM 11.12.5) and reserved bits */
		} else {
			l->base = (val & ~0xfffull) | (val & (BASE_ENABLE | BASE_X2APIC)) | (l->base & BASE_BSP);
			if (!(mode & BASE_ENABLE)) {
				reset_locked(l);
				l->id = l->vcpu << 24;
			} else if ((mode & BASE_X2APIC) && !(old & BASE_X2APIC)) {
				l->id = l->vcpu;   /* x2APIC: 32-bit ID and a derived logical ID */
				l->ldr = (l->vcpu >> 4) << 16 | 1u << (l->vcpu & 15);
			}
		}
	} else if (msr == 0x6e0) {
		if (timer_mode(l) == 2) {
			l->tsc_deadline = val;
			arm_timer(l);
		}
	} else if (msr >= 0x800 && msr <= 0x8ff && x2(l)) {
		unsigned r = msr & 0xff;
		uint32_t dummy;
		if (r == R_ICR) {
			l->icr_hi = (uint32_t)(val >> 32);
			send = reg_write(l, r, (uint32_t)val, &ipi, &eoi, &vec);
		} else if ((val >> 32) || r == R_ID || r == R_LDR || r == R_PPR || r == R_VER ||
		           r == R_TCCR || (r != R_EOI && r != R_SELF_IPI && !reg_read(l, r, &dummy)) ||
		           (r >= R_ISR && r < R_IRR + 8) || (r == R_ESR && val) ||
		           (r == R_EOI && val)) {
			rc = -1;
		} else {
			send = reg_write(l, r, (uint32_t)val, &ipi, &eoi, &vec);
		}
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&l->lock);
	after_write(l, send, &ipi, eoi, vec);
	return rc;
}

uint64_t lapic_base(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	uint64_t b = (l->base & BASE_ENABLE) && !x2(l) ? l->base & ~0xfffull : 0;
	pthread_mutex_unlock(&l->lock);
	return b;
}

bool lapic_x2apic(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	bool r = x2(l);
	pthread_mutex_unlock(&l->lock);
	return r;
}

unsigned lapic_id(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	unsigned r = apic_id(l);
	pthread_mutex_unlock(&l->lock);
	return r;
}

static bool match_locked(const struct lapic *l, bool logical, uint32_t dest)
{
	if (!(l->base & BASE_ENABLE))
		return false;
	if (x2(l)) {
		if (dest == 0xffffffff)
			return true;
		if (!logical)
			return dest == l->id;
		return (dest >> 16) == (l->ldr >> 16) && (dest & l->ldr & 0xffff);
	}
	dest &= 0xff;
	if (!logical)
		return dest == 0xff || dest == l->id >> 24;
	uint32_t ldr = l->ldr >> 24;
	if ((l->dfr >> 28) == 0xf)   /* flat */
		return (dest & ldr) != 0;
	/* cluster: high nibble cluster (15 = all clusters), low nibble members */
	return ((dest >> 4) == 0xf || (dest >> 4) == (ldr >> 4)) && (dest & ldr & 0xf);
}

bool lapic_match(struct lapic *l, bool logical, uint32_t dest)
{
	pthread_mutex_lock(&l->lock);
	bool r = match_locked(l, logical, dest);
	pthread_mutex_unlock(&l->lock);
	return r;
}

void lapic_accept(struct lapic *l, const struct lapic_irq *irq)
{
	pthread_mutex_lock(&l->lock);
	switch (irq->mode) {
	case LAPIC_DM_FIXED:
	case LAPIC_DM_LOWEST:
		set_irr(l, irq->vector, irq->level);
		break;
	case LAPIC_DM_NMI: l->events |= LAPIC_EV_NMI; break;
	case LAPIC_DM_INIT:
		if (!irq->level || irq->assert)   /* INIT level de-assert is ignored */
			l->events |= LAPIC_EV_INIT;
		break;
	case LAPIC_DM_SIPI:
		l->events |= LAPIC_EV_SIPI;
		l->sipi_vector = irq->vector;
		break;
	case LAPIC_DM_EXTINT: l->events |= LAPIC_EV_EXTINT; break;
	default: break;   /* SMI: not modelled */
	}
	pthread_mutex_unlock(&l->lock);
	kick(l);
}

void lapic_route(struct lapic **all, unsigned n, unsigned src, const struct lapic_irq *irq)
{
	if (irq->mode == LAPIC_DM_LOWEST && irq->shorthand == 0) {
		struct lapic *best = NULL;
		unsigned best_id = 0;
		for (unsigned i = 0; i < n; i++) {
			if (!all[i] || !lapic_match(all[i], irq->logical, irq->dest))
				continue;
			unsigned id = lapic_id(all[i]);
			if (!best || id < best_id)
				best = all[i], best_id = id;
		}
		if (best)
			lapic_accept(best, irq);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		if (!all[i])
			continue;
		bool hit;
		switch (irq->shorthand) {
		case 1: hit = i == src; break;
		case 2: hit = true; break;
		case 3: hit = i != src; break;
		default: hit = lapic_match(all[i], irq->logical, irq->dest); break;
		}
		if (hit)
			lapic_accept(all[i], irq);
	}
}

int lapic_pending_vector(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	timer_update(l);
	int v = highest(l->irr);
	if (v >= 0 && ((unsigned)v & 0xf0) <= (ppr(l) & 0xf0))
		v = -1;
	pthread_mutex_unlock(&l->lock);
	return v;
}

int lapic_ack(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	timer_update(l);
	int v = highest(l->irr);
	if (v >= 0 && ((unsigned)v & 0xf0) <= (ppr(l) & 0xf0))
		v = -1;
	if (v >= 0) {
		clear_bit(l->irr, (unsigned)v);
		set_bit(l->isr, (unsigned)v);
	}
	pthread_mutex_unlock(&l->lock);
	return v;
}

bool lapic_eoi_optional(struct lapic *l, uint8_t vec)
{
	pthread_mutex_lock(&l->lock);
	timer_update(l);
	bool ok = !test_bit(l->tmr, vec);
	for (unsigned k = 0; k < 8 && ok; k++)
		ok = l->isr[k] == (k == vec / 32u ? 1u << (vec % 32u) : 0u) && !l->irr[k];
	pthread_mutex_unlock(&l->lock);
	return ok;
}

bool lapic_irr_pending(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	timer_update(l);
	bool any = highest(l->irr) >= 0;
	pthread_mutex_unlock(&l->lock);
	return any;
}

void lapic_eoi(struct lapic *l)
{
	bool eoi = false;
	uint8_t vec = 0;
	pthread_mutex_lock(&l->lock);
	eoi_locked(l, &eoi, &vec);
	pthread_mutex_unlock(&l->lock);
	after_write(l, false, NULL, eoi, vec);
}

unsigned lapic_take_events(struct lapic *l, uint8_t *sipi_vector)
{
	pthread_mutex_lock(&l->lock);
	unsigned ev = l->events;
	l->events &= LAPIC_EV_EXTINT;   /* ExtINT follows the LINT0 level, not an edge */
	if (sipi_vector)
		*sipi_vector = l->sipi_vector;
	pthread_mutex_unlock(&l->lock);
	return ev;
}

void lapic_set_lint(struct lapic *l, unsigned pin, bool level)
{
	if (pin > 1)
		return;
	bool fire = false;
	pthread_mutex_lock(&l->lock);
	uint32_t lvt = l->lvt[3 + pin];
	bool rising = level && !l->lint[pin];
	l->lint[pin] = level;
	unsigned mode = lvt >> 8 & 7;
	if (mode == LAPIC_DM_EXTINT) {
		if (level && !(lvt & LVT_MASKED))
			l->events |= LAPIC_EV_EXTINT;
		else
			l->events &= ~LAPIC_EV_EXTINT;
		fire = level;
	} else if (!(lvt & LVT_MASKED) && (rising || (level && (lvt & LVT_LEVEL)))) {
		if (mode == LAPIC_DM_NMI)
			l->events |= LAPIC_EV_NMI;
		else if (mode == LAPIC_DM_FIXED)
			set_irr(l, lvt & 0xff, (lvt & LVT_LEVEL) != 0);
		fire = true;
	}
	pthread_mutex_unlock(&l->lock);
	if (fire)
		kick(l);
}

bool lapic_enabled(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	bool r = (l->base & BASE_ENABLE) && sw_enabled(l);
	pthread_mutex_unlock(&l->lock);
	return r;
}

bool lapic_lint0_extint(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	bool r = !(l->base & BASE_ENABLE) || !sw_enabled(l) ||
	         (l->lvt[3] & (LVT_MASKED | 0x700)) == (uint32_t)LAPIC_DM_EXTINT << 8;
	pthread_mutex_unlock(&l->lock);
	return r;
}

uint64_t lapic_next_timer_deadline(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	timer_update(l);
	uint64_t t = (l->lvt[0] & LVT_MASKED) ? LAPIC_NEVER : l->timer_next;
	pthread_mutex_unlock(&l->lock);
	return t;
}

/* ---- the neutral form (core/cpu_state.h) ---- */

enum { P_ID = 0x20, P_VER = 0x30, P_TPR = 0x80, P_PPR = 0xa0, P_LDR = 0xd0, P_DFR = 0xe0,
       P_SVR = 0xf0, P_ISR = 0x100, P_TMR = 0x180, P_IRR = 0x200, P_ESR = 0x280,
       P_ICR = 0x300, P_ICR2 = 0x310, P_LVT = 0x320, P_TMICT = 0x380, P_TMCCT = 0x390,
       P_TDCR = 0x3e0 };

void lapic_get_state(struct lapic *l, struct cpu_lapic *s, uint64_t *apic_base)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&l->lock);
	timer_update(l);
	*apic_base = l->base;
	uint32_t ver;
	reg_read(l, R_VER, &ver);
	cpu_lapic_set_reg(s, P_ID, l->id);
	cpu_lapic_set_reg(s, P_VER, ver);
	cpu_lapic_set_reg(s, P_TPR, l->tpr);
	cpu_lapic_set_reg(s, P_PPR, ppr(l));
	cpu_lapic_set_reg(s, P_LDR, l->ldr);
	cpu_lapic_set_reg(s, P_DFR, l->dfr);
	cpu_lapic_set_reg(s, P_SVR, l->svr);
	for (unsigned i = 0; i < 8; i++) {
		cpu_lapic_set_reg(s, P_ISR + 16 * i, l->isr[i]);
		cpu_lapic_set_reg(s, P_TMR + 16 * i, l->tmr[i]);
		cpu_lapic_set_reg(s, P_IRR + 16 * i, l->irr[i]);
	}
	cpu_lapic_set_reg(s, P_ESR, l->esr);
	cpu_lapic_set_reg(s, P_ICR, l->icr_lo);
	cpu_lapic_set_reg(s, P_ICR2, l->icr_hi);
	for (unsigned i = 0; i < NLVT; i++)
		cpu_lapic_set_reg(s, P_LVT + 16 * i, l->lvt[i]);
	cpu_lapic_set_reg(s, P_TMICT, l->ticr);
	cpu_lapic_set_reg(s, P_TMCCT, current_count(l));
	cpu_lapic_set_reg(s, P_TDCR, l->tdcr);
	s->esr_pending = l->esr_pending;
	s->tsc_deadline = timer_mode(l) == 2 ? l->tsc_deadline : 0;
	pthread_mutex_unlock(&l->lock);
}

int lapic_set_state(struct lapic *l, uint64_t apic_base, const struct cpu_lapic *s, struct err *e)
{
	uint64_t mode = apic_base & (BASE_ENABLE | BASE_X2APIC);
	if ((apic_base & 0xfff00000000002ffull) || mode == BASE_X2APIC)
		return err_set(e, EINVAL, "LAPIC: APIC base 0x%llx is not one a guest could set",
		               (unsigned long long)apic_base);
	uint32_t id = cpu_lapic_reg(s, P_ID);
	if (mode & BASE_X2APIC && id != l->vcpu)
		return err_set(e, EINVAL, "LAPIC: x2APIC ID %u on vCPU %u", id, l->vcpu);

	pthread_mutex_lock(&l->lock);
	l->base = (apic_base & ~(0xfffull | BASE_BSP)) | mode | (l->base & BASE_BSP);
	if (mode & BASE_X2APIC) {
		l->id = l->vcpu;
		l->ldr = (l->vcpu >> 4) << 16 | 1u << (l->vcpu & 15);
		l->icr_hi = cpu_lapic_reg(s, P_ICR2);
	} else {
		l->id = id & 0xff000000;
		l->ldr = cpu_lapic_reg(s, P_LDR) & 0xff000000;
		l->icr_hi = cpu_lapic_reg(s, P_ICR2) & 0xff000000;
	}
	l->tpr = cpu_lapic_reg(s, P_TPR) & 0xff;
	l->dfr = cpu_lapic_reg(s, P_DFR) | 0x0fffffff;
	l->svr = cpu_lapic_reg(s, P_SVR) & 0x11ff;
	for (unsigned i = 0; i < 8; i++) {
		/* Vectors 0-15 are never requested nor in service (set_irr refuses them). */
		uint32_t keep = i == 0 ? 0xffff0000u : ~0u;
		l->isr[i] = cpu_lapic_reg(s, P_ISR + 16 * i) & keep;
		l->tmr[i] = cpu_lapic_reg(s, P_TMR + 16 * i) & keep;
		l->irr[i] = cpu_lapic_reg(s, P_IRR + 16 * i) & keep;
	}
	l->esr = cpu_lapic_reg(s, P_ESR) & (ESR_SEND_ILLEGAL | ESR_RECV_ILLEGAL | ESR_ILLEGAL_REG);
	l->esr_pending = s->esr_pending & (ESR_SEND_ILLEGAL | ESR_RECV_ILLEGAL | ESR_ILLEGAL_REG);
	l->icr_lo = cpu_lapic_reg(s, P_ICR) & 0x000ccfff;
	for (unsigned i = 0; i < NLVT; i++) {
		l->lvt[i] = cpu_lapic_reg(s, P_LVT + 16 * i) & lvt_wmask[i];
		if (!sw_enabled(l))
			l->lvt[i] |= LVT_MASKED;
	}
	if (timer_mode(l) == 3)
		l->lvt[0] &= ~(3u << 17);
	l->tdcr = cpu_lapic_reg(s, P_TDCR) & 0xb;
	l->ticr = cpu_lapic_reg(s, P_TMICT);
	l->tsc_deadline = 0;
	l->timer_next = LAPIC_NEVER;
	if (timer_mode(l) == 2) {
		l->ticr = 0;
		l->tsc_deadline = s->tsc_deadline;
		arm_timer(l);
	} else if (l->ticr) {
		/* The count goes on from TMCCT: a periodic count of 0 (or above the initial
		 * count) starts a new period, a one-shot count of 0 has fired. */
		uint32_t cur = cpu_lapic_reg(s, P_TMCCT);
		if (timer_mode(l) == 1 && (cur == 0 || cur > l->ticr))
			cur = l->ticr;
		if (cur > l->ticr)
			cur = l->ticr;
		if (cur) {
			l->timer_start = now(l) - (uint64_t)(l->ticr - cur) * tick_ns(l);
			arm_timer(l);
		}
	}
	l->events = 0;
	pthread_mutex_unlock(&l->lock);
	return 0;
}
