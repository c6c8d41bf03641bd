/* Packed integer and shuffle operations of MMX, SSE, SSE2, SSE3 and SSSE3 on 64-bit (MMX)
 * or 128-bit (XMM) operands, plus the bitwise and shuffle forms of the FP domain
 * (ANDPS, SHUFPS, UNPCKLPS, MOVDDUP...), which are the same bit operations. Plain C on
 * lanes; the operand width n follows the destination (MM: 8 bytes, XMM: 16). */
#include "engine/soft/fpu/ops_fp.h"

static inline int8_t ss8(int v) { return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v); }
static inline uint8_t us8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }
static inline int16_t ss16(int v) { return (int16_t)(v < -32768 ? -32768 : v > 32767 ? 32767 : v); }
static inline uint16_t us16(int v) { return (uint16_t)(v < 0 ? 0 : v > 65535 ? 65535 : v); }

static void pshift(union xmmreg *r, const union xmmreg *a, uint64_t cnt, unsigned op, unsigned n)
{
	switch (op) {
	case PI_PSLLW:
		for (unsigned k = 0; k < n / 2; k++)
			r->w[k] = cnt > 15 ? 0 : (uint16_t)(a->w[k] << cnt);
		break;
	case PI_PSLLD:
		for (unsigned k = 0; k < n / 4; k++)
			r->d[k] = cnt > 31 ? 0 : a->d[k] << cnt;
		break;
	case PI_PSLLQ:
		for (unsigned k = 0; k < n / 8; k++)
			r->q[k] = cnt > 63 ? 0 : a->q[k] << cnt;
		break;
	case PI_PSRLW:
		for (unsigned k = 0; k < n / 2; k++)
			r->w[k] = cnt > 15 ? 0 : (uint16_t)(a->w[k] >> cnt);
		break;
	case PI_PSRLD:
		for (unsigned k = 0; k < n / 4; k++)
			r->d[k] = cnt > 31 ? 0 : a->d[k] >> cnt;
		break;
	case PI_PSRLQ:
		for (unsigned k = 0; k < n / 8; k++)
			r->q[k] = cnt > 63 ? 0 : a->q[k] >> cnt;
		break;
	case PI_PSRAW:
		for (unsigned k = 0; k < n / 2; k++)
			r->sw[k] = (int16_t)(a->sw[k] >> (cnt > 15 ? 15 : cnt));
		break;
	case PI_PSRAD:
		for (unsigned k = 0; k < n / 4; k++)
			r->sd[k] = a->sd[k] >> (cnt > 31 ? 31 : cnt);
		break;
	case PI_PSLLDQ:
		for (unsigned k = 0; k < 16; k++)
			r->b[k] = cnt > 15 || k < cnt ? 0 : a->b[k - cnt];
		break;
	default: /* PI_PSRLDQ */
		for (unsigned k = 0; k < 16; k++)
			r->b[k] = cnt > 15 || k + cnt > 15 ? 0 : a->b[k + cnt];
		break;
	}
}

