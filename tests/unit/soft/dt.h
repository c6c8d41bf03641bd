/* Differential tester of the software CPU against the host CPU: shared definitions.
 *
 * Both sides see the same user-mode (CPL 3) address space:
 *   DT_CODE  one page, readable + executable, all int3 (0xCC) except the instruction at
 *            DT_INSN, so any completed instruction ends in a #BP trap;
 *   DT_DATA  DT_DATA_SIZE bytes of read/write data (stack and memory operands), with
 *            unmapped guard pages on both sides;
 *   nothing else (the native child's own mappings are never targeted on purpose).
 * A case runs until the first exception; both sides report that exception and the
 * registers, flags and data at that point. */
#ifndef TRIVISOR_DT_H
#define TRIVISOR_DT_H

#include <stdint.h>

#define DT_CODE ((uint64_t)0x10000000)
#define DT_INSN (DT_CODE + 0x800)
#define DT_DATA ((uint64_t)0x10100000)
#define DT_DATA_SIZE 0x2000u
#define DT_SLOT ((uint64_t)0x10300000)   /* native only: the trampoline's jump target */
#define DT_BATCH 64

struct dt_regs {
	uint64_t gpr[16];   /* R_RAX.. order (core/cpu_state.h) */
	uint64_t rip, rflags;
};

/* x87/MMX/SSE state: a 512-byte FXSAVE image (64-bit layout). */
struct dt_fpu {
	uint8_t fx[512];
} __attribute__((aligned(16)));

struct dt_case {
	uint8_t code[16];
	uint8_t len;
	struct dt_regs in;
	struct dt_fpu fin;
	uint8_t mem[DT_DATA_SIZE];
};

struct dt_result {
	struct dt_regs r;
	struct dt_fpu f;
	uint32_t vector, err;
	uint64_t cr2;
	uint8_t mem[DT_DATA_SIZE];
};

/* Shared between the parent and the native child. */
struct dt_shared {
	struct dt_case cases[DT_BATCH];
	struct dt_result out[DT_BATCH];
	volatile int progress;   /* index of the case the child is running */
};

/* dt_native.c: a child process running cases on the host CPU. */
struct dt_native {
	int pid;
	int cmd_fd, res_fd;
	struct dt_shared *sh;
};
int dt_native_start(struct dt_native *n, struct dt_shared *sh);
/* Run cases [0, count) of sh. Returns the number completed; fewer if the child died
 * (the child is then restarted and case `returned value` is the one that killed it). */
int dt_native_run(struct dt_native *n, int count);
void dt_native_stop(struct dt_native *n);

/* dt_gen.c: random instruction and state. */
struct dt_rng {
	uint64_t s;
};
uint64_t dt_rand(struct dt_rng *r);
void dt_gen_case(struct dt_rng *r, struct dt_case *c);

#endif
