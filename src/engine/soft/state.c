/* The soft engine's vCPUs and interrupt controllers in the engine-neutral form of
 * core/cpu_state.h and core/chip_state.h: engine_ops get_state/set_state and
 * save_state/load_state. The time rule of cpu_state.h: the guest TSC is soft_now_ns()
 * scaled to the VM's TSC rate, + tsc_offset; kvm-clock is soft_now_ns() - origin_ns;
 * both are rebased at load so that they go on from their saved values. */
#include <errno.h>
#include <string.h>

#include "core/chip_state.h"
#include "engine/soft/engine_soft.h"
#include "engine/soft/sys/ops_sys.h"

#define DR6_BS (1ull << 14)
#define DR6_FIXED 0xffff0ff0ull
#define DR7_FIXED 0x400ull

/* ---- MSRs ---- */

/* The MSRs of the list (cpu_state.h) this CPU models in struct soft_sys, and their
 * values; the TSC and the para-virtual ones are apart. */
static bool sys_msr(const struct soft_sys *y, uint32_t msr, uint64_t *v)
{
	if (msr >= MSR_MTRR_PHYS_BASE0 && msr < MSR_MTRR_PHYS_BASE0 + 2 * SOFT_MTRR_VAR) {
		*v = y->mtrr_var[msr - MSR_MTRR_PHYS_BASE0];
		return true;
	}
	if (msr >= MSR_MTRR_FIX4K_C0000 && msr <= MSR_MTRR_FIX4K_C0000 + 7) {
		*v = y->mtrr_fix[3 + msr - MSR_MTRR_FIX4K_C0000];
		return true;
	}
	switch (msr) {
	case MSR_SYSENTER_CS: *v = y->sysenter_cs; return true;
	case MSR_SYSENTER_ESP: *v = y->sysenter_esp; return true;
	case MSR_SYSENTER_EIP: *v = y->sysenter_eip; return true;
	case MSR_MISC_ENABLE: *v = y->misc_enable; return true;
	case MSR_MTRR_DEF_TYPE: *v = y->mtrr_def_type; return true;
	case MSR_MTRR_FIX64K: *v = y->mtrr_fix[0]; return true;
	case MSR_MTRR_FIX16K_80000: *v = y->mtrr_fix[1]; return true;
	case MSR_MTRR_FIX16K_A0000: *v = y->mtrr_fix[2]; return true;
	case MSR_PAT: *v = y->pat; return true;
	case MSR_STAR: *v = y->star; return true;
	case MSR_LSTAR: *v = y->lstar; return true;
	case MSR_CSTAR: *v = y->cstar; return true;
	case MSR_SFMASK: *v = y->sfmask; return true;
	case MSR_KERNEL_GS_BASE: *v = y->kernel_gs_base; return true;
	case MSR_TSC_AUX: *v = y->tsc_aux; return true;
	default: return false;
	}
}

/* The value an MSR this engine does not model has after reset: the only one it loads. */
static uint64_t reset_value(uint32_t msr)
{
	return msr == MSR_KVM_POLL_CONTROL ? 1 : 0;   /* host polling on (msr.rst) */
}

/* Give the TSC the value tsc now. Values that land within a second of the last offset
 * set for this VM take that offset: the vCPUs' TSCs were read one after the other at
 * save, and are in step again after load (KVM matches TSC writes the same way). */
static void set_tsc(struct soft_vcpu *d, uint64_t tsc)
{
	struct soft_vm *sv = svm(d->v->vm);
	struct soft_cpu *c = &d->cpu;
	int64_t off = (int64_t)(tsc - (soft_tsc_at(c, soft_now_ns()) - (uint64_t)c->sys.tsc_offset));
	uint64_t second = (uint64_t)c->sys.tsc_khz * 1000u;
	pthread_mutex_lock(&sv->tsc_lock);
	uint64_t diff = (uint64_t)off - (uint64_t)sv->tsc_sync_offset;
	if (sv->tsc_synced && diff + second < 2 * second)
		off = sv->tsc_sync_offset;
	sv->tsc_synced = true;
	sv->tsc_sync_offset = off;
	pthread_mutex_unlock(&sv->tsc_lock);
	d->cpu.sys.tsc_offset = off;
}

static int set_msrs(struct soft_vcpu *d, const struct cpu_state *s, struct err *e)
{
	struct soft_cpu *c = &d->cpu;
	for (unsigned k = 0; k < s->nmsrs && k < CPU_MSRS_MAX; k++) {
		uint32_t msr = s->msr[k].index;
		uint64_t v = s->msr[k].value, old;
		int r = 0;
		if (msr == MSR_TSC) {
			set_tsc(d, v);
			continue;
		}
		r = soft_pv_set_msr(&d->pv, msr, v);   /* 0 or -1: a para-virtual MSR */
		if (r == 1 && sys_msr(&c->sys, msr, &old)) {
			/* As the guest's WRMSR, with its checks (#GP: refused). */
			r = soft_wrmsr(c, msr, v) == SOFT_OK ? 0 : -1;
		} else if (r == 1) {
			if (v != reset_value(msr))
				return err_set(e, EINVAL, "vCPU %u: MSR 0x%x = 0x%llx: the soft engine's "
				               "CPU does not have it", d->v->id, msr, (unsigned long long)v);
			r = 0;
		}
		if (r)
			return err_set(e, EINVAL, "vCPU %u: MSR 0x%x = 0x%llx is refused (as the "
			               "guest's own write would be)", d->v->id, msr,
			               (unsigned long long)v);
	}
	return 0;
}

/* ---- registers ---- */

#define CR0_OK (CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM | \
                CR0_NW | CR0_CD | CR0_PG)
#define CR4_OK (CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE | \
                CR4_OSFXSR | CR4_OSXMMEXCPT)
#define EFER_OK (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)

/* What MOV CR and WRMSR EFER would refuse, or a state no instruction leads to. */
static int check_regs(const struct cpu_state *s, unsigned id, struct err *e)
{
	const char *bad = NULL;
	bool lma = s->efer & EFER_LMA;
	if (s->cr0 & ~CR0_OK)
		bad = "CR0 has bits this CPU does not implement";
	else if ((s->cr0 & CR0_PG) && !(s->cr0 & CR0_PE))
		bad = "CR0.PG without CR0.PE";
	else if ((s->cr0 & CR0_NW) && !(s->cr0 & CR0_CD))
		bad = "CR0.NW without CR0.CD";
	else if (s->cr4 & ~CR4_OK)
		bad = "CR4 has bits this CPU does not implement (PCIDE, OSXSAVE, FSGSBASE, SMEP...: "
		      "the guest ran on a CPU model with more features)";
	else if (s->efer & ~EFER_OK)
		bad = "EFER has bits this CPU does not implement";
	else if (lma != ((s->efer & EFER_LME) && (s->cr0 & CR0_PG)))
		bad = "EFER.LMA does not match LME and CR0.PG";
	else if (lma && !(s->cr4 & CR4_PAE))
		bad = "long mode without CR4.PAE";
	else if (lma && (s->cr3 >> 40))
		bad = "CR3 beyond the physical address width";
	else if (s->cr8 > 15)
		bad = "CR8 above 15";
	else if (lma && (s->seg[S_CS].attr & SEG_ATTR_L) && (s->seg[S_CS].attr & SEG_ATTR_DB))
		bad = "CS with both L and D";
	if (!bad)
		return 0;
	return err_set(e, EINVAL, "vCPU %u: %s (CR0 0x%llx CR4 0x%llx EFER 0x%llx)", id, bad,
	               (unsigned long long)s->cr0, (unsigned long long)s->cr4,
	               (unsigned long long)s->efer);
}

static int check_fpu(const struct cpu_state *s, unsigned id, struct err *e)
{
	if (!(s->xcr0 & XCR0_X87) || (s->xcr0 & ~(XCR0_X87 | XCR0_SSE)))
		return err_set(e, EINVAL, "vCPU %u: XCR0 0x%llx: the soft engine's CPU has no XSAVE "
		               "state beyond x87 and SSE (the guest ran on a CPU model with AVX)",
		               id, (unsigned long long)s->xcr0);
	for (size_t k = 0; k < CPU_XSAVE_EXT_SIZE; k++)
		if (s->xsave_ext[k])
			return err_set(e, EINVAL, "vCPU %u: XSAVE state beyond SSE (AVX registers) "
			               "that the soft engine's CPU does not have", id);
	uint32_t mxcsr;
	memcpy(&mxcsr, s->fxsave + 24, 4);
	if (mxcsr & ~MXCSR_WRITABLE)
		return err_set(e, EINVAL, "vCPU %u: MXCSR 0x%x has reserved bits set", id, mxcsr);
	return 0;
}

/* ---- get/set ---- */

int soft_get_state(struct vcpu *v, struct cpu_state *s, struct err *e)
{
	struct soft_vcpu *d = svc(v);
	struct soft_cpu *c = &d->cpu;
	struct soft_sys *y = &c->sys;

	/* What the vCPU does first when it next runs: finish an IN whose data the core
	 * supplied, take INIT/SIPI/NMI messages, see an EOI signalled through PV EOI. */
	soft_io_complete(c);
	soft_take_events(d);
	soft_pv_eoi_sync(&d->pv);

	soft_sys_get_state(c, s);   /* the registers; zeroes the rest of s */
	s->has = CPU_STATE_ALL;

	soft_fpu_fxsave(&c->fpu, s->fxsave, true);
	s->xcr0 = XCR0_X87;   /* no XSAVE: XCR0 keeps its reset value */

	for (unsigned i = 0; i < 4; i++)
		s->dr[i] = y->dr[i];
	s->dr6 = (y->dr[6] | DR6_FIXED | (y->db_pending ? DR6_BS : 0)) & 0xffffffffull;
	s->dr7 = (y->dr[7] | DR7_FIXED) & 0xffffffffull;
	cpu_state_set_msr(s, MSR_TSC, soft_tsc_at(c, soft_now_ns()));   /* not a guest read */
	for (unsigned k = 0; cpu_state_msr_index(k); k++) {
		uint64_t val;
		if (sys_msr(y, cpu_state_msr_index(k), &val))
			cpu_state_set_msr(s, cpu_state_msr_index(k), val);
	}
	soft_pv_get_msrs(&d->pv, s);

	struct cpu_events *ev = &s->events;
	*ev = d->loaded;
	if (y->db_pending && !ev->exception_injected) {   /* a single-step trap is due */
		ev->exception_injected = true;
		ev->exception = VEC_DB;
	}
	ev->nmi_pending = d->nmi_pending;
	ev->nmi_masked = y->nmi_blocked;
	ev->shadow = y->shadow ? CPU_SHADOW_STI : 0;
	if (y->wait_sipi)
		s->run = CPU_RUN_WAIT_SIPI;
	else if (y->halted && !__atomic_load_n(&d->pv.unhalt, __ATOMIC_ACQUIRE))
		s->run = CPU_RUN_HALTED;   /* (a PV kick pending ends HLT: running, as KVM says) */
	else
		s->run = CPU_RUN_RUNNING;

	lapic_get_state(d->lapic, &s->lapic, &s->apic_base);
	if (s->lapic.tsc_deadline)   /* the LAPIC counts on the clock's TSC, without the offset */
		s->lapic.tsc_deadline = soft_tsc_from_clock(c, s->lapic.tsc_deadline);
	return 0;
}

int soft_set_state(struct vcpu *v, const struct cpu_state *s, struct err *e)
{
	struct soft_vcpu *d = svc(v);
	struct soft_cpu *c = &d->cpu;
	struct soft_sys *y = &c->sys;
	int r;

	if ((r = check_regs(s, v->id, e)) || ((s->has & CPU_STATE_FPU) && (r = check_fpu(s, v->id, e))))
		return r;
	if ((s->has & CPU_STATE_EVENTS) && (s->run >= CPU_RUN__COUNT || s->events.exception >= 32))
		return err_set(e, EINVAL, "vCPU %u: run state or exception out of range", v->id);

	soft_sys_set_state(c, s);   /* registers; flushes the TLB, recomputes the mode */
	y->wait_sipi = false;
	y->in_pending = false;
	y->db_pending = false;
	y->exit_kind = SOFT_EXIT_NONE;
	if (!s->has)
		return 0;   /* a loader's entry state: the rest stays as reset left it */

	/* Everything decoded or mirrored from the old state goes before the vCPU runs: the
	 * code cache (guest RAM may have been replaced under it), direct execution's view
	 * of the address space. */
	soft_invalidate_all(d);
	c->direct_cr3 = ~0ull;
	c->direct_hot = false;

	if (s->has & CPU_STATE_FPU)
		soft_fpu_fxrstor(&c->fpu, s->fxsave, true);   /* MXCSR checked above */

	if (s->has & CPU_STATE_MSRS) {
		for (unsigned i = 0; i < 4; i++)
			y->dr[i] = s->dr[i];
		y->dr[6] = s->dr6 & 0xffffffffull;
		y->dr[7] = s->dr7 & 0xffffffffull;
		if ((r = set_msrs(d, s, e)))
			return r;
	}

	if (s->has & CPU_STATE_LAPIC) {
		struct cpu_lapic l = s->lapic;
		if (l.tsc_deadline)   /* the clock's TSC; one before its origin is simply due */
			l.tsc_deadline = soft_tsc_to_clock(c, l.tsc_deadline);
		struct err le = { "" };
		if (lapic_set_state(d->lapic, s->apic_base, &l, &le))
			return err_set(e, EINVAL, "vCPU %u: %s", v->id, le.msg);
		uint64_t base;
		lapic_msr_read(d->lapic, MSR_APIC_BASE, &base);
		y->apic_base = base;
	}

	if (s->has & CPU_STATE_EVENTS) {
		const struct cpu_events *ev = &s->events;
		d->loaded = (struct cpu_events){
			.exception_injected = ev->exception_injected, .exception = ev->exception,
			.exception_has_error = ev->exception_has_error,
			.exception_error = ev->exception_error,
			.irq_injected = ev->irq_injected && !ev->exception_injected, .irq = ev->irq,
			.irq_soft = ev->irq_soft,
			.nmi_injected = ev->nmi_injected && !ev->exception_injected && !ev->irq_injected,
		};
		d->nmi_pending = ev->nmi_pending;
		y->nmi_blocked = ev->nmi_masked;
		y->shadow = ev->shadow ? 1 : 0;
		__atomic_store_n(&d->pv.unhalt, 0, __ATOMIC_RELEASE);
		y->halted = s->run == CPU_RUN_HALTED;
		/* Not started, or after INIT: this CPU takes a startup IPI either way. */
		y->wait_sipi = s->run == CPU_RUN_WAIT_INIT || s->run == CPU_RUN_WAIT_SIPI;
	}
	return 0;
}

