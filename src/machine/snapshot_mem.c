/* The memory file of a snapshot (snapshot.h): guest RAM, sparse.
 *
 * Writing skips pages of zeros (the file is sized first, so they read back as zeros
 * and take no disk space): a guest's file is about the size of the memory it used.
 * Under direct execution RAM is a memfd; its holes are skipped with SEEK_DATA rather
 * than read, which would allocate them.
 *
 * Reading copies the file's data extents (SEEK_DATA/SEEK_HOLE) into the RAM mapping
 * with pread, 1 MiB at a time, and digests each chunk while it is still in the cache.
 * RAM is not mapped from the file (MAP_PRIVATE), though that is faster to set up:
 * under direct execution RAM must be a memfd that helper processes share, the digest
 * has to read every page anyway, and a copy leaves the snapshot free to be deleted or
 * overwritten while the VM runs. Pages of zeros are never touched, so a restored VM
 * takes from the host what the original one had taken. */
#include "snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE       4096u
#define CHUNK      (1u << 20)
#define MEM_FORMAT 1u

static const char mem_magic[8] = { 'T', 'R', 'I', 'V', 'M', 'E', 'M', 0 };

/* -- the digest: four 64-bit lanes of multiply-xorshift, each step a bijection of the
 * lane, so a page that differs in one word always gives another page digest; pages are
 * chained in file order with their page number. Fast (several GB/s), not cryptographic:
 * it finds corruption, not forgery (a forged memory file only gives the guest other
 * memory, which trivisor never trusts anyway). */
#define K1 0x9e3779b97f4a7c15ull
#define K2 0xc2b2ae3d27d4eb4full

static inline uint64_t mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * K1;
	return h ^ (h >> 29);
}

static uint64_t page_digest(const uint8_t *p, uint64_t pageno)
{
	uint64_t l0 = pageno * K2, l1 = l0 + 1, l2 = l0 + 2, l3 = l0 + 3;
	for (unsigned i = 0; i < PAGE; i += 32) {
		uint64_t w[4];
		memcpy(w, p + i, sizeof(w));
		l0 = mix(l0, w[0]);
		l1 = mix(l1, w[1]);
		l2 = mix(l2, w[2]);
		l3 = mix(l3, w[3]);
	}
	return mix(mix(mix(mix(pageno, l0), l1), l2), l3);
}

static bool page_zero(const uint8_t *p)
{
	uint64_t acc = 0;
	for (unsigned i = 0; i < PAGE; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	return acc == 0;
}

/* -- header ---------------------------------------------------------------------------- */

static void put(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#define H_SLOTS   48     /* the slot table's offset in the header */
#define SLOT_LEN  24

/* The RAM slots (not ROM) in order, with their offsets in the file. */
static unsigned ram_slots(const struct guest_mem *m, const struct mem_slot *out[MEM_MAX_SLOTS],
                          uint64_t off[MEM_MAX_SLOTS])
{
	unsigned n = 0;
	uint64_t at = SNAPSHOT_MEM_HEADER;
	for (unsigned i = 0; i < m->nslots; i++) {
		if (m->slots[i].rom)
			continue;
		out[n] = &m->slots[i];
		off[n++] = at;
		at += m->slots[i].size;
	}
	return n;
}

/* -- writing --------------------------------------------------------------------------- */

static int pwrite_full(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Write the non-zero pages of [host, host + len) at file offset off, digesting them
 * (page numbers count from the start of the file). */
static int write_range(int fd, const uint8_t *host, uint64_t len, uint64_t off, uint64_t *d)
{
	for (uint64_t i = 0; i < len;) {
		uint64_t start = i;
		while (i < len && i - start < CHUNK * 64 && !page_zero(host + i)) {
			*d = mix(*d, page_digest(host + i, (off + i) / PAGE));
			i += PAGE;
		}
		if (i == start) {
			i += PAGE;
			continue;
		}
		int r = pwrite_full(fd, host + start, i - start, off + start);
		if (r)
			return r;
	}
	return 0;
}

int snapshot_mem_write(const struct guest_mem *m, int fd, const uint8_t id[SNAPSHOT_ID_LEN],
                       uint64_t *digest, struct err *e)
{
	const struct mem_slot *slot[MEM_MAX_SLOTS];
	uint64_t off[MEM_MAX_SLOTS];
	unsigned n = ram_slots(m, slot, off);
	uint64_t d = K2;
	int r = 0;

	if (ftruncate(fd, (off_t)(SNAPSHOT_MEM_HEADER + m->ram_size)))
		return err_set(e, errno, "cannot size the memory file: %s", strerror(errno));
	for (unsigned i = 0; i < n && r == 0; i++) {
		const struct mem_slot *s = slot[i];
		if (!m->shared) {
			r = write_range(fd, s->host, s->size, off[i], &d);
			continue;
		}
		/* A memfd: only its data extents (reading a hole would allocate it). */
		uint64_t pos = s->fd_off, end = s->fd_off + s->size;
		while (r == 0 && pos < end) {
			off_t a = lseek(m->fd, (off_t)pos, SEEK_DATA);
			if (a < 0 || (uint64_t)a >= end)
				break;          /* ENXIO: no data after pos */
			off_t b = lseek(m->fd, a, SEEK_HOLE);
			uint64_t stop = b < 0 || (uint64_t)b > end ? end : (uint64_t)b;
			uint64_t from = (uint64_t)a & ~(uint64_t)(PAGE - 1);
			stop = (stop + PAGE - 1) & ~(uint64_t)(PAGE - 1);
			if (stop > end)
				stop = end;
			r = write_range(fd, s->host + (from - s->fd_off), stop - from,
			                off[i] + (from - s->fd_off), &d);
			pos = stop;
		}
	}
	if (r)
		return err_set(e, -r, "cannot write the memory file: %s", strerror(-r));

	uint8_t *h = calloc(1, SNAPSHOT_MEM_HEADER);
	if (!h)
		return err_set(e, ENOMEM, "out of memory");
	memcpy(h, mem_magic, 8);
	put(h + 8, MEM_FORMAT, 4);
	put(h + 12, SNAPSHOT_MEM_HEADER, 4);
	memcpy(h + 16, id, SNAPSHOT_ID_LEN);
	put(h + 32, m->ram_size, 8);
	put(h + 40, n, 4);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *t = h + H_SLOTS + i * SLOT_LEN;
		put(t, slot[i]->gpa, 8);
		put(t + 8, slot[i]->size, 8);
		put(t + 16, off[i], 8);
	}
	put(h + H_SLOTS + MEM_MAX_SLOTS * SLOT_LEN, d, 8);
	put(h + SNAPSHOT_MEM_HEADER - 4, snap_crc32(0, h, SNAPSHOT_MEM_HEADER - 4), 4);
	r = pwrite_full(fd, h, SNAPSHOT_MEM_HEADER, 0);
	free(h);
	if (r)
		return err_set(e, -r, "cannot write the memory file: %s", strerror(-r));
	*digest = d;
	return 0;
}

/* -- reading --------------------------------------------------------------------------- */

static int pread_full(int fd, uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ENODATA;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Copy [off, off + len) of the file (page aligned) into host, digesting its pages. */
static int read_range(int fd, uint8_t *host, uint64_t len, uint64_t off, uint64_t *d)
{
	for (uint64_t done = 0; done < len; done += CHUNK) {
		size_t n = len - done < CHUNK ? (size_t)(len - done) : CHUNK;
		int r = pread_full(fd, host + done, n, off + done);
		if (r)
			return r;
		for (size_t i = 0; i < n; i += PAGE)
			if (!page_zero(host + done + i))
				*d = mix(*d, page_digest(host + done + i, (off + done + i) / PAGE));
	}
	return 0;
}

/* The header: this state file's memory file, laid out as m is. Returns its digest. */
static int check_header(const struct guest_mem *m, int fd, const struct snapshot_header *sh,
                        const char *what, uint64_t *digest, struct err *e)
{
	const struct mem_slot *slot[MEM_MAX_SLOTS];
	uint64_t off[MEM_MAX_SLOTS];
	unsigned n = ram_slots(m, slot, off);
	uint8_t h[SNAPSHOT_MEM_HEADER];
	struct stat st;

	int r = pread_full(fd, h, sizeof(h), 0);
	if (r == -ENODATA || (r == 0 && memcmp(h, mem_magic, 8) != 0))
		return err_set(e, EINVAL, "%s is not a trivisor snapshot memory file", what);
	if (r)
		return err_set(e, -r, "%s: %s", what, strerror(-r));
	if (get(h + 8, 4) != MEM_FORMAT || get(h + 12, 4) != SNAPSHOT_MEM_HEADER)
		return err_set(e, EINVAL, "%s: memory file format %llu, this trivisor reads %u only",
		               what, (unsigned long long)get(h + 8, 4), MEM_FORMAT);
	if (snap_crc32(0, h, sizeof(h) - 4) != get(h + sizeof(h) - 4, 4))
		return err_set(e, EINVAL, "%s: the memory file's header is corrupted", what);
	if (memcmp(h + 16, sh->mem_id, SNAPSHOT_ID_LEN) != 0)
		return err_set(e, EINVAL, "%s is the memory file of another snapshot", what);
	*digest = get(h + H_SLOTS + MEM_MAX_SLOTS * SLOT_LEN, 8);
	bool layout = get(h + 32, 8) == m->ram_size && get(h + 40, 4) == n &&
	              *digest == sh->mem_digest;
	for (unsigned i = 0; layout && i < n; i++) {
		const uint8_t *t = h + H_SLOTS + i * SLOT_LEN;
		layout = get(t, 8) == slot[i]->gpa && get(t + 8, 8) == slot[i]->size &&
		         get(t + 16, 8) == off[i];
	}
	if (!layout)
		return err_set(e, EINVAL, "%s does not match the state file (RAM size or layout)", what);
	if (fstat(fd, &st) < 0)
		return err_set(e, errno, "%s: %s", what, strerror(errno));
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < SNAPSHOT_MEM_HEADER + m->ram_size)
		return err_set(e, EINVAL, "%s is truncated (%lld bytes, needs %llu)", what,
		               (long long)st.st_size,
		               (unsigned long long)(SNAPSHOT_MEM_HEADER + m->ram_size));
	if ((uint64_t)st.st_size != SNAPSHOT_MEM_HEADER + m->ram_size)
		return err_set(e, EINVAL, "%s: %llu unexpected bytes at the end", what,
		               (unsigned long long)(st.st_size - (SNAPSHOT_MEM_HEADER + m->ram_size)));
	return 0;
}

int snapshot_mem_map(struct guest_mem *m, int fd, const struct snapshot_header *sh,
                     const char *what, struct err *e)
{
	const struct mem_slot *slot[MEM_MAX_SLOTS];
	uint64_t off[MEM_MAX_SLOTS], digest;
	unsigned n = ram_slots(m, slot, off);
	if (m->shared)
		return err_set(e, EINVAL, "%s: guest RAM shared with helper processes (--soft-tier "
		               "direct) cannot be mapped from a file; read it instead", what);
	int r = check_header(m, fd, sh, what, &digest, e);
	for (unsigned i = 0; r == 0 && i < n; i++)
		if (mmap(slot[i]->host, slot[i]->size, PROT_READ | PROT_WRITE,
		         MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, (off_t)off[i]) == MAP_FAILED)
			r = err_set(e, errno, "%s: cannot map it: %s", what, strerror(errno));
	return r;
}

int snapshot_mem_read(struct guest_mem *m, int fd, const struct snapshot_header *sh,
                      const char *what, struct err *e)
{
	const struct mem_slot *slot[MEM_MAX_SLOTS];
	uint64_t off[MEM_MAX_SLOTS], digest;
	unsigned n = ram_slots(m, slot, off);
	int r = check_header(m, fd, sh, what, &digest, e);
	if (r)
		return r;

	uint64_t d = K2;
	for (unsigned i = 0; i < n && r == 0; i++) {
		uint8_t *host = slot[i]->host;
		uint64_t pos = off[i], end = off[i] + slot[i]->size;
		while (r == 0 && pos < end) {
			off_t a = lseek(fd, (off_t)pos, SEEK_DATA);
			if (a < 0 && errno == ENXIO)
				break;                   /* only holes from here */
			if (a < 0) {                     /* no SEEK_DATA here: all of it is data */
				r = read_range(fd, host + (pos - off[i]), end - pos, pos, &d);
				break;
			}
			if ((uint64_t)a >= end)
				break;
			off_t b = lseek(fd, a, SEEK_HOLE);
			uint64_t stop = b < 0 || (uint64_t)b > end ? end : (uint64_t)b;
			uint64_t from = (uint64_t)a & ~(uint64_t)(PAGE - 1);
			stop = (stop + PAGE - 1) & ~(uint64_t)(PAGE - 1);
			if (stop > end)
				stop = end;
			r = read_range(fd, host + (from - off[i]), stop - from, from, &d);
			pos = stop;
		}
	}
	if (r)
		return err_set(e, -r, "%s: %s", what,
		               r == -ENODATA ? "the file shrank while being read" : strerror(-r));
	if (d != digest)
		return err_set(e, EINVAL, "%s is corrupted (its content does not match its digest)",
		               what);
	return 0;
}
