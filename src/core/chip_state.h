/* The engine-owned interrupt controllers and timer in a form that belongs to neither
 * engine (soft: hw/ioapic.c, pic.c, pit.c; kvm: KVM_GET/SET_IRQCHIP and KVM_GET/SET_PIT2),
 * so that what one engine saved loads in the other, and the streams they are written
 * in. The per-vCPU LAPIC is in core/cpu_state.h; the time rule there applies here too.
 *
 * A snapshot holds these in two places: the engine's VM stream (engine_ops.save_state:
 * struct engine_vm_state, the guest clock, the IOAPIC and the 8259A pair) and the
 * "pit" device section (struct pit_state), which the board's PIT writes under soft and
 * the kvm engine writes for KVM's in-kernel PIT, in the same format. */
#ifndef TRIVISOR_CHIP_STATE_H
#define TRIVISOR_CHIP_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "snap.h"

/* I/O APIC (82093AA). */
#define CHIP_IOAPIC_PINS 24
struct ioapic_state {
	uint8_t id;                       /* the 4-bit IOAPIC ID */
	uint8_t sel;                      /* IOREGSEL */
	uint32_t lines;                   /* bit n: input pin n is asserted */
	uint64_t rte[CHIP_IOAPIC_PINS];   /* redirection entries as IOWIN reads them
	                                   * (delivery status bit 12, remote IRR bit 14) */
};

/* One 8259A (KVM's kvm_pic_state, plus the single and LTIM modes KVM does not model). */
#define PIC_NEED_ICW4     0x001u   /* ICW1 IC4 */
#define PIC_SINGLE        0x002u   /* ICW1 SNGL: no ICW3 */
#define PIC_LTIM          0x004u   /* ICW1 LTIM: every IR level-sensitive */
#define PIC_AUTO_EOI      0x008u   /* ICW4 AEOI */
#define PIC_ROTATE_AEOI   0x010u   /* OCW2 rotate in automatic EOI mode */
#define PIC_SPECIAL_MASK  0x020u   /* OCW3 special mask mode */
#define PIC_READ_ISR      0x040u   /* OCW3: a command-port read gives ISR (else IRR) */
#define PIC_POLL          0x080u   /* OCW3 poll: the next read is the poll byte */
#define PIC_SFNM          0x100u   /* ICW4 special fully nested mode */
#define PIC_FLAGS         0x1ffu
struct pic_chip_state {
	uint8_t irr, isr, imr;
	uint8_t elcr;                     /* edge/level control (0x4d0/0x4d1) */
	uint8_t lines;                    /* input levels (KVM's last_irr) */
	uint8_t base;                     /* ICW2: vector base, bits 7-3 */
	uint8_t priority_add;             /* the IR of highest priority (rotation) */
	uint8_t init_step;                /* 0 ready; 1, 2, 3: ICW2, ICW3, ICW4 expected */
	uint16_t flags;                   /* PIC_* */
};
struct pic_state {
	struct pic_chip_state chip[2];    /* master (0x20), slave (0xa0) */
};

/* What an engine owns VM-wide: engine_ops.save_state's stream. */
struct engine_vm_state {
	uint64_t clock_ns;                /* the guest clock: kvm-clock's time, ns */
	uint32_t tsc_khz;                 /* the guest's TSC frequency */
	struct ioapic_state ioapic;
	struct pic_state pic;
};

/* The 8254 PIT and port 0x61 (KVM's kvm_pit_state2, plus what KVM does not model:
 * a counter waiting for its count, gated off or with a new count due at the end of its
 * period). KVM restarts each counter from its full count at load; the soft PIT goes on
 * from elapsed_ns. */
#define PIT_RW_LSB 1
#define PIT_RW_MSB 2
#define PIT_RW_WORD0 3                    /* word access, the LSB next */
#define PIT_RW_WORD1 4                    /* word access, the MSB next */
/* The largest count a counter holds: 65536 in binary; in BCD 10000, or up to 16665
 * (0xffff read as 15*1000 + 15*100 + 15*10 + 15) after a guest wrote digits above 9,
 * which the counter counts down like any other. */
#define PIT_COUNT_MAX 65536u
#define PIT_BCD_COUNT_MAX 16665u
struct pit_channel_state {
	uint32_t count;                   /* the count in effect, 1..0x10000 (0: none yet) */
	uint16_t latched_count;
	uint8_t count_latched;            /* 0, or the PIT_RW_* state of reading the latch */
	bool status_latched;
	uint8_t status;
	uint8_t read_state, write_state;  /* PIT_RW_*: which byte the next access takes */
	uint8_t write_latch;              /* word writes: the LSB written, the MSB to come */
	uint8_t rw_mode;                  /* control word RW: PIT_RW_LSB, _MSB, 3 = word */
	uint8_t mode;                     /* 0..5 */
	bool bcd, gate;
	uint64_t elapsed_ns;              /* counting time since the count was loaded (at a
	                                   * gate stop, the time it had counted) */
	bool loaded;                      /* a count was written since the control word */
	bool started;                     /* modes 1, 5: triggered by the gate */
	bool running;                     /* counting (not stopped by its gate) */
	bool null_count;                  /* status: the count is not in the counter yet */
	bool pending;                     /* modes 2, 3: pending_count takes effect ... */
	uint32_t pending_count;
	uint64_t pending_in_ns;           /* ... this long after the save */
};
struct pit_state {
	struct pit_channel_state ch[3];
	uint8_t port61;                   /* bit 0 counter 2 gate, 1 speaker data, 2-3 parity
	                                   * check enables, as written */
	bool out0;                        /* the level counter 0 last drove GSI 0 to */
};

void engine_vm_state_save(struct snap_writer *w, const struct engine_vm_state *s);
/* 0 or -EINVAL (message in r->e); range-checked: a state no chip could hold is refused. */
int engine_vm_state_load(struct snap_reader *r, struct engine_vm_state *s);
void pit_state_save(struct snap_writer *w, const struct pit_state *s);
int pit_state_load(struct snap_reader *r, struct pit_state *s);

#endif
