/* virtio-rng (rng.c): any chain, filled from getrandom up to its writable length.
 * Invariant: never more bytes reported than requested in total. */
#include "fuzz.h"

#include "hw/virtio/rng.h"

static struct virtio_rng *rng;

static void stats(FILE *out)
{
	fprintf(out, " requests=%lu bytes=%llu malformed=%lu protocol_errors=%lu", rng->requests,
	        (unsigned long long)rng->bytes, rng->malformed, rng->vdev.protocol_errors);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!rng) {
		struct err e;
		if (virtio_rng_create(fuzz_vm(), &rng, &e))
			fuzz_fail("virtio_rng_create: %s", e.msg);
		fuzz_stats_at_exit(stats);
	}
	uint64_t before = rng->bytes;
	unsigned long requests = rng->requests;
	fuzz_virtio_dev(&rng->vdev, data, size, NULL, NULL);
	if (rng->bytes - before > (uint64_t)(rng->requests - requests) * VIRTIO_RNG_MAX_REQUEST)
		fuzz_fail("rng gave more than %u bytes per request", VIRTIO_RNG_MAX_REQUEST);
	return 0;
}
