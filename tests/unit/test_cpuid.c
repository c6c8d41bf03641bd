/* The CPUID model: topology, guest interface, per-vCPU APIC IDs, query semantics, the
 * portable model (features narrowed by another engine's offer, its TSC leaves). */
#include <string.h>

#include "check.h"
#include "core/cpuid.h"

static struct cpuid_table base(void)
{
	struct cpuid_table t = { .n = 0 };
	struct cpuid_entry es[] = {
		{ .function = 0, .eax = 0xd, .ebx = 0x756e6547 },
		{ .function = 1, .eax = 0x806f8, .ebx = 0x00010800, .ecx = CPUID_1_ECX_HYPERVISOR | 1, .edx = CPUID_1_EDX_APIC },
		{ .function = 0xb, .index = 0, .indexed = true, .eax = 1, .ebx = 2, .ecx = 0x100 },
		{ .function = 0xd, .index = 1, .indexed = true, .eax = 7 },
		{ .function = CPUID_KVM_SIGNATURE, .eax = CPUID_KVM_FEATURES, .ebx = 0x4b4d564b },
		{ .function = CPUID_KVM_FEATURES, .eax = 0x1 },
		{ .function = 0x80000000, .eax = 0x80000008 },
		{ .function = 0x80000008, .eax = 0x3030, .ecx = 0xff },
	};
	for (unsigned i = 0; i < sizeof(es) / sizeof(es[0]); i++)
		cpuid_put(&t, &es[i]);
	return t;
}

