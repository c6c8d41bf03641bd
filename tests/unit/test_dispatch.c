/* The one exit dispatcher, driven with fabricated exits and no engine. */
#include "check.h"
#include <stdlib.h>
#include <unistd.h>

#include "core/vm.h"

static int seen_port_writes;
static void dev(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	(void)opaque; (void)off;
	if (is_write)
		seen_port_writes++;
	else
		memset(data, 0x42, size);
}

int main(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct vm_config cfg = { .mem_size = 16 << 20, .ncpus = 1 };
	struct err e;
	uint8_t buf[16] = { 0 };

	CHECK_EQ(vm_init_core(vm, &cfg, &e), 0);
	CHECK_EQ(bus_register(&vm->pio, 0x100, 4, dev, NULL, "dev", &e), 0);
	struct vcpu *v = &vm->vcpus[0];

	/* String I/O: every element is dispatched. */
	struct vm_exit x = { .reason = EXIT_IO, .io = { .port = 0x100, .size = 2, .is_write = 1,
	                                                  .count = 3, .data = buf } };
	CHECK_EQ(vm_handle_exit(vm, v, &x), 0);
	CHECK_EQ(seen_port_writes, 3);
	x.io.is_write = 0;
	x.io.count = 1;
	CHECK_EQ(vm_handle_exit(vm, v, &x), 0);
	CHECK_EQ(buf[0], 0x42);
	CHECK_EQ(buf[1], 0x42);

	/* MMIO nobody claims reads as all ones. */
	uint8_t mm[8] = { 0 };
	struct vm_exit m = { .reason = EXIT_MMIO, .mmio = { .gpa = 0xfeb00000, .size = 4, .data = mm } };
	CHECK_EQ(vm_handle_exit(vm, v, &m), 0);
	CHECK_EQ(mm[3], 0xff);

	/* Hypercalls the core does not know get KVM's -KVM_ENOSYS. */
	struct vm_exit h = { .reason = EXIT_HYPERCALL, .hypercall = { .nr = 99 } };
	CHECK_EQ(vm_handle_exit(vm, v, &h), 0);
	CHECK_EQ(h.hypercall.ret, (uint64_t)-1000);

	CHECK_EQ(v->stats.exits[EXIT_IO], 2);
	CHECK_EQ(v->stats.exits[EXIT_MMIO], 1);
	CHECK(!vm_stopping(vm));

	/* A triple fault stops the VM with its documented status; the first stop wins. */
	struct vm_exit s = { .reason = EXIT_SHUTDOWN };
	CHECK_EQ(vm_handle_exit(vm, v, &s), 1);
	CHECK(vm_stopping(vm));
	CHECK_EQ(vm->stop_reason, VM_STOP_SHUTDOWN);
	CHECK_EQ(vm->exit_status, VM_STATUS_TRIPLE_FAULT);
	vm_request_stop(vm, VM_STOP_POWEROFF, 0, "later");
	CHECK_EQ(vm->stop_reason, VM_STOP_SHUTDOWN);
	uint64_t ev = 0;
	CHECK_EQ(read(vm->stop_fd, &ev, sizeof(ev)), 8);
	CHECK_EQ(ev, 1);

	/* An exit reason out of range is an internal error, never an out-of-bounds count. */
	struct vm_exit bad = { .reason = (enum exit_reason)1234 };
	CHECK_EQ(vm_handle_exit(vm, v, &bad), 1);
	CHECK_EQ(v->stats.exits[EXIT_INTERNAL_ERROR], 1);

	vm_destroy(vm);
	free(vm);
	return check_done();
}
