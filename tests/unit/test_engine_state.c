/* One vCPU state and one engine state for both engines (core/cpu_state.h,
 * core/chip_state.h): a guest program runs halfway under one engine, its whole state
 * (RAM, the engine's VM state, the vCPUs' state through snapshot streams) goes into a
 * VM of the same or the other engine, and both VMs finish the program the same way:
 * soft -> soft always; kvm -> kvm, kvm -> soft and soft -> kvm where /dev/kvm works
 * (no /dev/kvm here: tests/nested/test_nested.py runs this program inside the nested
 * guest). Also: a LAPIC timer goes on counting, an application processor keeps waiting
 * for its SIPI, the IOAPIC and the 8259A pair and the PIT go through the other engine
 * and back unchanged.
 *
 * usage: test_engine_state [--kvm-only]   prints one line per check group, then
 * "N passed, N failed". */
#include <stdlib.h>

#include "check.h"
#include "state_program.h"
#include "core/chip_state.h"
#include "core/mem.h"
#include "core/vm.h"
#include "engine/engine.h"
#include "hw/pit.h"

/* prog's entry, and a masked one-shot LAPIC timer 2 s from firing (divide by 1). */
static void program_state_timer(struct cpu_state *s)
{
	program_state(s);
	cpu_lapic_set_reg(&s->lapic, 0xf0, 0x1ff);
	cpu_lapic_set_reg(&s->lapic, 0x320, 0x100ec);
	cpu_lapic_set_reg(&s->lapic, 0x3e0, 0xb);
	cpu_lapic_set_reg(&s->lapic, 0x380, 2000000000);
	cpu_lapic_set_reg(&s->lapic, 0x390, 2000000000);
	s->lapic.tsc_deadline = 0;
}

/* The engine's VM state from a into b. */
static int move_engine_state(struct vm *a, struct vm *b, struct err *e)
{
	struct snap_writer w;
	struct snap_reader r;
	snap_writer_init(&w);
	int ret = a->engine->save_state(a, &w, e);
	if (ret == 0) {
		snap_reader_init(&r, w.buf, w.len, "engine", e);
		ret = b->engine->load_state(b, &r, e);
		if (ret == 0)
			ret = snap_end(&r);
	}
	snap_writer_free(&w);
	return ret;
}

static bool same_regs(const struct cpu_state *a, const struct cpu_state *b)
{
	bool ok = memcmp(a->gpr, b->gpr, sizeof(a->gpr)) == 0 && a->rip == b->rip &&
	          (a->rflags & 0xcd5) == (b->rflags & 0xcd5) && a->cr0 == b->cr0 &&
	          a->cr3 == b->cr3 && a->cr4 == b->cr4 && a->efer == b->efer;
	for (unsigned k = 0; k < S__COUNT; k++)
		ok = ok && a->seg[k].sel == b->seg[k].sel && a->seg[k].base == b->seg[k].base &&
		     a->seg[k].limit == b->seg[k].limit;
	/* x87 control/status/tags, ST0-7, MXCSR, XMM0-15 */
	ok = ok && memcmp(a->fxsave, b->fxsave, 6) == 0 && memcmp(a->fxsave + 24, b->fxsave + 24, 4) == 0 &&
	     memcmp(a->fxsave + 32, b->fxsave + 32, 128 + 256) == 0;
	return ok;
}

/* A program run halfway under engine `from` finishes under `to` as under `from`. */
static void test_move(const struct engine_ops *from, const struct engine_ops *to)
{
	struct vm *a = new_vm_on(from, 2), *b = new_vm_on(to, 2);
	struct cpu_state s, g, t, ga, gb, ap, apt, apb;
	struct err e = { "" };
	unsigned before = check_fail_;

	if (from != to && to == &engine_kvm) {
		/* A soft VM runs its TSC at 2 GHz, which KVM can give only with TSC scaling:
		 * either it does, or the load is refused saying so. The VM moved here is one
		 * that came from kvm: its TSC runs at the rate it had there. */
		struct vm *k = new_vm_on(to, 2);
		struct snap_writer w;
		struct snap_reader r;
		snap_writer_init(&w);
		CHECK_EQ(from->save_state(a, &w, &e), 0);
		snap_reader_init(&r, w.buf, w.len, "engine", &e);
		int ret = to->load_state(k, &r, &e);
		CHECK(ret == 0 || strstr(e.msg, "cannot scale"));
		printf("soft at 2 GHz -> kvm: %s\n", ret ? e.msg : "ok, KVM scales its TSC");
		snap_writer_free(&w);
		CHECK_EQ(move_engine_state(k, a, &e), 0);
		free_vm(k);
	}
	CHECK_EQ(from->get_state(&a->vcpus[0], &s, &e), 0);
	program_state_timer(&s);
	memcpy(mem_ptr(&a->mem, 0x1000, sizeof(prog)), prog, sizeof(prog));
	CHECK_EQ(from->set_state(&a->vcpus[0], &s, &e), 0);
	CHECK(run_outs(a, 10));
	CHECK_EQ(counter(a), 10);

	/* Save A: RAM, its engine's state, both vCPUs (1 never started); load into B. */
	CHECK_EQ(from->get_state(&a->vcpus[0], &g, &e), 0);
	CHECK_EQ(from->get_state(&a->vcpus[1], &ap, &e), 0);
	for (unsigned k = 0; k < a->mem.nslots; k++)
		memcpy(b->mem.slots[k].host, a->mem.slots[k].host, a->mem.slots[k].size);
	int r = move_engine_state(a, b, &e);
	CHECK_EQ(r, 0);
	if (r)
		fprintf(stderr, "%s -> %s: engine state: %s\n", from->name, to->name, e.msg);
	CHECK_EQ(through_stream(&g, &t), 0);
	CHECK_EQ(through_stream(&ap, &apt), 0);
	r = to->set_state(&b->vcpus[0], &t, &e);
	CHECK_EQ(r, 0);
	if (r)
		fprintf(stderr, "%s -> %s: vCPU 0: %s\n", from->name, to->name, e.msg);
	r = to->set_state(&b->vcpus[1], &apt, &e);
	CHECK_EQ(r, 0);
	if (r)
		fprintf(stderr, "%s -> %s: vCPU 1: %s\n", from->name, to->name, e.msg);

	/* B's state reads back as A's was. */
	CHECK_EQ(to->get_state(&b->vcpus[0], &gb, &e), 0);
	CHECK(same_regs(&g, &gb));
	uint32_t ca = cpu_lapic_reg(&g.lapic, 0x390), cb = cpu_lapic_reg(&gb.lapic, 0x390);
	CHECK(cb <= ca && ca - cb < SEC / 2);   /* the timer counts on from where it was */
	CHECK(cb > 1000000000);
	uint64_t tsc_a = 0, tsc_b = 0;
	cpu_state_get_msr(&g, MSR_TSC, &tsc_a);
	cpu_state_get_msr(&gb, MSR_TSC, &tsc_b);
	CHECK(tsc_b >= tsc_a);                  /* the TSC goes on, never back */
	CHECK_EQ(to->get_state(&b->vcpus[1], &apb, &e), 0);
	CHECK(apb.run == CPU_RUN_WAIT_SIPI || apb.run == CPU_RUN_WAIT_INIT);

	/* Both finish the same way. */
	CHECK(run_outs(a, 25));
	CHECK(run_outs(b, 25));
	CHECK_EQ(counter(a), 35);
	CHECK_EQ(counter(b), 35);
	CHECK_EQ(from->get_state(&a->vcpus[0], &ga, &e), 0);
	CHECK_EQ(to->get_state(&b->vcpus[0], &gb, &e), 0);
	CHECK(same_regs(&ga, &gb));
	long double st0;
	memcpy(&st0, gb.fxsave + 32, 10);
	CHECK(st0 == 36.0L);
	float x0[4];
	memcpy(x0, gb.fxsave + 160, 16);
	CHECK(x0[0] == 1 + 35 * 0.5f && x0[3] == 4 + 35 * 8.0f);
	printf("%s -> %s: %s\n", from->name, to->name, check_fail_ == before ? "ok" : "FAILED");
	free_vm(a);
	free_vm(b);
}

static struct vm_device *device(struct vm *vm, const char *name)
{
	for (unsigned k = 0; k < vm->ndevices; k++)
		if (vm->devices[k].name && strcmp(vm->devices[k].name, name) == 0)
			return &vm->devices[k];
	return NULL;
}

/* The soft engine's IOAPIC and 8259A pair and the board PIT, programmed as Linux does,
 * through KVM's and back: the same streams. */
static void test_chips_through(const struct engine_ops *other)
{
	struct vm *a = new_vm_on(&engine_soft, 2), *b = new_vm_on(other, 2);
	struct vm *c = new_vm_on(&engine_soft, 2);
	struct err e = { "" };
	unsigned before = check_fail_;
	struct pit *pit_a, *pit_c;
	CHECK_EQ(move_engine_state(b, a, &e), 0);   /* a runs its TSC at b's rate */
	CHECK_EQ(pit_create(a, NULL, &pit_a, &e), 0);
	CHECK_EQ(pit_create(c, NULL, &pit_c, &e), 0);

	static const uint16_t ports[] = { 0x20, 0x21, 0x21, 0x21, 0xa0, 0xa1, 0xa1, 0xa1, 0x21,
	                                  0xa1, 0x4d1, 0x43, 0x40, 0x40, 0x61, 0x43, 0x42, 0x42 };
	static const uint8_t vals[] = { 0x11, 0x30, 0x04, 0x01, 0x11, 0x38, 0x02, 0x01, 0xb8,
	                                0x8f, 0x0e, 0x34, 0x9c, 0x2e, 0x01, 0xb6, 0x00, 0x10 };
	for (size_t k = 0; k < sizeof(ports) / sizeof(ports[0]); k++) {
		uint8_t v = vals[k];
		bus_access(&a->pio, ports[k], &v, 1, true);
	}
	const uint32_t io[][2] = { { 0x00, 0x03000000 }, { 0x10 + 2 * 9, 0x0000a939 },
	                           { 0x11 + 2 * 9, 0x03000000 }, { 0x10 + 2 * 4, 0x00000834 } };
	for (size_t k = 0; k < sizeof(io) / sizeof(io[0]); k++) {
		uint8_t sel = (uint8_t)io[k][0], d[4];
		bus_access(&a->mmio, 0xfec00000, &sel, 1, true);
		memcpy(d, &io[k][1], 4);
		bus_access(&a->mmio, 0xfec00010, d, 4, true);
	}
	vm_set_irq(a, 12, 1);   /* masked at the IOAPIC; the slave's IR4 requests */

	CHECK_EQ(move_engine_state(a, b, &e), 0);
	CHECK_EQ(move_engine_state(b, c, &e), 0);
	struct snap_writer wa, wc;
	snap_writer_init(&wa);
	snap_writer_init(&wc);
	a->engine->save_state(a, &wa, &e);
	c->engine->save_state(c, &wc, &e);
	/* Equal after the guest clock (8 bytes) and the TSC frequency (4). */
	CHECK(wa.len == wc.len && memcmp(wa.buf + 12, wc.buf + 12, wa.len - 12) == 0);
	snap_writer_free(&wa);
	snap_writer_free(&wc);

	/* The PIT: the "pit" section of a into b's PIT, b's into c's. */
	struct vm_device *pa = device(a, "pit"), *pb = device(b, "pit"), *pc = device(c, "pit");
	CHECK(pa && pb && pc);
	if (pa && pb && pc) {
		struct snap_writer w1, w2, w3;
		struct snap_reader r;
		snap_writer_init(&w1);
		snap_writer_init(&w2);
		snap_writer_init(&w3);
		CHECK_EQ(pa->save(pa->opaque, &w1), 0);
		snap_reader_init(&r, w1.buf, w1.len, "pit", &e);
		CHECK_EQ(pb->load(pb->opaque, &r), 0);
		CHECK_EQ(pb->save(pb->opaque, &w2), 0);
		snap_reader_init(&r, w2.buf, w2.len, "pit", &e);
		CHECK_EQ(pc->load(pc->opaque, &r), 0);
		CHECK_EQ(pc->save(pc->opaque, &w3), 0);
		struct pit_state s1, s3;
		snap_reader_init(&r, w1.buf, w1.len, "pit", &e);
		CHECK_EQ(pit_state_load(&r, &s1), 0);
		snap_reader_init(&r, w3.buf, w3.len, "pit", &e);
		CHECK_EQ(pit_state_load(&r, &s3), 0);
		for (unsigned i = 0; i < 3; i++) {
			CHECK_EQ(s1.ch[i].count, s3.ch[i].count);
			CHECK_EQ(s1.ch[i].mode, s3.ch[i].mode);
			CHECK_EQ(s1.ch[i].rw_mode, s3.ch[i].rw_mode);
			CHECK_EQ(s1.ch[i].gate, s3.ch[i].gate);
			CHECK_EQ(s1.ch[i].loaded, s3.ch[i].loaded);
		}
		CHECK_EQ(s1.ch[0].count, 0x2e9c);
		CHECK_EQ(s1.ch[2].count, 0x1000);
		CHECK_EQ(s1.port61 & 1, s3.port61 & 1);
		snap_writer_free(&w1);
		snap_writer_free(&w2);
		snap_writer_free(&w3);
	}
	printf("soft chips -> %s -> soft: %s\n", other->name, check_fail_ == before ? "ok" : "FAILED");
	free_vm(a);
	free_vm(b);
	free_vm(c);
}

int main(int argc, char **argv)
{
	struct err e;
	bool kvm = engine_kvm.available(&e) == 0;
	bool kvm_only = argc > 1 && strcmp(argv[1], "--kvm-only") == 0;
	if (!kvm)
		printf("kvm: not here (%s)\n", e.msg);
	if (!kvm_only)
		test_move(&engine_soft, &engine_soft);
	if (kvm) {
		test_move(&engine_kvm, &engine_kvm);
		test_move(&engine_kvm, &engine_soft);
		test_move(&engine_soft, &engine_kvm);
		test_chips_through(&engine_kvm);
	} else if (kvm_only) {
		return 77;
	}
	return check_done();
}
