/* hostile.S: guests that misbehave, for tests/integration/test_robustness.py. One source,
 * built once per behaviour with --defsym (tests/guests/meson.build); each prints its
 * name line on COM1 first, so a test knows the guest got that far:
 *
 *   TRIPLE=1   "hostile: triple": loads an empty IDT and executes INT3. The #BP, then
 *              the #GP for the missing gate, then the double fault all find no gate: a
 *              triple fault (trivisor exits 4).
 *   SPIN=1     "hostile: spin": CLI, then an endless JMP to itself. Only Ctrl-A x or a
 *              signal ends it.
 *   HALT=1     "hostile: halt": CLI, then HLT forever: nothing can wake the CPU.
 *   GARBAGE=1  "hostile: garbage": writes pseudo-random values to the platform's
 *              devices (PIC, PIT, CMOS, UART, PCI configuration through 0xcf8/0xcfc and
 *              ECAM, the IOAPIC with its redirection entries masked, fw_cfg, the
 *              virtio-mmio windows, unclaimed ports; not the ports that end the VM on
 *              purpose: 0x64 reset, 0xf4 debug exit, the ACPI PM1 block), reads garbage
 *              back, then re-programs the UART, prints "hostile: survived" and exits
 *              through 0xf4 (status 99). Interrupts stay off throughout.
 * GARBAGE's pseudo-random sequence is fixed (an LCG from SEED, printed as "seed: <hex>";
 * another with --defsym SEED=...), so a failure reproduces. */
	.include "common.inc"		/* multiboot header, COM1, putc32/puts32 */

	.code32
puthex:				/* EAX, 8 hex digits */
	push %ecx
	push %edx
	mov %eax, %edx
	mov $8, %ecx
1:	rol $4, %edx
	mov %edx, %eax
	and $15, %eax
	movzbl hexdigits(%eax), %eax
	call putc32
	loop 1b
	pop %edx
	pop %ecx
	ret

_start:
	cli
	mov $stack_top, %esp
	.ifdef TRIPLE
	mov $msg_triple, %esi
	call puts32
	lidt empty_idt
	int3
	.endif

	.ifdef SPIN
	mov $msg_spin, %esi
	call puts32
1:	jmp 1b
	.endif

	.ifdef HALT
	mov $msg_halt, %esi
	call puts32
1:	hlt
	jmp 1b
	.endif

	.ifdef GARBAGE
	mov $msg_garbage, %esi
	call puts32
	.ifndef SEED
	.set SEED, 0x2545f491
	.endif
	mov $SEED, %ebx
	mov $msg_seed, %esi
	call puts32
	mov %ebx, %eax
	call puthex
	mov $'\n', %al
	call putc32

	mov $20000, %edi		/* rounds */
garbage_loop:
	call rand			/* EAX = next random value */
	mov %eax, %ecx
	shr $28, %ecx			/* which target */
	call *targets(,%ecx,4)
	dec %edi
	jnz garbage_loop

	/* The UART may be in any state now: 8N1, divisor 1, no loopback, FIFO on. */
	mov $COM1 + 3, %dx
	mov $0x80, %al			/* DLAB */
	outb %al, %dx
	mov $COM1, %dx
	mov $1, %al
	outb %al, %dx
	mov $COM1 + 1, %dx
	xor %al, %al
	outb %al, %dx
	mov $COM1 + 3, %dx
	mov $3, %al
	outb %al, %dx
	mov $COM1 + 4, %dx
	mov $3, %al			/* DTR, RTS, no loopback */
	outb %al, %dx
	mov $COM1 + 2, %dx
	mov $7, %al
	outb %al, %dx
	mov $'\n', %al
	call putc32
	mov $msg_survived, %esi
	call puts32
	mov $EXIT_OK, %al
	outb %al, $DEBUG_EXIT
1:	hlt
	jmp 1b

/* Park-Miller-style LCG in EBX; returns EAX = EBX after the step. */
rand:
	imul $1103515245, %ebx, %ebx
	add $12345, %ebx
	mov %ebx, %eax
	ret

/* Each target takes the random word in EAX (bits 28-31 chose the target). */
t_port_pic:			/* 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1 */
	mov %eax, %ecx
	and $7, %ecx
	movzwl pic_ports(,%ecx,2), %edx
	shr $8, %eax
	outb %al, %dx
	inb %dx, %al
	ret
t_port_pit:			/* 0x40-0x43, 0x61 */
	mov %eax, %ecx
	and $3, %ecx
	lea 0x40(%ecx), %edx
	test $0x100, %eax
	jz 1f
	mov $0x61, %edx
1:	shr $16, %eax
	outb %al, %dx
	inb %dx, %al
	ret
t_port_cmos:			/* 0x70, 0x71 */
	mov %eax, %edx
	and $1, %edx
	add $0x70, %edx
	shr $8, %eax
	outb %al, %dx
	inb %dx, %al
	ret
t_port_uart:			/* 0x3f8-0x3ff */
	mov %eax, %edx
	and $7, %edx
	add $COM1, %edx
	shr $8, %eax
	outb %al, %dx
	inb %dx, %al
	ret
t_pci_cf8:			/* an address, then data of any width at 0xcfc-0xcff */
	mov %eax, %ecx
	or $0x80000000, %eax
	and $0x8000fffc, %eax		/* bus 0, any device/function/register */
	mov $0xcf8, %dx
	outl %eax, %dx
	call rand
	mov %ecx, %edx
	shr $8, %edx
	and $3, %edx
	add $0xcfc, %edx
	test $0x10000, %ecx
	jz 1f
	outl %eax, %dx
	inl %dx, %eax
	ret
1:	outb %al, %dx
	inw %dx, %ax
	ret
t_ecam:				/* ECAM at 0xe0000000, bus 0 */
	mov %eax, %ecx
	and $0xffffc, %ecx
	call rand
	mov %eax, 0xe0000000(%ecx)
	mov 0xe0000000(%ecx), %eax
	ret
t_ioapic:			/* IOREGSEL then IOWIN */
	and $0xff, %eax
	mov %eax, 0xfec00000
	call rand
	or $0x10000, %eax		/* redirection entries stay masked: no NMI/INIT */
	mov %eax, 0xfec00010
	mov 0xfec00010, %eax
	ret
t_fwcfg:			/* selector 0x510, data 0x511 */
	mov $0x510, %dx
	outw %ax, %dx
	shr $16, %eax
	mov $0x511, %dx
	outb %al, %dx
	inb %dx, %al
	ret
t_virtio_mmio:			/* the windows at 0xfeb00000 + i * 0x200 */
	mov %eax, %ecx
	and $0xffc, %ecx
	call rand
	mov %eax, 0xfeb00000(%ecx)
	mov 0xfeb00000(%ecx), %eax
	ret
t_unclaimed:			/* ports nobody claims: 0x100-0x3ef */
	mov %eax, %edx
	and $0x2ff, %edx
	add $0x100, %edx
	shr $16, %eax
	outb %al, %dx
	inb %dx, %al
	ret

	.data
	.align 4
targets:
	.long t_port_pic, t_port_pit, t_port_cmos, t_port_uart
	.long t_pci_cf8, t_pci_cf8, t_ecam, t_ioapic
	.long t_fwcfg, t_virtio_mmio, t_unclaimed, t_port_pic
	.long t_port_pit, t_pci_cf8, t_ecam, t_virtio_mmio
pic_ports:
	.word 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x21, 0xa1
	.endif

	.data
empty_idt:
	.word 0
	.long 0
hexdigits:
	.ascii "0123456789abcdef"
msg_triple:
	.asciz "hostile: triple\n"
msg_spin:
	.asciz "hostile: spin\n"
msg_halt:
	.asciz "hostile: halt\n"
msg_garbage:
	.asciz "hostile: garbage\n"
msg_seed:
	.asciz "seed: "
msg_survived:
	.asciz "hostile: survived\n"

	.bss
	.align 16
	.space 4096
stack_top:
