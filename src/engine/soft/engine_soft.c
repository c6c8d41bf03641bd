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
 *  - Device/DMA writes through the core's memory accessor drop decoded code: the write
 *    hook invalidates at once on the vCPU's own thread (or before it runs), and queues
 *    the range for vCPUs running on other threads (then kicks them). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/vm.h"
#include "engine/engine.h"
#include "engine/soft/block.h"
#include "engine/soft/ops_sys.h"
#include "engine/soft/soft.h"
#include "engine/soft/timers.h"

#define RUN_BUDGET (1u << 20)  /* instructions per soft_run call */
#define TIMER_BUDGET (1u << 16) /* ... while a timer deadline is set: ~1 ms or less */
#define INV_QUEUE 16

struct soft_vcpu {
	struct soft_cpu cpu;
	struct soft_mmu_ctx mmu;
	pthread_mutex_t lock;       /* halt wait and the invalidation queue */
	pthread_cond_t cond;
	int inv_pending;            /* atomic: the queue below is not empty */
	unsigned ninv;
	bool inv_all;
	uint64_t inv_gpa[INV_QUEUE], inv_len[INV_QUEUE];
	struct soft_timers timers;  /* this vCPU's deadlines; used on its own thread only */
};

static struct soft_vcpu *svc(struct vcpu *v) { return v->engine_data; }

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

static bool on_own_thread(struct vcpu *v)
{
	return !v->thread_started || pthread_equal(v->thread, pthread_self());
}

static void soft_kick(struct vcpu *v);

/* The core's guest-memory write hook: a device or loader wrote [gpa, gpa+len). */
static void write_hook(void *opaque, uint64_t gpa, uint64_t len)
{
	struct vm *vm = opaque;
	for (unsigned k = 0; k < vm->ncpus && k < VM_MAX_CPUS; k++) {
		struct vcpu *v = &vm->vcpus[k];
		struct soft_vcpu *d = v->vm ? svc(v) : NULL;
		if (!d)
			continue;
		if (on_own_thread(v)) {
			soft_code_invalidate(&d->cpu.cache, gpa, len);
			continue;
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

static int soft_vm_init(struct vm *vm, struct err *e)
{
	vm->engine_data = vm; /* nothing VM-wide yet besides the hook */
	vm->mem.write_hook = write_hook;
	vm->mem.write_hook_opaque = vm;
	return 0;
}

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
	pthread_condattr_t ca;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* halt deadlines are soft_now_ns() */
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	d->mmu = (struct soft_mmu_ctx){ .cpu = &d->cpu, .vm = v->vm, .vcpu = v };
	d->cpu.sys.cpuid = &v->cpuid;
	d->cpu.sys.engine = d;
	/* TODO(interrupt controllers issue): application processors wait for INIT/SIPI
	 * from a local APIC; until there is one they never start. */
	d->cpu.sys.wait_sipi = v->id != 0;
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

static int soft_vcpu_run(struct vcpu *v, struct vm_exit *x, struct err *e)
{
	struct soft_vcpu *d = svc(v);
	struct soft_cpu *c = &d->cpu;

	x->reason = EXIT_NONE;
	drain_invalidations(d);
	soft_io_complete(c);
	if (c->sys.halted || c->sys.wait_sipi) {
		wait_halted(d);
		__atomic_store_n(&c->sys.kick, 0, __ATOMIC_RELEASE);
		return 0;
	}
	for (;;) {
		uint64_t deadline = soft_timers_next(&d->timers);
		if (deadline != SOFT_NO_DEADLINE && soft_now_ns() >= deadline)
			soft_timers_run(&d->timers, soft_now_ns());
		int r = soft_run(c, deadline == SOFT_NO_DEADLINE ? RUN_BUDGET : TIMER_BUDGET);
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
	pthread_mutex_lock(&d->lock);
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static int soft_get_state(struct vcpu *v, struct cpu_state *s, struct err *e)
{
	soft_sys_get_state(&svc(v)->cpu, s);
	return 0;
}

static int soft_set_state(struct vcpu *v, const struct cpu_state *s, struct err *e)
{
	struct soft_cpu *c = &svc(v)->cpu;
	soft_sys_set_state(c, s);
	c->sys.wait_sipi = false;
	c->sys.in_pending = false;
	return 0;
}

static int soft_set_irq(struct vm *vm, unsigned gsi, int level)
{
	/* TODO(interrupt controllers issue): route the line through the userspace PIC /
	 * IOAPIC / LAPIC models and wake a halted vCPU. The core already records the level
	 * in vm->irq_lines; nothing is delivered to the CPU yet. */
	return 0;
}

static void soft_vcpu_destroy(struct vcpu *v)
{
	struct soft_vcpu *d = svc(v);
	if (!d)
		return;
	soft_cpu_destroy(&d->cpu);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
	v->engine_data = NULL;
}

static void soft_vm_destroy(struct vm *vm)
{
	if (vm->mem.write_hook == write_hook) {
		vm->mem.write_hook = NULL;
		vm->mem.write_hook_opaque = NULL;
	}
	vm->engine_data = NULL;
}

const struct engine_ops engine_soft = {
	.name = "soft",
	.available = soft_available,
	.supported_cpuid = soft_supported_cpuid,
	.vm_init = soft_vm_init,
	.map_ram = soft_map_ram,
	.vcpu_init = soft_vcpu_init,
	.vcpu_run = soft_vcpu_run,
	.vcpu_kick = soft_kick,
	.get_state = soft_get_state,
	.set_state = soft_set_state,
	.set_irq = soft_set_irq,
	.vcpu_destroy = soft_vcpu_destroy,
	.vm_destroy = soft_vm_destroy,
};
