#include "vm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "engine/engine.h"
#include "log.h"

int vm_add_device(struct vm *vm, void *opaque, void (*destroy)(void *), struct err *e)
{
	if (vm->ndevices == VM_MAX_DEVICES)
		return err_set(e, ENOSPC, "too many devices (at most %d)", VM_MAX_DEVICES);
	vm->devices[vm->ndevices++] = (struct vm_device){ .opaque = opaque, .destroy = destroy };
	return 0;
}

void vm_set_device_stats(struct vm *vm, void *opaque, void (*print)(void *, FILE *))
{
	for (unsigned i = 0; i < vm->ndevices; i++)
		if (vm->devices[i].opaque == opaque)
			vm->devices[i].print_stats = print;
}

void vm_set_device_snapshot(struct vm *vm, void *opaque, const char *name, vm_save_fn save,
                            vm_load_fn load)
{
	for (unsigned i = 0; i < vm->ndevices; i++)
		if (vm->devices[i].opaque == opaque) {
			vm->devices[i].name = name;
			vm->devices[i].save = save;
			vm->devices[i].load = load;
		}
}

void vm_set_device_host(struct vm *vm, void *opaque)
{
	for (unsigned i = 0; i < vm->ndevices; i++)
		if (vm->devices[i].opaque == opaque)
			vm->devices[i].host = true;
}

void vm_input_begin(struct vm *vm)
{
	pthread_rwlock_rdlock(&vm->input_gate);
}

void vm_input_end(struct vm *vm)
{
	pthread_rwlock_unlock(&vm->input_gate);
}

void vm_inputs_hold(struct vm *vm)
{
	pthread_rwlock_wrlock(&vm->input_gate);
}

void vm_inputs_release(struct vm *vm)
{
	pthread_rwlock_unlock(&vm->input_gate);
}

void vm_set_irq(struct vm *vm, unsigned gsi, int level)
{
	if (gsi < 32) {
		uint_fast32_t bit = (uint_fast32_t)1 << gsi;
		if (level)
			atomic_fetch_or(&vm->irq_lines, bit);
		else
			atomic_fetch_and(&vm->irq_lines, ~bit);
	}
	if (vm->engine && vm->engine_data)
		vm->engine->set_irq(vm, gsi, level);
}

int vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	/* Only a write into the LAPICs' window is an interrupt. Anywhere else it would be a
	 * 4-byte DMA write of `data`, which no driver means: refused, under both engines
	 * alike (KVM would decode the destination from any address). */
	if ((addr & ~(uint64_t)0xfffff) != MSI_ADDR_BASE) {
		atomic_fetch_add_explicit(&vm->msi_refused, 1, memory_order_relaxed);
		return -EINVAL;
	}
	if (!vm->engine || !vm->engine_data || !vm->engine->signal_msi) {
		atomic_fetch_add_explicit(&vm->msi_dropped, 1, memory_order_relaxed);
		return -ENOSYS;
	}
	atomic_fetch_add_explicit(&vm->msi_sent, 1, memory_order_relaxed);
	return vm->engine->signal_msi(vm, addr, data);
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason why, int status, const char *fmt, ...)
{
	bool first = false;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_reason == VM_RUNNING) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(vm->stop_msg, sizeof(vm->stop_msg), fmt, ap);
		va_end(ap);
		vm->stop_reason = why;
		vm->exit_status = status;
		first = true;
		pthread_cond_broadcast(&vm->stop_cond);
	}
	pthread_mutex_unlock(&vm->stop_lock);
	if (!first)
		return;

	if (vm->stop_fd >= 0) {
		uint64_t one = 1;
		ssize_t n = write(vm->stop_fd, &one, sizeof(one));
		(void)n;
	}
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].vm)
			vcpu_post(&vm->vcpus[i], VCPU_REQ_STOP);
}

bool vm_stopping(struct vm *vm)
{
	pthread_mutex_lock(&vm->stop_lock);
	bool s = vm->stop_reason != VM_RUNNING;
	pthread_mutex_unlock(&vm->stop_lock);
	return s;
}

static void handle_io(struct vm *vm, struct vm_exit *x)
{
	uint8_t *p = x->io.data;
	for (uint32_t i = 0; i < x->io.count; i++, p += x->io.size)
		bus_access(&vm->pio, x->io.port, p, x->io.size, x->io.is_write);
}

