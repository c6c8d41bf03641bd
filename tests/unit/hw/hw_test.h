/* Helpers for device tests: a minimal struct vm with no engine and no vCPUs (what
 * vm_create sets up before pc_board_init, minus the engine), and port I/O shorthands. */
#ifndef TRIVISOR_TEST_HW_H
#define TRIVISOR_TEST_HW_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/vm.h"

static inline void test_vm_init(struct vm *vm, uint64_t ram, unsigned ncpus, int out_fd)
{
	struct vm_config cfg = { .mem_size = ram ? ram : 2 << 20, .ncpus = ncpus,
	                         .console_in = -1, .console_out = out_fd };
	struct err e;

	if (vm_init_core(vm, &cfg, &e)) {
		fprintf(stderr, "vm_init_core: %s\n", e.msg);
		exit(1);
	}
}

static inline uint64_t io_in(struct vm *vm, uint16_t port, unsigned size)
{
	uint8_t d[8];
	uint64_t v = 0;
	memset(d, 0xcc, sizeof(d));
	bus_access(&vm->pio, port, d, size, false);
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)d[i] << (8 * i);
	return v;
}

static inline void io_out(struct vm *vm, uint16_t port, unsigned size, uint64_t v)
{
	uint8_t d[8];
	for (unsigned i = 0; i < size; i++)
		d[i] = (uint8_t)(v >> (8 * i));
	bus_access(&vm->pio, port, d, size, true);
}

#define inb(vm, p)     ((uint8_t)io_in((vm), (p), 1))
#define outb(vm, p, v) io_out((vm), (p), 1, (v))

static inline int irq_line(struct vm *vm, unsigned gsi)
{
	return (int)((atomic_load(&vm->irq_lines) >> gsi) & 1);
}

#endif
