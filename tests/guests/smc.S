/* smc.S: self-modifying code (Intel SDM vol. 3A 8.1.3), 32-bit protected mode, paging
 * off. Prints:
 *     patch next instruction: ok    (a store into the very next instruction)
 *     rewrite in a loop: ok         (1000 rounds: patch an immediate, call it, sum)
 *     copy and run: ok              (code copied to a data page, run, replaced, run)
 *     cross-page instruction: ok    (an instruction straddling two pages, patched on
 *                                    the second page)
 *     all ok
 * and exits with status 99.
 */
	.include "common.inc"

	.code32
_start:
	cli
	mov $stack_top, %esp
	mov $msg_title, %esi
	call puts32

	movb $0x42, 1f + 1		/* patch the immediate of the next instruction */
1:	mov $0, %al
	cmp $0x42, %al
	mov $msg_next, %esi
	call check32

	xor %ebx, %ebx			/* sum */
	mov $1, %ecx
2:	mov %ecx, patched + 1		/* mov $imm32, %eax: the immediate */
	call patched
	add %eax, %ebx
	inc %ecx
	cmp $1000, %ecx
	jbe 2b
	cmp $500500, %ebx
	mov $msg_loop, %esi
	call check32

	mov $fn_a, %esi
	mov $scratch, %edi
	mov $(fn_a_end - fn_a), %ecx
	cld
	rep movsb
	call scratch
	mov %eax, %ebx
	mov $fn_b, %esi
	mov $scratch, %edi
	mov $(fn_b_end - fn_b), %ecx
	rep movsb
	call scratch
	cmp $0x1234, %ebx
	jne 3f
	cmp $0x5678, %eax
3:	mov $msg_copy, %esi
	call check32

	/* mov $imm32, %eax ; ret starting 2 bytes before a page end */
	mov $(cross_page - 2), %edi
	movb $0xb8, (%edi)
	movl $0x11111111, 1(%edi)
	movb $0xc3, 5(%edi)
	call *%edi
	mov %eax, %ebx
	movw $0x2222, cross_page + 1	/* the immediate's top half, on the second page */
	call *%edi
	cmp $0x11111111, %ebx
	jne 4f
	cmp $0x22221111, %eax
4:	mov $msg_cross, %esi
	call check32
	jmp finish32

patched:
	mov $0, %eax
	ret
fn_a:	mov $0x1234, %eax
	ret
fn_a_end:
fn_b:	mov $0x5678, %eax
	ret
fn_b_end:

msg_title:	.asciz "trivisor guest: smc\n"
msg_next:	.asciz "patch next instruction"
msg_loop:	.asciz "rewrite in a loop"
msg_copy:	.asciz "copy and run"
msg_cross:	.asciz "cross-page instruction"

	.bss
	.balign 4096
scratch:	.skip 4096
cross_page:	.skip 4096
	.skip 4096
stack_top:
