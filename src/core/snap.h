/* Snapshot streams: how a piece of state (a vCPU, a device) is written into a snapshot
 * and read back. Values are little-endian and fixed-width whatever the host, so a file
 * never depends on struct layout. The machine layer frames streams into sections of a
 * versioned, checksummed file (machine/snapshot.c); this is only the encoding.
 *
 * Reading is defensive: a snapshot file is untrusted input. Every get is bounds-checked
 * and a failure is sticky (later gets return 0), so a loader reads its fields straight
 * through and checks snap_failed once; snap_check rejects a value out of its range with
 * a message naming it. A loader must range-check everything it will later use as an
 * index, size or address, exactly as it would a guest's register write. */
#ifndef TRIVISOR_SNAP_H
#define TRIVISOR_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct snap_writer {
	uint8_t *buf;
	size_t len, cap;
	bool oom;           /* an allocation failed: the stream is incomplete */
};

void snap_writer_init(struct snap_writer *w);
void snap_writer_free(struct snap_writer *w);
void snap_put_u8(struct snap_writer *w, uint8_t v);
void snap_put_u16(struct snap_writer *w, uint16_t v);
void snap_put_u32(struct snap_writer *w, uint32_t v);
void snap_put_u64(struct snap_writer *w, uint64_t v);
void snap_put_bytes(struct snap_writer *w, const void *p, size_t n);
/* A string: u32 length and its bytes (no NUL). */
void snap_put_str(struct snap_writer *w, const char *s);
/* n bytes of mostly zeros (video memory): a bitmap of the 4 KiB pages that are not all
 * zero, then those pages; n is not written (the loader knows it). */
void snap_put_sparse(struct snap_writer *w, const void *p, size_t n);

struct snap_reader {
	const uint8_t *p;
	size_t len, off;
	const char *what;   /* the section being read, for messages */
	struct err *e;
	bool failed;
};

void snap_reader_init(struct snap_reader *r, const void *p, size_t len, const char *what,
                      struct err *e);
uint8_t snap_get_u8(struct snap_reader *r);
uint16_t snap_get_u16(struct snap_reader *r);
uint32_t snap_get_u32(struct snap_reader *r);
uint64_t snap_get_u64(struct snap_reader *r);
void snap_get_bytes(struct snap_reader *r, void *p, size_t n);
bool snap_get_bool(struct snap_reader *r);
/* A string of at most max bytes (without its NUL), into buf[max + 1], NUL-terminated;
 * an embedded NUL or a longer string fails the stream naming field. */
void snap_get_str(struct snap_reader *r, char *buf, size_t max, const char *field);
/* What snap_put_sparse wrote for n bytes, into p (the zero pages are zeroed). */
void snap_get_sparse(struct snap_reader *r, void *p, size_t n);
/* Fail the stream with "snapshot: <what>: <field> out of range" unless ok. Returns ok. */
bool snap_check(struct snap_reader *r, bool ok, const char *field);
/* Fail the stream with "snapshot: <what>: <message>" (unless it failed already);
 * returns -EINVAL. */
int snap_fail(struct snap_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 0, or -EINVAL with the first failure's message (in r->e). A loader that has read a
 * whole section also calls snap_end, which refuses trailing bytes. */
int snap_status(const struct snap_reader *r);
int snap_end(struct snap_reader *r);

/* CRC-32 (IEEE 802.3, the zlib/PNG one): crc of the bytes so far (0 to start). */
uint32_t snap_crc32(uint32_t crc, const void *p, size_t n);

#endif
