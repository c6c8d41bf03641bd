/* Lowering: one Zydis-decoded instruction -> the compact pre-decoded form (struct sinsn)
 * with its handler. Anything not listed here becomes #UD (counted in stats.ud). */
#include <string.h>

#include "core/cpu_state.h"
#include "engine/soft/decode/lower.h"
#include "engine/soft/decode/lower_fp.h"
#include "engine/soft/mmu/mem.h"
#include "engine/soft/interp/ops.h"
#include "engine/soft/sys/ops_sys.h"

bool soft_lower_gpr(ZydisRegister r, uint8_t *out, uint8_t *size)
{
	if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BL) {
		*out = (uint8_t)(r - ZYDIS_REGISTER_AL);
		*size = 1;
	} else if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH) {
		*out = (uint8_t)(SREG_AH + (r - ZYDIS_REGISTER_AH));
		*size = 1;
	} else if (r >= ZYDIS_REGISTER_SPL && r <= ZYDIS_REGISTER_R15B) {
		*out = (uint8_t)(4 + (r - ZYDIS_REGISTER_SPL));
		*size = 1;
	} else if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_R15W) {
		*out = (uint8_t)(r - ZYDIS_REGISTER_AX);
		*size = 2;
	} else if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_R15D) {
		*out = (uint8_t)(r - ZYDIS_REGISTER_EAX);
		*size = 4;
	} else if (r >= ZYDIS_REGISTER_RAX && r <= ZYDIS_REGISTER_R15) {
		*out = (uint8_t)(r - ZYDIS_REGISTER_RAX);
		*size = 8;
	} else {
		return false;
	}
	return true;
}

