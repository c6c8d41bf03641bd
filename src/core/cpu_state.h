/* Architectural state shared by both engines (get_state/set_state). Field meanings
 * follow the Intel SDM; segment attributes use the VMX access-rights layout
 * (type[3:0], S[4], DPL[6:5], P[7], AVL[12], L[13], D/B[14], G[15]). */
#ifndef TRIVISOR_CPU_STATE_H
#define TRIVISOR_CPU_STATE_H

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

struct cpu_state {
	uint64_t gpr[R__COUNT];
	uint64_t rip, rflags;
	struct seg seg[S__COUNT];
	struct seg tr, ldtr;
	struct dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t efer;
	uint64_t apic_base;
};

/* The state in a snapshot stream; load returns 0 or -EINVAL (message in r->e). Every
 * field a snapshot must carry is written here, in a fixed order: a new field means a new
 * snapshot format version (machine/snapshot.c). */
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
