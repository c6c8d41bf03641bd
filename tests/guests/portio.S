/* portio.S: port I/O (Intel SDM vol. 1 chapter 19) against the UART's scratch register
 * (COM1 + 7 = 0x3ff), in 32-bit protected mode. Prints:
 *     out/in byte: ok
 *     rep outsb: ok             (8 bytes; the register keeps the last; RSI/RCX advanced)
 *     rep insb: ok              (4 bytes read back; RDI/RCX advanced)
 *     rep outsb backwards: ok   (DF = 1)
 *     rep count zero: ok        (ECX = 0: no access)
 *     outsb without rep: ok
 *     all ok
 * and exits with status 99.
 */
	.include "common.inc"
	.set SCR, 0x3ff

	.code32
_start:
	cli
	mov $stack_top, %esp
	mov $msg_title, %esi
	call puts32
	cld

	mov $SCR, %dx
	mov $0x5a, %al
	outb %al, %dx
	xor %eax, %eax
	inb %dx, %al
	cmp $0x5a, %eax
	mov $msg_outin, %esi
	call check32

	mov $buf, %esi
	mov $8, %ecx
	rep outsb
	mov %esi, %ebx
	inb %dx, %al
	cmp $'H', %al
	jne 1f
	cmp $(buf + 8), %ebx
	jne 1f
	test %ecx, %ecx
1:	mov $msg_outs, %esi
	call check32

	mov $dst, %edi
	mov $4, %ecx
	rep insb
	cmpl $0x48484848, dst
	jne 1f
	cmp $(dst + 4), %edi
	jne 1f
	test %ecx, %ecx
1:	mov $msg_ins, %esi
	call check32

	mov $(buf + 7), %esi
	mov $8, %ecx
	std
	rep outsb
	cld
	mov %esi, %ebx
	inb %dx, %al
	cmp $'A', %al
	jne 1f
	cmp $(buf - 1), %ebx
1:	mov $msg_back, %esi
	call check32

	mov $0x11, %al
	outb %al, %dx
	mov $buf, %esi
	xor %ecx, %ecx
	rep outsb
	mov %esi, %ebx
	inb %dx, %al
	cmp $0x11, %al
	jne 1f
	cmp $buf, %ebx
1:	mov $msg_zero, %esi
	call check32

	mov $(buf + 2), %esi
	outsb
	mov %esi, %ebx
	inb %dx, %al
	cmp $'C', %al
	jne 1f
	cmp $(buf + 3), %ebx
1:	mov $msg_single, %esi
	call check32
	jmp finish32

buf:		.ascii "ABCDEFGH"
msg_title:	.asciz "trivisor guest: portio\n"
msg_outin:	.asciz "out/in byte"
msg_outs:	.asciz "rep outsb"
msg_ins:	.asciz "rep insb"
msg_back:	.asciz "rep outsb backwards"
msg_zero:	.asciz "rep count zero"
msg_single:	.asciz "outsb without rep"

	.bss
	.balign 16
dst:	.skip 16
	.skip 4096
stack_top:
