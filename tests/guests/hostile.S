/* hostile.S: guests that misbehave, for tests/integration/test_robustness.py. One source,
 * built once per behaviour with --defsym (tests/guests/meson.build); each prints its
 * name line on COM1 first, so a test knows the guest got that far:
 *
 *   TRIPLE=1   "hostile: triple": loads an empty IDT and executes INT3. The #BP, then
 *              the #GP for the missing gate, then the double fault all find no gate: a
 *              triple fault (trivisor exits 4).
 *   SPIN=1     "hostile: spin": CLI, then an endless JMP to itself. Only Ctrl-A x or a
 *              signal ends it.
 *   HALT=1     "hostile: halt": CLI, then HLT forever: nothing can wake the CPU.
 *   GARBAGE=1  "hostile: garbage": writes pseudo-random values to the platform's
 *              devices (PIC, PIT, CMOS, UART, PCI configuration through 0xcf8/0xcfc and
 *              ECAM, the IOAPIC with its redirection entries masked, fw_cfg, the
 *              virtio-mmio windows, unclaimed ports; not the ports that end the VM on
 *              purpose: 0x64 reset, 0xf4 debug exit, the ACPI PM1 block), reads garbage
 *              back, then re-programs the UART, prints "hostile: survived" and exits
 *              through 0xf4 (status 99). Interrupts stay off throughout.
 *   STORM=1    "hostile: storm": an interrupt storm that never ends. An IDT whose
 *              handlers only count and EOI; the PIC remapped to 0x20 with every IRQ
 *              unmasked and reaching the CPU through LINT0 (ExtINT); the PIT's
 *              counter 0 in mode 2 at its fastest rate (count 2); the local APIC (xAPIC
 *              MMIO) enabled with its timer periodic every 10 us; then, interrupts on,
 *              self-IPIs through the ICR in a tight loop.
 *   FLOOD=1    "hostile: flood": an I/O flood that never ends, interrupts off. Sweeps
 *              every port 0-0xffff over and over, an OUT of a random value and
 *              width (1, 2 or 4 bytes) then an IN of that width, except where the
 *              access would touch a port that ends the VM on purpose (0x64 reset,
 *              0xf4-0xf7 debug exit, 0xcf9 reset control, the ACPI PM1/timer block
 *              0x600-0x60b); fw_cfg, its DMA registers included, gets the garbage too.
 *              After one port in eight, a random write and a read in the IOAPIC (its
 *              redirection entries kept masked), LAPIC (its LVT entries kept masked
 *              and ICR writes fixed delivery: no NMI, INIT or SMI) or ECAM window.
 * STORM and FLOOD print a progress line about twice a second (by the TSC), "storm: ipi
 * <n> pic <n> timer <n>" (interrupts taken so far, hex) or "flood: ports <n> mmio <n>"
 * (accesses done so far, hex); FLOOD puts the UART back in order first.
 * The pseudo-random sequences of GARBAGE (an LCG) and FLOOD (xorshift32) are fixed,
 * from SEED, printed as "seed: <hex>" (another with --defsym SEED=...), so a failure
 * reproduces. */
	.include "common.inc"		/* multiboot header, COM1, putc32/puts32 */

	.code32
puthex:				/* EAX, 8 hex digits */
	push %ecx
	push %edx
	mov %eax, %edx
	mov $8, %ecx
1:	rol $4, %edx
	mov %edx, %eax
	and $15, %eax
	movzbl hexdigits(%eax), %eax
	call putc32
	loop 1b
	pop %edx
	pop %ecx
	ret

	.ifndef SEED
	.set SEED, 0x2545f491
	.endif

/* "seed: <hex>" for the pseudo-random sequence starting at EBX. */
putseed:
	mov $msg_seed, %esi
	call puts32
	mov %ebx, %eax
	call puthex
	mov $'\n', %al
	jmp putc32

/* Park-Miller-style LCG in EBX; returns EAX = EBX after the step. */
rand:
	imul $1103515245, %ebx, %ebx
	add $12345, %ebx
	mov %ebx, %eax
	ret

/* xorshift32 in EBX (never 0); returns EAX = EBX after the step. All bits are good,
 * unlike the LCG's low ones. */
