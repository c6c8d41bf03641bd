/* Several VMs at a glance: the per-user runtime directory where each `--name`d VM has
 * its API socket, and the commands that use it (trivisor ls, stop, pause, resume). */
#ifndef TRIVISOR_API_CONTROL_H
#define TRIVISOR_API_CONTROL_H

#include <stddef.h>
#include <stdio.h>

#include "core/err.h"

/* The runtime directory, created (mode 0700) if needed: $XDG_RUNTIME_DIR/trivisor,
 * else /run/trivisor for root, else /tmp/trivisor-UID. Refused if it is not a
 * directory owned by this user and closed to others. */
int rundir_get(char *out, size_t n, struct err *e);

/* Where the VM called name has its socket. */
int rundir_socket(const char *name, char *out, size_t n, struct err *e);

/* One HTTP request to a Unix socket; returns the status (or -errno with e set) and
 * the body (malloc'd, NUL-terminated) in *body. */
int api_request(const char *sock, const char *method, const char *path, const char *json,
                char **body, struct err *e);

/* trivisor ls: one line per running VM to f; VMs that died are removed. 0 or -errno. */
int control_ls(FILE *f, struct err *e);
/* trivisor stop|pause|resume NAME. 0 or -errno. */
int control_vm(const char *verb, const char *name, struct err *e);

#endif
