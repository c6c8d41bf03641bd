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
 *   STORM=1    "hostile: storm": an interrupt storm that never ends. An IDT whose
 *              handlers only count and EOI; the PIC remapped to 0x20 with every IRQ
 *              unmasked and reaching the CPU through LINT0 (ExtINT); the PIT's
 *              counter 0 in mode 2 at its fastest rate (count 2); the local APIC (xAPIC
 *              MMIO) enabled with its timer periodic every 10 us; then, interrupts on,
 *              self-IPIs through the ICR in a tight loop. With a virtio-rng on
 *              virtio-pci (--rng), an MSI flood besides: MSI-X on, queue 0's message
 *              to this CPU, and a one-buffer request posted and notified each time
 *              the last one is used, so the device sends an MSI every round; one
 *              message in 16, from the second on, is a hostile one (an address
 *              outside the LAPICs' window, the entry masked, another destination,
 *              vector, delivery mode or trigger) before the good one is put back.
 *   FLOOD=1    "hostile: flood": an I/O flood that never ends, interrupts off. Sweeps
 *              every port 0-0xffff over and over, an OUT of a random value and
 *              width (1, 2 or 4 bytes) then an IN of that width, except where the
 *              access would touch a port that ends the VM on purpose (0x64 reset,
 *              0xf4-0xf7 debug exit, 0xcf9 reset control, the ACPI PM1/timer block
 *              0x600-0x60b); fw_cfg, its DMA registers included, gets the garbage too.
 *              After one port in eight, a random write and a read in the IOAPIC (its
 *              redirection entries kept masked), LAPIC (its LVT entries kept masked
 *              and ICR writes fixed delivery: no NMI, INIT or SMI) or ECAM window.
 *   DMA=1      "hostile: dma": DMA pointed at MMIO and past RAM, on every device, for
 *              ever, interrupts off. Each round takes the next address from a list: the
 *              LAPIC, the IOAPIC, the virtio-mmio windows, ECAM, the start of the PCI
 *              window, the legacy VGA window, the last 8 bytes of RAM (a 16-byte
 *              structure straddles its end), the first byte past it, the top of the
 *              32-bit RAM range, 4 GiB, the top of the 64-bit space, the device's own
 *              registers, and random ones in the 32-bit hole or above 4 GiB (never this
 *              guest's RAM: it runs with --mem 64M, RAM_END below). With it, every
 *              virtio device, on virtio-mmio or virtio-pci (queues 0 and 1), is reset
 *              and set up with its rings there, or with its rings in RAM and the
 *              buffers (or an indirect table) there, and notified; the AHCI
 *              controller's port 0 gets its command list, or its command table, or
 *              the PRDs of a READ/WRITE DMA EXT there, and the command issued; the
 *              e1000 gets its transmit ring there (or a ring
 *              in RAM whose first buffer is there, then an ARP request for 10.0.2.2 that
 *              slirp answers) and its receive ring there. Devices found through
 *              0xfeb00000 + i * 0x200 and a scan of PCI bus 0 (8086:2922, 8086:100e,
 *              1af4:1040 and up, whose virtio structures are found through their
 *              capabilities), memory decoding and bus mastering turned on.
 * STORM, FLOOD and DMA print a progress line about twice a second (by the TSC), "storm:
 * ipi <n> pic <n> timer <n> msi <n>" (interrupts taken so far, hex), "flood: ports <n> mmio <n>"
 * (accesses done so far, hex) or "dma: rounds <n> virtio <n> ahci <n> e1000 <n>"
 * (rounds, and the commands each kind of device was given); FLOOD puts the UART back
 * in order first.
 * The pseudo-random sequences of GARBAGE (an LCG) and STORM, FLOOD and DMA (xorshift32) are fixed,
 * from SEED, printed as "seed: <hex>" (another with --defsym SEED=...), so a failure
 * reproduces. */
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

	.ifndef SEED
	.set SEED, 0x2545f491
	.endif

/* "seed: <hex>" for the pseudo-random sequence starting at EBX. */
putseed:
	mov $msg_seed, %esi
	call puts32
	mov %ebx, %eax
	call puthex
	mov $'\n', %al
	jmp putc32

/* Park-Miller-style LCG in EBX; returns EAX = EBX after the step. */
rand:
	imul $1103515245, %ebx, %ebx
	add $12345, %ebx
	mov %ebx, %eax
	ret

/* xorshift32 in EBX (never 0); returns EAX = EBX after the step. All bits are good,
 * unlike the LCG's low ones. */
xrand:
	mov %ebx, %eax
	shl $13, %eax
	xor %eax, %ebx
	mov %ebx, %eax
	shr $17, %eax
	xor %eax, %ebx
	mov %ebx, %eax
	shl $5, %eax
	xor %eax, %ebx
	mov %ebx, %eax
	ret

/* The UART may be in any state after garbage: 8N1, divisor 1, no loopback, FIFO on. */
uart_reset:
	push %eax
	push %edx
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
	pop %edx
	pop %eax
	ret

/* ZF = 0 when the TSC has moved to another 2^30-cycle period since the last call (about
 * half a second at 2 GHz, the soft engine's TSC rate): time for a progress line. */
report_due:
	push %eax
	push %edx
	rdtsc
	shrd $30, %edx, %eax
	cmp last_report, %eax
	mov %eax, last_report
	pop %edx
	pop %eax
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

	.ifdef STORM
	jmp storm
	.endif

	.ifdef FLOOD
	jmp flood
	.endif

	.ifdef DMA
	jmp dma
	.endif

	.ifdef GARBAGE
	mov $msg_garbage, %esi
	call puts32
	mov $SEED, %ebx
	call putseed

	mov $20000, %edi		/* rounds */
garbage_loop:
	call rand			/* EAX = next random value */
	mov %eax, %ecx
	shr $28, %ecx			/* which target */
	call *targets(,%ecx,4)
	dec %edi
	jnz garbage_loop

	call uart_reset
	mov $'\n', %al
	call putc32
	mov $msg_survived, %esi
	call puts32
	mov $EXIT_OK, %al
	outb %al, $DEBUG_EXIT
1:	hlt
	jmp 1b

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

	.set LAPIC, 0xfee00000
	.set LAPIC_EOI, 0xb0
	.set LAPIC_SVR, 0xf0
	.set LAPIC_ICR, 0x300
	.set LAPIC_LVT_CMCI, 0x2f0
	.set LAPIC_LVT_TIMER, 0x320
	.set LAPIC_LVT_LINT0, 0x350
	.set LAPIC_LVT_ERROR, 0x370
	.set LAPIC_TICR, 0x380
	.set LAPIC_TDCR, 0x3e0
	.set LVT_MASKED, 0x10000
	.set ICR_DELIVERY_MODE, 0x700


/* PCI configuration and virtio-pci, for STORM and DMA. */
	.ifdef STORM
	.set VPCI, 1
	.endif
	.ifdef DMA
	.set VPCI, 1
	.endif
	.ifdef VPCI
	.set VQ_SIZE, 8
	.set VP_MAX, 4			/* virtio-pci devices kept */

	.text
/* EAX = the dword at configuration register EAX of device ECX (bus 0, function 0). */
pci_rd:
	push %edx
	call pci_addr
	mov $0xcfc, %dx
	inl %dx, %eax
	pop %edx
	ret

/* Write EDX to configuration register EAX of device ECX. Clobbers EAX and EDX. */
pci_wr:
	push %edx
	call pci_addr
	pop %eax
	mov $0xcfc, %dx
	outl %eax, %dx
	ret

/* Select register EAX of device ECX at 0xcf8. Clobbers EDX. */
pci_addr:
	and $0xfc, %eax
	mov %ecx, %edx
	shl $11, %edx
	or %edx, %eax
	or $0x80000000, %eax
	mov $0xcf8, %dx
	outl %eax, %dx
	ret

/* EAX = the memory address BAR EAX of device ECX decodes. */
pci_bar:
	lea 0x10(,%eax,4), %eax
	call pci_rd
	and $0xfffffff0, %eax
	ret

/* Device ECX: COMMAND = memory space | bus master; returns the address of the BAR at
 * configuration register EAX. */
pci_bar_enable:
	push %eax
	mov $4, %eax
	mov $6, %edx
	call pci_wr
	pop %eax
	call pci_rd
	and $0xfffffff0, %eax
	ret

/* Every virtio-pci device on bus 0 (1af4:1040 and up), VP_MAX at most: memory decoding
 * and bus mastering on; its device ID, slot, common configuration, notification area
 * and multiplier, and MSI-X table and capability, from its capability list. */
vp_find:
	push %esi
	push %edi
	xor %ecx, %ecx
1:	xor %eax, %eax
	call pci_rd
	cmp $0x1af4, %ax
	jne 8f
	shr $16, %eax
	cmp $0x1040, %eax
	jb 8f
	mov vp_n, %edi
	cmp $VP_MAX, %edi
	jae 8f
	mov %eax, vp_id(,%edi,4)
	mov %ecx, vp_slot(,%edi,4)
	mov $0x10, %eax
	call pci_bar_enable
	mov $0x34, %eax
	call pci_rd
	movzbl %al, %esi		/* ESI: the capability */
2:	test %esi, %esi
	jz 7f
	mov %esi, %eax
	call pci_rd
	cmp $0x09, %al			/* vendor-specific: a virtio structure */
	jne 4f
	shr $24, %eax			/* cfg_type */
	cmp $1, %eax
	je 3f
	cmp $2, %eax
	jne 5f
	lea 16(%esi), %eax		/* notify_off_multiplier */
	call pci_rd
	mov %eax, vp_mult(,%edi,4)
	call vp_struct
	mov %eax, vp_notify(,%edi,4)
	jmp 5f
3:	call vp_struct
	mov %eax, vp_common(,%edi,4)
	jmp 5f
4:	cmp $0x11, %al			/* MSI-X */
	jne 5f
	mov %esi, vp_msix_cap(,%edi,4)
	lea 4(%esi), %eax		/* table offset | BIR */
	call pci_rd
	push %eax
	and $7, %eax
	call pci_bar
	pop %edx
	and $~7, %edx
	add %edx, %eax
	mov %eax, vp_msix(,%edi,4)
5:	mov %esi, %eax
	call pci_rd
	movzbl %ah, %esi		/* the next capability */
	jmp 2b
7:	incl vp_n
8:	inc %ecx
	cmp $32, %ecx
	jb 1b
	pop %edi
	pop %esi
	ret

/* EAX = where the virtio structure of the capability at ESI (device ECX) is: its BAR's
 * address plus its offset. */
vp_struct:
	push %edx
	lea 8(%esi), %eax
	call pci_rd
	mov %eax, %edx
	lea 4(%esi), %eax
	call pci_rd
	movzbl %al, %eax
	call pci_bar
	add %edx, %eax
	pop %edx
	ret

/* The device whose common configuration is at ESI: reset, ACKNOWLEDGE | DRIVER,
 * VIRTIO_F_VERSION_1 alone, FEATURES_OK. */
vp_start:
	movb $0, 0x14(%esi)		/* device_status */
	movb $3, 0x14(%esi)
	movl $1, 0x08(%esi)		/* driver_feature_select */
	movl $1, 0x0c(%esi)		/* driver_feature: bit 32 */
	movl $0, 0x08(%esi)
	movl $0, 0x0c(%esi)
	movb $0xb, 0x14(%esi)
	ret

/* EAX = the notification address of the queue selected at ESI, device EDI. */
vp_notify_addr:
	push %edx
	movzwl 0x1e(%esi), %eax		/* queue_notify_off */
	mull vp_mult(,%edi,4)
	add vp_notify(,%edi,4), %eax
	pop %edx
	ret

	.bss
	.align 4
vp_n:
	.long 0
vp_id:
	.space VP_MAX * 4
vp_slot:
	.space VP_MAX * 4
vp_common:
	.space VP_MAX * 4
vp_notify:
	.space VP_MAX * 4
vp_mult:
	.space VP_MAX * 4
vp_msix:
	.space VP_MAX * 4
vp_msix_cap:
	.space VP_MAX * 4
	.endif

	.ifdef STORM
	.set VEC_PIC, 0x20		/* IRQ 0-7 at 0x20-0x27, IRQ 8-15 at 0x28-0x2f */
	.set VEC_IPI, 0x40
	.set VEC_TIMER, 0x41
	.set VEC_MSI, 0x42
	.set VEC_SPURIOUS, 0xff

	.text
storm:
	mov $msg_storm, %esi
	call puts32
	mov $SEED, %ebx			/* EBX: the xorshift32 state, throughout */
	call putseed

	/* IDT: 32-bit interrupt gates; exceptions report and exit, the PIC's vectors,
	 * the self-IPI's and the timer's count, anything else just EOIs. */
	xor %edx, %edx
	mov %cs, %dx
	shl $16, %edx			/* EDX: the gates' selector:0 */
	xor %ecx, %ecx
1:	mov $storm_exc, %eax
	cmp $VEC_PIC, %ecx
	jb 2f
	mov $storm_pic, %eax
	cmp $VEC_PIC + 16, %ecx
	jb 2f
	mov $storm_ipi, %eax
	cmp $VEC_IPI, %ecx
	je 2f
	mov $storm_timer, %eax
	cmp $VEC_TIMER, %ecx
	je 2f
	mov $storm_msi, %eax
	cmp $VEC_MSI, %ecx
	je 2f
	mov $storm_other, %eax
2:	mov %eax, %esi
	and $0xffff0000, %esi
	or $0x8e00, %esi		/* present, DPL 0, 32-bit interrupt gate */
	mov %esi, idt32 + 4(,%ecx,8)
	mov %edx, %esi
	mov %ax, %si
	mov %esi, idt32(,%ecx,8)
	inc %ecx
	cmp $256, %ecx
	jb 1b
	lidt idt32_ptr

	/* PIC: ICW1-4 (edge, cascade, 8086 mode), every IRQ unmasked. */
	mov $0x11, %al
	outb %al, $0x20
	outb %al, $0xa0
	mov $VEC_PIC, %al
	outb %al, $0x21
	mov $VEC_PIC + 8, %al
	outb %al, $0xa1
	mov $4, %al
	outb %al, $0x21
	mov $2, %al
	outb %al, $0xa1
	mov $1, %al
	outb %al, $0x21
	outb %al, $0xa1
	xor %al, %al
	outb %al, $0x21
	outb %al, $0xa1

	/* Local APIC: enabled, the PIC through LINT0 (ExtINT), the timer periodic every
	 * 10 us (count 10000 at divide-by-1 of the 1 GHz bus clock that trivisor and KVM
	 * give it; KVM makes it 200 us). Not faster: at count 1000 the soft engine takes
	 * the next timer interrupt right after each IRET and the loop below never runs
	 * (the quit key still works), which tests less. */
	movl $(0x100 | VEC_SPURIOUS), LAPIC + LAPIC_SVR
	movl $0x700, LAPIC + LAPIC_LVT_LINT0
	movl $0xb, LAPIC + LAPIC_TDCR
	movl $(0x20000 | VEC_TIMER), LAPIC + LAPIC_LVT_TIMER
	movl $10000, LAPIC + LAPIC_TICR

	/* PIT counter 0: mode 2 (rate generator), count 2, the fastest it allows. */
	mov $0x34, %al
	outb %al, $0x43
	mov $2, %al
	outb %al, $0x40
	xor %al, %al
	outb %al, $0x40

	call msi_setup
	sti
storm_loop:
	movl $(0x40000 | VEC_IPI), LAPIC + LAPIC_ICR	/* fixed, edge, to self */
	cmpl $0, msi_notify
	je 1f
	mov msi_ring + 0x2002, %ax	/* used.idx: the last request done? */
	cmp msi_avail, %ax
	jne 1f
	call msi_post
1:	call report_due
	jz storm_loop
	mov $msg_storm_ipi, %esi
	call puts32
	mov ipi_count, %eax
	call puthex
	mov $msg_storm_pic, %esi
	call puts32
	mov pic_count, %eax
	call puthex
	mov $msg_storm_timer, %esi
	call puts32
	mov timer_count, %eax
	call puthex
	mov $msg_storm_msi, %esi
	call puts32
	mov msi_count, %eax
	call puthex
	mov $'\n', %al
	call putc32
	jmp storm_loop

/* The virtio-rng on virtio-pci, if there is one: MSI-X on with entry 0 the good message,
 * then queue 0 (eight 16-byte device-writable buffers, rings in msi_ring) on it. */
msi_setup:
	call vp_find
	xor %edi, %edi
1:	cmp vp_n, %edi
	jae 9f
	cmpl $0x1044, vp_id(,%edi,4)	/* virtio-rng */
	je 2f
	inc %edi
	jmp 1b
2:	mov vp_msix(,%edi,4), %eax
	mov %eax, msi_table
	call msi_good
	mov vp_slot(,%edi,4), %ecx
	mov vp_msix_cap(,%edi,4), %eax
	call pci_rd
	and $~0x40000000, %eax		/* Message Control: function unmasked, */
	or $0x80000000, %eax		/* MSI-X enabled */
	mov %eax, %edx
	mov vp_msix_cap(,%edi,4), %eax
	call pci_wr
	mov vp_common(,%edi,4), %esi
	call vp_start
	movw $0xffff, 0x10(%esi)	/* msix_config: no vector */
	movw $0, 0x16(%esi)		/* queue_select 0 */
	movw $VQ_SIZE, 0x18(%esi)
	movw $0, 0x1a(%esi)		/* queue_msix_vector: entry 0 */
	movl $msi_ring, 0x20(%esi)	/* queue_desc, _driver, _device */
	movl $0, 0x24(%esi)
	movl $msi_ring + 0x1000, 0x28(%esi)
	movl $0, 0x2c(%esi)
	movl $msi_ring + 0x2000, 0x30(%esi)
	movl $0, 0x34(%esi)
	xor %ecx, %ecx
3:	mov %ecx, %eax			/* descriptor i: 16 bytes at msi_buf + 16 i */
	shl $4, %eax
	lea msi_buf(%eax), %edx
	mov %edx, msi_ring(%eax)
	movl $0, msi_ring + 4(%eax)
	movl $16, msi_ring + 8(%eax)
	movl $2, msi_ring + 12(%eax)	/* WRITE */
	inc %ecx
	cmp $VQ_SIZE, %ecx
	jb 3b
	movw $1, 0x1c(%esi)		/* queue_enable */
	call vp_notify_addr
	mov %eax, msi_notify
	movb $0xf, 0x14(%esi)		/* DRIVER_OK */
9:	ret

/* Entry 0: to this CPU (APIC ID 0), fixed, edge, VEC_MSI; unmasked (delivers a message
 * left pending while it was masked). */
msi_good:
	mov msi_table, %edx
	movl $0xfee00000, (%edx)
	movl $0, 4(%edx)
	movl $VEC_MSI, 8(%edx)
	movl $0, 12(%edx)
	ret

/* Entry 0, hostile, by ECX: 0, an address outside the LAPICs' window; 1, the entry
 * masked; 2 and 3, a random destination (physical or logical, RH either way), a vector
 * of 0x80-0xff, fixed or lowest priority, any trigger bits. */
msi_bad:
	mov msi_table, %edx
	test %ecx, %ecx
	jz 1f
	cmp $1, %ecx
	je 2f
	call xrand
	and $0xff00c, %eax		/* destination ID, RH, DM */
	or $0xfee00000, %eax
	mov %eax, (%edx)
	call xrand
	and $0xc17f, %eax		/* trigger, level, fixed/lowest, vector */
	or $0x80, %eax
	mov %eax, 8(%edx)
	ret
1:	call xrand
	and $~3, %eax
	or $0x80000000, %eax		/* the 32-bit hole and up: never this guest's RAM */
	mov %eax, (%edx)
	ret
2:	movl $1, 12(%edx)		/* masked: the message waits in the PBA */
	ret

/* Make the next buffer available and notify; one time in 16 with a hostile entry 0, of
 * each kind in turn, from the second request on (so even a slow run sees one). */
msi_post:
	movzwl msi_avail, %ecx
	mov %ecx, %eax
	and $15, %eax
	cmp $1, %eax
	jne 1f
	shr $4, %ecx
	and $3, %ecx
	call msi_bad
	jmp 2f
1:	call msi_good
2:	movzwl msi_avail, %eax
	mov %eax, %ecx
	and $VQ_SIZE - 1, %ecx
	mov %cx, msi_ring + 0x1004(,%ecx,2)	/* avail.ring[idx % size] = descriptor */
	inc %eax
	mov %ax, msi_avail
	mov %ax, msi_ring + 0x1002	/* avail.idx */
	mov msi_notify, %edx
	movw $0, (%edx)			/* queue 0 */
	ret

storm_pic:
	incl pic_count
	push %eax
	mov $0x20, %al			/* non-specific EOI, slave then master */
	outb %al, $0xa0
	outb %al, $0x20
	pop %eax
	iret
storm_ipi:
	incl ipi_count
	movl $0, LAPIC + LAPIC_EOI
	iret
storm_timer:
	incl timer_count
	movl $0, LAPIC + LAPIC_EOI
	iret
storm_msi:
	incl msi_count
	movl $0, LAPIC + LAPIC_EOI
	iret
storm_other:
	movl $0, LAPIC + LAPIC_EOI
	iret
storm_exc:
	mov $msg_unexpected_exc, %esi
	call puts32
	mov $EXIT_EXC, %al
	outb %al, $DEBUG_EXIT
1:	cli
	hlt
	jmp 1b

	.data
	.align 8
idt32_ptr:
	.word 256 * 8 - 1
	.long idt32
msg_storm_ipi:
	.asciz "storm: ipi "
msg_storm_pic:
	.asciz " pic "
msg_storm_timer:
	.asciz " timer "
msg_storm_msi:
	.asciz " msi "
msg_unexpected_exc:
	.asciz "hostile: unexpected exception\n"
	.bss
	.align 8
idt32:
	.space 256 * 8
ipi_count:
	.long 0
pic_count:
	.long 0
timer_count:
	.long 0
msi_count:
	.long 0
msi_avail:				/* the next avail.idx */
	.long 0
msi_table:				/* the rng's MSI-X table */
	.long 0
msi_notify:				/* its queue 0's notification address; 0: none */
	.long 0
	.align 4096
msi_ring:				/* descriptors; avail at + 0x1000; used at + 0x2000 */
	.space 3 * 4096
msi_buf:
	.space VQ_SIZE * 16
	.endif

	.ifdef FLOOD
	.text
flood:
	mov $msg_flood, %esi
	call puts32
	mov $SEED, %ebx
	call putseed
	xor %edi, %edi			/* EDI: the port */
	xor %ebp, %ebp			/* EBP: ports accessed */
flood_loop:
	call xrand
	mov %eax, %ecx
	shr $30, %ecx
	movzbl widths(%ecx), %ecx	/* ECX: 1, 2 or 4 bytes */
	call port_forbidden
	jc 4f
	mov %edi, %edx
	cmp $2, %ecx
	je 2f
	ja 3f
	outb %al, %dx
	inb %dx, %al
	jmp 5f
2:	outw %ax, %dx
	inw %dx, %ax
	jmp 5f
3:	outl %eax, %dx
	inl %dx, %eax
5:	inc %ebp
	call xrand
	test $0x70000000, %eax		/* one port in eight: */
	jnz 4f
	call flood_mmio			/* an MMIO write and read */
4:	inc %edi
	and $0xffff, %edi
	test $0xff, %edi
	jnz flood_loop
	call report_due
	jz flood_loop
	call uart_reset
	mov $msg_flood_ports, %esi
	call puts32
	mov %ebp, %eax
	call puthex
	mov $msg_flood_mmio, %esi
	call puts32
	mov mmio_count, %eax
	call puthex
	mov $'\n', %al
	call putc32
	jmp flood_loop

/* CF = 1 when an access of ECX bytes at port EDI touches a port that ends the VM.
 * Keeps EAX. */
port_forbidden:
	push %eax
	push %edx
	push %esi
	lea -1(%edi,%ecx), %edx		/* EDX: the last port touched */
	mov $forbidden_ports, %esi
1:	movzwl 2(%esi), %eax
	cmp %eax, %edi
	ja 2f				/* starts past this range */
	movzwl (%esi), %eax
	cmp %eax, %edx
	jae 3f				/* ends in or past it: overlap */
2:	add $4, %esi
	cmp $forbidden_ports_end, %esi
	jb 1b
	clc
	jmp 4f
3:	stc
4:	pop %esi
	pop %edx
	pop %eax
	ret

/* A random write, then a read, at a random dword of the IOAPIC, LAPIC or ECAM window. */
flood_mmio:
	incl mmio_count
	call xrand
	mov %eax, %ecx
	shr $30, %ecx
	jz flood_ioapic
	dec %ecx
	jz flood_lapic
	and $0xffffc, %eax		/* ECAM, bus 0 */
	mov %eax, %edx
	call xrand
	mov %eax, 0xe0000000(%edx)
	mov 0xe0000000(%edx), %eax
	ret
flood_ioapic:				/* IOREGSEL then IOWIN */
	and $0xff, %eax
	mov %eax, 0xfec00000
	call xrand
	or $0x10000, %eax		/* redirection entries stay masked */
	mov %eax, 0xfec00010
	mov 0xfec00010, %eax
	ret
flood_lapic:
	and $0xffc, %eax
	mov %eax, %edx
	call xrand
	cmp $LAPIC_ICR, %edx
	jne 1f
	and $~ICR_DELIVERY_MODE, %eax	/* fixed: pends, with interrupts off */
1:	cmp $LAPIC_LVT_CMCI, %edx
	je 2f
	cmp $LAPIC_LVT_TIMER, %edx
	jb 3f
	cmp $LAPIC_LVT_ERROR, %edx
	ja 3f
2:	or $LVT_MASKED, %eax		/* an LVT entry: masked, so never an NMI */
3:	mov %eax, LAPIC(%edx)
	mov LAPIC(%edx), %eax
	ret

	.data
widths:
	.byte 1, 2, 4, 1
	.align 2
forbidden_ports:			/* first, last */
	.word 0x64, 0x64		/* i8042 command: 0xfe pulses reset */
	.word DEBUG_EXIT, DEBUG_EXIT + 3
	.word 0xcf9, 0xcf9		/* reset control */
	.word 0x600, 0x60b		/* ACPI PM1a event, control (S5), PM timer */
forbidden_ports_end:
msg_flood_ports:
	.asciz "flood: ports "
msg_flood_mmio:
	.asciz " mmio "
	.bss
	.align 4
mmio_count:
	.long 0
	.endif

	.ifdef DMA
	.set RAM_END, 0x04000000	/* --mem 64M, as test_robustness runs it */
	.set VIRTIO_MMIO, 0xfeb00000	/* device i's window at + i * 0x200 */

/* Store rings' three addresses at \at, \at + \step and \at + 2 \step (low dword first). */
	.macro put_rings at, step
	.irp i, 0, 1, 2
	mov rings + 8 * \i, %eax
	mov %eax, \at + \step * \i(%esi)
	mov rings + 8 * \i + 4, %eax
	mov %eax, \at + \step * \i + 4(%esi)
	.endr
	.endm

	.text
dma:
	mov $msg_dma, %esi
	call puts32
	mov $SEED, %ebx
	call putseed
	call pci_find
dma_loop:
	incl dma_rounds
	call dma_virtio
	call dma_virtio_pci
	call dma_ahci
	call dma_e1000
	call report_due
	jz dma_loop
	mov $msg_dma_rounds, %esi
	call puts32
	mov dma_rounds, %eax
	call puthex
	mov $msg_dma_virtio, %esi
	call puts32
	mov virtio_kicks, %eax
	call puthex
	mov $msg_dma_ahci, %esi
	call puts32
	mov ahci_kicks, %eax
	call puthex
	mov $msg_dma_e1000, %esi
	call puts32
	mov e1000_kicks, %eax
	call puthex
	mov $'\n', %al
	call putc32
	jmp dma_loop

/* bad_lo/bad_hi: the next address from the list (EAX: the device's own registers);
 * pick_index counts the picks, its bits 4-6 choose each device's variant. */
pick_bad:
	push %ecx
	push %edx
	mov %eax, %edx
	mov pick_index, %ecx
	incl pick_index
	and $15, %ecx
	cmp $NBAD, %ecx
	jb 1f
	je 2f
	call xrand
	or $0x80000000, %eax		/* the 32-bit hole and above: never this guest's RAM */
	mov %eax, bad_lo
	call xrand
	test $1, %al
	jz 3f
	xor %eax, %eax
3:	mov %eax, bad_hi
	jmp 9f
1:	mov bad_addrs(,%ecx,8), %eax
	mov %eax, bad_lo
	mov bad_addrs + 4(,%ecx,8), %eax
	mov %eax, bad_hi
	jmp 9f
2:	mov %edx, bad_lo		/* its own registers */
	movl $0, bad_hi
9:	pop %edx
	pop %ecx
	ret

/* PCI bus 0 through 0xcf8/0xcfc: the AHCI controller's ABAR (BAR5) and the e1000's
 * BAR0, each with memory decoding and bus mastering on; the virtio-pci devices. */
pci_find:
	call vp_find
	xor %ecx, %ecx			/* ECX: the device number */
1:	xor %eax, %eax
	call pci_rd
	cmp $0x29228086, %eax		/* Intel ICH9 AHCI */
	jne 2f
	mov $0x24, %eax
	call pci_bar_enable
	mov %eax, ahci_bar
	jmp 3f
2:	cmp $0x100e8086, %eax		/* Intel 82540EM */
	jne 3f
	mov $0x10, %eax
	call pci_bar_enable
	mov %eax, e1000_bar
3:	inc %ecx
	cmp $32, %ecx
	jb 1b
	ret

/* Every virtio-mmio device: reset, set up queues 0 and 1 (rings at the bad address, or
 * in RAM with the buffers there), DRIVER_OK, notify. */
dma_virtio:
	mov $VIRTIO_MMIO, %esi
1:	cmpl $0x74726976, (%esi)	/* "virt" */
	jne 9f
	cmpl $0, 8(%esi)		/* device ID 0: an empty window */
	je 8f
	mov %esi, %eax
	call pick_bad
	movl $0, 0x70(%esi)		/* Status: reset */
	movl $3, 0x70(%esi)		/* ACKNOWLEDGE | DRIVER */
	movl $1, 0x24(%esi)		/* DriverFeaturesSel 1 */
	movl $1, 0x20(%esi)		/* VIRTIO_F_VERSION_1 */
	movl $0, 0x24(%esi)
	movl $0, 0x20(%esi)
	movl $0xb, 0x70(%esi)		/* FEATURES_OK */
	xor %ecx, %ecx
2:	mov %ecx, 0x30(%esi)		/* QueueSel */
	movl $VQ_SIZE, 0x38(%esi)	/* QueueNum */
	call vq_rings
	put_rings 0x80, 0x10		/* QueueDesc, QueueDriver, QueueDevice */
	movl $1, 0x44(%esi)		/* QueueReady */
	inc %ecx
	cmp $2, %ecx
	jb 2b
	movl $0xf, 0x70(%esi)		/* DRIVER_OK */
	movl $0, 0x50(%esi)		/* QueueNotify */
	movl $1, 0x50(%esi)
	incl virtio_kicks
8:	add $0x200, %esi
	cmp $VIRTIO_MMIO + 8 * 0x200, %esi
	jb 1b
9:	ret

/* Every virtio-pci device, likewise, through its common configuration. */
dma_virtio_pci:
	push %edi
	xor %edi, %edi
1:	cmp vp_n, %edi
	jae 9f
	mov vp_common(,%edi,4), %esi
	mov %esi, %eax
	call pick_bad
	call vp_start
	xor %ecx, %ecx
2:	mov %cx, 0x16(%esi)		/* queue_select */
	movw $VQ_SIZE, 0x18(%esi)	/* queue_size */
	call vq_rings
	put_rings 0x20, 8		/* queue_desc, queue_driver, queue_device */
	movw $1, 0x1c(%esi)		/* queue_enable */
	inc %ecx
	cmp $2, %ecx
	jb 2b
	movb $0xf, 0x14(%esi)		/* DRIVER_OK */
	xor %ecx, %ecx
3:	mov %cx, 0x16(%esi)
	call vp_notify_addr
	mov %cx, (%eax)
	inc %ecx
	cmp $2, %ecx
	jb 3b
	incl virtio_kicks
	inc %edi
	jmp 1b
9:	pop %edi
	ret

/* The rings' addresses, into rings (descriptors, driver area, device area; 64 bits
 * each): the bad address; or in RAM (vq_ram), two descriptors chained there, the first
 * a buffer (or an indirect table) at the bad address, the second a device-writable
 * buffer a page after it, made available once. */
vq_rings:
	testl $0x10, pick_index
	jnz 1f
	mov bad_lo, %eax
	mov bad_hi, %edx
	mov %eax, rings
	mov %edx, rings + 4
	mov %eax, rings + 8
	mov %edx, rings + 12
	mov %eax, rings + 16
	mov %edx, rings + 20
	ret
1:	mov bad_lo, %eax
	mov bad_hi, %edx
	mov %eax, vq_ram		/* desc[0].addr */
	mov %edx, vq_ram + 4
	movl $512, vq_ram + 8		/* .len */
	movl $0x10001, vq_ram + 12	/* .flags NEXT, .next 1 */
	testl $0x20, pick_index
	jz 2f
	movl $32, vq_ram + 8		/* two indirect descriptors' worth */
	movl $4, vq_ram + 12		/* .flags INDIRECT */
2:	add $0x1000, %eax
	adc $0, %edx
	mov %eax, vq_ram + 16		/* desc[1] */
	mov %edx, vq_ram + 20
	movl $512, vq_ram + 24
	movl $2, vq_ram + 28		/* .flags WRITE */
	movl $0x10000, vq_ram + 0x1000	/* avail: flags 0, idx 1 */
	movl $0, vq_ram + 0x1004	/* ring[0] = 0 */
	movl $0, vq_ram + 0x2000	/* used: flags 0, idx 0 */
	movl $vq_ram, rings
	movl $0, rings + 4
	movl $vq_ram + 0x1000, rings + 8
	movl $0, rings + 12
	movl $vq_ram + 0x2000, rings + 16
	movl $0, rings + 20
	ret


/* AHCI port 0: stopped, its errors cleared, then a command whose command list, command
 * table or PRDs (a READ or WRITE DMA EXT of 8 sectors at LBA 0) are at the bad address. */
dma_ahci:
	mov ahci_bar, %esi
	test %esi, %esi
	jz 9f
	mov %esi, %eax
	call pick_bad
	orl $0x80000000, 0x04(%esi)	/* GHC.AE */
	lea 0x100(%esi), %edi		/* port 0 */
	movl $0, 0x18(%edi)		/* PxCMD: ST and FRE off */
	movl $-1, 0x10(%edi)		/* PxIS */
	movl $-1, 0x30(%edi)		/* PxSERR */
	movl $ahci_fis, 0x08(%edi)	/* PxFB */
	movl $0, 0x0c(%edi)
	mov pick_index, %ecx
	shr $4, %ecx
	and $3, %ecx			/* 0: the list, 1: the table, 2 and 3: the PRDs */
	jnz 1f
	mov bad_lo, %eax
	mov %eax, 0x00(%edi)		/* PxCLB */
	mov bad_hi, %eax
	mov %eax, 0x04(%edi)
	jmp 8f
1:	movl $ahci_cl, 0x00(%edi)
	movl $0, 0x04(%edi)
	movl $0x20005, ahci_cl		/* header 0: CFL 5 dwords, PRDTL 2 */
	movl $0, ahci_cl + 4		/* PRDBC */
	cmp $1, %ecx
	jne 2f
	mov bad_lo, %eax
	mov %eax, ahci_cl + 8		/* CTBA */
	mov bad_hi, %eax
	mov %eax, ahci_cl + 12
	jmp 8f
2:	movl $ahci_ct, ahci_cl + 8
	movl $0, ahci_cl + 12
	movl $0x00258027, ahci_ct	/* H2D FIS, C, READ DMA EXT */
	testl $0x40, pick_index
	jz 3f
	movl $0x00358027, ahci_ct	/* WRITE DMA EXT: header W too */
	orl $0x40, ahci_cl
3:	movl $0x40000000, ahci_ct + 4	/* LBA 0, LBA mode */
	movl $0, ahci_ct + 8
	movl $8, ahci_ct + 12		/* 8 sectors */
	movl $0, ahci_ct + 16
	mov bad_lo, %eax
	mov bad_hi, %edx
	mov %eax, ahci_ct + 0x80	/* PRD 0: DBA, DBAU, reserved, DBC */
	mov %edx, ahci_ct + 0x84
	movl $0, ahci_ct + 0x88
	movl $0xfff, ahci_ct + 0x8c
	add $0x1000, %eax
	adc $0, %edx
	mov %eax, ahci_ct + 0x90	/* PRD 1, a page on */
	mov %edx, ahci_ct + 0x94
	movl $0, ahci_ct + 0x98
	movl $0xfff, ahci_ct + 0x9c
8:	movl $0x11, 0x18(%edi)		/* FRE | ST */
	movl $1, 0x38(%edi)		/* PxCI: slot 0 */
	incl ahci_kicks
9:	ret

/* e1000: transmit ring at the bad address, or in RAM with the first buffer there and
 * then a real frame (an ARP request, which slirp answers); receive ring there. */
dma_e1000:
	mov e1000_bar, %esi
	test %esi, %esi
	jz 9f
	mov %esi, %eax
	call pick_bad
	movl $0, 0x400(%esi)		/* TCTL: off */
	movl $0, 0x100(%esi)		/* RCTL: off */
	testl $0x10, pick_index
	jnz 1f
	mov bad_lo, %eax
	mov %eax, 0x3800(%esi)		/* TDBAL */
	mov bad_hi, %eax
	mov %eax, 0x3804(%esi)		/* TDBAH */
	jmp 2f
1:	mov bad_lo, %eax
	mov %eax, e1000_tx		/* descriptor 0: the buffer at the bad address */
	mov bad_hi, %eax
	mov %eax, e1000_tx + 4
	movl $0x0b00003c, e1000_tx + 8	/* 60 bytes, EOP | IFCS | RS */
	movl $0, e1000_tx + 12
	movl $arp_request, e1000_tx + 16	/* descriptor 1: the ARP request */
	movl $0, e1000_tx + 20
	movl $0x0b00002a, e1000_tx + 24	/* 42 bytes */
	movl $0, e1000_tx + 28
	movl $e1000_tx, 0x3800(%esi)
	movl $0, 0x3804(%esi)
2:	movl $8 * 16, 0x3808(%esi)	/* TDLEN: 8 descriptors */
	movl $0, 0x3810(%esi)		/* TDH */
	movl $0, 0x3818(%esi)		/* TDT */
	mov bad_lo, %eax
	mov %eax, 0x2800(%esi)		/* RDBAL */
	mov bad_hi, %eax
	mov %eax, 0x2804(%esi)		/* RDBAH */
	movl $8 * 16, 0x2808(%esi)	/* RDLEN */
	movl $0, 0x2810(%esi)		/* RDH */
	movl $7, 0x2818(%esi)		/* RDT */
	movl $0x8002, 0x100(%esi)	/* RCTL: EN, BAM */
	movl $0x0a, 0x400(%esi)		/* TCTL: EN, PSP */
	movl $2, 0x3818(%esi)		/* TDT: send two */
	incl e1000_kicks
9:	ret

	.data
	.align 8
bad_addrs:				/* 64-bit addresses nothing may DMA to or from */
	.quad 0xfee00000		/* the LAPIC */
	.quad 0xfec00000		/* the IOAPIC */
	.quad VIRTIO_MMIO		/* the virtio-mmio windows */
	.quad 0xe0000000		/* ECAM */
	.quad 0xc0000000		/* the PCI window: some device's BAR */
	.quad 0xa0000			/* the legacy VGA window, a hole in low RAM */
	.quad RAM_END - 8		/* straddling the end of RAM */
	.quad RAM_END			/* just past it */
	.quad 0xbffff000		/* the top of the 32-bit RAM range */
	.quad 0x100000000		/* 4 GiB: no RAM there with --mem 64M */
	.quad 0xfffffffffffff000	/* the top of the address space: wraps */
	.quad 0x00007ffffffff000
bad_addrs_end:
	.set NBAD, (bad_addrs_end - bad_addrs) / 8
arp_request:				/* who has 10.0.2.2, tell 10.0.2.15 */
	.byte 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56
	.byte 0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01
	.byte 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10, 0, 2, 15
	.byte 0, 0, 0, 0, 0, 0, 10, 0, 2, 2
msg_dma_rounds:
	.asciz "dma: rounds "
msg_dma_virtio:
	.asciz " virtio "
msg_dma_ahci:
	.asciz " ahci "
msg_dma_e1000:
	.asciz " e1000 "
	.bss
	.align 4096
vq_ram:					/* descriptors; avail at + 0x1000; used at + 0x2000 */
	.space 3 * 4096
ahci_cl:				/* command list (1 KiB aligned) */
	.space 1024
ahci_fis:				/* received FISes (256 bytes aligned) */
	.space 256
	.align 128
ahci_ct:				/* command table: CFIS, then PRDs at + 0x80 */
	.space 0x100
e1000_tx:				/* 8 transmit descriptors */
	.space 8 * 16
	.align 8
rings:					/* descriptors, driver area, device area */
	.space 3 * 8
bad_lo:
	.long 0
bad_hi:
	.long 0
pick_index:
	.long 0
ahci_bar:
	.long 0
e1000_bar:
	.long 0
dma_rounds:
	.long 0
virtio_kicks:
	.long 0
ahci_kicks:
	.long 0
e1000_kicks:
	.long 0
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
msg_storm:
	.asciz "hostile: storm\n"
msg_flood:
	.asciz "hostile: flood\n"
msg_dma:
	.asciz "hostile: dma\n"
msg_seed:
	.asciz "seed: "
msg_survived:
	.asciz "hostile: survived\n"

/* What the guests write goes in .bss, pages of its own: a write to a page that holds
 * code makes the soft engine's translator drop that page's blocks and translate them
 * again (its code arena then fills up, 64 MiB, and is emptied, over and over). */
	.bss
	.align 4
last_report:
	.long 0
	.align 16
	.space 4096
stack_top:
