/* Helpers for the PCI and virtio tests: a RAM-only VM with a fake engine that records
 * MSIs and interrupt-line changes, guest-RAM pokes, bus accesses, and a driver-side
 * split ring. */
#ifndef TRIVISOR_TEST_VTEST_H
#define TRIVISOR_TEST_VTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "core/vm.h"
#include "engine/engine.h"
#include "hw/virtio/virtqueue.h"

#define MiB (1ull << 20)

/* MSIs the fake engine received. */
struct msi_log {
	unsigned n;
	uint64_t addr[64];
	uint32_t data[64];
};
static struct msi_log msis;

static int fake_signal_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	if (msis.n < 64) {
		msis.addr[msis.n] = addr;
		msis.data[msis.n] = data;
	}
	msis.n++;
	return 0;
}

/* Interrupt-line changes the fake engine saw (the current levels are vm->irq_lines). */
static unsigned long irq_changes;

static int fake_set_irq(struct vm *vm, unsigned gsi, int level)
{
	irq_changes++;
	return 0;
}

static const struct engine_ops fake_engine = { .name = "fake", .signal_msi = fake_signal_msi,
                                               .set_irq = fake_set_irq };

static inline int irq_level(struct vm *vm, unsigned gsi)
{
	return (int)(atomic_load(&vm->irq_lines) >> gsi & 1);
}

static inline struct vm *vt_vm(uint64_t ram)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct vm_config cfg = { .mem_size = ram, .ncpus = 1, .console_in = -1, .console_out = -1 };
	struct err e;
	if (!vm || vm_init_core(vm, &cfg, &e)) {
		fprintf(stderr, "vm_init_core: %s\n", e.msg);
		exit(1);
	}
	vm->engine = &fake_engine;
	vm->engine_data = vm;        /* any non-NULL: "attached" */
	return vm;
}

static inline void vt_vm_free(struct vm *vm)
{
	vm->engine = NULL;
	vm->engine_data = NULL;
	vm_destroy(vm);
	free(vm);
}

static inline void poke(struct vm *vm, uint64_t gpa, uint64_t v, unsigned n)
{
	uint8_t b[8];
	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	if (mem_write(&vm->mem, gpa, b, n)) {
		fprintf(stderr, "poke 0x%llx: not RAM\n", (unsigned long long)gpa);
		exit(1);
	}
}

static inline uint64_t peek(struct vm *vm, uint64_t gpa, unsigned n)
{
	uint8_t b[8];
	uint64_t v = 0;
	if (mem_read(&vm->mem, gpa, b, n)) {
		fprintf(stderr, "peek 0x%llx: not RAM\n", (unsigned long long)gpa);
		exit(1);
	}
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static inline uint64_t bus_rd(struct bus *b, uint64_t addr, unsigned size)
{
	uint8_t d[8];
	uint64_t v = 0;
	memset(d, 0xcc, sizeof(d));
	bus_access(b, addr, d, size, false);
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)d[i] << (8 * i);
	return v;
}

static inline void bus_wr(struct bus *b, uint64_t addr, unsigned size, uint64_t v)
{
	uint8_t d[8];
	for (unsigned i = 0; i < size; i++)
		d[i] = (uint8_t)(v >> (8 * i));
	bus_access(b, addr, d, size, true);
}

/* The driver's side of a split ring at base. */
struct ring {
	struct vm *vm;
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen;
};

static inline void ring_init(struct ring *r, struct vm *vm, uint64_t base, uint16_t size)
{
	r->vm = vm;
	r->size = size;
	r->desc = base;
	r->avail = base + 16ull * size;
	r->used = (r->avail + 6 + 2ull * size + 3) & ~3ull;
	r->avail_idx = r->used_seen = 0;
	uint8_t *p = mem_ptr(&vm->mem, base, r->used + 6 + 8ull * size - base);
	memset(p, 0, r->used + 6 + 8ull * size - base);
}

static inline void ring_queue(struct ring *r, struct virtq *q, struct guest_mem *m)
{
	vq_reset(q, m, r->size);
	q->desc = r->desc;
	q->avail = r->avail;
	q->used = r->used;
	q->enabled = true;
}

static inline void desc(struct ring *r, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                        uint16_t next)
{
	poke(r->vm, r->desc + 16ull * i, addr, 8);
	poke(r->vm, r->desc + 16ull * i + 8, len, 4);
	poke(r->vm, r->desc + 16ull * i + 12, flags, 2);
	poke(r->vm, r->desc + 16ull * i + 14, next, 2);
}

/* An entry of an indirect table at t. */
static inline void idesc(struct vm *vm, uint64_t t, uint16_t i, uint64_t addr, uint32_t len,
                         uint16_t flags, uint16_t next)
{
	poke(vm, t + 16ull * i, addr, 8);
	poke(vm, t + 16ull * i + 8, len, 4);
	poke(vm, t + 16ull * i + 12, flags, 2);
	poke(vm, t + 16ull * i + 14, next, 2);
}

static inline void avail_add(struct ring *r, uint16_t head)
{
	poke(r->vm, r->avail + 4 + 2ull * (r->avail_idx % r->size), head, 2);
	r->avail_idx++;
	poke(r->vm, r->avail + 2, r->avail_idx, 2);
}

static inline uint16_t used_idx(struct ring *r)
{
	return (uint16_t)peek(r->vm, r->used + 2, 2);
}

static inline void used_elem(struct ring *r, uint16_t i, uint32_t *id, uint32_t *len)
{
	*id = (uint32_t)peek(r->vm, r->used + 4 + 8ull * (i % r->size), 4);
	*len = (uint32_t)peek(r->vm, r->used + 8 + 8ull * (i % r->size), 4);
}

/* Where a virtio-blk request's parts live in guest RAM. */
struct vt_blk_bufs {
	uint64_t hdr, data, status;
};

/* One virtio-blk request on descriptors 0..2 of r: header, optional data (out: the
 * device reads it; in: the device writes it), status; then notify(arg), the transport's
 * doorbell. Returns the status byte, or -1 if the device returned no used entry, and
 * sets *used_len. */
static inline int vt_blk_request(struct ring *r, struct vt_blk_bufs b, void (*notify)(void *),
                                 void *arg, uint32_t type, uint64_t sector, const void *out,
                                 uint32_t out_len, uint32_t in_len, uint32_t *used_len)
{
	struct vm *vm = r->vm;
	uint16_t before = used_idx(r), i = 0;
	poke(vm, b.hdr, type, 4);
	poke(vm, b.hdr + 4, 0, 4);
	poke(vm, b.hdr + 8, sector, 8);
	poke(vm, b.status, 0xee, 1);
	if (out_len)
		mem_write(&vm->mem, b.data, out, out_len);
	desc(r, i, b.hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	i++;
	if (out_len || in_len) {
		desc(r, i, b.data, out_len ? out_len : in_len,
		     VIRTQ_DESC_F_NEXT | (in_len ? VIRTQ_DESC_F_WRITE : 0), (uint16_t)(i + 1));
		i++;
	}
	desc(r, i, b.status, 1, VIRTQ_DESC_F_WRITE, 0);
	avail_add(r, 0);
	notify(arg);
	if (used_idx(r) != (uint16_t)(before + 1))
		return -1;
	uint32_t id;
	used_elem(r, before, &id, used_len);
	CHECK_EQ(id, 0);
	return (int)peek(vm, b.status, 1);
}

/* A temporary disk image of `sectors` 512-byte sectors in $TMPDIR (or /tmp), named
 * STEM-XXXXXX (the name goes to path[128]), byte i of sector s = s * 31 + i. Returns its
 * open descriptor; the caller unlinks it. */
static inline int vt_image(char *path, const char *stem, unsigned sectors)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(path, 128, "%.80s/%.20s-XXXXXX", dir, stem);
	int fd = mkstemp(path);
	uint8_t sector[512];
	for (unsigned s = 0; s < sectors; s++) {
		for (unsigned i = 0; i < 512; i++)
			sector[i] = (uint8_t)(s * 31 + i);
		if (write(fd, sector, 512) != 512)
			exit(1);
	}
	return fd;
}

#endif
