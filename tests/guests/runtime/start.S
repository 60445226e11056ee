/* SPDX-License-Identifier: Apache-2.0 */
/* Entry point of every test guest, and the guests' own GDT.
 *
 * The VMM enters here in 64-bit mode (Linux 64-bit boot protocol: paging on,
 * first 4 GiB identity-mapped, interrupts off, RSI = zero page, RSP
 * undefined). We switch to a GDT inside the image, so that the AP trampoline
 * can load the same one from real mode, set a stack and call
 * runtime_start(boot_params), which never returns. */

	.section .text.start, "ax"
	.code64
	.globl _start
_start:
	cli
	cld
	mov	$boot_stack_top, %rsp
	mov	%rsi, %rdi		/* runtime_start(boot_params) */
	lgdt	gdt_ptr
	pushq	$GDT_CODE64
	lea	1f(%rip), %rax
	pushq	%rax
	lretq				/* reload CS from our GDT */
1:	mov	$GDT_DATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	xor	%eax, %eax
	mov	%eax, %fs
	mov	%eax, %gs
	call	runtime_start
2:	cli
	hlt
	jmp	2b

	.set	GDT_CODE32, 0x08
	.set	GDT_CODE64, 0x10	/* same selectors as the VMM's boot GDT */
	.set	GDT_DATA, 0x18

	.data
	.p2align 4
	.globl gdt, gdt_end
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: 32-bit code, flat (AP trampoline) */
	.quad	0x00af9a000000ffff	/* 0x10: 64-bit code */
	.quad	0x00cf92000000ffff	/* 0x18: data, flat */
gdt_end:
	.p2align 4
gdt_ptr:
	.word	gdt_end - gdt - 1
	.quad	gdt

	.bss
	.p2align 4
boot_stack:
	.skip	16384
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
