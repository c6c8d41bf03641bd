/* System state of the software CPU: modes, segment descriptor caches and their loads,
 * control registers, MSRs, the virtual TSC, and conversion to/from struct cpu_state
 * (Intel SDM vol. 3A chapters 2-5, vol. 4 for the MSRs). */
#include <string.h>
#include <time.h>

#include "engine/soft/mmu/mem.h"
#include "engine/soft/sys/sys.h"

#define ATTR_TYPE_CODE 0x8u
#define TSC_KHZ_DEFAULT ((uint32_t)(SOFT_TSC_HZ / 1000))
#define ATTR_TYPE_CONFORMING 0x4u  /* code */
#define ATTR_TYPE_EXPDOWN 0x4u     /* data */
#define ATTR_TYPE_RW 0x2u          /* data: writable; code: readable */
#define ATTR_TYPE_ACCESSED 0x1u

static bool long_mode(const struct soft_cpu *c)
{
	return (c->sys.efer & EFER_LMA) != 0;
}

static bool seg_flat(const struct seg *s)
{
	unsigned t = SEG_ATTR_TYPE(s->attr);
	return !s->unusable && s->base == 0 && s->limit == 0xffffffffu && (s->attr & SEG_ATTR_S) &&
	       !(t & ATTR_TYPE_CODE) && (t & ATTR_TYPE_RW) && !(t & ATTR_TYPE_EXPDOWN);
}

/* Is PAE paging (not 4-level) in use with these control registers? */
static bool pae_paging(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
	return (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(efer & EFER_LMA);
}

/* Load the four PAE PDPTEs from the 32-byte table at cr3 (SDM vol. 3A 4.4.1). With
 * check, a present PDPTE with a reserved bit set gives #GP(0) and loads nothing. A
 * table outside RAM reads as not present, as page tables do in mmu.c. */
static int load_pdptes(struct soft_cpu *c, uint64_t cr3, bool check)
{
	uint64_t p[4] = {0};
	const uint64_t rsvd = ~((1ull << 40) - 1) | 0x1e6ull; /* MAXPHYADDR 40, bits 8:5, 2:1 */
	if (c->mem.ops == &soft_mmu_ops && /* the flat test memories have no paging */
	    soft_mmu_read_phys(c->mem.opaque, cr3 & 0xffffffe0u, p, sizeof(p)) < 0)
		memset(p, 0, sizeof(p));
	for (unsigned k = 0; check && k < 4; k++)
		if ((p[k] & 1) && (p[k] & rsvd))
			return raise_exc(c, VEC_GP, true, 0);
	memcpy(c->sys.pdpte, p, sizeof(p));
	return SOFT_OK;
}

void soft_sys_update_mode(struct soft_cpu *c)
{
	struct soft_sys *y = &c->sys;
	const struct seg *cs = &y->seg[S_CS];
	bool pe = y->cr0 & CR0_PE;

	if (long_mode(c) && (cs->attr & SEG_ATTR_L))
		y->mode = SOFT_MODE64;
	else
		y->mode = (cs->attr & SEG_ATTR_DB) ? SOFT_MODE32 : SOFT_MODE16;

	if (y->mode == SOFT_MODE64) {
		y->la_mask = ~0ull;
		y->sp_mask = ~0ull;
		y->seg_check = 0;
		for (unsigned k = 0; k < S__COUNT; k++)
			c->seg_base[k] = (k == S_FS || k == S_GS) ? y->seg[k].base : 0;
		return;
	}
	y->la_mask = 0xffffffffull;
	y->sp_mask = (y->seg[S_SS].attr & SEG_ATTR_DB) ? 0xffffffffull : 0xffffull;
	y->seg_check = 0;
	for (unsigned k = 0; k < S__COUNT; k++) {
		c->seg_base[k] = (uint32_t)y->seg[k].base;
		if (k == S_CS || !seg_flat(&y->seg[k]))
			y->seg_check |= (uint8_t)(1u << k);
		if (!pe && y->seg[k].limit == 0xffffffffu && k != S_CS)
			y->seg_check &= (uint8_t)~(1u << k); /* big real mode: no checks needed */
	}
}

void soft_set_cpl(struct soft_cpu *c, unsigned cpl)
{
	/* TLB entries hold the rights of every privilege level: only the lookup mask
	 * changes (supervisor-only entries do not match at CPL 3). */
	c->cpl = (uint8_t)cpl;
	c->tlb.mask = cpl == 3 ? SOFT_TLB_MASK_USER : SOFT_TLB_MASK_SUP;
}

void soft_sys_reset64(struct soft_cpu *c)
{
	struct soft_sys *y = &c->sys;
	memset(y, 0, sizeof(*y));
	y->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
	y->cr4 = CR4_PAE;
	y->efer = EFER_LME | EFER_LMA | EFER_SCE | EFER_NXE;
	y->seg[S_CS] = (struct seg){ .sel = 8, .limit = 0xffffffff,
	                             .attr = 0xb | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_L | SEG_ATTR_G };
	for (unsigned k = 0; k < S__COUNT; k++)
		if (k != S_CS)
			y->seg[k] = (struct seg){ .sel = 0x10, .limit = 0xffffffff,
			                          .attr = 0x3 | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G };
	y->misc_enable = 1; /* fast strings */
	y->tsc_khz = TSC_KHZ_DEFAULT;
	y->pat = 0x0007040600070406ull;
	y->apic_base = 0xfee00000ull | (1u << 11) | (1u << 8);
	soft_set_cpl(c, 0);
	soft_sys_update_mode(c);
}

void soft_sys_set_state(struct soft_cpu *c, const struct cpu_state *s)
{
	struct soft_sys *y = &c->sys;
	memcpy(c->gpr, s->gpr, sizeof(c->gpr));
	c->rip = s->rip;
	c->rflags = s->rflags | FL_1;
	c->lf_op = LF_NONE;
	memcpy(y->seg, s->seg, sizeof(y->seg));
	y->tr = s->tr;
	y->ldtr = s->ldtr;
	y->gdt = s->gdt;
	y->idt = s->idt;
	y->cr0 = s->cr0 | CR0_ET;
	y->cr2 = s->cr2;
	y->cr3 = s->cr3;
	y->cr4 = s->cr4;
	y->cr8 = s->cr8 & 15;
	y->efer = s->efer;
	if (s->apic_base)
		y->apic_base = s->apic_base;
	/* CPL is SS.DPL in protected mode (SDM vol. 3C 26.3.1.5), 0 in real mode. */
	unsigned cpl = (y->cr0 & CR0_PE) ? SEG_ATTR_DPL(y->seg[S_SS].attr) : 0;
	if ((y->cr0 & CR0_PE) && (c->rflags & FL_VM))
		cpl = 3;
	soft_set_cpl(c, cpl);
	y->halted = false;
	soft_tlb_flush(c);
	if (pae_paging(y->cr0, y->cr4, y->efer))
		load_pdptes(c, y->cr3, false);
	soft_sys_update_mode(c);
}

void soft_sys_get_state(struct soft_cpu *c, struct cpu_state *s)
{
	const struct soft_sys *y = &c->sys;
	memset(s, 0, sizeof(*s));
	memcpy(s->gpr, c->gpr, sizeof(s->gpr));
	s->rip = c->rip;
	s->rflags = flags_get(c);
	memcpy(s->seg, y->seg, sizeof(s->seg));
	s->tr = y->tr;
	s->ldtr = y->ldtr;
	s->gdt = y->gdt;
	s->idt = y->idt;
	s->cr0 = y->cr0;
	s->cr2 = y->cr2;
	s->cr3 = y->cr3;
	s->cr4 = y->cr4;
	s->cr8 = y->cr8;
	s->efer = y->efer;
	s->apic_base = y->apic_base;
}

/* ---- implicit supervisor accesses (descriptor tables, TSS) ---- */

static int sys_access(struct soft_cpu *c, uint64_t la, unsigned sz, uint8_t *buf, bool write)
{
	uint8_t tmp[16];
	unsigned done = 0;
	/* The tables' bases are 64-bit in all of IA-32e mode: compatibility-mode code (a
	 * 32-bit la_mask) taking an interrupt still reaches the IDT and TSS up there. */
	uint64_t la_mask = long_mode(c) ? ~0ull : 0xffffffffull;
	if (!write)
		memset(buf, 0, sz);
	while (done < sz) {
		uint64_t a = (la + done) & la_mask, pa;
		unsigned n = 0x1000 - (unsigned)(a & 0xfff);
		if (n > sz - done)
			n = sz - done;
		uint8_t *host;
		if (c->mem.ops->translate(c->mem.opaque, a, write ? SOFT_ACC_WRITE : SOFT_ACC_READ, 0,
		                          &pa, &host, &c->fault) < 0)
			return SOFT_EXC;
		if (write) {
			memcpy(tmp, buf + done, n);
			if (host)
				memcpy(host, tmp, n);
			else
				c->mem.ops->io_write(c->mem.opaque, pa, tmp, n);
			soft_code_store(&c->cache, pa, n);   /* after the store, as part_write */
		} else if (host) {
			memcpy(buf + done, host, n);
		} else {
			c->mem.ops->io_read(c->mem.opaque, pa, buf + done, n);
		}
		done += n;
	}
	return SOFT_OK;
}

int soft_sys_read(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t *v)
{
	uint8_t b[8];
	if (sys_access(c, la, sz, b, false))
		return SOFT_EXC;
	*v = load_n(b, sz);
	return SOFT_OK;
}

int soft_sys_write(struct soft_cpu *c, uint64_t la, unsigned sz, uint64_t v)
{
	uint8_t b[8];
	memcpy(b, &v, 8);
	return sys_access(c, la, sz, b, true);
}

/* ---- descriptors ---- */

int soft_read_desc(struct soft_cpu *c, uint16_t sel, uint64_t *d)
{
	uint64_t base;
	uint32_t limit;
	if (sel & 4) {
		if (c->sys.ldtr.unusable || (c->sys.ldtr.sel & ~3) == 0)
			return raise_exc(c, VEC_GP, true, sel & 0xfffc);
		base = c->sys.ldtr.base;
		limit = c->sys.ldtr.limit;
	} else {
		base = c->sys.gdt.base;
		limit = c->sys.gdt.limit;
	}
	if ((uint32_t)(sel & ~7u) + 7 > limit)
		return raise_exc(c, VEC_GP, true, sel & 0xfffc);
	return soft_sys_read(c, base + (sel & ~7u), 8, d);
}

void soft_desc_to_seg(uint64_t d, uint16_t sel, struct seg *s)
{
	uint32_t limit = (uint32_t)(d & 0xffff) | (uint32_t)((d >> 32) & 0xf0000);
	if (d & (1ull << 55))
		limit = (limit << 12) | 0xfff;
	*s = (struct seg){
		.sel = sel,
		.base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24),
		.limit = limit,
		.attr = (uint16_t)(((d >> 40) & 0xff) | (((d >> 52) & 0xf) << 12)),
	};
}

