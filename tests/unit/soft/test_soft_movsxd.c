/* Software CPU: MOVSXD at each operand size (SDM vol. 2B, MOVSX/MOVSXD). 66 63 /r is
 * MOVSXD r16, r/m16: it reads a word, so a word at the very end of memory loads without
 * a fault, where Zydis describes a dword operand. 63 /r moves a dword (zero-extended into
 * the 64-bit register), REX.W 63 /r sign-extends it. Under both tiers. */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "flat_cpu.h"

#define RAM (1u << 16)
#define CODE 0x1000

struct movsxd_case {
	const char *name;
	uint8_t code[4];
	uint8_t len;
	uint64_t rbx;           /* the memory operand's address ([rbx]) */
	uint32_t mem;           /* the dword stored at RAM - 4 */
	uint64_t rax, rcx;      /* inputs */
	uint8_t vector;         /* 3: completed (the int3 after it), 14: #PF */
	uint64_t want_rax;
};

static const struct movsxd_case cases[] = {
	{ "movsxd ax, [rbx] (last word of memory)", { 0x66, 0x63, 0x03 }, 3, RAM - 2,
	  0x8765abcd, 0xdeadbeefdeadbeefull, 0, 3, 0xdeadbeefdead8765ull },
	{ "movsxd ax, [rbx] (word crossing the end)", { 0x66, 0x63, 0x03 }, 3, RAM - 1,
	  0x8765abcd, 0xdeadbeefdeadbeefull, 0, 14, 0xdeadbeefdeadbeefull },
	{ "movsxd ax, cx", { 0x66, 0x63, 0xc1 }, 3, 0, 0, 0xdeadbeefdeadbeefull, 0x12348765,
	  3, 0xdeadbeefdead8765ull },
	{ "movsxd eax, [rbx]", { 0x63, 0x03 }, 2, RAM - 4, 0x80000001,
	  0xdeadbeefdeadbeefull, 0, 3, 0x80000001ull },
	{ "movsxd rax, [rbx]", { 0x48, 0x63, 0x03 }, 3, RAM - 4, 0x80000001, 0, 0, 3,
	  0xffffffff80000001ull },
	{ "movsxd rax, ecx", { 0x48, 0x63, 0xc1 }, 3, 0, 0, 0, 0xffffffff7fffffffull, 3,
	  0x7fffffffull },
};

static void run_cases(struct flat_cpu *fc, const char *tier)
{
	struct soft_cpu *c = fc->c;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct movsxd_case *t = &cases[k];
		memset(fc->ram + CODE, 0xcc, 16);
		memcpy(fc->ram + CODE, t->code, t->len);
		soft_code_invalidate(&c->cache, CODE, 16);
		memcpy(fc->ram + RAM - 4, &t->mem, 4);
		c->rip = CODE;
		c->gpr[R_RAX] = t->rax;
		c->gpr[R_RBX] = t->rbx;
		c->gpr[R_RCX] = t->rcx;
		int r = soft_run(c, 16);
		bool ok = r == SOFT_RUN_EXCEPTION && c->fault.vector == t->vector &&
		          c->gpr[R_RAX] == t->want_rax &&
		          (t->vector != 14 || c->fault.cr2 == RAM);
		if (!ok)
			fprintf(stderr, "%s, %s: run %d vector %u cr2 %#llx rax %#llx\n", tier, t->name,
			        r, c->fault.vector, (unsigned long long)c->fault.cr2,
			        (unsigned long long)c->gpr[R_RAX]);
		CHECK(ok);
	}
}

int main(void)
{
	if (flat_cpu_both_tiers(RAM, run_cases))
		return 1;
	return check_done();
}
