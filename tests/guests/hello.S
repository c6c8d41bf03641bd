/* hello.S: the multiboot v1 test guest (32-bit, GNU as).
 *
 * Built twice from this file: hello.elf (an ELF32 kernel: the loader reads its program
 * headers) and, assembled with --defsym KLUDGE=1, hello_kludge.bin (a flat binary whose
 * multiboot header carries the load addresses: flag bit 16, the "a.out kludge").
 *
 * Checks EAX = 0x2BADB002, then prints to COM1:
 *     trivisor multiboot ok
 *     form: elf                 (or "form: kludge")
 *     mem_lower: <KiB>          (info flag bit 0)
 *     mem_upper: <KiB>
 *     cmdline: <string>         (info flag bit 2: "kernel-path append...")
 *     mods: <count>             (info flag bit 3)
 * and writes 0x31 to the isa-debug-exit port 0xf4: trivisor exits with status
 * (0x31 << 1) | 1 = 99. On a wrong EAX it prints "bad multiboot magic" and writes 0x30
 * (status 97). If the debug-exit port does nothing it halts forever.
 */
	.set MB_MAGIC, 0x1BADB002
	.ifdef KLUDGE
	.set MB_FLAGS, 0x00010003	/* page-aligned modules, memory info, address fields */
	.else
	.set MB_FLAGS, 0x00000003
	.endif
	.set BOOT_MAGIC, 0x2BADB002
	.set COM1, 0x3f8
	.set COM1_LSR, COM1 + 5
	.set LSR_THRE, 0x20
	.set DEBUG_EXIT, 0xf4
	.set EXIT_OK, 0x31		/* status 99 */
	.set EXIT_BAD, 0x30		/* status 97 */

	.code32
	.text
	.globl _start
image_start:
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	.ifdef KLUDGE
	.long mb_header			/* header_addr */
	.long image_start		/* load_addr */
	.long _edata			/* load_end_addr */
	.long _end			/* bss_end_addr */
	.long _start			/* entry_addr */
	.endif

_start:
	cli
	mov $stack_top, %esp
	cmp $BOOT_MAGIC, %eax
	jne bad_magic
	mov %ebx, %ebp			/* the info structure; kept in %ebp */

	mov $msg_ok, %esi
	call puts
	mov $msg_form, %esi
	call puts

	testl $1, (%ebp)		/* mem_lower / mem_upper valid */
	jz 1f
	mov $msg_lower, %esi
	call puts
	mov 4(%ebp), %eax
	call putdec
	call newline
	mov $msg_upper, %esi
	call puts
	mov 8(%ebp), %eax
	call putdec
	call newline
1:
	testl $4, (%ebp)		/* cmdline valid */
	jz 2f
	mov $msg_cmdline, %esi
	call puts
	mov 16(%ebp), %esi
	call puts
	call newline
2:
	testl $8, (%ebp)		/* mods valid */
	jz 3f
	mov $msg_mods, %esi
	call puts
	mov 20(%ebp), %eax
	call putdec
	call newline
3:
	mov $EXIT_OK, %al
	outb %al, $DEBUG_EXIT
halt:
	cli
	hlt
	jmp halt

bad_magic:
	mov $msg_bad, %esi
	call puts
	mov $EXIT_BAD, %al
	outb %al, $DEBUG_EXIT
	jmp halt

/* putc: write %al to COM1 once the transmitter holding register is empty. */
putc:
	push %eax
	mov $COM1_LSR, %dx
1:	inb %dx, %al
	testb $LSR_THRE, %al
	jz 1b
	pop %eax
	mov $COM1, %dx
	outb %al, %dx
	ret

/* puts: the NUL-terminated string at %esi. Clobbers %eax, %edx, %esi. */
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

/* putdec: %eax as unsigned decimal. Clobbers %eax, %ecx, %edx, %esi, %edi. */
putdec:
	mov $numbuf_end, %edi
	movb $0, (%edi)
	mov $10, %ecx
1:	xor %edx, %edx
	div %ecx
	add $'0', %dl
	dec %edi
	mov %dl, (%edi)
	test %eax, %eax
	jnz 1b
	mov %edi, %esi
	jmp puts

msg_ok:		.asciz "trivisor multiboot ok\n"
	.ifdef KLUDGE
msg_form:	.asciz "form: kludge\n"
	.else
msg_form:	.asciz "form: elf\n"
	.endif
msg_lower:	.asciz "mem_lower: "
msg_upper:	.asciz "mem_upper: "
msg_cmdline:	.asciz "cmdline: "
msg_mods:	.asciz "mods: "
msg_bad:	.asciz "bad multiboot magic\n"

	.bss
	.balign 16
numbuf:		.skip 15
numbuf_end:	.skip 1
stack:		.skip 4096
stack_top:
