/* The soft engine's vCPU and VM state in the engine-neutral form (core/cpu_state.h,
 * core/chip_state.h, src/engine/soft/state.c):
 *  - a vCPU with non-trivial registers, x87/SSE, MSRs (para-virtual ones too), debug
 *    registers, LAPIC (timer counting, IRR/ISR/TMR) and pending events goes through
 *    get_state -> cpu_state_save -> cpu_state_load -> set_state (another VM) -> get_state
 *    and comes out the same, time excepted, which only goes forward;
 *  - a guest program stopped halfway, saved and loaded into a second VM, finishes there
 *    exactly as it does in the first (the translator's caches follow set_state);
 *  - the IOAPIC and the 8259A pair go through save_state/load_state;
 *  - truncated streams are refused, corrupted ones refused or installed without harm
 *    (this test also runs under the sanitizer build). */
#include <stdlib.h>

#include "../check.h"
#include "../state_program.h"
#include "core/chip_state.h"
#include "core/mem.h"
#include "core/vm.h"
#include "engine/engine.h"

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* prog's entry (state_program.h), with XMM2-15 filled and MXCSR_MASK as the soft CPU
 * reports it. */
static void regs_32(struct cpu_state *s)
{
	program_state(s);
	uint8_t *fx = s->fxsave;
	for (unsigned k = 2; k < 16; k++)
		for (unsigned b = 0; b < 16; b++)
			fx[160 + 16 * k + b] = (uint8_t)(k * 16 + b);
	put32(fx + 28, 0xffff);            /* MXCSR_MASK, as the soft CPU reports it */
}

/* vCPU 0's state: everything non-trivial that can be held without running. */
static void craft(struct cpu_state *s)
{
	uint64_t x = 7;
	memset(s, 0, sizeof(*s));
	regs_32(s);
	for (unsigned i = 0; i < R__COUNT; i++)
		s->gpr[i] = check_xorshift(&x);
	s->rflags = 0x247;
	s->cr2 = 0xdead000;
	s->cr3 = 0x9000;
	s->has = CPU_STATE_ALL;
	put32(s->fxsave + 24, 0x1f80 | 0x40 | 0x3);  /* MXCSR: DAZ, IE, DE */
	s->fxsave[0] = 0x7f;
	s->fxsave[1] = 0x02;                    /* FCW 0x27f: double precision */
	s->fxsave[6] = 0x5d;                    /* FOP */
	put64(s->fxsave + 8, 0x1234);           /* FIP */
	put64(s->fxsave + 16, 0x5678);          /* FDP */
	s->dr[0] = 0x1000;
	s->dr[3] = 0xffff8000;
	s->dr6 = 0xffff0ff1;
	s->dr7 = 0x401;
	const struct cpu_msr m[] = {
		{ MSR_TSC, 123456789012ull },
		{ MSR_SYSENTER_CS, 0x10 }, { MSR_SYSENTER_ESP, 0xffff880000001000ull },
		{ MSR_SYSENTER_EIP, 0xffffffff81000000ull }, { MSR_MISC_ENABLE, 1 },
		{ MSR_MTRR_DEF_TYPE, 0xc06 }, { MSR_MTRR_FIX64K, 0x0606060606060606ull },
		{ MSR_MTRR_FIX4K_C0000 + 7, 0x0505050505050505ull },
		{ MSR_MTRR_PHYS_BASE0, 6 }, { MSR_MTRR_PHYS_BASE0 + 1, 0xff00000800ull },
		{ MSR_PAT, 0x0105040600070406ull },
		{ MSR_STAR, 0x0023001000000000ull }, { MSR_LSTAR, 0xffffffff81a00000ull },
		{ MSR_CSTAR, 0xffffffff81a00100ull }, { MSR_SFMASK, 0x47700 },
		{ MSR_KERNEL_GS_BASE, 0xffff888007c00000ull }, { MSR_TSC_AUX, 3 },
		{ MSR_KVM_WALL_CLOCK_NEW, 0x3040 }, { MSR_KVM_SYSTEM_TIME_NEW, 0x3001 },
		{ MSR_KVM_STEAL_TIME, 0x3081 }, { MSR_KVM_PV_EOI_EN, 0x30c1 },
	};
	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++)
		CHECK_EQ(cpu_state_set_msr(s, m[k].index, m[k].value), 0);
	s->events = (struct cpu_events){ .exception_injected = true, .exception = 14,
	                                 .exception_has_error = true, .exception_error = 2,
	                                 .nmi_pending = true, .nmi_masked = true,
	                                 .shadow = CPU_SHADOW_STI };
	s->run = CPU_RUN_RUNNING;
	/* The LAPIC: enabled, a one-shot timer 0.2 s from firing (divide by 1), TPR,
	 * logical cluster addressing, two vectors requested (one level), one in service. */
	s->apic_base = 0xfee00000u | (1u << 11) | (1u << 8);
	struct cpu_lapic *l = &s->lapic;
	cpu_lapic_set_reg(l, 0x80, 0x20);
	cpu_lapic_set_reg(l, 0xd0, 0x01000000);
	cpu_lapic_set_reg(l, 0xe0, 0x0fffffff);
	cpu_lapic_set_reg(l, 0xf0, 0x1ff);
	cpu_lapic_set_reg(l, 0x100 + 0x10 * (0x30 / 32), 1u << (0x30 % 32));
	cpu_lapic_set_reg(l, 0x180 + 0x10 * (0x41 / 32), 1u << (0x41 % 32));
	cpu_lapic_set_reg(l, 0x200 + 0x10 * (0x41 / 32), 3u << (0x40 % 32));
	cpu_lapic_set_reg(l, 0x280, 0x40);
	cpu_lapic_set_reg(l, 0x300, 0x000c4500);
	cpu_lapic_set_reg(l, 0x310, 0x02000000);
	cpu_lapic_set_reg(l, 0x320, 0xec);
	for (unsigned k = 1; k < 6; k++)
		cpu_lapic_set_reg(l, 0x320 + 0x10 * k, k == 3 ? 0x700 : 0x10000);
	cpu_lapic_set_reg(l, 0x380, 1000000000);
	cpu_lapic_set_reg(l, 0x390, 200000000);
	cpu_lapic_set_reg(l, 0x3e0, 0xb);
	l->esr_pending = 0x20;
}

