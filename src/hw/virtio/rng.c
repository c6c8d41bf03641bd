/* virtio-rng (see rng.h). A request is any chain: its device-writable part is filled
 * with random bytes (up to VIRTIO_RNG_MAX_REQUEST) and returned with that length; any
 * readable part is ignored. */
#include "rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/log.h"
#include "core/snap.h"

static int64_t rng_request(struct virtio_dev *v, struct virtq *q, struct vq_chain *c)
{
	struct virtio_rng *r = v->opaque;
	uint8_t buf[4096];
	uint64_t want = c->wlen < VIRTIO_RNG_MAX_REQUEST ? c->wlen : VIRTIO_RNG_MAX_REQUEST;
	uint64_t done = 0;

	r->requests++;
	if (want == 0) {
		r->malformed++;
		return -1;
	}
	while (done < want) {
		size_t n = want - done < sizeof(buf) ? (size_t)(want - done) : sizeof(buf);
		ssize_t got = getrandom(buf, n, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (r->failed++ == 0)
				log_warn("virtio-rng", "getrandom: %s", strerror(errno));
			break;
		}
		done += vq_chain_write(c, q->mem, done, buf, (uint64_t)got);
	}
	r->bytes += done;
	return (int64_t)done;
}

static void rng_queue_notify(struct virtio_dev *v, unsigned q)
{
	virtio_process_queue(v, q, rng_request);
}

static const struct virtio_dev_ops rng_ops = {
	.queue_notify = rng_queue_notify,
};

/* --stats. The counters change on the vCPU that notifies, stopped or paused here. */
static void print_stats(void *opaque, FILE *f)
{
	struct virtio_rng *r = opaque;
	fprintf(f, "virtio-rng: %lu requests, %llu bytes; refused: malformed %lu, getrandom "
	        "failures %lu; protocol errors %lu\n", r->requests, (unsigned long long)r->bytes,
	        r->malformed, r->failed, r->vdev.protocol_errors);
}

static void rng_destroy(void *opaque)
{
	free(opaque);
}

/* Snapshots: nothing of its own (the transport saves the virtio state). */
static int snap_save(void *opaque, struct snap_writer *w)
{
	return 0;
}

static int snap_load(void *opaque, struct snap_reader *r)
{
	return 0;
}

int virtio_rng_create(struct vm *vm, struct virtio_rng **out, struct err *e)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return err_set(e, ENOMEM, "out of memory");
	if ((ret = vm_add_device(vm, r, rng_destroy, e))) {
		free(r);
		return ret;
	}
	vm_set_device_snapshot(vm, r, "virtio-rng", snap_save, snap_load);
	vm_set_device_stats(vm, r, print_stats);
	virtio_init(&r->vdev, vm, "virtio-rng", VIRTIO_ID_RNG,
	            1ull << VIRTIO_F_INDIRECT_DESC | 1ull << VIRTIO_F_EVENT_IDX, 1,
	            VIRTIO_RNG_QUEUE_SIZE, &rng_ops, r);
	*out = r;
	return 0;
}
