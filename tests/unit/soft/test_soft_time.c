/* Soft engine time: the TSC frequency stated in CPUID leaves 0x15/0x16 (what Linux's
 * native_calibrate_tsc needs to trust it) and the invariant-TSC bit; the TSC's rate and
 * IA32_TSC writes; TSC -> host time for deadlines; the per-vCPU timer list. */
#include <stdlib.h>

#include "../check.h"
#include "engine/soft/mmu/flatmem.h"
#include "engine/soft/soft.h"
#include "engine/soft/sys/sys.h"
#include "engine/soft/sys/timers.h"

static void test_cpuid(void)
{
	struct cpuid_table t = { 0 };
	uint32_t r[4];

	CHECK_EQ(soft_cpuid_supported(&t), 0);
	cpuid_query(&t, 0, 0, r);
	CHECK(r[0] >= 0x16);
	cpuid_query(&t, 0x15, 0, r);
	CHECK(r[0] != 0 && r[1] != 0 && r[2] != 0);      /* ratio and crystal Hz */
	CHECK_EQ((uint64_t)r[2] * r[1] / r[0], SOFT_TSC_HZ);
	cpuid_query(&t, 0x16, 0, r);
	CHECK_EQ(r[0], SOFT_TSC_HZ / 1000000);
	cpuid_query(&t, 0x80000007u, 0, r);
	CHECK(r[3] & (1u << 8));
}

static void test_tsc(void)
{
	struct soft_cpu *c = calloc(1, sizeof(*c));
	uint8_t *ram = calloc(1, 1 << 16);
	struct soft_flatmem fm = { .ram = ram, .size = 1 << 16 };

	CHECK_EQ(soft_cpu_init(c, &soft_flat_ops, &fm), 0);
	uint64_t n0 = soft_now_ns(), t = soft_rdtsc(c), n1 = soft_now_ns();
	CHECK(t >= n0 * SOFT_TSC_PER_NS && t <= n1 * SOFT_TSC_PER_NS);
	CHECK_EQ(soft_wrmsr(c, MSR_TSC, 1000), 0);
	uint64_t v;
	CHECK_EQ(soft_rdmsr(c, MSR_TSC, &v), 0);
	CHECK(v >= 1000 && v < 1000 + SOFT_TSC_HZ);     /* well under a second later */
	/* the host time at which the TSC reaches a deadline 2 ms ahead */
	uint64_t now = soft_now_ns(), tsc = soft_rdtsc(c);
	uint64_t at = soft_tsc_to_ns(c, tsc + SOFT_TSC_HZ / 500);
	CHECK(at >= now + 2000000 && at <= now + 2000000 + 1000000);
	CHECK(soft_tsc_to_ns(c, 0) <= soft_now_ns());    /* a past TSC value: due */
	soft_cpu_destroy(c);
	free(c);
	free(ram);
}

struct fake_timer {
	uint64_t deadline, fired;
};

static uint64_t fake_deadline(void *o) { return ((struct fake_timer *)o)->deadline; }

static void fake_expire(void *o, uint64_t now)
{
	struct fake_timer *f = o;
	f->fired++;
	f->deadline = SOFT_NO_DEADLINE;
}

static void test_timers(void)
{
	struct soft_timers ts = { 0 };
	struct fake_timer a = { .deadline = 100 }, b = { .deadline = 50 };

	CHECK_EQ(soft_timers_next(&ts), SOFT_NO_DEADLINE);
	CHECK_EQ(soft_timers_add(&ts, &(struct soft_timer){ fake_deadline, fake_expire, &a }), 0);
	CHECK_EQ(soft_timers_add(&ts, &(struct soft_timer){ fake_deadline, fake_expire, &b }), 0);
	CHECK_EQ(soft_timers_next(&ts), 50);
	CHECK_EQ(soft_timers_run(&ts, 49), 50);
	CHECK_EQ(a.fired + b.fired, 0);
	CHECK_EQ(soft_timers_run(&ts, 60), 100);
	CHECK_EQ(b.fired, 1);
	CHECK_EQ(soft_timers_run(&ts, 100), SOFT_NO_DEADLINE);
	CHECK_EQ(a.fired, 1);
	for (unsigned i = 2; i < SOFT_MAX_TIMERS; i++)
		CHECK_EQ(soft_timers_add(&ts, &(struct soft_timer){ fake_deadline, fake_expire, &a }), 0);
	CHECK(soft_timers_add(&ts, &(struct soft_timer){ fake_deadline, fake_expire, &a }) < 0);
}

int main(void)
{
	test_cpuid();
	test_tsc();
	test_timers();
	return check_done();
}
