/* The software CPU's system architecture state (Intel SDM vol. 3): segment descriptor
 * caches, descriptor tables, control registers, MSRs, the decoding mode, and the one
 * pending engine exit (port I/O, HLT). Lives in struct soft_cpu as `sys`.
 *
 * A zeroed struct is not a valid CPU: soft_sys_reset64() (called by soft_cpu_init) gives
 * the flat 64-bit CPL-0 machine the differential tester and the benchmark expect, and
 * soft_sys_set_state() loads a full struct cpu_state (engine set_state). */
#ifndef TRIVISOR_SOFT_SYS_H
#define TRIVISOR_SOFT_SYS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cpu_state.h"
#include "core/cpuid.h"

/* Vectors not in cpu.h (SDM vol. 3A, table 6-1). */
enum { VEC_NMI = 2, VEC_OF = 4, VEC_BR = 5, VEC_DF = 8, VEC_TS = 10, VEC_NP = 11,
       VEC_MF = 16, VEC_MC = 18, VEC_XM = 19 };

/* Control register bits beyond core/cpu_state.h. */
#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)
#define CR0_WP (1ull << 16)
#define CR0_AM (1ull << 18)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR4_VME (1ull << 0)
#define CR4_PVI (1ull << 1)
#define CR4_TSD (1ull << 2)
#define CR4_DE (1ull << 3)
#define CR4_PSE (1ull << 4)
#define CR4_MCE (1ull << 6)
#define CR4_PGE (1ull << 7)
#define CR4_PCE (1ull << 8)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)

/* MSRs (SDM vol. 4) beyond those a cpu_state carries (core/cpu_state.h). */
#define MSR_APIC_BASE 0x1b
#define MSR_MTRRCAP 0xfe
#define MSR_ARCH_CAPABILITIES 0x10a
#define MSR_EFER 0xc0000080
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101

#define SOFT_MTRR_VAR 8

/* Decoding modes (sblock.mode). */
enum { SOFT_MODE16 = 16, SOFT_MODE32 = 32, SOFT_MODE64 = 64 };

/* The engine exit an instruction asked for (handler returned SOFT_EXIT). */
enum { SOFT_EXIT_NONE, SOFT_EXIT_IO, SOFT_EXIT_HLT };

#define SOFT_IO_BUF 4096

struct soft_cpu;

/* The machine around the CPU core, supplied by the engine (engine_soft.c): the local
 * APIC's MMIO page and MSRs, and any other MSR the core does not model. Each returns
 * 1 when the address is not theirs (the core then handles it), 0 when handled, and the
 * MSR hooks -1 for a #GP. NULL (tests, the difftest): the core's own behaviour only. */
struct soft_platform {
	int (*rdmsr)(struct soft_cpu *c, uint32_t msr, uint64_t *v);
	int (*wrmsr)(struct soft_cpu *c, uint32_t msr, uint64_t v);
	int (*mmio)(struct soft_cpu *c, uint64_t pa, uint8_t *buf, unsigned len, bool write);
	/* VMCALL/VMMCALL (the para-virtual interface): SOFT_OK with the result in the
	 * registers, or SOFT_EXC. NULL: #UD, as on a CPU outside VMX/SVM guest mode. */
	int (*hypercall)(struct soft_cpu *c);
};

struct soft_io_exit {
	uint16_t port;
	uint8_t size;          /* 1, 2, 4 */
	uint8_t is_write;
	uint32_t count;        /* elements in data */
	/* completion of IN/INS after the core filled data */
	uint8_t string;        /* 0: IN, 1: INS, 2: REP INS */
	uint8_t adsz;
	uint64_t next_rip;     /* IN, or the last INS chunk: where execution continues */
	uint8_t data[SOFT_IO_BUF];
};

struct soft_sys {
	struct seg seg[S__COUNT], tr, ldtr;
	struct dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
	uint64_t pdpte[4];     /* PAE paging: loaded by MOV CR3/CR0/CR4 (SDM vol. 3A 4.4.1) */
	uint64_t dr[8];        /* debug registers: stored, breakpoints not implemented */

