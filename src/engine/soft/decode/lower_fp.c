/* Lowering of the x87, MMX, SSE, SSE2, SSE3 and SSSE3 instructions: Zydis-decoded
 * instruction -> struct sinsn with one of the handlers of ops_fp.h. Operand conventions
 * are described there. Anything of these sets not listed here is left to soft_lower,
 * which makes it #UD. */
#include <pthread.h>
#include <string.h>

#include "core/cpu_state.h"
#include "engine/soft/decode/lower.h"
#include "engine/soft/decode/lower_fp.h"
#include "engine/soft/interp/ops.h"
#include "engine/soft/fpu/ops_fp.h"
#include "engine/soft/fpu/x87.h"

struct fpmap {
	uint16_t mnemonic;
	uint8_t op;
};

static const struct fpmap pint_map[] = {
	{ ZYDIS_MNEMONIC_PADDB, PI_PADDB },
	{ ZYDIS_MNEMONIC_PADDW, PI_PADDW },
	{ ZYDIS_MNEMONIC_PADDD, PI_PADDD },
	{ ZYDIS_MNEMONIC_PADDQ, PI_PADDQ },
	{ ZYDIS_MNEMONIC_PADDSB, PI_PADDSB },
	{ ZYDIS_MNEMONIC_PADDSW, PI_PADDSW },
	{ ZYDIS_MNEMONIC_PADDUSB, PI_PADDUSB },
	{ ZYDIS_MNEMONIC_PADDUSW, PI_PADDUSW },
	{ ZYDIS_MNEMONIC_PSUBB, PI_PSUBB },
	{ ZYDIS_MNEMONIC_PSUBW, PI_PSUBW },
	{ ZYDIS_MNEMONIC_PSUBD, PI_PSUBD },
	{ ZYDIS_MNEMONIC_PSUBQ, PI_PSUBQ },
	{ ZYDIS_MNEMONIC_PSUBSB, PI_PSUBSB },
	{ ZYDIS_MNEMONIC_PSUBSW, PI_PSUBSW },
	{ ZYDIS_MNEMONIC_PSUBUSB, PI_PSUBUSB },
	{ ZYDIS_MNEMONIC_PSUBUSW, PI_PSUBUSW },
	{ ZYDIS_MNEMONIC_PAND, PI_PAND },
	{ ZYDIS_MNEMONIC_PANDN, PI_PANDN },
	{ ZYDIS_MNEMONIC_POR, PI_POR },
	{ ZYDIS_MNEMONIC_PXOR, PI_PXOR },
	{ ZYDIS_MNEMONIC_PCMPEQB, PI_PCMPEQB },
	{ ZYDIS_MNEMONIC_PCMPEQW, PI_PCMPEQW },
	{ ZYDIS_MNEMONIC_PCMPEQD, PI_PCMPEQD },
	{ ZYDIS_MNEMONIC_PCMPGTB, PI_PCMPGTB },
	{ ZYDIS_MNEMONIC_PCMPGTW, PI_PCMPGTW },
	{ ZYDIS_MNEMONIC_PCMPGTD, PI_PCMPGTD },
	{ ZYDIS_MNEMONIC_PMULLW, PI_PMULLW },
	{ ZYDIS_MNEMONIC_PMULHW, PI_PMULHW },
	{ ZYDIS_MNEMONIC_PMULHUW, PI_PMULHUW },
	{ ZYDIS_MNEMONIC_PMULUDQ, PI_PMULUDQ },
	{ ZYDIS_MNEMONIC_PMADDWD, PI_PMADDWD },
	{ ZYDIS_MNEMONIC_PSADBW, PI_PSADBW },
	{ ZYDIS_MNEMONIC_PAVGB, PI_PAVGB },
	{ ZYDIS_MNEMONIC_PAVGW, PI_PAVGW },
	{ ZYDIS_MNEMONIC_PMINUB, PI_PMINUB },
	{ ZYDIS_MNEMONIC_PMAXUB, PI_PMAXUB },
	{ ZYDIS_MNEMONIC_PMINSW, PI_PMINSW },
	{ ZYDIS_MNEMONIC_PMAXSW, PI_PMAXSW },
	{ ZYDIS_MNEMONIC_PSLLW, PI_PSLLW },
	{ ZYDIS_MNEMONIC_PSLLD, PI_PSLLD },
	{ ZYDIS_MNEMONIC_PSLLQ, PI_PSLLQ },
	{ ZYDIS_MNEMONIC_PSRLW, PI_PSRLW },
	{ ZYDIS_MNEMONIC_PSRLD, PI_PSRLD },
	{ ZYDIS_MNEMONIC_PSRLQ, PI_PSRLQ },
	{ ZYDIS_MNEMONIC_PSRAW, PI_PSRAW },
	{ ZYDIS_MNEMONIC_PSRAD, PI_PSRAD },
	{ ZYDIS_MNEMONIC_PSLLDQ, PI_PSLLDQ },
	{ ZYDIS_MNEMONIC_PSRLDQ, PI_PSRLDQ },
	{ ZYDIS_MNEMONIC_PUNPCKLBW, PI_PUNPCKLBW },
	{ ZYDIS_MNEMONIC_PUNPCKLWD, PI_PUNPCKLWD },
	{ ZYDIS_MNEMONIC_PUNPCKLDQ, PI_PUNPCKLDQ },
	{ ZYDIS_MNEMONIC_PUNPCKLQDQ, PI_PUNPCKLQDQ },
	{ ZYDIS_MNEMONIC_PUNPCKHBW, PI_PUNPCKHBW },
	{ ZYDIS_MNEMONIC_PUNPCKHWD, PI_PUNPCKHWD },
	{ ZYDIS_MNEMONIC_PUNPCKHDQ, PI_PUNPCKHDQ },
	{ ZYDIS_MNEMONIC_PUNPCKHQDQ, PI_PUNPCKHQDQ },
	{ ZYDIS_MNEMONIC_PACKSSWB, PI_PACKSSWB },
	{ ZYDIS_MNEMONIC_PACKSSDW, PI_PACKSSDW },
	{ ZYDIS_MNEMONIC_PACKUSWB, PI_PACKUSWB },
	{ ZYDIS_MNEMONIC_PSHUFD, PI_PSHUFD },
	{ ZYDIS_MNEMONIC_PSHUFHW, PI_PSHUFHW },
	{ ZYDIS_MNEMONIC_PSHUFLW, PI_PSHUFLW },
	{ ZYDIS_MNEMONIC_PSHUFW, PI_PSHUFW },
	{ ZYDIS_MNEMONIC_SHUFPS, PI_SHUFPS },
	{ ZYDIS_MNEMONIC_SHUFPD, PI_SHUFPD },
	{ ZYDIS_MNEMONIC_MOVDDUP, PI_MOVDDUP },
	{ ZYDIS_MNEMONIC_MOVSHDUP, PI_MOVSHDUP },
	{ ZYDIS_MNEMONIC_MOVSLDUP, PI_MOVSLDUP },
	{ ZYDIS_MNEMONIC_PSHUFB, PI_PSHUFB },
	{ ZYDIS_MNEMONIC_PALIGNR, PI_PALIGNR },
	{ ZYDIS_MNEMONIC_PHADDW, PI_PHADDW },
	{ ZYDIS_MNEMONIC_PHADDD, PI_PHADDD },
	{ ZYDIS_MNEMONIC_PHADDSW, PI_PHADDSW },
	{ ZYDIS_MNEMONIC_PHSUBW, PI_PHSUBW },
	{ ZYDIS_MNEMONIC_PHSUBD, PI_PHSUBD },
	{ ZYDIS_MNEMONIC_PHSUBSW, PI_PHSUBSW },
	{ ZYDIS_MNEMONIC_PSIGNB, PI_PSIGNB },
	{ ZYDIS_MNEMONIC_PSIGNW, PI_PSIGNW },
	{ ZYDIS_MNEMONIC_PSIGND, PI_PSIGND },
	{ ZYDIS_MNEMONIC_PABSB, PI_PABSB },
	{ ZYDIS_MNEMONIC_PABSW, PI_PABSW },
	{ ZYDIS_MNEMONIC_PABSD, PI_PABSD },
	{ ZYDIS_MNEMONIC_PMULHRSW, PI_PMULHRSW },
	{ ZYDIS_MNEMONIC_PMADDUBSW, PI_PMADDUBSW },
	{ ZYDIS_MNEMONIC_ANDPS, PI_PAND },
	{ ZYDIS_MNEMONIC_ANDPD, PI_PAND },
	{ ZYDIS_MNEMONIC_ANDNPS, PI_PANDN },
	{ ZYDIS_MNEMONIC_ANDNPD, PI_PANDN },
	{ ZYDIS_MNEMONIC_ORPS, PI_POR },
	{ ZYDIS_MNEMONIC_ORPD, PI_POR },
	{ ZYDIS_MNEMONIC_XORPS, PI_PXOR },
	{ ZYDIS_MNEMONIC_XORPD, PI_PXOR },
	{ ZYDIS_MNEMONIC_UNPCKLPS, PI_PUNPCKLDQ },
	{ ZYDIS_MNEMONIC_UNPCKHPS, PI_PUNPCKHDQ },
	{ ZYDIS_MNEMONIC_UNPCKLPD, PI_PUNPCKLQDQ },
	{ ZYDIS_MNEMONIC_UNPCKHPD, PI_PUNPCKHQDQ },
};

