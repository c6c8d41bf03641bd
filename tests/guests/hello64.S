/* hello64.S: the Linux 64-bit boot protocol test guest (x86-64, GNU as).
 *
 * Built twice from this file: hello64.elf, an ELF64 "vmlinux" entered at e_entry, and,
 * assembled with --defsym BZIMAGE=1, hello64.bzimage: a minimal bzImage (boot sector,
 * setup header for protocol 2.15 with XLF_KERNEL_64, one setup sector, then the
 * protected-mode part whose 64-bit entry is at offset 0x200). All code is
 * RIP-relative, so it runs wherever the loader puts it.
 *
 * Entered in long mode with RSI = the zero page. Checks the zero page (boot_flag 0xaa55,
 * "HdrS", type_of_loader 0xff), then prints to COM1:
 *     trivisor linux64 ok
 *     form: elf                 (or "form: bzimage")
 *     e820: <entries>
 *     cmdline: <string>         (from cmd_line_ptr)
 * and writes 0x31 to the isa-debug-exit port 0xf4 (status 99). A bad zero page prints
 * "bad zero page" and writes 0x30 (status 97).
 */
	.set COM1, 0x3f8
	.set COM1_LSR, COM1 + 5
	.set LSR_THRE, 0x20
	.set DEBUG_EXIT, 0xf4
	.set EXIT_OK, 0x31
	.set EXIT_BAD, 0x30

	.text
	.ifdef BZIMAGE
image:
	.code16
	.org 0x1f1
	.byte 1				/* setup_sects */
	.word 0				/* root_flags */
	.long 0				/* syssize */
	.word 0				/* ram_size */
	.word 0xffff			/* vid_mode */
	.word 0				/* root_dev */
	.word 0xaa55			/* boot_flag */
	.byte 0xeb, hdr_end - jump_end	/* jump over the header */
jump_end:
	.ascii "HdrS"
	.word 0x020f			/* protocol 2.15 */
	.long 0				/* realmode_swtch */
	.word 0				/* start_sys_seg */
	.word 0				/* kernel_version */
	.byte 0				/* type_of_loader */
	.byte 0x01			/* loadflags: LOADED_HIGH */
	.word 0				/* setup_move_size */
	.long 0x100000			/* code32_start */
	.long 0, 0			/* ramdisk_image, ramdisk_size */
	.long 0				/* bootsect_kludge */
	.word 0				/* heap_end_ptr */
	.byte 0, 0			/* ext_loader_ver, ext_loader_type */
	.long 0				/* cmd_line_ptr */
	.long 0x7fffffff		/* initrd_addr_max */
	.long 0x200000			/* kernel_alignment */
	.byte 1				/* relocatable_kernel */
	.byte 21			/* min_alignment */
	.word 0x0001			/* xloadflags: XLF_KERNEL_64 */
	.long 255			/* cmdline_size */
	.long 0				/* hardware_subarch */
	.quad 0				/* hardware_subarch_data */
	.long 0, 0			/* payload_offset, payload_length */
	.quad 0				/* setup_data */
	.quad 0x1000000			/* pref_address */
	.long 0x10000			/* init_size */
	.long 0				/* handover_offset */
	.long 0				/* kernel_info_offset */
hdr_end:
	.org 0x400			/* end of the one setup sector */
	.code32
startup_32:				/* the 32-bit entry is not used */
	cli
	hlt
	jmp startup_32
	.org 0x600			/* protected-mode part + 0x200 */
	.endif

	.code64
	.globl start64
start64:
	cli
	lea stack_top(%rip), %rsp
	mov %rsi, %rbx			/* the zero page; kept in %rbx */
	cmpw $0xaa55, 0x1fe(%rbx)
	jne bad
	cmpl $0x53726448, 0x202(%rbx)
	jne bad
	cmpb $0xff, 0x210(%rbx)
	jne bad

	lea msg_ok(%rip), %rsi
	call puts
	lea msg_form(%rip), %rsi
	call puts
	lea msg_e820(%rip), %rsi
	call puts
	movzbl 0x1e8(%rbx), %eax
	call putdec
	call newline
	lea msg_cmdline(%rip), %rsi
	call puts
	mov 0x228(%rbx), %esi		/* cmd_line_ptr */
	call puts
	call newline
	mov $EXIT_OK, %al
	outb %al, $DEBUG_EXIT
halt:
	cli
	hlt
	jmp halt

bad:
	lea msg_bad(%rip), %rsi
	call puts
	mov $EXIT_BAD, %al
	outb %al, $DEBUG_EXIT
	jmp halt

/* putc: %al to COM1 once the transmitter is empty. Clobbers %edx. */
putc:
	push %rax
	mov $COM1_LSR, %dx
1:	inb %dx, %al
	testb $LSR_THRE, %al
	jz 1b
	pop %rax
	mov $COM1, %dx
	outb %al, %dx
	ret

/* puts: the NUL-terminated string at %rsi. Clobbers %rax, %rdx, %rsi. */
puts:
	lodsb
	testb %al, %al
	jz 1f
	call putc
	jmp puts
1:	ret

newline:
	mov $'\n', %al
	jmp putc

/* putdec: %eax as unsigned decimal. Clobbers %rax, %rcx, %rdx, %rsi, %rdi. */
putdec:
	lea numbuf_end(%rip), %rdi
	movb $0, (%rdi)
	mov $10, %ecx
1:	xor %edx, %edx
	div %ecx
	add $'0', %dl
	dec %rdi
	mov %dl, (%rdi)
	test %eax, %eax
	jnz 1b
	mov %rdi, %rsi
	jmp puts

msg_ok:		.asciz "trivisor linux64 ok\n"
	.ifdef BZIMAGE
msg_form:	.asciz "form: bzimage\n"
	.else
msg_form:	.asciz "form: elf\n"
	.endif
msg_e820:	.asciz "e820: "
msg_cmdline:	.asciz "cmdline: "
msg_bad:	.asciz "bad zero page\n"

/* Scratch space inside the image (the loader guarantees RAM for the file and, for
 * the bzImage, init_size bytes). */
	.balign 16
numbuf:		.skip 15
numbuf_end:	.skip 1
stack:		.skip 4096
stack_top:
