/* A vCPU's architectural state in a snapshot stream (see cpu_state.h, snap.h). */
#include "cpu_state.h"

#include <string.h>

/* The MSRs a state carries, in the order they are saved and installed. */
static const uint32_t msr_list[] = {
	MSR_TSC, MSR_TSC_ADJUST, MSR_SPEC_CTRL,
	MSR_SYSENTER_CS, MSR_SYSENTER_ESP, MSR_SYSENTER_EIP, MSR_MISC_ENABLE,
	MSR_MTRR_DEF_TYPE, MSR_MTRR_FIX64K, MSR_MTRR_FIX16K_80000, MSR_MTRR_FIX16K_A0000,
	MSR_MTRR_FIX4K_C0000, MSR_MTRR_FIX4K_C0000 + 1, MSR_MTRR_FIX4K_C0000 + 2,
	MSR_MTRR_FIX4K_C0000 + 3, MSR_MTRR_FIX4K_C0000 + 4, MSR_MTRR_FIX4K_C0000 + 5,
	MSR_MTRR_FIX4K_C0000 + 6, MSR_MTRR_FIX4K_C0000 + 7,
	MSR_MTRR_PHYS_BASE0, MSR_MTRR_PHYS_BASE0 + 1, MSR_MTRR_PHYS_BASE0 + 2,
	MSR_MTRR_PHYS_BASE0 + 3, MSR_MTRR_PHYS_BASE0 + 4, MSR_MTRR_PHYS_BASE0 + 5,
	MSR_MTRR_PHYS_BASE0 + 6, MSR_MTRR_PHYS_BASE0 + 7, MSR_MTRR_PHYS_BASE0 + 8,
	MSR_MTRR_PHYS_BASE0 + 9, MSR_MTRR_PHYS_BASE0 + 10, MSR_MTRR_PHYS_BASE0 + 11,
	MSR_MTRR_PHYS_BASE0 + 12, MSR_MTRR_PHYS_BASE0 + 13, MSR_MTRR_PHYS_BASE0 + 14,
	MSR_MTRR_PHYS_BASE0 + 15,
	MSR_PAT, MSR_XSS,
	MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK, MSR_KERNEL_GS_BASE, MSR_TSC_AUX,
	MSR_VIRT_SPEC_CTRL,
	/* kvm-clock after the TSC it is computed from; ASYNC_PF_INT before ASYNC_PF_EN,
	 * which refuses interrupt delivery without a vector (msr.rst). */
	MSR_KVM_WALL_CLOCK_NEW, MSR_KVM_SYSTEM_TIME_NEW, MSR_KVM_ASYNC_PF_INT,
	MSR_KVM_ASYNC_PF_EN, MSR_KVM_STEAL_TIME, MSR_KVM_PV_EOI_EN, MSR_KVM_POLL_CONTROL,
};
#define NLIST (sizeof(msr_list) / sizeof(msr_list[0]))
_Static_assert(NLIST <= CPU_MSRS_MAX, "CPU_MSRS_MAX too small for the MSR list");

uint32_t cpu_state_msr_index(unsigned k)
{
	return k < NLIST ? msr_list[k] : 0;
}

static int list_pos(uint32_t index)
{
	for (unsigned k = 0; k < NLIST; k++)
		if (msr_list[k] == index)
			return (int)k;
	return -1;
}

int cpu_state_set_msr(struct cpu_state *s, uint32_t index, uint64_t value)
{
	int pos = list_pos(index);
	if (pos < 0 || s->nmsrs > CPU_MSRS_MAX)
		return -1;
	unsigned k = 0;
	while (k < s->nmsrs && list_pos(s->msr[k].index) < pos)
		k++;
	if (k < s->nmsrs && s->msr[k].index == index) {
		s->msr[k].value = value;
		return 0;
	}
	if (s->nmsrs == CPU_MSRS_MAX)
		return -1;
	memmove(&s->msr[k + 1], &s->msr[k], (s->nmsrs - k) * sizeof(s->msr[0]));
	s->msr[k] = (struct cpu_msr){ index, value };
	s->nmsrs++;
	return 0;
}

bool cpu_state_get_msr(const struct cpu_state *s, uint32_t index, uint64_t *value)
{
	for (unsigned k = 0; k < s->nmsrs && k < CPU_MSRS_MAX; k++)
		if (s->msr[k].index == index) {
			*value = s->msr[k].value;
			return true;
		}
	return false;
}