static void pint(union xmmreg *r, const union xmmreg *a, const union xmmreg *b, unsigned op,
                 unsigned n, unsigned imm)
{
	unsigned k;
	switch (op) {
	case PI_PADDB: for (k = 0; k < n; k++) r->b[k] = (uint8_t)(a->b[k] + b->b[k]); break;
	case PI_PADDW: for (k = 0; k < n / 2; k++) r->w[k] = (uint16_t)(a->w[k] + b->w[k]); break;
	case PI_PADDD: for (k = 0; k < n / 4; k++) r->d[k] = a->d[k] + b->d[k]; break;
	case PI_PADDQ: for (k = 0; k < n / 8; k++) r->q[k] = a->q[k] + b->q[k]; break;
	case PI_PADDSB: for (k = 0; k < n; k++) r->sb[k] = ss8(a->sb[k] + b->sb[k]); break;
	case PI_PADDSW: for (k = 0; k < n / 2; k++) r->sw[k] = ss16(a->sw[k] + b->sw[k]); break;
	case PI_PADDUSB: for (k = 0; k < n; k++) r->b[k] = us8(a->b[k] + b->b[k]); break;
	case PI_PADDUSW: for (k = 0; k < n / 2; k++) r->w[k] = us16(a->w[k] + b->w[k]); break;
	case PI_PSUBB: for (k = 0; k < n; k++) r->b[k] = (uint8_t)(a->b[k] - b->b[k]); break;
	case PI_PSUBW: for (k = 0; k < n / 2; k++) r->w[k] = (uint16_t)(a->w[k] - b->w[k]); break;
	case PI_PSUBD: for (k = 0; k < n / 4; k++) r->d[k] = a->d[k] - b->d[k]; break;
	case PI_PSUBQ: for (k = 0; k < n / 8; k++) r->q[k] = a->q[k] - b->q[k]; break;
	case PI_PSUBSB: for (k = 0; k < n; k++) r->sb[k] = ss8(a->sb[k] - b->sb[k]); break;
	case PI_PSUBSW: for (k = 0; k < n / 2; k++) r->sw[k] = ss16(a->sw[k] - b->sw[k]); break;
	case PI_PSUBUSB: for (k = 0; k < n; k++) r->b[k] = us8(a->b[k] - b->b[k]); break;
	case PI_PSUBUSW: for (k = 0; k < n / 2; k++) r->w[k] = us16(a->w[k] - b->w[k]); break;
	case PI_PAND: for (k = 0; k < n / 8; k++) r->q[k] = a->q[k] & b->q[k]; break;
	case PI_PANDN: for (k = 0; k < n / 8; k++) r->q[k] = ~a->q[k] & b->q[k]; break;
	case PI_POR: for (k = 0; k < n / 8; k++) r->q[k] = a->q[k] | b->q[k]; break;
	case PI_PXOR: for (k = 0; k < n / 8; k++) r->q[k] = a->q[k] ^ b->q[k]; break;
	case PI_PCMPEQB: for (k = 0; k < n; k++) r->b[k] = a->b[k] == b->b[k] ? 0xff : 0; break;
	case PI_PCMPEQW: for (k = 0; k < n / 2; k++) r->w[k] = a->w[k] == b->w[k] ? 0xffff : 0; break;
	case PI_PCMPEQD: for (k = 0; k < n / 4; k++) r->d[k] = a->d[k] == b->d[k] ? ~0u : 0; break;
	case PI_PCMPGTB: for (k = 0; k < n; k++) r->b[k] = a->sb[k] > b->sb[k] ? 0xff : 0; break;
	case PI_PCMPGTW: for (k = 0; k < n / 2; k++) r->w[k] = a->sw[k] > b->sw[k] ? 0xffff : 0; break;
	case PI_PCMPGTD: for (k = 0; k < n / 4; k++) r->d[k] = a->sd[k] > b->sd[k] ? ~0u : 0; break;
	case PI_PMULLW:
		for (k = 0; k < n / 2; k++)
			r->w[k] = (uint16_t)((uint32_t)a->w[k] * b->w[k]);
		break;
	case PI_PMULHW:
		for (k = 0; k < n / 2; k++)
			r->w[k] = (uint16_t)((uint32_t)(a->sw[k] * b->sw[k]) >> 16);
		break;
	case PI_PMULHUW:
		for (k = 0; k < n / 2; k++)
			r->w[k] = (uint16_t)(((uint32_t)a->w[k] * b->w[k]) >> 16);
		break;
	case PI_PMULUDQ:
		for (k = 0; k < n / 8; k++)
			r->q[k] = (uint64_t)a->d[2 * k] * b->d[2 * k];
		break;
	case PI_PMADDWD:
		for (k = 0; k < n / 4; k++)
			r->d[k] = (uint32_t)((int64_t)a->sw[2 * k] * b->sw[2 * k] +
			                     (int64_t)a->sw[2 * k + 1] * b->sw[2 * k + 1]);
		break;
	case PI_PSADBW:
		for (k = 0; k < n / 8; k++) {
			unsigned s = 0;
			for (unsigned j = 0; j < 8; j++) {
				int d = a->b[8 * k + j] - b->b[8 * k + j];
				s += (unsigned)(d < 0 ? -d : d);
			}
			r->q[k] = s;
		}
		break;
	case PI_PAVGB: for (k = 0; k < n; k++) r->b[k] = (uint8_t)((a->b[k] + b->b[k] + 1) >> 1); break;
	case PI_PAVGW: for (k = 0; k < n / 2; k++) r->w[k] = (uint16_t)((a->w[k] + b->w[k] + 1) >> 1); break;
	case PI_PMINUB: for (k = 0; k < n; k++) r->b[k] = a->b[k] < b->b[k] ? a->b[k] : b->b[k]; break;
	case PI_PMAXUB: for (k = 0; k < n; k++) r->b[k] = a->b[k] > b->b[k] ? a->b[k] : b->b[k]; break;
	case PI_PMINSW: for (k = 0; k < n / 2; k++) r->sw[k] = a->sw[k] < b->sw[k] ? a->sw[k] : b->sw[k]; break;
	case PI_PMAXSW: for (k = 0; k < n / 2; k++) r->sw[k] = a->sw[k] > b->sw[k] ? a->sw[k] : b->sw[k]; break;
	case PI_PUNPCKLBW:
		for (k = 0; k < n / 2; k++) {
			r->b[2 * k] = a->b[k];
			r->b[2 * k + 1] = b->b[k];
		}
		break;
	case PI_PUNPCKLWD:
		for (k = 0; k < n / 4; k++) {
			r->w[2 * k] = a->w[k];
			r->w[2 * k + 1] = b->w[k];
		}
		break;
	case PI_PUNPCKLDQ:
		for (k = 0; k < n / 8; k++) {
			r->d[2 * k] = a->d[k];
			r->d[2 * k + 1] = b->d[k];
		}
		break;
	case PI_PUNPCKLQDQ:
		r->q[0] = a->q[0];
		r->q[1] = b->q[0];
		break;
	case PI_PUNPCKHBW:
		for (k = 0; k < n / 2; k++) {
			r->b[2 * k] = a->b[n / 2 + k];
			r->b[2 * k + 1] = b->b[n / 2 + k];
		}
		break;
	case PI_PUNPCKHWD:
		for (k = 0; k < n / 4; k++) {
			r->w[2 * k] = a->w[n / 4 + k];
			r->w[2 * k + 1] = b->w[n / 4 + k];
		}
		break;
	case PI_PUNPCKHDQ:
		for (k = 0; k < n / 8; k++) {
			r->d[2 * k] = a->d[n / 8 + k];
			r->d[2 * k + 1] = b->d[n / 8 + k];
		}
		break;
	case PI_PUNPCKHQDQ:
		r->q[0] = a->q[1];
		r->q[1] = b->q[1];
		break;
	case PI_PACKSSWB:
		for (k = 0; k < n / 2; k++) {
			r->sb[k] = ss8(a->sw[k]);
			r->sb[n / 2 + k] = ss8(b->sw[k]);
		}
		break;
	case PI_PACKUSWB:
		for (k = 0; k < n / 2; k++) {
			r->b[k] = us8(a->sw[k]);
			r->b[n / 2 + k] = us8(b->sw[k]);
		}
		break;
	case PI_PACKSSDW:
		for (k = 0; k < n / 4; k++) {
			r->sw[k] = ss16(a->sd[k]);
			r->sw[n / 4 + k] = ss16(b->sd[k]);
		}
		break;
	case PI_PSHUFD:
		for (k = 0; k < 4; k++)
			r->d[k] = b->d[(imm >> (2 * k)) & 3];
		break;
	case PI_PSHUFHW:
		r->q[0] = b->q[0];
		for (k = 0; k < 4; k++)
			r->w[4 + k] = b->w[4 + ((imm >> (2 * k)) & 3)];
		break;
	case PI_PSHUFLW:
	case PI_PSHUFW:
		r->q[1] = b->q[1];
		for (k = 0; k < 4; k++)
			r->w[k] = b->w[(imm >> (2 * k)) & 3];
		break;
	case PI_SHUFPS:
		r->d[0] = a->d[imm & 3];
		r->d[1] = a->d[(imm >> 2) & 3];
		r->d[2] = b->d[(imm >> 4) & 3];
		r->d[3] = b->d[(imm >> 6) & 3];
		break;
	case PI_SHUFPD:
		r->q[0] = a->q[imm & 1];
		r->q[1] = b->q[(imm >> 1) & 1];
		break;
	case PI_MOVDDUP:
		r->q[0] = r->q[1] = b->q[0];
		break;
	case PI_MOVSHDUP:
		r->d[0] = r->d[1] = b->d[1];
		r->d[2] = r->d[3] = b->d[3];
		break;
	case PI_MOVSLDUP:
		r->d[0] = r->d[1] = b->d[0];
		r->d[2] = r->d[3] = b->d[2];
		break;
	case PI_PSHUFB:
		for (k = 0; k < n; k++)
			r->b[k] = (b->b[k] & 0x80) ? 0 : a->b[b->b[k] & (n - 1)];
		break;
	case PI_PALIGNR: {
		uint8_t t[32];
		memcpy(t, b->b, n);
		memcpy(t + n, a->b, n);
		for (k = 0; k < n; k++)
			r->b[k] = k + imm < 2 * n ? t[k + imm] : 0;
		break;
	}
	case PI_PHADDW:
	case PI_PHSUBW:
	case PI_PHADDSW:
	case PI_PHSUBSW:
		for (k = 0; k < n / 4; k++) {
			int x0 = a->sw[2 * k], x1 = a->sw[2 * k + 1], y0 = b->sw[2 * k], y1 = b->sw[2 * k + 1];
			int ra = op == PI_PHADDW || op == PI_PHADDSW ? x0 + x1 : x0 - x1;
			int rb = op == PI_PHADDW || op == PI_PHADDSW ? y0 + y1 : y0 - y1;
			bool sat = op == PI_PHADDSW || op == PI_PHSUBSW;
			r->sw[k] = sat ? ss16(ra) : (int16_t)ra;
			r->sw[n / 4 + k] = sat ? ss16(rb) : (int16_t)rb;
		}
		break;
	case PI_PHADDD:
		for (k = 0; k < n / 8; k++) {
			r->d[k] = a->d[2 * k] + a->d[2 * k + 1];
			r->d[n / 8 + k] = b->d[2 * k] + b->d[2 * k + 1];
		}
		break;
	case PI_PHSUBD:
		for (k = 0; k < n / 8; k++) {
			r->d[k] = a->d[2 * k] - a->d[2 * k + 1];
			r->d[n / 8 + k] = b->d[2 * k] - b->d[2 * k + 1];
		}
		break;
	case PI_PSIGNB:
		for (k = 0; k < n; k++)
			r->b[k] = b->sb[k] < 0 ? (uint8_t)-a->b[k] : b->sb[k] ? a->b[k] : 0;
		break;
	case PI_PSIGNW:
		for (k = 0; k < n / 2; k++)
			r->w[k] = b->sw[k] < 0 ? (uint16_t)-a->w[k] : b->sw[k] ? a->w[k] : 0;
		break;
	case PI_PSIGND:
		for (k = 0; k < n / 4; k++)
			r->d[k] = b->sd[k] < 0 ? -a->d[k] : b->sd[k] ? a->d[k] : 0;
		break;
	case PI_PABSB:
		for (k = 0; k < n; k++)
			r->b[k] = b->sb[k] < 0 ? (uint8_t)-b->b[k] : b->b[k];
		break;
	case PI_PABSW:
		for (k = 0; k < n / 2; k++)
			r->w[k] = b->sw[k] < 0 ? (uint16_t)-b->w[k] : b->w[k];
		break;
	case PI_PABSD:
		for (k = 0; k < n / 4; k++)
			r->d[k] = b->sd[k] < 0 ? -b->d[k] : b->d[k];
		break;
	case PI_PMULHRSW:
		for (k = 0; k < n / 2; k++)
			r->sw[k] = (int16_t)((((int32_t)a->sw[k] * b->sw[k] >> 14) + 1) >> 1);
		break;
	case PI_PMADDUBSW:
		for (k = 0; k < n / 2; k++)
			r->sw[k] = ss16(a->b[2 * k] * b->sb[2 * k] + a->b[2 * k + 1] * b->sb[2 * k + 1]);
		break;
	default:
		pshift(r, a, b->q[0], op, n);
		break;
	}
}

