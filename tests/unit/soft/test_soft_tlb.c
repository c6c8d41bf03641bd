/* Software CPU: the TLB's victims. Pages SOFT_TLB_SIZE pages apart share a slot of each
 * array; the entry a fill pushes out waits among its array's victims, where the next
 * miss finds it without walking the page tables (counted here: the memory's translate
 * calls), and every invalidation reaches it: INVLPG, a MOV CR3 flush of the non-global
 * entries, a full flush, a page becoming code (its write entries). */
#include <stdlib.h>

#include "../check.h"
#include "engine/soft/mmu/mem.h"
#include "flat_cpu.h"

#define RAM (48u << 20)   /* A + 11 strides */
#define A 0x100000ull
#define STRIDE ((uint64_t)SOFT_TLB_SIZE << 12)   /* the same slot */

static unsigned walks;

static int counting_translate(void *opaque, uint64_t la, enum soft_acc acc, unsigned cpl,
                              uint64_t *pa, uint8_t **host, struct soft_fault *f)
{
	walks++;
	return soft_flat_translate(opaque, la, acc, cpl, pa, host, f);
}

static const struct soft_mem_ops counting_ops = {
	counting_translate, soft_flat_io_read, soft_flat_io_write
};

static uint64_t rd(struct soft_cpu *c, uint64_t la)
{
	uint64_t v = 0;
	CHECK_EQ(mem_read(c, la, 8, &v, 0), SOFT_OK);
	return v;
}

int main(void)
{
	struct flat_cpu f;
	if (flat_cpu_new(&f, RAM) != 0)
		return 1;
	struct soft_cpu *c = f.c;
	c->mem.ops = &counting_ops;
	uint64_t b = A + STRIDE, far = A + 2 * STRIDE;
	for (unsigned k = 0; k < 3; k++)
		memcpy(f.ram + A + k * STRIDE, &(uint64_t){ 0x1111 * (k + 1) }, 8);

	/* Reads: A, B (A to the victims), then A and B again from the victims. */
	CHECK_EQ(rd(c, A), 0x1111);
	CHECK_EQ(rd(c, b), 0x2222);
	CHECK_EQ(walks, 2);
	for (unsigned k = 0; k < 4; k++) {
		CHECK_EQ(rd(c, A), 0x1111);
		CHECK_EQ(rd(c, b), 0x2222);
	}
	CHECK_EQ(walks, 2);

	/* Writes, through the write array's own victims. */
	CHECK_EQ(mem_write(c, A, 8, 0xaaaa, 0), SOFT_OK);
	CHECK_EQ(mem_write(c, b, 8, 0xbbbb, 0), SOFT_OK);
	CHECK_EQ(mem_write(c, A, 8, 0xaaab, 0), SOFT_OK);
	CHECK_EQ(walks, 4);
	CHECK_EQ(rd(c, A), 0xaaab);
	CHECK_EQ(rd(c, b), 0xbbbb);
	CHECK_EQ(walks, 4);

	/* INVLPG of a page among the victims: the next read walks. */
	rd(c, far);                                  /* B to the victims, beside A */
	CHECK_EQ(walks, 5);
	soft_tlb_flush_page(c, b);
	CHECK_EQ(rd(c, b), 0xbbbb);
	CHECK_EQ(walks, 6);
	CHECK_EQ(rd(c, A), 0xaaab);                  /* still a victim */
	CHECK_EQ(walks, 6);

	/* The page became code: its write entry goes, victim or not. A is the write
	 * array's victim now (B was written last). */
	soft_tlb_drop_write_pa(c, A);
	CHECK_EQ(mem_write(c, A, 8, 0xaaac, 0), SOFT_OK);
	CHECK_EQ(walks, 7);

	/* MOV CR3 (these flat translations are not global) and a full flush. */
	soft_tlb_flush_nonglobal(c);
	rd(c, A);
	rd(c, b);
	CHECK_EQ(walks, 9);
	soft_tlb_flush(c);
	rd(c, b);
	rd(c, A);
	CHECK_EQ(walks, 11);

	/* More pages on one slot than there are victims: each round walks again for the
	 * ones pushed out longest ago, and every value read is still right. */
	enum { N = SOFT_TLB_VICTIMS + 3 };
	_Static_assert(A + N * STRIDE <= RAM, "RAM holds them");
	for (unsigned k = 0; k < N; k++)
		memcpy(f.ram + A + k * STRIDE, &(uint64_t){ k }, 8);
	soft_tlb_flush(c);
	unsigned before = walks;
	for (unsigned round = 0; round < 3; round++)
		for (unsigned k = 0; k < N; k++)
			CHECK_EQ(rd(c, A + k * STRIDE), k);
	CHECK_EQ(walks - before, 3 * N);       /* a cycle longer than slot + victims: all walk */

	flat_cpu_free(&f);
	return check_done();
}
