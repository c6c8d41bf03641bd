/* The split virtqueue (virtqueue.c) on its own: descriptor chains, indirect tables,
 * EVENT_IDX, and the chain accessors, with every ring byte and every driver action
 * from the input.
 *
 * Input: u8 log2(size) (mod 9), u8 flags (bit 0 EVENT_IDX, bit 1 INDIRECT_DESC), the
 * descriptor table (16 * size bytes) and available ring (6 + 2 * size bytes) as is,
 * u16 n and n bytes of buffer space at FUZZ_BUF, then actions (op byte + operands).
 *
 * Invariants checked on every chain taken: at most VIRTQ_MAX_SIZE segments, each
 * non-empty and wholly in RAM, the parts' lengths the sums of their segments; copies
 * never longer than asked or than the part; iovecs only inside guest RAM. */
#include "fuzz.h"

#include <string.h>

#include "hw/virtio/virtqueue.h"

static uint8_t scratch[1 << 16];
static unsigned long chains, indirect_chains, refused, iovecs;

static void stats(FILE *out)
{
	fprintf(out, " chains=%lu indirect_chains=%lu refused=%lu iovecs=%lu", chains,
	        indirect_chains, refused, iovecs);
}

static void check_chain(const struct vq_chain *c, const struct guest_mem *m)
{
	uint64_t r = 0, w = 0;
	if ((unsigned)c->nr + c->nw > VIRTQ_MAX_SIZE)
		fuzz_fail("chain of %u + %u segments", c->nr, c->nw);
	for (unsigned i = 0; i < (unsigned)c->nr + c->nw; i++) {
		const struct vq_seg *s = &c->seg[i];
		if (s->len == 0 || !mem_is_ram(m, s->gpa, s->len))
			fuzz_fail("segment %u (0x%llx, %u) not in RAM", i, (unsigned long long)s->gpa, s->len);
		if (i < c->nr)
			r += s->len;
		else
			w += s->len;
	}
	if (r != c->rlen || w != c->wlen)
		fuzz_fail("part lengths %llu/%llu, segments say %llu/%llu",
		          (unsigned long long)c->rlen, (unsigned long long)c->wlen,
		          (unsigned long long)r, (unsigned long long)w);
}

/* Use the chain as a device would, at offsets and lengths from the input. */
static void use_chain(struct virtq *q, struct vq_chain *c, struct fz *f)
{
	struct guest_mem *m = q->mem;
	const uint8_t *ram = mem_ptr(m, 0, FUZZ_RAM);
	uint64_t off = fz_u16(f), len = fz_u16(f);

	uint64_t got = vq_chain_read(c, m, off, scratch, len);
	if (got > len || (off < c->rlen && got > c->rlen - off) || (off >= c->rlen && got))
		fuzz_fail("read %llu of %llu at %llu from a %llu-byte part", (unsigned long long)got,
		          (unsigned long long)len, (unsigned long long)off, (unsigned long long)c->rlen);
	uint64_t put = vq_chain_write(c, m, off, scratch, len);
	if (put > len || (off < c->wlen && put > c->wlen - off) || (off >= c->wlen && put))
		fuzz_fail("wrote %llu of %llu at %llu into a %llu-byte part", (unsigned long long)put,
		          (unsigned long long)len, (unsigned long long)off, (unsigned long long)c->wlen);

	struct iovec iov[VIRTQ_MAX_SIZE];
	bool writable = fz_u8(f) & 1;
	int n = vq_chain_iov(c, m, writable, off, len, iov, 1 + fz_u8(f) % VIRTQ_MAX_SIZE);
	uint64_t total = 0;
	for (int i = 0; i < n; i++) {
		const uint8_t *b = iov[i].iov_base;
		if (b < ram || b + iov[i].iov_len > ram + FUZZ_RAM)
			fuzz_fail("iovec %d outside guest RAM", i);
		total += iov[i].iov_len;
	}
	if (n > 0)
		iovecs += (unsigned long)n;
	if (n >= 0 && total != len)
		fuzz_fail("iovecs cover %llu bytes, asked %llu", (unsigned long long)total,
		          (unsigned long long)len);
	if (n >= 0 && writable)
		vq_chain_written(c, m, off, len);
}

static void setup(struct virtq *q, struct vm *vm, uint16_t size, uint8_t flags)
{
	vq_reset(q, &vm->mem, VIRTQ_MAX_SIZE);
	q->size = size;
	q->desc = FUZZ_QUEUE(0);
	q->avail = FUZZ_QUEUE(0) + FUZZ_AVAIL;
	q->used = FUZZ_QUEUE(0) + FUZZ_USED;
	q->event_idx = flags & 1;
	q->indirect = flags & 2;
	q->enabled = vq_check(q) == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vq_chain chain;
	static bool init;
	struct fz f = { data, size };
	if (!init) {
		init = true;
		fuzz_stats_at_exit(stats);
	}
	struct vm *vm = fuzz_vm();
	struct virtq q;

	uint16_t qsize = (uint16_t)(1u << (fz_u8(&f) % 9));
	uint8_t flags = fz_u8(&f);
	fuzz_fill(vm, &f, FUZZ_QUEUE(0), 16u * qsize);
	fuzz_fill(vm, &f, FUZZ_QUEUE(0) + FUZZ_AVAIL, 6 + 2u * qsize);
	size_t nbuf = fz_u16(&f);
	fuzz_fill(vm, &f, FUZZ_BUF, nbuf < FUZZ_BUF_LEN ? nbuf : FUZZ_BUF_LEN);
	setup(&q, vm, qsize, flags);
	if (!q.enabled)
		fuzz_fail("a valid layout was refused: %s", vq_check(&q));

	uint64_t avail = q.avail;
	unsigned long popped = 0, pushed = 0;
	while (f.n) {
		uint8_t op = fz_u8(&f);
		const char *why = NULL;
		switch (op % 7) {
		case 0: {       /* take a chain, use it, give it back */
			int r = vq_pop(&q, &chain, &why);
			if (r < 0) {
				if (!why)
					fuzz_fail("vq_pop failed without a reason");
				refused++;
				setup(&q, vm, qsize, flags);   /* what a reset does */
				break;
			}
			if (r == 0)
				break;
			popped++;
			chains++;
			uint8_t d[16];
			mem_read(&vm->mem, q.desc + 16ull * chain.head, d, sizeof(d));
			indirect_chains += (d[12] & VIRTQ_DESC_F_INDIRECT) != 0;
			if (chain.head >= q.size)
				fuzz_fail("head %u of a %u-entry queue", chain.head, q.size);
			check_chain(&chain, &vm->mem);
			use_chain(&q, &chain, &f);
			if (vq_push(&q, chain.head, fz_u32(&f)))
				fuzz_fail("used ring in RAM but vq_push failed");
			pushed++;
			break;
		}
		case 1:
			vq_need_interrupt(&q);
			break;
		case 2:
			vq_enable_notify(&q);
			break;
		case 3: {       /* the driver makes a chain available */
			uint16_t idx = 0;
			mem_read(&vm->mem, avail + 2, &idx, 2);
			uint16_t head = fz_u16(&f);
			mem_write(&vm->mem, avail + 4 + 2 * (uint64_t)(idx % qsize), &head, 2);
			idx++;
			mem_write(&vm->mem, avail + 2, &idx, 2);
			break;
		}
		case 4: {       /* write anywhere in RAM */
			uint16_t off = fz_u16(&f);
			fuzz_fill(vm, &f, off % FUZZ_RAM, fz_u8(&f) % 17);
			break;
		}
		case 5: {       /* the available index, flags or used_event: any value */
			uint16_t v = fz_u16(&f);
			uint64_t at = op & 0x80 ? avail + 2 : op & 0x40 ? avail : avail + 4 + 2 * (uint64_t)qsize;
			mem_write(&vm->mem, at, &v, 2);
			break;
		}
		case 6:         /* reset */
			setup(&q, vm, qsize, flags);
			break;
		}
	}
	if (pushed != popped)
		fuzz_fail("%lu chains taken, %lu returned", popped, pushed);
	return 0;
}
