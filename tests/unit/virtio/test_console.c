/* virtio-console on fabricated rings: the guest's output reaches the output fd, input
 * fills the receive buffers the driver posted (and only what fits is taken); chains of
 * the wrong direction and buffers outside RAM are refused and counted. */
#include "vdev.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "hw/virtio/console.h"

#define RAM (4 * MiB)
#define RXR 0x10000
#define TXR 0x18000
#define BUF 0x20000

static struct vm *vm;

int main(void)
{
	struct err e;
	struct virtio_console *con;
	struct ring q[2];
	int pfd[2];
	char got[64];
	uint32_t id, len;

	CHECK_EQ(pipe2(pfd, O_NONBLOCK), 0);
	vm = vt_vm(RAM);
	CHECK_EQ(virtio_console_create(vm, pfd[1], &con, &e), 0);
	CHECK_EQ(con->vdev.device_id, VIRTIO_ID_CONSOLE);
	CHECK_EQ(con->vdev.nqueues, 2);

	/* Input before the driver is up: nothing taken. */
	CHECK_EQ(virtio_console_receive(con, (const uint8_t *)"x", 1), 0);

	ring_init(&q[0], vm, RXR, 8);
	ring_init(&q[1], vm, TXR, 8);
	vdev_up(&con->vdev, 1ull << VIRTIO_F_EVENT_IDX, q, 2);

	/* Output, split over two descriptors. */
	mem_write(&vm->mem, BUF, "hello, host\n", 12);
	desc(&q[1], 0, BUF, 5, VIRTQ_DESC_F_NEXT, 1);
	desc(&q[1], 1, BUF + 5, 7, 0, 0);
	avail_add(&q[1], 0);
	virtio_queue_notify(&con->vdev, VIRTIO_CONSOLE_TXQ);
	CHECK_EQ(used_idx(&q[1]), 1);
	CHECK_EQ(read(pfd[0], got, sizeof(got)), 12);
	CHECK(memcmp(got, "hello, host\n", 12) == 0);
	CHECK_EQ(con->tx_bytes, 12);

	/* Input: no buffers, nothing taken; then two 4-byte buffers take 8 of 10 bytes. */
	CHECK_EQ(virtio_console_receive(con, (const uint8_t *)"0123456789", 10), 0);
	desc(&q[0], 0, BUF + 0x100, 4, VIRTQ_DESC_F_WRITE, 0);
	avail_add(&q[0], 0);
	desc(&q[0], 1, BUF + 0x200, 4, VIRTQ_DESC_F_WRITE, 0);
	avail_add(&q[0], 1);
	CHECK_EQ(virtio_console_receive(con, (const uint8_t *)"0123456789", 10), 8);
	CHECK_EQ(used_idx(&q[0]), 2);
	used_elem(&q[0], 0, &id, &len);
	CHECK(id == 0 && len == 4);
	used_elem(&q[0], 1, &id, &len);
	CHECK(id == 1 && len == 4);
	mem_read(&vm->mem, BUF + 0x100, got, 4);
	mem_read(&vm->mem, BUF + 0x200, got + 4, 4);
	CHECK(memcmp(got, "01234567", 8) == 0);

	/* A receive chain with nothing writable: returned empty, counted. */
	desc(&q[0], 2, BUF, 4, 0, 0);
	avail_add(&q[0], 2);
	CHECK_EQ(virtio_console_receive(con, (const uint8_t *)"89", 2), 0);
	CHECK_EQ(con->malformed, 1);
	/* A transmit buffer outside RAM: the device needs a reset; nothing is written. */
	desc(&q[1], 2, RAM - 4, 8, 0, 0);
	avail_add(&q[1], 2);
	virtio_queue_notify(&con->vdev, VIRTIO_CONSOLE_TXQ);
	CHECK(con->vdev.status & VIRTIO_STATUS_NEEDS_RESET);
	CHECK(read(pfd[0], got, sizeof(got)) < 0);
	CHECK_EQ(virtio_console_receive(con, (const uint8_t *)"89", 2), 0);

	/* Output to a closed reader: counted, the guest is not stopped. */
	ring_init(&q[0], vm, RXR, 8);
	ring_init(&q[1], vm, TXR, 8);
	vdev_up(&con->vdev, 0, q, 2);
	close(pfd[0]);
	signal(SIGPIPE, SIG_IGN);
	desc(&q[1], 0, BUF, 12, 0, 0);
	avail_add(&q[1], 0);
	virtio_queue_notify(&con->vdev, VIRTIO_CONSOLE_TXQ);
	CHECK_EQ(used_idx(&q[1]), 1);
	CHECK_EQ(con->tx_errors, 1);

	vt_vm_free(vm);
	close(pfd[1]);
	return check_done();
}
