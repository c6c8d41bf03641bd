/* Split virtqueues, device side (see virtqueue.h). Every ring and buffer access goes
 * through mem_read/mem_write/mem_ptr, so a hostile driver can at worst make us refuse
 * its chain: never an access outside guest RAM. Ordering follows 2.7.13: read
 * avail->idx before the ring entries it covers (acquire), write used entries before
 * used->idx (release), and a full fence between publishing used->idx (or avail_event)
 * and reading the driver's suppression fields. */
#include "virtqueue.h"

#include <stdatomic.h>
#include <string.h>

#define DESC_SIZE 16

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static int read16(const struct guest_mem *m, uint64_t gpa, uint16_t *v)
{
	uint8_t b[2];
	if (mem_read(m, gpa, b, 2))
		return -1;
	*v = le16(b);
	return 0;
}

static int write16(struct guest_mem *m, uint64_t gpa, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	return mem_write(m, gpa, b, 2);
}

void vq_reset(struct virtq *q, struct guest_mem *mem, uint16_t max_size)
{
	memset(q, 0, sizeof(*q));
	q->mem = mem;
	q->max_size = max_size;
	q->size = max_size;
}

const char *vq_check(const struct virtq *q)
{
	uint64_t n = q->size;
	if (n == 0 || n > q->max_size || (n & (n - 1)))
		return "queue size is not a power of two within the maximum";
	if ((q->desc & 15) || (q->avail & 1) || (q->used & 3))
		return "misaligned ring";
	if (!mem_is_ram(q->mem, q->desc, DESC_SIZE * n))
		return "descriptor table not in RAM";
	if (!mem_is_ram(q->mem, q->avail, 6 + 2 * n))
		return "available ring not in RAM";
	if (!mem_is_ram(q->mem, q->used, 6 + 8 * n))
		return "used ring not in RAM";
	return NULL;
}

#define FAIL(msg) do { *why = (msg); return -1; } while (0)

int vq_pop(struct virtq *q, struct vq_chain *c, const char **why)
{
	uint16_t avail_idx, head;

	if (!q->enabled || q->size == 0)
		FAIL("queue not enabled");
	if (read16(q->mem, q->avail + 2, &avail_idx))
		FAIL("available ring not in RAM");
	uint16_t pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->size)
		FAIL("available index moved by more than the queue size");
	atomic_thread_fence(memory_order_acquire);
	if (read16(q->mem, q->avail + 4 + 2 * (uint64_t)(q->last_avail % q->size), &head))
		FAIL("available ring not in RAM");
	if (head >= q->size)
		FAIL("chain head out of range");
	q->last_avail++;
	q->chains++;

	c->head = head;
	c->nr = c->nw = 0;
	c->rlen = c->wlen = 0;

	uint64_t table = q->desc;
	unsigned table_len = q->size, visited = 0, idx = head;
	bool indirect = false;
	for (;;) {
		uint8_t d[DESC_SIZE];
		if (mem_read(q->mem, table + DESC_SIZE * (uint64_t)idx, d, DESC_SIZE))
			FAIL("descriptor not in RAM");
		/* Each table is walked at most once per entry: more means a loop. */
		if (++visited > table_len)
			FAIL("descriptor chain loops or is longer than its table");
		uint64_t addr = le64(d);
		uint32_t len = le32(d + 8);
		uint16_t flags = le16(d + 12), next = le16(d + 14);

		if (flags & VIRTQ_DESC_F_INDIRECT) {
			if (!q->indirect)
				FAIL("indirect descriptor without VIRTIO_F_INDIRECT_DESC");
			if (indirect)
				FAIL("indirect descriptor inside an indirect table");
			if (flags & VIRTQ_DESC_F_NEXT)
				FAIL("indirect descriptor with NEXT");
			if (len == 0 || len % DESC_SIZE || len / DESC_SIZE > VIRTQ_MAX_SIZE)
				FAIL("bad indirect table length");
			if (!mem_is_ram(q->mem, addr, len))
				FAIL("indirect table not in RAM");
			indirect = true;
			table = addr;
			table_len = len / DESC_SIZE;
			visited = 0;
			idx = 0;
			continue;
		}
		if (len) {
			if (!mem_is_ram(q->mem, addr, len))
				FAIL("buffer not in RAM");
			if (c->nr + c->nw >= VIRTQ_MAX_SIZE)
				FAIL("chain longer than the queue");
			if (flags & VIRTQ_DESC_F_WRITE) {
				c->wlen += len;
				c->nw++;
			} else {
				if (c->nw)
					FAIL("device-readable buffer after a device-writable one");
				c->rlen += len;
				c->nr++;
			}
			c->seg[c->nr + c->nw - 1] = (struct vq_seg){ addr, len };
		}
		if (!(flags & VIRTQ_DESC_F_NEXT))
			return 1;
		if (next >= table_len)
			FAIL("next descriptor out of range");
		idx = next;
	}
}

int vq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	uint8_t e[8];
	for (unsigned i = 0; i < 4; i++) {
		e[i] = (uint8_t)((uint32_t)head >> (8 * i));
		e[4 + i] = (uint8_t)(len >> (8 * i));
	}
	if (mem_write(q->mem, q->used + 4 + 8 * (uint64_t)(q->used_idx % q->size), e, 8))
		return -1;
	atomic_thread_fence(memory_order_release);
	q->used_idx++;
	return write16(q->mem, q->used + 2, q->used_idx) ? -1 : 0;
}

bool vq_need_interrupt(struct virtq *q)
{
	uint16_t v;
	atomic_thread_fence(memory_order_seq_cst);
	if (q->event_idx) {
		if (read16(q->mem, q->avail + 4 + 2 * (uint64_t)q->size, &v))
			return true;
		/* Interrupt if used_event lies in (signalled_used, used_idx]: 2.7.10. */
		bool need = !q->signalled_valid ||
		            (uint16_t)(q->used_idx - v - 1) < (uint16_t)(q->used_idx - q->signalled_used);
		q->signalled_used = q->used_idx;
		q->signalled_valid = true;
		return need;
	}
	if (read16(q->mem, q->avail, &v))
		return true;
	return !(v & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

bool vq_enable_notify(struct virtq *q)
{
	uint16_t avail_idx;
	if (!q->event_idx)
		return false;
	if (write16(q->mem, q->used + 4 + 8 * (uint64_t)q->size, q->last_avail))
		return false;
	atomic_thread_fence(memory_order_seq_cst);
	if (read16(q->mem, q->avail + 2, &avail_idx))
		return false;
	return avail_idx != q->last_avail;
}

/* Walk [off, off+len) of one part of the chain: fn(seg gpa, bytes, done so far). */
static uint64_t walk(const struct vq_chain *c, bool writable, uint64_t off, uint64_t len,
                     bool (*fn)(void *ctx, uint64_t gpa, uint64_t n, uint64_t done), void *ctx)
{
	unsigned first = writable ? c->nr : 0, end = writable ? c->nr + c->nw : c->nr;
	uint64_t done = 0;
	for (unsigned i = first; i < end && done < len; i++) {
		uint64_t sl = c->seg[i].len;
		if (off >= sl) {
			off -= sl;
			continue;
		}
		uint64_t n = sl - off < len - done ? sl - off : len - done;
		if (!fn(ctx, c->seg[i].gpa + off, n, done))
			break;
		done += n;
		off = 0;
	}
	return done;
}

struct copy_ctx {
	struct guest_mem *m;
	uint8_t *buf;
};

static bool copy_out(void *ctx, uint64_t gpa, uint64_t n, uint64_t done)
{
	struct copy_ctx *x = ctx;
	return mem_read(x->m, gpa, x->buf + done, n) == 0;
}

static bool copy_in(void *ctx, uint64_t gpa, uint64_t n, uint64_t done)
{
	struct copy_ctx *x = ctx;
	return mem_write(x->m, gpa, x->buf + done, n) == 0;
}

uint64_t vq_chain_read(const struct vq_chain *c, const struct guest_mem *m, uint64_t off,
                       void *dst, uint64_t len)
{
	struct copy_ctx x = { (struct guest_mem *)m, dst };
	return walk(c, false, off, len, copy_out, &x);
}

uint64_t vq_chain_write(const struct vq_chain *c, struct guest_mem *m, uint64_t off,
                        const void *src, uint64_t len)
{
	struct copy_ctx x = { m, (uint8_t *)src };
	return walk(c, true, off, len, copy_in, &x);
}

struct iov_ctx {
	const struct guest_mem *m;
	struct iovec *iov;
	unsigned n, max;
};

static bool add_iov(void *ctx, uint64_t gpa, uint64_t n, uint64_t done)
{
	struct iov_ctx *x = ctx;
	void *p = mem_ptr(x->m, gpa, n);
	if (!p || x->n == x->max)
		return false;
	x->iov[x->n++] = (struct iovec){ p, n };
	return true;
}

int vq_chain_iov(const struct vq_chain *c, const struct guest_mem *m, bool writable,
                 uint64_t off, uint64_t len, struct iovec *iov, unsigned max)
{
	struct iov_ctx x = { m, iov, 0, max };
	if (walk(c, writable, off, len, add_iov, &x) != len)
		return -1;
	return (int)x.n;
}

static bool report(void *ctx, uint64_t gpa, uint64_t n, uint64_t done)
{
	struct guest_mem *m = ctx;
	m->write_hook(m->write_hook_opaque, gpa, n);
	return true;
}

void vq_chain_written(const struct vq_chain *c, struct guest_mem *m, uint64_t off, uint64_t len)
{
	if (m->write_hook)
		walk(c, true, off, len, report, m);
}
