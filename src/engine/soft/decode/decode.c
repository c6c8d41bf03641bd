/* Block decoding: fetch guest code (a page at a time, a second page only when an
 * instruction crosses into it), decode with Zydis, lower each instruction, and collect
 * straight-line code into a block for the cache. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/soft/block.h"
#include "engine/soft/decode/lower.h"
#include "engine/soft/mmu/mem.h"
#include "engine/soft/interp/ops.h"

static void copy_code(struct soft_cpu *c, uint64_t pa, const uint8_t *host, uint8_t *dst, unsigned n)
{
	if (host) {
		memcpy(dst, host, n);
		return;
	}
	for (unsigned k = 0; k < n; k++) /* code in MMIO (a ROM device): byte by byte */
		c->mem.ops->io_read(c->mem.opaque, pa + k, dst + k, 1);
}

int soft_decode_block(struct soft_cpu *c, uint64_t la, uint64_t pa, uint8_t *host,
                      unsigned max, struct sblock **out)
{
	struct sinsn tmp[SOFT_BLOCK_MAX];
	unsigned n = 0, mode = c->sys.mode;
	const ZydisDecoder *dec = mode == SOFT_MODE64 ? &c->cache.dec64
	                        : mode == SOFT_MODE32 ? &c->cache.dec32 : &c->cache.dec16;
	uint64_t pa2 = SOFT_NO_PAGE, off = 0;

	if (max > SOFT_BLOCK_MAX)
		max = SOFT_BLOCK_MAX;
	while (n < max) {
		uint64_t cur = la + off;
		unsigned in_page = 0x1000 - (unsigned)(cur & 0xfff);
		unsigned nb = in_page < ZYDIS_MAX_INSTRUCTION_LENGTH ? in_page : ZYDIS_MAX_INSTRUCTION_LENGTH;
		uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
		ZydisDecodedInstruction zi;
		ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];

		copy_code(c, pa + off, host ? host + off : NULL, buf, nb);
		ZyanStatus st = ZydisDecoderDecodeFull(dec, buf, nb, &zi, zo);
		if (st == ZYDIS_STATUS_NO_MORE_DATA && nb < ZYDIS_MAX_INSTRUCTION_LENGTH) {
			/* The instruction continues on the next page: fetch it only now. */
			uint64_t nla = cur + nb, npa;
			uint8_t *nh;
			struct soft_fault f = {0};
			int bad = !canonical(nla);
			if (bad) {
				f.vector = VEC_GP;
				f.has_err = true;
			} else {
				bad = c->mem.ops->translate(c->mem.opaque, nla, SOFT_ACC_FETCH, c->cpl,
				                            &npa, &nh, &f) < 0;
			}
			if (bad) {
				if (n == 0) {
					c->fault = f;
					return SOFT_EXC;
				}
				break; /* end the block before it; fault when it is reached */
			}
			copy_code(c, npa, nh, buf + nb, ZYDIS_MAX_INSTRUCTION_LENGTH - nb);
			st = ZydisDecoderDecodeFull(dec, buf, ZYDIS_MAX_INSTRUCTION_LENGTH, &zi, zo);
			pa2 = npa & ~0xfffull;
		}
		struct sinsn *s = &tmp[n];
		bool ends = true;
		if (ZYAN_SUCCESS(st)) {
			soft_zydis_fixup(&zi, zo);
			soft_lower(&zi, zo, s, &ends);
		} else {
			memset(s, 0, sizeof(*s));
			s->fn = st == ZYDIS_STATUS_INSTRUCTION_TOO_LONG ? h_too_long : h_ud;
			s->kind = K_UD;
			s->len = 1;
		}
		soft_classify(s, ends);
		/* Outside 64-bit mode every byte of an instruction must lie within CS's limit
		 * (SDM vol. 3A 5.3): #GP(0) when it is reached, so the block ends before it. */
		if (mode != SOFT_MODE64 && c->rip + off + s->len - 1 > c->sys.seg[S_CS].limit) {
			if (n == 0)
				return raise_exc(c, VEC_GP, true, 0);
			break;
		}
		n++;
		off += s->len;
		if (ends || pa2 != SOFT_NO_PAGE || ((la + off) & 0xfff) == 0)
			break;
	}
	if (n == 0) {
		/* Only possible if the very first fetch broke out: cannot happen (handled above). */
		return raise_exc(c, VEC_UD, false, 0);
	}
	struct sblock *b = malloc(sizeof(*b) + n * sizeof(struct sinsn));
	if (!b)
		return -ENOMEM;
	memset(b, 0, sizeof(*b));
	b->pa = pa;
	b->pa2 = pa2;
	b->la = la;
	b->mode = (uint8_t)mode;
	b->n = n;
	b->bytes = (uint32_t)off;
	memcpy(b->ins, tmp, n * sizeof(struct sinsn));
	*out = b;
	return SOFT_OK;
}
