/* System instruction handlers (ops_sys.c, ops_far.c, ops_io.c) and their lowering
 * (lower_sys.c). Sub-operations live in struct sinsn.op; a special register operand
 * (CRn, DRn, segment register) is recorded in sinsn.imm2 and the remaining GPR/memory
 * operand is o[0]. */
#ifndef TRIVISOR_SOFT_OPS_SYS_H
#define TRIVISOR_SOFT_OPS_SYS_H

#include <stdbool.h>

#include <Zydis/Zydis.h>

#include "engine/soft/cpu.h"

/* Lower the system instructions (called by soft_lower before generic operands). True
 * if this instruction was handled (s filled, *ends_block set). */
bool soft_lower_sys(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                    struct sinsn *s, bool *ends_block);

/* h_dtable ops */
enum { DT_LGDT, DT_LIDT, DT_SGDT, DT_SIDT };
/* h_sysmisc ops */
enum { SM_HLT, SM_CLI, SM_STI, SM_CPUID, SM_RDTSC, SM_RDTSCP, SM_RDMSR, SM_WRMSR, SM_CLTS,
       SM_INVLPG, SM_WBINVD, SM_NOP, SM_SWAPGS, SM_LMSW, SM_SMSW, SM_LLDT, SM_LTR, SM_SLDT,
       SM_STR, SM_LAR, SM_LSL, SM_VERR, SM_VERW, SM_PUSHA, SM_POPA, SM_HYPERCALL };
/* h_fastsys ops */
enum { FS_SYSCALL, FS_SYSRET, FS_SYSENTER, FS_SYSEXIT };
/* h_far ops */
enum { FAR_JMP, FAR_CALL, FAR_RET };
/* h_int ops */
enum { INT_N, INT_O, INT_1 };
/* h_io ops */
enum { IO_IN, IO_OUT, IO_INS, IO_OUTS };

int h_mov_cr(struct soft_cpu *c, const struct sinsn *i);   /* op 0 read, 1 write; imm2 = n */
int h_mov_dr(struct soft_cpu *c, const struct sinsn *i);
int h_dtable(struct soft_cpu *c, const struct sinsn *i);
int h_sysmisc(struct soft_cpu *c, const struct sinsn *i);
int h_fastsys(struct soft_cpu *c, const struct sinsn *i);
int h_mov_to_sreg(struct soft_cpu *c, const struct sinsn *i);
int h_mov_from_sreg(struct soft_cpu *c, const struct sinsn *i);
int h_push_sreg(struct soft_cpu *c, const struct sinsn *i);
int h_pop_sreg(struct soft_cpu *c, const struct sinsn *i);
int h_lxs(struct soft_cpu *c, const struct sinsn *i);      /* imm2 = segment register */
int h_far(struct soft_cpu *c, const struct sinsn *i);      /* direct: nops == 0, imm:imm2 */
int h_iret(struct soft_cpu *c, const struct sinsn *i);
int h_int(struct soft_cpu *c, const struct sinsn *i);
int h_io(struct soft_cpu *c, const struct sinsn *i);       /* imm2: port, or 0xffff+ = DX */

/* Finish an IN/INS whose data the core has filled in (engine, before running on). */
void soft_io_complete(struct soft_cpu *c);

/* Drop every translation, global ones too: a flush another vCPU asked for through the
 * para-virtual interface (pv.c, KVM_VCPU_FLUSH_TLB), for code that sees core/mem.h. */
void soft_flush_tlb_all(struct soft_cpu *c);

#endif
