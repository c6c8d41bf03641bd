/* The vector-register round trips of vecregs.c, in assembly so that no compiled code
 * touches a vector register between the load and the store.
 *
 *   vec_cycleW(const void *in, void *out, unsigned long spin)
 *     loads every register of width W from in, calls sched_yield(), spins `spin` times
 *     (at least once), stores them all to out:
 *     W=128: xmm0-15, 16 bytes each;  W=256: ymm0-15, 32 bytes each;
 *     W=512: zmm0-31, 64 bytes each, then k0-7 (kmovw: AVX-512F's 16 bits) at
 *            2048 + 8 * n.
 *   vec_probeW(void)
 *     one instruction of that width, to find out (SIGILL) whether it runs at all.
 *
 * SYSCALL keeps every register but rax, rcx and r11, so the count and the output
 * pointer live in r8 and r9 across it. */
	.text

.macro yield_and_spin
	mov	%rsi, %r9
	mov	%rdx, %r8
	mov	$24, %eax		/* sched_yield */
	syscall
1:	sub	$1, %r8
	ja	1b
.endm

	.globl	vec_cycle128
vec_cycle128:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqu	\n*16(%rdi), %xmm\n
	.endr
	yield_and_spin
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqu	%xmm\n, \n*16(%r9)
	.endr
	ret

	.globl	vec_cycle256
vec_cycle256:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqu	\n*32(%rdi), %ymm\n
	.endr
	yield_and_spin
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqu	%ymm\n, \n*32(%r9)
	.endr
	vzeroupper
	ret

	.globl	vec_cycle512
vec_cycle512:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vmovdqu64 \n*64(%rdi), %zmm\n
	.endr
	.irp n, 0,1,2,3,4,5,6,7
	kmovw	2048+\n*8(%rdi), %k\n
	.endr
	yield_and_spin
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vmovdqu64 %zmm\n, \n*64(%r9)
	.endr
	.irp n, 0,1,2,3,4,5,6,7
	kmovw	%k\n, 2048+\n*8(%r9)
	.endr
	vzeroupper
	ret

	.globl	vec_probe128
vec_probe128:
	pxor	%xmm0, %xmm0
	ret

	.globl	vec_probe256
vec_probe256:
	vpxor	%ymm0, %ymm0, %ymm0
	vzeroupper
	ret

	.globl	vec_probe512
vec_probe512:
	vpxord	%zmm16, %zmm16, %zmm16
	kmovw	%k1, %eax
	vzeroupper
	ret

	.section .note.GNU-stack, "", @progbits
