/* legacy.S: integer instructions of 16/32-bit code (Intel SDM vol. 2 instruction pages),
 * in 32-bit protected mode. Expected values are the SDM's (its DAA/DAS examples), and
 * only flags the SDM defines are compared. Prints:
 *     daa: ok                  (79+35 -> 14, CF; 38+45 -> 83)
 *     das: ok                  (35-47 -> 88, CF)
 *     aaa: ok                  (AX + 106h: a carry out of AL reaches AH)
 *     aas: ok                  (AX - 6, AH - 1)
 *     aam: ok                  (base 10 and 16)
 *     aam 0 raises #DE: ok     (a fault: EIP at AAM, AX unchanged)
 *     aad: ok
 *     bound in range: ok
 *     bound raises #BR: ok     (a fault: EIP at BOUND; above and below, 32 and 16 bit)
 *     arpl: ok                 (RPL raised, ZF; then ZF = 0)
 *     into: ok                 (#OF only with OF = 1, a trap: EIP after INTO)
 *     xlat: ok
 *     les/lds/lfs/lgs/lss: ok
 *     lss with a null selector: ok  (#GP(0))
 *     enter 32-bit: ok         (nesting level 2)
 *     enter 16-bit stack: ok   (SP wraps at 64 KiB, ESP's high half kept)
 *     mov dr: ok
 *   segment limits (SDM vol. 3A 5.3):
 *     instruction past the CS limit: ok     (#GP(0), EIP at the instruction)
 *     sgdt past the segment limit: ok       (#GP(0); one that fits works)
 *     far pointer past the segment limit: ok (LES, #GP(0))
 *     all ok
 * and exits with status 99.
 */
	.include "common.inc"

	.set CODE32, 0x08
	.set DATA32, 0x10
	.set DATA16, 0x18		/* base STACK16, limit 0xffff, B = 0: a 16-bit stack */
	.set STACK16, 0x200000
	.set CODE_LIM, 0x20		/* base 0x7000, limit 0xf: code32 */
	.set DATA_LIM, 0x28		/* base 0x7100, limit 0xf: data */
	.set FL_CF, 0x01
	.set FL_PF, 0x04
	.set FL_AF, 0x10
	.set FL_ZF, 0x40
	.set FL_SF, 0x80
	.set FL_OF, 0x800
	.set SZAPC, FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF

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
	mov %ax, %fs
	mov %ax, %gs
	/* IDT: 32 interrupt gates to stub k */
	xor %ecx, %ecx
2:	mov %ecx, %eax
	shl $4, %eax
	add $stubs, %eax
	mov %eax, %edx
	and $0xffff, %eax
	or $(CODE32 << 16), %eax
	and $0xffff0000, %edx
	or $0x8e00, %edx
	mov %eax, idt(,%ecx,8)
	mov %edx, idt + 4(,%ecx,8)
	inc %ecx
	cmp $32, %ecx
	jb 2b
	lidt idtr

	/* ---- DAA / DAS (the SDM's examples) ---- */
	mov $0x79, %al
	add $0x35, %al
	daa
	pushf
	pop %edx
	and $SZAPC, %edx
	cmp $0x14, %al
	jne 1f
	cmp $(FL_AF | FL_PF | FL_CF), %edx
	jne 1f
	mov $0x38, %al
	add $0x45, %al
	daa
	pushf
	pop %edx
	and $(FL_CF | FL_AF), %edx
	cmp $0x83, %al
	jne 1f
	cmp $FL_AF, %edx
1:	mov $msg_daa, %esi
	call check32

	mov $0x35, %al
	sub $0x47, %al
	das
	pushf
	pop %edx
	and $SZAPC, %edx
	cmp $0x88, %al
	jne 1f
	cmp $(FL_SF | FL_AF | FL_PF | FL_CF), %edx
1:	mov $msg_das, %esi
	call check32

	/* ---- AAA / AAS ---- */
	mov $0x38, %ax			/* '8' + '9' */
	add $0x39, %al
	aaa
	pushf
	pop %edx
	and $(FL_AF | FL_CF), %edx
	cmp $0x0107, %ax
	jne 1f
	cmp $(FL_AF | FL_CF), %edx
	jne 1f
	mov $0x00fa, %ax
	add $0, %al			/* AF = 0, low nibble 0xa > 9 */
	aaa
	cmp $0x0200, %ax		/* AX + 106h = 0x0200 */
	jne 1f
	mov $0x0005, %ax
	add $0x03, %al			/* 8, AF = 0: no adjustment */
	aaa
	pushf
	pop %edx
	and $(FL_AF | FL_CF), %edx
	cmp $0x0008, %ax
	jne 1f
	cmp $0, %edx
1:	mov $msg_aaa, %esi
	call check32

	mov $0x0102, %ax		/* 12 - 5 */
	sub $0x05, %al
	aas
	pushf
	pop %edx
	and $(FL_AF | FL_CF), %edx
	cmp $0x0007, %ax
	jne 1f
	cmp $(FL_AF | FL_CF), %edx
	jne 1f
	mov $0x0211, %ax		/* AF = 1 with AL = 3: AL - 6 borrows from AH */
	sub $0x0e, %al
	aas
	cmp $0x000d, %ax
1:	mov $msg_aas, %esi
	call check32

	/* ---- AAM / AAD ---- */
	mov $0x773f, %ax
	aam
	pushf
	pop %edx
	and $(FL_SF | FL_ZF | FL_PF), %edx
	cmp $0x0603, %ax
	jne 1f
	cmp $FL_PF, %edx
	jne 1f
	mov $0x003f, %ax
	.byte 0xd4, 0x10		/* aam 16 */
	cmp $0x030f, %ax
	jne 1f
	mov $0x0a00, %ax
	aam				/* AL = 0: ZF */
	pushf
	pop %edx
	and $FL_ZF, %edx
	cmp $FL_ZF, %edx
1:	mov $msg_aam, %esi
	call check32

	movl $0, last_vec
	movl $1f, resume_eip
	mov $0x1234, %ax
aam0:	.byte 0xd4, 0x00		/* aam 0 */
1:	cmpl $0, last_vec
	jne 1f
	cmpl $aam0, last_eip
	jne 1f
	cmpl $1, exc_count
	jne 1f
	cmp $0x1234, %ax
1:	mov $msg_aam0, %esi
	call check32

	mov $0x0603, %ax
	aad
	pushf
	pop %edx
	and $(FL_SF | FL_ZF | FL_PF), %edx
	cmp $0x003f, %ax
	jne 1f
	cmp $FL_PF, %edx		/* 0x3f: six bits set */
	jne 1f
	mov $0x0203, %ax
	.byte 0xd5, 0x10		/* aad 16 */
	cmp $0x0023, %ax
1:	mov $msg_aad, %esi
	call check32

	/* ---- BOUND ---- */
	movl $0, exc_count
	mov $15, %eax
	bound %eax, bounds32
	mov $10, %eax
	bound %eax, bounds32
	mov $20, %eax
	bound %eax, bounds32
	mov $-5, %ax
	boundw %ax, bounds16
	cmpl $0, exc_count
	mov $msg_bound_ok, %esi
	call check32

	movl $1f, resume_eip
	mov $21, %eax
bnd1:	bound %eax, bounds32
1:	cmpl $5, last_vec
	jne 1f
	cmpl $bnd1, last_eip
	jne 1f
	movl $2f, resume_eip
	mov $-1, %eax
bnd2:	bound %eax, bounds32
2:	cmpl $bnd2, last_eip
	jne 1f
	movl $2f, resume_eip
	mov $6, %ax
bnd3:	boundw %ax, bounds16
2:	cmpl $bnd3, last_eip
	jne 1f
	cmpl $3, exc_count
1:	mov $msg_bound_br, %esi
	call check32

	/* ---- ARPL ---- */
	mov $0x0010, %ax
	mov $0x0003, %bx
	arpl %bx, %ax
	pushf
	pop %edx
	and $FL_ZF, %edx
	cmp $FL_ZF, %edx
	jne 1f
	cmp $0x0013, %ax
	jne 1f
	movw $0x0022, sel_word
	mov $0x0001, %bx
	arpl %bx, sel_word		/* RPL 2 >= 1: unchanged, ZF = 0 */
	pushf
	pop %edx
	and $FL_ZF, %edx
	jnz 1f				/* ZF = 0 here: the check fails */
	cmpw $0x0022, sel_word
1:	mov $msg_arpl, %esi
	call check32

	/* ---- INTO ---- */
	movl $0, exc_count
	mov $1, %al
	add $1, %al			/* OF = 0 */
	into
	cmpl $0, exc_count
	jne 1f
	mov $0x7f, %al
	add $1, %al			/* OF = 1 */
	into
into_next:
	cmpl $1, exc_count
	jne 1f
	cmpl $4, last_vec
	jne 1f
	cmpl $into_next, last_eip
1:	mov $msg_into, %esi
	call check32

	/* ---- XLAT ---- */
	mov $xlat_table, %ebx
	mov $0x12345603, %eax
	xlat
	cmp $0x12345644, %eax
	mov $msg_xlat, %esi
	call check32

	/* ---- LES / LDS / LFS / LGS / LSS ---- */
	mov %esp, %ebp
	les fptr_a, %edi
	lfs fptr_b, %ecx
	lgsw fptr16, %dx
	lss fptr_stack, %esp
	mov %esp, %eax
	mov %ebp, %esp			/* back on the flat stack */
	mov %ss, %bx
	mov $DATA32, %si
	mov %si, %ss
	cmp $0x11223344, %edi
	jne 1f
	mov %es, %si
	cmp $DATA32, %si
	jne 1f
	cmp $0x55667788, %ecx
	jne 1f
	mov %fs, %si
	cmp $DATA16, %si
	jne 1f
	cmp $0x99aa, %dx
	jne 1f
	mov %gs, %si
	cmp $0, %si			/* a null selector is fine in GS */
	jne 1f
	cmp $stack_top - 64, %eax
	jne 1f
	cmp $DATA32, %bx
	jne 1f
	mov $DATA32, %si
	mov %si, %fs
	lds fptr_a, %esi
	mov %ds, %dx
	mov $DATA32, %si
	mov %si, %ds
	cmp $DATA32, %dx
1:	mov $msg_lxs, %esi
	call check32

	movl $0, exc_count
	movl $1f, resume_eip
	mov %esp, %ebp
lss0:	lss fptr_null, %esp
1:	mov %ebp, %esp
	cmpl $13, last_vec
	jne 1f
	cmpl $0, last_err
	jne 1f
	cmpl $lss0, last_eip
	jne 1f
	cmpl $1, exc_count
1:	mov $msg_lss0, %esi
	call check32

	/* ---- ENTER, 32-bit stack, nesting level 2 ---- */
	mov %esp, %edi			/* saved */
	mov $frame_top, %esp
	mov $frame_top - 32, %ebp	/* the caller's frame: [EBP-4] = display entry */
	movl $0xd15b1a7e, frame_top - 36
	enter $8, $2
	/* pushed: old EBP at T-4, [old EBP - 4] at T-8, FrameTemp (T-4) at T-12; EBP =
	 * T-4, ESP = T-12-8 */
	mov %esp, %eax
	mov %ebp, %ecx
	mov %edi, %esp
	cmp $frame_top - 20, %eax
	jne 1f
	cmp $frame_top - 4, %ecx
	jne 1f
	cmpl $frame_top - 32, frame_top - 4
	jne 1f
	cmpl $0xd15b1a7e, frame_top - 8
	jne 1f
	cmpl $frame_top - 4, frame_top - 12
1:	mov $msg_enter32, %esi
	call check32

	/* ---- ENTER, 16-bit stack: SP wraps from 0 to 0xfffe ---- */
	mov %esp, %edi
	mov $DATA16, %ax
	mov %ax, %ss
	mov $0xabcd0000, %esp		/* SP = 0 */
	mov $0x1234, %ebp
	enterw $0x10, $0		/* push BP at SS:0xfffe; BP = 0xfffe; SP = 0xffee */
	mov %esp, %eax
	mov %ebp, %ecx
	mov $DATA32, %dx
	mov %dx, %ss
	mov %edi, %esp
	cmp $0xabcdffee, %eax
	jne 1f
	cmp $0xfffe, %ecx
	jne 1f
	cmpw $0x1234, STACK16 + 0xfffe
1:	mov $msg_enter16, %esi
	call check32

	/* ---- MOV DR (stored; DR7 bit 10 reads as 1) ---- */
	mov $0x12345678, %eax
	mov %eax, %dr0
	mov %dr0, %ebx
	xor %eax, %eax
	mov %eax, %dr7
	mov %dr7, %ecx
	cmp $0x12345678, %ebx
	jne 1f
	cmp $0x400, %ecx
1:	mov $msg_dr, %esi
	call check32

	/* ---- limits: a 5-byte MOV at CS offset 0xd, CS limit 0xf ---- */
	mov $0x7000, %edi
	mov $0x90909090, %eax
	stosl
	stosl
	stosl
	stosb				/* 13 NOPs */
	movb $0xb8, (%edi)		/* mov $1, %eax */
	movl $1, 1(%edi)
	movl $0, exc_count
	movl $1f, resume_eip
	ljmp $CODE_LIM, $0
1:	cmpl $13, last_vec
	jne 1f
	cmpl $0, last_err
	jne 1f
	cmpl $0xd, last_eip
	jne 1f
	cmpl $1, exc_count
1:	mov $msg_cs_lim, %esi
	call check32

	mov $DATA_LIM, %ax
	mov %ax, %es
	movl $0, exc_count
	sgdt %es:0xa			/* 0xa..0xf: fits */
	movl $1f, resume_eip
	sgdt %es:0xc			/* 0xc..0x11: #GP(0) */
