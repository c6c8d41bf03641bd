/* The host side of the guest's serial console. */
#ifndef TRIVISOR_CONSOLE_H
#define TRIVISOR_CONSOLE_H

struct vm;

/* Escape character on a terminal: Ctrl-A, then x to quit, Ctrl-A to send Ctrl-A itself. */
#define CONSOLE_ESCAPE 0x01

/* Feed vm->cfg.console_in to the guest's UART until the VM stops. On a terminal, puts it
 * in raw mode (restored on return) and handles the escape sequence. Termination signals
 * (SIGINT, SIGTERM, SIGHUP) must be blocked by the caller; they stop the VM with status
 * 128 + signal. Must run on the thread that blocked them. */
void console_run(struct vm *vm);

#endif