int h_pint(struct soft_cpu *c, const struct sinsn *i)
{
	union xmmreg a, b, r;
	bool mm = i->o[0].kind == OPK_MM;
	unsigned n = mm ? 8 : 16, d = i->o[0].reg;
	if (fp_gate(c, i))
		return SOFT_EXC;
	if (i->o[1].kind == OPK_IMM) { /* shift by an immediate count */
		b.q[0] = i->imm & 0xff;
		b.q[1] = 0;
	} else if (xop_read(c, i, 1, &b)) {
		return SOFT_EXC;
	}
	if (mm) {
		a.q[0] = c->fpu.st[d].mant;
		a.q[1] = 0;
	} else {
		a = c->fpu.xmm[d];
	}
	r = a;
	pint(&r, &a, &b, i->op, n, (unsigned)i->imm & 0xff);
	if (mm) {
		mmx_enter(c);
		mm_set(c, d, r.q[0]);
	} else {
		c->fpu.xmm[d] = r;
	}
	return SOFT_OK;
}

/* PINSRW xmm/mm, r32/m16, imm8 */
int h_pinsrw(struct soft_cpu *c, const struct sinsn *i)
{
	union xmmreg b;
	unsigned d = i->o[0].reg;
	if (fp_gate(c, i))
		return SOFT_EXC;
	if (xop_read(c, i, 1, &b))
		return SOFT_EXC;
	if (i->o[0].kind == OPK_MM) {
		unsigned sh = (unsigned)(i->imm & 3) * 16;
		mmx_enter(c);
		c->fpu.st[d].mant = (c->fpu.st[d].mant & ~(0xffffull << sh)) | ((b.q[0] & 0xffff) << sh);
		c->fpu.st[d].se = 0xffff;
	} else {
		c->fpu.xmm[d].w[i->imm & 7] = (uint16_t)b.q[0];
	}
	return SOFT_OK;
}