int main(void)
{
	struct cpuid_table sup = base(), t;
	struct cpuid_model_cfg cfg = { .ncpus = 4, .iface = GUEST_PARA };
	struct err e;
	uint32_t r[4];

	CHECK_EQ(cpuid_model_build(&t, &sup, &cfg, &e), 0);
	const struct cpuid_entry *l1 = cpuid_find(&t, 1, 0);
	CHECK_EQ((l1->ebx >> 16) & 0xff, 4);                 /* logical processors */
	CHECK(l1->edx & CPUID_1_EDX_HTT);
	CHECK(l1->ecx & CPUID_1_ECX_HYPERVISOR);
	/* para: the KVM signature and exactly the engine's feature word. */
	const struct cpuid_entry *sig = cpuid_find(&t, CPUID_KVM_SIGNATURE, 0);
	CHECK(sig != NULL);
	CHECK_EQ(sig->eax, CPUID_KVM_FEATURES);
	CHECK_EQ(sig->ebx, CPUID_KVM_SIG_EBX);
	CHECK_EQ(sig->ecx, CPUID_KVM_SIG_ECX);
	CHECK_EQ(sig->edx, CPUID_KVM_SIG_EDX);
	CHECK(memcmp((uint32_t[]){ sig->ebx, sig->ecx, sig->edx }, "KVMKVMKVM\0\0\0", 12) == 0);
	CHECK_EQ(cpuid_find(&t, CPUID_KVM_FEATURES, 0)->eax, 0x1);
	/* Leaf 0xB: SMT level 1 thread, core level 4 cores with a 2-bit shift. */
	CHECK_EQ(cpuid_find(&t, 0xb, 0)->ebx, 1);
	CHECK_EQ(cpuid_find(&t, 0xb, 1)->ebx, 4);
	CHECK_EQ(cpuid_find(&t, 0xb, 1)->eax, 2);
	CHECK_EQ((cpuid_find(&t, 0xb, 1)->ecx >> 8) & 0xff, 2);
	CHECK_EQ((cpuid_find(&t, 0xb, 2)->ecx >> 8) & 0xff, 0);
	CHECK_EQ(cpuid_find(&t, 0x80000008, 0)->ecx & 0xff, 3);

	/* Per-vCPU APIC IDs. */
	struct cpuid_table v = t;
	cpuid_set_apic_id(&v, 3);
	CHECK_EQ(cpuid_find(&v, 1, 0)->ebx >> 24, 3);
	CHECK_EQ(cpuid_find(&v, 0xb, 1)->edx, 3);

	/* para over an engine with a richer feature word, a foreign signature and an extra
	 * hypervisor leaf: the features pass unchanged, the signature becomes KVM's, the
	 * extra leaf goes. */
	struct cpuid_table rich = base();
	uint32_t feats = KVM_PV_CLOCKSOURCE2 | KVM_PV_EOI | KVM_PV_UNHALT | KVM_PV_SEND_IPI |
	                 KVM_PV_SCHED_YIELD | KVM_PV_CLOCKSOURCE_STABLE;
	cpuid_put(&rich, &(struct cpuid_entry){ .function = CPUID_KVM_FEATURES, .eax = feats,
	                                        .ebx = 0x5a5a, .edx = 1 });
	cpuid_put(&rich, &(struct cpuid_entry){ .function = CPUID_KVM_SIGNATURE, .eax = 0x40000010,
	                                        .ebx = 0x61774d56 });
	cpuid_put(&rich, &(struct cpuid_entry){ .function = 0x40000010, .eax = 2000000 });
	CHECK_EQ(cpuid_model_build(&t, &rich, &cfg, &e), 0);
	CHECK_EQ(cpuid_find(&t, CPUID_KVM_FEATURES, 0)->eax, feats);
	CHECK_EQ(cpuid_find(&t, CPUID_KVM_FEATURES, 0)->ebx, 0);
	CHECK_EQ(cpuid_find(&t, CPUID_KVM_FEATURES, 0)->edx, 1);
	CHECK_EQ(cpuid_find(&t, CPUID_KVM_SIGNATURE, 0)->eax, CPUID_KVM_FEATURES);
	CHECK_EQ(cpuid_find(&t, CPUID_KVM_SIGNATURE, 0)->ebx, CPUID_KVM_SIG_EBX);
	CHECK(cpuid_find(&t, 0x40000010, 0) == NULL);

	/* para over an engine with no hypervisor leaves at all (soft today): the signature
	 * with an empty feature set, and still the hypervisor bit. */
	struct cpuid_table bare = base();
	cpuid_remove_range(&bare, 0x40000000u, 0x4fffffffu);
	cpuid_find_mut(&bare, 1, 0)->ecx &= ~CPUID_1_ECX_HYPERVISOR;
	CHECK_EQ(cpuid_model_build(&t, &bare, &cfg, &e), 0);
	CHECK(cpuid_find(&t, 1, 0)->ecx & CPUID_1_ECX_HYPERVISOR);
	CHECK_EQ(cpuid_find(&t, CPUID_KVM_SIGNATURE, 0)->eax, CPUID_KVM_FEATURES);
	CHECK_EQ(cpuid_find(&t, CPUID_KVM_SIGNATURE, 0)->edx, CPUID_KVM_SIG_EDX);
	cpuid_query(&t, CPUID_KVM_FEATURES, 0, r);
	CHECK_EQ(r[0] | r[1] | r[2] | r[3], 0);
	CHECK(cpuid_find(&t, CPUID_KVM_FEATURES, 0) != NULL);

	/* full: no hypervisor bit, no hypervisor leaves. */
	cfg.iface = GUEST_FULL;
	cfg.ncpus = 1;
	CHECK_EQ(cpuid_model_build(&t, &sup, &cfg, &e), 0);
	CHECK(!(cpuid_find(&t, 1, 0)->ecx & CPUID_1_ECX_HYPERVISOR));
	CHECK(!(cpuid_find(&t, 1, 0)->edx & CPUID_1_EDX_HTT));
	CHECK(cpuid_find(&t, CPUID_KVM_SIGNATURE, 0) == NULL);
	cpuid_query(&t, CPUID_KVM_SIGNATURE, 0, r);
	CHECK_EQ(r[0] | r[1] | r[2] | r[3], 0);
	CHECK(cpuid_find(&t, CPUID_KVM_FEATURES, 0) == NULL);
	/* ... whatever the engine reports. */
	CHECK_EQ(cpuid_model_build(&t, &rich, &cfg, &e), 0);
	CHECK(!(cpuid_find(&t, 1, 0)->ecx & CPUID_1_ECX_HYPERVISOR));
	for (unsigned i = 0; i < t.n; i++)
		CHECK(t.e[i].function < 0x40000000u || t.e[i].function > 0x4fffffffu);
	CHECK_EQ(cpuid_model_build(&t, &sup, &cfg, &e), 0);

	/* Query semantics: indexed leaves by subleaf, out-of-range basic -> highest basic. */
	cpuid_query(&t, 0xd, 1, r);
	CHECK_EQ(r[0], 7);
	cpuid_query(&t, 0xd, 5, r);
	CHECK_EQ(r[0], 0);
	cpuid_query(&t, 0x20, 0, r);   /* above max basic 0xd -> leaf 0xd (its subleaf 0: absent) */
	CHECK_EQ(r[0], 0);
	cpuid_query(&t, 0x80000009, 0, r);
	CHECK_EQ(r[0], 0);

	/* The portable model: the base's feature bits that the offer has too; a feature leaf
	 * the offer lacks keeps none; signature, vendor and topology stay the base's; the
	 * fewer address bits; 0x15 empty and 0x16 the TSC's MHz. */
	struct cpuid_table soft = base(), kvm = { .n = 0 };
	struct cpuid_entry offer[] = {
		{ .function = 0, .eax = 0x10, .ebx = 0x68747541 },
		{ .function = 1, .eax = 0xa00f11, .ecx = 0xfffffffe, .edx = ~0u },
		{ .function = CPUID_KVM_FEATURES, .eax = 0x1007efb },
		{ .function = 0x80000008, .eax = 0x3028, .ebx = 0x1234 },
	};
	for (unsigned i = 0; i < sizeof(offer) / sizeof(offer[0]); i++)
		cpuid_put(&kvm, &offer[i]);
	struct cpuid_entry l7 = { .function = 7, .indexed = true, .ebx = 0x9,
	                          .edx = CPUID_7_EDX_ARCH_CAPABILITIES };
	cpuid_put(&soft, &l7);
	cpuid_portable_narrow(&soft, &kvm);
	CHECK_EQ(cpuid_find(&soft, 0, 0)->ebx, 0x756e6547);
	CHECK_EQ(cpuid_find(&soft, 1, 0)->eax, 0x806f8);
	CHECK_EQ(cpuid_find(&soft, 1, 0)->ecx, CPUID_1_ECX_HYPERVISOR);   /* bit 0 not offered */
	CHECK_EQ(cpuid_find(&soft, 1, 0)->edx, CPUID_1_EDX_APIC);
	CHECK_EQ(cpuid_find(&soft, 7, 0)->ebx, 0);                        /* no leaf 7 offered */
	CHECK_EQ(cpuid_find(&soft, CPUID_KVM_FEATURES, 0)->eax, 0x1);
	CHECK_EQ(cpuid_find(&soft, 0x80000008, 0)->eax, 0x3028);
	CHECK_EQ(cpuid_find(&soft, 0x80000008, 0)->ebx, 0);
	struct cpuid_model_cfg pc = { .ncpus = 1, .iface = GUEST_PARA, .tsc_khz = 2599993,
	                              .portable = true };
	CHECK_EQ(cpuid_model_build(&t, &soft, &pc, &e), 0);
	cpuid_query(&t, 0x15, 0, r);
	CHECK(r[0] == 0 && r[1] == 0 && r[2] == 0);
	cpuid_query(&t, 0x16, 0, r);
	CHECK(r[0] == 2600 && r[1] == 2600 && r[2] == 1000);
	cpuid_query(&t, 0x80000002, 0, r);
	CHECK(memcmp(r, "trivisor portab", 15) == 0);
	/* IA32_ARCH_CAPABILITIES, each engine's own value, is not in it even if offered. */
	struct cpuid_table both = soft;
	cpuid_put(&both, &l7);
	CHECK_EQ(cpuid_model_build(&t, &both, &pc, &e), 0);
	cpuid_query(&t, 7, 0, r);
	CHECK_EQ(r[3] & CPUID_7_EDX_ARCH_CAPABILITIES, 0);
	pc.portable = false;
	CHECK_EQ(cpuid_model_build(&t, &both, &pc, &e), 0);
	cpuid_query(&t, 7, 0, r);
	CHECK(r[3] & CPUID_7_EDX_ARCH_CAPABILITIES);

	/* Bad configurations are refused. */
	cfg.ncpus = 0;
	CHECK(cpuid_model_build(&t, &sup, &cfg, &e) < 0);
	struct cpuid_table empty = { .n = 0 };
	cfg.ncpus = 1;
	CHECK(cpuid_model_build(&t, &empty, &cfg, &e) < 0);
	return check_done();
}
