/* Integer arithmetic: group-1 ALU ops, INC/DEC/NOT/NEG, shifts and rotates, SHLD/SHRD,
 * MUL/IMUL/DIV/IDIV (Intel SDM vol. 2 instruction pages for the flag rules). */
#include "engine/soft/mmu/mem.h"
#include "engine/soft/interp/ops.h"

static uint64_t szpf(uint64_t r, unsigned sz)
{
	uint64_t f = 0;
	if (r == 0)
		f |= FL_ZF;
	if (r & sz_sign(sz))
		f |= FL_SF;
	if (!__builtin_parity((unsigned)(r & 0xff)))
		f |= FL_PF;
	return f;
}

int h_alu(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz, op = i->op;
	uint64_t m = sz_mask(sz), a, b, r, cin;
	bool wb = op != ALU_CMP && op != ALU_TEST;
	unsigned lf;

	if ((wb ? op_read_rmw(c, i, 0, &a) : op_read(c, i, 0, &a)) || op_read(c, i, 1, &b))
		return SOFT_EXC;
	b &= m;
	switch (op) {
	case ALU_ADD: r = (a + b) & m; lf = LF_ADD; break;
	case ALU_ADC:
		cin = get_cf(c);
		r = (a + b + cin) & m;
		lf = cin ? LF_ADC : LF_ADD;
		break;
	case ALU_SBB:
		cin = get_cf(c);
		r = (a - b - cin) & m;
		lf = cin ? LF_SBB : LF_SUB;
		break;
	case ALU_SUB:
	case ALU_CMP: r = (a - b) & m; lf = LF_SUB; break;
	case ALU_OR: r = a | b; lf = LF_LOGIC; break;
	case ALU_XOR: r = a ^ b; lf = LF_LOGIC; break;
	default: r = a & b; lf = LF_LOGIC; break; /* AND, TEST */
	}
	if (wb && op_write(c, i, 0, r))
		return SOFT_EXC;
	flags_lazy(c, lf, sz, a, b, r);
	return SOFT_OK;
}

/* Register-destination forms of the common ALU ops (no memory operand), one handler
 * per operation so the dispatch needs no second switch. */
#define ALU_REG(name, expr, lf, wb)                                                  \
	int name(struct soft_cpu *c, const struct sinsn *i)                          \
	{                                                                            \
		unsigned sz = i->opsz;                                               \
		uint64_t m = sz_mask(sz);                                            \
		uint64_t a = reg_get(c, i->o[0].reg, sz);                            \
		uint64_t b = (i->o[1].kind == OPK_IMM ? i->imm : reg_get(c, i->o[1].reg, sz)) & m; \
		uint64_t r = (expr) & m;                                             \
		if (wb)                                                              \
			reg_set(c, i->o[0].reg, sz, r);                              \
		flags_lazy(c, lf, sz, a, b, r);                                      \
		return SOFT_OK;                                                      \
	}

ALU_REG(h_add_r, a + b, LF_ADD, 1)
ALU_REG(h_sub_r, a - b, LF_SUB, 1)
ALU_REG(h_cmp_r, a - b, LF_SUB, 0)
ALU_REG(h_and_r, a & b, LF_LOGIC, 1)
ALU_REG(h_or_r, a | b, LF_LOGIC, 1)
ALU_REG(h_xor_r, a ^ b, LF_LOGIC, 1)
ALU_REG(h_test_r, a & b, LF_LOGIC, 0)

int h_unary(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	uint64_t m = sz_mask(sz), a, r;

	if (op_read_rmw(c, i, 0, &a))
		return SOFT_EXC;
	switch (i->op) {
	case UN_INC: r = (a + 1) & m; break;
	case UN_DEC: r = (a - 1) & m; break;
	case UN_NOT: r = ~a & m; break;
	default: r = (0 - a) & m; break;
	}
	if (op_write(c, i, 0, r))
		return SOFT_EXC;
	switch (i->op) {
	case UN_INC:
	case UN_DEC:
		/* CF is kept, so it must be in rflags; the other five come from the operands
		 * (soft_flags_compute), so the previous operation's need not be computed. */
		c->rflags = (c->rflags & ~FL_CF) | (get_cf(c) ? FL_CF : 0);
		flags_lazy(c, i->op == UN_INC ? LF_INC : LF_DEC, sz, a, 1, r);
		break;
	case UN_NEG:
		flags_lazy(c, LF_SUB, sz, 0, a, r);
		break;
	default:
		break;
	}
	return SOFT_OK;
}

int h_shift(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz, bits = sz * 8;
	uint64_t m = sz_mask(sz), msb = sz_sign(sz), a, cnt, r, cf, of;

	if (op_read(c, i, 1, &cnt) || op_read_rmw(c, i, 0, &a))
		return SOFT_EXC;
	cnt &= sz == 8 ? 63 : 31;
	if (cnt == 0) { /* flags unchanged; a 32-bit register is still written (zero-extended) */
		if (i->o[0].kind == OPK_REG && sz == 4)
			reg_set(c, i->o[0].reg, 4, a);
		return SOFT_OK;
	}
	if (i->op >= SH_SHL) { /* SHL, SHR, SAL, SAR: flags from a, cnt and r when read */
		unsigned lf = i->op == SH_SHR ? LF_SHR : i->op == SH_SAR ? LF_SAR : LF_SHL;
		r = lf == LF_SHL ? (a << cnt) & m :
		    lf == LF_SHR ? a >> cnt : (uint64_t)(sx(a, sz) >> cnt) & m;
		if (op_write(c, i, 0, r))
			return SOFT_EXC;
		flags_lazy(c, lf, sz, a, cnt, r);
		return SOFT_OK;
	}
	switch (i->op) {
	case SH_ROL: {
		unsigned rc = (unsigned)(cnt % bits);
		r = rc ? ((a << rc) | (a >> (bits - rc))) & m : a;
		cf = r & 1;
		of = ((r & msb) ? 1 : 0) ^ cf;
		break;
	}
	case SH_ROR: {
		unsigned rc = (unsigned)(cnt % bits);
		r = rc ? ((a >> rc) | (a << (bits - rc))) & m : a;
		cf = (r & msb) ? 1 : 0;
		of = cf ^ ((r >> (bits - 2)) & 1);
		break;
	}
	case SH_RCL: {
		unsigned rc = (unsigned)(sz == 1 ? cnt % 9 : sz == 2 ? cnt % 17 : cnt);
		cf = get_cf(c);
		r = a;
		for (unsigned k = 0; k < rc; k++) {
			uint64_t top = (r & msb) ? 1 : 0;
			r = ((r << 1) | cf) & m;
			cf = top;
		}
		of = ((r & msb) ? 1 : 0) ^ cf;
		break;
	}
	default: { /* RCR */
		unsigned rc = (unsigned)(sz == 1 ? cnt % 9 : sz == 2 ? cnt % 17 : cnt);
		cf = get_cf(c);
		of = ((a & msb) ? 1 : 0) ^ cf;
		r = a;
		for (unsigned k = 0; k < rc; k++) {
			uint64_t low = r & 1;
			r = (r >> 1) | (cf << (bits - 1));
			cf = low;
		}
		break;
	}
	}
	if (op_write(c, i, 0, r))
		return SOFT_EXC;
	flags_update(c, FL_CF | FL_OF, (cf ? FL_CF : 0) | (of ? FL_OF : 0));
	return SOFT_OK;
}

int h_shd(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz, bits = sz * 8;
	uint64_t m = sz_mask(sz), msb = sz_sign(sz), a, b, cnt, r, cf;

	if (op_read(c, i, 2, &cnt) || op_read(c, i, 1, &b) || op_read_rmw(c, i, 0, &a))
		return SOFT_EXC;
	cnt &= sz == 8 ? 63 : 31;
	if (cnt == 0) {
		if (i->o[0].kind == OPK_REG && sz == 4)
			reg_set(c, i->o[0].reg, 4, a);
		return SOFT_OK;
	}
	if (cnt > bits) {
		/* Only reachable with 16-bit operands: result and flags are undefined. Shift
		 * the 48-bit value a:b:a (for SHLD) or b:a (SHRD), as Intel parts do. */
		unsigned __int128 v = i->op == 0 ? ((unsigned __int128)a << 32) | (b << 16) | a
		                                 : ((unsigned __int128)a << 32) | (b << 16) | a;
		if (i->op == 0) {
			r = (uint64_t)(v >> (48 - cnt)) & m;
			cf = (uint64_t)(v >> (48 - cnt + 16)) & 1;
		} else {
			r = (uint64_t)(v >> cnt) & m;
			cf = (uint64_t)(v >> (cnt - 1)) & 1;
		}
	} else if (i->op == 0) { /* SHLD */
		r = ((a << cnt) | (b >> (bits - cnt))) & m;
		cf = (a >> (bits - cnt)) & 1;
	} else {
		r = ((a >> cnt) | (bits - cnt < 64 ? b << (bits - cnt) : 0)) & m;
		cf = (a >> (cnt - 1)) & 1;
	}
	if (op_write(c, i, 0, r))
		return SOFT_EXC;
	uint64_t of = ((r ^ a) & msb) ? FL_OF : 0;
	flags_update(c, FL_ARITH, (cf ? FL_CF : 0) | of | szpf(r, sz));
	return SOFT_OK;
}

/* rAX/rDX pairs by operand size. 8-bit uses AL/AH inside AX. */
static void put_pair(struct soft_cpu *c, unsigned sz, uint64_t lo, uint64_t hi)
{
	if (sz == 1) {
		reg_set(c, R_RAX, 2, (lo & 0xff) | ((hi & 0xff) << 8));
	} else {
		reg_set(c, R_RAX, sz, lo);
		reg_set(c, R_RDX, sz, hi);
	}
}

static unsigned __int128 get_pair(const struct soft_cpu *c, unsigned sz)
{
	if (sz == 1)
		return reg_get(c, R_RAX, 2);
	return ((unsigned __int128)reg_get(c, R_RDX, sz) << (sz * 8)) | reg_get(c, R_RAX, sz);
}

int h_muldiv(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz, bits = sz * 8;
	uint64_t m = sz_mask(sz), src;

	if (op_read(c, i, 0, &src))
		return SOFT_EXC;
	uint64_t acc = reg_get(c, R_RAX, sz);
	switch (i->op) {
	case MD_MUL: {
		unsigned __int128 p = (unsigned __int128)acc * src;
		uint64_t lo = (uint64_t)p & m, hi = (uint64_t)(p >> bits) & m;
		put_pair(c, sz, lo, hi);
		flags_update(c, FL_ARITH, hi ? FL_CF | FL_OF : 0); /* SF ZF AF PF: undefined, 0 */
		return SOFT_OK;
	}
	case MD_IMUL: {
		__int128 p = (__int128)sx(acc, sz) * sx(src, sz);
		uint64_t lo = (uint64_t)p & m, hi = (uint64_t)(p >> bits) & m;
		put_pair(c, sz, lo, hi);
		flags_update(c, FL_ARITH, p != sx(lo, sz) ? FL_CF | FL_OF : 0);
		return SOFT_OK;
	}
	case MD_DIV: {
		if (src == 0)
			return raise_exc(c, VEC_DE, false, 0);
		unsigned __int128 n = get_pair(c, sz);
		unsigned __int128 q = n / src, rem = n % src;
		if (q > m)
			return raise_exc(c, VEC_DE, false, 0);
		put_pair(c, sz, (uint64_t)q, (uint64_t)rem);
		return SOFT_OK;
	}
	default: { /* IDIV */
		if (src == 0)
			return raise_exc(c, VEC_DE, false, 0);
		unsigned __int128 un = get_pair(c, sz);
		/* Sign-extend the 2*bits-wide dividend to 128 bits. */
		__int128 n = (__int128)(un << (128 - 2 * bits)) >> (128 - 2 * bits);
		int64_t d = sx(src, sz);
		__int128 q, rem;
		if (d == -1) {
			unsigned __int128 neg = -(unsigned __int128)n;
			q = (__int128)neg; /* overflows only for n = -2^127, impossible here unless bits = 64 */
			if (bits == 64 && un == (unsigned __int128)1 << 127)
				return raise_exc(c, VEC_DE, false, 0);
			rem = 0;
		} else {
			q = n / d;
			rem = n % d;
		}
		__int128 lim = (__int128)1 << (bits - 1);
		if (q >= lim || q < -lim)
			return raise_exc(c, VEC_DE, false, 0);
		put_pair(c, sz, (uint64_t)q, (uint64_t)rem);
		return SOFT_OK;
	}
	}
}

int h_imul(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	uint64_t a, b;

	if (i->nops == 3) {
		if (op_read(c, i, 1, &a) || op_read(c, i, 2, &b))
			return SOFT_EXC;
	} else if (op_read(c, i, 0, &a) || op_read(c, i, 1, &b)) {
		return SOFT_EXC;
	}
	__int128 p = (__int128)sx(a, sz) * sx(b, sz);
	uint64_t r = (uint64_t)p & sz_mask(sz);
	reg_set(c, i->o[0].reg, sz, r);
	flags_update(c, FL_ARITH, p != sx(r, sz) ? FL_CF | FL_OF : 0); /* SF ZF AF PF: undefined */
	return SOFT_OK;
}
