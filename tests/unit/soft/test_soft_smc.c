/* Software CPU: decoded-code invalidation and REP restart.
 *  - a store into the running block changes the next instruction (self-modifying code);
 *  - a write from outside (device/DMA) through soft_code_invalidate() is seen;
 *  - a REP STOSB far longer than one REP chunk completes with consistent registers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flat_cpu.h"

#define RAM (1u << 16)


static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
	printf(__VA_ARGS__); printf("\n"); } } while (0)

static int run_to_int3(struct soft_cpu *c, uint64_t rip)
{
	c->rip = rip;
	int r = soft_run(c, 1u << 30);
	return r == SOFT_RUN_EXCEPTION && c->fault.vector == 3 ? 0 : -1;
}

int main(void)
{
	struct flat_cpu fc;
	if (flat_cpu_new(&fc, RAM))
		return 1;
	uint8_t *ram = fc.ram;
	struct soft_cpu *c = fc.c;
	c->gpr[R_RSP] = 0x8000;

	/* mov byte [rip+1], 0x22 ; mov eax, 0x11111111 ; int3 */
	static const uint8_t smc[] = { 0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x22,
	                               0xb8, 0x11, 0x11, 0x11, 0x11, 0xcc };
	memcpy(ram + 0x1000, smc, sizeof(smc));
	CHECK(run_to_int3(c, 0x1000) == 0, "smc: did not reach int3");
	CHECK(c->gpr[R_RAX] == 0x11111122, "smc: eax %#llx, want 0x11111122",
	      (unsigned long long)c->gpr[R_RAX]);
	CHECK(c->stats.code_invalidations >= 1, "smc: no invalidation counted");

	/* The block is cached again; an outside write must be announced to be seen. */
	static const uint8_t plain[] = { 0xb8, 0x33, 0x33, 0x33, 0x33, 0xcc };
	memcpy(ram + 0x2000, plain, sizeof(plain));
	CHECK(run_to_int3(c, 0x2000) == 0 && c->gpr[R_RAX] == 0x33333333, "dma: first run");
	ram[0x2001] = 0x44; /* a device writes guest RAM ... */
	soft_code_invalidate(&c->cache, 0x2001, 1); /* ... and the core's write hook reports it */
	CHECK(run_to_int3(c, 0x2000) == 0 && c->gpr[R_RAX] == 0x33333344, "dma: eax %#llx, want 0x33333344",
	      (unsigned long long)c->gpr[R_RAX]);

	/* rep stosb, 20000 bytes (several REP chunks, restarted after each yield). */
	static const uint8_t rep[] = { 0xf3, 0xaa, 0xcc };
	memcpy(ram + 0x3000, rep, sizeof(rep));
	c->gpr[R_RAX] = 0x5a;
	c->gpr[R_RDI] = 0x4000;
	c->gpr[R_RCX] = 20000;
	CHECK(run_to_int3(c, 0x3000) == 0, "rep: did not reach int3");
	CHECK(c->gpr[R_RCX] == 0 && c->gpr[R_RDI] == 0x4000 + 20000, "rep: rcx %llu rdi %#llx",
	      (unsigned long long)c->gpr[R_RCX], (unsigned long long)c->gpr[R_RDI]);
	int bad = 0;
	for (unsigned k = 0; k < 20000; k++)
		bad |= ram[0x4000 + k] != 0x5a;
	CHECK(!bad, "rep: memory not filled");

	/* A budget smaller than the REP run stops between iterations, at the instruction. */
	c->gpr[R_RDI] = 0x4000;
	c->gpr[R_RCX] = 20000;
	c->rip = 0x3000;
	int r = soft_run(c, 1);
	CHECK(r == SOFT_RUN_BUDGET && c->rip == 0x3000 && c->gpr[R_RCX] > 0 && c->gpr[R_RCX] < 20000 &&
	      c->gpr[R_RDI] - 0x4000 == 20000 - c->gpr[R_RCX], "rep: interrupted state inconsistent");

	flat_cpu_free(&fc);
	printf("test_soft_smc: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
