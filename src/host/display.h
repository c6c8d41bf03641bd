/* The host side of the VGA (hw/vga.h): its text screen drawn in a terminal with ANSI
 * escape sequences (--display text), the terminal's keys typed on the emulated PS/2
 * keyboard as set-1 scancodes, and the screen's text kept in a file (--screen-dump). */
#ifndef TRIVISOR_HOST_DISPLAY_H
#define TRIVISOR_HOST_DISPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "hw/vga.h"

struct vm;
struct display;

/* Hands scancodes to the keyboard controller; returns how many it took (the display
 * keeps the rest and offers them again ~10 ms later, at most 16 bytes at a time).
 * Called from the display's thread. For i8042_kbd_input, which takes what fits and
 * drops the rest, a wrapper returning n does. */
typedef size_t (*display_kbd_fn)(void *kbd, const uint8_t *scancodes, size_t n);

struct display_config {
	bool text;                /* draw on out_fd and read keys from in_fd */
	int in_fd;                /* -1: no keyboard input */
	int out_fd;
	const char *dump_path;    /* NULL: no screen dump */
	display_kbd_fn kbd_input; /* NULL: keys are dropped */
	void *kbd;
};

/* At most this many screen redraws per second, and dump writes per second. */
#define DISPLAY_FPS        20
#define DISPLAY_DUMPS_PER_S 4

/* Start the display's thread (which reads the VGA, draws, dumps and reads keys until
 * display_stop). On a terminal in_fd is put in raw mode until display_stop; Ctrl-A x
 * there asks the VM to stop, Ctrl-A Ctrl-A types Ctrl-A. The display is torn down with
 * the VM (vm_add_device): create it after the VGA. */
int display_start(struct vm *vm, struct vga *v, const struct display_config *cfg,
                  struct display **out, struct err *e);
/* Stop the thread, write the dump a last time, restore the terminal. Idempotent; call
 * it once the VM has stopped, before printing anything else on the terminal. */
void display_stop(struct display *d);

/* The screen as UTF-8 text: one line per row, trailing blanks trimmed, each line ending
 * in '\n' (a graphics mode is one line saying so). Writes at most cap bytes, returns
 * the length; DISPLAY_TEXT_MAX always suffices. */
#define DISPLAY_TEXT_MAX (VGA_TEXT_MAX_ROWS * (VGA_TEXT_MAX_COLS * 3 + 1) + 64)
size_t display_format_text(const struct vga_text *t, char *buf, size_t cap);
/* Replace path with that text atomically (a temporary file renamed over it). */
int display_dump_text(const struct vga_text *t, const char *path, struct err *e);

/* Terminal bytes -> PS/2 set-1 scancodes (US layout): letters, digits, punctuation,
 * Enter, Tab, Backspace, Esc, Ctrl-letter, Alt (ESC prefix), arrows, Home/End,
 * Insert/Delete, PgUp/PgDn, F1-F12 (xterm and VT sequences). An escape sequence may
 * span calls; a lone ESC stays pending until display_keys_flush. */
#define DISPLAY_KEY_MAX 16        /* scancode bytes one input byte can produce at most */
struct display_keys {
	uint8_t seq[8];
	unsigned nseq;
};
/* Feed one byte; writes up to DISPLAY_KEY_MAX scancodes to out, returns how many. */
size_t display_keys_feed(struct display_keys *k, uint8_t byte, uint8_t *out);
/* No more bytes came: a pending ESC is the Esc key (ESC [ is Alt-[). */
size_t display_keys_flush(struct display_keys *k, uint8_t *out);

#endif