int soft_deliver_loaded(struct soft_vcpu *d)
{
	struct soft_cpu *c = &d->cpu;
	struct cpu_events ev = d->loaded;
	if (!ev.exception_injected && !ev.irq_injected && !ev.nmi_injected)
		return 0;
	d->loaded = (struct cpu_events){ 0 };
	c->sys.halted = false;
	if (ev.exception_injected) {
		c->fault = (struct soft_fault){ .vector = ev.exception, .has_err = ev.exception_has_error,
		                                .err = ev.exception_error, .cr2 = c->sys.cr2 };
		return soft_deliver_fault(c);
	}
	unsigned vec = ev.irq_injected ? ev.irq : VEC_NMI;
	if (ev.nmi_injected)
		c->sys.nmi_blocked = true;
	if (soft_deliver(c, vec, false, 0, ev.irq_injected && ev.irq_soft) != SOFT_OK)
		return soft_deliver_fault(c);
	return 0;
}

/* ---- the VM's state ---- */

int soft_save_state(struct vm *vm, struct snap_writer *w, struct err *e)
{
	struct soft_vm *sv = svm(vm);
	struct engine_vm_state s = {
		.clock_ns = soft_now_ns() - sv->pv.origin_ns,
		.tsc_khz = vm->vcpus[0].engine_data ? svc(&vm->vcpus[0])->cpu.sys.tsc_khz
		                                    : SOFT_TSC_HZ / 1000,
	};
	ioapic_get_state(sv->ic->ioapic, &s.ioapic);
	pic_get_state(sv->ic->pic, &s.pic);
	engine_vm_state_save(w, &s);
	return 0;
}

int soft_load_state(struct vm *vm, struct snap_reader *r, struct err *e)
{
	struct soft_vm *sv = svm(vm);
	struct engine_vm_state s;
	if (engine_vm_state_load(r, &s))
		return -EINVAL;
	/* The TSC runs at the guest's rate from now on (a guest that came from kvm keeps the
	 * host TSC's rate it measured there); a vCPU state already installed keeps its TSC
	 * value (its offset is rebased), one installed next gives its own. */
	uint64_t now = soft_now_ns();
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if (!vm->vcpus[i].engine_data)
			return err_set(e, EINVAL, "engine state loaded before the vCPUs exist");
		struct soft_cpu *c = &svc(&vm->vcpus[i])->cpu;
		uint64_t tsc = soft_tsc_at(c, now);
		c->sys.tsc_khz = s.tsc_khz;
		c->sys.tsc_offset = 0;
		c->sys.tsc_offset = (int64_t)(tsc - soft_tsc_at(c, now));
	}
	pthread_mutex_lock(&sv->tsc_lock);
	sv->tsc_synced = false;
	pthread_mutex_unlock(&sv->tsc_lock);
	/* kvm-clock goes on from its saved time; the vCPUs rewrite their clock structures. */
	sv->pv.origin_ns = soft_now_ns() - s.clock_ns;
	soft_pv_clock_moved(&sv->pv);
	ioapic_set_state(sv->ic->ioapic, &s.ioapic);
	pic_set_state(sv->ic->pic, &s.pic);
	return 0;
}