void soft_desc_set_accessed(struct soft_cpu *c, uint16_t sel, uint64_t d)
{
	if (d & (1ull << 40))
		return;
	uint64_t base = (sel & 4) ? c->sys.ldtr.base : c->sys.gdt.base;
	uint64_t la = base + (sel & ~7u) + 5;
	soft_sys_write(c, la, 1, ((d >> 40) & 0xff) | 1);
}

int soft_load_seg(struct soft_cpu *c, unsigned sr, uint16_t sel)
{
	struct soft_sys *y = &c->sys;
	struct seg *s = &y->seg[sr];

	if (!(y->cr0 & CR0_PE) || (c->rflags & FL_VM)) {
		uint16_t attr = s->attr;
		if (c->rflags & FL_VM)
			attr = 0xf3;
		*s = (struct seg){ .sel = sel, .base = (uint64_t)sel << 4, .limit = s->limit, .attr = attr };
		if (c->rflags & FL_VM)
			s->limit = 0xffff;
		soft_sys_update_mode(c);
		return SOFT_OK;
	}
	unsigned rpl = sel & 3, cpl = c->cpl;
	if ((sel & ~3) == 0) {
		if (sr == S_SS && !(y->mode == SOFT_MODE64 && cpl < 3 && rpl == cpl))
			return raise_exc(c, VEC_GP, true, 0);
		uint64_t base = (sr == S_FS || sr == S_GS) && y->mode == SOFT_MODE64 ? s->base : 0;
		*s = (struct seg){ .sel = sel, .base = base, .unusable = 1,
		                   .attr = sr == S_SS ? (uint16_t)((cpl << 5) | SEG_ATTR_DB) : 0 };
		soft_sys_update_mode(c);
		return SOFT_OK;
	}
	uint64_t d;
	if (soft_read_desc(c, sel, &d))
		return SOFT_EXC;
	struct seg n;
	soft_desc_to_seg(d, sel, &n);
	unsigned type = SEG_ATTR_TYPE(n.attr), dpl = SEG_ATTR_DPL(n.attr);
	bool code = type & ATTR_TYPE_CODE;
	if (!(n.attr & SEG_ATTR_S))
		return raise_exc(c, VEC_GP, true, sel & 0xfffc);
	if (sr == S_SS) {
		if (rpl != cpl || dpl != cpl || code || !(type & ATTR_TYPE_RW))
			return raise_exc(c, VEC_GP, true, sel & 0xfffc);
		if (!(n.attr & SEG_ATTR_P))
			return raise_exc(c, VEC_SS, true, sel & 0xfffc);
	} else {
		if (code && !(type & ATTR_TYPE_RW))
			return raise_exc(c, VEC_GP, true, sel & 0xfffc);
		if ((!code || !(type & ATTR_TYPE_CONFORMING)) && (rpl > dpl || cpl > dpl))
			return raise_exc(c, VEC_GP, true, sel & 0xfffc);
		if (!(n.attr & SEG_ATTR_P))
			return raise_exc(c, VEC_NP, true, sel & 0xfffc);
	}
	soft_desc_set_accessed(c, sel, d);
	n.attr |= ATTR_TYPE_ACCESSED;
	if ((sr == S_FS || sr == S_GS) && y->mode == SOFT_MODE64)
		n.base = (uint32_t)n.base; /* upper half via the MSRs only */
	*s = n;
	soft_sys_update_mode(c);
	return SOFT_OK;
}

