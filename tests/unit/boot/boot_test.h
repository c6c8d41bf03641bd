/* Helpers shared by the boot layer's unit tests: a VM with RAM only, temp files,
 * little-endian pokes for building fake kernel images. */
#ifndef TRIVISOR_TEST_BOOT_TEST_H
#define TRIVISOR_TEST_BOOT_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/vm.h"

static inline void poke16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void poke32(uint8_t *p, uint32_t v) { poke16(p, (uint16_t)v); poke16(p + 2, (uint16_t)(v >> 16)); }
static inline void poke64(uint8_t *p, uint64_t v) { poke32(p, (uint32_t)v); poke32(p + 4, (uint32_t)(v >> 32)); }
static inline uint16_t peek16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t peek32(const uint8_t *p) { return peek16(p) | (uint32_t)peek16(p + 2) << 16; }
static inline uint64_t peek64(const uint8_t *p) { return peek32(p) | (uint64_t)peek32(p + 4) << 32; }

/* A zeroed VM with mem bytes of RAM and one vCPU; exits the test on failure. */
static inline struct vm *test_vm(uint64_t mem)
{
	struct err e = { { 0 } };
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm || mem_init(&vm->mem, mem, false, &e)) {
		fprintf(stderr, "test_vm: %s\n", e.msg);
		exit(1);
	}
	vm->ncpus = 1;
	vm->cfg.ncpus = 1;
	vm->cfg.mem_size = mem;
	return vm;
}

static inline void test_vm_free(struct vm *vm)
{
	mem_destroy(&vm->mem);
	free(vm);
}

/* Host pointer to guest RAM (the test aborts on a bad range). */
static inline uint8_t *gptr(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint8_t *p = mem_ptr(&vm->mem, gpa, len);
	if (!p) {
		fprintf(stderr, "gptr: 0x%llx+%llu not RAM\n", (unsigned long long)gpa,
		        (unsigned long long)len);
		exit(1);
	}
	return p;
}

/* Write data to a new temp file; path receives its name (caller unlinks). */
static inline void write_temp(char path[64], const void *data, size_t len)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(path, 64, "%.40s/trivboot-XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len)) {
		perror("write_temp");
		exit(1);
	}
	close(fd);
}

#endif
