/* The kvm engine's vCPUs, in-kernel interrupt controllers, PIT and clock in the
 * engine-neutral form of core/cpu_state.h and core/chip_state.h (KVM API:
 * Documentation/virt/kvm/api.rst). The time rule of cpu_state.h: the TSC is the
 * IA32_TSC value (KVM synchronises host-initiated writes that land close together),
 * kvm-clock is KVM_GET/SET_CLOCK, the LAPIC timer goes on from TMCCT (KVM_SET_LAPIC
 * restarts it from that count), the TSC frequency is set per vCPU (KVM_SET_TSC_KHZ). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "core/chip_state.h"
#include "core/mem.h"
#include "engine/kvm/kvm_engine.h"

#define LAPIC_ID 0x20
#define XSAVE_HDR 512                  /* XSTATE_BV, then XCOMP_BV */
#define KVM_MSR_ENABLED 1ull

/* kvm_msrs ends in a flexible array: room for the whole list and the TSC deadline. */
union msr_buf {
	struct kvm_msrs hdr;
	uint8_t room[sizeof(struct kvm_msrs) + (CPU_MSRS_MAX + 1) * sizeof(struct kvm_msr_entry)];
};

static bool has_cap(struct kvm_vm_data *d, int cap)
{
	return ioctl(d->sys_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

/* Can this vCPU read MSR index? (KVM_GET_MSRS returns how many it read.) */
static bool msr_readable(int fd, uint32_t index)
{
	union msr_buf m = { .hdr.nmsrs = 1 };
	m.hdr.entries[0].index = index;
	return ioctl(fd, KVM_GET_MSRS, &m) == 1;
}

void kvm_state_probe(struct vcpu *v)
{
	struct kvm_vm_data *d = vmd(v->vm);
	if (d->probed)
		return;
	d->probed = true;
	d->xsave = has_cap(d, KVM_CAP_XSAVE);
	d->xcrs = has_cap(d, KVM_CAP_XCRS);
	d->debugregs = has_cap(d, KVM_CAP_DEBUGREGS);
	d->tsc_khz = has_cap(d, KVM_CAP_GET_TSC_KHZ) && has_cap(d, KVM_CAP_TSC_CONTROL);
	d->nmsrs = 0;
	for (unsigned k = 0; cpu_state_msr_index(k) && d->nmsrs < CPU_MSRS_MAX; k++)
		if (msr_readable(vcd(v)->fd, cpu_state_msr_index(k)))
			d->msrs[d->nmsrs++] = cpu_state_msr_index(k);
}

static bool kvm_models(const struct kvm_vm_data *d, uint32_t index)
{
	for (unsigned k = 0; k < d->nmsrs; k++)
		if (d->msrs[k] == index)
			return true;
	return false;
}

/* The value an MSR has after KVM's vCPU reset: what a state without it must hold. */
static uint64_t reset_value(uint32_t msr)
{
	switch (msr) {
	case MSR_KVM_POLL_CONTROL: return 1;
	case MSR_PAT: return 0x0007040600070406ull;
	default: return 0;
	}
}

static int fail(struct err *e, struct vcpu *v, const char *what)
{
	return err_set(e, errno, "vCPU %u: %s: %s", v->id, what, strerror(errno));
}

/* ---- registers ---- */

/* Segment conversions: trivisor's attr uses the VMX access-rights layout. */
static void seg_to_kvm(const struct seg *s, struct kvm_segment *k)
{
	*k = (struct kvm_segment){
		.base = s->base, .limit = s->limit, .selector = s->sel,
		.type = SEG_ATTR_TYPE(s->attr), .s = !!(s->attr & SEG_ATTR_S),
		.dpl = SEG_ATTR_DPL(s->attr), .present = !!(s->attr & SEG_ATTR_P),
		.avl = !!(s->attr & (1u << 12)), .l = !!(s->attr & SEG_ATTR_L),
		.db = !!(s->attr & SEG_ATTR_DB), .g = !!(s->attr & SEG_ATTR_G),
		.unusable = s->unusable,
	};
}

static void seg_from_kvm(const struct kvm_segment *k, struct seg *s)
{
	*s = (struct seg){
		.sel = k->selector, .base = k->base, .limit = k->limit, .unusable = k->unusable,
		.attr = (uint16_t)((k->type & 0xf) | (k->s << 4) | ((k->dpl & 3) << 5) |
		                   (k->present << 7) | (k->avl << 12) | (k->l << 13) |
		                   (k->db << 14) | (k->g << 15)),
	};
}

static int get_regs(struct vcpu *v, struct cpu_state *s, struct err *e)
{
	struct kvm_regs r;
	struct kvm_sregs sr;
	int fd = vcd(v)->fd;

	if (ioctl(fd, KVM_GET_REGS, &r) < 0 || ioctl(fd, KVM_GET_SREGS, &sr) < 0)
		return fail(e, v, "KVM_GET_REGS/SREGS");
	uint64_t g[R__COUNT] = { r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi,
	                         r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15 };
	memcpy(s->gpr, g, sizeof(g));
	s->rip = r.rip;
	s->rflags = r.rflags;
	struct kvm_segment *ks[S__COUNT] = { &sr.es, &sr.cs, &sr.ss, &sr.ds, &sr.fs, &sr.gs };
	for (int i = 0; i < S__COUNT; i++)
		seg_from_kvm(ks[i], &s->seg[i]);
	seg_from_kvm(&sr.tr, &s->tr);
	seg_from_kvm(&sr.ldt, &s->ldtr);
	s->gdt = (struct dtable){ sr.gdt.base, sr.gdt.limit };
	s->idt = (struct dtable){ sr.idt.base, sr.idt.limit };
	s->cr0 = sr.cr0; s->cr2 = sr.cr2; s->cr3 = sr.cr3; s->cr4 = sr.cr4; s->cr8 = sr.cr8;
	s->efer = sr.efer;
	s->apic_base = sr.apic_base;
	return 0;
}

static int set_regs(struct vcpu *v, const struct cpu_state *s, struct err *e)
{
	struct kvm_sregs sr;
	int fd = vcd(v)->fd;

	/* Start from KVM's sregs so fields trivisor does not model (interrupt bitmap) stay. */
	if (ioctl(fd, KVM_GET_SREGS, &sr) < 0)
		return fail(e, v, "KVM_GET_SREGS");
	struct kvm_segment *ks[S__COUNT] = { &sr.es, &sr.cs, &sr.ss, &sr.ds, &sr.fs, &sr.gs };
	for (int i = 0; i < S__COUNT; i++)
		seg_to_kvm(&s->seg[i], ks[i]);
	seg_to_kvm(&s->tr, &sr.tr);
	seg_to_kvm(&s->ldtr, &sr.ldt);
	sr.gdt.base = s->gdt.base; sr.gdt.limit = s->gdt.limit;
	sr.idt.base = s->idt.base; sr.idt.limit = s->idt.limit;
	sr.cr0 = s->cr0; sr.cr2 = s->cr2; sr.cr3 = s->cr3; sr.cr4 = s->cr4; sr.cr8 = s->cr8;
	sr.efer = s->efer;
	if (s->apic_base)
		sr.apic_base = s->apic_base;
	if (s->has & CPU_STATE_EVENTS)
		memset(sr.interrupt_bitmap, 0, sizeof(sr.interrupt_bitmap));  /* events say it */
	if (ioctl(fd, KVM_SET_SREGS, &sr) < 0)
		return fail(e, v, "KVM_SET_SREGS (control registers, segments or EFER refused)");

	const uint64_t *g = s->gpr;
	struct kvm_regs r = {
		.rax = g[R_RAX], .rcx = g[R_RCX], .rdx = g[R_RDX], .rbx = g[R_RBX],
		.rsp = g[R_RSP], .rbp = g[R_RBP], .rsi = g[R_RSI], .rdi = g[R_RDI],
		.r8 = g[R_R8], .r9 = g[R_R9], .r10 = g[R_R10], .r11 = g[R_R11],
		.r12 = g[R_R12], .r13 = g[R_R13], .r14 = g[R_R14], .r15 = g[R_R15],
		.rip = s->rip, .rflags = s->rflags | 2, /* bit 1 is always set */
	};
	if (ioctl(fd, KVM_SET_REGS, &r) < 0)
		return fail(e, v, "KVM_SET_REGS");
	return 0;
}

/* ---- FPU ---- */

/* struct kvm_fpu <-> the FXSAVE image (SDM vol. 1 table 10-2, 64-bit form). */
static void fx_from_kvm(const struct kvm_fpu *f, uint8_t *fx)
{
	memset(fx, 0, CPU_FXSAVE_SIZE);
	memcpy(fx + 0, &f->fcw, 2);
	memcpy(fx + 2, &f->fsw, 2);
	fx[4] = f->ftwx;
	memcpy(fx + 6, &f->last_opcode, 2);
	memcpy(fx + 8, &f->last_ip, 8);
	memcpy(fx + 16, &f->last_dp, 8);
	memcpy(fx + 24, &f->mxcsr, 4);
	memcpy(fx + 32, f->fpr, sizeof(f->fpr));
	memcpy(fx + 160, f->xmm, sizeof(f->xmm));
}

static void fx_to_kvm(const uint8_t *fx, struct kvm_fpu *f)
{
	memset(f, 0, sizeof(*f));
	memcpy(&f->fcw, fx + 0, 2);
	memcpy(&f->fsw, fx + 2, 2);
	f->ftwx = fx[4];
	memcpy(&f->last_opcode, fx + 6, 2);
	memcpy(&f->last_ip, fx + 8, 8);
	memcpy(&f->last_dp, fx + 16, 8);
	memcpy(&f->mxcsr, fx + 24, 4);
	memcpy(f->fpr, fx + 32, sizeof(f->fpr));
	memcpy(f->xmm, fx + 160, sizeof(f->xmm));
}

static int get_fpu(struct vcpu *v, struct cpu_state *s, struct err *e)
{
	struct kvm_vm_data *d = vmd(v->vm);
	int fd = vcd(v)->fd;
	s->xcr0 = XCR0_X87;
	if (d->xsave) {
		/* The standard (non-compacted) layout, components in their initial
		 * configuration written as such (zeros above SSE). */
		struct kvm_xsave x;
		if (ioctl(fd, KVM_GET_XSAVE, &x) < 0)
			return fail(e, v, "KVM_GET_XSAVE");
		const uint8_t *b = (const uint8_t *)x.region;
		memcpy(s->fxsave, b, CPU_FXSAVE_SIZE);
		memcpy(s->xsave_ext, b + CPU_XSAVE_EXT_OFFSET, CPU_XSAVE_EXT_SIZE);
	} else {
		struct kvm_fpu f;
		if (ioctl(fd, KVM_GET_FPU, &f) < 0)
			return fail(e, v, "KVM_GET_FPU");
		fx_from_kvm(&f, s->fxsave);
	}
	if (d->xcrs) {
		struct kvm_xcrs x;
		if (ioctl(fd, KVM_GET_XCRS, &x) < 0)
			return fail(e, v, "KVM_GET_XCRS");
		for (unsigned k = 0; k < x.nr_xcrs && k < KVM_MAX_XCRS; k++)
			if (x.xcrs[k].xcr == 0)
				s->xcr0 = x.xcrs[k].value;
	}
	return 0;
}

static int set_fpu(struct vcpu *v, const struct cpu_state *s, struct err *e)
{
	struct kvm_vm_data *d = vmd(v->vm);
	int fd = vcd(v)->fd;
	if (d->xcrs) {
		/* XCR0 first: the XSAVE image may hold what it enables. */
		struct kvm_xcrs x = { .nr_xcrs = 1, .xcrs[0] = { .xcr = 0, .value = s->xcr0 } };
		if (ioctl(fd, KVM_SET_XCRS, &x) < 0)
			return err_set(e, errno, "vCPU %u: XCR0 0x%llx refused by KVM (the guest ran on "
			               "a CPU model with other XSAVE features)", v->id,
			               (unsigned long long)s->xcr0);
	} else if (s->xcr0 != XCR0_X87) {
		return err_set(e, ENOTSUP, "vCPU %u: XCR0 0x%llx, and this KVM has no XCRs", v->id,
		               (unsigned long long)s->xcr0);
	}
	if (d->xsave) {
		/* KVM's own header as the template: XSTATE_BV every component it holds, so
		 * that each is loaded from the image (zeros: the initial configuration). */
		struct kvm_xsave x;
		if (ioctl(fd, KVM_GET_XSAVE, &x) < 0)
			return fail(e, v, "KVM_GET_XSAVE");
		uint8_t *b = (uint8_t *)x.region;
		uint64_t bv = 0;
		memcpy(b, s->fxsave, CPU_FXSAVE_SIZE);
		memcpy(b + CPU_XSAVE_EXT_OFFSET, s->xsave_ext, CPU_XSAVE_EXT_SIZE);
		memcpy(&bv, b + XSAVE_HDR, 8);
		bv |= s->xcr0 | XCR0_X87 | XCR0_SSE;
		memcpy(b + XSAVE_HDR, &bv, 8);
		if (ioctl(fd, KVM_SET_XSAVE, &x) < 0) {
			/* A component the guest's CPU model lacks: retry without what XCR0 does
			 * not enable, and refuse only if that fails too. */
			bv = s->xcr0 | XCR0_X87 | XCR0_SSE;
			memcpy(b + XSAVE_HDR, &bv, 8);
			if (ioctl(fd, KVM_SET_XSAVE, &x) < 0)
				return err_set(e, errno, "vCPU %u: KVM_SET_XSAVE refused the FPU/SSE/AVX "
				               "state (MXCSR reserved bits, or state the CPU model lacks)",
				               v->id);
		}
	} else {
		for (size_t k = 0; k < CPU_XSAVE_EXT_SIZE; k++)
			if (s->xsave_ext[k])
				return err_set(e, ENOTSUP, "vCPU %u: XSAVE state above SSE, and this KVM "
				               "has no XSAVE", v->id);
		struct kvm_fpu f;
		fx_to_kvm(s->fxsave, &f);
		if (ioctl(fd, KVM_SET_FPU, &f) < 0)
			return fail(e, v, "KVM_SET_FPU");
	}
	return 0;
}

/* ---- MSRs, debug registers ---- */

static int get_msrs(struct vcpu *v, struct cpu_state *s, struct err *e)
{
	struct kvm_vm_data *d = vmd(v->vm);
	union msr_buf m = { .hdr.nmsrs = d->nmsrs + 1 };
	for (unsigned k = 0; k < d->nmsrs; k++)
		m.hdr.entries[k].index = d->msrs[k];
	m.hdr.entries[d->nmsrs].index = MSR_TSC_DEADLINE;
	int n = ioctl(vcd(v)->fd, KVM_GET_MSRS, &m);
	if (n < 0)
		return fail(e, v, "KVM_GET_MSRS");
	if ((unsigned)n < m.hdr.nmsrs && m.hdr.entries[n].index != MSR_TSC_DEADLINE)
		return err_set(e, EIO, "vCPU %u: KVM_GET_MSRS: MSR 0x%x unreadable", v->id,
		               m.hdr.entries[n].index);
	for (unsigned k = 0; k < d->nmsrs; k++)
		cpu_state_set_msr(s, m.hdr.entries[k].index, m.hdr.entries[k].data);
	if ((unsigned)n == m.hdr.nmsrs)
		s->lapic.tsc_deadline = m.hdr.entries[d->nmsrs].data;

	if (d->debugregs) {
		struct kvm_debugregs dr;
		if (ioctl(vcd(v)->fd, KVM_GET_DEBUGREGS, &dr) < 0)
			return fail(e, v, "KVM_GET_DEBUGREGS");
		memcpy(s->dr, dr.db, sizeof(s->dr));
		s->dr6 = dr.dr6;
		s->dr7 = dr.dr7;
	}
	return 0;
}

/* The PV EOI flag in guest memory tells the guest it may skip the EOI of the interrupt
 * in service; KVM, which did not set it, would never notice that EOI: clear it, and
 * the guest ends the interrupt through the register (msr.rst, MSR_KVM_PV_EOI_EN). */
static void withdraw_pv_eoi(struct vm *vm, uint64_t msr)
{
	if (!(msr & KVM_MSR_ENABLED))
		return;
	uint8_t *g = mem_ptr(&vm->mem, msr & ~KVM_MSR_ENABLED, 4);
	if (g)
		__atomic_fetch_and(g, (uint8_t)~1u, __ATOMIC_RELAXED);
}

static int set_msrs(struct vcpu *v, const struct cpu_state *s, bool deadline, struct err *e)
{
	struct kvm_vm_data *d = vmd(v->vm);
	union msr_buf m = { .hdr.nmsrs = 0 };
	uint64_t pv_eoi = 0;
	for (unsigned k = 0; k < s->nmsrs && k < CPU_MSRS_MAX; k++) {
		const struct cpu_msr *x = &s->msr[k];
		if (!kvm_models(d, x->index)) {
			if (x->value != reset_value(x->index))
				return err_set(e, ENOTSUP, "vCPU %u: MSR 0x%x = 0x%llx: this KVM does not "
				               "have it", v->id, x->index, (unsigned long long)x->value);
			continue;
		}
		if (x->index == MSR_KVM_PV_EOI_EN)
			pv_eoi = x->value;
		m.hdr.entries[m.hdr.nmsrs++] = (struct kvm_msr_entry){ .index = x->index,
		                                                       .data = x->value };
	}
	/* After the TSC (first in the list) and the LAPIC (set before): its timer mode. */
	if (deadline)
		m.hdr.entries[m.hdr.nmsrs++] = (struct kvm_msr_entry){ .index = MSR_TSC_DEADLINE,
		                                                       .data = s->lapic.tsc_deadline };
	int n = ioctl(vcd(v)->fd, KVM_SET_MSRS, &m);
	if (n < 0)
		return fail(e, v, "KVM_SET_MSRS");
	if ((unsigned)n < m.hdr.nmsrs)
		return err_set(e, EINVAL, "vCPU %u: MSR 0x%x = 0x%llx refused by KVM", v->id,
		               m.hdr.entries[n].index, (unsigned long long)m.hdr.entries[n].data);
	withdraw_pv_eoi(v->vm, pv_eoi);

	if (d->debugregs) {
		struct kvm_debugregs dr = { .dr6 = s->dr6, .dr7 = s->dr7 };
		memcpy(dr.db, s->dr, sizeof(dr.db));
		if (ioctl(vcd(v)->fd, KVM_SET_DEBUGREGS, &dr) < 0)
			return fail(e, v, "KVM_SET_DEBUGREGS (DR6/DR7 refused)");
	}
	return 0;
}

/* ---- events, run state ---- */

static int get_events(struct vcpu *v, struct cpu_state *s, struct err *e)
{
	int fd = vcd(v)->fd;
	struct kvm_vcpu_events k;
	struct kvm_mp_state mp;
	if (ioctl(fd, KVM_GET_VCPU_EVENTS, &k) < 0)
		return fail(e, v, "KVM_GET_VCPU_EVENTS");
	if (ioctl(fd, KVM_GET_MP_STATE, &mp) < 0)
		return fail(e, v, "KVM_GET_MP_STATE");
	/* Without KVM_CAP_EXCEPTION_PAYLOAD a pending exception is reported as injected
	 * (CR2/DR6 already written): delivered before the next instruction either way. */
	s->events = (struct cpu_events){
		.exception_injected = k.exception.injected || k.exception.pending,
		.exception = k.exception.nr & 31,
		.exception_has_error = k.exception.has_error_code,
		.exception_error = k.exception.error_code,
		.irq_injected = k.interrupt.injected, .irq = k.interrupt.nr,
		.irq_soft = k.interrupt.soft,
		.nmi_injected = k.nmi.injected, .nmi_pending = k.nmi.pending != 0,
		.nmi_masked = k.nmi.masked,
		.shadow = k.interrupt.shadow & (CPU_SHADOW_MOV_SS | CPU_SHADOW_STI),
	};
	_Static_assert(CPU_SHADOW_MOV_SS == KVM_X86_SHADOW_INT_MOV_SS &&
	               CPU_SHADOW_STI == KVM_X86_SHADOW_INT_STI, "shadow bits as KVM's");
	switch (mp.mp_state) {
	case KVM_MP_STATE_RUNNABLE: s->run = CPU_RUN_RUNNING; break;
	case KVM_MP_STATE_HALTED: s->run = CPU_RUN_HALTED; break;
	case KVM_MP_STATE_UNINITIALIZED: s->run = CPU_RUN_WAIT_INIT; break;
	case KVM_MP_STATE_INIT_RECEIVED:
	case KVM_MP_STATE_SIPI_RECEIVED: s->run = CPU_RUN_WAIT_SIPI; break;
	default:
		return err_set(e, ENOTSUP, "vCPU %u: KVM run state %u has no neutral form", v->id,
		               mp.mp_state);
	}
	if (k.smi.smm || k.smi.pending)
		return err_set(e, ENOTSUP, "vCPU %u: in or entering SMM, which trivisor does not "
		               "use", v->id);
	return 0;
}

static int set_events(struct vcpu *v, const struct cpu_state *s, struct err *e)
{
	int fd = vcd(v)->fd;
	static const uint32_t mp[CPU_RUN__COUNT] = {
		[CPU_RUN_RUNNING] = KVM_MP_STATE_RUNNABLE, [CPU_RUN_HALTED] = KVM_MP_STATE_HALTED,
		[CPU_RUN_WAIT_INIT] = KVM_MP_STATE_UNINITIALIZED,
		[CPU_RUN_WAIT_SIPI] = KVM_MP_STATE_INIT_RECEIVED,
	};
	if (s->run >= CPU_RUN__COUNT)
		return err_set(e, EINVAL, "vCPU %u: run state %u", v->id, s->run);
	struct kvm_mp_state m = { .mp_state = mp[s->run] };
	if (ioctl(fd, KVM_SET_MP_STATE, &m) < 0)
		return fail(e, v, "KVM_SET_MP_STATE");
	const struct cpu_events *ev = &s->events;
	struct kvm_vcpu_events k = {
		.exception = { .injected = ev->exception_injected, .nr = ev->exception & 31,
		               .has_error_code = ev->exception_has_error,
		               .error_code = ev->exception_error },
		.interrupt = { .injected = ev->irq_injected, .nr = ev->irq, .soft = ev->irq_soft,
		               .shadow = ev->shadow },
		.nmi = { .injected = ev->nmi_injected, .pending = ev->nmi_pending,
		         .masked = ev->nmi_masked },
		.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW,
	};
	if (ioctl(fd, KVM_SET_VCPU_EVENTS, &k) < 0)
		return fail(e, v, "KVM_SET_VCPU_EVENTS");
	return 0;
}

/* ---- LAPIC ---- */

/* Without KVM_CAP_X2APIC_API's 32-bit IDs (trivisor does not enable it), KVM keeps an
 * x2APIC ID in bits 31-24 of the ID register, as in xAPIC mode (api.rst). */
static bool x2apic(uint64_t apic_base)
{
	return (apic_base & (3u << 10)) == (3u << 10);
}

static int get_lapic(struct vcpu *v, struct cpu_state *s, struct err *e)
{
	struct kvm_lapic_state la;
	if (ioctl(vcd(v)->fd, KVM_GET_LAPIC, &la) < 0)
		return fail(e, v, "KVM_GET_LAPIC");
	_Static_assert(sizeof(la.regs) == CPU_LAPIC_SIZE, "KVM's LAPIC page");
	memcpy(s->lapic.regs, la.regs, CPU_LAPIC_SIZE);
	if (x2apic(s->apic_base))
		cpu_lapic_set_reg(&s->lapic, LAPIC_ID, cpu_lapic_reg(&s->lapic, LAPIC_ID) >> 24);
	s->lapic.esr_pending = 0;
	return 0;
}

static int set_lapic(struct vcpu *v, const struct cpu_state *s, struct err *e)
{
	struct kvm_lapic_state la;
	struct cpu_lapic l = s->lapic;
	if (x2apic(s->apic_base)) {
		if (cpu_lapic_reg(&l, LAPIC_ID) != v->id)
			return err_set(e, EINVAL, "vCPU %u: x2APIC ID %u", v->id,
			               cpu_lapic_reg(&l, LAPIC_ID));
		cpu_lapic_set_reg(&l, LAPIC_ID, v->id << 24);
	}
	memcpy(la.regs, l.regs, CPU_LAPIC_SIZE);
	if (ioctl(vcd(v)->fd, KVM_SET_LAPIC, &la) < 0)
		return fail(e, v, "KVM_SET_LAPIC");
	return 0;
}

/* ---- get/set ---- */

int kvm_get_state(struct vcpu *v, struct cpu_state *s, struct err *e)
{
	struct kvm_vcpu_data *c = vcd(v);
	int r;

	memset(s, 0, sizeof(*s));
	if (c->io_pending) {
		/* Let KVM finish the IN/OUT or MMIO access, running nothing further. */
		__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_RELEASE);
		r = ioctl(c->fd, KVM_RUN, 0);
		int en = errno;
		__atomic_store_n(&c->run->immediate_exit, 0, __ATOMIC_RELEASE);
		if (r == 0 || (en != EINTR && en != EAGAIN))
			return err_set(e, r ? en : EIO, "vCPU %u: finishing its port or MMIO access "
			               "before a state read: %s", v->id, r ? strerror(en) : "it ran");
		c->io_pending = false;
	}
	/* The MP state first: KVM takes pending INIT/SIPI there. */
	if ((r = get_events(v, s, e)) || (r = get_regs(v, s, e)) || (r = get_fpu(v, s, e)) ||
	    (r = get_msrs(v, s, e)) || (r = get_lapic(v, s, e)))
		return r;
	s->has = CPU_STATE_ALL;
	return 0;
}

int kvm_set_state(struct vcpu *v, const struct cpu_state *s, struct err *e)
{
	int r;
	/* Registers (APIC base with them), the FPU, the LAPIC (in the mode APIC base
	 * gives it), the MSRs (the TSC first, the TSC deadline after the LAPIC's timer
	 * mode), then the run state and the events. */
	if ((r = set_regs(v, s, e)))
		return r;
	if ((s->has & CPU_STATE_FPU) && (r = set_fpu(v, s, e)))
		return r;
	if ((s->has & CPU_STATE_LAPIC) && (r = set_lapic(v, s, e)))
		return r;
	if ((s->has & CPU_STATE_MSRS) &&
	    (r = set_msrs(v, s, (s->has & CPU_STATE_LAPIC) && s->lapic.tsc_deadline, e)))
		return r;
	if ((s->has & CPU_STATE_EVENTS) && (r = set_events(v, s, e)))
		return r;
	return 0;
}

/* ---- the VM's state ---- */

static int vm_ioctl(struct vm *vm, unsigned long req, void *arg, const char *what,
                    struct err *e)
{
	if (ioctl(vmd(vm)->vm_fd, req, arg) < 0)
		return err_set(e, errno, "%s: %s", what, strerror(errno));
	return 0;
}

static void pic_from_kvm(const struct kvm_pic_state *k, struct pic_chip_state *c)
{
	*c = (struct pic_chip_state){
		.irr = k->irr, .isr = k->isr, .imr = k->imr, .elcr = k->elcr, .lines = k->last_irr,
		.base = k->irq_base & 0xf8, .priority_add = k->priority_add & 7,
		.init_step = k->init_state <= 3 ? k->init_state : 0,
		.flags = (uint16_t)((k->init4 ? PIC_NEED_ICW4 : 0) | (k->auto_eoi ? PIC_AUTO_EOI : 0) |
		                    (k->rotate_on_auto_eoi ? PIC_ROTATE_AEOI : 0) |
		                    (k->special_mask ? PIC_SPECIAL_MASK : 0) |
		                    (k->read_reg_select ? PIC_READ_ISR : 0) |
		                    (k->poll ? PIC_POLL : 0) |
		                    (k->special_fully_nested_mode ? PIC_SFNM : 0)),
	};
}

static void pic_to_kvm(const struct pic_chip_state *c, struct kvm_pic_state *k)
{
	k->irr = c->irr;
	k->isr = c->isr;
	k->imr = c->imr;
	k->elcr = c->elcr & k->elcr_mask;
	k->last_irr = c->lines;
	k->irq_base = c->base;
	k->priority_add = c->priority_add;
	k->init_state = c->init_step;
	k->init4 = !!(c->flags & PIC_NEED_ICW4);
	k->auto_eoi = !!(c->flags & PIC_AUTO_EOI);
	k->rotate_on_auto_eoi = !!(c->flags & PIC_ROTATE_AEOI);
	k->special_mask = !!(c->flags & PIC_SPECIAL_MASK);
	k->read_reg_select = !!(c->flags & PIC_READ_ISR);
	k->poll = !!(c->flags & PIC_POLL);
	k->special_fully_nested_mode = !!(c->flags & PIC_SFNM);
}

int kvm_save_state(struct vm *vm, struct snap_writer *w, struct err *e)
{
	struct engine_vm_state s = { 0 };
	struct kvm_clock_data clk = { 0 };
	int r;
	if ((r = vm_ioctl(vm, KVM_GET_CLOCK, &clk, "KVM_GET_CLOCK", e)))
		return r;
	s.clock_ns = clk.clock;
	int khz = vm->vcpus[0].engine_data ? ioctl(vcd(&vm->vcpus[0])->fd, KVM_GET_TSC_KHZ, 0) : -1;
	if (khz <= 0)
		return err_set(e, errno, "KVM_GET_TSC_KHZ: %s", strerror(errno));
	s.tsc_khz = (uint32_t)khz;

	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	if ((r = vm_ioctl(vm, KVM_GET_IRQCHIP, &chip, "KVM_GET_IRQCHIP (IOAPIC)", e)))
		return r;
	const struct kvm_ioapic_state *io = &chip.chip.ioapic;
	s.ioapic.id = (uint8_t)(io->id & 0xf);
	s.ioapic.sel = (uint8_t)io->ioregsel;
	s.ioapic.lines = io->irr & ((1u << CHIP_IOAPIC_PINS) - 1);
	for (unsigned p = 0; p < CHIP_IOAPIC_PINS && p < KVM_IOAPIC_NUM_PINS; p++)
		s.ioapic.rte[p] = io->redirtbl[p].bits;
	for (unsigned n = 0; n < 2; n++) {
		struct kvm_irqchip pic = { .chip_id = n ? KVM_IRQCHIP_PIC_SLAVE : KVM_IRQCHIP_PIC_MASTER };
		if ((r = vm_ioctl(vm, KVM_GET_IRQCHIP, &pic, "KVM_GET_IRQCHIP (PIC)", e)))
			return r;
		pic_from_kvm(&pic.chip.pic, &s.pic.chip[n]);
	}
	engine_vm_state_save(w, &s);
	return 0;
}

int kvm_load_state(struct vm *vm, struct snap_reader *r, struct err *e)
{
	struct engine_vm_state s;
	int ret;
	if (engine_vm_state_load(r, &s))
		return -EINVAL;

	/* The guest's TSC frequency on every vCPU (KVM scales, or refuses). */
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if (!vm->vcpus[i].engine_data)
			return err_set(e, EINVAL, "engine state loaded before the vCPUs exist");
		int fd = vcd(&vm->vcpus[i])->fd;
		int khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);
		if (khz == (int)s.tsc_khz)
			continue;
		if (!vmd(vm)->tsc_khz || ioctl(fd, KVM_SET_TSC_KHZ, (unsigned long)s.tsc_khz) < 0)
			return err_set(e, ENOTSUP, "snapshot: the guest's TSC runs at %u kHz; this "
			               "host's runs at %d kHz and its KVM cannot scale it (%s)",
			               s.tsc_khz, khz, vmd(vm)->tsc_khz ? strerror(errno) :
			               "no KVM_CAP_TSC_CONTROL");
	}
	struct kvm_clock_data clk = { .clock = s.clock_ns };
	if ((ret = vm_ioctl(vm, KVM_SET_CLOCK, &clk, "KVM_SET_CLOCK", e)))
		return ret;

	for (unsigned n = 0; n < 2; n++)
		if (s.pic.chip[n].flags & (PIC_SINGLE | PIC_LTIM))
			return err_set(e, ENOTSUP, "snapshot: the 8259A is in single or level-triggered "
			               "(LTIM) mode, which KVM's does not model");
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	if ((ret = vm_ioctl(vm, KVM_GET_IRQCHIP, &chip, "KVM_GET_IRQCHIP (IOAPIC)", e)))
		return ret;
	struct kvm_ioapic_state *io = &chip.chip.ioapic;
	io->id = s.ioapic.id;
	io->ioregsel = s.ioapic.sel;
	io->irr = s.ioapic.lines;
	for (unsigned p = 0; p < CHIP_IOAPIC_PINS && p < KVM_IOAPIC_NUM_PINS; p++)
		io->redirtbl[p].bits = s.ioapic.rte[p];
	if ((ret = vm_ioctl(vm, KVM_SET_IRQCHIP, &chip, "KVM_SET_IRQCHIP (IOAPIC)", e)))
		return ret;
	for (unsigned n = 0; n < 2; n++) {
		struct kvm_irqchip pic = { .chip_id = n ? KVM_IRQCHIP_PIC_SLAVE : KVM_IRQCHIP_PIC_MASTER };
		if ((ret = vm_ioctl(vm, KVM_GET_IRQCHIP, &pic, "KVM_GET_IRQCHIP (PIC)", e)))
			return ret;
		pic_to_kvm(&s.pic.chip[n], &pic.chip.pic);
		if ((ret = vm_ioctl(vm, KVM_SET_IRQCHIP, &pic, "KVM_SET_IRQCHIP (PIC)", e)))
			return ret;
	}
	return 0;
}

/* ---- the PIT ---- */

static uint64_t host_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);   /* the clock of KVM's count_load_time */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* KVM's access states: 1 LSB, 2 MSB, 3 word (LSB next), 4 word (MSB next), as the
 * neutral ones; 0 before the first control word. */
static uint8_t rw_state(uint8_t k)
{
	return k >= PIT_RW_LSB && k <= PIT_RW_WORD1 ? k : PIT_RW_WORD0;
}

int kvm_pit_save(void *opaque, struct snap_writer *w)
{
	struct kvm_vm_data *d = opaque;
	struct kvm_pit_state2 k;
	if (ioctl(d->vm_fd, KVM_GET_PIT2, &k) < 0)
		return -errno;
	uint64_t now = host_ns();
	struct pit_state s = { 0 };
	for (unsigned i = 0; i < 3; i++) {
		const struct kvm_pit_channel_state *c = &k.channels[i];
		uint8_t mode = c->mode == 6 || c->mode == 7 ? c->mode - 4 : c->mode;
		bool programmed = mode <= 5;   /* KVM's reset mode is 0xff */
		uint64_t age = now - (uint64_t)c->count_load_time;
		s.ch[i] = (struct pit_channel_state){
			.count = programmed ? (c->count ? c->count : 0x10000) : 0,
			.latched_count = c->latched_count,
			.count_latched = c->count_latched <= PIT_RW_WORD1 ? c->count_latched : 0,
			.status_latched = c->status_latched, .status = c->status,
			.read_state = rw_state(c->read_state), .write_state = rw_state(c->write_state),
			.write_latch = c->write_latch,
			.rw_mode = c->rw_mode >= 1 && c->rw_mode <= 3 ? c->rw_mode : 3,
			.mode = programmed ? mode : 0, .bcd = c->bcd, .gate = c->gate,
			.elapsed_ns = programmed && (int64_t)age > 0 ? age : 0,
			.loaded = programmed, .started = true,
			.running = c->gate || mode == 1 || mode == 5,
		};
		if (s.ch[i].bcd && s.ch[i].count > 10000)
			s.ch[i].count = 10000;
	}
	s.port61 = (uint8_t)((k.channels[2].gate ? 1 : 0) |
	                     (k.flags & KVM_PIT_FLAGS_SPEAKER_DATA_ON ? 2 : 0));
	pit_state_save(w, &s);
	return 0;
}

