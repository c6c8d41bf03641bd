/* String instructions MOVS/STOS/LODS/CMPS/SCAS with REP/REPE/REPNE. Each iteration
 * commits on its own (memory, then RSI/RDI/RCX), so a fault in iteration k leaves the
 * registers describing k-1 finished iterations and the instruction restarts from there;
 * long REP runs yield every SOFT_REP_CHUNK iterations with the same consistent state. */
#include <string.h>

#include "engine/soft/mmu/mem.h"
#include "engine/soft/interp/ops.h"

#define SOFT_REP_CHUNK 4096

/* Outside 64-bit mode: the same loop with segment checks and 4 GiB wrap (below). */
static int soft_string_legacy(struct soft_cpu *c, const struct sinsn *i);

/* Host address of sz-byte elements at la in the TLB `t` (r or w), and how many whole
 * elements fit before the page ends; 0 on a miss (the element loop then translates,
 * faults or reaches MMIO as usual). */
static unsigned tlb_run(const struct soft_cpu *c, const struct soft_tlb_entry *t, uint64_t la,
                        unsigned sz, uint8_t **host)
{
	const struct soft_tlb_entry *e = &t[(la >> 12) % SOFT_TLB_SIZE];
	if (!tlb_maps(e, c->tlb.mask, la))
		return 0;
	*host = tlb_host(e, la);
	return (0x1000 - (unsigned)(la & 0xfff)) / sz;
}

/* Elements [0, run) of one page-sized run: MOVS/STOS store them all; CMPS/SCAS compare
 * until the REP condition stops them, set the last comparison's flags and return how
 * many were done (*stop: the condition stopped them). */
static uint64_t run_elements(struct soft_cpu *c, const struct sinsn *i, uint8_t *d,
                             const uint8_t *src, uint64_t run, bool *stop)
{
	unsigned sz = i->opsz;
	uint64_t acc = reg_get(c, R_RAX, sz), bytes = run * sz, k = 0, a = 0, b = 0;
	switch (i->op) {
	case STR_STOS:
		/* one byte repeated (zeroing pages, mostly): memset, as for STOSB */
		if (acc == ((acc & 0xff) * 0x0101010101010101ull & sz_mask(sz)))
			memset(d, (int)(acc & 0xff), bytes);
		else
			for (k = 0; k < run; k++)
				store_n(d + k * sz, sz, acc);
		return run;
	case STR_MOVS:
		if (d >= src + bytes || d + bytes <= src || d <= src)
			memmove(d, src, bytes);  /* what forward element copies give when d <= src */
		else
			for (k = 0; k < run; k++) /* overlapping ahead: the pattern repeats */
				store_n(d + k * sz, sz, load_n(src + k * sz, sz));
		return run;
	default: /* CMPS, SCAS */
		while (k < run && !*stop) {
			a = i->op == STR_CMPS ? load_n(src + k * sz, sz) : acc;
			b = load_n(d + k * sz, sz);
			k++;
			*stop = i->rep == REP_E ? a != b : a == b;
		}
		flags_lazy(c, LF_SUB, sz, a, b, (a - b) & sz_mask(sz));
		return k;
	}
}

/* REP string instructions going forward in 64-bit mode, a page-sized run at a time
 * where the operands hit the TLB (RAM; for a destination written, writable and not
 * code: the same pages the element loop would use directly). Each run commits like
 * that many iterations. Returns SOFT_OK (done), or SOFT_YIELD with *n iterations done
 * (the element loop continues: a page edge, a TLB miss, or the chunk limit). */
static int rep_bulk(struct soft_cpu *c, const struct sinsn *i, uint64_t amask, uint64_t src_base,
                    uint64_t dst_base, unsigned *n)
{
	unsigned sz = i->opsz, asz = i->adsz, op = i->op;
	bool has_src = op == STR_MOVS || op == STR_CMPS;
	while (*n < SOFT_REP_CHUNK) {
		uint64_t cnt = c->gpr[R_RCX] & amask;
		if (cnt == 0)
			return SOFT_OK;
		uint64_t di = c->gpr[R_RDI] & amask, si = c->gpr[R_RSI] & amask;
		uint8_t *d = NULL, *src = NULL;
		bool writes = op == STR_MOVS || op == STR_STOS, stop = false;
		uint64_t run = tlb_run(c, writes ? c->tlb.w : c->tlb.r, di + dst_base, sz, &d);
		if (has_src) {
			uint64_t rs = tlb_run(c, c->tlb.r, si + src_base, sz, &src);
			run = rs < run ? rs : run;
		}
		run = run < cnt ? run : cnt;
		if (run > SOFT_REP_CHUNK - *n)
			run = SOFT_REP_CHUNK - *n;
		if (run == 0)
			return SOFT_YIELD;
		uint64_t k = run_elements(c, i, d, src, run, &stop);
		if (has_src)
			reg_set(c, R_RSI, asz, si + k * sz);
		reg_set(c, R_RDI, asz, di + k * sz);
		reg_set(c, R_RCX, asz, cnt - k);
		*n += (unsigned)k;
		if (stop)
			return SOFT_OK;
	}
	return (c->gpr[R_RCX] & amask) == 0 ? SOFT_OK : SOFT_YIELD;
}

int h_string(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz, asz = i->adsz, op = i->op;
	uint64_t amask = sz_mask(asz);
	uint64_t step = (c->rflags & FL_DF) ? (uint64_t)0 - sz : sz;
	uint64_t src_base = c->seg_base[i->seg], dst_base = c->seg_base[S_ES];
	if (__builtin_expect(c->sys.mode != SOFT_MODE64, 0))
		return soft_string_legacy(c, i);
	unsigned src_mf = i->seg == S_SS ? MF_SS : 0;
	bool bulk = i->rep && step == sz && op != STR_LODS;

	for (unsigned n = 0;; n++) {
		if (i->rep) {
			/* Page runs where the TLB has both operands, else one element, which
			 * fills the TLB (a page's first touch: clearing a fresh page misses
			 * once, then goes as one run). */
			if (bulk) {
				int r = rep_bulk(c, i, amask, src_base, dst_base, &n);
				if (r != SOFT_YIELD)
					return r;
			}
			if ((c->gpr[R_RCX] & amask) == 0)
				return SOFT_OK;
			if (n >= SOFT_REP_CHUNK)
				return SOFT_YIELD;
		}
		uint64_t si = c->gpr[R_RSI] & amask, di = c->gpr[R_RDI] & amask, a, b;
		switch (op) {
		case STR_MOVS:
			if (mem_read(c, si + src_base, sz, &a, src_mf) ||
			    mem_write(c, di + dst_base, sz, a, 0))
				return SOFT_EXC;
			reg_set(c, R_RSI, asz, si + step);
			reg_set(c, R_RDI, asz, di + step);
			break;
		case STR_STOS:
			if (mem_write(c, di + dst_base, sz, reg_get(c, R_RAX, sz), 0))
				return SOFT_EXC;
			reg_set(c, R_RDI, asz, di + step);
			break;
		case STR_LODS:
			if (mem_read(c, si + src_base, sz, &a, src_mf))
				return SOFT_EXC;
			reg_set(c, R_RAX, sz, a);
			reg_set(c, R_RSI, asz, si + step);
			break;
		case STR_CMPS:
			if (mem_read(c, si + src_base, sz, &a, src_mf) ||
			    mem_read(c, di + dst_base, sz, &b, 0))
				return SOFT_EXC;
			flags_lazy(c, LF_SUB, sz, a, b, (a - b) & sz_mask(sz));
			reg_set(c, R_RSI, asz, si + step);
			reg_set(c, R_RDI, asz, di + step);
			break;
		default: /* SCAS */
			a = reg_get(c, R_RAX, sz);
			if (mem_read(c, di + dst_base, sz, &b, 0))
				return SOFT_EXC;
			flags_lazy(c, LF_SUB, sz, a, b, (a - b) & sz_mask(sz));
			reg_set(c, R_RDI, asz, di + step);
			break;
		}
		if (!i->rep)
			return SOFT_OK;
		reg_set(c, R_RCX, asz, (c->gpr[R_RCX] - 1) & amask);
		if (op == STR_CMPS || op == STR_SCAS) {
			bool zf = c->lf_res == 0;
			if ((i->rep == REP_E && !zf) || (i->rep == REP_NE && zf))
				return SOFT_OK;
		}
	}
}

static int str_read(struct soft_cpu *c, unsigned seg, uint64_t off, unsigned sz, uint64_t *v)
{
	if ((c->sys.seg_check & (1u << seg)) && soft_seg_check(c, seg, off, sz, false))
		return SOFT_EXC;
	return mem_read(c, (off + c->seg_base[seg]) & c->sys.la_mask, sz, v, seg == S_SS ? MF_SS : 0);
}

static int str_write(struct soft_cpu *c, unsigned seg, uint64_t off, unsigned sz, uint64_t v)
{
	if ((c->sys.seg_check & (1u << seg)) && soft_seg_check(c, seg, off, sz, true))
		return SOFT_EXC;
	return mem_write(c, (off + c->seg_base[seg]) & c->sys.la_mask, sz, v, seg == S_SS ? MF_SS : 0);
}

static int soft_string_legacy(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz, asz = i->adsz, op = i->op, sseg = i->seg;
	uint64_t amask = sz_mask(asz);
	uint64_t step = (c->rflags & FL_DF) ? (uint64_t)0 - sz : sz;

	for (unsigned n = 0;; n++) {
		if (i->rep) {
			if ((c->gpr[R_RCX] & amask) == 0)
				return SOFT_OK;
			if (n == SOFT_REP_CHUNK)
				return SOFT_YIELD;
		}
		uint64_t si = c->gpr[R_RSI] & amask, di = c->gpr[R_RDI] & amask, a, b;
		switch (op) {
		case STR_MOVS:
			if (str_read(c, sseg, si, sz, &a) || str_write(c, S_ES, di, sz, a))
				return SOFT_EXC;
			reg_set(c, R_RSI, asz, si + step);
			reg_set(c, R_RDI, asz, di + step);
			break;
		case STR_STOS:
			if (str_write(c, S_ES, di, sz, reg_get(c, R_RAX, sz)))
				return SOFT_EXC;
			reg_set(c, R_RDI, asz, di + step);
			break;
		case STR_LODS:
			if (str_read(c, sseg, si, sz, &a))
				return SOFT_EXC;
			reg_set(c, R_RAX, sz, a);
			reg_set(c, R_RSI, asz, si + step);
			break;
		case STR_CMPS:
			if (str_read(c, sseg, si, sz, &a) || str_read(c, S_ES, di, sz, &b))
				return SOFT_EXC;
			flags_lazy(c, LF_SUB, sz, a, b, (a - b) & sz_mask(sz));
			reg_set(c, R_RSI, asz, si + step);
			reg_set(c, R_RDI, asz, di + step);
			break;
		default: /* SCAS */
			a = reg_get(c, R_RAX, sz);
			if (str_read(c, S_ES, di, sz, &b))
				return SOFT_EXC;
			flags_lazy(c, LF_SUB, sz, a, b, (a - b) & sz_mask(sz));
			reg_set(c, R_RDI, asz, di + step);
			break;
		}
		if (!i->rep)
			return SOFT_OK;
		reg_set(c, R_RCX, asz, (c->gpr[R_RCX] - 1) & amask);
		if (op == STR_CMPS || op == STR_SCAS) {
			bool zf = c->lf_res == 0;
			if ((i->rep == REP_E && !zf) || (i->rep == REP_NE && zf))
				return SOFT_OK;
		}
	}
}
