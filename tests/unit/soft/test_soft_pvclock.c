/* kvm-clock and steal-time arithmetic (src/engine/soft/sys/pvclock.c): the scale factors,
 * the time a guest computes from the structure, its layout, the wall clock, and the
 * host's schedstat line. */
#include "../check.h"
#include "engine/soft/sys/pvclock.h"

/* The guest's time from fields filled at (tsc0, ns0), read at tsc0 + delta. */
static uint64_t read_after(uint64_t tsc_hz, uint64_t tsc0, uint64_t ns0, uint64_t delta)
{
	struct pvclock_fields f;
	pvclock_fill(&f, tsc0, ns0, tsc_hz, true);
	return pvclock_guest_ns(tsc0 + delta, f.tsc_timestamp, f.system_time, f.mul, f.shift);
}

int main(void)
{
	uint32_t mul;
	int8_t shift;

	/* The soft engine's 2 GHz TSC: half a ns per tick, exactly. */
	pvclock_scale(2000000000ull, &mul, &shift);
	CHECK_EQ(mul, 1u << 31);
	CHECK_EQ(shift, 0);
	/* 1 GHz: one ns per tick, mul kept in [2^31, 2^32) by a shift. */
	pvclock_scale(1000000000ull, &mul, &shift);
	CHECK_EQ(mul, 1u << 31);
	CHECK_EQ(shift, 1);
	/* A slow counter (10 MHz: 100 ns per tick) and a fast one (8 GHz). */
	pvclock_scale(10000000ull, &mul, &shift);
	CHECK(mul >= 1u << 31);
	CHECK_EQ(shift, 7);          /* 100 / 128 = 0.78125: mul = 0.78125 * 2^32 */
	CHECK_EQ(mul, 3355443200u);
	pvclock_scale(8000000000ull, &mul, &shift);
	CHECK_EQ(mul, 1u << 31);
	CHECK_EQ(shift, -2);

	/* Exact at the soft engine's rate, whatever the offset and the distance. */
	CHECK_EQ(read_after(2000000000ull, 123456789, 1000, 0), 1000);
	CHECK_EQ(read_after(2000000000ull, 123456789, 1000, 2), 1001);
	CHECK_EQ(read_after(2000000000ull, ~0ull - 10, 5, 2000000000ull * 3600), 5 + 3600000000000ull);
	/* Other rates: within a ns per second of the truth. */
	uint64_t t = read_after(2903000000ull, 0, 0, 2903000000ull * 10);
	CHECK(t >= 10000000000ull - 10 && t <= 10000000000ull + 10);
	t = read_after(10000000ull, 77, 0, 10000000ull);
	CHECK(t >= 1000000000ull - 1 && t <= 1000000000ull + 1);
	/* Negative shift: (delta >> 2) * mul. */
	CHECK_EQ(read_after(8000000000ull, 0, 0, 8000), 1000);

	/* Layout of struct pvclock_vcpu_time_info (msr.rst). */
	struct pvclock_fields f = { .tsc_timestamp = 0x1122334455667788ull,
	                            .system_time = 0x0102030405060708ull,
	                            .mul = 0x80000000u, .shift = -1, .flags = 1 };
	uint8_t b[PVCLOCK_SIZE];
	pvclock_encode(&f, b);
	CHECK_EQ(b[0] | b[1] | b[2] | b[3], 0);  /* version: the caller's */
	CHECK_EQ(b[8], 0x88);
	CHECK_EQ(b[15], 0x11);
	CHECK_EQ(b[16], 0x08);
	CHECK_EQ(b[27], 0x80);
	CHECK_EQ(b[28], 0xff);
	CHECK_EQ(b[29], PVCLOCK_TSC_STABLE_BIT);
	pvclock_fill(&f, 5, 6, 2000000000ull, false);
	CHECK_EQ(f.flags, 0);

	/* Wall clock: realtime minus kvm-clock's time. */
	uint32_t sec, nsec;
	pvclock_wall(1700000000123456789ull, 3000000001ull, &sec, &nsec);
	CHECK_EQ(sec, 1699999997u);
	CHECK_EQ(nsec, 123456788u);
	pvclock_wall(5, 10, &sec, &nsec);
	CHECK_EQ(sec, 0);
	CHECK_EQ(nsec, 0);

	/* /proc/<tid>/schedstat: on-CPU time, run delay, timeslices. */
	uint64_t ns = 0;
	CHECK(pvclock_parse_schedstat("123456 7890 12\n", &ns));
	CHECK_EQ(ns, 7890);
	CHECK(!pvclock_parse_schedstat("", &ns));
	CHECK(!pvclock_parse_schedstat("123456", &ns));
	CHECK(!pvclock_parse_schedstat("x 1 2", &ns));
	return check_done();
}
