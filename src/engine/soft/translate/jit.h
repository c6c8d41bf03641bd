/* The translator tier: decoded blocks -> host x86-64 code (jit.c).
 *
 * A translated block does what the interpreter loop does over the same struct sinsn
 * array, only without the loop: the common integer instructions are emitted inline
 * (guest registers cached in host registers within the block, lazy flags held in
 * registers until something could see them, memory operands through an inline probe
 * of the software TLB), everything else is a call of the instruction's interpreter
 * handler through one shared stub, with struct soft_cpu (reached through rbx) brought
 * up to date first. An inline instruction whose TLB probe misses runs its handler
 * instead, which faults, reaches MMIO or crosses a page exactly as the interpreter
 * does: inline code commits nothing before its probe succeeds, and the miss's stub
 * writes back what the registers held, so exceptions stay precise without mapping host
 * code back to guest instructions.
 *
 * The code lives in one fixed-size arena per vCPU, two views of one memfd (written
 * through one, run through the other: no page is ever writable and executable at
 * once). When it fills, every block is dropped and the arena starts again. */
#ifndef TRIVISOR_SOFT_JIT_H
#define TRIVISOR_SOFT_JIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct soft_cpu;
struct sblock;

/* Why a block runs under the interpreter although the translator is on. */
enum soft_jit_fallback {
	JIT_FB_STEP,        /* RFLAGS.TF: single-stepping */
	JIT_FB_SHADOW,      /* the instruction after STI / MOV SS */
	JIT_FB_MODE,        /* real mode or virtual-8086 */
	JIT_FB_NOSPACE,     /* the block did not fit an empty arena (cannot happen) */
	JIT_FB__COUNT
};

struct soft_jit_stats {
	uint64_t blocks;          /* blocks translated */
	uint64_t bytes;           /* host code emitted, in total */
	uint64_t flushes;         /* times the arena filled and was emptied */
	uint64_t ns;              /* time spent translating */
	uint64_t inline_insns;    /* guest instructions translated inline */
	uint64_t call_insns;      /* ... translated as a call of their handler */
	uint64_t chained;         /* direct exits linked to their target block */
	uint64_t fallback[JIT_FB__COUNT]; /* blocks interpreted, by reason */
};

struct soft_jit {
	uint8_t *rw, *rx;         /* the arena's write and execute views */
	size_t size, used;
	size_t start;             /* blocks go after the entry and exit stubs */
	uint32_t exit_off;        /* the shared stubs (jit.c: soft_jit_init) */
	uint32_t out_off, miss_off, lookup_off, call_off;
	uint32_t (*enter)(struct soft_cpu *c, const void *code);
	struct soft_jit_stats stats;
};

/* Per vCPU. The stock Debian kernel's boot translates ~30 MB of code (340 bytes a
 * block), most of it run once: it about fills 32 MiB. When the code was larger (48 MiB
 * a boot), 32 MiB flushed once at no measurable cost, 16 MiB five times (+6% to the
 * shell), 8 MiB 28 times (+19%). A flush gives the pages back. */
#define SOFT_JIT_DEFAULT_SIZE (32u << 20)

/* Map the arena (size bytes). 0 or -errno. */
int soft_jit_init(struct soft_jit *j, size_t size);
void soft_jit_destroy(struct soft_jit *j);
/* Is there room for one more block of the largest size? */
int soft_jit_has_room(const struct soft_jit *j);
/* Forget every translation (the caller drops the blocks that point into the arena). */
void soft_jit_reset(struct soft_jit *j);
/* Translate b (decoded in c's current mode) into the arena: sets b->code. 0, or
 * -ENOSPC when the arena is full (b stays untranslated). */
int soft_jit_translate(struct soft_cpu *c, struct sblock *b);
/* Run b's translation from c->rip, and blocks chained to it while budget instructions
 * last. Returns the handler status (SOFT_OK ...) of the
 * instruction that ended it and sets *done to the instructions retired. */
int soft_jit_run(struct soft_cpu *c, const struct sblock *b, int64_t budget, uint64_t *done);
/* The block that just ran left through an unlinked direct exit (c->jit_link) and `to`
 * is the block at its target: link the exit to it. */
void soft_jit_link(struct soft_cpu *c, const struct sblock *to);
/* INC/DEC: keep the previous operation's CF in rflags. */
void soft_jit_save_cf(struct soft_cpu *c);

/* Condition code cc of the guest's flags (translated Jcc without live host flags). */
bool soft_jit_cond(const struct soft_cpu *c, unsigned cc);

#endif
