/* Random programs for test_soft_tiers.c: a tiny x86-64 encoder and templates of the
 * instructions the translator emits inline or leaves to its handlers, put together into
 * short programs with forward jumps, bounded loops, calls, stores into their own code
 * and memory operands that reach every odd page of the test's memory (below). */
#ifndef TRIVISOR_TEST_TIER_GEN_H
#define TRIVISOR_TEST_TIER_GEN_H

#include <stdbool.h>
#include <stdint.h>

/* Guest memory. */
#define RAM       0x20000u
#define CODE      0x1000u     /* programs start in [CODE, CODE + 0x1000) and may cross */
#define CODE_END  0x3000u
#define STACK     0x4000u
#define DATA      0x8000u     /* 0x8000..0xffff: random bytes (and the read-only page) */
#define DATA_END  0x10000u
#define HOLE      0x10000u
#define RO        0x11000u
#define MMIO      0x12000u
#define FS_BASE   0x800u
#define GS_BASE   0x10000u

/* Registers: the programs write only the data registers; the pointer registers hold
 * addresses for memory operands and change only through pointer-setting instructions
 * (and string operations); R12 is a small index, R15 the loop counter. */
enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

/* The generator's random numbers (xorshift64): everything below follows from the seed. */
void tg_seed(uint64_t seed);
uint64_t tg_rnd64(void);
unsigned tg_rnd(unsigned n);
bool tg_chance(unsigned percent);

#define TG_PROG_MAX 4096

struct tg_prog {
	uint8_t code[TG_PROG_MAX + 64];
	unsigned n;
	uint64_t base;      /* guest address of code[0] */
};

/* A program of `items` top-level items at guest address base, ending in INT3 or HLT
 * (valid until the next call). */
const struct tg_prog *tg_program(uint64_t base, unsigned items);

/* Registers and RFLAGS to start a program with. */
struct tg_start {
	uint64_t gpr[16], rflags, rip;
};

void tg_start(struct tg_start *s, uint64_t rip);

#endif
