/* nmi.S: NMI blocking (Intel SDM vol. 3A 6.7.1, "Handling Multiple NMIs"). The guest
 * sends itself an NMI through the local APIC's ICR (delivery mode NMI, physical
 * destination: its own APIC ID); its handler sends a second one, spins, then returns
 * with IRETQ. Until that IRET, NMIs are blocked: the second NMI is held, not nested, and
 * is taken at the first instruction boundary after the IRET, so it interrupts the very
 * instruction the first NMI interrupted. Prints:
 *     NMI delivered: ok
 *     NMI held while its handler runs: ok
 *     held NMI delivered after IRET: ok
 *     held NMI taken at the IRET's return: ok  (same saved RIP as the first NMI)
 *     all ok
 * and exits with status 99.
 */
	.set WANT_LONG, 1
	.include "common.inc"

	.set APIC_PA, 0xfee00000
	.set APIC_ID, 0x20
	.set APIC_SVR, 0xf0
	.set APIC_ICR_LO, 0x300
	.set APIC_ICR_HI, 0x310
	.set ICR_NMI, 0x4400		/* delivery mode NMI, level assert, no shorthand */
	.set ICR_BUSY, 0x1000		/* delivery status: send pending */
	.set PTE_PCD, 0x10
	.set SPIN, 100000		/* iterations the first handler waits after sending */
	.set WAIT, 1000000		/* iterations the main code waits for both NMIs */

	.code32
_start:
	cli
	mov $kstack_top, %esp
	mov $msg_title, %esi
	call puts32
	jmp enter_long

	.code64
long_main:
	/* Map the local APIC: PDPT[3] (3..4 GiB) -> apic_pd, one uncached 2 MiB page. */
	mov $apic_pd, %rax
	or $(PTE_P | PTE_W), %rax
	mov %rax, pdpt + 3 * 8
	mov $(APIC_PA | PTE_P | PTE_W | PTE_PS | PTE_PCD), %rax
	mov %rax, apic_pd + ((APIC_PA - 0xc0000000) >> 21) * 8
	mov %cr3, %rax
	mov %rax, %cr3
	/* Gate 2 -> nmi_handler (interrupt gate, DPL 0, no IST). */
	mov $nmi_handler, %rax
	mov %rax, %rdx
	and $0xffff, %rdx
	or $(KCODE << 16), %rdx
	shr $16, %rax
	shl $48, %rax
	or %rax, %rdx
	mov $0x8e0000000000, %rax
	or %rax, %rdx
	mov %rdx, idt + 2 * 16
	movq $0, idt + 2 * 16 + 8
	/* Software-enable the APIC. */
	mov $APIC_PA, %rbx
	orl $0x100, APIC_SVR(%rbx)

	call send_nmi
	mov $WAIT, %ecx
1:	cmpl $2, nmi_count
	je 2f
	dec %ecx
	jnz 1b
2:
	cmpl $0, nmi_count
	setne %al
	cmp $1, %al
	mov $msg_delivered, %esi
	call check64

	cmpl $1, count_in_handler
	mov $msg_held, %esi
	call check64

	cmpl $2, nmi_count
	jne 2f
	cmpb $0, nmi2_nested
2:	mov $msg_after_iret, %esi
	call check64

	cmpl $2, nmi_count
	jne 2f
	mov nmi1_rip, %rax
	cmp nmi2_rip, %rax
2:	mov $msg_at_return, %esi
	call check64
	jmp finish64

/* NMI to this CPU's own APIC ID, waiting for the ICR to accept it. */
send_nmi:
	push %rax
	push %rbx
	mov $APIC_PA, %rbx
	mov APIC_ID(%rbx), %eax
	and $0xff000000, %eax
	mov %eax, APIC_ICR_HI(%rbx)
	movl $ICR_NMI, APIC_ICR_LO(%rbx)
1:	testl $ICR_BUSY, APIC_ICR_LO(%rbx)
	jnz 1b
	pop %rbx
	pop %rax
	ret

/* First NMI: send the second, spin long enough for it to arrive were NMIs not blocked,
 * record how many NMIs came so far, return. Second NMI: record whether it came inside
 * the first handler, and the RIP it interrupted. */
nmi_handler:
	push %rax
	push %rcx
	mov in_nmi, %al
	movb $1, in_nmi
	incl nmi_count
	cmpl $1, nmi_count
	jne 5f
	mov 16(%rsp), %rcx		/* saved RIP */
	mov %rcx, nmi1_rip
	call send_nmi
	mov $SPIN, %ecx
1:	dec %ecx
	jnz 1b
	mov nmi_count, %ecx
	mov %ecx, count_in_handler
	jmp 6f
5:	mov %al, nmi2_nested
	mov 16(%rsp), %rcx
	mov %rcx, nmi2_rip
6:	pop %rcx
	pop %rax
	movb $0, in_nmi
	iretq

msg_title:	.asciz "trivisor guest: nmi\n"
msg_delivered:	.asciz "NMI delivered"
msg_held:	.asciz "NMI held while its handler runs"
msg_after_iret:	.asciz "held NMI delivered after IRET"
msg_at_return:	.asciz "held NMI taken at the IRET's return"

	.balign 8
nmi1_rip:	.quad 0
nmi2_rip:	.quad -1
nmi_count:	.long 0
count_in_handler: .long 0
in_nmi:		.byte 0
nmi2_nested:	.byte 0

	.bss
	.balign 4096
apic_pd:	.skip 4096
