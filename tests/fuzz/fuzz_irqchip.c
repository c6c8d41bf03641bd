/* The soft engine's interrupt controllers (hw/irqchip.c wiring hw/lapic.c, hw/ioapic.c
 * and hw/pic.c) for three vCPUs, driven as guests and devices drive them: the IOAPIC and
 * the 8259A pair on the VM's buses (where the soft engine puts them), each LAPIC through
 * its xAPIC page (while enabled there) and its MSRs, GSIs raised and lowered, MSIs,
 * interrupt acknowledges and EOIs as a CPU does them, LINT pins, INIT/SIPI/NMI events
 * taken (INIT resets the LAPIC, as the engine does), the PV-EOI shortcut, and time moved
 * on an injected clock (timers in every mode).
 *
 * Invariants, after every action: no LAPIC holds a vector below 16 in IRR, ISR or TMR;
 * PPR is TPR or ISR's class, whichever is higher; a timer is never left due and
 * unfired; an acknowledged LAPIC vector was the highest requested, above PPR's class,
 * not already in service, and moves from IRR to ISR; pending says the same as
 * acknowledge; an 8259A acknowledge puts at most one IR per chip in service, never one
 * already there, and the one its vector names; the PV-EOI test says "optional" only
 * for the single vector in service, edge-triggered, with nothing requested; a
 * level-sensitive 8259A IR (LTIM or ELCR) requests exactly while its line is high, an
 * edge IR never while it is low; IOAPIC entries keep reserved bits and delivery status
 * clear, remote IRR only on level entries and only set by a delivery (never by a
 * register write), and an asserted, unmasked level entry is always waiting for its EOI
 * (it was delivered); events stay within their four kinds; kicks name existing vCPUs.
 *
 * Input: actions until it ends, each an op byte (mod 12) and its operands,
 * little-endian, short input reads as zeros; cpu bytes are taken mod 3:
 *   0 LAPIC page: u8 cpu, u16 offset (mod 4 KiB), u8 (size code 1, 2, 4, 8 | write << 2),
 *     u32 value (dropped while the page is not there: disabled or x2APIC)
 *   1 LAPIC MSR: u8 cpu, u16 sel (bit 8: 0x1B, or 0x6E0 with bit 0; else 0x800 + low
 *     byte), u8 write, u64 value
 *   2 IOAPIC register: u8 index, u8 write, u32 value (IOREGSEL, then IOWIN)
 *   3 IOAPIC page: u8 offset, u8 (size code | write << 2), u32 value
 *   4 8259A: u8 (port: 0x20 0x21 0xA0 0xA1 0x4D0 0x4D1 by value mod 6 | write << 7),
 *     u8 value (byte accesses; op 11 does other widths)
 *   5 GSI: u8 gsi (mod 26), u8 level
 *   6 MSI: u32 address (bit 0 of the flags: as is, else in 0xFEE00000-0xFEEFFFFF),
 *     u8 flags (bits 4-7: address bits 32-35), u32 data
 *   7 interrupt acknowledge: u8 cpu (bit 7: then EOI, as the handler would)
 *   8 time: u32 ns, u8 shift (mod 16)
 *   9 LINT: u8 cpu, u8 (pin | level << 1)     10 take events: u8 cpu
 *   11 u8 kind: 0 PV EOI (u8 cpu, u8 vector), 1 the PIC at another width (u8 port,
 *      u8 size code, u32 value, u8 write)
 * tests/fuzz/seeds.py writes seeds in this format. */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#include "hw/irqchip.h"

#define NCPUS 3
#define CLOCK0 1000ull
#define TSC_PER_NS 3

#define RTE_DELIVS     (1ull << 12)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL      (1ull << 15)
#define RTE_MASK       (1ull << 16)
#define RTE_DEFINED    (0xff000000000000ffull | 0x1ff00ull)

enum { R_TPR = 0x08, R_PPR = 0x0a, R_EOI = 0x0b, R_ISR = 0x10, R_TMR = 0x18, R_IRR = 0x20 };

/* What the harness knows of each 8259A from the bytes written to it (its datasheet
 * state machine): the read register, poll mode, ICW2's base, auto-EOI. */
