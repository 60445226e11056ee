/* SPDX-License-Identifier: Apache-2.0 */
/* Interrupt-driven COM1: transmits with THRE interrupts only, then receives a
 * line from the host with RX interrupts and echoes it back, the same way.
 *
 * COM1 is ISA IRQ 4; the IOAPIC pin comes from the MP table (4, edge, active
 * high). Output, in order:
 *   serial_irq: transmitted with THRE interrupts
 *   echo: <the line the host sent, without its newline>
 *   serial_irq: irqs=I thre=T rx=R tx_bytes=B rx_bytes=C
 *   waits=... lost=L
 *   PASS serial_irq | FAIL serial_irq: <why> */
#include "guest.h"

#define UART_RBR 0
#define UART_THR 0
#define UART_IER 1
#define UART_IIR 2
#define UART_LSR 5
#define UART_MSR 6
#define IER_RDA 0x01   /* received data available */
#define IER_THRE 0x02  /* transmitter holding register empty */
#define LSR_DR 0x01
#define VECTOR_UART 0x24

static char tx_buf[256];
static volatile unsigned tx_head, tx_tail;
static char rx_buf[256];
static volatile unsigned rx_len;
static volatile uint8_t ier;  /* written only with interrupts off */
static volatile uint32_t irqs, thre_irqs, rx_irqs, tx_bytes, rx_bytes;

static void set_ier(uint8_t v) {
  ier = v;
  outb(COM1 + UART_IER, v);
}

/* Sends the next byte, one per THRE interrupt; with nothing left, turns the
 * THRE interrupt off. */
static void tx_next(void) {
  if (tx_tail != tx_head) {
    outb(COM1 + UART_THR, (uint8_t)tx_buf[tx_tail++ % sizeof(tx_buf)]);
    tx_bytes++;
  } else {
    set_ier(ier & ~IER_THRE);
  }
}

static void on_uart(struct isr_frame *f) {
  (void)f;
  irqs++;
  /* Serve every pending cause (16550 IIR priority order) before EOI: the pin
   * is edge-triggered, so a cause left pending would raise no new edge. */
  for (int guard = 0; guard < 64; guard++) {
    uint8_t iir = inb(COM1 + UART_IIR);
    if (iir & 1) break;  /* no interrupt pending */
    switch (iir & 0x0e) {
      case 0x02:
        thre_irqs++;
        tx_next();
        break;
      case 0x04:
      case 0x0c:  /* character timeout (FIFO mode) */
        rx_irqs++;
        while (inb(COM1 + UART_LSR) & LSR_DR) {
          uint8_t c = inb(COM1 + UART_RBR);
          rx_bytes++;
          if (rx_len < sizeof(rx_buf) - 1) rx_buf[rx_len++] = (char)c;
        }
        break;
      case 0x06:
        inb(COM1 + UART_LSR);
        break;
      default:
        inb(COM1 + UART_MSR);
        break;
    }
  }
  lapic_eoi();
}

static bool tx_done(void *arg) {
  (void)arg;
  return tx_tail == tx_head && !(ier & IER_THRE);
}

/* Queues `s` and lets THRE interrupts send it; false if they stop coming. */
static bool irq_send(const char *s) {
  cli();
  for (; *s; s++) {
    if (*s == '\n') tx_buf[tx_head++ % sizeof(tx_buf)] = '\r';
    tx_buf[tx_head++ % sizeof(tx_buf)] = *s;
  }
  /* Enabling THRE with the holding register empty raises the interrupt at
   * once (16550 datasheet, "THRE interrupt"). */
  set_ier(ier | IER_THRE);
  sti();
  return wait_until(tx_done, NULL, 5000);
}

static bool line_received(void *arg) {
  (void)arg;
  for (unsigned i = 0; i < rx_len; i++) {
    if (rx_buf[i] == '\n' || rx_buf[i] == '\r') return true;
  }
  return false;
}

int guest_main(void) {
  struct mp_info mp;
  const char *err = mp_parse(&mp);
  if (err) {
    print("FAIL serial_irq: MP table: %s\n", err);
    return 1;
  }
  int pin = mp.isa_irq_pin[4];
  if (pin < 0) {
    print("FAIL serial_irq: MP table has no entry for ISA IRQ 4 (COM1)\n");
    return 1;
  }
  timers_init();
  set_handler(VECTOR_UART, on_uart);
  ioapic_route((uint32_t)pin, VECTOR_UART, lapic_id(), false, false);
  cli();
  set_ier(IER_RDA);
  sti();

  const char *why = NULL;
  if (!irq_send("serial_irq: transmitted with THRE interrupts\n")) {
    why = "THRE interrupts stopped before the message was sent";
  } else if (!wait_until(line_received, NULL, 20000)) {
    why = "no line arrived from the host within 20 s";
  } else {
    char line[300];
    unsigned n = 0;
    while (n < rx_len && rx_buf[n] != '\n' && rx_buf[n] != '\r') n++;
    rx_buf[n] = '\0';
    snprint(line, sizeof(line), "echo: %s\n", rx_buf);
    if (!irq_send(line)) why = "THRE interrupts stopped during the echo";
  }

  cli();
  set_ier(0);
  ioapic_mask((uint32_t)pin);
  sti();
  print("serial_irq: irqs=%u thre=%u rx=%u tx_bytes=%u rx_bytes=%u\n", irqs,
        thre_irqs, rx_irqs, tx_bytes, rx_bytes);
  print_wait_stats();
  if (!why && (thre_irqs < tx_bytes || rx_irqs == 0)) {
    why = "interrupt counts do not match the bytes moved";
  }
  if (why) {
    print("FAIL serial_irq: %s\n", why);
    return 1;
  }
  print("PASS serial_irq\n");
  return 0;
}
