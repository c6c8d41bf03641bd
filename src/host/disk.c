/* Raw disk images on the host (see disk.h). */
#include "disk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

int disk_open(struct disk *d, const char *path, bool read_only, struct err *e)
{
	struct stat st;

	memset(d, 0, sizeof(*d));
	d->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (d->fd < 0)
		return err_set(e, errno, "cannot open disk image %s: %s", path, strerror(errno));
	d->read_only = read_only;
	if (fstat(d->fd, &st) < 0) {
		int r = err_set(e, errno, "%s: %s", path, strerror(errno));
		disk_close(d);
		return r;
	}
	if (S_ISBLK(st.st_mode)) {
		d->block_device = true;
		if (ioctl(d->fd, BLKGETSIZE64, &d->size) < 0) {
			int r = err_set(e, errno, "%s: cannot get the device size: %s", path, strerror(errno));
			disk_close(d);
			return r;
		}
	} else if (S_ISREG(st.st_mode)) {
		d->size = (uint64_t)st.st_size;
	} else {
		disk_close(d);
		return err_set(e, EINVAL, "disk image %s is neither a file nor a block device", path);
	}
	if (flock(d->fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		int en = errno;
		disk_close(d);
		if (en == EWOULDBLOCK)
			return err_set(e, EBUSY, "disk image %s is in use by another process", path);
		return err_set(e, en, "cannot lock disk image %s: %s", path, strerror(en));
	}
	return 0;
}

void disk_close(struct disk *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

/* Drop n transferred bytes from the front of iov. */
static int advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt > 0) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
	return *cnt;
}

int disk_readv(struct disk *d, struct iovec *iov, int n, uint64_t off)
{
	while (advance(&iov, &n, 0) > 0) {
		ssize_t r = preadv(d->fd, iov, n > IOV_MAX ? IOV_MAX : n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0) {          /* past the end of the file: zeros */
			for (int i = 0; i < n; i++)
				memset(iov[i].iov_base, 0, iov[i].iov_len);
			return 0;
		}
		off += (uint64_t)r;
		advance(&iov, &n, (size_t)r);
	}
	return 0;
}

int disk_writev(struct disk *d, struct iovec *iov, int n, uint64_t off)
{
	if (d->read_only)
		return -EROFS;
	while (advance(&iov, &n, 0) > 0) {
		ssize_t r = pwritev(d->fd, iov, n > IOV_MAX ? IOV_MAX : n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		off += (uint64_t)r;
		advance(&iov, &n, (size_t)r);
	}
	return 0;
}

int disk_flush(struct disk *d)
{
	if (d->read_only)
		return 0;
	return fdatasync(d->fd) < 0 ? -errno : 0;
}

int disk_discard(struct disk *d, uint64_t off, uint64_t len)
{
	if (d->read_only)
		return -EROFS;
	if (len == 0)
		return 0;
	if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0 &&
	    errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
		return -errno;
	return 0;
}

int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool may_unmap)
{
	static const uint8_t zeros[65536];

	if (d->read_only)
		return -EROFS;
	if (len == 0)
		return 0;
	int mode = may_unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
	                     : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	if (fallocate(d->fd, mode, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
		return -errno;
	/* The host file system cannot: write the zeros. */
	while (len > 0) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		struct iovec v = { (void *)zeros, n };
		int r = disk_writev(d, &v, 1, off);
		if (r)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}
