/* paging.S: 4-level paging and page faults (Intel SDM vol. 3A chapter 4), 64-bit mode.
 * A page table (pt1) maps the 2 MiB at 0x400000 page by page. Prints:
 *     not-present read: ok            (#PF, error code 0, CR2)
 *     write to read-only (WP=1): ok   (error code 3)
 *     write to read-only (WP=0): ok   (no fault at CPL 0)
 *     NX fetch: ok                    (error code 0x11)
 *     executable after clearing NX: ok
 *     accessed bit: ok                (A set by a read, D still clear)
 *     dirty bit: ok                   (D set by a write)
 *     accessed bit in PDE: ok
 *     invlpg: ok                      (a changed PTE is used after INVLPG)
 *     mov cr3 flush: ok
 *     user read of supervisor page: ok      (CPL 3, error code 5)
 *     user write to read-only page: ok      (CPL 3, error code 7)
 *     2 MiB page: ok
 *     1 GiB page: ok
 *   TLB entries filled at CPL 0 are checked again at CPL 3 (SDM vol. 3A 4.10.2):
 *     supervisor page cached at CPL 0, read at CPL 3: ok    (error code 5)
 *     read-only page written at CPL 0 (WP=0), then at CPL 3: ok  (error code 7)
 *     supervisor code run at CPL 0, fetched at CPL 3: ok    (error code 0x15)
 *   what the architecture guarantees about flushing (SDM vol. 3A 4.10.4):
 *     CR4.PGE toggle flushes global pages: ok
 *     invlpg of a global page: ok
 *     mov cr3 with CR4.PGE=1 flushes non-global pages: ok
 *     invlpg anywhere in a 2 MiB page: ok
 *     all ok
 * and exits with status 99.
 */
	.set WANT_LONG, 1
	.include "common.inc"
	.set VA, 0x400000
	.set NX, 0x8000000000000000

	.code32
_start:
	cli
	mov $kstack_top, %esp
	mov $msg_title, %esi
	call puts32
	jmp enter_long

	.code64
/* map(slot %rdi, entry %rax): pt1[slot] = entry; invlpg VA + slot*4096 */
map:
	mov %rax, pt1(,%rdi,8)
	shl $12, %rdi
	add $VA, %rdi
	invlpg (%rdi)
	ret

long_main:
	mov $pt1, %rax
	or $(PTE_P | PTE_W | PTE_U), %rax
	mov %rax, pd + 16		/* PD[2] -> pt1: 0x400000..0x5fffff */
	movq $0xaaaa, page_a
	movq $0xbbbb, page_b
	movb $0xc3, page_c		/* ret */

	movq $1f, resume_rip
	mov VA + 0x2000, %rax		/* pt1[2] empty */
1:	cmpq $14, last_vec
	jne 2f
	cmpq $0, last_err
	jne 2f
	cmpq $(VA + 0x2000), last_cr2
2:	mov $msg_np, %esi
	call check64

	mov $3, %edi
	mov $page_a, %rax
	or $(PTE_P | PTE_U), %rax	/* read-only */
	call map
	movq $0, last_vec
	movq $1f, resume_rip
	movq $1, VA + 0x3000
1:	cmpq $14, last_vec
	jne 2f
	cmpq $3, last_err
	jne 2f
	cmpq $(VA + 0x3000), last_cr2
2:	mov $msg_wp1, %esi
	call check64

	mov %cr0, %rax
	and $~0x10000, %rax		/* WP off */
	mov %rax, %cr0
	movq $0, last_vec
	movq $5, VA + 0x3008
	mov %cr0, %rax
	or $0x10000, %rax
	mov %rax, %cr0
	cmpq $0, last_vec
	jne 2f
	cmpq $5, page_a + 8
2:	mov $msg_wp0, %esi
	call check64

	mov $4, %edi
	mov $page_c, %rax
	or $(PTE_P | PTE_W | PTE_U), %rax
	mov $NX, %rcx
	or %rcx, %rax
	call map
	movq $1f, resume_rip
	mov $(VA + 0x4000), %rax
	jmp *%rax
1:	cmpq $14, last_vec
	jne 2f
	cmpq $0x11, last_err
	jne 2f
	cmpq $(VA + 0x4000), last_rip
	jne 2f
	cmpq $(VA + 0x4000), last_cr2
