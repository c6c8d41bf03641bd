/* modes.S: processor mode switches (Intel SDM vol. 3A chapters 9-10).
 *
 * Entered by multiboot in 32-bit protected mode; goes to real mode (through 16-bit
 * protected mode), uses the real-mode IVT and segment arithmetic, returns to protected
 * mode, enters long mode (compatibility mode first, then 64-bit mode), returns to
 * compatibility mode with a far return, and leaves long mode again. Prints:
 *     protected mode: ok
 *     real mode entry: ok
 *     real mode int (IVT): ok
 *     real mode segments: ok
 *     back to protected mode: ok
 *     long mode 64-bit: ok
 *     64-bit registers: ok
 *     compatibility mode: ok
 *     compatibility decoding: ok
 *     leave long mode: ok
 *     all ok
 * and exits with status 99 (see common.inc for failures).
 */
	.set WANT_LONG, 1
	.include "common.inc"

	.set RM_BASE, 0x8000		/* the real-mode blob runs here (CS = 0x0800) */
	.set RM_RESULT, 0x7000		/* 0x7000: int flag, 0x7001..: results */

	.code32
_start:
	cli
	mov $kstack_top, %esp
	mov $msg_title, %esi
	call puts32
	mov %cr0, %eax
	and $0x80000001, %eax
	cmp $1, %eax			/* PE, no paging */
	mov $msg_pm, %esi
	call check32

	/* real mode trip: copy the blob below 64 KiB, go through 16-bit protected mode */
	mov $rm_blob, %esi
	mov $RM_BASE, %edi
	mov $(rm_blob_end - rm_blob), %ecx
	cld
	rep movsb
	movl $0, RM_RESULT
	lgdt gdt16r
	ljmp $0x08, $(rm_pm16 - rm_blob)

pm_back:				/* 32-bit again, CS = 0x18 of gdt16 */
	mov $0x20, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	mov $kstack_top, %esp
	cmpb $1, RM_RESULT + 1
	mov $msg_rm, %esi
	call check32
	cmpb $0x5a, RM_RESULT
	mov $msg_rm_int, %esi
	call check32
	cmpb $0x77, 0x7010
	mov $msg_rm_seg, %esi
	call check32
	mov %cr0, %eax
	test $1, %eax
	setnz %al
	cmp $1, %al
	mov $msg_pm_back, %esi
	call check32
	jmp enter_long

	.code64
long_main:
	mov $0xc0000080, %ecx
	rdmsr
	test $0x400, %eax		/* EFER.LMA */
	setnz %al
	mov %cs, %dx
	cmp $KCODE, %dx
	sete %dl
	and %dl, %al
	cmp $1, %al
	mov $msg_long, %esi
	call check64
	mov $0x123456789, %rax
	shr $32, %rax
	cmp $1, %rax
	mov $msg_regs, %esi
	call check64
	/* to compatibility mode with a far return */
	pushq $KCODE32
	pushq $compat
	lretq

	.code32
compat:
	mov $0xc0000080, %ecx
	rdmsr
	test $0x400, %eax		/* still LMA, now in 32-bit code */
	setnz %al
	mov %cs, %dx
	cmp $KCODE32, %dx
	sete %dl
	and %dl, %al
	cmp $1, %al
	mov $msg_compat, %esi
	call check32
	mov $5, %eax
	.byte 0x40			/* INC EAX here; a REX prefix in 64-bit mode */
	cmp $6, %eax
	mov $msg_compat_dec, %esi
	call check32
	/* leave long mode: paging off (identity mapped), then EFER.LME off */
	mov %cr0, %eax
	and $0x7fffffff, %eax
	mov %eax, %cr0
	mov $0xc0000080, %ecx
	rdmsr
	mov %eax, %ebx
	and $~0x100, %eax
	wrmsr
	test $0x400, %ebx
	mov $msg_leave, %esi
	call check32
	jmp finish32

/* ---- the real-mode blob, copied to RM_BASE ---- */
	.code16
rm_blob:
rm_pm16:				/* 16-bit protected mode, CS base RM_BASE */
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %cr0, %eax
	and $~1, %eax
	mov %eax, %cr0
	ljmp $(RM_BASE >> 4), $(rm_real - rm_blob)
rm_real:
	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $0x7c00, %sp
	mov %cr0, %eax
	test $1, %al
	jnz 1f
	movb $1, RM_RESULT + 1
1:	lidt RM_BASE + (rm_idtr - rm_blob)
	movw $(rm_int40 - rm_blob), 0x40 * 4
	movw $(RM_BASE >> 4), 0x40 * 4 + 2
	int $0x40
	mov $0x0700, %ax		/* segment arithmetic: 0x0700:0x0010 = 0x7010 */
	mov %ax, %es
	movb $0x77, %es:0x10
	xor %ax, %ax
	mov %ax, %es
	lgdtl RM_BASE + (rm_gdtr - rm_blob)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $0x18, $pm_back
rm_int40:
	movb $0x5a, RM_RESULT
	iret
rm_idtr:
	.word 0x3ff
	.long 0
rm_gdtr:
	.word gdt16_end - gdt16 - 1
	.long gdt16
rm_blob_end:

	.balign 8
gdt16:
	.quad 0
	.quad 0x00009a008000ffff	/* 0x08 code16, base RM_BASE, limit 64 KiB */
	.quad 0x000092000000ffff	/* 0x10 data16, base 0, limit 64 KiB */
	.quad 0x00cf9a000000ffff	/* 0x18 code32 flat */
	.quad 0x00cf92000000ffff	/* 0x20 data32 flat */
gdt16_end:
gdt16r:
	.word gdt16_end - gdt16 - 1
	.long gdt16

msg_title:	.asciz "trivisor guest: modes\n"
msg_pm:		.asciz "protected mode"
msg_rm:		.asciz "real mode entry"
msg_rm_int:	.asciz "real mode int (IVT)"
msg_rm_seg:	.asciz "real mode segments"
msg_pm_back:	.asciz "back to protected mode"
msg_long:	.asciz "long mode 64-bit"
msg_regs:	.asciz "64-bit registers"
msg_compat:	.asciz "compatibility mode"
msg_compat_dec:	.asciz "compatibility decoding"
msg_leave:	.asciz "leave long mode"
