/* Lowering of x87, MMX and SSE-family instructions (lower_fp.c), called from soft_lower. */
#ifndef TRIVISOR_SOFT_LOWER_FP_H
#define TRIVISOR_SOFT_LOWER_FP_H

#include <stdbool.h>

#include <Zydis/Zydis.h>

#include "engine/soft/cpu.h"

/* -1: not an instruction of the FP/SIMD set (the caller goes on); otherwise the
 * instruction is lowered into *s and the result is soft_lower's (false: #UD). */
int soft_lower_fp(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                  struct sinsn *s, bool *ends_block);

#endif