xrand:
	mov %ebx, %eax
	shl $13, %eax
	xor %eax, %ebx
	mov %ebx, %eax
	shr $17, %eax
	xor %eax, %ebx
	mov %ebx, %eax
	shl $5, %eax
	xor %eax, %ebx
	mov %ebx, %eax
	ret

/* The UART may be in any state after garbage: 8N1, divisor 1, no loopback, FIFO on. */
uart_reset:
	push %eax
	push %edx
	mov $COM1 + 3, %dx
	mov $0x80, %al			/* DLAB */
	outb %al, %dx
	mov $COM1, %dx
	mov $1, %al
	outb %al, %dx
	mov $COM1 + 1, %dx
	xor %al, %al
	outb %al, %dx
	mov $COM1 + 3, %dx
	mov $3, %al
	outb %al, %dx
	mov $COM1 + 4, %dx
	mov $3, %al			/* DTR, RTS, no loopback */
	outb %al, %dx
	mov $COM1 + 2, %dx
	mov $7, %al
	outb %al, %dx
	pop %edx
	pop %eax
	ret

/* ZF = 0 when the TSC has moved to another 2^30-cycle period since the last call (about
 * half a second at 2 GHz, the soft engine's TSC rate): time for a progress line. */
report_due:
	push %eax
	push %edx
	rdtsc
	shrd $30, %edx, %eax
	cmp last_report, %eax
	mov %eax, last_report
	pop %edx
	pop %eax
	ret

_start:
	cli
	mov $stack_top, %esp
	.ifdef TRIPLE
	mov $msg_triple, %esi
	call puts32
	lidt empty_idt
	int3
	.endif

	.ifdef SPIN
	mov $msg_spin, %esi
	call puts32
1:	jmp 1b
	.endif

	.ifdef HALT
	mov $msg_halt, %esi
	call puts32
1:	hlt
	jmp 1b
	.endif

	.ifdef STORM
	jmp storm
	.endif

	.ifdef FLOOD
	jmp flood
	.endif

	.ifdef GARBAGE
	mov $msg_garbage, %esi
	call puts32
	mov $SEED, %ebx
	call putseed

	mov $20000, %edi		/* rounds */
garbage_loop:
	call rand			/* EAX = next random value */
	mov %eax, %ecx
	shr $28, %ecx			/* which target */
	call *targets(,%ecx,4)
	dec %edi
	jnz garbage_loop

	call uart_reset
	mov $'\n', %al
	call putc32
	mov $msg_survived, %esi
	call puts32
	mov $EXIT_OK, %al
	outb %al, $DEBUG_EXIT
1:	hlt
	jmp 1b

/* Each target takes the random word in EAX (bits 28-31 chose the target). */
t_port_pic:			/* 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1 */
	mov %eax, %ecx
	and $7, %ecx
	movzwl pic_ports(,%ecx,2), %edx
	shr $8, %eax
	outb %al, %dx
	inb %dx, %al
	ret
t_port_pit:			/* 0x40-0x43, 0x61 */
	mov %eax, %ecx
	and $3, %ecx
	lea 0x40(%ecx), %edx
	test $0x100, %eax
	jz 1f
	mov $0x61, %edx
1:	shr $16, %eax
	outb %al, %dx
	inb %dx, %al
	ret
t_port_cmos:			/* 0x70, 0x71 */
	mov %eax, %edx
	and $1, %edx
	add $0x70, %edx
	shr $8, %eax
	outb %al, %dx
	inb %dx, %al
	ret
t_port_uart:			/* 0x3f8-0x3ff */
	mov %eax, %edx
	and $7, %edx
	add $COM1, %edx
	shr $8, %eax
	outb %al, %dx
	inb %dx, %al
	ret
t_pci_cf8:			/* an address, then data of any width at 0xcfc-0xcff */
	mov %eax, %ecx
	or $0x80000000, %eax
	and $0x8000fffc, %eax		/* bus 0, any device/function/register */
	mov $0xcf8, %dx
	outl %eax, %dx
	call rand
	mov %ecx, %edx
	shr $8, %edx
	and $3, %edx
	add $0xcfc, %edx
	test $0x10000, %ecx
	jz 1f
	outl %eax, %dx
	inl %dx, %eax
	ret
1:	outb %al, %dx
	inw %dx, %ax
	ret
t_ecam:				/* ECAM at 0xe0000000, bus 0 */
	mov %eax, %ecx
	and $0xffffc, %ecx
	call rand
	mov %eax, 0xe0000000(%ecx)
	mov 0xe0000000(%ecx), %eax
	ret
t_ioapic:			/* IOREGSEL then IOWIN */
	and $0xff, %eax
	mov %eax, 0xfec00000
	call rand
	or $0x10000, %eax		/* redirection entries stay masked: no NMI/INIT */
	mov %eax, 0xfec00010
	mov 0xfec00010, %eax
	ret
t_fwcfg:			/* selector 0x510, data 0x511 */
	mov $0x510, %dx
	outw %ax, %dx
	shr $16, %eax
	mov $0x511, %dx
	outb %al, %dx
	inb %dx, %al
	ret
t_virtio_mmio:			/* the windows at 0xfeb00000 + i * 0x200 */
	mov %eax, %ecx
	and $0xffc, %ecx
	call rand
	mov %eax, 0xfeb00000(%ecx)
	mov 0xfeb00000(%ecx), %eax
	ret
t_unclaimed:			/* ports nobody claims: 0x100-0x3ef */
	mov %eax, %edx
	and $0x2ff, %edx
	add $0x100, %edx
	shr $16, %eax
	outb %al, %dx
	inb %dx, %al
	ret

	.data
	.align 4
targets:
	.long t_port_pic, t_port_pit, t_port_cmos, t_port_uart
	.long t_pci_cf8, t_pci_cf8, t_ecam, t_ioapic
	.long t_fwcfg, t_virtio_mmio, t_unclaimed, t_port_pic
	.long t_port_pit, t_pci_cf8, t_ecam, t_virtio_mmio
pic_ports:
	.word 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x21, 0xa1
	.endif

	.set LAPIC, 0xfee00000
	.set LAPIC_EOI, 0xb0
	.set LAPIC_SVR, 0xf0
	.set LAPIC_ICR, 0x300
	.set LAPIC_LVT_CMCI, 0x2f0
	.set LAPIC_LVT_TIMER, 0x320
	.set LAPIC_LVT_LINT0, 0x350
	.set LAPIC_LVT_ERROR, 0x370
	.set LAPIC_TICR, 0x380
	.set LAPIC_TDCR, 0x3e0
	.set LVT_MASKED, 0x10000
	.set ICR_DELIVERY_MODE, 0x700

	.ifdef STORM
	.set VEC_PIC, 0x20		/* IRQ 0-7 at 0x20-0x27, IRQ 8-15 at 0x28-0x2f */
	.set VEC_IPI, 0x40
	.set VEC_TIMER, 0x41
	.set VEC_SPURIOUS, 0xff

	.text
storm:
	mov $msg_storm, %esi
	call puts32

	/* IDT: 32-bit interrupt gates; exceptions report and exit, the PIC's vectors,
	 * the self-IPI's and the timer's count, anything else just EOIs. */
	xor %edx, %edx
	mov %cs, %dx
	shl $16, %edx			/* EDX: the gates' selector:0 */
	xor %ecx, %ecx
1:	mov $storm_exc, %eax
	cmp $VEC_PIC, %ecx
	jb 2f
	mov $storm_pic, %eax
	cmp $VEC_PIC + 16, %ecx
	jb 2f
	mov $storm_ipi, %eax
	cmp $VEC_IPI, %ecx
	je 2f
	mov $storm_timer, %eax
	cmp $VEC_TIMER, %ecx
	je 2f
	mov $storm_other, %eax
2:	mov %eax, %esi
	and $0xffff0000, %esi
	or $0x8e00, %esi		/* present, DPL 0, 32-bit interrupt gate */
	mov %esi, idt32 + 4(,%ecx,8)
	mov %edx, %esi
	mov %ax, %si
	mov %esi, idt32(,%ecx,8)
	inc %ecx
	cmp $256, %ecx
	jb 1b
	lidt idt32_ptr

	/* PIC: ICW1-4 (edge, cascade, 8086 mode), every IRQ unmasked. */
	mov $0x11, %al
	outb %al, $0x20
	outb %al, $0xa0
	mov $VEC_PIC, %al
	outb %al, $0x21
	mov $VEC_PIC + 8, %al
	outb %al, $0xa1
	mov $4, %al
	outb %al, $0x21
	mov $2, %al
	outb %al, $0xa1
	mov $1, %al
	outb %al, $0x21
	outb %al, $0xa1
	xor %al, %al
	outb %al, $0x21
	outb %al, $0xa1

	/* Local APIC: enabled, the PIC through LINT0 (ExtINT), the timer periodic every
	 * 10 us (count 10000 at divide-by-1 of the 1 GHz bus clock that trivisor and KVM
	 * give it; KVM makes it 200 us). Not faster: at count 1000 the soft engine takes
	 * the next timer interrupt right after each IRET and the loop below never runs
	 * (the quit key still works), which tests less. */
	movl $(0x100 | VEC_SPURIOUS), LAPIC + LAPIC_SVR
	movl $0x700, LAPIC + LAPIC_LVT_LINT0
	movl $0xb, LAPIC + LAPIC_TDCR
	movl $(0x20000 | VEC_TIMER), LAPIC + LAPIC_LVT_TIMER
	movl $10000, LAPIC + LAPIC_TICR

	/* PIT counter 0: mode 2 (rate generator), count 2, the fastest it allows. */
	mov $0x34, %al
	outb %al, $0x43
	mov $2, %al
	outb %al, $0x40
	xor %al, %al
	outb %al, $0x40

	sti
storm_loop:
	movl $(0x40000 | VEC_IPI), LAPIC + LAPIC_ICR	/* fixed, edge, to self */
	call report_due
	jz storm_loop
	mov $msg_storm_ipi, %esi
	call puts32
	mov ipi_count, %eax
	call puthex
	mov $msg_storm_pic, %esi
	call puts32
	mov pic_count, %eax
	call puthex
	mov $msg_storm_timer, %esi
	call puts32
	mov timer_count, %eax
	call puthex
	mov $'\n', %al
	call putc32
	jmp storm_loop

storm_pic:
	incl pic_count
	push %eax
	mov $0x20, %al			/* non-specific EOI, slave then master */
	outb %al, $0xa0
	outb %al, $0x20
	pop %eax
	iret
storm_ipi:
	incl ipi_count
	movl $0, LAPIC + LAPIC_EOI
	iret
storm_timer:
	incl timer_count
	movl $0, LAPIC + LAPIC_EOI
	iret
storm_other:
	movl $0, LAPIC + LAPIC_EOI
	iret
storm_exc:
	mov $msg_unexpected_exc, %esi
	call puts32
	mov $EXIT_EXC, %al
	outb %al, $DEBUG_EXIT
1:	cli
	hlt
	jmp 1b

	.data
	.align 8
idt32_ptr:
	.word 256 * 8 - 1
	.long idt32
msg_storm_ipi:
	.asciz "storm: ipi "
msg_storm_pic:
	.asciz " pic "
msg_storm_timer:
	.asciz " timer "
msg_unexpected_exc:
	.asciz "hostile: unexpected exception\n"
	.bss
	.align 8
idt32:
	.space 256 * 8
ipi_count:
	.long 0
pic_count:
	.long 0
timer_count:
	.long 0
	.endif

	.ifdef FLOOD
	.text
flood:
	mov $msg_flood, %esi
	call puts32
	mov $SEED, %ebx
	call putseed
	xor %edi, %edi			/* EDI: the port */
	xor %ebp, %ebp			/* EBP: ports accessed */
flood_loop:
	call xrand
	mov %eax, %ecx
	shr $30, %ecx
	movzbl widths(%ecx), %ecx	/* ECX: 1, 2 or 4 bytes */
	call port_forbidden
	jc 4f
	mov %edi, %edx
	cmp $2, %ecx
	je 2f
	ja 3f
	outb %al, %dx
	inb %dx, %al
	jmp 5f
2:	outw %ax, %dx
	inw %dx, %ax
	jmp 5f
3:	outl %eax, %dx
	inl %dx, %eax
5:	inc %ebp
	call xrand
	test $0x70000000, %eax		/* one port in eight: */
	jnz 4f
	call flood_mmio			/* an MMIO write and read */
4:	inc %edi
	and $0xffff, %edi
	test $0xff, %edi
	jnz flood_loop
	call report_due
	jz flood_loop
	call uart_reset
	mov $msg_flood_ports, %esi
	call puts32
	mov %ebp, %eax
	call puthex
	mov $msg_flood_mmio, %esi
	call puts32
	mov mmio_count, %eax
	call puthex
	mov $'\n', %al
	call putc32
	jmp flood_loop

/* CF = 1 when an access of ECX bytes at port EDI touches a port that ends the VM.
 * Keeps EAX. */
port_forbidden:
	push %eax
	push %edx
	push %esi
	lea -1(%edi,%ecx), %edx		/* EDX: the last port touched */
	mov $forbidden_ports, %esi
1:	movzwl 2(%esi), %eax
	cmp %eax, %edi
	ja 2f				/* starts past this range */
	movzwl (%esi), %eax
	cmp %eax, %edx
	jae 3f				/* ends in or past it: overlap */
2:	add $4, %esi
	cmp $forbidden_ports_end, %esi
	jb 1b
	clc
	jmp 4f
3:	stc
4:	pop %esi
	pop %edx
	pop %eax
	ret

/* A random write, then a read, at a random dword of the IOAPIC, LAPIC or ECAM window. */
flood_mmio:
	incl mmio_count
	call xrand
	mov %eax, %ecx
	shr $30, %ecx
	jz flood_ioapic
	dec %ecx
	jz flood_lapic
	and $0xffffc, %eax		/* ECAM, bus 0 */
	mov %eax, %edx
	call xrand
	mov %eax, 0xe0000000(%edx)
	mov 0xe0000000(%edx), %eax
	ret
flood_ioapic:				/* IOREGSEL then IOWIN */
	and $0xff, %eax
	mov %eax, 0xfec00000
	call xrand
	or $0x10000, %eax		/* redirection entries stay masked */
	mov %eax, 0xfec00010
	mov 0xfec00010, %eax
	ret
flood_lapic:
	and $0xffc, %eax
	mov %eax, %edx
	call xrand
	cmp $LAPIC_ICR, %edx
	jne 1f
	and $~ICR_DELIVERY_MODE, %eax	/* fixed: pends, with interrupts off */
1:	cmp $LAPIC_LVT_CMCI, %edx
	je 2f
	cmp $LAPIC_LVT_TIMER, %edx
	jb 3f
	cmp $LAPIC_LVT_ERROR, %edx
	ja 3f
2:	or $LVT_MASKED, %eax		/* an LVT entry: masked, so never an NMI */
3:	mov %eax, LAPIC(%edx)
	mov LAPIC(%edx), %eax
	ret

	.data
widths:
	.byte 1, 2, 4, 1
	.align 2
forbidden_ports:			/* first, last */
	.word 0x64, 0x64		/* i8042 command: 0xfe pulses reset */
	.word DEBUG_EXIT, DEBUG_EXIT + 3
	.word 0xcf9, 0xcf9		/* reset control */
	.word 0x600, 0x60b		/* ACPI PM1a event, control (S5), PM timer */
forbidden_ports_end:
msg_flood_ports:
	.asciz "flood: ports "
msg_flood_mmio:
	.asciz " mmio "
	.bss
	.align 4
mmio_count:
	.long 0
	.endif

	.data
empty_idt:
	.word 0
	.long 0
hexdigits:
	.ascii "0123456789abcdef"
msg_triple:
	.asciz "hostile: triple\n"
msg_spin:
	.asciz "hostile: spin\n"
msg_halt:
	.asciz "hostile: halt\n"
msg_garbage:
	.asciz "hostile: garbage\n"
msg_storm:
	.asciz "hostile: storm\n"
msg_flood:
	.asciz "hostile: flood\n"
msg_seed:
	.asciz "seed: "
msg_survived:
	.asciz "hostile: survived\n"

/* What the guests write goes in .bss, pages of its own: a write to a page that holds
 * code makes the soft engine's translator drop that page's blocks and translate them
 * again (its code arena then fills up, 64 MiB, and is emptied, over and over). */
	.bss
	.align 4
last_report:
	.long 0
	.align 16
	.space 4096
stack_top:
