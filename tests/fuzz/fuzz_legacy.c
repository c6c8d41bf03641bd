/* The legacy PC devices on the port bus, as a hostile guest and host drive them: the
 * 8254 PIT and port 0x61 (hw/pit.c, on an injected clock: no thread), the CMOS RTC
 * (rtc.c), the 16550A UART (uart.c, writing to a pipe), the i8042 with a keyboard
 * (i8042.c, also fed typed scan codes), ACPI PM1a and its timer (acpi_pm.c, and the
 * power button), the debug exit, POST and debug console ports (debug_exit.c): any port
 * around them, any width, any value, time moved, serial input and keys from the host.
 *
 * Invariants: the VM stops exactly for the documented writes (isa-debug-exit with
 * status (v << 1) | 1, the i8042's reset pulse or output port, S5 through PM1a_CNT) and
 * for nothing else; every byte written to THR outside loopback and DLAB reaches the
 * console in order and nothing else does; the UART's, the i8042's, the SCI's and the
 * PIT's lines agree with what their registers say (IRQ 4 only with OUT2 and not in
 * loopback, IIR and LSR well-formed, IIR saying the same as the line; IRQ 1/12 exactly
 * while a keyboard/aux byte waits with its interrupt enabled in the command byte;
 * SCI = STS & EN, with EN, STS and CNT within their defined bits; IRQ 0 = counter 0's
 * OUT, read back through the read-back command, except in mode 2's one-tick low pulse,
 * which is delivered at its end); pit_poll's next change lies ahead; CMOS bytes read
 * back as written (through a 7-bit index), registers A-D as defined, and the clock's
 * fields in BCD or binary within their ranges while it runs; the UART's receive buffer
 * and the i8042's queue hold at most their sizes (drained before each input); the PM
 * timer never goes back; the debug ports read their fixed bytes, unclaimed ports all
 * ones.
 *
 * Input: actions until it ends, each an op byte (mod 7) and its operands,
 * little-endian, short input reads as zeros:
 *   0 any access: u8 device (mod 12), u8 offset (mod range + 4, from 2 below the range),
 *     u8 (size code 1, 2, 4, 8, 3, 1, 1, 1 | write << 3), u64 value
 *   1 byte write: u8 port (mod 28, ports[] below), u8 value   2 byte read: u8 port
 *   3 time: u32 ns, u8 shift (mod 8), then pit_poll
 *   4 serial input: u8 n, n bytes        5 keys typed: u8 n, n bytes
 *   6 the power button
 * tests/fuzz/seeds.py writes seeds in this format. */
#include "fuzz.h"

#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "hw/acpi_pm.h"
#include "hw/debug_exit.h"
#include "hw/i8042.h"
#include "hw/pc.h"
#include "hw/pit.h"
#include "hw/rtc.h"
#include "hw/uart.h"

#define CLOCK0 1000000000ull
#define NS     1000000000ull
#define UART_RX_BUF 4096        /* uart.c's receive buffer */
#define I8042_QUEUE 64          /* i8042.c's output queue */

struct range {
	uint16_t base, len;
};

static const struct range devs[] = {
	{ 0x40, 4 }, { 0x61, 1 }, { PC_RTC_PORT, 2 }, { PC_COM1_PORT, 8 },
	{ PC_I8042_DATA_PORT, 1 }, { PC_I8042_CMD_PORT, 1 }, { PC_ACPI_PM1A_EVT, 4 },
	{ PC_ACPI_PM1A_CNT, 2 }, { PC_ACPI_PM_TMR, 4 }, { PC_DEBUG_EXIT_PORT, 4 },
	{ PC_POST_PORT, 1 }, { PC_DEBUGCON_PORT, 1 },
};

static const uint16_t ports[28] = {
	0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71, 0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd,
	0x3fe, 0x3ff, 0x60, 0x64, 0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x608, 0xf4, 0x80,
	0x402, 0xf7,
};

static const unsigned sizes[] = { 1, 2, 4, 8, 3, 1, 1, 1 };

/* What the harness knows from the bytes it sent: the UART's LCR and MCR, the i8042's
 * command waiting for data, the RTC's index, register B and CMOS bytes, whether counter
 * 0's status is latched. */
static struct {
	uint8_t lcr, mcr;
	uint8_t kbc_pending, kbc_ints;   /* and its command byte's interrupt enables */
	uint8_t rtc_index, rtc_b, rtc_a;
	uint8_t cmos[128];
	bool pit_status;
} sh;

static struct vm *vm;
static struct pit *pit;
static struct uart *com1;
static struct i8042 *kbc;
static struct acpi_pm *pm;
static uint64_t clock_ns = CLOCK0;
static int tx_pipe[2];
static uint8_t tx_want[64];
static unsigned tx_nwant;
static uint32_t last_pm_timer;
static bool uart_line;          /* IRQ 4 before the access being modelled */

static unsigned long accesses, claimed, tx_bytes, rx_bytes, keys, iir_reads, cmos_checked,
	time_checked, pit_checked, debug_exits, kbc_resets, s5, wakes, sci, pit_edges;

static void stats(FILE *out)
{
	fprintf(out, " accesses=%lu claimed=%lu tx_bytes=%lu rx_bytes=%lu keys=%lu iir_reads=%lu"
	        " cmos_checked=%lu time_checked=%lu pit_checked=%lu debug_exits=%lu"
	        " kbc_resets=%lu s5=%lu wakes=%lu sci=%lu pit_edges=%lu",
	        accesses, claimed, tx_bytes, rx_bytes, keys, iir_reads, cmos_checked,
	        time_checked, pit_checked, debug_exits, kbc_resets, s5, wakes, sci, pit_edges);
}

static uint64_t fake_now(void *opaque) { return clock_ns; }

static bool line(unsigned gsi) { return atomic_load(&vm->irq_lines) >> gsi & 1; }

static uint8_t inb(uint16_t port)
{
	uint8_t v = 0;
	bus_access(&vm->pio, port, &v, 1, false);
	return v;
}

static void outb(uint16_t port, uint8_t v)
{
	bus_access(&vm->pio, port, &v, 1, true);
}

/* -- the models, byte by byte, after the device saw the access ------------------------- */

static bool is_time_reg(unsigned r)
{
	return r <= 9 ? !(r & 1) || r >= 7 : r == RTC_CENTURY_REG;
}

static void rtc_byte(unsigned off, uint8_t *d, bool write)
{
	if (off == 0) {
		if (write)
			sh.rtc_index = *d & 0x7f;
		return;
	}
	unsigned r = sh.rtc_index;
	if (write) {
		if (r == 0x0a)
			sh.rtc_a = *d & 0x7f;
		else if (r == 0x0b)
			sh.rtc_b = *d;
		else if (r != 0x0c && r != 0x0d && !is_time_reg(r))
			sh.cmos[r] = *d;
		return;
	}
	uint8_t want = r == 0x0a ? sh.rtc_a : r == 0x0b ? sh.rtc_b : r == 0x0c ? 0 :
	               r == 0x0d ? 0x80 : sh.cmos[r];
	if (!is_time_reg(r)) {
		if (*d != want)
			fuzz_fail("CMOS 0x%02x read 0x%02x, want 0x%02x", r, *d, want);
		cmos_checked++;
		return;
	}
	if (!is_time_reg(r) || (sh.rtc_b & 0x80))
		return;
	/* The running clock: BCD digits (or binary) within each field's range. */
	bool bcd = !(sh.rtc_b & 0x04), h12 = !(sh.rtc_b & 0x02);
	uint8_t raw = r == 4 && h12 ? *d & 0x7f : *d;
	if (bcd && ((raw & 0x0f) > 9 || (raw >> 4) > 9))
		fuzz_fail("RTC register 0x%02x read 0x%02x: not BCD", r, *d);
	unsigned v = bcd ? (raw >> 4) * 10u + (raw & 0x0f) : raw;
	static const unsigned lo[10] = { 0, 0, 0, 0, 0, 0, 1, 1, 1, 0 };
	static const unsigned hi[10] = { 59, 0, 59, 0, 23, 0, 7, 31, 12, 99 };
	unsigned min = r < 10 ? lo[r] : 0, max = r < 10 ? hi[r] : bcd ? 99 : 255;
	if (r == 4 && h12)
		min = 1, max = 12;
	if (v < min || v > max)
		fuzz_fail("RTC register 0x%02x read %u (raw 0x%02x), out of %u..%u", r, v, *d, min, max);
	time_checked++;
}

/* The i8042's data-port byte: does it reset the machine? */
static bool kbc_byte(bool cmd, uint8_t v)
{
	if (cmd) {
		sh.kbc_pending = (v >= 0x60 && v <= 0x7f) || (v >= 0xd1 && v <= 0xd4) ? v : 0;
		return (v & 0xf0) == 0xf0 && !(v & 1);
	}
	bool reset = sh.kbc_pending == 0xd1 && !(v & 1);
	if (sh.kbc_pending == 0x60)
		sh.kbc_ints = v & 3;
	sh.kbc_pending = 0;
	return reset;
}

static void pit_byte(unsigned reg, uint8_t v, bool write)
{
	if (reg == 0 && !write)
		sh.pit_status = false;
	if (reg != 3 || !write)
		return;
	if (v >> 6 == 3 && !(v & 0x10) && (v & 2))
		sh.pit_status = true;
	else if (v >> 6 == 0 && (v >> 4 & 3))
		sh.pit_status = false;
}

static void uart_byte(unsigned reg, uint8_t *d, bool write, bool alone)
{
	if (!write && reg == 5 && ((*d & 0x60) != 0x60 || !(*d & 0x80) != !(*d & 0x1e)))
		fuzz_fail("UART LSR 0x%02x", *d);
	if (!write) {
		if (reg == 2 && alone) {
			/* IIR: well-formed, and saying what the line said */
			uint8_t id = *d & 0x0f;
			bool was = uart_line;
			if ((*d & 0x30) || ((*d & 0xc0) && (*d & 0xc0) != 0xc0) ||
			    (id != 1 && id != 0 && id != 2 && id != 4 && id != 6 && id != 0xc))
				fuzz_fail("UART IIR 0x%02x", *d);
			bool want = !(id & 1) && (sh.mcr & 0x08) && !(sh.mcr & 0x10);
			if (was != want)
				fuzz_fail("UART IRQ %d while IIR 0x%02x, MCR 0x%02x", was, *d, sh.mcr);
			iir_reads++;
		}
		return;
	}
	if (reg == 3)
		sh.lcr = *d;
	else if (reg == 4)
		sh.mcr = *d & 0x1f;
	else if (reg == 0 && !(sh.lcr & 0x80) && !(sh.mcr & 0x10) && tx_nwant < sizeof(tx_want))
		tx_want[tx_nwant++] = *d;
}

/* Returns the stop the access must cause (VM_RUNNING: none), with its status. */
static enum vm_stop_reason model(uint16_t port, uint8_t *d, unsigned size, bool write,
                                 int *status)
{
	enum vm_stop_reason stop = VM_RUNNING;
	if (port >= PC_DEBUG_EXIT_PORT && port < PC_DEBUG_EXIT_PORT + 4 && write) {
		uint64_t v = 0;
		for (unsigned i = 0; i < size && i < 4; i++)
			v |= (uint64_t)d[i] << (8 * i);
		*status = (int)(((v << 1) | 1) & INT_MAX);
		return VM_STOP_DEBUG_EXIT;
	}
	if ((port == PC_I8042_DATA_PORT || port == PC_I8042_CMD_PORT) && size == 1 && write)
		return kbc_byte(port == PC_I8042_CMD_PORT, d[0]) ? (*status = 0, VM_STOP_RESET) : stop;
	/* The write-only and debug ports read back fixed bytes. */
	uint8_t fixed = port >= PC_DEBUG_EXIT_PORT && port < PC_DEBUG_EXIT_PORT + 4 ? 0xff :
	                port == PC_POST_PORT ? 0xff : port == PC_DEBUGCON_PORT ? 0xe9 : 0;
	for (unsigned i = 0; fixed && !write && i < size; i++)
		if (d[i] != fixed)
			fuzz_fail("port 0x%x read 0x%02x at byte %u", port, d[i], i);
	for (unsigned i = 0; i < size; i++) {
		unsigned p = port + i;
		if (p >= PC_COM1_PORT && p < PC_COM1_PORT + 8)
			uart_byte(p - PC_COM1_PORT, &d[i], write, size == 1);
		else if (p >= 0x40 && p < 0x44)
			pit_byte(p - 0x40, d[i], write);
		else if (p == PC_RTC_PORT || p == PC_RTC_PORT + 1)
			rtc_byte(p - PC_RTC_PORT, &d[i], write);
		else if (p == PC_ACPI_PM1A_CNT + 1 && write && (d[i] >> 2 & 7) == PC_ACPI_S5_TYP &&
		         (d[i] & 0x20) && stop == VM_RUNNING)
			stop = VM_STOP_POWEROFF, *status = 0;
		else if (p == PC_ACPI_PM1A_CNT + 1 && write && (d[i] & 0x20))
			wakes++;
	}
	return stop;
}

/* -- invariants ------------------------------------------------------------------------- */

static void check_tx(void)
{
	uint8_t got[sizeof(tx_want) + 1];
	ssize_t n = read(tx_pipe[0], got, sizeof(got));
	if (n < 0)
		n = 0;
	if ((size_t)n != tx_nwant || memcmp(got, tx_want, tx_nwant))
		fuzz_fail("the console got %zd bytes (first 0x%02x), THR took %u (first 0x%02x)", n,
		          n ? got[0] : 0, tx_nwant, tx_nwant ? tx_want[0] : 0);
	tx_bytes += tx_nwant;
	tx_nwant = 0;
}

static void check_pit(void)
{
	uint64_t next = pit_poll(pit);
	if (next != PIT_NEVER && next <= clock_ns)
		fuzz_fail("pit_poll: next change at %llu ns, now %llu", (unsigned long long)next,
		          (unsigned long long)clock_ns);
	if (sh.pit_status)
		return;          /* the guest's latched status waits: do not take it */
	outb(0x43, 0xe2);        /* read-back: status of counter 0 */
	uint8_t st = inb(0x40);
	bool out = st >> 7, mode2 = (st >> 1 & 7) == 2;
	if (line(0) != out && !(mode2 && !out))
		fuzz_fail("IRQ 0 is %d, counter 0's OUT %d (status 0x%02x)", line(0), out, st);
	pit_checked++;
}

static void check_lines(void)
{
	uint8_t mcr = inb(PC_COM1_PORT + 4);
	if (mcr != sh.mcr)
		fuzz_fail("UART MCR 0x%02x, written 0x%02x", mcr, sh.mcr);
	if (line(PC_COM1_IRQ) && (!(mcr & 0x08) || (mcr & 0x10)))
		fuzz_fail("UART IRQ up with MCR 0x%02x", mcr);
	uint8_t st = inb(PC_I8042_CMD_PORT);
	bool kbd = (st & 0x21) == 0x01 && (sh.kbc_ints & 1), aux = (st & 0x21) == 0x21 && (sh.kbc_ints & 2);
	if (line(PC_I8042_KBD_IRQ) != kbd || line(PC_I8042_AUX_IRQ) != aux)
		fuzz_fail("IRQ 1 %d, IRQ 12 %d with i8042 status 0x%02x, interrupts 0x%x",
		          line(PC_I8042_KBD_IRQ), line(PC_I8042_AUX_IRQ), st, sh.kbc_ints);
	uint8_t e[4], c[2];
	bus_access(&vm->pio, PC_ACPI_PM1A_EVT, e, 4, false);
	bus_access(&vm->pio, PC_ACPI_PM1A_CNT, c, 2, false);
	uint16_t sts = (uint16_t)(e[0] | e[1] << 8), en = (uint16_t)(e[2] | e[3] << 8);
	uint16_t cnt = (uint16_t)(c[0] | c[1] << 8);
	if ((sts & ~0x8100u) || (en & ~0x0721u) || !(cnt & 1) || (cnt & ~0x1c07u))
		fuzz_fail("PM1a STS 0x%04x EN 0x%04x CNT 0x%04x", sts, en, cnt);
	if (line(PC_ACPI_SCI_IRQ) != ((sts & en) != 0))
		fuzz_fail("SCI %d with STS 0x%04x EN 0x%04x", line(PC_ACPI_SCI_IRQ), sts, en);
	sci += line(PC_ACPI_SCI_IRQ);
	uint8_t t[4];
	bus_access(&vm->pio, PC_ACPI_PM_TMR, t, 4, false);
	uint32_t tmr = (uint32_t)t[0] | t[1] << 8 | t[2] << 16 | (uint32_t)t[3] << 24;
	if (tmr - last_pm_timer > 0x80000000u)
		fuzz_fail("the PM timer went back from 0x%x to 0x%x", last_pm_timer, tmr);
	last_pm_timer = tmr;
	check_pit();
}

static void check_stop(enum vm_stop_reason want, int status)
{
	pthread_mutex_lock(&vm->stop_lock);
	enum vm_stop_reason got = vm->stop_reason;
	int st = vm->exit_status;
	vm->stop_reason = VM_RUNNING;
	pthread_mutex_unlock(&vm->stop_lock);
	if (got != want || (want != VM_RUNNING && st != status))
		fuzz_fail("the VM stopped with reason %d status %d, want %d status %d", got, st,
		          want, status);
	debug_exits += want == VM_STOP_DEBUG_EXIT;
	kbc_resets += want == VM_STOP_RESET;
	s5 += want == VM_STOP_POWEROFF;
}

/* -- setup and the state before each input ---------------------------------------------- */

static void setup(void)
{
	static const struct pit_clock clk = { .now_ns = fake_now };
	struct err e;
	if (pipe(tx_pipe) || fcntl(tx_pipe[0], F_SETFL, O_NONBLOCK))
		fuzz_fail("pipe");
	vm->cfg.console_out = tx_pipe[1];
	if (pit_create(vm, &clk, &pit, &e) || rtc_create(vm, &e) ||
	    uart_create(vm, PC_COM1_PORT, PC_COM1_IRQ, &com1, &e) ||
	    i8042_create(vm, true, &kbc, &e) || acpi_pm_create(vm, &pm, &e) ||
	    debug_exit_create(vm, PC_DEBUG_EXIT_PORT, &e) || post_port_create(vm, PC_POST_PORT, &e) ||
	    debugcon_create(vm, PC_DEBUGCON_PORT, &e))
		fuzz_fail("setup: %s", e.msg);
	sh.rtc_b = 0x02;
	sh.rtc_a = 0x26;
	for (uint8_t r = 0x0e; r < 0x80; r++) {     /* the NVRAM as filled in */
		outb(PC_RTC_PORT, r);
		sh.cmos[r] = inb(PC_RTC_PORT + 1);
	}
	for (uint8_t r = 1; r < 6; r += 2) {
		outb(PC_RTC_PORT, r);
		sh.cmos[r] = inb(PC_RTC_PORT + 1);
	}
	fuzz_stats_at_exit(stats);
}

static void restore(void)
{
	/* Whole seconds since the PIT's creation: its ticks fall as in any other input. */
	clock_ns = CLOCK0 + ((clock_ns - CLOCK0) / NS + 1) * NS;
	for (unsigned c = 0; c < 3; c++)
		outb(0x43, (uint8_t)(c << 6 | 0x30));      /* counter c: word, mode 0, no count */
	outb(0x61, 0);
	sh.pit_status = false;

	outb(PC_COM1_PORT + 3, 0x80);
	outb(PC_COM1_PORT + 0, 0x0c);
	outb(PC_COM1_PORT + 1, 0);
	outb(PC_COM1_PORT + 3, 0);
	outb(PC_COM1_PORT + 1, 0);
	outb(PC_COM1_PORT + 4, 0);
	outb(PC_COM1_PORT + 2, 0);
	outb(PC_COM1_PORT + 7, 0);
	sh.lcr = sh.mcr = 0;
	unsigned n = 0;
	while (inb(PC_COM1_PORT + 5) & 1) {
		inb(PC_COM1_PORT);
		if (++n > UART_RX_BUF)
			fuzz_fail("the UART held more than %u received bytes", UART_RX_BUF);
	}
	inb(PC_COM1_PORT + 6);
	check_tx();

	outb(PC_I8042_CMD_PORT, 0x60);
	outb(PC_I8042_DATA_PORT, 0x45);
	for (uint8_t r = 1; r < 32; r++) {
		outb(PC_I8042_CMD_PORT, (uint8_t)(0x60 + r));
		outb(PC_I8042_DATA_PORT, 0);
	}
	outb(PC_I8042_CMD_PORT, 0xd1);
	outb(PC_I8042_DATA_PORT, 0x03);
	outb(PC_I8042_DATA_PORT, 0xf4);     /* an argument the keyboard waited for, if any */
	outb(PC_I8042_DATA_PORT, 0xf4);     /* scanning */
	sh.kbc_pending = 0;
	n = 0;
	while (inb(PC_I8042_CMD_PORT) & 1) {
		inb(PC_I8042_DATA_PORT);
		if (++n > I8042_QUEUE)
			fuzz_fail("the i8042 held more than %u bytes", I8042_QUEUE);
	}

	uint8_t z[2] = { 0xff, 0xff };
	bus_access(&vm->pio, PC_ACPI_PM1A_EVT, z, 2, true);
	z[0] = z[1] = 0;
	bus_access(&vm->pio, PC_ACPI_PM1A_EVT + 2, z, 2, true);
	bus_access(&vm->pio, PC_ACPI_PM1A_CNT, z, 2, true);

	outb(PC_RTC_PORT, 0x0b);
	outb(PC_RTC_PORT + 1, 0x02);
	outb(PC_RTC_PORT, 0x0a);
	outb(PC_RTC_PORT + 1, 0x26);
	outb(PC_RTC_PORT, 0);
	sh.rtc_b = 0x02;
	sh.rtc_a = 0x26;
	sh.rtc_index = 0;

	sh.kbc_ints = 1;              /* 0x45: keyboard interrupt on, aux off */
	outb(PC_DEBUGCON_PORT, '\n');
	check_stop(VM_RUNNING, 0);
	check_lines();
}

/* -- the input -------------------------------------------------------------------------- */

static void access_op(uint16_t port, uint8_t *d, unsigned size, bool write)
{
	int status = 0;
	uart_line = line(PC_COM1_IRQ);
	bool hit = bus_access(&vm->pio, port, d, size, write);
	accesses++;
	claimed += hit;
	enum vm_stop_reason want = hit ? model(port, d, size, write, &status) : VM_RUNNING;
	for (unsigned i = 0; !hit && !write && i < size; i++)
		if (d[i] != 0xff)
			fuzz_fail("unclaimed port 0x%x read 0x%02x at byte %u", port, d[i], i);
	check_stop(want, status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vm = fuzz_vm();
	if (!pit)
		setup();
	restore();

	struct fz f = { data, size };
	while (f.n) {
		unsigned op = fz_u8(&f) % 7;
		switch (op) {
		case 0: {
			const struct range *r = &devs[fz_u8(&f) % (sizeof(devs) / sizeof(devs[0]))];
			uint16_t port = (uint16_t)(r->base + fz_u8(&f) % (r->len + 4u) - 2);
			uint8_t a = fz_u8(&f), d[8];
			uint64_t v = fz_u64(&f);
			for (unsigned i = 0; i < 8; i++)
				d[i] = (uint8_t)(v >> (8 * i));
			access_op(port, d, sizes[a & 7], a & 8);
			break;
		}
		case 1:
		case 2: {
			uint16_t port = ports[fz_u8(&f) % 28];
			uint8_t v = fz_u8(&f);
			access_op(port, &v, 1, op == 1);
			break;
		}
		case 3: {
			uint64_t d = (uint64_t)fz_u32(&f) << (fz_u8(&f) % 8);
			bool was = line(0);
			if (clock_ns < (1ull << 62))
				clock_ns += d;
			pit_poll(pit);
			pit_edges += line(0) != was;
			break;
		}
		case 4: {
			uint8_t buf[256];
			size_t n = fz_bytes(&f, buf, fz_u8(&f));
			size_t took = uart_receive(com1, buf, n);
			if (took > n)
				fuzz_fail("the UART took %zu of %zu bytes", took, n);
			rx_bytes += took;
			break;
		}
		case 5: {
			uint8_t buf[256];
			size_t n = fz_bytes(&f, buf, fz_u8(&f));
			size_t took = i8042_kbd_input(kbc, buf, n);
			if (took > n)
				fuzz_fail("the keyboard took %zu of %zu bytes", took, n);
			keys += took;
			break;
		}
		case 6:
			acpi_pm_power_button(pm);
			break;
		}
		check_tx();
		check_lines();
	}
	return 0;
}
