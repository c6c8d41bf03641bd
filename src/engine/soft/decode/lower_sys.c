/* Lowering of the system instructions (ops_sys.h): privileged state, segment registers,
 * far transfers, interrupts, fast system calls, port I/O. Called by soft_lower() before
 * the generic operand lowering, because several of these carry operands it does not
 * know (control, debug and segment registers, far pointers). Every one ends its block:
 * most can change how the following code decodes or translates. */
#include <string.h>

#include "engine/soft/decode/lower.h"
#include "engine/soft/interp/ops.h"
#include "engine/soft/sys/ops_sys.h"

static void set(struct sinsn *s, soft_fn fn, unsigned op)
{
	s->kind = K_SYS;
	s->fn = fn;
	s->op = (uint8_t)op;
}

/* Lower the one explicit operand other than `skip` (a special register) as o[0]. */
static bool lower_other(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                        unsigned skip, struct sinsn *s)
{
	ZydisDecodedInstruction z = *zi;
	ZydisDecodedOperand o[1];
	unsigned n = 0;
	for (unsigned k = 0; k < zi->operand_count_visible && n < 1; k++)
		if (k != skip)
			o[n++] = zo[k];
	z.operand_count_visible = (ZyanU8)n;
	return soft_lower_operands(&z, o, s);
}

static ZydisRegisterClass reg_class(const ZydisDecodedOperand *o)
{
	return o->type == ZYDIS_OPERAND_TYPE_REGISTER ? ZydisRegisterGetClass(o->reg.value)
	                                               : ZYDIS_REGCLASS_INVALID;
}

static bool lower_mov_special(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                              struct sinsn *s)
{
	for (unsigned k = 0; k < 2 && k < zi->operand_count_visible; k++) {
		ZydisRegisterClass cls = reg_class(&zo[k]);
		ZydisRegister r = zo[k].reg.value;
		if (cls == ZYDIS_REGCLASS_CONTROL) {
			set(s, h_mov_cr, k == 0);
			s->imm2 = (uint16_t)(r - ZYDIS_REGISTER_CR0);
		} else if (cls == ZYDIS_REGCLASS_DEBUG) {
			set(s, h_mov_dr, k == 0);
			s->imm2 = (uint16_t)(r - ZYDIS_REGISTER_DR0);
		} else if (cls == ZYDIS_REGCLASS_SEGMENT) {
			set(s, k == 0 ? h_mov_to_sreg : h_mov_from_sreg, 0);
			s->imm2 = (uint16_t)(r - ZYDIS_REGISTER_ES);
		} else {
			continue;
		}
		return lower_other(zi, zo, k, s);
	}
	return false;
}

static uint8_t seg_index(ZydisRegister r)
{
	return r >= ZYDIS_REGISTER_ES && r <= ZYDIS_REGISTER_GS ? (uint8_t)(r - ZYDIS_REGISTER_ES) : S_DS;
}

static bool lower_io(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                     struct sinsn *s, unsigned op)
{
	set(s, h_io, op);
	if (op == IO_IN || op == IO_OUT) {
		const ZydisDecodedOperand *port = &zo[op == IO_IN ? 1 : 0];
		const ZydisDecodedOperand *acc = &zo[op == IO_IN ? 0 : 1];
		s->opsz = (uint8_t)(acc->size / 8);
		if (port->type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
			s->imm = port->imm.value.u & 0xff;
		else
			s->imm2 = 1;
		return true;
	}
	s->imm2 = 1;
	s->opsz = (uint8_t)(zi->operand_width / 8);
	for (unsigned k = 0; k < zi->operand_count; k++)
		if (zo[k].type == ZYDIS_OPERAND_TYPE_MEMORY && op == IO_OUTS)
			s->seg = seg_index(zo[k].mem.segment);
	s->rep = (zi->attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE)) ? 1 : 0;
	return true;
}

static bool misc(struct sinsn *s, unsigned op)
{
	set(s, h_sysmisc, op);
	return true;
}

static bool misc_ops(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                     struct sinsn *s, unsigned op)
{
	set(s, h_sysmisc, op);
	return soft_lower_operands(zi, zo, s);
}

static bool lower_one(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                      struct sinsn *s)
{
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_MOV:
		return lower_mov_special(zi, zo, s);
	case ZYDIS_MNEMONIC_PUSH:
	case ZYDIS_MNEMONIC_POP:
		if (reg_class(&zo[0]) != ZYDIS_REGCLASS_SEGMENT)
			return false;
		set(s, zi->mnemonic == ZYDIS_MNEMONIC_PUSH ? h_push_sreg : h_pop_sreg, 0);
		s->imm2 = seg_index(zo[0].reg.value);
		return true;
	case ZYDIS_MNEMONIC_LDS: s->imm2 = S_DS; goto lxs;
	case ZYDIS_MNEMONIC_LES: s->imm2 = S_ES; goto lxs;
	case ZYDIS_MNEMONIC_LFS: s->imm2 = S_FS; goto lxs;
	case ZYDIS_MNEMONIC_LGS: s->imm2 = S_GS; goto lxs;
	case ZYDIS_MNEMONIC_LSS: s->imm2 = S_SS;
	lxs:
		set(s, h_lxs, 0);
		if (!soft_lower_operands(zi, zo, s) || s->o[0].kind != OPK_REG || s->o[1].kind != OPK_MEM)
			set(s, h_ud, 0);
		return true;
	case ZYDIS_MNEMONIC_JMP:
	case ZYDIS_MNEMONIC_CALL:
		if (zi->meta.branch_type != ZYDIS_BRANCH_TYPE_FAR)
			return false;
		set(s, h_far, zi->mnemonic == ZYDIS_MNEMONIC_JMP ? FAR_JMP : FAR_CALL);
		if (zo[0].type == ZYDIS_OPERAND_TYPE_POINTER) {
			s->nops = 0;
			s->imm = zo[0].ptr.offset;
			s->imm2 = zo[0].ptr.segment;
			return true;
		}
		if (!soft_lower_operands(zi, zo, s) || s->o[0].kind != OPK_MEM)
			set(s, h_ud, 0);
		return true;
	case ZYDIS_MNEMONIC_RET:
		if (zi->opcode_map != ZYDIS_OPCODE_MAP_DEFAULT || (zi->opcode != 0xca && zi->opcode != 0xcb))
			return false;
		set(s, h_far, FAR_RET);
		if (zi->opcode == 0xca)
			s->imm = zo[0].imm.value.u & 0xffff;
		return true;
	case ZYDIS_MNEMONIC_IRET:
	case ZYDIS_MNEMONIC_IRETD:
	case ZYDIS_MNEMONIC_IRETQ:
		set(s, h_iret, 0);
		return true;
	case ZYDIS_MNEMONIC_INT:
		set(s, h_int, INT_N);
		s->imm = zo[0].imm.value.u & 0xff;
		return true;
	case ZYDIS_MNEMONIC_INTO: set(s, h_int, INT_O); return true;
	case ZYDIS_MNEMONIC_INT1: set(s, h_int, INT_1); return true;
	case ZYDIS_MNEMONIC_IN: return lower_io(zi, zo, s, IO_IN);
	case ZYDIS_MNEMONIC_OUT: return lower_io(zi, zo, s, IO_OUT);
	case ZYDIS_MNEMONIC_INSB: case ZYDIS_MNEMONIC_INSW: case ZYDIS_MNEMONIC_INSD:
		return lower_io(zi, zo, s, IO_INS);
	case ZYDIS_MNEMONIC_OUTSB: case ZYDIS_MNEMONIC_OUTSW: case ZYDIS_MNEMONIC_OUTSD:
		return lower_io(zi, zo, s, IO_OUTS);
	case ZYDIS_MNEMONIC_LGDT: set(s, h_dtable, DT_LGDT); return soft_lower_operands(zi, zo, s);
	case ZYDIS_MNEMONIC_LIDT: set(s, h_dtable, DT_LIDT); return soft_lower_operands(zi, zo, s);
	case ZYDIS_MNEMONIC_SGDT: set(s, h_dtable, DT_SGDT); return soft_lower_operands(zi, zo, s);
	case ZYDIS_MNEMONIC_SIDT: set(s, h_dtable, DT_SIDT); return soft_lower_operands(zi, zo, s);
	case ZYDIS_MNEMONIC_HLT: return misc(s, SM_HLT);
	case ZYDIS_MNEMONIC_CLI: return misc(s, SM_CLI);
	case ZYDIS_MNEMONIC_STI: return misc(s, SM_STI);
	case ZYDIS_MNEMONIC_CPUID: return misc(s, SM_CPUID);
	case ZYDIS_MNEMONIC_RDTSC: return misc(s, SM_RDTSC);
	case ZYDIS_MNEMONIC_RDTSCP: return misc(s, SM_RDTSCP);
	case ZYDIS_MNEMONIC_RDMSR: return misc(s, SM_RDMSR);
	case ZYDIS_MNEMONIC_WRMSR: return misc(s, SM_WRMSR);
	case ZYDIS_MNEMONIC_CLTS: return misc(s, SM_CLTS);
	case ZYDIS_MNEMONIC_INVLPG: return misc_ops(zi, zo, s, SM_INVLPG);
	case ZYDIS_MNEMONIC_WBINVD:
	case ZYDIS_MNEMONIC_INVD: return misc(s, SM_WBINVD);
	case ZYDIS_MNEMONIC_CLFLUSH:
	case ZYDIS_MNEMONIC_PREFETCH: case ZYDIS_MNEMONIC_PREFETCHW:
	case ZYDIS_MNEMONIC_PREFETCHNTA: case ZYDIS_MNEMONIC_PREFETCHT0:
	case ZYDIS_MNEMONIC_PREFETCHT1: case ZYDIS_MNEMONIC_PREFETCHT2:
		return misc(s, SM_NOP);
	case ZYDIS_MNEMONIC_SWAPGS: return misc(s, SM_SWAPGS);
	case ZYDIS_MNEMONIC_LMSW: return misc_ops(zi, zo, s, SM_LMSW);
	case ZYDIS_MNEMONIC_SMSW: return misc_ops(zi, zo, s, SM_SMSW);
	case ZYDIS_MNEMONIC_LLDT: return misc_ops(zi, zo, s, SM_LLDT);
	case ZYDIS_MNEMONIC_LTR: return misc_ops(zi, zo, s, SM_LTR);
	case ZYDIS_MNEMONIC_SLDT: return misc_ops(zi, zo, s, SM_SLDT);
	case ZYDIS_MNEMONIC_STR: return misc_ops(zi, zo, s, SM_STR);
	case ZYDIS_MNEMONIC_LAR: return misc_ops(zi, zo, s, SM_LAR);
	case ZYDIS_MNEMONIC_LSL: return misc_ops(zi, zo, s, SM_LSL);
	case ZYDIS_MNEMONIC_VERR: return misc_ops(zi, zo, s, SM_VERR);
	case ZYDIS_MNEMONIC_VERW: return misc_ops(zi, zo, s, SM_VERW);
	case ZYDIS_MNEMONIC_PUSHA: case ZYDIS_MNEMONIC_PUSHAD: return misc(s, SM_PUSHA);
	case ZYDIS_MNEMONIC_POPA: case ZYDIS_MNEMONIC_POPAD: return misc(s, SM_POPA);
	case ZYDIS_MNEMONIC_VMCALL: case ZYDIS_MNEMONIC_VMMCALL: return misc(s, SM_HYPERCALL);
	/* Mnemonics of the 16/32-bit forms of instructions the generic path knows. */
	case ZYDIS_MNEMONIC_PUSHFD: set(s, h_pushf, 0); return true;
	case ZYDIS_MNEMONIC_POPFD: set(s, h_popf, 0); return true;
	case ZYDIS_MNEMONIC_JCXZ:
		set(s, h_loop, LOOP_JRCXZ);
		return soft_lower_operands(zi, zo, s);
	case ZYDIS_MNEMONIC_SYSCALL: set(s, h_fastsys, FS_SYSCALL); return true;
	case ZYDIS_MNEMONIC_SYSRET: set(s, h_fastsys, FS_SYSRET); return true;
	case ZYDIS_MNEMONIC_SYSENTER: set(s, h_fastsys, FS_SYSENTER); return true;
	case ZYDIS_MNEMONIC_SYSEXIT: set(s, h_fastsys, FS_SYSEXIT); return true;
	default:
		return false;
	}
}

bool soft_lower_sys(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                    struct sinsn *s, bool *ends_block)
{
	struct sinsn save = *s;
	if (!lower_one(zi, zo, s)) {
		*s = save; /* not ours: the generic path continues from the same state */
		return false;
	}
	if (!s->fn)
		s->fn = h_ud;
	s->kind = K_SYS;
	*ends_block = true;
	return true;
}
