/* One bus API for port I/O and MMIO: a device registers a range with a handler and an
 * opaque pointer. Lookup is a binary search over a sorted array. Unclaimed reads return
 * all ones; unclaimed writes are ignored and counted.
 *
 * Ranges can come and go while vCPUs run (a guest moving a PCI BAR): a read-write lock
 * guards the array. An access looks its range up under the read lock and calls the
 * handler after dropping it, so a handler may itself (un)register ranges. A handler can
 * thus still be called once for a range another vCPU has just unregistered: devices
 * live until the VM is destroyed, so that is harmless. */
#ifndef TRIVISOR_BUS_H
#define TRIVISOR_BUS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* One handler type for both buses: `offset` is relative to the registered base; `data`
 * holds `size` (1, 2, 4 or 8) little-endian bytes, filled by the handler on reads. */
typedef void (*io_handler_fn)(void *opaque, uint64_t offset, uint8_t *data,
                              unsigned size, bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	io_handler_fn fn;
	void *opaque;
	const char *name;
	atomic_ulong accesses;    /* dispatched accesses, for --stats */
};

struct bus {
	const char *name;        /* "pio" or "mmio", for messages */
	struct bus_range *ranges; /* sorted by base, non-overlapping */
	unsigned n, cap;
	pthread_rwlock_t lock;    /* guards ranges, n, cap */
	atomic_ulong unclaimed_reads;
	atomic_ulong unclaimed_writes;
};

void bus_init(struct bus *b, const char *name);
void bus_destroy(struct bus *b);

/* Register [base, base+len). Fails with -EEXIST on overlap, -EINVAL on empty or
 * wrapping ranges. Any thread. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, io_handler_fn fn,
                 void *opaque, const char *name, struct err *e);

/* Remove the range that starts at base and belongs to opaque. Returns 0, or -ENOENT if
 * there is none. Any thread. */
int bus_unregister(struct bus *b, uint64_t base, void *opaque);

/* The range containing addr, or NULL. The pointer is valid only while no range is
 * (un)registered: for setup code, tests and reports, not for running vCPUs. */
struct bus_range *bus_find(const struct bus *b, uint64_t addr);

/* Dispatch one access. Returns true if a device claimed it. Accesses that straddle the
 * end of a range are treated as unclaimed. */
bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, unsigned size, bool is_write);

#endif
