/* The soft CPU's tiers side by side: CPUs that must behave as one (the interpreter and
 * the translator), each over its own copy of one memory, and a comparison of everything
 * they leave behind. Shared by test_soft_tiers.c and tests/fuzz/fuzz_translate.c.
 *
 * The memory is flat (linear = physical = an offset into one buffer, as flatmem.h) with
 * a few odd pages, so that the translator's inline TLB probe meets every kind of miss:
 * a hole (not present: #PF), a read-only page (#PF on writes), an MMIO page (no host
 * pointer, so never in the TLB: every access goes through io_read/io_write) and
 * supervisor pages (#PF at CPL 3). Beyond `size` everything is a #PF. One linear page
 * may be an alias of another physical page, which the test may change (as a guest
 * changes its page tables). */
#ifndef TRIVISOR_TEST_TIER_CMP_H
#define TRIVISOR_TEST_TIER_CMP_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/soft/translate/jit.h"
#include "engine/soft/soft.h"

#define TMEM_NONE (~0ull)

/* The comparison is the harness, not the code under test: under libFuzzer it gets no
 * coverage instrumentation (which would otherwise take most of the time). */
#ifdef __clang__
#define TIER_NOCOV __attribute__((no_sanitize("coverage")))
#else
#define TIER_NOCOV
#endif

struct tmem {
	uint8_t *ram;
	uint64_t size;
	uint64_t alias_la, alias_pa;  /* one linear page mapped elsewhere, or TMEM_NONE */
	uint64_t hole, ro, mmio;      /* physical page addresses, or TMEM_NONE */
	uint64_t super_end;           /* pages below it are supervisor-only */
	uint64_t io_hash, io_writes;  /* FNV-1a over every MMIO write (address, bytes) */
};

TIER_NOCOV static inline int tmem_translate(void *opaque, uint64_t la, enum soft_acc acc, unsigned cpl,
                                 uint64_t *pa, uint8_t **host, struct soft_fault *f)
{
	const struct tmem *m = opaque;
	uint64_t phys = (la & ~0xfffull) == m->alias_la ? m->alias_pa | (la & 0xfff) : la;
	uint64_t page = phys & ~0xfffull;
	bool in = phys < m->size && page != m->hole;
	bool super = page < m->super_end;
	bool denied = in && ((cpl == 3 && super) || (page == m->ro && acc == SOFT_ACC_WRITE));
	if (!in || denied) {
		/* The #PF error code: P, W/R, U/S, I/D (SDM vol. 3A 4.7). */
		f->vector = 14;
		f->has_err = true;
		f->err = (denied ? 1u : 0) | (acc == SOFT_ACC_WRITE ? 2u : 0) | (cpl == 3 ? 4u : 0) |
		         (acc == SOFT_ACC_FETCH ? 0x10u : 0);
		f->cr2 = la;
		return -1;
	}
	*pa = phys;
	*host = page == m->mmio ? NULL : m->ram + phys;
	return (super ? SOFT_XL_SUPER : 0) | (page == m->ro ? SOFT_XL_RO : 0);
}

/* Device reads: bytes that depend on the address only, so both CPUs read the same. */
TIER_NOCOV static inline void tmem_io_read(void *opaque, uint64_t pa, void *dst, unsigned len)
{
	(void)opaque;
	for (unsigned k = 0; k < len; k++)
		((uint8_t *)dst)[k] = (uint8_t)((pa + k) * 0x9d + 0x5b);
}

TIER_NOCOV static inline void tmem_fnv(uint64_t *h, uint64_t v, unsigned len)
{
	for (unsigned k = 0; k < len; k++)
		*h = (*h ^ ((v >> (8 * k)) & 0xff)) * 0x100000001b3ull;
}

TIER_NOCOV static inline void tmem_io_write(void *opaque, uint64_t pa, const void *src, unsigned len)
{
	struct tmem *m = opaque;
	tmem_fnv(&m->io_hash, pa, 8);
	for (unsigned k = 0; k < len; k++)
		tmem_fnv(&m->io_hash, ((const uint8_t *)src)[k], 1);
	m->io_writes++;
}

static const struct soft_mem_ops tmem_ops = { tmem_translate, tmem_io_read, tmem_io_write };

/* A CPU over its own memory. */
struct tcpu {
	const char *name;
	struct tmem mem;
	struct soft_cpu *c;
};

/* Make t: RAM of `size` bytes (zeroed), CPU in the reset state of soft_cpu_init, tier
 * as asked; arena > 0 gives the translator a code arena of that many bytes instead of
 * the default, so that it fills and is flushed often. 0 or -1. */
static inline int tcpu_new(struct tcpu *t, const char *name, uint64_t size, enum soft_tier tier,
                           size_t arena)
{
	memset(t, 0, sizeof(*t));
	t->name = name;
	t->mem = (struct tmem){ .size = size, .alias_la = TMEM_NONE, .hole = TMEM_NONE,
	                        .ro = TMEM_NONE, .mmio = TMEM_NONE,
	                        .io_hash = 0xcbf29ce484222325ull };
	t->mem.ram = calloc(1, size);
	t->c = calloc(1, sizeof(*t->c));
	if (!t->mem.ram || !t->c || soft_cpu_init(t->c, &tmem_ops, &t->mem) != 0)
		goto fail;
	if (soft_cpu_set_tier(t->c, tier) != 0)
		goto fail_cpu;
	if (arena && t->c->jit) {
		/* Same arena, smaller: nothing was translated yet. */
		soft_jit_destroy(t->c->jit);
		if (soft_jit_init(t->c->jit, arena) != 0) {
			free(t->c->jit);
			t->c->jit = NULL;
			goto fail_cpu;
		}
	}
	return 0;
fail_cpu:
	soft_cpu_destroy(t->c);
fail:
	free(t->c);
	free(t->mem.ram);
	return -1;
}

static inline void tcpu_free(struct tcpu *t)
{
	soft_cpu_destroy(t->c);
	free(t->c);
	free(t->mem.ram);
}

/* ---- the state compared ---- */

#define TSTATE_MAX 256

/* Every architectural value of a CPU after a run, by name, and the run's result. The
 * names are only formatted when printed: states are taken after every soft_run. */
struct tstate {
	unsigned n;
	struct {
		const char *name, *sub;  /* name[idx].sub; sub NULL and idx < 0 when absent */
		int idx;
		uint64_t v;
	} f[TSTATE_MAX];
};

TIER_NOCOV static inline void ts_put(struct tstate *s, const char *name, int idx, uint64_t v)
{
	if (s->n >= TSTATE_MAX)
		abort(); /* the table is too small for the fields below: a bug in this file */
	s->f[s->n].name = name;
	s->f[s->n].sub = NULL;
	s->f[s->n].idx = idx;
	s->f[s->n].v = v;
	s->n++;
}

TIER_NOCOV static inline void ts_seg(struct tstate *s, const char *name, const struct seg *g)
{
	static const char *const sub[] = { "sel", "base", "limit", "attr" };
	uint64_t v[] = { g->sel, g->base, g->limit, (uint64_t)g->attr | (uint64_t)g->unusable << 16 };
	for (unsigned k = 0; k < 4; k++) {
		ts_put(s, name, -1, v[k]);
		s->f[s->n - 1].sub = sub[k];
	}
}

static inline const char *ts_name(const struct tstate *s, unsigned k, char *buf, size_t len)
{
	if (s->f[k].idx >= 0)
		snprintf(buf, len, "%s[%d]", s->f[k].name, s->f[k].idx);
	else if (s->f[k].sub)
		snprintf(buf, len, "%s.%s", s->f[k].name, s->f[k].sub);
	else
		snprintf(buf, len, "%s", s->f[k].name);
	return buf;
}

/* The state of c after soft_run returned ret. Not compared: the caches and statistics
 * other than the instruction counts, the translator's own fields, and
 * sys.tsc_offset (WRMSR IA32_TSC sets it relative to the host clock). */
