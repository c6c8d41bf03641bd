/* The translator tier (see jit.h): one decoded block -> host x86-64 code.
 *
 * Host register use in translated code:
 *   rbx  struct soft_cpu * (pinned)       r12  RIP at block entry (guest RIP of ins[0])
 *   rax, rcx, rdx  operand a, operand b, result (kept as pending lazy flags: lazy_flags)
 *   rsi  linear address, then host address
 *   rdi, r8  TLB probe temporaries
 *   rbp, r13, r14, r15, r9, r10, r11  guest GPRs cached within a block (the handlers and
 *                       helpers a block calls keep the first four; the other three
 *                       are written back and dropped before any call)
 * Guest RIPs are r12-relative: one block of physical code may be entered at several
 * linear addresses (Linux runs its early code at both its physical and its virtual
 * address), as the interpreter allows.
 *
 * A block returns to the dispatcher (soft_run) with eax = done << 8 | status, where
 * status is the SOFT_* of the instruction that stopped it and done the instructions
 * retired, and c->rip set as the interpreter loop would have left it. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "engine/soft/block.h"
#include "engine/soft/translate/jit.h"
#include "engine/soft/mmu/mem.h"
#include "engine/soft/interp/ops.h"

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
#define NOIDX (-1)

/* Operand forms for op_m/op_r. */
#define W 1u       /* REX.W: 64-bit operation */
#define P66 2u     /* operand-size prefix: 16-bit operation */
#define BREG 4u    /* byte registers: SPL..DIL need a REX prefix */

#define OFF(f) ((int32_t)offsetof(struct soft_cpu, f))
#define GPR(r) (OFF(gpr) + 8 * (int32_t)(r))

_Static_assert(sizeof(struct soft_tlb_entry) == 32, "TLB probe indexes entries by << 5");
_Static_assert((SOFT_TLB_SIZE & (SOFT_TLB_SIZE - 1)) == 0, "TLB probe masks the index");
_Static_assert(offsetof(struct soft_tlb_entry, tag) == 0 && offsetof(struct soft_tlb_entry, addend) == 8,
               "TLB probe reads tag and addend at 0 and 8");
_Static_assert(offsetof(struct soft_cpu, lf_sz) == offsetof(struct soft_cpu, lf_op) + 1,
               "lf_op and lf_sz are written as one 16-bit store");

/* ---- emitter ---- */

/* Out-of-line code a block's fixups point at: instruction k's slow stub, or (k = 0)
 * the block's handler trampoline (emit_call_insn). */
enum { STUB_SLOW, STUB_CALL, STUB__COUNT };
/* edx at a call of the shared call stub (emit_call_stub) */
#define CALL_LAST 0x100u
#define CALL_NEXT_SHIFT 16
_Static_assert(SOFT_BLOCK_MAX <= 0xff && SOFT_BLOCK_MAX * 15 < 0x10000,
               "the call stub's edx holds k in 8 bits and the next offset in 16");
#define MAX_FIX (SOFT_BLOCK_MAX * 12)

/* Guest GPRs cached in host registers within a block. A register is loaded from
 * struct soft_cpu at its first use and kept while the block runs inline; a write only
 * marks it dirty, and dirty registers are written back when evicted, before a handler
 * call and at every exit. A TLB miss goes to the instruction's slow stub, which writes
 * back what was dirty at the miss, runs the handler and reloads what the inline code
 * after the instruction expects in host registers (rc_slow, rc_after). */
#define NSLOT 7
#define NSLOT_KEPT 4              /* the callee-saved ones, first */
static const uint8_t slot_reg[NSLOT] = { RBP, R13, R14, R15, R9, R10, R11 };

struct rcache {
	uint8_t g[NSLOT];         /* guest GPR + 1 held by the slot, 0: free */
	bool dirty[NSLOT];        /* newer than struct soft_cpu's copy */
};

struct em {
	uint8_t *base, *p, *end;  /* write view: base is the arena start */
	bool full;
	const struct sblock *b;
	const struct soft_jit *jit;
	unsigned k;               /* instruction being emitted */
	uint32_t off;             /* its offset from the block's first byte */
	bool flags_live;          /* host flags equal the guest's lazy flags (all 6) */
	uint8_t live_lf;          /* ... of this lazy kind (LF_ADD, LF_SUB, LF_LOGIC, LF_ADC,
	                           * LF_SBB: every one with the guest's CF in the host's) */
	bool cf_in_rflags;        /* the last flag producer was an inline INC/DEC: CF is in
	                           * rflags already */
	bool dead[SOFT_BLOCK_MAX]; /* instruction k's flags are overwritten before anything
	                            * can see them: not stored */
	struct { uint32_t at; uint8_t kind, k; } fix[MAX_FIX];
	unsigned nfix;
	bool need[STUB__COUNT][SOFT_BLOCK_MAX];
	uint32_t stub_at[STUB__COUNT][SOFT_BLOCK_MAX];
	uint32_t cont_at[SOFT_BLOCK_MAX]; /* where instruction k's inline code continues */
	uint32_t exit_at;         /* the shared epilogue */
	uint8_t redo_opc[SOFT_BLOCK_MAX]; /* inline ALU op k's host opcode: its slow stub
	                                   * redoes it on lf_a/lf_b so the host flags are
	                                   * live at the continuation, as inline */
	unsigned ninline, ncall;
	struct rcache rc;         /* the cache as the code being emitted leaves it */
	struct rcache rc_slow[SOFT_BLOCK_MAX];  /* at instruction k's jumps to its slow stub */
	uint8_t rc_mixed[SOFT_BLOCK_MAX];       /* slots whose register differs between them */
	struct rcache rc_after[SOFT_BLOCK_MAX]; /* where instruction k's inline code ends */
	bool not_inline;          /* instruction k cannot stay inline after all: its
	                           * slow-stub jumps saw different dirty registers or
	                           * pending flags, or it would leave with flags pending;
	                           * it is a handler call instead */
	uint16_t uses[SOFT_BLOCK_MAX]; /* the GPRs instruction k names, for eviction */
	uint16_t pend;            /* lazy flags not stored yet (lf | sz << 8, 0: none): their
	                           * a, b and result are in rax, rcx, rdx (lazy_flags) */
	uint16_t known;           /* the guest's lazy flags, once stored, are of this kind
	                           * (lf | sz << 8, 0: unknown): an inline instruction of
	                           * this block wrote them (flags_redo) */
	bool lazy_set;            /* instruction k called lazy_flags */
	uint16_t pend_slow[SOFT_BLOCK_MAX];  /* ... at instruction k's slow-stub jumps */
	uint16_t pend_after[SOFT_BLOCK_MAX]; /* ... where instruction k's inline code ends */
	bool chainable;           /* no instruction can change what soft_run checks between
	                           * blocks (TF, interrupt shadow, mode, paging) */
	const uint64_t *gen;      /* the code-sharing generation (cache.share), or NULL */
};

static void b1(struct em *e, unsigned x)
{
	if (e->p < e->end)
		*e->p++ = (uint8_t)x;
	else
		e->full = true;
}

static void b4(struct em *e, uint32_t x)
{
	for (unsigned k = 0; k < 4; k++)
		b1(e, (x >> (8 * k)) & 0xff);
}

static void b8(struct em *e, uint64_t x)
{
	b4(e, (uint32_t)x);
	b4(e, (uint32_t)(x >> 32));
}

static uint32_t pos(const struct em *e)
{
	return (uint32_t)(e->p - e->base);
}

static void opcode(struct em *e, uint32_t opc)
{
	if (opc > 0xffff)
		b1(e, opc >> 16);
	if (opc > 0xff)
		b1(e, (opc >> 8) & 0xff);
	b1(e, opc & 0xff);
}

static void prefixes(struct em *e, unsigned f, unsigned r, int index, unsigned base, bool breg)
{
	if (f & P66)
		b1(e, 0x66);
	unsigned rex = 0x40 | (f & W ? 8 : 0) | ((r >> 3) & 1) << 2 |
	               (index > 0 ? ((unsigned)index >> 3) & 1 : 0) << 1 | ((base >> 3) & 1);
	if (rex != 0x40 || breg)
		b1(e, rex);
}

/* opc with reg field r and memory operand [base + index << scale + disp]. */
static void op_m(struct em *e, unsigned f, uint32_t opc, unsigned r, unsigned base, int index,
                 unsigned scale, int32_t disp)
{
	prefixes(e, f, r, index, base, (f & BREG) && r >= 4 && r < 8);
	opcode(e, opc);
	unsigned mod = disp == 0 && (base & 7) != RBP ? 0 : disp >= -128 && disp <= 127 ? 1 : 2;
	if (index == NOIDX && (base & 7) != RSP) {
		b1(e, mod << 6 | (r & 7) << 3 | (base & 7));
	} else {
		b1(e, mod << 6 | (r & 7) << 3 | 4);
		b1(e, scale << 6 | ((index == NOIDX ? RSP : (unsigned)index) & 7) << 3 | (base & 7));
	}
	if (mod == 1)
		b1(e, (uint8_t)disp);
	else if (mod == 2)
		b4(e, (uint32_t)disp);
}

/* opc with reg field r and register operand rm. */
static void op_r(struct em *e, unsigned f, uint32_t opc, unsigned r, unsigned rm)
{
	prefixes(e, f, r, NOIDX, rm, (f & BREG) && ((r >= 4 && r < 8) || (rm >= 4 && rm < 8)));
	opcode(e, opc);
	b1(e, 0xc0 | (r & 7) << 3 | (rm & 7));
}

/* [rbx + disp]: a field of struct soft_cpu. */
static void op_c(struct em *e, unsigned f, uint32_t opc, unsigned r, int32_t field)
{
	op_m(e, f, opc, r, RBX, NOIDX, 0, field);
}

static void mov_ri(struct em *e, unsigned r, uint64_t v)
{
	if (v <= 0xffffffffull) {          /* mov r32, imm32 zero-extends */
		prefixes(e, 0, 0, NOIDX, r, false);
		b1(e, 0xb8 + (r & 7));
		b4(e, (uint32_t)v);
	} else if ((int64_t)v == (int32_t)v) { /* mov r64, simm32 */
		op_r(e, W, 0xc7, 0, r);
		b4(e, (uint32_t)v);
	} else {
		prefixes(e, W, 0, NOIDX, r, false);
		b1(e, 0xb8 + (r & 7));
		b8(e, v);
	}
}

static void call_abs(struct em *e, const void *fn)
{
	mov_ri(e, RAX, (uint64_t)(uintptr_t)fn);
	b1(e, 0xff);
	b1(e, 0xd0); /* call rax */
}

/* A forward rel32 jcc (cc, or -1 for JMP) whose target is set later by patch(). */
static uint8_t *jcc_fwd(struct em *e, int cc)
{
	if (cc < 0) {
		b1(e, 0xe9);
	} else {
		b1(e, 0x0f);
		b1(e, 0x80 + (unsigned)cc);
	}
	uint8_t *at = e->p;
	b4(e, 0);
	return e->full ? NULL : at;
}

static void patch(struct em *e, uint8_t *at, uint32_t target)
{
	if (!at || e->full)
		return;
	uint32_t rel = target - (uint32_t)(at + 4 - e->base);
	memcpy(at, &rel, 4);
}

enum { CC_B = 2, CC_E = 4, CC_NE = 5, CC_LE = 0xe };

/* The rel32 at `at` goes to stub `kind` of instruction k, patched once the block's
 * stubs are placed (emit_stubs). */
static void fix_to_stub(struct em *e, uint8_t *at, unsigned kind, unsigned k)
{
	if (!at || e->full)
		return;
	if (e->nfix == MAX_FIX) {
		e->full = true;
		return;
	}
	e->fix[e->nfix].at = (uint32_t)(at - e->base);
	e->fix[e->nfix].kind = (uint8_t)kind;
	e->fix[e->nfix].k = (uint8_t)k;
	e->nfix++;
	e->need[kind][k] = true;
}

/* A rel32 jump (jcc: 0..15, or -1 for JMP) to instruction k's slow stub. */
static void jump_slow(struct em *e, int cc, unsigned k)
{
	uint8_t *at = jcc_fwd(e, cc);
	if (!at || e->full)
		return;
	if (!e->need[STUB_SLOW][k]) {
		e->rc_slow[k] = e->rc;
		e->rc_mixed[k] = 0;
		e->pend_slow[k] = e->pend;
	} else {
		for (unsigned s = 0; s < NSLOT; s++) {
			if ((e->rc.dirty[s] ? e->rc.g[s] : 0) !=
			    (e->rc_slow[k].dirty[s] ? e->rc_slow[k].g[s] : 0))
				e->not_inline = true;
			if (e->rc.g[s] != e->rc_slow[k].g[s])
				e->rc_mixed[k] |= (uint8_t)(1u << s);
		}
		if (e->pend != e->pend_slow[k])
			e->not_inline = true;
	}
	fix_to_stub(e, at, STUB_SLOW, k);
}

static void jump_to(struct em *e, uint32_t target)
{
	b1(e, 0xe9);
	b4(e, target - (pos(e) + 4));
}

/* lea r, [r12 + d]: a guest RIP. */
static void guest_rip(struct em *e, unsigned r, int64_t d)
{
	op_m(e, W, 0x8d, r, R12, NOIDX, 0, (int32_t)d);
}

/* ---- guest registers ---- */

/* Every cache operation is a MOV: the host flags (the guest's, while flags_live)
 * survive it. */

static void rc_store(struct em *e, const struct rcache *rc, unsigned s)
{
	op_c(e, W, 0x89, slot_reg[s], GPR(rc->g[s] - 1));
}

static void rc_load(struct em *e, const struct rcache *rc, unsigned s)
{
	op_c(e, W, 0x8b, slot_reg[s], GPR(rc->g[s] - 1));
}

/* Empty slot s, writing its register back if dirty. */
static void rc_free(struct em *e, unsigned s)
{
	if (e->rc.g[s] && e->rc.dirty[s])
		rc_store(e, &e->rc, s);
	e->rc.g[s] = 0;
	e->rc.dirty[s] = false;
}

/* Write back the registers dirty in rc (the code's own state, or a slow stub's). */
static void rc_writeback(struct em *e, const struct rcache *rc)
{
	for (unsigned s = 0; s < NSLOT; s++)
		if (rc->g[s] && rc->dirty[s])
			rc_store(e, rc, s);
}

/* In instruction k's slow stub, after its handler: load what the inline code after it
 * expects in registers (rc_after[k]), but for the callee-saved slots that held the same
 * register at every jump to the stub and that instruction k does not name: its
 * handler did not write that register, and the call kept the host's. */
static void rc_reload_after(struct em *e, unsigned k)
{
	const struct rcache *a = &e->rc_after[k], *j = &e->rc_slow[k];
	for (unsigned s = 0; s < NSLOT; s++)
		if (a->g[s] && (s >= NSLOT_KEPT || a->g[s] != j->g[s] || (e->rc_mixed[k] >> s & 1) ||
		                (e->uses[k] >> (a->g[s] - 1) & 1)))
			rc_load(e, a, s);
}

/* Before leaving the block: memory up to date, the cache kept. */
static void rc_flush(struct em *e)
{
	rc_writeback(e, &e->rc);
	memset(e->rc.dirty, 0, sizeof(e->rc.dirty));
}

/* Before a call of a helper: the caller-saved slots are written back and dropped. */
static void rc_spill_volatile(struct em *e)
{
	for (unsigned s = NSLOT_KEPT; s < NSLOT; s++)
		rc_free(e, s);
}

/* Before a handler call, which reads and writes the registers in memory. */
static void rc_drop(struct em *e)
{
	rc_flush(e);
	memset(&e->rc, 0, sizeof(e->rc));
}

/* The GPRs an instruction names (operands, address, the stack pointer). */
static uint16_t insn_uses(const struct sinsn *i)
{
	uint16_t m = 0;
	for (unsigned k = 0; k < i->nops; k++)
		if (i->o[k].kind == OPK_REG)
			m |= (uint16_t)(1u << (i->o[k].reg & 15));
	if (i->base < 16)
		m |= (uint16_t)(1u << i->base);
	if (i->index < 16)
		m |= (uint16_t)(1u << i->index);
	if (i->kind == K_PUSH || i->kind == K_POP || i->kind == K_CALL || i->kind == K_RET)
		m |= 1u << R_RSP;
	return m;
}

/* How far ahead of the current instruction guest GPR g is next named (the block's
 * length + 1: never). */
static unsigned next_use(const struct em *e, unsigned g)
{
	for (unsigned k = e->k; k < e->b->n; k++)
		if (e->uses[k] >> g & 1)
			return k - e->k;
	return e->b->n + 1;
}

/* The slot holding guest GPR r, else a free one, else the one whose register is
 * needed furthest ahead (a clean one first at equal distance); load: fill it from
 * memory (not needed for a write of all 64 bits). */
static unsigned rc_slot(struct em *e, unsigned r, bool load)
{
	struct rcache *rc = &e->rc;
	unsigned s = NSLOT, far = 0;
	for (unsigned t = 0; t < NSLOT; t++) {
		if (rc->g[t] == r + 1)
			return t;
		unsigned d = !rc->g[t] ? 3 * SOFT_BLOCK_MAX : 2 * next_use(e, rc->g[t] - 1u) +
		                                                 !rc->dirty[t];
		if (s == NSLOT || d > far) {
			s = t;
			far = d;
		}
	}
	rc_free(e, s);
	rc->g[s] = (uint8_t)(r + 1);
	if (load)
		rc_load(e, rc, s);
	return s;
}

/* AH, CH, DH, BH stay in memory: the cached register is written back and dropped. */
static unsigned rc_uncache(struct em *e, unsigned r)
{
	unsigned g = r - SREG_AH;
	for (unsigned s = 0; s < NSLOT; s++)
		if (e->rc.g[s] == g + 1)
			rc_free(e, s);
	return g;
}

/* Host h = guest register r of sz bytes, zero-extended. */
static void ld_greg(struct em *e, unsigned h, unsigned r, unsigned sz)
{
	if (r >= SREG_AH) {
		op_c(e, 0, 0x0fb6, h, GPR(rc_uncache(e, r)) + 1);
		return;
	}
	unsigned x = slot_reg[rc_slot(e, r, true)];
	switch (sz) {
	case 8: op_r(e, W, 0x89, x, h); break;
	case 4: op_r(e, 0, 0x89, x, h); break;        /* mov h32, x32 zero-extends */
	case 2: op_r(e, 0, 0x0fb7, h, x); break;
	default: op_r(e, BREG, 0x0fb6, h, x); break;
	}
}

/* The host register holding guest GPR r, for an address. */
static unsigned greg_host(struct em *e, unsigned r)
{
	return slot_reg[rc_slot(e, r, true)];
}

/* A register operand that can be cached (not AH, CH, DH, BH). */
static bool host_reg(const struct sop *o)
{
	return o->kind == OPK_REG && o->reg < 16;
}

/* A 32- or 64-bit register operand: operated on in its host register directly. */
static bool direct_reg(const struct sop *o)
{
	return host_reg(o) && o->size >= 4;
}

/* The host register of a direct destination that the instruction writes whole. */
static unsigned greg_def(struct em *e, unsigned r)
{
	unsigned s = rc_slot(e, r, false);
	e->rc.dirty[s] = true;
	return slot_reg[s];
}

/* The host register of a direct destination that the instruction reads first. */
static unsigned greg_mod(struct em *e, unsigned r)
{
	unsigned s = rc_slot(e, r, true);
	e->rc.dirty[s] = true;
	return slot_reg[s];
}

/* Guest register r of sz bytes = host h (32-bit writes zero-extend, 8/16 merge). */
static void st_greg(struct em *e, unsigned h, unsigned r, unsigned sz)
{
	if (r >= SREG_AH) {
		op_c(e, BREG, 0x88, h, GPR(rc_uncache(e, r)) + 1);
		return;
	}
	unsigned s = rc_slot(e, r, sz < 4), x = slot_reg[s];
	switch (sz) {
	case 8: op_r(e, W, 0x89, h, x); break;
	case 4: op_r(e, 0, 0x89, h, x); break;
	case 2: op_r(e, P66, 0x89, h, x); break;
	default: op_r(e, BREG, 0x88, h, x); break;
	}
	e->rc.dirty[s] = true;
}

/* Host h = sz bytes at [rsi], zero-extended. */
static void ld_host(struct em *e, unsigned h, unsigned sz)
{
	switch (sz) {
	case 8: op_m(e, W, 0x8b, h, RSI, NOIDX, 0, 0); break;
	case 4: op_m(e, 0, 0x8b, h, RSI, NOIDX, 0, 0); break;
	case 2: op_m(e, 0, 0x0fb7, h, RSI, NOIDX, 0, 0); break;
	default: op_m(e, 0, 0x0fb6, h, RSI, NOIDX, 0, 0); break;
	}
}

static void st_host(struct em *e, unsigned h, unsigned sz)
{
	unsigned f = sz == 8 ? W : sz == 2 ? P66 : sz == 1 ? BREG : 0;
	op_m(e, f, sz == 1 ? 0x88 : 0x89, h, RSI, NOIDX, 0, 0);
}

/* movzx h32, h8/h16: mask a result to its size without touching the host flags. */
static void zext(struct em *e, unsigned h, unsigned sz)
{
	if (sz == 1)
		op_r(e, BREG, 0x0fb6, h, h);
	else if (sz == 2)
		op_r(e, 0, 0x0fb7, h, h);
}

/* ---- memory operands ---- */

static bool fits32(int64_t v)
{
	return v == (int32_t)v;
}

/* Can the memory operand's address be computed inline (64-bit mode)? */
static bool ea_ok(const struct sinsn *i)
{
	if (i->adsz != 8 && i->adsz != 4)
		return false;
	if (i->base == SREG_RIP)
		return fits32(i->disp + 64);
	return fits32(i->disp) || (i->base == SREG_NONE && i->index == SREG_NONE);
}

/* rsi = the operand's effective address (with_seg: plus the FS/GS base: its linear
 * address in 64-bit mode, where the other segments' bases are 0). */
static void emit_ea(struct em *e, const struct sinsn *i, bool with_seg)
{
	int64_t next = (int64_t)e->off + i->len;
	if (i->base == SREG_RIP) {
		guest_rip(e, RSI, next + i->disp);
	} else if (i->base != SREG_NONE) {
		unsigned b = greg_host(e, i->base);
		if (i->index != SREG_NONE)
			op_m(e, W, 0x8d, RSI, b, (int)greg_host(e, i->index), i->scale, (int32_t)i->disp);
		else if (i->disp)
			op_m(e, W, 0x8d, RSI, b, NOIDX, 0, (int32_t)i->disp);
		else
			op_r(e, W, 0x89, b, RSI);
	} else if (i->index != SREG_NONE) {
		op_r(e, W, 0x89, greg_host(e, i->index), RSI);
		if (i->scale) {
			op_r(e, W, 0xc1, 4, RSI); /* shl rsi, scale */
			b1(e, i->scale);
		}
		if (i->disp)
			op_m(e, W, 0x8d, RSI, RSI, NOIDX, 0, (int32_t)i->disp);
	} else {
		mov_ri(e, RSI, (uint64_t)i->disp);
	}
	if (i->adsz == 4)
		op_r(e, 0, 0x89, RSI, RSI); /* mov esi, esi */
	if (with_seg && (i->seg == S_FS || i->seg == S_GS))
		op_c(e, W, 0x03, RSI, OFF(seg_base[i->seg]));
}

/* dst = the byte offset, within a TLB array, of the entry for the linear address in
 * src: ((la >> 12) % SOFT_TLB_SIZE) * 32. */
static void tlb_index(struct em *e, unsigned dst, unsigned src)
{
	op_r(e, W, 0x89, src, dst);          /* mov dst, src */
	op_r(e, W, 0xc1, 5, dst);            /* shr dst, 7 */
	b1(e, 7);
	op_r(e, 0, 0x81, 4, dst);            /* and dst32, (SOFT_TLB_SIZE - 1) << 5 */
	b4(e, (SOFT_TLB_SIZE - 1u) << 5);
}

/* Probe the software TLB (tlb.w for writes and read-modify-writes, tlb.r for reads) for
 * sz bytes at the linear address in rsi; rsi = the host address on a hit (plus the
 * entry's addend), else to the instruction's slow stub, which runs its handler. A miss
 * also covers a page-crossing access: the page of its last byte differs from its
 * first's. */
static void probe(struct em *e, unsigned sz, bool write)
{
	int32_t tlb = write ? OFF(tlb.w) : OFF(tlb.r);
	tlb_index(e, RDI, RSI);
	if (sz == 1)
		op_r(e, W, 0x89, RSI, R8);   /* mov r8, rsi */
	else
		op_m(e, W, 0x8d, R8, RSI, NOIDX, 0, (int32_t)sz - 1);
	op_r(e, W, 0x81, 4, R8);             /* and r8, -4096 */
	b4(e, 0xfffff000u);
	/* tag & mask == page, as (tag ^ page) & mask == 0: the mask keeps every page bit */
	op_m(e, W, 0x33, R8, RBX, RDI, 0, tlb);          /* xor r8, tag */
	op_c(e, W, 0x85, R8, OFF(tlb.mask));             /* test [tlb.mask], r8 */
	jump_slow(e, CC_NE, e->k);
	op_m(e, W, 0x03, RSI, RBX, RDI, 0, tlb + 8);     /* add rsi, addend */
}

/* Host h = operand k (register, immediate or the probed memory at rsi), zero-extended
 * to its size. */
static void ld_op(struct em *e, const struct sinsn *i, unsigned k, unsigned h)
{
	const struct sop *o = &i->o[k];
	switch (o->kind) {
	case OPK_REG: ld_greg(e, h, o->reg, o->size); break;
	case OPK_IMM: mov_ri(e, h, i->imm & sz_mask(o->size)); break;
	default: ld_host(e, h, o->size); break;
	}
}

static void st_op(struct em *e, const struct sinsn *i, unsigned k, unsigned h)
{
	const struct sop *o = &i->o[k];
	if (o->kind == OPK_REG)
		st_greg(e, h, o->reg, o->size);
	else
		st_host(e, h, o->size);
}

/* Index of the memory operand, or -1. */
static int mem_op(const struct sinsn *i)
{
	for (unsigned k = 0; k < i->nops; k++)
		if (i->o[k].kind == OPK_MEM)
			return (int)k;
	return -1;
}

/* op_r/op_c flags for an operand of sz bytes. */
static unsigned size_flags(unsigned sz)
{
	return sz == 8 ? W : sz == 2 ? P66 : sz == 1 ? BREG : 0;
}

/* Store lazy flags pend (lf | sz << 8): lf_a = rax, lf_b = rcx, lf_res = rdx. */
static void store_flags(struct em *e, unsigned pend)
{
	op_c(e, W, 0x89, RAX, OFF(lf_a));
	op_c(e, W, 0x89, RCX, OFF(lf_b));
	op_c(e, W, 0x89, RDX, OFF(lf_res));
	op_c(e, P66, 0xc7, 0, OFF(lf_op));  /* mov word [lf_op], lf | sz << 8 */
	b1(e, pend & 0xff);
	b1(e, pend >> 8);
}

/* The flags an instruction that is not itself a flag writer may have to show: stored
 * now, before anything uses rax, rcx or rdx, calls out or leaves. */
static void flags_store(struct em *e)
{
	if (e->pend)
		store_flags(e, e->pend);
	e->pend = 0;
}

/* An instruction's lazy flags, with a, b, result in rax, rcx, rdx. Stored by one with
 * a memory operand (its slow stub runs the handler, which stores them itself, and the
 * code after it must find them stored either way); else left in the registers
 * (lazy flags "pending") until something could see them: an instruction that is not
 * one of the few that keep rax, rcx and rdx (keeps_pending), a TLB miss (the slow stub
 * stores them first), a call or an exit. An ALU op after it overwrites them unseen. */
static void lazy_flags(struct em *e, const struct sinsn *i, unsigned lf, unsigned sz)
{
	e->pend = (uint16_t)(lf | sz << 8);
	e->known = e->pend;
	e->lazy_set = true;
	if (mem_op(i) >= 0)
		flags_store(e);
}

/* Make the host flags the guest's again (a TLB probe or a call took them) from the
 * stored lazy flags, where this block's own inline code wrote them: ADD and SUB done
 * again on lf_a and lf_b, a logic op's result tested. No call, where a consumer of
 * flags (Jcc, SETcc, CMOVcc, INC/DEC keeping CF, ADC/SBB) would call soft_jit_cond or
 * soft_jit_save_cf. False if the kind is not known or not one of these. */
static bool flags_redo(struct em *e)
{
	unsigned lf = e->known & 0xff, sz = e->known >> 8;
	if (e->flags_live)
		return true;
	if (lf != LF_ADD && lf != LF_SUB && lf != LF_LOGIC)
		return false;
	unsigned f = size_flags(sz), byte = sz == 1;
	if (lf == LF_LOGIC) {
		op_c(e, W, 0x8b, RCX, OFF(lf_res));
		op_r(e, f, 0x85 - byte, RCX, RCX);           /* test rcx, rcx (sized) */
	} else {
		op_c(e, W, 0x8b, RCX, OFF(lf_a));
		op_c(e, f, (lf == LF_SUB ? 0x3b : 0x03) - byte, RCX, OFF(lf_b)); /* cmp/add */
	}
	e->flags_live = true;
	e->live_lf = (uint8_t)lf;
	return true;
}

/* al = the guest's condition cc, from soft_jit_cond (the caller-saved slots spilled). */
static void call_cond(struct em *e, unsigned cc)
{
	rc_spill_volatile(e);
	op_r(e, W, 0x89, RBX, RDI);               /* mov rdi, rbx */
	mov_ri(e, RSI, cc);
	call_abs(e, (const void *)soft_jit_cond);
}

/* ---- block ends ---- */

/* Leave the block at guest RIP r12 + d (in rax after a check) with every instruction
 * retired. */
static void leave_to_rax(struct em *e)
{
	if (e->pend)                /* rax is the target: pending flags were lost */
		e->not_inline = true;
	rc_flush(e);
	op_c(e, W, 0x89, RAX, OFF(rip));
	mov_ri(e, RAX, (uint64_t)e->b->n << 8);
	jump_to(e, e->exit_at);
}

/* Is guest RIP r12 + d in the page of r12, the block's entry? Then it is canonical as
 * r12 is, and its block is dropped whenever this one is. */
static bool own_page(const struct em *e, int64_t d)
{
	int64_t in_page = (int64_t)(e->b->pa & 0xfff) + d;
	return in_page >= 0 && in_page < 0x1000;
}

/* Leave for guest RIP rax with every instruction retired. From a chainable block the
 * next block is entered here without going back through soft_run: its instructions are
 * retired into jit_left, and the kick flag and the code-sharing generation are looked
 * at first, as soft_run would between blocks. Then
 *  - a direct target in the block's own page (d, relative to r12) is chained: the jump
 *    is patched by soft_run the first time it is taken, straight to the target's code
 *    (same physical page: that block is dropped whenever this one is, so no link ever
 *    needs undoing);
 *  - any other target (returns, other pages) is looked up inline in the jump cache,
 *    with soft_run's own checks: the block was entered at this linear address, in
 *    64-bit mode, lies in one page, and the fetch TLB still maps the address to it at
 *    this CPL. */
static void leave_chained(struct em *e, bool direct, int64_t d)
{
	if (!e->chainable) {
		leave_to_rax(e);
		return;
	}
	rc_flush(e);
	const struct soft_jit *j = e->jit;
	if (e->b->n < 128) {
		op_c(e, W, 0x83, 5, OFF(jit_left));  /* sub qword [jit_left], n */
		b1(e, e->b->n);
	} else {
		op_c(e, W, 0x81, 5, OFF(jit_left));
		b4(e, e->b->n);
	}
	patch(e, jcc_fwd(e, CC_LE), j->out_off);
	op_c(e, 0, 0x83, 7, OFF(sys.kick));      /* cmp dword [kick], 0 */
	b1(e, 0);
	patch(e, jcc_fwd(e, CC_NE), j->out_off);
	if (e->gen) {
		mov_ri(e, RCX, (uint64_t)(uintptr_t)e->gen);
		op_m(e, W, 0x8b, RCX, RCX, NOIDX, 0, 0);
		op_c(e, W, 0x3b, RCX, OFF(cache.gen_seen));
		patch(e, jcc_fwd(e, CC_NE), j->out_off);
	}
	if (direct && own_page(e, d)) {
		op_r(e, W, 0x89, RAX, R12);          /* mov r12, rax */
		b1(e, 0xe9);                         /* jmp <patched>, first to "miss" */
		uint32_t site = pos(e);
		b4(e, 0);                            /* rel 0: the miss path right after it */
		mov_ri(e, RCX, site);
		jump_to(e, j->miss_off);
	} else {
		jump_to(e, j->lookup_off);
	}
}

static void leave_direct(struct em *e, int64_t d)
{
	leave_chained(e, true, d);
}

/* rax = a branch target: non-canonical goes to the slow stub (the handler raises #GP
 * on the branch itself). */
static void check_canonical(struct em *e)
{
	op_r(e, W, 0x89, RAX, RCX);    /* mov rcx, rax */
	op_r(e, W, 0xc1, 4, RCX);      /* shl rcx, 16 */
	b1(e, 16);
	op_r(e, W, 0xc1, 7, RCX);      /* sar rcx, 16 */
	b1(e, 16);
	op_r(e, W, 0x39, RAX, RCX);    /* cmp rcx, rax */
	jump_slow(e, CC_NE, e->k);
}

/* rax = the direct branch target r12 + d: checked unless it is in the block's page. */
static void check_direct(struct em *e, int64_t d)
{
	if (!own_page(e, d))
		check_canonical(e);
}

/* ---- inline instructions (64-bit mode) ---- */

/* ALU op -> host opcode (r/m, r form; 8-bit is one less) and lazy-flag kind. */
static bool alu_host(unsigned op, uint8_t *opc, uint8_t *lf, bool *wb)
{
	static const uint8_t host[] = { [ALU_ADD] = 0x01, [ALU_OR] = 0x09, [ALU_AND] = 0x21,
	                                [ALU_SUB] = 0x29, [ALU_XOR] = 0x31, [ALU_CMP] = 0x29,
	                                [ALU_TEST] = 0x21 };
	if (op > ALU_TEST || !host[op])
		return false; /* ADC, SBB */
	*opc = host[op];
	*lf = op == ALU_ADD ? LF_ADD : op == ALU_SUB || op == ALU_CMP ? LF_SUB : LF_LOGIC;
	*wb = op != ALU_CMP && op != ALU_TEST;
	return true;
}

/* ADC and SBB on a 32- or 64-bit register (multi-word arithmetic: the kernel's RSA
 * checks at boot, hashes in user code): the guest's CF into the host's, then the
 * host's own instruction. CF is there already while the host flags are the guest's;
 * after an inline INC/DEC it is in rflags; else soft_jit_cond computes it (called
 * first: the call spills the slots the operands may be in). */
static bool emit_adc(struct em *e, const struct sinsn *i)
{
	unsigned sz = i->opsz, f = size_flags(sz);
	bool sbb = i->op == ALU_SBB;
	if (i->nops != 2 || !direct_reg(&i->o[0]) ||
	    !(direct_reg(&i->o[1]) || i->o[1].kind == OPK_IMM))
		return false;
	if (e->cf_in_rflags) {
		op_c(e, W, 0x0fba, 4, OFF(rflags));      /* bt qword [rflags], 0 (FL_CF) */
		b1(e, 0);
	} else if (!flags_redo(e)) {
		call_cond(e, CC_B);
		b1(e, 0x04);                              /* add al, 0xff: CF = al */
		b1(e, 0xff);
	}
	/* From here to the ADC only MOVs: they keep CF. */
	unsigned y = RCX;
	if (direct_reg(&i->o[1]))
		y = greg_host(e, i->o[1].reg);
	else
		mov_ri(e, RCX, i->imm & sz_mask(sz));
	unsigned x = greg_mod(e, i->o[0].reg);
	bool live = !e->dead[e->k];
	if (live) {
		op_r(e, f, 0x89, x, RAX);
		if (y != RCX)
			op_r(e, f, 0x89, y, RCX);
	}
	op_r(e, f, sbb ? 0x19 : 0x11, y, x);
	if (live) {
		op_r(e, f, 0x89, x, RDX);
		lazy_flags(e, i, sbb ? LF_SBB : LF_ADC, sz);
	}
	e->flags_live = true;
	e->live_lf = sbb ? LF_SBB : LF_ADC;
	return true;
}

static bool emit_alu(struct em *e, const struct sinsn *i)
{
	uint8_t opc, lf;
	bool wb;
	unsigned sz = i->opsz;
	if (i->op == ALU_ADC || i->op == ALU_SBB)
		return emit_adc(e, i);
	if (!alu_host(i->op, &opc, &lf, &wb) || i->nops != 2 || i->o[0].kind == OPK_IMM)
		return false;
	int m = mem_op(i);
	if (m >= 0) {
		emit_ea(e, i, true);
		probe(e, i->o[m].size, m == 0 && wb);
	}
	e->pend = 0;                 /* every arithmetic flag overwritten, unseen */
	bool live = !e->dead[e->k];
	e->redo_opc[e->k] = opc;
	e->flags_live = true;
	e->live_lf = lf;
	if (direct_reg(&i->o[0]) && (wb || !live)) {
		/* op x, y on the host registers (CMP and TEST as themselves); with live flags
		 * a and b are copied first, the result after */
		unsigned f = size_flags(sz), y = RCX;
		if (direct_reg(&i->o[1]))
			y = greg_host(e, i->o[1].reg);
		else
			ld_op(e, i, 1, RCX);
		unsigned x = wb ? greg_mod(e, i->o[0].reg) : greg_host(e, i->o[0].reg);
		if (live) {
			op_r(e, f, 0x89, x, RAX);
			if (y != RCX)
				op_r(e, f, 0x89, y, RCX);
		}
		op_r(e, f, i->op == ALU_CMP ? 0x39 : i->op == ALU_TEST ? 0x85 : opc, y, x);
		if (live) {
			op_r(e, f, 0x89, x, RDX);
			lazy_flags(e, i, lf, sz);
		}
		return true;
	}
	ld_op(e, i, 0, RAX);
	ld_op(e, i, 1, RCX);
	op_r(e, W, 0x89, RAX, RDX);                           /* mov rdx, rax */
	op_r(e, size_flags(sz), sz == 1 ? opc - 1u : opc, RCX, RDX); /* op rdx, rcx */
	zext(e, RDX, sz);
	if (live)
		lazy_flags(e, i, lf, sz);
	if (wb)
		st_op(e, i, 0, RDX);
	return true;
}

/* MOV forms done on the host registers alone (no rax, rcx, rdx). */
static bool mov_direct(const struct sinsn *i)
{
	const struct sop *d = &i->o[0], *s = &i->o[1];
	if (host_reg(d))
		return host_reg(s) || s->kind == OPK_MEM || (s->kind == OPK_IMM && d->size >= 4);
	return d->kind == OPK_MEM && host_reg(s);
}

static bool emit_mov(struct em *e, const struct sinsn *i)
{
	if (i->nops != 2 || i->o[0].kind == OPK_IMM)
		return false;
	int m = mem_op(i);
	if (m >= 0) {
		emit_ea(e, i, true);
		probe(e, i->o[m].size, m == 0);
	}
	unsigned sz = i->opsz, f = size_flags(sz);
	const struct sop *d = &i->o[0], *src = &i->o[1];
	if (!mov_direct(i)) {
		ld_op(e, i, 1, RAX);
		st_op(e, i, 0, RAX);
	} else if (d->kind == OPK_MEM) {
		st_host(e, greg_host(e, src->reg), sz);
	} else if (src->kind == OPK_IMM) {
		mov_ri(e, greg_def(e, d->reg), i->imm & sz_mask(sz));
	} else if (sz >= 4 && src->kind == OPK_REG) {
		unsigned y = greg_host(e, src->reg);
		op_r(e, f, 0x89, y, greg_def(e, d->reg));
	} else if (sz >= 4) {
		ld_host(e, greg_def(e, d->reg), sz);
	} else if (src->kind == OPK_REG) {        /* 8/16 bits: merged into the register */
		unsigned y = greg_host(e, src->reg);
		op_r(e, f, sz == 1 ? 0x88 : 0x89, y, greg_mod(e, d->reg));
	} else {
		op_m(e, f, sz == 1 ? 0x8a : 0x8b, greg_mod(e, d->reg), RSI, NOIDX, 0, 0);
	}
	return true;
}

/* MOVZX/MOVSX/MOVSXD to a 32- or 64-bit register from a register or memory: one host
 * instruction on the host registers (MOVSXD to 64 bits only). */
static bool movx_direct(const struct sinsn *i)
{
	return direct_reg(&i->o[0]) && (i->o[1].kind == OPK_MEM || host_reg(&i->o[1])) &&
	       (i->o[1].size < 4 || (i->o[1].size == 4 && i->o[0].size == 8 && i->kind == K_MOVSX));
}

static bool emit_movx(struct em *e, const struct sinsn *i, bool sign)
{
	unsigned ssz = i->o[1].size;
	if (i->nops != 2 || i->o[0].kind != OPK_REG || i->o[1].kind == OPK_IMM)
		return false;
	if (i->o[1].kind == OPK_MEM) {
		emit_ea(e, i, true);
		probe(e, ssz, false);
	}
	if (movx_direct(i)) {                     /* into the host register */
		unsigned f = (i->o[0].size == 8 ? W : 0) | (ssz == 1 ? BREG : 0);
		uint32_t opc = ssz == 4 ? 0x63 : (sign ? 0x0fbe : 0x0fb6) + (ssz == 2);
		if (i->o[1].kind == OPK_REG) {
			unsigned y = greg_host(e, i->o[1].reg);
			op_r(e, f, opc, greg_def(e, i->o[0].reg), y);
		} else {
			op_m(e, f, opc, greg_def(e, i->o[0].reg), RSI, NOIDX, 0, 0);
		}
		return true;
	}
	ld_op(e, i, 1, RAX);
	if (sign) {
		if (ssz == 4)
			op_r(e, W, 0x63, RAX, RAX);      /* movsxd rax, eax */
		else
			op_r(e, W, ssz == 1 ? 0x0fbe : 0x0fbf, RAX, RAX);
	}
	st_greg(e, RAX, i->o[0].reg, i->o[0].size);
	return true;
}

static bool emit_lea(struct em *e, const struct sinsn *i)
{
	if (i->o[0].kind != OPK_REG || i->o[1].kind != OPK_MEM)
		return false;
	emit_ea(e, i, false);
	st_greg(e, RSI, i->o[0].reg, i->opsz);
	return true;
}

/* INC/DEC/NOT/NEG. INC and DEC keep CF: soft_jit_save_cf puts the previous
 * operation's CF into rflags first (harmless if the probe then misses: the handler
 * finds the same CF). */
static bool emit_unary(struct em *e, const struct sinsn *i)
{
	unsigned sz = i->opsz, op = i->op;
	if (i->o[0].kind == OPK_IMM)
		return false;
	bool dead = e->dead[e->k];
	if ((op == UN_INC || op == UN_DEC) && !e->cf_in_rflags && !dead) {
		flags_redo(e);
		if (e->flags_live && e->live_lf == LF_LOGIC) {
			op_c(e, W, 0x83, 4, OFF(rflags));   /* and qword [rflags], ~CF */
			b1(e, 0xfe);
		} else if (e->flags_live) {              /* the host's CF is the guest's */
			op_r(e, 0, 0x0f92, 0, RCX);          /* setc cl */
			op_r(e, 0, 0x0fb6, RCX, RCX);        /* movzx ecx, cl */
			op_c(e, W, 0x83, 4, OFF(rflags));
			b1(e, 0xfe);
			op_c(e, W, 0x09, RCX, OFF(rflags));  /* or [rflags], rcx */
		} else {
			/* after a CMP or SUB (a loop's test), CF = lf_a < lf_b; else the helper */
			rc_spill_volatile(e);                /* the same on both paths */
			op_c(e, 0, 0x80, 7, OFF(lf_op));     /* cmp byte [lf_op], LF_SUB */
			b1(e, LF_SUB);
			uint8_t *other = jcc_fwd(e, CC_NE);
			op_c(e, W, 0x8b, RCX, OFF(lf_a));
			op_c(e, W, 0x3b, RCX, OFF(lf_b));
			op_r(e, 0, 0x0f92, 0, RCX);          /* setb cl */
			op_r(e, 0, 0x0fb6, RCX, RCX);
			op_c(e, W, 0x83, 4, OFF(rflags));
			b1(e, 0xfe);
			op_c(e, W, 0x09, RCX, OFF(rflags));
			uint8_t *done = jcc_fwd(e, -1);
			patch(e, other, pos(e));
			op_r(e, W, 0x89, RBX, RDI);
			call_abs(e, (const void *)soft_jit_save_cf);
			patch(e, done, pos(e));
		}
	}
	if (i->o[0].kind == OPK_MEM) {
		emit_ea(e, i, true);
		probe(e, sz, true);
	}
	static const uint8_t digit[] = { [UN_INC] = 0, [UN_DEC] = 1, [UN_NOT] = 2, [UN_NEG] = 3 };
	unsigned opc = op <= UN_DEC ? (sz == 1 ? 0xfe : 0xff) : (sz == 1 ? 0xf6 : 0xf7);
	bool direct = direct_reg(&i->o[0]);
	if (direct) {                              /* on the host register */
		unsigned x = greg_mod(e, i->o[0].reg);
		if (!dead)
			op_r(e, size_flags(sz), 0x89, x, RAX);
		op_r(e, size_flags(sz), opc, digit[op], x);
		if (!dead)
			op_r(e, size_flags(sz), 0x89, x, RDX);
	} else {
		ld_op(e, i, 0, RAX);
		op_r(e, W, 0x89, RAX, RDX);
		op_r(e, size_flags(sz), opc, digit[op], RDX);
		zext(e, RDX, sz);
	}
	if (dead) {
		/* flags overwritten before anything reads them */
	} else if (op == UN_INC || op == UN_DEC) {
		mov_ri(e, RCX, 1);
		lazy_flags(e, i, op == UN_INC ? LF_INC : LF_DEC, sz);
	} else if (op == UN_NEG) {
		op_r(e, W, 0x89, RAX, RCX);           /* lf_b = a, lf_a = 0 */
		b1(e, 0x31); b1(e, 0xc0);            /* xor eax, eax */
		lazy_flags(e, i, LF_SUB, sz);
	}
	if (!direct)
		st_op(e, i, 0, RDX);
	return true;
}

/* The 2- and 3-operand IMUL: the host's IMUL at the operand size; CF = OF = overflow,
 * the other arithmetic flags 0, as h_imul leaves them. */
static bool emit_imul(struct em *e, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	unsigned s1 = i->nops == 3 ? 1 : 0, s2 = s1 + 1;
	if (sz == 1 || i->o[0].kind != OPK_REG || i->o[s1].kind == OPK_IMM)
		return false;
	int m = mem_op(i);
	if (m >= 0) {
		emit_ea(e, i, true);
		probe(e, i->o[m].size, false);
	}
	ld_op(e, i, s1, RAX);
	ld_op(e, i, s2, RCX);
	op_r(e, size_flags(sz), 0x0faf, RAX, RCX);  /* imul eax, ecx */
	op_r(e, 0, 0x0f92, 0, RCX);                /* setc cl */
	zext(e, RAX, sz);
	st_greg(e, RAX, i->o[0].reg, sz);
	if (e->dead[e->k])
		return true;
	op_r(e, 0, 0x0fb6, RCX, RCX);              /* ecx = overflow ? 0x801 : 0 */
	op_r(e, 0, 0xf7, 3, RCX);                  /* neg ecx */
	op_r(e, 0, 0x81, 4, RCX);
	b4(e, (uint32_t)(FL_CF | FL_OF));
	op_c(e, W, 0x8b, RDX, OFF(rflags));
	op_r(e, W, 0x81, 4, RDX);                  /* and rdx, ~FL_ARITH */
	b4(e, (uint32_t)~FL_ARITH);
	op_r(e, W, 0x09, RCX, RDX);
	op_c(e, W, 0x89, RDX, OFF(rflags));
	op_c(e, 0, 0xc6, 0, OFF(lf_op));           /* mov byte [lf_op], LF_NONE */
	b1(e, LF_NONE);
	return true;
}

/* al = the guest's condition cc: the host's own SETcc when its flags are the guest's,
 * else a call of soft_jit_cond. Then into dl (kept across the TLB probe). */
static void cond_to_dl(struct em *e, unsigned cc)
{
	if (flags_redo(e)) {
		op_r(e, 0, 0x0f90 + cc, 0, RDX);     /* setcc dl */
		return;
	}
	call_cond(e, cc);
	op_r(e, 0, 0x89, RAX, RDX);              /* mov edx, eax (a bool in al) */
}

static bool emit_setcc(struct em *e, const struct sinsn *i)
{
	if (i->o[0].kind == OPK_IMM)
		return false;
	cond_to_dl(e, i->op);
	op_r(e, 0, 0x0fb6, RDX, RDX);            /* movzx edx, dl */
	if (i->o[0].kind == OPK_MEM) {
		emit_ea(e, i, true);
		probe(e, 1, true);
	}
	st_op(e, i, 0, RDX);
	return true;
}

static bool emit_cmovcc(struct em *e, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	if (i->o[0].kind != OPK_REG || i->o[1].kind == OPK_IMM)
		return false;
	cond_to_dl(e, i->op);
	if (i->o[1].kind == OPK_MEM) {                  /* read even if not moved */
		emit_ea(e, i, true);
		probe(e, sz, false);
	}
	ld_op(e, i, 0, RAX);
	ld_op(e, i, 1, RCX);
	op_r(e, 0, 0x84, RDX, RDX);                     /* test dl, dl */
	op_r(e, W, 0x0f45, RAX, RCX);                   /* cmovnz rax, rcx */
	st_greg(e, RAX, i->o[0].reg, sz);               /* 32-bit: zero-extended either way */
	return true;
}

/* SHL/SHR/SAR of a 32- or 64-bit register by CL (the host masks the count as the
 * guest does). A count of 0 leaves the flags as they were, so the lazy flags are
 * stored behind a test of the count, unless they are dead anyway. */
static bool emit_shift_cl(struct em *e, const struct sinsn *i)
{
	unsigned sz = i->opsz, f = size_flags(sz);
	if (i->op < SH_SHL || !direct_reg(&i->o[0]))
		return false;
	unsigned lf = i->op == SH_SHR ? LF_SHR : i->op == SH_SAR ? LF_SAR : LF_SHL;
	unsigned digit = lf == LF_SHR ? 5 : lf == LF_SAR ? 7 : 4;
	ld_greg(e, RCX, R_RCX, 4);
	unsigned x = greg_mod(e, i->o[0].reg);
	if (e->dead[e->k]) {
		op_r(e, f, 0xd3, digit, x);
		return true;
	}
	op_r(e, f, 0x89, x, RAX);
	op_r(e, f, 0xd3, digit, x);
	op_r(e, 0, 0x83, 4, RCX);                   /* and ecx, 63 or 31 */
	b1(e, sz == 8 ? 63 : 31);
	uint8_t *same = jcc_fwd(e, CC_E);
	op_r(e, f, 0x89, x, RDX);
	store_flags(e, lf | sz << 8);
	patch(e, same, pos(e));
	return true;
}

/* SHL/SHR/SAR by an immediate count (lazy flags, as h_shift). */
static bool emit_shift(struct em *e, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	if (i->o[1].kind == OPK_REG && i->o[1].reg == R_RCX && i->o[1].size == 1)
		return emit_shift_cl(e, i);
	if (i->o[1].kind != OPK_IMM || i->o[0].kind == OPK_IMM)
		return false;
	unsigned cnt = (unsigned)(i->imm & (sz == 8 ? 63 : 31));
	if (cnt == 0)
		return false;
	if ((i->op == SH_ROL || i->op == SH_ROR) && e->dead[e->k]) {
		/* ROL/ROR whose CF and OF nobody sees (SHA-2's rotations): the host's rotate */
		if (i->o[0].kind == OPK_MEM) {
			emit_ea(e, i, true);
			probe(e, sz, true);
		}
		bool direct = direct_reg(&i->o[0]);
		unsigned x = direct ? greg_mod(e, i->o[0].reg) : RDX;
		if (!direct)
			ld_op(e, i, 0, RDX);
		op_r(e, size_flags(sz), sz == 1 ? 0xc0 : 0xc1, i->op == SH_ROL ? 0 : 1, x);
		b1(e, cnt);
		if (!direct) {
			zext(e, RDX, sz);
			st_op(e, i, 0, RDX);
		}
		return true;
	}
	if (i->op < SH_SHL)
		return false;
	unsigned lf = i->op == SH_SHR ? LF_SHR : i->op == SH_SAR ? LF_SAR : LF_SHL;
	unsigned digit = lf == LF_SHR ? 5 : lf == LF_SAR ? 7 : 4;
	if (i->o[0].kind == OPK_MEM) {
		emit_ea(e, i, true);
		probe(e, sz, true);
	}
	bool live = !e->dead[e->k];
	if (direct_reg(&i->o[0])) {               /* on the host register */
		unsigned x = greg_mod(e, i->o[0].reg);
		if (live)
			op_r(e, size_flags(sz), 0x89, x, RAX);
		op_r(e, size_flags(sz), 0xc1, digit, x);
		b1(e, cnt);
		if (live) {
			mov_ri(e, RCX, cnt);
			op_r(e, size_flags(sz), 0x89, x, RDX);
			lazy_flags(e, i, lf, sz);
		}
		return true;
	}
	ld_op(e, i, 0, RAX);
	mov_ri(e, RCX, cnt);
	op_r(e, W, 0x89, RAX, RDX);
	op_r(e, size_flags(sz), sz == 1 ? 0xc0 : 0xc1, digit, RDX);
	b1(e, cnt);
	zext(e, RDX, sz);
	if (live)
		lazy_flags(e, i, lf, sz);
	st_op(e, i, 0, RDX);
	return true;
}

static bool emit_push(struct em *e, const struct sinsn *i)
{
	if (i->opsz != 8 || i->o[0].kind == OPK_MEM)
		return false;
	ld_op(e, i, 0, RCX);                     /* the value first: PUSH RSP pushes the old one */
	unsigned sp = rc_slot(e, R_RSP, true);
	op_m(e, W, 0x8d, RSI, slot_reg[sp], NOIDX, 0, -8);
	probe(e, 8, true);
	st_host(e, RCX, 8);
	op_m(e, W, 0x8d, slot_reg[sp], slot_reg[sp], NOIDX, 0, -8);
	e->rc.dirty[sp] = true;
	return true;
}

static bool emit_pop(struct em *e, const struct sinsn *i)
{
	if (i->opsz != 8 || i->o[0].kind != OPK_REG || i->o[0].reg == R_RSP)
		return false;
	unsigned sp = rc_slot(e, R_RSP, true);
	op_r(e, W, 0x89, slot_reg[sp], RSI);
	probe(e, 8, false);
	ld_host(e, RAX, 8);
	op_m(e, W, 0x8d, slot_reg[sp], slot_reg[sp], NOIDX, 0, 8);
	e->rc.dirty[sp] = true;
	st_greg(e, RAX, i->o[0].reg, 8);
	return true;
}

/* Jcc: host flags when the previous instruction left them, else a call of cond(). */
static bool emit_jcc(struct em *e, const struct sinsn *i)
{
	int64_t next = (int64_t)e->off + i->len;
	if (!fits32(next + (int64_t)i->imm))
		return false;
	uint8_t *taken;
	rc_flush(e);                              /* once for both exits (MOVs: flags kept) */
	if (!flags_redo(e)) {
		call_cond(e, i->op);
		b1(e, 0x84);
		b1(e, 0xc0);                          /* test al, al: a bool */
		taken = jcc_fwd(e, CC_NE);
	} else {
		taken = jcc_fwd(e, i->op);            /* the host's flags are the guest's */
	}
	guest_rip(e, RAX, next);                  /* not taken */
	leave_direct(e, next);
	patch(e, taken, pos(e));
	guest_rip(e, RAX, next + (int64_t)i->imm);
	check_direct(e, next + (int64_t)i->imm);
	leave_direct(e, next + (int64_t)i->imm);
	return true;
}

static bool emit_jmp(struct em *e, const struct sinsn *i)
{
	int64_t next = (int64_t)e->off + i->len;
	if (i->o[0].kind != OPK_IMM || !fits32(next + (int64_t)i->imm))
		return false;
	guest_rip(e, RAX, next + (int64_t)i->imm);
	check_direct(e, next + (int64_t)i->imm);
	leave_direct(e, next + (int64_t)i->imm);
	return true;
}

static bool emit_call(struct em *e, const struct sinsn *i)
{
	int64_t next = (int64_t)e->off + i->len;
	if (i->o[0].kind != OPK_IMM || i->opsz != 8 || !fits32(next + (int64_t)i->imm))
		return false;
	unsigned sp = rc_slot(e, R_RSP, true); /* before the first jump to the slow stub */
	guest_rip(e, RAX, next + (int64_t)i->imm);
	check_direct(e, next + (int64_t)i->imm);
	op_m(e, W, 0x8d, RSI, slot_reg[sp], NOIDX, 0, -8);
	probe(e, 8, true);
	guest_rip(e, RCX, next);
	st_host(e, RCX, 8);
	op_m(e, W, 0x8d, slot_reg[sp], slot_reg[sp], NOIDX, 0, -8);
	e->rc.dirty[sp] = true;
	leave_direct(e, next + (int64_t)i->imm);
	return true;
}

static bool emit_ret(struct em *e, const struct sinsn *i)
{
	unsigned sp = rc_slot(e, R_RSP, true);
	op_r(e, W, 0x89, slot_reg[sp], RSI);
	probe(e, 8, false);
	ld_host(e, RAX, 8);
	check_canonical(e);
	op_m(e, W, 0x8d, slot_reg[sp], slot_reg[sp], NOIDX, 0, 8 + (int32_t)(i->imm & 0xffff));
	e->rc.dirty[sp] = true;
	leave_chained(e, false, 0);
	return true;
}

/* Inline forms that leave the guest's flags alone. */
static bool flag_neutral(const struct sinsn *i)
{
	return i->fl_write == 0 && i->kind != K_UNARY && i->kind != K_SHIFT;
}

/* Inline forms that end the block themselves. */
static bool ends_inline(const struct sinsn *i)
{
	return i->kind == K_JCC || i->kind == K_JMP || i->kind == K_CALL || i->kind == K_RET;
}

/* Forms that touch neither rax, rcx nor rdx before their TLB probe, and either
 * overwrite every arithmetic flag after it (ALU ops) or leave all three alone: pending
 * lazy flags stay in the registers across them. */
static bool keeps_pending(const struct sinsn *i)
{
	switch (i->kind) {
	case K_ALU:
		return i->op <= ALU_TEST && i->op != ALU_ADC && i->op != ALU_SBB;
	case K_MOV:
		return i->nops == 2 && mov_direct(i);
	case K_MOVZX:
	case K_MOVSX:
		return i->nops == 2 && movx_direct(i);
	case K_LEA:
	case K_NOP:
		return true;
	default:
		return false;
	}
}

/* Forms whose inline code runs no host instruction that writes the host's flags (no
 * TLB probe, no shift of an index): a Jcc after `CMP; MOV` still branches on them. */
static bool keeps_host_flags(const struct sinsn *i)
{
	if (mem_op(i) >= 0 && i->kind != K_LEA)
		return false;
	switch (i->kind) {
	case K_MOV: return mov_direct(i);
	case K_MOVZX: case K_MOVSX: return movx_direct(i);
	case K_LEA: return !(i->base == SREG_NONE && i->index != SREG_NONE && i->scale);
	case K_NOP: return true;
	default: return false;
	}
}

/* Emit instruction i inline if it is one of the translated forms. */
static bool emit_inline(struct em *e, const struct sinsn *i)
{
	if (i->attr & SI_LOCKED)
		return false;
	if (mem_op(i) >= 0 && !ea_ok(i))
		return false;
	if (!keeps_pending(i))
		flags_store(e);
	switch (i->kind) {
	case K_ALU: return emit_alu(e, i);
	case K_MOV: return emit_mov(e, i);
	case K_MOVZX: return emit_movx(e, i, false);
	case K_MOVSX: return emit_movx(e, i, true);
	case K_LEA: return emit_lea(e, i);
	case K_SHIFT: return emit_shift(e, i);
	case K_UNARY: return emit_unary(e, i);
	case K_IMUL: return emit_imul(e, i);
	case K_SETCC: return emit_setcc(e, i);
	case K_CMOVCC: return emit_cmovcc(e, i);
	case K_PUSH: return emit_push(e, i);
	case K_POP: return emit_pop(e, i);
	case K_JCC: return emit_jcc(e, i);
	case K_JMP: return emit_jmp(e, i);
	case K_CALL: return emit_call(e, i);
	case K_RET: return emit_ret(e, i);
	case K_NOP: return true;
	default: return false;
	}
}

