/* virtio-blk device (see blk.h). A request is a chain of: a 16-byte header (le32 type,
 * le32 reserved, le64 sector) and any data the device reads, then any data the device
 * writes and a final status byte. Framing is not assumed: the header and data may be
 * split across descriptors any way. A request the device cannot parse is answered
 * IOERR or UNSUPP; one without room for the status byte is dropped. */
#include "blk.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/snap.h"

#define HDR_LEN 16
#define SEG_LEN 16    /* discard / write zeroes segment: le64 sector, le32 num, le32 flags */
#define WZ_FLAG_UNMAP 1u

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

/* Is [sector, sector + bytes/512) inside the disk? Overflow-safe. */
static bool in_range(const struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
	uint64_t n = bytes / VIRTIO_BLK_SECTOR;
	return sector <= b->capacity && n <= b->capacity - sector;
}

static uint8_t do_rw(struct virtio_blk *b, struct vq_chain *c, bool write, uint64_t sector,
                     uint64_t len)
{
	struct guest_mem *m = b->vdev.vqs[0].mem;
	if (len % VIRTIO_BLK_SECTOR || !in_range(b, sector, len))
		return VIRTIO_BLK_S_IOERR;
	if (write && b->disk.read_only)
		return VIRTIO_BLK_S_IOERR;
	int n = vq_chain_iov(c, m, !write, write ? HDR_LEN : 0, len, b->iov, VIRTQ_MAX_SIZE);
	if (n < 0)
		return VIRTIO_BLK_S_IOERR;
	uint64_t off = sector * VIRTIO_BLK_SECTOR;
	int r = write ? disk_writev(&b->disk, b->iov, n, off) : disk_readv(&b->disk, b->iov, n, off);
	if (!write)
		vq_chain_written(c, m, 0, len);
	if (r) {
		log_warn("virtio-blk", "%s: %s at sector %llu: %s", b->name, write ? "write" : "read",
		         (unsigned long long)sector, strerror(-r));
		return VIRTIO_BLK_S_IOERR;
	}
	if (write) {
		b->st.writes++;
		b->st.bytes_written += len;
	} else {
		b->st.reads++;
		b->st.bytes_read += len;
	}
	return VIRTIO_BLK_S_OK;
}

/* Discard or write zeroes: one segment (max_*_seg is 1). */
static uint8_t do_unmap(struct virtio_blk *b, struct vq_chain *c, bool zeroes)
{
	struct guest_mem *m = b->vdev.vqs[0].mem;
	uint8_t seg[SEG_LEN];

	if (b->disk.read_only)
		return VIRTIO_BLK_S_IOERR;
	if (c->rlen != HDR_LEN + SEG_LEN || vq_chain_read(c, m, HDR_LEN, seg, SEG_LEN) != SEG_LEN)
		return VIRTIO_BLK_S_UNSUPP;
	uint64_t sector = le64(seg);
	uint32_t num = le32(seg + 8), flags = le32(seg + 12);
	/* Discard has no flags; write zeroes only "unmap". */
	if (flags & ~(zeroes ? WZ_FLAG_UNMAP : 0u))
		return VIRTIO_BLK_S_UNSUPP;
	if (num > VIRTIO_BLK_MAX_DISCARD_SECTORS || !in_range(b, sector, (uint64_t)num * VIRTIO_BLK_SECTOR))
		return VIRTIO_BLK_S_IOERR;
	uint64_t off = sector * VIRTIO_BLK_SECTOR, len = (uint64_t)num * VIRTIO_BLK_SECTOR;
	int r = zeroes ? disk_write_zeroes(&b->disk, off, len, flags & WZ_FLAG_UNMAP)
	               : disk_discard(&b->disk, off, len);
	if (r)
		return VIRTIO_BLK_S_IOERR;
	if (zeroes)
		b->st.write_zeroes++;
	else
		b->st.discards++;
	return VIRTIO_BLK_S_OK;
}

static int64_t blk_request(struct virtio_dev *v, struct virtq *q, struct vq_chain *c)
{
	struct virtio_blk *b = v->opaque;
	struct guest_mem *m = q->mem;
	uint8_t hdr[HDR_LEN], status;
	uint64_t written = 0;

	if (c->wlen == 0)
		return -1;                    /* nowhere to put the status: drop it */
	uint64_t data_in = c->wlen - 1;       /* writable bytes before the status byte */
	if (c->rlen < HDR_LEN || vq_chain_read(c, m, 0, hdr, HDR_LEN) != HDR_LEN) {
		status = VIRTIO_BLK_S_IOERR;
		goto out;
	}
	uint32_t type = le32(hdr);
	uint64_t sector = le64(hdr + 8);
	switch (type) {
	case VIRTIO_BLK_T_IN:
		status = do_rw(b, c, false, sector, data_in);
		if (status == VIRTIO_BLK_S_OK)
			written = data_in;
		break;
	case VIRTIO_BLK_T_OUT:
		status = do_rw(b, c, true, sector, c->rlen - HDR_LEN);
		break;
	case VIRTIO_BLK_T_FLUSH:
		status = disk_flush(&b->disk) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
		b->st.flushes++;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		uint64_t n = data_in < VIRTIO_BLK_ID_BYTES ? data_in : VIRTIO_BLK_ID_BYTES;
		written = vq_chain_write(c, m, 0, b->serial, n);
		status = VIRTIO_BLK_S_OK;
		b->st.get_ids++;
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		status = do_unmap(b, c, type == VIRTIO_BLK_T_WRITE_ZEROES);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
out:
	if (status == VIRTIO_BLK_S_IOERR)
		b->st.ioerr++;
	else if (status == VIRTIO_BLK_S_UNSUPP)
		b->st.unsupp++;
	vq_chain_write(c, m, c->wlen - 1, &status, 1);
	return (int64_t)(written + 1);
}

static void blk_queue_notify(struct virtio_dev *v, unsigned q)
{
	virtio_process_queue(v, q, blk_request);
}

static const struct virtio_dev_ops blk_ops = {
	.queue_notify = blk_queue_notify,
};

static void blk_destroy(void *opaque)
{
	struct virtio_blk *b = opaque;
	disk_close(&b->disk);
	free(b);
}

/* --stats. The counters are the device's, updated under its transport's lock; a
 * report after the vCPUs stopped reads them settled. */
static void print_stats(void *opaque, FILE *f)
{
	const struct virtio_blk *b = opaque;
	const struct virtio_blk_stats *s = &b->st;
	fprintf(f, "%s: %lu reads (%llu bytes), %lu writes (%llu bytes), %lu flushes, %lu "
	        "discards, %lu write-zeroes; %lu I/O errors, %lu unsupported; protocol errors "
	        "%lu\n", b->name, s->reads, (unsigned long long)s->bytes_read, s->writes,
	        (unsigned long long)s->bytes_written, s->flushes, s->discards, s->write_zeroes,
	        s->ioerr, s->unsupp, b->vdev.protocol_errors);
}

/* Snapshots: the disk is flushed (what the guest wrote is on the host's disk before the
 * snapshot exists) and its size kept: the image it finds again at restore must still
 * be the disk it had. Nothing else is the device's own (virtio_pci/mmio save the rest). */
static int snap_save(void *opaque, struct snap_writer *w)
{
	struct virtio_blk *b = opaque;
	int r = b->disk.read_only ? 0 : disk_flush(&b->disk);
	snap_put_u64(w, b->capacity);
	return r;
}

static int snap_load(void *opaque, struct snap_reader *r)
{
	struct virtio_blk *b = opaque;
	uint64_t cap = snap_get_u64(r);
	if (!r->failed && cap != b->capacity)
		return snap_fail(r, "the disk image is %llu sectors, it was %llu at the snapshot",
		                 (unsigned long long)b->capacity, (unsigned long long)cap);
	return snap_status(r);
}

int virtio_blk_create(struct vm *vm, const struct vm_disk_config *cfg, unsigned index,
                      struct virtio_blk **out, struct err *e)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return err_set(e, ENOMEM, "out of memory");
	b->disk.fd = -1;
	if ((r = vm_add_device(vm, b, blk_destroy, e))) {
		free(b);
		return r;
	}
	vm_set_device_stats(vm, b, print_stats);
	snprintf(b->name, sizeof(b->name), "virtio-blk%u", index);
	vm_set_device_snapshot(vm, b, b->name, snap_save, snap_load);
	if ((r = disk_open(&b->disk, cfg->path, cfg->read_only, e)))
		return r;
	b->capacity = b->disk.size / VIRTIO_BLK_SECTOR;
	/* The serial (GET_ID): the image's file name, cut to 20 bytes. */
	const char *base = strrchr(cfg->path, '/');
	base = base && base[1] ? base + 1 : cfg->path;
	memcpy(b->serial, base, strnlen(base, sizeof(b->serial)));

	uint64_t features = 1ull << VIRTIO_F_INDIRECT_DESC | 1ull << VIRTIO_F_EVENT_IDX |
	                    1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
	                    1ull << VIRTIO_BLK_F_FLUSH;
	if (cfg->read_only)
		features |= 1ull << VIRTIO_BLK_F_RO;
	else
		features |= 1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES;

	uint8_t *c = b->config;
	put64(c + VBLK_CFG_CAPACITY, b->capacity);
	put32(c + VBLK_CFG_SEG_MAX, VIRTIO_BLK_QUEUE_SIZE - 2);
	put32(c + VBLK_CFG_BLK_SIZE, VIRTIO_BLK_SECTOR);
	put16(c + VBLK_CFG_NUM_QUEUES, 1);
	put32(c + VBLK_CFG_MAX_DISCARD_SECT, VIRTIO_BLK_MAX_DISCARD_SECTORS);
	put32(c + VBLK_CFG_MAX_DISCARD_SEG, 1);
	put32(c + VBLK_CFG_DISCARD_ALIGN, 8);         /* 4 KiB: the host's usual block */
	put32(c + VBLK_CFG_MAX_WZ_SECT, VIRTIO_BLK_MAX_DISCARD_SECTORS);
	put32(c + VBLK_CFG_MAX_WZ_SEG, 1);
	c[VBLK_CFG_WZ_MAY_UNMAP] = 1;

	virtio_init(&b->vdev, vm, b->name, VIRTIO_ID_BLOCK, features, 1, VIRTIO_BLK_QUEUE_SIZE,
	            &blk_ops, b);
	b->vdev.config = b->config;
	b->vdev.config_len = sizeof(b->config);
	*out = b;
	return 0;
}
