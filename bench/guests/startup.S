/* SPDX-License-Identifier: Apache-2.0 */
/* The start-up benchmark's guest: its very first instruction writes the
 * debug port 0x80 (the in-process benchmark timestamps that exit), the next
 * ones print "S" on COM1 (the microvm binary's benchmark timestamps that
 * byte on its stdout) and power off (ACPI S5 at port 0x3c0, see guest.h).
 * entry.ld makes bench_first_instruction the entry point (halt.S). */
	.text
	.code64
	.globl bench_first_instruction
bench_first_instruction:
	out	%al, $0x80
	mov	$'S', %al
	mov	$0x3f8, %dx
	out	%al, %dx
	mov	$0x34, %al
	mov	$0x3c0, %dx
	out	%al, %dx
	jmp	halt_forever

	.section .note.GNU-stack, "", @progbits
