/* Snapshot stream encoding (see snap.h). */
#include "snap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void snap_writer_init(struct snap_writer *w)
{
	*w = (struct snap_writer){ 0 };
}

void snap_writer_free(struct snap_writer *w)
{
	free(w->buf);
	*w = (struct snap_writer){ 0 };
}

void snap_put_bytes(struct snap_writer *w, const void *p, size_t n)
{
	if (w->oom || n == 0)
		return;
	if (n > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap - w->len < n) {
			if (cap > SIZE_MAX / 2) {
				w->oom = true;
				return;
			}
			cap *= 2;
		}
		uint8_t *b = realloc(w->buf, cap);
		if (!b) {
			w->oom = true;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_le(struct snap_writer *w, uint64_t v, unsigned n)
{
	uint8_t b[8];
	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	snap_put_bytes(w, b, n);
}

void snap_put_u8(struct snap_writer *w, uint8_t v) { put_le(w, v, 1); }
void snap_put_u16(struct snap_writer *w, uint16_t v) { put_le(w, v, 2); }
void snap_put_u32(struct snap_writer *w, uint32_t v) { put_le(w, v, 4); }
void snap_put_u64(struct snap_writer *w, uint64_t v) { put_le(w, v, 8); }

void snap_reader_init(struct snap_reader *r, const void *p, size_t len, const char *what,
                      struct err *e)
{
	*r = (struct snap_reader){ .p = p, .len = len, .what = what, .e = e };
}

static bool take(struct snap_reader *r, size_t n)
{
	if (r->failed)
		return false;
	if (n > r->len - r->off) {
		r->failed = true;
		err_set(r->e, EINVAL, "snapshot: %s: truncated (%zu bytes, needs more)", r->what, r->len);
		return false;
	}
	return true;
}

void snap_get_bytes(struct snap_reader *r, void *p, size_t n)
{
	if (!take(r, n)) {
		memset(p, 0, n);
		return;
	}
	memcpy(p, r->p + r->off, n);
	r->off += n;
}

static uint64_t get_le(struct snap_reader *r, unsigned n)
{
	uint8_t b[8];
	uint64_t v = 0;
	snap_get_bytes(r, b, n);
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

uint8_t snap_get_u8(struct snap_reader *r) { return (uint8_t)get_le(r, 1); }
uint16_t snap_get_u16(struct snap_reader *r) { return (uint16_t)get_le(r, 2); }
uint32_t snap_get_u32(struct snap_reader *r) { return (uint32_t)get_le(r, 4); }
uint64_t snap_get_u64(struct snap_reader *r) { return get_le(r, 8); }

bool snap_get_bool(struct snap_reader *r)
{
	uint8_t v = snap_get_u8(r);
	snap_check(r, v <= 1, "boolean");
	return v == 1;
}

bool snap_check(struct snap_reader *r, bool ok, const char *field)
{
	if (!ok && !r->failed) {
		r->failed = true;
		err_set(r->e, EINVAL, "snapshot: %s: %s out of range", r->what, field);
	}
	return ok;
}

int snap_status(const struct snap_reader *r)
{
	return r->failed ? -EINVAL : 0;
}

int snap_end(struct snap_reader *r)
{
	if (!r->failed && r->off != r->len) {
		r->failed = true;
		err_set(r->e, EINVAL, "snapshot: %s: %zu unexpected trailing bytes", r->what,
		        r->len - r->off);
	}
	return snap_status(r);
}
