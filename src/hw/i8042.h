/* Intel 8042 keyboard controller: no mouse, and a PS/2 keyboard (typed into by
 * --display text and the API's SendCtrlAltDel); enough for Linux's probe, its keyboard
 * driver, and its reset line (Linux's default reboot path). */
#ifndef TRIVISOR_HW_I8042_H
#define TRIVISOR_HW_I8042_H

#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct i8042;

/* Claim PC_I8042_DATA_PORT and PC_I8042_CMD_PORT (not port 0x61: see pc.c). With
 * keyboard, a PS/2 keyboard answers on the first port. *out may be NULL. */
int i8042_create(struct vm *vm, bool keyboard, struct i8042 **out, struct err *e);

/* Keys pressed and released on the keyboard: scan code set 1 bytes (make, break, 0xE0
 * prefixes), what the guest reads with the controller's translation on (as firmware
 * and Linux leave it). Returns how many it took: all of them while the keyboard is
 * disabled (dropped, as a disabled keyboard does), fewer when its buffer is full (the
 * caller offers the rest again later). Any thread. */
size_t i8042_kbd_input(void *k, const uint8_t *scancodes, size_t n);

/* Whether a keyboard is attached: always on a new VM, not on one restored from a
 * snapshot of a trivisor that attached it only with --display text. */
bool i8042_has_keyboard(struct i8042 *k);

#endif