static uint64_t msr_of(const struct cpu_state *s, uint32_t index)
{
	uint64_t v = ~0ull;
	cpu_state_get_msr(s, index, &v);
	return v;
}

static bool seg_eq(const struct seg *a, const struct seg *b)
{
	return a->sel == b->sel && a->base == b->base && a->limit == b->limit &&
	       a->attr == b->attr && a->unusable == b->unusable;
}

/* a then b from get_state: equal, but for time, which went forward by less than
 * `slack` ns (TSC, timer count); or either way when b is not a's continuation. */
static void check_same(const struct cpu_state *a, const struct cpu_state *b, uint64_t slack,
                       bool forward)
{
	CHECK(memcmp(a->gpr, b->gpr, sizeof(a->gpr)) == 0);
	CHECK_EQ(a->rip, b->rip);
	CHECK_EQ(a->rflags, b->rflags);
	unsigned segs = 0;
	for (unsigned k = 0; k < S__COUNT; k++)
		segs += seg_eq(&a->seg[k], &b->seg[k]);
	CHECK_EQ(segs, S__COUNT);
	CHECK(seg_eq(&a->tr, &b->tr) && seg_eq(&a->ldtr, &b->ldtr));
	CHECK(a->gdt.base == b->gdt.base && a->gdt.limit == b->gdt.limit);
	CHECK(a->idt.base == b->idt.base && a->idt.limit == b->idt.limit);
	CHECK(a->cr0 == b->cr0 && a->cr2 == b->cr2 && a->cr3 == b->cr3 && a->cr4 == b->cr4 &&
	      a->cr8 == b->cr8 && a->efer == b->efer && a->apic_base == b->apic_base);
	CHECK_EQ(a->has, b->has);
	CHECK(memcmp(a->fxsave, b->fxsave, sizeof(a->fxsave)) == 0);
	CHECK_EQ(a->xcr0, b->xcr0);
	CHECK(memcmp(a->xsave_ext, b->xsave_ext, sizeof(a->xsave_ext)) == 0);
	CHECK(memcmp(a->dr, b->dr, sizeof(a->dr)) == 0 && a->dr6 == b->dr6 && a->dr7 == b->dr7);
	CHECK_EQ(a->nmsrs, b->nmsrs);
	unsigned same = 0;
	for (unsigned k = 0; k < a->nmsrs && k < b->nmsrs; k++) {
		const struct cpu_msr *x = &a->msr[k], *y = &b->msr[k];
		uint64_t ahead = y->value - x->value;
		if (x->index == MSR_TSC && y->index == MSR_TSC &&
		    (forward ? ahead < 2 * slack : ahead + 2 * slack < 4 * slack))
			same++;
		else if (x->index == y->index && x->value == y->value)
			same++;
		else
			fprintf(stderr, "MSR 0x%x = 0x%llx, then 0x%x = 0x%llx\n", x->index,
			        (unsigned long long)x->value, y->index, (unsigned long long)y->value);
	}
	CHECK_EQ(same, a->nmsrs);
	const struct cpu_events *ea = &a->events, *eb = &b->events;
	CHECK(ea->exception_injected == eb->exception_injected && ea->exception == eb->exception &&
	      ea->exception_has_error == eb->exception_has_error &&
	      ea->exception_error == eb->exception_error && ea->irq_injected == eb->irq_injected &&
	      ea->irq == eb->irq && ea->irq_soft == eb->irq_soft &&
	      ea->nmi_injected == eb->nmi_injected && ea->nmi_pending == eb->nmi_pending &&
	      ea->nmi_masked == eb->nmi_masked && ea->shadow == eb->shadow);
	CHECK_EQ(a->run, b->run);
	/* The register page, the timer's current count apart. */
	unsigned regs = 0;
	for (unsigned off = 0; off < CPU_LAPIC_SIZE; off += 16)
		regs += off == 0x390 || cpu_lapic_reg(&a->lapic, off) == cpu_lapic_reg(&b->lapic, off);
	CHECK_EQ(regs, CPU_LAPIC_SIZE / 16);
	uint32_t ca = cpu_lapic_reg(&a->lapic, 0x390), cb = cpu_lapic_reg(&b->lapic, 0x390);
	int64_t down = (int64_t)ca - (int64_t)cb;
	CHECK(forward ? down >= 0 && (uint64_t)down < slack : llabs(down) < (int64_t)slack);
	CHECK_EQ(a->lapic.esr_pending, b->lapic.esr_pending);
	CHECK_EQ(a->lapic.tsc_deadline, b->lapic.tsc_deadline);
}

static void test_round_trip(void)
{
	struct vm *a = new_vm_on(&engine_soft, 2), *b = new_vm_on(&engine_soft, 2);
	const struct engine_ops *eng = &engine_soft;
	struct cpu_state s, g1, t, g2;
	struct err e = { "" };

	craft(&s);
	CHECK_EQ(eng->set_state(&a->vcpus[0], &s, &e), 0);
	CHECK_EQ(eng->get_state(&a->vcpus[0], &g1, &e), 0);
	/* What was installed reads back. */
	CHECK(memcmp(g1.gpr, s.gpr, sizeof(s.gpr)) == 0);
	CHECK_EQ(g1.rflags, s.rflags);
	CHECK(memcmp(g1.fxsave, s.fxsave, 416) == 0);
	CHECK_EQ(g1.dr6, s.dr6);
	CHECK_EQ(g1.dr7, s.dr7);
	unsigned msrs = 0;
	for (unsigned k = 1; k < s.nmsrs; k++)   /* the TSC went on */
		msrs += msr_of(&g1, s.msr[k].index) == s.msr[k].value;
	CHECK_EQ(msrs, s.nmsrs - 1);
	CHECK(msr_of(&g1, MSR_TSC) - msr_of(&s, MSR_TSC) < 2 * SEC);
	CHECK(g1.events.exception_injected && g1.events.exception == 14 &&
	      g1.events.exception_error == 2 && g1.events.nmi_pending && g1.events.nmi_masked &&
	      g1.events.shadow == CPU_SHADOW_STI);
	CHECK_EQ(g1.apic_base, s.apic_base);
	CHECK_EQ(cpu_lapic_reg(&g1.lapic, 0x200 + 0x10 * 2), 3u);   /* IRR 0x40, 0x41 */
	CHECK_EQ(cpu_lapic_reg(&g1.lapic, 0x100 + 0x10), 1u << 16);    /* ISR 0x30 */
	CHECK_EQ(cpu_lapic_reg(&g1.lapic, 0xa0), 0x30);                /* PPR */
	uint32_t tmcct = cpu_lapic_reg(&g1.lapic, 0x390);
	CHECK(tmcct <= 200000000 && tmcct > 100000000);
	CHECK_EQ(g1.lapic.esr_pending, 0x20);

	/* vCPU 1: an application processor waiting for its startup IPI, in x2APIC mode. */
	struct cpu_state ap, ap1, apt, ap2;
	CHECK_EQ(eng->get_state(&a->vcpus[1], &ap, &e), 0);
	CHECK_EQ(ap.run, CPU_RUN_WAIT_SIPI);
	ap.apic_base = 0xfee00000u | (1u << 11) | (1u << 10);
	cpu_lapic_set_reg(&ap.lapic, 0x20, 1);
	cpu_lapic_set_reg(&ap.lapic, 0x310, 7);
	CHECK_EQ(eng->set_state(&a->vcpus[1], &ap, &e), 0);
	CHECK_EQ(eng->get_state(&a->vcpus[1], &ap1, &e), 0);
	CHECK_EQ(cpu_lapic_reg(&ap1.lapic, 0x20), 1);
	CHECK_EQ(cpu_lapic_reg(&ap1.lapic, 0xd0), 2);   /* x2APIC logical ID: cluster 0, bit 1 */

	/* Through a stream into the other VM, and back out. */
	struct snap_writer vw;
	struct snap_reader vr;
	snap_writer_init(&vw);
	CHECK_EQ(eng->save_state(a, &vw, &e), 0);
	snap_reader_init(&vr, vw.buf, vw.len, "engine", &e);
	CHECK_EQ(eng->load_state(b, &vr, &e), 0);
	CHECK_EQ(snap_end(&vr), 0);
	snap_writer_free(&vw);
	CHECK_EQ(through_stream(&g1, &t), 0);
	CHECK_EQ(through_stream(&ap1, &apt), 0);
	CHECK_EQ(eng->set_state(&b->vcpus[0], &t, &e), 0);
	CHECK_EQ(eng->set_state(&b->vcpus[1], &apt, &e), 0);
	CHECK_EQ(eng->get_state(&b->vcpus[0], &g2, &e), 0);
	CHECK_EQ(eng->get_state(&b->vcpus[1], &ap2, &e), 0);
	check_same(&g1, &g2, SEC / 2, true);
	check_same(&ap1, &ap2, SEC / 2, true);
	if (e.msg[0])
		fprintf(stderr, "%s\n", e.msg);

	/* What the soft CPU cannot hold is refused with a reason. */
	t = g1;
	t.xcr0 = XCR0_X87 | XCR0_SSE | XCR0_AVX;
	CHECK(eng->set_state(&b->vcpus[0], &t, &e) < 0 && strstr(e.msg, "AVX"));
	t = g1;
	t.xsave_ext[5] = 1;
	CHECK(eng->set_state(&b->vcpus[0], &t, &e) < 0 && strstr(e.msg, "AVX"));
	t = g1;
	t.cr4 |= 1u << 17;   /* PCIDE */
	CHECK(eng->set_state(&b->vcpus[0], &t, &e) < 0 && strstr(e.msg, "CR4"));
	t = g1;
	cpu_state_set_msr(&t, MSR_SPEC_CTRL, 1);
	CHECK(eng->set_state(&b->vcpus[0], &t, &e) < 0 && strstr(e.msg, "0x48"));
	t = g1;
	cpu_state_set_msr(&t, MSR_KVM_POLL_CONTROL, 1);   /* its reset value: fine */
	CHECK_EQ(eng->set_state(&b->vcpus[0], &t, &e), 0);
	t = g1;
	cpu_state_set_msr(&t, MSR_PAT, 0x0000000000000002ull);   /* type 2 is reserved */
	CHECK(eng->set_state(&b->vcpus[0], &t, &e) < 0 && strstr(e.msg, "0x277"));
	t = ap1;
	cpu_lapic_set_reg(&t.lapic, 0x20, 5);   /* another vCPU's x2APIC ID */
	CHECK(eng->set_state(&b->vcpus[1], &t, &e) < 0 && strstr(e.msg, "x2APIC"));

	/* A stream cut anywhere is refused; one with any byte changed is refused or
	 * installed (checked as the guest's writes), never read or run past. */
	struct snap_writer w;
	snap_writer_init(&w);
	cpu_state_save(&w, &g1);
	unsigned refused = 0, installed = 0;
	for (size_t n = 0; n < w.len; n++) {
		snap_reader_init(&vr, w.buf, n, "cpu0", &e);
		refused += cpu_state_load(&vr, &t) < 0;
	}
	CHECK_EQ(refused, w.len);
	uint8_t *bad = malloc(w.len);
	refused = 0;
	for (size_t i = 0; i < w.len; i++) {
		memcpy(bad, w.buf, w.len);
		bad[i] ^= (uint8_t)(i % 3 == 0 ? 0xff : i % 3 == 1 ? 0x80 : 0x05);
		snap_reader_init(&vr, bad, w.len, "cpu0", &e);
		if (cpu_state_load(&vr, &t) || snap_end(&vr) || eng->set_state(&b->vcpus[0], &t, &e))
			refused++;
		else
			installed++;
		struct cpu_state back;
		eng->get_state(&b->vcpus[0], &back, &e);
	}
	CHECK_EQ(refused + installed, w.len);
	CHECK(refused > 0 && installed > 0);
	printf("corrupted vCPU streams: %u refused, %u installed\n", refused, installed);
	free(bad);
	snap_writer_free(&w);
	free_vm(a);
	free_vm(b);
}

static void test_resume_elsewhere(void)
{
	struct vm *a = new_vm_on(&engine_soft, 1), *b = new_vm_on(&engine_soft, 1);
	const struct engine_ops *eng = &engine_soft;
	struct cpu_state s, g, t, ga, gb;
	struct err e = { "" };

	CHECK_EQ(eng->get_state(&a->vcpus[0], &s, &e), 0);   /* reset MSRs, LAPIC... */
	regs_32(&s);
	memcpy(mem_ptr(&a->mem, 0x1000, sizeof(prog)), prog, sizeof(prog));
	CHECK_EQ(eng->set_state(&a->vcpus[0], &s, &e), 0);
	CHECK(run_outs(a, 10));
	CHECK_EQ(counter(a), 10);

	/* Save A: RAM, the engine's state, the vCPU; load all of it into B. */
	CHECK_EQ(eng->get_state(&a->vcpus[0], &g, &e), 0);
	struct snap_writer vw;
	struct snap_reader vr;
	snap_writer_init(&vw);
	CHECK_EQ(eng->save_state(a, &vw, &e), 0);
	for (unsigned k = 0; k < a->mem.nslots; k++)
		memcpy(b->mem.slots[k].host, a->mem.slots[k].host, a->mem.slots[k].size);
	snap_reader_init(&vr, vw.buf, vw.len, "engine", &e);
	CHECK_EQ(eng->load_state(b, &vr, &e), 0);
	snap_writer_free(&vw);
	CHECK_EQ(through_stream(&g, &t), 0);
	CHECK_EQ(eng->set_state(&b->vcpus[0], &t, &e), 0);

	/* Both go on: the same 25 more iterations, the same state. */
	CHECK(run_outs(a, 25));
	CHECK(run_outs(b, 25));
	CHECK_EQ(counter(a), 35);
	CHECK_EQ(counter(b), 35);
	CHECK_EQ(eng->get_state(&a->vcpus[0], &ga, &e), 0);
	CHECK_EQ(eng->get_state(&b->vcpus[0], &gb, &e), 0);
	/* (Guest time stopped for B between the save and the load, not for A.) */
	check_same(&ga, &gb, SEC / 2, false);
	long double st0;
	memcpy(&st0, gb.fxsave + 32, 10);
	CHECK(st0 == 36.0L);
	float x0[4];
	memcpy(x0, gb.fxsave + 160, 16);
	CHECK(x0[0] == 1 + 35 * 0.5f && x0[3] == 4 + 35 * 8.0f);
	free_vm(a);
	free_vm(b);
}

static void test_vm_state(void)
{
	struct vm *a = new_vm_on(&engine_soft, 2), *b = new_vm_on(&engine_soft, 2);
	const struct engine_ops *eng = &engine_soft;
	struct err e = { "" };

	/* Program the 8259A pair (Linux's ICWs, a mask, ELCR) and the IOAPIC (a level entry
	 * and an edge one, logical destination), and drive a few lines. */
	static const uint16_t ports[] = { 0x20, 0x21, 0x21, 0x21, 0xa0, 0xa1, 0xa1, 0xa1, 0x21, 0xa1, 0x4d1, 0xa0 };
	static const uint8_t vals[] = { 0x11, 0x30, 0x04, 0x01, 0x11, 0x38, 0x02, 0x01, 0xb8, 0x8f, 0x0e, 0x0b };
	for (size_t k = 0; k < sizeof(ports) / sizeof(ports[0]); k++) {
		uint8_t v = vals[k];
		bus_access(&a->pio, ports[k], &v, 1, true);
	}
	const uint32_t io[][2] = { { 0x00, 0x03000000 }, { 0x10 + 2 * 9, 0x0000a939 },
	                           { 0x11 + 2 * 9, 0x03000000 }, { 0x10 + 2 * 4, 0x00000834 },
	                           { 0x03, 0 } };
	for (size_t k = 0; k < sizeof(io) / sizeof(io[0]); k++) {
		uint8_t sel = (uint8_t)io[k][0], d[4];
		bus_access(&a->mmio, 0xfec00000, &sel, 1, true);
		if (k + 1 < sizeof(io) / sizeof(io[0])) {
			memcpy(d, &io[k][1], 4);
			bus_access(&a->mmio, 0xfec00010, d, 4, true);
		}
	}
	vm_set_irq(a, 9, 1);    /* level: delivered, remote IRR set */
	vm_set_irq(a, 12, 1);   /* masked at the IOAPIC; the slave PIC's IR4 requests */
	vm_set_irq(a, 1, 1);

	struct snap_writer w;
	struct snap_reader r;
	snap_writer_init(&w);
	CHECK_EQ(eng->save_state(a, &w, &e), 0);
	snap_reader_init(&r, w.buf, w.len, "engine", &e);
	CHECK_EQ(eng->load_state(b, &r, &e), 0);
	CHECK_EQ(snap_end(&r), 0);

	struct engine_vm_state sa, sb;
	snap_reader_init(&r, w.buf, w.len, "engine", &e);
	CHECK_EQ(engine_vm_state_load(&r, &sa), 0);
	struct snap_writer w2;
	snap_writer_init(&w2);
	CHECK_EQ(eng->save_state(b, &w2, &e), 0);
	snap_reader_init(&r, w2.buf, w2.len, "engine", &e);
	CHECK_EQ(engine_vm_state_load(&r, &sb), 0);
	CHECK(sb.clock_ns >= sa.clock_ns && sb.clock_ns - sa.clock_ns < SEC / 2);
	CHECK_EQ(sb.tsc_khz, 2000000);
	CHECK(memcmp(&sa.ioapic, &sb.ioapic, sizeof(sa.ioapic)) == 0);
	CHECK(memcmp(&sa.pic, &sb.pic, sizeof(sa.pic)) == 0);
	CHECK_EQ(sa.ioapic.id, 3);
	CHECK(sa.ioapic.rte[9] & (1u << 14));              /* remote IRR */
	CHECK_EQ(sa.ioapic.lines, (1u << 9) | (1u << 12) | (1u << 1));
	CHECK_EQ(sa.pic.chip[0].base, 0x30);
	CHECK_EQ(sa.pic.chip[0].imr, 0xb8);
	CHECK_EQ(sa.pic.chip[1].elcr, 0x0e);
	CHECK(sa.pic.chip[1].irr & 0x10);
	CHECK(sa.pic.chip[1].flags & PIC_READ_ISR);
	/* The loaded PIC answers as the saved one: IRR through OCW3, master IRR bit 2. */
	uint8_t v;
	bus_access(&b->pio, 0x20, &(uint8_t){ 0x0a }, 1, true);
	bus_access(&b->pio, 0x20, &v, 1, false);
	CHECK_EQ(v & 0x06, 0x06);   /* IR1 (keyboard) and IR2 (the slave's request) */

	/* Cut anywhere: refused. Any byte changed: refused or installed, never a crash. */
	unsigned refused = 0, installed = 0;
	for (size_t n = 0; n < w.len; n++) {
		snap_reader_init(&r, w.buf, n, "engine", &e);
		refused += eng->load_state(b, &r, &e) < 0;
	}
	CHECK_EQ(refused, w.len);
	uint8_t *bad = malloc(w.len);
	refused = 0;
	for (size_t i = 0; i < w.len; i++) {
		memcpy(bad, w.buf, w.len);
		bad[i] ^= 0xff;
		snap_reader_init(&r, bad, w.len, "engine", &e);
		if (eng->load_state(b, &r, &e) || snap_end(&r))
			refused++;
		else
			installed++;
	}
	CHECK(refused > 0 && installed > 0);
	free(bad);
	snap_writer_free(&w);
	snap_writer_free(&w2);
	free_vm(a);
	free_vm(b);
}

int main(void)
{
	test_round_trip();
	test_resume_elsewhere();
	test_vm_state();
	return check_done();
}