bool soft_lower_addr_reg(ZydisRegister r, uint8_t *out)
{
	uint8_t size;
	if (r == ZYDIS_REGISTER_NONE) {
		*out = SREG_NONE;
		return true;
	}
	if (r == ZYDIS_REGISTER_RIP || r == ZYDIS_REGISTER_EIP) {
		*out = SREG_RIP;
		return true;
	}
	return soft_lower_gpr(r, out, &size) && size >= 2;
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

/* Explicit operands -> s->o[]. False if one is not a GPR, memory or immediate. */
static bool lower_operands(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                           struct sinsn *s)
{
	unsigned nimm = 0;
	s->nops = zi->operand_count_visible > 3 ? 3 : zi->operand_count_visible;
	for (unsigned k = 0; k < s->nops; k++) {
		const ZydisDecodedOperand *o = &zo[k];
		struct sop *d = &s->o[k];
		switch (o->type) {
		case ZYDIS_OPERAND_TYPE_REGISTER:
			d->kind = OPK_REG;
			if (!soft_lower_gpr(o->reg.value, &d->reg, &d->size))
				return false;
			break;
		case ZYDIS_OPERAND_TYPE_MEMORY:
			d->kind = OPK_MEM;
			d->size = (uint8_t)(o->size / 8);
			if (!soft_lower_addr_reg(o->mem.base, &s->base) || !soft_lower_addr_reg(o->mem.index, &s->index))
				return false;
			s->scale = (uint8_t)(o->mem.scale == 8 ? 3 : o->mem.scale == 4 ? 2 :
			                     o->mem.scale == 2 ? 1 : 0);
			s->disp = o->mem.disp.has_displacement ? o->mem.disp.value : 0;
			s->seg = seg_of(o->mem.segment);
			break;
		case ZYDIS_OPERAND_TYPE_IMMEDIATE:
			d->kind = OPK_IMM;
			d->size = s->opsz ? s->opsz : 8;
			if (nimm++ == 0)
				s->imm = o->imm.is_signed ? (uint64_t)o->imm.value.s : o->imm.value.u;
			else
				s->imm2 = (uint16_t)o->imm.value.u;
			break;
		default:
			return false;
		}
	}
	return true;
}

bool soft_lower_operands(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                         struct sinsn *s)
{
	return lower_operands(zi, zo, s);
}

void soft_zydis_fixup(const ZydisDecodedInstruction *zi, ZydisDecodedOperand *zo)
{
	/* Zydis 4.0 decodes a 32-bit address with SIB.base = 101b, ModRM.mod = 00 and REX.B
	 * as [r13d + ...] without the displacement; the CPU uses no base and a disp32
	 * (SDM vol. 2, table 2-3 and 2.2.1.2). */
	if (zi->address_width != 32 || !(zi->attributes & ZYDIS_ATTRIB_HAS_SIB) ||
	    zi->raw.modrm.mod != 0 || zi->raw.sib.base != 5)
		return;
	for (unsigned k = 0; k < zi->operand_count; k++) {
		if (zo[k].type != ZYDIS_OPERAND_TYPE_MEMORY || zo[k].mem.base == ZYDIS_REGISTER_NONE)
			continue;
		zo[k].mem.base = ZYDIS_REGISTER_NONE;
		zo[k].mem.disp.has_displacement = true;
		zo[k].mem.disp.value = (int32_t)zi->raw.disp.value;
	}
}

/* Locked forms (soft_locked, mem.c): the LOCK prefix, and XCHG with a memory operand,
 * which is locked without it. */
#define LOCKED(h) \
	static int h##_locked(struct soft_cpu *c, const struct sinsn *i) { return soft_locked(c, i, h); }
LOCKED(h_alu)
LOCKED(h_unary)
LOCKED(h_bt)
LOCKED(h_xchg)
LOCKED(h_xadd)
LOCKED(h_cmpxchg)
LOCKED(h_cmpxchg8b)

static soft_fn locked(soft_fn fn)
{
	static const soft_fn map[][2] = {
		{ h_alu, h_alu_locked }, { h_unary, h_unary_locked }, { h_bt, h_bt_locked },
		{ h_xchg, h_xchg_locked }, { h_xadd, h_xadd_locked }, { h_cmpxchg, h_cmpxchg_locked },
		{ h_cmpxchg8b, h_cmpxchg8b_locked },
	};
	for (unsigned k = 0; k < sizeof(map) / sizeof(map[0]); k++)
		if (map[k][0] == fn)
			return map[k][1];
	return h_ud;   /* LOCK on an instruction that cannot take it */
}

static void set(struct sinsn *s, unsigned kind, soft_fn fn, unsigned op)
{
	s->kind = (uint8_t)kind;
	s->fn = fn;
	s->op = (uint8_t)op;
}

bool soft_lower(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                struct sinsn *s, bool *ends_block)
{
	memset(s, 0, sizeof(*s));
	s->len = zi->length;
	s->opsz = (uint8_t)(zi->operand_width / 8);
	s->adsz = (uint8_t)(zi->address_width / 8);
	s->base = s->index = SREG_NONE;
	s->seg = S_DS;
	s->fn = h_ud;
	s->kind = K_UD;
	*ends_block = false;

	/* String instructions by opcode (MOVSD/CMPSD are also SSE mnemonics). */
	if (zi->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && zi->opcode >= 0xa4 && zi->opcode <= 0xaf &&
	    zi->opcode != 0xa8 && zi->opcode != 0xa9) {
		static const uint8_t kind[] = { STR_MOVS, STR_MOVS, STR_CMPS, STR_CMPS, 0, 0,
		                                STR_STOS, STR_STOS, STR_LODS, STR_LODS, STR_SCAS, STR_SCAS };
		unsigned k = kind[zi->opcode - 0xa4];
		set(s, K_OTHER, h_string, k);
		for (unsigned j = 0; j < zi->operand_count; j++)
			if (zo[j].type == ZYDIS_OPERAND_TYPE_MEMORY &&
			    (zo[j].mem.base == ZYDIS_REGISTER_RSI || zo[j].mem.base == ZYDIS_REGISTER_ESI))
				s->seg = seg_of(zo[j].mem.segment);
		bool rep = zi->attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE);
		if (k == STR_CMPS || k == STR_SCAS)
			s->rep = (zi->attributes & ZYDIS_ATTRIB_HAS_REPNE) ? REP_NE : rep ? REP_E : REP_NONE;
		else
			s->rep = rep ? REP_E : REP_NONE;
		return true;
	}

	/* F3 REX.B 90: neither manual says whether it is PAUSE (F3 90) or XCHG r8, rAX
	 * (REX.B 90). Zydis 4.0 decodes PAUSE, as Intel parts run it; AMD parts exchange
	 * (REX.B wins), and so does the soft CPU (the difftest accepts Intel's PAUSE). */
	if (zi->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && zi->opcode == 0x90 && zi->raw.rex.B) {
		uint8_t sz = zi->raw.rex.W ? 8 : (zi->attributes & ZYDIS_ATTRIB_HAS_OPERANDSIZE) ? 2 : 4;
		s->opsz = sz;
		s->nops = 2;
		s->o[0] = (struct sop){ .kind = OPK_REG, .size = sz, .reg = R_R8 };
		s->o[1] = (struct sop){ .kind = OPK_REG, .size = sz, .reg = R_RAX };
		set(s, K_OTHER, h_xchg, 0);
		return true;
	}

	if (zi->mnemonic == ZYDIS_MNEMONIC_XLAT) {
		set(s, K_OTHER, h_xlat, 0);
		for (unsigned j = 0; j < zi->operand_count; j++)
			if (zo[j].type == ZYDIS_OPERAND_TYPE_MEMORY)
				s->seg = seg_of(zo[j].mem.segment);
		return true;
	}

	int fp = soft_lower_fp(zi, zo, s, ends_block); /* x87, MMX, SSE* */
	if (fp >= 0)
		return fp;

	if (soft_lower_sys(zi, zo, s, ends_block)) /* system instructions (lower_sys.c) */
		return true;

	if (!lower_operands(zi, zo, s)) {
		*ends_block = true;
		return false;
	}
	unsigned cc = zi->opcode & 0xf;
	bool long64 = zi->machine_mode == ZYDIS_MACHINE_MODE_LONG_64;

	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_ADD: set(s, K_ALU, h_alu, ALU_ADD); break;
	case ZYDIS_MNEMONIC_OR: set(s, K_ALU, h_alu, ALU_OR); break;
	case ZYDIS_MNEMONIC_ADC: set(s, K_ALU, h_alu, ALU_ADC); break;
	case ZYDIS_MNEMONIC_SBB: set(s, K_ALU, h_alu, ALU_SBB); break;
	case ZYDIS_MNEMONIC_AND: set(s, K_ALU, h_alu, ALU_AND); break;
	case ZYDIS_MNEMONIC_SUB: set(s, K_ALU, h_alu, ALU_SUB); break;
	case ZYDIS_MNEMONIC_XOR: set(s, K_ALU, h_alu, ALU_XOR); break;
	case ZYDIS_MNEMONIC_CMP: set(s, K_ALU, h_alu, ALU_CMP); break;
	case ZYDIS_MNEMONIC_TEST: set(s, K_ALU, h_alu, ALU_TEST); break;
	case ZYDIS_MNEMONIC_INC: set(s, K_UNARY, h_unary, UN_INC); break;
	case ZYDIS_MNEMONIC_DEC: set(s, K_UNARY, h_unary, UN_DEC); break;
	case ZYDIS_MNEMONIC_NOT: set(s, K_UNARY, h_unary, UN_NOT); break;
	case ZYDIS_MNEMONIC_NEG: set(s, K_UNARY, h_unary, UN_NEG); break;
	case ZYDIS_MNEMONIC_ROL: set(s, K_SHIFT, h_shift, SH_ROL); break;
	case ZYDIS_MNEMONIC_ROR: set(s, K_SHIFT, h_shift, SH_ROR); break;
	case ZYDIS_MNEMONIC_RCL: set(s, K_SHIFT, h_shift, SH_RCL); break;
	case ZYDIS_MNEMONIC_RCR: set(s, K_SHIFT, h_shift, SH_RCR); break;
	case ZYDIS_MNEMONIC_SHL: set(s, K_SHIFT, h_shift, SH_SHL); break;
	case ZYDIS_MNEMONIC_SHR: set(s, K_SHIFT, h_shift, SH_SHR); break;
	case ZYDIS_MNEMONIC_SAR: set(s, K_SHIFT, h_shift, SH_SAR); break;
	case ZYDIS_MNEMONIC_SHLD: set(s, K_OTHER, h_shd, 0); break;
	case ZYDIS_MNEMONIC_SHRD: set(s, K_OTHER, h_shd, 1); break;
	case ZYDIS_MNEMONIC_MUL: set(s, K_OTHER, h_muldiv, MD_MUL); break;
	case ZYDIS_MNEMONIC_DIV: set(s, K_OTHER, h_muldiv, MD_DIV); break;
	case ZYDIS_MNEMONIC_IDIV: set(s, K_OTHER, h_muldiv, MD_IDIV); break;
	case ZYDIS_MNEMONIC_IMUL:
		if (s->nops == 1)
			set(s, K_OTHER, h_muldiv, MD_IMUL);
		else
			set(s, K_IMUL, h_imul, 0);
		break;
	case ZYDIS_MNEMONIC_BT: set(s, K_OTHER, h_bt, BT_BT); break;
	case ZYDIS_MNEMONIC_BTS: set(s, K_OTHER, h_bt, BT_BTS); break;
	case ZYDIS_MNEMONIC_BTR: set(s, K_OTHER, h_bt, BT_BTR); break;
	case ZYDIS_MNEMONIC_BTC: set(s, K_OTHER, h_bt, BT_BTC); break;
	case ZYDIS_MNEMONIC_BSF: set(s, K_OTHER, h_bitscan, BS_BSF); break;
	case ZYDIS_MNEMONIC_BSR: set(s, K_OTHER, h_bitscan, BS_BSR); break;
	case ZYDIS_MNEMONIC_TZCNT: set(s, K_OTHER, h_bitscan, BS_TZCNT); break;
	case ZYDIS_MNEMONIC_LZCNT: set(s, K_OTHER, h_bitscan, BS_LZCNT); break;
	case ZYDIS_MNEMONIC_POPCNT: set(s, K_OTHER, h_bitscan, BS_POPCNT); break;
	case ZYDIS_MNEMONIC_BSWAP: set(s, K_OTHER, h_bswap, 0); break;
	case ZYDIS_MNEMONIC_MOV: set(s, K_MOV, h_mov, 0); break;
	case ZYDIS_MNEMONIC_MOVZX: set(s, K_MOVZX, h_movzx, 0); break;
	case ZYDIS_MNEMONIC_MOVSX: set(s, K_MOVSX, h_movsx, 0); break;
	case ZYDIS_MNEMONIC_MOVSXD:
		/* 66 63 /r is MOVSXD r16, r/m16 (SDM vol. 2B): it reads a word, where Zydis
		 * gives the source as a dword, and so must not fault on the two bytes after. */
		if (s->opsz == 2)
			s->o[1].size = 2;
		set(s, K_MOVSX, h_movsx, 0);
		break;
	case ZYDIS_MNEMONIC_LEA: set(s, K_LEA, h_lea, 0); break;
	case ZYDIS_MNEMONIC_XCHG: set(s, K_OTHER, h_xchg, 0); break;
	case ZYDIS_MNEMONIC_XADD: set(s, K_OTHER, h_xadd, 0); break;
	case ZYDIS_MNEMONIC_CMPXCHG: set(s, K_OTHER, h_cmpxchg, 0); break;
	case ZYDIS_MNEMONIC_CMPXCHG8B: s->opsz = 4; set(s, K_OTHER, h_cmpxchg8b, 0); break;
	case ZYDIS_MNEMONIC_CMPXCHG16B: s->opsz = 8; set(s, K_OTHER, h_cmpxchg8b, 0); break;
	case ZYDIS_MNEMONIC_CBW:
	case ZYDIS_MNEMONIC_CWDE:
	case ZYDIS_MNEMONIC_CDQE: set(s, K_OTHER, h_cbw, 0); break;
	case ZYDIS_MNEMONIC_CWD:
	case ZYDIS_MNEMONIC_CDQ:
	case ZYDIS_MNEMONIC_CQO: set(s, K_OTHER, h_cwd, 0); break;
	case ZYDIS_MNEMONIC_CLC: set(s, K_OTHER, h_flagop, FO_CLC); break;
	case ZYDIS_MNEMONIC_STC: set(s, K_OTHER, h_flagop, FO_STC); break;
	case ZYDIS_MNEMONIC_CMC: set(s, K_OTHER, h_flagop, FO_CMC); break;
	case ZYDIS_MNEMONIC_CLD: set(s, K_OTHER, h_flagop, FO_CLD); break;
	case ZYDIS_MNEMONIC_STD: set(s, K_OTHER, h_flagop, FO_STD); break;
	case ZYDIS_MNEMONIC_LAHF: set(s, K_OTHER, h_lahf, 0); break;
	case ZYDIS_MNEMONIC_SAHF: set(s, K_OTHER, h_sahf, 0); break;
	case ZYDIS_MNEMONIC_XLAT: set(s, K_OTHER, h_xlat, 0); break;
	case ZYDIS_MNEMONIC_NOP:
	case ZYDIS_MNEMONIC_PAUSE:
	case ZYDIS_MNEMONIC_ENDBR64: set(s, K_NOP, h_nop, 0); break;
	case ZYDIS_MNEMONIC_SETO: case ZYDIS_MNEMONIC_SETNO: case ZYDIS_MNEMONIC_SETB:
	case ZYDIS_MNEMONIC_SETNB: case ZYDIS_MNEMONIC_SETZ: case ZYDIS_MNEMONIC_SETNZ:
	case ZYDIS_MNEMONIC_SETBE: case ZYDIS_MNEMONIC_SETNBE: case ZYDIS_MNEMONIC_SETS:
	case ZYDIS_MNEMONIC_SETNS: case ZYDIS_MNEMONIC_SETP: case ZYDIS_MNEMONIC_SETNP:
	case ZYDIS_MNEMONIC_SETL: case ZYDIS_MNEMONIC_SETNL: case ZYDIS_MNEMONIC_SETLE:
	case ZYDIS_MNEMONIC_SETNLE:
		set(s, K_SETCC, h_setcc, cc);
		break;
	case ZYDIS_MNEMONIC_CMOVO: case ZYDIS_MNEMONIC_CMOVNO: case ZYDIS_MNEMONIC_CMOVB:
	case ZYDIS_MNEMONIC_CMOVNB: case ZYDIS_MNEMONIC_CMOVZ: case ZYDIS_MNEMONIC_CMOVNZ:
	case ZYDIS_MNEMONIC_CMOVBE: case ZYDIS_MNEMONIC_CMOVNBE: case ZYDIS_MNEMONIC_CMOVS:
	case ZYDIS_MNEMONIC_CMOVNS: case ZYDIS_MNEMONIC_CMOVP: case ZYDIS_MNEMONIC_CMOVNP:
	case ZYDIS_MNEMONIC_CMOVL: case ZYDIS_MNEMONIC_CMOVNL: case ZYDIS_MNEMONIC_CMOVLE:
	case ZYDIS_MNEMONIC_CMOVNLE:
		set(s, K_CMOVCC, h_cmovcc, cc);
		break;
	case ZYDIS_MNEMONIC_JO: case ZYDIS_MNEMONIC_JNO: case ZYDIS_MNEMONIC_JB:
	case ZYDIS_MNEMONIC_JNB: case ZYDIS_MNEMONIC_JZ: case ZYDIS_MNEMONIC_JNZ:
	case ZYDIS_MNEMONIC_JBE: case ZYDIS_MNEMONIC_JNBE: case ZYDIS_MNEMONIC_JS:
	case ZYDIS_MNEMONIC_JNS: case ZYDIS_MNEMONIC_JP: case ZYDIS_MNEMONIC_JNP:
	case ZYDIS_MNEMONIC_JL: case ZYDIS_MNEMONIC_JNL: case ZYDIS_MNEMONIC_JLE:
	case ZYDIS_MNEMONIC_JNLE:
		set(s, K_JCC, h_jcc, cc);
		*ends_block = true;
		break;
	case ZYDIS_MNEMONIC_JMP: set(s, K_JMP, h_jmp, 0); s->opsz = long64 ? 8 : s->opsz; *ends_block = true; break;
	case ZYDIS_MNEMONIC_CALL: set(s, K_CALL, h_call, 0); s->opsz = long64 ? 8 : s->opsz; *ends_block = true; break;
	case ZYDIS_MNEMONIC_RET: set(s, K_RET, h_ret, 0); *ends_block = true; break;
	case ZYDIS_MNEMONIC_LOOP: set(s, K_OTHER, h_loop, LOOP_LOOP); *ends_block = true; break;
	case ZYDIS_MNEMONIC_LOOPE: set(s, K_OTHER, h_loop, LOOP_LOOPE); *ends_block = true; break;
	case ZYDIS_MNEMONIC_LOOPNE: set(s, K_OTHER, h_loop, LOOP_LOOPNE); *ends_block = true; break;
	case ZYDIS_MNEMONIC_JRCXZ:
	case ZYDIS_MNEMONIC_JECXZ: set(s, K_OTHER, h_loop, LOOP_JRCXZ); *ends_block = true; break;
	case ZYDIS_MNEMONIC_PUSH: set(s, K_PUSH, h_push, 0); break;
	case ZYDIS_MNEMONIC_POP: set(s, K_POP, h_pop, 0); break;
	case ZYDIS_MNEMONIC_PUSHF:
	case ZYDIS_MNEMONIC_PUSHFQ: set(s, K_OTHER, h_pushf, 0); break;
	case ZYDIS_MNEMONIC_POPF:
	case ZYDIS_MNEMONIC_POPFQ: set(s, K_SYS, h_popf, 0); *ends_block = true; break;
	case ZYDIS_MNEMONIC_LEAVE: set(s, K_OTHER, h_leave, 0); break;
	case ZYDIS_MNEMONIC_ENTER: set(s, K_OTHER, h_enter, 0); break;
	case ZYDIS_MNEMONIC_INT3: set(s, K_SYS, h_int3, 0); *ends_block = true; break;
	case ZYDIS_MNEMONIC_DAA: set(s, K_OTHER, h_daa, 0); break;
	case ZYDIS_MNEMONIC_DAS: set(s, K_OTHER, h_daa, 1); break;
	case ZYDIS_MNEMONIC_AAA: set(s, K_OTHER, h_aaa, 0); break;
	case ZYDIS_MNEMONIC_AAS: set(s, K_OTHER, h_aaa, 1); break;
	case ZYDIS_MNEMONIC_AAM: set(s, K_OTHER, h_aam, 0); break;
	case ZYDIS_MNEMONIC_AAD: set(s, K_OTHER, h_aam, 1); break;
	case ZYDIS_MNEMONIC_BOUND:
		if (s->o[0].kind == OPK_REG && s->o[1].kind == OPK_MEM)
			set(s, K_OTHER, h_bound, 0);
		else
			set(s, K_UD, h_ud, 0);
		break;
	case ZYDIS_MNEMONIC_ARPL: set(s, K_OTHER, h_arpl, 0); break;
	default:
		*ends_block = true;
		return false;
	}
	if (s->kind == K_ALU && s->o[0].kind == OPK_REG && s->o[1].kind != OPK_MEM) {
		static const soft_fn fast[] = { [ALU_ADD] = h_add_r, [ALU_OR] = h_or_r,
		                                [ALU_AND] = h_and_r, [ALU_SUB] = h_sub_r,
		                                [ALU_XOR] = h_xor_r, [ALU_CMP] = h_cmp_r,
		                                [ALU_TEST] = h_test_r };
		if (fast[s->op])
			s->fn = fast[s->op];
	}
	bool mem = false;
	for (unsigned k = 0; k < s->nops; k++)
		mem |= s->o[k].kind == OPK_MEM;
	if ((zi->attributes & ZYDIS_ATTRIB_HAS_LOCK) || (s->fn == h_xchg && mem)) {
		s->fn = mem ? locked(s->fn) : h_ud;
		s->attr |= SI_LOCKED;
		if (s->fn == h_ud)
			s->kind = K_UD;
	}
	if (s->kind == K_SHIFT && s->nops == 1) { /* D0/D1 forms: an implied count of 1 */
		s->nops = 2;
		s->o[1] = (struct sop){ .kind = OPK_IMM, .size = 1 };
		s->imm = 1;
	}
	return true;
}

/* The arithmetic flags condition code cc reads (Jcc/SETcc/CMOVcc encoding order). */
static uint16_t cc_flags(unsigned cc)
{
	static const uint16_t f[8] = { FL_OF, FL_CF, FL_ZF, FL_CF | FL_ZF, FL_SF, FL_PF,
	                               FL_SF | FL_OF, FL_ZF | FL_SF | FL_OF };
	return f[(cc >> 1) & 7];
}

void soft_classify(struct sinsn *s, bool ends_block)
{
	bool mem = false;
	for (unsigned k = 0; k < s->nops; k++)
		mem |= s->o[k].kind == OPK_MEM;
	uint16_t r = FL_ARITH, w = 0;  /* what a handler might do: read all, write none */
	bool fault = true;
	switch (s->kind) {
	case K_ALU:
		r = s->op == ALU_ADC || s->op == ALU_SBB ? FL_CF : 0;
		w = FL_ARITH;
		fault = mem;
		break;
	case K_UNARY:
		r = 0;                                /* INC/DEC keep CF: not a read */
		w = s->op == UN_NOT ? 0 : s->op == UN_NEG ? FL_ARITH : FL_ARITH & ~FL_CF;
		fault = mem;
		break;
	case K_SHIFT: /* a count of 0 (after masking) leaves every flag as it was */
		if (s->o[1].kind == OPK_IMM && (s->imm & (s->opsz == 8 ? 63 : 31)) != 0) {
			if (s->op >= SH_SHL) {
				r = 0;
				w = FL_ARITH;
			} else if (s->op == SH_ROL || s->op == SH_ROR) {
				r = 0;                         /* the others are kept */
				w = FL_CF | FL_OF;
			}
		}
		fault = mem;
		break;
	case K_IMUL:
		r = 0;
		w = FL_ARITH;
		fault = mem;
		break;
	case K_MOV: case K_MOVZX: case K_MOVSX: case K_LEA: case K_NOP:
		r = 0;
		fault = mem;
		break;
	case K_SETCC: case K_CMOVCC:
		r = cc_flags(s->op);
		fault = mem;
		break;
	case K_JCC:
		r = cc_flags(s->op);
		break;                              /* #GP on a non-canonical target */
	case K_PUSH: case K_POP: case K_JMP: case K_CALL: case K_RET:
		r = 0;
		break;
	default:
		break;
	}
	s->fl_read = r;
	s->fl_write = w;
	s->attr = (uint8_t)((s->attr & SI_LOCKED) | (ends_block ? SI_ENDS : 0) |
	                    (s->kind == K_SYS ? SI_SYS : 0) | (fault ? SI_FAULT : 0));
}
