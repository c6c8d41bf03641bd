/* Software CPU: the translator tier is the same CPU as the interpreter.
 *
 * A differential test over random programs: CPUs over identical memories (tier_cmp.h),
 * one interpreting, one translating with the default code arena and one translating in
 * an arena so small that it fills and is flushed every few programs, run each program
 * (made from a seed by tier_gen.c, no assembler) with the same budget and must end in
 * the same state: soft_run's result, the exception (vector, error code, CR2), every
 * register, RFLAGS, the instruction count, memory and MMIO writes. The programs are
 * mostly what the translator emits inline (MOV, ALU, TEST, INC/DEC/NOT/NEG, shifts by an
 * immediate, LEA, MOVZX/MOVSX, PUSH/POP, Jcc, JMP, CALL/RET), with register, immediate
 * and memory operands of every size, mixed with instructions it leaves to their handlers
 * (IMUL, MUL/DIV, SETcc, CMOVcc, BT*, XCHG, XADD, CMPXCHG, string operations, flag
 * operations; ADC/SBB and shifts by CL but on 32- and 64-bit registers), bounded
 * loops, calls, memory operands that reach a hole, a read-only page, an MMIO page, the
 * end of RAM or non-canonical addresses (faults in the middle of a block), and stores
 * into the code itself. A quarter of the programs run in small slices of budget,
 * compared after every slice.
 *
 * Then the budget and the kick: a translated loop chains its blocks without going back
 * to soft_run, yet soft_run must return SOFT_RUN_BUDGET after about max_insns, and
 * SOFT_RUN_KICKED when another thread sets c->sys.kick. And a linear page whose
 * physical page changes: translated exits must not run the code it held before.
 *
 *   test_soft_tiers [--seed N] [--count N] [--only K] [--verbose]
 *   (defaults: seed 1, 5000 programs; --only K: program K alone, with fresh CPUs) */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "engine/soft/mmu/mem.h"
#include "tier_cmp.h"
#include "tier_gen.h"

#define BUDGET 20000u
#define NCPU 3

/* ---- running ---- */

static struct tcpu cpus[NCPU];
static const struct tg_prog *P; /* the program being run */
static uint8_t image[RAM];   /* the memory every program starts from */
static bool verbose;
static unsigned reported;

static void load(struct tcpu *t, const struct tg_start *s)
{
	struct soft_cpu *c = t->c;
	memcpy(t->mem.ram, image, RAM);
	soft_code_invalidate(&c->cache, 0, RAM);  /* as the core's write hook would */
	memcpy(t->mem.ram + P->base, P->code, P->n);
	soft_code_invalidate(&c->cache, P->base, P->n);
	memcpy(c->gpr, s->gpr, sizeof(c->gpr));
	c->rip = s->rip;
	soft_set_rflags(c, s->rflags);
	memset(&c->fault, 0, sizeof(c->fault));
	c->stats.insns = 0;
	c->stats.ud = 0;
	c->stats.clock_reads = 0;
	c->sys.exit_kind = SOFT_EXIT_NONE;
	c->sys.halted = false;
	c->sys.shadow = 0;
	c->sys.db_pending = false;
	c->sys.dr[6] = 0;
}

static void report(unsigned prog, const char *when, const struct tstate *st, const struct tg_start *s)
{
	if (reported++ >= 3)
		return;
	printf("DIVERGENCE in program %u (%s), code at %#" PRIx64 "\n", prog, when, P->base);
	tier_hex(stdout, "program", P->code, P->n);
	printf("start: rip=%#" PRIx64 " rflags=%#" PRIx64 "\n", s->rip, s->rflags);
	for (unsigned k = 0; k < 16; k++)
		printf("  gpr[%u]=%#" PRIx64 "%s", k, s->gpr[k], k % 4 == 3 ? "\n" : "");
	for (unsigned k = 1; k < NCPU; k++)
		if (!tier_same(&cpus[0], &st[0], &cpus[k], &st[k], true))
			tier_diff(stdout, &cpus[0], &st[0], &cpus[k], &st[k], true);
}

/* A divergence, unless the code read the clock. */
static bool diverged(unsigned prog, const char *when, const struct tstate *st,
                     const struct tg_start *s, unsigned k, unsigned *excused)
{
	if (cpus[0].c->stats.clock_reads || cpus[k].c->stats.clock_reads) {
		(*excused)++;
		return false;
	}
	report(prog, when, st, s);
	return true;
}

