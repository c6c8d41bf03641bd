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

int cpuid_model_build(struct cpuid_table *out, const struct cpuid_table *supported,
                      const struct cpuid_model_cfg *cfg, struct err *e)
{
	*out = *supported;
	if (!cpuid_find(out, 0, 0) || !cpuid_find(out, 1, 0))
		return err_set(e, EINVAL, "engine reports no CPUID leaves 0 and 1");
	if (cfg->ncpus == 0 || cfg->ncpus > 255)
		return err_set(e, EINVAL, "CPUID model: %u CPUs cannot be described", cfg->ncpus);

	if (set_topology(out, cfg->ncpus))
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
