/* What the software CPU implements, as CPUID leaves (the `soft` engine's
 * supported_cpuid; the core's CPUID model shapes it further). Only features with a
 * working implementation are listed: a guest that sees a bit may use it.
 *
 * This is the one place feature bits are gathered: the integer and system features
 * below, the x87/MMX/SSE ones from soft_fpu_cpuid_bits() (ops_sse_mov.c, beside the
 * code that implements them). Bit positions: Intel SDM vol. 2A,
 * CPUID, tables 3-10, 3-11 and the leaf 0x8000_0001 description. */
#include <string.h>

#include "core/cpuid.h"
#include "engine/soft/fpu/fpu.h"
#include "engine/soft/sys/pv.h"
#include "engine/soft/sys/sys.h"

/* Leaf 1 EDX */
#define F1D_PSE (1u << 3)
#define F1D_TSC (1u << 4)
#define F1D_MSR (1u << 5)
#define F1D_PAE (1u << 6)
#define F1D_CX8 (1u << 8)
#define F1D_SEP (1u << 11)
#define F1D_MTRR (1u << 12)
#define F1D_PGE (1u << 13)
#define F1D_APIC (1u << 9)
#define F1D_CMOV (1u << 15)
#define F1D_PAT (1u << 16)
#define F1D_CLFSH (1u << 19)
/* Leaf 1 ECX */
#define F1C_CX16 (1u << 13)
#define F1C_X2APIC (1u << 21)
#define F1C_POPCNT (1u << 23)
#define F1C_TSC_DEADLINE (1u << 24)
/* Leaf 6 EAX */
#define F6A_ARAT (1u << 2)    /* the APIC timer keeps running in deep C-states */
/* Leaf 7 EDX */
/* Leaf 0x8000_0001 */
#define X1C_LAHF (1u << 0)
#define X1C_ABM (1u << 5)   /* LZCNT */
#define X1D_SYSCALL (1u << 11)
#define X1D_NX (1u << 20)
#define X1D_1GB (1u << 26)
#define X1D_RDTSCP (1u << 27)
#define X1D_LM (1u << 29)
/* Leaf 0x8000_0007 EDX */
#define X7D_INVTSC (1u << 8)

/* x87 / MMX / SSE feature bits, owned by the FPU work: leaf 1 ECX/EDX and leaf 7 EBX
 * bits to add once implemented (FPU, MMX, FXSR, SSE, SSE2, SSE3, SSSE3, ...). CR4's
 * OSFXSR/OSXMMEXCPT are already accepted by MOV CR4. */
static int put(struct cpuid_table *t, uint32_t fn, uint32_t idx, bool indexed,
               uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	struct cpuid_entry e = { .function = fn, .index = idx, .indexed = indexed,
	                         .eax = a, .ebx = b, .ecx = c, .edx = d };
	return cpuid_put(t, &e);
}

static uint32_t str4(const char *s)
{
	uint32_t v;
	memcpy(&v, s, 4);
	return v;
}

int soft_cpuid_supported(struct cpuid_table *out)
{
	/* The local APIC (xAPIC, x2APIC, TSC-deadline timer) is the engine's (hw/lapic.c). */
	uint32_t l1_ecx = F1C_CX16 | F1C_POPCNT | F1C_X2APIC | F1C_TSC_DEADLINE;
	uint32_t l1_edx = F1D_PSE | F1D_TSC | F1D_MSR | F1D_PAE | F1D_CX8 | F1D_APIC | F1D_SEP |
	                  F1D_MTRR | F1D_PGE | F1D_CMOV | F1D_PAT | F1D_CLFSH;
	uint32_t l7_ebx = 0;
	soft_fpu_cpuid_bits(&l1_ecx, &l1_edx);

	/* Family 6, model 0x0f, stepping 1: an Intel-style signature (SYSCALL only in 64-bit
	 * mode, SYSENTER in both, as implemented). CLFLUSH line size 64 bytes (EBX 15:8 = 8). */
	uint32_t sig = (6u << 8) | (0xfu << 4) | 1u;
	const char *brand = "trivisor soft x86-64 CPU";
	char b[48] = {0};
	memcpy(b, brand, strlen(brand));
	uint32_t bw[12];
	memcpy(bw, b, sizeof(bw));

	out->n = 0;
	/* TSC and crystal frequencies (sys.h). Leaf 0x15: EAX/EBX the TSC/crystal ratio,
	 * ECX the crystal in Hz; with ECX nonzero Linux's native_calibrate_tsc takes the
	 * frequency as known (no PIT calibration, no later refinement). Leaf 0x16: base and
	 * maximum MHz, and the bus (reference) clock in MHz, the crystal here. */
	uint32_t tsc_mhz = (uint32_t)(SOFT_TSC_HZ / 1000000u);
	uint32_t l15_ecx = (uint32_t)SOFT_CRYSTAL_HZ, l16_ecx = (uint32_t)(SOFT_CRYSTAL_HZ / 1000000u);

	int r = put(out, 0, 0, false, 0x16, str4("Genu"), str4("ntel"), str4("ineI")) ||
	        put(out, 1, 0, false, sig, 8u << 8, l1_ecx, l1_edx) ||
	        put(out, 6, 0, false, F6A_ARAT, 0, 0, 0) ||
	        /* IA32_ARCH_CAPABILITIES (sys.c): no speculation, so no Meltdown-class bugs. */
	        put(out, 7, 0, true, 0, l7_ebx, 0, CPUID_7_EDX_ARCH_CAPABILITIES) ||
	        put(out, 0x15, 0, false, 1, (uint32_t)SOFT_TSC_PER_NS, l15_ecx, 0) ||
	        put(out, 0x16, 0, false, tsc_mhz, tsc_mhz, l16_ecx, 0) ||
	        put(out, 0x80000000u, 0, false, 0x80000008u, 0, 0, 0) ||
	        put(out, 0x80000001u, 0, false, 0, 0, X1C_LAHF | X1C_ABM,
	            X1D_SYSCALL | X1D_NX | X1D_1GB | X1D_RDTSCP | X1D_LM) ||
	        put(out, 0x80000002u, 0, false, bw[0], bw[1], bw[2], bw[3]) ||
	        put(out, 0x80000003u, 0, false, bw[4], bw[5], bw[6], bw[7]) ||
	        put(out, 0x80000004u, 0, false, bw[8], bw[9], bw[10], bw[11]) ||
	        /* The TSC runs at one rate in every state (soft_rdtsc): invariant. */
	        put(out, 0x80000007u, 0, false, 0, 0, 0, X7D_INVTSC) ||
	        /* 40 physical, 48 linear address bits (the MMU's MAXPHYADDR). */
	        put(out, 0x80000008u, 0, false, (48u << 8) | 40u, 0, 0, 0) ||
	        /* The KVM para-virtual features pv.c implements (Linux Documentation/virt/
	         * kvm/x86/cpuid.rst). The CPUID model shows them, with the KVM signature,
	         * only under the para guest interface; EDX (hints) 0: no KVM_HINTS_REALTIME,
	         * the vCPUs are host threads that may be preempted. */
	        put(out, CPUID_KVM_FEATURES, 0, false, SOFT_PV_FEATURES, 0, 0, 0);
	return r ? -1 : 0;
}
