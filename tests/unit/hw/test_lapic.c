/* Local APIC on a fake clock: ID/version, TPR/PPR and delivery priority, IRR->ISR->EOI with
 * the level-triggered EOI broadcast, ICR fixed/lowest/NMI/INIT/SIPI with shorthands and
 * physical/flat/cluster destinations, the timer (one-shot, periodic, divide, TSC deadline;
 * what a write of its LVT changes) and the x2APIC MSRs; the PV EOI helpers. */
#include "../check.h"
#include "hw/lapic.h"

#define N 4
static struct lapic *apic[N];
static uint64_t fake_ns;
static unsigned kicks, eois;
static uint8_t last_eoi;

static uint64_t fake_now(void *o) { (void)o; return fake_ns; }
static void fake_kick(void *o, unsigned v) { (void)o; (void)v; kicks++; }
static void fake_send(void *o, unsigned src, const struct lapic_irq *irq)
{
	(void)o;
	lapic_route(apic, N, src, irq);
}
static void fake_eoi(void *o, uint8_t v) { (void)o; eois++; last_eoi = v; }

static const struct lapic_ops ops = { .now_ns = fake_now, .kick = fake_kick, .send = fake_send,
                                      .eoi = fake_eoi, .tsc_per_ns_num = 2, .tsc_per_ns_den = 1 };

static uint32_t rd(struct lapic *l, unsigned off)
{
	uint8_t d[4];
	lapic_mmio(l, off, d, 4, false);
	return (uint32_t)d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24;
}

static void wr(struct lapic *l, unsigned off, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	lapic_mmio(l, off, d, 4, true);
}

static void setup(void)
{
	for (unsigned i = 0; i < N; i++) {
		lapic_destroy(apic[i]);
		CHECK_EQ(lapic_create(i, &ops, &apic[i], NULL), 0);
		wr(apic[i], 0xf0, 0x1ff);   /* software enable, spurious 0xff */
	}
	fake_ns = 1000;
	kicks = eois = 0;
}

static void test_regs(void)
{
	setup();
	CHECK_EQ(rd(apic[2], 0x20), 2u << 24);
	CHECK_EQ(rd(apic[0], 0x30) & 0xff00ff, 0x050014);
	CHECK_EQ(rd(apic[0], 0xe0), 0xffffffff);
	CHECK_EQ(lapic_base(apic[0]), 0xfee00000);
	uint64_t b;
	CHECK_EQ(lapic_msr_read(apic[0], 0x1b, &b), 0);
	CHECK_EQ(b, 0xfee00900);
	CHECK_EQ(lapic_msr_read(apic[1], 0x1b, &b), 0);
	CHECK_EQ(b, 0xfee00800);
	CHECK_EQ(rd(apic[0], 0x350), 0x10000);   /* LVTs masked at reset */
	wr(apic[0], 0x350, 0x700);               /* LINT0 ExtINT unmasked */
	CHECK_EQ(rd(apic[0], 0x350), 0x700);
	wr(apic[0], 0xf0, 0xff);                 /* software disable masks every LVT */
	CHECK_EQ(rd(apic[0], 0x350), 0x10700);
	CHECK(!lapic_enabled(apic[0]));
}

static void test_priority(void)
{
	struct lapic *l;
	setup();
	l = apic[0];
	CHECK_EQ(lapic_pending_vector(l), -1);
	lapic_accept(l, &(struct lapic_irq){ .vector = 0x31 });
	lapic_accept(l, &(struct lapic_irq){ .vector = 0x52 });
	CHECK(kicks == 2);
	CHECK_EQ(lapic_pending_vector(l), 0x52);
	wr(l, 0x80, 0x50);                       /* TPR class 5 blocks 0x52 */
	CHECK_EQ(rd(l, 0xa0), 0x50);
	CHECK_EQ(lapic_pending_vector(l), -1);
	wr(l, 0x80, 0x40);
	CHECK_EQ(lapic_ack(l), 0x52);
	CHECK_EQ(rd(l, 0x100 + 0x50 / 32 * 0x10) >> (0x52 % 32) & 1, 1);   /* ISR */
	CHECK_EQ(rd(l, 0xa0), 0x50);             /* PPR = ISRV class */
	CHECK_EQ(lapic_pending_vector(l), -1);   /* 0x31 below PPR */
	lapic_accept(l, &(struct lapic_irq){ .vector = 0x61 });
	CHECK_EQ(lapic_ack(l), 0x61);            /* nests above 0x52 */
	wr(l, 0xb0, 0);                          /* EOI 0x61 */
	CHECK_EQ(rd(l, 0xa0), 0x50);
	wr(l, 0xb0, 0);                          /* EOI 0x52 */
	CHECK_EQ(rd(l, 0xa0), 0x40);
	wr(l, 0x80, 0);
	CHECK_EQ(lapic_ack(l), 0x31);
	CHECK_EQ(eois, 0);
	wr(l, 0xb0, 0);
	/* level-triggered: TMR set, EOI broadcast */
	lapic_accept(l, &(struct lapic_irq){ .vector = 0x40, .level = true, .assert = true });
	CHECK_EQ(rd(l, 0x180 + 0x40 / 32 * 0x10) >> (0x40 % 32) & 1, 1);
	CHECK_EQ(lapic_ack(l), 0x40);
	wr(l, 0xb0, 0);
	CHECK_EQ(eois, 1);
	CHECK_EQ(last_eoi, 0x40);
	/* illegal vector sets ESR receive-illegal */
	lapic_accept(l, &(struct lapic_irq){ .vector = 3 });
	wr(l, 0x280, 0);
	CHECK_EQ(rd(l, 0x280), 0x40);
}

static void test_icr(void)
{
	setup();
	/* self IPI via shorthand */
	wr(apic[0], 0x300, 0x40000 | 0x41);
	CHECK_EQ(lapic_pending_vector(apic[0]), 0x41);
	CHECK_EQ(lapic_pending_vector(apic[1]), -1);
	/* physical to APIC 2 */
	wr(apic[0], 0x310, 2u << 24);
	wr(apic[0], 0x300, 0x42);
	CHECK_EQ(lapic_pending_vector(apic[2]), 0x42);
	/* all excluding self */
	wr(apic[1], 0x300, 0xc0000 | 0x43);
	CHECK_EQ(lapic_pending_vector(apic[0]), 0x43);
	CHECK_EQ(lapic_pending_vector(apic[1]), -1);
	CHECK_EQ(lapic_pending_vector(apic[3]), 0x43);
	/* logical flat: LDR bits */
	setup();
	for (unsigned i = 0; i < N; i++)
		wr(apic[i], 0xd0, (1u << i) << 24);
	wr(apic[0], 0x310, 0x0au << 24);         /* APICs 1 and 3 */
	wr(apic[0], 0x300, 0x800 | 0x50);
	CHECK_EQ(lapic_pending_vector(apic[1]), 0x50);
	CHECK_EQ(lapic_pending_vector(apic[3]), 0x50);
	CHECK_EQ(lapic_pending_vector(apic[2]), -1);
	/* lowest priority goes to the lowest APIC ID of the set */
	wr(apic[0], 0x310, 0x0cu << 24);         /* APICs 2 and 3 */
	wr(apic[0], 0x300, 0x800 | 0x100 | 0x60);
	CHECK_EQ(lapic_pending_vector(apic[2]), 0x60);
	CHECK_EQ(lapic_pending_vector(apic[3]), 0x50);
	/* logical cluster */
	setup();
	for (unsigned i = 0; i < N; i++) {
		wr(apic[i], 0xe0, 0x0fffffff);
		wr(apic[i], 0xd0, ((i / 2) << 4 | 1u << (i % 2)) << 24);
	}
	wr(apic[0], 0x310, 0x13u << 24);         /* cluster 1, both members: APICs 2, 3 */
	wr(apic[0], 0x300, 0x800 | 0x70);
	CHECK_EQ(lapic_pending_vector(apic[0]), -1);
	CHECK_EQ(lapic_pending_vector(apic[2]), 0x70);
	CHECK_EQ(lapic_pending_vector(apic[3]), 0x70);
	wr(apic[0], 0x310, 0xf1u << 24);         /* every cluster, member 0: APICs 0, 2 */
	wr(apic[0], 0x300, 0x800 | 0x71);
	CHECK_EQ(lapic_pending_vector(apic[0]), 0x71);
	CHECK_EQ(lapic_pending_vector(apic[1]), -1);
	/* NMI, INIT, SIPI */
	uint8_t sv = 0;
	wr(apic[0], 0x310, 1u << 24);
	wr(apic[0], 0x300, 0x400);
	CHECK_EQ(lapic_take_events(apic[1], NULL), LAPIC_EV_NMI);
	wr(apic[0], 0x300, 0xc4500);             /* INIT assert to all excluding self */
	wr(apic[0], 0x300, 0xc8500);             /* INIT level de-assert: ignored */
	wr(apic[0], 0x300, 0xc4600 | 0x9a);      /* SIPI vector 0x9a */
	CHECK_EQ(lapic_take_events(apic[2], &sv), LAPIC_EV_INIT | LAPIC_EV_SIPI);
	CHECK_EQ(sv, 0x9a);
	CHECK_EQ(lapic_take_events(apic[2], &sv), 0);
	CHECK_EQ(lapic_take_events(apic[0], &sv), 0);
	/* sending an illegal vector: ESR send-illegal */
	wr(apic[0], 0x300, 0x40000 | 5);
	wr(apic[0], 0x280, 0);
	CHECK_EQ(rd(apic[0], 0x280), 0x20);
}

static void test_timer(void)
{
	struct lapic *l;
	setup();
	l = apic[0];
	CHECK_EQ(lapic_next_timer_deadline(l), LAPIC_NEVER);
	wr(l, 0x3e0, 0x3);                       /* divide by 16 */
	wr(l, 0x320, 0x30);                      /* one-shot, vector 0x30 */
	wr(l, 0x380, 100);
	CHECK_EQ(lapic_next_timer_deadline(l), 1000 + 1600);
	fake_ns += 16 * 40;
	CHECK_EQ(rd(l, 0x390), 60);
	CHECK_EQ(lapic_pending_vector(l), -1);
	fake_ns = 1000 + 1600;
	CHECK_EQ(lapic_pending_vector(l), 0x30);
	CHECK_EQ(rd(l, 0x390), 0);
	CHECK_EQ(lapic_next_timer_deadline(l), LAPIC_NEVER);
	CHECK_EQ(lapic_ack(l), 0x30);
	wr(l, 0xb0, 0);
	/* periodic, divide by 1 */
	wr(l, 0x3e0, 0xb);
	wr(l, 0x320, 0x20031);
	wr(l, 0x380, 1000);
	uint64_t t0 = fake_ns;
	fake_ns = t0 + 250;
	CHECK_EQ(rd(l, 0x390), 750);
	fake_ns = t0 + 1000;
	CHECK_EQ(lapic_ack(l), 0x31);
	wr(l, 0xb0, 0);
	CHECK_EQ(lapic_next_timer_deadline(l), t0 + 2000);
	fake_ns = t0 + 1500;
	CHECK_EQ(rd(l, 0x390), 500);
	fake_ns = t0 + 2000;
	CHECK_EQ(lapic_ack(l), 0x31);
	wr(l, 0xb0, 0);
	/* masked: counts but does not fire */
	wr(l, 0x320, 0x30031);
	fake_ns = t0 + 3000;
	CHECK_EQ(lapic_pending_vector(l), -1);
	CHECK_EQ(lapic_next_timer_deadline(l), LAPIC_NEVER);
	/* TSC deadline: guest TSC = 2 * ns */
	wr(l, 0x320, 0x40032);
	CHECK_EQ(lapic_msr_write(l, 0x6e0, 2 * (fake_ns + 500)), 0);
	CHECK_EQ(lapic_next_timer_deadline(l), fake_ns + 500);
	fake_ns += 499;
	CHECK_EQ(lapic_pending_vector(l), -1);
	fake_ns += 1;
	CHECK_EQ(lapic_pending_vector(l), 0x32);
	uint64_t v;
	CHECK_EQ(lapic_msr_read(l, 0x6e0, &v), 0);
	CHECK_EQ(v, 0);
}

/* Writing the timer's LVT sets its mode, vector and mask; it does not start the count
 * (SDM 11.5.4: a write of the initial count does), except that entering or leaving
 * TSC-deadline mode disarms it (11.5.4.1). */
static void test_timer_lvt_write(void)
{
	struct lapic *l;
	setup();
	l = apic[0];
	wr(l, 0x3e0, 0xb);                       /* divide by 1: a tick a nanosecond */

	/* An expired one-shot stays expired: rewriting its LVT re-arms nothing. */
	wr(l, 0x320, 0x30);
	wr(l, 0x380, 100);
	fake_ns += 100;
	CHECK_EQ(lapic_ack(l), 0x30);
	wr(l, 0xb0, 0);
	wr(l, 0x320, 0x33);
	CHECK_EQ(lapic_next_timer_deadline(l), LAPIC_NEVER);
	fake_ns += 1000;
	CHECK_EQ(lapic_pending_vector(l), -1);
	CHECK_EQ(rd(l, 0x390), 0);
	CHECK_EQ(rd(l, 0x380), 100);

	/* A running one-shot keeps its count; the interrupt comes with the new vector. */
	uint64_t t0 = fake_ns;
	wr(l, 0x380, 1000);
	fake_ns = t0 + 400;
	wr(l, 0x320, 0x34);
	CHECK_EQ(rd(l, 0x390), 600);
	CHECK_EQ(lapic_next_timer_deadline(l), t0 + 1000);
	/* masked and unmasked again: still the same count */
	fake_ns = t0 + 500;
	wr(l, 0x320, 0x10034);
	wr(l, 0x320, 0x34);
	CHECK_EQ(rd(l, 0x390), 500);
	fake_ns = t0 + 999;
	CHECK_EQ(lapic_pending_vector(l), -1);
	fake_ns = t0 + 1000;
	CHECK_EQ(lapic_ack(l), 0x34);
	wr(l, 0xb0, 0);

	/* Expiring while masked: no interrupt then, nor when unmasked later. */
	t0 = fake_ns;
	wr(l, 0x320, 0x10035);
	wr(l, 0x380, 100);
	fake_ns = t0 + 200;
	wr(l, 0x320, 0x35);
	CHECK_EQ(lapic_pending_vector(l), -1);
	CHECK_EQ(lapic_next_timer_deadline(l), LAPIC_NEVER);

	/* An expiry the write comes after was the old LVT's: its vector. */
	t0 = fake_ns;
	wr(l, 0x380, 100);
	fake_ns = t0 + 150;
	wr(l, 0x320, 0x36);
	CHECK_EQ(lapic_ack(l), 0x35);
	wr(l, 0xb0, 0);
	CHECK_EQ(lapic_pending_vector(l), -1);

	/* One-shot to periodic while counting: the count runs on, then reloads. */
	t0 = fake_ns;
	wr(l, 0x380, 1000);
	fake_ns = t0 + 300;
	wr(l, 0x320, 0x20036);
	CHECK_EQ(rd(l, 0x390), 700);
	fake_ns = t0 + 1000;
	CHECK_EQ(lapic_ack(l), 0x36);
	wr(l, 0xb0, 0);
	CHECK_EQ(lapic_next_timer_deadline(l), t0 + 2000);
	/* and back to one-shot: the period that runs is the last */
	fake_ns = t0 + 1200;
	wr(l, 0x320, 0x36);
	fake_ns = t0 + 2000;
	CHECK_EQ(lapic_ack(l), 0x36);
	wr(l, 0xb0, 0);
	CHECK_EQ(lapic_next_timer_deadline(l), LAPIC_NEVER);

	/* Periodic into TSC-deadline mode: disarmed, the initial count cleared. */
	t0 = fake_ns;
	wr(l, 0x320, 0x20037);
	wr(l, 0x380, 1000);
	fake_ns = t0 + 100;
	wr(l, 0x320, 0x40037);
	CHECK_EQ(rd(l, 0x380), 0);
	CHECK_EQ(rd(l, 0x390), 0);
	CHECK_EQ(lapic_next_timer_deadline(l), LAPIC_NEVER);
	fake_ns = t0 + 5000;
	CHECK_EQ(lapic_pending_vector(l), -1);

	/* An armed deadline survives a vector change within the mode, not a mode change. */
	t0 = fake_ns;
	CHECK_EQ(lapic_msr_write(l, 0x6e0, 2 * (t0 + 500)), 0);
	wr(l, 0x320, 0x40038);
	CHECK_EQ(lapic_next_timer_deadline(l), t0 + 500);
	wr(l, 0x320, 0x38);                      /* one-shot: disarmed */
	CHECK_EQ(lapic_next_timer_deadline(l), LAPIC_NEVER);
	wr(l, 0x320, 0x40038);                   /* back: still disarmed */
	uint64_t v;
	CHECK_EQ(lapic_msr_read(l, 0x6e0, &v), 0);
	CHECK_EQ(v, 0);
	fake_ns = t0 + 1000;
	CHECK_EQ(lapic_pending_vector(l), -1);
}

static void test_x2apic(void)
{
	uint64_t v;
	setup();
	CHECK_EQ(lapic_msr_read(apic[1], 0x802, &v), -1);   /* not in x2APIC mode: #GP */
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ(lapic_msr_write(apic[i], 0x1b, 0xfee00000 | 0xc00 | (i ? 0 : 0x100)), 0);
	CHECK(lapic_x2apic(apic[1]));
	CHECK_EQ(lapic_base(apic[1]), 0);
	CHECK_EQ(lapic_msr_read(apic[3], 0x802, &v), 0);
	CHECK_EQ(v, 3);
	CHECK_EQ(lapic_msr_read(apic[3], 0x80d, &v), 0);
	CHECK_EQ(v, 1u << 3);
	CHECK_EQ(lapic_msr_write(apic[1], 0x1b, 0xfee00000 | 0x800), -1);  /* x2APIC -> xAPIC */
	CHECK_EQ(lapic_msr_write(apic[0], 0x83f, 0x44), 0);               /* SELF IPI */
	CHECK_EQ(lapic_pending_vector(apic[0]), 0x44);
	CHECK_EQ(lapic_msr_write(apic[0], 0x830, (uint64_t)2 << 32 | 0x45), 0);
	CHECK_EQ(lapic_pending_vector(apic[2]), 0x45);
	CHECK_EQ(lapic_msr_write(apic[0], 0x830, (uint64_t)0x0000000a << 32 | 0x800 | 0x46), 0);
	CHECK_EQ(lapic_pending_vector(apic[1]), 0x46);   /* cluster 0, members 1 and 3 */
	CHECK_EQ(lapic_pending_vector(apic[3]), 0x46);
	CHECK_EQ(lapic_ack(apic[3]), 0x46);
	CHECK_EQ(lapic_msr_write(apic[3], 0x80b, 0), 0);
	CHECK_EQ(lapic_msr_read(apic[3], 0x80b, &v), -1);
	CHECK_EQ(lapic_msr_write(apic[3], 0x802, 7), -1);
}

/* What PV EOI asks of the LAPIC: may an EOI be left to the guest, is anything
 * requested, and the EOI itself (with its broadcast for level-triggered vectors). */
static void test_pv_eoi(void)
{
	setup();
	lapic_accept(apic[0], &(struct lapic_irq){ .vector = 0x40, .assert = true });
	CHECK(lapic_irr_pending(apic[0]));
	CHECK_EQ(lapic_ack(apic[0]), 0x40);
	CHECK(!lapic_irr_pending(apic[0]));
	CHECK(lapic_eoi_optional(apic[0], 0x40));         /* edge, alone in service */
	lapic_accept(apic[0], &(struct lapic_irq){ .vector = 0x50, .assert = true });
	CHECK(!lapic_eoi_optional(apic[0], 0x40));        /* 0x50 requested */
	CHECK_EQ(lapic_ack(apic[0]), 0x50);
	CHECK(!lapic_eoi_optional(apic[0], 0x50));        /* 0x40 in service too */
	lapic_eoi(apic[0]);                               /* 0x50 */
	CHECK_EQ(rd(apic[0], 0x120), 1u << 0);            /* ISR: 0x40 only */
	lapic_eoi(apic[0]);
	CHECK_EQ(rd(apic[0], 0x120), 0);
	CHECK_EQ(eois, 0);
	lapic_accept(apic[0], &(struct lapic_irq){ .vector = 0x60, .level = true, .assert = true });
	CHECK_EQ(lapic_ack(apic[0]), 0x60);
	CHECK(!lapic_eoi_optional(apic[0], 0x60));        /* level: the IOAPIC needs the EOI */
	lapic_eoi(apic[0]);
	CHECK_EQ(eois, 1);
	CHECK_EQ(last_eoi, 0x60);
}

int main(void)
{
	test_regs();
	test_priority();
	test_icr();
	test_timer();
	test_timer_lvt_write();
	test_x2apic();
	test_pv_eoi();
	for (unsigned i = 0; i < N; i++)
		lapic_destroy(apic[i]);
	return check_done();
}
