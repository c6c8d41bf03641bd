/* TAP network backend (see tap.h). */
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"

#define TAP_FRAME_MAX 65550

struct tap_net {
	struct net_backend be;
	int fd, stop_fd;
	pthread_t thread;
	bool thread_started;
	char ifname[IFNAMSIZ];
	struct tap_stats st;
	uint8_t buf[TAP_FRAME_MAX];
};

static int tap_send(struct net_backend *b, const uint8_t *frame, size_t len)
{
	struct tap_net *t = (struct tap_net *)b;
	for (;;) {
		ssize_t n = write(t->fd, frame, len);
		if (n >= 0) {
			atomic_fetch_add_explicit(&t->st.tx_frames, 1, memory_order_relaxed);
			return 0;
		}
		if (errno == EINTR)
			continue;
		/* Never block the vCPU nor stop the VM: drop, as a busy or dead link would.
		 * Said once per kind of error, counted always. */
		int err = errno;
		atomic_fetch_add_explicit(&t->st.tx_dropped, 1, memory_order_relaxed);
		if (atomic_exchange_explicit(&t->st.tx_errno, err, memory_order_relaxed) != err &&
		    err != EAGAIN)
			log_warn("tap", "%s: %s: the guest's frames are dropped", t->ifname, strerror(err));
		return -err;
	}
}

static void *tap_thread(void *opaque)
{
	struct tap_net *t = opaque;
	for (;;) {
		struct pollfd p[2] = { { .fd = t->stop_fd, .events = POLLIN },
		                       { .fd = t->fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("tap", "%s: poll: %s", t->ifname, strerror(errno));
			return NULL;
		}
		if (p[0].revents)
			return NULL;
		if (p[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			/* Deleted (ip link del): the descriptor stays, detached, and polls as an
			 * error for ever. The guest keeps running with nothing to receive. */
			atomic_store(&t->st.gone, true);
			log_warn("tap", "%s: the interface went away; the VM runs on without it",
			         t->ifname);
			return NULL;
		}
		ssize_t n = read(t->fd, t->buf, sizeof(t->buf));
		if (n > 0) {
			atomic_fetch_add_explicit(&t->st.rx_frames, 1, memory_order_relaxed);
			t->be.receive(t->be.opaque, t->buf, (size_t)n);
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			atomic_store(&t->st.gone, true);
			log_warn("tap", "%s: read: %s; the VM runs on without it", t->ifname,
			         strerror(errno));
			return NULL;
		}
	}
}

/* --stats */
static void tap_print_stats(void *opaque, FILE *f)
{
	struct tap_net *t = opaque;
	int err = atomic_load(&t->st.tx_errno);
	fprintf(f, "tap %s: tx %lu frames, rx %lu frames; dropped: tx %lu%s%s%s%s\n", t->ifname,
	        atomic_load(&t->st.tx_frames), atomic_load(&t->st.rx_frames),
	        atomic_load(&t->st.tx_dropped), err ? " (last: " : "", err ? strerror(err) : "",
	        err ? ")" : "", atomic_load(&t->st.gone) ? "; the interface went away" : "");
}

static void tap_destroy(void *opaque)
{
	struct tap_net *t = opaque;
	if (t->thread_started) {
		uint64_t one = 1;
		ssize_t n = write(t->stop_fd, &one, sizeof(one));
		(void)n;
		pthread_join(t->thread, NULL);
	}
	if (t->fd >= 0)
		close(t->fd);
	if (t->stop_fd >= 0)
		close(t->stop_fd);
	free(t);
}

int tap_net_create(struct vm *vm, const struct vm_net_config *cfg,
                   void (*receive)(void *opaque, const uint8_t *frame, size_t len),
                   void *opaque, struct net_backend **out, struct err *e)
{
	struct tap_net *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return err_set(e, ENOMEM, "out of memory");
	t->fd = t->stop_fd = -1;
	if ((r = vm_add_device(vm, t, tap_destroy, e))) {
		tap_destroy(t);
		return r;
	}
	vm_set_device_stats(vm, t, tap_print_stats);
	vm_set_device_host(vm, t);    /* a restore opens the interface again */
	t->be.name = "tap";
	t->be.send = tap_send;
	t->be.receive = receive;
	t->be.opaque = opaque;
	snprintf(t->ifname, sizeof(t->ifname), "%s", cfg->ifname);
	if ((t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
		return err_set(e, errno, "--net tap: cannot open /dev/net/tun: %s", strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	memcpy(ifr.ifr_name, t->ifname, strnlen(t->ifname, IFNAMSIZ - 1));
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0)
		return err_set(e, errno, "--net tap: cannot attach to %s: %s", t->ifname, strerror(errno));
	if ((t->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0)
		return err_set(e, errno, "eventfd: %s", strerror(errno));
	if ((r = pthread_create(&t->thread, NULL, tap_thread, t)))
		return err_set(e, r, "tap thread: %s", strerror(r));
	t->thread_started = true;
	log_info("tap", "attached to %s", t->ifname);
	*out = &t->be;
	return 0;
}
