#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum log_level log_threshold = LOG_WARN;

void log_emit(enum log_level lvl, const char *cat, const char *file, int line,
              const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	const char *base = strrchr(file, '/');
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* One fprintf per message so lines from concurrent vCPU threads do not interleave.
	 * "\r\n": the console may be in raw mode. */
	fprintf(stderr, "trivisor: %s: [%s] %s (%s:%d)\r\n", names[lvl], cat, buf,
	        base ? base + 1 : file, line);
}
