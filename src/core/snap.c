/* Snapshot stream encoding (see snap.h). */
#include "snap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
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

void snap_put_str(struct snap_writer *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	snap_put_u32(w, (uint32_t)n);
	snap_put_bytes(w, s, n);
}

#define SPARSE_PAGE 4096u

static bool zero_page(const uint8_t *p, size_t n)
{
	uint64_t acc = 0;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		acc |= v;
	}
	for (; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

void snap_put_sparse(struct snap_writer *w, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t pages = (n + SPARSE_PAGE - 1) / SPARSE_PAGE;
	for (size_t i = 0; i < pages; i += 8) {
		uint8_t bits = 0;
		for (size_t j = i; j < i + 8 && j < pages; j++) {
			size_t len = n - j * SPARSE_PAGE < SPARSE_PAGE ? n - j * SPARSE_PAGE : SPARSE_PAGE;
			if (!zero_page(b + j * SPARSE_PAGE, len))
				bits |= (uint8_t)(1u << (j - i));
		}
		snap_put_u8(w, bits);
	}
	for (size_t j = 0; j < pages; j++) {
		size_t len = n - j * SPARSE_PAGE < SPARSE_PAGE ? n - j * SPARSE_PAGE : SPARSE_PAGE;
		if (!zero_page(b + j * SPARSE_PAGE, len))
			snap_put_bytes(w, b + j * SPARSE_PAGE, len);
	}
}

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

void snap_get_str(struct snap_reader *r, char *buf, size_t max, const char *field)
{
	uint32_t n = snap_get_u32(r);
	buf[0] = '\0';
	if (!snap_check(r, n <= max, field))
		return;
	snap_get_bytes(r, buf, n);
	buf[n] = '\0';
	snap_check(r, strlen(buf) == n, field);
}

void snap_get_sparse(struct snap_reader *r, void *p, size_t n)
{
	uint8_t *b = p;
	size_t pages = (n + SPARSE_PAGE - 1) / SPARSE_PAGE;
	size_t nmap = (pages + 7) / 8;
	const uint8_t *map = NULL;
	if (take(r, nmap)) {
		map = r->p + r->off;
		r->off += nmap;
	}
	for (size_t j = 0; j < pages; j++) {
		size_t len = n - j * SPARSE_PAGE < SPARSE_PAGE ? n - j * SPARSE_PAGE : SPARSE_PAGE;
		if (map && (map[j / 8] >> (j % 8) & 1))
			snap_get_bytes(r, b + j * SPARSE_PAGE, len);
		else
			memset(b + j * SPARSE_PAGE, 0, len);
	}
}

bool snap_check(struct snap_reader *r, bool ok, const char *field)
{
	if (!ok && !r->failed) {
		r->failed = true;
		err_set(r->e, EINVAL, "snapshot: %s: %s out of range", r->what, field);
	}
	return ok;
}

int snap_fail(struct snap_reader *r, const char *fmt, ...)
{
	if (!r->failed) {
		char msg[200];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		r->failed = true;
		err_set(r->e, EINVAL, "snapshot: %s: %s", r->what, msg);
	}
	return -EINVAL;
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

uint32_t snap_crc32(uint32_t crc, const void *p, size_t n)
{
	/* Byte-wise with a table built on the fly (state files are small; the memory file
	 * has its own faster digest). */
	uint32_t table[256];
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
	const uint8_t *b = p;
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}
