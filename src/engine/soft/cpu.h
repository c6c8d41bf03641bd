/* The software CPU's state, its pre-decoded instruction form, and the inline register
 * and operand accessors every instruction handler uses.
 *
 * Execution model: an instruction handler computes everything first and commits last,
 * so a handler that returns SOFT_EXC leaves no architectural change behind (memory is
 * written before registers and flags; a second memory write only happens after the
 * first one succeeded and is arranged so it cannot fault, see mem.h). */
#ifndef TRIVISOR_SOFT_CPU_H
#define TRIVISOR_SOFT_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cpu_state.h"
#include "engine/soft/cache.h"
#include "engine/soft/fpu/fpu.h"
#include "engine/soft/mmu/memif.h"
#include "engine/soft/sys/sys.h"

/* RFLAGS bits (Intel SDM vol. 1, 3.4.3). */
#define FL_CF (1ull << 0)
#define FL_1 (1ull << 1)
#define FL_PF (1ull << 2)
#define FL_AF (1ull << 4)
#define FL_ZF (1ull << 6)
#define FL_SF (1ull << 7)
#define FL_TF (1ull << 8)
#define FL_IF (1ull << 9)
#define FL_DF (1ull << 10)
#define FL_OF (1ull << 11)
#define FL_IOPL (3ull << 12)
#define FL_NT (1ull << 14)
#define FL_RF (1ull << 16)
#define FL_VM (1ull << 17)
#define FL_AC (1ull << 18)
#define FL_VIF (1ull << 19)
#define FL_VIP (1ull << 20)
#define FL_ID (1ull << 21)
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

/* Exception vectors. */
enum { VEC_DE = 0, VEC_DB = 1, VEC_BP = 3, VEC_UD = 6, VEC_NM = 7, VEC_SS = 12,
       VEC_GP = 13, VEC_PF = 14, VEC_AC = 17 };

/* What a handler returns. */
enum {
	SOFT_OK = 0,    /* done: the loop commits rip = next_rip */
	SOFT_EXC = 1,   /* exception in c->fault; rip not advanced (traps set rip themselves) */
	SOFT_YIELD = 2, /* not finished (REP budget): rip stays, re-executed later */
	SOFT_EXIT = 3,  /* needs the engine (sys.exit_kind); the handler set rip itself */
};

/* Lazy flags: the last flag-setting operation, evaluated on demand (flags.c). ADC and
 * SBB: r = a + b + cin and r = a - b - cin, the carry-in being r - a - b and a - b - r
 * (the translator does not know it when it emits them; the interpreter, which does,
 * writes ADD and SUB when it is 0). */
enum { LF_NONE, LF_ADD, LF_ADC, LF_SUB, LF_SBB, LF_LOGIC, LF_INC, LF_DEC,
       LF_SHL, LF_SHR, LF_SAR /* lf_a: operand, lf_b: count (1..63) */ };

/* Register numbers in the decoded form: 0..15 GPRs, 16..19 AH/CH/DH/BH. */
#define SREG_AH 16
#define SREG_NONE 0xff
#define SREG_RIP 0xfe

enum { OPK_NONE, OPK_REG, OPK_MEM, OPK_IMM };

struct sop {
	uint8_t kind;  /* OPK_* */
	uint8_t size;  /* bytes */
	uint8_t reg;   /* OPK_REG */
};

struct soft_cpu;
struct sinsn;
struct soft_jit;
typedef int (*soft_fn)(struct soft_cpu *c, const struct sinsn *i);

/* What an instruction is, for the tiers: the interpreter runs fn whatever the kind; the
 * translator emits the kinds it knows inline and calls fn for the rest. */
