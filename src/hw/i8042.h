/* Intel 8042 keyboard controller with no keyboard or mouse attached: enough for Linux's
 * probe, and its reset line (Linux's default reboot path). */
#ifndef TRIVISOR_HW_I8042_H
#define TRIVISOR_HW_I8042_H

#include "core/err.h"

struct vm;

/* Claim PC_I8042_DATA_PORT and PC_I8042_CMD_PORT (not port 0x61: see pc.c). */
int i8042_create(struct vm *vm, struct err *e);

#endif
