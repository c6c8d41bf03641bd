/* x87 instruction encoding in struct sinsn (lower_fp.c -> ops_x87.c).
 *   op:   X_* (what to do)
 *   imm:  bits 0-3 the operand form XM_*, bits 4-6 the arithmetic XA_*;
 *         FCMOV: bits 0-1 the flag (CF, ZF, CF|ZF, PF), bit 2 negated
 *   imm2: XF_* flags
 *   o[0], o[1]: OPK_ST (reg = i of ST(i)) or OPK_MEM */
#ifndef TRIVISOR_SOFT_X87_H
#define TRIVISOR_SOFT_X87_H

#include <stdint.h>

#include "engine/soft/fpu/fpu.h"

enum {
	X_ARITH, X_COM, X_UCOM, X_COMI, X_UCOMI, X_LD, X_ST, X_STT,
	X_LD1, X_LDL2T, X_LDL2E, X_LDPI, X_LDLG2, X_LDLN2, X_LDZ,
	X_FNSTSW, X_FNSTCW, X_FLDCW, X_FNCLEX, X_FNINIT, X_FNOP, X_FXCH, X_FFREE,
	X_FINCSTP, X_FDECSTP, X_FCMOV, X_FSTP1, X_FNSTENV, X_FLDENV, X_FNSAVE, X_FRSTOR,
	X_FWAIT,
	X_SHAPE, /* + XS_* */
};
enum { XS_CHS, XS_ABS, XS_SQRT, XS_RNDINT, XS_F2XM1, XS_SIN, XS_COS, XS_PTAN, XS_SINCOS,
       XS_XTRACT, XS_PATAN, XS_YL2X, XS_YL2XP1, XS_SCALE, XS_PREM, XS_PREM1, XS_TST, XS_XAM };
enum { XM_REG, XM_M32, XM_M64, XM_I16, XM_I32, XM_I64, XM_M80, XM_CONST, XM_BCD };
enum { XA_ADD, XA_MUL, XA_SUB, XA_SUBR, XA_DIV, XA_DIVR };

#define XF_POP 0x100u     /* pop once after */
#define XF_POP2 0x200u    /* pop twice (FCOMPP, FUCOMPP) */
#define XF_NOWAIT 0x400u  /* FN* control instructions: no pending-exception check */

/* The status word as software sees it (TOP, ES and B filled in). */
uint16_t soft_x87_fsw(const struct soft_fpu *f);

#endif
