/* The virtio-mmio register interface (virtio_mmio.c) as the guest sees it: accesses of
 * any width at any offset of the window, in any order, to a virtio-blk device on a real
 * temporary image, with ring and buffer memory from the input.
 *
 * Input: u16 n and n bytes copied to guest RAM from address 0 (rings, buffers), then
 * accesses of 7 bytes each: u8 op (bits 0-1: read, write, RAM poke, aligned 32-bit
 * register write; bits 2-3: width 1, 2, 4 or 8), u16 offset (mod the window; for a RAM
 * poke, times 2), u32 value.
 *
 * Invariants after every access: the interrupt line is high exactly while
 * InterruptStatus is non-zero; MagicValue and Version read back unchanged. */
#include "fuzz.h"

#include <stdio.h>

#include "hw/virtio/blk.h"
#include "hw/virtio/virtio_mmio.h"

static uint64_t mmio_access(struct vm *vm, uint64_t addr, unsigned size, bool write, uint64_t val)
{
	uint8_t d[8];
	for (unsigned i = 0; i < 8; i++)
		d[i] = (uint8_t)(val >> (8 * i));
	bus_access(&vm->mmio, addr, d, size, write);
	uint64_t r = 0;
	for (unsigned i = 0; i < size; i++)
		r |= (uint64_t)d[i] << (8 * i);
	return r;
}

static struct virtio_blk *blk;
static struct virtio_mmio *t;
static unsigned long raised;       /* times the line went up */

static void stats(FILE *out)
{
	fprintf(out, " reads=%lu raised=%lu bad_accesses=%lu ignored_writes=%lu protocol_errors=%lu",
	        blk->st.reads, raised, t->bad_accesses, t->ignored_writes,
	        blk->vdev.protocol_errors);
}

static void check(struct vm *vm)
{
	bool line = atomic_load(&vm->irq_lines) >> t->gsi & 1;
	if (line != (t->vdev->isr != 0))
		fuzz_fail("line %d with InterruptStatus 0x%x", line, t->vdev->isr);
	if (mmio_access(vm, t->base + VMMIO_MAGIC, 4, false, 0) != VIRTIO_MMIO_MAGIC ||
	    mmio_access(vm, t->base + VMMIO_VERSION, 4, false, 0) != VIRTIO_MMIO_VERSION)
		fuzz_fail("identification registers changed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm *vm = fuzz_vm();
	if (!blk) {
		struct vm_disk_config dc = { .read_only = false };
		struct err e;
		snprintf(dc.path, sizeof(dc.path), "%s", fuzz_image(128));
		if (virtio_blk_create(vm, &dc, 0, &blk, &e) || virtio_mmio_create(vm, &blk->vdev, &t, &e))
			fuzz_fail("setup: %s", e.msg);
		fuzz_image_done();
		fuzz_stats_at_exit(stats);
	}

	struct fz f = { data, size };
	fuzz_fill(vm, &f, 0, fz_u16(&f));
	while (f.n) {
		uint8_t op = fz_u8(&f);
		unsigned width = 1u << (op >> 2 & 3);
		uint16_t raw = fz_u16(&f);
		unsigned off = raw % VIRTIO_MMIO_SIZE;
		uint64_t val = fz_u32(&f);
		val |= val << 32;
		if (off + width > VIRTIO_MMIO_SIZE)
			off = VIRTIO_MMIO_SIZE - width;
		bool was = t->line;
		switch (op & 3) {
		case 0: mmio_access(vm, t->base + off, width, false, 0); break;
		case 1: mmio_access(vm, t->base + off, width, true, val); break;
		case 2: mem_write(&vm->mem, raw * 2u % FUZZ_RAM, &val, 4); break;
		case 3: mmio_access(vm, t->base + (off & ~3u), 4, true, val); break;
		}
		check(vm);
		raised += t->line && !was;
	}
	mmio_access(vm, t->base + VMMIO_STATUS, 4, true, 0);       /* reset for the next input */
	check(vm);
	if (t->vdev->isr || (atomic_load(&vm->irq_lines) >> t->gsi & 1))
		fuzz_fail("interrupt pending after a reset");
	return 0;
}
