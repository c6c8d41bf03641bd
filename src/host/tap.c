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
			t->st.tx_frames++;
			return 0;
		}
		if (errno != EINTR) {
			t->st.tx_dropped++;     /* never block the vCPU: drop, as a busy link would */
			return -errno;
		}
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
			log_warn("tap", "%s: the interface went away", t->ifname);
			return NULL;
		}
		ssize_t n = read(t->fd, t->buf, sizeof(t->buf));
		if (n > 0) {
			t->st.rx_frames++;
			t->be.receive(t->be.opaque, t->buf, (size_t)n);
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			log_warn("tap", "%s: read: %s", t->ifname, strerror(errno));
			return NULL;
		}
	}
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
