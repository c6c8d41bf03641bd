/* exceptions.S: exceptions and interrupts in 64-bit mode (Intel SDM vol. 3A chapter 6):
 * vectors, saved RIP (fault: the instruction; trap: after it), error codes, CR2, INT n,
 * and a double fault delivered on an IST stack. Prints:
 *     divide error #DE: ok
 *     invalid opcode #UD: ok
 *     #GP(0) non-canonical: ok
 *     #GP error code (selector): ok
 *     page fault #PF read: ok         (error code 0, CR2)
 *     page fault #PF write: ok        (error code 2, CR2)
 *     breakpoint #BP (trap): ok
 *     int 0x41: ok
 *     double fault #DF: ok            (#PF through a not-present gate: #NP -> #DF)
 *     #DF on IST stack: ok
 *     single-step #DB: ok             (a trap after each instruction run with TF = 1,
 *                                      none after the POPF setting TF, one after the
 *                                      POPF clearing it; DR6.BS)
 *     single-step held by MOV SS: ok  (no trap between MOV SS and the next instruction)
 *     all ok
 * and exits with status 99.
 */
	.set WANT_LONG, 1
	.include "common.inc"

	.code32
_start:
	cli
	mov $kstack_top, %esp
	mov $msg_title, %esi
	call puts32
	jmp enter_long

	.code64
long_main:
	movq $1f, resume_rip
	xor %ecx, %ecx
	mov $1, %eax
	xor %edx, %edx
de:	div %ecx
1:	cmpq $0, last_vec
	jne 2f
	cmpq $de, last_rip
2:	mov $msg_de, %esi
	call check64

	movq $1f, resume_rip
ud:	ud2
1:	cmpq $6, last_vec
	jne 2f
	cmpq $ud, last_rip
2:	mov $msg_ud, %esi
	call check64

	movq $1f, resume_rip
	mov $0x8000000000000000, %rax
gp:	mov (%rax), %rbx
1:	cmpq $13, last_vec
	jne 2f
	cmpq $gp, last_rip
	jne 2f
	cmpq $0, last_err
2:	mov $msg_gp, %esi
	call check64

	movq $1f, resume_rip
	mov $0x1238, %ax		/* beyond the GDT limit */
gps:	mov %ax, %ds
1:	cmpq $13, last_vec
	jne 2f
	cmpq $gps, last_rip
	jne 2f
	cmpq $0x1238, last_err
2:	mov $msg_gp_sel, %esi
	call check64

	movq $1f, resume_rip
pfr:	mov 0x10, %rax			/* page 0 is not present */
1:	cmpq $14, last_vec
	jne 2f
	cmpq $pfr, last_rip
	jne 2f
	cmpq $0, last_err
	jne 2f
	cmpq $0x10, last_cr2
2:	mov $msg_pf_r, %esi
	call check64

	movq $1f, resume_rip
pfw:	movq $1, 0x28
1:	cmpq $14, last_vec
	jne 2f
	cmpq $pfw, last_rip
	jne 2f
	cmpq $2, last_err
	jne 2f
	cmpq $0x28, last_cr2
2:	mov $msg_pf_w, %esi
	call check64

	movb $1, expect_exc
	int3
bp:	movb $0, expect_exc
	cmpq $3, last_vec
	jne 2f
	cmpq $bp, last_rip
2:	mov $msg_bp, %esi
	call check64

	movb $1, expect_exc
	movq $0x99, last_err
	int $0x41
in41:	movb $0, expect_exc
	cmpq $0x41, last_vec
	jne 2f
	cmpq $in41, last_rip
	jne 2f
	cmpq $0, last_err		/* no error code for INT n */
2:	mov $msg_int, %esi
	call check64

	/* #DF on IST1: make the #PF gate not present, then fault */
	mov $8, %cl
	mov $1, %al
	call set_ist
	andb $0x7f, idt + 14 * 16 + 5
	movq $1f, resume_rip
	mov 0x10, %rax
1:	orb $0x80, idt + 14 * 16 + 5
	cmpq $8, last_vec
	jne 2f
	cmpq $0, last_err
2:	mov $msg_df, %esi
	call check64
	mov handler_rsp, %rax
	cmp $df_stack, %rax
	jb 2f
	cmp $df_stack_top, %rax
	setb %al
	cmp $1, %al
2:	mov $msg_df_ist, %esi
	call check64

	/* Single-step: the handler returns with the saved RFLAGS, TF still set. */
	xor %eax, %eax
	mov %rax, %dr6
	movb $1, expect_exc
	movq $0, exc_count
	pushfq
	pop %rbx
	and $~0x100, %rbx		/* RFLAGS without TF */
	mov %rbx, %rcx
	or $0x100, %rcx			/* with TF */
	push %rbx
	push %rcx
	popfq				/* TF = 1: no trap after this one */
	nop				/* trap */
	nop				/* trap */
	popfq				/* TF = 0, but a trap after it */
ss_end:	mov %dr6, %rax
	cmpq $3, exc_count
	jne 2f
	cmpq $1, last_vec
	jne 2f
	cmpq $ss_end, last_rip
	jne 2f
	bt $14, %rax			/* BS */
	setc %al
	cmp $1, %al
2:	mov $msg_step, %esi
	call check64

	movq $0, exc_count
	mov %ss, %ax
	push %rbx
	push %rcx
	popfq
	mov %ax, %ss			/* no trap here ... */
	nop				/* ... but after this one */
	popfq				/* trap */
ss_end2:
	cmpq $2, exc_count
	jne 2f
	cmpq $ss_end2, last_rip
2:	mov $msg_step_ss, %esi
	call check64
	movb $0, expect_exc
	jmp finish64

msg_title:	.asciz "trivisor guest: exceptions\n"
msg_de:		.asciz "divide error #DE"
msg_ud:		.asciz "invalid opcode #UD"
msg_gp:		.asciz "#GP(0) non-canonical"
msg_gp_sel:	.asciz "#GP error code (selector)"
msg_pf_r:	.asciz "page fault #PF read"
msg_pf_w:	.asciz "page fault #PF write"
msg_bp:		.asciz "breakpoint #BP (trap)"
msg_int:	.asciz "int 0x41"
msg_df:		.asciz "double fault #DF"
msg_df_ist:	.asciz "#DF on IST stack"
msg_step:	.asciz "single-step #DB"
msg_step_ss:	.asciz "single-step held by MOV SS"