int vm_handle_exit(struct vm *vm, struct vcpu *vcpu, struct vm_exit *x)
{
	unsigned r = (unsigned)x->reason < EXIT__COUNT ? x->reason : EXIT_INTERNAL_ERROR;
	vcpu->stats.exits[r]++;

	switch (x->reason) {
	case EXIT_NONE:
	case EXIT_HLT:     /* the engine waits for the next interrupt itself */
	case EXIT_DEBUG:
		return 0;
	case EXIT_IO:
		handle_io(vm, x);
		return 0;
	case EXIT_MMIO:
		bus_access(&vm->mmio, x->mmio.gpa, x->mmio.data, x->mmio.size, x->mmio.is_write);
		return 0;
	case EXIT_HYPERCALL:
		/* No hypercalls are implemented in the core yet: KVM's "unknown hypercall". */
		x->hypercall.ret = (uint64_t)-1000;
		return 0;
	case EXIT_SHUTDOWN:
		vm_request_stop(vm, VM_STOP_SHUTDOWN, VM_STATUS_TRIPLE_FAULT,
		                "vCPU %u: triple fault, the guest was shut down", vcpu->id);
		return 1;
	case EXIT_SYSTEM_EVENT:
		if (x->system_event.type == SYSTEM_EVENT_RESET)
			vm_request_stop(vm, VM_STOP_RESET, 0, "guest reset");
		else if (x->system_event.type == SYSTEM_EVENT_POWEROFF)
			vm_request_stop(vm, VM_STOP_POWEROFF, 0, "guest powered off");
		else
			vm_request_stop(vm, VM_STOP_ERROR, VM_STATUS_ERROR, "guest crashed (system event %u)",
			                x->system_event.type);
		return 1;
	case EXIT_INTERNAL_ERROR:
	case EXIT_FAIL_ENTRY:
	default:
		vm_request_stop(vm, VM_STOP_ERROR, VM_STATUS_ERROR, "vCPU %u: %s (code 0x%llx): %s", vcpu->id,
		                exit_reason_name(r), (unsigned long long)x->error.code,
		                x->error.msg[0] ? x->error.msg : "no details");
		return 1;
	}
}

static int setup_vcpus(struct vm *vm, struct err *e)
{
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		vcpu_setup(v, vm, i);
		v->cpuid = vm->cpuid;
		cpuid_set_apic_id(&v->cpuid, i);
		int r = vm->engine->vcpu_init(v, e);
		if (r)
			return r;
	}
	return 0;
}

int vm_init_core(struct vm *vm, const struct vm_config *cfg, struct err *e)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->stop_fd = -1;
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->stop_cond, NULL);
	/* Writer-preferring: a stream of received frames must not keep a snapshot waiting. */
	pthread_rwlockattr_t ga;
	pthread_rwlockattr_init(&ga);
	pthread_rwlockattr_setkind_np(&ga, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&vm->input_gate, &ga);
	pthread_rwlockattr_destroy(&ga);
	bus_init(&vm->pio, "port I/O");
	bus_init(&vm->mmio, "MMIO");

	if (cfg->ncpus < 1 || cfg->ncpus > VM_MAX_CPUS)
		return err_set(e, EINVAL, "--cpus must be between 1 and %d", VM_MAX_CPUS);
	vm->ncpus = cfg->ncpus;
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0)
		return err_set(e, errno, "eventfd: %s", strerror(errno));
	/* Guest RAM is only reserved (MAP_NORESERVE), so a VM larger than the host starts;
	 * say so, since it may be killed once the guest really uses that memory. */
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
	if (pages > 0 && page > 0 && cfg->mem_size > (uint64_t)pages * (uint64_t)page)
		log_warn("vm", "--mem %llu MiB is more than this host's %llu MiB of RAM: the "
		         "guest may be killed when it uses it", (unsigned long long)(cfg->mem_size >> 20),
		         (unsigned long long)(((uint64_t)pages * (uint64_t)page) >> 20));
	/* Direct execution maps guest RAM into its helper processes: a memfd. */
	int r = mem_init(&vm->mem, cfg->mem_size, cfg->soft_tier == VM_SOFT_DIRECT, e);
	/* A page the host cannot provide wakes whoever waits for a stop (mem_guard_install). */
	vm->mem.notify_fd = vm->stop_fd;
	return r;
}

