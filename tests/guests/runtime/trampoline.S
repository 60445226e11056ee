/* SPDX-License-Identifier: Apache-2.0 */
/* Application processor start-up code. smp_start_ap() copies
 * [ap_trampoline_start, ap_trampoline_end) to AP_TRAMPOLINE (0x8000, page
 * 0x08 for the SIPI vector), fills the data block at its end with the BSP's
 * CR0/CR3/CR4/EFER, a stack and the C entry point, and sends INIT-SIPI-SIPI.
 * The AP starts in real mode at 0800:0000 (SDM Vol. 3A 8.4.4, 10.6.1), then
 * goes 16-bit -> 32-bit protected mode -> long mode using the BSP's page
 * tables and the guest image's GDT, exactly as the BSP runs. Addresses are
 * computed for the copy at 0x8000, not for where this code is linked. */

	.set	AP_TRAMPOLINE, 0x8000
#define ABS(sym) (AP_TRAMPOLINE + (sym) - ap_trampoline_start)

	.section .text.trampoline, "ax"
	.globl ap_trampoline_start, ap_trampoline_end, ap_trampoline_data

	.code16
ap_trampoline_start:
	cli
	cld
	mov	%cs, %ax
	mov	%ax, %ds
	lgdtl	tramp_gdtr - ap_trampoline_start
	mov	%cr0, %eax
	or	$1, %eax		/* CR0.PE */
	mov	%eax, %cr0
	ljmpl	$0x08, $ABS(tramp32)

	.code32
tramp32:
	mov	$0x18, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%ax, %fs
	mov	%ax, %gs
	mov	ABS(tramp_cr4), %eax	/* PAE first, then CR3, EFER.LME, CR0.PG */
	mov	%eax, %cr4
	mov	ABS(tramp_cr3), %eax
	mov	%eax, %cr3
	mov	$0xc0000080, %ecx
	mov	ABS(tramp_efer), %eax
	xor	%edx, %edx
	wrmsr
	mov	ABS(tramp_cr0), %eax
	mov	%eax, %cr0
	ljmpl	$0x10, $ABS(tramp64)

	.code64
tramp64:
	mov	$0x18, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	ABS(tramp_stack), %rsp
	mov	ABS(tramp_entry), %rax
	call	*%rax
1:	cli
	hlt
	jmp	1b

	.p2align 3
tramp_gdtr:
	.word	4 * 8 - 1		/* the 4 descriptors of gdt in start.S */
	.long	gdt			/* the image is below 4 GiB */
	.p2align 3
ap_trampoline_data:		/* struct ap_boot_data in smp.c */
tramp_cr3:	.quad 0
tramp_cr4:	.quad 0
tramp_cr0:	.quad 0
tramp_efer:	.quad 0
tramp_stack:	.quad 0
tramp_entry:	.quad 0
ap_trampoline_end:

	.section .note.GNU-stack, "", @progbits