/* ---- handler calls ---- */

/* Run instruction k through its interpreter handler: a call of the shared "call" stub
 * (soft_jit_init) through the block's trampoline, which sets rsi = its ins[0]. The stub
 * returns here when the block goes on, else leaves it. Ten bytes where the handler
 * call, its checks and two exits written out took about 140. */
static void emit_call_insn(struct em *e, unsigned k, bool last)
{
	uint32_t next = e->off + e->b->ins[k].len;
	mov_ri(e, RDX, k | (last ? CALL_LAST : 0) | next << CALL_NEXT_SHIFT);
	b1(e, 0xe8);                             /* call rel32 */
	uint8_t *at = e->p;
	b4(e, 0);
	fix_to_stub(e, e->full ? NULL : at, STUB_CALL, 0);
}

static void emit_stubs(struct em *e)
{
	const struct sblock *b = e->b;
	uint32_t off = 0;
	for (unsigned k = 0; k < b->n; k++) {
		if (e->need[STUB_SLOW][k]) {
			e->stub_at[STUB_SLOW][k] = pos(e);
			e->k = k;
			e->off = off;
			if (e->pend_slow[k])
				store_flags(e, e->pend_slow[k]);
			rc_writeback(e, &e->rc_slow[k]);
			emit_call_insn(e, k, k + 1 == b->n);
			if (k + 1 < b->n) {
				rc_reload_after(e, k);
				unsigned sz = b->ins[k].opsz, opc = e->redo_opc[k];
				if (opc) {
					op_c(e, W, 0x8b, RDX, OFF(lf_a));
					op_c(e, W, 0x8b, RCX, OFF(lf_b));
					op_r(e, size_flags(sz), sz == 1 ? opc - 1u : opc, RCX, RDX);
				}
				if (e->pend_after[k]) { /* what the inline code keeps pending */
					op_c(e, W, 0x8b, RAX, OFF(lf_a));
					op_c(e, W, 0x8b, RCX, OFF(lf_b));
					op_c(e, W, 0x8b, RDX, OFF(lf_res));
				}
				jump_to(e, e->cont_at[k]);
			}
		}
		off += b->ins[k].len;
	}
	if (e->need[STUB_CALL][0]) {
		e->stub_at[STUB_CALL][0] = pos(e);
		mov_ri(e, RSI, (uint64_t)(uintptr_t)b->ins);
		jump_to(e, e->jit->call_off);
	}
	for (unsigned f = 0; f < e->nfix; f++)
		patch(e, e->base + e->fix[f].at, e->stub_at[e->fix[f].kind][e->fix[f].k]);
}

bool soft_jit_cond(const struct soft_cpu *c, unsigned cc)
{
	return cond(c, cc);
}

void soft_jit_save_cf(struct soft_cpu *c)
{
	c->rflags = (c->rflags & ~FL_CF) | (get_cf(c) ? FL_CF : 0);
}

/* ---- the arena ---- */

/* The shared "call" stub: instruction k of a block through its interpreter handler, as
 * the interpreter loop runs it. Called from the block (emit_call_insn) with rsi = the
 * block's ins[0] and edx = k | CALL_LAST if it is the block's last | the offset of the
 * next instruction from r12 << CALL_NEXT_SHIFT. RIP and next RIP first; then it
 * returns to the block, or leaves the block (its return address dropped) with eax =
 * the handler's status and k retired when that is not SOFT_OK, or at the next RIP the
 * handler set with k + 1 retired when the block ends there, a drop made it stale or
 * the handler moved next RIP (none should, short of the block's end). */
static void emit_call_stub(struct em *e, struct soft_jit *j)
{
	j->call_off = pos(e);
	b1(e, 0x52);                              /* push rdx: rsp 16-byte aligned again */
	op_r(e, 0, 0x0fb6, RAX, RDX);             /* movzx eax, dl: k */
	op_r(e, 0, 0x69, RAX, RAX);               /* imul eax, eax, sizeof(struct sinsn) */
	b4(e, sizeof(struct sinsn));
	op_r(e, W, 0x01, RAX, RSI);               /* add rsi, rax: &ins[k] */
	op_r(e, 0, 0x89, RDX, RAX);               /* mov eax, edx */
	op_r(e, 0, 0xc1, 5, RAX);                 /* shr eax, CALL_NEXT_SHIFT */
	b1(e, CALL_NEXT_SHIFT);
	op_r(e, W, 0x01, R12, RAX);               /* add rax, r12 */
	op_c(e, W, 0x89, RAX, OFF(next_rip));
	op_m(e, 0, 0x0fb6, RCX, RSI, NOIDX, 0, (int32_t)offsetof(struct sinsn, len));
	op_r(e, W, 0x29, RCX, RAX);               /* sub rax, rcx */
	op_c(e, W, 0x89, RAX, OFF(rip));
	op_r(e, W, 0x89, RBX, RDI);               /* mov rdi, rbx */
	op_m(e, 0, 0xff, 2, RSI, NOIDX, 0, (int32_t)offsetof(struct sinsn, fn)); /* call [fn] */
	b1(e, 0x5a);                              /* pop rdx */
	b1(e, 0x85); b1(e, 0xc0);                 /* test eax, eax */
	uint8_t *fail = jcc_fwd(e, CC_NE);
	op_r(e, 0, 0xf7, 0, RDX);                 /* test edx, CALL_LAST */
	b4(e, CALL_LAST);
	uint8_t *leave1 = jcc_fwd(e, CC_NE);
	op_c(e, 0, 0x80, 7, OFF(cache.dirty));   /* cmp byte [dirty], 0 */
	b1(e, 0);
	uint8_t *leave2 = jcc_fwd(e, CC_NE);
	op_r(e, 0, 0x89, RDX, RAX);               /* mov eax, edx */
	op_r(e, 0, 0xc1, 5, RAX);                 /* shr eax, CALL_NEXT_SHIFT */
	b1(e, CALL_NEXT_SHIFT);
	op_r(e, W, 0x01, R12, RAX);               /* add rax, r12 */
	op_c(e, W, 0x3b, RAX, OFF(next_rip));    /* cmp rax, [next_rip] */
	uint8_t *leave3 = jcc_fwd(e, CC_NE);
	b1(e, 0xc3);                              /* ret: the block goes on */
	patch(e, fail, pos(e));                   /* eax = status: or in k retired */
	op_r(e, 0, 0x0fb6, RDX, RDX);             /* movzx edx, dl */
	op_r(e, 0, 0xc1, 4, RDX);                 /* shl edx, 8 */
	b1(e, 8);
	op_r(e, 0, 0x09, RDX, RAX);               /* or eax, edx */
	op_r(e, W, 0x83, 0, RSP);                 /* add rsp, 8: the return address */
	b1(e, 8);
	jump_to(e, j->exit_off);
	patch(e, leave1, pos(e));                 /* at next RIP, k + 1 retired */
	patch(e, leave2, pos(e));
	patch(e, leave3, pos(e));
	op_c(e, W, 0x8b, RAX, OFF(next_rip));
	op_c(e, W, 0x89, RAX, OFF(rip));
	op_r(e, 0, 0x0fb6, RAX, RDX);             /* movzx eax, dl */
	op_r(e, 0, 0x83, 0, RAX);                 /* add eax, 1 */
	b1(e, 1);
	op_r(e, 0, 0xc1, 4, RAX);                 /* shl eax, 8 */
	b1(e, 8);
	op_r(e, W, 0x83, 0, RSP);                 /* add rsp, 8 */
	b1(e, 8);
	jump_to(e, j->exit_off);
}

