#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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
