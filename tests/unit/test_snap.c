/* Snapshot stream encoding: round trips, and untrusted streams (truncated, out of range,
 * trailing bytes) refused with a message instead of read past. */
#include <stdlib.h>

#include "check.h"
#include "core/cpu_state.h"
#include "core/snap.h"

static void test_round_trip(void)
{
	struct snap_writer w;
	snap_writer_init(&w);
	snap_put_u8(&w, 0xab);
	snap_put_u16(&w, 0x1234);
	snap_put_u32(&w, 0xdeadbeef);
	snap_put_u64(&w, 0x0123456789abcdefull);
	snap_put_u8(&w, 1);
	for (unsigned i = 0; i < 1000; i++)   /* grows the buffer several times */
		snap_put_u32(&w, i);
	CHECK(!w.oom);
	CHECK_EQ(w.len, 1 + 2 + 4 + 8 + 1 + 4000);
	CHECK_EQ(w.buf[1], 0x34);   /* little-endian whatever the host */

	struct err e = { "" };
	struct snap_reader r;
	snap_reader_init(&r, w.buf, w.len, "test", &e);
	CHECK_EQ(snap_get_u8(&r), 0xab);
	CHECK_EQ(snap_get_u16(&r), 0x1234);
	CHECK_EQ(snap_get_u32(&r), 0xdeadbeef);
	CHECK_EQ(snap_get_u64(&r), 0x0123456789abcdefull);
	CHECK(snap_get_bool(&r));
	unsigned bad = 0;
	for (unsigned i = 0; i < 1000; i++)
		bad += snap_get_u32(&r) != i;
	CHECK_EQ(bad, 0);
	CHECK_EQ(snap_end(&r), 0);
	snap_writer_free(&w);
}

static void test_hostile(void)
{
	uint8_t buf[6] = { 1, 2, 3, 4, 5, 2 };
	struct err e = { "" };
	struct snap_reader r;

	/* Truncated: the failure is sticky and later reads give 0. */
	snap_reader_init(&r, buf, 3, "uart", &e);
	CHECK_EQ(snap_get_u16(&r), 0x0201);
	CHECK_EQ(snap_get_u32(&r), 0);
	CHECK_EQ(snap_get_u8(&r), 0);
	CHECK(snap_status(&r) < 0);
	CHECK(strstr(e.msg, "uart") && strstr(e.msg, "truncated"));

	/* A boolean that is neither 0 nor 1, and a caller's range check. */
	snap_reader_init(&r, buf + 5, 1, "pit", &e);
	CHECK(!snap_get_bool(&r));
	CHECK(strstr(e.msg, "pit") && strstr(e.msg, "out of range"));
	snap_reader_init(&r, buf, 1, "pic", &e);
	CHECK(!snap_check(&r, snap_get_u8(&r) > 1, "irr"));
	CHECK(snap_status(&r) < 0 && strstr(e.msg, "irr"));

	/* Trailing bytes. */
	snap_reader_init(&r, buf, sizeof(buf), "rtc", &e);
	snap_get_u32(&r);
	CHECK(snap_end(&r) < 0 && strstr(e.msg, "trailing"));
}

static void test_cpu_state(void)
{
	struct cpu_state s = { 0 }, t;
	uint64_t x = 42;
	for (unsigned i = 0; i < R__COUNT; i++)
		s.gpr[i] = check_xorshift(&x);
	s.rip = 0xffffffff81000000ull;
	s.seg[S_CS] = (struct seg){ 0x10, 0, 0xffffffff, 0xa09b, 0 };
	s.tr.unusable = 1;
	s.idt = (struct dtable){ 0xfffffe0000000000ull, 0xfff };
	s.cr3 = 0x1234000;
	s.efer = EFER_LME | EFER_LMA | EFER_SCE | EFER_NXE;
	s.apic_base = 0xfee00900;

	struct snap_writer w;
	snap_writer_init(&w);
	cpu_state_save(&w, &s);
	struct err e = { "" };
	struct snap_reader r;
	snap_reader_init(&r, w.buf, w.len, "vcpu0", &e);
	CHECK_EQ(cpu_state_load(&r, &t), 0);
	CHECK_EQ(snap_end(&r), 0);
	CHECK(memcmp(t.gpr, s.gpr, sizeof(s.gpr)) == 0);
	CHECK_EQ(t.rip, s.rip);
	CHECK_EQ(t.seg[S_CS].attr, 0xa09b);
	CHECK_EQ(t.seg[S_CS].limit, 0xffffffff);
	CHECK_EQ(t.tr.unusable, 1);
	CHECK_EQ(t.idt.base, s.idt.base);
	CHECK_EQ(t.efer, s.efer);
	CHECK_EQ(t.apic_base, s.apic_base);

	/* Every truncation of it is refused. */
	unsigned refused = 0;
	for (size_t n = 0; n < w.len; n++) {
		snap_reader_init(&r, w.buf, n, "vcpu0", &e);
		refused += cpu_state_load(&r, &t) < 0;
	}
	CHECK_EQ(refused, w.len);
	snap_writer_free(&w);
}

int main(void)
{
	test_round_trip();
	test_hostile();
	test_cpu_state();
	return check_done();
}
