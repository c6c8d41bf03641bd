/* Privileged and system-state instructions: MOV CR/DR, LGDT/LIDT/SGDT/SIDT, LLDT/LTR/
 * SLDT/STR, LMSW/SMSW/CLTS, INVLPG, WBINVD/INVD, HLT, CLI/STI, CPUID, RDTSC(P),
 * RDMSR/WRMSR, SWAPGS, LAR/LSL/VERR/VERW, PUSHA/POPA, VMCALL/VMMCALL, and the fast system calls
 * SYSCALL/SYSRET/SYSENTER/SYSEXIT (Intel SDM vol. 2 instruction pages, vol. 3A 5.8-5.9). */
#include "engine/soft/mmu/mem.h"
#include "engine/soft/interp/ops.h"
#include "engine/soft/sys/ops_sys.h"
#include "engine/soft/interp/stack.h"

static int need_cpl0(struct soft_cpu *c)
{
	return c->cpl ? raise_exc(c, VEC_GP, true, 0) : SOFT_OK;
}

static bool prot(const struct soft_cpu *c)
{
	return (c->sys.cr0 & CR0_PE) && !(c->rflags & FL_VM);
}

int h_mov_cr(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned n = i->imm2;
	if (need_cpl0(c))
		return SOFT_EXC;
	if (i->op == 0) {
		uint64_t v;
		switch (n) {
		case 0: v = c->sys.cr0; break;
		case 2: v = c->sys.cr2; break;
		case 3: v = c->sys.cr3; break;
		case 4: v = c->sys.cr4; break;
		case 8: v = c->sys.cr8; break;
		default: return raise_exc(c, VEC_UD, false, 0);
		}
		reg_set(c, i->o[0].reg, i->o[0].size, v);
		return SOFT_OK;
	}
	return soft_write_cr(c, n, reg_get(c, i->o[0].reg, i->o[0].size));
}

int h_mov_dr(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned n = i->imm2;
	if (need_cpl0(c))
		return SOFT_EXC;
	if (n == 4 || n == 5) {
		if (c->sys.cr4 & CR4_DE)
			return raise_exc(c, VEC_UD, false, 0);
		n += 2;
	}
	if (i->op == 0) {
		uint64_t v = c->sys.dr[n];
		if (n == 6)
			v |= 0xffff0ff0ull;
		else if (n == 7)
			v |= 0x400;
		reg_set(c, i->o[0].reg, i->o[0].size, v);
		return SOFT_OK;
	}
	uint64_t v = reg_get(c, i->o[0].reg, i->o[0].size);
	if ((n == 6 || n == 7) && (v >> 32))
		return raise_exc(c, VEC_GP, true, 0);
	c->sys.dr[n] = v; /* TODO: hardware breakpoints (#DB) are not implemented */
	return SOFT_OK;
}

int h_dtable(struct soft_cpu *c, const struct sinsn *i)
{
	struct dtable *t = (i->op == DT_LGDT || i->op == DT_SGDT) ? &c->sys.gdt : &c->sys.idt;
	bool m64 = c->sys.mode == SOFT_MODE64;
	unsigned bsz = m64 ? 8 : 4;
	bool load = i->op == DT_LGDT || i->op == DT_LIDT;
	uint64_t la, la2, lim, base;
	unsigned mf = mf_of(i);
	/* The whole 6- or 10-byte image must lie within the segment (SDM vol. 2A). */
	if ((load && need_cpl0(c)) || ea_checked(c, i, 2 + bsz, !load, &la))
		return SOFT_EXC;
	la2 = (la + 2) & c->sys.la_mask;
	if (load) {
		if (mem_read(c, la, 2, &lim, mf) || mem_read(c, la2, bsz, &base, mf))
			return SOFT_EXC;
		if (!m64 && i->opsz == 2)
			base &= 0xffffff;
		if (m64 && !canonical(base))
			return raise_exc(c, VEC_GP, true, 0);
		t->limit = (uint16_t)lim;
		t->base = base;
		return SOFT_OK;
	}
	/* SGDT/SIDT: not privileged (no UMIP on this CPU). */
	if (mem_read(c, la, 2, &lim, mf | MF_RMW) || mem_read(c, la2, bsz, &base, mf | MF_RMW))
		return SOFT_EXC;
	if (mem_write(c, la, 2, t->limit, mf) || mem_write(c, la2, bsz, t->base, mf))
		return SOFT_EXC;
	return SOFT_OK;
}

/* LLDT/LTR: a system descriptor from the GDT (16 bytes in IA-32e mode). */
static int load_sysseg(struct soft_cpu *c, const struct sinsn *i, bool tr)
{
	if (!prot(c))
		return raise_exc(c, VEC_UD, false, 0);
	if (need_cpl0(c))
		return SOFT_EXC;
	uint64_t v, d, hi = 0;
	if (op_read(c, i, 0, &v))
		return SOFT_EXC;
	uint16_t sel = (uint16_t)v;
	struct seg *dst = tr ? &c->sys.tr : &c->sys.ldtr;
	if ((sel & ~3) == 0) {
		if (tr)
			return raise_exc(c, VEC_GP, true, 0);
		*dst = (struct seg){ .sel = sel, .unusable = 1 };
		return SOFT_OK;
	}
	if (sel & 4)
		return raise_exc(c, VEC_GP, true, sel & 0xfffc);
	if (soft_read_desc(c, sel, &d))
		return SOFT_EXC;
	bool lm = c->sys.efer & EFER_LMA;
	if (lm) {
		if ((uint32_t)(sel & ~7u) + 15 > c->sys.gdt.limit)
			return raise_exc(c, VEC_GP, true, sel & 0xfffc);
		if (soft_sys_read(c, c->sys.gdt.base + (sel & ~7u) + 8, 8, &hi))
			return SOFT_EXC;
	}
	struct seg n;
	soft_desc_to_seg(d, sel, &n);
	unsigned type = SEG_ATTR_TYPE(n.attr);
	bool ok = tr ? (type == 9 || (!lm && type == 1)) : type == 2;
	if ((n.attr & SEG_ATTR_S) || !ok)
		return raise_exc(c, VEC_GP, true, sel & 0xfffc);
	if (!(n.attr & SEG_ATTR_P))
		return raise_exc(c, VEC_NP, true, sel & 0xfffc);
	if (lm) {
		n.base |= (hi & 0xffffffffull) << 32;
		if (!canonical(n.base))
			return raise_exc(c, VEC_GP, true, sel & 0xfffc);
	}
	if (tr) { /* mark it busy */
		if (soft_sys_write(c, c->sys.gdt.base + (sel & ~7u) + 5, 1, ((d >> 40) & 0xff) | 2))
			return SOFT_EXC;
		n.attr |= 2;
	}
	*dst = n;
	return SOFT_OK;
}

/* LAR/LSL/VERR/VERW: is sel visible at this privilege (SDM vol. 2A, LAR/LSL)? */
static int check_sel(struct soft_cpu *c, const struct sinsn *i, unsigned op)
{
	if (!prot(c))
		return raise_exc(c, VEC_UD, false, 0);
	uint64_t v, d;
	unsigned src = (op == SM_LAR || op == SM_LSL) ? 1 : 0;
	if (op_read(c, i, src, &v))
		return SOFT_EXC;
	uint16_t sel = (uint16_t)v;
	bool ok = false;
	struct seg s = {0};
	uint32_t limit = (sel & 4) ? c->sys.ldtr.limit : c->sys.gdt.limit;
	bool in_table = (sel & ~3) && !((sel & 4) && c->sys.ldtr.unusable) &&
	                (uint32_t)(sel & ~7u) + 7 <= limit;
	if (in_table) {
		if (soft_read_desc(c, sel, &d))
			return SOFT_EXC;
		soft_desc_to_seg(d, sel, &s);
		unsigned type = SEG_ATTR_TYPE(s.attr), dpl = SEG_ATTR_DPL(s.attr);
		bool code = (s.attr & SEG_ATTR_S) && (type & 8);
		bool conforming = code && (type & 4);
		bool priv = conforming || (dpl >= c->cpl && dpl >= (sel & 3u));
		if (!(s.attr & SEG_ATTR_S)) {
			bool lm = c->sys.efer & EFER_LMA;
			switch (type) {
			case 2: case 9: case 11: ok = true; break;
			case 1: case 3: ok = !lm; break;
			case 12: ok = op == SM_LAR; break;
			case 4: case 5: ok = op == SM_LAR && !lm; break;
			default: ok = false; break;
			}
			ok = ok && (op == SM_LAR || op == SM_LSL);
		} else if (op == SM_VERR) {
			ok = !code || (type & 2);
		} else if (op == SM_VERW) {
			ok = !code && (type & 2);
		} else {
			ok = true;
		}
		ok = ok && priv;
	}
	if (ok && op == SM_LAR)
		reg_set(c, i->o[0].reg, i->o[0].size, (d >> 32) & 0x00f0ff00ull);
	else if (ok && op == SM_LSL)
		reg_set(c, i->o[0].reg, i->o[0].size, s.limit);
	flags_update(c, FL_ZF, ok ? FL_ZF : 0);
	return SOFT_OK;
}

