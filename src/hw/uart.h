/* 16550A UART (PC16550D register set) on the port I/O bus: the serial console. */
#ifndef TRIVISOR_HW_UART_H
#define TRIVISOR_HW_UART_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct vm;
struct uart;

#define UART_NPORTS 8

struct uart_stats {
	uint64_t tx_bytes;    /* written to the console output */
	uint64_t tx_dropped;  /* lost: output fd stalled, broken or absent */
	uint64_t rx_bytes;    /* accepted from the host */
	uint64_t rx_overruns; /* loopback bytes lost to a full FIFO */
};

/* Claim ports [base, base+8), drive GSI irq, write transmitted bytes to
 * vm->cfg.console_out. The UART belongs to the VM from then on (vm_add_device). */
int uart_create(struct vm *vm, uint16_t base, unsigned irq, struct uart **out, struct err *e);

/* Host console -> guest (any thread). Returns how many bytes were accepted; the caller
 * keeps the rest and retries later. Accepts nothing while the guest holds the UART in
 * loopback mode (its serial input is disconnected then). */
size_t uart_receive(void *u, const uint8_t *buf, size_t n);

void uart_get_stats(struct uart *u, struct uart_stats *out);

#endif
