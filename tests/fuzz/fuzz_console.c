/* virtio-console (console.c): transmit chains written to /dev/null, host input (the
 * input's bytes) put into the driver's receive buffers. Invariant: the device never
 * claims to have taken more input than it was given. */
#include "fuzz.h"

#include <fcntl.h>

#include "hw/virtio/console.h"

static void type(void *ctx, struct fz *f)
{
	uint8_t buf[512];
	size_t n = fz_u16(f) % sizeof(buf);
	fz_bytes(f, buf, n);
	size_t took = virtio_console_receive(ctx, buf, n);
	if (took > n)
		fuzz_fail("console took %zu of %zu bytes", took, n);
}

static struct virtio_console *con;

static void stats(FILE *out)
{
	fprintf(out, " tx_bytes=%lu rx_bytes=%lu malformed=%lu protocol_errors=%lu", con->tx_bytes,
	        con->rx_bytes, con->malformed, con->vdev.protocol_errors);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!con) {
		struct err e;
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || virtio_console_create(fuzz_vm(), fd, &con, &e))
			fuzz_fail("virtio_console_create failed");
		fuzz_stats_at_exit(stats);
	}
	fuzz_virtio_dev(&con->vdev, data, size, type, con);
	return 0;
}
