/* SPDX-License-Identifier: Apache-2.0 */
/* The memory benchmark's guest: prints "I" on COM1 and halts with
 * interrupts off, so microvm sits still (its vCPU thread blocked in
 * KVM_RUN) while the benchmark reads its /proc/PID/smaps. */
	.text
	.code64
	.globl bench_first_instruction
bench_first_instruction:
	mov	$'I', %al
	mov	$0x3f8, %dx
	out	%al, %dx
	jmp	halt_forever

	.section .note.GNU-stack, "", @progbits
