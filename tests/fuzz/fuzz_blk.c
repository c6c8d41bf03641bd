/* virtio-blk request parsing (blk.c) on a real temporary image, driven through the
 * virtio core by the generic driver of fuzz.h: headers split across descriptors,
 * any request type, sector and length, discard/write-zeroes segments, chains without
 * room for the status. Invariant: the image never grows (no write past its end). */
#include "fuzz.h"

#include <stdio.h>
#include <sys/stat.h>

#include "hw/virtio/blk.h"

#define SECTORS 128

static struct virtio_blk *blk;

static void stats(FILE *out)
{
	const struct virtio_blk_stats *s = &blk->st;
	fprintf(out, " reads=%lu writes=%lu flushes=%lu get_ids=%lu discards=%lu write_zeroes=%lu"
	        " ioerr=%lu unsupp=%lu protocol_errors=%lu", s->reads, s->writes, s->flushes,
	        s->get_ids, s->discards, s->write_zeroes, s->ioerr, s->unsupp,
	        blk->vdev.protocol_errors);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!blk) {
		struct vm_disk_config dc = { .read_only = false };
		struct err e;
		snprintf(dc.path, sizeof(dc.path), "%s", fuzz_image(SECTORS));
		if (virtio_blk_create(fuzz_vm(), &dc, 0, &blk, &e))
			fuzz_fail("virtio_blk_create: %s", e.msg);
		fuzz_image_done();
		fuzz_stats_at_exit(stats);
	}
	fuzz_virtio_dev(&blk->vdev, data, size, NULL, NULL);
	struct stat st;
	if (fstat(blk->disk.fd, &st) || st.st_size != SECTORS * 512)
		fuzz_fail("the image is now %lld bytes, not %d", (long long)st.st_size, SECTORS * 512);
	return 0;
}
