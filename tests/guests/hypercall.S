/* hypercall.S: the KVM para-virtual ABI as a guest sees it (Linux
 * Documentation/virt/kvm/x86/cpuid.rst, hypercalls.rst, msr.rst), in 64-bit mode.
 *
 * With the hypervisor bit (CPUID.1:ECX[31]) set, prints:
 *     guest interface: para
 *     hypervisor bit: ok
 *     KVM signature: ok                    (0x4000_0000: "KVMKVMKVM\0\0\0", max >= 0x4000_0001)
 *     KVM features: <hex>                  (0x4000_0001 EAX, an information line)
 *     unknown hypercall (vmcall) = -KVM_ENOSYS: ok
 *     unknown hypercall (vmmcall) = -KVM_ENOSYS: ok
 *     sched yield to self (vmcall): ok     (KVM_HC_SCHED_YIELD, APIC ID 0: returns 0)
 *     kick cpu (vmmcall): ok               (KVM_HC_KICK_CPU, APIC ID 0: returns 0)
 *     send IPI to nobody (vmcall): ok      (KVM_HC_SEND_IPI, empty bitmap: 0 delivered)
 *     send IPI to self (vmmcall) = 1 delivered: ok   (bitmap 1, x2APIC enabled first)
 *     IPI vector 0xf1 taken: ok            (the interrupt arrives after STI)
 *     IPI after PV EOI off in its handler: ok   (when the features offer PV_EOI: a
 *                                           self-IPI 0xf2 taken with PV EOI on; PV EOI
 *                                           turned off before its end, as Linux's reboot
 *                                           path does, then Linux's EOI: none if the bit
 *                                           is still set. A second 0xf2 must arrive)
 * then, if the features offer kvm-clock (CLOCKSOURCE2):
 *     kvm-clock enabled: ok                (WRMSR 0x4b564d01 = GPA | 1, 0x4b564d00 = GPA)
 *     kvm-clock version even: ok           (both reads: no update in progress, not 0)
 *     kvm-clock tsc_to_system_mul: ok      (non-zero)
 *     kvm-clock flags: <hex>               (information: bit 0 TSC_STABLE)
 *     kvm-clock time advances: ok          (system_time + scaled TSC delta, read twice)
 *     kvm-clock monotonic across re-enable: ok
 *     wall clock version even: ok
 *     wall clock after 2020: ok
 * or "kvm-clock: not offered". Without the hypervisor bit (--guest full):
 *     guest interface: full
 *     no hypervisor bit: ok
 *     no KVM signature: ok                 (0x4000_0000 is not KVM's: a plain PC)
 *     vmcall under full: exception <hex>   (information: the vector, 6 = #UD; or
 *                                           "returned <hex>": RAX after it)
 * and then "all ok" (status 99), or "some checks failed" (97). A hypercall the engine
 * does not implement raises #UD: the check fails and reports the vector; the guest
 * goes on. Hypercall ABI: number in RAX, arguments in RBX, RCX, RDX, RSI, result RAX.
 */
	.set WANT_LONG, 1
	.include "common.inc"
	.set KVM_ENOSYS, 1000
	.set HC_KICK_CPU, 5
	.set HC_SEND_IPI, 10
	.set HC_SCHED_YIELD, 11
	.set HC_UNKNOWN, 0x5a5a
	.set MSR_APIC_BASE, 0x1b
	.set APIC_BASE_EXTD, 1 << 10
	.set APIC_BASE_EN, 1 << 11
	.set MSR_X2APIC_EOI, 0x80b
	.set MSR_X2APIC_SVR, 0x80f
	.set MSR_X2APIC_ICR, 0x830
	.set ICR_SELF, 1 << 18		/* destination shorthand: self */
	.set MSR_PV_EOI_EN, 0x4b564d04
	.set FEAT_PV_EOI, 1 << 6
	.set FEAT_CLOCKSOURCE2, 1 << 3
	.set MSR_WALL_CLOCK_NEW, 0x4b564d00
	.set MSR_SYSTEM_TIME_NEW, 0x4b564d01
	/* struct pvclock_vcpu_time_info (32 bytes) */
	.set PV_VERSION, 0
	.set PV_TSC_TIMESTAMP, 8
	.set PV_SYSTEM_TIME, 16
	.set PV_MUL, 24
	.set PV_SHIFT, 28
	.set PV_FLAGS, 29
	/* struct pvclock_wall_clock (12 bytes) */
	.set WC_VERSION, 0
	.set WC_SEC, 4
	.set YEAR_2020, 1577836800

	.code32
