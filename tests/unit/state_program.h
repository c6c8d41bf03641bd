/* The guest program and the pieces the vCPU-state tests share (soft/test_soft_state.c,
 * test_engine_state.c): a VM on an engine, a 32-bit program that counts in RAM and
 * works the x87 and SSE units, its entry state, running it, and a vCPU state through a
 * snapshot stream. Include after check.h. */
#ifndef TRIVISOR_TEST_STATE_PROGRAM_H
#define TRIVISOR_TEST_STATE_PROGRAM_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_state.h"
#include "core/mem.h"
#include "core/snap.h"
#include "core/vm.h"
#include "engine/engine.h"

#define SEC 1000000000ull

static inline struct vm *new_vm_on(const struct engine_ops *eng, unsigned ncpus)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct vm_config cfg = { .mem_size = 16u << 20, .ncpus = ncpus, .iface = GUEST_PARA,
	                         .console_in = -1, .console_out = -1 };
	struct err e;
	if (!vm || vm_init_core(vm, &cfg, &e) || vm_attach_engine(vm, eng, &e) ||
	    vm_create_vcpus(vm, &e)) {
		fprintf(stderr, "%s VM: %s\n", eng->name, e.msg);
		exit(1);
	}
	return vm;
}

static inline void free_vm(struct vm *vm)
{
	vm_destroy(vm);
	free(vm);
}

/* At 0x1000, 32-bit code:
 *   1: inc dword [0x2000] ; fld1 ; faddp st1 ; addps xmm0, xmm1 ; out 0x80, al ; jmp 1b */
static const uint8_t prog[] = { 0xff, 0x05, 0x00, 0x20, 0x00, 0x00, 0xd9, 0xe8, 0xde, 0xc1,
                                0x0f, 0x58, 0xc1, 0xe6, 0x80, 0xeb, 0xef };

static inline struct seg flat(uint16_t sel, uint16_t attr)
{
	return (struct seg){ .sel = sel, .limit = 0xffffffff, .attr = attr };
}

/* prog's entry: 32-bit protected mode, flat, no paging; x87 with 1.0 in ST0;
 * XMM0 = {1, 2, 3, 4}, XMM1 = {0.5, 0.25, -1, 8}. */
static inline void program_state(struct cpu_state *s)
{
	for (unsigned k = 0; k < S__COUNT; k++)
		s->seg[k] = flat(0x10, 0xc093);
	s->seg[S_CS] = flat(0x08, 0xc09b);
	s->tr = (struct seg){ .sel = 0x18, .base = 0x5000, .limit = 0x67, .attr = 0x8b };
	s->ldtr = (struct seg){ .unusable = 1 };
	s->gdt = (struct dtable){ 0x6000, 0x1f };
	s->idt = (struct dtable){ 0x7000, 0x7ff };
	s->cr0 = CR0_PE | CR0_ET | CR0_NE;
	s->cr4 = (1u << 9) | (1u << 10);   /* OSFXSR, OSXMMEXCPT */
	s->rip = 0x1000;
	s->rflags = 2;
	cpu_state_fpu_reset(s);
	uint8_t *fx = s->fxsave;
	fx[3] = 7 << 3;                    /* FSW.TOP = 7 */
	fx[4] = 0x80;                      /* physical register 7 in use */
	uint64_t one = 0x8000000000000000ull;
	memcpy(fx + 32, &one, 8);          /* ST0 = 1.0 */
	fx[40] = 0xff;
	fx[41] = 0x3f;
	float x0[4] = { 1, 2, 3, 4 }, x1[4] = { 0.5f, 0.25f, -1, 8 };
	memcpy(fx + 160, x0, 16);
	memcpy(fx + 176, x1, 16);
}

/* Run vCPU 0 through n of prog's OUTs (kicks in between go on). */
static inline bool run_outs(struct vm *vm, unsigned n)
{
	struct err e;
	for (unsigned k = 0; k < n;) {
		struct vm_exit x = { 0 };
		if (vm->engine->vcpu_run(&vm->vcpus[0], &x, &e)) {
			fprintf(stderr, "%s: vcpu_run: %s\n", vm->engine->name, e.msg);
			return false;
		}
		if (x.reason == EXIT_NONE)
			continue;
		if (x.reason != EXIT_IO || x.io.port != 0x80 || !x.io.is_write) {
			fprintf(stderr, "%s: unexpected exit %d\n", vm->engine->name, x.reason);
			return false;
		}
		k++;
	}
	return true;
}

/* prog's count so far. */
static inline uint32_t counter(struct vm *vm)
{
	uint32_t v;
	memcpy(&v, mem_ptr(&vm->mem, 0x2000, 4), 4);
	return v;
}

/* s through a snapshot stream into t, as a snapshot carries it: 0, or non-zero. */
static inline int through_stream(const struct cpu_state *s, struct cpu_state *t)
{
	struct snap_writer w;
	struct snap_reader r;
	struct err e;
	snap_writer_init(&w);
	cpu_state_save(&w, s);
	snap_reader_init(&r, w.buf, w.len, "cpu0", &e);
	int ret = cpu_state_load(&r, t) || snap_end(&r);
	snap_writer_free(&w);
	return ret;
}

#endif
