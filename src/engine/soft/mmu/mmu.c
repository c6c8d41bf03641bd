/* Paging for the software CPU (Intel SDM vol. 3A chapter 4): the soft_mem_ops
 * translate() behind the CPU's TLB, over the core's guest memory slots. 32-bit paging
 * (4 KiB and, with CR4.PSE, 4 MiB pages), PAE paging (4 KiB, 2 MiB) and 4-level paging
 * (4 KiB, 2 MiB, 1 GiB); U/S, R/W with CR0.WP, NX with EFER.NXE, reserved bits, and the
 * accessed/dirty flags. Physical addresses outside RAM are MMIO: every access goes to
 * the core as an EXIT_MMIO exit, counted like the kvm engine's. */
#include <string.h>

#include "core/mem.h"
#include "core/vm.h"
#include "engine/soft/cpu.h"
#include "engine/soft/sys/sys.h"

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_G (1ull << 8)
#define PTE_NX (1ull << 63)

#define PF_P 1u
#define PF_W 2u
#define PF_U 4u
#define PF_RSVD 8u
#define PF_I 16u

#define MAXPHY 40
#define PHYS_MASK (((1ull << MAXPHY) - 1) & ~0xfffull)
/* Bits 51:MAXPHY of a 64-bit entry are reserved. */
#define RSVD_HIGH (((1ull << 52) - 1) & ~((1ull << MAXPHY) - 1))

struct walk {
	struct guest_mem *m;
	void *ent[4];      /* host pointers of the entries used, for A/D updates */
	bool wide[4];      /* 8-byte entry */
	unsigned n;
};

static int read_entry(struct walk *w, uint64_t pa, bool wide, uint64_t *v)
{
	void *p = mem_ptr(w->m, pa, wide ? 8 : 4);
	if (!p) {
		*v = 0; /* page tables outside RAM read as not present */
		return 0;
	}
	if (wide)
		*v = __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
	else
		*v = __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED);
	w->ent[w->n] = p;
	w->wide[w->n] = wide;
	w->n++;
	return 0;
}

static void set_bits(struct walk *w, unsigned k, uint64_t bits)
{
	if (w->wide[k])
		__atomic_fetch_or((uint64_t *)w->ent[k], bits, __ATOMIC_RELAXED);
	else
		__atomic_fetch_or((uint32_t *)w->ent[k], (uint32_t)bits, __ATOMIC_RELAXED);
}

static int pf(struct soft_fault *f, uint64_t la, uint32_t err)
{
	f->vector = VEC_PF;
	f->has_err = true;
	f->err = err;
	f->cr2 = la;
	return -1;
}

/* The walk of la through the paging structures of the current mode: the leaf entry,
 * the rights every level grants, NX and the page's size. 0, or -1 with f set (#PF with
 * err's access bits, for a not-present or reserved-bit entry). No A/D updates. */
struct leaf {
	uint64_t e, allow, nx, page_mask;
};

static int walk(const struct soft_sys *y, struct walk *w, uint64_t la, uint32_t err,
                struct leaf *out, struct soft_fault *f)
{
	bool nxe = y->efer & EFER_NXE;
	uint64_t nx_rsvd = nxe ? 0 : PTE_NX;
	uint64_t allow = PTE_RW | PTE_US, nx = 0, e, page_mask;