enum soft_kind {
	K_OTHER,       /* general-purpose work done by its handler (BT, string ops, XCHG...) */
	K_ALU,         /* ADD OR ADC SBB AND SUB XOR CMP TEST (op: ALU_*) */
	K_UNARY,       /* INC DEC NOT NEG (op: UN_*) */
	K_SHIFT,       /* group 2 (op: SH_*) */
	K_IMUL,        /* 2- and 3-operand IMUL */
	K_MOV, K_MOVZX, K_MOVSX, K_LEA,
	K_PUSH, K_POP,
	K_JCC, K_JMP, K_CALL, K_RET, /* near branches (op: condition for JCC) */
	K_SETCC, K_CMOVCC,
	K_NOP,
	K_FP,          /* x87, MMX, SSE */
	K_SYS,         /* system instructions: privileged state, segments, far transfers,
	                * interrupts, I/O (lower_sys.c), and POPF/INT3 */
	K_UD,          /* raises #UD */
};

/* sinsn.attr */
#define SI_ENDS 1u     /* ends its block: transfers control or changes how code decodes */
#define SI_SYS 2u      /* may change RFLAGS.TF/IF, the interrupt shadow, the CPU mode, CPL or
                        * paging, or leave a #DB pending: soft_run must look between blocks */
#define SI_LOCKED 4u   /* LOCK prefix, or XCHG with memory: atomic across vCPUs */
#define SI_FAULT 8u    /* may raise an exception */

/* One pre-decoded instruction. */
struct sinsn {
	soft_fn fn;
	int64_t disp;
	uint64_t imm;          /* first immediate, sign-extended to the operand size */
	uint16_t imm2;         /* ENTER's nesting level */
	uint8_t len;
	uint8_t opsz;          /* operand size in bytes */
	uint8_t adsz;          /* address size in bytes (2, 4, 8) */
	uint8_t op;            /* sub-operation: ALU op, condition code, shift kind, ... */
	uint8_t base, index;   /* SREG_NONE, SREG_RIP or a GPR */
	uint8_t scale;         /* shift count 0..3 */
	uint8_t seg;           /* S_* segment of the memory operand */
	uint8_t rep;           /* 0, or 1 = REP/REPE, 2 = REPNE */
	uint8_t nops;
	uint8_t kind;          /* enum soft_kind */
	uint8_t attr;          /* SI_* */
	uint16_t fl_read;      /* arithmetic flags (FL_ARITH bits) it reads */
	uint16_t fl_write;     /* ... it always overwrites (the others it keeps) */
	struct sop o[3];
};

struct soft_fault {
	uint8_t vector;
	bool has_err;
	uint32_t err;
	uint64_t cr2;
};

struct soft_stats {
	uint64_t insns;          /* instructions retired */
	uint64_t ud;             /* #UD raised (unimplemented or invalid) */
	uint64_t blocks_decoded;
	uint64_t code_invalidations;
	uint64_t clock_reads;    /* RDTSC, RDTSCP, RDMSR IA32_TSC: the host's clock answered */
};

struct soft_cpu {
	uint64_t gpr[16];
	uint64_t rip, next_rip;
	uint64_t rflags;         /* arithmetic bits valid only while lf_op == LF_NONE */
	uint64_t lf_a, lf_b, lf_res; /* masked to lf_sz */
	uint8_t lf_op, lf_sz;
	uint8_t cpl;
	uint64_t seg_base[6];    /* S_ES..S_GS (only FS/GS matter in 64-bit mode) */

	struct soft_fault fault;
	struct soft_tlb tlb;
	struct soft_mem mem;
	struct soft_code_cache cache;
	struct soft_stats stats;
	struct soft_fpu fpu;      /* x87, MMX, SSE state (fpu.h) */
	struct soft_sys sys;     /* system architecture (sys.h) */
	struct soft_jit *jit;    /* the translator tier (jit.h), NULL: interpret only */
	int64_t jit_left;        /* instructions chained translated blocks may still run */
	/* Direct execution (direct/direct.h): soft_run stops with SOFT_RUN_DIRECT when 64-bit
	 * user code comes up under a CR3 other than the last one it was asked about
	 * (direct_cr3), or under that one if it answered "hot". */
	bool direct_on, direct_hot;
	uint64_t direct_cr3;
	/* Paging changes the direct-execution mirrors follow: paging_gen counts TLB flushes
	 * (MOV CR3 among them); invlpg[] are the single pages invalidated since the last one. */
	uint64_t paging_gen;
	unsigned ninvlpg;
	uint64_t invlpg[8];
	uint32_t jit_link;       /* arena offset of the exit to link to the next block, or 0 */
	/* A locked instruction (LOCK prefix, XCHG with memory) is running: its read of the
	 * destination remembers where and what it read, and its write becomes a host
	 * compare-and-swap against that value (mem.c, soft_locked). A lost race returns
	 * SOFT_EXC with `lost` set, which handlers pass up like a fault. */
	struct {
		bool on;
		bool lost;               /* the compare-and-swap failed: run it again */
		uint8_t *host;           /* NULL: nothing read yet, or not RAM */
		uint64_t la, old, pa;
		unsigned size;
	} atom;
};

/* ---- registers ---- */

static inline uint64_t sz_mask(unsigned sz)
{
	return sz == 8 ? ~0ull : (1ull << (sz * 8)) - 1;
}

static inline uint64_t sz_sign(unsigned sz)
{
	return 1ull << (sz * 8 - 1);
}

static inline int64_t sx(uint64_t v, unsigned sz)
{
	unsigned sh = 64 - sz * 8;
	return (int64_t)(v << sh) >> sh;
}

static inline uint64_t reg_get(const struct soft_cpu *c, unsigned r, unsigned sz)
{
	if (r >= SREG_AH)
		return (c->gpr[r - SREG_AH] >> 8) & 0xff;
	return c->gpr[r] & sz_mask(sz);
}

/* Partial-register writes: 32-bit writes zero-extend, 8/16-bit writes merge. */
static inline void reg_set(struct soft_cpu *c, unsigned r, unsigned sz, uint64_t v)
{
	if (r >= SREG_AH) {
		uint64_t *g = &c->gpr[r - SREG_AH];
		*g = (*g & ~0xff00ull) | ((v & 0xff) << 8);
		return;
	}
	switch (sz) {
	case 8: c->gpr[r] = v; break;
	case 4: c->gpr[r] = (uint32_t)v; break;
	default: c->gpr[r] = (c->gpr[r] & ~sz_mask(sz)) | (v & sz_mask(sz)); break;
	}
}

/* ---- flags (flags.c) ---- */

uint64_t soft_flags_compute(const struct soft_cpu *c);
bool soft_cond_slow(const struct soft_cpu *c, unsigned cc);

static inline uint64_t flags_get(const struct soft_cpu *c)
{
	return c->lf_op == LF_NONE ? c->rflags : soft_flags_compute(c);
}

/* Make rflags hold every bit (before a partial flag update). */
static inline void flags_commit(struct soft_cpu *c)
{
	if (c->lf_op != LF_NONE) {
		c->rflags = soft_flags_compute(c);
		c->lf_op = LF_NONE;
	}
}

/* Replace the flags in `mask` with the ones in `val`. */
static inline void flags_update(struct soft_cpu *c, uint64_t mask, uint64_t val)
{
	if ((mask & FL_ARITH) != FL_ARITH)
		flags_commit(c); /* some old arithmetic flags survive: materialise them */
	else
		c->lf_op = LF_NONE;
	c->rflags = (c->rflags & ~mask) | (val & mask);
}

static inline void flags_lazy(struct soft_cpu *c, unsigned op, unsigned sz, uint64_t a,
                              uint64_t b, uint64_t res)
{
	c->lf_op = (uint8_t)op;
	c->lf_sz = (uint8_t)sz;
	c->lf_a = a;
	c->lf_b = b;
	c->lf_res = res;
}

/* Condition codes 0..15 in the Jcc/SETcc/CMOVcc encoding order. Fast paths for the
 * common lazy states; everything else computes the flags. */
static inline bool cond(const struct soft_cpu *c, unsigned cc)
{
	unsigned op = c->lf_op;
	bool r;
	if (op == LF_NONE)
		return soft_cond_slow(c, cc);
	switch (cc >> 1) {
	case 2: /* Z: every lazy operation keeps the masked result */
		return (c->lf_res == 0) ^ (cc & 1);
	case 4: /* S */
		return ((c->lf_res & sz_sign(c->lf_sz)) != 0) ^ (cc & 1);
	default:
		break;
	}
	if (op == LF_SUB) {
		uint64_t a = c->lf_a, b = c->lf_b;
		switch (cc >> 1) {
		case 1: r = a < b; break;
		case 3: r = a <= b; break;
		case 6: r = sx(a, c->lf_sz) < sx(b, c->lf_sz); break;
		case 7: r = sx(a, c->lf_sz) <= sx(b, c->lf_sz); break;
		default: return soft_cond_slow(c, cc);
		}
		return r ^ (cc & 1);
	}
	if (op == LF_LOGIC) { /* CF = OF = 0 */
		bool zf = c->lf_res == 0, sf = (c->lf_res & sz_sign(c->lf_sz)) != 0;
		switch (cc >> 1) {
		case 0: case 1: r = false; break;
		case 3: r = zf; break;
		case 6: r = sf; break;
		case 7: r = zf || sf; break;
		default: return soft_cond_slow(c, cc);
		}
		return r ^ (cc & 1);
	}
	return soft_cond_slow(c, cc);
}

/* CF of a lazy SHL/SHR/SAR: the last bit shifted out. */
static inline uint64_t soft_shift_cf(const struct soft_cpu *c)
{
	uint64_t a = c->lf_a, n = c->lf_b;
	unsigned bits = c->lf_sz * 8u;
	switch (c->lf_op) {
	case LF_SHL: return n <= bits ? (a >> (bits - n)) & 1 : 0;
	case LF_SHR: return (a >> (n - 1)) & 1;
	default: return (uint64_t)(sx(a, c->lf_sz) >> (n - 1)) & 1;
	}
}

/* The carry out of ADC (r = a + b + cin) and SBB (r = a - b - cin), all of sz bytes. */
static inline uint64_t adc_cf(uint64_t a, uint64_t b, uint64_t r, unsigned sz)
{
	return ((r - a - b) & sz_mask(sz)) ? r <= a : r < a;
}

static inline uint64_t sbb_cf(uint64_t a, uint64_t b, uint64_t r, unsigned sz)
{
	return ((a - b - r) & sz_mask(sz)) ? a <= b : a < b;
}

/* CF alone (ADC, SBB, RCL, RCR). */
static inline uint64_t get_cf(const struct soft_cpu *c)
{
	switch (c->lf_op) {
	case LF_ADD: return c->lf_res < c->lf_a;
	case LF_ADC: return adc_cf(c->lf_a, c->lf_b, c->lf_res, c->lf_sz);
	case LF_SUB: return c->lf_a < c->lf_b;
	case LF_SBB: return sbb_cf(c->lf_a, c->lf_b, c->lf_res, c->lf_sz);
	case LF_LOGIC: return 0;
	case LF_SHL: case LF_SHR: case LF_SAR: return soft_shift_cf(c);
	default: return c->rflags & FL_CF; /* NONE, INC, DEC keep CF in rflags */
	}
}

/* ---- faults ---- */

static inline int raise_exc(struct soft_cpu *c, unsigned vec, bool has_err, uint32_t err)
{
	c->fault.vector = (uint8_t)vec;
	c->fault.has_err = has_err;
	c->fault.err = err;
	return SOFT_EXC;
}

static inline bool canonical(uint64_t la)
{
	return ((int64_t)(la << 16) >> 16) == (int64_t)la;
}

#endif
