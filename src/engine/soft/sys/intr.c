/* Interrupt and exception delivery (Intel SDM vol. 3A chapter 6): the real-mode IVT,
 * protected-mode IDT gates (16/32-bit interrupt and trap gates, stack switch through
 * the TSS), IA-32e mode 64-bit gates (IST, 16-byte stack alignment), error codes, the
 * double-fault rules, triple fault, and the single-step trap. Delivery computes everything and writes the new
 * stack frame before changing any register, so a fault during delivery leaves the CPU
 * as it was (the double-fault logic then decides what happens). */
#include "engine/soft/mmu/mem.h"
#include "engine/soft/sys/ops_sys.h"
#include "engine/soft/sys/sys.h"

#define GATE_TASK 0x5
#define GATE_INT16 0x6
#define GATE_TRAP16 0x7
#define GATE_INT32 0xe
#define GATE_TRAP32 0xf

/* The CS descriptor a gate or far transfer targets: SOFT_OK with the cached form. */
static int code_desc(struct soft_cpu *c, uint16_t sel, uint32_t ext, struct seg *out, uint64_t *raw)
{
	if ((sel & ~3) == 0)
		return raise_exc(c, VEC_GP, true, ext);
	if (soft_read_desc(c, sel, raw)) {
		c->fault.err |= ext;
		return SOFT_EXC;
	}
	soft_desc_to_seg(*raw, sel, out);
	if (!(out->attr & SEG_ATTR_S) || !(SEG_ATTR_TYPE(out->attr) & 8))
		return raise_exc(c, VEC_GP, true, (sel & 0xfffc) | ext);
	return SOFT_OK;
}

static bool fault_class(unsigned vec)
{
	switch (vec) {
	case VEC_DE: case VEC_BR: case VEC_UD: case VEC_NM: case VEC_TS: case VEC_NP:
	case VEC_SS: case VEC_GP: case VEC_PF: case VEC_MF: case VEC_AC: case VEC_XM:
		return true;
	default:
		return false;
	}
}

/* Write a frame of n values (v[0] pushed first) below sp; sz bytes each. */
static int push_frame(struct soft_cpu *c, uint64_t ss_base, uint64_t sp, uint64_t sp_mask,
                      unsigned sz, const uint64_t *v, unsigned n, uint64_t *new_sp)
{
	uint64_t la_mask = (c->sys.efer & EFER_LMA) ? ~0ull : 0xffffffffull;
	for (unsigned k = 0; k < n; k++) {
		sp = (sp - sz) & sp_mask;
		if (mem_write(c, (ss_base + sp) & la_mask, sz, v[k], MF_SS))
			return SOFT_EXC;
	}
	*new_sp = sp;
	return SOFT_OK;
}

static int deliver_real(struct soft_cpu *c, unsigned vec, uint64_t ret_rip)
{
	struct soft_sys *y = &c->sys;
	uint64_t ent;
	if (vec * 4 + 3 > y->idt.limit)
		return raise_exc(c, VEC_GP, true, vec * 8 + 2);
	if (soft_sys_read(c, y->idt.base + vec * 4, 4, &ent))
		return SOFT_EXC;
	uint64_t fl = flags_get(c);
	uint64_t frame[3] = { fl & 0xffff, y->seg[S_CS].sel, ret_rip & 0xffff }, sp;
	if (push_frame(c, y->seg[S_SS].base, c->gpr[R_RSP], y->sp_mask, 2, frame, 3, &sp))
		return SOFT_EXC;
	c->gpr[R_RSP] = (c->gpr[R_RSP] & ~y->sp_mask) | sp;
	flags_update(c, FL_IF | FL_TF | FL_AC | FL_RF, 0);
	uint16_t sel = (uint16_t)(ent >> 16);
	y->seg[S_CS].sel = sel;
	y->seg[S_CS].base = (uint64_t)sel << 4;
	c->rip = ent & 0xffff;
	soft_sys_update_mode(c);
	return SOFT_OK;
}

static int deliver_prot(struct soft_cpu *c, unsigned vec, bool has_err, uint32_t err, bool soft,
                        uint64_t ret_rip, uint64_t pushed_flags)
{
	struct soft_sys *y = &c->sys;
	bool lm = y->efer & EFER_LMA;
	uint32_t ext = soft ? 0 : 1, idt_err = vec * 8 + 2 + ext;
	unsigned gsz = lm ? 16 : 8;
	uint64_t g, g_hi = 0;

	if (vec * gsz + gsz - 1 > y->idt.limit)
		return raise_exc(c, VEC_GP, true, idt_err);
	if (soft_sys_read(c, y->idt.base + vec * gsz, 8, &g))
		return SOFT_EXC;
	if (lm && soft_sys_read(c, y->idt.base + vec * gsz + 8, 8, &g_hi))
		return SOFT_EXC;
	unsigned type = (g >> 40) & 0x1f, dpl = (g >> 45) & 3;
	bool ok = lm ? (type == GATE_INT32 || type == GATE_TRAP32)
	             : (type == GATE_INT16 || type == GATE_TRAP16 || type == GATE_INT32 || type == GATE_TRAP32);
	if (!ok) /* TODO: task gates (hardware task switching) are not implemented */
		return raise_exc(c, VEC_GP, true, idt_err);
	if (soft && dpl < c->cpl)
		return raise_exc(c, VEC_GP, true, idt_err);
	if (!(g & (1ull << 47)))
		return raise_exc(c, VEC_NP, true, idt_err);

	uint16_t sel = (uint16_t)(g >> 16);
	uint64_t target = (g & 0xffff) | ((g >> 32) & 0xffff0000ull);
	if (lm)
		target |= (g_hi & 0xffffffffull) << 32;
	else if (type == GATE_INT16 || type == GATE_TRAP16)
		target &= 0xffff;
	struct seg cs;
	uint64_t raw;
	if (code_desc(c, sel, ext, &cs, &raw))
		return SOFT_EXC;
	unsigned cdpl = SEG_ATTR_DPL(cs.attr), cpl = c->cpl;
	bool conforming = SEG_ATTR_TYPE(cs.attr) & 4;
	if (cdpl > cpl)
		return raise_exc(c, VEC_GP, true, (sel & 0xfffc) | ext);
	if (lm && (!(cs.attr & SEG_ATTR_L) || (cs.attr & SEG_ATTR_DB)))
		return raise_exc(c, VEC_GP, true, (sel & 0xfffc) | ext);
	if (!(cs.attr & SEG_ATTR_P))
		return raise_exc(c, VEC_NP, true, (sel & 0xfffc) | ext);
	unsigned ncpl = conforming ? cpl : cdpl;
	if (lm && !canonical(target))
		return raise_exc(c, VEC_GP, true, 0);

	uint64_t old_ss = y->seg[S_SS].sel, old_sp = c->gpr[R_RSP], sp, sp_mask, ss_base;
	struct seg nss = y->seg[S_SS];
	bool switch_stack = ncpl < cpl;
	unsigned ist = lm ? (unsigned)((g >> 32) & 7) : 0;
	unsigned psz = lm ? 8 : (type & 8) ? 4 : 2;

	if (lm) {
		if (ist) {
			if (soft_sys_read(c, y->tr.base + 0x24 + (ist - 1) * 8, 8, &sp))
				return SOFT_EXC;
		} else if (switch_stack) {
			if (soft_sys_read(c, y->tr.base + 4 + ncpl * 8, 8, &sp))
				return SOFT_EXC;
		} else {
			sp = old_sp;
		}
		if (switch_stack)
			nss = (struct seg){ .sel = (uint16_t)ncpl, .unusable = 1,
			                    .attr = (uint16_t)((ncpl << 5) | SEG_ATTR_DB) };
		sp &= ~0xfull;
		sp_mask = ~0ull;
		ss_base = 0;
	} else if (switch_stack) {
		bool tss32 = (SEG_ATTR_TYPE(y->tr.attr) & 8) != 0;
		uint64_t nsp, nssel;
		unsigned off = tss32 ? 4 + ncpl * 8 : 2 + ncpl * 4;
		if (soft_sys_read(c, y->tr.base + off, tss32 ? 4 : 2, &nsp) ||
		    soft_sys_read(c, y->tr.base + off + (tss32 ? 4 : 2), 2, &nssel))
			return SOFT_EXC;
		uint64_t sd;
		if ((nssel & ~3) == 0)
			return raise_exc(c, VEC_TS, true, ext);
		if (soft_read_desc(c, (uint16_t)nssel, &sd)) {
			c->fault.vector = VEC_TS;
			return SOFT_EXC;
		}
		soft_desc_to_seg(sd, (uint16_t)nssel, &nss);
		unsigned st = SEG_ATTR_TYPE(nss.attr);
		if ((nssel & 3) != ncpl || SEG_ATTR_DPL(nss.attr) != ncpl || !(nss.attr & SEG_ATTR_S) ||
		    (st & 8) || !(st & 2))
			return raise_exc(c, VEC_TS, true, (uint32_t)(nssel & 0xfffc) | ext);
		if (!(nss.attr & SEG_ATTR_P))
			return raise_exc(c, VEC_SS, true, (uint32_t)(nssel & 0xfffc) | ext);
		sp_mask = (nss.attr & SEG_ATTR_DB) ? 0xffffffffull : 0xffffull;
		sp = nsp & sp_mask;
		ss_base = (uint32_t)nss.base;
	} else {
		sp = old_sp;
		sp_mask = y->sp_mask;
		ss_base = c->seg_base[S_SS];
	}

	uint64_t frame[6];
	unsigned n = 0;
	if (lm || switch_stack) {
		frame[n++] = old_ss;
		frame[n++] = old_sp;
	}
	frame[n++] = pushed_flags;
	frame[n++] = y->seg[S_CS].sel;
	frame[n++] = ret_rip;
	if (has_err)
		frame[n++] = err;
	if (psz == 2)
		for (unsigned k = 0; k < n; k++)
			frame[k] &= 0xffff;

	/* Write the frame at the handler's privilege level. */
	unsigned old_cpl = c->cpl;
	soft_set_cpl(c, ncpl);
	uint64_t nsp;
	if (push_frame(c, ss_base, sp, sp_mask, psz, frame, n, &nsp)) {
		soft_set_cpl(c, old_cpl);
		return SOFT_EXC;
	}
	soft_set_cpl(c, old_cpl);

	/* Commit. */
	soft_desc_set_accessed(c, sel, raw);
	cs.attr |= 1;
	cs.sel = (uint16_t)((sel & 0xfffc) | ncpl);
	y->seg[S_CS] = cs;
	if (switch_stack || (lm && ist)) {
		if (switch_stack)
			y->seg[S_SS] = nss;
		c->gpr[R_RSP] = nsp;
	} else {
		c->gpr[R_RSP] = (old_sp & ~sp_mask) | nsp;
	}
	uint64_t clear = FL_TF | FL_NT | FL_RF | FL_VM;
	if (!(type & 1))
		clear |= FL_IF; /* interrupt gate */
	flags_update(c, clear, 0);
	c->rip = target;
	soft_set_cpl(c, ncpl);
	soft_sys_update_mode(c);
	return SOFT_OK;
}

int soft_deliver(struct soft_cpu *c, unsigned vec, bool has_err, uint32_t err, bool soft)
{
	uint64_t ret_rip = c->rip;
	if (!(c->sys.cr0 & CR0_PE))
		return deliver_real(c, vec, ret_rip);
	uint64_t fl = flags_get(c);
	if (!soft && fault_class(vec))
		fl |= FL_RF;
	return deliver_prot(c, vec, has_err, err, soft, ret_rip, fl);
}

static bool contributory(unsigned v)
{
	return v == VEC_DE || v == VEC_TS || v == VEC_NP || v == VEC_SS || v == VEC_GP;
}

int soft_deliver_fault(struct soft_cpu *c)
{
	struct soft_fault f = c->fault;
	bool soft = f.vector == VEC_BP || f.vector == VEC_OF; /* INT3 / INTO: traps, rip after */
	if (!(c->sys.cr0 & CR0_PE))
		f.has_err = false; /* real mode pushes no error codes */
	for (int depth = 0; depth < 4; depth++) {
		if (f.vector == VEC_PF)
			c->sys.cr2 = f.cr2;
		if (soft_deliver(c, f.vector, f.has_err, f.err, soft) == SOFT_OK)
			return 0;
		struct soft_fault s = c->fault;
		if (soft) {
			/* The trap's own delivery failed: the fault belongs to the instruction. */
			c->rip -= 1;
			soft = false;
			f = s;
			continue;
		}
		if (f.vector == VEC_DF)
			return 1; /* triple fault */
		if ((contributory(f.vector) && contributory(s.vector)) ||
		    (f.vector == VEC_PF && (s.vector == VEC_PF || contributory(s.vector)))) {
			f = (struct soft_fault){ .vector = VEC_DF, .has_err = true, .err = 0 };
			if (s.vector == VEC_PF)
				c->sys.cr2 = s.cr2;
		} else {
			f = s; /* benign: handled serially */
		}
		if (!(c->sys.cr0 & CR0_PE))
			f.has_err = false;
	}
	return 1;
}

/* ---- single-step (SDM vol. 3A 17.3.1.4) ---- */

void soft_single_step_trap(struct soft_cpu *c)
{
	c->sys.dr[6] |= 1ull << 14; /* DR6.BS; the other bits stay as they were */
	raise_exc(c, VEC_DB, false, 0);
}

bool soft_single_step(struct soft_cpu *c, const struct sinsn *i, int r)
{
	switch (r) {
	case SOFT_EXC:   /* the fault is delivered instead */
	case SOFT_YIELD: /* REP not finished: the trap follows its last iteration */
		return false;
	case SOFT_EXIT:  /* IN/OUT/HLT finish in the engine: trap on the next run */
		c->sys.db_pending = true;
		return false;
	default:
		break;
	}
	/* A delivered INT n/INTO/INT1 clears TF and enters its handler without a trap;
	 * INTO with OF = 0 delivers nothing and is stepped like any instruction. */
	if (i->fn == h_int && !(c->rflags & FL_TF))
		return false;
	/* MOV SS and POP SS hold the trap until after the next instruction. */
	if ((i->fn == h_mov_to_sreg || i->fn == h_pop_sreg) && i->imm2 == S_SS)
		return false;
	soft_single_step_trap(c);
	return true;
}