	/* MSRs */
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base, tsc_aux, apic_base, pat;
	uint64_t misc_enable, sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t mtrr_def_type, mtrr_fix[11], mtrr_var[2 * SOFT_MTRR_VAR];
	/* guest TSC = host CLOCK_MONOTONIC ns scaled to tsc_khz, + tsc_offset. tsc_khz is
	 * SOFT_TSC_HZ / 1000 (what CPUID says) unless the VM's state was loaded from a
	 * snapshot taken at another rate (a guest that moved here from kvm). */
	int64_t tsc_offset;
	uint32_t tsc_khz;

	/* Derived from the above by soft_sys_update_mode(). */
	uint8_t mode;          /* SOFT_MODE16/32/64: how CS decodes */
	uint8_t seg_check;     /* bit per S_*: accesses need limit/permission checks */
	uint64_t la_mask;      /* linear addresses: 32 bits outside long mode */
	uint64_t sp_mask;      /* stack pointer width (SS.B, or 64 in 64-bit mode) */

	uint8_t shadow;        /* interrupts inhibited for one instruction (STI, MOV SS); the
	                          instruction after it runs alone, then it is cleared (exec.c) */
	bool irq_window;       /* an interrupt waits for IF=1 and no shadow: soft_run returns
	                          at the first block boundary where it may be taken */
	bool nmi_blocked;      /* an NMI handler runs: NMIs wait for the next IRET */
	bool db_pending;       /* single-step #DB due once a stepped IN/OUT/HLT completes */
	bool halted;
	bool wait_sipi;        /* application processor waiting for a startup IPI */
	int kick;              /* atomic: make soft_run return at the next block */

	uint8_t exit_kind;     /* SOFT_EXIT_*: what the last SOFT_EXIT asked for */
	bool in_pending;       /* an IN/INS waits for the core's data (io below) */
	struct soft_io_exit io;

	const struct cpuid_table *cpuid; /* CPUID answers (NULL: leaf 0 only zeros) */
	const struct soft_platform *plat;
	void *engine;          /* the engine's per-vCPU data (engine_soft.c) */
	uint64_t fault_depth;  /* exceptions nested during delivery (#DF, triple fault) */
};

/* sys.c: state, modes, segments */
void soft_sys_reset64(struct soft_cpu *c);
void soft_sys_update_mode(struct soft_cpu *c);
void soft_sys_set_state(struct soft_cpu *c, const struct cpu_state *s);
void soft_sys_get_state(struct soft_cpu *c, struct cpu_state *s);
/* Change CPL; flushes user/supervisor-dependent translations when needed. */
void soft_set_cpl(struct soft_cpu *c, unsigned cpl);
/* Load a segment register from a selector with the protected-mode checks of MOV/POP
 * (SDM vol. 3A 5.4-5.7). SOFT_OK or SOFT_EXC. */
int soft_load_seg(struct soft_cpu *c, unsigned sr, uint16_t sel);
/* Read a descriptor (8 bytes) for sel from the GDT or LDT: SOFT_OK, or SOFT_EXC with
 * #GP(sel) when outside the table. */
int soft_read_desc(struct soft_cpu *c, uint16_t sel, uint64_t *d);
/* Descriptor -> cached segment (attr in the VMX layout, limit scaled by G). */
void soft_desc_to_seg(uint64_t d, uint16_t sel, struct seg *s);
/* Set the accessed bit of a descriptor in memory. */
void soft_desc_set_accessed(struct soft_cpu *c, uint16_t sel, uint64_t d);
/* Supervisor (implicit, CPL-0) data accesses to linear memory (tables, TSS). */
int soft_sys_read(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t *v);
int soft_sys_write(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t v);
/* Segment limit/permission check of a data access of sz bytes at offset off. */
int soft_seg_check(struct soft_cpu *c, unsigned sr, uint64_t off, unsigned sz, bool write);
/* The virtual TSC, from the host's CLOCK_MONOTONIC. Its frequency is fixed (not the
 * host's) so a guest sees the same machine on every host, and CPUID leaves 0x15/0x16
 * state it (features.c) so Linux need not calibrate it against emulated timers. Leaf
 * 0x15's crystal clock is also what Linux takes as the local APIC timer's input clock
 * (it sets lapic_timer_period from it and skips calibrating the APIC timer), so the
 * LAPIC timer must count SOFT_CRYSTAL_HZ before its divider: one count per ns. */
#define SOFT_CRYSTAL_HZ 1000000000ull
#define SOFT_TSC_PER_NS 2ull                     /* TSC/crystal ratio */
#define SOFT_TSC_HZ (SOFT_CRYSTAL_HZ * SOFT_TSC_PER_NS)
/* Host CLOCK_MONOTONIC in ns: the time base of the TSC and the engine's timers. */
uint64_t soft_now_ns(void);
uint64_t soft_rdtsc(struct soft_cpu *c);
/* c's TSC at soft_now_ns() time ns. */
uint64_t soft_tsc_at(const struct soft_cpu *c, uint64_t ns);
/* The soft_now_ns() time at which c's TSC reaches tsc (a TSC-deadline timer's expiry);
 * 0 if that is before the clock's origin. */
uint64_t soft_tsc_to_ns(const struct soft_cpu *c, uint64_t tsc);
/* A guest TSC value to and from the local APIC's clock TSC (SOFT_TSC_PER_NS a ns, no
 * offset: what its TSC deadline counts in); exact at the default rate. A value before
 * the clock's origin is 1, already due. */
uint64_t soft_tsc_to_clock(const struct soft_cpu *c, uint64_t tsc);
uint64_t soft_tsc_from_clock(const struct soft_cpu *c, uint64_t clock);
int soft_rdmsr(struct soft_cpu *c, uint32_t msr, uint64_t *v);
int soft_wrmsr(struct soft_cpu *c, uint32_t msr, uint64_t v);
/* MOV to CR0/CR3/CR4 with their checks and TLB effects (also LMSW, CLTS). */
int soft_write_cr(struct soft_cpu *c, unsigned n, uint64_t v);

/* intr.c: event delivery */
/* Deliver the exception in c->fault (or a software interrupt, see soft_deliver).
 * Handles #DF escalation; returns 0, or 1 for a triple fault (shutdown). */
int soft_deliver_fault(struct soft_cpu *c);
/* Deliver vector through the IVT/IDT. soft: INT n/INT3/INTO (privilege check on the
 * gate's DPL, rip already after the instruction). Returns SOFT_OK or SOFT_EXC. */
int soft_deliver(struct soft_cpu *c, unsigned vec, bool has_err, uint32_t err, bool soft);

/* After an instruction ran with RFLAGS.TF = 1 (r: its handler's result): raise the
 * single-step #DB trap in c->fault and return true, or return false when none is due
 * now (the instruction faulted, was INT n/INT3/INTO/INT1 and delivered, or loaded SS,
 * which holds the trap until after the next instruction). SDM vol. 3A 17.3.1.4. */
struct sinsn;
bool soft_single_step(struct soft_cpu *c, const struct sinsn *i, int r);
/* Raise the single-step #DB (DR6.BS) in c->fault. */
void soft_single_step_trap(struct soft_cpu *c);

/* mmu.c: paging (struct soft_mem_ops over the core's guest memory) */
struct vm;
struct vcpu;
struct soft_mmu_ctx {
	struct soft_cpu *cpu;
	struct vm *vm;
	struct vcpu *vcpu;
};
extern const struct soft_mem_ops soft_mmu_ops;
/* The translation of la in the current paging mode as a TLB fill would see it: its
 * physical address and SOFT_Q_* rights (combined over every level; DIRTY: the leaf's D).
 * Sets the accessed flags. 0, or -1 if la is not mapped (opaque: a soft_mmu_ctx). */
#define SOFT_Q_USER 1u
#define SOFT_Q_WRITE 2u
#define SOFT_Q_EXEC 4u
#define SOFT_Q_DIRTY 8u
int soft_mmu_query(void *opaque, uint64_t la, uint64_t *pa, unsigned *rights);
/* Read RAM at a physical address (opaque: a struct soft_mmu_ctx); -1 if not RAM. */
int soft_mmu_read_phys(void *opaque, uint64_t pa, void *dst, unsigned len);

/* features.c: what this CPU implements, as CPUID leaves */
int soft_cpuid_supported(struct cpuid_table *out);

#endif
