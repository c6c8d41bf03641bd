/* Architectural state shared by both engines (get_state/set_state): everything a vCPU is,
 * in a form that belongs to neither engine, so that a vCPU saved under one engine resumes
 * under the other. Field meanings follow the Intel SDM; segment attributes use the VMX
 * access-rights layout (type[3:0], S[4], DPL[6:5], P[7], AVL[12], L[13], D/B[14], G[15]).
 *
 * The registers (GPRs, RIP/RFLAGS, segments, descriptor tables, control registers, EFER,
 * APIC base) are always meaningful. The other groups are valid when their CPU_STATE_*
 * bit is in `has`: get_state fills every group and sets CPU_STATE_ALL; set_state installs
 * only the groups in `has` (a loader's entry state has none of them, so a fresh vCPU
 * keeps its reset FPU, MSRs and LAPIC).
 *
 * Time (the rule both engines follow, across save and load and across engines): what
 * the guest sees as time does not advance while the VM is saved, and continues at load
 * from where it was at save, so it never goes back:
 *  - the TSC is the guest's TSC value (MSR 0x10) at get_state; set_state makes the TSC
 *    continue from that value (vCPUs whose values were read within a second of each
 *    other get one common offset, as KVM synchronises TSC writes);
 *  - the LAPIC timer's remaining time is its current count (TMCCT) at get_state, in
 *    ticks of the 1 GHz APIC bus clock before the divider (both engines count at that
 *    rate); set_state restarts the count from it, so a timer pending at save fires as
 *    due after load, counted in guest time. A TSC-deadline timer is a guest TSC value
 *    and follows the TSC;
 *  - the VM's clock (kvm-clock's nanoseconds) and the TSC frequency are VM-wide: the
 *    engine's save_state/load_state (engine.h, core/chip_state.h), loaded before any
 *    vCPU's set_state;
 *  - the PIT counts from its elapsed time at save (core/chip_state.h). */
#ifndef TRIVISOR_CPU_STATE_H
#define TRIVISOR_CPU_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "snap.h"

enum { R_RAX, R_RCX, R_RDX, R_RBX, R_RSP, R_RBP, R_RSI, R_RDI,
       R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15, R__COUNT };
enum { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, S__COUNT };

struct seg {
	uint16_t sel;
	uint64_t base;
	uint32_t limit;      /* byte granular (already scaled by G) */
	uint16_t attr;       /* VMX access-rights layout, see above */
	uint8_t unusable;
};

struct dtable {
	uint64_t base;
	uint16_t limit;
};

#define SEG_ATTR_TYPE(a) ((a) & 0xf)
#define SEG_ATTR_S       (1u << 4)
#define SEG_ATTR_DPL(a)  (((a) >> 5) & 3)
#define SEG_ATTR_P       (1u << 7)
#define SEG_ATTR_L       (1u << 13)
#define SEG_ATTR_DB      (1u << 14)
#define SEG_ATTR_G       (1u << 15)

/* Groups of struct cpu_state beyond the registers (cpu_state.has). */
#define CPU_STATE_FPU    (1u << 0)  /* fxsave, xcr0, xsave_ext */
#define CPU_STATE_MSRS   (1u << 1)  /* msr[], dr[] */
#define CPU_STATE_EVENTS (1u << 2)  /* events, run */
#define CPU_STATE_LAPIC  (1u << 3)  /* lapic */
#define CPU_STATE_ALL    (CPU_STATE_FPU | CPU_STATE_MSRS | CPU_STATE_EVENTS | CPU_STATE_LAPIC)

/* x87/MMX/SSE: the 512-byte FXSAVE image in its 64-bit form (SDM vol. 1, table 10-2):
 * FCW at 0, FSW 2, abridged FTW 4, FOP 6, FIP 8, FDP 16, MXCSR 24, MXCSR_MASK 28 (ignored
 * on load), ST0-7/MM0-7 at 32 + 16 i, XMM0-15 at 160 + 16 i. */
#define CPU_FXSAVE_SIZE 512
/* The XSAVE-managed state above SSE, in the standard (non-compacted) XSAVE layout, from
 * byte 576 (after the legacy region and the XSAVE header) to the 4 KiB KVM_GET_XSAVE
 * gives: xsave_ext[k] is byte 576 + k of an XSAVE area (SDM vol. 1, 13.4). AVX's upper
 * YMM halves (component 2) are xsave_ext[0..255]; components the CPU model lacks, or in
 * their initial configuration, are zeros. */
#define CPU_XSAVE_EXT_OFFSET 576
#define CPU_XSAVE_EXT_SIZE (4096 - CPU_XSAVE_EXT_OFFSET)
#define XCR0_X87 1ull
#define XCR0_SSE 2ull
#define XCR0_AVX 4ull

/* The MSRs a vCPU's state carries: an (index, value) list in the order of
 * cpu_state_msr_index() (the order also matters when an engine installs them: the TSC
 * first; MSR_KVM_ASYNC_PF_INT before MSR_KVM_ASYNC_PF_EN). An engine lists the ones it
 * models; one it does not model loads only with the value 0 (its reset value), anything
 * else is refused. EFER, FS/GS base and APIC base are in the registers above; the
 * TSC-deadline MSR is in struct cpu_lapic. */
#define CPU_MSRS_MAX 64
struct cpu_msr {
	uint32_t index;
	uint64_t value;
};

#define MSR_TSC 0x10
#define MSR_TSC_ADJUST 0x3b
#define MSR_SPEC_CTRL 0x48
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_MISC_ENABLE 0x1a0
#define MSR_MTRR_PHYS_BASE0 0x200   /* 0x200..0x20f: 8 base/mask pairs */
#define MSR_MTRR_FIX64K 0x250
#define MSR_MTRR_FIX16K_80000 0x258
#define MSR_MTRR_FIX16K_A0000 0x259
#define MSR_MTRR_FIX4K_C0000 0x268  /* ..0x26f */
#define MSR_PAT 0x277
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_TSC_DEADLINE 0x6e0
#define MSR_XSS 0xda0
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103
#define MSR_VIRT_SPEC_CTRL 0xc001011f
/* The KVM para-virtual MSRs (Linux Documentation/virt/kvm/x86/msr.rst), new numbers:
 * a guest that wrote the old ones (0x11, 0x12) reads the same values here. */
#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define MSR_KVM_ASYNC_PF_EN 0x4b564d02
#define MSR_KVM_STEAL_TIME 0x4b564d03
#define MSR_KVM_PV_EOI_EN 0x4b564d04
#define MSR_KVM_POLL_CONTROL 0x4b564d05
#define MSR_KVM_ASYNC_PF_INT 0x4b564d06

/* Pending and in-flight events (SDM vol. 3A ch. 6; KVM's kvm_vcpu_events). An event
 * "injected" had begun its delivery (acknowledged at the interrupt controller, or an
 * exception raised) and is delivered before the next instruction. All zero: nothing. */
#define CPU_SHADOW_MOV_SS 1u   /* interrupt shadow after MOV SS/POP SS */
#define CPU_SHADOW_STI 2u      /* ... after STI */
struct cpu_events {
	bool exception_injected;  /* an exception (vector exception, 0..31) is being delivered */
	uint8_t exception;
	bool exception_has_error;
	uint32_t exception_error;
	bool irq_injected;        /* an external interrupt (vector irq) is being delivered */
	uint8_t irq;
	bool irq_soft;            /* ... a software interrupt, INT n (RIP after the instruction) */
	bool nmi_injected;        /* an NMI being delivered */
	bool nmi_pending;         /* an NMI waits (for the end of NMI blocking) */
	bool nmi_masked;          /* NMI blocking: an NMI handler runs until its IRET */
	uint8_t shadow;           /* CPU_SHADOW_* */
};

/* Run state (KVM's mp_state): running, halted in HLT, or an application processor
 * waiting for INIT (not started) or for its startup IPI (after INIT). */
enum cpu_run { CPU_RUN_RUNNING, CPU_RUN_HALTED, CPU_RUN_WAIT_INIT, CPU_RUN_WAIT_SIPI,
               CPU_RUN__COUNT };