static int build_cpuid(struct vm *vm, struct err *e)
{
	struct cpuid_table *supported = calloc(1, sizeof(*supported));
	if (!supported)
		return err_set(e, ENOMEM, "out of memory");
	bool portable = vm->cfg.cpu_model == VM_CPU_PORTABLE;
	int r = portable ? engine_portable_cpuid(supported, &vm->tsc_khz, e)
	                 : vm->engine->supported_cpuid(vm, supported, e);
	if (r == 0) {
		struct cpuid_model_cfg mc = { .ncpus = vm->ncpus, .iface = vm->cfg.iface,
		                              .tsc_khz = vm->tsc_khz, .portable = portable };
		r = cpuid_model_build(&vm->cpuid, supported, &mc, e);
	}
	free(supported);
	return r;
}

int vm_attach_engine(struct vm *vm, const struct engine_ops *engine, struct err *e)
{
	int r;

	vm->engine = engine;
	if ((r = engine->vm_init(vm, e)))
		return r;
	for (unsigned i = 0; i < vm->mem.nslots; i++)
		if ((r = engine->map_ram(vm, i, &vm->mem.slots[i], e)))
			return r;
	return build_cpuid(vm, e);
}

int vm_create_vcpus(struct vm *vm, struct err *e)
{
	int r = setup_vcpus(vm, e);
	return r ? r : vm->engine->set_state(&vm->vcpus[0], &vm->boot_state, e);
}

int vm_start(struct vm *vm, struct err *e)
{
	vm->start_ns = now_ns();
	for (unsigned i = 0; i < vm->ncpus; i++) {
		int r = vcpu_start(&vm->vcpus[i], e);
		if (r) {
			vm_request_stop(vm, VM_STOP_ERROR, VM_STATUS_ERROR, "%s", e->msg);
			vm_wait(vm);
			return r;
		}
	}
	return 0;
}

int vm_start_paused(struct vm *vm, struct err *e)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->pause_depth++;
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_post(&vm->vcpus[i], VCPU_REQ_PAUSE);
	pthread_mutex_unlock(&vm->pause_lock);
	return vm_start(vm, e);
}

int vm_wait(struct vm *vm)
{
	/* Guest RAM the host could not provide wrote stop_fd from a signal handler, which
	 * cannot take the stop lock: the stop is requested here. */
	if (atomic_load(&vm->mem.lost_pages))
		vm_request_stop(vm, VM_STOP_ERROR, VM_STATUS_ERROR, "guest RAM lost");
	pthread_mutex_lock(&vm->stop_lock);
	while (vm->stop_reason == VM_RUNNING)
		pthread_cond_wait(&vm->stop_cond, &vm->stop_lock);
	pthread_mutex_unlock(&vm->stop_lock);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_join(&vm->vcpus[i]);
	vm->end_ns = now_ns();
	/* Whatever else stopped it (the guest, running on the zero pages that stood in,
	 * may have crashed first), lost RAM is why. */
	if (atomic_load(&vm->mem.lost_pages)) {
		vm->stop_reason = VM_STOP_ERROR;
		vm->exit_status = VM_STATUS_ERROR;
		mem_lost_message(&vm->mem, vm->stop_msg, sizeof(vm->stop_msg));
	}
	return vm->exit_status;
}

void vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->pause_depth++ == 0) {
		for (unsigned i = 0; i < vm->ncpus; i++)
			vcpu_post(&vm->vcpus[i], VCPU_REQ_PAUSE);
		for (unsigned i = 0; i < vm->ncpus; i++)
			vcpu_wait_state(&vm->vcpus[i], VCPU_PAUSED);
	}
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->pause_depth > 0 && --vm->pause_depth == 0)
		for (unsigned i = 0; i < vm->ncpus; i++)
			vcpu_post(&vm->vcpus[i], VCPU_REQ_RESUME);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_destroy(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].vm)
			vcpu_join(&vm->vcpus[i]);
	/* Devices go before the vCPUs' engine state: a device thread (the PIT's timer)
	 * may still raise an interrupt, which the engine delivers to a vCPU. */
	while (vm->ndevices > 0) {
		struct vm_device *d = &vm->devices[--vm->ndevices];
		d->destroy(d->opaque);
	}
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (!v->vm)
			continue;
		if (vm->engine && v->engine_data)
			vm->engine->vcpu_destroy(v);
		vcpu_cleanup(v);
		v->vm = NULL;
	}
	if (vm->engine && vm->engine_data)
		vm->engine->vm_destroy(vm);
	vm->engine_data = NULL;
	mem_destroy(&vm->mem);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	vm->stop_fd = -1;
	pthread_mutex_destroy(&vm->stop_lock);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_cond_destroy(&vm->stop_cond);
	pthread_rwlock_destroy(&vm->input_gate);
}