int soft_jit_init(struct soft_jit *j, size_t size)
{
	memset(j, 0, sizeof(*j));
	int fd = memfd_create("trivisor-jit", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	void *rw = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	void *rx = rw == MAP_FAILED ? MAP_FAILED : mmap(NULL, size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	int r = rx == MAP_FAILED ? -errno : 0;
	close(fd);
	if (r) {
		if (rw != MAP_FAILED)
			munmap(rw, size);
		return r;
	}
	j->rw = rw;
	j->rx = rx;
	j->size = size;

	/* The shared stubs. enter(c, code) saves the callee-saved registers it uses, pins c
	 * in rbx and the entry RIP in r12, and jumps to the block; blocks jump back to
	 * exit with eax set. The others serve chained exits, with rax = the next RIP and
	 * the block's instructions already retired into jit_left: out returns to soft_run;
	 * miss too, asking it to link the exit at arena offset ecx to the next block;
	 * lookup finds the next block in the jump cache, with soft_run's checks (entered
	 * at this linear address, 64-bit code in one page, and the fetch TLB still maps
	 * the address to the block at this CPL), else goes out. */
	struct em e = { .base = j->rw, .p = j->rw, .end = j->rw + 512 };
	b1(&e, 0x53);                             /* push rbx */
	b1(&e, 0x55);                             /* push rbp */
	b1(&e, 0x41); b1(&e, 0x54);               /* push r12 */
	b1(&e, 0x41); b1(&e, 0x55);               /* push r13 */
	b1(&e, 0x41); b1(&e, 0x56);               /* push r14 */
	b1(&e, 0x41); b1(&e, 0x57);               /* push r15 */
	op_r(&e, W, 0x83, 5, RSP);                /* sub rsp, 8: 16-byte aligned for calls */
	b1(&e, 8);
	op_r(&e, W, 0x89, RDI, RBX);              /* mov rbx, rdi */
	op_c(&e, W, 0x8b, R12, OFF(rip));         /* mov r12, [rbx + rip] */
	b1(&e, 0xff); b1(&e, 0xe6);               /* jmp rsi */
	j->exit_off = pos(&e);
	op_r(&e, W, 0x83, 0, RSP);                /* add rsp, 8 */
	b1(&e, 8);
	b1(&e, 0x41); b1(&e, 0x5f);               /* pop r15 */
	b1(&e, 0x41); b1(&e, 0x5e);               /* pop r14 */
	b1(&e, 0x41); b1(&e, 0x5d);               /* pop r13 */
	b1(&e, 0x41); b1(&e, 0x5c);               /* pop r12 */
	b1(&e, 0x5d);                             /* pop rbp */
	b1(&e, 0x5b);                             /* pop rbx */
	b1(&e, 0xc3);                             /* ret */
	j->out_off = pos(&e);
	op_c(&e, W, 0x89, RAX, OFF(rip));
	b1(&e, 0x31); b1(&e, 0xc0);               /* xor eax, eax: retired already */
	jump_to(&e, j->exit_off);
	j->miss_off = pos(&e);
	op_c(&e, W, 0x89, RAX, OFF(rip));
	op_c(&e, 0, 0x89, RCX, OFF(jit_link));    /* mov [jit_link], ecx */
	b1(&e, 0x31); b1(&e, 0xc0);
	jump_to(&e, j->exit_off);
	j->lookup_off = pos(&e);
	/* rdx = jc[(la ^ la >> 12) % SOFT_JC_SIZE] */
	op_r(&e, W, 0x89, RAX, RDX);
	op_r(&e, W, 0xc1, 5, RDX);                /* shr rdx, 12 */
	b1(&e, 12);
	op_r(&e, W, 0x31, RAX, RDX);              /* xor rdx, rax */
	op_r(&e, 0, 0x81, 4, RDX);                /* and edx, SOFT_JC_SIZE - 1 */
	b4(&e, SOFT_JC_SIZE - 1);
	op_m(&e, W, 0x8b, RDX, RBX, RDX, 3, OFF(cache.jc));
	op_r(&e, W, 0x85, RDX, RDX);              /* test rdx, rdx */
	patch(&e, jcc_fwd(&e, CC_E), j->out_off);
	op_m(&e, W, 0x3b, RAX, RDX, NOIDX, 0, (int32_t)offsetof(struct sblock, la));
	patch(&e, jcc_fwd(&e, CC_NE), j->out_off);
	op_m(&e, 0, 0x80, 7, RDX, NOIDX, 0, (int32_t)offsetof(struct sblock, mode));
	b1(&e, SOFT_MODE64);                      /* cmp byte [rdx + mode], 64 */
	patch(&e, jcc_fwd(&e, CC_NE), j->out_off);
	op_m(&e, W, 0x83, 7, RDX, NOIDX, 0, (int32_t)offsetof(struct sblock, pa2));
	b1(&e, 0xff);                             /* cmp qword [rdx + pa2], -1 */
	patch(&e, jcc_fwd(&e, CC_NE), j->out_off);
	op_m(&e, W, 0x8b, RCX, RDX, NOIDX, 0, (int32_t)offsetof(struct sblock, code));
	op_r(&e, W, 0x85, RCX, RCX);
	patch(&e, jcc_fwd(&e, CC_E), j->out_off);
	tlb_index(&e, RSI, RAX);
	op_m(&e, W, 0x8b, RDI, RBX, RSI, 0, OFF(tlb.x));
	op_c(&e, W, 0x23, RDI, OFF(tlb.mask));
	op_r(&e, W, 0x89, RAX, R8);
	op_r(&e, W, 0x81, 4, R8);                 /* and r8, -4096 */
	b4(&e, 0xfffff000u);
	op_r(&e, W, 0x39, R8, RDI);               /* cmp rdi, r8 */
	patch(&e, jcc_fwd(&e, CC_NE), j->out_off);
	op_m(&e, W, 0x8b, RDI, RBX, RSI, 0, OFF(tlb.x) + (int32_t)offsetof(struct soft_tlb_entry, pa));
	op_r(&e, 0, 0x89, RAX, R8);               /* mov r8d, eax */
	op_r(&e, 0, 0x81, 4, R8);                 /* and r8d, 0xfff */
	b4(&e, 0xfff);
	op_r(&e, W, 0x09, R8, RDI);               /* or rdi, r8 */
	op_m(&e, W, 0x3b, RDI, RDX, NOIDX, 0, (int32_t)offsetof(struct sblock, pa));
	patch(&e, jcc_fwd(&e, CC_NE), j->out_off);
	op_r(&e, W, 0x89, RAX, R12);              /* mov r12, rax */
	b1(&e, 0xff); b1(&e, 0xe1);               /* jmp rcx */
	emit_call_stub(&e, j);
	if (e.full) {
		soft_jit_destroy(j);
		return -ENOSPC;
	}
	j->start = j->used = pos(&e);
	j->enter = (uint32_t (*)(struct soft_cpu *, const void *))(void *)j->rx;
	return 0;
}

void soft_jit_destroy(struct soft_jit *j)
{
	if (j->rw) {
		munmap(j->rw, j->size);
		munmap(j->rx, j->size);
	}
	j->rw = j->rx = NULL;
}

/* Room for the largest block: 48 instructions, each at most ~300 bytes inline (a
 * memory operand's address and TLB probe, the operation, lazy flags) plus a slow stub
 * (register write-backs and reloads around a 10-byte call), with a wide margin: a
 * block that did not fit would stay interpreted. */
#define BLOCK_ROOM (SOFT_BLOCK_MAX * 1024)

int soft_jit_has_room(const struct soft_jit *j)
{
	return j->size - j->used >= BLOCK_ROOM;
}

void soft_jit_reset(struct soft_jit *j)
{
	/* The discarded code's pages go back to the host (the memfd's pages are freed, both
	 * views see zeros): an idle VM keeps only what it translated since. */
	size_t page = 4096, from = (j->start + page - 1) & ~(page - 1);
	if (j->used > from)
		madvise(j->rw + from, ((j->used - from) + page - 1) & ~(page - 1), MADV_REMOVE);
	j->used = j->start;
	j->stats.flushes++;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int soft_jit_translate(struct soft_cpu *c, struct sblock *b)
{
	struct soft_jit *j = c->jit;
	uint64_t t0 = mono_ns();
	static __thread struct em e; /* ~4 KiB of fixups: not on the vCPU's stack */
	memset(&e, 0, sizeof(e));
	e.base = j->rw;
	e.p = j->rw + j->used;
	e.end = j->rw + j->size;
	e.b = b;
	e.exit_at = j->exit_off;
	e.jit = j;
	e.gen = c->cache.share ? &c->cache.share->gen : NULL;
	bool inl = b->mode == SOFT_MODE64;
	for (unsigned k = 0; k < b->n; k++)
		e.uses[k] = insn_uses(&b->ins[k]);
	e.chainable = inl;
	for (unsigned k = 0; k < b->n; k++)
		e.chainable = e.chainable && !(b->ins[k].attr & SI_SYS);
	/* Dead flags: an instruction's flags need not be stored when later ones in the
	 * block overwrite every flag it wrote before any instruction reads one of them or
	 * can fault (a fault shows the guest's handler the flags of the moment). A shift
	 * by CL may write them all (its count may be 0: fl_write says none). */
	for (unsigned k = 0; k < b->n; k++) {
		const struct sinsn *i = &b->ins[k];
		bool by_cl = i->kind == K_SHIFT && i->o[1].kind == OPK_REG && i->op >= SH_SHL;
		uint16_t pending = by_cl ? FL_ARITH : i->fl_write;
		for (unsigned l = k + 1; l < b->n && pending; l++) {
			const struct sinsn *x = &b->ins[l];
			if ((x->attr & SI_FAULT) || (x->fl_read & pending))
				break;
			pending &= (uint16_t)~x->fl_write;
		}
		e.dead[k] = (by_cl || i->fl_write) && !pending;
	}
	uint32_t start = pos(&e), off = 0;
	for (unsigned k = 0; k < b->n && !e.full; k++) {
		const struct sinsn *i = &b->ins[k];
		bool last = k + 1 == b->n;
		e.k = k;
		e.off = off;
		bool cf_kept = e.cf_in_rflags;
		uint8_t *mark = e.p;
		unsigned nfix = e.nfix;
		struct rcache rc = e.rc;
		uint16_t pend = e.pend;
		e.not_inline = false;
		e.lazy_set = false;
		if (inl && emit_inline(&e, i) && !e.not_inline) {
			if (!e.lazy_set && !flag_neutral(i))
				e.known = 0;           /* flags written some other way, or not at all */
			e.cf_in_rflags = flag_neutral(i) ? cf_kept :
			                 i->kind == K_UNARY && i->op <= UN_DEC && !e.dead[k];
			e.cont_at[k] = pos(&e);
			e.rc_after[k] = e.rc;
			e.pend_after[k] = e.pend;
			if (last && !ends_inline(i)) { /* the block ends after it (page end, length) */
				flags_store(&e);
				guest_rip(&e, RAX, (int64_t)off + i->len);
				leave_direct(&e, (int64_t)off + i->len);
			}
			if (i->kind != K_ALU && !keeps_host_flags(i))
				e.flags_live = false;
			e.ninline++;
			off += i->len;
			continue;
		}
		if (inl) { /* not translatable inline after all: undo what it emitted */
			e.p = mark;
			e.nfix = nfix;
			e.need[STUB_SLOW][k] = false;
			e.redo_opc[k] = 0;
			e.rc = rc;
			e.pend = pend;
		}
		e.known = 0;                       /* the handler's */
		e.flags_live = false;
		e.cf_in_rflags = false;
		flags_store(&e);
		rc_drop(&e);
		emit_call_insn(&e, k, last);
		e.cont_at[k] = pos(&e);
		e.ncall++;
		off += i->len;
	}
	emit_stubs(&e);
	if (e.full)
		return -ENOSPC;
	b->code = j->rx + start;
	j->used = pos(&e);
	j->stats.blocks++;
	j->stats.bytes += pos(&e) - start;
	j->stats.inline_insns += e.ninline;
	j->stats.call_insns += e.ncall;
	j->stats.ns += mono_ns() - t0;
	return 0;
}

int soft_jit_run(struct soft_cpu *c, const struct sblock *b, int64_t budget, uint64_t *done)
{
	c->jit_left = budget;
	c->jit_link = 0;
	uint32_t r = c->jit->enter(c, b->code);
	*done = (uint64_t)(budget - c->jit_left) + (r >> 8);
	return (int)(r & 0xff);
}

void soft_jit_link(struct soft_cpu *c, const struct sblock *to)
{
	struct soft_jit *j = c->jit;
	uint32_t site = c->jit_link;
	c->jit_link = 0;
	if (!site || !to->code || to->pa2 != SOFT_NO_PAGE || to->mode != SOFT_MODE64)
		return;
	uint32_t rel = (uint32_t)((const uint8_t *)to->code - (j->rx + site + 4));
	memcpy(j->rw + site, &rel, 4);
	j->stats.chained++;
}
