/* isa-debug-exit and the POST port. Both are stateless: the opaque is the VM. */
#include "debug_exit.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "core/vm.h"

static void debug_exit_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size,
                          bool is_write)
{
	struct vm *vm = opaque;
	uint64_t v = 0;

	if (!is_write) {
		memset(data, 0xff, size);
		return;
	}
	for (unsigned i = 0; i < size && i < 4; i++)
		v |= (uint64_t)data[i] << (8 * i);
	/* Keep the status a non-negative int; its low 8 bits are (v << 1) | 1 in any case. */
	int status = (int)(((v << 1) | 1) & INT_MAX);
	vm_request_stop(vm, VM_STOP_DEBUG_EXIT, status,
	                "guest wrote 0x%llx to the debug exit port (exit status %d)",
	                (unsigned long long)v, status & 0xff);
}

static void post_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	if (!is_write)
		memset(data, 0xff, size);
}

int debug_exit_create(struct vm *vm, uint16_t port, struct err *e)
{
	return bus_register(&vm->pio, port, DEBUG_EXIT_NPORTS, debug_exit_io, vm, "debug exit", e);
}

int post_port_create(struct vm *vm, uint16_t port, struct err *e)
{
	return bus_register(&vm->pio, port, 1, post_io, vm, "POST", e);
}
