/* AML builder (see aml.h). Opcodes from ACPI 6.x, 20.2 "AML Grammar Definition". */
#include "aml.h"

#include <string.h>

#define ZERO_OP      0x00
#define ONE_OP       0x01
#define ONES_OP      0xff
#define NAME_OP      0x08
#define BYTE_PREFIX  0x0a
#define WORD_PREFIX  0x0b
#define DWORD_PREFIX 0x0c
#define STRING_PREFIX 0x0d
#define QWORD_PREFIX 0x0e
#define SCOPE_OP     0x10
#define BUFFER_OP    0x11
#define PACKAGE_OP   0x12
#define EXT_OP       0x5b
#define DEVICE_OP    0x82
#define DUAL_NAME    0x2e
#define MULTI_NAME   0x2f
#define ROOT_CHAR    0x5c
#define PARENT_CHAR  0x5e

/* Resource descriptor tags (6.4.2, 6.4.3) */
#define RES_IO          0x47    /* small, type 0x08, length 7 */
#define RES_END         0x79    /* small, type 0x0f, length 1 */
#define RES_MEM32_FIXED 0x86
#define RES_DWORD_ADDR  0x87
#define RES_WORD_ADDR   0x88
#define RES_QWORD_ADDR  0x8a
#define RES_EXT_IRQ     0x89
#define IRQ_CONSUMER    0x01
#define IRQ_EDGE        0x02
#define IRQ_ACTIVE_LOW  0x04
#define ADDR_MEM        0
#define ADDR_IO         1
#define ADDR_BUS        2
#define ADDR_MIN_FIXED  0x04
#define ADDR_MAX_FIXED  0x08
#define MEM_RW          0x01
#define IO_ENTIRE_RANGE 0x03

/* Bytes reserved for a PkgLength while the object is being filled. */
#define PKG_RESERVE 4

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	a->buf = buf;
	a->len = 0;
	a->cap = cap;
	a->overflow = false;
}

void aml_byte(struct aml *a, uint8_t b)
{
	if (a->len < a->cap)
		a->buf[a->len++] = b;
	else
		a->overflow = true;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		aml_byte(a, b[i]);
}

void aml_le(struct aml *a, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

static void name_seg(struct aml *a, const char *s, size_t n)
{
	for (size_t i = 0; i < 4; i++)
		aml_byte(a, i < n ? (uint8_t)s[i] : '_');
}

void aml_name_string(struct aml *a, const char *path)
{
	while (*path == '\\' || *path == '^')
		aml_byte(a, (uint8_t)*path++);
	unsigned nseg = *path ? 1 : 0;
	for (const char *p = path; *p; p++)
		nseg += *p == '.';
	if (nseg == 0) {
		aml_byte(a, 0);                  /* NullName */
		return;
	}
	if (nseg == 2)
		aml_byte(a, DUAL_NAME);
	else if (nseg > 2) {
		aml_byte(a, MULTI_NAME);
		aml_byte(a, (uint8_t)nseg);
	}
	while (*path) {
		size_t n = strcspn(path, ".");
		name_seg(a, path, n > 4 ? 4 : n);
		path += n;
		if (*path == '.')
			path++;
	}
}

void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, ONE_OP);
	} else if (v <= 0xff) {
		aml_byte(a, BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= 0xffffffffu) {
		aml_byte(a, DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

/* 3 letters in 5 bits each (A = 1), then 4 hex digits, stored big-endian (19.6.44). */
uint32_t aml_eisaid_value(const char id[7])
{
	unsigned hex = 0;
	for (int i = 3; i < 7; i++) {
		char c = id[i];
		hex = hex << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	unsigned vendor = (unsigned)(id[0] - 0x40) << 10 | (unsigned)(id[1] - 0x40) << 5 |
	                  (unsigned)(id[2] - 0x40);
	uint8_t b[4] = { (uint8_t)(vendor >> 8), (uint8_t)vendor, (uint8_t)(hex >> 8), (uint8_t)hex };
	return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

void aml_eisaid(struct aml *a, const char id[7])
{
	aml_byte(a, DWORD_PREFIX);
	aml_le(a, aml_eisaid_value(id), 4);
}

void aml_name(struct aml *a, const char *path)
{
	aml_byte(a, NAME_OP);
	aml_name_string(a, path);
}

unsigned aml_pkg_length(uint8_t out[4], size_t n)
{
	/* The encoded length includes the PkgLength bytes themselves (20.2.4). */
	if (n + 1 < 0x40) {
		out[0] = (uint8_t)(n + 1);
		return 1;
	}
	for (unsigned k = 2; k <= 4; k++) {
		size_t len = n + k;
		if (len < (size_t)1 << (4 + 8 * (k - 1))) {
			out[0] = (uint8_t)((k - 1) << 6 | (len & 0xf));
			for (unsigned i = 1; i < k; i++)
				out[i] = (uint8_t)(len >> (4 + 8 * (i - 1)));
			return k;
		}
	}
	return 0;
}

static size_t open_pkg(struct aml *a)
{
	size_t h = a->len;
	for (unsigned i = 0; i < PKG_RESERVE; i++)
		aml_byte(a, 0);
	return h;
}

void aml_close(struct aml *a, size_t h)
{
	if (a->overflow || h + PKG_RESERVE > a->len)
		return;
	size_t body = a->len - (h + PKG_RESERVE);
	uint8_t pl[4];
	unsigned k = aml_pkg_length(pl, body);
	if (k == 0) {
		a->overflow = true;
		return;
	}
	memmove(a->buf + h + k, a->buf + h + PKG_RESERVE, body);
	memcpy(a->buf + h, pl, k);
	a->len -= PKG_RESERVE - k;
}

size_t aml_scope(struct aml *a, const char *path)
{
	aml_byte(a, SCOPE_OP);
	size_t h = open_pkg(a);
	aml_name_string(a, path);
	return h;
}

size_t aml_device(struct aml *a, const char *path)
{
	aml_byte(a, EXT_OP);
	aml_byte(a, DEVICE_OP);
	size_t h = open_pkg(a);
	aml_name_string(a, path);
	return h;
}

size_t aml_package(struct aml *a, uint8_t nelems)
{
	aml_byte(a, PACKAGE_OP);
	size_t h = open_pkg(a);
	aml_byte(a, nelems);
	return h;
}

/* A Buffer's size (a TermArg after the PkgLength) is known only at the end: a WordConst
 * is reserved for it and patched by aml_buffer_close. */
size_t aml_buffer(struct aml *a)
{
	aml_byte(a, BUFFER_OP);
	size_t h = open_pkg(a);
	aml_byte(a, WORD_PREFIX);
	aml_le(a, 0, 2);
	return h;
}

void aml_buffer_close(struct aml *a, size_t h)
{
	size_t size_at = h + PKG_RESERVE + 1, data = h + PKG_RESERVE + 3;
	if (!a->overflow && data <= a->len) {
		size_t n = a->len - data;
		if (n > 0xffff) {
			a->overflow = true;
			return;
		}
		a->buf[size_at] = (uint8_t)n;
		a->buf[size_at + 1] = (uint8_t)(n >> 8);
	}
	aml_close(a, h);
}

void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	aml_byte(a, RES_IO);
	aml_byte(a, 1);                     /* 16-bit decode */
	aml_le(a, min, 2);
	aml_le(a, max, 2);
	aml_byte(a, align);
	aml_byte(a, len);
}

static void word_addr(struct aml *a, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
	aml_byte(a, RES_WORD_ADDR);
	aml_le(a, 13, 2);
	aml_byte(a, type);
	aml_byte(a, ADDR_MIN_FIXED | ADDR_MAX_FIXED);   /* producer, positive decode */
	aml_byte(a, tflags);
	aml_le(a, 0, 2);                                /* granularity */
	aml_le(a, min, 2);
	aml_le(a, max, 2);
	aml_le(a, 0, 2);                                /* translation */
	aml_le(a, (uint32_t)max - min + 1, 2);
}

void aml_res_bus_numbers(struct aml *a, uint16_t min, uint16_t max)
{
	word_addr(a, ADDR_BUS, 0, min, max);
}

void aml_res_io_window(struct aml *a, uint16_t min, uint16_t max)
{
	word_addr(a, ADDR_IO, IO_ENTIRE_RANGE, min, max);
}

void aml_res_mem32_window(struct aml *a, uint32_t min, uint32_t max)
{
	aml_byte(a, RES_DWORD_ADDR);
	aml_le(a, 23, 2);
	aml_byte(a, ADDR_MEM);
	aml_byte(a, ADDR_MIN_FIXED | ADDR_MAX_FIXED);
	aml_byte(a, MEM_RW);                            /* non-cacheable, read-write */
	aml_le(a, 0, 4);
	aml_le(a, min, 4);
	aml_le(a, max, 4);
	aml_le(a, 0, 4);
	aml_le(a, (uint64_t)max - min + 1, 4);
}

void aml_res_mem64_window(struct aml *a, uint64_t min, uint64_t max)
{
	aml_byte(a, RES_QWORD_ADDR);
	aml_le(a, 43, 2);
	aml_byte(a, ADDR_MEM);
	aml_byte(a, ADDR_MIN_FIXED | ADDR_MAX_FIXED);
	aml_byte(a, MEM_RW);
	aml_le(a, 0, 8);
	aml_le(a, min, 8);
	aml_le(a, max, 8);
	aml_le(a, 0, 8);
	aml_le(a, max - min + 1, 8);
}

void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len)
{
	aml_byte(a, RES_MEM32_FIXED);
	aml_le(a, 9, 2);
	aml_byte(a, MEM_RW);
	aml_le(a, base, 4);
	aml_le(a, len, 4);
}

void aml_res_interrupt(struct aml *a, uint32_t gsi, bool edge, bool active_low)
{
	aml_byte(a, RES_EXT_IRQ);
	aml_le(a, 6, 2);                    /* flags, count, one DWORD */
	aml_byte(a, (uint8_t)(IRQ_CONSUMER | (edge ? IRQ_EDGE : 0) | (active_low ? IRQ_ACTIVE_LOW : 0)));
	aml_byte(a, 1);
	aml_le(a, gsi, 4);
}

void aml_res_end(struct aml *a)
{
	aml_byte(a, RES_END);
	aml_byte(a, 0);                     /* checksum 0: "treat as correct" */
}
