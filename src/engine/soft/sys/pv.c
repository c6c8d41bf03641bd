/* The KVM para-virtual ABI of the soft engine (pv.h). Written from the ABI's public
 * description (Linux Documentation/virt/kvm/x86/msr.rst, hypercalls.rst, cpuid.rst). */
#include "engine/soft/sys/pv.h"

#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/stats.h"
#include "core/vm.h"
#include "engine/soft/sys/ops_sys.h"
#include "engine/soft/sys/pvclock.h"
#include "engine/soft/soft.h"
#include "hw/irqchip.h"

#define KVM_MSR_ENABLED 1ull
#define STEAL_RESERVED 0x3eull         /* bits 1-5 of MSR_KVM_STEAL_TIME */
#define STEAL_PERIOD_NS 1000000ull     /* refresh steal time at most every 1 ms */

static struct guest_mem *gmem(struct soft_pv *p) { return &p->v->vm->mem; }

/* ---- version-protected updates of guest structures ----
 * The guest reads them with a version loop (odd: an update is in progress; changed:
 * read again). They may be read from another vCPU's thread (Linux's vDSO reads vCPU 0's
 * kvm-clock), so the version's stores are ordered around the data's. */
static uint32_t begin_update(uint8_t *ver)
{
	uint32_t v;
	memcpy(&v, ver, 4);
	v = (v | 1u) + 2u;                 /* the next odd number */
	__atomic_store_n((uint32_t *)(void *)ver, v, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return v;
}

static void end_update(uint8_t *ver, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)ver, v + 1u, __ATOMIC_RELEASE);
}

/* ---- kvm-clock ---- */

static uint64_t clock_ns(struct soft_pv *p, uint64_t now)
{
	return now - p->pvm->origin_ns;
}

/* Write the vCPU's pvclock_vcpu_time_info for this moment. Exact at any later TSC: the
 * guest TSC is soft_now_ns() scaled to the TSC rate, + tsc_offset, so scaling it back
 * gives soft_now_ns() again (within a tick, at a rate other than the default); every
 * vCPU's structure then tells the same time (TSC_STABLE). */
static void clock_update(struct soft_pv *p)
{
	uint64_t gpa = p->system_time_msr & ~KVM_MSR_ENABLED;
	uint8_t *g = mem_ptr(gmem(p), gpa, PVCLOCK_SIZE);
	if (!g) {
		p->clock_on = false;
		return;
	}
	uint64_t now = soft_now_ns();
	struct pvclock_fields f;
	uint8_t buf[PVCLOCK_SIZE];
	p->clock_tsc_offset = p->c->sys.tsc_offset;
	pvclock_fill(&f, soft_tsc_at(p->c, now), clock_ns(p, now),
	             (uint64_t)p->c->sys.tsc_khz * 1000u, true);
	pvclock_encode(&f, buf);
	uint32_t v = begin_update(g + PVCLOCK_VERSION);
	memcpy(g + 4, buf + 4, PVCLOCK_SIZE - 4);
	end_update(g + PVCLOCK_VERSION, v);
}

static void set_system_time(struct soft_pv *p, uint64_t val)
{
	p->system_time_msr = val;
	/* A structure not wholly in RAM (or misaligned) is ignored, as KVM does. */
	p->clock_on = (val & KVM_MSR_ENABLED) && !(val & 2) &&
	              mem_ptr(gmem(p), val & ~KVM_MSR_ENABLED, PVCLOCK_SIZE);
	if (p->clock_on)
		clock_update(p);
}

/* pvclock_wall_clock: when kvm-clock read 0, in UNIX time; written at the MSR write only. */
static void set_wall_clock(struct soft_pv *p, uint64_t gpa)
{
	__atomic_store_n(&p->pvm->wall_clock_msr, gpa, __ATOMIC_RELAXED);
	uint8_t *g = mem_ptr(gmem(p), gpa, PVCLOCK_WALL_SIZE);
	if (!g || (gpa & 3))
		return;
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	uint64_t now = soft_now_ns();
	uint32_t sec, nsec;
	pvclock_wall((uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec,
	             clock_ns(p, now), &sec, &nsec);
	uint32_t v = begin_update(g);
	memcpy(g + 4, &sec, 4);
	memcpy(g + 8, &nsec, 4);
	end_update(g, v);
}

/* ---- steal time ---- */

/* The vCPU thread's time spent runnable but waiting for a host CPU: what the host took
 * from this vCPU (KVM reports the same quantity, the task's run delay). */
static bool run_delay(struct soft_pv *p, uint64_t *ns)
{
	char buf[96];
	if (p->schedstat_fd < 0)
		return false;
	ssize_t n = pread(p->schedstat_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return pvclock_parse_schedstat(buf, ns);
}

static void steal_update(struct soft_pv *p, uint64_t now)
{
	uint8_t *g = mem_ptr(gmem(p), p->steal_msr & ~0x3full, STEAL_SIZE);
	uint64_t rd;
	if (!g)
		return;
	p->steal_next_ns = now + STEAL_PERIOD_NS;
	if (!run_delay(p, &rd) || rd < p->run_delay0)
		return;
	uint64_t steal;
	memcpy(&steal, g + STEAL_STEAL, 8);
	steal += rd - p->run_delay0;
	p->run_delay0 = rd;
	uint32_t v = begin_update(g + STEAL_VERSION);
	memcpy(g + STEAL_STEAL, &steal, 8);
	end_update(g + STEAL_VERSION, v);
}

static int set_steal_time(struct soft_pv *p, uint64_t val)
{
	if (val & STEAL_RESERVED)
		return -1;
	p->steal_msr = val;
	p->steal_on = (val & KVM_MSR_ENABLED) && mem_ptr(gmem(p), val & ~0x3full, STEAL_SIZE);
	if (!p->steal_on)
		return 0;
	if (p->schedstat_fd < 0)   /* this is the vCPU's thread: its own schedstat */
		p->schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	if (!run_delay(p, &p->run_delay0))
		p->run_delay0 = 0;
	steal_update(p, soft_now_ns());
	return 0;
}

/* ---- PV EOI ---- */

static int set_pv_eoi(struct soft_pv *p, uint64_t val)
{
	uint64_t gpa = val & ~KVM_MSR_ENABLED;
	if ((val & KVM_MSR_ENABLED) && ((gpa & 3) || !mem_ptr(gmem(p), gpa, 4)))
		return -1;
	p->eoi_msr = val;
	p->eoi_armed = false;
	return 0;
}

/* The guest's PV EOI word, NULL if it is not in RAM. */
static uint8_t *eoi_word(struct soft_pv *p)
{
	return mem_ptr(gmem(p), p->eoi_msr & ~KVM_MSR_ENABLED, 4);
}

/* Take back the armed PV EOI, whose word is g: a bit the guest cleared was its EOI; one
 * still set is cleared, so that the guest writes its EOI to the APIC itself. */
static void eoi_disarm(struct soft_pv *p, uint8_t *g)
{
	p->eoi_armed = false;
	if (!g)
		return;
	if (!(g[0] & 1))
		lapic_eoi(p->lapic);
	else
		g[0] &= (uint8_t)~1u;
}

void soft_pv_eoi_sync(struct soft_pv *p)
{
	if (!p->eoi_armed)
		return;
	uint8_t *g = eoi_word(p);
	if (g && (g[0] & 1) && !lapic_irr_pending(p->lapic))
		return;   /* still in service, nothing else waits: it stays armed */
	eoi_disarm(p, g);
}

void soft_pv_eoi_arm(struct soft_pv *p, int vec)
{
	if (!p->para || !(p->eoi_msr & KVM_MSR_ENABLED) || vec < 16 || vec > 255)
		return;
	if (!lapic_eoi_optional(p->lapic, (uint8_t)vec))
		return;
	uint8_t *g = eoi_word(p);
	if (!g)
		return;
	g[0] |= 1;
	p->eoi_armed = true;
}

/* ---- MSRs ---- */

int soft_pv_rdmsr(struct soft_pv *p, uint32_t msr, uint64_t *val)
{
	if (!p->para)
		return 1;
	switch (msr) {
	case MSR_KVM_WALL_CLOCK:
	case MSR_KVM_WALL_CLOCK_NEW:
		*val = __atomic_load_n(&p->pvm->wall_clock_msr, __ATOMIC_RELAXED);
		return 0;
	case MSR_KVM_SYSTEM_TIME:
	case MSR_KVM_SYSTEM_TIME_NEW: *val = p->system_time_msr; return 0;
	case MSR_KVM_STEAL_TIME: *val = p->steal_msr; return 0;
	case MSR_KVM_PV_EOI_EN: *val = p->eoi_msr; return 0;
	default: return 1;
	}
}

int soft_pv_wrmsr(struct soft_pv *p, uint32_t msr, uint64_t val)
{
	if (!p->para)
		return 1;
	switch (msr) {
	case MSR_KVM_WALL_CLOCK:
	case MSR_KVM_WALL_CLOCK_NEW: set_wall_clock(p, val); return 0;
	case MSR_KVM_SYSTEM_TIME:
	case MSR_KVM_SYSTEM_TIME_NEW: set_system_time(p, val); return 0;
	case MSR_KVM_STEAL_TIME: return set_steal_time(p, val);
	case MSR_KVM_PV_EOI_EN:
		/* Linux turns PV EOI off inside an IPI's handler (reboot, CPU offline), then
		 * skips that IPI's EOI if the bit is still set: settle it first. */
		if (p->eoi_armed)
			eoi_disarm(p, eoi_word(p));
		return set_pv_eoi(p, val);
	default: return 1;
	}
}

/* ---- state (core/cpu_state.h) ---- */

void soft_pv_get_msrs(struct soft_pv *p, struct cpu_state *s)
{
	if (!p->para)
		return;
	cpu_state_set_msr(s, MSR_KVM_WALL_CLOCK_NEW,
	                  __atomic_load_n(&p->pvm->wall_clock_msr, __ATOMIC_RELAXED));
	cpu_state_set_msr(s, MSR_KVM_SYSTEM_TIME_NEW, p->system_time_msr);
	cpu_state_set_msr(s, MSR_KVM_STEAL_TIME, p->steal_msr);
	cpu_state_set_msr(s, MSR_KVM_PV_EOI_EN, p->eoi_msr);
}

int soft_pv_set_msr(struct soft_pv *p, uint32_t msr, uint64_t val)
{
	if (!p->para)
		return 1;
	switch (msr) {
	case MSR_KVM_WALL_CLOCK_NEW:
		set_wall_clock(p, val);
		return 0;
	case MSR_KVM_SYSTEM_TIME_NEW:
		set_system_time(p, val);
		return 0;
	case MSR_KVM_STEAL_TIME:
		if (val & STEAL_RESERVED)
			return -1;
		p->steal_msr = val;
		p->steal_on = (val & KVM_MSR_ENABLED) && mem_ptr(gmem(p), val & ~0x3full, STEAL_SIZE);
		p->steal_restart = p->steal_on;
		return 0;
	case MSR_KVM_PV_EOI_EN: {
		if (set_pv_eoi(p, val))
			return -1;
		const uint8_t *g = (val & KVM_MSR_ENABLED) ?
		                   mem_ptr(gmem(p), val & ~KVM_MSR_ENABLED, 4) : NULL;
		p->eoi_armed = g && (g[0] & 1);
		return 0;
	}
	default:
		return 1;
	}
}

void soft_pv_clock_moved(struct soft_pv_vm *pvm)
{
	for (unsigned k = 0; k < 64; k++)
		if (pvm->cpu[k])
			pvm->cpu[k]->clock_dirty = true;
}

/* ---- hypercalls ---- */

static struct soft_pv *by_apic_id(struct soft_pv *p, uint64_t id)
{
	unsigned n = p->pvm->vm->ncpus;   /* APIC ID = vCPU index (hw/irqchip.h) */
	return id < n && id < 64 ? p->pvm->cpu[id] : NULL;
}

static int64_t kick_cpu(struct soft_pv *p, uint64_t apic_id)
{
	struct soft_pv *t = by_apic_id(p, apic_id);
	if (t) {
		__atomic_store_n(&t->unhalt, 1, __ATOMIC_RELEASE);
		p->pvm->kick(t->v);
	}
	return 0;
}

/* Fixed or NMI IPIs to the APIC IDs min + k for each bit k of a 2 x `cluster`-bit map.
 * Returns how many vCPUs were sent one. */
static int64_t send_ipi(struct soft_pv *p, uint64_t lo, uint64_t hi, uint64_t min,
                        uint64_t icr, unsigned cluster)
{
	struct lapic_irq irq = { .vector = (uint8_t)icr, .mode = (uint8_t)((icr >> 8) & 7),
	                         .assert = true };
	if (irq.mode != LAPIC_DM_FIXED && irq.mode != LAPIC_DM_NMI)
		return 0;
	int64_t sent = 0;
	uint64_t map[2] = { lo, hi };
	for (unsigned h = 0; h < 2; h++)
		for (unsigned k = 0; k < cluster; k++) {
			if (!(map[h] >> k & 1))
				continue;
			uint64_t id = min + (uint64_t)h * cluster + k;
			if (id < min || !by_apic_id(p, id))
				continue;
			irq.dest = (uint32_t)id;
			lapic_accept(p->pvm->ic->lapic[id], &irq);
			sent++;
		}
	return sent;
}

int soft_pv_hypercall(struct soft_pv *p)
{
	struct soft_cpu *c = p->c;
	if (!p->para)
		return raise_exc(c, VEC_UD, false, 0);
	/* Outside 64-bit mode the number, arguments and result are 32 bits. */
	bool wide = c->sys.mode == SOFT_MODE64;
	uint64_t m = wide ? UINT64_MAX : UINT32_MAX;
	uint64_t nr = c->gpr[R_RAX] & m, a0 = c->gpr[R_RBX] & m, a1 = c->gpr[R_RCX] & m,
	         a2 = c->gpr[R_RDX] & m, a3 = c->gpr[R_RSI] & m;
	int64_t ret;
	stats_count_hypercall(&p->v->stats, nr);
	if (c->cpl) {
		ret = -KVM_EPERM;
	} else {
		switch (nr) {
		case KVM_HC_KICK_CPU: ret = kick_cpu(p, a1); break;
		case KVM_HC_SEND_IPI: ret = send_ipi(p, a0, a1, a2, a3, wide ? 64 : 32); break;
		case KVM_HC_SCHED_YIELD:
			/* The host schedules threads, not vCPUs: give up this host CPU. */
			sched_yield();
			ret = 0;
			break;
		default: ret = -KVM_ENOSYS; break;
		}
	}
	c->gpr[R_RAX] = (uint64_t)ret & m;
	return SOFT_OK;
}

/* ---- vCPU entry ---- */

void soft_pv_entry(struct soft_pv *p)
{
	if (!p->para)
		return;
	if (p->clock_on && (p->c->sys.tsc_offset != p->clock_tsc_offset || p->clock_dirty))
		clock_update(p);   /* the guest wrote IA32_TSC, or the state was loaded */
	p->clock_dirty = false;
	if (p->steal_restart) {
		/* On the vCPU's own thread now: its run delay from here on is steal time. */
		p->steal_restart = false;
		if (p->schedstat_fd < 0)
			p->schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
		if (!run_delay(p, &p->run_delay0))
			p->run_delay0 = 0;
		p->steal_next_ns = 0;
	}
	if (p->steal_on) {
		uint8_t *g = mem_ptr(gmem(p), p->steal_msr & ~0x3full, STEAL_SIZE);
		/* PV TLB flush: another vCPU asked for a flush instead of sending an IPI. */
		if (g && (__atomic_exchange_n(g + STEAL_PREEMPTED, 0, __ATOMIC_ACQ_REL) &
		          KVM_VCPU_FLUSH_TLB))
			soft_flush_tlb_all(p->c);
		uint64_t now = soft_now_ns();
		if (now >= p->steal_next_ns)
			steal_update(p, now);
	}
	soft_pv_eoi_sync(p);
}

bool soft_pv_take_unhalt(struct soft_pv *p)
{
	return __atomic_load_n(&p->unhalt, __ATOMIC_RELAXED) &&
	       __atomic_exchange_n(&p->unhalt, 0, __ATOMIC_ACQ_REL);
}

/* ---- life cycle ---- */

void soft_pv_vm_init(struct soft_pv_vm *pvm, struct vm *vm, struct irqchip *ic,
                     void (*kick)(struct vcpu *v))
{
	memset(pvm, 0, sizeof(*pvm));
	pvm->vm = vm;
	pvm->ic = ic;
	pvm->kick = kick;
	pvm->origin_ns = soft_now_ns();
}

void soft_pv_vcpu_init(struct soft_pv *p, struct soft_pv_vm *pvm, struct vcpu *v,
                       struct soft_cpu *c, struct lapic *lapic)
{
	memset(p, 0, sizeof(*p));
	p->pvm = pvm;
	p->v = v;
	p->c = c;
	p->lapic = lapic;
	p->para = v->vm->cfg.iface == GUEST_PARA;
	p->schedstat_fd = -1;
	if (v->id < 64)
		pvm->cpu[v->id] = p;
}

void soft_pv_reset(struct soft_pv *p)
{
	p->system_time_msr = 0;
	p->clock_on = false;
	p->steal_msr = 0;
	p->steal_on = false;
	p->steal_restart = false;
	p->eoi_msr = 0;
	p->eoi_armed = false;     /* INIT clears the LAPIC's in-service vectors too */
	__atomic_store_n(&p->unhalt, 0, __ATOMIC_RELAXED);
}

void soft_pv_vcpu_destroy(struct soft_pv *p)
{
	if (p->schedstat_fd >= 0)
		close(p->schedstat_fd);
	p->schedstat_fd = -1;
	if (p->pvm && p->v && p->v->id < 64 && p->pvm->cpu[p->v->id] == p)
		p->pvm->cpu[p->v->id] = NULL;
}