/* PEXTRW r32/r64, xmm/mm, imm8 (zero-extended) */
int h_pextrw(struct soft_cpu *c, const struct sinsn *i)
{
	union xmmreg b;
	if (fp_gate(c, i))
		return SOFT_EXC;
	xop_read(c, i, 1, &b);
	unsigned sel = i->o[1].kind == OPK_MM ? (unsigned)(i->imm & 3) : (unsigned)(i->imm & 7);
	if (i->o[1].kind == OPK_MM)
		mmx_enter(c);
	reg_set(c, i->o[0].reg, 8, b.w[sel]);
	return SOFT_OK;
}

int h_pmovmskb(struct soft_cpu *c, const struct sinsn *i)
{
	union xmmreg b;
	unsigned n = i->o[1].kind == OPK_MM ? 8 : 16, m = 0;
	if (fp_gate(c, i))
		return SOFT_EXC;
	xop_read(c, i, 1, &b);
	if (n == 8)
		mmx_enter(c);
	for (unsigned k = 0; k < n; k++)
		m |= (unsigned)(b.b[k] >> 7) << k;
	reg_set(c, i->o[0].reg, 8, m);
	return SOFT_OK;
}

int h_movmskps(struct soft_cpu *c, const struct sinsn *i)
{
	const union xmmreg *b = &c->fpu.xmm[i->o[1].reg];
	unsigned m;
	if (fp_gate(c, i))
		return SOFT_EXC;
	if (i->op)
		m = (unsigned)(b->q[0] >> 63) | (unsigned)(b->q[1] >> 63) << 1;
	else
		m = (b->d[0] >> 31) | (b->d[1] >> 31) << 1 | (b->d[2] >> 31) << 2 | (b->d[3] >> 31) << 3;
	reg_set(c, i->o[0].reg, 8, m);
	return SOFT_OK;
}
