/* Entry states for the bootstrap CPU: 64-bit long mode with identity paging (Linux
 * 64-bit boot protocol) and flat 32-bit protected mode without paging (multiboot).
 * Both share one GDT (selectors in boot.h) and a zeroed TSS so that TR is valid. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/loader.h"
#include "core/mem.h"
#include "core/vm.h"
#include "hw/pc.h"

#define TSS_LIMIT 0x67

/* Page table entry bits */
#define PTE_P  (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_PS (1ull << 7)

#define RFLAGS_FIXED 0x2ull
#define APIC_BASE_BSP    (1ull << 8)
#define APIC_BASE_ENABLE (1ull << 11)

/* Segment attributes in the VMX access-rights layout (cpu_state.h). */
#define ATTR_CODE64 (0xb | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_L | SEG_ATTR_G)
#define ATTR_CODE32 (0xb | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G)
#define ATTR_DATA   (0x3 | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G)
#define ATTR_TSS    (0xb | SEG_ATTR_P)          /* busy 32/64-bit TSS */
#define ATTR_LDT    (0x2 | SEG_ATTR_P)

/* An 8-byte descriptor from base, limit and the 16-bit attributes above (the access
 * byte is attr[7:0], the flags nibble attr[15:12]). */
static uint64_t gdt_desc(uint32_t base, uint32_t limit, uint16_t attr)
{
	uint32_t lim = (attr & SEG_ATTR_G) ? limit >> 12 : limit;
	return (uint64_t)(lim & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)(attr & 0xff) << 40 | (uint64_t)((lim >> 16) & 0xf) << 48 |
	       (uint64_t)((attr >> 12) & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}

static struct seg make_seg(uint16_t sel, uint32_t base, uint32_t limit, uint16_t attr)
{
	return (struct seg){ .sel = sel, .base = base, .limit = limit, .attr = attr };
}

/* The GDT at base, the TSS BOOT_TSS_OFF after it. */
static int write_gdt(struct vm *vm, uint32_t base, struct err *e)
{
	/* null, code32, code64, data, TSS (16 bytes: the upper half is zero) */
	uint64_t gdt[6] = {
		0,
		gdt_desc(0, 0xffffffff, ATTR_CODE32),
		gdt_desc(0, 0xffffffff, ATTR_CODE64),
		gdt_desc(0, 0xffffffff, ATTR_DATA),
		gdt_desc(base + (uint32_t)BOOT_TSS_OFF, TSS_LIMIT, ATTR_TSS),
		0,
	};
	static const uint8_t tss[TSS_LIMIT + 1];
	static_assert(sizeof(gdt) <= BOOT_TSS_OFF && BOOT_TSS_OFF + sizeof(tss) <= BOOT_GDT_SIZE,
	              "boot GDT layout");

	if (mem_write(&vm->mem, base, gdt, sizeof(gdt)) ||
	    mem_write(&vm->mem, base + BOOT_TSS_OFF, tss, sizeof(tss)))
		return err_set(e, ENOMEM, "guest RAM too small for the boot GDT");
	return 0;
}

/* Everything both modes share: GDT/IDT registers, TR, LDTR, RFLAGS, RSP, APIC base. */
static void common_state(struct cpu_state *s, uint32_t gdt, uint64_t rsp)
{
	memset(s, 0, sizeof(*s));
	s->rflags = RFLAGS_FIXED;
	s->gdt = (struct dtable){ .base = gdt, .limit = 6 * 8 - 1 };
	s->idt = (struct dtable){ .base = 0, .limit = 0 };
	s->tr = make_seg(BOOT_SEL_TSS, gdt + (uint32_t)BOOT_TSS_OFF, TSS_LIMIT, ATTR_TSS);
	s->ldtr = make_seg(0, 0, 0, ATTR_LDT);
	s->ldtr.unusable = 1;
	s->gpr[R_RSP] = rsp;
	s->apic_base = PC_LAPIC_ADDR | APIC_BASE_ENABLE | APIC_BASE_BSP;
}

int boot_entry64(struct vm *vm, struct cpu_state *s, uint64_t rip, uint64_t rsi, struct err *e)
{
	uint64_t table[512];
	int r = write_gdt(vm, (uint32_t)BOOT_GDT_ADDR, e);
	if (r)
		return r;

	/* PML4[0] -> PDPT; PDPT[0..3] -> 4 PDs of 2 MiB pages mapping 0..4 GiB 1:1. */
	memset(table, 0, sizeof(table));
	table[0] = BOOT_PDPT_ADDR | PTE_P | PTE_RW;
	if (mem_write(&vm->mem, BOOT_PML4_ADDR, table, sizeof(table)))
		return err_set(e, ENOMEM, "guest RAM too small for the boot page tables");
	for (unsigned i = 0; i < 4; i++)
		table[i] = (BOOT_PD_ADDR + i * BOOT_PAGE_SIZE) | PTE_P | PTE_RW;
	if (mem_write(&vm->mem, BOOT_PDPT_ADDR, table, sizeof(table)))
		return err_set(e, ENOMEM, "guest RAM too small for the boot page tables");
	for (unsigned pd = 0; pd < 4; pd++) {
		for (unsigned i = 0; i < 512; i++)
			table[i] = ((uint64_t)pd << 30 | (uint64_t)i << 21) | PTE_P | PTE_RW | PTE_PS;
		if (mem_write(&vm->mem, BOOT_PD_ADDR + pd * BOOT_PAGE_SIZE, table, sizeof(table)))
			return err_set(e, ENOMEM, "guest RAM too small for the boot page tables");
	}

	common_state(s, (uint32_t)BOOT_GDT_ADDR, BOOT_STACK_TOP);
	s->seg[S_CS] = make_seg(BOOT_SEL_CODE64, 0, 0xffffffff, ATTR_CODE64);
	for (int i = 0; i < S__COUNT; i++)
		if (i != S_CS)
			s->seg[i] = make_seg(BOOT_SEL_DATA, 0, 0xffffffff, ATTR_DATA);
	s->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
	s->cr3 = BOOT_PML4_ADDR;
	s->cr4 = CR4_PAE;
	s->efer = EFER_LME | EFER_LMA;
	s->rip = rip;
	s->gpr[R_RSI] = rsi;
	return 0;
}

int boot_entry32(struct vm *vm, struct cpu_state *s, const struct boot_entry32_regs *regs,
                 struct err *e)
{
	int r = write_gdt(vm, regs->gdt, e);
	if (r)
		return r;
	common_state(s, regs->gdt, regs->esp);
	s->seg[S_CS] = make_seg(BOOT_SEL_CODE32, 0, 0xffffffff, ATTR_CODE32);
	for (int i = 0; i < S__COUNT; i++)
		if (i != S_CS)
			s->seg[i] = make_seg(BOOT_SEL_DATA, 0, 0xffffffff, ATTR_DATA);
	s->cr0 = CR0_PE | CR0_ET | CR0_NE;
	s->rip = regs->eip;
	s->gpr[R_RAX] = regs->eax;
	s->gpr[R_RBX] = regs->ebx;
	return 0;
}
