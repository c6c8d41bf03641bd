/* pit.S: the i8254 PIT as Linux's TSC calibration uses it (counter 2 gated through
 * port 0x61, OUT polled in port 0x61 bit 5), in 32-bit protected mode. Prints:
 *     counter 2 out via port 0x61: ok   (mode 0, 10 ms: OUT low at first, then high)
 *     counter 2 latch counts down: ok   (two latched reads)
 *     read-back status: ok              (lsb/msb, mode 0, binary)
 *     all ok
 * and exits with status 99.
 *
 * Built with IDLE=1 (idle.bin) it is the idle-host-CPU measurement guest instead: PIC
 * vectors at 0x20, PIT counter 0 at 100 Hz (mode 2), then `sti; hlt` until 500 timer
 * interrupts (5 s) have come, then "idle: 500 ticks" and status 99. Run it under `time`:
 * the host CPU time it takes is what an idle guest costs.
 */
	.include "common.inc"

	.set CODE32, 0x08
	.set DATA32, 0x10
	.set PIT_CH0, 0x40
	.set PIT_CH2, 0x42
	.set PIT_CMD, 0x43
	.set PORTB, 0x61
	.set COUNT_10MS, 11932

	.code32
_start:
	cli
	mov $stack_top, %esp
	mov $msg_title, %esi
	call puts32
	lgdt gdtr
	ljmp $CODE32, $1f
1:	mov $DATA32, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss

	/* counter 2, mode 0, 10 ms, gate on, speaker off; OUT low until the count ends */
	inb $PORTB, %al
	and $~0x02, %al
	or $0x01, %al
	outb %al, $PORTB
	mov $0xb0, %al
	outb %al, $PIT_CMD
	mov $(COUNT_10MS & 0xff), %al
	outb %al, $PIT_CH2
	mov $(COUNT_10MS >> 8), %al
	outb %al, $PIT_CH2
	inb $PORTB, %al
	test $0x20, %al
	jnz 2f
	mov $100000000, %ecx
1:	inb $PORTB, %al
	test $0x20, %al
	jnz 3f
	loop 1b
2:	or $1, %ecx	/* ZF = 0: fail */
	jmp 4f
3:	xor %ecx, %ecx
4:	mov $msg_out2, %esi
	call check32

	/* latch twice, some port reads apart: the count went down */
	mov $0xb0, %al
	outb %al, $PIT_CMD
	mov $0xff, %al
	outb %al, $PIT_CH2
	outb %al, $PIT_CH2
	call latch2
	mov %eax, %ebx
	mov $2000, %ecx
1:	inb $PORTB, %al
	loop 1b
	call latch2
	cmp %ebx, %eax
	jae 1f
	xor %ecx, %ecx
1:	mov $msg_latch, %esi
	call check32

	/* read-back, status only, counter 2: RW = lsb/msb, mode 0, binary */
	mov $0xe8, %al
	outb %al, $PIT_CMD
	inb $PIT_CH2, %al
	and $0x3f, %al
	cmp $0x30, %al
	mov $msg_status, %esi
	call check32

	.ifdef IDLE
	jmp idle
	.endif
	jmp finish32

/* EAX = counter 2's latched count */
latch2:
	mov $0x80, %al
	outb %al, $PIT_CMD
	inb $PIT_CH2, %al
	movzbl %al, %edx
	inb $PIT_CH2, %al
	movzbl %al, %eax
	shl $8, %eax
	or %edx, %eax
	ret

	.ifdef IDLE
idle:
	/* IDT: vectors 0-31 unexpected, 32 the timer */
	xor %ecx, %ecx
1:	mov $bad, %eax
	cmp $32, %ecx
	jne 2f
	mov $tick, %eax
2:	mov %eax, %edx
	and $0xffff, %eax
	or $(CODE32 << 16), %eax
	and $0xffff0000, %edx
	or $0x8e00, %edx
	mov %eax, idt(,%ecx,8)
	mov %edx, idt + 4(,%ecx,8)
	inc %ecx
	cmp $33, %ecx
	jb 1b
	lidt idtr
	/* 8259 pair: master at 0x20 (only IRQ 0 unmasked), slave at 0x28 (masked) */
	mov $0x11, %al
	outb %al, $0x20
	outb %al, $0xa0
	mov $0x20, %al
	outb %al, $0x21
	mov $0x28, %al
	outb %al, $0xa1
	mov $0x04, %al
	outb %al, $0x21
	mov $0x02, %al
	outb %al, $0xa1
	mov $0x01, %al
	outb %al, $0x21
	outb %al, $0xa1
	mov $0xfe, %al
	outb %al, $0x21
	mov $0xff, %al
	outb %al, $0xa1
	/* counter 0: mode 2, 100 Hz */
	mov $0x34, %al
	outb %al, $PIT_CMD
	mov $(COUNT_10MS & 0xff), %al
	outb %al, $PIT_CH0
	mov $(COUNT_10MS >> 8), %al
	outb %al, $PIT_CH0
1:	sti
	hlt
	cmpl $500, ticks
	jb 1b
	cli
	mov $msg_idle, %esi
	call puts32
	jmp finish32

tick:
	incl ticks
	push %eax
	mov $0x20, %al		/* non-specific EOI */
	outb %al, $0x20
	pop %eax
	iret

bad:
	mov $msg_bad, %esi
	call puts32
	mov $EXIT_EXC, %al
	outb %al, $DEBUG_EXIT
	cli
	hlt

	.balign 4
ticks:	.long 0
	.endif

	.balign 16
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08 code32 */
	.quad 0x00cf92000000ffff	/* 0x10 data */
gdt_end:
gdtr:
	.word gdt_end - gdt - 1
	.long gdt
idtr:
	.word 33 * 8 - 1
	.long idt

msg_title:	.asciz "trivisor guest: pit\n"
msg_out2:	.asciz "counter 2 out via port 0x61"
msg_latch:	.asciz "counter 2 latch counts down"
msg_status:	.asciz "read-back status"
msg_idle:	.asciz "idle: 500 ticks\n"
msg_bad:	.asciz "unexpected exception\n"

	.bss
	.balign 4096
idt:	.skip 33 * 8
	.balign 16
	.skip 8192
stack_top:
