#include "cpuid.h"

#include <errno.h>
#include <string.h>

static bool matches(const struct cpuid_entry *c, uint32_t fn, uint32_t idx)
{
	return c->function == fn && (!c->indexed || c->index == idx);
}

struct cpuid_entry *cpuid_find_mut(struct cpuid_table *t, uint32_t fn, uint32_t idx)
{
	for (unsigned i = 0; i < t->n; i++)
		if (matches(&t->e[i], fn, idx))
			return &t->e[i];
	return NULL;
}

const struct cpuid_entry *cpuid_find(const struct cpuid_table *t, uint32_t fn, uint32_t idx)
{
	return cpuid_find_mut((struct cpuid_table *)t, fn, idx);
}

int cpuid_put(struct cpuid_table *t, const struct cpuid_entry *ent)
{
	struct cpuid_entry *c = cpuid_find_mut(t, ent->function, ent->index);
	if (c && c->indexed == ent->indexed) {
		*c = *ent;
		return 0;
	}
	if (t->n == CPUID_MAX_ENTRIES)
		return -ENOSPC;
	t->e[t->n++] = *ent;
	return 0;
}

void cpuid_remove_range(struct cpuid_table *t, uint32_t lo, uint32_t hi)
{
	unsigned j = 0;
	for (unsigned i = 0; i < t->n; i++)
		if (t->e[i].function < lo || t->e[i].function > hi)
			t->e[j++] = t->e[i];
	t->n = j;
}

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

/* Present ncpus as cores of one package, one thread each (SDM vol. 2A, CPUID leaves 1
 * and 0xB; AMD APM vol. 3, leaf 0x8000_0008). */
static int set_topology(struct cpuid_table *t, unsigned ncpus)
{
	struct cpuid_entry *l1 = cpuid_find_mut(t, 1, 0);
	if (l1) {
		l1->ebx = (l1->ebx & 0xff00ffffu) | ((ncpus & 0xff) << 16);
		if (ncpus > 1)
			l1->edx |= CPUID_1_EDX_HTT;
		else
			l1->edx &= ~CPUID_1_EDX_HTT;
	}

	const struct cpuid_entry *l0 = cpuid_find(t, 0, 0);
	if (l0 && l0->eax >= 0xb) {
		struct cpuid_entry smt = { .function = 0xb, .index = 0, .indexed = true,
		                           .eax = 0, .ebx = 1, .ecx = (1u << 8) | 0 };
		struct cpuid_entry core = { .function = 0xb, .index = 1, .indexed = true,
		                            .eax = bits_for(ncpus), .ebx = ncpus,
		                            .ecx = (2u << 8) | 1 };
		struct cpuid_entry end = { .function = 0xb, .index = 2, .indexed = true,
		                           .ecx = 2 };
		cpuid_remove_range(t, 0xb, 0xb);
		if (cpuid_put(t, &smt) || cpuid_put(t, &core) || cpuid_put(t, &end))
			return -ENOSPC;
	}

	struct cpuid_entry *l88 = cpuid_find_mut(t, 0x80000008, 0);
	if (l88)
		l88->ecx = (l88->ecx & ~0xf0ffu) | (bits_for(ncpus) << 12) | ((ncpus - 1) & 0xff);
	return 0;
}

/* The para guest interface: the KVM para-virtual ABI, which stock Linux speaks. The
 * signature is always KVM's (it is the ABI the guest is told to use); the feature word
 * is the engine's, unchanged: kvm reports what KVM implements in the kernel (less what
 * would need trivisor's help, see kvm_supported_cpuid), soft what it implements itself.
 * An engine that reports no 0x4000_0001 leaf gets the signature with no features: the
 * guest learns it is virtualized and uses none of the PV interfaces (Linux then prints
 * "Hypervisor detected: KVM", keeps its native clocksource and makes no hypercalls),
 * which is honest: nothing is advertised that the engine does not do. Any other
 * hypervisor leaf the engine reports (0x4000_0002...) is dropped: the ABI has two. */
static int set_kvm_leaves(struct cpuid_table *t, const struct cpuid_table *supported)
{
	const struct cpuid_entry *f = cpuid_find(supported, CPUID_KVM_FEATURES, 0);
	struct cpuid_entry sig = { .function = CPUID_KVM_SIGNATURE, .eax = CPUID_KVM_FEATURES,
	                           .ebx = CPUID_KVM_SIG_EBX, .ecx = CPUID_KVM_SIG_ECX,
	                           .edx = CPUID_KVM_SIG_EDX };
	struct cpuid_entry feat = { .function = CPUID_KVM_FEATURES };
	if (f) {
		feat.eax = f->eax;
		feat.edx = f->edx;   /* hints (KVM_HINTS_REALTIME): the engine's call too */
	}
	cpuid_remove_range(t, 0x40000000u, 0x4fffffffu);
	return cpuid_put(t, &sig) || cpuid_put(t, &feat) ? -ENOSPC : 0;
}

/* The registers of a leaf that hold feature bits (what the CPU has), as a mask per
 * register (EAX, EBX, ECX, EDX). Leaf 1 EBX/EAX (signature, topology), the vendor,
 * brand and frequency leaves are the base's. */
static const struct {
	uint32_t fn, idx;
	uint32_t mask[4];
} feature_words[] = {
	{ 1, 0, { 0, 0, ~0u, ~0u } },
	{ 6, 0, { ~0u, 0, ~0u, 0 } },
	{ 7, 0, { 0, ~0u, ~0u, ~0u } },
	{ 0x80000001u, 0, { 0, 0, ~0u, ~0u } },
	{ 0x80000007u, 0, { 0, 0, 0, ~0u } },
	{ 0x80000008u, 0, { 0, ~0u, 0, 0 } },
	{ CPUID_KVM_FEATURES, 0, { ~0u, 0, 0, ~0u } },
};

static uint32_t *reg(struct cpuid_entry *c, unsigned r)
{
	return r == 0 ? &c->eax : r == 1 ? &c->ebx : r == 2 ? &c->ecx : &c->edx;
}

static uint32_t reg_of(const struct cpuid_entry *c, unsigned r)
{
	return r == 0 ? c->eax : r == 1 ? c->ebx : r == 2 ? c->ecx : c->edx;
}

void cpuid_portable_narrow(struct cpuid_table *base, const struct cpuid_table *offer)
{
	for (size_t i = 0; i < sizeof(feature_words) / sizeof(feature_words[0]); i++) {
		struct cpuid_entry *b = cpuid_find_mut(base, feature_words[i].fn, feature_words[i].idx);
		const struct cpuid_entry *o = cpuid_find(offer, feature_words[i].fn,
		                                         feature_words[i].idx);
		if (!b)
			continue;
		struct cpuid_entry none = { 0 };
		if (!o)
			o = &none;
		for (unsigned r = 0; r < 4; r++)
			*reg(b, r) &= ~feature_words[i].mask[r] | reg_of(o, r);
	}
	/* Leaf 0x8000_0008 EAX: physical (7:0) and linear (15:8) address bits, the fewer. */
	struct cpuid_entry *b = cpuid_find_mut(base, 0x80000008u, 0);
	const struct cpuid_entry *o = cpuid_find(offer, 0x80000008u, 0);
	if (b && o) {
		uint32_t phys = b->eax & 0xff, lin = (b->eax >> 8) & 0xff;
		if ((o->eax & 0xff) < phys)
			phys = o->eax & 0xff;
		if (((o->eax >> 8) & 0xff) < lin)
			lin = (o->eax >> 8) & 0xff;
		b->eax = (b->eax & ~0xffffu) | (lin << 8) | phys;
	}
}

/* The portable model's own leaves: a brand that says what it is, and its TSC frequency
 * in leaf 0x16 (base and maximum MHz; the bus clock 1000 MHz, the local APIC timer's
 * rate under both engines). Leaf 0x15 enumerates no TSC/crystal ratio: Linux's
 * native_calibrate_tsc multiplies crystal kHz by the ratio in 32 bits, which cannot
 * describe an arbitrary host rate exactly with the 1 GHz crystal the APIC timer needs;
 * so a guest takes the MHz of leaf 0x16 (or kvm-clock's exact rate under --guest para)
 * and refines it against the PM timer, as on hardware that leaves 0x15 empty. */
static int set_portable(struct cpuid_table *t, uint32_t tsc_khz)
{
	/* No IA32_ARCH_CAPABILITIES: its value is each engine's own (the soft CPU, which
	 * does not speculate, says it is immune to everything; KVM passes on the host's
	 * bits), and a guest keeps the mitigations it chose by it when it moves. Without it
	 * a guest assumes what is true of its vendor's CPUs under either engine. */
	struct cpuid_entry *l7 = cpuid_find_mut(t, 7, 0);
	if (l7)
		l7->edx &= ~CPUID_7_EDX_ARCH_CAPABILITIES;
	static const char brand[48] = "trivisor portable x86-64 CPU";
	uint32_t bw[12];
	memcpy(bw, brand, sizeof(bw));
	uint32_t mhz = (tsc_khz + 500) / 1000;
	struct cpuid_entry l15 = { .function = 0x15 };
	struct cpuid_entry l16 = { .function = 0x16, .eax = mhz, .ebx = mhz, .ecx = 1000 };
	int r = cpuid_put(t, &l15) || cpuid_put(t, &l16);
	for (unsigned i = 0; i < 3 && !r; i++) {
		struct cpuid_entry b = { .function = 0x80000002u + i, .eax = bw[4 * i],
		                         .ebx = bw[4 * i + 1], .ecx = bw[4 * i + 2],
		                         .edx = bw[4 * i + 3] };
		r = cpuid_put(t, &b);
	}
	return r ? -ENOSPC : 0;
}

int cpuid_model_build(struct cpuid_table *out, const struct cpuid_table *supported,
                      const struct cpuid_model_cfg *cfg, struct err *e)
{
	*out = *supported;
	if (!cpuid_find(out, 0, 0) || !cpuid_find(out, 1, 0))
		return err_set(e, EINVAL, "engine reports no CPUID leaves 0 and 1");
	if (cfg->ncpus == 0 || cfg->ncpus > 255)
		return err_set(e, EINVAL, "CPUID model: %u CPUs cannot be described", cfg->ncpus);

	if (set_topology(out, cfg->ncpus) || (cfg->portable && set_portable(out, cfg->tsc_khz)))
		return err_set(e, ENOSPC, "CPUID table full");
	/* No APIC ID of the host's (KVM's leaf 1 tells the one of the CPU the ioctl ran on):
	 * the model is the same from run to run, each vCPU's table gets its own. */
	cpuid_set_apic_id(out, 0);

	struct cpuid_entry *l1 = cpuid_find_mut(out, 1, 0);
	if (cfg->iface == GUEST_FULL) {
		/* A plain PC: no hypervisor bit and no hypervisor leaves. */
		l1->ecx &= ~CPUID_1_ECX_HYPERVISOR;
		cpuid_remove_range(out, 0x40000000u, 0x4fffffffu);
		return 0;
	}
	l1->ecx |= CPUID_1_ECX_HYPERVISOR;
	if (set_kvm_leaves(out, supported))
		return err_set(e, ENOSPC, "CPUID table full");
	return 0;
}

void cpuid_set_apic_id(struct cpuid_table *t, uint32_t apic_id)
{
	for (unsigned i = 0; i < t->n; i++) {
		struct cpuid_entry *c = &t->e[i];
		if (c->function == 1)
			c->ebx = (c->ebx & 0x00ffffffu) | (apic_id << 24);
		else if (c->function == 0xb || c->function == 0x1f)
			c->edx = apic_id;
		else if (c->function == 0x8000001e)
			c->eax = apic_id;
	}
}

void cpuid_query(const struct cpuid_table *t, uint32_t fn, uint32_t idx, uint32_t out[4])
{
	const struct cpuid_entry *c = cpuid_find(t, fn, idx);
	if (!c) {
		const struct cpuid_entry *l0 = cpuid_find(t, 0, 0);
		const struct cpuid_entry *x0 = cpuid_find(t, 0x80000000u, 0);
		bool basic_oob = fn < 0x40000000u && l0 && fn > l0->eax;
		bool ext_oob = fn >= 0x80000000u && (!x0 || fn > x0->eax);
		/* Intel: a function above the maximum returns the highest basic leaf. */
		if ((basic_oob || ext_oob) && l0)
			c = cpuid_find(t, l0->eax, idx);
	}
	if (c) {
		out[0] = c->eax; out[1] = c->ebx; out[2] = c->ecx; out[3] = c->edx;
	} else {
		out[0] = out[1] = out[2] = out[3] = 0;
	}
}
