/* SPDX-License-Identifier: Apache-2.0 */
/* Polled COM1 console and a small printf, plus the few libc functions the
 * compiler may call on its own (memset, memcpy, memcmp). */
#include "guest.h"

/* 16550 registers (offsets from COM1). */
#define UART_THR 0
#define UART_IER 1
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_DLL 0
#define UART_DLM 1
#define LSR_THRE 0x20

void *memset(void *d, int c, size_t n) {
  uint8_t *p = d;
  while (n--) *p++ = (uint8_t)c;
  return d;
}

void *memcpy(void *d, const void *s, size_t n) {
  uint8_t *dp = d;
  const uint8_t *sp = s;
  while (n--) *dp++ = *sp++;
  return d;
}

int memcmp(const void *a, const void *b, size_t n) {
  const uint8_t *ap = a, *bp = b;
  for (; n; n--, ap++, bp++) {
    if (*ap != *bp) return *ap < *bp ? -1 : 1;
  }
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

void serial_init(void) {
  outb(COM1 + UART_IER, 0);
  outb(COM1 + UART_LCR, 0x80);  /* DLAB: divisor 1 = 115200 baud */
  outb(COM1 + UART_DLL, 1);
  outb(COM1 + UART_DLM, 0);
  outb(COM1 + UART_LCR, 0x03);  /* 8N1 */
  /* FCR is left alone: enabling or clearing the FIFOs drops what the host
   * already sent (16550 datasheet, FCR bits 0-1), and tests send their input
   * before the guest starts. Without FIFOs the UART works as a 16450. */
  outb(COM1 + UART_MCR, 0x0b);  /* DTR, RTS, OUT2 (gates the IRQ on a PC) */
}

void console_putc(char c) {
  /* Bounded: a UART that never reports THR empty must not hang the guest. */
  for (int i = 0; i < 1000000; i++) {
    if (inb(COM1 + UART_LSR) & LSR_THRE) break;
    cpu_relax();
  }
  outb(COM1 + UART_THR, (uint8_t)c);
}

/* ---- formatting ---- */

struct sink {
  char *buf;    /* NULL: straight to the console */
  size_t size;
  size_t len;
};

static void sink_put(struct sink *s, char c) {
  if (!s->buf) {
    if (c == '\n') console_putc('\r');
    console_putc(c);
  } else if (s->len + 1 < s->size) {
    s->buf[s->len] = c;
  }
  s->len++;
}

static void put_uint(struct sink *s, uint64_t v, unsigned base, int width,
                     char pad) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  for (; width > n; width--) sink_put(s, pad);
  while (n) sink_put(s, digits[--n]);
}

static void format(struct sink *s, const char *fmt, va_list ap) {
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      sink_put(s, *fmt);
      continue;
    }
    fmt++;
    char pad = ' ';
    int width = 0;
    if (*fmt == '0') pad = '0';
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    int longs = 0;
    while (*fmt == 'l') longs++, fmt++;
    switch (*fmt) {
      case 'd':
      case 'i': {
        int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
        if (v < 0) {
          sink_put(s, '-');
          put_uint(s, (uint64_t)-v, 10, width ? width - 1 : 0, pad);
        } else {
          put_uint(s, (uint64_t)v, 10, width, pad);
        }
        break;
      }
      case 'u':
        put_uint(s, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10,
                 width, pad);
        break;
      case 'x':
        put_uint(s, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16,
                 width, pad);
        break;
      case 'p':
        sink_put(s, '0');
        sink_put(s, 'x');
        put_uint(s, (uint64_t)va_arg(ap, void *), 16, width, pad);
        break;
      case 'c':
        sink_put(s, (char)va_arg(ap, int));
        break;
      case 's': {
        const char *str = va_arg(ap, const char *);
        if (!str) str = "(null)";
        while (*str) sink_put(s, *str++);
        break;
      }
      case '%':
        sink_put(s, '%');
        break;
      default:
        sink_put(s, '%');
        if (!*fmt) return;
        sink_put(s, *fmt);
    }
  }
}

/* Serialises whole lines from several CPUs. */
static volatile uint32_t console_lock;

void vprint(const char *fmt, va_list ap) {
  while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE)) cpu_relax();
  struct sink s = {0};
  format(&s, fmt, ap);
  __atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

void print(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprint(fmt, ap);
  va_end(ap);
}

int snprint(char *buf, size_t size, const char *fmt, ...) {
  struct sink s = {buf, size, 0};
  va_list ap;
  va_start(ap, fmt);
  format(&s, fmt, ap);
  va_end(ap);
  if (size) buf[s.len < size ? s.len : size - 1] = '\0';
  return (int)s.len;
}
