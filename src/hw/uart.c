/* 16550A UART, written from the PC16550D datasheet.
 *
 * Transmission is instantaneous: a byte written to THR goes straight to the console fd,
 * so THR and the transmitter are always empty (LSR.THRE = LSR.TEMT = 1) and writing THR
 * re-arms the THRE interrupt at once. Received bytes sit in a host-side buffer of a few
 * KiB; the first 16 of them play the role of the receive FIFO. */
#include "uart.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/snap.h"
#include "core/vm.h"

enum {
	REG_RBR_THR = 0, REG_IER = 1, REG_IIR_FCR = 2, REG_LCR = 3,
	REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7,
};

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* THR empty */
#define IER_ELSI  0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */

#define IIR_NONE     0x01
#define IIR_MSR      0x00
#define IIR_THRE     0x02
#define IIR_RDA      0x04
#define IIR_RLS      0x06
#define IIR_TIMEOUT  0x0c
#define IIR_FIFO_ON  0xc0

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_STORED   0xc9 /* enable, DMA mode, RX trigger level */

#define LCR_DLAB     0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08 /* gates the IRQ line on PCs */
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR     0x01
#define LSR_OE     0x02
#define LSR_ERRS   0x1e /* OE, PE, FE, BI: cleared by reading LSR */
#define LSR_THRE   0x20
#define LSR_TEMT   0x40

#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI  0x40
#define MSR_DCD 0x80
#define MSR_DELTAS 0x0f

#define FIFO_SIZE 16
#define RX_BUF_SIZE 4096
/* How long a transmitting vCPU may wait for a full console fd before output is dropped. */
#define TX_STALL_MS 1000

struct uart {
	struct vm *vm;
	pthread_mutex_t lock;
	unsigned irq;
	int out_fd;

	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	uint8_t lsr_errs;    /* LSR bits 1..4 */
	uint8_t msr;         /* lines in bits 7..4, deltas in bits 3..0 */
	bool thre_pending;   /* THRE interrupt condition (see uart_iir_id) */
	bool irq_level;      /* what we last told vm_set_irq */
	bool tx_stalled;     /* the last transmit timed out: drop until the fd drains */
	bool tx_broken;      /* the fd failed: drop everything */

	uint8_t rx[RX_BUF_SIZE];
	size_t rx_head, rx_count;

	struct uart_stats stats;
};

static unsigned fifo_cap(const struct uart *u)
{
	return (u->fcr & FCR_ENABLE) ? FIFO_SIZE : 1;
}

static unsigned rx_trigger(const struct uart *u)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 };
	return levels[u->fcr >> 6];
}

/* Highest-priority pending interrupt, as IIR bits 3..0 (IIR_NONE if none). */
static uint8_t uart_iir_id(const struct uart *u)
{
	if ((u->ier & IER_ELSI) && u->lsr_errs)
		return IIR_RLS;
	if ((u->ier & IER_ERBFI) && u->rx_count) {
		if (!(u->fcr & FCR_ENABLE))
			return IIR_RDA;
		size_t level = u->rx_count < FIFO_SIZE ? u->rx_count : FIFO_SIZE;
		/* Below the trigger level real hardware waits four character times before
		 * signalling a timeout; with no line timing we signal it at once. */
		return level >= rx_trigger(u) ? IIR_RDA : IIR_TIMEOUT;
	}
	if ((u->ier & IER_ETBEI) && u->thre_pending)
		return IIR_THRE;
	if ((u->ier & IER_EDSSI) && (u->msr & MSR_DELTAS))
		return IIR_MSR;
	return IIR_NONE;
}

/* Called with the lock held after every state change; drives the line only on changes.
 * In loopback the chip disconnects OUT2 from its pin, which closes the PC's IRQ gate. */
static void uart_update_irq(struct uart *u)
{
	bool level = !(uart_iir_id(u) & IIR_NONE) && (u->mcr & MCR_OUT2) && !(u->mcr & MCR_LOOP);
	if (level != u->irq_level) {
		u->irq_level = level;
		vm_set_irq(u->vm, u->irq, level);
	}
}

/* The modem input lines: a connected terminal outside loopback; the MCR outputs
 * looped back inside it. Changes set the delta bits. */
static void uart_update_msr(struct uart *u)
{
	uint8_t lines = MSR_CTS | MSR_DSR | MSR_DCD;
	if (u->mcr & MCR_LOOP) {
		lines = 0;
		if (u->mcr & MCR_RTS)  lines |= MSR_CTS;
		if (u->mcr & MCR_DTR)  lines |= MSR_DSR;
		if (u->mcr & MCR_OUT1) lines |= MSR_RI;
		if (u->mcr & MCR_OUT2) lines |= MSR_DCD;
	}
	uint8_t old = u->msr & 0xf0, changed = old ^ lines, deltas = u->msr & MSR_DELTAS;
	if (changed & MSR_CTS) deltas |= 0x01;
	if (changed & MSR_DSR) deltas |= 0x02;
	if ((old & MSR_RI) && !(lines & MSR_RI)) deltas |= 0x04; /* trailing edge of RI */
	if (changed & MSR_DCD) deltas |= 0x08;
	u->msr = lines | deltas;
}

static void rx_push(struct uart *u, uint8_t b)
{
	u->rx[(u->rx_head + u->rx_count) % RX_BUF_SIZE] = b;
	u->rx_count++;
}

static uint8_t rx_pop(struct uart *u)
{
	uint8_t b = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % RX_BUF_SIZE;
	u->rx_count--;
	return b;
}

/* FIFO reset drops what the chip holds; bytes beyond the FIFO have not "arrived" yet. */
static void rx_clear_fifo(struct uart *u)
{
	size_t n = u->rx_count < FIFO_SIZE ? u->rx_count : FIFO_SIZE;
	u->rx_head = (u->rx_head + n) % RX_BUF_SIZE;
	u->rx_count -= n;
}

/* Wait at most `ms` for the fd to accept a byte. -1 if it never will, 0 if not now. */
static int tx_wait(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int r;
	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r < 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL)))
		return -1; /* checking POLLHUP first also avoids SIGPIPE on a closed pipe */
	return r > 0;
}

/* Send one byte to the console fd. Never blocks the guest for more than TX_STALL_MS. */
static void uart_tx(struct uart *u, uint8_t b)
{
	if (u->out_fd < 0 || u->tx_broken) {
		u->stats.tx_dropped++;
		return;
	}
	for (;;) {
		int w = tx_wait(u->out_fd, u->tx_stalled ? 0 : TX_STALL_MS);
		if (w == 0) {
			if (!u->tx_stalled)
				log_warn("uart", "console output stalled for %d ms: dropping output until it drains",
				         TX_STALL_MS);
			u->tx_stalled = true;
			u->stats.tx_dropped++;
			return;
		}
		if (w > 0) {
			ssize_t r = write(u->out_fd, &b, 1);
			if (r == 1) {
				u->tx_stalled = false;
				u->stats.tx_bytes++;
				return;
			}
			if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
				continue;
			log_warn("uart", "console output failed (%s): dropping further output",
			         r < 0 ? strerror(errno) : "wrote nothing");
		} else {
			log_warn("uart", "console output closed: dropping further output");
		}
		u->tx_broken = true;
		u->stats.tx_dropped++;
		return;
	}
}

static void write_thr(struct uart *u, uint8_t v)
{
	u->thre_pending = false;
	if (u->mcr & MCR_LOOP) {
		if (u->rx_count < fifo_cap(u)) {
			rx_push(u, v);
		} else {
			u->lsr_errs |= LSR_OE;
			u->stats.rx_overruns++;
		}
	} else {
		uart_tx(u, v);
	}
	u->thre_pending = true; /* sent at once: THR is empty again */
}

static void write_fcr(struct uart *u, uint8_t v)
{
	/* Toggling FIFO enable resets both FIFOs (datasheet, FCR bit 0). */
	if (((v ^ u->fcr) & FCR_ENABLE) || (v & FCR_CLEAR_RX))
		rx_clear_fifo(u);
	/* FCR_CLEAR_TX: the transmit FIFO is always empty. */
	u->fcr = v & FCR_STORED;
	if (!(u->fcr & FCR_ENABLE))
		u->fcr = 0;
}

static void uart_write(struct uart *u, unsigned reg, uint8_t v)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case REG_RBR_THR:
		if (dlab)
			u->dll = v;
		else
			write_thr(u, v);
		break;
	case REG_IER:
		if (dlab) {
			u->dlm = v;
		} else {
			/* Enabling ETBEI while THR is empty raises THRE (Linux's 8250 driver
			 * tests this in startup and relies on it to start transmitting). */
			if ((v & IER_ETBEI) && !(u->ier & IER_ETBEI))
				u->thre_pending = true;
			u->ier = v & 0x0f;
		}
		break;
	case REG_IIR_FCR:
		write_fcr(u, v);
		break;
	case REG_LCR:
		u->lcr = v;
		break;
	case REG_MCR:
		u->mcr = v & MCR_MASK;
		uart_update_msr(u);
		break;
	case REG_LSR: /* factory test register: writes ignored */
	case REG_MSR:
		break;
	case REG_SCR:
		u->scr = v;
		break;
	}
}

static uint8_t uart_read(struct uart *u, unsigned reg)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v = 0xff;

	switch (reg) {
	case REG_RBR_THR:
		if (dlab)
			v = u->dll;
		else
			v = u->rx_count ? rx_pop(u) : 0;
		break;
	case REG_IER:
		v = dlab ? u->dlm : u->ier;
		break;
	case REG_IIR_FCR: {
		uint8_t id = uart_iir_id(u);
		if (id == IIR_THRE)
			u->thre_pending = false; /* reading IIR clears a THRE it reports */
		v = id | ((u->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0);
		break;
	}
	case REG_LCR:
		v = u->lcr;
		break;
	case REG_MCR:
		v = u->mcr;
		break;
	case REG_LSR:
		v = LSR_THRE | LSR_TEMT | u->lsr_errs | (u->rx_count ? LSR_DR : 0);
		if (u->lsr_errs)
			v |= 0x80; /* error in RX FIFO */
		u->lsr_errs = 0;
		break;
	case REG_MSR:
		v = u->msr;
		u->msr &= ~MSR_DELTAS;
		break;
	case REG_SCR:
		v = u->scr;
		break;
	}
	return v;
}

/* Wider accesses are split into byte cycles at consecutive ports, as the ISA bus does. */
static void uart_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct uart *u = opaque;

	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < size; i++) {
		uint64_t reg = offset + i;
		if (reg >= UART_NPORTS) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		if (is_write)
			uart_write(u, (unsigned)reg, data[i]);
		else
			data[i] = uart_read(u, (unsigned)reg);
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

size_t uart_receive(void *opaque, const uint8_t *buf, size_t n)
{
	struct uart *u = opaque;
	size_t took = 0;

	vm_input_begin(u->vm);
	pthread_mutex_lock(&u->lock);
	if (!(u->mcr & MCR_LOOP)) {
		took = RX_BUF_SIZE - u->rx_count;
		if (took > n)
			took = n;
		for (size_t i = 0; i < took; i++)
			rx_push(u, buf[i]);
		u->stats.rx_bytes += took;
		uart_update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
	vm_input_end(u->vm);
	return took;
}

void uart_get_stats(struct uart *u, struct uart_stats *out)
{
	pthread_mutex_lock(&u->lock);
	*out = u->stats;
	pthread_mutex_unlock(&u->lock);
}

/* Snapshots: the registers and the received bytes not yet read (output is written at
 * once: none waits). The host side (the console fd, a stalled or broken output) is not
 * the guest's. */
static int uart_save(void *opaque, struct snap_writer *w)
{
	struct uart *u = opaque;
	pthread_mutex_lock(&u->lock);
	uint8_t regs[] = { u->ier, u->lcr, u->mcr, u->scr, u->fcr, u->dll, u->dlm, u->lsr_errs,
	                   u->msr, u->thre_pending };
	snap_put_bytes(w, regs, sizeof(regs));
	snap_put_u32(w, (uint32_t)u->rx_count);
	for (size_t i = 0; i < u->rx_count; i++)
		snap_put_u8(w, u->rx[(u->rx_head + i) % RX_BUF_SIZE]);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

static int uart_load(void *opaque, struct snap_reader *r)
{
	struct uart *u = opaque;
	pthread_mutex_lock(&u->lock);
	u->ier = snap_get_u8(r);
	u->lcr = snap_get_u8(r);
	u->mcr = snap_get_u8(r);
	u->scr = snap_get_u8(r);
	u->fcr = snap_get_u8(r);
	u->dll = snap_get_u8(r);
	u->dlm = snap_get_u8(r);
	u->lsr_errs = snap_get_u8(r);
	u->msr = snap_get_u8(r);
	u->thre_pending = snap_get_bool(r);
	snap_check(r, u->ier <= 0x0f && !(u->mcr & ~MCR_MASK) && !(u->lsr_errs & ~LSR_ERRS) &&
	           !(u->fcr & ~FCR_STORED) && (u->fcr == 0 || (u->fcr & FCR_ENABLE)), "registers");
	uint32_t n = snap_get_u32(r);
	snap_check(r, n <= RX_BUF_SIZE, "received bytes");
	u->rx_head = 0;
	u->rx_count = r->failed ? 0 : n;
	snap_get_bytes(r, u->rx, u->rx_count);
	if (r->failed) {
		u->ier = u->mcr = 0;
		u->rx_count = 0;
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return snap_status(r);
}

static void uart_destroy(void *opaque)
{
	struct uart *u = opaque;
	pthread_mutex_destroy(&u->lock);
	free(u);
}

int uart_create(struct vm *vm, uint16_t base, unsigned irq, struct uart **out, struct err *e)
{
	struct uart *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return err_set(e, ENOMEM, "uart: out of memory");
	r = pthread_mutex_init(&u->lock, NULL);
	if (r) {
		free(u);
		return err_set(e, r, "uart: cannot create its lock");
	}
	u->vm = vm;
	u->irq = irq;
	u->out_fd = vm->cfg.console_out;
	u->dll = 0x0c; /* 9600 baud; the datasheet leaves it undefined after reset */
	uart_update_msr(u);
	u->msr &= ~MSR_DELTAS; /* power-on lines are not changes */

	/* Owned by the VM from here: its teardown frees us if a later step fails. */
	r = vm_add_device(vm, u, uart_destroy, e);
	if (r) {
		uart_destroy(u);
		return r;
	}
	vm_set_device_snapshot(vm, u, "uart", uart_save, uart_load);
	r = bus_register(&vm->pio, base, UART_NPORTS, uart_io, u, "uart", e);
	if (r)
		return r;
	*out = u;
	return 0;
}
