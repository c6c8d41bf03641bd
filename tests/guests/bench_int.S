/* bench_int.S: a CPU-bound integer benchmark guest (64-bit, multiboot "kludge" image).
 *
 * Not a mechanism test: it gives the software CPU ordinary integer work to measure
 * (bench/soft_mips.py runs it under trivisor --engine soft and under QEMU TCG). Each
 * of ROUNDS rounds (default 8000, --defsym ROUNDS=N to change) does:
 *   - fill a 4 KiB buffer from an xorshift64 generator (shifts, XOR, stores);
 *   - FNV-1a hash of the buffer, byte by byte (MOVZX, XOR, IMUL);
 *   - a byte histogram of the buffer (REP STOSQ to clear, INC on memory);
 *   - string ops: REP MOVSB copy of the buffer, REPE CMPSB compare, REP MOVSQ;
 *   - insertion sort of 256 dwords from the buffer, then a sortedness check;
 *   - recursive Fibonacci(16) (CALL/RET, PUSH/POP, LEA).
 * Everything folds into a checksum, printed at the end, so that runs under different
 * CPUs can be compared. Prints on COM1:
 *     bench_int: <rounds> rounds (hex)
 *     checksum: <hex>
 *     sorted and copied: ok
 *     all ok
 * and exits with status 99 (97 if a check failed). About 190k instructions a round.
 */
	.set WANT_LONG, 1
	.include "common.inc"
	.ifndef ROUNDS
	.set ROUNDS, 8000
	.endif
	.set BUF, 4096
	.set NSORT, 256

	.code32
_start:
	cli
	mov $kstack_top, %esp
	jmp enter_long

	.code64
long_main:
	mov $msg_title, %esi
	call puts64
	mov $ROUNDS, %eax
	call puthex64
	mov $msg_rounds, %esi
	call puts64

	xor %r15d, %r15d		/* checksum */
	xor %r12d, %r12d		/* failed checks */
	mov $ROUNDS, %r14d
	mov $0x9e3779b97f4a7c15, %r13	/* xorshift64 state */
round:
	/* fill buf with xorshift64 output */
	mov $buf, %edi
	mov $(BUF / 8), %ecx
1:	mov %r13, %rax
	shl $13, %rax
	xor %rax, %r13
	mov %r13, %rax
	shr $7, %rax
	xor %rax, %r13
	mov %r13, %rax
	shl $17, %rax
	xor %rax, %r13
	mov %r13, (%rdi)
	add $8, %rdi
	dec %ecx
	jnz 1b

	/* FNV-1a over the bytes of buf */
	mov $0xcbf29ce484222325, %rax
	mov $0x100000001b3, %rdx
	mov $buf, %esi
	mov $(buf + BUF), %edi
2:	movzbl (%rsi), %ecx
	xor %rcx, %rax
	imul %rdx, %rax
	inc %rsi
	cmp %rdi, %rsi
	jb 2b
	xor %rax, %r15
	rol $5, %r15

	/* histogram of the bytes, then a weighted sum of it */
	mov $hist, %edi
	xor %eax, %eax
	mov $(256 * 4 / 8), %ecx
	cld
	rep stosq
	mov $buf, %esi
3:	movzbl (%rsi), %eax
	incl hist(, %rax, 4)
	inc %esi
	cmp $(buf + BUF), %esi
	jb 3b
	xor %eax, %eax
	xor %ecx, %ecx
4:	mov hist(, %rcx, 4), %edx
	imul %ecx, %edx
	add %edx, %eax
	inc %ecx
	cmp $256, %ecx
	jb 4b
	add %rax, %r15

	/* string ops: copy buf to buf2 bytewise, compare, copy dwords to be sorted */
	mov $buf, %esi
	mov $buf2, %edi
	mov $BUF, %ecx
	rep movsb
	mov $buf, %esi
	mov $buf2, %edi
	mov $BUF, %ecx
	repe cmpsb
	setne %al
	movzbl %al, %eax
	add %eax, %r12d
	mov $buf2, %esi
	mov $arr, %edi
	mov $(NSORT * 4 / 8), %ecx
	rep movsq

	/* insertion sort of arr (unsigned dwords), then check and fold */
	mov $arr, %edi
	mov $NSORT, %esi
	call isort
	mov $1, %ecx
5:	mov arr - 4(, %rcx, 4), %eax
	cmp arr(, %rcx, 4), %eax
	jbe 6f
	inc %r12d
6:	inc %ecx
	cmp $NSORT, %ecx
	jb 5b
	mov arr + 4 * (NSORT / 2), %eax	/* the median folds in */
	xor %rax, %r15

	/* calls */
	mov $16, %edi
	call fib
	add %rax, %r15

	dec %r14d
	jnz round

	mov $msg_sum, %esi
	call puts64
	mov %r15, %rax
	call puthex64
	mov $msg_nl, %esi
	call puts64
	test %r12d, %r12d
	mov $msg_checks, %esi
	call check64
	jmp finish64

/* isort: sort the n = ESI unsigned dwords at RDI, ascending. */
isort:
	mov $1, %ecx
1:	cmp %esi, %ecx
	jae 4f
	mov (%rdi, %rcx, 4), %eax	/* key */
	mov %ecx, %edx
2:	test %edx, %edx
	jz 3f
	mov -4(%rdi, %rdx, 4), %r8d
	cmp %eax, %r8d
	jbe 3f
	mov %r8d, (%rdi, %rdx, 4)
	dec %edx
	jmp 2b
3:	mov %eax, (%rdi, %rdx, 4)
	inc %ecx
	jmp 1b
4:	ret

/* fib: RAX = Fibonacci(EDI), recursively. */
fib:
	cmp $2, %edi
	jae 1f
	mov %edi, %eax
	ret
1:	push %rbx
	push %rdi
	lea -1(%rdi), %edi
	call fib
	mov %rax, %rbx
	pop %rdi
	push %rdi
	lea -2(%rdi), %edi
	call fib
	add %rbx, %rax
	pop %rdi
	pop %rbx
	ret

msg_title:	.asciz "bench_int: 0x"
msg_rounds:	.asciz " rounds\n"
msg_sum:	.asciz "checksum: "
msg_checks:	.asciz "sorted and copied"

	.bss
	.balign 4096
buf:	.skip BUF
buf2:	.skip BUF
arr:	.skip NSORT * 4
hist:	.skip 256 * 4
	.text
