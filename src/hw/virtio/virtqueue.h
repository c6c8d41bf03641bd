/* Split virtqueues (virtio 1.2, 2.7), device side, on guest RAM reached only through
 * the checked accessors of core/mem.h. Pure: unit tests drive them with fabricated
 * rings in a RAM-only VM.
 *
 * Ring layout for a queue of size N (little-endian):
 *   descriptor table  N x { le64 addr; le32 len; le16 flags; le16 next; }   align 16
 *   available ring    le16 flags; le16 idx; le16 ring[N]; le16 used_event; align 2
 *   used ring         le16 flags; le16 idx; { le32 id; le32 len; }[N]; le16 avail_event;  align 4
 */
#ifndef TRIVISOR_HW_VIRTQUEUE_H
#define TRIVISOR_HW_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/mem.h"

#define VIRTQ_MAX_SIZE 256    /* the largest queue trivisor offers; also the chain limit */

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq {
	struct guest_mem *mem;
	uint16_t max_size;
	/* set by the driver (through the transport) */
	uint16_t size;
	bool enabled;
	uint64_t desc, avail, used;
	/* negotiated */
	bool event_idx, indirect;
	/* device side */
	uint16_t last_avail;      /* next available ring entry to take */
	uint16_t used_idx;        /* our used->idx */
	uint16_t signalled_used;  /* used_idx at the last interrupt (EVENT_IDX) */
	bool signalled_valid;
	unsigned long chains;     /* chains taken */
};

/* One segment of a chain: a guest-physical range wholly inside RAM (checked when the
 * chain was taken). */
struct vq_seg {
	uint64_t gpa;
	uint32_t len;
};

/* A descriptor chain: nr device-readable segments, then nw device-writable ones.
 * Zero-length descriptors are skipped. */
struct vq_chain {
	uint16_t head;
	uint16_t nr, nw;
	uint64_t rlen, wlen;      /* total bytes of each part */
	struct vq_seg seg[VIRTQ_MAX_SIZE];
};

/* Initial state: not enabled, size max_size, addresses 0. */
void vq_reset(struct virtq *q, struct guest_mem *mem, uint16_t max_size);

/* Is the ring layout acceptable? NULL if so, else why not. */
const char *vq_check(const struct virtq *q);

/* Take the next available chain: 1 when one was taken into c, 0 when there is none,
 * -1 when the driver broke the protocol (*why says how; the queue is then unusable). */
int vq_pop(struct virtq *q, struct vq_chain *c, const char **why);

/* Return chain head to the used ring with len bytes written. 0, or -1 if the used ring
 * is not in RAM. */
int vq_push(struct virtq *q, uint16_t head, uint32_t len);

/* After pushing: does the driver want an interrupt (VIRTQ_AVAIL_F_NO_INTERRUPT, or
 * used_event with EVENT_IDX)? */
bool vq_need_interrupt(struct virtq *q);

/* With EVENT_IDX, ask to be notified of the next available chain (avail_event =
 * last_avail); returns true if chains arrived meanwhile (process them). Without
 * EVENT_IDX the driver always notifies: returns false. */
bool vq_enable_notify(struct virtq *q);

/* Copy between a chain and host memory: len bytes at offset off of the readable part
 * into dst, or from src into the writable part at off. Return the bytes copied (fewer
 * when the part ends first). */
uint64_t vq_chain_read(const struct vq_chain *c, const struct guest_mem *m, uint64_t off,
                       void *dst, uint64_t len);
uint64_t vq_chain_write(const struct vq_chain *c, struct guest_mem *m, uint64_t off,
                        const void *src, uint64_t len);

/* iovecs for [off, off+len) of the readable (writable = false) or writable part, for
 * preadv/pwritev straight into guest RAM. Valid only until the caller returns (the
 * rule of mem_ptr). Returns the number of iovecs, or -1 if the range is not wholly in
 * the part or needs more than max iovecs. After filling writable segments this way,
 * call vq_chain_written so the memory's write hook sees them. */
int vq_chain_iov(const struct vq_chain *c, const struct guest_mem *m, bool writable,
                 uint64_t off, uint64_t len, struct iovec *iov, unsigned max);
void vq_chain_written(const struct vq_chain *c, struct guest_mem *m, uint64_t off,
                      uint64_t len);

#endif
