#include "bus.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
	pthread_rwlock_init(&b->lock, NULL);
}

void bus_destroy(struct bus *b)
{
	free(b->ranges);
	b->ranges = NULL;
	b->n = b->cap = 0;
	pthread_rwlock_destroy(&b->lock);
}

static int insert(struct bus *b, uint64_t base, uint64_t len, io_handler_fn fn,
                  void *opaque, const char *name, struct err *e)
{
	if (len == 0 || base + len - 1 < base)
		return err_set(e, EINVAL, "%s: bad %s range 0x%llx+0x%llx", name, b->name,
		               (unsigned long long)base, (unsigned long long)len);

	unsigned pos = 0;
	while (pos < b->n && b->ranges[pos].base < base)
		pos++;
	/* Overlap with the neighbour below or above? */
	if ((pos > 0 && b->ranges[pos - 1].base + b->ranges[pos - 1].len - 1 >= base) ||
	    (pos < b->n && base + len - 1 >= b->ranges[pos].base)) {
		const struct bus_range *o = pos > 0 && b->ranges[pos - 1].base + b->ranges[pos - 1].len - 1 >= base
			? &b->ranges[pos - 1] : &b->ranges[pos];
		return err_set(e, EEXIST, "%s: %s range 0x%llx+0x%llx overlaps %s", name, b->name,
		               (unsigned long long)base, (unsigned long long)len, o->name);
	}
	if (b->n == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *r = realloc(b->ranges, cap * sizeof(*r));
		if (!r)
			return err_set(e, ENOMEM, "out of memory");
		b->ranges = r;
		b->cap = cap;
	}
	memmove(&b->ranges[pos + 1], &b->ranges[pos], (b->n - pos) * sizeof(*b->ranges));
	b->ranges[pos] = (struct bus_range){ .base = base, .len = len, .fn = fn,
	                                     .opaque = opaque, .name = name };
	b->n++;
	return 0;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, io_handler_fn fn,
                 void *opaque, const char *name, struct err *e)
{
	pthread_rwlock_wrlock(&b->lock);
	int r = insert(b, base, len, fn, opaque, name, e);
	pthread_rwlock_unlock(&b->lock);
	return r;
}

int bus_unregister(struct bus *b, uint64_t base, void *opaque)
{
	int r = -ENOENT;
	pthread_rwlock_wrlock(&b->lock);
	for (unsigned i = 0; i < b->n; i++) {
		if (b->ranges[i].base == base && b->ranges[i].opaque == opaque) {
			memmove(&b->ranges[i], &b->ranges[i + 1], (b->n - i - 1) * sizeof(*b->ranges));
			b->n--;
			r = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&b->lock);
	return r;
}

struct bus_range *bus_find(const struct bus *b, uint64_t addr)
{
	unsigned lo = 0, hi = b->n;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		struct bus_range *r = &b->ranges[mid];
		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, unsigned size, bool is_write)
{
	io_handler_fn fn = NULL;
	void *opaque = NULL;
	uint64_t off = 0;

	pthread_rwlock_rdlock(&b->lock);
	struct bus_range *r = bus_find(b, addr);
	if (r && size >= 1 && size <= 8 && size <= r->len - (addr - r->base)) {
		atomic_fetch_add_explicit(&r->accesses, 1, memory_order_relaxed);
		fn = r->fn;
		opaque = r->opaque;
		off = addr - r->base;
	}
	pthread_rwlock_unlock(&b->lock);
	if (fn) {
		fn(opaque, off, data, size, is_write);
		return true;
	}
	log_debug("bus", "unclaimed %s %s 0x%llx size %u", b->name, is_write ? "write" : "read",
	          (unsigned long long)addr, size);
	if (is_write) {
		atomic_fetch_add_explicit(&b->unclaimed_writes, 1, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&b->unclaimed_reads, 1, memory_order_relaxed);
		memset(data, 0xff, size > 8 ? 8 : size);
	}
	return false;
}