static int pusha(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	uint64_t sp = c->gpr[R_RSP];
	for (unsigned r = 0; r < 8; r++) {
		uint64_t v = reg_get(c, r, sz);
		if (r == R_RSP)
			v = sp & sz_mask(sz);
		if (stack_write(c, sp_at(c, -(int64_t)(sz * (r + 1))), sz, v))
			return SOFT_EXC;
	}
	set_sp(c, sp - 8 * sz);
	return SOFT_OK;
}

static int popa(struct soft_cpu *c, const struct sinsn *i)
{
	unsigned sz = i->opsz;
	uint64_t v[8];
	for (unsigned r = 0; r < 8; r++)
		if (stack_read(c, sp_at(c, (int64_t)(sz * (7 - r))), sz, &v[r]))
			return SOFT_EXC;
	for (unsigned r = 0; r < 8; r++)
		if (r != R_RSP)
			reg_set(c, r, sz, v[r]);
	set_sp(c, c->gpr[R_RSP] + 8 * sz);
	return SOFT_OK;
}

int h_sysmisc(struct soft_cpu *c, const struct sinsn *i)
{
	struct soft_sys *y = &c->sys;
	unsigned iopl = (unsigned)((c->rflags & FL_IOPL) >> 12);
	uint64_t v;

	switch (i->op) {
	case SM_HLT:
		if (need_cpl0(c))
			return SOFT_EXC;
		c->rip = c->next_rip;
		y->halted = true;
		y->shadow = 0;   /* HLT was the shadowed instruction (STI; HLT) or it is stale */
		y->exit_kind = SOFT_EXIT_HLT;
		return SOFT_EXIT;
	case SM_CLI:
	case SM_STI:
		if (((y->cr0 & CR0_PE) && c->cpl > iopl) || ((c->rflags & FL_VM) && iopl < 3))
			return raise_exc(c, VEC_GP, true, 0);
		if (i->op == SM_STI && !(c->rflags & FL_IF))
			y->shadow = 1;
		if (i->op == SM_STI)
			c->rflags |= FL_IF;
		else
			c->rflags &= ~FL_IF;
		return SOFT_OK;
	case SM_CPUID: {
		uint32_t out[4] = {0};
		if (y->cpuid)
			cpuid_query(y->cpuid, (uint32_t)c->gpr[R_RAX], (uint32_t)c->gpr[R_RCX], out);
		c->gpr[R_RAX] = out[0];
		c->gpr[R_RBX] = out[1];
		c->gpr[R_RCX] = out[2];
		c->gpr[R_RDX] = out[3];
		return SOFT_OK;
	}
	case SM_RDTSC:
	case SM_RDTSCP:
		if ((y->cr4 & CR4_TSD) && c->cpl)
			return raise_exc(c, VEC_GP, true, 0);
		v = soft_rdtsc(c);
		c->gpr[R_RAX] = (uint32_t)v;
		c->gpr[R_RDX] = v >> 32;
		if (i->op == SM_RDTSCP)
			c->gpr[R_RCX] = (uint32_t)y->tsc_aux;
		return SOFT_OK;
	case SM_RDMSR:
		if (need_cpl0(c) || soft_rdmsr(c, (uint32_t)c->gpr[R_RCX], &v))
			return SOFT_EXC;
		c->gpr[R_RAX] = (uint32_t)v;
		c->gpr[R_RDX] = v >> 32;
		return SOFT_OK;
	case SM_WRMSR:
		if (need_cpl0(c))
			return SOFT_EXC;
		return soft_wrmsr(c, (uint32_t)c->gpr[R_RCX],
		                  (uint32_t)c->gpr[R_RAX] | (c->gpr[R_RDX] << 32));
	case SM_CLTS:
		if (need_cpl0(c))
			return SOFT_EXC;
		y->cr0 &= ~CR0_TS;
		return SOFT_OK;
	case SM_INVLPG:
		if (need_cpl0(c))
			return SOFT_EXC;
		/* The page holding the address, whatever its size (SDM vol. 3A 4.10.4.1). No
		 * segment checks; a non-canonical address is a no-op. */
		soft_tlb_flush_page(c, ea(c, i));
		return SOFT_OK;
	case SM_WBINVD:
		return need_cpl0(c);
	case SM_HYPERCALL:
		/* VMCALL (Intel) and VMMCALL (AMD) alike: the engine's para-virtual interface
		 * (a guest at CPL > 0 gets its error code there, not a fault), else #UD. */
		if (!y->plat || !y->plat->hypercall)
			return h_ud(c, i);
		return y->plat->hypercall(c);
	case SM_NOP:
		return SOFT_OK;
	case SM_SWAPGS:
		if (need_cpl0(c))
			return SOFT_EXC;
		v = y->seg[S_GS].base;
		y->seg[S_GS].base = y->kernel_gs_base;
		y->kernel_gs_base = v;
		soft_sys_update_mode(c);
		return SOFT_OK;
	case SM_LMSW:
		if (need_cpl0(c) || op_read(c, i, 0, &v))
			return SOFT_EXC;
		/* Only PE, MP, EM, TS; PE cannot be cleared. */
		return soft_write_cr(c, 0, (y->cr0 & ~0xeull) | (v & 0xf) | (y->cr0 & CR0_PE));
	case SM_SMSW:
		return op_write(c, i, 0, y->cr0 & sz_mask(i->o[0].size));
	case SM_LLDT:
		return load_sysseg(c, i, false);
	case SM_LTR:
		return load_sysseg(c, i, true);
	case SM_SLDT:
	case SM_STR:
		if (!prot(c))
			return raise_exc(c, VEC_UD, false, 0);
		return op_write(c, i, 0, i->op == SM_SLDT ? y->ldtr.sel : y->tr.sel);
	case SM_LAR:
	case SM_LSL:
	case SM_VERR:
	case SM_VERW:
		return check_sel(c, i, i->op);
	case SM_PUSHA:
		return pusha(c, i);
	case SM_POPA:
		return popa(c, i);
	default:
		return raise_exc(c, VEC_UD, false, 0);
	}
}

/* Flat code/data segments loaded by the fast system calls. */
static struct seg flat_seg(uint16_t sel, unsigned dpl, bool code, bool l)
{
	uint16_t attr = (uint16_t)((code ? 0xb : 0x3) | SEG_ATTR_S | (dpl << 5) | SEG_ATTR_P | SEG_ATTR_G);
	if (l)
		attr |= SEG_ATTR_L;
	else
		attr |= SEG_ATTR_DB;
	return (struct seg){ .sel = sel, .base = 0, .limit = 0xffffffff, .attr = attr };
}

int h_fastsys(struct soft_cpu *c, const struct sinsn *i)
{
	struct soft_sys *y = &c->sys;
	bool m64 = y->mode == SOFT_MODE64, lm = y->efer & EFER_LMA;
	uint64_t fl = flags_get(c);

	switch (i->op) {
	case FS_SYSCALL: {
		/* Intel: only in 64-bit mode. */
		if (!(y->efer & EFER_SCE) || !m64)
			return raise_exc(c, VEC_UD, false, 0);
		uint16_t sel = (uint16_t)(y->star >> 32) & 0xfffc;
		c->gpr[R_RCX] = c->next_rip;
		c->gpr[R_R11] = fl & ~FL_RF;
		y->seg[S_CS] = flat_seg(sel, 0, true, true);
		y->seg[S_SS] = flat_seg((uint16_t)(sel + 8), 0, false, false);
		flags_update(c, ~0ull, (fl & ~y->sfmask & ~FL_RF) | FL_1);
		c->next_rip = y->lstar;
		soft_set_cpl(c, 0);
		soft_sys_update_mode(c);
		return SOFT_OK;
	}
	case FS_SYSRET: {
		if (!(y->efer & EFER_SCE) || !m64)
			return raise_exc(c, VEC_UD, false, 0);
		if (c->cpl)
			return raise_exc(c, VEC_GP, true, 0);
		uint16_t base = (uint16_t)(y->star >> 48);
		bool to64 = i->opsz == 8;
		uint64_t rip = to64 ? c->gpr[R_RCX] : (uint32_t)c->gpr[R_RCX];
		if (to64 && !canonical(rip))
			return raise_exc(c, VEC_GP, true, 0);
		y->seg[S_CS] = flat_seg((uint16_t)((to64 ? base + 16 : base) | 3), 3, true, to64);
		y->seg[S_SS] = flat_seg((uint16_t)((base + 8) | 3), 3, false, false);
		flags_update(c, ~0ull, (c->gpr[R_R11] & 0x3c7fd7ull) | FL_1);
		c->next_rip = rip;
		soft_set_cpl(c, 3);
		soft_sys_update_mode(c);
		return SOFT_OK;
	}
	case FS_SYSENTER: {
		uint16_t sel = (uint16_t)y->sysenter_cs & 0xfffc;
		if (!(y->cr0 & CR0_PE) || sel == 0)
			return raise_exc(c, VEC_GP, true, 0);
		y->seg[S_CS] = flat_seg(sel, 0, true, lm);
		y->seg[S_SS] = flat_seg((uint16_t)(sel + 8), 0, false, false);
		flags_update(c, FL_VM | FL_IF | FL_RF, 0);
		c->next_rip = lm ? y->sysenter_eip : (uint32_t)y->sysenter_eip;
		c->gpr[R_RSP] = lm ? y->sysenter_esp : (uint32_t)y->sysenter_esp;
		soft_set_cpl(c, 0);
		soft_sys_update_mode(c);
		return SOFT_OK;
	}
	default: { /* SYSEXIT */
		uint16_t sel = (uint16_t)y->sysenter_cs & 0xfffc;
		if (!(y->cr0 & CR0_PE) || sel == 0 || c->cpl)
			return raise_exc(c, VEC_GP, true, 0);
		bool to64 = i->opsz == 8;
		uint64_t rip = to64 ? c->gpr[R_RDX] : (uint32_t)c->gpr[R_RDX];
		uint64_t rsp = to64 ? c->gpr[R_RCX] : (uint32_t)c->gpr[R_RCX];
		if (to64 && (!canonical(rip) || !canonical(rsp)))
			return raise_exc(c, VEC_GP, true, 0);
		uint16_t cs = (uint16_t)(sel + (to64 ? 32 : 16));
		y->seg[S_CS] = flat_seg(cs | 3, 3, true, to64);
		y->seg[S_SS] = flat_seg((uint16_t)((cs + 8) | 3), 3, false, false);
		c->next_rip = rip;
		c->gpr[R_RSP] = rsp;
		soft_set_cpl(c, 3);
		soft_sys_update_mode(c);
		return SOFT_OK;
	}
	}
}

void soft_flush_tlb_all(struct soft_cpu *c)
{
	soft_tlb_flush(c);
}
