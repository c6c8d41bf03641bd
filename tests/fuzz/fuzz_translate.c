/* The soft CPU's translator tier against its interpreter, on arbitrary code: both run
 * the input's bytes over identical memories (tests/unit/soft/tier_cmp.h: flat RAM with
 * a hole, a read-only page, an MMIO page and supervisor-only pages) and must agree on
 * every result of soft_run and every state it leaves (registers, RFLAGS, the exception,
 * system registers, x87/SSE, memory, MMIO writes, instructions retired). Anything else
 * aborts with both states printed.
 *
 * Input, all optional (short input reads as zeros):
 *   u8 options   bit 0: start at CPL 3 (user code; exceptions go to CPL 0 through the
 *                       TSS), bit 1: deliver exceptions through the IDT and go on (its
 *                       handlers skip one byte past the return address and IRETQ), else
 *                       stop at the first, bit 2: CR4.OSFXSR (SSE on), bit 3: the
 *                       translator gets a small code arena (filled and flushed often;
 *                       64 to 256 KiB by the seed's low bits), bit 4: run in slices of
 *                       budget (u8 below) instead of at once
 *   u8 slice     instructions per soft_run call with bit 4, plus one
 *   u16 seed     the initial registers and the data pages
 *   code         up to 16 KiB at CODE, where both CPUs start (the rest of it is INT3)
 *
 * Memory (64 KiB): 0x0000 GDT, TSS and the exception and SYSCALL stubs, 0x1000 IDT,
 * 0x2000 the CPL-0 stack (those three pages supervisor-only), 0x3000 a stack, 0x4000
 * the code, 0x8000 data, 0xc000 a hole, 0xd000 read-only, 0xe000 MMIO, 0xf000 data.
 * A run ends after BUDGET instructions or MAX_ROUNDS soft_run calls. RDTSC, RDTSCP and
 * RDMSR read the host's clock, so they become UD2 in the input (and a divergence after
 * the code made one itself and ran it is not a finding: soft_stats.clock_reads).
 *
 * Where soft_run stops for the budget depends on where blocks end, which depends on
 * the pages holding code: the same in both CPUs (compared after every soft_run, their
 * memories every 16th time and at the end) until the translator's arena fills and it
 * drops its code. From then on the two are only compared where the run ends for a
 * reason of its own (a triple fault, an exception that is not delivered), which does
 * not depend on the budget.
 *
 * TRIVISOR_FUZZ_TRACE=1 prints every soft_run (to look at a finding). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "../unit/soft/tier_cmp.h"

#include "engine/soft/sys/ops_sys.h"
#include "engine/soft/sys/sys.h"

#define RAM        0x10000u
#define SUPER_END  0x3000u
#define STUB_NOERR 0x200u
#define STUB_ERR   0x220u
#define STUB_SYSCALL 0x240u
#define TSS        0x100u
#define IDT        0x1000u
#define STACK0     0x3000u
#define STACK      0x4000u
#define CODE       0x4000u
#define CODE_MAX   0x4000u
#define DATA       0x8000u
#define HOLE       0xc000u
#define RO         0xd000u
#define MMIO       0xe000u

#define BUDGET     10000u
#define MAX_ROUNDS 256u

#define OPT_USER   1u
#define OPT_DELIVER 2u
#define OPT_SSE    4u
#define OPT_SMALL  8u
#define OPT_SLICES 16u

static struct {
	unsigned long runs, loose, delivered, io, hlt, user, compat, budget_ends;
	unsigned long long insns, blocks, inline_insns, handler_insns, chained, flushes, smc;
} st;

static void stats(FILE *out)
{
	fprintf(out, " runs=%lu insns=%llu blocks=%llu inline=%llu handlers=%llu chained=%llu "
	        "flushes=%llu smc=%llu delivered=%lu io=%lu hlt=%lu user=%lu compat=%lu "
	        "budget_ends=%lu loose=%lu", st.runs, st.insns, st.blocks, st.inline_insns,
	        st.handler_insns, st.chained, st.flushes, st.smc, st.delivered, st.io, st.hlt,
	        st.user, st.compat, st.budget_ends, st.loose);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* The memory both CPUs start from. */
static void build_image(uint8_t *ram, const uint8_t *code, size_t n, uint16_t seed)
{
	/* GDT: kernel code 64 (0x08), kernel data (0x10), user code 32 (0x18), user data
	 * (0x20), user code 64 (0x28), TSS (0x30, two slots), kernel code 32 (0x40). STAR
	 * below makes SYSRET land on 0x2b/0x23 and SYSCALL on 0x08/0x10. */
	static const uint64_t gdt[] = { 0, 0x00af9a000000ffffull, 0x00cf92000000ffffull,
	                                0x00cffa000000ffffull, 0x00cff2000000ffffull,
	                                0x00affa000000ffffull,
	                                0x00008b0000000000ull | 0x67 | (uint64_t)TSS << 16, 0,
	                                0x00cf9a000000ffffull };
	memcpy(ram, gdt, sizeof(gdt));
	put64(ram + TSS + 4, STACK0);                /* RSP0 */
	/* add qword [rsp], 1 ; iretq (and first add rsp, 8 past an error code): skip a
	 * byte past the return address, so that a faulting instruction is left behind. */
	static const uint8_t noerr[] = { 0x48, 0x83, 0x04, 0x24, 0x01, 0x48, 0xcf };
	static const uint8_t err[] = { 0x48, 0x83, 0xc4, 0x08, 0x48, 0x83, 0x04, 0x24, 0x01,
	                               0x48, 0xcf };
	static const uint8_t sysret[] = { 0x48, 0x0f, 0x07 };
	memcpy(ram + STUB_NOERR, noerr, sizeof(noerr));
	memcpy(ram + STUB_ERR, err, sizeof(err));
	memcpy(ram + STUB_SYSCALL, sysret, sizeof(sysret));
	for (unsigned v = 0; v < 256; v++) {
		bool has_err = v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 ||
		               v == 30;
		uint64_t h = has_err ? STUB_ERR : STUB_NOERR;
		uint8_t *g = ram + IDT + 16 * v;
		/* 64-bit interrupt gate, DPL 3 (INT n works from user code), selector 0x08 */
		uint64_t lo = (h & 0xffff) | 0x08ull << 16 | 0xeeull << 40 | (h >> 16 & 0xffff) << 48;
		put64(g, lo);
		put64(g + 8, h >> 32);
	}
	for (unsigned k = SUPER_END; k < RAM; k++)
		ram[k] = 0xcc;
	uint64_t x = 0x9e3779b97f4a7c15ull ^ seed;
	for (unsigned k = DATA; k < RAM; k++) {
		if (k >= HOLE && k < RO)
			continue;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		ram[k] = (uint8_t)x;
	}
	memcpy(ram + CODE, code, n);
	/* RDTSC and friends would make the CPUs differ (tier_cmp.h): never in the input. */
	tier_scrub_clock_insns(ram, RAM);
}

static void setup(struct tcpu *t, const uint8_t *image, unsigned opts, uint16_t seed)
{
	struct soft_cpu *c = t->c;
	struct soft_sys *y = &c->sys;
	memcpy(t->mem.ram, image, RAM);
	t->mem.super_end = SUPER_END;
	t->mem.hole = HOLE;
	t->mem.ro = RO;
	t->mem.mmio = MMIO;
	y->gdt = (struct dtable){ 0, 0x47 };
	y->idt = (struct dtable){ IDT, 0xfff };
	y->tr = (struct seg){ .sel = 0x30, .base = TSS, .limit = 0x67, .attr = 0xb | SEG_ATTR_P };
	y->star = 0x18ull << 48 | 0x08ull << 32;
	y->lstar = STUB_SYSCALL;
	y->seg[S_FS].base = 0x800;
	if (opts & OPT_SSE)
		y->cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT;
	if (opts & OPT_USER) {
		uint16_t code64 = 0xb | SEG_ATTR_S | 3 << 5 | SEG_ATTR_P | SEG_ATTR_L | SEG_ATTR_G;
		uint16_t data = 0x3 | SEG_ATTR_S | 3 << 5 | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G;
		for (unsigned k = 0; k < S__COUNT; k++) {
			y->seg[k].sel = k == S_CS ? 0x2b : 0x23;
			y->seg[k].attr = k == S_CS ? code64 : data;
		}
		soft_set_cpl(c, 3);
	}
	soft_sys_update_mode(c);

	/* Registers: pointers into the data pages mostly, else small or random values. */
	uint64_t x = 0x2545f4914f6cdd1dull * (seed + 1u);
	for (unsigned k = 0; k < 16; k++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		switch (x >> 61) {
		case 0: case 1: case 2: c->gpr[k] = DATA + (x & 0x7ff8); break;
		case 3: c->gpr[k] = x & 0xff; break;
		case 4: c->gpr[k] = 0; break;
		default: c->gpr[k] = x; break;
		}
	}
	c->gpr[R_RSP] = STACK - 0x40;
	c->rip = CODE;
	soft_set_rflags(c, 0x202 | ((x >> 20) & 0x8d5));
}

/* After soft_run returned r: deliver the exception or finish the exit as the engine
 * would, so the run goes on. False: the run ends here. */
static bool carry_on(struct soft_cpu *c, int r, unsigned opts, bool count)
{
	switch (r) {
	case SOFT_RUN_BUDGET:
		return true;
	case SOFT_RUN_EXCEPTION:
		if (!(opts & OPT_DELIVER))
			return false;
		st.delivered += count;
		return soft_deliver_fault(c) == 0;   /* 1: triple fault */
	case SOFT_RUN_EXIT:
		if (c->sys.exit_kind == SOFT_EXIT_IO) {
			struct soft_io_exit *io = &c->sys.io;
			st.io += count;
			if (!io->is_write) {
				size_t len = (size_t)io->count * io->size;
				for (size_t k = 0; k < len && k < sizeof(io->data); k++)
					io->data[k] = (uint8_t)(io->port + k * 7);
				soft_io_complete(c);
			}
		} else {
			st.hlt += count;
			c->sys.halted = false;   /* as if an interrupt woke it (none is delivered) */
		}
		c->sys.exit_kind = SOFT_EXIT_NONE;
		return true;
	default:   /* kicked (nothing kicks here), or an internal error */
		return false;
	}
}

static void fail(const char *what, const struct tcpu *a, const struct tstate *sa,
                 const struct tcpu *b, const struct tstate *sb, const uint8_t *code, size_t n)
{
	fprintf(stderr, "translator and interpreter differ (%s)\n", what);
	tier_hex(stderr, "code", code, n);
	tier_diff(stderr, a, sa, b, sb, true);
	fuzz_fail("tiers diverged");
}

/* Did either read the host's clock? Then they may differ from there on, for good (the
 * code can write a clock instruction, run it and overwrite it: the count is what
 * tells). */
static bool clock_read(const struct tcpu *a, const struct tcpu *b)
{
	return a->c->stats.clock_reads != 0 || b->c->stats.clock_reads != 0;
}

/* a and b differ after a soft_run: a finding, unless the translator dropped its code
 * (an arena flush: the budget may then stop it elsewhere, see the top) or the code
 * read the clock. */
static bool excused(const struct tcpu *a, const struct tcpu *b)
{
	return b->c->jit->stats.flushes != 0 || clock_read(a, b);
}

static struct tstate sa, sb;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *image;
	static bool once, trace;
	if (!once) {
		once = true;
		trace = getenv("TRIVISOR_FUZZ_TRACE") != NULL;  /* every soft_run, to stderr */
		image = malloc(RAM);
		if (!image)
			fuzz_fail("out of memory");
		fuzz_stats_at_exit(stats);
	}
	struct fz f = { data, size };
	unsigned opts = fz_u8(&f);
	uint8_t slice_byte = fz_u8(&f);
	uint64_t slice = (opts & OPT_SLICES) ? 1u + slice_byte : BUDGET;
	uint16_t seed = fz_u16(&f);
	size_t n = f.n < CODE_MAX ? f.n : CODE_MAX;
	build_image(image, f.p, n, seed);

	/* 64 to 256 KiB: from a flush before every new block to one every few hundred */
	size_t arena = (size_t)(64u << 10) * (1 + (seed & 3));
	struct tcpu a, b;
	if (tcpu_new(&a, "interp", RAM, SOFT_TIER_INTERPRET, 0) ||
	    tcpu_new(&b, "jit", RAM, SOFT_TIER_TRANSLATE, (opts & OPT_SMALL) ? arena : 0))
		fuzz_fail("cannot make the CPUs");
	setup(&a, image, opts, seed);
	setup(&b, image, opts, seed);
	st.runs++;

	/* In step while both hold the same code (no arena flush); then b alone. */
	int ra = SOFT_RUN_BUDGET, rb = SOFT_RUN_BUDGET;
	bool a_on = true, b_on = true, loose = false;
	unsigned rounds = 0;
	while (a_on && rounds++ < MAX_ROUNDS && a.c->stats.insns < BUDGET) {
		ra = soft_run(a.c, slice);
		tstate_get(a.c, ra, &sa);
		bool b_ran = !loose;
		if (b_ran) {
			rb = soft_run(b.c, slice);
			tstate_get(b.c, rb, &sb);
			/* Memory every 16th time only (and at the end): it is the costly part. */
			if (!tier_same(&a, &sa, &b, &sb, rounds % 16 == 0)) {
				if (!excused(&a, &b))
					fail("after a soft_run", &a, &sa, &b, &sb, f.p, n);
				loose = true;
			}
		}
		if (trace)
			fprintf(stderr, "round %u: soft_run %d/%d, vector %u, rip %#" PRIx64 ", %" PRIu64
			        " insns, mode %u, cpl %u\n", rounds, ra, rb, a.c->fault.vector, a.c->rip,
			        a.c->stats.insns, a.c->sys.mode, a.c->cpl);
		st.user += a.c->cpl == 3 && rounds == 1;
		st.compat += a.c->sys.mode != SOFT_MODE64;
		a_on = carry_on(a.c, ra, opts, true);
		if (b_ran) {
			b_on = carry_on(b.c, rb, opts, false);
			if (!loose && a_on != b_on)
				fuzz_fail("the engine's steps disagree (%d, %d)", ra, rb);
		}
	}
	/* (the states were taken before carry_on, the memories after: alike in both) */
	if (!loose && !tier_same(&a, &sa, &b, &sb, true) && !excused(&a, &b))
		fail("at the end", &a, &sa, &b, &sb, f.p, n);
	if (loose) {
		st.loose++;
		while (b_on && rounds++ < 2 * MAX_ROUNDS && b.c->stats.insns < BUDGET) {
			rb = soft_run(b.c, slice);
			tstate_get(b.c, rb, &sb);
			b_on = carry_on(b.c, rb, opts, false);
		}
		/* Both ended for a reason of their own: the same one, in the same state. */
		if (!a_on && !b_on && !clock_read(&a, &b) && !tier_same(&a, &sa, &b, &sb, true))
			fail("at the end, after an arena flush", &a, &sa, &b, &sb, f.p, n);
	}
	st.budget_ends += a_on;
	st.insns += a.c->stats.insns;
	st.smc += a.c->stats.code_invalidations;
	const struct soft_jit_stats *js = &b.c->jit->stats;
	st.blocks += js->blocks;
	st.inline_insns += js->inline_insns;
	st.handler_insns += js->call_insns;
	st.chained += js->chained;
	st.flushes += js->flushes;
	tcpu_free(&a);
	tcpu_free(&b);
	return 0;
}
