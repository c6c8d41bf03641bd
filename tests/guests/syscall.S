/* syscall.S: system call entry and exit (Intel SDM vol. 3A 5.8.8, SYSCALL/SYSRET/SWAPGS)
 * and an interrupt from CPL 3, in 64-bit mode. Prints:
 *     sysret to CPL 3: ok
 *     user GS base: ok
 *     syscall entry at CPL 0: ok
 *     swapgs: ok                      (kernel GS base visible after SWAPGS)
 *     syscall RCX = return RIP: ok
 *     syscall R11 = RFLAGS: ok
 *     SFMASK clears DF: ok
 *     sysret return value: ok
 *     sysret restores RFLAGS: ok
 *     GS restored by swapgs: ok
 *     int 0x80 from CPL 3: ok          (vector, CS/SS pushed with RPL 3, TSS.RSP0 stack)
 *     all ok
 * and exits with status 99.
 */
	.set WANT_LONG, 1
	.include "common.inc"
	.set MSR_STAR, 0xc0000081
	.set MSR_LSTAR, 0xc0000082
	.set MSR_SFMASK, 0xc0000084
	.set MSR_GS_BASE, 0xc0000101
	.set MSR_KERNEL_GS_BASE, 0xc0000102

	.code32
_start:
	cli
	mov $kstack_top, %esp
	mov $msg_title, %esi
	call puts32
	jmp enter_long

	.code64
wrmsr64:				/* ecx = MSR, rax = value */
	mov %rax, %rdx
	shr $32, %rdx
	wrmsr
	ret

long_main:
	mov $MSR_STAR, %ecx
	mov $((UCODE32 << 48) | (KCODE << 32)), %rax
	call wrmsr64
	mov $MSR_LSTAR, %ecx
	mov $syscall_entry, %eax
	call wrmsr64
	mov $MSR_SFMASK, %ecx
	mov $0x700, %eax		/* TF, IF, DF */
	call wrmsr64
	mov $MSR_KERNEL_GS_BASE, %ecx
	mov $kgs_area, %eax
	call wrmsr64
	mov $MSR_GS_BASE, %ecx
	mov $ugs_area, %eax
	call wrmsr64

	mov %rsp, ksave_rsp
	lea user_main(%rip), %rcx
	mov $2, %r11d			/* user RFLAGS: IF = 0 */
	sysretq
kernel_back:				/* from the second system call */
	mov ksave_rsp, %rsp

	cmpq $3, user_cpl
	mov $msg_cpl3, %esi
	call check64
	cmpq $0x5555, user_gs1
	mov $msg_ugs, %esi
	call check64
	cmpq $KCODE, seen_kcs
	mov $msg_kcpl, %esi
	call check64
	cmpq $0x4b4b, seen_kgs
	mov $msg_swapgs, %esi
	call check64
	cmpq $after_syscall, seen_rcx
	mov $msg_rcx, %esi
	call check64
	mov seen_r11, %rax
	and $0x702, %rax
	cmp $0x402, %rax		/* DF set by the user, IF clear, bit 1 */
	mov $msg_r11, %esi
	call check64
	testq $0x400, seen_kflags
	mov $msg_sfmask, %esi
	call check64
	cmpq $0x1234, user_ret
	mov $msg_ret, %esi
	call check64
	mov user_flags, %rax
	and $0x400, %rax
	cmp $0x400, %rax
	mov $msg_rflags, %esi
	call check64
	cmpq $0x5555, user_gs2
	mov $msg_gs_back, %esi
	call check64

	/* int 0x80 from CPL 3 (gate DPL 3): the handler returns to the kernel */
	mov %rsp, kret_rsp
	movq $1f, kret_rip
	pushq $(UDATA | 3)
	pushq $ustack_top
	pushq $2
	pushq $(UCODE64 | 3)
	pushq $user_int
	iretq
1:	cmpq $0x80, last_vec
	jne 2f
	cmpq $(UCODE64 | 3), last_cs
	jne 2f
	cmpq $(UDATA | 3), last_ss
	jne 2f
	cmpq $user_int_ret, last_rip
	jne 2f
	mov handler_rsp, %rax
	cmp $kstack_top, %rax		/* on the RSP0 stack (kstack_top..kstack0_top) */
	jb 2f
	cmp $kstack0_top, %rax
	setb %al
	cmp $1, %al
2:	mov $msg_int80, %esi
	call check64
	jmp finish64

syscall_entry:				/* CPL 0, user RSP, user GS */
	swapgs
	mov %gs:0, %r8
	mov %r8, seen_kgs
	mov %rsp, user_rsp
	mov ksave_rsp, %rsp
	cmp $2, %eax
	jne 1f
	swapgs
	jmp kernel_back
1:	mov %rcx, seen_rcx		/* the first system call's view */
	mov %r11, seen_r11
	pushf
	popq seen_kflags
	mov %cs, %r8
	mov %r8, seen_kcs
	mov $0x1234, %eax
	mov user_rsp, %rsp
	swapgs
	sysretq

user_main:
	mov %cs, %rax
	and $3, %eax
	mov %rax, user_cpl
	mov %gs:0, %rax
	mov %rax, user_gs1
	std
	mov $1, %eax
	syscall
after_syscall:
	mov %rax, user_ret
	pushf
	popq user_flags
	cld
	mov %gs:0, %rax
	mov %rax, user_gs2
	mov $2, %eax
	syscall
	jmp .

user_int:
	int $0x80
user_int_ret:
	jmp .

	.balign 8
kgs_area:	.quad 0x4b4b
ugs_area:	.quad 0x5555
ksave_rsp:	.quad 0
user_rsp:	.quad 0
user_cpl:	.quad 0
user_gs1:	.quad 0
user_gs2:	.quad 0
user_ret:	.quad 0
user_flags:	.quad 0
seen_kgs:	.quad 0
seen_kcs:	.quad 0
seen_rcx:	.quad 0
seen_r11:	.quad 0
seen_kflags:	.quad 0

msg_title:	.asciz "trivisor guest: syscall\n"
msg_cpl3:	.asciz "sysret to CPL 3"
msg_ugs:	.asciz "user GS base"
msg_kcpl:	.asciz "syscall entry at CPL 0"
msg_swapgs:	.asciz "swapgs"
msg_rcx:	.asciz "syscall RCX = return RIP"
msg_r11:	.asciz "syscall R11 = RFLAGS"
msg_sfmask:	.asciz "SFMASK clears DF"
msg_ret:	.asciz "sysret return value"
msg_rflags:	.asciz "sysret restores RFLAGS"
msg_gs_back:	.asciz "GS restored by swapgs"
msg_int80:	.asciz "int 0x80 from CPL 3"

	.bss
	.balign 4096
	.skip 4096
ustack_top:
