/* snapcount.S: a guest to snapshot and restore (tests/integration/test_snapshot.py), in
 * 64-bit mode. It leaves values in the devices a snapshot must keep (the UART's scratch
 * register and divisor latch, a CMOS byte, the i8042 command byte, the PCI configuration
 * address latch), then counts, printing
 *     count: N
 * for N = 1..COUNT with a busy loop between lines (the count lives in memory and in a
 * register), checking at each line that the values are still there; then
 *     devices kept: ok
 *     count kept: ok            (the register and memory copies agree, no line skipped)
 *     all ok
 * and exits with status 99. Snapshot it mid-count: restored, it goes on from where it
 * stopped, never from 1.
 */
	.set WANT_LONG, 1
	.include "common.inc"
	.ifndef COUNT
	.set COUNT, 60
	.endif
	.ifndef SPIN
	.set SPIN, 3000000
	.endif
	.set SCR, COM1 + 7
	.set LCR, COM1 + 3
	.set CMOS_INDEX, 0x70
	.set CMOS_DATA, 0x71
	.set CMOS_BYTE, 0x40		/* NVRAM: nobody else uses it */
	.set KBD_CMD, 0x64
	.set KBD_DATA, 0x60
	.set PCI_ADDR, 0xcf8

	.code32
_start:
	cli
	mov $kstack_top, %esp
	mov $msg_title, %esi
	call puts32
	jmp enter_long

	.code64
long_main:
	/* Device state to keep: SCR = 0xa5, divisor 0x0c03 (DLAB back off), CMOS 0x40 = 0x5a,
	 * i8042 command byte 0x65 (keyboard interrupt, system flag, translation, disabled
	 * mouse), the PCI address latch = bus 0 device 0 register 8. */
	mov $SCR, %dx
	mov $0xa5, %al
	outb %al, %dx
	mov $LCR, %dx
	mov $0x83, %al
	outb %al, %dx
	mov $COM1, %dx
	mov $0x03, %al
	outb %al, %dx
	mov $COM1 + 1, %dx
	mov $0x0c, %al
	outb %al, %dx
	mov $LCR, %dx
	mov $0x03, %al
	outb %al, %dx
	mov $CMOS_BYTE, %al
	outb %al, $CMOS_INDEX
	mov $0x5a, %al
	outb %al, $CMOS_DATA
	mov $0x60, %al
	outb %al, $KBD_CMD
	mov $0x65, %al
	outb %al, $KBD_DATA
	mov $PCI_ADDR, %dx
	mov $0x80000008, %eax
	outl %eax, %dx

	xor %r12, %r12			/* the count, in a register ... */
	movq $0, count			/* ... and in memory */
next:
	inc %r12
	incq count
	mov $msg_count, %esi
	call puts64
	mov %r12, %rax
	call putdec64
	mov $'\n', %al
	call putc64
	call check_devices
	jnz bad_devices
	mov $SPIN, %ecx
1:	dec %ecx
	jnz 1b
	cmp $COUNT, %r12
	jb next

	call check_devices
	mov $msg_devices, %esi
	call check64
	mov count, %rax
	cmp %rax, %r12
	mov $msg_kept, %esi
	call check64
	jmp finish64

bad_devices:
	mov $msg_devices, %esi
	call check64
	jmp finish64

/* ZF = 1 if every device still holds what long_main put there. */
check_devices:
	mov $SCR, %dx
	inb %dx, %al
	cmp $0xa5, %al
	jne 9f
	mov $LCR, %dx
	mov $0x83, %al
	outb %al, %dx
	mov $COM1, %dx
	inb %dx, %al
	mov %al, %bl
	mov $COM1 + 1, %dx
	inb %dx, %al
	mov %al, %bh
	mov $LCR, %dx
	mov $0x03, %al
	outb %al, %dx
	cmp $0x0c03, %bx
	jne 9f
	mov $CMOS_BYTE, %al
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
	cmp $0x5a, %al
	jne 9f
	mov $0x20, %al			/* read the command byte */
	outb %al, $KBD_CMD
	inb $KBD_DATA, %al
	cmp $0x65, %al
	jne 9f
	mov $PCI_ADDR, %dx
	inl %dx, %eax
	cmp $0x80000008, %eax
9:	ret

/* putdec64: RAX in decimal. */
putdec64:
	push %rax
	push %rcx
	push %rdx
	push %rdi
	lea numbuf_end(%rip), %rdi
	mov $10, %ecx
1:	xor %edx, %edx
	div %rcx
	add $'0', %dl
	dec %rdi
	mov %dl, (%rdi)
	test %rax, %rax
	jnz 1b
2:	mov (%rdi), %al
	call putc64
	inc %rdi
	lea numbuf_end(%rip), %rax
	cmp %rax, %rdi
	jb 2b
	pop %rdi
	pop %rdx
	pop %rcx
	pop %rax
	ret

	.balign 8
count:		.quad 0
numbuf:		.skip 24
numbuf_end:

msg_title:	.asciz "trivisor guest: snapcount\n"
msg_count:	.asciz "count: "
msg_devices:	.asciz "devices kept"
msg_kept:	.asciz "count kept"
