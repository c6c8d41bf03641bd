/* virtio-blk (virtio 1.2, 5.2) on a host disk (host/disk.h): read, write, flush,
 * get ID, discard, write zeroes; read-only disks offer VIRTIO_BLK_F_RO and fail
 * writes. One request queue; requests run synchronously on the notifying vCPU's
 * thread. */
#ifndef TRIVISOR_HW_VIRTIO_BLK_H
#define TRIVISOR_HW_VIRTIO_BLK_H

#include "core/vm.h"
#include "host/disk.h"
#include "virtio.h"

/* Feature bits (5.2.3) */
#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status (5.2.6) */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2

#define VIRTIO_BLK_SECTOR     512
#define VIRTIO_BLK_ID_BYTES   20
#define VIRTIO_BLK_CFG_LEN    60     /* up to write_zeroes_may_unmap and its padding */
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22)   /* 2 GiB per segment */

/* Configuration offsets (5.2.4) */
#define VBLK_CFG_CAPACITY         0
#define VBLK_CFG_SEG_MAX          12
#define VBLK_CFG_BLK_SIZE         20
#define VBLK_CFG_NUM_QUEUES       34
#define VBLK_CFG_MAX_DISCARD_SECT 36
#define VBLK_CFG_MAX_DISCARD_SEG  40
#define VBLK_CFG_DISCARD_ALIGN    44
#define VBLK_CFG_MAX_WZ_SECT      48
#define VBLK_CFG_MAX_WZ_SEG       52
#define VBLK_CFG_WZ_MAY_UNMAP     56

struct virtio_blk_stats {
	unsigned long reads, writes, flushes, get_ids, discards, write_zeroes;
	unsigned long ioerr, unsupp;     /* requests answered with that status */
	uint64_t bytes_read, bytes_written;
};

struct virtio_blk {
	struct virtio_dev vdev;
	struct disk disk;
	uint64_t capacity;               /* sectors */
	char name[24];
	char serial[VIRTIO_BLK_ID_BYTES];
	uint8_t config[VIRTIO_BLK_CFG_LEN];
	struct iovec iov[VIRTQ_MAX_SIZE];
	struct virtio_blk_stats st;
};

/* Open the disk and make the device (not yet on any transport). index numbers the
 * disks (names, serials). Owned by the VM. */
int virtio_blk_create(struct vm *vm, const struct vm_disk_config *cfg, unsigned index,
                      struct virtio_blk **out, struct err *e);

#endif
