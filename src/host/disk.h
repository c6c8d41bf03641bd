/* The host side of a virtual disk: a raw image file (or a block device), read and
 * written at byte offsets. Synchronous; every call returns 0 or -errno. */
#ifndef TRIVISOR_HOST_DISK_H
#define TRIVISOR_HOST_DISK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/err.h"

struct disk {
	int fd;
	uint64_t size;        /* bytes */
	bool read_only;
	bool block_device;
};

/* Open path (read-only or read-write) and lock it (shared for read-only, exclusive
 * otherwise), so that two VMs cannot write one image. */
int disk_open(struct disk *d, const char *path, bool read_only, struct err *e);
void disk_close(struct disk *d);

/* All of iov (n entries, modified) from/to offset off; a short transfer is retried
 * until done; reading past the end of the file gives zeros. */
int disk_readv(struct disk *d, struct iovec *iov, int n, uint64_t off);
int disk_writev(struct disk *d, struct iovec *iov, int n, uint64_t off);
/* Data written so far reaches stable storage (fdatasync). */
int disk_flush(struct disk *d);
/* Deallocate [off, off+len) (a hint: success when the host cannot). */
int disk_discard(struct disk *d, uint64_t off, uint64_t len);
/* Make [off, off+len) read as zeros, deallocating it if may_unmap. */
int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool may_unmap);

#endif
