/* virtio_randio: random 4 KiB reads or writes with O_DIRECT on a block device, for
 * bench/virtio_bench.py. Built static on the host by the benchmark and run inside the
 * guest (busybox has nothing that does random I/O without a fork per request).
 *
 *     virtio_randio read|write DEVICE COUNT SPAN_MIB SEED
 *
 * COUNT requests at offsets drawn from xorshift64(SEED), 4 KiB aligned, within the
 * first SPAN_MIB MiB of DEVICE: the same offsets wherever it runs. Writes end with one
 * fsync (the device's flush). Prints the requests made and a checksum of what was
 * read (or written); exits 1 on any error. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 4096

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int main(int argc, char **argv)
{
	if (argc != 6 || (strcmp(argv[1], "read") && strcmp(argv[1], "write"))) {
		fprintf(stderr, "usage: %s read|write DEVICE COUNT SPAN_MIB SEED\n", argv[0]);
		return 2;
	}
	int writing = !strcmp(argv[1], "write");
	long count = atol(argv[3]);
	uint64_t blocks = (uint64_t)atol(argv[4]) * (1 << 20) / BLOCK;
	uint64_t seed = strtoull(argv[5], NULL, 0) | 1;
	int fd = open(argv[2], (writing ? O_WRONLY : O_RDONLY) | O_DIRECT);
	void *buf;
	if (fd < 0 || count <= 0 || !blocks || posix_memalign(&buf, BLOCK, BLOCK)) {
		perror(argv[2]);
		return 1;
	}
	uint64_t sum = 0;
	for (long i = 0; i < count; i++) {
		off_t off = (off_t)(next(&seed) % blocks) * BLOCK;
		if (writing) {
			memset(buf, (int)(i & 0xff), BLOCK);
			((uint64_t *)buf)[0] = (uint64_t)off;
			if (pwrite(fd, buf, BLOCK, off) != BLOCK) {
				perror("pwrite");
				return 1;
			}
		} else if (pread(fd, buf, BLOCK, off) != BLOCK) {
			perror("pread");
			return 1;
		}
		sum = sum * 31 + ((uint64_t *)buf)[0] + ((uint64_t *)buf)[BLOCK / 8 - 1];
	}
	if (writing && fsync(fd)) {
		perror("fsync");
		return 1;
	}
	printf("virtio_randio: %s %ld x %d B, checksum %016llx\n", argv[1], count, BLOCK,
	       (unsigned long long)sum);
	return 0;
}