_start:
	cli
	mov $kstack_top, %esp
	mov $msg_title, %esi
	call puts32
	jmp enter_long

	.code64
/* A hypercall that must return the value in \want; on #UD it resumes after the
 * instruction with RAX unchanged (the number), so the check fails. */
.macro HCALL insn, nr, a0, a1, a2, a3, want, msg
	mov $\nr, %rax
	mov $\a0, %rbx
	mov $\a1, %rcx
	mov $\a2, %rdx
	mov $\a3, %rsi
	movq $1f, resume_rip
	\insn
1:	movq $0, resume_rip
	cmp $\want, %rax
	mov $\msg, %esi
	call check64
.endm

self_ipi_f2:				/* last_vec = 0xf2 if it is taken at STI */
	movq $0, last_vec
	mov $MSR_X2APIC_ICR, %ecx
	mov $(ICR_SELF | 0xf2), %eax
	call wrmsr64
	sti
	nop
	cli
	ret

wrmsr64:				/* ecx = MSR, rax = value */
	mov %rax, %rdx
	shr $32, %rdx
	wrmsr
	ret

long_main:
	mov $1, %eax
	cpuid
	bt $31, %ecx
	jnc full_iface

	mov $msg_para, %esi
	call puts64
	xor %eax, %eax			/* ZF = 1 */
	mov $msg_hvbit, %esi
	call check64

	mov $0x40000000, %eax
	cpuid
	mov %eax, hv_max
	call is_kvm_sig
	jne 1f
	cmpl $0x40000001, hv_max
	setb %al
	cmp $0, %al
1:	mov $msg_sig, %esi
	call check64

	mov $0x40000001, %eax
	cpuid
	mov %eax, features
	mov $msg_features, %esi
	call puts64
	mov features, %eax
	call puthex64
	mov $msg_nl, %esi
	call puts64

	HCALL vmcall, HC_UNKNOWN, 0, 0, 0, 0, -KVM_ENOSYS, msg_unk_vmcall
	HCALL vmmcall, HC_UNKNOWN, 0, 0, 0, 0, -KVM_ENOSYS, msg_unk_vmmcall
	HCALL vmcall, HC_SCHED_YIELD, 0, 0, 0, 0, 0, msg_yield
	HCALL vmmcall, HC_KICK_CPU, 0, 0, 0, 0, 0, msg_kick
	/* bitmap 0 (low and high), min APIC ID 0, ICR: fixed, vector 0xf0 */
	HCALL vmcall, HC_SEND_IPI, 0, 0, 0, 0xf0, 0, msg_ipi

	/* A real one, to this CPU (bit 0: APIC ID 0): the LAPIC goes to x2APIC mode (MSRs,
	 * no MMIO mapping needed) and is software-enabled; the hypercall says it delivered
	 * to one CPU, and vector 0xf1 arrives once IF = 1, then is EOI'd. */
	mov $MSR_APIC_BASE, %ecx
	rdmsr
	or $(APIC_BASE_EN | APIC_BASE_EXTD), %eax
	wrmsr
	mov $MSR_X2APIC_SVR, %ecx
	mov $0x1ff, %eax		/* APIC software enable, spurious vector 0xff */
	call wrmsr64
	movq $0, last_vec
	movb $1, expect_exc
	HCALL vmmcall, HC_SEND_IPI, 1, 0, 0, 0xf1, 1, msg_ipi_self
	sti
	nop				/* the interrupt comes after STI's shadow */
	cli
	movb $0, expect_exc
	cmpq $0xf1, last_vec
	mov $msg_ipi_taken, %esi
	call check64
	mov $MSR_X2APIC_EOI, %ecx
	xor %eax, %eax
	call wrmsr64

	testl $FEAT_PV_EOI, features
	jz 2f
	mov $MSR_PV_EOI_EN, %ecx
	mov $(pv_eoi + 1), %eax
	call wrmsr64
	movb $1, expect_exc
	call self_ipi_f2
	/* The handler's tail: PV EOI off (Linux's kvm_guest_cpu_offline, run in an IPI
	 * handler at reboot), then its EOI: skipped if the hypervisor's bit is still set. */
	mov $MSR_PV_EOI_EN, %ecx
	xor %eax, %eax
	call wrmsr64
	btrl $0, pv_eoi
	jc 1f
	mov $MSR_X2APIC_EOI, %ecx
	call wrmsr64