uint32_t cpu_lapic_reg(const struct cpu_lapic *l, unsigned off)
{
	uint32_t v = 0;
	if (off <= CPU_LAPIC_SIZE - 4)
		for (unsigned i = 0; i < 4; i++)
			v |= (uint32_t)l->regs[off + i] << (8 * i);
	return v;
}

void cpu_lapic_set_reg(struct cpu_lapic *l, unsigned off, uint32_t v)
{
	if (off <= CPU_LAPIC_SIZE - 4)
		for (unsigned i = 0; i < 4; i++)
			l->regs[off + i] = (uint8_t)(v >> (8 * i));
}

void cpu_state_fpu_reset(struct cpu_state *s)
{
	memset(s->fxsave, 0, sizeof(s->fxsave));
	memset(s->xsave_ext, 0, sizeof(s->xsave_ext));
	s->fxsave[0] = 0x7f;   /* FCW 0x037f */
	s->fxsave[1] = 0x03;
	s->fxsave[24] = 0x80;  /* MXCSR 0x1f80 */
	s->fxsave[25] = 0x1f;
	s->xcr0 = XCR0_X87;
}

static void put_seg(struct snap_writer *w, const struct seg *s)
{
	snap_put_u16(w, s->sel);
	snap_put_u64(w, s->base);
	snap_put_u32(w, s->limit);
	snap_put_u16(w, s->attr);
	snap_put_u8(w, s->unusable);
}

static void get_seg(struct snap_reader *r, struct seg *s)
{
	s->sel = snap_get_u16(r);
	s->base = snap_get_u64(r);
	s->limit = snap_get_u32(r);
	s->attr = snap_get_u16(r);
	s->unusable = snap_get_bool(r);
}

/* The XSAVE extension is written up to its last nonzero byte: a CPU without AVX (or a
 * guest that never used it) adds 4 bytes, not 3.5 KiB. */
static size_t ext_used(const struct cpu_state *s)
{
	size_t n = CPU_XSAVE_EXT_SIZE;
	while (n > 0 && s->xsave_ext[n - 1] == 0)
		n--;
	return n;
}

static void put_events(struct snap_writer *w, const struct cpu_events *ev)
{
	snap_put_u8(w, ev->exception_injected);
	snap_put_u8(w, ev->exception);
	snap_put_u8(w, ev->exception_has_error);
	snap_put_u32(w, ev->exception_error);
	snap_put_u8(w, ev->irq_injected);
	snap_put_u8(w, ev->irq);
	snap_put_u8(w, ev->irq_soft);
	snap_put_u8(w, ev->nmi_injected);
	snap_put_u8(w, ev->nmi_pending);
	snap_put_u8(w, ev->nmi_masked);
	snap_put_u8(w, ev->shadow);
}

static void get_events(struct snap_reader *r, struct cpu_events *ev)
{
	ev->exception_injected = snap_get_bool(r);
	ev->exception = snap_get_u8(r);
	snap_check(r, ev->exception < 32, "exception vector");
	ev->exception_has_error = snap_get_bool(r);
	ev->exception_error = snap_get_u32(r);
	ev->irq_injected = snap_get_bool(r);
	ev->irq = snap_get_u8(r);
	ev->irq_soft = snap_get_bool(r);
	ev->nmi_injected = snap_get_bool(r);
	ev->nmi_pending = snap_get_bool(r);
	ev->nmi_masked = snap_get_bool(r);
	ev->shadow = snap_get_u8(r);
	snap_check(r, ev->shadow <= (CPU_SHADOW_MOV_SS | CPU_SHADOW_STI), "interrupt shadow");
	/* One event at a time is in delivery (VMX and SVM inject one). */
	snap_check(r, ev->exception_injected + ev->irq_injected +
	              ev->nmi_injected <= 1, "events in delivery");
}

