/* 16550A UART: Linux's autodetection sequence, registers, interrupts, RX and TX. */
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "hw/pc.h"
#include "hw/uart.h"
#include "hw_test.h"

#define COM PC_COM1_PORT
#define IRQ PC_COM1_IRQ
enum { RBR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

static struct vm vm;
static struct uart *u;
static int pipe_rd;

static uint8_t rd(unsigned reg) { return inb(&vm, COM + reg); }
static void wr(unsigned reg, uint8_t v) { outb(&vm, COM + reg, v); }

static size_t drain_pipe(char *buf, size_t cap)
{
	ssize_t n = read(pipe_rd, buf, cap);
	return n > 0 ? (size_t)n : 0;
}

static void test_reset_state(void)
{
	CHECK_EQ(rd(IER), 0);
	CHECK_EQ(rd(IIR), 0x01);
	CHECK_EQ(rd(LCR), 0);
	CHECK_EQ(rd(MCR), 0);
	CHECK_EQ(rd(LSR), 0x60);
	CHECK_EQ(rd(MSR), 0xb0); /* CTS, DSR, DCD: a terminal is connected; no deltas */
	CHECK_EQ(irq_line(&vm, IRQ), 0);
}

/* The steps Linux's 8250 autoconfig takes, in its order. */
static void test_linux_detection(void)
{
	/* scratch register */
	wr(SCR, 0xa5);
	CHECK_EQ(rd(SCR), 0xa5);
	wr(SCR, 0x5a);
	CHECK_EQ(rd(SCR), 0x5a);
	/* IER: low nibble writable, nothing else */
	wr(IER, 0);
	CHECK_EQ(rd(IER) & 0x0f, 0);
	wr(IER, 0x0f);
	CHECK_EQ(rd(IER) & 0x0f, 0x0f);
	wr(IER, 0xff);
	CHECK_EQ(rd(IER), 0x0f); /* no UUE bit (bit 6): not an XScale */
	wr(IER, 0);
	/* loopback: MSR follows MCR (RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD) */
	wr(MCR, 0x10 | 0x0a);
	CHECK_EQ(rd(MSR) & 0xf0, 0x90);
	wr(MCR, 0x1f);
	CHECK_EQ(rd(MSR) & 0xf0, 0xf0);
	wr(MCR, 0);
	CHECK_EQ(rd(MSR) & 0xf0, 0xb0);
	/* FIFO enable shows as IIR bits 7:6 = 11: a 16550A, not a 16550 (10) or 16450 (00) */
	wr(FCR, 0x01);
	CHECK_EQ(rd(IIR) >> 6, 3);
	/* no EFR behind LCR 0xbf: offset 2 still reads IIR (non-zero) */
	wr(LCR, 0xbf);
	CHECK(rd(IIR) != 0);
	wr(LCR, 0);
	/* no 64-byte FIFO: IIR bit 5 stays clear with FCR bit 5 set, with and without DLAB */
	wr(FCR, 0x21);
	CHECK_EQ(rd(IIR) >> 5, 6);
	wr(LCR, 0x80);
	wr(FCR, 0x21);
	wr(LCR, 0);
	CHECK_EQ(rd(IIR) >> 5, 6);
	wr(FCR, 0);
	CHECK_EQ(rd(IIR), 0x01);
}

static void test_divisor_latch(void)
{
	char buf[8];

	wr(IER, 0x05);
	wr(LCR, 0x83);        /* DLAB, 8N1 */
	wr(RBR, 0x01);        /* DLL: 115200 baud */
	wr(IER, 0x00);        /* DLM */
	CHECK_EQ(rd(RBR), 0x01);
	CHECK_EQ(rd(IER), 0x00);
	wr(RBR, 0x0c);
	CHECK_EQ(rd(RBR), 0x0c);
	CHECK_EQ(drain_pipe(buf, sizeof(buf)), 0); /* DLL writes are not transmitted */
	wr(LCR, 0x03);
	CHECK_EQ(rd(LCR), 0x03);
	CHECK_EQ(rd(IER), 0x05); /* IER untouched by the DLM writes */
	wr(IER, 0);
}

static void test_thre_interrupt(void)
{
	char buf[8];

	wr(MCR, 0x0b);   /* DTR, RTS, OUT2: IRQ gate open */
	rd(MSR);         /* clear deltas */
	wr(FCR, 0x07);
	CHECK_EQ(irq_line(&vm, IRQ), 0);
	/* enabling ETBEI with THR empty raises THRE */
	wr(IER, 0x02);
	CHECK_EQ(irq_line(&vm, IRQ), 1);
	CHECK_EQ(rd(IIR), 0xc2);
	/* ...and reading IIR that reports it clears it */
	CHECK_EQ(irq_line(&vm, IRQ), 0);
	CHECK_EQ(rd(IIR), 0xc1);
	/* Linux's THRE re-assert test: IER off and on again raises it again */
	wr(IER, 0);
	wr(IER, 0x02);
	CHECK_EQ(rd(IIR), 0xc2);
	CHECK_EQ(rd(IIR), 0xc1);
	/* writing THR transmits at once and re-arms THRE */
	wr(RBR, 'A');
	CHECK_EQ(irq_line(&vm, IRQ), 1);
	CHECK_EQ(rd(LSR) & 0x60, 0x60);
	CHECK_EQ(drain_pipe(buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], 'A');
	CHECK_EQ(rd(IIR), 0xc2);
	CHECK_EQ(irq_line(&vm, IRQ), 0);
	/* OUT2 gates the line, not the interrupt */
	wr(MCR, 0x03);
	wr(IER, 0);
	wr(IER, 0x02);
	CHECK_EQ(irq_line(&vm, IRQ), 0);
	CHECK_EQ(rd(IIR) & 0x0f, 0x02);
	wr(IER, 0);
	wr(MCR, 0x0b);
}

static void test_rx(void)
{
	static uint8_t big[5000];

	wr(FCR, 0x07);   /* FIFO on, trigger level 1 */
	CHECK_EQ(uart_receive(u, (const uint8_t *)"hi", 2), 2);
	CHECK_EQ(rd(LSR) & 0x01, 1);
	CHECK_EQ(irq_line(&vm, IRQ), 0);  /* ERBFI off */
	wr(IER, 0x01);
	CHECK_EQ(irq_line(&vm, IRQ), 1);
	CHECK_EQ(rd(IIR), 0xc4);
	CHECK_EQ(rd(RBR), 'h');
	CHECK_EQ(rd(RBR), 'i');
	CHECK_EQ(rd(LSR) & 0x01, 0);
	CHECK_EQ(rd(IIR), 0xc1);
	CHECK_EQ(irq_line(&vm, IRQ), 0);

	/* below the trigger level: character time-out; at it: data available */
	wr(FCR, 0xc1);   /* trigger 14 */
	CHECK_EQ(uart_receive(u, (const uint8_t *)"abc", 3), 3);
	CHECK_EQ(rd(IIR), 0xcc);
	CHECK_EQ(uart_receive(u, big, 20), 20);
	CHECK_EQ(rd(IIR), 0xc4);
	/* FIFO reset drops the 16 bytes the chip holds, not the host's backlog */
	wr(FCR, 0xc3);
	CHECK_EQ(rd(RBR), 0);   /* 23 - 16 = 7 left: big[3..9] are zero */
	unsigned n = 1;
	while (rd(LSR) & 0x01) {
		rd(RBR);
		n++;
	}
	CHECK_EQ(n, 7);

	/* the host buffer is bounded: the caller gets told how much was taken */
	for (unsigned i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	size_t took = uart_receive(u, big, sizeof(big));
	CHECK(took >= 1024 && took < sizeof(big));
	CHECK_EQ(uart_receive(u, big, 1), 0);
	size_t got = 0;
	int order_ok = 1;
	while (rd(LSR) & 0x01)
		order_ok &= rd(RBR) == (uint8_t)got++;
	CHECK_EQ(got, took);
	CHECK(order_ok);
	wr(IER, 0);
	CHECK_EQ(irq_line(&vm, IRQ), 0);
}

static void test_loopback_and_priorities(void)
{
	char buf[8];

	wr(FCR, 0);          /* no FIFO: a one-byte holding register */
	wr(MCR, 0x1b);       /* loopback */
	rd(MSR);
	CHECK_EQ(uart_receive(u, (const uint8_t *)"z", 1), 0); /* input disconnected */
	wr(RBR, 'x');
	CHECK_EQ(drain_pipe(buf, sizeof(buf)), 0);  /* not transmitted */
	CHECK_EQ(rd(LSR) & 0x01, 1);
	wr(RBR, 'y');        /* overrun: the holding register is full */
	wr(IER, 0x0f);
	CHECK_EQ(rd(IIR), 0x06);                    /* line status beats data */
	CHECK_EQ(irq_line(&vm, IRQ), 0);            /* loopback closes the IRQ gate */
	CHECK_EQ(rd(LSR), 0x80 | 0x60 | 0x02 | 0x01);
	CHECK_EQ(rd(IIR), 0x04);                    /* then data */
	CHECK_EQ(rd(RBR), 'x');
	CHECK_EQ(rd(IIR), 0x02);                    /* then THR empty (from the writes) */
	CHECK_EQ(rd(IIR), 0x01);
	wr(MCR, 0x1f);                              /* RI rises: no delta (TERI is the falling edge) */
	CHECK_EQ(rd(IIR), 0x01);
	wr(MCR, 0x1b);                              /* RI falls: TERI */
	CHECK_EQ(rd(IIR), 0x00);                    /* modem status */
	CHECK_EQ(rd(MSR), 0x04 | 0x10 | 0x20 | 0x80);
	CHECK_EQ(rd(IIR), 0x01);
	wr(IER, 0);
	wr(MCR, 0x0b);
	CHECK_EQ(rd(MSR) & 0xf0, 0xb0);
	CHECK_EQ(rd(LSR) & 0x01, 0);
}

/* Wider and odd accesses are byte cycles, never out of bounds. */
static void test_wide_access(void)
{
	io_out(&vm, COM + SCR - 1, 2, 0x4201);   /* MSR (ignored), SCR = 0x42 */
	CHECK_EQ(rd(SCR), 0x42);
	CHECK_EQ(io_in(&vm, COM + 4, 4) & 0xff00ff00, (uint64_t)0x42000000 | 0x6000);
	CHECK_EQ(io_in(&vm, COM, 8) >> 56, 0x42);
}

static void test_tx_failures(void)
{
	struct uart_stats st;
	char c = 0;

	/* a full pipe: the vCPU waits a bounded time, then output is dropped until it drains */
	uart_get_stats(u, &st);
	uint64_t dropped = st.tx_dropped, sent = st.tx_bytes;
	int wfd = vm.cfg.console_out;
	int fl = fcntl(wfd, F_GETFL);
	fcntl(wfd, F_SETFL, fl | O_NONBLOCK);
	while (write(wfd, &c, 1) == 1)
		;
	fcntl(wfd, F_SETFL, fl);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	wr(RBR, 'B');
	wr(RBR, 'C');
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(secs < 10);
	uart_get_stats(u, &st);
	CHECK_EQ(st.tx_dropped, dropped + 2);
	CHECK_EQ(st.tx_bytes, sent);
	char buf[4096];
	while (drain_pipe(buf, sizeof(buf)) == sizeof(buf))
		;
	wr(RBR, 'D');        /* drained: output resumes */
	uart_get_stats(u, &st);
	CHECK_EQ(st.tx_bytes, sent + 1);
	CHECK_EQ(drain_pipe(buf, sizeof(buf)), 1);

	/* reader gone: dropped and counted, no SIGPIPE */
	close(pipe_rd);
	pipe_rd = -1;
	wr(RBR, 'E');
	wr(RBR, 'F');
	uart_get_stats(u, &st);
	CHECK_EQ(st.tx_dropped, dropped + 4);
}

int main(void)
{
	struct err e;
	int fds[2];

	if (pipe(fds))
		return 1;
	pipe_rd = fds[0];
	fcntl(pipe_rd, F_SETFL, O_NONBLOCK);
	test_vm_init(&vm, 0, 1, fds[1]);
	if (uart_create(&vm, COM, IRQ, &u, &e)) {
		fprintf(stderr, "uart_create: %s\n", e.msg);
		return 1;
	}
	test_reset_state();
	test_linux_detection();
	test_divisor_latch();
	test_thre_interrupt();
	test_rx();
	test_loopback_and_priorities();
	test_wide_access();
	test_tx_failures();

	vm_destroy(&vm);
	close(fds[1]);
	return check_done();
}
