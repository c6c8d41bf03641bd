/* fw_cfg: writing a 16-bit key to the selector port selects an item and rewinds it; each
 * byte read from the data port returns the item's next byte, 0 past its end. Unknown
 * keys are empty items. Data port writes are ignored (QEMU dropped them too). */
#include "fw_cfg.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/vm.h"
#include "pc.h"

#define NITEMS 6
#define ITEM_MAX 8

struct fw_cfg_item {
	uint16_t key;
	uint8_t len;
	uint8_t data[ITEM_MAX];
};

struct fw_cfg {
	pthread_mutex_t lock;
	struct fw_cfg_item items[NITEMS];
	const struct fw_cfg_item *cur; /* NULL: unknown key */
	uint32_t pos;
};

static void add_le(struct fw_cfg_item *it, uint16_t key, uint64_t v, uint8_t len)
{
	it->key = key;
	it->len = len;
	for (unsigned i = 0; i < len; i++)
		it->data[i] = (uint8_t)(v >> (8 * i));
}

static void select_key(struct fw_cfg *f, uint16_t key)
{
	f->cur = NULL;
	f->pos = 0;
	for (unsigned i = 0; i < NITEMS; i++)
		if (f->items[i].key == key)
			f->cur = &f->items[i];
}

static uint8_t next_byte(struct fw_cfg *f)
{
	if (!f->cur || f->pos >= f->cur->len)
		return 0;
	return f->cur->data[f->pos++];
}

/* Offset 0: selector (a 16-bit write; a byte write selects that byte's key). Offset 1:
 * data. A 2-byte read at offset 0 reads nothing useful and returns 0. */
static void fw_cfg_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct fw_cfg *f = opaque;

	pthread_mutex_lock(&f->lock);
	if (is_write) {
		if (offset == 0)
			select_key(f, size >= 2 ? (uint16_t)(data[0] | data[1] << 8) : data[0]);
	} else {
		for (unsigned i = 0; i < size; i++)
			data[i] = offset == 1 ? next_byte(f) : 0;
	}
	pthread_mutex_unlock(&f->lock);
}

static void fw_cfg_destroy(void *opaque)
{
	struct fw_cfg *f = opaque;
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int fw_cfg_create(struct vm *vm, struct err *e)
{
	struct fw_cfg *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return err_set(e, ENOMEM, "fw_cfg: out of memory");
	r = pthread_mutex_init(&f->lock, NULL);
	if (r) {
		free(f);
		return err_set(e, r, "fw_cfg: cannot create its lock");
	}
	struct fw_cfg_item *it = f->items;
	it->key = FW_CFG_SIGNATURE;
	it->len = 4;
	memcpy(it->data, "QEMU", 4);
	add_le(++it, FW_CFG_ID, 1, 4);
	add_le(++it, FW_CFG_RAM_SIZE, vm->mem.ram_size, 8);
	add_le(++it, FW_CFG_NB_CPUS, vm->ncpus, 2);
	add_le(++it, FW_CFG_MAX_CPUS, vm->ncpus, 2);
	add_le(++it, FW_CFG_FILE_DIR, 0, 4); /* big-endian 0 is all zero bytes too */
	select_key(f, FW_CFG_SIGNATURE);

	r = vm_add_device(vm, f, fw_cfg_destroy, e);
	if (r) {
		fw_cfg_destroy(f);
		return r;
	}
	return bus_register(&vm->pio, PC_FW_CFG_PORT, 2, fw_cfg_io, f, "fw_cfg", e);
}
