// SPDX-License-Identifier: Apache-2.0
/* What the bench guest (bench/guests/bench.c) and the host side
 * (bench/bench_vm.cc and the *_bench.cc files) agree on. Plain C, included
 * by both.
 *
 * The host posts an op and a sample count; the guest measures each sample
 * with RDTSC, stores the TSC deltas at BENCH_SAMPLES_GPA, fills a
 * bench_result at BENCH_RESULT_GPA and writes BENCH_PORT_DONE. Timing on the
 * guest side makes every path comparable: the same instructions take the
 * timestamps whatever the host does between them. */
#ifndef MICROVM_BENCH_GUESTS_PROTOCOL_H_
#define MICROVM_BENCH_GUESTS_PROTOCOL_H_

#include <stdint.h>

/* Control ports, 32-bit accesses; the host serves them on every path. */
#define BENCH_PORT_CONTROL 0x510 /* first of the control ports */
#define BENCH_PORT_CMD 0x510     /* in: the next op, then its sample count */
#define BENCH_PORT_DONE 0x514    /* out: the op's samples are in memory */
#define BENCH_PORT_HELLO 0x518   /* once: out the guest's TSC ticks per us
                                    (PIT-calibrated), in the host's, which
                                    the guest then uses for its timeouts */
#define BENCH_CONTROL_PORTS 0xc

/* What the measured accesses hit. */
#define BENCH_PORT_EXIT 0x520   /* out: PIO exit to user space */
#define BENCH_PORT_NOTIFY 0x524 /* out: an ioeventfd, or an exit without one */
#define BENCH_MMIO_EXIT 0xd0000000u /* nothing mapped there: MMIO exit */

/* Guest memory the host reads (and, for the acknowledgement, writes). */
#define BENCH_ACK_GPA 0xf00000u    /* uint32_t counter the host advances */
#define BENCH_RESULT_GPA 0xf00100u /* struct bench_result */
#define BENCH_SAMPLES_GPA 0x1000000u /* uint32_t TSC deltas */
#define BENCH_MAX_SAMPLES (1u << 20)
#define BENCH_MEM_BYTES (32u << 20) /* guest RAM the above needs */
#define BENCH_LOST 0xffffffffu      /* a sample whose wait timed out */

/* Interrupts: one vector for every injection path; IOAPIC pin for
 * KVM_IRQ_LINE (edge-triggered, routed by the guest); MSI message for
 * KVM_SIGNAL_MSI and the irqfd route (fixed delivery, physical destination
 * APIC 0: Intel SDM Vol. 3A 10.11.1-2). */
#define BENCH_IRQ_VECTOR 0x50
#define BENCH_IRQ_PIN 10
#define BENCH_MSI_ADDRESS 0xfee00000u

enum bench_op {
  BENCH_OP_QUIT = 0,
  BENCH_OP_PIO_EXIT = 1,     /* out to BENCH_PORT_EXIT */
  BENCH_OP_MMIO_EXIT = 2,    /* 32-bit write to BENCH_MMIO_EXIT */
  BENCH_OP_NOTIFY_WRITE = 3, /* out to BENCH_PORT_NOTIFY: the write alone */
  BENCH_OP_NOTIFY_ACK = 4,   /* ... then spin until the ack counter moves */
  BENCH_OP_IRQ_HLT = 5,      /* ... then sti;hlt until the interrupt */
  BENCH_OP_IRQ_SPIN = 6,     /* ... then spin (interrupts on) until it */
};

struct bench_result {
  uint32_t samples;       /* deltas written */
  uint32_t lost;          /* of them BENCH_LOST */
  uint32_t timer_wakeups; /* HLTs ended by the rescue timer (IRQ_HLT) */
  uint32_t rescued;       /* ...after which the interrupt had come */
};

#endif /* MICROVM_BENCH_GUESTS_PROTOCOL_H_ */
