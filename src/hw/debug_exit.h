/* Ports that exist for guests' and tests' convenience: isa-debug-exit, POST, and the
 * firmware's debug console. */
#ifndef TRIVISOR_HW_DEBUG_EXIT_H
#define TRIVISOR_HW_DEBUG_EXIT_H

#include <stdint.h>

#include "core/err.h"

struct vm;

#define DEBUG_EXIT_NPORTS 4

/* isa-debug-exit compatible: a write of v (1, 2 or 4 bytes) to any of the ports
 * [port, port+4) stops the VM with VM_STOP_DEBUG_EXIT and status (v << 1) | 1. The
 * status is an int, but only its low 8 bits survive as a process exit code, exactly as
 * with QEMU's device. Reads return ones. */
int debug_exit_create(struct vm *vm, uint16_t port, struct err *e);

/* The POST diagnostic port (0x80): writes ignored, reads return 0xff. Registered so
 * that firmware and Linux's I/O delay writes are not counted as unclaimed. */
int post_port_create(struct vm *vm, uint16_t port, struct err *e);

/* QEMU's isa-debugcon at port (SeaBIOS writes its debug messages to 0x402): reads
 * return 0xe9, which tells firmware it is there; the bytes written are logged line by
 * line as "[firmware]" messages (shown with -v). Owned by the VM. */
int debugcon_create(struct vm *vm, uint16_t port, struct err *e);

#endif
