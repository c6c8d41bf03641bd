/* Interpreter throughput: run a CPU-bound 64-bit guest loop (ALU work, loads and
 * stores, compares and branches, calls) on the software CPU over flat memory and print
 * guest instructions per second. A benchmark, not a test: it never fails on speed.
 *
 *   interp_mips [--seconds S]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/soft/mmu/flatmem.h"
#include "engine/soft/soft.h"

/* The guest code, assembled by the host toolchain and copied into guest memory (it is
 * position independent). rdi = data (64 KiB), rcx = outer iterations. Ends with int3. */
__asm__(
	".text\n"
	".globl bench_guest\n"
	"bench_guest:\n"
	"1:	xor %eax, %eax\n"
	"	mov %rdi, %r8\n"
	"	mov $1024, %edx\n"
	"2:	mov (%r8), %r9\n"
	"	add %r9, %rax\n"
	"	imul $0x9e37, %r9, %r10\n"
	"	xor %r10, %rax\n"
	"	shr $7, %r10\n"
	"	mov %r10, 8(%r8)\n"
	"	lea 16(%r8), %r8\n"
	"	cmp %rax, %r9\n"
	"	jae 3f\n"
	"	inc %r11\n"
	"3:	movzbl %al, %esi\n"
	"	and $0x3f, %esi\n"
	"	add %rsi, %rbx\n"
	"	test $15, %dl\n"
	"	jnz 4f\n"
	"	call 5f\n"
	"4:	sub $1, %edx\n"
	"	jnz 2b\n"
	"	dec %rcx\n"
	"	jnz 1b\n"
	"	int3\n"
	"5:	push %rbx\n"
	"	rol $5, %rbx\n"
	"	sbb %r12, %r13\n"
	"	setc %r14b\n"
	"	pop %rbx\n"
	"	ret\n"
	".globl bench_guest_end\n"
	"bench_guest_end:\n");
extern const uint8_t bench_guest[], bench_guest_end[];

#define RAM_SIZE (1u << 20)
#define CODE_GPA 0x1000
#define DATA_GPA 0x10000
#define STACK_TOP 0xf0000


static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = 3;
	if (argc == 3 && !strcmp(argv[1], "--seconds"))
		seconds = atof(argv[2]);

	uint8_t *ram = calloc(1, RAM_SIZE);
	struct soft_flatmem flat = { ram, RAM_SIZE };
	struct soft_cpu *c = calloc(1, sizeof(*c));
	if (!ram || !c || soft_cpu_init(c, &soft_flat_ops, &flat)) {
		fprintf(stderr, "interp_mips: out of memory\n");
		return 1;
	}
	memcpy(ram + CODE_GPA, bench_guest, (size_t)(bench_guest_end - bench_guest));
	for (unsigned k = 0; k < 0x10000; k++)
		ram[DATA_GPA + k] = (uint8_t)(k * 131 + 7);

	uint64_t insns = 0;
	double t0 = now(), t;
	do {
		c->rip = CODE_GPA;
		c->gpr[R_RDI] = DATA_GPA;
		c->gpr[R_RCX] = 50;
		c->gpr[R_RSP] = STACK_TOP;
		uint64_t before = c->stats.insns;
		int r = soft_run(c, UINT64_MAX);
		if (r != SOFT_RUN_EXCEPTION || c->fault.vector != 3) {
			fprintf(stderr, "interp_mips: guest stopped unexpectedly (%d, vector %u at %#" PRIx64 ")\n",
			        r, c->fault.vector, c->rip);
			return 1;
		}
		insns += c->stats.insns - before;
		t = now();
	} while (t - t0 < seconds);

	printf("interp_mips: %" PRIu64 " guest instructions in %.2fs: %.1f MIPS"
	       " (%" PRIu64 " blocks decoded, %" PRIu64 " #UD)\n",
	       insns, t - t0, (double)insns / (t - t0) / 1e6, c->stats.blocks_decoded, c->stats.ud);
	soft_cpu_destroy(c);
	free(c);
	free(ram);
	return 0;
}
