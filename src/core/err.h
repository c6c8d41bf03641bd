/* Library code returns -errno and leaves a one-line message here; only the front end prints and exits. */
#ifndef TRIVISOR_ERR_H
#define TRIVISOR_ERR_H

#include <stddef.h>

struct err {
	char msg[512];
};

/* Record a message (printf-style) and return -errnum, so callers can write
 * `return err_set(e, ENOENT, "cannot open %s", path);`. e may be NULL. */
int err_set(struct err *e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
