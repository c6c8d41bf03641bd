/* nanobench.S: the nanobenchmarks of Adams & Agesen, "A Comparison of Software and
 * Hardware Techniques for x86 Virtualization" (ASPLOS 2006), as a 64-bit test guest.
 * Not a mechanism test: bench/nanobench.py runs it under each engine and mode.
 *
 * Each benchmark runs its body ITERS times between two LFENCE; RDTSC and prints one
 * line on COM1:
 *     nanobench: <name> iters=<n> cycles=<total TSC cycles> net_per_iter=<n>
 * net_per_iter = (cycles - the empty loop's cost for as many iterations) / iters, in
 * whole cycles (the script recomputes it from the totals). First come
 *     nanobench: tsc_khz=<n>        (TSC frequency measured against PIT counter 2, 50 ms)
 *     nanobench: empty iters=... cycles=...   (the loop alone: DEC, JNZ)
 * then the benchmarks (TSC cycles of the CPU the guest sees: under soft the virtual
 * 2 GHz TSC, under kvm the host's TSC):
 *     call_ret        CALL to a RET
 *     cr8_write       MOV to CR8 (the task priority), value 0
 *     pte_update      write a PTE of a mapped page (toggle the software bit 9) + INVLPG
 *     page_fault      a read of a not-present page; the #PF handler sets P and IRETs,
 *                     the read completes; then P is cleared again and the page
 *                     INVLPGed for the next round: each iteration also does one
 *                     pte_update's work
 *     divide_by_zero  DIV by 0; the #DE handler skips the instruction and IRETs
 *     port_in         IN from port 0x80 (the POST port: claimed, reads do nothing)
 *     cpuid           CPUID leaf 0 (not in the paper: the cheapest guaranteed exit)
 *     syscall         SYSCALL from CPL 3 to a handler that only SYSRETs (not INT 0x80)
 *     hypercall       KVM hypercall with an unknown number (-KVM_ENOSYS): VMMCALL on
 *                     an AMD CPU, VMCALL otherwise; "nanobench: hypercall n/a (...)"
 *                     when the engine raises #UD for it or the guest sees no KVM leaves
 * and "all ok" (status 99). --defsym FAST=n / SLOW=n change the iteration counts.
 */
	.set WANT_LONG, 1
	.include "common.inc"
	.ifndef FAST
	.set FAST, 20000		/* benchmarks with no exit on any engine */
	.endif
	.ifndef SLOW
	.set SLOW, 2000			/* benchmarks that may exit to the VMM */
	.endif
	.set MSR_STAR, 0xc0000081
	.set MSR_LSTAR, 0xc0000082
	.set MSR_SFMASK, 0xc0000084
	.set SYS_DONE, 0xd0e
	.set HC_UNKNOWN, 0x5a5a
	.set PIT_CH2, 0x42
	.set PIT_CMD, 0x43
	.set PORTB, 0x61
	.set PIT_HZ, 1193182
	.set COUNT_50MS, 59659

	.code32
_start:
	cli
	mov $kstack_top, %esp
	jmp enter_long

	.code64
/* One benchmark: ITERS runs of BODY (which keeps R12 and R13), then a report line. */
.macro BENCH name, iters, body:vararg
	mov $\iters, %r12d
	call tsc_now
	mov %rax, %r13
	.balign 16
99:	\body
	dec %r12d
	jnz 99b
	call tsc_now
	sub %r13, %rax
	mov $\name, %esi
	mov $\iters, %ecx
	call report
.endm

/* Bodies of more than one instruction (a ';' would end the BENCH line itself). */
.macro body_pte				/* R15: the PTE, RBX: its page */
	xorq $0x200, (%r15)
	invlpg (%rbx)
.endm
.macro body_pf				/* R15: the PTE, RBX: its page (not present) */
	movb (%rbx), %al
	andq $~1, (%r15)
	invlpg (%rbx)
.endm
.macro body_de				/* DIV ECX (F7 F1), ECX = 0: the handler adds 2 to RIP */
	xor %ecx, %ecx
	.byte 0xf7, 0xf1
.endm
.macro body_cpuid
	xor %eax, %eax
	cpuid
.endm
.macro body_vmcall
	mov $HC_UNKNOWN, %eax
	vmcall
.endm
.macro body_vmmcall
	mov $HC_UNKNOWN, %eax
	vmmcall
.endm

long_main:
	mov $msg_title, %esi
	call puts64
	call calibrate_tsc

	/* Own fast handlers for #DE and #PF (the shared one records too much). */
	mov $0, %ecx
	mov $de_handler, %eax
	call set_gate
	mov $14, %ecx
	mov $pf_handler, %eax
	call set_gate

	/* The pages the PTE benchmarks use must be 4 KiB pages of pt0 (0..2 MiB). */
	mov $pf_page, %eax
	cmp $0x200000, %eax
	jae bad_layout
	shr $12, %eax
	lea pt0(,%rax,8), %rax
	mov %rax, pf_pte
	mov $pte_page, %eax
	shr $12, %eax
	lea pt0(,%rax,8), %rax
	mov %rax, pte_pte

	BENCH msg_empty, FAST
	mov %rax, empty_cycles
	movq $FAST, empty_iters

	BENCH msg_call, FAST, call nb_ret

	xor %r14d, %r14d
	BENCH msg_cr8, FAST, mov %r14, %cr8

	mov pte_pte, %r15
	mov $pte_page, %ebx
	BENCH msg_pte, FAST, body_pte

	mov pf_pte, %r15
	mov $pf_page, %ebx
	andq $~1, (%r15)
	invlpg (%rbx)
	BENCH msg_pf, SLOW, body_pf
	orq $1, (%r15)
	invlpg (%rbx)

	BENCH msg_de, SLOW, body_de

	BENCH msg_in, SLOW, inb $0x80, %al

	BENCH msg_cpuid, SLOW, body_cpuid

	call bench_syscall
	call bench_hypercall
	jmp finish64

bad_layout:
	mov $msg_layout, %esi
	call puts64
	incl fail_count
	jmp finish64

nb_ret:
	ret

/* LFENCE; RDTSC -> RAX (64 bits); clobbers RDX. */
tsc_now:
	lfence
	rdtsc
	shl $32, %rdx
	or %rdx, %rax
	ret

/* Interrupt gate ECX -> handler EAX (below 4 GiB), DPL 0, no IST. */
set_gate:
	mov %rax, %rdx
	and $0xffff, %rdx
	or $(KCODE << 16), %rdx
	mov %rax, %rsi
	shr $16, %rsi
	shl $48, %rsi
	or %rsi, %rdx
	mov $0x8e0000000000, %rsi
	or %rsi, %rdx
	shl $4, %rcx
	mov %rdx, idt(%rcx)
	movq $0, idt + 8(%rcx)
	ret

de_handler:				/* no error code */
	addq $2, (%rsp)
	iretq

pf_handler:				/* error code on the stack */
	push %rax
	mov pf_pte, %rax
	orq $1, (%rax)
	pop %rax
	add $8, %rsp
	iretq

/* report: ESI name, ECX iterations, RAX total cycles. */
report:
	push %r8
	push %r9
	mov %rax, %r8
	mov %ecx, %r9d
	push %rsi
	mov $msg_prefix, %esi
	call puts64
	pop %rsi
	call puts64
	mov $msg_iters, %esi
	call puts64
	mov %r9, %rax
	call putdec64
	mov $msg_cycles, %esi
	call puts64
	mov %r8, %rax
	call putdec64
	mov $msg_net, %esi
	call puts64
	/* net = (total - empty_cycles * iters / empty_iters) / iters, at least 0 */
	xor %eax, %eax
	cmpq $0, empty_iters
	je 1f
	mov empty_cycles, %rax
	mul %r9
	divq empty_iters
1:	mov %r8, %rdx
	sub %rax, %rdx
	jae 2f
	xor %edx, %edx
2:	mov %rdx, %rax
	xor %edx, %edx
	div %r9
	call putdec64
	mov $msg_nl, %esi
	call puts64
	pop %r9
	pop %r8
	ret

/* putdec64: RAX in decimal. */
putdec64:
	push %rax
	push %rcx
	push %rdx
	push %rdi
	lea decbuf + 24(%rip), %rdi
	movb $0, (%rdi)
	mov $10, %ecx
1:	xor %edx, %edx
	div %rcx
	add $'0', %dl
	dec %rdi
	mov %dl, (%rdi)
	test %rax, %rax
	jnz 1b
	push %rsi
	mov %rdi, %rsi
	call puts64
	pop %rsi
	pop %rdi
	pop %rdx
	pop %rcx
	pop %rax
	ret

/* The TSC frequency against PIT counter 2 (mode 0, 50 ms, gate through port 0x61, OUT
 * in port 0x61 bit 5), as Linux calibrates it. Prints tsc_khz=0 if OUT never rises. */
calibrate_tsc:
	inb $PORTB, %al
	and $~0x02, %al
	or $0x01, %al
	outb %al, $PORTB
	mov $0xb0, %al
	outb %al, $PIT_CMD
	mov $(COUNT_50MS & 0xff), %al
	outb %al, $PIT_CH2
	mov $(COUNT_50MS >> 8), %al
	outb %al, $PIT_CH2
	call tsc_now
	mov %rax, %r13
	mov $100000000, %ecx
1:	inb $PORTB, %al
	test $0x20, %al
	jnz 2f
	dec %ecx
	jnz 1b
	xor %eax, %eax
	jmp 3f
2:	call tsc_now
	sub %r13, %rax			/* cycles in COUNT_50MS PIT ticks */
	mov $PIT_HZ, %ecx
	mul %rcx
	mov $(COUNT_50MS * 1000), %ecx
	div %rcx
3:	mov %rax, %r8
	mov $msg_prefix, %esi
	call puts64
	mov $msg_tsc, %esi
	call puts64
	mov %r8, %rax
	call putdec64
	mov $msg_nl, %esi
	jmp puts64

/* SYSCALL/SYSRET round trips, timed at CPL 3 (RDTSC is allowed there: CR4.TSD = 0).
 * The handler SYSRETs at once unless EAX = SYS_DONE, which ends the user part. */
bench_syscall:
	mov $MSR_STAR, %ecx
	mov $((UCODE32 << 48) | (KCODE << 32)), %rax
	call wrmsr64
	mov $MSR_LSTAR, %ecx
	mov $sc_entry, %eax
	call wrmsr64
	mov $MSR_SFMASK, %ecx
	mov $0x700, %eax		/* TF, IF, DF */
	call wrmsr64
	mov %rsp, ksave_rsp
	mov $ustack_top, %esp
	lea user_bench(%rip), %rcx
	mov $2, %r11d
	sysretq
sc_back:
	mov ksave_rsp, %rsp
	mov %r14, %rax
	mov $msg_syscall, %esi
	mov $FAST, %ecx
	jmp report

sc_entry:
	cmp $SYS_DONE, %eax
	je sc_back
	sysretq

user_bench:
	xor %eax, %eax
	mov $FAST, %r12d
	call tsc_now
	mov %rax, %r13
	xor %eax, %eax
	.balign 16
1:	syscall
	dec %r12d
	jnz 1b
	call tsc_now
	sub %r13, %rax
	mov %rax, %r14
	mov $SYS_DONE, %eax
	syscall

wrmsr64:				/* ecx = MSR, rax = value */
	mov %rax, %rdx
	shr $32, %rdx
	wrmsr
	ret

/* A hypercall round trip, if the guest is told of a KVM hypervisor and the engine
 * does not raise #UD for it (probed once first). */
bench_hypercall:
	mov $1, %eax
	cpuid
	bt $31, %ecx
	jnc 8f
	mov $0x40000000, %eax
	cpuid
	cmp $0x4b4d564b, %ebx		/* "KVMKVMKVM\0\0\0" */
	jne 8f
	cmp $0x564b4d56, %ecx
	jne 8f
	cmp $0x4d, %edx
	jne 8f
	xor %eax, %eax
	cpuid
	cmp $0x68747541, %ebx		/* "AuthenticAMD": VMMCALL is the native one */
	sete amd

	mov exc_count, %r14
	movq $1f, resume_rip
	mov $HC_UNKNOWN, %eax
	cmpb $0, amd
	je 2f
	vmmcall
	jmp 1f
2:	vmcall
1:	movq $0, resume_rip
	cmp exc_count, %r14
	jne 9f
	mov $msg_prefix, %esi
	call puts64
	mov $msg_hc_vmcall, %esi
	cmpb $0, amd
	je 3f
	mov $msg_hc_vmmcall, %esi
3:	call puts64
	cmpb $0, amd
	je 4f
	BENCH msg_hc, SLOW, body_vmmcall
	ret
4:	BENCH msg_hc, SLOW, body_vmcall
	ret
8:	mov $msg_hc_noleaf, %esi
	jmp puts64
9:	mov $msg_hc_ud, %esi
	jmp puts64

	.balign 8
empty_cycles:	.quad 0
empty_iters:	.quad 0
pf_pte:		.quad 0
pte_pte:	.quad 0
ksave_rsp:	.quad 0
decbuf:		.skip 32
amd:		.byte 0

msg_title:	.asciz "trivisor guest: nanobench\n"
msg_prefix:	.asciz "nanobench: "
msg_tsc:	.asciz "tsc_khz="
msg_iters:	.asciz " iters="
msg_cycles:	.asciz " cycles="
msg_net:	.asciz " net_per_iter="
msg_empty:	.asciz "empty"
msg_call:	.asciz "call_ret"
msg_cr8:	.asciz "cr8_write"
msg_pte:	.asciz "pte_update"
msg_pf:		.asciz "page_fault"
msg_de:		.asciz "divide_by_zero"
msg_in:		.asciz "port_in"
msg_cpuid:	.asciz "cpuid"
msg_syscall:	.asciz "syscall"
msg_hc:		.asciz "hypercall"
msg_hc_vmcall:	.asciz "hypercall insn=vmcall\n"
msg_hc_vmmcall:	.asciz "hypercall insn=vmmcall\n"
msg_hc_noleaf:	.asciz "nanobench: hypercall n/a (no KVM hypervisor leaves: --guest full)\n"
msg_hc_ud:	.asciz "nanobench: hypercall n/a (#UD: the engine has no hypercalls)\n"
msg_layout:	.asciz "nanobench: test pages above 2 MiB\n"

	.bss
	.balign 4096
pf_page:	.skip 4096
pte_page:	.skip 4096
	.skip 4096
ustack_top:
