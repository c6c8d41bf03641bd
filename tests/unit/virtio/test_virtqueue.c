/* Split virtqueues with fabricated rings in guest RAM: valid chains (direct, indirect,
 * split buffers, zero-length descriptors), every way a hostile driver can break them
 * (loops, out-of-range indexes, buffers outside RAM, overflowing lengths, index jumps,
 * bad indirect tables, order violations), index wrap-around, interrupt suppression
 * (flags and EVENT_IDX), and the virtio core's NEEDS_RESET handling. */
#include "vtest.h"

#include "hw/virtio/virtio.h"

#define RAM   (16 * MiB)
#define RING  0x10000        /* rings */
#define BUF   0x100000       /* buffers */
#define TBL   0x200000       /* indirect tables */

static struct vm *vm;
static struct ring r;
static struct virtq q;
static struct vq_chain c;

static void fresh(uint16_t size)
{
	ring_init(&r, vm, RING, size);
	ring_queue(&r, &q, &vm->mem);
}

static int pop(const char **why)
{
	*why = NULL;
	return vq_pop(&q, &c, why);
}

static void test_valid(void)
{
	const char *why;
	fresh(8);
	CHECK(vq_check(&q) == NULL);
	CHECK_EQ(pop(&why), 0);                    /* empty */

	/* header (16, readable) -> data split in 3 (readable) -> status (writable) */
	desc(&r, 3, BUF, 16, VIRTQ_DESC_F_NEXT, 5);
	desc(&r, 5, BUF + 0x100, 10, VIRTQ_DESC_F_NEXT, 0);
	desc(&r, 0, BUF + 0x200, 0, VIRTQ_DESC_F_NEXT, 1);      /* zero length: skipped */
	desc(&r, 1, BUF + 0x300, 6, VIRTQ_DESC_F_NEXT, 7);
	desc(&r, 7, BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	for (unsigned i = 0; i < 16; i++)
		poke(vm, BUF + i, i, 1);
	for (unsigned i = 0; i < 10; i++)
		poke(vm, BUF + 0x100 + i, 0x10 + i, 1);
	for (unsigned i = 0; i < 6; i++)
		poke(vm, BUF + 0x300 + i, 0x1a + i, 1);
	avail_add(&r, 3);

	CHECK_EQ(pop(&why), 1);
	CHECK_EQ(c.head, 3);
	CHECK_EQ(c.nr, 3);
	CHECK_EQ(c.nw, 1);
	CHECK_EQ(c.rlen, 32);
	CHECK_EQ(c.wlen, 1);
	uint8_t buf[40];
	CHECK_EQ(vq_chain_read(&c, &vm->mem, 0, buf, 40), 32);     /* stops at the part's end */
	for (unsigned i = 0; i < 32; i++)
		CHECK_EQ(buf[i], i);
	CHECK_EQ(vq_chain_read(&c, &vm->mem, 14, buf, 4), 4);      /* across segments */
	CHECK_EQ(buf[0], 14);
	CHECK_EQ(buf[3], 17);
	uint8_t st = 0x77;
	CHECK_EQ(vq_chain_write(&c, &vm->mem, 0, &st, 1), 1);
	CHECK_EQ(peek(vm, BUF + 0x400, 1), 0x77);
	CHECK_EQ(vq_chain_write(&c, &vm->mem, 1, &st, 1), 0);      /* past the writable part */

	struct iovec iov[4];
	CHECK_EQ(vq_chain_iov(&c, &vm->mem, false, 10, 20, iov, 4), 3);
	CHECK_EQ(iov[0].iov_len, 6);
	CHECK_EQ(iov[1].iov_len, 10);
	CHECK_EQ(iov[2].iov_len, 4);
	CHECK_EQ(((uint8_t *)iov[2].iov_base)[0], 0x1a);
	CHECK_EQ(vq_chain_iov(&c, &vm->mem, false, 10, 23, iov, 4), -1);  /* beyond the part */
	CHECK_EQ(vq_chain_iov(&c, &vm->mem, false, 0, 32, iov, 2), -1);   /* too many iovecs */

	CHECK_EQ(vq_push(&q, c.head, 1), 0);
	CHECK_EQ(used_idx(&r), 1);
	uint32_t id, len;
	used_elem(&r, 0, &id, &len);
	CHECK_EQ(id, 3);
	CHECK_EQ(len, 1);
	CHECK_EQ(pop(&why), 0);
}

/* The chain at head 0 is broken some way: pop refuses it with a reason. */
static void expect_broken(const char *what, const char *reason)
{
	const char *why;
	avail_add(&r, 0);
	int res = pop(&why);
	CHECK_EQ(res, -1);
	if (res != -1 || !why || !strstr(why, reason))
		fprintf(stderr, "  %s: got %d (%s), want '%s'\n", what, res, why ? why : "-", reason);
}

static void test_hostile(void)
{
	const char *why;

	fresh(8);
	desc(&r, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(&r, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);             /* 0 -> 1 -> 0 -> ... */
	expect_broken("loop", "loops");

	fresh(8);
	desc(&r, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 0);             /* a self loop */
	expect_broken("self loop", "loops");

	fresh(8);
	desc(&r, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 8);
	expect_broken("next out of range", "out of range");

	fresh(8);
	poke(vm, r.avail + 4, 300, 2);
	poke(vm, r.avail + 2, 1, 2);
	CHECK_EQ(pop(&why), -1);
	CHECK(why && strstr(why, "head out of range"));

	fresh(8);
	desc(&r, 0, RAM - 8, 16, 0, 0);                         /* straddles the end of RAM */
	expect_broken("buffer past RAM", "not in RAM");

	fresh(8);
	desc(&r, 0, UINT64_MAX - 7, 16, 0, 0);                  /* addr + len wraps */
	expect_broken("wrapping buffer", "not in RAM");

	fresh(8);
	desc(&r, 0, 0, 0xffffffffu, 0, 0);                      /* 4 GiB in a 16 MiB guest */
	expect_broken("oversize length", "not in RAM");

	fresh(8);
	desc(&r, 0, MEM_HOLE_START, 16, 0, 0);                  /* MMIO hole */
	expect_broken("buffer in the hole", "not in RAM");

	fresh(8);
	desc(&r, 0, BUF, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(&r, 1, BUF, 16, 0, 0);
	expect_broken("readable after writable", "after a device-writable");

	fresh(8);
	poke(vm, r.avail + 2, 9, 2);                           /* 9 new entries in a queue of 8 */
	CHECK_EQ(pop(&why), -1);
	CHECK(why && strstr(why, "more than the queue size"));

	/* Rings themselves outside RAM. */
	fresh(8);
	q.avail = RAM - 2;
	CHECK_EQ(pop(&why), -1);
	fresh(8);
	q.desc = RAM - 16;
	avail_add(&r, 1);
	CHECK_EQ(pop(&why), -1);
	CHECK(why && strstr(why, "descriptor not in RAM"));
	fresh(8);
	q.used = RAM - 4;
	CHECK_EQ(vq_push(&q, 0, 0), -1);

	/* vq_check: what a queue_enable refuses. */
	fresh(8);
	q.size = 6;
	CHECK(vq_check(&q) != NULL);
	q.size = 16;                                            /* above the maximum */
	CHECK(vq_check(&q) != NULL);
	q.size = 0;
	CHECK(vq_check(&q) != NULL);
	fresh(8);
	q.desc = RING + 8;
	CHECK(vq_check(&q) != NULL);
	fresh(8);
	q.used = RAM - 16;
	CHECK(vq_check(&q) != NULL);
	fresh(8);
	q.avail = UINT64_MAX - 4;
	CHECK(vq_check(&q) != NULL);
}

static void test_indirect(void)
{
	const char *why;

	fresh(8);
	q.indirect = true;
	/* direct header -> indirect table of 3: data, data, status */
	desc(&r, 2, BUF, 16, VIRTQ_DESC_F_NEXT, 4);
	desc(&r, 4, TBL, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	idesc(vm, TBL, 0, BUF + 0x100, 512, VIRTQ_DESC_F_NEXT, 2);
	idesc(vm, TBL, 2, BUF + 0x400, 512, VIRTQ_DESC_F_NEXT, 1);
	idesc(vm, TBL, 1, BUF + 0x800, 1, VIRTQ_DESC_F_WRITE, 0);
	avail_add(&r, 2);
	CHECK_EQ(pop(&why), 1);
	CHECK_EQ(c.head, 2);
	CHECK_EQ(c.nr, 3);
	CHECK_EQ(c.nw, 1);
	CHECK_EQ(c.rlen, 16 + 1024);
	CHECK_EQ(c.seg[2].gpa, BUF + 0x400);

	fresh(8);                                               /* not negotiated */
	desc(&r, 0, TBL, 16, VIRTQ_DESC_F_INDIRECT, 0);
	idesc(vm, TBL, 0, BUF, 16, 0, 0);
	expect_broken("indirect not negotiated", "INDIRECT_DESC");

	fresh(8);
	q.indirect = true;
	desc(&r, 0, TBL, 16, VIRTQ_DESC_F_INDIRECT, 0);
	idesc(vm, TBL, 0, TBL + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_broken("nested indirect", "inside an indirect");

	fresh(8);
	q.indirect = true;
	desc(&r, 0, TBL, 24, VIRTQ_DESC_F_INDIRECT, 0);
	expect_broken("indirect length", "indirect table length");

	fresh(8);
	q.indirect = true;
	desc(&r, 0, TBL, 0, VIRTQ_DESC_F_INDIRECT, 0);
	expect_broken("empty indirect", "indirect table length");

	fresh(8);
	q.indirect = true;
	desc(&r, 0, TBL, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	expect_broken("indirect with next", "with NEXT");

	fresh(8);
	q.indirect = true;
	desc(&r, 0, RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_broken("indirect table past RAM", "indirect table not in RAM");

	fresh(8);
	q.indirect = true;
	desc(&r, 0, TBL, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	idesc(vm, TBL, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	idesc(vm, TBL, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);      /* loop inside the table */
	expect_broken("indirect loop", "loops");

	fresh(8);
	q.indirect = true;
	desc(&r, 0, TBL, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	idesc(vm, TBL, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 2);      /* beyond the table's 2 */
	expect_broken("indirect next out of range", "out of range");

	/* A table as long as allowed plus one direct descriptor: longer than any queue. */
	fresh(8);
	q.indirect = true;
	desc(&r, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(&r, 1, TBL, VIRTQ_MAX_SIZE * 16, VIRTQ_DESC_F_INDIRECT, 0);
	for (unsigned i = 0; i < VIRTQ_MAX_SIZE; i++)
		idesc(vm, TBL, (uint16_t)i, BUF, 16, i + 1 < VIRTQ_MAX_SIZE ? VIRTQ_DESC_F_NEXT : 0,
		      (uint16_t)(i + 1));
	expect_broken("chain too long", "longer than the queue");
}

/* Free-running 16-bit indexes wrap: start both sides just below 65536. */
static void test_wrap(void)
{
	const char *why;
	fresh(4);
	r.avail_idx = 65534;
	poke(vm, r.avail + 2, r.avail_idx, 2);
	q.last_avail = 65534;
	q.used_idx = 65534;
	for (uint16_t i = 0; i < 4; i++)
		desc(&r, i, BUF + 0x100 * i, 8, VIRTQ_DESC_F_WRITE, 0);
	for (unsigned round = 0; round < 3; round++) {
		for (uint16_t i = 0; i < 4; i++)
			avail_add(&r, (uint16_t)((i + round) % 4));
		for (uint16_t i = 0; i < 4; i++) {
			CHECK_EQ(pop(&why), 1);
			CHECK_EQ(c.head, (i + round) % 4);
			CHECK_EQ(vq_push(&q, c.head, 8), 0);
		}
		CHECK_EQ(pop(&why), 0);
	}
	CHECK_EQ(q.last_avail, (uint16_t)(65534 + 12));
	CHECK_EQ(used_idx(&r), (uint16_t)(65534 + 12));
	uint32_t id, len;
	used_elem(&r, (uint16_t)(65534 + 11), &id, &len);
	CHECK_EQ(id, (3 + 2) % 4);                     /* round 2, entry 3 */
}

static void test_suppression(void)
{
	fresh(8);
	desc(&r, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
	CHECK_EQ(vq_push(&q, 0, 0), 0);
	CHECK(vq_need_interrupt(&q));
	poke(vm, r.avail, VIRTQ_AVAIL_F_NO_INTERRUPT, 2);
	CHECK(!vq_need_interrupt(&q));
	CHECK(!vq_enable_notify(&q));                  /* no EVENT_IDX: nothing to do */

	/* EVENT_IDX: interrupt only when used_idx passes used_event. */
	fresh(8);
	q.event_idx = true;
	uint64_t used_event = r.avail + 4 + 2 * 8, avail_event = r.used + 4 + 8 * 8;
	poke(vm, used_event, 2, 2);                     /* "interrupt me after entry 2" */
	CHECK_EQ(vq_push(&q, 0, 0), 0);                 /* used_idx 1 */
	CHECK(vq_need_interrupt(&q));                   /* the first one always */
	CHECK_EQ(vq_push(&q, 0, 0), 0);                 /* 2 */
	CHECK(!vq_need_interrupt(&q));
	CHECK_EQ(vq_push(&q, 0, 0), 0);                 /* 3: passes used_event = 2 */
	CHECK(vq_need_interrupt(&q));
	CHECK_EQ(vq_push(&q, 0, 0), 0);
	CHECK(!vq_need_interrupt(&q));
	/* avail_event published at last_avail; reports chains that arrived meanwhile. */
	q.last_avail = 5;
	r.avail_idx = 5;
	poke(vm, r.avail + 2, 5, 2);
	CHECK(!vq_enable_notify(&q));
	CHECK_EQ(peek(vm, avail_event, 2), 5);
	avail_add(&r, 0);
	CHECK(vq_enable_notify(&q));
}

/* The core: requests processed through a handler, interrupts, NEEDS_RESET. */
static int interrupts[2];     /* [0] queue, [1] config */
static void on_interrupt(void *t, int qi)
{
	interrupts[qi < 0]++;
}

static int64_t echo_request(struct virtio_dev *v, struct virtq *vq, struct vq_chain *ch)
{
	uint8_t b = 0x42;
	return (int64_t)vq_chain_write(ch, vq->mem, 0, &b, 1);
}

static void echo_notify(struct virtio_dev *v, unsigned qi)
{
	virtio_process_queue(v, qi, echo_request);
}

static const struct virtio_dev_ops echo_ops = { .queue_notify = echo_notify };

static void test_core(void)
{
	struct virtio_dev *v = calloc(1, sizeof(*v));
	virtio_init(v, vm, "echo", 99, 1ull << VIRTIO_F_EVENT_IDX, 1, 8, &echo_ops, NULL);
	v->interrupt = on_interrupt;
	ring_init(&r, vm, RING, 8);

	/* Feature negotiation: no VERSION_1, or an unoffered bit: FEATURES_OK stays clear. */
	virtio_set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(v, 0, 1u << VIRTIO_F_EVENT_IDX);
	virtio_set_status(v, v->status | VIRTIO_STATUS_FEATURES_OK);
	CHECK(!(v->status & VIRTIO_STATUS_FEATURES_OK));
	virtio_set_driver_features(v, 1, 1u | 1u << 5);        /* VERSION_1 + an unoffered bit */
	virtio_set_status(v, v->status | VIRTIO_STATUS_FEATURES_OK);
	CHECK(!(v->status & VIRTIO_STATUS_FEATURES_OK));
	virtio_set_driver_features(v, 1, 1u);
	virtio_set_status(v, v->status | VIRTIO_STATUS_FEATURES_OK);
	CHECK(v->status & VIRTIO_STATUS_FEATURES_OK);
	virtio_set_driver_features(v, 0, 0);                   /* too late: ignored */
	CHECK(virtio_has_feature(v, VIRTIO_F_EVENT_IDX));

	/* A bad ring layout at enable: needs reset, queue stays off. */
	virtio_queue_set_addr(v, 0, RAM - 64, r.avail, r.used);
	virtio_queue_enable(v, 0);
	CHECK(!v->vqs[0].enabled);
	CHECK(v->status & VIRTIO_STATUS_NEEDS_RESET);
	virtio_set_status(v, 0);                               /* reset */
	CHECK_EQ(v->status, 0);
	CHECK_EQ(v->driver_features, 0);

	virtio_set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(v, 1, 1u);
	virtio_set_status(v, v->status | VIRTIO_STATUS_FEATURES_OK);
	virtio_queue_set_addr(v, 0, r.desc, r.avail, r.used);
	virtio_queue_enable(v, 0);
	CHECK(v->vqs[0].enabled);
	virtio_queue_notify(v, 0);                             /* before DRIVER_OK: ignored */
	CHECK_EQ(v->ignored_notifies, 1);
	virtio_set_status(v, v->status | VIRTIO_STATUS_DRIVER_OK);

	desc(&r, 0, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
	desc(&r, 1, BUF + 8, 4, VIRTQ_DESC_F_WRITE, 0);
	avail_add(&r, 0);
	avail_add(&r, 1);
	virtio_queue_notify(v, 0);
	CHECK_EQ(used_idx(&r), 2);
	CHECK_EQ(peek(vm, BUF, 1), 0x42);
	CHECK_EQ(interrupts[0], 1);
	CHECK_EQ(v->isr & 1, 1);
	virtio_queue_notify(v, 5);                             /* no such queue */
	CHECK_EQ(v->ignored_notifies, 2);

	/* A looping chain: the device needs a reset, says so once, then ignores the queue. */
	desc(&r, 2, BUF, 4, VIRTQ_DESC_F_NEXT, 2);
	avail_add(&r, 2);
	virtio_queue_notify(v, 0);
	CHECK(v->status & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(interrupts[1], 1);
	CHECK_EQ(v->isr & 2, 2);
	avail_add(&r, 0);
	virtio_queue_notify(v, 0);
	CHECK_EQ(used_idx(&r), 2);
	CHECK_EQ(interrupts[1], 1);
	virtio_set_status(v, v->status);                       /* the driver cannot clear it */
	CHECK(v->status & VIRTIO_STATUS_NEEDS_RESET);
	virtio_set_status(v, 0);
	CHECK_EQ(v->status, 0);
	CHECK(!v->vqs[0].enabled);
	free(v);
}

/* Random rings (a fixed-seed xorshift): whatever the bytes, a pop either refuses the
 * chain or returns segments wholly in RAM, within the limits; copies stay inside the
 * chain. Under ASan this is also a check that nothing outside RAM is touched. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { return check_xorshift(&rng); }

static void test_random(void)
{
	unsigned ok = 0, refused = 0;
	for (unsigned iter = 0; iter < 3000; iter++) {
		uint16_t size = (uint16_t)(1u << (rnd() % 9));        /* 1..256 */
		fresh(size);
		q.indirect = rnd() & 1;
		q.event_idx = rnd() & 1;
		for (unsigned i = 0; i < size; i++) {
			uint64_t x = rnd();
			/* addresses mostly near the buffers, sometimes anywhere */
			uint64_t addr = x & 1 ? rnd() : BUF + (rnd() % (2 * MiB));
			uint32_t len = x & 2 ? (uint32_t)rnd() : (uint32_t)(rnd() % 8192);
			uint16_t flags = (uint16_t)(rnd() & 7), next = (uint16_t)(rnd() % (size + 2u));
			if ((flags & VIRTQ_DESC_F_INDIRECT) && !(x & 4)) {
				addr = TBL + (rnd() % 64) * 16;
				len = (uint32_t)(rnd() % 20) * 16 + (x & 8 ? 8 : 0);
			}
			desc(&r, (uint16_t)i, addr, len, flags, next);
		}
		uint8_t *t = mem_ptr(&vm->mem, TBL, 4096);
		for (unsigned i = 0; i < 4096; i++)
			t[i] = (uint8_t)rnd();
		for (unsigned i = 0; i < size; i++)
			poke(vm, r.avail + 4 + 2 * i, rnd() % (size + 1u), 2);
		uint16_t start = (uint16_t)rnd();
		q.last_avail = q.used_idx = start;
		poke(vm, r.avail + 2, (uint16_t)(start + rnd() % (size + 2u)), 2);
		for (unsigned n = 0; n < 2u * size + 2; n++) {
			const char *why;
			int res = pop(&why);
			if (res <= 0) {
				refused += res < 0;
				break;
			}
			ok++;
			CHECK(c.nr + c.nw <= VIRTQ_MAX_SIZE);
			for (unsigned i = 0; i < c.nr + c.nw; i++)
				if (!mem_is_ram(&vm->mem, c.seg[i].gpa, c.seg[i].len))
					CHECK(!"segment outside RAM");
			uint8_t tmp[64];
			uint64_t off = c.rlen ? rnd() % c.rlen : 0;
			CHECK(vq_chain_read(&c, &vm->mem, off, tmp, sizeof(tmp)) <= sizeof(tmp));
			if (c.wlen)
				vq_chain_write(&c, &vm->mem, rnd() % c.wlen, tmp, 1 + rnd() % sizeof(tmp));
			CHECK_EQ(vq_push(&q, c.head, (uint32_t)rnd()), 0);
			vq_need_interrupt(&q);
		}
	}
	printf("random rings: %u chains taken, %u refused\n", ok, refused);
	CHECK(ok > 100);
	CHECK(refused > 100);
}

int main(void)
{
	vm = vt_vm(RAM);
	test_valid();
	test_hostile();
	test_indirect();
	test_wrap();
	test_suppression();
	test_core();
	test_random();
	vt_vm_free(vm);
	return check_done();
}
