/* The only code of its own a direct-execution helper process has (direct.c puts it on
 * the helper's code page, through a userfaultfd, before each run). The VMM runs it,
 * with PTRACE_CONT, to change the helper's address space: it makes the system calls
 * listed on the command page (read-only to the helper), 7 quadwords each (number, six
 * arguments), ended by number -1. The last one empties both pages (MADV_DONTNEED), so
 * the stub ends with a SIGBUS fetching its next instruction; guest code never finds the
 * pages filled. A failed call stops at the first INT3 with RAX = -errno and RBX pointing
 * at the command; the list's end without that, at the second. */
	.section .rodata, "a"
	.globl soft_direct_stub, soft_direct_stub_fail, soft_direct_stub_end
	.p2align 4
soft_direct_stub:
1:	movq (%rbx), %rax
	cmpq $-1, %rax
	je 2f
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
2:	int3
soft_direct_stub_end:

	.section .note.GNU-stack, "", @progbits
