/* Software CPU: REP string instructions over several pages with a cold TLB (each page's
 * first element misses, the rest of the page goes as one run), under both tiers: the
 * memory written and RCX/RSI/RDI/flags after it match what element-by-element execution
 * gives (SDM vol. 2B, REP/REPE/REPNE), for fills of one byte repeated (memset) and of a
 * pattern, for copies, for scans and compares that stop past a page edge, for a count
 * beyond one chunk (the instruction yields and resumes), and for a fault at the end of
 * RAM in the middle of a run (the registers describe the elements done). */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "engine/soft/mmu/mem.h"
#include "flat_cpu.h"

#define RAM (1u << 18)
#define CODE 0x1000
#define FILL 0xaa

struct string_case {
	const char *name;
	uint8_t code[4];
	uint8_t len;
	uint64_t rax, rcx, rsi, rdi;
	uint8_t vector;            /* 3: completed (the int3 after it), 14: #PF */
};

static const struct string_case cases[] = {
	{ "rep stosq, zeros", { 0xf3, 0x48, 0xab }, 3, 0, 1024, 0, 0x2800, 3 },
	{ "rep stosq, a pattern", { 0xf3, 0x48, 0xab }, 3, 0x0102030405060708ull, 1000, 0, 0x2808, 3 },
	{ "rep stosw, one byte repeated, an element across a page edge", { 0xf3, 0x66, 0xab }, 3, 0x4141, 3000, 0, 0x2fff, 3 },
	{ "rep stosd, past one chunk", { 0xf3, 0xab }, 2, 0x11223344, 10000, 0, 0x3004, 3 },
	{ "rep stosb, to the end of RAM", { 0xf3, 0xaa }, 2, 0x5a, 0x3000, 0, RAM - 0x2100, 14 },
	{ "rep movsb, across pages", { 0xf3, 0xa4 }, 2, 0, 0x2345, 0x8123, 0x20ff1, 3 },
	{ "rep movsq, to the end of RAM", { 0xf3, 0x48, 0xa5 }, 3, 0, 0x800, 0x8000, RAM - 0x1808, 14 },
	{ "repne scasb, found on the third page", { 0xf2, 0xae }, 2, 0x77, 0x5000, 0, 0x29f00, 3 },
	{ "repe cmpsb, differing on the third page", { 0xf3, 0xa6 }, 2, 0, 0x5000, 0x30080, 0x38080, 3 },
};

/* Byte k of the source data the copies and compares read. */
static uint8_t pattern(uint64_t k)
{
	return (uint8_t)(k * 7 + (k >> 8));
}

/* The expected memory and registers, one element at a time. */
static void reference(const struct string_case *t, uint8_t *m, uint64_t r[4], bool *zf)
{
	uint8_t opc = t->code[t->len - 1];
	unsigned sz = (opc & 1) == 0 ? 1 : t->code[1] == 0x66 ? 2 : t->code[1] == 0x48 ? 8 : 4;
	uint64_t rax = r[0], *rcx = &r[1], *rsi = &r[2], *rdi = &r[3];
	for (; *rcx; (*rcx)--) {
		if (*rdi + sz > RAM || ((opc == 0xa4 || opc == 0xa5) && *rsi + sz > RAM))
			return;   /* the fault: nothing of this element is done */
		if (opc == 0xaa || opc == 0xab) {
			memcpy(m + *rdi, &rax, sz);
		} else if (opc == 0xa4 || opc == 0xa5) {
			memmove(m + *rdi, m + *rsi, sz);
			*rsi += sz;
		} else if (opc == 0xae) {
			*zf = m[*rdi] == (uint8_t)rax;
		} else {
			*zf = m[*rsi] == m[*rdi];
			(*rsi)++;
		}
		*rdi += sz;
		if ((opc == 0xae && *zf) || (opc == 0xa6 && !*zf)) {
			(*rcx)--;
			return;
		}
	}
}

static void run_cases(struct flat_cpu *fc, const char *tier)
{
	struct soft_cpu *c = fc->c;
	uint8_t *want = malloc(RAM);
	if (!want) {
		CHECK(want);
		return;
	}
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct string_case *t = &cases[k];
		memset(fc->ram, FILL, RAM);
		for (uint64_t b = 0x8000; b < 0x28000 && b < RAM; b++)
			fc->ram[b] = pattern(b);
		fc->ram[0x29f00 + 0x2345] = 0x77;           /* the scan's byte */
		fc->ram[0x38080 + 0x2345] ^= 1;             /* the compare's difference */
		memset(fc->ram + CODE, 0xcc, 16);
		memcpy(fc->ram + CODE, t->code, t->len);
		soft_code_invalidate(&c->cache, CODE, 16);
		soft_tlb_flush(c);
		memcpy(want, fc->ram, RAM);
		uint64_t r[4] = { t->rax, t->rcx, t->rsi, t->rdi };
		bool zf = false;
		reference(t, want, r, &zf);

		c->rip = CODE;
		c->gpr[R_RAX] = t->rax;
		c->gpr[R_RCX] = t->rcx;
		c->gpr[R_RSI] = t->rsi;
		c->gpr[R_RDI] = t->rdi;
		soft_set_rflags(c, 0x2);
		int res = soft_run(c, 100);
		bool ok = res == SOFT_RUN_EXCEPTION && c->fault.vector == t->vector &&
		          c->gpr[R_RCX] == r[1] && c->gpr[R_RSI] == r[2] && c->gpr[R_RDI] == r[3] &&
		          memcmp(fc->ram, want, RAM) == 0;
		if (ok && (t->code[t->len - 1] == 0xae || t->code[t->len - 1] == 0xa6))
			ok = !!(soft_get_rflags(c) & 0x40) == zf;
		if (!ok)
			fprintf(stderr, "%s, %s: run %d vector %u rcx %#llx rsi %#llx rdi %#llx "
			        "(want %#llx %#llx %#llx), memory %s\n", tier, t->name, res,
			        c->fault.vector, (unsigned long long)c->gpr[R_RCX],
			        (unsigned long long)c->gpr[R_RSI], (unsigned long long)c->gpr[R_RDI],
			        (unsigned long long)r[1], (unsigned long long)r[2],
			        (unsigned long long)r[3], memcmp(fc->ram, want, RAM) ? "differs" : "same");
		CHECK(ok);
	}
	free(want);
}

int main(void)
{
	if (flat_cpu_both_tiers(RAM, run_cases))
		return 1;
	return check_done();
}
