/* The hardware-assisted engine: VT-x/AMD-V through Linux KVM's ioctl interface
 * (Documentation/virt/kvm/api.rst). KVM's in-kernel LAPIC, IOAPIC, PIC and PIT are
 * used; trivisor handles the exits for everything else. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/vm.h"
#include "engine/engine.h"
#include "engine/kvm/kvm_engine.h"

#define KVM_PATH "/dev/kvm"
/* Three pages below the BIOS ROM for Intel's real-mode TSS and identity map page table. */
#define KVM_TSS_ADDR     0xfffbd000u
#define KVM_IDMAP_ADDR   0xfffbc000u
#define KICK_SIGNAL      SIGUSR1

/* Intel SDM vol. 3A, "Local APIC": LVT LINT0/LINT1 registers and delivery modes. */
#define APIC_LVT_LINT0   0x350
#define APIC_LVT_LINT1   0x360
#define APIC_DM_NMI      4
#define APIC_DM_EXTINT   7
#define MISC_ENABLE_FAST_STRING 1ull

static int open_kvm(struct err *e)
{
	int fd = open(KVM_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int en = errno;
		if (en == ENOENT || en == ENXIO || en == ENODEV)
			return err_set(e, en, "no " KVM_PATH " on this host: KVM is not available "
			               "(hint: load kvm-intel or kvm-amd, enable virtualization in the "
			               "firmware or nested virtualization in the parent VM, or use "
			               "--engine soft)");
		if (en == EACCES || en == EPERM)
			return err_set(e, en, "cannot open " KVM_PATH ": %s (hint: add your user to "
			               "the 'kvm' group or run as root)", strerror(en));
		return err_set(e, en, "cannot open " KVM_PATH ": %s", strerror(en));
	}
	return fd;
}

static const struct { int cap; const char *name; } required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "user memory" },
	{ KVM_CAP_IRQCHIP, "in-kernel irqchip" },
	{ KVM_CAP_PIT2, "in-kernel PIT" },
	{ KVM_CAP_IMMEDIATE_EXIT, "immediate exit" },
	{ KVM_CAP_EXT_CPUID, "CPUID2" },
	{ KVM_CAP_SET_TSS_ADDR, "TSS address" },
	{ KVM_CAP_MP_STATE, "MP state" },
	{ KVM_CAP_SIGNAL_MSI, "MSI injection" },
};

static int check_kvm(int fd, struct err *e)
{
	int v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION)
		return err_set(e, ENOTSUP, "KVM API version %d, trivisor needs %d", v, KVM_API_VERSION);
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++)
		if (ioctl(fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0)
			return err_set(e, ENOTSUP, "this host's KVM lacks the %s capability",
			               required_caps[i].name);
	return 0;
}

/* Does the host CPU have VT-x or AMD-V? Some sandboxes offer a /dev/kvm without either
 * (e.g. PVM, which runs only guest kernels built for it); the stock kernels this engine
 * boots would hang there, so such a KVM is treated as unavailable. */
static bool host_has_hw_virt(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[8192];
	bool found = false;

	if (!f)
		return true; /* cannot tell: let KVM itself decide */
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		for (char *t = strtok(line, " \t\n"); t; t = strtok(NULL, " \t\n"))
			if (strcmp(t, "vmx") == 0 || strcmp(t, "svm") == 0)
				found = true;
		break;
	}
	fclose(f);
	return found;
}

static int kvm_available(struct err *e)
{
	int fd = open_kvm(e);
	if (fd < 0)
		return fd;
	int r = check_kvm(fd, e);
	close(fd);
	if (r == 0 && !host_has_hw_virt() && !getenv("TRIVISOR_KVM_ANYWAY"))
		r = err_set(e, ENOTSUP, KVM_PATH " exists but the CPU has no VT-x/AMD-V (a "
		            "software KVM such as PVM, which runs only guests built for it); "
		            "set TRIVISOR_KVM_ANYWAY=1 to try it, or use --engine soft");
	return r;
}

static void kick_handler(int sig)
{
	(void)sig; /* Its only job is to interrupt KVM_RUN with EINTR. */
}

static void no_destroy(void *opaque) {}

static int kvm_vm_init(struct vm *vm, struct err *e)
{
	struct kvm_vm_data *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return err_set(e, ENOMEM, "out of memory");
	d->sys_fd = d->vm_fd = -1;
	vm->engine_data = d;

	/* No SA_RESTART: the kick must make KVM_RUN return EINTR. */
	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	sigaction(KICK_SIGNAL, &sa, NULL);

	d->sys_fd = open_kvm(e);
	if (d->sys_fd < 0)
		return d->sys_fd;
	if ((r = check_kvm(d->sys_fd, e)))
		return r;
	d->run_size = ioctl(d->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (d->run_size < (int)sizeof(struct kvm_run))
		return err_set(e, EINVAL, "KVM_GET_VCPU_MMAP_SIZE failed");
	d->vm_fd = ioctl(d->sys_fd, KVM_CREATE_VM, 0);
	if (d->vm_fd < 0)
		return err_set(e, errno, "KVM_CREATE_VM: %s", strerror(errno));
	if (ioctl(d->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0)
		return err_set(e, errno, "KVM_SET_TSS_ADDR: %s", strerror(errno));
	if (ioctl(d->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
		uint64_t addr = KVM_IDMAP_ADDR;
		if (ioctl(d->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &addr) < 0)
			return err_set(e, errno, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	}
	if (ioctl(d->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return err_set(e, errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	/* SPEAKER_DUMMY makes KVM serve port 0x61 too, whose PIT gate/output bits Linux
	 * uses to calibrate its clock. */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(d->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return err_set(e, errno, "KVM_CREATE_PIT2: %s", strerror(errno));
	/* KVM's PIT is the snapshot's "pit" section, as the soft engine's board PIT is. */
	if ((r = vm_add_device(vm, d, no_destroy, e)))
		return r;
	vm_set_device_snapshot(vm, d, "pit", kvm_pit_save, kvm_pit_load);
	return 0;
}

static int kvm_map_ram(struct vm *vm, unsigned slot_id, const struct mem_slot *slot,
                       struct err *e)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot_id,
		.guest_phys_addr = slot->gpa,
		.memory_size = slot->size,
		.userspace_addr = (uintptr_t)slot->host,
		.flags = slot->rom ? KVM_MEM_READONLY : 0,   /* writes exit as MMIO: dropped */
	};
	if (ioctl(vmd(vm)->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return err_set(e, errno, "KVM_SET_USER_MEMORY_REGION (slot %u, %llu MiB): %s",
		               slot_id, (unsigned long long)(slot->size >> 20), strerror(errno));
	return 0;
}

/* KVM's para-virtual features (leaf 0x4000_0001) are implemented in the kernel and
 * passed to the guest as KVM reports them, except those whose other half is the VMM's
 * job, which trivisor does not do: MSI_EXT_DEST_ID needs the VMM to decode the extra
 * destination bits of MSIs and IOAPIC entries (KVM's in-kernel irqchip ignores them),
 * and HC_MAP_GPA_RANGE exits to the VMM (KVM_CAP_EXIT_HYPERCALL) for encrypted guests'
 * page conversions. Linux with 64 or fewer CPUs and no memory encryption needs neither.
 * KVM leaves both for the VMM to offer and does not report them itself (Linux 6.1 in
 * the nested harness: 0x1007efb); the mask keeps it so if a later KVM does. */
#define KVM_PV_NEEDS_VMM (KVM_PV_MSI_EXT_DEST_ID | KVM_PV_HC_MAP_GPA_RANGE)

static int get_supported_cpuid(int sys_fd, struct cpuid_table *out, struct err *e)
{
	struct kvm_cpuid2 *c = NULL;
	int nent = 64;

	for (;;) {
		free(c);
		c = calloc(1, sizeof(*c) + (size_t)nent * sizeof(c->entries[0]));
		if (!c)
			return err_set(e, ENOMEM, "out of memory");
		c->nent = nent;
		if (ioctl(sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		if (errno != E2BIG || nent >= 1024) {
			int en = errno;
			free(c);
			return err_set(e, en, "KVM_GET_SUPPORTED_CPUID: %s", strerror(en));
		}
		nent *= 2;
	}

	out->n = 0;
	for (unsigned i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *k = &c->entries[i];
		struct cpuid_entry ent = {
			.function = k->function, .index = k->index,
			.indexed = k->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
			.eax = k->eax, .ebx = k->ebx, .ecx = k->ecx, .edx = k->edx,
		};
		if (ent.function == 1 &&
		    ioctl(sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
			ent.ecx |= CPUID_1_ECX_TSC_DEADLINE;
		if (ent.function == CPUID_KVM_FEATURES)
			ent.eax &= ~KVM_PV_NEEDS_VMM;
		if (cpuid_put(out, &ent)) {
			free(c);
			return err_set(e, ENOSPC, "KVM reports more CPUID leaves than trivisor keeps");
		}
	}
	free(c);
	return 0;
}

static int kvm_supported_cpuid(struct vm *vm, struct cpuid_table *out, struct err *e)
{
	return get_supported_cpuid(vmd(vm)->sys_fd, out, e);
}

/* The TSC rate KVM gives a new vCPU: the host's (KVM_GET_TSC_KHZ on a scratch VM, or
 * on a vCPU of it before KVM_CAP_VM_TSC_CONTROL). */
static int host_tsc(int sys_fd, uint32_t *tsc_khz, struct err *e)
{
	int vm = ioctl(sys_fd, KVM_CREATE_VM, 0);
	if (vm < 0)
		return err_set(e, errno, "KVM_CREATE_VM: %s", strerror(errno));
	int khz = -1, cpu = -1;
	if (ioctl(sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_VM_TSC_CONTROL) > 0)
		khz = ioctl(vm, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0 && (cpu = ioctl(vm, KVM_CREATE_VCPU, 0)) >= 0)
		khz = ioctl(cpu, KVM_GET_TSC_KHZ, 0);
	int en = errno;
	if (cpu >= 0)
		close(cpu);
	close(vm);
	if (khz <= 0)
		return err_set(e, en, "KVM_GET_TSC_KHZ: %s", strerror(en));
	*tsc_khz = (uint32_t)khz;
	return 0;
}

static int kvm_host_cpuid(struct cpuid_table *out, uint32_t *tsc_khz, struct err *e)
{
	int fd = open_kvm(e);
	if (fd < 0)
		return fd;
	int r = get_supported_cpuid(fd, out, e);
	if (r == 0)
		r = host_tsc(fd, tsc_khz, e);
	close(fd);
	return r;
}

static int set_cpuid(struct vcpu *v, struct err *e)
{
	const struct cpuid_table *t = &v->cpuid;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + t->n * sizeof(c->entries[0]));
	if (!c)
		return err_set(e, ENOMEM, "out of memory");
	c->nent = t->n;
	for (unsigned i = 0; i < t->n; i++) {
		const struct cpuid_entry *s = &t->e[i];
		c->entries[i] = (struct kvm_cpuid_entry2){
			.function = s->function, .index = s->index,
			.flags = s->indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0,
			.eax = s->eax, .ebx = s->ebx, .ecx = s->ecx, .edx = s->edx,
		};
	}
	int r = ioctl(vcd(v)->fd, KVM_SET_CPUID2, c);
	int en = errno;
	free(c);
	if (r < 0)
		return err_set(e, en, "KVM_SET_CPUID2: %s", strerror(en));
	return 0;
}

/* What firmware does before an OS runs: LINT0 as ExtINT (the 8259's output) and LINT1
 * as NMI, so the PIC works until the guest programs its APIC. */
static int set_lint(struct vcpu *v, struct err *e)
{
	struct kvm_lapic_state la;
	if (ioctl(vcd(v)->fd, KVM_GET_LAPIC, &la) < 0)
		return err_set(e, errno, "KVM_GET_LAPIC: %s", strerror(errno));
	uint32_t lint0, lint1;
	memcpy(&lint0, &la.regs[APIC_LVT_LINT0], 4);
	memcpy(&lint1, &la.regs[APIC_LVT_LINT1], 4);
	lint0 = (lint0 & ~0x700u) | (APIC_DM_EXTINT << 8);
	lint1 = (lint1 & ~0x700u) | (APIC_DM_NMI << 8);
	memcpy(&la.regs[APIC_LVT_LINT0], &lint0, 4);
	memcpy(&la.regs[APIC_LVT_LINT1], &lint1, 4);
	if (ioctl(vcd(v)->fd, KVM_SET_LAPIC, &la) < 0)
		return err_set(e, errno, "KVM_SET_LAPIC: %s", strerror(errno));
	return 0;
}

/* Firmware's MSR setup: fast strings on, and every TSC written to 0 at creation so
 * KVM sees the writes as one synchronised TSC across vCPUs. */
static int set_msrs(struct vcpu *v, struct err *e)
{
	/* kvm_msrs ends in a flexible array: the union gives it room for two entries. */
	union {
		struct kvm_msrs hdr;
		uint8_t room[sizeof(struct kvm_msrs) + 2 * sizeof(struct kvm_msr_entry)];
	} m = { .hdr.nmsrs = 2 };
	m.hdr.entries[0] = (struct kvm_msr_entry){ .index = MSR_MISC_ENABLE,
	                                           .data = MISC_ENABLE_FAST_STRING };
	m.hdr.entries[1] = (struct kvm_msr_entry){ .index = MSR_TSC, .data = 0 };
	int n = ioctl(vcd(v)->fd, KVM_SET_MSRS, &m);
	if (n != 2)
		return err_set(e, EINVAL, "KVM_SET_MSRS: only %d of 2 MSRs set (IA32_MISC_ENABLE, "
		               "IA32_TSC)", n);
	return 0;
}

static int kvm_vcpu_init(struct vcpu *v, struct err *e)
{
	struct kvm_vm_data *d = vmd(v->vm);
	struct kvm_vcpu_data *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return err_set(e, ENOMEM, "out of memory");
	c->fd = -1;
	c->run = MAP_FAILED;
	v->engine_data = c;

	c->fd = ioctl(d->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->id);
	if (c->fd < 0)
		return err_set(e, errno, "KVM_CREATE_VCPU %u: %s", v->id, strerror(errno));
	c->run = mmap(NULL, d->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	if (c->run == MAP_FAILED)
		return err_set(e, errno, "mmap of vCPU %u run area: %s", v->id, strerror(errno));
	if ((r = set_cpuid(v, e)) || (r = set_msrs(v, e)) || (r = set_lint(v, e)))
		return r;
	kvm_state_probe(v);
	return 0;
}

static int exit_from_kvm(struct kvm_run *run, struct vm_exit *x)
{
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		x->reason = EXIT_IO;
		x->io.port = run->io.port;
		x->io.size = run->io.size;
		x->io.is_write = run->io.direction == KVM_EXIT_IO_OUT;
		x->io.count = run->io.count;
		x->io.data = (uint8_t *)run + run->io.data_offset;
		return 0;
	case KVM_EXIT_MMIO:
		x->reason = EXIT_MMIO;
		x->mmio.gpa = run->mmio.phys_addr;
		x->mmio.size = run->mmio.len;
		x->mmio.is_write = run->mmio.is_write;
		x->mmio.data = run->mmio.data; /* read results go back to KVM here */
		return 0;
	case KVM_EXIT_INTR:
		x->reason = EXIT_NONE;
		return 0;
	case KVM_EXIT_HLT:
		x->reason = EXIT_HLT;
		return 0;
	case KVM_EXIT_SHUTDOWN:
		x->reason = EXIT_SHUTDOWN;
		return 0;
	case KVM_EXIT_DEBUG:
		x->reason = EXIT_DEBUG;
		return 0;
	case KVM_EXIT_SYSTEM_EVENT:
		x->reason = EXIT_SYSTEM_EVENT;
		x->system_event.type = run->system_event.type == KVM_SYSTEM_EVENT_RESET ? SYSTEM_EVENT_RESET
			: run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ? SYSTEM_EVENT_POWEROFF
			: SYSTEM_EVENT_CRASH;
		return 0;
	case KVM_EXIT_FAIL_ENTRY:
		x->reason = EXIT_FAIL_ENTRY;
		x->error.code = run->fail_entry.hardware_entry_failure_reason;
		snprintf(x->error.msg, sizeof(x->error.msg), "KVM could not enter the guest");
		return 0;
	case KVM_EXIT_INTERNAL_ERROR:
		x->reason = EXIT_INTERNAL_ERROR;
		x->error.code = run->internal.suberror;
		snprintf(x->error.msg, sizeof(x->error.msg), "KVM internal error%s",
		         run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? " (emulation failure)" : "");
		return 0;
	default:
		x->reason = EXIT_INTERNAL_ERROR;
		x->error.code = run->exit_reason;
		snprintf(x->error.msg, sizeof(x->error.msg), "unhandled KVM exit reason %u",
		         run->exit_reason);
		return 0;
	}
}

static int kvm_vcpu_run(struct vcpu *v, struct vm_exit *x, struct err *e)
{
	struct kvm_vcpu_data *c = vcd(v);

	int r = ioctl(c->fd, KVM_RUN, 0);
	int en = errno;
	__atomic_store_n(&c->run->immediate_exit, 0, __ATOMIC_RELEASE);
	c->io_pending = r == 0 && (c->run->exit_reason == KVM_EXIT_IO ||
	                           c->run->exit_reason == KVM_EXIT_MMIO);
	if (r < 0) {
		if (en == EINTR || en == EAGAIN) {
			x->reason = EXIT_NONE;
			return 0;
		}
		return err_set(e, en, "KVM_RUN: %s", strerror(en));
	}
	return exit_from_kvm(c->run, x);
}

static void kvm_vcpu_kick(struct vcpu *v)
{
	struct kvm_vcpu_data *c = vcd(v);
	if (!c || c->run == MAP_FAILED)
		return;
	/* immediate_exit covers a kick that lands just before KVM_RUN; the signal covers
	 * one that lands while the guest runs. */
	__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_RELEASE);
	if (v->thread_started)
		pthread_kill(v->thread, KICK_SIGNAL);
}

static int kvm_set_irq(struct vm *vm, unsigned gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };
	if (ioctl(vmd(vm)->vm_fd, KVM_IRQ_LINE, &l) < 0) {
		log_warn("kvm", "KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
		return -errno;
	}
	return 0;
}

static int kvm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi m = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32),
	                     .data = data };
	/* > 0: delivered to that many vCPUs; 0: blocked by the guest (e.g. masked); -1,
	 * which reads as EPERM: no vCPU at that destination. The last is the guest's doing
	 * and, as on a PC, the message is lost. Anything else is worth a warning, the first
	 * few times: a guest sends these as fast as it likes. */
	if (ioctl(vmd(vm)->vm_fd, KVM_SIGNAL_MSI, &m) < 0 && errno != EPERM) {
		int en = errno;
		static atomic_uint warned;
		if (atomic_fetch_add(&warned, 1) < 5)
			log_warn("kvm", "KVM_SIGNAL_MSI 0x%llx/0x%x: %s", (unsigned long long)addr,
			         data, strerror(en));
		return -en;
	}
	return 0;
}

/* KVM's per-vCPU statistics worth showing beside trivisor's own, in this order
 * (names as KVM gives them, arch/x86/kvm/x86.c; a kernel without one simply omits it).
 * Exits KVM handles itself never reach trivisor: these are the only view of them. */
static const char *const kvm_stat_names[] = {
	"exits", "io_exits", "mmio_exits", "halt_exits", "irq_window_exits",
	"nmi_window_exits", "irq_exits", "signal_exits", "request_irq_exits",
	"hypercalls", "irq_injections", "nmi_injections", "pf_taken", "pf_guest",
	"tlb_flush", "invlpg", "insn_emulation", "insn_emulation_fail", "halt_wakeup",
	"halt_wait_ns", "directed_yield_attempted", "directed_yield_successful",
	"preemption_reported", "host_state_reload", "fpu_reload",
};
_Static_assert(sizeof(kvm_stat_names) / sizeof(kvm_stat_names[0]) <= STATS_ENGINE_MAX,
               "more KVM statistics than struct engine_counters holds");

/* Read the vCPU's binary statistics (KVM_GET_STATS_FD, Linux 5.14; api.rst "Binary
 * Statistics"): a header, descriptors of name_size-byte names, and u64 data. Without
 * the ioctl, the counters are reported as unavailable with the reason. */
static void kvm_read_stats(struct vcpu *v)
{
	struct engine_counters *k = &v->stats.in_kernel;
	k->counted_by = "KVM";
	k->n = 0;
	k->missing[0] = '\0';
#ifdef KVM_GET_STATS_FD
	int fd = ioctl(vcd(v)->fd, KVM_GET_STATS_FD, 0);
	if (fd < 0) {
		snprintf(k->missing, sizeof(k->missing), "KVM_GET_STATS_FD: %s; it needs Linux 5.14",
		         strerror(errno));
		return;
	}
	struct kvm_stats_header h;
	char *descs = NULL;
	size_t dsize = 0;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.num_desc > 4096 ||
	    h.name_size == 0 || h.name_size > 4096)
		goto bad;
	dsize = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = malloc(dsize * h.num_desc);
	if (!descs || pread(fd, descs, dsize * h.num_desc, h.desc_offset) !=
	              (ssize_t)(dsize * h.num_desc))
		goto bad;
	for (size_t w = 0; w < sizeof(kvm_stat_names) / sizeof(kvm_stat_names[0]); w++) {
		for (unsigned i = 0; i < h.num_desc; i++) {
			const struct kvm_stats_desc *d = (const void *)(descs + i * dsize);
			uint64_t val;
			if (d->size != 1 || strncmp(d->name, kvm_stat_names[w], h.name_size) != 0)
				continue;
			if (pread(fd, &val, sizeof(val), (off_t)h.data_offset + d->offset) !=
			    (ssize_t)sizeof(val))
				goto bad;
			k->c[k->n].name = kvm_stat_names[w];
			k->c[k->n++].value = val;
			break;
		}
	}
	free(descs);
	close(fd);
	return;
bad:
	snprintf(k->missing, sizeof(k->missing), "KVM's statistics file could not be read");
	k->n = 0;
	free(descs);
	close(fd);
#else
	snprintf(k->missing, sizeof(k->missing), "built without KVM_GET_STATS_FD (Linux 5.14 headers)");
#endif
}

static void kvm_vcpu_destroy(struct vcpu *v)
{
	struct kvm_vcpu_data *c = vcd(v);
	if (c->run != MAP_FAILED)
		munmap(c->run, vmd(v->vm)->run_size);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	v->engine_data = NULL;
}

static void kvm_vm_destroy(struct vm *vm)
{
	struct kvm_vm_data *d = vmd(vm);
	if (d->vm_fd >= 0)
		close(d->vm_fd);
	if (d->sys_fd >= 0)
		close(d->sys_fd);
	free(d);
	vm->engine_data = NULL;
}

/* After setup: running, kicking and interrupting the vCPUs, their state (Ctrl-A r, the
 * exit dump), their statistics (--stats). */
static const uint32_t kvm_runtime_ioctls[] = {
	KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_IRQ_LINE,
	KVM_SIGNAL_MSI,
	/* the whole state, for snapshots (state.c) */
	KVM_GET_MSRS, KVM_SET_MSRS, KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_GET_XCRS, KVM_SET_XCRS,
	KVM_GET_FPU, KVM_SET_FPU, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, KVM_GET_VCPU_EVENTS,
	KVM_SET_VCPU_EVENTS, KVM_GET_MP_STATE, KVM_SET_MP_STATE, KVM_GET_LAPIC, KVM_SET_LAPIC,
	KVM_GET_TSC_KHZ, KVM_SET_TSC_KHZ, KVM_GET_CLOCK, KVM_SET_CLOCK, KVM_GET_IRQCHIP,
	KVM_SET_IRQCHIP, KVM_GET_PIT2, KVM_SET_PIT2,
#ifdef KVM_GET_STATS_FD
	KVM_GET_STATS_FD,
#endif
	0
};

const struct engine_ops engine_kvm = {
	.name = "kvm",
	.pit_in_engine = true,   /* KVM_CREATE_PIT2 */
	.available = kvm_available,
	.supported_cpuid = kvm_supported_cpuid,
	.host_cpuid = kvm_host_cpuid,
	.vm_init = kvm_vm_init,
	.map_ram = kvm_map_ram,
	.vcpu_init = kvm_vcpu_init,
	.vcpu_run = kvm_vcpu_run,
	.vcpu_kick = kvm_vcpu_kick,
	.get_state = kvm_get_state,
	.set_state = kvm_set_state,
	.save_state = kvm_save_state,
	.load_state = kvm_load_state,
	.set_irq = kvm_set_irq,
	.signal_msi = kvm_signal_msi,
	.read_stats = kvm_read_stats,
	.vcpu_destroy = kvm_vcpu_destroy,
	.vm_destroy = kvm_vm_destroy,
	.runtime_ioctls = kvm_runtime_ioctls,
};
