/* Lazy arithmetic flags: the last flag-setting operation's operands and result are kept
 * (cpu.h) and the six status flags are computed only when something reads them
 * (Intel SDM vol. 1, 3.4.3.1 and the instruction pages in vol. 2). */
#include "engine/soft/cpu.h"

static uint64_t parity(uint64_t res)
{
	return __builtin_parity((unsigned)(res & 0xff)) ? 0 : FL_PF;
}

uint64_t soft_flags_compute(const struct soft_cpu *c)
{
	uint64_t a = c->lf_a, b = c->lf_b, r = c->lf_res;
	uint64_t sign = sz_sign(c->lf_sz);
	uint64_t f = c->rflags & ~FL_ARITH;
	uint64_t cf = 0, of = 0, af = 0;

	switch (c->lf_op) {
	case LF_ADD:
		cf = r < a;
		of = ((a ^ r) & (b ^ r) & sign) != 0;
		af = (a ^ b ^ r) & FL_AF;
		break;
	case LF_ADC:
		cf = adc_cf(a, b, r, c->lf_sz);
		of = ((a ^ r) & (b ^ r) & sign) != 0;
		af = (a ^ b ^ r) & FL_AF;
		break;
	case LF_SUB:
		cf = a < b;
		of = ((a ^ b) & (a ^ r) & sign) != 0;
		af = (a ^ b ^ r) & FL_AF;
		break;
	case LF_SBB:
		cf = sbb_cf(a, b, r, c->lf_sz);
		of = ((a ^ b) & (a ^ r) & sign) != 0;
		af = (a ^ b ^ r) & FL_AF;
		break;
	case LF_LOGIC:
		break;
	case LF_INC:
		cf = c->rflags & FL_CF;
		of = ((a ^ r) & (b ^ r) & sign) != 0;
		af = (a ^ b ^ r) & FL_AF;
		break;
	case LF_DEC:
		cf = c->rflags & FL_CF;
		of = ((a ^ b) & (a ^ r) & sign) != 0;
		af = (a ^ b ^ r) & FL_AF;
		break;
	case LF_SHL: /* OF: defined for a count of 1, computed the same for any count */
		cf = soft_shift_cf(c);
		of = ((r & sign) != 0) != (cf != 0);
		break;
	case LF_SHR:
		cf = soft_shift_cf(c);
		of = (a & sign) != 0;
		break;
	case LF_SAR: /* AF of all three: undefined, left 0 */
		cf = soft_shift_cf(c);
		break;
	default:
		return c->rflags;
	}
	f |= cf ? FL_CF : 0;
	f |= of ? FL_OF : 0;
	f |= af;
	f |= r == 0 ? FL_ZF : 0;
	f |= (r & sign) ? FL_SF : 0;
	f |= parity(r);
	return f;
}

bool soft_cond_slow(const struct soft_cpu *c, unsigned cc)
{
	uint64_t f = flags_get(c);
	bool r;
	switch (cc >> 1) {
	case 0: r = f & FL_OF; break;
	case 1: r = f & FL_CF; break;
	case 2: r = f & FL_ZF; break;
	case 3: r = f & (FL_CF | FL_ZF); break;
	case 4: r = f & FL_SF; break;
	case 5: r = f & FL_PF; break;
	case 6: r = !(f & FL_SF) != !(f & FL_OF); break;
	default: r = (f & FL_ZF) || !(f & FL_SF) != !(f & FL_OF); break;
	}
	return r ^ (cc & 1);
}
