/* Per-vCPU timer deadlines of the soft engine (timers.h). */
#include "engine/soft/sys/timers.h"

#include <errno.h>

int soft_timers_add(struct soft_timers *ts, const struct soft_timer *t)
{
	if (ts->n == SOFT_MAX_TIMERS)
		return -ENOSPC;
	ts->t[ts->n++] = *t;
	return 0;
}

uint64_t soft_timers_next(const struct soft_timers *ts)
{
	uint64_t next = SOFT_NO_DEADLINE;
	for (unsigned i = 0; i < ts->n; i++) {
		uint64_t d = ts->t[i].deadline(ts->t[i].opaque);
		if (d < next)
			next = d;
	}
	return next;
}

uint64_t soft_timers_run(struct soft_timers *ts, uint64_t now)
{
	uint64_t next = SOFT_NO_DEADLINE;
	for (unsigned i = 0; i < ts->n; i++) {
		struct soft_timer *t = &ts->t[i];
		uint64_t d = t->deadline(t->opaque);
		if (d <= now) {
			t->expire(t->opaque, now);
			d = t->deadline(t->opaque);
		}
		if (d < next)
			next = d;
	}
	return next;
}
