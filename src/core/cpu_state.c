/* A vCPU's architectural state in a snapshot stream (see cpu_state.h, snap.h). */
#include "cpu_state.h"

static void put_seg(struct snap_writer *w, const struct seg *s)
{
	snap_put_u16(w, s->sel);
	snap_put_u64(w, s->base);
	snap_put_u32(w, s->limit);
	snap_put_u16(w, s->attr);
	snap_put_u8(w, s->unusable);
}

static void get_seg(struct snap_reader *r, struct seg *s)
{
	s->sel = snap_get_u16(r);
	s->base = snap_get_u64(r);
	s->limit = snap_get_u32(r);
	s->attr = snap_get_u16(r);
	s->unusable = snap_get_bool(r);
}

void cpu_state_save(struct snap_writer *w, const struct cpu_state *s)
{
	for (unsigned i = 0; i < R__COUNT; i++)
		snap_put_u64(w, s->gpr[i]);
	snap_put_u64(w, s->rip);
	snap_put_u64(w, s->rflags);
	for (unsigned i = 0; i < S__COUNT; i++)
		put_seg(w, &s->seg[i]);
	put_seg(w, &s->tr);
	put_seg(w, &s->ldtr);
	snap_put_u64(w, s->gdt.base);
	snap_put_u16(w, s->gdt.limit);
	snap_put_u64(w, s->idt.base);
	snap_put_u16(w, s->idt.limit);
	snap_put_u64(w, s->cr0);
	snap_put_u64(w, s->cr2);
	snap_put_u64(w, s->cr3);
	snap_put_u64(w, s->cr4);
	snap_put_u64(w, s->cr8);
	snap_put_u64(w, s->efer);
	snap_put_u64(w, s->apic_base);
}

int cpu_state_load(struct snap_reader *r, struct cpu_state *s)
{
	*s = (struct cpu_state){ 0 };
	for (unsigned i = 0; i < R__COUNT; i++)
		s->gpr[i] = snap_get_u64(r);
	s->rip = snap_get_u64(r);
	s->rflags = snap_get_u64(r);
	for (unsigned i = 0; i < S__COUNT; i++)
		get_seg(r, &s->seg[i]);
	get_seg(r, &s->tr);
	get_seg(r, &s->ldtr);
	s->gdt.base = snap_get_u64(r);
	s->gdt.limit = snap_get_u16(r);
	s->idt.base = snap_get_u64(r);
	s->idt.limit = snap_get_u16(r);
	s->cr0 = snap_get_u64(r);
	s->cr2 = snap_get_u64(r);
	s->cr3 = snap_get_u64(r);
	s->cr4 = snap_get_u64(r);
	s->cr8 = snap_get_u64(r);
	s->efer = snap_get_u64(r);
	s->apic_base = snap_get_u64(r);
	/* The engines' set_state validates what it installs (a guest could have written
	 * most of these itself); the stream only has to be whole. */
	return snap_status(r);
}