1:	call self_ipi_f2		/* blocked if 0xf2 is still in service */
	movb $0, expect_exc
	cmpq $0xf2, last_vec
	mov $msg_pv_eoi_off, %esi
	call check64
	mov $MSR_X2APIC_EOI, %ecx
	xor %eax, %eax
	call wrmsr64
2:

	testl $FEAT_CLOCKSOURCE2, features
	jnz kvmclock
	mov $msg_no_clock, %esi
	call puts64
	jmp finish64

kvmclock:
	mov $MSR_SYSTEM_TIME_NEW, %ecx
	mov $(pvclock + 1), %eax	/* enable bit 0 */
	movq $0, resume_rip
	call wrmsr64
	mov $MSR_WALL_CLOCK_NEW, %ecx
	mov $wallclock, %eax
	call wrmsr64
	cmpl $0, pvclock + PV_VERSION	/* KVM filled it in before the guest went on */
	setz %al
	cmp $0, %al
	mov $msg_clk_on, %esi
	call check64

	call pvclock_read
	mov %rax, t1
	mov %ebx, ver1
	mov $200000, %ecx		/* some time passes */
1:	pause
	loop 1b
	call pvclock_read
	mov %rax, t2
	mov %ebx, ver2

	mov ver1, %eax
	or ver2, %eax
	test $1, %al			/* even, and not zero */
	jnz 1f
	cmpl $0, ver1
	je 2f
	cmpl $0, ver2
	je 2f
	xor %eax, %eax
	jmp 1f
2:	or $1, %eax
1:	mov $msg_clk_ver, %esi
	call check64

	cmpl $0, pvclock + PV_MUL
	setz %al
	cmp $0, %al
	mov $msg_clk_mul, %esi
	call check64

	mov $msg_clk_flags, %esi
	call puts64
	movzbl pvclock + PV_FLAGS, %eax
	call puthex64
	mov $msg_nl, %esi
	call puts64

	mov t2, %rax
	cmp t1, %rax
	seta %al
	cmp $1, %al
	mov $msg_clk_adv, %esi
	call check64

	/* Writing the MSR again makes the hypervisor refresh the structure (with a stable
	 * TSC KVM may keep an old tsc_timestamp/system_time pair): the time read through
	 * the refreshed structure must not go back. */
	mov $MSR_SYSTEM_TIME_NEW, %ecx
	mov $(pvclock + 1), %eax
	call wrmsr64
	call pvclock_read
	cmp t2, %rax
	setae %al
	cmp $1, %al
	mov $msg_clk_upd, %esi
	call check64

	mov wallclock + WC_VERSION, %eax
	test $1, %al
	jnz 1f
	cmp $0, %eax			/* written at least once: version > 0 */
	setz %al
	cmp $0, %al
1:	mov $msg_wc_ver, %esi
	call check64
	cmpl $YEAR_2020, wallclock + WC_SEC
	setae %al
	cmp $1, %al
	mov $msg_wc_sec, %esi
	call check64

	mov $MSR_SYSTEM_TIME_NEW, %ecx	/* kvm-clock off again */
	xor %eax, %eax
	call wrmsr64
	jmp finish64

/* The pvclock time in ns -> RAX, the version read -> EBX (the ABI's read loop: version
 * even and unchanged around the reads). */
pvclock_read:
	push %rcx
	push %rdx
	push %rsi
1:	mov pvclock + PV_VERSION, %ebx
	test $1, %bl
	jnz 1b
	lfence
	rdtsc
	shl $32, %rdx
	or %rdx, %rax
	sub pvclock + PV_TSC_TIMESTAMP, %rax
	movsbl pvclock + PV_SHIFT, %ecx
	test %ecx, %ecx
	js 2f
	shl %cl, %rax
	jmp 3f
2:	neg %ecx
	shr %cl, %rax
3:	mov pvclock + PV_MUL, %esi	/* (delta * mul) >> 32 */
	mul %rsi
	shrd $32, %rdx, %rax
	add pvclock + PV_SYSTEM_TIME, %rax
	lfence
	cmp pvclock + PV_VERSION, %ebx
	jne 1b
	pop %rsi
	pop %rdx
	pop %rcx
	ret

/* ZF = 1 if EBX:ECX:EDX is "KVMKVMKVM\0\0\0". */
is_kvm_sig:
	cmp $0x4b4d564b, %ebx
	jne 1f
	cmp $0x564b4d56, %ecx
	jne 1f
	cmp $0x0000004d, %edx
1:	ret

full_iface:
	mov $msg_full, %esi
	call puts64
	xor %eax, %eax
	mov $msg_nohvbit, %esi
	call check64
	mov $0x40000000, %eax
	cpuid
	call is_kvm_sig
	setz %al
	cmp $0, %al
	mov $msg_nosig, %esi
	call check64

	/* Information: what VMCALL does on a plain PC (#UD from the soft engine; KVM
	 * answers hypercalls whatever CPUID says). */
	mov $msg_full_vmcall, %esi
	call puts64
	movq $0, exc_count
	mov $HC_UNKNOWN, %rax
	movq $1f, resume_rip
	vmcall
1:	movq $0, resume_rip
	cmpq $0, exc_count
	je 2f
	mov $msg_exc_vec, %esi
	call puts64
	mov last_vec, %rax
	jmp 3f
2:	mov $msg_returned, %esi
	call puts64
3:	call puthex64
	mov $msg_nl, %esi
	call puts64
	jmp finish64

	.balign 8
t1:		.quad 0
t2:		.quad 0
ver1:		.long 0
ver2:		.long 0
hv_max:		.long 0
features:	.long 0

msg_title:	.asciz "trivisor guest: hypercall\n"
msg_para:	.asciz "guest interface: para\n"
msg_full:	.asciz "guest interface: full\n"
msg_hvbit:	.asciz "hypervisor bit"
msg_nohvbit:	.asciz "no hypervisor bit"
msg_sig:	.asciz "KVM signature"
msg_nosig:	.asciz "no KVM signature"
msg_features:	.asciz "KVM features: "
msg_unk_vmcall:	.asciz "unknown hypercall (vmcall) = -KVM_ENOSYS"
msg_unk_vmmcall: .asciz "unknown hypercall (vmmcall) = -KVM_ENOSYS"
msg_yield:	.asciz "sched yield to self (vmcall)"
msg_kick:	.asciz "kick cpu (vmmcall)"
msg_ipi:	.asciz "send IPI to nobody (vmcall)"
msg_ipi_self:	.asciz "send IPI to self (vmmcall) = 1 delivered"
msg_ipi_taken:	.asciz "IPI vector 0xf1 taken"
msg_pv_eoi_off:	.asciz "IPI after PV EOI off in its handler"
msg_no_clock:	.asciz "kvm-clock: not offered\n"
msg_clk_on:	.asciz "kvm-clock enabled"
msg_clk_ver:	.asciz "kvm-clock version even"
msg_clk_mul:	.asciz "kvm-clock tsc_to_system_mul"
msg_clk_flags:	.asciz "kvm-clock flags: "
msg_clk_adv:	.asciz "kvm-clock time advances"
msg_clk_upd:	.asciz "kvm-clock monotonic across re-enable"
msg_wc_ver:	.asciz "wall clock version even"
msg_wc_sec:	.asciz "wall clock after 2020"
msg_full_vmcall: .asciz "vmcall under full: "
msg_exc_vec:	.asciz "exception "
msg_returned:	.asciz "returned "

	.bss
	.balign 64
pvclock:	.skip 32
pv_eoi:		.skip 8
	.balign 16
wallclock:	.skip 16