2:	mov $msg_nx, %esi
	call check64
	mov $4, %edi
	mov $page_c, %rax
	or $(PTE_P | PTE_W | PTE_U), %rax
	call map
	movq $0, last_vec
	mov $(VA + 0x4000), %rax
	call *%rax
	cmpq $0, last_vec
	mov $msg_x, %esi
	call check64

	xor %edi, %edi
	mov $page_a, %rax
	or $(PTE_P | PTE_W | PTE_U), %rax	/* A and D clear */
	call map
	andq $~PTE_A, pd + 16
	invlpg VA
	mov VA, %rax
	mov pt1, %rax
	test $PTE_A, %al
	jz 2f
	test $PTE_D, %al
	setz %al
	cmp $1, %al
2:	mov $msg_a, %esi
	call check64
	movq $0x1111, VA + 16
	mov pt1, %rax
	test $PTE_D, %al
	setnz %al
	cmp $1, %al
	mov $msg_d, %esi
	call check64
	mov pd + 16, %rax
	test $PTE_A, %al
	setnz %al
	cmp $1, %al
	mov $msg_pde_a, %esi
	call check64

	mov VA, %rax			/* 0xaaaa, cached now */
	mov $page_b, %rax
	or $(PTE_P | PTE_W | PTE_U), %rax
	mov %rax, pt1
	invlpg VA
	cmpq $0xbbbb, VA
	mov $msg_invlpg, %esi
	call check64

	mov $page_a, %rax
	or $(PTE_P | PTE_W | PTE_U), %rax
	mov %rax, pt1
	mov %cr3, %rax
	mov %rax, %cr3
	cmpq $0xaaaa, VA
	mov $msg_cr3, %esi
	call check64

	/* CPL 3 */
	mov $5, %edi
	mov $page_a, %rax
	or $(PTE_P | PTE_W), %rax	/* supervisor only */
	call map
	lea user_read(%rip), %rdx
	call to_user
	cmpq $14, last_vec
	jne 2f
	cmpq $5, last_err
	jne 2f
	cmpq $(VA + 0x5000), last_cr2
	jne 2f
	cmpq $(UCODE64 | 3), last_cs
2:	mov $msg_us, %esi
	call check64
	lea user_write(%rip), %rdx
	call to_user
	cmpq $14, last_vec
	jne 2f
	cmpq $7, last_err
	jne 2f
	cmpq $(VA + 0x3000), last_cr2
2:	mov $msg_uro, %esi
	call check64

	/* PD[3] (0x600000) -> the 2 MiB page at physical 0x200000 */
	movq $0x5a5a5a5a, 0x212340
	movq $(0x200000 | PTE_P | PTE_W | PTE_PS), pd + 24
	invlpg 0x600000
	cmpq $0x5a5a5a5a, 0x612340
	mov $msg_2m, %esi
	call check64

	/* PDPT[1] (1 GiB) -> the 1 GiB page at physical 0 */
	movq $(PTE_P | PTE_W | PTE_PS), pdpt + 8
	invlpg 0x40212340
	cmpq $0x5a5a5a5a, 0x40212340
	mov $msg_1g, %esi
	call check64

	/* A supervisor page in the TLB (read at CPL 0) is still refused at CPL 3. */
	mov VA + 0x5000, %rax
	lea user_read(%rip), %rdx
	call to_user
	cmpq $14, last_vec
	jne 2f
	cmpq $5, last_err
	jne 2f
	cmpq $(VA + 0x5000), last_cr2
2:	mov $msg_tlb_us, %esi
	call check64

	/* With WP=0 CPL 0 may write a read-only page; CPL 3 still may not. */
	mov %cr0, %rax
	and $~0x10000, %rax
	mov %rax, %cr0
	movq $6, VA + 0x3000
	lea user_write(%rip), %rdx
	call to_user
	mov %cr0, %rax
	or $0x10000, %rax
	mov %rax, %cr0
	cmpq $14, last_vec
	jne 2f
	cmpq $7, last_err
	jne 2f
	cmpq $(VA + 0x3000), last_cr2
	jne 2f
	cmpq $6, page_a
2:	mov $msg_tlb_ro, %esi
	call check64

	/* Supervisor code run at CPL 0 (TLB and decoded-code caches warm) is not
	 * fetchable at CPL 3. */
	mov $8, %edi
	mov $page_c, %rax
	or $(PTE_P | PTE_W), %rax
	call map
	mov $(VA + 0x8000), %rax
	call *%rax
	lea user_exec(%rip), %rdx
	call to_user
	cmpq $14, last_vec
	jne 2f
	cmpq $0x15, last_err
	jne 2f
	cmpq $(VA + 0x8000), last_cr2
	jne 2f
	cmpq $(VA + 0x8000), last_rip
2:	mov $msg_tlb_x, %esi
	call check64

	/* Global pages: a CR4.PGE change flushes them; so does INVLPG. */
	mov %cr4, %rax
	or $0x80, %rax			/* PGE */
	mov %rax, %cr4
	movq $0xaaaa, page_a
	mov $6, %edi
	mov $page_a, %rax
	or $(PTE_P | PTE_W | PTE_G), %rax
	call map
	cmpq $0xaaaa, VA + 0x6000
	jne 2f
	mov $page_b, %rax
	or $(PTE_P | PTE_W | PTE_G), %rax
	mov %rax, pt1 + 6 * 8		/* no INVLPG */
	mov %cr4, %rax
	and $~0x80, %rax
	mov %rax, %cr4
	or $0x80, %rax
	mov %rax, %cr4
	cmpq $0xbbbb, VA + 0x6000
2:	mov $msg_pge, %esi
	call check64

	mov $page_a, %rax
	or $(PTE_P | PTE_W | PTE_G), %rax
	mov %rax, pt1 + 6 * 8
	invlpg VA + 0x6000
	cmpq $0xaaaa, VA + 0x6000
	mov $msg_invlpg_g, %esi
	call check64

	mov $7, %edi
	mov $page_a, %rax
	or $(PTE_P | PTE_W), %rax
	call map
	cmpq $0xaaaa, VA + 0x7000
	jne 2f
	mov $page_b, %rax
	or $(PTE_P | PTE_W), %rax
	mov %rax, pt1 + 7 * 8
	mov %cr3, %rax
	mov %rax, %cr3
	cmpq $0xbbbb, VA + 0x7000
2:	mov $msg_cr3_pge, %esi
	call check64

	/* INVLPG of any address in a 2 MiB page drops all of it, even where the TLB
	 * caches it in 4 KiB pieces. Physical 0x412340 is reached through the 1 GiB page. */
	movq $0x6b6b6b6b, 0x40412340
	cmpq $0x5a5a5a5a, 0x612340
	jne 2f
	movq $(0x400000 | PTE_P | PTE_W | PTE_PS), pd + 24
	invlpg 0x7ff000
	cmpq $0x6b6b6b6b, 0x612340
2:	mov $msg_invlpg_2m, %esi
	call check64
	jmp finish64

/* to_user: run the code at %rdx at CPL 3 until it faults (the handler returns here). */
to_user:
	mov %rsp, kret_rsp
	movq $1f, kret_rip
	pushq $(UDATA | 3)
	pushq $ustack_top
	pushq $2
	pushq $(UCODE64 | 3)
	push %rdx
	iretq
1:	ret

/* Each should fault; if the access succeeds, UD2 ends the trip (the check fails). */
user_read:
	mov VA + 0x5000, %rax
	ud2
user_write:
	movq $9, VA + 0x3000
	ud2
user_exec:
	mov $(VA + 0x8000), %rax
	jmp *%rax

msg_title:	.asciz "trivisor guest: paging\n"
msg_np:		.asciz "not-present read"
msg_wp1:	.asciz "write to read-only (WP=1)"
msg_wp0:	.asciz "write to read-only (WP=0)"
msg_nx:		.asciz "NX fetch"
msg_x:		.asciz "executable after clearing NX"
msg_a:		.asciz "accessed bit"
msg_d:		.asciz "dirty bit"
msg_pde_a:	.asciz "accessed bit in PDE"
msg_invlpg:	.asciz "invlpg"
msg_cr3:	.asciz "mov cr3 flush"
msg_us:		.asciz "user read of supervisor page"
msg_uro:	.asciz "user write to read-only page"
msg_2m:		.asciz "2 MiB page"
msg_1g:		.asciz "1 GiB page"
msg_tlb_us:	.asciz "supervisor page cached at CPL 0, read at CPL 3"
msg_tlb_ro:	.asciz "read-only page written at CPL 0 (WP=0), then at CPL 3"
msg_tlb_x:	.asciz "supervisor code run at CPL 0, fetched at CPL 3"
msg_pge:	.asciz "CR4.PGE toggle flushes global pages"
msg_invlpg_g:	.asciz "invlpg of a global page"
msg_cr3_pge:	.asciz "mov cr3 with CR4.PGE=1 flushes non-global pages"
msg_invlpg_2m:	.asciz "invlpg anywhere in a 2 MiB page"

	.bss
	.balign 4096
pt1:	.skip 4096
page_a:	.skip 4096
page_b:	.skip 4096
page_c:	.skip 4096
	.skip 4096
ustack_top:
