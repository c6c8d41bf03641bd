/* i8254 PIT and port 0x61 on an injected clock: mode 0 terminal count, mode 2 rate
 * generator, mode 3 square wave, counter 2 gate/OUT through port 0x61, counter latch,
 * read-back, GSI 0 edges from pit_poll, and the snapshot section. */
#include "../check.h"
#include "hw/pit.h"
#include "hw_test.h"

static uint64_t fake_ns;

static uint64_t fake_now(void *opaque)
{
	return fake_ns;
}

static const struct pit_clock fake = { .now_ns = fake_now };

/* Move the clock by whole PIT ticks (rounded up to the first ns of the tick). */
static uint64_t tick0;
static void at_tick(uint64_t t)
{
	fake_ns = tick0 + (t / PIT_HZ * 1000000000ull + (t % PIT_HZ * 1000000000ull + PIT_HZ - 1) / PIT_HZ);
}

static struct pit *new_pit(struct vm *vm)
{
	struct pit *p;
	struct err e;
	test_vm_init(vm, 0, 1, -1);
	fake_ns = tick0 = 1000;
	CHECK_EQ(pit_create(vm, &fake, &p, &e), 0);
	return p;
}

static unsigned read16(struct vm *vm, uint16_t port)
{
	unsigned lo = inb(vm, port);
	return lo | (unsigned)inb(vm, port) << 8;
}

static unsigned latch16(struct vm *vm, unsigned ch)
{
	outb(vm, 0x43, ch << 6);
	return read16(vm, (uint16_t)(0x40 + ch));
}

static void test_mode0(void)
{
	struct vm vm;
	struct pit *p = new_pit(&vm);

	outb(&vm, 0x43, 0x30);               /* counter 0, lsb/msb, mode 0 */
	CHECK_EQ(irq_line(&vm, 0), 0);
	outb(&vm, 0x40, 0xe8);
	outb(&vm, 0x40, 0x03);               /* 1000 */
	CHECK_EQ(latch16(&vm, 0), 1000);
	uint64_t next = pit_poll(p);
	at_tick(1000);
	CHECK_EQ(next, fake_ns);
	at_tick(999);
	CHECK_EQ(latch16(&vm, 0), 1);
	pit_poll(p);
	CHECK_EQ(irq_line(&vm, 0), 0);
	at_tick(1000);
	CHECK_EQ(pit_poll(p), PIT_NEVER);    /* terminal count: OUT high and stays */
	CHECK_EQ(irq_line(&vm, 0), 1);
	at_tick(1010);
	CHECK_EQ(latch16(&vm, 0), 0xfff6);   /* keeps counting down, wrapping */
	/* a new control word drops OUT */
	outb(&vm, 0x43, 0x30);
	CHECK_EQ(irq_line(&vm, 0), 0);
	vm_destroy(&vm);
}

static void test_mode2(void)
{
	struct vm vm;
	struct pit *p = new_pit(&vm);
	unsigned rises = 0;

	outb(&vm, 0x43, 0x34);               /* counter 0, lsb/msb, mode 2 */
	outb(&vm, 0x40, 100);
	outb(&vm, 0x40, 0);
	CHECK_EQ(irq_line(&vm, 0), 1);
	at_tick(0);
	CHECK_EQ(pit_poll(p), (at_tick(100), fake_ns));
	at_tick(98);
	CHECK_EQ(latch16(&vm, 0), 2);
	at_tick(99);
	CHECK_EQ(latch16(&vm, 0), 1);
	at_tick(100);
	CHECK_EQ(latch16(&vm, 0), 100);      /* reloaded */
	/* the period: one rising edge per 100 ticks */
	for (uint64_t t = 100; t <= 1000; t += 100) {
		at_tick(t);
		uint64_t next = pit_poll(p);
		at_tick(t + 100);
		rises += irq_line(&vm, 0) && next == fake_ns;
	}
	CHECK_EQ(rises, 10);
	/* a count written while counting takes effect at the end of the period */
	at_tick(1050);
	outb(&vm, 0x40, 10);
	outb(&vm, 0x40, 0);
	CHECK_EQ(latch16(&vm, 0), 50);
	at_tick(1105);
	CHECK_EQ(latch16(&vm, 0), 5);
	vm_destroy(&vm);
}

static void test_mode3(void)
{
	struct vm vm;
	struct pit *p = new_pit(&vm);

	outb(&vm, 0x43, 0x36);               /* counter 0, lsb/msb, mode 3 */
	outb(&vm, 0x40, 10);
	outb(&vm, 0x40, 0);
	at_tick(0);
	pit_poll(p);
	CHECK_EQ(irq_line(&vm, 0), 1);
	at_tick(2);
	CHECK_EQ(latch16(&vm, 0), 6);        /* counts by two */
	at_tick(4);
	CHECK_EQ(pit_poll(p), (at_tick(5), fake_ns));
	at_tick(5);
	CHECK_EQ(pit_poll(p), (at_tick(10), fake_ns));
	CHECK_EQ(irq_line(&vm, 0), 0);       /* low half */
	at_tick(10);
	pit_poll(p);
	CHECK_EQ(irq_line(&vm, 0), 1);
	/* odd count: high one tick longer than low */
	outb(&vm, 0x43, 0x16);               /* counter 0, lsb only, mode 3 */
	outb(&vm, 0x40, 5);
	at_tick(12);
	CHECK_EQ(inb(&vm, 0x61) & 0x20, 0);  /* counter 2 gate is low: OUT2 untouched */
	outb(&vm, 0x43, 0xe2);               /* read-back status of counter 0 */
	CHECK_EQ(inb(&vm, 0x40), 0x80 | 0x10 | 0x06);
	at_tick(13);
	outb(&vm, 0x43, 0xe2);
	CHECK_EQ(inb(&vm, 0x40), 0x00 | 0x10 | 0x06);
	vm_destroy(&vm);
}

/* Linux's pit_calibrate_tsc: gate counter 2 on through 0x61, mode 0, poll bit 5. */
static void test_counter2_gate(void)
{
	struct vm vm;
	new_pit(&vm);

	outb(&vm, 0x61, (inb(&vm, 0x61) & ~0x02) | 0x01);
	CHECK_EQ(inb(&vm, 0x61) & 0x0f, 0x01);
	outb(&vm, 0x43, 0xb0);               /* counter 2, lsb/msb, mode 0 */
	outb(&vm, 0x42, 0x9c);
	outb(&vm, 0x42, 0x2e);               /* 11932: 10 ms */
	at_tick(11931);
	CHECK_EQ(inb(&vm, 0x61) & 0x20, 0);
	at_tick(11932);
	CHECK_EQ(inb(&vm, 0x61) & 0x20, 0x20);
	/* gate low in mode 0 suspends counting */
	outb(&vm, 0x43, 0xb0);
	outb(&vm, 0x42, 100);
	outb(&vm, 0x42, 0);
	at_tick(11982);
	outb(&vm, 0x61, 0x00);
	at_tick(20000);
	CHECK_EQ(latch16(&vm, 2), 50);
	CHECK_EQ(inb(&vm, 0x61) & 0x21, 0);
	outb(&vm, 0x61, 0x01);
	at_tick(20049);
	CHECK_EQ(inb(&vm, 0x61) & 0x20, 0);
	at_tick(20050);
	CHECK_EQ(inb(&vm, 0x61) & 0x20, 0x20);
	/* quick_pit_calibrate reads the MSB without latching: lsb then msb, live */
	outb(&vm, 0x43, 0xb0);
	outb(&vm, 0x42, 0xff);
	outb(&vm, 0x42, 0xff);
	at_tick(20050 + 0x100);
	CHECK_EQ(read16(&vm, 0x42), 0xfeff);
	/* the refresh bit toggles */
	unsigned seen = 0;
	for (unsigned k = 0; k < 4; k++) {
		fake_ns += 15085;
		seen |= 1u << ((inb(&vm, 0x61) >> 4) & 1);
	}
	CHECK_EQ(seen, 3);
	vm_destroy(&vm);
}

static void test_latch_readback(void)
{
	struct vm vm;
	new_pit(&vm);

	outb(&vm, 0x43, 0x74);               /* counter 1, lsb/msb, mode 2 */
	outb(&vm, 0x41, 0x00);
	outb(&vm, 0x41, 0x10);               /* 4096 */
	at_tick(96);
	outb(&vm, 0x43, 0x40);               /* latch counter 1 */
	at_tick(500);
	outb(&vm, 0x43, 0x40);               /* a second latch is ignored until read */
	CHECK_EQ(read16(&vm, 0x41), 4000);
	CHECK_EQ(latch16(&vm, 1), 4096 - 500);
	/* read-back: status and count of counters 1 and 2 at once */
	outb(&vm, 0x43, 0xc4);
	CHECK_EQ(inb(&vm, 0x41), 0x80 | 0x30 | 0x04);  /* status first */
	at_tick(600);
	CHECK_EQ(read16(&vm, 0x41), 4096 - 500);       /* then the latched count */
	CHECK_EQ(read16(&vm, 0x41), 4096 - 600);
	/* lsb-only and msb-only access, BCD */
	outb(&vm, 0x43, 0x51);               /* counter 1, lsb, mode 0, BCD */
	outb(&vm, 0x41, 0x99);
	at_tick(610);
	CHECK_EQ(inb(&vm, 0x41), 0x89);
	outb(&vm, 0x43, 0x61);               /* counter 1, msb, mode 0, BCD: 2000 */
	outb(&vm, 0x41, 0x20);
	at_tick(611);
	CHECK_EQ(inb(&vm, 0x41), 0x19);      /* 1999 */
	vm_destroy(&vm);
}

static void save_to(struct pit *p, struct snap_writer *w)
{
	snap_writer_init(w);
	CHECK_EQ(pit_save(p, w), 0);
}

static bool same_stream(const struct snap_writer *a, const struct snap_writer *b)
{
	return a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0;
}

/* The "pit" snapshot section: a PIT saved halfway through its counts goes on in another
 * PIT, on another clock, exactly where it was: counts, phases, a half-read latch, a
 * half-written count, port 0x61, GSI 0's edges. */
static void test_snapshot(void)
{
	struct vm va, vb;
	struct pit *a = new_pit(&va);
	struct err e;

	outb(&va, 0x43, 0x34);               /* counter 0: lsb/msb, mode 2, 1000 */
	outb(&va, 0x40, 0xe8);
	outb(&va, 0x40, 0x03);
	outb(&va, 0x61, 0x01);               /* counter 2 gate on: mode 3, 100 */
	outb(&va, 0x43, 0xb6);
	outb(&va, 0x42, 100);
	outb(&va, 0x42, 0);
	outb(&va, 0x43, 0x70);               /* counter 1: lsb/msb, mode 0, LSB only so far */
	outb(&va, 0x41, 0x34);
	at_tick(2500);
	pit_poll(a);
	outb(&va, 0x43, 0x00);               /* latch counter 0, read its LSB only */
	CHECK_EQ(inb(&va, 0x40), (1000 - 500) & 0xff);
	uint64_t x = fake_ns;
	struct snap_writer s1, s2, s3, s4;
	save_to(a, &s1);

	/* Another PIT, created 7 s later on the clock, loads it: nothing moved. */
	uint64_t a_tick0 = tick0;
	fake_ns = 7000000000ull;
	test_vm_init(&vb, 0, 1, -1);
	struct pit *b;
	CHECK_EQ(pit_create(&vb, &fake, &b, &e), 0);
	fake_ns += 12345;
	uint64_t y = fake_ns;
	struct snap_reader r;
	snap_reader_init(&r, s1.buf, s1.len, "pit", &e);
	CHECK_EQ(pit_load(b, &r), 0);
	CHECK_EQ(snap_end(&r), 0);
	save_to(b, &s2);
	CHECK(same_stream(&s1, &s2));
	CHECK_EQ(irq_line(&vb, 0), irq_line(&va, 0));

	/* 777 ticks later on each clock: the same state, the same next edge. */
	uint64_t d = 777ull * 1000000000ull / PIT_HZ;
	fake_ns = x + d;
	uint64_t na = pit_poll(a);
	save_to(a, &s3);
	fake_ns = y + d;
	uint64_t nb = pit_poll(b);
	save_to(b, &s4);
	/* The same, but that each PIT counts whole ticks of its own clock: where a tick
	 * starts on it is not kept, so the time counted may differ by one tick. */
	struct pit_state p3, p4;
	snap_reader_init(&r, s3.buf, s3.len, "pit", &e);
	CHECK_EQ(pit_state_load(&r, &p3), 0);
	snap_reader_init(&r, s4.buf, s4.len, "pit", &e);
	CHECK_EQ(pit_state_load(&r, &p4), 0);
	unsigned tick_ns = 1000000000u / PIT_HZ + 1;
	for (unsigned i = 0; i < 3; i++) {
		CHECK(llabs((long long)(p3.ch[i].elapsed_ns - p4.ch[i].elapsed_ns)) <= tick_ns);
		p4.ch[i].elapsed_ns = p3.ch[i].elapsed_ns;
	}
	snap_writer_free(&s4);   /* B's stream again, with A's elapsed times */
	snap_writer_init(&s4);
	pit_state_save(&s4, &p4);
	CHECK(same_stream(&s3, &s4));
	CHECK(llabs((long long)((na - x) - (nb - y))) <= tick_ns);
	CHECK_EQ(inb(&vb, 0x40), (1000 - 500) >> 8);   /* the latch's MSB, then live */
	outb(&vb, 0x41, 0x12);                          /* counter 1's MSB: 0x1234 */
	CHECK_EQ(latch16(&vb, 1), 0x1234);
	CHECK_EQ(inb(&vb, 0x61) & 0x01, 1);
	tick0 = a_tick0;

	/* Truncated: refused. Any byte changed: refused or loaded, never a crash. */
	unsigned refused = 0, loaded = 0;
	for (size_t n = 0; n < s1.len; n++) {
		snap_reader_init(&r, s1.buf, n, "pit", &e);
		refused += pit_load(b, &r) < 0;
	}
	CHECK_EQ(refused, s1.len);
	refused = 0;
	for (size_t i = 0; i < s1.len; i++) {
		uint8_t bad[256];
		memcpy(bad, s1.buf, s1.len);
		bad[i] ^= 0xff;
		snap_reader_init(&r, bad, s1.len, "pit", &e);
		if (pit_load(b, &r) == 0 && snap_end(&r) == 0)
			loaded++;
		else
			refused++;
		pit_poll(b);
		(void)inb(&vb, 0x40);
		(void)inb(&vb, 0x42);
	}
	CHECK(refused > 0 && loaded > 0);
	snap_writer_free(&s1);
	snap_writer_free(&s2);
	snap_writer_free(&s3);
	snap_writer_free(&s4);
	vm_destroy(&vb);
	vm_destroy(&va);
}

/* A BCD count with digits above 9 (0xffff: 16665 to the model) saves and loads: a
 * guest's own writes never make a snapshot it cannot be restored from (fuzz_snapshot). */
static void test_snapshot_bcd_garbage(void)
{
	struct vm va, vb;
	struct pit *a = new_pit(&va);
	outb(&va, 0x43, 0x31);               /* counter 0: lsb/msb, mode 0, BCD */
	outb(&va, 0x40, 0xff);
	outb(&va, 0x40, 0xff);
	struct snap_writer w;
	save_to(a, &w);
	struct pit *b = new_pit(&vb);
	struct err e = { "" };
	struct snap_reader r;
	snap_reader_init(&r, w.buf, w.len, "pit", &e);
	CHECK_EQ(pit_load(b, &r), 0);
	CHECK_EQ(snap_end(&r), 0);
	snap_writer_free(&w);
	vm_destroy(&vb);
	vm_destroy(&va);
}

int main(void)
{
	test_mode0();
	test_mode2();
	test_mode3();
	test_counter2_gate();
	test_latch_readback();
	test_snapshot();
	test_snapshot_bcd_garbage();
	return check_done();
}
