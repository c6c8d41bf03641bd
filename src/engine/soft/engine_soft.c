/* The `soft` engine: trivisor's own x86-64 CPU behind engine_ops (engine/engine.h).
 * Runs on any x86-64 Linux host with no privileges.
 *
 *  - Memory: the CPU reaches guest RAM through the paging MMU (mmu.c) over the core's
 *    RAM slots; physical addresses that are not RAM are MMIO, dispatched as EXIT_MMIO
 *    exits through the core's one exit handler (vm_handle_exit), so they are counted
 *    exactly like the kvm engine's.
 *  - Port I/O leaves vcpu_run as EXIT_IO with the engine's data buffer; IN/INS finish
 *    when vcpu_run is entered again (the core has filled in the data by then).
 *  - HLT returns EXIT_HLT once, then the next vcpu_run sleeps until a kick (an
 *    interrupt, a stop) or the vCPU's earliest timer deadline (timers.h): never spins.
 *  - A triple fault is EXIT_SHUTDOWN.
 *  - Interrupt controllers live here, in user space (hw/irqchip.h): a local APIC per
 *    vCPU (its MMIO page and MSRs reach it through struct soft_platform), the IOAPIC
 *    and the 8259A pair on the buses. External interrupts and NMIs are taken between
 *    blocks, which are instruction boundaries; INIT/SIPI start application processors.
 *  - One host thread per vCPU over the shared guest RAM: locked instructions are host
 *    atomics (mem.c). Device/DMA writes through the core's memory accessor, and a vCPU's
 *    stores into code another vCPU decoded (struct soft_code_share), drop decoded code:
 *    at once on the vCPU's own thread (or before it runs), else queued for the vCPU's
 *    next block boundary (then it is kicked). */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/vm.h"
#include "engine/engine.h"
#include "engine/soft/block.h"
#include "engine/soft/engine_soft.h"
#include "engine/soft/direct/direct.h"
#include "engine/soft/translate/jit.h"
#include "engine/soft/sys/ops_sys.h"
#include "engine/soft/sys/pv.h"
#include "engine/soft/soft.h"
#include "engine/soft/sys/timers.h"
#include "hw/irqchip.h"

#define RUN_BUDGET (1u << 20)  /* instructions per soft_run call */
#define TIMER_BUDGET (1u << 16) /* ... while a timer deadline is set: ~1 ms or less */

static int soft_available(struct err *e)
{
	return 0; /* needs nothing from the host */
}

static int soft_supported_cpuid(struct vm *vm, struct cpuid_table *out, struct err *e)
{
	if (soft_cpuid_supported(out))
		return err_set(e, ENOSPC, "soft engine: CPUID table full");
	return 0;
}

/* The soft CPU's TSC runs at any rate (it is emulated): 0. */
static int soft_host_cpuid(struct cpuid_table *out, uint32_t *tsc_khz, struct err *e)
{
	*tsc_khz = 0;
	return soft_supported_cpuid(NULL, out, e);
}

static bool on_own_thread(struct vcpu *v)
{
	return !v->thread_started || pthread_equal(v->thread, pthread_self());
}

static void soft_kick(struct vcpu *v);

/* Drop v's code decoded from [gpa, gpa+len): at once on its own thread (or before it
 * runs), else queued for its next block boundary, and v kicked to get there. */
static void invalidate_code(struct vcpu *v, uint64_t gpa, uint64_t len)
{
	struct soft_vcpu *d = v->vm ? svc(v) : NULL;
	if (!d)
		return;
	if (on_own_thread(v)) {
		soft_code_invalidate(&d->cpu.cache, gpa, len);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (d->ninv < INV_QUEUE) {
		d->inv_gpa[d->ninv] = gpa;
		d->inv_len[d->ninv] = len;
		d->ninv++;
	} else {
		d->inv_all = true;
	}
	__atomic_store_n(&d->inv_pending, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&d->lock);
	soft_kick(v);
}

/* The core's guest-memory write hook: a device or loader wrote [gpa, gpa+len). */
static void write_hook(void *opaque, uint64_t gpa, uint64_t len)
{
	struct vm *vm = opaque;
	for (unsigned k = 0; k < vm->ncpus && k < VM_MAX_CPUS; k++)
		invalidate_code(&vm->vcpus[k], gpa, len);
}

/* A vCPU stored into code that the vCPUs in `mask` decoded (struct soft_code_share). */
static void code_notify(void *opaque, uint64_t mask, uint64_t gpa, uint64_t len)
{
	struct vm *vm = opaque;
	for (unsigned k = 0; k < vm->ncpus && k < 64; k++)
		if (mask & (1ull << k))
			invalidate_code(&vm->vcpus[k], gpa, len);
}

/* Direct execution made guest page pa writable by native code: drop code decoded from
 * it, on the vCPUs that decoded some (all of them, when there is no code-page map). */
static void direct_written(void *opaque, uint64_t pa)
{
	struct vcpu *v = opaque;
	struct vm *vm = v->vm;
	const struct soft_code_share *sh = &((struct soft_vm *)vm->engine_data)->share;
	if (!sh->mask) {
		invalidate_code(v, pa, 0x1000);
		return;
	}
	uint64_t who = pa >> 12 < sh->npages ?
	               __atomic_load_n(&sh->mask[pa >> 12], __ATOMIC_RELAXED) : 0;
	if (who)
		code_notify(vm, who, pa, 0x1000);
}

/* One bit per vCPU and guest page frame (8 bytes per 4 KiB of the guest's physical
 * address space, reserved but touched only where code runs). */
static int share_init(struct vm *vm, struct soft_code_share *sh, struct err *e)
{
	uint64_t end = 0;
	for (unsigned k = 0; k < vm->mem.nslots; k++)
		if (vm->mem.slots[k].gpa + vm->mem.slots[k].size > end)
			end = vm->mem.slots[k].gpa + vm->mem.slots[k].size;
	sh->npages = end >> 12;
	size_t bytes = sh->npages * sizeof(uint64_t);
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return err_set(e, errno, "soft engine: cannot map the code-page table (%zu bytes)", bytes);
	sh->mask = p;
	sh->notify = code_notify;
	sh->opaque = vm;
	return 0;
}

static void drain_invalidations(struct soft_vcpu *d)
{
	if (!__atomic_load_n(&d->inv_pending, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&d->lock);
	if (d->inv_all)
		soft_code_flush(&d->cpu.cache);
	else
		for (unsigned k = 0; k < d->ninv; k++)
			soft_code_invalidate(&d->cpu.cache, d->inv_gpa[k], d->inv_len[k]);
	d->ninv = 0;
	d->inv_all = false;
	__atomic_store_n(&d->inv_pending, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&d->lock);
}

void soft_invalidate_all(struct soft_vcpu *d)
{
	pthread_mutex_lock(&d->lock);
	d->inv_all = true;
	__atomic_store_n(&d->inv_pending, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&d->lock);
}

/* ---- interrupt controllers ---- */

static uint64_t ic_now(void *opaque) { return soft_now_ns(); }

static void ic_kick(void *opaque, unsigned vcpu)
{
	struct vm *vm = opaque;
	if (vcpu < vm->ncpus)
		soft_kick(&vm->vcpus[vcpu]);
}

static void ioapic_io(void *o, uint64_t off, uint8_t *data, unsigned size, bool w)
{
	ioapic_mmio(o, off, data, size, w);
}

/* The 8259A pair answers at 0x20-0x21, 0xa0-0xa1 and its ELCRs at 0x4d0-0x4d1. */
static void pic_io_20(void *o, uint64_t off, uint8_t *d, unsigned sz, bool w) { pic_io(o, (uint16_t)(0x20 + off), d, sz, w); }
static void pic_io_a0(void *o, uint64_t off, uint8_t *d, unsigned sz, bool w) { pic_io(o, (uint16_t)(0xa0 + off), d, sz, w); }
static void pic_io_4d0(void *o, uint64_t off, uint8_t *d, unsigned sz, bool w) { pic_io(o, (uint16_t)(0x4d0 + off), d, sz, w); }

static int soft_vm_init(struct vm *vm, struct err *e)
{
	struct soft_vm *sv = calloc(1, sizeof(*sv));
	if (!sv)
		return err_set(e, ENOMEM, "out of memory");
	vm->engine_data = sv;
	pthread_mutex_init(&sv->tsc_lock, NULL);
	struct irqchip_ops ops = { .now_ns = ic_now, .kick = ic_kick, .opaque = vm,
	                           .tsc_per_ns_num = SOFT_TSC_PER_NS, .tsc_per_ns_den = 1 };
	int r = irqchip_create(vm->ncpus, &ops, &sv->ic, e);
	if (r == 0)
		soft_pv_vm_init(&sv->pv, vm, sv->ic, soft_kick);
	if (r == 0 && vm->ncpus > 1)
		r = share_init(vm, &sv->share, e);
	if (r == 0)
		r = bus_register(&vm->mmio, IOAPIC_BASE_DEFAULT, 0x1000, ioapic_io, sv->ic->ioapic, "IOAPIC", e);
	if (r == 0)
		r = bus_register(&vm->pio, 0x20, 2, pic_io_20, sv->ic->pic, "8259A PIC master", e);
	if (r == 0)
		r = bus_register(&vm->pio, 0xa0, 2, pic_io_a0, sv->ic->pic, "8259A PIC slave", e);
	if (r == 0)
		r = bus_register(&vm->pio, 0x4d0, 2, pic_io_4d0, sv->ic->pic, "8259A ELCR", e);
	if (r)
		return r;   /* vm_destroy calls soft_vm_destroy */
	vm->mem.write_hook = write_hook;
	vm->mem.write_hook_opaque = vm;
	return 0;
}

#define MSR_X2APIC_FIRST 0x800
#define MSR_X2APIC_LAST 0x8ff

/* A write to the local APIC may unmask a waiting interrupt (EOI, TPR) or re-arm the
 * timer: leave soft_run at the next block so soft_vcpu_run looks again. */
static void recheck(struct soft_cpu *c)
{
	__atomic_store_n(&c->sys.kick, 1, __ATOMIC_RELAXED);
}

static int plat_rdmsr(struct soft_cpu *c, uint32_t msr, uint64_t *v)
{
	struct soft_vcpu *d = c->sys.engine;
	int pv = soft_pv_rdmsr(&d->pv, msr, v);
	if (pv != 1)
		return pv;
	if (msr == MSR_APIC_BASE || (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST))
		return lapic_msr_read(d->lapic, msr, v);
	if (msr == MSR_TSC_DEADLINE) {
		/* The LAPIC counts on the clock's TSC; the guest's is offset by IA32_TSC writes. */
		int r = lapic_msr_read(d->lapic, msr, v);
		if (r == 0 && *v)
			*v = soft_tsc_from_clock(c, *v);
		return r;
	}
	return 1;
}

static int plat_wrmsr(struct soft_cpu *c, uint32_t msr, uint64_t v)
{
	struct soft_vcpu *d = c->sys.engine;
	int r = soft_pv_wrmsr(&d->pv, msr, v);
	if (r != 1)
		return r;   /* a PV MSR: nothing for the LAPIC to recheck */
	if (msr == MSR_APIC_BASE || (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST))
		r = lapic_msr_write(d->lapic, msr, v);
	else if (msr == MSR_TSC_DEADLINE)
		r = lapic_msr_write(d->lapic, msr, v ? soft_tsc_to_clock(c, v) : 0);
	if (r == 0)
		recheck(c);
	return r;
}

static int plat_mmio(struct soft_cpu *c, uint64_t pa, uint8_t *buf, unsigned len, bool write)
{
	struct soft_vcpu *d = c->sys.engine;
	uint64_t base = lapic_base(d->lapic);   /* 0: disabled or in x2APIC mode */
	if (!base || pa < base || pa + len > base + 0x1000)
		return 1;
	lapic_mmio(d->lapic, pa - base, buf, len, write);
	if (write)
		recheck(c);
	return 0;
}

static int plat_hypercall(struct soft_cpu *c)
{
	struct soft_vcpu *d = c->sys.engine;
	return soft_pv_hypercall(&d->pv);
}

static const struct soft_platform platform = { plat_rdmsr, plat_wrmsr, plat_mmio, plat_hypercall };

/* The LAPIC timer as a vCPU timer: its deadline bounds HLT sleeps and run chunks;
 * lapic_pending_vector() fires it once due. */
static uint64_t lapic_deadline(void *opaque)
{
	uint64_t t = lapic_next_timer_deadline(opaque);
	return t == LAPIC_NEVER ? SOFT_NO_DEADLINE : t;
}

static void lapic_expire(void *opaque, uint64_t now) {}

static int soft_map_ram(struct vm *vm, unsigned slot_id, const struct mem_slot *slot, struct err *e)
{
	return 0; /* the MMU reads vm->mem's slots directly */
}

static int soft_vcpu_init(struct vcpu *v, struct err *e)
{
	struct soft_vcpu *d = calloc(1, sizeof(*d));
	if (!d)
		return err_set(e, ENOMEM, "out of memory for vCPU %u", v->id);
	int r = soft_cpu_init(&d->cpu, &soft_mmu_ops, &d->mmu);
	if (r) {
		free(d);
		return err_set(e, -r, "soft engine: cannot create vCPU %u: %s", v->id, strerror(-r));
	}
	r = soft_cpu_set_tier(&d->cpu, v->vm->cfg.soft_tier == VM_SOFT_INTERPRET ?
	                      SOFT_TIER_INTERPRET : SOFT_TIER_TRANSLATE);
	d->cpu.direct_on = v->vm->cfg.soft_tier == VM_SOFT_DIRECT;
	if (r) {
		soft_cpu_destroy(&d->cpu);
		free(d);
		return err_set(e, -r, "soft engine: no code arena for vCPU %u's translator: %s "
		               "(--soft-tier interpret needs none)", v->id, strerror(-r));
	}
	pthread_condattr_t ca;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* halt deadlines are soft_now_ns() */
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	d->mmu = (struct soft_mmu_ctx){ .cpu = &d->cpu, .vm = v->vm, .vcpu = v };
	d->v = v;
	d->lapic = ic_of(v->vm)->lapic[v->id];
	d->cpu.sys.cpuid = &v->cpuid;
	d->cpu.sys.engine = d;
	d->cpu.sys.plat = &platform;
	d->cpu.sys.wait_sipi = v->id != 0;   /* application processors wait for INIT/SIPI */
	if (v->vm->tsc_khz)                  /* the CPU model's rate (portable: the host's) */
		d->cpu.sys.tsc_khz = v->vm->tsc_khz;
	struct soft_vm *sv = v->vm->engine_data;
	if (sv->share.mask) {
		d->cpu.cache.share = &sv->share;
		d->cpu.cache.self = 1ull << v->id;
	}
	soft_timers_add(&d->timers, &(struct soft_timer){ lapic_deadline, lapic_expire, d->lapic });
	soft_pv_vcpu_init(&d->pv, &sv->pv, v, &d->cpu, d->lapic);
	v->engine_data = d;
	return 0;
}

static void fill_io_exit(struct soft_cpu *c, struct vm_exit *x)
{
	const struct soft_io_exit *io = &c->sys.io;
	x->reason = EXIT_IO;
	x->io.port = io->port;
	x->io.size = io->size;
	x->io.is_write = io->is_write;
	x->io.count = io->count;
	x->io.data = c->sys.io.data;
}

int soft_vcpu_add_timer(struct vcpu *v, const struct soft_timer *t)
{
	return soft_timers_add(&svc(v)->timers, t);
}

uint64_t soft_next_deadline(struct vcpu *v)
{
	return soft_timers_next(&svc(v)->timers);
}

/* The state INIT leaves an application processor in until its startup IPI, and the
 * real-mode state a SIPI starts it in: CS = vector << 8, IP = 0 (SDM vol. 3A 9.4.4). */
static void sipi_state(struct cpu_state *s, uint8_t vector)
{
	memset(s, 0, sizeof(*s));
	s->rflags = 2;
	s->cr0 = 0x60000010;   /* CD, NW, ET */
	for (unsigned k = 0; k < S__COUNT; k++)
		s->seg[k] = (struct seg){ .limit = 0xffff, .attr = 0x93 };
	s->seg[S_CS] = (struct seg){ .sel = (uint16_t)(vector << 8), .base = (uint64_t)vector << 12,
	                             .limit = 0xffff, .attr = 0x9b };
	s->tr = (struct seg){ .limit = 0xffff, .attr = 0x8b };
	s->ldtr = (struct seg){ .limit = 0xffff, .attr = 0x82 };
	s->gdt.limit = s->idt.limit = 0xffff;
}

void soft_take_events(struct soft_vcpu *d)
{
	struct soft_cpu *c = &d->cpu;
	uint8_t vec;
	unsigned ev = lapic_take_events(d->lapic, &vec);
	if (ev & LAPIC_EV_INIT) {
		struct cpu_state st;
		sipi_state(&st, 0);
		uint64_t apic_base;
		lapic_msr_read(d->lapic, MSR_APIC_BASE, &apic_base);
		st.apic_base = apic_base;
		soft_sys_set_state(c, &st);
		lapic_reset(d->lapic);
		soft_pv_reset(&d->pv);
		c->sys.wait_sipi = true;
		c->sys.halted = false;
		c->sys.in_pending = false;
		c->sys.db_pending = false;
		d->nmi_pending = false;
		d->loaded = (struct cpu_events){ 0 };
	}
	if ((ev & LAPIC_EV_SIPI) && c->sys.wait_sipi) {
		struct cpu_state st;
		sipi_state(&st, vec);
		soft_sys_set_state(c, &st);
		c->sys.wait_sipi = false;
	}
	if (ev & LAPIC_EV_NMI)
		d->nmi_pending = true;
}

/* Would an event end HLT now? An NMI, or an interrupt the CPU accepts (IF = 1). */
static bool wakes(struct soft_vcpu *d)
{
	struct soft_cpu *c = &d->cpu;
	return (d->nmi_pending && !c->sys.nmi_blocked) ||
	       ((c->rflags & FL_IF) && irqchip_pending(ic_of(d->v->vm), d->v->id));
}

/* Take a pending NMI or external interrupt if the CPU accepts it now; otherwise ask
 * soft_run to stop where it may (irq_window). Returns 1 on a triple fault. */
static int inject(struct soft_vcpu *d)
{
	struct soft_cpu *c = &d->cpu;
	struct soft_sys *y = &c->sys;
	int vec = -1;
	bool external = false;
	soft_pv_eoi_sync(&d->pv);   /* an EOI the guest signalled in memory first */
	if (d->nmi_pending && !y->nmi_blocked && !y->shadow) {
		d->nmi_pending = false;
		y->nmi_blocked = true;
		vec = VEC_NMI;
		stats_count_nmi(&d->v->stats);
	} else if (irqchip_pending(ic_of(d->v->vm), d->v->id)) {
		y->irq_window = !(c->rflags & FL_IF) || y->shadow;
		if (!y->irq_window)
			vec = irqchip_ack(ic_of(d->v->vm), d->v->id);
		if (vec >= 0)
			stats_count_irq(&d->v->stats);
		external = vec >= 0;
	} else {
		y->irq_window = false;
	}
	if (vec < 0)
		return 0;
	if (external && d->direct && c->cpl == 3)
		soft_direct_tick(d->direct, c);
	y->halted = false;
	if (soft_deliver(c, (unsigned)vec, false, 0, false) != SOFT_OK)
		return soft_deliver_fault(c);   /* a fault while delivering it */
	if (external)
		soft_pv_eoi_arm(&d->pv, vec);
	return 0;
}

/* Sleep while halted until kicked (an interrupt raised for this vCPU kicks it) or until
 * the earliest timer deadline, then expire the timers that are due. The caller returns
 * to the core's loop, whose next vcpu_run checks again whether the CPU may leave HLT. */
static void wait_halted(struct soft_vcpu *d)
{
	uint64_t next = soft_timers_run(&d->timers, soft_now_ns());
	pthread_mutex_lock(&d->lock);
	while (!__atomic_load_n(&d->cpu.sys.kick, __ATOMIC_ACQUIRE)) {
		if (next == SOFT_NO_DEADLINE) {
			pthread_cond_wait(&d->cond, &d->lock);
			continue;
		}
		struct timespec ts = { .tv_sec = (time_t)(next / 1000000000ull),
		                       .tv_nsec = (long)(next % 1000000000ull) };
		if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&d->lock);
	if (next != SOFT_NO_DEADLINE)
		soft_timers_run(&d->timers, soft_now_ns());
}

/* soft_run stopped for direct execution: run the user code natively, and what comes
 * back on the soft CPU. Returns a soft_run result, -1 with e set, or -errno. */
static int run_direct(struct soft_vcpu *d, uint64_t deadline, struct err *e)
{
	struct soft_cpu *c = &d->cpu;
	if (!d->direct) {
		/* On the vCPU's own thread: its helpers are this thread's ptrace children. */
		struct soft_direct *dx;
		if (soft_direct_create(&dx, &d->v->vm->mem, d->v->id, direct_written, d->v, e))
			return -1;
		__atomic_store_n(&d->direct, dx, __ATOMIC_RELEASE);   /* soft_kick reads it */
	}
	switch (soft_direct_run(d->direct, c, deadline, e)) {
	case SOFT_DIRECT_DECLINE:
		return SOFT_RUN_BUDGET;   /* soft_run goes on translating it */
	case SOFT_DIRECT_STEP:
		return soft_step(c);
	case SOFT_DIRECT_KICKED:
		return SOFT_RUN_BUDGET;   /* the loop looks at the kick, timers and interrupts */
	case SOFT_DIRECT_DBTRAP:
		soft_single_step_trap(c);
		return SOFT_RUN_EXCEPTION;
	case SOFT_DIRECT_FAULT:
		return SOFT_RUN_EXCEPTION;
	default:
		return -1;
	}
}

static int soft_vcpu_run(struct vcpu *v, struct vm_exit *x, struct err *e)
{
	struct soft_vcpu *d = svc(v);
	struct soft_cpu *c = &d->cpu;

	x->reason = EXIT_NONE;
	drain_invalidations(d);
	soft_io_complete(c);
	soft_take_events(d);
	soft_pv_entry(&d->pv);   /* PV TLB flush request, steal time, kvm-clock, PV EOI */
	if (c->sys.halted && soft_pv_take_unhalt(&d->pv))
		c->sys.halted = false;   /* KVM_HC_KICK_CPU: leaves HLT even with IF = 0 */
	if (soft_deliver_loaded(d)) {
		x->reason = EXIT_SHUTDOWN;
		return 0;
	}
	if (c->sys.wait_sipi || (c->sys.halted && !wakes(d))) {
		wait_halted(d);
		__atomic_store_n(&c->sys.kick, 0, __ATOMIC_RELEASE);
		return 0;
	}
	for (;;) {
		uint64_t deadline = soft_timers_next(&d->timers);
		if (deadline != SOFT_NO_DEADLINE && soft_now_ns() >= deadline)
			soft_timers_run(&d->timers, soft_now_ns());
		if (inject(d)) {
			x->reason = EXIT_SHUTDOWN;
			return 0;
		}
		if (c->sys.halted)
			return 0;   /* the wake-up went away before it was taken: halt again */
		int r = soft_run(c, deadline == SOFT_NO_DEADLINE ? RUN_BUDGET : TIMER_BUDGET);
		if (r == SOFT_RUN_DIRECT) {
			r = run_direct(d, deadline, e);
			if (r == -1)
				return -1;
		}
		v->stats.instructions = c->stats.insns; /* the core's --stats reads these */
		if (r < 0)
			return err_set(e, -r, "soft engine: vCPU %u: %s", v->id, strerror(-r));
		switch (r) {
		case SOFT_RUN_EXCEPTION:
			if (c->fault.vector < STATS_VECTORS)
				v->stats.exceptions[c->fault.vector]++;
			if (soft_deliver_fault(c)) {
				x->reason = EXIT_SHUTDOWN;
				return 0;
			}
			break;
		case SOFT_RUN_EXIT:
			if (c->sys.exit_kind == SOFT_EXIT_IO) {
				fill_io_exit(c, x);
			} else {
				x->reason = EXIT_HLT;
			}
			c->sys.exit_kind = SOFT_EXIT_NONE;
			return 0;
		case SOFT_RUN_KICKED:
			__atomic_store_n(&c->sys.kick, 0, __ATOMIC_RELEASE);
			drain_invalidations(d);
			return 0;
		default:
			break;
		}
		drain_invalidations(d);
	}
}

static void soft_kick(struct vcpu *v)
{
	struct soft_vcpu *d = svc(v);
	if (!d)
		return;
	__atomic_store_n(&d->cpu.sys.kick, 1, __ATOMIC_RELEASE);
	struct soft_direct *dx = __atomic_load_n(&d->direct, __ATOMIC_ACQUIRE);
	if (dx)
		soft_direct_kick(dx);
	pthread_mutex_lock(&d->lock);
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static int soft_set_irq(struct vm *vm, unsigned gsi, int level)
{
	irqchip_set_irq(ic_of(vm), gsi, level != 0);
	return 0;
}

static int soft_signal_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	return irqchip_msi(ic_of(vm), addr, data);
}

static void soft_vcpu_destroy(struct vcpu *v)
{
	struct soft_vcpu *d = svc(v);
	if (!d)
		return;
	soft_pv_vcpu_destroy(&d->pv);
	soft_direct_destroy(d->direct);
	soft_cpu_destroy(&d->cpu);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
	v->engine_data = NULL;
}

static void soft_vm_destroy(struct vm *vm)
{
	struct soft_vm *sv = vm->engine_data;
	if (vm->mem.write_hook == write_hook) {
		vm->mem.write_hook = NULL;
		vm->mem.write_hook_opaque = NULL;
	}
	if (sv) {
		bus_unregister(&vm->mmio, IOAPIC_BASE_DEFAULT, sv->ic ? sv->ic->ioapic : NULL);
		if (sv->ic) {
			bus_unregister(&vm->pio, 0x20, sv->ic->pic);
			bus_unregister(&vm->pio, 0xa0, sv->ic->pic);
			bus_unregister(&vm->pio, 0x4d0, sv->ic->pic);
		}
		irqchip_destroy(sv->ic);
		if (sv->share.mask)
			munmap(sv->share.mask, sv->share.npages * sizeof(uint64_t));
		pthread_mutex_destroy(&sv->tsc_lock);
		free(sv);
	}
	vm->engine_data = NULL;
}

/* The translator's counters (none under --soft-tier interpret). */
static void soft_read_stats(struct vcpu *v)
{
	if (svc(v)->cpu.direct_on)
		soft_direct_stats(svc(v)->direct, &v->stats.direct);
	const struct soft_jit *j = svc(v)->cpu.jit;
	struct engine_counters *k = &v->stats.translator;
	k->n = 0;
	if (!j) {
		k->counted_by = NULL;
		return;
	}
	k->counted_by = "the translator";
	const struct soft_jit_stats *t = &j->stats;
	const struct { const char *name; uint64_t value; } c[] = {
		{ "blocks_translated", t->blocks },
		{ "code_bytes", t->bytes },
		{ "code_bytes_in_use", j->used - j->start },
		{ "code_cache_flushes", t->flushes },
		{ "chained_jumps", t->chained },
		{ "insns_inline", t->inline_insns },
		{ "insns_as_handler_calls", t->call_insns },
		{ "translate_us", t->ns / 1000 },
		{ "interp_single_step", t->fallback[JIT_FB_STEP] },
		{ "interp_irq_shadow", t->fallback[JIT_FB_SHADOW] },
		{ "interp_16bit_code", t->fallback[JIT_FB_MODE] },
		{ "interp_no_space", t->fallback[JIT_FB_NOSPACE] },
	};
	_Static_assert(sizeof(c) / sizeof(c[0]) <= STATS_ENGINE_MAX, "too many counters");
	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		k->c[i].name = c[i].name;
		k->c[i].value = c[i].value;
	}
	k->n = sizeof(c) / sizeof(c[0]);
}

/* Direct execution (direct/direct.c): a helper process registers its userfaultfd,
 * the vCPU thread fills the helper's pages through it. */
static const uint32_t soft_runtime_ioctls[] = { UFFDIO_API, UFFDIO_REGISTER, UFFDIO_COPY, 0 };

const struct engine_ops engine_soft = {
	.name = "soft",
	.available = soft_available,
	.supported_cpuid = soft_supported_cpuid,
	.host_cpuid = soft_host_cpuid,
	.vm_init = soft_vm_init,
	.map_ram = soft_map_ram,
	.vcpu_init = soft_vcpu_init,
	.vcpu_run = soft_vcpu_run,
	.vcpu_kick = soft_kick,
	.get_state = soft_get_state,
	.set_state = soft_set_state,
	.save_state = soft_save_state,
	.load_state = soft_load_state,
	.set_irq = soft_set_irq,
	.signal_msi = soft_signal_msi,
	.vcpu_destroy = soft_vcpu_destroy,
	.vm_destroy = soft_vm_destroy,
	.read_stats = soft_read_stats,
	.runtime_ioctls = soft_runtime_ioctls,
};