int kvm_pit_load(void *opaque, struct snap_reader *r)
{
	struct kvm_vm_data *d = opaque;
	struct pit_state s;
	struct kvm_pit_state2 k;
	if (pit_state_load(r, &s))
		return -EINVAL;
	if (ioctl(d->vm_fd, KVM_GET_PIT2, &k) < 0)
		return err_set(r->e, errno, "KVM_GET_PIT2: %s", strerror(errno));
	uint64_t now = host_ns();
	for (unsigned i = 0; i < 3; i++) {
		const struct pit_channel_state *c = &s.ch[i];
		k.channels[i] = (struct kvm_pit_channel_state){
			.count = c->loaded ? c->count : 0x10000,
			.latched_count = c->latched_count, .count_latched = c->count_latched,
			.status_latched = c->status_latched, .status = c->status,
			.read_state = c->read_state, .write_state = c->write_state,
			.write_latch = c->write_latch, .rw_mode = c->rw_mode,
			/* A counter never given a count: KVM's reset mode, which fires nothing. */
			.mode = c->loaded ? c->mode : 0xff, .bcd = c->bcd,
			.gate = i == 2 ? (s.port61 & 1) : c->gate,
			.count_load_time = (int64_t)(now - c->elapsed_ns),
		};
	}
	k.flags = (k.flags & ~KVM_PIT_FLAGS_SPEAKER_DATA_ON) |
	          (s.port61 & 2 ? KVM_PIT_FLAGS_SPEAKER_DATA_ON : 0);
	/* KVM restarts every counter from its full count here: the phase is lost (at most a
	 * period), and a one-shot count that had run out runs once more. */
	if (ioctl(d->vm_fd, KVM_SET_PIT2, &k) < 0)
		return err_set(r->e, errno, "KVM_SET_PIT2: %s", strerror(errno));
	return 0;
}