void cpu_state_save(struct snap_writer *w, const struct cpu_state *s)
{
	for (unsigned i = 0; i < R__COUNT; i++)
		snap_put_u64(w, s->gpr[i]);
	snap_put_u64(w, s->rip);
	snap_put_u64(w, s->rflags);
	for (unsigned i = 0; i < S__COUNT; i++)
		put_seg(w, &s->seg[i]);
	put_seg(w, &s->tr);
	put_seg(w, &s->ldtr);
	snap_put_u64(w, s->gdt.base);
	snap_put_u16(w, s->gdt.limit);
	snap_put_u64(w, s->idt.base);
	snap_put_u16(w, s->idt.limit);
	snap_put_u64(w, s->cr0);
	snap_put_u64(w, s->cr2);
	snap_put_u64(w, s->cr3);
	snap_put_u64(w, s->cr4);
	snap_put_u64(w, s->cr8);
	snap_put_u64(w, s->efer);
	snap_put_u64(w, s->apic_base);

	/* FPU */
	snap_put_bytes(w, s->fxsave, CPU_FXSAVE_SIZE);
	snap_put_u64(w, s->xcr0);
	size_t n = ext_used(s);
	snap_put_u32(w, (uint32_t)n);
	snap_put_bytes(w, s->xsave_ext, n);
	/* MSRs, debug registers */
	for (unsigned i = 0; i < 4; i++)
		snap_put_u64(w, s->dr[i]);
	snap_put_u64(w, s->dr6);
	snap_put_u64(w, s->dr7);
	unsigned nm = s->nmsrs < CPU_MSRS_MAX ? s->nmsrs : CPU_MSRS_MAX;
	snap_put_u32(w, nm);
	for (unsigned i = 0; i < nm; i++) {
		snap_put_u32(w, s->msr[i].index);
		snap_put_u64(w, s->msr[i].value);
	}
	/* events, run state */
	put_events(w, &s->events);
	snap_put_u8(w, s->run);
	/* LAPIC */
	snap_put_bytes(w, s->lapic.regs, CPU_LAPIC_SIZE);
	snap_put_u32(w, s->lapic.esr_pending);
	snap_put_u64(w, s->lapic.tsc_deadline);
}

int cpu_state_load(struct snap_reader *r, struct cpu_state *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < R__COUNT; i++)
		s->gpr[i] = snap_get_u64(r);
	s->rip = snap_get_u64(r);
	s->rflags = snap_get_u64(r);
	for (unsigned i = 0; i < S__COUNT; i++)
		get_seg(r, &s->seg[i]);
	get_seg(r, &s->tr);
	get_seg(r, &s->ldtr);
	s->gdt.base = snap_get_u64(r);
	s->gdt.limit = snap_get_u16(r);
	s->idt.base = snap_get_u64(r);
	s->idt.limit = snap_get_u16(r);
	s->cr0 = snap_get_u64(r);
	s->cr2 = snap_get_u64(r);
	s->cr3 = snap_get_u64(r);
	s->cr4 = snap_get_u64(r);
	s->cr8 = snap_get_u64(r);
	s->efer = snap_get_u64(r);
	s->apic_base = snap_get_u64(r);

	snap_get_bytes(r, s->fxsave, CPU_FXSAVE_SIZE);
	s->xcr0 = snap_get_u64(r);
	uint32_t n = snap_get_u32(r);
	if (snap_check(r, n <= CPU_XSAVE_EXT_SIZE, "XSAVE state length"))
		snap_get_bytes(r, s->xsave_ext, n);

	for (unsigned i = 0; i < 4; i++)
		s->dr[i] = snap_get_u64(r);
	s->dr6 = snap_get_u64(r);
	s->dr7 = snap_get_u64(r);
	uint32_t nm = snap_get_u32(r);
	if (snap_check(r, nm <= CPU_MSRS_MAX, "MSR count")) {
		int last = -1;
		for (uint32_t i = 0; i < nm && !r->failed; i++) {
			uint32_t index = snap_get_u32(r);
			uint64_t value = snap_get_u64(r);
			int pos = list_pos(index);
			/* Known, and in the list's order: no repeats, the TSC first. */
			if (!snap_check(r, pos > last, "MSR index"))
				break;
			last = pos;
			s->msr[i] = (struct cpu_msr){ index, value };
			s->nmsrs = i + 1;
		}
	}

	get_events(r, &s->events);
	s->run = snap_get_u8(r);
	snap_check(r, s->run < CPU_RUN__COUNT, "run state");

	snap_get_bytes(r, s->lapic.regs, CPU_LAPIC_SIZE);
	s->lapic.esr_pending = snap_get_u32(r);
	s->lapic.tsc_deadline = snap_get_u64(r);
	s->has = CPU_STATE_ALL;
	return snap_status(r);
}