int soft_seg_check(struct soft_cpu *c, unsigned sr, uint64_t off, unsigned sz, bool write)
{
	const struct seg *s = &c->sys.seg[sr];
	unsigned vec = sr == S_SS ? VEC_SS : VEC_GP;
	bool pe = c->sys.cr0 & CR0_PE;
	if (pe && !(c->rflags & FL_VM)) {
		unsigned t = SEG_ATTR_TYPE(s->attr);
		if (s->unusable)
			return raise_exc(c, vec, true, 0);
		if (t & ATTR_TYPE_CODE) {
			if (write || !(t & ATTR_TYPE_RW))
				return raise_exc(c, VEC_GP, true, 0);
		} else if (write && !(t & ATTR_TYPE_RW)) {
			return raise_exc(c, VEC_GP, true, 0);
		}
		if (!(t & ATTR_TYPE_CODE) && (t & ATTR_TYPE_EXPDOWN)) {
			uint64_t upper = (s->attr & SEG_ATTR_DB) ? 0xffffffffull : 0xffffull;
			if (off <= s->limit || off + sz - 1 > upper)
				return raise_exc(c, vec, true, 0);
			return SOFT_OK;
		}
	}
	if (off + sz - 1 > s->limit)
		return raise_exc(c, vec, true, 0);
	return SOFT_OK;
}