/* The local APIC: its 1 KiB register page in the xAPIC MMIO layout, as KVM_GET_LAPIC
 * gives it (32-bit registers at 16-byte strides: ID 0x20, VER 0x30, TPR 0x80, APR 0x90,
 * PPR 0xa0, LDR 0xd0, DFR 0xe0, SVR 0xf0, ISR 0x100-0x170, TMR 0x180-0x1f0, IRR
 * 0x200-0x270, ESR 0x280, ICR 0x300/0x310, LVT timer 0x320 ... error 0x370, TMICT
 * 0x380, TMCCT 0x390, TDCR 0x3e0). In x2APIC mode (apic_base bit 10) the ID register
 * holds the 32-bit x2APIC ID and ICR high the 32-bit destination, as the x2APIC MSRs
 * read them. TMCCT is the timer's current count at get_state (see the time rule above).
 * Derived registers (VER, APR, PPR) are ignored on load. */
#define CPU_LAPIC_SIZE 1024
struct cpu_lapic {
	uint8_t regs[CPU_LAPIC_SIZE];
	uint32_t esr_pending;     /* errors since the last ESR write, for the next one (0 under kvm) */
	uint64_t tsc_deadline;    /* IA32_TSC_DEADLINE in guest TSC, 0 = disarmed */
};

struct cpu_state {
	uint64_t gpr[R__COUNT];
	uint64_t rip, rflags;
	struct seg seg[S__COUNT];
	struct seg tr, ldtr;
	struct dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t efer;
	uint64_t apic_base;

	uint32_t has;             /* CPU_STATE_* groups below that are valid */
	/* CPU_STATE_FPU */
	uint8_t fxsave[CPU_FXSAVE_SIZE];
	uint64_t xcr0;            /* XCR0 (1 on a CPU without XSAVE: x87 only) */
	uint8_t xsave_ext[CPU_XSAVE_EXT_SIZE];
	/* CPU_STATE_MSRS */
	uint64_t dr[4], dr6, dr7;
	unsigned nmsrs;
	struct cpu_msr msr[CPU_MSRS_MAX];
	/* CPU_STATE_EVENTS */
	struct cpu_events events;
	uint8_t run;              /* enum cpu_run */
	/* CPU_STATE_LAPIC */
	struct cpu_lapic lapic;
};

/* The MSRs a state may carry, in their order: the k-th index, or 0 past the end. */
uint32_t cpu_state_msr_index(unsigned k);
/* Append or replace an MSR of the list (index must be one of cpu_state_msr_index's;
 * keeps their order). Returns 0, or -1 if the index is not one of them. */
int cpu_state_set_msr(struct cpu_state *s, uint32_t index, uint64_t value);
/* The value of an MSR in the list; false if absent. */
bool cpu_state_get_msr(const struct cpu_state *s, uint32_t index, uint64_t *value);
/* A 32-bit LAPIC register of the page (offset 0x20, 0x80...). */
uint32_t cpu_lapic_reg(const struct cpu_lapic *l, unsigned off);
void cpu_lapic_set_reg(struct cpu_lapic *l, unsigned off, uint32_t v);
/* The state reset/INIT gives the FPU group: FCW 0x37f, MXCSR 0x1f80, the rest zero. */
void cpu_state_fpu_reset(struct cpu_state *s);

/* The state in a snapshot stream; load returns 0 or -EINVAL (message in r->e). Every
 * field a snapshot must carry is written here, in a fixed order: a new field means a new
 * snapshot format version (machine/snapshot.c). save writes every group (a state from
 * get_state, with CPU_STATE_ALL); load gives CPU_STATE_ALL, and refuses what could
 * never be installed: an MSR index outside the list or repeated, vectors, run state and
 * lengths out of range. The engines' set_state validates the rest as it would a
 * guest's own writes. */
void cpu_state_save(struct snap_writer *w, const struct cpu_state *s);
int cpu_state_load(struct snap_reader *r, struct cpu_state *s);

#define CR0_PE (1ull << 0)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

#endif
