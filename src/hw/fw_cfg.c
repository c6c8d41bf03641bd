/* fw_cfg (see fw_cfg.h). Writing a 16-bit key to the selector port selects an item and
 * rewinds it; each byte read from the data port returns the item's next byte, 0 past
 * its end; unknown keys are empty items. A DMA descriptor (be32 control, be32 length,
 * be64 address) can select, skip and read in bulk. */
#include "fw_cfg.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/snap.h"
#include "core/vm.h"
#include "pc.h"

#define NFIXED 5
#define NITEMS (NFIXED + 1 + FW_CFG_MAX_FILES)   /* fixed items, directory, files */
#define DIR_ENTRY 64                              /* be32 size, be16 key, u16, name[56] */
#define DMA_SIGNATURE 0x51454d5520434647ull       /* "QEMU CFG", read at the DMA port */

struct fw_cfg_item {
	uint16_t key;
	uint32_t len;
	uint8_t *data;
};

struct fw_cfg {
	struct vm *vm;
	pthread_mutex_t lock;
	struct fw_cfg_item items[NITEMS];
	unsigned nitems, nfiles;
	char names[FW_CFG_MAX_FILES][FW_CFG_NAME_MAX];
	const struct fw_cfg_item *cur; /* NULL: unknown key */
	uint32_t pos;
	uint32_t dma_high;             /* the DMA address's high half, as last written */
	struct fw_cfg_stats st;
};

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static struct fw_cfg_item *find(struct fw_cfg *f, uint16_t key)
{
	for (unsigned i = 0; i < f->nitems; i++)
		if (f->items[i].key == key)
			return &f->items[i];
	return NULL;
}

/* Set item key to a copy of data (replacing an older value). */
static int set_item(struct fw_cfg *f, uint16_t key, const void *data, size_t len)
{
	struct fw_cfg_item *it = find(f, key);
	if (!it) {
		if (f->nitems == NITEMS)
			return -ENOSPC;
		it = &f->items[f->nitems++];
		*it = (struct fw_cfg_item){ .key = key };
	}
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	free(it->data);
	it->data = copy;
	it->len = (uint32_t)len;
	return 0;
}

static int set_le(struct fw_cfg *f, uint16_t key, uint64_t v, unsigned n)
{
	uint8_t b[8];
	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return set_item(f, key, b, n);
}

static void select_key(struct fw_cfg *f, uint16_t key)
{
	f->cur = find(f, key);
	f->pos = 0;
}

/* Read len bytes at the item's position (zeros past its end) and advance. */
static void item_read(struct fw_cfg *f, uint8_t *out, uint32_t len)
{
	uint32_t have = f->cur && f->pos < f->cur->len ? f->cur->len - f->pos : 0;
	uint32_t n = len < have ? len : have;
	if (n)
		memcpy(out, f->cur->data + f->pos, n);
	memset(out + n, 0, len - n);
	f->pos += n;
}

/* One DMA descriptor at gpa: bulk reads go straight from the item to guest RAM. The
 * whole target must be RAM; the control word written back is 0 or ERROR. */
static void dma(struct fw_cfg *f, uint64_t gpa)
{
	struct guest_mem *m = &f->vm->mem;
	uint8_t d[16], chunk[4096];
	bool ok = false;

	f->st.dma_ops++;
	if (mem_read(m, gpa, d, sizeof(d)) == 0) {
		uint32_t ctl = (uint32_t)get_be(d, 4), len = (uint32_t)get_be(d + 4, 4);
		uint64_t addr = get_be(d + 8, 8);
		if (ctl & FW_CFG_DMA_SELECT)
			select_key(f, (uint16_t)(ctl >> 16));
		ok = !(ctl & FW_CFG_DMA_WRITE);
		if (ok && (ctl & FW_CFG_DMA_READ)) {
			ok = mem_is_ram(m, addr, len);
			for (uint32_t done = 0; ok && done < len; done += sizeof(chunk)) {
				uint32_t n = len - done < sizeof(chunk) ? len - done : sizeof(chunk);
				item_read(f, chunk, n);
				mem_write(m, addr + done, chunk, n);
			}
		} else if (ok && (ctl & FW_CFG_DMA_SKIP)) {
			uint32_t have = f->cur && f->pos < f->cur->len ? f->cur->len - f->pos : 0;
			f->pos += len < have ? len : have;
		}
	}
	if (!ok)
		f->st.dma_errors++;
	uint8_t status[4];
	put_be(status, ok ? 0 : FW_CFG_DMA_ERROR, 4);
	mem_write(m, gpa, status, 4);   /* fails harmlessly when the descriptor is not RAM */
}

/* Offset 0: selector (a 16-bit write; a byte write selects that byte's key). Offset 1:
 * data. Offsets 4-11: the DMA address, big-endian (reads give the DMA signature). */
static void fw_cfg_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct fw_cfg *f = opaque;
	unsigned dma_off = PC_FW_CFG_DMA_PORT - PC_FW_CFG_PORT;

	pthread_mutex_lock(&f->lock);
	if (!is_write) {
		if (offset == 1) {
			item_read(f, data, size);
		} else if (offset >= dma_off && offset + size <= dma_off + 8) {
			uint8_t sig[8];
			put_be(sig, DMA_SIGNATURE, 8);
			memcpy(data, sig + (offset - dma_off), size);
		} else {
			memset(data, 0, size);
		}
	} else if (offset == 0) {
		select_key(f, size >= 2 ? (uint16_t)(data[0] | data[1] << 8) : data[0]);
	} else if (offset == dma_off && size == 4) {
		f->dma_high = (uint32_t)get_be(data, 4);
	} else if (offset == dma_off + 4 && size == 4) {
		dma(f, (uint64_t)f->dma_high << 32 | get_be(data, 4));
		f->dma_high = 0;
	} else if (offset == dma_off && size == 8) {
		dma(f, get_be(data, 8));
	}
	pthread_mutex_unlock(&f->lock);
}

int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, size_t len,
                    struct err *e)
{
	size_t nl = strlen(name);
	if (nl == 0 || nl >= FW_CFG_NAME_MAX || len > FW_CFG_FILE_MAX)
		return err_set(e, EINVAL, "fw_cfg: file %s: bad name or too large (%zu bytes)",
		               name, len);
	pthread_mutex_lock(&f->lock);
	int r = -ENOSPC;
	if (f->nfiles < FW_CFG_MAX_FILES)
		r = set_item(f, (uint16_t)(FW_CFG_FILE_FIRST + f->nfiles), data, len);
	if (r == 0) {
		memcpy(f->names[f->nfiles++], name, nl + 1);
		/* The directory: a count and one entry per file, all big-endian. */
		uint8_t dir[4 + FW_CFG_MAX_FILES * DIR_ENTRY] = { 0 };
		put_be(dir, f->nfiles, 4);
		for (unsigned i = 0; i < f->nfiles; i++) {
			uint8_t *ent = dir + 4 + i * DIR_ENTRY;
			const struct fw_cfg_item *it = find(f, (uint16_t)(FW_CFG_FILE_FIRST + i));
			put_be(ent, it->len, 4);
			put_be(ent + 4, it->key, 2);
			memcpy(ent + 8, f->names[i], FW_CFG_NAME_MAX);
		}
		r = set_item(f, FW_CFG_FILE_DIR, dir, 4 + f->nfiles * DIR_ENTRY);
	}
	pthread_mutex_unlock(&f->lock);
	if (r)
		return err_set(e, -r, "fw_cfg: cannot add file %s: %s", name, strerror(-r));
	return 0;
}

void fw_cfg_get_stats(struct fw_cfg *f, struct fw_cfg_stats *out)
{
	pthread_mutex_lock(&f->lock);
	*out = f->st;
	pthread_mutex_unlock(&f->lock);
}

/* Snapshots: the selected item and where its reading is, and the DMA address's high
 * half. The items are the machine's, made again from its configuration. */
static int fw_cfg_save(void *opaque, struct snap_writer *w)
{
	struct fw_cfg *f = opaque;
	pthread_mutex_lock(&f->lock);
	snap_put_u8(w, f->cur != NULL);
	snap_put_u16(w, f->cur ? f->cur->key : 0);
	snap_put_u32(w, f->pos);
	snap_put_u32(w, f->dma_high);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int fw_cfg_load(void *opaque, struct snap_reader *r)
{
	struct fw_cfg *f = opaque;
	pthread_mutex_lock(&f->lock);
	bool sel = snap_get_bool(r);
	uint16_t key = snap_get_u16(r);
	uint32_t pos = snap_get_u32(r);
	f->dma_high = snap_get_u32(r);
	f->cur = sel ? find(f, key) : NULL;
	f->pos = 0;
	if (snap_check(r, sel == (f->cur != NULL), "selected item") &&
	    snap_check(r, pos <= (f->cur ? f->cur->len : 0), "item position"))
		f->pos = pos;
	pthread_mutex_unlock(&f->lock);
	return snap_status(r);
}

static void fw_cfg_destroy(void *opaque)
{
	struct fw_cfg *f = opaque;
	for (unsigned i = 0; i < f->nitems; i++)
		free(f->items[i].data);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int fw_cfg_create(struct vm *vm, struct fw_cfg **out, struct err *e)
{
	struct fw_cfg *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return err_set(e, ENOMEM, "fw_cfg: out of memory");
	f->vm = vm;
	pthread_mutex_init(&f->lock, NULL);
	r = vm_add_device(vm, f, fw_cfg_destroy, e);
	if (r) {
		fw_cfg_destroy(f);
		return r;
	}
	vm_set_device_snapshot(vm, f, "fw_cfg", fw_cfg_save, fw_cfg_load);
	uint8_t nodir[4] = { 0 };
	if (set_item(f, FW_CFG_SIGNATURE, "QEMU", 4) || set_le(f, FW_CFG_ID, 3, 4) ||
	    set_le(f, FW_CFG_RAM_SIZE, vm->mem.ram_size, 8) ||
	    set_le(f, FW_CFG_NB_CPUS, vm->ncpus, 2) || set_le(f, FW_CFG_MAX_CPUS, vm->ncpus, 2) ||
	    set_item(f, FW_CFG_FILE_DIR, nodir, 4))
		return err_set(e, ENOMEM, "fw_cfg: out of memory");
	select_key(f, FW_CFG_SIGNATURE);
	*out = f;
	return bus_register(&vm->pio, PC_FW_CFG_PORT, PC_FW_CFG_DMA_PORT + 8 - PC_FW_CFG_PORT,
	                    fw_cfg_io, f, "fw_cfg", e);
}