/* ---- TSC, MSRs ---- */

uint64_t soft_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ns of the host clock in TSC ticks at khz (exact, and cheap, at the default rate). */
static uint64_t tsc_ticks(uint64_t ns, uint32_t khz)
{
	if (khz == TSC_KHZ_DEFAULT)
		return ns * SOFT_TSC_PER_NS;
	return (uint64_t)((unsigned __int128)ns * khz / 1000000u);
}

/* Every vCPU reads the same host clock, so TSCs agree across vCPUs (up to each one's
 * IA32_TSC writes) and never go back: CPUID may call it invariant. */
uint64_t soft_tsc_at(const struct soft_cpu *c, uint64_t ns)
{
	return tsc_ticks(ns, c->sys.tsc_khz) + (uint64_t)c->sys.tsc_offset;
}

uint64_t soft_rdtsc(struct soft_cpu *c)
{
	c->stats.clock_reads++;
	return soft_tsc_at(c, soft_now_ns());
}

uint64_t soft_tsc_to_ns(const struct soft_cpu *c, uint64_t tsc)
{
	uint64_t t = tsc - (uint64_t)c->sys.tsc_offset;
	uint32_t khz = c->sys.tsc_khz;
	if ((int64_t)t < 0)
		return 0;  /* before the clock's origin: already due */
	if (khz == TSC_KHZ_DEFAULT)
		return (t + SOFT_TSC_PER_NS - 1) / SOFT_TSC_PER_NS;
	return (uint64_t)(((unsigned __int128)t * 1000000u + khz - 1) / khz);
}

uint64_t soft_tsc_to_clock(const struct soft_cpu *c, uint64_t tsc)
{
	uint64_t t = tsc - (uint64_t)c->sys.tsc_offset;
	if (c->sys.tsc_khz != TSC_KHZ_DEFAULT)
		t = soft_tsc_to_ns(c, tsc) * SOFT_TSC_PER_NS;
	return (int64_t)t > 0 ? t : 1;
}

uint64_t soft_tsc_from_clock(const struct soft_cpu *c, uint64_t clock)
{
	if (c->sys.tsc_khz == TSC_KHZ_DEFAULT)
		return clock + (uint64_t)c->sys.tsc_offset;
	return soft_tsc_at(c, clock / SOFT_TSC_PER_NS);
}

/* Memory types 0 (UC), 1 (WC), 4 (WT), 5 (WP), 6 (WB) are valid (SDM vol. 3A 11.11). */
static bool mtype_ok(uint64_t t)
{
	return t == 0 || t == 1 || t == 4 || t == 5 || t == 6;
}

static bool fixed_ok(uint64_t v)
{
	for (unsigned k = 0; k < 8; k++)
		if (!mtype_ok((v >> (8 * k)) & 0xff))
			return false;
	return true;
}

#define MAXPHY_MASK ((1ull << 40) - 1)

static int fixed_index(uint32_t msr)
{
	if (msr == MSR_MTRR_FIX64K)
		return 0;
	if (msr == MSR_MTRR_FIX16K_80000 || msr == MSR_MTRR_FIX16K_A0000)
		return 1 + (int)(msr - MSR_MTRR_FIX16K_80000);
	if (msr >= MSR_MTRR_FIX4K_C0000 && msr <= MSR_MTRR_FIX4K_C0000 + 7)
		return 3 + (int)(msr - MSR_MTRR_FIX4K_C0000);
	return -1;
}

/* The platform's MSRs first (sys.h): 1 = not theirs. */
static int plat_msr(struct soft_cpu *c, int r)
{
	return r < 0 ? raise_exc(c, VEC_GP, true, 0) : SOFT_OK;
}

int soft_rdmsr(struct soft_cpu *c, uint32_t msr, uint64_t *v)
{
	struct soft_sys *y = &c->sys;
	int r = y->plat ? y->plat->rdmsr(c, msr, v) : 1;
	if (r != 1)
		return plat_msr(c, r);
	int fx = fixed_index(msr);
	if (fx >= 0) {
		*v = y->mtrr_fix[fx];
		return SOFT_OK;
	}
	if (msr >= MSR_MTRR_PHYS_BASE0 && msr < MSR_MTRR_PHYS_BASE0 + 2 * SOFT_MTRR_VAR) {
		*v = y->mtrr_var[msr - MSR_MTRR_PHYS_BASE0];
		return SOFT_OK;
	}
	switch (msr) {
	case MSR_TSC: *v = soft_rdtsc(c); break;
	case MSR_APIC_BASE: *v = y->apic_base; break;
	case 0x8b: *v = 0; break; /* IA32_BIOS_SIGN_ID: no microcode */
	case MSR_MTRRCAP: *v = (1u << 10) | (1u << 8) | SOFT_MTRR_VAR; break; /* WC, FIX, VCNT */
	/* This CPU does not speculate: RDCL_NO, SKIP_L1DFL_VMENTRY, SSB_NO, MDS_NO,
	 * PSCHANGE_MC_NO, TAA_NO, SBDR_SSDP_NO, FBSDP_NO, PSDP_NO (SDM vol. 4, table 2-2),
	 * so Linux need not isolate page tables (PTI) or clear buffers on every return. */
	case MSR_ARCH_CAPABILITIES:
		*v = 1u << 0 | 1u << 3 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 8 | 1u << 13 | 1u << 14 | 1u << 15;
		break;
	case MSR_SYSENTER_CS: *v = y->sysenter_cs; break;
	case MSR_SYSENTER_ESP: *v = y->sysenter_esp; break;
	case MSR_SYSENTER_EIP: *v = y->sysenter_eip; break;
	case MSR_MISC_ENABLE: *v = y->misc_enable; break;
	case MSR_PAT: *v = y->pat; break;
	case MSR_MTRR_DEF_TYPE: *v = y->mtrr_def_type; break;
	case MSR_EFER: *v = y->efer; break;
	case MSR_STAR: *v = y->star; break;
	case MSR_LSTAR: *v = y->lstar; break;
	case MSR_CSTAR: *v = y->cstar; break;
	case MSR_SFMASK: *v = y->sfmask; break;
	case MSR_FS_BASE: *v = y->seg[S_FS].base; break;
	case MSR_GS_BASE: *v = y->seg[S_GS].base; break;
	case MSR_KERNEL_GS_BASE: *v = y->kernel_gs_base; break;
	case MSR_TSC_AUX: *v = y->tsc_aux; break;
	default: return raise_exc(c, VEC_GP, true, 0);
	}
	return SOFT_OK;
}

int soft_wrmsr(struct soft_cpu *c, uint32_t msr, uint64_t v)
{
	struct soft_sys *y = &c->sys;
	int r = y->plat ? y->plat->wrmsr(c, msr, v) : 1;
	if (r != 1)
		return plat_msr(c, r);
	int fx = fixed_index(msr);
	if (fx >= 0) {
		if (!fixed_ok(v))
			return raise_exc(c, VEC_GP, true, 0);
		y->mtrr_fix[fx] = v;
		return SOFT_OK;
	}
	if (msr >= MSR_MTRR_PHYS_BASE0 && msr < MSR_MTRR_PHYS_BASE0 + 2 * SOFT_MTRR_VAR) {
		unsigned k = msr - MSR_MTRR_PHYS_BASE0;
		uint64_t ok = (k & 1) ? (MAXPHY_MASK & ~0xfffull) | (1u << 11) : (MAXPHY_MASK & ~0xfffull) | 0xff;
		if ((v & ~ok) || (!(k & 1) && !mtype_ok(v & 0xff)))
			return raise_exc(c, VEC_GP, true, 0);
		y->mtrr_var[k] = v;
		return SOFT_OK;
	}
	switch (msr) {
	case MSR_TSC:
		y->tsc_offset = (int64_t)(v - tsc_ticks(soft_now_ns(), y->tsc_khz));
		break;
	case MSR_APIC_BASE:
		if (v & ~(MAXPHY_MASK & ~0xfffull) & ~((1ull << 11) | (1ull << 10) | (1ull << 8)))
			return raise_exc(c, VEC_GP, true, 0);
		/* Without a platform (tests): stored only; the engine's LAPIC owns this MSR. */
		y->apic_base = (v & ~(1ull << 10)) | (y->apic_base & (1ull << 8)); /* no x2APIC */
		break;
	case 0x8b: break;
	case MSR_SYSENTER_CS: y->sysenter_cs = v & 0xffff; break;
	case MSR_SYSENTER_ESP:
	case MSR_SYSENTER_EIP:
		if (!canonical(v))
			return raise_exc(c, VEC_GP, true, 0);
		if (msr == MSR_SYSENTER_ESP)
			y->sysenter_esp = v;
		else
			y->sysenter_eip = v;
		break;
	case MSR_MISC_ENABLE:
		y->misc_enable = (y->misc_enable & ~1ull) | (v & 1); /* only fast strings is writable */
		break;
	case MSR_PAT:
		for (unsigned k = 0; k < 8; k++) {
			uint64_t t = (v >> (8 * k)) & 0xff;
			if (!mtype_ok(t) && t != 7)
				return raise_exc(c, VEC_GP, true, 0);
		}
		y->pat = v;
		break;
	case MSR_MTRR_DEF_TYPE:
		if ((v & ~0xcffull) || !mtype_ok(v & 0xff))
			return raise_exc(c, VEC_GP, true, 0);
		y->mtrr_def_type = v;
		break;
	case MSR_EFER: {
		uint64_t ok = EFER_SCE | EFER_LME | EFER_NXE;
		if (v & ~(ok | EFER_LMA))
			return raise_exc(c, VEC_GP, true, 0);
		/* LME cannot change while paging is on; LMA is read-only. */
		if ((y->cr0 & CR0_PG) && ((v ^ y->efer) & EFER_LME))
			return raise_exc(c, VEC_GP, true, 0);
		uint64_t old = y->efer;
		y->efer = (v & ok) | (y->efer & EFER_LMA);
		if ((old ^ y->efer) & EFER_NXE)
			soft_tlb_flush(c);
		break;
	}
	case MSR_STAR: y->star = v; break;
	case MSR_LSTAR:
	case MSR_CSTAR:
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
		if (!canonical(v))
			return raise_exc(c, VEC_GP, true, 0);
		if (msr == MSR_LSTAR)
			y->lstar = v;
		else if (msr == MSR_CSTAR)
			y->cstar = v;
		else if (msr == MSR_KERNEL_GS_BASE)
			y->kernel_gs_base = v;
		else
			y->seg[msr == MSR_FS_BASE ? S_FS : S_GS].base = v;
		soft_sys_update_mode(c);
		break;
	case MSR_SFMASK: y->sfmask = v & 0xffffffffull; break;
	case MSR_TSC_AUX:
		if (v >> 32)
			return raise_exc(c, VEC_GP, true, 0);
		y->tsc_aux = v;
		break;
	default:
		return raise_exc(c, VEC_GP, true, 0);
	}
	return SOFT_OK;
}

/* ---- control registers ---- */

#define CR0_OK (CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM | \
                CR0_NW | CR0_CD | CR0_PG)
#define CR4_OK (CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE | \
                CR4_OSFXSR | CR4_OSXMMEXCPT)

/* MOV CR3: non-global translations go; global ones stay while CR4.PGE = 1 (SDM vol. 3A
 * 4.10.4.1). */
static void flush_cr3(struct soft_cpu *c)
{
	if (c->sys.cr4 & CR4_PGE)
		soft_tlb_flush_nonglobal(c);
	else
		soft_tlb_flush(c);
}

int soft_write_cr(struct soft_cpu *c, unsigned n, uint64_t v)
{
	struct soft_sys *y = &c->sys;
	switch (n) {
	case 0: {
		if (v >> 32)
			return raise_exc(c, VEC_GP, true, 0);
		v = (v & CR0_OK) | CR0_ET;
		if (((v & CR0_PG) && !(v & CR0_PE)) || ((v & CR0_NW) && !(v & CR0_CD)))
			return raise_exc(c, VEC_GP, true, 0);
		uint64_t old = y->cr0, efer = y->efer;
		if ((v & CR0_PG) && !(old & CR0_PG) && (efer & EFER_LME)) {
			/* Activating long mode (SDM vol. 3A 9.8.5). */
			if (!(y->cr4 & CR4_PAE) || (y->seg[S_CS].attr & SEG_ATTR_L))
				return raise_exc(c, VEC_GP, true, 0);
			efer |= EFER_LMA;
		}
		if (!(v & CR0_PG) && (old & CR0_PG) && (efer & EFER_LMA)) {
			if (y->mode == SOFT_MODE64)
				return raise_exc(c, VEC_GP, true, 0);
			efer &= ~EFER_LMA;
		}
		if (pae_paging(v, y->cr4, efer) && ((old ^ v) & (CR0_PG | CR0_CD | CR0_NW)) &&
		    load_pdptes(c, y->cr3, true))
			return SOFT_EXC;
		y->efer = efer;
		if (!(v & CR0_PE) && (old & CR0_PE)) /* back to real mode: CPL 0 */
			soft_set_cpl(c, 0);
		y->cr0 = v;
		/* PG: everything goes (SDM 4.10.4.1). WP: the TLB keeps rights computed with it. */
		if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE))
			soft_tlb_flush(c);
		soft_sys_update_mode(c);
		return SOFT_OK;
	}
	case 2:
		y->cr2 = y->mode == SOFT_MODE64 ? v : (uint32_t)v;
		return SOFT_OK;
	case 3:
		if (y->efer & EFER_LMA) {
			if (v & ~MAXPHY_MASK)
				return raise_exc(c, VEC_GP, true, 0);
		} else {
			v = (uint32_t)v;
		}
		if (pae_paging(y->cr0, y->cr4, y->efer) && load_pdptes(c, v, true))
			return SOFT_EXC;
		y->cr3 = v;
		flush_cr3(c);
		return SOFT_OK;
	case 4: {
		if (v & ~CR4_OK)
			return raise_exc(c, VEC_GP, true, 0);
		if ((y->efer & EFER_LMA) && !(v & CR4_PAE))
			return raise_exc(c, VEC_GP, true, 0);
		uint64_t old = y->cr4;
		if (pae_paging(y->cr0, v, y->efer) && ((old ^ v) & (CR4_PSE | CR4_PAE | CR4_PGE)) &&
		    load_pdptes(c, y->cr3, true))
			return SOFT_EXC;
		y->cr4 = v;
		/* PGE: everything, global entries too; PAE, PSE: every translation changes. */
		if ((old ^ v) & (CR4_PSE | CR4_PAE | CR4_PGE))
			soft_tlb_flush(c);
		return SOFT_OK;
	}
	case 8:
		if (v & ~15ull)
			return raise_exc(c, VEC_GP, true, 0);
		y->cr8 = v; /* TODO(interrupt controllers issue): TPR feeds the LAPIC */
		return SOFT_OK;
	default:
		return raise_exc(c, VEC_UD, false, 0);
	}
}
