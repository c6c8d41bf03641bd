/* isa-debug-exit and the POST port, stateless (the opaque is the VM), and the debug
 * console, which keeps the line being written. */
#include "debug_exit.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/snap.h"
#include "core/vm.h"

static void debug_exit_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size,
                          bool is_write)
{
	struct vm *vm = opaque;
	uint64_t v = 0;

	if (!is_write) {
		memset(data, 0xff, size);
		return;
	}
	for (unsigned i = 0; i < size && i < 4; i++)
		v |= (uint64_t)data[i] << (8 * i);
	/* Keep the status a non-negative int; its low 8 bits are (v << 1) | 1 in any case. */
	int status = (int)(((v << 1) | 1) & INT_MAX);
	vm_request_stop(vm, VM_STOP_DEBUG_EXIT, status,
	                "guest wrote 0x%llx to the debug exit port (exit status %d)",
	                (unsigned long long)v, status & 0xff);
}

static void post_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	if (!is_write)
		memset(data, 0xff, size);
}

int debug_exit_create(struct vm *vm, uint16_t port, struct err *e)
{
	return bus_register(&vm->pio, port, DEBUG_EXIT_NPORTS, debug_exit_io, vm, "debug exit", e);
}

int post_port_create(struct vm *vm, uint16_t port, struct err *e)
{
	return bus_register(&vm->pio, port, 1, post_io, vm, "POST", e);
}

#define DEBUGCON_READBACK 0xe9
#define DEBUGCON_LINE     200

struct debugcon {
	pthread_mutex_t lock;
	char line[DEBUGCON_LINE + 1];
	unsigned len;
};

static void debugcon_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size,
                        bool is_write)
{
	struct debugcon *d = opaque;
	if (!is_write) {
		memset(data, DEBUGCON_READBACK, size);
		return;
	}
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < size; i++) {
		char c = (char)data[i];
		if (c != '\n' && c != '\r' && d->len < DEBUGCON_LINE)
			d->line[d->len++] = c >= ' ' && c < 0x7f ? c : '?';
		if (c == '\n' || d->len == DEBUGCON_LINE) {
			d->line[d->len] = '\0';
			log_info("firmware", "%s", d->line);
			d->len = 0;
		}
	}
	pthread_mutex_unlock(&d->lock);
}

/* Snapshots: the line being written (isa-debug-exit and the POST port have no state). */
static int debugcon_save(void *opaque, struct snap_writer *w)
{
	struct debugcon *d = opaque;
	pthread_mutex_lock(&d->lock);
	snap_put_u32(w, d->len);
	snap_put_bytes(w, d->line, d->len);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static int debugcon_load(void *opaque, struct snap_reader *r)
{
	struct debugcon *d = opaque;
	pthread_mutex_lock(&d->lock);
	d->len = snap_get_u32(r);
	if (!snap_check(r, d->len < DEBUGCON_LINE, "line length"))
		d->len = 0;
	snap_get_bytes(r, d->line, d->len);
	pthread_mutex_unlock(&d->lock);
	return snap_status(r);
}

static void debugcon_destroy(void *opaque)
{
	struct debugcon *d = opaque;
	pthread_mutex_destroy(&d->lock);
	free(d);
}

int debugcon_create(struct vm *vm, uint16_t port, struct err *e)
{
	struct debugcon *d = calloc(1, sizeof(*d));
	if (!d)
		return err_set(e, ENOMEM, "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	int r = vm_add_device(vm, d, debugcon_destroy, e);
	if (r) {
		debugcon_destroy(d);
		return r;
	}
	vm_set_device_snapshot(vm, d, "debugcon", debugcon_save, debugcon_load);
	return bus_register(&vm->pio, port, 1, debugcon_io, d, "debugcon", e);
}
