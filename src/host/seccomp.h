/* The VMM confines itself: once a VM is set up, a seccomp filter (libseccomp) allows
 * only the system calls trivisor makes while it runs a guest, and kills the whole
 * process at any other. Firecracker's practice: a guest that took over the VMM's code
 * still cannot open a file's worth of new capabilities (execve, ptrace attach to
 * another process, raw or packet sockets, mount, bpf...). */
#ifndef TRIVISOR_HOST_SECCOMP_H
#define TRIVISOR_HOST_SECCOMP_H

#include "core/err.h"

struct engine_ops;

/* Whether trivisor confines itself unless told not to (--no-seccomp): not in a sanitizer
 * build, whose runtime needs calls the filter forbids (LeakSanitizer's check at exit
 * attaches to every thread with ptrace from a thread it clones; a report may start a
 * symbolizer). The filter itself is the same, and its unit test runs there too. */
#if defined(__SANITIZE_ADDRESS__)
#define VMM_SECCOMP_DEFAULT 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VMM_SECCOMP_DEFAULT 0
#endif
#endif
#ifndef VMM_SECCOMP_DEFAULT
#define VMM_SECCOMP_DEFAULT 1
#endif

/* Build the allowlist (the calls every VM makes, and engine's own ioctl requests,
 * engine_ops.runtime_ioctls; engine may be NULL) and load it into every thread of the
 * process (TSYNC), with no_new_privs; threads created later inherit it, and so do
 * child processes (the direct-execution helpers, whose own filter is stricter).
 * Anything else kills the process with SIGSYS. 0, or -errno with a message. */
int vmm_seccomp_install(const struct engine_ops *engine, struct err *e);

#endif
