/* The only code of its own a direct-execution helper process keeps (direct.c copies it
 * to the helper's code page). The VMM runs it, with PTRACE_CONT, to change the helper's
 * address space: it makes the system calls listed on the command page (read-only to
 * the helper), 7 quadwords each (number, six arguments), ended by number -1; then it
 * stops on an INT3. A failed call stops at the other INT3 with RAX = -errno and RBX
 * pointing at the command.
 *
 * Guest code may jump here too: it gains nothing. Its SYSCALL instructions are the
 * guest's system calls (the helper runs under PTRACE_SYSEMU then: never executed on the
 * host), and every INT3 or fault stops the helper for the VMM, which sees an RIP the
 * guest never mapped. */
	.section .rodata, "a"
	.globl soft_direct_stub, soft_direct_stub_fail, soft_direct_stub_done, soft_direct_stub_end
	.p2align 4
soft_direct_stub:
1:	movq (%rbx), %rax
	cmpq $-1, %rax
	je soft_direct_stub_done
	movq 8(%rbx), %rdi
	movq 16(%rbx), %rsi
	movq 24(%rbx), %rdx
	movq 32(%rbx), %r10
	movq 40(%rbx), %r8
	movq 48(%rbx), %r9
	syscall
	cmpq $-4095, %rax
	jae soft_direct_stub_fail
	addq $56, %rbx
	jmp 1b
soft_direct_stub_fail:
	int3
soft_direct_stub_done:
	int3
soft_direct_stub_end:

	.section .note.GNU-stack, "", @progbits
