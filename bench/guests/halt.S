/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the assembly-only benchmark guests (startup.S, idle.S):
 * halt_forever parks the vCPU with interrupts off, and a guest_main for the
 * runtime that tiny_guest links in (its _start never runs: entry.ld makes
 * bench_first_instruction the entry point). */
	.text
	.code64
	.globl halt_forever
halt_forever:
1:	cli
	hlt
	jmp	1b

	.globl guest_main
guest_main:
	xor	%eax, %eax
	ret

	.section .note.GNU-stack, "", @progbits