1:	cmpl $13, last_vec
	jne 1f
	cmpl $0, last_err
	jne 1f
	cmpl $1, exc_count
	jne 1f
	cmpw $(gdt_end - gdt - 1), 0x710a
1:	mov $msg_dt_lim, %esi
	call check32

	movl $0, exc_count
	movl $1f, resume_eip
	les %es:0xc, %eax		/* m16:32 at 0xc..0x11 */
1:	mov $DATA32, %dx
	mov %dx, %es
	cmpl $13, last_vec
	jne 1f
	cmpl $0, last_err
	jne 1f
	cmpl $1, exc_count
1:	mov $msg_fp_lim, %esi
	call check32
	jmp finish32

/* Exception stubs: push a zero error code where the CPU pushes none, then the vector. */
	.balign 16
stubs:
	.set vec, 0
	.rept 32
	.balign 16
	.if ((vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17))
	push $vec
	.else
	push $0
	push $vec
	.endif
	jmp exc_common
	.set vec, vec + 1
	.endr
	.balign 8

/* Stack: vector, error code, EIP, CS, EFLAGS. Record them; resume at resume_eip if
 * set (faults), else return (traps); vectors nobody expects end the guest. */
exc_common:
	push %eax
	mov 4(%esp), %eax
	mov %eax, last_vec
	mov 8(%esp), %eax
	mov %eax, last_err
	mov 12(%esp), %eax
	mov %eax, last_eip
	incl exc_count
	mov resume_eip, %eax
	test %eax, %eax
	jz 1f
	movl $0, resume_eip
	mov %eax, 12(%esp)
	movl $CODE32, 16(%esp)		/* resume in the flat code segment */
	jmp 2f
1:	cmpl $4, last_vec		/* INTO's #OF is a trap: returns after it */
	je 2f
	mov $msg_unexpected, %esi
	call puts32
	mov $EXIT_EXC, %al
	outb %al, $DEBUG_EXIT
3:	hlt
	jmp 3b
2:	pop %eax
	add $8, %esp
	iret

	.balign 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08 code32 */
	.quad 0x00cf92000000ffff	/* 0x10 data32 */
	.quad 0x000092200000ffff	/* 0x18 data16: base 0x200000, limit 0xffff, B = 0 */
	.quad 0x00409a007000000f	/* 0x20 code32: base 0x7000, limit 0xf */
	.quad 0x004092007100000f	/* 0x28 data32: base 0x7100, limit 0xf */
gdt_end:
gdtr:
	.word gdt_end - gdt - 1
	.long gdt
idtr:
	.word 32 * 8 - 1
	.long idt

	.balign 4
bounds32:	.long 10, 20
bounds16:	.word -5, 5
sel_word:	.word 0
xlat_table:	.byte 0x11, 0x22, 0x33, 0x44, 0x55
	.balign 4
fptr_a:		.long 0x11223344
		.word DATA32
	.balign 4
fptr_b:		.long 0x55667788
		.word DATA16
fptr16:		.word 0x99aa, 0
	.balign 4
fptr_stack:	.long stack_top - 64
		.word DATA32
	.balign 4
fptr_null:	.long 0
		.word 0
last_vec:	.long 0
last_err:	.long 0
last_eip:	.long 0
exc_count:	.long 0
resume_eip:	.long 0

msg_title:	.asciz "trivisor guest: legacy\n"
msg_daa:	.asciz "daa"
msg_das:	.asciz "das"
msg_aaa:	.asciz "aaa"
msg_aas:	.asciz "aas"
msg_aam:	.asciz "aam"
msg_aam0:	.asciz "aam 0 raises #DE"
msg_aad:	.asciz "aad"
msg_bound_ok:	.asciz "bound in range"
msg_bound_br:	.asciz "bound raises #BR"
msg_arpl:	.asciz "arpl"
msg_into:	.asciz "into"
msg_xlat:	.asciz "xlat"
msg_lxs:	.asciz "les/lds/lfs/lgs/lss"
msg_lss0:	.asciz "lss with a null selector"
msg_enter32:	.asciz "enter 32-bit"
msg_enter16:	.asciz "enter 16-bit stack"
msg_dr:		.asciz "mov dr"
msg_cs_lim:	.asciz "instruction past the CS limit"
msg_dt_lim:	.asciz "sgdt past the segment limit"
msg_fp_lim:	.asciz "far pointer past the segment limit"

	.bss
	.balign 4096
idt:	.skip 32 * 8
	.balign 16
	.skip 256
frame_top:
	.skip 8192
stack_top:
