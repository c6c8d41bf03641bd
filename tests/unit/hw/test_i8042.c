/* i8042: the controller commands Linux's probe uses, "no device" answers, reset. */
#include "../check.h"
#include "hw/i8042.h"
#include "hw/pc.h"
#include "hw_test.h"

#define DATA PC_I8042_DATA_PORT
#define CMD  PC_I8042_CMD_PORT

static struct vm vm;

static uint8_t status(void) { return inb(&vm, CMD); }
static uint8_t data(void) { return inb(&vm, DATA); }

/* Send a controller command and read its one-byte answer. */
static int cmd_read(uint8_t cmd)
{
	outb(&vm, CMD, cmd);
	if (!(status() & 0x01))
		return -1;
	return data();
}

static void test_probe(void)
{
	CHECK_EQ(status() & 0x01, 0);    /* empty: i8042_flush terminates */
	CHECK_EQ(status() & 0x04, 0x04); /* system flag */
	CHECK_EQ(cmd_read(0xaa), 0x55);  /* self test */
	CHECK_EQ(status() & 0x01, 0);
	CHECK_EQ(cmd_read(0xab), 0x00);  /* keyboard interface test */
	CHECK_EQ(cmd_read(0xa9), 0x00);  /* aux interface test */
	CHECK_EQ(status() & 0x08, 0x08); /* last write was a command */

	int ctr = cmd_read(0x20);
	CHECK_EQ(ctr, 0x45);
	outb(&vm, CMD, 0x60);            /* write the command byte: interrupts off */
	outb(&vm, DATA, 0x44);
	CHECK_EQ(status() & 0x08, 0);
	CHECK_EQ(cmd_read(0x20), 0x44);
	outb(&vm, CMD, 0xa7);
	CHECK_EQ(cmd_read(0x20), 0x64);
	outb(&vm, CMD, 0xa8);
	CHECK_EQ(cmd_read(0x20), 0x44);
	outb(&vm, CMD, 0xad);
	CHECK_EQ(cmd_read(0x20), 0x54);
	outb(&vm, CMD, 0xae);
	CHECK_EQ(cmd_read(0x20), 0x44);

	/* aux loopback echoes as aux data (Linux: AUX_LOOP, MUX detection) */
	outb(&vm, CMD, 0xd3);
	outb(&vm, DATA, 0x5a);
	CHECK_EQ(status() & 0x21, 0x21);
	CHECK_EQ(data(), 0x5a);
	CHECK_EQ(status() & 0x01, 0);
	/* the empty output buffer keeps returning the last byte */
	CHECK_EQ(data(), 0x5a);
}

static void test_no_devices(void)
{
	/* keyboard: NAK with time-out; IRQ 1 follows output-buffer-full when enabled */
	outb(&vm, CMD, 0x60);
	outb(&vm, DATA, 0x47);           /* kbd + aux interrupts */
	outb(&vm, DATA, 0xf2);           /* keyboard "get ID" */
	CHECK_EQ(status() & 0x61, 0x41);
	CHECK_EQ(irq_line(&vm, PC_I8042_KBD_IRQ), 1);
	CHECK_EQ(irq_line(&vm, PC_I8042_AUX_IRQ), 0);
	CHECK_EQ(data(), 0xfe);
	CHECK_EQ(irq_line(&vm, PC_I8042_KBD_IRQ), 0);
	CHECK_EQ(status() & 0x41, 0);
	/* mouse through 0xd4: aux NAK with time-out on IRQ 12 */
	outb(&vm, CMD, 0xd4);
	outb(&vm, DATA, 0xf2);
	CHECK_EQ(status() & 0x61, 0x61);
	CHECK_EQ(irq_line(&vm, PC_I8042_AUX_IRQ), 1);
	CHECK_EQ(data(), 0xfe);
	CHECK_EQ(irq_line(&vm, PC_I8042_AUX_IRQ), 0);
	/* two answers queued: the line is raised again for the second */
	outb(&vm, CMD, 0xaa);
	outb(&vm, CMD, 0xab);
	CHECK_EQ(data(), 0x55);
	CHECK_EQ(irq_line(&vm, PC_I8042_KBD_IRQ), 1);
	CHECK_EQ(data(), 0x00);
	CHECK_EQ(irq_line(&vm, PC_I8042_KBD_IRQ), 0);
	/* a flood of commands without reads is bounded */
	for (int i = 0; i < 100; i++)
		outb(&vm, CMD, 0xaa);
	int n = 0;
	while ((status() & 0x01) && n < 1000) {
		data();
		n++;
	}
	CHECK(n > 0 && n < 100);
	CHECK_EQ(irq_line(&vm, PC_I8042_KBD_IRQ), 0);
	/* odd widths on the single-port ranges are not dispatched */
	CHECK_EQ(io_in(&vm, CMD, 2), 0xffff);
}

static void test_reset(void)
{
	CHECK_EQ(vm.stop_reason, VM_RUNNING);
	outb(&vm, CMD, 0xff);            /* pulse nothing */
	outb(&vm, CMD, 0xdf);            /* A20 on */
	outb(&vm, CMD, 0xd1);
	outb(&vm, DATA, 0x03);           /* output port with reset high */
	CHECK_EQ(cmd_read(0xd0), 0x03);
	CHECK_EQ(vm.stop_reason, VM_RUNNING);
	outb(&vm, CMD, 0xfe);            /* pulse the reset line */
	CHECK_EQ(vm.stop_reason, VM_STOP_RESET);
	CHECK_EQ(vm.exit_status, 0);
	CHECK_STR(vm.stop_msg, "guest reset");
}

static void test_reset_via_output_port(void)
{
	struct vm v2;
	struct err e;

	test_vm_init(&v2, 0, 1, -1);
	CHECK_EQ(i8042_create(&v2, false, NULL, &e), 0);
	outb(&v2, CMD, 0xd1);
	outb(&v2, DATA, 0x02);           /* bit 0 low: reset */
	CHECK_EQ(v2.stop_reason, VM_STOP_RESET);
	vm_destroy(&v2);
}

/* An attached keyboard: the commands Linux's atkbd and SeaBIOS send, then typed keys
 * raising IRQ 1, none while the keyboard is disabled. */
static void test_keyboard(void)
{
	struct vm v2;
	struct err e;
	struct i8042 *k;

	test_vm_init(&v2, 0, 1, -1);
	CHECK_EQ(i8042_create(&v2, true, &k, &e), 0);
	outb(&v2, DATA, 0xff);                         /* reset */
	CHECK_EQ(inb(&v2, DATA), 0xfa);
	CHECK_EQ(inb(&v2, DATA), 0xaa);
	outb(&v2, DATA, 0xf2);                         /* identify */
	CHECK_EQ(inb(&v2, DATA), 0xfa);
	CHECK_EQ(inb(&v2, DATA), 0xab);
	CHECK_EQ(inb(&v2, DATA), 0x83);
	outb(&v2, DATA, 0xed);                         /* LEDs, then their byte */
	CHECK_EQ(inb(&v2, DATA), 0xfa);
	outb(&v2, DATA, 0x02);
	CHECK_EQ(inb(&v2, DATA), 0xfa);
	CHECK_EQ(inb(&v2, CMD) & 1, 0);                /* nothing more */
	static const uint8_t a[] = { 0x1e, 0x9e };    /* 'a' pressed and released */
	CHECK_EQ(i8042_kbd_input(k, a, 2), 2);
	CHECK(v2.irq_lines & (1u << PC_I8042_KBD_IRQ));
	CHECK_EQ(inb(&v2, DATA), 0x1e);
	CHECK_EQ(inb(&v2, DATA), 0x9e);
	outb(&v2, DATA, 0xf5);                         /* disable scanning */
	CHECK_EQ(inb(&v2, DATA), 0xfa);
	CHECK_EQ(i8042_kbd_input(k, a, 2), 2);         /* taken, and dropped */
	CHECK_EQ(inb(&v2, CMD) & 1, 0);
	outb(&v2, DATA, 0xf4);                         /* enable: a full buffer takes less */
	CHECK_EQ(inb(&v2, DATA), 0xfa);
	uint8_t many[100] = { 0 };
	CHECK_EQ(i8042_kbd_input(k, many, 100), 64);
	vm_destroy(&v2);
}

int main(void)
{
	struct err e;

	test_vm_init(&vm, 0, 1, -1);
	if (i8042_create(&vm, false, NULL, &e)) {
		fprintf(stderr, "i8042_create: %s\n", e.msg);
		return 1;
	}
	test_probe();
	test_no_devices();
	test_reset();
	test_reset_via_output_port();
	test_keyboard();
	vm_destroy(&vm);
	return check_done();
}
