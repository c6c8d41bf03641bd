/* virtio-console (see console.h). */
#include "console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/snap.h"
#include "deliver.h"

static int64_t tx_request(struct virtio_dev *v, struct virtq *q, struct vq_chain *c)
{
	struct virtio_console *con = v->opaque;
	uint8_t buf[4096];

	if (c->nw)
		con->malformed++;     /* the device writes nothing here; the data still goes out */
	for (uint64_t off = 0; off < c->rlen; ) {
		uint64_t n = vq_chain_read(c, q->mem, off, buf, sizeof(buf));
		for (uint64_t done = 0; done < n; ) {
			ssize_t w = write(con->out_fd, buf + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				con->tx_errors++;
				return 0;     /* the output is gone (closed terminal): drop the rest */
			}
			done += (uint64_t)w;
		}
		off += n;
		con->tx_bytes += n;
	}
	return 0;
}

static int64_t rx_request(struct virtio_dev *v, struct virtq *q, struct vq_chain *c)
{
	struct virtio_console *con = v->opaque;
	if (c->wlen == 0) {
		con->malformed++;
		return -1;
	}
	uint64_t n = vq_chain_write(c, q->mem, 0, con->rx_data + con->rx_done,
	                            con->rx_len - con->rx_done);
	con->rx_done += n;
	con->rx_bytes += n;
	return (int64_t)n;
}

size_t virtio_console_receive(void *opaque, const uint8_t *buf, size_t n)
{
	struct virtio_console *con = opaque;
	vm_input_begin(con->vdev.vm);
	if (con->lock)
		pthread_mutex_lock(con->lock);
	con->rx_data = buf;
	con->rx_len = n;
	con->rx_done = 0;
	while (con->rx_done < n &&
	       virtio_deliver(&con->vdev, VIRTIO_CONSOLE_RXQ, rx_request) == 1)
		;
	size_t took = con->rx_done;
	con->rx_data = NULL;
	if (con->lock)
		pthread_mutex_unlock(con->lock);
	vm_input_end(con->vdev.vm);
	return took;
}

static void console_queue_notify(struct virtio_dev *v, unsigned q)
{
	/* Receive buffers wait for input: the host console retries its pending bytes. */
	if (q == VIRTIO_CONSOLE_TXQ)
		virtio_process_queue(v, q, tx_request);
}

static const struct virtio_dev_ops console_ops = {
	.queue_notify = console_queue_notify,
};

static void console_destroy(void *opaque)
{
	struct virtio_console *con = opaque;
	log_info("virtio-console", "out %lu bytes, in %lu bytes; refused: malformed %lu, output "
	         "errors %lu; protocol errors %lu", con->tx_bytes, con->rx_bytes, con->malformed,
	         con->tx_errors, con->vdev.protocol_errors);
	free(con);
}

/* Snapshots: nothing of its own: typed input not yet taken waits in the host console,
 * output is written at once (the transport saves the virtio state). */
static int snap_save(void *opaque, struct snap_writer *w)
{
	return 0;
}

static int snap_load(void *opaque, struct snap_reader *r)
{
	return 0;
}

int virtio_console_create(struct vm *vm, int out_fd, struct virtio_console **out,
                          struct err *e)
{
	struct virtio_console *con = calloc(1, sizeof(*con));
	int r;

	if (!con)
		return err_set(e, ENOMEM, "out of memory");
	if ((r = vm_add_device(vm, con, console_destroy, e))) {
		free(con);
		return r;
	}
	con->out_fd = out_fd;
	vm_set_device_snapshot(vm, con, "virtio-console", snap_save, snap_load);
	virtio_init(&con->vdev, vm, "virtio-console", VIRTIO_ID_CONSOLE,
	            1ull << VIRTIO_F_INDIRECT_DESC | 1ull << VIRTIO_F_EVENT_IDX, 2,
	            VIRTIO_CONSOLE_QUEUE_SIZE, &console_ops, con);
	*out = con;
	return 0;
}
