/* The one CPUID model. An engine supplies what it can run (KVM: KVM_GET_SUPPORTED_CPUID;
 * soft: the features it implements); the model shapes that into the table the guest
 * sees (topology, guest interface) and both engines present it unchanged. */
#ifndef TRIVISOR_CPUID_H
#define TRIVISOR_CPUID_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

#define CPUID_MAX_ENTRIES 128

struct cpuid_entry {
	uint32_t function, index;
	bool indexed;             /* index (ECX) is significant */
	uint32_t eax, ebx, ecx, edx;
};

struct cpuid_table {
	struct cpuid_entry e[CPUID_MAX_ENTRIES];
	unsigned n;
};

enum guest_iface { GUEST_FULL, GUEST_PARA };

struct cpuid_model_cfg {
	unsigned ncpus;
	enum guest_iface iface;
	uint32_t tsc_khz;         /* 0 if unknown */
	bool portable;            /* the portable model (cpuid_portable_offer gave the table) */
};

/* Leaf 1 / 0x4000_0001 bits the model touches (Intel SDM vol. 2A, CPUID; Linux
 * Documentation/virt/kvm/x86/cpuid.rst for the KVM leaves). */
#define CPUID_1_ECX_X2APIC     (1u << 21)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_APIC       (1u << 9)
#define CPUID_1_EDX_HTT        (1u << 28)
#define CPUID_7_EDX_ARCH_CAPABILITIES (1u << 29)   /* IA32_ARCH_CAPABILITIES */
#define CPUID_KVM_SIGNATURE    0x40000000u
#define CPUID_KVM_FEATURES     0x40000001u
/* "KVMKVMKVM\0\0\0" in EBX, ECX, EDX of leaf 0x4000_0000. */
#define CPUID_KVM_SIG_EBX      0x4b4d564bu   /* "KVMK" */
#define CPUID_KVM_SIG_ECX      0x564b4d56u   /* "VMKV" */
#define CPUID_KVM_SIG_EDX      0x0000004du   /* "M\0\0\0" */
/* Leaf 0x4000_0001 EAX bits (KVM_FEATURE_*), for the engines and tests. */
#define KVM_PV_CLOCKSOURCE     (1u << 0)
#define KVM_PV_NOP_IO_DELAY    (1u << 1)
#define KVM_PV_CLOCKSOURCE2    (1u << 3)
#define KVM_PV_ASYNC_PF        (1u << 4)
#define KVM_PV_STEAL_TIME      (1u << 5)
#define KVM_PV_EOI             (1u << 6)
#define KVM_PV_UNHALT          (1u << 7)
#define KVM_PV_TLB_FLUSH       (1u << 9)
#define KVM_PV_ASYNC_PF_VMEXIT (1u << 10)
#define KVM_PV_SEND_IPI        (1u << 11)
#define KVM_PV_POLL_CONTROL    (1u << 12)
#define KVM_PV_SCHED_YIELD     (1u << 13)
#define KVM_PV_ASYNC_PF_INT    (1u << 14)
#define KVM_PV_MSI_EXT_DEST_ID (1u << 15)
#define KVM_PV_HC_MAP_GPA_RANGE (1u << 16)
#define KVM_PV_MIGRATION_CONTROL (1u << 17)
#define KVM_PV_CLOCKSOURCE_STABLE (1u << 24)

const struct cpuid_entry *cpuid_find(const struct cpuid_table *t, uint32_t fn, uint32_t idx);
struct cpuid_entry *cpuid_find_mut(struct cpuid_table *t, uint32_t fn, uint32_t idx);
/* Add or replace an entry. -ENOSPC if full. */
int cpuid_put(struct cpuid_table *t, const struct cpuid_entry *ent);
void cpuid_remove_range(struct cpuid_table *t, uint32_t lo, uint32_t hi);

/* Build the guest's table from what the engine supports. Under GUEST_PARA the guest
 * sees the hypervisor bit and exactly two hypervisor leaves: 0x4000_0000 (the KVM
 * signature, maximum leaf 0x4000_0001) and 0x4000_0001 with the engine's own
 * 0x4000_0001 (the para-virtual features it implements), or zeros when the engine
 * reports none. Under GUEST_FULL: neither the bit nor any 0x4xxx_xxxx leaf. */
int cpuid_model_build(struct cpuid_table *out, const struct cpuid_table *supported,
                      const struct cpuid_model_cfg *cfg, struct err *e);

/* The portable CPU model (--cpu-model portable): the same under every engine of this
 * host, so that a running guest can move between them. base is what the soft CPU
 * implements (its vendor, signature and leaves); each other engine's offer takes away
 * the feature bits it cannot give (feature words of leaves 1, 6, 7, 0x8000_0001,
 * 0x8000_0007, 0x8000_0008 EBX and the KVM para-virtual word 0x4000_0001) and narrows
 * the address sizes; a leaf an offer lacks keeps none of its feature bits. The TSC
 * frequency goes in at cpuid_model_build (cfg->tsc_khz). */
void cpuid_portable_narrow(struct cpuid_table *base, const struct cpuid_table *offer);

/* Per-vCPU fields (initial APIC ID in leaf 1, x2APIC ID in leaf 0xB/0x1F). */
void cpuid_set_apic_id(struct cpuid_table *t, uint32_t apic_id);

/* The answer a CPU gives for (fn, idx): out-of-range functions return the highest basic
 * leaf, as Intel CPUs do; unknown indexes of indexed leaves return zeros. */
void cpuid_query(const struct cpuid_table *t, uint32_t fn, uint32_t idx, uint32_t out[4]);

#endif
