#include "engine.h"

#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

static const struct engine_ops *const engines[] = {
	&engine_kvm,
	&engine_soft,
};

int engine_select(const char *name, const struct engine_ops **out, struct err *e)
{
	size_t n = sizeof(engines) / sizeof(engines[0]);

	if (!name || strcmp(name, "auto") == 0) {
		struct err first = { "" };
		for (size_t i = 0; i < n; i++) {
			struct err tmp;
			if (engines[i]->available(&tmp) == 0) {
				*out = engines[i];
				return 0;
			}
			if (!first.msg[0])
				first = tmp;
		}
		return err_set(e, ENODEV, "no engine can run here: %s", first.msg);
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(name, engines[i]->name) == 0) {
			int r = engines[i]->available(e);
			if (r == 0)
				*out = engines[i];
			return r;
		}
	}
	return err_set(e, ENOENT, "unknown engine '%s' (choose auto, kvm or soft)", name);
}

int engine_report(FILE *f)
{
	int usable = 0;
	for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++) {
		struct err e = { "" };
		if (engines[i]->available(&e) == 0) {
			fprintf(f, "%-5s available\n", engines[i]->name);
			usable++;
		} else {
			fprintf(f, "%-5s unavailable: %s\n", engines[i]->name, e.msg);
		}
	}
	return usable;
}

uint32_t host_tsc_khz(void)
{
	unsigned a, b, c, d;
	if (__get_cpuid(0, &a, &b, &c, &d) && a >= 0x15) {
		__cpuid(0x15, a, b, c, d);
		if (a && b && c)
			return (uint32_t)((uint64_t)c * b / a / 1000);
	}
	struct timespec t0, t1, w = { 0, 50 * 1000 * 1000 };
	clock_gettime(CLOCK_MONOTONIC_RAW, &t0);
	uint64_t c0 = __rdtsc();
	nanosleep(&w, NULL);
	clock_gettime(CLOCK_MONOTONIC_RAW, &t1);
	uint64_t c1 = __rdtsc();
	uint64_t ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u +
	              (uint64_t)(t1.tv_nsec - t0.tv_nsec);
	return ns ? (uint32_t)((c1 - c0) * 1000000u / ns) : 0;
}

int engine_portable_cpuid(struct cpuid_table *out, uint32_t *tsc_khz, struct err *e)
{
	struct cpuid_table *offer = calloc(1, sizeof(*offer));
	if (!offer)
		return err_set(e, ENOMEM, "out of memory");
	uint32_t khz = 0;
	int r = engine_soft.host_cpuid(out, &khz, e);
	for (size_t i = 0; r == 0 && i < sizeof(engines) / sizeof(engines[0]); i++) {
		struct err tmp;
		if (engines[i] == &engine_soft || engines[i]->available(&tmp))
			continue;
		uint32_t k = 0;
		if ((r = engines[i]->host_cpuid(offer, &k, e)))
			break;
		cpuid_portable_narrow(out, offer);
		if (k && khz && k != khz)
			r = err_set(e, ENOTSUP, "--cpu-model portable: the engines of this host run "
			            "the TSC at different rates (%u and %u kHz)", khz, k);
		if (k)
			khz = k;
	}
	free(offer);
	if (r == 0 && !khz && !(khz = host_tsc_khz()))
		r = err_set(e, ENOTSUP, "--cpu-model portable: cannot tell this host's TSC rate");
	*tsc_khz = khz;
	return r;
}
