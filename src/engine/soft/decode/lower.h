/* Zydis decoded instruction -> struct sinsn (lower.c). */
#ifndef TRIVISOR_SOFT_LOWER_H
#define TRIVISOR_SOFT_LOWER_H

#include <stdbool.h>

#include <Zydis/Zydis.h>

#include "engine/soft/cpu.h"

/* Fill *s. Returns false (s->fn = h_ud) for instructions the CPU does not implement.
 * *ends_block: the instruction may transfer control or change how code is decoded. */
bool soft_lower(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                struct sinsn *s, bool *ends_block);

/* Fill s's attributes (SI_*, flags read and written) from its kind and operands, once
 * it is lowered; ends_block as soft_lower said. */
void soft_classify(struct sinsn *s, bool ends_block);

/* The generic operand lowering (GPR, memory, immediate operands -> s->o[]), for the
 * lowering hooks of other instruction groups. False if an operand is something else. */
bool soft_lower_operands(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                         struct sinsn *s);

/* A general-purpose register -> its number and operand size (1/2/4/8; the high-byte
 * registers AH..BH are 4..7 with size 1). False for other registers. */
bool soft_lower_gpr(ZydisRegister r, uint8_t *out, uint8_t *size);
/* A base/index register of an address -> its number, SREG_RIP or SREG_NONE. */
bool soft_lower_addr_reg(ZydisRegister r, uint8_t *out);

/* Correct known Zydis 4.0 decoding errors in place (call right after decoding). */
void soft_zydis_fixup(const ZydisDecodedInstruction *zi, ZydisDecodedOperand *zo);

#endif