	if (y->efer & EFER_LMA) {
		uint64_t table = y->cr3 & PHYS_MASK;
		static const unsigned shift[4] = { 39, 30, 21, 12 };
		unsigned lvl;
		for (lvl = 0; lvl < 4; lvl++) {
			read_entry(w, table + ((la >> shift[lvl]) & 511) * 8, true, &e);
			if (!(e & PTE_P))
				return pf(f, la, err);
			uint64_t rsvd = RSVD_HIGH | nx_rsvd;
			if (lvl == 0 && (e & PTE_PS))
				rsvd |= PTE_PS;
			if ((lvl == 1 || lvl == 2) && (e & PTE_PS))
				rsvd |= ((1ull << shift[lvl]) - 1) & ~0x1fffull; /* bits 29/20:13 */
			if (e & rsvd)
				return pf(f, la, err | PF_P | PF_RSVD);
			allow &= e;
			nx |= e & PTE_NX;
			if ((lvl == 1 || lvl == 2) && (e & PTE_PS))
				break;
			table = e & PHYS_MASK;
		}
		if (lvl == 4)
			lvl = 3;
		page_mask = (1ull << shift[lvl]) - 1;
	} else if (y->cr4 & CR4_PAE) {
		/* The PDPTEs were loaded by MOV CR3 (or CR0/CR4) and have no accessed flag. */
		uint64_t pdpte = y->pdpte[(la >> 30) & 3];
		if (!(pdpte & PTE_P))
			return pf(f, la, err);
		if (pdpte & (RSVD_HIGH | PTE_NX | 0x1e6ull))
			return pf(f, la, err | PF_P | PF_RSVD);
		uint64_t table = pdpte & PHYS_MASK;
		read_entry(w, table + ((la >> 21) & 511) * 8, true, &e);
		if (!(e & PTE_P))
			return pf(f, la, err);
		if (e & (RSVD_HIGH | nx_rsvd | ((e & PTE_PS) ? 0x1fe000ull : 0)))
			return pf(f, la, err | PF_P | PF_RSVD);
		allow &= e;
		nx |= e & PTE_NX;
		page_mask = 0x1fffff;
		if (!(e & PTE_PS)) {
			read_entry(w, (e & PHYS_MASK) + ((la >> 12) & 511) * 8, true, &e);
			if (!(e & PTE_P))
				return pf(f, la, err);
			if (e & (RSVD_HIGH | nx_rsvd))
				return pf(f, la, err | PF_P | PF_RSVD);
			allow &= e;
			nx |= e & PTE_NX;
			page_mask = 0xfff;
		}
	} else {
		read_entry(w, (y->cr3 & 0xfffff000u) + ((la >> 22) & 1023) * 4, false, &e);
		if (!(e & PTE_P))
			return pf(f, la, err);
		allow &= e;
		page_mask = 0x3fffff;
		if ((e & PTE_PS) && (y->cr4 & CR4_PSE)) {
			if (e & 0x3fe000ull) /* bits 21:13 (no PSE-36) */
				return pf(f, la, err | PF_P | PF_RSVD);
			e &= 0xffc00000ull | 0xfff;
		} else {
			read_entry(w, (e & 0xfffff000u) + ((la >> 12) & 1023) * 4, false, &e);
			if (!(e & PTE_P))
				return pf(f, la, err);
			allow &= e;
			page_mask = 0xfff;
		}
	}
	*out = (struct leaf){ e, allow, nxe ? nx : 0, page_mask };
	return 0;
}

static uint64_t leaf_pa(const struct soft_sys *y, const struct leaf *l, uint64_t la)
{
	uint64_t pa = ((l->e & PHYS_MASK) & ~l->page_mask) | (la & l->page_mask);
	if (!(y->efer & EFER_LMA) && !(y->cr4 & CR4_PAE))
		pa &= 0xffffffffull;
	return pa;
}

static int translate(void *opaque, uint64_t la, enum soft_acc acc, unsigned cpl,
                     uint64_t *pa_out, uint8_t **host, struct soft_fault *f)
{
	struct soft_mmu_ctx *x = opaque;
	struct soft_cpu *c = x->cpu;
	const struct soft_sys *y = &c->sys;
	struct walk w = { .m = &x->vm->mem };
	uint64_t pa;

	int xl = 0;
	if (!(y->cr0 & CR0_PG)) {
		pa = la & y->la_mask;
		goto phys;
	}

	bool user = cpl == 3, write = acc == SOFT_ACC_WRITE, fetch = acc == SOFT_ACC_FETCH;
	uint32_t err = (write ? PF_W : 0) | (user ? PF_U : 0) |
	               (fetch && (y->efer & EFER_NXE) ? PF_I : 0);
	struct leaf l;
	if (walk(y, &w, la, err, &l, f))
		return -1;

	/* Access rights (SDM vol. 3A 4.6): no SMEP/SMAP on this CPU. */
	if (user && !(l.allow & PTE_US))
		return pf(f, la, err | PF_P);
	if (write && !(l.allow & PTE_RW) && (user || (y->cr0 & CR0_WP)))
		return pf(f, la, err | PF_P);
	if (fetch && l.nx)
		return pf(f, la, err | PF_P);

	for (unsigned k = 0; k < w.n; k++)
		set_bits(&w, k, (k == w.n - 1 && write) ? PTE_A | PTE_D : PTE_A);
	/* What the TLB keeps (SDM vol. 3A 4.10.2.2): the combined rights, G of the leaf. */
	xl = (l.allow & PTE_US ? 0 : SOFT_XL_SUPER) | (l.allow & PTE_RW ? 0 : SOFT_XL_RO);
	if ((l.e & PTE_G) && (y->cr4 & CR4_PGE))
		xl |= SOFT_XL_GLOBAL;
	if (l.page_mask != 0xfff)
		xl |= (__builtin_ctzll(l.page_mask + 1)) << 8;
	pa = leaf_pa(y, &l, la);

phys:
	*pa_out = pa;
	/* ROM is readable and executable; a write to it goes to the bus, which drops it. */
	*host = acc == SOFT_ACC_WRITE ? mem_ptr(w.m, pa & ~0xfffull, 0x1000) :
	                                (uint8_t *)mem_ptr_ro(w.m, pa & ~0xfffull, 0x1000);
	if (*host)
		*host += pa & 0xfff;
	return xl;
}

int soft_mmu_query(void *opaque, uint64_t la, uint64_t *pa, unsigned *rights)
{
	struct soft_mmu_ctx *x = opaque;
	const struct soft_sys *y = &x->cpu->sys;
	struct walk w = { .m = &x->vm->mem };
	struct soft_fault f;
	struct leaf l;
	if (!(y->cr0 & CR0_PG) || walk(y, &w, la, 0, &l, &f))
		return -1;
	/* What hardware does when it caches a translation: accessed, at every level. */
	for (unsigned k = 0; k < w.n; k++)
		set_bits(&w, k, PTE_A);
	*pa = leaf_pa(y, &l, la);
	*rights = (l.allow & PTE_US ? SOFT_Q_USER : 0) | (l.allow & PTE_RW ? SOFT_Q_WRITE : 0) |
	          (l.nx ? 0 : SOFT_Q_EXEC) | (l.e & PTE_D ? SOFT_Q_DIRTY : 0);
	return 0;
}

static void mmio(struct soft_mmu_ctx *x, uint64_t pa, uint8_t *buf, unsigned len, bool write)
{
	/* The local APIC page belongs to this CPU, not to the bus. */
	const struct soft_platform *p = x->cpu->sys.plat;
	if (p && p->mmio(x->cpu, pa, buf, len, write) == 0)
		return;
	struct vm_exit e = { .reason = EXIT_MMIO };
	e.mmio.gpa = pa;
	e.mmio.size = (uint8_t)len;
	e.mmio.is_write = write;
	e.mmio.data = buf;
	/* The core counts and dispatches it exactly as a kvm MMIO exit; an unclaimed read
	 * gives all ones (the bus). A stop request kicks the vCPU, seen at the next block. */
	vm_handle_exit(x->vm, x->vcpu, &e);
}

static void io_read(void *opaque, uint64_t pa, void *dst, unsigned len)
{
	uint8_t buf[8];
	memset(buf, 0xff, sizeof(buf));
	mmio(opaque, pa, buf, len, false);
	memcpy(dst, buf, len);
}

static void io_write(void *opaque, uint64_t pa, const void *src, unsigned len)
{
	uint8_t buf[8] = {0};
	memcpy(buf, src, len);
	mmio(opaque, pa, buf, len, true);
}

int soft_mmu_read_phys(void *opaque, uint64_t pa, void *dst, unsigned len)
{
	struct soft_mmu_ctx *x = opaque;
	const void *p = mem_ptr_ro(&x->vm->mem, pa, len);
	if (!p)
		return -1;
	memcpy(dst, p, len);
	return 0;
}

const struct soft_mem_ops soft_mmu_ops = { translate, io_read, io_write };
