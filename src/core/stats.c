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

static const char *const vector_names[STATS_VECTORS] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO", "#TS", "#NP",
	"#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23",
	"#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

/* Instructions retired and exceptions by vector, summed over vCPUs; nothing when the
 * engine does not count them (kvm). MIPS is per second of vCPU time in the engine. */
static void print_cpu(FILE *f, const struct vm *vm, uint64_t in_guest)
{
	uint64_t insns = 0, exc[STATS_VECTORS] = { 0 }, nexc = 0;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		const struct vcpu_stats *s = &vm->vcpus[i].stats;
		insns += s->instructions;
		for (unsigned v = 0; v < STATS_VECTORS; v++)
			exc[v] += s->exceptions[v];
	}
	if (insns)
		fprintf(f, "instructions:     %" PRIu64 " retired, %.1f MIPS in engine\n", insns,
		        in_guest ? (double)insns * 1e3 / (double)in_guest : 0.0);
	for (unsigned v = 0; v < STATS_VECTORS; v++)
		nexc += exc[v];
	if (!nexc)
		return;
	fprintf(f, "exceptions:       %" PRIu64 " total\n", nexc);
	for (unsigned v = 0; v < STATS_VECTORS; v++)
		if (exc[v])
			fprintf(f, "  %-4s (%2u)       %" PRIu64 "\n", vector_names[v], v, exc[v]);
}

static const char *const hc_names[STATS_HC_NAMED + 1] = {
	[1] = "VAPIC_POLL_IRQ", [3] = "FEATURES", [5] = "KICK_CPU", [9] = "CLOCK_PAIRING",
	[10] = "SEND_IPI", [11] = "SCHED_YIELD", [12] = "MAP_GPA_RANGE",
	[STATS_HC_OTHER] = "other",
};

const char *stats_hypercall_name(unsigned nr)
{
	return nr <= STATS_HC_OTHER ? hc_names[nr] : NULL;
}

void stats_collect(struct vm *vm)
{
	if (!vm->engine || !vm->engine->read_stats)
		return;
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].engine_data)
			vm->engine->read_stats(&vm->vcpus[i]);
}

/* Add engine counters k into t by name (the first vCPU's order); first: t = k. */
static void sum_counters(struct engine_counters *t, const struct engine_counters *k, bool first)
{
	if (first) {
		*t = *k;
		return;
	}
	if (k->missing[0] && !t->missing[0])
		memcpy(t->missing, k->missing, sizeof(k->missing));
	for (unsigned c = 0; c < t->n; c++)
		for (unsigned d = 0; d < k->n; d++)
			if (strcmp(k->c[d].name, t->c[c].name) == 0)
				t->c[c].value += k->c[d].value;
}

/* Sum of the per-vCPU counters into t (engine counters by name, in vCPU 0's order). */
static void sum_vcpus(const struct vm *vm, struct vcpu_stats *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < vm->ncpus; i++) {
		const struct vcpu_stats *s = &vm->vcpus[i].stats;
		for (unsigned r = 0; r < EXIT__COUNT; r++)
			t->exits[r] += s->exits[r];
		for (unsigned v = 0; v < STATS_VECTORS; v++)
			t->exceptions[v] += s->exceptions[v];
		for (unsigned h = 0; h <= STATS_HC_OTHER; h++)
			t->hypercalls[h] += s->hypercalls[h];
		t->ns_in_guest += s->ns_in_guest;
		t->ns_in_core += s->ns_in_core;
		t->instructions += s->instructions;
		t->hypercalls_total += s->hypercalls_total;
		t->irqs_injected += s->irqs_injected;
		t->nmis_injected += s->nmis_injected;

		sum_counters(&t->in_kernel, &s->in_kernel, i == 0);
		sum_counters(&t->translator, &s->translator, i == 0);
		sum_counters(&t->direct, &s->direct, i == 0);
	}
}

/* Hypercalls and interrupts trivisor handled itself; nothing when none (kvm: KVM
 * handles them in the kernel, see print_counters). */
static void print_pv(FILE *f, const struct vcpu_stats *t)
{
	if (t->hypercalls_total) {
		fprintf(f, "hypercalls:       %" PRIu64 " total\n", t->hypercalls_total);
		for (unsigned h = 0; h <= STATS_HC_OTHER; h++) {
			if (!t->hypercalls[h])
				continue;
			if (hc_names[h] && h != STATS_HC_OTHER)
				fprintf(f, "  %-14s(%2u) %" PRIu64 "\n", hc_names[h], h, t->hypercalls[h]);
			else if (h == STATS_HC_OTHER)
				fprintf(f, "  %-18s%" PRIu64 "\n", "other numbers", t->hypercalls[h]);
			else
				fprintf(f, "  %-14s(%2u) %" PRIu64 "\n", "number", h, t->hypercalls[h]);
		}
	}
	if (t->irqs_injected || t->nmis_injected)
		fprintf(f, "interrupts:       %" PRIu64 " injected, %" PRIu64 " NMIs\n",
		        t->irqs_injected, t->nmis_injected);
}

/* What the engine counted itself (kvm: in the kernel, events that never reach trivisor;
 * soft: its translator). */
static void print_counters(FILE *f, const char *what, const struct engine_counters *k)
{
	if (!k->counted_by)
		return;
	if (!k->n) {
		fprintf(f, "%s, counted by %s: not available (%s)\n", what, k->counted_by,
		        k->missing[0] ? k->missing : "none reported");
		return;
	}
	fprintf(f, "%s, counted by %s (all vCPUs):\n", what, k->counted_by);
	for (unsigned c = 0; c < k->n; c++)
		fprintf(f, "  %-26s %" PRIu64 "\n", k->c[c].name, k->c[c].value);
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
	/* so far, while it runs (the console's Ctrl-A s) */
	fprintf(f, "run time:         %.3f s\n", secs((vm->end_ns ? vm->end_ns : now_ns()) - vm->start_ns));
	fprintf(f, "vCPU time:        %.3f s in engine, %.3f s handling exits\n",
	        secs(in_guest), secs(in_core));
	fprintf(f, "exits:            %" PRIu64 " total\n", all);
	for (unsigned r = 0; r < EXIT__COUNT; r++)
		if (total[r])
			fprintf(f, "  %-16s%" PRIu64 "\n", exit_reason_name(r), total[r]);
	print_cpu(f, vm, in_guest);
	struct vcpu_stats t;
	sum_vcpus(vm, &t);
	print_pv(f, &t);
	print_counters(f, "in-kernel", &t.in_kernel);
	print_counters(f, "binary translation", &t.translator);
	print_counters(f, "direct execution", &t.direct);
	print_bus(f, &vm->pio);
	print_bus(f, &vm->mmio);
	for (unsigned i = 0; i < vm->ndevices; i++)
		if (vm->devices[i].print_stats)
			vm->devices[i].print_stats(vm->devices[i].opaque, f);
	unsigned long msis = atomic_load(&vm->msi_sent), msi_refused = atomic_load(&vm->msi_refused),
	              msi_dropped = atomic_load(&vm->msi_dropped);
	if (msis || msi_refused || msi_dropped)
		fprintf(f, "MSIs:             %lu sent, %lu refused (not at 0xfee00000), %lu dropped\n",
		        msis, msi_refused, msi_dropped);
	fprintf(f, "unclaimed:        port I/O %lu reads, %lu writes; MMIO %lu reads, %lu writes\n",
	        atomic_load(&vm->pio.unclaimed_reads), atomic_load(&vm->pio.unclaimed_writes),
	        atomic_load(&vm->mmio.unclaimed_reads), atomic_load(&vm->mmio.unclaimed_writes));
}

/* ---- the same counters as JSON (--stats-json) ---- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_counters(FILE *f, const struct engine_counters *k)
{
	if (!k->counted_by) {
		fputs("null", f);
		return;
	}
	fputs("{\"counted_by\": ", f);
	json_str(f, k->counted_by);
	if (k->missing[0]) {
		fputs(", \"unavailable\": ", f);
		json_str(f, k->missing);
	}
	fputs(", \"counters\": {", f);
	for (unsigned c = 0; c < k->n; c++) {
		fprintf(f, "%s", c ? ", " : "");
		json_str(f, k->c[c].name);
		fprintf(f, ": %" PRIu64, k->c[c].value);
	}
	fputs("}}", f);
}

static void json_cpu(FILE *f, const struct vcpu_stats *s, const char *indent)
{
	fprintf(f, "%s\"ns_in_engine\": %" PRIu64 ", \"ns_handling_exits\": %" PRIu64
	        ", \"instructions\": %" PRIu64 ",\n%s\"exits\": {", indent, s->ns_in_guest,
	        s->ns_in_core, s->instructions, indent);
	for (unsigned r = 0; r < EXIT__COUNT; r++)
		fprintf(f, "%s\"%s\": %" PRIu64, r ? ", " : "", exit_reason_name(r), s->exits[r]);
	fprintf(f, "},\n%s\"exceptions\": {", indent);
	bool first = true;
	for (unsigned v = 0; v < STATS_VECTORS; v++)
		if (s->exceptions[v]) {
			fprintf(f, "%s\"%u\": %" PRIu64, first ? "" : ", ", v, s->exceptions[v]);
			first = false;
		}
	fprintf(f, "},\n%s\"hypercalls\": {\"total\": %" PRIu64 ", \"by_number\": {", indent,
	        s->hypercalls_total);
	first = true;
	for (unsigned h = 0; h <= STATS_HC_OTHER; h++)
		if (s->hypercalls[h]) {
			if (h == STATS_HC_OTHER)
				fprintf(f, "%s\"other\": %" PRIu64, first ? "" : ", ", s->hypercalls[h]);
			else
				fprintf(f, "%s\"%u\": %" PRIu64, first ? "" : ", ", h, s->hypercalls[h]);
			first = false;
		}
	fprintf(f, "}},\n%s\"interrupts_injected\": %" PRIu64 ", \"nmis_injected\": %" PRIu64
	        ",\n%s\"in_kernel\": ", indent, s->irqs_injected, s->nmis_injected, indent);
	json_counters(f, &s->in_kernel);
	fprintf(f, ",\n%s\"translator\": ", indent);
	json_counters(f, &s->translator);
	fprintf(f, ",\n%s\"direct\": ", indent);
	json_counters(f, &s->direct);
}

static void json_bus(FILE *f, const char *key, const struct bus *b)
{
	fprintf(f, "  \"%s\": {\"unclaimed_reads\": %lu, \"unclaimed_writes\": %lu, \"devices\": [",
	        key, atomic_load(&b->unclaimed_reads), atomic_load(&b->unclaimed_writes));
	for (unsigned i = 0; i < b->n; i++) {
		fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
		json_str(f, b->ranges[i].name ? b->ranges[i].name : "");
		fprintf(f, ", \"base\": %llu, \"accesses\": %lu}",
		        (unsigned long long)b->ranges[i].base, atomic_load(&b->ranges[i].accesses));
	}
	fprintf(f, "]}");
}

void stats_print_json(FILE *f, const struct vm *vm)
{
	struct vcpu_stats t;
	sum_vcpus(vm, &t);
	fprintf(f, "{\n  \"engine\": ");
	json_str(f, vm->engine ? vm->engine->name : "");
	fprintf(f, ", \"vcpus\": %u, \"ns_run\": %" PRIu64 ",\n", vm->ncpus,
	        vm->end_ns - vm->start_ns);
	json_cpu(f, &t, "  ");
	fprintf(f, ",\n  \"per_vcpu\": [");
	for (unsigned i = 0; i < vm->ncpus; i++) {
		fprintf(f, "%s\n   {\n", i ? "," : "");
		json_cpu(f, &vm->vcpus[i].stats, "    ");
		fprintf(f, "}");
	}
	fprintf(f, "],\n");
	json_bus(f, "pio", &vm->pio);
	fprintf(f, ",\n");
	json_bus(f, "mmio", &vm->mmio);
	fprintf(f, ",\n  \"msis\": {\"sent\": %lu, \"refused\": %lu, \"dropped\": %lu}\n}\n",
	        atomic_load(&vm->msi_sent), atomic_load(&vm->msi_refused),
	        atomic_load(&vm->msi_dropped));
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
