/* Random programs for test_soft_tiers.c (tier_gen.h). */
#include <string.h>

#include "tier_gen.h"

static const uint8_t wregs[] = { RAX, RCX, RDX, RBX, R8, R9, R10, R11 };
static const uint8_t pregs[] = { RBP, RSI, RDI, R13, R14 };
#define AH 16 /* byte registers AH, CH, DH, BH: 16..19 (no REX prefix allowed) */

/* ---- random numbers ---- */

static uint64_t rng;

void tg_seed(uint64_t seed)
{
	rng = seed ? seed : 1;
	tg_rnd64();
}

uint64_t tg_rnd64(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t rnd64(void)
{
	return tg_rnd64();
}

unsigned tg_rnd(unsigned n)
{
	return (unsigned)(rnd64() % n);
}

static unsigned rnd(unsigned n)
{
	return tg_rnd(n);
}

bool tg_chance(unsigned percent)
{
	return rnd(100) < percent;
}

static bool chance(unsigned percent)
{
	return tg_chance(percent);
}

/* ---- a tiny x86-64 encoder ---- */

enum { OK_REG, OK_MEM };
#define B_NONE (-1)
#define B_RIP (-2)

struct opnd {
	uint8_t kind;
	uint8_t reg;        /* OK_REG: 0..15, or AH..AH+3 for byte operands */
	int8_t base, index; /* OK_MEM: a GPR, B_NONE or B_RIP (base) */
	uint8_t scale;
	int32_t disp;
	uint64_t target;    /* B_RIP: the absolute address it refers to */
	uint8_t seg;        /* 0, or a segment override prefix (0x64 FS, 0x65 GS) */
	bool a32;           /* address-size prefix: 32-bit addressing */
};

struct ins {
	uint8_t b[32];
	unsigned n;
	int rip_at;         /* where the RIP-relative disp32 is, or -1 */
	uint64_t target;
};

#define PF_W 1u   /* REX.W */
#define PF_66 2u  /* operand-size prefix */

static void put(struct ins *o, uint64_t v, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		o->b[o->n++] = (uint8_t)(v >> (8 * k));
}

/* Prefixes and opcode for an instruction whose registers are reg (ModRM.reg or the
 * opcode's low bits), rm and the memory operand's base/index. A byte register 4..7
 * (SPL..DIL) needs a REX prefix, AH..BH forbid one: false if both are asked. */
static bool prefix(struct ins *o, unsigned pf, const uint8_t *pre, unsigned npre, unsigned reg,
                   bool reg_byte, const struct opnd *rm, bool rm_byte)
{
	o->n = 0;
	o->rip_at = -1;
	unsigned rex = pf & PF_W ? 8 : 0;
	bool need = rex != 0, forbid = false;
	if (reg >= AH) {
		forbid = true;
	} else {
		rex |= (reg >> 3 & 1) << 2;
		need |= reg >= 8 || (reg_byte && reg >= 4);
	}
	if (rm && rm->kind == OK_REG) {
		if (rm->reg >= AH) {
			forbid = true;
		} else {
			rex |= rm->reg >> 3 & 1;
			need |= rm->reg >= 8 || (rm_byte && rm->reg >= 4);
		}
	} else if (rm) {
		if (rm->base >= 0)
			rex |= (unsigned)rm->base >> 3 & 1;
		if (rm->index >= 0)
			rex |= ((unsigned)rm->index >> 3 & 1) << 1;
		if (rm->seg)
			o->b[o->n++] = rm->seg;
		if (rm->a32)
			o->b[o->n++] = 0x67;
	}
	need |= rex != 0;
	if (need && forbid)
		return false;
	for (unsigned k = 0; k < npre; k++)
		o->b[o->n++] = pre[k];
	if (pf & PF_66)
		o->b[o->n++] = 0x66;
	if (need)
		o->b[o->n++] = (uint8_t)(0x40 | rex);
	return true;
}

static void modrm(struct ins *o, unsigned reg, const struct opnd *rm)
{
	unsigned r3 = (reg >= AH ? reg - AH + 4 : reg) & 7;
	if (rm->kind == OK_REG) {
		o->b[o->n++] = (uint8_t)(0xc0 | r3 << 3 | ((rm->reg >= AH ? rm->reg - AH + 4 : rm->reg) & 7));
		return;
	}
	if (rm->base == B_RIP) {
		o->b[o->n++] = (uint8_t)(r3 << 3 | 5);
		o->rip_at = (int)o->n;
		o->target = rm->target;
		put(o, 0, 4);
		return;
	}
	if (rm->base == B_NONE) {  /* [index * scale + disp32] or [disp32] */
		o->b[o->n++] = (uint8_t)(r3 << 3 | 4);
		unsigned idx = rm->index >= 0 ? (unsigned)rm->index & 7 : 4;
		o->b[o->n++] = (uint8_t)(rm->scale << 6 | idx << 3 | 5);
		put(o, (uint32_t)rm->disp, 4);
		return;
	}
	unsigned base = (unsigned)rm->base & 7;
	unsigned mod = rm->disp == 0 && base != 5 ? 0 : rm->disp == (int8_t)rm->disp ? 1 : 2;
	if (rm->index < 0 && base != 4) {
		o->b[o->n++] = (uint8_t)(mod << 6 | r3 << 3 | base);
	} else {
		o->b[o->n++] = (uint8_t)(mod << 6 | r3 << 3 | 4);
		unsigned idx = rm->index >= 0 ? (unsigned)rm->index & 7 : 4;
		o->b[o->n++] = (uint8_t)(rm->scale << 6 | idx << 3 | base);
	}
	if (mod == 1)
		put(o, (uint8_t)rm->disp, 1);
	else if (mod == 2)
		put(o, (uint32_t)rm->disp, 4);
}

/* opcode with a ModRM operand: reg (a register or a /digit) and rm, then imm. */
static bool enc(struct ins *o, unsigned pf, const uint8_t *opc, unsigned nopc, unsigned reg,
                bool reg_byte, const struct opnd *rm, bool rm_byte, uint64_t imm, unsigned immsz)
{
	if (!prefix(o, pf, NULL, 0, reg, reg_byte, rm, rm_byte))
		return false;
	for (unsigned k = 0; k < nopc; k++)
		o->b[o->n++] = opc[k];
	modrm(o, reg, rm);
	put(o, imm, immsz);
	return true;
}

/* opcode + register in its low bits (B8+r, 50+r, ...). */
static bool enc_oreg(struct ins *o, unsigned pf, const uint8_t *opc, unsigned nopc, unsigned r,
                     bool byte, uint64_t imm, unsigned immsz)
{
	struct opnd rm = { .kind = OK_REG, .reg = (uint8_t)r };
	if (!prefix(o, pf, NULL, 0, 0, false, &rm, byte))
		return false;
	for (unsigned k = 0; k + 1 < nopc; k++)
		o->b[o->n++] = opc[k];
	o->b[o->n++] = (uint8_t)(opc[nopc - 1] + ((r >= AH ? r - AH + 4 : r) & 7));
	put(o, imm, immsz);
	return true;
}

/* No operands: legacy prefixes (REP), pf, opcode bytes, immediate. */
static void enc_plain(struct ins *o, unsigned pf, uint8_t rep, const uint8_t *opc, unsigned nopc,
                      uint64_t imm, unsigned immsz)
{
	prefix(o, pf, rep ? &rep : NULL, rep ? 1 : 0, 0, false, NULL, false);
	for (unsigned k = 0; k < nopc; k++)
		o->b[o->n++] = opc[k];
	put(o, imm, immsz);
}

/* ---- programs ---- */

#define PROG_MAX TG_PROG_MAX
#define FIX_MAX 256
#define SAFE_MAX 512

/* A forward jump, resolved when the program is complete: to safe point `want`, or
 * the farthest one before it (and not before `min`) that a rel8 reaches. */
struct fix {
	unsigned at, end, want, min;
	bool rel8;
};

struct prog {
	struct tg_prog p;   /* first: what tg_program returns */
	struct fix fix[FIX_MAX];
	unsigned nfix;
	/* Safe points: offsets between top-level items, where a jump may land (not
	 * inside a loop, whose counter would not be set, nor inside a called body). */
	unsigned safe[SAFE_MAX];
	unsigned nsafe;
};

static struct prog P;

static unsigned place(const struct ins *o)
{
	unsigned at = P.p.n;
	if (P.p.n + o->n > PROG_MAX)
		return at; /* the generator stops well before */
	memcpy(P.p.code + P.p.n, o->b, o->n);
	P.p.n += o->n;
	if (o->rip_at >= 0) {
		int32_t d = (int32_t)(int64_t)(o->target - (P.p.base + P.p.n));
		memcpy(P.p.code + at + o->rip_at, &d, 4);
	}
	return at;
}

static void mark_safe(void)
{
	if (P.nsafe < SAFE_MAX)
		P.safe[P.nsafe++] = P.p.n;
}

/* ---- operands ---- */

static unsigned rnd_size(void)
{
	static const uint8_t s[] = { 1, 2, 4, 8 };
	return s[rnd(4)];
}

static unsigned pf_of(unsigned sz)
{
	return sz == 8 ? PF_W : sz == 2 ? PF_66 : 0;
}

/* A register the program may write, of size sz (AH..BH possible for bytes). */
static unsigned wreg(unsigned sz)
{
	if (sz == 1 && chance(20))
		return AH + rnd(4);
	return wregs[rnd(sizeof(wregs))];
}

/* Any register as a source. */
static unsigned sreg(unsigned sz)
{
	if (sz == 1 && chance(15))
		return AH + rnd(4);
	return rnd(16);
}

/* An address worth pointing at: mostly data, sometimes a page edge, the hole, the
 * read-only or MMIO page, the code, the end of RAM or beyond, non-canonical. */
static uint64_t rnd_addr(void)
{
	unsigned k = rnd(100);
	if (k < 70)
		return DATA + rnd(DATA_END - DATA - 0x100);
	switch (k % 10) {
	case 0: return DATA + 0x1000 * (1 + rnd(7)) - 1 - rnd(8);   /* an access crosses */
	case 1: return HOLE + rnd(0x1000);
	case 2: return RO + rnd(0x1000);
	case 3: return MMIO + rnd(0x1000);
	case 4: return CODE + rnd(CODE_END - CODE);                 /* self-modifying */
	case 5: return RAM - 1 - rnd(12);                           /* the end of RAM */
	case 6: return 0xffff800000000000ull + rnd(0x1000);         /* canonical, no RAM */
	case 7: return 0x0000800000000000ull - 1 - rnd(8);          /* into non-canonical */
	case 8: return HOLE - 1 - rnd(8);                           /* crosses into the hole */
	default: return MMIO - 1 - rnd(4);                          /* crosses into MMIO */
	}
}

static int32_t rnd_disp(void)
{
	switch (rnd(4)) {
	case 0: return 0;
	case 1: return (int32_t)rnd(256) - 128;
	case 2: return (int32_t)rnd(0x2000) - 0x800;
	default: return (int32_t)(rnd(16) * 8);
	}
}

/* A memory operand. */
static struct opnd rnd_mem(void)
{
	struct opnd m = { .kind = OK_MEM, .base = B_NONE, .index = B_NONE };
	unsigned k = rnd(100);
	if (k < 62) {
		m.base = (int8_t)pregs[rnd(sizeof(pregs))];
		m.disp = rnd_disp();
		if (chance(25)) {
			m.index = R12;
			m.scale = (uint8_t)rnd(4);
		}
	} else if (k < 70) {
		m.base = RSP;                    /* the stack (SS: #SS when non-canonical) */
		m.disp = (int32_t)rnd(0x40);
	} else if (k < 86) {
		m.base = B_RIP;
		m.target = chance(80) ? DATA + rnd(DATA_END - DATA) : rnd_addr() & 0x7fffffff;
	} else if (k < 94) {
		uint64_t a = rnd_addr();         /* [disp32], sign-extended */
		m.disp = (int32_t)(a & 0xffffffffu);
		if (chance(30))
			m.disp = -(int32_t)rnd(0x2000);   /* the top of the address space */
	} else {
		m.base = (int8_t)pregs[rnd(sizeof(pregs))];
		m.index = (int8_t)(chance(50) ? R12 : wregs[rnd(sizeof(wregs))]);
		m.scale = (uint8_t)rnd(4);
		m.disp = rnd_disp();
	}
	if (m.base != B_RIP && chance(6))
		m.seg = chance(50) ? 0x64 : 0x65;
	if (chance(4))
		m.a32 = true;
	return m;
}

static struct opnd reg_op(unsigned r)
{
	return (struct opnd){ .kind = OK_REG, .reg = (uint8_t)r };
}

/* A destination of size sz: a writable register or memory. */
static struct opnd dst_op(unsigned sz)
{
	return chance(45) ? rnd_mem() : reg_op(wreg(sz));
}

static struct opnd src_op(unsigned sz)
{
	return chance(40) ? rnd_mem() : reg_op(sreg(sz));
}

static uint64_t rnd_imm(void)
{
	switch (rnd(6)) {
	case 0: return rnd(4);
	case 1: return (uint64_t)-(int64_t)rnd(4);
	case 2: return 0x80ull << (8 * rnd(8));
	case 3: return rnd(256);
	default: return rnd64();
	}
}

/* ---- instruction templates ---- */

/* One instruction the translator emits inline (most of the time: operand forms it
 * does not take go to the handler, which is fine). */
static bool gen_inline(struct ins *o)
{
	unsigned sz = rnd_size(), pf = pf_of(sz);
	bool b = sz == 1;
	unsigned w1 = b ? 0 : 1; /* the opcode's w bit: byte or full size */
	unsigned immsz = sz == 1 ? 1 : sz == 2 ? 2 : 4;
	struct opnd d, s;
	uint8_t opc[3];
	switch (rnd(12)) {
	case 0: case 1: { /* ALU without ADC/SBB, or TEST */
		static const uint8_t ops[] = { 0, 1, 4, 5, 6, 7 };
		unsigned op = ops[rnd(6)];
		bool test = chance(15);
		switch (rnd(4)) {
		case 0: /* r/m, reg */
			d = op == 7 || test ? src_op(sz) : dst_op(sz);
			opc[0] = (uint8_t)(test ? 0x84 + w1 : op * 8 + w1);
			return enc(o, pf, opc, 1, sreg(sz), b, &d, b, 0, 0);
		case 1: /* reg, r/m */
			if (test)
				return false;
			s = src_op(sz);
			opc[0] = (uint8_t)(op * 8 + 2 + w1);
			return enc(o, pf, opc, 1, op == 7 ? sreg(sz) : wreg(sz), b, &s, b, 0, 0);
		case 2: /* r/m, imm */
			d = op == 7 || test ? src_op(sz) : dst_op(sz);
			if (test) {
				opc[0] = (uint8_t)(0xf6 + w1);
				return enc(o, pf, opc, 1, 0, false, &d, b, rnd_imm(), immsz);
			}
			if (!b && chance(50)) {
				opc[0] = 0x83;
				return enc(o, pf, opc, 1, op, false, &d, b, rnd_imm(), 1);
			}
			opc[0] = (uint8_t)(0x80 + w1);
			return enc(o, pf, opc, 1, op, false, &d, b, rnd_imm(), immsz);
		default: /* AL/AX/EAX/RAX, imm */
			opc[0] = (uint8_t)(test ? 0xa8 + w1 : op * 8 + 4 + w1);
			enc_plain(o, pf, 0, opc, 1, rnd_imm(), immsz);
			return true;
		}
	}
	case 2: case 3: /* MOV */
		switch (rnd(5)) {
		case 0:
			d = dst_op(sz);
			opc[0] = (uint8_t)(0x88 + w1);
			return enc(o, pf, opc, 1, sreg(sz), b, &d, b, 0, 0);
		case 1:
			s = src_op(sz);
			opc[0] = (uint8_t)(0x8a + w1);
			return enc(o, pf, opc, 1, wreg(sz), b, &s, b, 0, 0);
		case 2:
			d = dst_op(sz);
			opc[0] = (uint8_t)(0xc6 + w1);
			return enc(o, pf, opc, 1, 0, false, &d, b, rnd_imm(), immsz);
		case 3:
			opc[0] = (uint8_t)(b ? 0xb0 : 0xb8);
			return enc_oreg(o, pf, opc, 1, wreg(sz), b, rnd_imm(), sz);
		default: { /* MOV AL/AX/EAX/RAX, moffs64 and back */
			uint64_t a = rnd_addr();
			opc[0] = (uint8_t)(0xa0 + w1 + (chance(50) ? 2 : 0));
			enc_plain(o, pf, 0, opc, 1, a, 8);
			return true;
		}
		}
	case 4: { /* INC, DEC, NOT, NEG */
		unsigned op = rnd(4);
		d = dst_op(sz);
		opc[0] = (uint8_t)(op < 2 ? 0xfe + w1 : 0xf6 + w1);
		return enc(o, pf, opc, 1, op, false, &d, b, 0, 0); /* /0../3 */
	}
	case 5: { /* SHL, SHR, SAR (and SAL) by an immediate */
		static const uint8_t ops[] = { 4, 5, 7, 6 };
		d = dst_op(sz);
		opc[0] = (uint8_t)(0xc0 + w1);
		unsigned cnt = chance(85) ? 1 + rnd(sz * 8 - 1) : rnd(256);
		return enc(o, pf, opc, 1, ops[rnd(chance(90) ? 3 : 4)], false, &d, b, cnt, 1);
	}
	case 6: { /* LEA */
		if (sz == 1)
			sz = 8;
		s = rnd_mem();
		opc[0] = 0x8d;
		return enc(o, pf_of(sz), opc, 1, wreg(sz), false, &s, false, 0, 0);
	}
	case 7: case 8: { /* MOVZX, MOVSX, MOVSXD */
		unsigned dsz = 2 << rnd(3), ssz = chance(50) ? 1 : 2;
		if (chance(25)) { /* MOVSXD r64, r/m32 */
			s = src_op(4);
			opc[0] = 0x63;
			return enc(o, PF_W, opc, 1, wreg(8), false, &s, false, 0, 0);
		}
		s = src_op(ssz);
		opc[0] = 0x0f;
		opc[1] = (uint8_t)((chance(50) ? 0xb6 : 0xbe) + (ssz == 2));
		return enc(o, pf_of(dsz), opc, 2, wreg(dsz), false, &s, ssz == 1, 0, 0);
	}
	case 9: /* NOP */
		opc[0] = 0x90;
		enc_plain(o, 0, 0, opc, 1, 0, 0);
		return true;
	default: { /* CMP/TEST between memory and register, then the flags are used below */
		s = src_op(sz);
		opc[0] = (uint8_t)(chance(50) ? 0x38 + w1 : 0x84 + w1);
		return enc(o, pf, opc, 1, sreg(sz), b, &s, b, 0, 0);
	}
	}
}

/* One instruction the translator leaves to its handler. */
static bool gen_handler(struct ins *o)
{
	unsigned sz = rnd_size(), pf = pf_of(sz);
	bool b = sz == 1;
	unsigned w1 = b ? 0 : 1; /* the opcode's w bit: byte or full size */
	unsigned immsz = sz == 1 ? 1 : sz == 2 ? 2 : 4;
	struct opnd d, s;
	uint8_t opc[3];
	unsigned wide = 2 << rnd(3); /* 2, 4, 8: instructions without a byte form */
	switch (rnd(16)) {
	case 0: case 1: { /* ADC, SBB */
		unsigned op = 2 + rnd(2);
		if (chance(50)) {
			d = dst_op(sz);
			opc[0] = (uint8_t)(0x80 + w1);
			return enc(o, pf, opc, 1, op, false, &d, b, rnd_imm(), immsz);
		}
		s = src_op(sz);
		opc[0] = (uint8_t)(op * 8 + 2 + w1);
		return enc(o, pf, opc, 1, wreg(sz), b, &s, b, 0, 0);
	}
	case 2: /* IMUL r, r/m (, imm) */
		s = src_op(wide);
		if (chance(50)) {
			opc[0] = 0x0f;
			opc[1] = 0xaf;
			return enc(o, pf_of(wide), opc, 2, wreg(wide), false, &s, false, 0, 0);
		}
		opc[0] = chance(50) ? 0x6b : 0x69;
		return enc(o, pf_of(wide), opc, 1, wreg(wide), false, &s, false, rnd_imm(),
		           opc[0] == 0x6b ? 1 : wide == 2 ? 2 : 4);
	case 3: /* MUL, IMUL, DIV, IDIV (#DE sometimes) */
		s = src_op(sz);
		opc[0] = (uint8_t)(0xf6 + w1);
		return enc(o, pf, opc, 1, 4 + (chance(80) ? rnd(2) : 2 + rnd(2)), false, &s, b, 0, 0);
	case 4: /* SETcc */
		d = dst_op(1);
		opc[0] = 0x0f;
		opc[1] = (uint8_t)(0x90 + rnd(16));
		return enc(o, 0, opc, 2, 0, false, &d, true, 0, 0);
	case 5: /* CMOVcc */
		s = src_op(wide);
		opc[0] = 0x0f;
		opc[1] = (uint8_t)(0x40 + rnd(16));
		return enc(o, pf_of(wide), opc, 2, wreg(wide), false, &s, false, 0, 0);
	case 6: { /* BT, BTS, BTR, BTC by a register (any bit offset) or an immediate */
		unsigned op = rnd(4);
		d = op ? dst_op(wide) : src_op(wide);
		opc[0] = 0x0f;
		if (chance(50)) {
			opc[1] = 0xba;
			return enc(o, pf_of(wide), opc, 2, 4 + op, false, &d, false, rnd(256), 1);
		}
		opc[1] = (uint8_t)(0xa3 + 8 * op);
		return enc(o, pf_of(wide), opc, 2, chance(50) ? R12 : sreg(wide), false, &d, false, 0, 0);
	}
	case 7: /* XCHG */
		if (chance(25)) {
			opc[0] = 0x90;
			return enc_oreg(o, pf_of(wide), opc, 1, wregs[1 + rnd(sizeof(wregs) - 1)], false, 0, 0);
		}
		d = dst_op(sz);
		opc[0] = (uint8_t)(0x86 + w1);
		return enc(o, pf, opc, 1, wreg(sz), b, &d, b, 0, 0);
	case 8: /* XADD, CMPXCHG */
		d = dst_op(sz);
		opc[0] = 0x0f;
		opc[1] = (uint8_t)((chance(50) ? 0xc0 : 0xb0) + w1);
		return enc(o, pf, opc, 2, wreg(sz), b, &d, b, 0, 0);
	case 9: /* CBW/CWDE/CDQE, CWD/CDQ/CQO */
		opc[0] = (uint8_t)(0x98 + rnd(2));
		enc_plain(o, pf_of(wide), 0, opc, 1, 0, 0);
		return true;
	case 10: /* BSWAP */
		opc[0] = 0x0f;
		opc[1] = 0xc8;
		return enc_oreg(o, chance(50) ? PF_W : 0, opc, 2, wregs[rnd(sizeof(wregs))], false, 0, 0);
	case 11: /* BSF, BSR */
		s = src_op(wide);
		opc[0] = 0x0f;
		opc[1] = (uint8_t)(0xbc + rnd(2));
		return enc(o, pf_of(wide), opc, 2, wreg(wide), false, &s, false, 0, 0);
	case 12: /* shifts and rotates by 1 or CL, rotates by an immediate */
		d = dst_op(sz);
		switch (rnd(3)) {
		case 0:
			opc[0] = (uint8_t)(0xd0 + w1);
			return enc(o, pf, opc, 1, rnd(8), false, &d, b, 0, 0);
		case 1:
			opc[0] = (uint8_t)(0xd2 + w1);
			return enc(o, pf, opc, 1, rnd(8), false, &d, b, 0, 0);
		default:
			opc[0] = (uint8_t)(0xc0 + w1);
			return enc(o, pf, opc, 1, rnd(4), false, &d, b, rnd(70), 1);
		}
	case 13: { /* flag operations */
		static const uint8_t f[] = { 0xf8, 0xf9, 0xf5, 0x9e, 0x9f, 0xfc };
		opc[0] = f[rnd(sizeof(f))];
		enc_plain(o, 0, 0, opc, 1, 0, 0);
		return true;
	}
	case 14: /* SHLD/SHRD by an immediate */
		d = dst_op(wide);
		opc[0] = 0x0f;
		opc[1] = chance(50) ? 0xa4 : 0xac;
		return enc(o, pf_of(wide), opc, 2, sreg(wide), false, &d, false, rnd(70), 1);
	default: /* a locked read-modify-write */
		d = rnd_mem();
		opc[0] = (uint8_t)(0x80 + w1);
		if (!enc(o, pf, opc, 1, rnd(7), false, &d, b, rnd_imm(), immsz))
			return false;
		/* LOCK goes before the other prefixes: any order is allowed. */
		memmove(o->b + 1, o->b, o->n);
		o->b[0] = 0xf0;
		o->n++;
		if (o->rip_at >= 0)
			o->rip_at++;
		return true;
	}
}

static void gen_simple(bool handlers)
{
	struct ins o;
	for (;;) {
		bool ok = handlers && chance(35) ? gen_handler(&o) : gen_inline(&o);
		if (ok)
			break;
	}
	place(&o);
}

/* A store into the program's own code: an immediate byte or dword anywhere in it.
 * Its bytes never complete a clock instruction (tier_clock_insn) with the bytes around:
 * none is 0F, 01, 31, 32 or F9. */
static void gen_smc_random(void)
{
	struct ins o;
	struct opnd m = { .kind = OK_MEM, .base = B_RIP, .index = B_NONE };
	m.target = P.p.base + rnd(P.p.n + 48);
	uint8_t opc = chance(50) ? 0xc6 : 0xc7;
	uint64_t v = 0;
	for (unsigned k = 0; k < 4; k++) {
		uint8_t x;
		do
			x = (uint8_t)(chance(30) ? 0x90 + rnd(0x40) : rnd64());
		while (x == 0x0f || x == 0x01 || x == 0x31 || x == 0x32 || x == 0xf9);
		v |= (uint64_t)x << (8 * k);
	}
	enc(&o, 0, &opc, 1, 0, false, &m, opc == 0xc6, v, opc == 0xc6 ? 1 : 4);
	place(&o);
}

/* mov dword [rip -> the immediate of a later instruction], imm32 or reg; a few
 * instructions; that instruction (ADD r32, imm32): it must run with the new bytes. */
static void gen_smc_patch(void)
{
	struct ins o;
	struct opnd m = { .kind = OK_MEM, .base = B_RIP, .index = B_NONE, .target = 0 };
	uint8_t opc = chance(50) ? 0xc7 : 0x89;
	enc(&o, 0, &opc, 1, opc == 0xc7 ? 0 : sreg(4), false, &m, false, rnd64(), opc == 0xc7 ? 4 : 0);
	unsigned at = place(&o), end = P.p.n;
	int disp_at = o.rip_at;
	for (unsigned k = rnd(3); k > 0; k--)
		gen_simple(false);
	struct opnd r = reg_op(wregs[rnd(sizeof(wregs))]);
	opc = 0x81;
	enc(&o, 0, &opc, 1, 0, false, &r, false, rnd64(), 4);
	place(&o);
	int32_t d = (int32_t)((P.p.n - 4) - end);
	memcpy(P.p.code + at + disp_at, &d, 4);
}

/* Set a pointer register: a new address, or a step from the old one. */
static void gen_pointer(void)
{
	struct ins o;
	unsigned r = pregs[rnd(sizeof(pregs))];
	uint8_t opc[1];
	uint64_t a = rnd_addr();
	switch (rnd(3)) {
	case 0:
		opc[0] = 0xb8;
		if (a > 0xffffffffu)
			enc_oreg(&o, PF_W, opc, 1, r, false, a, 8);
		else
			enc_oreg(&o, 0, opc, 1, r, false, a, 4);
		break;
	case 1: {
		struct opnd m = { .kind = OK_MEM, .base = (int8_t)r, .index = B_NONE,
		                  .disp = (int32_t)rnd(0x200) - 0x100 };
		opc[0] = 0x8d;
		enc(&o, PF_W, opc, 1, r, false, &m, false, 0, 0);
		break;
	}
	default: {
		struct opnd d = reg_op(r);
		opc[0] = 0x83;
		enc(&o, PF_W, opc, 1, chance(50) ? 0 : 5, false, &d, false, rnd(128), 1);
		break;
	}
	}
	place(&o);
}

static void gen_push_pop(void)
{
	struct ins o;
	uint8_t opc[1];
	switch (rnd(8)) {
	case 0: case 1: /* PUSH reg (RSP too: pushes the old value) */
		opc[0] = 0x50;
		enc_oreg(&o, 0, opc, 1, rnd(16), false, 0, 0);
		break;
	case 2: /* POP reg */
		opc[0] = 0x58;
		enc_oreg(&o, 0, opc, 1, wregs[rnd(sizeof(wregs))], false, 0, 0);
		break;
	case 3: /* PUSH imm8 / imm32 */
		opc[0] = chance(50) ? 0x6a : 0x68;
		enc_plain(&o, 0, 0, opc, 1, rnd_imm(), opc[0] == 0x6a ? 1 : 4);
		break;
	case 4: { /* PUSH r/m, POP r/m */
		struct opnd m = rnd_mem();
		bool push = chance(60);
		opc[0] = push ? 0xff : 0x8f;
		enc(&o, 0, opc, 1, push ? 6 : 0, false, &m, false, 0, 0);
		break;
	}
	case 5: /* 16-bit PUSH/POP */
		opc[0] = chance(50) ? 0x50 : 0x58;
		enc_oreg(&o, PF_66, opc, 1, opc[0] == 0x50 ? rnd(16) : wregs[rnd(sizeof(wregs))], false, 0, 0);
		break;
	default: /* PUSH then POP */
		opc[0] = 0x50;
		enc_oreg(&o, 0, opc, 1, rnd(16), false, 0, 0);
		place(&o);
		opc[0] = 0x58;
		enc_oreg(&o, 0, opc, 1, wregs[rnd(sizeof(wregs))], false, 0, 0);
		break;
	}
	place(&o);
}

/* mov ecx, n ; [REP] MOVS/STOS/LODS/CMPS/SCAS of any size, DF as it is. */
static void gen_string(void)
{
	struct ins o;
	uint8_t opc[1] = { 0xb8 };
	enc_oreg(&o, 0, opc, 1, RCX, false, rnd(40), 4);
	place(&o);
	static const uint8_t ops[] = { 0xa4, 0xaa, 0xac, 0xa6, 0xae };
	unsigned sz = rnd_size();
	opc[0] = (uint8_t)(ops[rnd(5)] + (sz != 1));
	uint8_t rep = chance(70) ? (chance(70) ? 0xf3 : 0xf2) : 0;
	enc_plain(&o, pf_of(sz), rep, opc, 1, 0, 0);
	place(&o);
}

/* Change RFLAGS wholesale: PUSHF/POPF, or a POPF of random flags (TF included: the
 * translator must fall back to single steps exactly where the interpreter steps). */
static void gen_popf(void)
{
	struct ins o;
	uint8_t opc[1];
	if (chance(60)) {
		opc[0] = 0x9c;
		enc_plain(&o, 0, 0, opc, 1, 0, 0);
		place(&o);
	} else {
		uint32_t f = (uint32_t)(rnd64() & 0xcd5) | (chance(10) ? 0x100 : 0) | (chance(10) ? 0x400 : 0);
		opc[0] = 0x68;
		enc_plain(&o, 0, 0, opc, 1, f, 4);
		place(&o);
	}
	opc[0] = 0x9d;
	enc_plain(&o, 0, 0, opc, 1, 0, 0);
	place(&o);
}

/* A forward Jcc/JMP/JRCXZ/LOOP to one of the next few safe points. */
static void gen_jump(void)
{
	struct ins o;
	uint8_t opc[2];
	bool rel8 = chance(60);
	unsigned k = rnd(20);
	if (k < 14) {
		unsigned cc = rnd(16);
		if (rel8) {
			opc[0] = (uint8_t)(0x70 + cc);
			enc_plain(&o, 0, 0, opc, 1, 0, 1);
		} else {
			opc[0] = 0x0f;
			opc[1] = (uint8_t)(0x80 + cc);
			enc_plain(&o, 0, 0, opc, 2, 0, 4);
		}
	} else if (k < 18) {
		opc[0] = rel8 ? 0xeb : 0xe9;
		enc_plain(&o, 0, 0, opc, 1, 0, rel8 ? 1 : 4);
	} else {
		rel8 = true;
		opc[0] = k == 18 ? 0xe3 : 0xe2; /* JRCXZ, LOOP */
		enc_plain(&o, 0, 0, opc, 1, 0, 1);
	}
	place(&o);
	mark_safe();
	if (P.nfix < FIX_MAX) {
		P.fix[P.nfix] = (struct fix){ P.p.n - (rel8 ? 1 : 4), P.p.n, P.nsafe - 1 + rnd(5),
		                              P.nsafe - 1, rel8 };
		P.nfix++;
	}
}

/* mov r15d, n ; L: body ; dec r15d ; jnz L */
static void gen_loop(void)
{
	struct ins o;
	uint8_t opc[2] = { 0xb8 };
	enc_oreg(&o, 0, opc, 1, R15, false, 1 + rnd(chance(80) ? 8 : 40), 4);
	place(&o);
	unsigned top = P.p.n;
	for (unsigned k = 1 + rnd(6); k > 0; k--) {
		if (chance(8))
			gen_smc_patch();
		else if (chance(5))
			gen_pointer();
		else
			gen_simple(true);
	}
	struct opnd r = reg_op(R15);
	opc[0] = 0xff;
	enc(&o, 0, opc, 1, 1, false, &r, false, 0, 0);
	place(&o);
	int64_t back = (int64_t)top - (int64_t)(P.p.n + 2);
	if (back >= -128) {
		opc[0] = 0x75;
		enc_plain(&o, 0, 0, opc, 1, (uint64_t)back, 1);
	} else {
		opc[0] = 0x0f;
		opc[1] = 0x85;
		enc_plain(&o, 0, 0, opc, 2, (uint64_t)(back - 4), 4);
	}
	place(&o);
}

/* call L1 (or lea rax, [rip -> L1] ; call rax) ; jmp L2 ; L1: body ; ret [n] ; L2: */
static void gen_call(void)
{
	struct ins o;
	uint8_t opc[2];
	unsigned call_at, call_end;
	int lea_at = -1;
	bool indirect = chance(25);
	unsigned r = wregs[rnd(sizeof(wregs))];
	if (indirect) {
		struct opnd m = { .kind = OK_MEM, .base = B_RIP, .index = B_NONE };
		opc[0] = 0x8d;
		enc(&o, PF_W, opc, 1, r, false, &m, false, 0, 0);
		call_at = place(&o);
		lea_at = o.rip_at;
		call_end = P.p.n;
		struct opnd d = reg_op(r);
		opc[0] = 0xff;
		enc(&o, 0, opc, 1, 2, false, &d, false, 0, 0);
		place(&o);
	} else {
		opc[0] = 0xe8;
		enc_plain(&o, 0, 0, opc, 1, 0, 4);
		call_at = place(&o) + 1;
		call_end = P.p.n;
	}
	opc[0] = 0xeb;
	enc_plain(&o, 0, 0, opc, 1, 0, 1);
	unsigned jmp_at = place(&o) + 1, jmp_end = P.p.n;
	int32_t rel = (int32_t)(P.p.n - call_end);
	if (indirect)
		memcpy(P.p.code + call_at + lea_at, &rel, 4);
	else
		memcpy(P.p.code + call_at, &rel, 4);
	for (unsigned k = rnd(4); k > 0; k--)
		gen_simple(true);
	if (chance(85)) {
		opc[0] = 0xc3;
		enc_plain(&o, 0, 0, opc, 1, 0, 0);
	} else {
		opc[0] = 0xc2;
		enc_plain(&o, 0, 0, opc, 1, rnd(3) * 8, 2);
	}
	place(&o);
	P.p.code[jmp_at] = (uint8_t)(P.p.n - jmp_end);
}

const struct tg_prog *tg_program(uint64_t base, unsigned items)
{
	P.p.n = P.nfix = P.nsafe = 0;
	P.p.base = base;
	mark_safe();
	for (unsigned it = 0; it < items && P.p.n < PROG_MAX - 512; it++) {
		unsigned k = rnd(100);
		if (k < 45)
			gen_simple(false);
		else if (k < 55)
			gen_simple(true);
		else if (k < 65)
			gen_jump();
		else if (k < 71)
			gen_loop();
		else if (k < 77)
			gen_call();
		else if (k < 83)
			gen_push_pop();
		else if (k < 88)
			gen_pointer();
		else if (k < 91)
			gen_smc_random();
		else if (k < 94)
			gen_smc_patch();
		else if (k < 98)
			gen_string();
		else
			gen_popf();
		mark_safe();
	}
	P.p.code[P.p.n++] = chance(85) ? 0xcc : 0xf4; /* INT3 or HLT */
	for (unsigned f = 0; f < P.nfix; f++) {
		unsigned want = P.fix[f].want < P.nsafe ? P.fix[f].want : P.nsafe - 1;
		if (P.fix[f].rel8)
			while (want > P.fix[f].min && P.safe[want] - P.fix[f].end > 127)
				want--;
		int32_t rel = (int32_t)(P.safe[want] - P.fix[f].end);
		if (P.fix[f].rel8)
			P.p.code[P.fix[f].at] = (uint8_t)rel;
		else
			memcpy(P.p.code + P.fix[f].at, &rel, 4);
	}
	return &P.p;
}

/* ---- start states ---- */

void tg_start(struct tg_start *s, uint64_t rip)
{
	for (unsigned k = 0; k < sizeof(wregs); k++) {
		uint64_t v;
		switch (rnd(6)) {
		case 0: v = rnd(3); break;
		case 1: v = (uint64_t)-(int64_t)rnd(3); break;
		case 2: v = rnd(64); break;
		case 3: v = 0x80ull << (8 * rnd(8)); break;
		default: v = rnd64(); break;
		}
		s->gpr[wregs[k]] = v;
	}
	for (unsigned k = 0; k < sizeof(pregs); k++)
		s->gpr[pregs[k]] = chance(90) ? DATA + rnd(DATA_END - DATA) : rnd_addr();
	s->gpr[R12] = rnd(0x200);
	s->gpr[R15] = rnd(0x100);
	s->gpr[RSP] = chance(96) ? STACK - 8 * rnd(8) : rnd_addr();
	s->rflags = 2 | (rnd64() & 0x8d5) | (chance(5) ? 0x400 : 0);
	s->rip = rip;
}
