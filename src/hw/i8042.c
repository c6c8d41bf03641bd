/* Intel 8042 keyboard controller, written from the 8042/PS2 controller documentation.
 *
 * No mouse is attached (a keyboard is, unless i8042_create is told otherwise): bytes
 * sent to an absent device are answered at once with 0xFE (what a PS/2 host reads as
 * "resend/NAK") and the controller's time-out status bit, so drivers give up quickly
 * instead of waiting for a time-out. The keyboard answers the PS/2 keyboard commands
 * (reset, identify, LEDs, scan code set, typematic, enable/disable) and sends what
 * i8042_kbd_input types. Controller commands are answered as a working controller
 * would. Output is queued (a real controller has one output byte; a queue keeps
 * multi-byte answers and typed keys simple). */
#include "i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/snap.h"
#include "core/vm.h"
#include "pc.h"

#define STS_OBF     0x01 /* output buffer full */
#define STS_SYS     0x04 /* system flag (mirrors the command byte) */
#define STS_CMD     0x08 /* last write was to the command port */
#define STS_UNLOCK  0x10 /* keyboard not inhibited */
#define STS_AUXDATA 0x20 /* output byte comes from the aux device */
#define STS_TIMEOUT 0x40

#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS    0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE  0x40

#define OUT_RESET  0x01 /* output port bit 0: 0 holds the CPU in reset */
#define OUT_A20    0x02

#define QUEUE_LEN  64

/* PS/2 keyboard commands and answers */
#define KBD_ACK     0xfa
#define KBD_RESEND  0xfe
#define KBD_BAT_OK  0xaa

struct out_byte {
	uint8_t data;
	uint8_t status; /* STS_AUXDATA and/or STS_TIMEOUT */
};

struct i8042 {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t ram[32];      /* controller RAM; ram[0] is the command byte */
	uint8_t outport;
	uint8_t pending;      /* command waiting for its data byte, 0 if none */
	uint8_t last_data;    /* what a read of an empty output buffer returns */
	bool last_was_cmd;
	struct out_byte q[QUEUE_LEN];
	unsigned qhead, qcount;
	bool kbd_irq, aux_irq;
	bool kbd;             /* a keyboard is attached */
	bool kbd_scanning;    /* it sends keys (0xF4 enable / 0xF5 disable) */
	uint8_t kbd_pending;  /* keyboard command waiting for its argument, 0 if none */
};

static void push(struct i8042 *k, uint8_t data, uint8_t status)
{
	if (k->qcount == QUEUE_LEN)
		return; /* a guest flooding commands without reading loses answers */
	k->q[(k->qhead + k->qcount) % QUEUE_LEN] = (struct out_byte){ data, status };
	k->qcount++;
}

static uint8_t status_reg(const struct i8042 *k)
{
	uint8_t s = STS_UNLOCK | (k->ram[0] & CTR_SYS) | (k->last_was_cmd ? STS_CMD : 0);
	if (k->qcount)
		s |= STS_OBF | k->q[k->qhead].status;
	return s;
}

/* IRQ 1 / 12 follow "output buffer full" for the enabled source. Reading the data port
 * drops the line before the next byte raises it again, so every byte is an edge. */
static void update_irqs(struct i8042 *k, bool force_low)
{
	bool aux = k->qcount && (k->q[k->qhead].status & STS_AUXDATA);
	bool kbd = k->qcount && !aux && (k->ram[0] & CTR_KBDINT);
	aux = aux && (k->ram[0] & CTR_AUXINT);

	if (force_low && k->kbd_irq) {
		vm_set_irq(k->vm, PC_I8042_KBD_IRQ, 0);
		k->kbd_irq = false;
	}
	if (force_low && k->aux_irq) {
		vm_set_irq(k->vm, PC_I8042_AUX_IRQ, 0);
		k->aux_irq = false;
	}
	if (kbd != k->kbd_irq)
		vm_set_irq(k->vm, PC_I8042_KBD_IRQ, kbd);
	if (aux != k->aux_irq)
		vm_set_irq(k->vm, PC_I8042_AUX_IRQ, aux);
	k->kbd_irq = kbd;
	k->aux_irq = aux;
}

/* Returns true if the guest asked for a CPU reset. */
static bool command(struct i8042 *k, uint8_t cmd)
{
	k->pending = 0;
	if (cmd >= 0x20 && cmd <= 0x3f) {          /* read controller RAM */
		push(k, k->ram[cmd & 0x1f], 0);
		return false;
	}
	if (cmd >= 0x60 && cmd <= 0x7f) {          /* write controller RAM: data follows */
		k->pending = cmd;
		return false;
	}
	if ((cmd & 0xf0) == 0xf0)                  /* pulse output port bits where cmd has 0 */
		return !(cmd & OUT_RESET);

	switch (cmd) {
	case 0xa7: k->ram[0] |= CTR_AUXDIS; break;
	case 0xa8: k->ram[0] &= ~CTR_AUXDIS; break;
	case 0xa9: push(k, 0x00, 0); break;        /* aux interface test: ok */
	case 0xaa:                                 /* controller self test: passed */
		k->ram[0] |= CTR_SYS;
		push(k, 0x55, 0);
		break;
	case 0xab: push(k, 0x00, 0); break;        /* keyboard interface test: ok */
	case 0xad: k->ram[0] |= CTR_KBDDIS; break;
	case 0xae: k->ram[0] &= ~CTR_KBDDIS; break;
	case 0xc0: push(k, 0x00, 0); break;        /* read input port */
	case 0xd0: push(k, k->outport, 0); break;  /* read output port */
	case 0xd1: case 0xd2: case 0xd3: case 0xd4:/* data byte follows */
		k->pending = cmd;
		break;
	case 0xdd: k->outport &= ~OUT_A20; break;
	case 0xdf: k->outport |= OUT_A20; break;
	case 0xe0: push(k, 0x00, 0); break;        /* read test inputs */
	default:
		log_debug("i8042", "ignored controller command 0x%02x", cmd);
		break;
	}
	return false;
}

/* A byte for the keyboard. */
static void kbd_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->kbd_pending;
	k->kbd_pending = 0;
	if (cmd == 0xf0 && v == 0) {       /* which scan code set: 2 (translated to 1) */
		push(k, KBD_ACK, 0);
		push(k, 0x02, 0);
		return;
	}
	if (cmd) {                          /* LEDs, set, typematic: the argument */
		push(k, KBD_ACK, 0);
		return;
	}
	switch (v) {
	case 0xed: case 0xf0: case 0xf3:    /* argument follows */
		k->kbd_pending = v;
		push(k, KBD_ACK, 0);
		break;
	case 0xee: push(k, 0xee, 0); break; /* echo */
	case 0xf2:                          /* identify: an MF2 keyboard */
		push(k, KBD_ACK, 0);
		push(k, 0xab, 0);
		push(k, 0x83, 0);
		break;
	case 0xf4: k->kbd_scanning = true; push(k, KBD_ACK, 0); break;
	case 0xf5: case 0xf6:               /* disable / set defaults (disable too) */
		k->kbd_scanning = v == 0xf6;
		push(k, KBD_ACK, 0);
		break;
	case 0xff:                          /* reset: self-test passed, scanning */
		k->kbd_scanning = true;
		push(k, KBD_ACK, 0);
		push(k, KBD_BAT_OK, 0);
		break;
	default:
		if (v >= 0xf7 && v <= 0xfd)     /* per-key typematic settings: accepted */
			push(k, KBD_ACK, 0);
		else
			push(k, KBD_RESEND, 0);
		break;
	}
}

size_t i8042_kbd_input(void *opaque, const uint8_t *scancodes, size_t n)
{
	struct i8042 *k = opaque;
	size_t taken = n;
	vm_input_begin(k->vm);
	pthread_mutex_lock(&k->lock);
	if (k->kbd && k->kbd_scanning && !(k->ram[0] & CTR_KBDDIS)) {
		for (taken = 0; taken < n && k->qcount < QUEUE_LEN; taken++)
			push(k, scancodes[taken], 0);
		update_irqs(k, false);
	}
	pthread_mutex_unlock(&k->lock);
	vm_input_end(k->vm);
	return taken;
}

bool i8042_has_keyboard(struct i8042 *k)
{
	pthread_mutex_lock(&k->lock);
	bool kbd = k->kbd;
	pthread_mutex_unlock(&k->lock);
	return kbd;
}

/* A byte written to port 0x60. Returns true if the guest asked for a CPU reset. */
static bool data_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	switch (cmd) {
	case 0:    /* to the keyboard */
		if (k->kbd)
			kbd_write(k, v);
		else
			push(k, 0xfe, STS_TIMEOUT);
		break;
	case 0xd1: /* write output port: bit 0 low resets the CPU */
		k->outport = v;
		return !(v & OUT_RESET);
	case 0xd2: push(k, v, 0); break;            /* as if from the keyboard */
	case 0xd3: push(k, v, STS_AUXDATA); break;  /* as if from the aux device */
	case 0xd4: push(k, 0xfe, STS_AUXDATA | STS_TIMEOUT); break; /* to the absent mouse */
	default:   /* 0x60..0x7f: write controller RAM */
		k->ram[cmd & 0x1f] = v;
		break;
	}
	return false;
}

static uint8_t data_read(struct i8042 *k)
{
	if (k->qcount) {
		k->last_data = k->q[k->qhead].data;
		k->qhead = (k->qhead + 1) % QUEUE_LEN;
		k->qcount--;
	}
	return k->last_data;
}

/* Each port is registered alone, so the bus only hands us 1-byte accesses at offset
 * 0; anything else reads as ones and is ignored. */
static void io(struct i8042 *k, bool cmd_port, uint64_t offset, uint8_t *data,
               unsigned size, bool is_write)
{
	bool reset = false;

	if (offset != 0 || size != 1) {
		if (!is_write)
			for (unsigned i = 0; i < size; i++)
				data[i] = 0xff;
		return;
	}
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->last_was_cmd = cmd_port;
		reset = cmd_port ? command(k, data[0]) : data_write(k, data[0]);
		update_irqs(k, false);
	} else if (cmd_port) {
		data[0] = status_reg(k);
	} else {
		data[0] = data_read(k);
		update_irqs(k, true);
	}
	pthread_mutex_unlock(&k->lock);

	if (reset)
		vm_request_stop(k->vm, VM_STOP_RESET, 0, "guest reset");
}

static void data_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	io(opaque, false, offset, data, size, is_write);
}

static void cmd_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	io(opaque, true, offset, data, size, is_write);
}

/* Snapshots: controller RAM, output port, the command half done, the output queue and
 * the keyboard's state, and whether a keyboard is attached: a restored guest keeps the
 * one it had (--display text attaches it at boot) whatever the restoring run shows. */
static int i8042_save(void *opaque, struct snap_writer *w)
{
	struct i8042 *k = opaque;
	pthread_mutex_lock(&k->lock);
	snap_put_bytes(w, k->ram, sizeof(k->ram));
	uint8_t b[] = { k->outport, k->pending, k->last_data, k->last_was_cmd, k->kbd,
	                k->kbd_scanning, k->kbd_pending };
	snap_put_bytes(w, b, sizeof(b));
	snap_put_u8(w, (uint8_t)k->qcount);
	for (unsigned i = 0; i < k->qcount; i++) {
		const struct out_byte *o = &k->q[(k->qhead + i) % QUEUE_LEN];
		snap_put_u8(w, o->data);
		snap_put_u8(w, o->status);
	}
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static int i8042_load(void *opaque, struct snap_reader *r)
{
	struct i8042 *k = opaque;
	pthread_mutex_lock(&k->lock);
	snap_get_bytes(r, k->ram, sizeof(k->ram));
	k->outport = snap_get_u8(r);
	k->pending = snap_get_u8(r);
	snap_check(r, k->pending == 0 || (k->pending >= 0x60 && k->pending <= 0x7f) ||
	           (k->pending >= 0xd1 && k->pending <= 0xd4), "pending command");
	k->last_data = snap_get_u8(r);
	k->last_was_cmd = snap_get_bool(r);
	k->kbd = snap_get_bool(r);   /* the guest's hardware, as it was probed */
	k->kbd_scanning = snap_get_bool(r);
	k->kbd_pending = snap_get_u8(r);
	snap_check(r, k->kbd_pending == 0 || k->kbd_pending == 0xed || k->kbd_pending == 0xf0 ||
	           k->kbd_pending == 0xf3, "keyboard command");
	k->qhead = 0;
	k->qcount = snap_get_u8(r);
	if (!snap_check(r, k->qcount <= QUEUE_LEN, "output queue"))
		k->qcount = 0;
	for (unsigned i = 0; i < k->qcount; i++) {
		k->q[i].data = snap_get_u8(r);
		k->q[i].status = snap_get_u8(r);
		snap_check(r, !(k->q[i].status & ~(STS_AUXDATA | STS_TIMEOUT)), "output status");
	}
	if (r->failed)
		k->qcount = k->pending = k->kbd_pending = 0;
	update_irqs(k, false);
	pthread_mutex_unlock(&k->lock);
	return snap_status(r);
}

static void i8042_destroy(void *opaque)
{
	struct i8042 *k = opaque;
	pthread_mutex_destroy(&k->lock);
	free(k);
}

int i8042_create(struct vm *vm, bool keyboard, struct i8042 **out, struct err *e)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return err_set(e, ENOMEM, "i8042: out of memory");
	r = pthread_mutex_init(&k->lock, NULL);
	if (r) {
		free(k);
		return err_set(e, r, "i8042: cannot create its lock");
	}
	k->vm = vm;
	k->kbd = k->kbd_scanning = keyboard;
	/* As firmware leaves it: keyboard interrupt, POST passed, scancode translation. */
	k->ram[0] = CTR_KBDINT | CTR_SYS | CTR_XLATE;
	k->outport = OUT_RESET | OUT_A20;

	r = vm_add_device(vm, k, i8042_destroy, e);
	if (r) {
		i8042_destroy(k);
		return r;
	}
	vm_set_device_snapshot(vm, k, "i8042", i8042_save, i8042_load);
	if (out)
		*out = k;
	r = bus_register(&vm->pio, PC_I8042_DATA_PORT, 1, data_io, k, "i8042 data", e);
	if (r == 0)
		r = bus_register(&vm->pio, PC_I8042_CMD_PORT, 1, cmd_io, k, "i8042 status/command", e);
	return r;
}
