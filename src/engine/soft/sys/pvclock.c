/* kvm-clock and steal-time arithmetic (pvclock.h). */
#include "engine/soft/sys/pvclock.h"

#include <stdlib.h>
#include <string.h>

#define NS_PER_SEC 1000000000ull

/* mul for a given shift: 2^32 * NS_PER_SEC / (tsc_hz * 2^shift). */
static unsigned __int128 mul_for(uint64_t tsc_hz, int shift)
{
	unsigned __int128 num = (unsigned __int128)NS_PER_SEC << 32, den = tsc_hz;
	if (shift >= 0)
		den <<= shift;
	else
		num <<= -shift;
	return num / den;
}

void pvclock_scale(uint64_t tsc_hz, uint32_t *mul, int8_t *shift)
{
	int s = 0;
	if (tsc_hz == 0)
		tsc_hz = 1;
	/* A bigger shift halves mul; at most 64 steps either way for any 64-bit tsc_hz. */
	while (s < 63 && mul_for(tsc_hz, s) >= ((unsigned __int128)1 << 32))
		s++;
	while (s > -63 && mul_for(tsc_hz, s) < (1ull << 31))
		s--;
	unsigned __int128 m = mul_for(tsc_hz, s);
	*mul = m > UINT32_MAX ? UINT32_MAX : (uint32_t)m;
	*shift = (int8_t)s;
}

uint64_t pvclock_guest_ns(uint64_t tsc, uint64_t tsc_timestamp, uint64_t system_time,
                          uint32_t mul, int8_t shift)
{
	uint64_t delta = tsc - tsc_timestamp;
	if (shift >= 0)
		delta <<= shift;
	else
		delta >>= -shift;
	return system_time + (uint64_t)(((unsigned __int128)delta * mul) >> 32);
}

void pvclock_fill(struct pvclock_fields *f, uint64_t guest_tsc, uint64_t clock_ns,
                  uint64_t tsc_hz, bool stable)
{
	f->tsc_timestamp = guest_tsc;
	f->system_time = clock_ns;
	pvclock_scale(tsc_hz, &f->mul, &f->shift);
	f->flags = stable ? PVCLOCK_TSC_STABLE_BIT : 0;
}

void pvclock_encode(const struct pvclock_fields *f, uint8_t out[PVCLOCK_SIZE])
{
	memset(out, 0, PVCLOCK_SIZE);
	memcpy(out + PVCLOCK_TSC_TIMESTAMP, &f->tsc_timestamp, 8);
	memcpy(out + PVCLOCK_SYSTEM_TIME, &f->system_time, 8);
	memcpy(out + PVCLOCK_MUL, &f->mul, 4);
	memcpy(out + PVCLOCK_SHIFT, &f->shift, 1);
	out[PVCLOCK_FLAGS] = f->flags;
}

void pvclock_wall(uint64_t realtime_ns, uint64_t clock_ns, uint32_t *sec, uint32_t *nsec)
{
	uint64_t boot = realtime_ns > clock_ns ? realtime_ns - clock_ns : 0;
	*sec = (uint32_t)(boot / NS_PER_SEC);
	*nsec = (uint32_t)(boot % NS_PER_SEC);
}

bool pvclock_parse_schedstat(const char *s, uint64_t *ns)
{
	char *end;
	strtoull(s, &end, 10);
	if (end == s || *end != ' ')
		return false;
	const char *p = end + 1;
	uint64_t v = strtoull(p, &end, 10);
	if (end == p)
		return false;
	*ns = v;
	return true;
}
