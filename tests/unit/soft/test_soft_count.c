/* Software CPU: instructions retired (c->stats.insns, what --stats reports), counted per
 * block by the dispatch loop. Whole blocks, loops, a fault in the middle of a block (the
 * faulting instruction does not count), an exit (the exiting instruction counts), a
 * store into the running block (the block ends early) and a REP run interrupted by the
 * budget (counted once, when it completes). */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "flat_cpu.h"

#define RAM (1u << 16)


/* Run code placed at rip; return the instructions retired by that run. */
static uint64_t run(struct soft_cpu *c, uint8_t *ram, uint64_t rip, const uint8_t *code,
                    size_t len, uint64_t budget, int *ret)
{
	memcpy(ram + rip, code, len);
	soft_code_invalidate(&c->cache, rip, len);
	c->rip = rip;
	uint64_t before = c->stats.insns;
	*ret = soft_run(c, budget);
	return c->stats.insns - before;
}

int main(void)
{
	struct flat_cpu fc;
	if (flat_cpu_new(&fc, RAM))
		return 1;
	uint8_t *ram = fc.ram;
	struct soft_cpu *c = fc.c;
	c->gpr[R_RSP] = 0x8000;
	int r;

	/* mov eax, 1 ; mov ebx, 2 ; add eax, ebx ; int3: three retire, INT3 raises #BP. */
	static const uint8_t straight[] = { 0xb8, 1, 0, 0, 0, 0xbb, 2, 0, 0, 0, 0x01, 0xd8, 0xcc };
	CHECK_EQ(run(c, ram, 0x1000, straight, sizeof(straight), 1u << 20, &r), 3);
	CHECK(r == SOFT_RUN_EXCEPTION && c->fault.vector == 3);

	/* mov ecx, 1000 ; 1: dec ecx ; jnz 1b ; int3: 1 + 2 * 1000 over 1001 block runs. */
	static const uint8_t loop[] = { 0xb9, 0xe8, 0x03, 0, 0, 0xff, 0xc9, 0x75, 0xfc, 0xcc };
	CHECK_EQ(run(c, ram, 0x1100, loop, sizeof(loop), 1u << 20, &r), 2001);
	CHECK(r == SOFT_RUN_EXCEPTION && c->fault.vector == 3);

	/* mov eax, 1 ; mov [0x20000], eax (#PF: outside RAM) ; nop: only the first retires. */
	static const uint8_t fault[] = { 0xb8, 1, 0, 0, 0, 0x89, 0x04, 0x25, 0, 0, 2, 0, 0x90 };
	CHECK_EQ(run(c, ram, 0x1200, fault, sizeof(fault), 1u << 20, &r), 1);
	CHECK(r == SOFT_RUN_EXCEPTION && c->fault.vector == 14 && c->rip == 0x1205);

	/* nop ; nop ; out 0x80, al: the OUT leaves for the engine and counts. */
	static const uint8_t out[] = { 0x90, 0x90, 0xe6, 0x80, 0xcc };
	CHECK_EQ(run(c, ram, 0x1300, out, sizeof(out), 1u << 20, &r), 3);
	CHECK(r == SOFT_RUN_EXIT);
	c->sys.exit_kind = SOFT_EXIT_NONE;

	/* mov byte [rip+1], 0x22 ; mov eax, imm32 ; int3: the store ends the block after
	 * itself, the patched MOV runs from a fresh block; both count once. */
	static const uint8_t smc[] = { 0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x22,
	                               0xb8, 0x11, 0x11, 0x11, 0x11, 0xcc };
	CHECK_EQ(run(c, ram, 0x1400, smc, sizeof(smc), 1u << 20, &r), 2);
	CHECK(r == SOFT_RUN_EXCEPTION && c->fault.vector == 3 && c->gpr[R_RAX] == 0x11111122);

	/* rep stosb over 20000 bytes, run with a budget of 1 until it completes: no count
	 * while it yields, one when it is done, then the int3. */
	static const uint8_t rep[] = { 0xf3, 0xaa, 0xcc };
	c->gpr[R_RDI] = 0x4000;
	c->gpr[R_RCX] = 20000;
	uint64_t n = run(c, ram, 0x1500, rep, sizeof(rep), 1, &r);
	CHECK_EQ(n, 0);
	CHECK(r == SOFT_RUN_BUDGET && c->rip == 0x1500);
	for (int k = 0; k < 1000 && r == SOFT_RUN_BUDGET; k++) {
		uint64_t before = c->stats.insns;
		r = soft_run(c, 1);
		n += c->stats.insns - before;
	}
	CHECK(r == SOFT_RUN_EXCEPTION && c->fault.vector == 3 && c->gpr[R_RCX] == 0);
	CHECK_EQ(n, 1);

	flat_cpu_free(&fc);
	return check_done();
}
