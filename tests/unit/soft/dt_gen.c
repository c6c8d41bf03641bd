/* The differential tester's generator: a random instruction from a table of encodings
 * (random prefixes, REX, ModRM/SIB, displacement, immediate) and a random register and
 * memory state arranged so that memory operands, the stack and branch targets mostly
 * land inside the test address space (sometimes deliberately just outside it). */
#include <stdbool.h>
#include <string.h>

#include <Zydis/Zydis.h>

#include "core/cpu_state.h"
#include "dt.h"
#include "engine/soft/decode/lower.h"

uint64_t dt_rand(struct dt_rng *r)
{
	/* splitmix64 */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned rn(struct dt_rng *r, unsigned n)
{
	return (unsigned)(dt_rand(r) % n);
}

enum { I_NONE, I_B, I_W, I_Z, I_V, I_WB, I_MOFFS };
#define F_MODRM 0x001
#define F_MEM   0x002   /* memory forms only */
#define F_LOCK  0x004   /* LOCK is valid with a memory destination */
#define F_STR   0x008   /* string instruction: REP prefixes */
#define F_NO66  0x010
#define F_R8    0x020   /* opcode + register number in the low 3 bits */
#define F_CC    0x040   /* opcode + condition code in the low 4 bits */
#define F_F3    0x080   /* mandatory F3 prefix */
#define F_0F    0x100
#define F_NOREX 0x200
#define F_NOREP 0x400   /* no stray F2/F3 (LOOPcc: AMD parts change the condition) */

struct form {
	uint16_t flags;
	uint8_t op;
	uint8_t digits;     /* allowed ModRM.reg values (bit mask), 0 = any */
	uint8_t imm;
};

#define ALU(b) { F_MODRM | F_LOCK, b, 0, I_NONE }, { F_MODRM | F_LOCK, b + 1, 0, I_NONE }, \
	{ F_MODRM, b + 2, 0, I_NONE }, { F_MODRM, b + 3, 0, I_NONE }, { 0, b + 4, 0, I_B }, \
	{ 0, b + 5, 0, I_Z }

static const struct form forms[] = {
	ALU(0x00), ALU(0x08), ALU(0x10), ALU(0x18), ALU(0x20), ALU(0x28), ALU(0x30), ALU(0x38),
	{ F_MODRM | F_LOCK, 0x80, 0, I_B }, { F_MODRM | F_LOCK, 0x81, 0, I_Z },
	{ F_MODRM | F_LOCK, 0x83, 0, I_B },
	{ F_MODRM, 0x84, 0, I_NONE }, { F_MODRM, 0x85, 0, I_NONE },
	{ F_MODRM | F_LOCK, 0x86, 0, I_NONE }, { F_MODRM | F_LOCK, 0x87, 0, I_NONE },
	{ F_MODRM, 0x88, 0, I_NONE }, { F_MODRM, 0x89, 0, I_NONE },
	{ F_MODRM, 0x8a, 0, I_NONE }, { F_MODRM, 0x8b, 0, I_NONE },
	{ F_MODRM | F_MEM, 0x8d, 0, I_NONE }, { F_MODRM, 0x8f, 0x01, I_NONE },
	{ F_MODRM, 0x63, 0, I_NONE },
	{ F_R8, 0x90, 0, I_NONE }, { 0, 0x98, 0, I_NONE }, { 0, 0x99, 0, I_NONE },
	{ 0, 0x9c, 0, I_NONE }, { 0, 0x9d, 0, I_NONE }, { 0, 0x9e, 0, I_NONE }, { 0, 0x9f, 0, I_NONE },
	{ 0, 0xa0, 0, I_MOFFS }, { 0, 0xa1, 0, I_MOFFS }, { 0, 0xa2, 0, I_MOFFS }, { 0, 0xa3, 0, I_MOFFS },
	{ F_STR, 0xa4, 0, I_NONE }, { F_STR, 0xa5, 0, I_NONE }, { F_STR, 0xa6, 0, I_NONE },
	{ F_STR, 0xa7, 0, I_NONE }, { F_STR, 0xaa, 0, I_NONE }, { F_STR, 0xab, 0, I_NONE },
	{ F_STR, 0xac, 0, I_NONE }, { F_STR, 0xad, 0, I_NONE }, { F_STR, 0xae, 0, I_NONE },
	{ F_STR, 0xaf, 0, I_NONE },
	{ 0, 0xa8, 0, I_B }, { 0, 0xa9, 0, I_Z },
	{ F_R8, 0xb0, 0, I_B }, { F_R8, 0xb8, 0, I_V },
	{ F_MODRM, 0xc0, 0, I_B }, { F_MODRM, 0xc1, 0, I_B }, { F_MODRM, 0xd0, 0, I_NONE },
	{ F_MODRM, 0xd1, 0, I_NONE }, { F_MODRM, 0xd2, 0, I_NONE }, { F_MODRM, 0xd3, 0, I_NONE },
	{ F_MODRM, 0xc0, 0, I_B }, { F_MODRM, 0xc1, 0, I_B }, { F_MODRM, 0xd2, 0, I_NONE },
	{ F_MODRM, 0xd3, 0, I_NONE },
	{ F_NO66, 0xc2, 0, I_W }, { F_NO66, 0xc3, 0, I_NONE },
	{ F_MODRM, 0xc6, 0x01, I_B }, { F_MODRM, 0xc7, 0x01, I_Z },
	{ 0, 0xc8, 0, I_WB }, { 0, 0xc9, 0, I_NONE },
	{ F_NO66 | F_NOREP, 0xe0, 0, I_B }, { F_NO66 | F_NOREP, 0xe1, 0, I_B },
	{ F_NO66 | F_NOREP, 0xe2, 0, I_B }, { F_NO66 | F_NOREP, 0xe3, 0, I_B },
	{ F_NO66, 0xe8, 0, I_Z }, { F_NO66, 0xe9, 0, I_Z }, { F_NO66, 0xeb, 0, I_B },
	{ F_NO66 | F_CC, 0x70, 0, I_B }, { F_NO66 | F_CC, 0x70, 0, I_B },
	{ 0, 0xf5, 0, I_NONE }, { 0, 0xf8, 0, I_NONE }, { 0, 0xf9, 0, I_NONE },
	{ 0, 0xfc, 0, I_NONE }, { 0, 0xfd, 0, I_NONE },
	{ F_MODRM, 0xf6, 0x01, I_B }, { F_MODRM | F_LOCK, 0xf6, 0x0c, I_NONE },
	{ F_MODRM, 0xf6, 0xf0, I_NONE },
	{ F_MODRM, 0xf7, 0x01, I_Z }, { F_MODRM | F_LOCK, 0xf7, 0x0c, I_NONE },
	{ F_MODRM, 0xf7, 0xf0, I_NONE }, { F_MODRM, 0xf7, 0xf0, I_NONE },
	{ F_MODRM | F_LOCK, 0xfe, 0x03, I_NONE }, { F_MODRM | F_LOCK, 0xff, 0x03, I_NONE },
	{ F_MODRM | F_NO66, 0xff, 0x04, I_NONE }, { F_MODRM | F_NO66, 0xff, 0x10, I_NONE },
	{ F_MODRM, 0xff, 0x40, I_NONE },
	{ F_R8, 0x50, 0, I_NONE }, { F_R8, 0x58, 0, I_NONE }, { 0, 0x68, 0, I_Z }, { 0, 0x6a, 0, I_B },
	{ F_MODRM, 0x69, 0, I_Z }, { F_MODRM, 0x6b, 0, I_B },
	{ 0, 0xd7, 0, I_NONE },
	/* 0F map */
	{ F_0F | F_MODRM | F_CC, 0x40, 0, I_NONE }, { F_0F | F_MODRM | F_CC, 0x40, 0, I_NONE },
	{ F_0F | F_MODRM | F_CC, 0x90, 0, I_NONE },
	{ F_0F | F_NO66 | F_CC, 0x80, 0, I_Z },
	{ F_0F | F_MODRM, 0xa3, 0, I_NONE }, { F_0F | F_MODRM | F_LOCK, 0xab, 0, I_NONE },
	{ F_0F | F_MODRM | F_LOCK, 0xb3, 0, I_NONE }, { F_0F | F_MODRM | F_LOCK, 0xbb, 0, I_NONE },
	{ F_0F | F_MODRM | F_LOCK, 0xba, 0xf0, I_B },
	{ F_0F | F_MODRM, 0xa4, 0, I_B }, { F_0F | F_MODRM, 0xa5, 0, I_NONE },
	{ F_0F | F_MODRM, 0xac, 0, I_B }, { F_0F | F_MODRM, 0xad, 0, I_NONE },
	{ F_0F | F_MODRM, 0xaf, 0, I_NONE },
	{ F_0F | F_MODRM | F_LOCK, 0xb0, 0, I_NONE }, { F_0F | F_MODRM | F_LOCK, 0xb1, 0, I_NONE },
	{ F_0F | F_MODRM | F_LOCK, 0xb1, 0, I_NONE },
	{ F_0F | F_MODRM, 0xb6, 0, I_NONE }, { F_0F | F_MODRM, 0xb7, 0, I_NONE },
	{ F_0F | F_MODRM, 0xbe, 0, I_NONE }, { F_0F | F_MODRM, 0xbf, 0, I_NONE },
	{ F_0F | F_MODRM | F_LOCK, 0xc0, 0, I_NONE }, { F_0F | F_MODRM | F_LOCK, 0xc1, 0, I_NONE },
	{ F_0F | F_R8 | F_NO66, 0xc8, 0, I_NONE },
	{ F_0F | F_MODRM, 0xbc, 0, I_NONE }, { F_0F | F_MODRM, 0xbd, 0, I_NONE },
	{ F_0F | F_MODRM | F_F3, 0xbc, 0, I_NONE }, { F_0F | F_MODRM | F_F3, 0xbd, 0, I_NONE },
	{ F_0F | F_MODRM | F_F3, 0xb8, 0, I_NONE },
	{ F_0F | F_MODRM, 0x1f, 0x01, I_NONE },
	{ F_0F | F_MODRM | F_MEM | F_LOCK, 0xc7, 0x02, I_NONE },
	{ F_0F | F_MODRM | F_MEM | F_LOCK, 0xc7, 0x02, I_NONE },
};

#define NFORMS (sizeof(forms) / sizeof(forms[0]))

static uint64_t rand_val(struct dt_rng *r)
{
	static const uint64_t edges[] = { 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff,
	                                  0x80000000, 0xffffffff, 0x7fffffffffffffff,
	                                  0x8000000000000000, 0xffffffffffffffff, 0x100, 0x10000 };
	switch (rn(r, 10)) {
	case 0: return 0;
	case 1: return rn(r, 256);
	case 2: return (uint64_t)0 - rn(r, 256);
	case 3: return 1ull << rn(r, 64);
	case 4: return edges[rn(r, sizeof(edges) / sizeof(edges[0]))] + rn(r, 3) - 1;
	case 5: return (uint64_t)(int64_t)(int32_t)dt_rand(r);
	case 6: return dt_rand(r) & 0xffffffff;
	default: return dt_rand(r);
	}
}

static int gpr_index(ZydisRegister reg)
{
	if (reg >= ZYDIS_REGISTER_AL && reg <= ZYDIS_REGISTER_BL)
		return reg - ZYDIS_REGISTER_AL;
	if (reg >= ZYDIS_REGISTER_AH && reg <= ZYDIS_REGISTER_BH)
		return reg - ZYDIS_REGISTER_AH; /* the containing register */
	if (reg >= ZYDIS_REGISTER_SPL && reg <= ZYDIS_REGISTER_R15B)
		return 4 + (reg - ZYDIS_REGISTER_SPL);
	if (reg >= ZYDIS_REGISTER_AX && reg <= ZYDIS_REGISTER_R15W)
		return reg - ZYDIS_REGISTER_AX;
	if (reg >= ZYDIS_REGISTER_EAX && reg <= ZYDIS_REGISTER_R15D)
		return reg - ZYDIS_REGISTER_EAX;
	if (reg >= ZYDIS_REGISTER_RAX && reg <= ZYDIS_REGISTER_R15)
		return reg - ZYDIS_REGISTER_RAX;
	return -1;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned k = 0; k < n; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

/* Encode one random instruction from the table; returns its length (may exceed 15,
 * which the caller rejects). */
static unsigned gen_bytes(struct dt_rng *r, uint8_t *b)
{
	const struct form *f = &forms[rn(r, NFORMS)];
	uint8_t pf[5];
	unsigned np = 0, n = 0;
	bool o16 = false, a32 = false, rexw = false;

	if (!(f->flags & F_NO66) && rn(r, 4) == 0)
		pf[np++] = 0x66, o16 = true;
	if (rn(r, 12) == 0)
		pf[np++] = 0x67, a32 = true;
	if (rn(r, 30) == 0)
		pf[np++] = (uint8_t[]){ 0x26, 0x2e, 0x36, 0x3e }[rn(r, 4)];
	if ((f->flags & F_LOCK) ? rn(r, 3) == 0 : rn(r, 150) == 0)
		pf[np++] = 0xf0;
	if ((f->flags & F_STR) ? rn(r, 2) == 0 : !(f->flags & F_NOREP) && rn(r, 100) == 0)
		pf[np++] = rn(r, 2) ? 0xf3 : 0xf2;
	for (unsigned k = np; k > 1; k--) { /* shuffle */
		unsigned j = rn(r, k);
		uint8_t t = pf[k - 1];
		pf[k - 1] = pf[j];
		pf[j] = t;
	}
	memcpy(b, pf, np);
	n = np;
	if (f->flags & F_F3)
		b[n++] = 0xf3;
	if (!(f->flags & F_NOREX) && rn(r, 10) < 6) {
		uint8_t rex = (uint8_t)(0x40 | rn(r, 16));
		rexw = rex & 8;
		b[n++] = rex;
	}
	if (f->flags & F_0F)
		b[n++] = 0x0f;
	uint8_t op = f->op;
	if (f->flags & F_R8)
		op |= (uint8_t)rn(r, 8);
	if (f->flags & F_CC)
		op |= (uint8_t)rn(r, 16);
	b[n++] = op;
	if (f->flags & F_MODRM) {
		unsigned mod = (f->flags & F_MEM) ? rn(r, 3) : (rn(r, 5) < 2 ? 3 : rn(r, 3));
		unsigned reg;
		do
			reg = rn(r, 8);
		while (f->digits && !(f->digits & (1u << reg)));
		unsigned rm = rn(r, 8);
		b[n++] = (uint8_t)(mod << 6 | reg << 3 | rm);
		unsigned disp = mod == 1 ? 1 : mod == 2 ? 4 : 0;
		if (mod != 3 && rm == 4) {
			uint8_t sib = (uint8_t)dt_rand(r);
			b[n++] = sib;
			if (mod == 0 && (sib & 7) == 5)
				disp = 4;
		}
		if (mod == 0 && rm == 5)
			disp = 4;
		put_le(b + n, dt_rand(r), disp);
		n += disp;
	}
	unsigned isz = 0;
	switch (f->imm) {
	case I_B: isz = 1; break;
	case I_W: isz = 2; break;
	case I_Z: isz = o16 && !(f->flags & F_NO66) ? 2 : 4; break;
	case I_V: isz = rexw ? 8 : o16 ? 2 : 4; break;
	case I_WB: isz = 3; break;
	case I_MOFFS: isz = a32 ? 4 : 8; break;
	}
	put_le(b + n, dt_rand(r), isz);
	n += isz;
	return n;
}

static uint64_t mem_target(struct dt_rng *r, unsigned size)
{
	unsigned p = rn(r, 100);
	if (p < 88)
		return DT_DATA + rn(r, DT_DATA_SIZE - 16);
	if (p < 92)
		return DT_DATA + DT_DATA_SIZE - 1 - rn(r, size ? size : 8);
	if (p < 94)
		return DT_DATA - 1 - rn(r, 8);
	if (p < 98)
		return DT_CODE + rn(r, 4096 - 16);
	return dt_rand(r);
}

static uint64_t code_target(struct dt_rng *r, unsigned len)
{
	uint64_t t = DT_CODE + rn(r, 4096);
	if (t >= DT_INSN && t < DT_INSN + len)
		t += len;
	return t;
}

/* Point the explicit memory operand at `target` by choosing base/index values or
 * patching the displacement. */
static void aim(struct dt_rng *r, struct dt_case *c, const ZydisDecodedInstruction *zi,
                const ZydisDecodedOperand *mo, uint64_t target)
{
	uint64_t *g = c->in.gpr;
	int base = gpr_index(mo->mem.base), index = gpr_index(mo->mem.index);
	int64_t disp = mo->mem.disp.has_displacement ? mo->mem.disp.value : 0;
	unsigned scale = mo->mem.scale ? mo->mem.scale : 1;
	bool a32 = zi->address_width == 32;
	uint64_t junk = a32 ? dt_rand(r) << 32 : 0;

	if (mo->mem.base == ZYDIS_REGISTER_RIP || mo->mem.base == ZYDIS_REGISTER_EIP ||
	    (base < 0 && index < 0)) {
		unsigned off = zi->raw.disp.offset, sz = zi->raw.disp.size / 8;
		uint64_t d = target;
		if (base != -1 || mo->mem.base != ZYDIS_REGISTER_NONE)
			d = target - (DT_INSN + zi->length);
		if (sz && off + sz <= c->len)
			put_le(c->code + off, d, sz);
		return;
	}
	uint64_t iv = 0;
	if (index >= 0 && index != base) {
		iv = (uint64_t)(int64_t)((int)rn(r, 64) - 32);
		g[index] = a32 ? (junk | (uint32_t)iv) : iv;
		junk = a32 ? dt_rand(r) << 32 : 0;
	}
	if (base >= 0) {
		uint64_t v;
		if (index == base)
			v = (target - (uint64_t)disp) / (1 + scale);
		else
			v = target - (uint64_t)disp - iv * scale;
		g[base] = a32 ? (junk | (uint32_t)v) : v;
	} else if (index >= 0) {
		uint64_t v = (target - (uint64_t)disp) / scale;
		g[index] = a32 ? (junk | (uint32_t)v) : v;
	}
}

static uint8_t *data_at(struct dt_case *c, uint64_t la, unsigned n)
{
	if (la >= DT_DATA && la + n <= DT_DATA + DT_DATA_SIZE)
		return c->mem + (la - DT_DATA);
	return NULL;
}

/* ---- x87 / MMX / SSE forms and state ---- */

enum { P_NP, P_66, P_F3, P_F2 };
enum { M_0F = 1, M_38, M_3A, M_X87 };
#define K_RM 0          /* ModRM: register or memory */
#define K_M 1           /* memory forms only */
#define K_R 2           /* register forms only */
#define K_I 4           /* imm8 follows */
#define K_NOMODRM 8

struct fpform {
	uint8_t pfx, map, op, kind, digits;
};

static const struct fpform fpforms[] = {
	{ P_NP, M_X87, 0xd8, K_RM, 0 }, { P_NP, M_X87, 0xd9, K_RM, 0 }, { P_NP, M_X87, 0xda, K_RM, 0 },
	{ P_NP, M_X87, 0xdb, K_RM, 0 }, { P_NP, M_X87, 0xdc, K_RM, 0 }, { P_NP, M_X87, 0xdd, K_RM, 0 },
	{ P_NP, M_X87, 0xde, K_RM, 0 }, { P_NP, M_X87, 0xdf, K_RM, 0 },
	{ P_NP, M_X87, 0xd8, K_RM, 0 }, { P_NP, M_X87, 0xd9, K_RM, 0 }, { P_NP, M_X87, 0xda, K_RM, 0 },
	{ P_NP, M_X87, 0xdb, K_RM, 0 }, { P_NP, M_X87, 0xdc, K_RM, 0 }, { P_NP, M_X87, 0xdd, K_RM, 0 },
	{ P_NP, M_X87, 0xde, K_RM, 0 }, { P_NP, M_X87, 0xdf, K_RM, 0 },
	{ P_NP, M_X87, 0xd9, K_R, 0x30 }, { P_NP, M_X87, 0xd9, K_R, 0xf0 }, { P_NP, M_X87, 0xd9, K_R, 0xc0 },
	{ P_NP, M_0F, 0x10, K_RM, 0x00 }, { P_NP, M_0F, 0x11, K_RM, 0x00 }, { P_NP, M_0F, 0x12, K_RM, 0x00 },
	{ P_NP, M_0F, 0x14, K_RM, 0x00 }, { P_NP, M_0F, 0x15, K_RM, 0x00 }, { P_NP, M_0F, 0x16, K_RM, 0x00 },
	{ P_NP, M_0F, 0x28, K_RM, 0x00 }, { P_NP, M_0F, 0x29, K_RM, 0x00 }, { P_NP, M_0F, 0x2a, K_RM, 0x00 },
	{ P_NP, M_0F, 0x2c, K_RM, 0x00 }, { P_NP, M_0F, 0x2d, K_RM, 0x00 }, { P_NP, M_0F, 0x2e, K_RM, 0x00 },
	{ P_NP, M_0F, 0x2f, K_RM, 0x00 }, { P_NP, M_0F, 0x51, K_RM, 0x00 }, { P_NP, M_0F, 0x52, K_RM, 0x00 },
	{ P_NP, M_0F, 0x53, K_RM, 0x00 }, { P_NP, M_0F, 0x54, K_RM, 0x00 }, { P_NP, M_0F, 0x55, K_RM, 0x00 },
	{ P_NP, M_0F, 0x56, K_RM, 0x00 }, { P_NP, M_0F, 0x57, K_RM, 0x00 }, { P_NP, M_0F, 0x58, K_RM, 0x00 },
	{ P_NP, M_0F, 0x59, K_RM, 0x00 }, { P_NP, M_0F, 0x5a, K_RM, 0x00 }, { P_NP, M_0F, 0x5b, K_RM, 0x00 },
	{ P_NP, M_0F, 0x5c, K_RM, 0x00 }, { P_NP, M_0F, 0x5d, K_RM, 0x00 }, { P_NP, M_0F, 0x5e, K_RM, 0x00 },
	{ P_NP, M_0F, 0x5f, K_RM, 0x00 }, { P_NP, M_0F, 0x60, K_RM, 0x00 }, { P_NP, M_0F, 0x61, K_RM, 0x00 },
	{ P_NP, M_0F, 0x62, K_RM, 0x00 }, { P_NP, M_0F, 0x63, K_RM, 0x00 }, { P_NP, M_0F, 0x64, K_RM, 0x00 },
	{ P_NP, M_0F, 0x65, K_RM, 0x00 }, { P_NP, M_0F, 0x66, K_RM, 0x00 }, { P_NP, M_0F, 0x67, K_RM, 0x00 },
	{ P_NP, M_0F, 0x68, K_RM, 0x00 }, { P_NP, M_0F, 0x69, K_RM, 0x00 }, { P_NP, M_0F, 0x6a, K_RM, 0x00 },
	{ P_NP, M_0F, 0x6b, K_RM, 0x00 }, { P_NP, M_0F, 0x6e, K_RM, 0x00 }, { P_NP, M_0F, 0x6f, K_RM, 0x00 },
	{ P_NP, M_0F, 0x74, K_RM, 0x00 }, { P_NP, M_0F, 0x75, K_RM, 0x00 }, { P_NP, M_0F, 0x76, K_RM, 0x00 },
	{ P_NP, M_0F, 0x7e, K_RM, 0x00 }, { P_NP, M_0F, 0x7f, K_RM, 0x00 }, { P_NP, M_0F, 0xd1, K_RM, 0x00 },
	{ P_NP, M_0F, 0xd2, K_RM, 0x00 }, { P_NP, M_0F, 0xd3, K_RM, 0x00 }, { P_NP, M_0F, 0xd4, K_RM, 0x00 },
	{ P_NP, M_0F, 0xd5, K_RM, 0x00 }, { P_NP, M_0F, 0xd8, K_RM, 0x00 }, { P_NP, M_0F, 0xd9, K_RM, 0x00 },
	{ P_NP, M_0F, 0xda, K_RM, 0x00 }, { P_NP, M_0F, 0xdb, K_RM, 0x00 }, { P_NP, M_0F, 0xdc, K_RM, 0x00 },
	{ P_NP, M_0F, 0xdd, K_RM, 0x00 }, { P_NP, M_0F, 0xde, K_RM, 0x00 }, { P_NP, M_0F, 0xdf, K_RM, 0x00 },
	{ P_NP, M_0F, 0xe0, K_RM, 0x00 }, { P_NP, M_0F, 0xe1, K_RM, 0x00 }, { P_NP, M_0F, 0xe2, K_RM, 0x00 },
	{ P_NP, M_0F, 0xe3, K_RM, 0x00 }, { P_NP, M_0F, 0xe4, K_RM, 0x00 }, { P_NP, M_0F, 0xe5, K_RM, 0x00 },
	{ P_NP, M_0F, 0xe8, K_RM, 0x00 }, { P_NP, M_0F, 0xe9, K_RM, 0x00 }, { P_NP, M_0F, 0xea, K_RM, 0x00 },
	{ P_NP, M_0F, 0xeb, K_RM, 0x00 }, { P_NP, M_0F, 0xec, K_RM, 0x00 }, { P_NP, M_0F, 0xed, K_RM, 0x00 },
	{ P_NP, M_0F, 0xee, K_RM, 0x00 }, { P_NP, M_0F, 0xef, K_RM, 0x00 }, { P_NP, M_0F, 0xf1, K_RM, 0x00 },
	{ P_NP, M_0F, 0xf2, K_RM, 0x00 }, { P_NP, M_0F, 0xf3, K_RM, 0x00 }, { P_NP, M_0F, 0xf4, K_RM, 0x00 },
	{ P_NP, M_0F, 0xf5, K_RM, 0x00 }, { P_NP, M_0F, 0xf6, K_RM, 0x00 }, { P_NP, M_0F, 0xf8, K_RM, 0x00 },
	{ P_NP, M_0F, 0xf9, K_RM, 0x00 }, { P_NP, M_0F, 0xfa, K_RM, 0x00 }, { P_NP, M_0F, 0xfb, K_RM, 0x00 },
	{ P_NP, M_0F, 0xfc, K_RM, 0x00 }, { P_NP, M_0F, 0xfd, K_RM, 0x00 }, { P_NP, M_0F, 0xfe, K_RM, 0x00 },
	{ P_NP, M_0F, 0x13, K_M, 0x00 }, { P_NP, M_0F, 0x17, K_M, 0x00 }, { P_NP, M_0F, 0x2b, K_M, 0x00 },
	{ P_NP, M_0F, 0xc3, K_M, 0x00 }, { P_NP, M_0F, 0xe7, K_M, 0x00 }, { P_NP, M_0F, 0x50, K_R, 0x00 },
	{ P_NP, M_0F, 0xd7, K_R, 0x00 }, { P_NP, M_0F, 0xf7, K_R, 0x00 }, { P_NP, M_0F, 0x70, K_RM | K_I, 0x00 },
	{ P_NP, M_0F, 0xc2, K_RM | K_I, 0x00 }, { P_NP, M_0F, 0xc4, K_RM | K_I, 0x00 }, { P_NP, M_0F, 0xc6, K_RM | K_I, 0x00 },
	{ P_NP, M_0F, 0xc5, K_R | K_I, 0x00 }, { P_NP, M_0F, 0x71, K_R | K_I, 0x54 }, { P_NP, M_0F, 0x72, K_R | K_I, 0x54 },
	{ P_NP, M_0F, 0x73, K_R | K_I, 0x44 }, { P_NP, M_0F, 0x77, K_NOMODRM, 0x00 }, { P_NP, M_0F, 0xae, K_M, 0x0f },
	{ P_NP, M_0F, 0xae, K_R, 0xe0 }, { P_NP, M_0F, 0x18, K_M, 0x0f }, { P_66, M_0F, 0x10, K_RM, 0x00 },
	{ P_66, M_0F, 0x11, K_RM, 0x00 }, { P_66, M_0F, 0x12, K_RM, 0x00 }, { P_66, M_0F, 0x14, K_RM, 0x00 },
	{ P_66, M_0F, 0x15, K_RM, 0x00 }, { P_66, M_0F, 0x16, K_RM, 0x00 }, { P_66, M_0F, 0x28, K_RM, 0x00 },
	{ P_66, M_0F, 0x29, K_RM, 0x00 }, { P_66, M_0F, 0x2a, K_RM, 0x00 }, { P_66, M_0F, 0x2c, K_RM, 0x00 },
	{ P_66, M_0F, 0x2d, K_RM, 0x00 }, { P_66, M_0F, 0x2e, K_RM, 0x00 }, { P_66, M_0F, 0x2f, K_RM, 0x00 },
	{ P_66, M_0F, 0x51, K_RM, 0x00 }, { P_66, M_0F, 0x54, K_RM, 0x00 }, { P_66, M_0F, 0x55, K_RM, 0x00 },
	{ P_66, M_0F, 0x56, K_RM, 0x00 }, { P_66, M_0F, 0x57, K_RM, 0x00 }, { P_66, M_0F, 0x58, K_RM, 0x00 },
	{ P_66, M_0F, 0x59, K_RM, 0x00 }, { P_66, M_0F, 0x5a, K_RM, 0x00 }, { P_66, M_0F, 0x5b, K_RM, 0x00 },
	{ P_66, M_0F, 0x5c, K_RM, 0x00 }, { P_66, M_0F, 0x5d, K_RM, 0x00 }, { P_66, M_0F, 0x5e, K_RM, 0x00 },
	{ P_66, M_0F, 0x5f, K_RM, 0x00 }, { P_66, M_0F, 0x60, K_RM, 0x00 }, { P_66, M_0F, 0x61, K_RM, 0x00 },
	{ P_66, M_0F, 0x62, K_RM, 0x00 }, { P_66, M_0F, 0x63, K_RM, 0x00 }, { P_66, M_0F, 0x64, K_RM, 0x00 },
	{ P_66, M_0F, 0x65, K_RM, 0x00 }, { P_66, M_0F, 0x66, K_RM, 0x00 }, { P_66, M_0F, 0x67, K_RM, 0x00 },
	{ P_66, M_0F, 0x68, K_RM, 0x00 }, { P_66, M_0F, 0x69, K_RM, 0x00 }, { P_66, M_0F, 0x6a, K_RM, 0x00 },
	{ P_66, M_0F, 0x6b, K_RM, 0x00 }, { P_66, M_0F, 0x6c, K_RM, 0x00 }, { P_66, M_0F, 0x6d, K_RM, 0x00 },
	{ P_66, M_0F, 0x6e, K_RM, 0x00 }, { P_66, M_0F, 0x6f, K_RM, 0x00 }, { P_66, M_0F, 0x74, K_RM, 0x00 },
	{ P_66, M_0F, 0x75, K_RM, 0x00 }, { P_66, M_0F, 0x76, K_RM, 0x00 }, { P_66, M_0F, 0x7c, K_RM, 0x00 },
	{ P_66, M_0F, 0x7d, K_RM, 0x00 }, { P_66, M_0F, 0x7e, K_RM, 0x00 }, { P_66, M_0F, 0x7f, K_RM, 0x00 },
	{ P_66, M_0F, 0xd0, K_RM, 0x00 }, { P_66, M_0F, 0xd1, K_RM, 0x00 }, { P_66, M_0F, 0xd2, K_RM, 0x00 },
	{ P_66, M_0F, 0xd3, K_RM, 0x00 }, { P_66, M_0F, 0xd4, K_RM, 0x00 }, { P_66, M_0F, 0xd5, K_RM, 0x00 },
	{ P_66, M_0F, 0xd6, K_RM, 0x00 }, { P_66, M_0F, 0xd8, K_RM, 0x00 }, { P_66, M_0F, 0xd9, K_RM, 0x00 },
	{ P_66, M_0F, 0xda, K_RM, 0x00 }, { P_66, M_0F, 0xdb, K_RM, 0x00 }, { P_66, M_0F, 0xdc, K_RM, 0x00 },
	{ P_66, M_0F, 0xdd, K_RM, 0x00 }, { P_66, M_0F, 0xde, K_RM, 0x00 }, { P_66, M_0F, 0xdf, K_RM, 0x00 },
	{ P_66, M_0F, 0xe0, K_RM, 0x00 }, { P_66, M_0F, 0xe1, K_RM, 0x00 }, { P_66, M_0F, 0xe2, K_RM, 0x00 },
	{ P_66, M_0F, 0xe3, K_RM, 0x00 }, { P_66, M_0F, 0xe4, K_RM, 0x00 }, { P_66, M_0F, 0xe5, K_RM, 0x00 },
	{ P_66, M_0F, 0xe6, K_RM, 0x00 }, { P_66, M_0F, 0xe8, K_RM, 0x00 }, { P_66, M_0F, 0xe9, K_RM, 0x00 },
	{ P_66, M_0F, 0xea, K_RM, 0x00 }, { P_66, M_0F, 0xeb, K_RM, 0x00 }, { P_66, M_0F, 0xec, K_RM, 0x00 },
	{ P_66, M_0F, 0xed, K_RM, 0x00 }, { P_66, M_0F, 0xee, K_RM, 0x00 }, { P_66, M_0F, 0xef, K_RM, 0x00 },
	{ P_66, M_0F, 0xf1, K_RM, 0x00 }, { P_66, M_0F, 0xf2, K_RM, 0x00 }, { P_66, M_0F, 0xf3, K_RM, 0x00 },
	{ P_66, M_0F, 0xf4, K_RM, 0x00 }, { P_66, M_0F, 0xf5, K_RM, 0x00 }, { P_66, M_0F, 0xf6, K_RM, 0x00 },
	{ P_66, M_0F, 0xf8, K_RM, 0x00 }, { P_66, M_0F, 0xf9, K_RM, 0x00 }, { P_66, M_0F, 0xfa, K_RM, 0x00 },
	{ P_66, M_0F, 0xfb, K_RM, 0x00 }, { P_66, M_0F, 0xfc, K_RM, 0x00 }, { P_66, M_0F, 0xfd, K_RM, 0x00 },
	{ P_66, M_0F, 0xfe, K_RM, 0x00 }, { P_66, M_0F, 0x13, K_M, 0x00 }, { P_66, M_0F, 0x17, K_M, 0x00 },
	{ P_66, M_0F, 0x2b, K_M, 0x00 }, { P_66, M_0F, 0xe7, K_M, 0x00 }, { P_66, M_0F, 0x50, K_R, 0x00 },
	{ P_66, M_0F, 0xd7, K_R, 0x00 }, { P_66, M_0F, 0xf7, K_R, 0x00 }, { P_66, M_0F, 0x70, K_RM | K_I, 0x00 },
	{ P_66, M_0F, 0xc2, K_RM | K_I, 0x00 }, { P_66, M_0F, 0xc4, K_RM | K_I, 0x00 }, { P_66, M_0F, 0xc6, K_RM | K_I, 0x00 },
	{ P_66, M_0F, 0xc5, K_R | K_I, 0x00 }, { P_66, M_0F, 0x71, K_R | K_I, 0x54 }, { P_66, M_0F, 0x72, K_R | K_I, 0x54 },
	{ P_66, M_0F, 0x73, K_R | K_I, 0xcc }, { P_F3, M_0F, 0x10, K_RM, 0x00 }, { P_F3, M_0F, 0x11, K_RM, 0x00 },
	{ P_F3, M_0F, 0x12, K_RM, 0x00 }, { P_F3, M_0F, 0x16, K_RM, 0x00 }, { P_F3, M_0F, 0x2a, K_RM, 0x00 },
	{ P_F3, M_0F, 0x2c, K_RM, 0x00 }, { P_F3, M_0F, 0x2d, K_RM, 0x00 }, { P_F3, M_0F, 0x51, K_RM, 0x00 },
	{ P_F3, M_0F, 0x52, K_RM, 0x00 }, { P_F3, M_0F, 0x53, K_RM, 0x00 }, { P_F3, M_0F, 0x58, K_RM, 0x00 },
	{ P_F3, M_0F, 0x59, K_RM, 0x00 }, { P_F3, M_0F, 0x5a, K_RM, 0x00 }, { P_F3, M_0F, 0x5b, K_RM, 0x00 },
	{ P_F3, M_0F, 0x5c, K_RM, 0x00 }, { P_F3, M_0F, 0x5d, K_RM, 0x00 }, { P_F3, M_0F, 0x5e, K_RM, 0x00 },
	{ P_F3, M_0F, 0x5f, K_RM, 0x00 }, { P_F3, M_0F, 0x6f, K_RM, 0x00 }, { P_F3, M_0F, 0x7e, K_RM, 0x00 },
	{ P_F3, M_0F, 0x7f, K_RM, 0x00 }, { P_F3, M_0F, 0xe6, K_RM, 0x00 }, { P_F3, M_0F, 0x70, K_RM | K_I, 0x00 },
	{ P_F3, M_0F, 0xc2, K_RM | K_I, 0x00 }, { P_F3, M_0F, 0xd6, K_R, 0x00 }, { P_F2, M_0F, 0x10, K_RM, 0x00 },
	{ P_F2, M_0F, 0x11, K_RM, 0x00 }, { P_F2, M_0F, 0x12, K_RM, 0x00 }, { P_F2, M_0F, 0x2a, K_RM, 0x00 },
	{ P_F2, M_0F, 0x2c, K_RM, 0x00 }, { P_F2, M_0F, 0x2d, K_RM, 0x00 }, { P_F2, M_0F, 0x51, K_RM, 0x00 },
	{ P_F2, M_0F, 0x58, K_RM, 0x00 }, { P_F2, M_0F, 0x59, K_RM, 0x00 }, { P_F2, M_0F, 0x5a, K_RM, 0x00 },
	{ P_F2, M_0F, 0x5c, K_RM, 0x00 }, { P_F2, M_0F, 0x5d, K_RM, 0x00 }, { P_F2, M_0F, 0x5e, K_RM, 0x00 },
	{ P_F2, M_0F, 0x5f, K_RM, 0x00 }, { P_F2, M_0F, 0x7c, K_RM, 0x00 }, { P_F2, M_0F, 0x7d, K_RM, 0x00 },
	{ P_F2, M_0F, 0xd0, K_RM, 0x00 }, { P_F2, M_0F, 0xe6, K_RM, 0x00 }, { P_F2, M_0F, 0x70, K_RM | K_I, 0x00 },
	{ P_F2, M_0F, 0xc2, K_RM | K_I, 0x00 }, { P_F2, M_0F, 0xd6, K_R, 0x00 }, { P_F2, M_0F, 0xf0, K_M, 0x00 },
	{ P_NP, M_38, 0x00, K_RM, 0x00 }, { P_NP, M_38, 0x01, K_RM, 0x00 }, { P_NP, M_38, 0x02, K_RM, 0x00 },
	{ P_NP, M_38, 0x03, K_RM, 0x00 }, { P_NP, M_38, 0x04, K_RM, 0x00 }, { P_NP, M_38, 0x05, K_RM, 0x00 },
	{ P_NP, M_38, 0x06, K_RM, 0x00 }, { P_NP, M_38, 0x07, K_RM, 0x00 }, { P_NP, M_38, 0x08, K_RM, 0x00 },
	{ P_NP, M_38, 0x09, K_RM, 0x00 }, { P_NP, M_38, 0x0a, K_RM, 0x00 }, { P_NP, M_38, 0x0b, K_RM, 0x00 },
	{ P_NP, M_38, 0x1c, K_RM, 0x00 }, { P_NP, M_38, 0x1d, K_RM, 0x00 }, { P_NP, M_38, 0x1e, K_RM, 0x00 },
	{ P_NP, M_3A, 0x0f, K_RM | K_I, 0x00 }, { P_66, M_38, 0x00, K_RM, 0x00 }, { P_66, M_38, 0x01, K_RM, 0x00 },
	{ P_66, M_38, 0x02, K_RM, 0x00 }, { P_66, M_38, 0x03, K_RM, 0x00 }, { P_66, M_38, 0x04, K_RM, 0x00 },
	{ P_66, M_38, 0x05, K_RM, 0x00 }, { P_66, M_38, 0x06, K_RM, 0x00 }, { P_66, M_38, 0x07, K_RM, 0x00 },
	{ P_66, M_38, 0x08, K_RM, 0x00 }, { P_66, M_38, 0x09, K_RM, 0x00 }, { P_66, M_38, 0x0a, K_RM, 0x00 },
	{ P_66, M_38, 0x0b, K_RM, 0x00 }, { P_66, M_38, 0x1c, K_RM, 0x00 }, { P_66, M_38, 0x1d, K_RM, 0x00 },
	{ P_66, M_38, 0x1e, K_RM, 0x00 }, { P_66, M_3A, 0x0f, K_RM | K_I, 0x00 },
};

#define NFPFORMS (sizeof(fpforms) / sizeof(fpforms[0]))

static unsigned put_modrm(struct dt_rng *r, uint8_t *b, unsigned kind, uint8_t digits)
{
	unsigned n = 0;
	unsigned mod = (kind & K_M) ? rn(r, 3) : (kind & K_R) ? 3 : (rn(r, 5) < 2 ? 3 : rn(r, 3));
	unsigned reg;
	do
		reg = rn(r, 8);
	while (digits && !(digits & (1u << reg)));
	unsigned rm = rn(r, 8);
	b[n++] = (uint8_t)(mod << 6 | reg << 3 | rm);
	unsigned disp = mod == 1 ? 1 : mod == 2 ? 4 : 0;
	if (mod != 3 && rm == 4) {
		uint8_t sib = (uint8_t)dt_rand(r);
		b[n++] = sib;
		if (mod == 0 && (sib & 7) == 5)
			disp = 4;
	}
	if (mod == 0 && rm == 5)
		disp = 4;
	put_le(b + n, dt_rand(r), disp);
	return n + disp;
}

static unsigned gen_fp_bytes(struct dt_rng *r, uint8_t *b)
{
	const struct fpform *f = &fpforms[rn(r, NFPFORMS)];
	unsigned n = 0;
	if (rn(r, 12) == 0)
		b[n++] = 0x67;
	if (rn(r, 30) == 0)
		b[n++] = (uint8_t[]){ 0x26, 0x2e, 0x36, 0x3e }[rn(r, 4)];
	if (f->pfx == P_NP && rn(r, 16) == 0)
		b[n++] = 0x66;
	if (rn(r, 200) == 0)
		b[n++] = 0xf0;
	if (f->pfx != P_NP)
		b[n++] = (uint8_t[]){ 0, 0x66, 0xf3, 0xf2 }[f->pfx];
	if (rn(r, 10) < 6)
		b[n++] = (uint8_t)(0x40 | rn(r, 16));
	if (f->map != M_X87)
		b[n++] = 0x0f;
	if (f->map == M_38)
		b[n++] = 0x38;
	if (f->map == M_3A)
		b[n++] = 0x3a;
	b[n++] = f->op;
	if (!(f->kind & K_NOMODRM))
		n += put_modrm(r, b + n, f->kind, f->digits);
	if (f->kind & K_I)
		b[n++] = (uint8_t)dt_rand(r);
	return n;
}

static uint32_t rand_f32(struct dt_rng *r)
{
	uint32_t s = (uint32_t)rn(r, 2) << 31, m = (uint32_t)dt_rand(r) & 0x7fffff;
	float f;
	switch (rn(r, 14)) {
	case 0: return s;
	case 1: return s | 0x7f800000;
	case 2: return s | 0x7fc00000 | (m & 0x3fffff);
	case 3: return s | 0x7f800000 | ((m & 0x3fffff) ? (m & 0x3fffff) : 1);
	case 4: return s | (m ? m : 1);
	case 5: return s | (1 + rn(r, 2)) << 23 | m;
	case 6: return s | (0xfd + rn(r, 2)) << 23 | m;
	case 7: f = (float)((int)rn(r, 200) - 100); memcpy(&s, &f, 4); return s;
	case 8: return s | (0x9d + rn(r, 2) + 32 * rn(r, 2)) << 23 | (rn(r, 2) ? m : m >> 20);
	case 9: return s | (0x7c + rn(r, 7)) << 23 | (m & 0x7f0000);
	case 10: return s | (0x7f + rn(r, 24)) << 23 | (m & ~0xffu); /* near-integers */
	default: return s | (0x60 + rn(r, 0x40)) << 23 | m;
	}
}

static uint64_t rand_f64(struct dt_rng *r)
{
	uint64_t s = (uint64_t)rn(r, 2) << 63, m = dt_rand(r) & 0xfffffffffffffull;
	uint64_t qm = m & 0x7ffffffffffffull;
	double d;
	switch (rn(r, 14)) {
	case 0: return s;
	case 1: return s | 0x7ff0000000000000ull;
	case 2: return s | 0x7ff8000000000000ull | qm;
	case 3: return s | 0x7ff0000000000000ull | (qm ? qm : 1);
	case 4: return s | (m ? m : 1);
	case 5: return s | (uint64_t)(1 + rn(r, 2)) << 52 | m;
	case 6: return s | (uint64_t)(0x7fd + rn(r, 2)) << 52 | m;
	case 7: d = (double)((int)rn(r, 200) - 100); memcpy(&s, &d, 8); return s;
	case 8: return s | (uint64_t)(0x41d + rn(r, 2) + 32 * rn(r, 2)) << 52 | (rn(r, 2) ? m : m >> 40);
	case 9: return s | (uint64_t)(0x3fc + rn(r, 7)) << 52 | (m & 0xff00000000000ull);
	case 10: return s | (uint64_t)(0x3ff + rn(r, 53)) << 52 | (m & ~0xffffffull);
	case 11: /* results that round to float's edges */
		return s | (uint64_t)(0x380 + rn(r, 2) * 0x7e + rn(r, 3)) << 52 | m;
	default: return s | (uint64_t)(0x300 + rn(r, 0x200)) << 52 | m;
	}
}

/* 16 bytes of SIMD data: floats, doubles, or integers. */
static void rand_vec(struct dt_rng *r, uint8_t *p)
{
	switch (rn(r, 8)) {
	case 0: case 1: case 2:
		for (unsigned k = 0; k < 4; k++)
			put_le(p + 4 * k, rand_f32(r), 4);
		break;
	case 3: case 4: case 5:
		for (unsigned k = 0; k < 2; k++)
			put_le(p + 8 * k, rand_f64(r), 8);
		break;
	case 6:
		for (unsigned k = 0; k < 2; k++)
			put_le(p + 8 * k, rand_val(r), 8);
		break;
	default:
		for (unsigned k = 0; k < 2; k++)
			put_le(p + 8 * k, dt_rand(r), 8);
		break;
	}
}

static uint32_t rand_mxcsr(struct dt_rng *r)
{
	uint32_t m = 0x1f80;
	if (rn(r, 3) == 0)
		m |= (uint32_t)rn(r, 4) << 13;
	if (rn(r, 10) == 0)
		m |= 0x8000;
	if (rn(r, 10) == 0)
		m |= 0x40;
	if (rn(r, 4) == 0)
		m |= (uint32_t)dt_rand(r) & 0x3f;
	if (rn(r, 8) == 0)
		m &= ~((uint32_t)dt_rand(r) & 0x1f80);
	return m;
}

/* An 80-bit x87 value: mostly normals, some specials and odd encodings. */
static void rand_f80(struct dt_rng *r, uint8_t *p)
{
	uint64_t m = dt_rand(r) | 1ull << 63;
	uint16_t se = (uint16_t)(rn(r, 2) << 15);
	switch (rn(r, 12)) {
	case 0: m = 0; break;
	case 1: se |= 0x7fff; m = 1ull << 63; break;
	case 2: se |= 0x7fff; m |= 1ull << 62; break;
	case 3: se |= 0x7fff; m &= ~(1ull << 62); m |= 1; break;
	case 4: m &= ~(1ull << 63); break;                       /* denormal */
	case 5: se |= (uint16_t)(1 + rn(r, 0x7ffe)); m &= ~(1ull << 63); break; /* unnormal */
	case 6: se |= (uint16_t)(0x3fff + rn(r, 64)); m &= ~0xffffffffull; break;
	default: se |= (uint16_t)(0x3ff0 + rn(r, 32)); break;
	}
	put_le(p, m, 8);
	put_le(p + 8, se, 2);
}

static void rand_fpu(struct dt_rng *r, uint8_t *fx)
{
	memset(fx, 0, 512);
	uint16_t fcw = 0x037f;
	if (rn(r, 4) == 0)
		fcw = (uint16_t)((fcw & ~0xf00u) | (dt_rand(r) & 0xf00));
	if (rn(r, 10) == 0)
		fcw &= (uint16_t)~(dt_rand(r) & 0x3f);
	uint16_t fsw = (uint16_t)(dt_rand(r) & 0x4700) | (uint16_t)(rn(r, 8) << 11);
	fsw |= (uint16_t)(dt_rand(r) & fcw & 0x3f & (rn(r, 4) ? 0 : 0x3f));
	put_le(fx, fcw, 2);
	put_le(fx + 2, fsw, 2);
	fx[4] = (uint8_t)(rn(r, 3) ? dt_rand(r) : rn(r, 2) ? 0xff : 0);
	put_le(fx + 24, rand_mxcsr(r), 4);
	put_le(fx + 28, 0xffff, 4);
	for (unsigned k = 0; k < 8; k++) {
		if (rn(r, 3))
			rand_f80(r, fx + 32 + 16 * k);
		else
			put_le(fx + 32 + 16 * k, rand_val(r), 8), put_le(fx + 40 + 16 * k, 0xffff, 2);
	}
	for (unsigned k = 0; k < 16; k++) {
		if (k && rn(r, 10) == 0)
			memcpy(fx + 160 + 16 * k, fx + 160 + 16 * rn(r, k), 16);
		else
			rand_vec(r, fx + 160 + 16 * k);
	}
}

/* State for FP/SIMD memory operands: data of the right kind at the target. */
static void fp_mem(struct dt_rng *r, struct dt_case *c, const ZydisDecodedInstruction *zi,
                   uint64_t target)
{
	uint8_t *p;
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_FXRSTOR: case ZYDIS_MNEMONIC_FXRSTOR64:
		if ((p = data_at(c, target, 512)) != NULL) {
			rand_fpu(r, p);
			if (rn(r, 20) == 0)
				put_le(p + 24, dt_rand(r), 4);
		}
		break;
	case ZYDIS_MNEMONIC_LDMXCSR:
		if ((p = data_at(c, target, 4)) != NULL)
			put_le(p, rn(r, 20) ? rand_mxcsr(r) : (uint32_t)dt_rand(r), 4);
		break;
	default:
		if ((p = data_at(c, target, 16)) != NULL) {
			if (zi->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && rn(r, 3) == 0)
				rand_f80(r, p);
			else
				rand_vec(r, p);
		}
		break;
	}
}

/* Variations of an FP case drawn from a side stream, so that the main sequence of cases
 * of a seed stays what it was: a pending unmasked x87 exception (ES set), which the
 * next waiting x87 instruction, FWAIT and MMX instructions turn into #MF; and FWAIT
 * itself in place of the instruction. */
static void fp_variations(const struct dt_rng *r, struct dt_case *c)
{
	struct dt_rng x = { r->s ^ 0x5deece66dull };
	uint64_t v = dt_rand(&x);
	bool fwait = (v & 31) == 0;
	if (fwait) {
		c->code[0] = 0x9b;
		c->len = 1;
	}
	if (!(fwait ? (v >> 5) & 1 : ((v >> 5) & 15) == 0))
		return;
	uint16_t fcw = (uint16_t)get_le(c->fin.fx, 2), fsw = (uint16_t)get_le(c->fin.fx + 2, 2);
	unsigned bit = (unsigned)((v >> 9) % 6);
	fcw &= (uint16_t)~(1u << bit);
	fsw |= (uint16_t)(1u << bit) | 0x8080; /* the flag, ES and B */
	put_le(c->fin.fx, fcw, 2);
	put_le(c->fin.fx + 2, fsw, 2);
}

static const ZydisDecoder *decoder(void)
{
	static ZydisDecoder d;
	static int init;
	if (!init) {
		ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
		init = 1;
	}
	return &d;
}

void dt_gen_case(struct dt_rng *r, struct dt_case *c)
{
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
	uint8_t b[32];
	unsigned n;
	bool ok, fp;

again:
	fp = rn(r, 2) == 0;
	do
		n = fp ? gen_fp_bytes(r, b) : gen_bytes(r, b);
	while (n > 15);
	memset(c, 0, sizeof(*c));
	memcpy(c->code, b, n);
	c->len = (uint8_t)n;
	/* Decode from a padded buffer like the CPU sees (Zydis 4.0 rejects some
	 * instructions given exactly their length). */
	uint8_t padded[ZYDIS_MAX_INSTRUCTION_LENGTH];
	memset(padded, 0xcc, sizeof(padded));
	memcpy(padded, b, n);
	ok = ZYAN_SUCCESS(ZydisDecoderDecodeFull(decoder(), padded, sizeof(padded), &zi, zo));
	if (ok && zi.length != n)
		goto again; /* our table and the decoder disagree on the length */
	if (ok)
		soft_zydis_fixup(&zi, zo);

	uint64_t *g = c->in.gpr;
	for (int k = 0; k < 16; k++)
		g[k] = rand_val(r);
	g[R_RSP] = DT_DATA + 0xc00 + (rn(r, 0x800) & ~7u) + (rn(r, 10) == 0 ? rn(r, 8) : 0);
	c->in.rip = DT_INSN;
	c->in.rflags = 0x202 | (dt_rand(r) & 0x8d5) | (rn(r, 5) == 0 ? 0x400 : 0);
	for (unsigned k = 0; k < DT_DATA_SIZE; k += 8)
		put_le(c->mem + k, dt_rand(r), 8);
	rand_fpu(r, c->fin.fx);
	if (fp)
		fp_variations(r, c);
	if (!ok)
		return; /* invalid encoding: both sides should raise #UD */

	/* Relative branches must not land inside the instruction itself. */
	if (zi.attributes & ZYDIS_ATTRIB_IS_RELATIVE) {
		for (unsigned k = 0; k < zi.operand_count_visible; k++)
			if (zo[k].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && zo[k].imm.is_relative) {
				uint64_t t = DT_INSN + n + (uint64_t)zo[k].imm.value.s;
				if (zi.address_width == 32)
					t = (uint32_t)t;
				if (t >= DT_INSN && t < DT_INSN + n)
					goto again;
			}
	}

	const ZydisDecodedOperand *mo = NULL;
	for (unsigned k = 0; k < zi.operand_count_visible; k++)
		if (zo[k].type == ZYDIS_OPERAND_TYPE_MEMORY)
			mo = &zo[k];
	uint64_t target = 0;
	unsigned msz = mo ? mo->size / 8 : 0;
	if (mo) {
		target = mem_target(r, msz);
		if (zi.mnemonic == ZYDIS_MNEMONIC_CMPXCHG16B && rn(r, 5))
			target &= ~15ull;
		if (fp && msz >= 512 && rn(r, 10))
			target = DT_DATA + (rn(r, DT_DATA_SIZE - 512) & ~15u);
		else if (fp && msz == 16 && rn(r, 5))
			target &= ~15ull;
		aim(r, c, &zi, mo, target);
		if (fp)
			fp_mem(r, c, &zi, target);
	}
	unsigned osz = zi.operand_width / 8;
	int r0 = zi.operand_count_visible > 0 && zo[0].type == ZYDIS_OPERAND_TYPE_REGISTER
	             ? gpr_index(zo[0].reg.value) : -1;
	int r1 = zi.operand_count_visible > 1 && zo[1].type == ZYDIS_OPERAND_TYPE_REGISTER
	             ? gpr_index(zo[1].reg.value) : -1;

	switch (zi.mnemonic) {
	case ZYDIS_MNEMONIC_MOVSB: case ZYDIS_MNEMONIC_MOVSW: case ZYDIS_MNEMONIC_MOVSD:
	case ZYDIS_MNEMONIC_MOVSQ: case ZYDIS_MNEMONIC_STOSB: case ZYDIS_MNEMONIC_STOSW:
	case ZYDIS_MNEMONIC_STOSD: case ZYDIS_MNEMONIC_STOSQ: case ZYDIS_MNEMONIC_LODSB:
	case ZYDIS_MNEMONIC_LODSW: case ZYDIS_MNEMONIC_LODSD: case ZYDIS_MNEMONIC_LODSQ:
	case ZYDIS_MNEMONIC_CMPSB: case ZYDIS_MNEMONIC_CMPSW: case ZYDIS_MNEMONIC_CMPSD:
	case ZYDIS_MNEMONIC_CMPSQ: case ZYDIS_MNEMONIC_SCASB: case ZYDIS_MNEMONIC_SCASW:
	case ZYDIS_MNEMONIC_SCASD: case ZYDIS_MNEMONIC_SCASQ: {
		uint64_t hi = zi.address_width == 32 ? dt_rand(r) << 32 : 0;
		bool down = c->in.rflags & 0x400;
		unsigned span = DT_DATA_SIZE;
		g[R_RSI] = hi | (uint32_t)(DT_DATA + (down ? span / 2 + rn(r, span / 2) : rn(r, span / 2)));
		g[R_RDI] = hi | (uint32_t)(DT_DATA + (down ? span / 2 + rn(r, span / 2) : rn(r, span / 2)));
		g[R_RCX] = (zi.address_width == 32 ? dt_rand(r) << 32 : 0) | rn(r, 24);
		if (rn(r, 2)) { /* make CMPS/SCAS runs compare equal for a while */
			uint8_t *s = data_at(c, (uint32_t)g[R_RSI], 1), *d = data_at(c, (uint32_t)g[R_RDI], 1);
			unsigned len = rn(r, 64);
			if (s && d && !down && (uint32_t)g[R_RSI] + len <= DT_DATA + DT_DATA_SIZE &&
			    (uint32_t)g[R_RDI] + len <= DT_DATA + DT_DATA_SIZE)
				memmove(d, s, len);
			if (d && rn(r, 2))
				memset(d, (uint8_t)g[R_RAX], 1);
		}
		break;
	}
	case ZYDIS_MNEMONIC_RCL: case ZYDIS_MNEMONIC_RCR: case ZYDIS_MNEMONIC_ROL:
	case ZYDIS_MNEMONIC_ROR: case ZYDIS_MNEMONIC_SHL: case ZYDIS_MNEMONIC_SHR:
	case ZYDIS_MNEMONIC_SAR:
		if (rn(r, 10) < 7)
			g[R_RCX] = (g[R_RCX] & ~0xffull) | rn(r, osz * 8 + 3);
		break;
	case ZYDIS_MNEMONIC_SHLD: case ZYDIS_MNEMONIC_SHRD: {
		/* 16-bit counts above 16 give undefined results: avoid them. */
		if (rn(r, 10) < 7 || osz == 2)
			g[R_RCX] = (g[R_RCX] & ~0xffull) | rn(r, osz == 2 ? 17 : osz * 8 + 1);
		if (osz == 2 && zi.raw.imm[0].size && (c->code[zi.raw.imm[0].offset] & 31) > 16)
			c->code[zi.raw.imm[0].offset] = (uint8_t)rn(r, 17);
		break;
	}
	case ZYDIS_MNEMONIC_BT: case ZYDIS_MNEMONIC_BTS: case ZYDIS_MNEMONIC_BTR:
	case ZYDIS_MNEMONIC_BTC:
		if (mo && r1 >= 0 && gpr_index(mo->mem.base) != r1 && gpr_index(mo->mem.index) != r1)
			g[r1] = (uint64_t)(int64_t)((int)rn(r, 4096) - 2048);
		break;
	case ZYDIS_MNEMONIC_DIV: case ZYDIS_MNEMONIC_IDIV:
		if (rn(r, 10) < 7) {
			bool s = zi.mnemonic == ZYDIS_MNEMONIC_IDIV;
			if (osz == 1) {
				uint64_t al = g[R_RAX] & 0xff;
				uint64_t ah = s && (al & 0x80) ? 0xff : 0;
				g[R_RAX] = (g[R_RAX] & ~0xffffull) | al | ah << 8;
			} else {
				uint64_t m = osz == 8 ? ~0ull : (1ull << (osz * 8)) - 1;
				uint64_t sign = (g[R_RAX] >> (osz * 8 - 1)) & 1;
				uint64_t hi = s && sign ? m : 0;
				g[R_RDX] = (g[R_RDX] & ~m) | hi;
			}
		}
		break;
	case ZYDIS_MNEMONIC_CMPXCHG:
		if (rn(r, 2)) {
			uint8_t *p;
			if (r0 >= 0)
				g[R_RAX] = g[r0];
			else if (mo && (p = data_at(c, target, msz)) != NULL)
				g[R_RAX] = get_le(p, msz);
		}
		break;
	case ZYDIS_MNEMONIC_CMPXCHG8B: case ZYDIS_MNEMONIC_CMPXCHG16B:
		if (rn(r, 2)) {
			uint8_t *p = data_at(c, target, msz);
			if (p && msz == 8) {
				g[R_RAX] = get_le(p, 4);
				g[R_RDX] = get_le(p + 4, 4);
			} else if (p) {
				g[R_RAX] = get_le(p, 8);
				g[R_RDX] = get_le(p + 8, 8);
			}
		}
		break;
	case ZYDIS_MNEMONIC_RET: {
		uint8_t *p = data_at(c, g[R_RSP], 8);
		if (p && rn(r, 10) < 6)
			put_le(p, code_target(r, n), 8);
		break;
	}
	case ZYDIS_MNEMONIC_JMP: case ZYDIS_MNEMONIC_CALL:
		if (!(zi.attributes & ZYDIS_ATTRIB_IS_RELATIVE) && rn(r, 10) < 6) {
			uint8_t *p;
			if (r0 >= 0)
				g[r0] = code_target(r, n);
			else if (mo && (p = data_at(c, target, 8)) != NULL)
				put_le(p, code_target(r, n), 8);
		}
		break;
	case ZYDIS_MNEMONIC_POPF: case ZYDIS_MNEMONIC_POPFQ: {
		uint8_t *p = data_at(c, g[R_RSP], 8);
		if (p) { /* no single-stepping, no alignment checking */
			uint64_t v = get_le(p, 8) & ~(0x100ull | 0x40000ull);
			put_le(p, v, 8);
		}
		break;
	}
	case ZYDIS_MNEMONIC_LEAVE: case ZYDIS_MNEMONIC_ENTER:
		if (rn(r, 10) < 8)
			g[R_RBP] = DT_DATA + 0x400 + rn(r, DT_DATA_SIZE - 0x800);
		break;
	case ZYDIS_MNEMONIC_XLAT:
		g[R_RBX] = DT_DATA + rn(r, DT_DATA_SIZE - 256);
		break;
	default:
		break;
	}
}
