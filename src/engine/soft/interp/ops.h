/* Instruction handlers (one per instruction family) and their sub-operation codes
 * (struct sinsn.op). lower.c maps Zydis mnemonics onto these. */
#ifndef TRIVISOR_SOFT_OPS_H
#define TRIVISOR_SOFT_OPS_H

#include "engine/soft/cpu.h"

/* h_alu: the x86 /digit order of group 1, plus TEST. */
enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP, ALU_TEST };
/* h_unary */
enum { UN_INC, UN_DEC, UN_NOT, UN_NEG };
/* h_shift: the /digit order of group 2 (SAL = SHL). */
enum { SH_ROL, SH_ROR, SH_RCL, SH_RCR, SH_SHL, SH_SHR, SH_SAL, SH_SAR };
/* h_muldiv */
enum { MD_MUL, MD_IMUL, MD_DIV, MD_IDIV };
/* h_bt */
enum { BT_BT, BT_BTS, BT_BTR, BT_BTC };
/* h_bitscan */
enum { BS_BSF, BS_BSR, BS_TZCNT, BS_LZCNT, BS_POPCNT };
/* h_flagop */
enum { FO_CLC, FO_STC, FO_CMC, FO_CLD, FO_STD };
/* h_string */
enum { STR_MOVS, STR_STOS, STR_LODS, STR_CMPS, STR_SCAS };
/* h_loop */
enum { LOOP_LOOP, LOOP_LOOPE, LOOP_LOOPNE, LOOP_JRCXZ };
/* sinsn.rep */
enum { REP_NONE, REP_E, REP_NE };

/* ops_alu.c */
int h_alu(struct soft_cpu *c, const struct sinsn *i);
int h_unary(struct soft_cpu *c, const struct sinsn *i);
int h_add_r(struct soft_cpu *c, const struct sinsn *i);  /* register/immediate-only forms */
int h_sub_r(struct soft_cpu *c, const struct sinsn *i);
int h_cmp_r(struct soft_cpu *c, const struct sinsn *i);
int h_and_r(struct soft_cpu *c, const struct sinsn *i);
int h_or_r(struct soft_cpu *c, const struct sinsn *i);
int h_xor_r(struct soft_cpu *c, const struct sinsn *i);
int h_test_r(struct soft_cpu *c, const struct sinsn *i);
int h_shift(struct soft_cpu *c, const struct sinsn *i);
int h_shd(struct soft_cpu *c, const struct sinsn *i);   /* op 0 SHLD, 1 SHRD */
int h_muldiv(struct soft_cpu *c, const struct sinsn *i);
int h_imul(struct soft_cpu *c, const struct sinsn *i);  /* 2- and 3-operand forms */
/* ops_bit.c */
int h_bt(struct soft_cpu *c, const struct sinsn *i);
int h_bitscan(struct soft_cpu *c, const struct sinsn *i);
int h_setcc(struct soft_cpu *c, const struct sinsn *i);
int h_cmovcc(struct soft_cpu *c, const struct sinsn *i);
int h_bswap(struct soft_cpu *c, const struct sinsn *i);
/* ops_move.c */
int h_mov(struct soft_cpu *c, const struct sinsn *i);
int h_movzx(struct soft_cpu *c, const struct sinsn *i);
int h_movsx(struct soft_cpu *c, const struct sinsn *i);
int h_lea(struct soft_cpu *c, const struct sinsn *i);
int h_xchg(struct soft_cpu *c, const struct sinsn *i);
int h_xadd(struct soft_cpu *c, const struct sinsn *i);
int h_cmpxchg(struct soft_cpu *c, const struct sinsn *i);
int h_cmpxchg8b(struct soft_cpu *c, const struct sinsn *i); /* and 16B */
int h_cbw(struct soft_cpu *c, const struct sinsn *i);   /* CBW/CWDE/CDQE */
int h_cwd(struct soft_cpu *c, const struct sinsn *i);   /* CWD/CDQ/CQO */
int h_flagop(struct soft_cpu *c, const struct sinsn *i);
int h_lahf(struct soft_cpu *c, const struct sinsn *i);
int h_sahf(struct soft_cpu *c, const struct sinsn *i);
int h_xlat(struct soft_cpu *c, const struct sinsn *i);
int h_nop(struct soft_cpu *c, const struct sinsn *i);
/* ops_ctrl.c */
int h_jmp(struct soft_cpu *c, const struct sinsn *i);
int h_jcc(struct soft_cpu *c, const struct sinsn *i);
int h_loop(struct soft_cpu *c, const struct sinsn *i);
int h_call(struct soft_cpu *c, const struct sinsn *i);
int h_ret(struct soft_cpu *c, const struct sinsn *i);
int h_push(struct soft_cpu *c, const struct sinsn *i);
int h_pop(struct soft_cpu *c, const struct sinsn *i);
int h_pushf(struct soft_cpu *c, const struct sinsn *i);
int h_popf(struct soft_cpu *c, const struct sinsn *i);
int h_leave(struct soft_cpu *c, const struct sinsn *i);
int h_enter(struct soft_cpu *c, const struct sinsn *i);
int h_int3(struct soft_cpu *c, const struct sinsn *i);
int h_ud(struct soft_cpu *c, const struct sinsn *i);
int h_too_long(struct soft_cpu *c, const struct sinsn *i);
/* ops_legacy.c (16/32-bit code only) */
int h_daa(struct soft_cpu *c, const struct sinsn *i);   /* op 0 DAA, 1 DAS */
int h_aaa(struct soft_cpu *c, const struct sinsn *i);   /* op 0 AAA, 1 AAS */
int h_aam(struct soft_cpu *c, const struct sinsn *i);   /* op 0 AAM, 1 AAD; imm = base */
int h_bound(struct soft_cpu *c, const struct sinsn *i);
int h_arpl(struct soft_cpu *c, const struct sinsn *i);
/* ops_string.c */
int h_string(struct soft_cpu *c, const struct sinsn *i);

#endif
