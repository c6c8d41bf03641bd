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
};

/* Leaf 1 / 0x4000_0001 bits the model touches (Intel SDM vol. 2A, CPUID; Linux
 * Documentation/virt/kvm/x86/cpuid.rst for the KVM leaves). */
#define CPUID_1_ECX_X2APIC     (1u << 21)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_APIC       (1u << 9)
#define CPUID_1_EDX_HTT        (1u << 28)
#define CPUID_KVM_SIGNATURE    0x40000000u
#define CPUID_KVM_FEATURES     0x40000001u

const struct cpuid_entry *cpuid_find(const struct cpuid_table *t, uint32_t fn, uint32_t idx);
struct cpuid_entry *cpuid_find_mut(struct cpuid_table *t, uint32_t fn, uint32_t idx);
/* Add or replace an entry. -ENOSPC if full. */
int cpuid_put(struct cpuid_table *t, const struct cpuid_entry *ent);
void cpuid_remove_range(struct cpuid_table *t, uint32_t lo, uint32_t hi);

/* Build the guest's table from what the engine supports. */
int cpuid_model_build(struct cpuid_table *out, const struct cpuid_table *supported,
                      const struct cpuid_model_cfg *cfg, struct err *e);

/* Per-vCPU fields (initial APIC ID in leaf 1, x2APIC ID in leaf 0xB/0x1F). */
void cpuid_set_apic_id(struct cpuid_table *t, uint32_t apic_id);

/* The answer a CPU gives for (fn, idx): out-of-range functions return the highest basic
 * leaf, as Intel CPUs do; unknown indexes of indexed leaves return zeros. */
void cpuid_query(const struct cpuid_table *t, uint32_t fn, uint32_t idx, uint32_t out[4]);

#endif