static const struct fpmap ssefp_map[] = {
	{ ZYDIS_MNEMONIC_ADDPS, FP_ADDPS },
	{ ZYDIS_MNEMONIC_ADDPD, FP_ADDPD },
	{ ZYDIS_MNEMONIC_ADDSS, FP_ADDSS },
	{ ZYDIS_MNEMONIC_ADDSD, FP_ADDSD },
	{ ZYDIS_MNEMONIC_SUBPS, FP_SUBPS },
	{ ZYDIS_MNEMONIC_SUBPD, FP_SUBPD },
	{ ZYDIS_MNEMONIC_SUBSS, FP_SUBSS },
	{ ZYDIS_MNEMONIC_SUBSD, FP_SUBSD },
	{ ZYDIS_MNEMONIC_MULPS, FP_MULPS },
	{ ZYDIS_MNEMONIC_MULPD, FP_MULPD },
	{ ZYDIS_MNEMONIC_MULSS, FP_MULSS },
	{ ZYDIS_MNEMONIC_MULSD, FP_MULSD },
	{ ZYDIS_MNEMONIC_DIVPS, FP_DIVPS },
	{ ZYDIS_MNEMONIC_DIVPD, FP_DIVPD },
	{ ZYDIS_MNEMONIC_DIVSS, FP_DIVSS },
	{ ZYDIS_MNEMONIC_DIVSD, FP_DIVSD },
	{ ZYDIS_MNEMONIC_SQRTPS, FP_SQRTPS },
	{ ZYDIS_MNEMONIC_SQRTPD, FP_SQRTPD },
	{ ZYDIS_MNEMONIC_SQRTSS, FP_SQRTSS },
	{ ZYDIS_MNEMONIC_SQRTSD, FP_SQRTSD },
	{ ZYDIS_MNEMONIC_MINPS, FP_MINPS },
	{ ZYDIS_MNEMONIC_MINPD, FP_MINPD },
	{ ZYDIS_MNEMONIC_MINSS, FP_MINSS },
	{ ZYDIS_MNEMONIC_MINSD, FP_MINSD },
	{ ZYDIS_MNEMONIC_MAXPS, FP_MAXPS },
	{ ZYDIS_MNEMONIC_MAXPD, FP_MAXPD },
	{ ZYDIS_MNEMONIC_MAXSS, FP_MAXSS },
	{ ZYDIS_MNEMONIC_MAXSD, FP_MAXSD },
	{ ZYDIS_MNEMONIC_RCPPS, FP_RCPPS },
	{ ZYDIS_MNEMONIC_RCPSS, FP_RCPSS },
	{ ZYDIS_MNEMONIC_RSQRTPS, FP_RSQRTPS },
	{ ZYDIS_MNEMONIC_RSQRTSS, FP_RSQRTSS },
	{ ZYDIS_MNEMONIC_CVTSS2SD, FP_CVTSS2SD },
	{ ZYDIS_MNEMONIC_CVTSD2SS, FP_CVTSD2SS },
	{ ZYDIS_MNEMONIC_CVTPS2PD, FP_CVTPS2PD },
	{ ZYDIS_MNEMONIC_CVTPD2PS, FP_CVTPD2PS },
	{ ZYDIS_MNEMONIC_CVTDQ2PS, FP_CVTDQ2PS },
	{ ZYDIS_MNEMONIC_CVTPS2DQ, FP_CVTPS2DQ },
	{ ZYDIS_MNEMONIC_CVTTPS2DQ, FP_CVTTPS2DQ },
	{ ZYDIS_MNEMONIC_CVTDQ2PD, FP_CVTDQ2PD },
	{ ZYDIS_MNEMONIC_CVTPD2DQ, FP_CVTPD2DQ },
	{ ZYDIS_MNEMONIC_CVTTPD2DQ, FP_CVTTPD2DQ },
	{ ZYDIS_MNEMONIC_CVTPI2PS, FP_CVTPI2PS },
	{ ZYDIS_MNEMONIC_CVTPS2PI, FP_CVTPS2PI },
	{ ZYDIS_MNEMONIC_CVTTPS2PI, FP_CVTTPS2PI },
	{ ZYDIS_MNEMONIC_CVTPI2PD, FP_CVTPI2PD },
	{ ZYDIS_MNEMONIC_CVTPD2PI, FP_CVTPD2PI },
	{ ZYDIS_MNEMONIC_CVTTPD2PI, FP_CVTTPD2PI },
	{ ZYDIS_MNEMONIC_ADDSUBPS, FP_ADDSUBPS },
	{ ZYDIS_MNEMONIC_ADDSUBPD, FP_ADDSUBPD },
	{ ZYDIS_MNEMONIC_HADDPS, FP_HADDPS },
	{ ZYDIS_MNEMONIC_HADDPD, FP_HADDPD },
	{ ZYDIS_MNEMONIC_HSUBPS, FP_HSUBPS },
	{ ZYDIS_MNEMONIC_HSUBPD, FP_HSUBPD },
};
/* The maps by mnemonic (op + 1, 0: not there), built once: every decoded instruction
 * is looked up, most of them in neither. */
static uint16_t pint_of[ZYDIS_MNEMONIC_MAX_VALUE + 1], ssefp_of[ZYDIS_MNEMONIC_MAX_VALUE + 1];
static pthread_once_t maps_once = PTHREAD_ONCE_INIT;

static void maps_index(void)
{
	for (unsigned k = sizeof(pint_map) / sizeof(pint_map[0]); k-- > 0;)   /* first wins */
		pint_of[pint_map[k].mnemonic] = (uint16_t)(pint_map[k].op + 1);
	for (unsigned k = sizeof(ssefp_map) / sizeof(ssefp_map[0]); k-- > 0;)
		ssefp_of[ssefp_map[k].mnemonic] = (uint16_t)(ssefp_map[k].op + 1);
}

static int find(const uint16_t *index, ZydisMnemonic mn)
{
	return (unsigned)mn <= ZYDIS_MNEMONIC_MAX_VALUE ? index[mn] - 1 : -1;
}


static uint8_t seg_of(ZydisRegister r)
{
	switch (r) {
	case ZYDIS_REGISTER_ES: return S_ES;
	case ZYDIS_REGISTER_CS: return S_CS;
	case ZYDIS_REGISTER_SS: return S_SS;
	case ZYDIS_REGISTER_FS: return S_FS;
	case ZYDIS_REGISTER_GS: return S_GS;
	default: return S_DS;
	}
}

static bool mem_operand(const ZydisDecodedOperand *o, struct sinsn *s)
{
	if (!soft_lower_addr_reg(o->mem.base, &s->base) || !soft_lower_addr_reg(o->mem.index, &s->index))
		return false;
	s->scale = (uint8_t)(o->mem.scale == 8 ? 3 : o->mem.scale == 4 ? 2 : o->mem.scale == 2 ? 1 : 0);
	s->disp = o->mem.disp.has_displacement ? o->mem.disp.value : 0;
	s->seg = seg_of(o->mem.segment);
	return true;
}

/* Visible operands -> s->o[]; a hidden memory operand (MASKMOVDQU's [rDI]) only sets the
 * address fields. */
static bool fp_operands(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                        struct sinsn *s)
{
	s->nops = zi->operand_count_visible > 3 ? 3 : zi->operand_count_visible;
	for (unsigned k = 0; k < zi->operand_count; k++) {
		const ZydisDecodedOperand *o = &zo[k];
		if (k >= s->nops) {
			if (o->type == ZYDIS_OPERAND_TYPE_MEMORY && o->mem.type == ZYDIS_MEMOP_TYPE_MEM &&
			    !mem_operand(o, s))
				return false;
			continue;
		}
		struct sop *d = &s->o[k];
		switch (o->type) {
		case ZYDIS_OPERAND_TYPE_REGISTER: {
			ZydisRegister r = o->reg.value;
			if (r >= ZYDIS_REGISTER_XMM0 && r <= ZYDIS_REGISTER_XMM15) {
				d->kind = OPK_XMM;
				d->reg = (uint8_t)(r - ZYDIS_REGISTER_XMM0);
				d->size = 16;
			} else if (r >= ZYDIS_REGISTER_MM0 && r <= ZYDIS_REGISTER_MM7) {
				d->kind = OPK_MM;
				d->reg = (uint8_t)(r - ZYDIS_REGISTER_MM0);
				d->size = 8;
			} else if (r >= ZYDIS_REGISTER_ST0 && r <= ZYDIS_REGISTER_ST7) {
				d->kind = OPK_ST;
				d->reg = (uint8_t)(r - ZYDIS_REGISTER_ST0);
				d->size = 10;
			} else {
				d->kind = OPK_REG;
				if (!soft_lower_gpr(r, &d->reg, &d->size))
					return false;
			}
			break;
		}
		case ZYDIS_OPERAND_TYPE_MEMORY:
			d->kind = OPK_MEM;
			d->size = (uint8_t)(o->size / 8 > 255 ? 0 : o->size / 8);
			if (!mem_operand(o, s))
				return false;
			break;
		case ZYDIS_OPERAND_TYPE_IMMEDIATE:
			d->kind = OPK_IMM;
			d->size = 1;
			s->imm = o->imm.value.u;
			break;
		default:
			return false;
		}
	}
	return true;
}

static bool is_x87(const ZydisDecodedInstruction *zi)
{
	return zi->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && zi->opcode >= 0xd8 && zi->opcode <= 0xdf;
}

static bool soft_lower_x87(const ZydisDecodedInstruction *zi, struct sinsn *s);
static void x87_set(struct sinsn *s, unsigned op, unsigned imm, unsigned flags);

/* FPF_MMX / FPF_XMM / FPF_FXSR: the state the instruction uses, for fp_gate(). The SSE
 * floating-point forms with MMX operands (CVTPI2PS, CVTPS2PI, ...) need CR4.OSFXSR too;
 * a memory source instead of an MMX register makes no MMX transition and no #MF. */
static uint16_t gate_class(ZydisMnemonic mn, const struct sinsn *s, bool sse_fp)
{
	bool mm = false, xmm = false;
	if (mn == ZYDIS_MNEMONIC_FXSAVE || mn == ZYDIS_MNEMONIC_FXSAVE64 ||
	    mn == ZYDIS_MNEMONIC_FXRSTOR || mn == ZYDIS_MNEMONIC_FXRSTOR64)
		return FPF_FXSR;
	if (mn == ZYDIS_MNEMONIC_EMMS)
		return FPF_MMX;
	for (unsigned k = 0; k < s->nops; k++) {
		mm |= s->o[k].kind == OPK_MM;
		xmm |= s->o[k].kind == OPK_XMM;
	}
	return (uint16_t)((mm ? FPF_MMX : 0) | (!mm || xmm || sse_fp ? FPF_XMM : 0));
}

int soft_lower_fp(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                  struct sinsn *s, bool *ends_block)
{
	ZydisMnemonic mn = zi->mnemonic;
	int op;
	soft_fn fn = NULL;

	pthread_once(&maps_once, maps_index);
	if ((op = find(pint_of, mn)) >= 0) {
		fn = h_pint;
	} else if ((op = find(ssefp_of, mn)) >= 0) {
		fn = h_ssefp;
	} else {
		op = 0;
		switch (mn) {
		case ZYDIS_MNEMONIC_CMPPS: case ZYDIS_MNEMONIC_CMPPD: case ZYDIS_MNEMONIC_CMPSS:
		case ZYDIS_MNEMONIC_CMPSD:
			fn = h_ssefp;
			op = mn == ZYDIS_MNEMONIC_CMPPS ? FP_CMPPS : mn == ZYDIS_MNEMONIC_CMPPD ? FP_CMPPD :
			     mn == ZYDIS_MNEMONIC_CMPSS ? FP_CMPSS : FP_CMPSD;
			break; /* + predicate below */
		case ZYDIS_MNEMONIC_MOVAPS: case ZYDIS_MNEMONIC_MOVAPD: case ZYDIS_MNEMONIC_MOVDQA:
		case ZYDIS_MNEMONIC_MOVUPS: case ZYDIS_MNEMONIC_MOVUPD: case ZYDIS_MNEMONIC_MOVDQU:
		case ZYDIS_MNEMONIC_LDDQU: case ZYDIS_MNEMONIC_MOVNTPS: case ZYDIS_MNEMONIC_MOVNTPD:
		case ZYDIS_MNEMONIC_MOVNTDQ: case ZYDIS_MNEMONIC_MOVNTQ: case ZYDIS_MNEMONIC_MOVQ2DQ:
		case ZYDIS_MNEMONIC_MOVDQ2Q: case ZYDIS_MNEMONIC_MOVD:
			fn = h_xmov;
			op = MV_FULL;
			break;
		case ZYDIS_MNEMONIC_MOVQ: fn = h_xmov; op = MV_ZX64; break;
		case ZYDIS_MNEMONIC_MOVSS: fn = h_xmov; op = MV_LO32; break;
		case ZYDIS_MNEMONIC_MOVSD: fn = h_xmov; op = MV_LO64; break;
		case ZYDIS_MNEMONIC_MOVLPS: case ZYDIS_MNEMONIC_MOVLPD: fn = h_xmov; op = MV_LO64; break;
		case ZYDIS_MNEMONIC_MOVHPS: case ZYDIS_MNEMONIC_MOVHPD:
			fn = h_xmov;
			op = zo[0].type == ZYDIS_OPERAND_TYPE_MEMORY ? MV_HI_TO_LO : MV_HI_LOAD;
			break;
		case ZYDIS_MNEMONIC_MOVHLPS: fn = h_xmov; op = MV_HI_TO_LO; break;
		case ZYDIS_MNEMONIC_MOVLHPS: fn = h_xmov; op = MV_HI_LOAD; break;
		case ZYDIS_MNEMONIC_MOVNTI: fn = h_mov; break;
		case ZYDIS_MNEMONIC_MOVMSKPS: fn = h_movmskps; break;
		case ZYDIS_MNEMONIC_MOVMSKPD: fn = h_movmskps; op = 1; break;
		case ZYDIS_MNEMONIC_PMOVMSKB: fn = h_pmovmskb; break;
		case ZYDIS_MNEMONIC_PINSRW: fn = h_pinsrw; break;
		case ZYDIS_MNEMONIC_PEXTRW: fn = h_pextrw; break;
		case ZYDIS_MNEMONIC_MASKMOVDQU: case ZYDIS_MNEMONIC_MASKMOVQ: fn = h_maskmov; break;
		case ZYDIS_MNEMONIC_CVTSI2SS: fn = h_cvtsi2; break;
		case ZYDIS_MNEMONIC_CVTSI2SD: fn = h_cvtsi2; op = 1; break;
		case ZYDIS_MNEMONIC_CVTSS2SI: fn = h_cvt2si; op = CV_SS2SI; break;
		case ZYDIS_MNEMONIC_CVTTSS2SI: fn = h_cvt2si; op = CV_TSS2SI; break;
		case ZYDIS_MNEMONIC_CVTSD2SI: fn = h_cvt2si; op = CV_SD2SI; break;
		case ZYDIS_MNEMONIC_CVTTSD2SI: fn = h_cvt2si; op = CV_TSD2SI; break;
		case ZYDIS_MNEMONIC_UCOMISS: fn = h_comis; op = 0; break;
		case ZYDIS_MNEMONIC_UCOMISD: fn = h_comis; op = 1; break;
		case ZYDIS_MNEMONIC_COMISS: fn = h_comis; op = 2; break;
		case ZYDIS_MNEMONIC_COMISD: fn = h_comis; op = 3; break;
		case ZYDIS_MNEMONIC_LDMXCSR: fn = h_ldmxcsr; break;
		case ZYDIS_MNEMONIC_STMXCSR: fn = h_stmxcsr; break;
		case ZYDIS_MNEMONIC_FXSAVE: case ZYDIS_MNEMONIC_FXSAVE64: fn = h_fxsave; break;
		case ZYDIS_MNEMONIC_FXRSTOR: case ZYDIS_MNEMONIC_FXRSTOR64: fn = h_fxrstor; break;
		case ZYDIS_MNEMONIC_EMMS: fn = h_emms; break;
		case ZYDIS_MNEMONIC_FWAIT:
			s->nops = 0;
			x87_set(s, X_FWAIT, 0, 0);
			return true;
		case ZYDIS_MNEMONIC_LFENCE: case ZYDIS_MNEMONIC_SFENCE: case ZYDIS_MNEMONIC_MFENCE:
		case ZYDIS_MNEMONIC_PREFETCHNTA: case ZYDIS_MNEMONIC_PREFETCHT0:
		case ZYDIS_MNEMONIC_PREFETCHT1: case ZYDIS_MNEMONIC_PREFETCHT2:
			fn = h_nop;
			break;
		default:
			if (!is_x87(zi))
				return -1;
			break;
		}
	}

	if (!fp_operands(zi, zo, s)) {
		*ends_block = true;
		return false;
	}
	if (!fn) { /* x87 */
		if (!soft_lower_x87(zi, s)) {
			*ends_block = true;
			return false;
		}
		return true;
	}
	s->fn = fn;
	s->kind = K_FP;
	s->op = (uint8_t)op;
	if (fn == h_ssefp && op >= FP_CMPPS)
		s->op = (uint8_t)(op + (s->imm & 7));
	if (mn == ZYDIS_MNEMONIC_FXSAVE64 || mn == ZYDIS_MNEMONIC_FXRSTOR64 ||
	    (s->nops && s->o[0].kind == OPK_REG && s->o[0].size == 8))
		s->imm2 |= FPF_W64;
	s->imm2 |= gate_class(mn, s, fn == h_ssefp);
	switch (mn) {
	case ZYDIS_MNEMONIC_MOVUPS: case ZYDIS_MNEMONIC_MOVUPD: case ZYDIS_MNEMONIC_MOVDQU:
	case ZYDIS_MNEMONIC_LDDQU:
		break;
	default:
		s->imm2 |= FPF_ALIGN;
		break;
	}
	/* MOVSS/MOVSD loads from memory zero the rest of the register. */
	if ((mn == ZYDIS_MNEMONIC_MOVSS || mn == ZYDIS_MNEMONIC_MOVSD) && s->o[1].kind == OPK_MEM)
		s->op = MV_FULL;
	return true;
}

/* ---- x87: by opcode byte and ModRM (Intel SDM vol. 2, table) ---- */

static void x87_set(struct sinsn *s, unsigned op, unsigned imm, unsigned flags)
{
	s->fn = h_x87;
	s->kind = K_FP;
	s->op = (uint8_t)op;
	s->imm = imm;
	s->imm2 = (uint16_t)flags;
}

static void st_op(struct sinsn *s, unsigned k, unsigned i)
{
	s->o[k] = (struct sop){ .kind = OPK_ST, .size = 10, .reg = (uint8_t)i };
}

static bool x87_mem(unsigned opc, unsigned reg, struct sinsn *s)
{
	static const uint8_t arith[8] = { XA_ADD, XA_MUL, 0, 0, XA_SUB, XA_SUBR, XA_DIV, XA_DIVR };
	static const uint8_t aform[8] = { [0] = XM_M32, [2] = XM_I32, [4] = XM_M64, [6] = XM_I16 };
	unsigned form;
	switch (opc) {
	case 0xd8: case 0xda: case 0xdc: case 0xde:
		form = aform[opc - 0xd8];
		if (reg == 2 || reg == 3)
			x87_set(s, X_COM, form, reg == 3 ? XF_POP : 0);
		else
			x87_set(s, X_ARITH, form | arith[reg] << 4, 0);
		return true;
	case 0xd9:
		switch (reg) {
		case 0: x87_set(s, X_LD, XM_M32, 0); return true;
		case 2: x87_set(s, X_ST, XM_M32, 0); return true;
		case 3: x87_set(s, X_ST, XM_M32, XF_POP); return true;
		case 4: x87_set(s, X_FLDENV, 0, 0); return true; /* waits */
		case 5: x87_set(s, X_FLDCW, 0, 0); return true;   /* waits */
		case 6: x87_set(s, X_FNSTENV, 0, XF_NOWAIT); return true;
		case 7: x87_set(s, X_FNSTCW, 0, XF_NOWAIT); return true;
		default: return false;
		}
	case 0xdb:
		switch (reg) {
		case 0: x87_set(s, X_LD, XM_I32, 0); return true;
		case 1: x87_set(s, X_STT, XM_I32, XF_POP); return true;
		case 2: x87_set(s, X_ST, XM_I32, 0); return true;
		case 3: x87_set(s, X_ST, XM_I32, XF_POP); return true;
		case 5: x87_set(s, X_LD, XM_M80, 0); return true;
		case 7: x87_set(s, X_ST, XM_M80, XF_POP); return true;
		default: return false;
		}
	case 0xdd:
		switch (reg) {
		case 0: x87_set(s, X_LD, XM_M64, 0); return true;
		case 1: x87_set(s, X_STT, XM_I64, XF_POP); return true;
		case 2: x87_set(s, X_ST, XM_M64, 0); return true;
		case 3: x87_set(s, X_ST, XM_M64, XF_POP); return true;
		case 4: x87_set(s, X_FRSTOR, 0, 0); return true; /* waits */
		case 6: x87_set(s, X_FNSAVE, 0, XF_NOWAIT); return true;
		case 7: x87_set(s, X_FNSTSW, 0, XF_NOWAIT); return true;
		default: return false;
		}
	default: /* 0xdf */
		switch (reg) {
		case 0: x87_set(s, X_LD, XM_I16, 0); return true;
		case 1: x87_set(s, X_STT, XM_I16, XF_POP); return true;
		case 2: x87_set(s, X_ST, XM_I16, 0); return true;
		case 3: x87_set(s, X_ST, XM_I16, XF_POP); return true;
		case 5: x87_set(s, X_LD, XM_I64, 0); return true;
		case 4: x87_set(s, X_LD, XM_BCD, 0); return true;
		case 6: x87_set(s, X_ST, XM_BCD, XF_POP); return true;
		default: x87_set(s, X_ST, XM_I64, XF_POP); return true;
		}
	}
}

static bool x87_reg(unsigned opc, unsigned reg, unsigned rm, struct sinsn *s)
{
	static const uint8_t arith_st0[8] = { XA_ADD, XA_MUL, 0, 0, XA_SUB, XA_SUBR, XA_DIV, XA_DIVR };
	static const uint8_t arith_sti[8] = { XA_ADD, XA_MUL, 0, 0, XA_SUBR, XA_SUB, XA_DIVR, XA_DIV };
	s->nops = 2;
	s->o[0] = s->o[1] = (struct sop){ 0 };
	switch (opc) {
	case 0xd8:
		if (reg == 2 || reg == 3) {
			st_op(s, 0, rm);
			x87_set(s, X_COM, XM_REG, reg == 3 ? XF_POP : 0);
		} else {
			st_op(s, 0, 0);
			st_op(s, 1, rm);
			x87_set(s, X_ARITH, XM_REG | arith_st0[reg] << 4, 0);
		}
		return true;
	case 0xdc:
	case 0xde:
		if (reg == 2 || reg == 3) { /* FCOM/FCOMP aliases, DE D9 FCOMPP */
			if (opc == 0xde && reg == 3) {
				if (rm != 1)
					return false;
				x87_set(s, X_COM, XM_REG, XF_POP2);
				return true;
			}
			st_op(s, 0, rm);
			x87_set(s, X_COM, XM_REG, (reg == 3 || opc == 0xde) ? XF_POP : 0);
			return true;
		}
		st_op(s, 0, rm);
		st_op(s, 1, 0);
		x87_set(s, X_ARITH, XM_REG | arith_sti[reg] << 4, opc == 0xde ? XF_POP : 0);
		return true;
	case 0xd9:
		switch (reg) {
		case 0: st_op(s, 0, rm); x87_set(s, X_LD, XM_REG, 0); return true;
		case 1: st_op(s, 0, rm); x87_set(s, X_FXCH, 0, 0); return true;
		case 2: if (rm) return false; x87_set(s, X_FNOP, 0, 0); return true;
		case 3: st_op(s, 0, rm); x87_set(s, X_FSTP1, 0, 0); return true;
		case 4: {
			static const int8_t k[8] = { XS_CHS, XS_ABS, -1, -1, XS_TST, XS_XAM, -1, -1 };
			if (k[rm] < 0)
				return false;
			x87_set(s, X_SHAPE + (unsigned)k[rm], 0, 0);
			return true;
		}
		case 5:
			if (rm == 7)
				return false;
			x87_set(s, X_LD1 + rm, XM_CONST, 0);
			return true;
		case 6: {
			static const uint8_t k[8] = { XS_F2XM1, XS_YL2X, XS_PTAN, XS_PATAN, XS_XTRACT,
			                              XS_PREM1, 0, 0 };
			if (rm >= 6)
				x87_set(s, rm == 6 ? X_FDECSTP : X_FINCSTP, 0, 0);
			else
				x87_set(s, X_SHAPE + k[rm], 0, 0);
			return true;
		}
		default: {
			static const uint8_t k[8] = { XS_PREM, XS_YL2XP1, XS_SQRT, XS_SINCOS, XS_RNDINT,
			                              XS_SCALE, XS_SIN, XS_COS };
			x87_set(s, X_SHAPE + k[rm], 0, 0);
			return true;
		}
		}
	case 0xda:
		if (reg < 4) {
			st_op(s, 1, rm);
			x87_set(s, X_FCMOV, reg, 0);
			return true;
		}
		if (reg == 5 && rm == 1) {
			x87_set(s, X_UCOM, XM_REG, XF_POP2);
			return true;
		}
		return false;
	case 0xdb:
		if (reg < 4) {
			st_op(s, 1, rm);
			x87_set(s, X_FCMOV, 4 | reg, 0);
			return true;
		}
		if (reg == 4) {
			if (rm == 2)
				x87_set(s, X_FNCLEX, 0, XF_NOWAIT);
			else if (rm == 3)
				x87_set(s, X_FNINIT, 0, XF_NOWAIT);
			else if (rm == 0 || rm == 1 || rm == 4)
				x87_set(s, X_FNOP, 0, XF_NOWAIT); /* FENI, FDISI, FSETPM: no-ops */
			else
				return false;
			return true;
		}
		if (reg == 5 || reg == 6) {
			st_op(s, 0, rm);
			x87_set(s, reg == 5 ? X_UCOMI : X_COMI, XM_REG, 0);
			return true;
		}
		return false;
	case 0xdd:
		st_op(s, 0, rm);
		switch (reg) {
		case 0: x87_set(s, X_FFREE, 0, 0); return true;
		case 1: x87_set(s, X_FXCH, 0, 0); return true;
		case 2: x87_set(s, X_ST, XM_REG, 0); return true;
		case 3: x87_set(s, X_ST, XM_REG, XF_POP); return true;
		case 4: x87_set(s, X_UCOM, XM_REG, 0); return true;
		case 5: x87_set(s, X_UCOM, XM_REG, XF_POP); return true;
		default: return false;
		}
	default: /* 0xdf */
		st_op(s, 0, rm);
		switch (reg) {
		case 0: x87_set(s, X_FFREE, 0, XF_POP); return true;
		case 1: x87_set(s, X_FXCH, 0, 0); return true;
		case 2: case 3: x87_set(s, X_ST, XM_REG, XF_POP); return true; /* FSTP8, FSTP9 */
		case 4:
			if (rm)
				return false;
			s->o[0] = (struct sop){ .kind = OPK_REG, .size = 2, .reg = R_RAX };
			x87_set(s, X_FNSTSW, 0, XF_NOWAIT);
			return true;
		case 5: x87_set(s, X_UCOMI, XM_REG, XF_POP); return true;
		case 6: x87_set(s, X_COMI, XM_REG, XF_POP); return true;
		default: return false;
		}
	}
}

static bool soft_lower_x87(const ZydisDecodedInstruction *zi, struct sinsn *s)
{
	unsigned opc = zi->opcode;
	if (zi->opcode_map != ZYDIS_OPCODE_MAP_DEFAULT || opc < 0xd8 || opc > 0xdf ||
	    !(zi->attributes & ZYDIS_ATTRIB_HAS_MODRM))
		return false;
	unsigned mod = zi->raw.modrm.mod, reg = zi->raw.modrm.reg, rm = zi->raw.modrm.rm;
	if (mod != 3) {
		s->nops = 1;
		s->o[0] = (struct sop){ .kind = OPK_MEM };
		return x87_mem(opc, reg, s);
	}
	return x87_reg(opc, reg, rm, s);
}