/* Run the loaded program on every CPU, whole or in slices of budget; compare.
 *
 * Where soft_run stops for the budget depends on where blocks end, and a store into a
 * page that holds code ends the block after it. Every cache is empty when a program
 * starts (load), and the tiers then decode the same blocks, so they stop at the same
 * instruction and are compared after every slice; but a translator whose arena filled
 * dropped all its code, so a store may end a block in one CPU and not in the other.
 * Such a CPU, when it differs after a slice, goes on alone and is compared where the
 * program ended (an exception or an exit), which does not depend on the budget. */
static bool run_program(unsigned prog, const struct tg_start *s, bool sliced, unsigned *insns,
                        unsigned *results, unsigned *excused)
{
	enum { MAXR = 4000 };
	static uint64_t slices[MAXR];
	unsigned nr = 0;
	for (uint64_t total = 0; nr < MAXR && total < BUDGET; nr++)
		total += slices[nr] = sliced ? 1 + tg_rnd(40) : BUDGET;

	struct tstate st[NCPU];
	int r[NCPU];
	unsigned loose_from[NCPU] = { 0 }; /* 0: in step; else the next slice to run alone */
	uint64_t flushes[NCPU];
	for (unsigned k = 1; k < NCPU; k++)
		flushes[k] = cpus[k].c->jit->stats.flushes;
	char when[48];
	for (unsigned round = 0; round < nr; round++) {
		r[0] = soft_run(cpus[0].c, slices[round]);
		tstate_get(cpus[0].c, r[0], &st[0]);
		for (unsigned k = 1; k < NCPU; k++) {
			if (loose_from[k])
				continue;
			r[k] = soft_run(cpus[k].c, slices[round]);
			tstate_get(cpus[k].c, r[k], &st[k]);
			if (tier_same(&cpus[0], &st[0], &cpus[k], &st[k], true))
				continue;
			if (cpus[k].c->jit->stats.flushes != flushes[k]) {
				loose_from[k] = round + 1;
				continue;
			}
			snprintf(when, sizeof(when), "slice %u of %" PRIu64, round, slices[round]);
			return !diverged(prog, when, st, s, k, excused);
		}
		if (r[0] != SOFT_RUN_BUDGET)
			break;
	}
	for (unsigned k = 1; k < NCPU; k++) {
		if (!loose_from[k])
			continue;
		for (unsigned round = loose_from[k]; r[k] == SOFT_RUN_BUDGET && round < nr; round++)
			r[k] = soft_run(cpus[k].c, slices[round]);
		tstate_get(cpus[k].c, r[k], &st[k]);
		if (r[k] != SOFT_RUN_BUDGET && r[0] != SOFT_RUN_BUDGET &&
		    !tier_same(&cpus[0], &st[0], &cpus[k], &st[k], true))
			return !diverged(prog, "the end (alone since an arena flush)", st, s, k, excused);
	}
	*insns += (unsigned)cpus[0].c->stats.insns;
	if (r[0] >= 0 && r[0] < 4)
		results[r[0]]++;
	if (verbose)
		printf("program %u: %u bytes, soft_run %d (vector %u), %" PRIu64 " insns\n", prog, P->n,
		       r[0], r[0] == SOFT_RUN_EXCEPTION ? cpus[0].c->fault.vector : 0,
		       cpus[0].c->stats.insns);
	return true;
}

static void differential(uint64_t seed, unsigned count, int only)
{
	tg_seed(seed * 0x9e3779b97f4a7c15ull + 1);
	/* Data: random bytes. Elsewhere INT3, so that a wild jump (a corrupted return
	 * address) ends there rather than running on through pages of ADD [RAX], AL. */
	for (unsigned k = 0; k < RAM; k++)
		image[k] = (k >= DATA && k < DATA_END) || (k >= RO && k < RO + 0x1000) ? (uint8_t)tg_rnd64()
		                                                                    : 0xcc;
	tier_scrub_clock_insns(image, RAM); /* a wild jump may run the data */
	static const char *const names[NCPU] = { "interp", "jit", "jit-small" };
	for (unsigned k = 0; k < NCPU; k++) {
		int r = tcpu_new(&cpus[k], names[k], RAM, k ? SOFT_TIER_TRANSLATE : SOFT_TIER_INTERPRET,
		                 k == 2 ? 96u << 10 : 0);
		CHECK(r == 0);
		if (r)
			return;
		cpus[k].mem.hole = HOLE;
		cpus[k].mem.ro = RO;
		cpus[k].mem.mmio = MMIO;
		struct soft_cpu *c = cpus[k].c;
		c->sys.seg[S_FS].base = FS_BASE;
		c->sys.seg[S_GS].base = GS_BASE;
		soft_sys_update_mode(c);
	}

	unsigned ok = 0, insns = 0, results[4] = { 0 }, excused = 0;
	for (unsigned p = 0; p < count; p++) {
		/* Each program from its own seed: --only reproduces one alone. */
		tg_seed((seed * 0x9e3779b97f4a7c15ull) ^ ((p + 1) * 0xbf58476d1ce4e5b9ull));
		if (only >= 0 && p != (unsigned)only) {
			ok++;
			continue;
		}
		P = tg_program(CODE + tg_rnd(0x1000), 5 + tg_rnd(26));
		struct tg_start s;
		tg_start(&s, P->base);
		for (unsigned k = 0; k < NCPU; k++)
			load(&cpus[k], &s);
		ok += run_program(p, &s, tg_chance(25), &insns, results, &excused);
	}
	CHECK_EQ(ok, count);
	printf("differential: %u programs (seed %" PRIu64 "), %u instructions each CPU; ends: "
	       "%u budget, %u exception, %u exit; %u excused (clock instructions)\n", count, seed,
	       insns, results[0], results[1], results[2], excused);
	const struct soft_jit_stats *js = &cpus[1].c->jit->stats, *ss = &cpus[2].c->jit->stats;
	printf("translator: %" PRIu64 " blocks, %" PRIu64 " bytes, %" PRIu64 " inline and %" PRIu64
	       " handler instructions, %" PRIu64 " chained; small arena: %" PRIu64 " flushes\n",
	       js->blocks, js->bytes, js->inline_insns, js->call_insns, js->chained, ss->flushes);
	/* The comparison means something only if the translator did run the programs. */
	if (only < 0) {
		CHECK(js->blocks > (uint64_t)count && js->inline_insns > 2 * js->blocks);
		CHECK(js->chained > 0 && ss->flushes > 10);
	}
	for (unsigned k = 0; k < NCPU; k++)
		tcpu_free(&cpus[k]);
}

/* ---- budget and kick ---- */

/* Loops that never end, at 0x1000 (the counts are instructions per block):
 *  self:  1: add rax, 1 ; jmp 1b                                  (2, chained to itself)
 *  call:  1: adc rax, 0 ; bt rax, 3 ; jmp 1b                       (3, handlers inside)
 *  two:   1: add rax, 1 ; cmp rax, rbx ; jne 2f ; 2: sub rcx, 1 ; jmp 1b   (3 + 2)
 *  popf:  1: pushf ; popf ; jmp 1b                 (3, not chainable: back to soft_run)
 *  pages: at 0x1ffe: 1: add rax, 1 (crosses into 0x2000) ; jmp 1b  (one block, two pages) */
struct loop {
	const char *name;
	uint64_t at;
	uint8_t code[16];
	unsigned len, block_max;
};

static const struct loop loops[] = {
	{ "self", 0x1000, { 0x48, 0x83, 0xc0, 0x01, 0xeb, 0xfa }, 6, 2 },
	{ "call", 0x1000, { 0x48, 0x83, 0xd0, 0x00, 0x48, 0x0f, 0xba, 0xe0, 0x03, 0xeb, 0xf5 }, 11, 3 },
	{ "two", 0x1000, { 0x48, 0x83, 0xc0, 0x01, 0x48, 0x39, 0xd8, 0x75, 0x00, 0x48, 0x83,
	                   0xe9, 0x01, 0xeb, 0xf1 }, 15, 3 },
	{ "popf", 0x1000, { 0x9c, 0x9d, 0xeb, 0xfc }, 4, 3 },
	{ "pages", 0x1ffe, { 0x48, 0x83, 0xc0, 0x01, 0xeb, 0xfa }, 6, 2 },
};

struct kicker {
	struct soft_cpu *c;
	int returned;          /* atomic */
};

static void *kick_thread(void *arg)
{
	struct kicker *k = arg;
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	__atomic_store_n(&k->c->sys.kick, 1, __ATOMIC_RELAXED);
	/* A soft_run that ignores the kick would spin forever: fail instead of hanging. */
	for (int waited = 0; !__atomic_load_n(&k->returned, __ATOMIC_ACQUIRE); waited++) {
		if (waited == 5000) {
			printf("FAIL: soft_run still running 5 s after the kick\n");
			fflush(stdout);
			_exit(1);
		}
		ts.tv_nsec = 1000 * 1000;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void budget_and_kick(void)
{
	static const uint64_t budgets[] = { 1, 2, 3, 7, 100, 1000, 12345 };
	for (unsigned l = 0; l < sizeof(loops) / sizeof(loops[0]); l++) {
		const struct loop *lp = &loops[l];
		struct tcpu t[2];
		for (unsigned tier = 0; tier < 2; tier++) {
			CHECK(tcpu_new(&t[tier], tier ? "jit" : "interp", RAM,
			               tier ? SOFT_TIER_TRANSLATE : SOFT_TIER_INTERPRET, 0) == 0);
			memcpy(t[tier].mem.ram + lp->at, lp->code, lp->len);
			t[tier].c->gpr[RSP] = STACK;
		}
		for (unsigned b = 0; b < sizeof(budgets) / sizeof(budgets[0]); b++) {
			uint64_t n[2];
			for (unsigned tier = 0; tier < 2; tier++) {
				struct soft_cpu *c = t[tier].c;
				c->rip = lp->at;
				c->stats.insns = 0;
				int r = soft_run(c, budgets[b]);
				n[tier] = c->stats.insns;
				/* Blocks run whole: at least the budget, less than one more block. */
				if (r != SOFT_RUN_BUDGET || n[tier] < budgets[b] ||
				    n[tier] >= budgets[b] + lp->block_max) {
					printf("FAIL: loop %s, %s, budget %" PRIu64 ": soft_run %d after %"
					       PRIu64 " instructions\n", lp->name, t[tier].name, budgets[b], r, n[tier]);
					CHECK(0);
				}
			}
			CHECK_EQ(n[0], n[1]);
		}
		if (t[1].c->jit->stats.blocks == 0 || (l < 3 && t[1].c->jit->stats.chained == 0)) {
			printf("FAIL: loop %s was not translated and chained\n", lp->name);
			CHECK(0);
		}
		for (unsigned tier = 0; tier < 2; tier++) {
			struct soft_cpu *c = t[tier].c;
			/* A kick already there: nothing runs. */
			c->sys.kick = 1;
			c->stats.insns = 0;
			c->rip = lp->at;
			CHECK_EQ(soft_run(c, 1000), SOFT_RUN_KICKED);
			CHECK_EQ(c->stats.insns, 0);
			/* A kick from another thread stops a run with no end of budget in sight. */
			c->sys.kick = 0;
			struct kicker k = { c, 0 };
			pthread_t th;
			CHECK(pthread_create(&th, NULL, kick_thread, &k) == 0);
			int r = soft_run(c, 1ull << 62);
			__atomic_store_n(&k.returned, 1, __ATOMIC_RELEASE);
			pthread_join(th, NULL);
			if (r != SOFT_RUN_KICKED || c->stats.insns == 0) {
				printf("FAIL: loop %s, %s: soft_run %d after the kick\n", lp->name, t[tier].name, r);
				CHECK(0);
			}
			c->sys.kick = 0;
			tcpu_free(&t[tier]);
		}
	}
	printf("budget and kick: %zu loops\n", sizeof(loops) / sizeof(loops[0]));
}

/* ---- a linear page mapped elsewhere ----
 *
 * Translated exits to another page (and returns) find their block in the jump cache,
 * keyed by linear address, which page-table changes leave alone; the fetch TLB must
 * still map the address to that block's physical page. Run 1 calls F at X+0x100 while
 * X maps P1 (F: mov eax, 1 ; ret); then X is mapped to P2 and the TLB flushed (as a
 * MOV CR3 does), and run 2 reaches X+0x100 again (F there: mov eax, 2 ; ret) after
 * something else in X filled the TLB with the new mapping: by a direct call from
 * another page, or by a RET from X+0x300 (push X+0x100 ; ret). */
#define ALIAS_X  0x16000u
#define ALIAS_P1 0x14000u
#define ALIAS_P2 0x15000u

static void aliases(void)
{
	static const uint8_t main1[] = { 0xe8, 0xfb, 0x50, 0x01, 0x00, 0xcc };  /* call X+0x100 */
	/* at 0x1010: call X+0x200 (ret) ; call X+0x100 ; int3
	 * at 0x1020: call X+0x300 (push X+0x100 ; ret) ; int3 */
	static const uint8_t main2[] = { 0xe8, 0xeb, 0x51, 0x01, 0x00, 0xe8, 0xe6, 0x50, 0x01, 0x00,
	                                 0xcc };
	static const uint8_t main3[] = { 0xe8, 0xdb, 0x52, 0x01, 0x00, 0xcc };
	static const uint8_t f1[] = { 0xb8, 1, 0, 0, 0, 0xc3 }, f2[] = { 0xb8, 2, 0, 0, 0, 0xc3 };
	static const uint8_t push_ret[] = { 0x68, 0x00, 0x61, 0x01, 0x00, 0xc3 };
	for (unsigned way = 0; way < 2; way++) {
		struct tcpu t[2];
		struct tstate st[2];
		for (unsigned tier = 0; tier < 2; tier++) {
			CHECK(tcpu_new(&t[tier], tier ? "jit" : "interp", RAM,
			               tier ? SOFT_TIER_TRANSLATE : SOFT_TIER_INTERPRET, 0) == 0);
			uint8_t *ram = t[tier].mem.ram;
			memcpy(ram + 0x1000, main1, sizeof(main1));
			memcpy(ram + 0x1010, main2, sizeof(main2));
			memcpy(ram + 0x1020, main3, sizeof(main3));
			memcpy(ram + ALIAS_P1 + 0x100, f1, sizeof(f1));
			memcpy(ram + ALIAS_P2 + 0x100, f2, sizeof(f2));
			ram[ALIAS_P1 + 0x200] = ram[ALIAS_P2 + 0x200] = 0xc3;
			memcpy(ram + ALIAS_P2 + 0x300, push_ret, sizeof(push_ret));
			struct soft_cpu *c = t[tier].c;
			t[tier].mem.alias_la = ALIAS_X;
			t[tier].mem.alias_pa = ALIAS_P1;
			c->gpr[RSP] = STACK;
			c->rip = 0x1000;
			int r = soft_run(c, 1000);
			CHECK(r == SOFT_RUN_EXCEPTION && c->fault.vector == 3 && c->gpr[RAX] == 1);
			t[tier].mem.alias_pa = ALIAS_P2;
			soft_tlb_flush(c);
			c->rip = way ? 0x1020 : 0x1010;
			r = soft_run(c, 1000);
			tstate_get(c, r, &st[tier]);
			if (r != SOFT_RUN_EXCEPTION || c->fault.vector != 3 || c->gpr[RAX] != 2) {
				printf("FAIL: alias by %s, %s: soft_run %d, vector %u, eax %" PRIu64
				       " (want 2)\n", way ? "RET" : "CALL", t[tier].name, r, c->fault.vector,
				       c->gpr[RAX]);
				CHECK(0);
			}
		}
		if (!tier_same(&t[0], &st[0], &t[1], &st[1], true)) {
			tier_diff(stdout, &t[0], &st[0], &t[1], &st[1], false);
			CHECK(0);
		}
		for (unsigned tier = 0; tier < 2; tier++)
			tcpu_free(&t[tier]);
	}
	printf("aliases: 2 remappings\n");
}

static void on_alarm(int sig)
{
	static const char msg[] = "FAIL: still running after 50 s (a soft_run past its budget?)\n";
	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

int main(int argc, char **argv)
{
	uint64_t seed = 1;
	unsigned count = 5000;
	int only = -1;
	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--seed") && k + 1 < argc)
			seed = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--count") && k + 1 < argc)
			count = (unsigned)strtoul(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--only") && k + 1 < argc)
			only = atoi(argv[++k]);
		else if (!strcmp(argv[k], "--verbose"))
			verbose = true;
	}
	signal(SIGALRM, on_alarm);
	alarm(50);
	differential(seed, count, only);
	budget_and_kick();
	aliases();
	return check_done();
}
