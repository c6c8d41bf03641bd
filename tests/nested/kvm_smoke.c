/* kvm-smoke: the smallest useful KVM client, to tell a broken nested environment from a
 * broken trivisor. It runs 16-bit real-mode code that writes N bytes to a port and
 * halts, counts the port-I/O exits and reports the cost of one exit. The nested harness
 * builds it statically (so it needs nothing from the outer guest) into the build tree.
 *
 * usage: kvm-smoke [N]      prints "kvm-smoke: ok: N io exits, X us/exit", exit 0 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#define GUEST_ADDR 0x1000
#define PORT       0x3f8

static int fail(const char *what)
{
	printf("kvm-smoke: FAIL: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 1000;
	if (n == 0 || n > 0xffff)
		n = 1000;
	/* mov dx, PORT; mov cx, n; mov al, 'K'; l: out dx, al; loop l; hlt */
	const uint8_t code[] = {
		0xba, PORT & 0xff, PORT >> 8,
		0xb9, n & 0xff, n >> 8,
		0xb0, 'K',
		0xee,
		0xe2, 0xfd,
		0xf4,
	};

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return fail("KVM_GET_API_VERSION");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");

	uint8_t *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap guest memory");
	memcpy(mem, code, sizeof(code));
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = GUEST_ADDR, .memory_size = 0x1000,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < 0)
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");

	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = GUEST_ADDR, .rflags = 0x2 };
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned io = 0;
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return fail("KVM_RUN");
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == PORT &&
		    run->io.direction == KVM_EXIT_IO_OUT) {
			io++;
			continue;
		}
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		printf("kvm-smoke: FAIL: unexpected exit reason %u after %u io exits\n",
		       run->exit_reason, io);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3;
	if (io != n) {
		printf("kvm-smoke: FAIL: %u io exits, expected %u\n", io, n);
		return 1;
	}
	printf("kvm-smoke: ok: %u io exits, %.1f us/exit\n", io, us / io);
	return 0;
}