TIER_NOCOV static inline void tstate_get(const struct soft_cpu *c, int ret, struct tstate *s)
{
	static const char *const seg_names[S__COUNT] = { "es", "cs", "ss", "ds", "fs", "gs" };
	const struct soft_sys *y = &c->sys;
	s->n = 0;
	ts_put(s, "soft_run", -1, (uint64_t)(int64_t)ret);
	ts_put(s, "insns", -1, c->stats.insns);
	ts_put(s, "ud", -1, c->stats.ud);
	for (int k = 0; k < 16; k++)
		ts_put(s, "gpr", k, c->gpr[k]);
	ts_put(s, "rip", -1, c->rip);
	ts_put(s, "rflags", -1, soft_get_rflags(c));
	ts_put(s, "cpl", -1, c->cpl);
	if (ret == SOFT_RUN_EXCEPTION) { /* c->fault means nothing otherwise */
		ts_put(s, "fault.vector", -1, c->fault.vector);
		ts_put(s, "fault.err", -1, c->fault.has_err ? c->fault.err : ~0ull);
		ts_put(s, "fault.cr2", -1, c->fault.vector == 14 ? c->fault.cr2 : 0);
	}
	if (ret == SOFT_RUN_EXIT) {
		ts_put(s, "exit_kind", -1, y->exit_kind);
		if (y->exit_kind == SOFT_EXIT_IO) {
			const struct soft_io_exit *io = &y->io;
			ts_put(s, "io.port", -1, io->port);
			ts_put(s, "io.size", -1, io->size);
			ts_put(s, "io.is_write", -1, io->is_write);
			ts_put(s, "io.count", -1, io->count);
			ts_put(s, "io.string", -1, io->string);
			ts_put(s, "io.next_rip", -1, io->next_rip);
			uint64_t h = 0xcbf29ce484222325ull;
			size_t len = (size_t)io->count * io->size;
			for (size_t k = 0; io->is_write && k < len && k < sizeof(io->data); k++)
				tmem_fnv(&h, io->data[k], 1);
			ts_put(s, "io.data_hash", -1, h);
		}
	}
	for (int k = 0; k < S__COUNT; k++) {
		ts_seg(s, seg_names[k], &y->seg[k]);
		ts_put(s, "seg_base", k, c->seg_base[k]);
	}
	ts_seg(s, "tr", &y->tr);
	ts_seg(s, "ldtr", &y->ldtr);
	ts_put(s, "gdt.base", -1, y->gdt.base);
	ts_put(s, "gdt.limit", -1, y->gdt.limit);
	ts_put(s, "idt.base", -1, y->idt.base);
	ts_put(s, "idt.limit", -1, y->idt.limit);
	ts_put(s, "cr0", -1, y->cr0);
	ts_put(s, "cr2", -1, y->cr2);
	ts_put(s, "cr3", -1, y->cr3);
	ts_put(s, "cr4", -1, y->cr4);
	ts_put(s, "cr8", -1, y->cr8);
	ts_put(s, "efer", -1, y->efer);
	for (int k = 0; k < 4; k++)
		ts_put(s, "pdpte", k, y->pdpte[k]);
	for (int k = 0; k < 8; k++)
		ts_put(s, "dr", k, y->dr[k]);
	ts_put(s, "star", -1, y->star);
	ts_put(s, "lstar", -1, y->lstar);
	ts_put(s, "cstar", -1, y->cstar);
	ts_put(s, "sfmask", -1, y->sfmask);
	ts_put(s, "kernel_gs_base", -1, y->kernel_gs_base);
	ts_put(s, "tsc_aux", -1, y->tsc_aux);
	ts_put(s, "apic_base", -1, y->apic_base);
	ts_put(s, "pat", -1, y->pat);
	ts_put(s, "misc_enable", -1, y->misc_enable);
	ts_put(s, "sysenter_cs", -1, y->sysenter_cs);
	ts_put(s, "sysenter_esp", -1, y->sysenter_esp);
	ts_put(s, "sysenter_eip", -1, y->sysenter_eip);
	ts_put(s, "mtrr_def_type", -1, y->mtrr_def_type);
	for (int k = 0; k < 11; k++)
		ts_put(s, "mtrr_fix", k, y->mtrr_fix[k]);
	for (int k = 0; k < 2 * SOFT_MTRR_VAR; k++)
		ts_put(s, "mtrr_var", k, y->mtrr_var[k]);
	ts_put(s, "mode", -1, y->mode);
	ts_put(s, "seg_check", -1, y->seg_check);
	ts_put(s, "la_mask", -1, y->la_mask);
	ts_put(s, "sp_mask", -1, y->sp_mask);
	ts_put(s, "shadow", -1, y->shadow);
	ts_put(s, "irq_window", -1, y->irq_window);
	ts_put(s, "nmi_blocked", -1, y->nmi_blocked);
	ts_put(s, "db_pending", -1, y->db_pending);
	ts_put(s, "halted", -1, y->halted);
	ts_put(s, "in_pending", -1, y->in_pending);
	ts_put(s, "fault_depth", -1, y->fault_depth);
	const struct soft_fpu *p = &c->fpu;
	for (int k = 0; k < 16; k++) {
		ts_put(s, "xmm.lo", k, p->xmm[k].q[0]);
		ts_put(s, "xmm.hi", k, p->xmm[k].q[1]);
	}
	ts_put(s, "mxcsr", -1, p->mxcsr);
	for (int k = 0; k < 8; k++) {
		ts_put(s, "st.mant", k, p->st[k].mant);
		ts_put(s, "st.se", k, p->st[k].se);
	}
	ts_put(s, "fcw", -1, p->fcw);
	ts_put(s, "fsw", -1, p->fsw);
	ts_put(s, "ftop", -1, p->top);
	ts_put(s, "fvalid", -1, p->valid);
	ts_put(s, "fop", -1, p->fop);
	ts_put(s, "fip", -1, p->fip);
	ts_put(s, "fdp", -1, p->fdp);
}

/* Print the values that differ between a and b (or all of them), and the memory and
 * MMIO writes that differ; returns the number of differences. */
static inline unsigned tier_diff(FILE *out, const struct tcpu *a, const struct tstate *sa,
                                 const struct tcpu *b, const struct tstate *sb, bool all)
{
	unsigned bad = 0;
	for (unsigned k = 0; k < sa->n && k < sb->n; k++) {
		bool differ = sa->f[k].v != sb->f[k].v;
		bad += differ;
		char name[32];
		if (differ || (all && k < 25))  /* all: the result and the registers */
			fprintf(out, "  %-16s %s=%#-18" PRIx64 " %s=%#" PRIx64 "%s\n",
			        ts_name(sa, k, name, sizeof(name)), a->name, sa->f[k].v, b->name,
			        sb->f[k].v, differ ? "   <--" : "");
	}
	if (sa->n != sb->n) {
		fprintf(out, "  (%u fields against %u)\n", sa->n, sb->n);
		bad++;
	}
	unsigned shown = 0;
	for (uint64_t k = 0; k < a->mem.size && k < b->mem.size; k++) {
		if (a->mem.ram[k] == b->mem.ram[k])
			continue;
		if (shown++ < 16)
			fprintf(out, "  mem[%#" PRIx64 "] %s=%02x %s=%02x\n", k, a->name, a->mem.ram[k],
			        b->name, b->mem.ram[k]);
		bad++;
	}
	if (a->mem.io_hash != b->mem.io_hash || a->mem.io_writes != b->mem.io_writes) {
		fprintf(out, "  MMIO writes: %s %" PRIu64 " (hash %#" PRIx64 "), %s %" PRIu64
		        " (hash %#" PRIx64 ")\n", a->name, a->mem.io_writes, a->mem.io_hash, b->name,
		        b->mem.io_writes, b->mem.io_hash);
		bad++;
	}
	return bad;
}

/* Does anything differ (no printing)? with_ram: the memories too (the costly part). */
TIER_NOCOV static inline bool tier_same(const struct tcpu *a, const struct tstate *sa, const struct tcpu *b,
                             const struct tstate *sb, bool with_ram)
{
	if (sa->n != sb->n || a->mem.io_hash != b->mem.io_hash ||
	    a->mem.io_writes != b->mem.io_writes || a->mem.size != b->mem.size)
		return false;
	for (unsigned k = 0; k < sa->n; k++)
		if (sa->f[k].v != sb->f[k].v)
			return false;
	return !with_ram || memcmp(a->mem.ram, b->mem.ram, a->mem.size) == 0;
}

/* Instructions whose results depend on the host's clock: RDTSC (0F 31), RDTSCP
 * (0F 01 F9) and RDMSR (0F 32, IA32_TSC among others). Two runs of them differ, so the
 * tests keep them out of the code they generate (code that writes one and runs it is
 * told by soft_stats.clock_reads). */
TIER_NOCOV static inline bool tier_clock_insn(const uint8_t *p, size_t n, size_t k)
{
	return p[k] == 0x0f && k + 1 < n &&
	       (p[k + 1] == 0x31 || p[k + 1] == 0x32 ||
	        (p[k + 1] == 0x01 && k + 2 < n && p[k + 2] == 0xf9));
}

/* Turn every such instruction into UD2 (0F 0B). */
TIER_NOCOV static inline void tier_scrub_clock_insns(uint8_t *p, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (tier_clock_insn(p, n, k))
			p[k + 1] = 0x0b;
}

static inline void tier_hex(FILE *out, const char *what, const uint8_t *p, size_t n)
{
	fprintf(out, "%s (%zu bytes):", what, n);
	for (size_t k = 0; k < n; k++)
		fprintf(out, "%s%02x", k % 32 ? " " : "\n  ", p[k]);
	fprintf(out, "\n");
}

#endif