struct pic_shadow {
	unsigned step;
	bool single, icw4, ltim, aeoi, read_isr, poll;
	uint8_t base;
};

static struct vm *vm;
static struct irqchip *ic;
static uint64_t clock_ns;
static bool pin[IOAPIC_PINS];
static struct pic_shadow ps[2];
static uint64_t last_deadline[NCPUS];

static unsigned long lapic_accesses, msr_ok, msr_gp, ioapic_writes, pic_writes, gsi_changes,
	msis, msi_refused, lapic_acks, pic_acks, eois, pv_eois, timer_fires, kicks, inits,
	sipis, nmis, extints, x2apic;

static void stats(FILE *out)
{
	fprintf(out, " lapic_accesses=%lu msr_ok=%lu msr_gp=%lu ioapic_writes=%lu pic_writes=%lu"
	        " gsi_changes=%lu msis=%lu msi_refused=%lu lapic_acks=%lu pic_acks=%lu eois=%lu"
	        " pv_eois=%lu timer_fires=%lu kicks=%lu inits=%lu sipis=%lu nmis=%lu extints=%lu"
	        " x2apic=%lu",
	        lapic_accesses, msr_ok, msr_gp, ioapic_writes, pic_writes, gsi_changes, msis,
	        msi_refused, lapic_acks, pic_acks, eois, pv_eois, timer_fires, kicks, inits,
	        sipis, nmis, extints, x2apic);
}

static uint64_t now(void *o) { return clock_ns; }

static void kick(void *o, unsigned v)
{
	if (v >= NCPUS)
		fuzz_fail("kick for vCPU %u of %u", v, NCPUS);
	kicks++;
}

static uint32_t le32(const uint8_t *b)
{
	return (uint32_t)b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put32(uint8_t *b, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* The soft engine's wiring of the IOAPIC page and the PIC ports (engine_soft.c). */
static void ioapic_io(void *o, uint64_t off, uint8_t *d, unsigned sz, bool w) { ioapic_mmio(o, off, d, sz, w); }
static void pic_20(void *o, uint64_t off, uint8_t *d, unsigned sz, bool w) { pic_io(o, (uint16_t)(0x20 + off), d, sz, w); }
static void pic_a0(void *o, uint64_t off, uint8_t *d, unsigned sz, bool w) { pic_io(o, (uint16_t)(0xa0 + off), d, sz, w); }
static void pic_4d0(void *o, uint64_t off, uint8_t *d, unsigned sz, bool w) { pic_io(o, (uint16_t)(0x4d0 + off), d, sz, w); }

/* -- the 8259A, with its shadow ---------------------------------------------------------- */

static void pic_shadow_write(uint16_t port, uint8_t v)
{
	if (port != 0x20 && port != 0x21 && port != 0xa0 && port != 0xa1)
		return;
	struct pic_shadow *s = &ps[port >= 0xa0];
	if (!(port & 1)) {
		if (v & 0x10) {
			*s = (struct pic_shadow){ .step = 2, .single = v & 2, .icw4 = v & 1, .ltim = v & 8 };
		} else if (v & 0x08) {
			if (v & 4)
				s->poll = true;
			if (v & 2)
				s->read_isr = v & 1;
		}
		return;
	}
	switch (s->step) {
	case 2:
		s->base = v & 0xf8;
		s->step = s->single ? (s->icw4 ? 4 : 0) : 3;
		break;
	case 3:
		s->step = s->icw4 ? 4 : 0;
		break;
	case 4:
		s->aeoi = v & 2;
		s->step = 0;
		break;
	}
}

static void pic_out(uint16_t port, uint8_t v)
{
	pic_shadow_write(port, v);
	bus_access(&vm->pio, port, &v, 1, true);
}

static uint8_t pic_in(uint16_t port)
{
	uint8_t v = 0;
	if (port == 0x20 || port == 0x21 || port == 0xa0 || port == 0xa1)
		ps[port >= 0xa0].poll = false;
	bus_access(&vm->pio, port, &v, 1, false);
	return v;
}

/* ISR (or IRR) of chip n as the guest reads it (OCW3), its read register left as it
 * was; -1 while the chip is in poll mode (a read would be an acknowledge). */
static int pic_reg(unsigned n, bool isr)
{
	uint16_t port = n ? 0xa0 : 0x20;
	if (ps[n].poll)
		return -1;
	bool was = ps[n].read_isr;
	pic_out(port, isr ? 0x0b : 0x0a);
	int v = pic_in(port);
	if (was != isr)
		pic_out(port, was ? 0x0b : 0x0a);
	return v;
}

static int pic_isr(unsigned n) { return pic_reg(n, true); }

/* -- LAPIC registers, whatever the mode -------------------------------------------------- */

static uint32_t lreg(unsigned cpu, unsigned r)
{
	struct lapic *l = ic->lapic[cpu];
	if (lapic_x2apic(l)) {
		uint64_t v = 0;
		return lapic_msr_read(l, 0x800 + r, &v) ? 0 : (uint32_t)v;
	}
	uint8_t d[4];
	lapic_mmio(l, (uint64_t)r << 4, d, 4, false);
	return le32(d);
}

static void lvec(unsigned cpu, unsigned r, uint32_t v[8])
{
	for (unsigned i = 0; i < 8; i++)
		v[i] = lreg(cpu, r + i);
}

static int highest(const uint32_t v[8])
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

static bool bit(const uint32_t v[8], unsigned b) { return v[b / 32] >> (b % 32) & 1; }

static uint32_t ppr_of(uint32_t tpr, const uint32_t isr[8])
{
	int h = highest(isr);
	uint32_t c = h < 0 ? 0 : (uint32_t)h & 0xf0;
	return (tpr & 0xf0) >= c ? tpr & 0xff : c;
}

static void lapic_eoi_reg(unsigned cpu)
{
	struct lapic *l = ic->lapic[cpu];
	if (lapic_x2apic(l)) {
		lapic_msr_write(l, 0x80b, 0);
	} else {
		uint8_t d[4] = { 0 };
		lapic_mmio(l, R_EOI << 4, d, 4, true);
	}
	eois++;
}

/* -- IOAPIC registers ------------------------------------------------------------------- */

static uint32_t io_reg(uint8_t reg)
{
	uint8_t d[4];
	bus_access(&vm->mmio, IOAPIC_BASE_DEFAULT, &reg, 1, true);
	bus_access(&vm->mmio, IOAPIC_BASE_DEFAULT + 0x10, d, 4, false);
	return le32(d);
}

static void io_write(uint8_t reg, uint32_t v)
{
	uint8_t d[4];
	put32(d, v);
	bus_access(&vm->mmio, IOAPIC_BASE_DEFAULT, &reg, 1, true);
	bus_access(&vm->mmio, IOAPIC_BASE_DEFAULT + 0x10, d, 4, true);
}

/* -- invariants ------------------------------------------------------------------------- */

static void check_lapic(unsigned cpu)
{
	uint32_t irr[8], isr[8], tmr0 = lreg(cpu, R_TMR);
	lvec(cpu, R_IRR, irr);
	lvec(cpu, R_ISR, isr);
	if ((irr[0] | isr[0] | tmr0) & 0xffff)
		fuzz_fail("LAPIC %u: vectors below 16: IRR 0x%x ISR 0x%x TMR 0x%x", cpu, irr[0],
		          isr[0], tmr0);
	uint32_t tpr = lreg(cpu, R_TPR), ppr = lreg(cpu, R_PPR);
	if (ppr != ppr_of(tpr, isr))
		fuzz_fail("LAPIC %u: PPR 0x%x with TPR 0x%x and ISR up to %d", cpu, ppr, tpr,
		          highest(isr));
	uint64_t dl = lapic_next_timer_deadline(ic->lapic[cpu]);
	if (dl != LAPIC_NEVER && dl <= clock_ns)
		fuzz_fail("LAPIC %u: timer due at %llu ns, now %llu, not fired", cpu,
		          (unsigned long long)dl, (unsigned long long)clock_ns);
	timer_fires += last_deadline[cpu] != LAPIC_NEVER && last_deadline[cpu] <= clock_ns;
	last_deadline[cpu] = dl;
}

/* Level-sensitive IRs (LTIM or ELCR) request exactly while their line is high; an edge
 * IR never requests while its line is low. Master IR2 is the cascade. */
static void check_pic(void)
{
	for (unsigned n = 0; n < 2; n++) {
		int irr = pic_reg(n, false);
		if (irr < 0)
			continue;
		uint8_t elcr = pic_in((uint16_t)(0x4d0 + n));
		for (unsigned i = 0; i < 8; i++) {
			bool level = ps[n].ltim || (elcr >> i & 1), req = irr >> i & 1, up = pin[8 * n + i];
			if ((n == 0 && i == 2) || (up ? !level || req : !req))
				continue;
			fuzz_fail("8259A %s IR%u: %s, line %s, IRR 0x%02x (ELCR 0x%02x)",
			          n ? "slave" : "master", i, level ? "level" : "edge", up ? "up" : "down",
			          irr, elcr);
		}
	}
}

static void check_ioapic(void)
{
	static uint64_t before[IOAPIC_PINS];
	uint8_t sel;
	bus_access(&vm->mmio, IOAPIC_BASE_DEFAULT, &sel, 1, false);
	uint32_t ver = io_reg(1), id = io_reg(0);
	if (ver != (0x11 | (IOAPIC_PINS - 1) << 16) || (id & ~0x0f000000u))
		fuzz_fail("IOAPIC version 0x%x, ID 0x%x", ver, id);
	for (unsigned p = 0; p < IOAPIC_PINS; p++) {
		uint64_t r = io_reg((uint8_t)(0x10 + 2 * p)) |
		             (uint64_t)io_reg((uint8_t)(0x11 + 2 * p)) << 32;
		if (r & (~RTE_DEFINED | RTE_DELIVS))
			fuzz_fail("IOAPIC pin %u: entry 0x%llx has reserved or delivery-status bits",
			          p, (unsigned long long)r);
		if ((r & RTE_REMOTE_IRR) && !(r & RTE_LEVEL))
			fuzz_fail("IOAPIC pin %u: remote IRR on an edge entry 0x%llx", p,
			          (unsigned long long)r);
		bool fires = pin[p] && (r & (RTE_LEVEL | RTE_MASK)) == RTE_LEVEL && (r >> 8 & 7) <= 1;
		if (fires && !(r & RTE_REMOTE_IRR))
			fuzz_fail("IOAPIC pin %u: asserted level entry 0x%llx never delivered", p,
			          (unsigned long long)r);
		if ((r & RTE_REMOTE_IRR) && !(before[p] & RTE_REMOTE_IRR) && !fires)
			fuzz_fail("IOAPIC pin %u: remote IRR set (entry 0x%llx, was 0x%llx) with no delivery",
			          p, (unsigned long long)r, (unsigned long long)before[p]);
		before[p] = r;
	}
	bus_access(&vm->mmio, IOAPIC_BASE_DEFAULT, &sel, 1, true);
}

/* The IOAPIC changes only through its registers, its pins and EOI broadcasts (LAPIC
 * writes, acknowledges with EOI, PV EOIs): checked after those. */
static void check_all(unsigned op)
{
	for (unsigned c = 0; c < NCPUS; c++)
		check_lapic(c);
	if (op != 4 && op != 6 && op != 8 && op != 9 && op != 10)
		check_ioapic();
	if (op == 0 || op == 4 || op == 5 || op == 7 || op == 11)
		check_pic();
}

/* -- a CPU taking an interrupt ---------------------------------------------------------- */

static void ack_pic(bool eoi)
{
	int m0 = pic_isr(0), s0 = pic_isr(1);
	int v = irqchip_ack(ic, 0);
	int m1 = pic_isr(0), s1 = pic_isr(1);
	pic_acks++;
	if (v < 0 || v > 255)
		fuzz_fail("the 8259A gave vector %d", v);
	if (m0 >= 0 && m1 >= 0) {
		unsigned got = (unsigned)(m1 & ~m0);
		if (m0 & ~m1)
			fuzz_fail("an acknowledge took IRs 0x%x out of the master's service", m0 & ~m1);
		if (got & (got - 1))
			fuzz_fail("one acknowledge put master IRs 0x%x in service", got);
		unsigned ir = (unsigned)v & 7;
		bool master = (v & 0xf8) == ps[0].base && ps[0].base != ps[1].base &&
		              (ir != 2 || ps[0].single);
		if (master && got && got != 1u << ir)
			fuzz_fail("vector 0x%x, master IR 0x%x went in service", v, got);
		if (master && !got && !ps[0].aeoi && ir != 7)
			fuzz_fail("vector 0x%x acknowledged, master IR %u already in service (ISR 0x%x)",
			          v, ir, m0);
	}
	if (s0 >= 0 && s1 >= 0) {
		unsigned got = (unsigned)(s1 & ~s0);
		if ((s0 & ~s1) || (got & (got - 1)))
			fuzz_fail("slave ISR 0x%x -> 0x%x in one acknowledge", s0, s1);
	}
	if (eoi) {
		if ((v & 0xf8) == ps[1].base)
			pic_out(0xa0, 0x20);
		pic_out(0x20, 0x20);
		eois++;
	}
}

static void ack_lapic(unsigned cpu, bool eoi)
{
	uint32_t irr0[8], isr0[8], irr1[8], isr1[8];
	bool pending = irqchip_pending(ic, cpu);
	lvec(cpu, R_IRR, irr0);
	lvec(cpu, R_ISR, isr0);
	uint32_t ppr = lreg(cpu, R_PPR);
	int v = irqchip_ack(ic, cpu);
	if (pending != (v >= 0))
		fuzz_fail("LAPIC %u: pending %d but acknowledge gave %d", cpu, pending, v);
	if (v < 0)
		return;
	lapic_acks++;
	lvec(cpu, R_IRR, irr1);
	lvec(cpu, R_ISR, isr1);
	if (v < 16 || v > 255 || v != highest(irr0) || ((unsigned)v & 0xf0) <= (ppr & 0xf0))
		fuzz_fail("LAPIC %u: vector %d acknowledged (IRR up to %d, PPR 0x%x)", cpu, v,
		          highest(irr0), ppr);
	if (bit(isr0, (unsigned)v))
		fuzz_fail("LAPIC %u: vector %d acknowledged while in service", cpu, v);
	if (!bit(isr1, (unsigned)v) || bit(irr1, (unsigned)v))
		fuzz_fail("LAPIC %u: vector %d not moved from IRR to ISR", cpu, v);
	if (eoi)
		lapic_eoi_reg(cpu);
}

static void ack_op(uint8_t a)
{
	unsigned cpu = (a & 0x7f) % NCPUS;
	if (cpu == 0 && pic_intr(ic->pic) && lapic_lint0_extint(ic->lapic[0])) {
		if (!irqchip_pending(ic, 0))
			fuzz_fail("the 8259A's INTR reaches the CPU but nothing is pending");
		ack_pic(a & 0x80);
	} else {
		ack_lapic(cpu, a & 0x80);
	}
}

static void pv_eoi_op(unsigned cpu, uint8_t vec)
{
	struct lapic *l = ic->lapic[cpu];
	if (!lapic_eoi_optional(l, vec))
		return;
	uint32_t irr[8], isr[8], tmr[8];
	lvec(cpu, R_IRR, irr);
	lvec(cpu, R_ISR, isr);
	lvec(cpu, R_TMR, tmr);
	isr[vec / 32] &= ~(1u << (vec % 32));
	if (highest(irr) >= 0 || highest(isr) >= 0 || !(lreg(cpu, R_ISR + vec / 32) >> (vec % 32) & 1) ||
	    bit(tmr, vec))
		fuzz_fail("LAPIC %u: EOI of %u called optional (IRR up to %d, ISR %d)", cpu, vec,
		          highest(irr), highest(isr));
	lapic_eoi(l);
	pv_eois++;
}

static void events_op(unsigned cpu)
{
	uint8_t sipi;
	unsigned ev = lapic_take_events(ic->lapic[cpu], &sipi);
	if (ev & ~(LAPIC_EV_NMI | LAPIC_EV_INIT | LAPIC_EV_SIPI | LAPIC_EV_EXTINT))
		fuzz_fail("LAPIC %u: events 0x%x", cpu, ev);
	nmis += !!(ev & LAPIC_EV_NMI);
	sipis += !!(ev & LAPIC_EV_SIPI);
	extints += !!(ev & LAPIC_EV_EXTINT);
	if (ev & LAPIC_EV_INIT) {
		lapic_reset(ic->lapic[cpu]);     /* what the engine does on INIT */
		inits++;
	}
}

/* -- the input -------------------------------------------------------------------------- */

static const unsigned sizes[] = { 1, 2, 4, 8 };
static const uint16_t pic_ports[] = { 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1 };

static void setup(void)
{
	struct irqchip_ops ops = { .now_ns = now, .kick = kick, .tsc_per_ns_num = TSC_PER_NS,
	                           .tsc_per_ns_den = 1 };
	struct err e;
	if (irqchip_create(NCPUS, &ops, &ic, &e) ||
	    bus_register(&vm->mmio, IOAPIC_BASE_DEFAULT, 0x1000, ioapic_io, ic->ioapic, "IOAPIC", &e) ||
	    bus_register(&vm->pio, 0x20, 2, pic_20, ic->pic, "8259A PIC master", &e) ||
	    bus_register(&vm->pio, 0xa0, 2, pic_a0, ic->pic, "8259A PIC slave", &e) ||
	    bus_register(&vm->pio, 0x4d0, 2, pic_4d0, ic->pic, "8259A ELCR", &e))
		fuzz_fail("setup: %s", e.msg);
	fuzz_stats_at_exit(stats);
}

/* The state after power-on, whatever the last input left: LAPICs disabled and enabled
 * again through APIC_BASE, every pin low and every IOAPIC entry masked and edge, the
 * PICs initialized as Linux does, the ELCRs clear. */
static void restore(void)
{
	clock_ns = CLOCK0;
	for (unsigned c = 0; c < NCPUS; c++) {
		struct lapic *l = ic->lapic[c];
		if (lapic_msr_write(l, 0x1b, LAPIC_BASE_DEFAULT) ||
		    lapic_msr_write(l, 0x1b, LAPIC_BASE_DEFAULT | 1u << 11))
			fuzz_fail("LAPIC %u refused its reset", c);
		lapic_reset(l);
		lapic_take_events(l, NULL);
		last_deadline[c] = LAPIC_NEVER;
	}
	for (unsigned g = 0; g < IOAPIC_PINS; g++) {
		irqchip_set_irq(ic, g, false);
		pin[g] = false;
		io_write((uint8_t)(0x10 + 2 * g), (uint32_t)RTE_MASK);
		io_write((uint8_t)(0x11 + 2 * g), 0);
	}
	io_write(0, NCPUS << 24);
	pic_out(0x4d0, 0);
	pic_out(0x4d1, 0);
	static const uint8_t init[2][4] = { { 0x11, 0x30, 0x04, 0x01 }, { 0x11, 0x38, 0x02, 0x01 } };
	for (unsigned n = 0; n < 2; n++) {
		uint16_t port = n ? 0xa0 : 0x20;
		pic_out(port, init[n][0]);
		for (unsigned i = 1; i < 4; i++)
			pic_out((uint16_t)(port + 1), init[n][i]);
		pic_out((uint16_t)(port + 1), 0);
	}
	for (unsigned c = 0; c < NCPUS; c++)
		lapic_take_events(ic->lapic[c], NULL);
}

static void lapic_page_op(struct fz *f)
{
	unsigned cpu = fz_u8(f) % NCPUS;
	unsigned off = fz_u16(f) & 0xfff;
	uint8_t a = fz_u8(f), d[8] = { 0 };
	unsigned size = sizes[a & 3];
	put32(d, fz_u32(f));
	struct lapic *l = ic->lapic[cpu];
	if (!lapic_base(l) || off + size > 0x1000)
		return;          /* the page is not there: the access goes elsewhere */
	lapic_mmio(l, off, d, size, a & 4);
	lapic_accesses++;
}

static void msr_op(struct fz *f)
{
	unsigned cpu = fz_u8(f) % NCPUS;
	uint16_t sel = fz_u16(f);
	bool write = fz_u8(f) & 1;
	uint64_t v = fz_u64(f);
	uint32_t msr = sel & 0x100 ? (sel & 1 ? 0x6e0 : 0x1b) : 0x800u + (sel & 0xff);
	struct lapic *l = ic->lapic[cpu];
	bool was = lapic_x2apic(l);
	int r = write ? lapic_msr_write(l, msr, v) : lapic_msr_read(l, msr, &v);
	if (r)
		msr_gp++;
	else
		msr_ok++;
	x2apic += !was && lapic_x2apic(l);
}

static void msi_op(struct fz *f)
{
	uint32_t lo = fz_u32(f);
	uint8_t flags = fz_u8(f);
	uint32_t data = fz_u32(f);
	uint64_t addr = flags & 1 ? lo | (uint64_t)(flags >> 4) << 32 : 0xfee00000u | (lo & 0xfffff);
	bool valid = (addr & 0xfff00000u) == 0xfee00000u && !(addr >> 32);
	int r = irqchip_msi(ic, addr, data);
	if (r != (valid ? 0 : -EINVAL))
		fuzz_fail("MSI to 0x%llx returned %d", (unsigned long long)addr, r);
	msis += valid;
	msi_refused += !valid;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vm = fuzz_vm();
	if (!ic)
		setup();
	restore();
	check_all(0);

	struct fz f = { data, size };
	while (f.n) {
		unsigned op = fz_u8(&f) % 12;
		switch (op) {
		case 0:
			lapic_page_op(&f);
			break;
		case 1:
			msr_op(&f);
			break;
		case 2: {
			uint8_t reg = fz_u8(&f);
			bool write = fz_u8(&f) & 1;
			uint32_t v = fz_u32(&f);
			if (write)
				io_write(reg, v);
			else
				io_reg(reg);
			ioapic_writes += write;
			break;
		}
		case 3: {
			uint8_t off = fz_u8(&f), a = fz_u8(&f), d[8] = { 0 };
			put32(d, fz_u32(&f));
			bus_access(&vm->mmio, IOAPIC_BASE_DEFAULT + off, d, sizes[a & 3], a & 4);
			ioapic_writes += !!(a & 4);
			break;
		}
		case 4: {
			uint8_t a = fz_u8(&f), v = fz_u8(&f);
			uint16_t port = pic_ports[(a & 0x7f) % 6];
			if (a & 0x80)
				pic_out(port, v);
			else
				pic_in(port);
			pic_writes += a >> 7;
			break;
		}
		case 5: {
			unsigned g = fz_u8(&f) % (IOAPIC_PINS + 2);
			bool level = fz_u8(&f) & 1;
			irqchip_set_irq(ic, g, level);
			if (g < IOAPIC_PINS) {
				gsi_changes += pin[g] != level;
				pin[g] = level;
			}
			break;
		}
		case 6:
			msi_op(&f);
			break;
		case 7:
			ack_op(fz_u8(&f));
			break;
		case 8: {
			uint64_t d = (uint64_t)fz_u32(&f) << (fz_u8(&f) % 16);
			if (clock_ns < (1ull << 62))
				clock_ns += d;
			break;
		}
		case 9: {
			unsigned cpu = fz_u8(&f) % NCPUS;
			uint8_t a = fz_u8(&f);
			lapic_set_lint(ic->lapic[cpu], a & 1, a & 2);
			break;
		}
		case 10:
			events_op(fz_u8(&f) % NCPUS);
			break;
		case 11:
			if (fz_u8(&f) & 1) {
				uint16_t port = pic_ports[fz_u8(&f) % 6];
				uint8_t d[8] = { 0 };
				unsigned sz = sizes[fz_u8(&f) & 3];
				put32(d, fz_u32(&f));
				bool w = fz_u8(&f) & 1;
				if (sz == 1 && w)
					pic_shadow_write(port, d[0]);
				else if (sz == 1 && (port == 0x20 || port == 0x21 || port == 0xa0 || port == 0xa1))
					ps[port >= 0xa0].poll = false;
				bus_access(&vm->pio, port, d, sz, w);
			} else {
				unsigned cpu = fz_u8(&f) % NCPUS;
				pv_eoi_op(cpu, fz_u8(&f));
			}
			break;
		}
		check_all(op);
	}
	return 0;
}
