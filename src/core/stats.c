#include "stats.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "vm.h"

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

/* Accesses per device, busiest first: where the exits go. */
static void print_bus(FILE *f, const struct bus *b)
{
	bool shown[b->n ? b->n : 1];
	memset(shown, 0, sizeof(shown));
	for (unsigned k = 0; k < b->n; k++) {
		unsigned best = b->n;
		unsigned long most = 0;
		for (unsigned i = 0; i < b->n; i++) {
			unsigned long a = atomic_load(&b->ranges[i].accesses);
			if (!shown[i] && a > most) {
				most = a;
				best = i;
			}
		}
		if (best == b->n)
			break;
		shown[best] = true;
		if (k == 0)
			fprintf(f, "%s accesses by device:\n", b->name);
		fprintf(f, "  %-22s %10lu  (0x%llx)\n", b->ranges[best].name, most,
		        (unsigned long long)b->ranges[best].base);
	}
}

void stats_print(FILE *f, const struct vm *vm)
{
	uint64_t total[EXIT__COUNT] = { 0 }, in_guest = 0, in_core = 0, all = 0;

	for (unsigned i = 0; i < vm->ncpus; i++) {
		const struct vcpu_stats *s = &vm->vcpus[i].stats;
		for (unsigned r = 0; r < EXIT__COUNT; r++)
			total[r] += s->exits[r];
		in_guest += s->ns_in_guest;
		in_core += s->ns_in_core;
	}
	for (unsigned r = 0; r < EXIT__COUNT; r++)
		all += total[r];

	fprintf(f, "--- trivisor stats (engine %s, %u vCPU%s) ---\n", vm->engine->name,
	        vm->ncpus, vm->ncpus == 1 ? "" : "s");
	fprintf(f, "run time:         %.3f s\n", secs(vm->end_ns - vm->start_ns));
	fprintf(f, "vCPU time:        %.3f s in engine, %.3f s handling exits\n",
	        secs(in_guest), secs(in_core));
	fprintf(f, "exits:            %" PRIu64 " total\n", all);
	for (unsigned r = 0; r < EXIT__COUNT; r++)
		if (total[r])
			fprintf(f, "  %-16s%" PRIu64 "\n", exit_reason_name(r), total[r]);
	print_bus(f, &vm->pio);
	print_bus(f, &vm->mmio);
	fprintf(f, "unclaimed:        port I/O %lu reads, %lu writes; MMIO %lu reads, %lu writes\n",
	        atomic_load(&vm->pio.unclaimed_reads), atomic_load(&vm->pio.unclaimed_writes),
	        atomic_load(&vm->mmio.unclaimed_reads), atomic_load(&vm->mmio.unclaimed_writes));
}

void vcpu_dump_state(FILE *f, struct vcpu *v)
{
	struct cpu_state s;
	struct err e;

	if (!v->vm->engine || !v->engine_data || v->vm->engine->get_state(v, &s, &e)) {
		fprintf(f, "vCPU %u: state unavailable\n", v->id);
		return;
	}
	static const char *const names[R__COUNT] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp",
		"rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
	fprintf(f, "vCPU %u: rip %016" PRIx64 " rflags %08" PRIx64 " cs %04x ss %04x\n", v->id,
	        s.rip, s.rflags, s.seg[S_CS].sel, s.seg[S_SS].sel);
	for (int i = 0; i < R__COUNT; i++)
		fprintf(f, "  %-3s %016" PRIx64 "%s", names[i], s.gpr[i], i % 4 == 3 ? "\n" : "");
	fprintf(f, "  cr0 %016" PRIx64 " cr2 %016" PRIx64 " cr3 %016" PRIx64 " cr4 %016" PRIx64
	        " efer %" PRIx64 "\n", s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
}
