/* SPDX-License-Identifier: Apache-2.0 */
/* One small stub per interrupt vector, 16 bytes apart, so the IDT entry for
 * vector v points at isr_stubs + 16 * v. Each stub pushes a dummy error code
 * where the CPU pushes none (SDM Vol. 3A 6.13: vectors 8, 10-14, 17, 21, 29,
 * 30 push one), then its vector number, and jumps to the common path, which
 * saves the general registers as a struct isr_frame and calls isr_dispatch. */

	.text
	.code64
	.p2align 4
	.globl isr_stubs
isr_stubs:
	vector = 0
	.rept 256
	.p2align 4
	.if (vector == 8) || ((vector >= 10) && (vector <= 14)) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
	.else
	pushq	$0
	.endif
	pushq	$vector
	jmp	isr_common
	vector = vector + 1
	.endr

isr_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	/* The CPU aligned RSP to 16 before pushing its 5-word frame (SDM 6.14.2);
	 * with error code, vector and 15 registers RSP is 16-aligned again. */
	mov	%rsp, %rdi
	cld
	call	isr_dispatch
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	add	$16, %rsp		/* vector and error code */
	iretq

	.section .note.GNU-stack, "", @progbits
