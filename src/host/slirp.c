/* User-mode networking on libslirp (see slirp.h), written against libslirp's public
 * header only. */
#include "slirp.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "core/log.h"

#define MAX_POLLFDS 256

struct stimer {
	struct stimer *next;
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms;           /* -1: not armed */
};

struct txframe {
	size_t len;
	uint8_t data[];
};

struct slirp_net {
	struct net_backend be;
	Slirp *slirp;
	int wake_fd;                 /* eventfd: frames queued, a stop, or libslirp's notify */
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;

	pthread_mutex_t txq_lock;    /* guards the queue below (a leaf lock) */
	struct txframe *txq[SLIRP_TXQ_LEN];
	unsigned txq_head, txq_count;

	struct stimer *timers;       /* the slirp thread's (and slirp_new's) only */
	struct pollfd pfd[MAX_POLLFDS];
	unsigned npfd;
	struct slirp_stats st;
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void wake(struct slirp_net *s)
{
	uint64_t one = 1;
	ssize_t r = write(s->wake_fd, &one, sizeof(one));
	(void)r;     /* a full counter is still a wake-up */
}

/* -- libslirp's callbacks (on the slirp thread, or in slirp_new) ----------------------- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_net *s = opaque;
	atomic_fetch_add_explicit(&s->st.rx_frames, 1, memory_order_relaxed);
	s->be.receive(s->be.opaque, buf, len);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	struct slirp_net *s = opaque;
	if (atomic_fetch_add_explicit(&s->st.guest_errors, 1, memory_order_relaxed) < 10)
		log_info("slirp", "guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	return mono_ns();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct slirp_net *s = opaque;
	struct stimer *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = s->timers;
	s->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct slirp_net *s = opaque;
	for (struct stimer **p = &s->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = ((struct stimer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	((struct stimer *)timer)->expire_ms = expire_ms;
}

static void cb_register_poll_fd(int fd, void *opaque) {}
static void cb_unregister_poll_fd(int fd, void *opaque) {}

static void cb_notify(void *opaque)
{
	wake(opaque);
}

static const SlirpCb callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
};

static short to_poll(int ev)
{
	short p = 0;
	if (ev & SLIRP_POLL_IN)  p |= POLLIN;
	if (ev & SLIRP_POLL_OUT) p |= POLLOUT;
	if (ev & SLIRP_POLL_PRI) p |= POLLPRI;
	return p;
}

static int cb_add_poll(int fd, int events, void *opaque)
{
	struct slirp_net *s = opaque;
	if (s->npfd == MAX_POLLFDS)
		return -1;     /* libslirp then skips the socket this round */
	s->pfd[s->npfd] = (struct pollfd){ .fd = fd, .events = to_poll(events) };
	return (int)s->npfd++;
}

static int cb_get_revents(int idx, void *opaque)
{
	struct slirp_net *s = opaque;
	if (idx < 0 || (unsigned)idx >= s->npfd)
		return 0;
	short r = s->pfd[idx].revents;
	int ev = 0;
	if (r & POLLIN)   ev |= SLIRP_POLL_IN;
	if (r & POLLOUT)  ev |= SLIRP_POLL_OUT;
	if (r & POLLPRI)  ev |= SLIRP_POLL_PRI;
	if (r & POLLERR)  ev |= SLIRP_POLL_ERR;
	if (r & POLLHUP)  ev |= SLIRP_POLL_HUP;
	return ev;
}

/* -- the slirp thread ------------------------------------------------------------------ */

static struct txframe *txq_pop(struct slirp_net *s)
{
	struct txframe *f = NULL;
	pthread_mutex_lock(&s->txq_lock);
	if (s->txq_count) {
		f = s->txq[s->txq_head];
		s->txq_head = (s->txq_head + 1) % SLIRP_TXQ_LEN;
		s->txq_count--;
	}
	pthread_mutex_unlock(&s->txq_lock);
	return f;
}

/* Run expired timers; return the milliseconds until the next one (-1: none). A timer's
 * callback may free or re-arm timers, so rescan after each. */
static int64_t run_timers(struct slirp_net *s)
{
	for (;;) {
		int64_t now = mono_ns() / 1000000, next = -1;
		struct stimer *due = NULL;
		for (struct stimer *t = s->timers; t; t = t->next) {
			if (t->expire_ms < 0)
				continue;
			if (t->expire_ms <= now) {
				due = t;
				break;
			}
			if (next < 0 || t->expire_ms - now < next)
				next = t->expire_ms - now;
		}
		if (!due)
			return next;
		due->expire_ms = -1;
		due->cb(due->cb_opaque);
	}
}

static void *slirp_thread(void *opaque)
{
	struct slirp_net *s = opaque;

	while (!atomic_load(&s->stop)) {
		int64_t t = run_timers(s);
		uint32_t timeout = t < 0 || t > 1000 ? 1000 : (uint32_t)t;
		s->npfd = 0;
		cb_add_poll(s->wake_fd, SLIRP_POLL_IN, s);
		slirp_pollfds_fill(s->slirp, &timeout, cb_add_poll, s);
		int r = poll(s->pfd, s->npfd, (int)timeout);
		if (r < 0 && errno != EINTR) {
			log_warn("slirp", "poll: %s", strerror(errno));
			break;
		}
		if (r > 0 && (s->pfd[0].revents & POLLIN)) {
			uint64_t v;
			ssize_t n = read(s->wake_fd, &v, sizeof(v));
			(void)n;
		}
		for (struct txframe *f; (f = txq_pop(s)); free(f))
			slirp_input(s->slirp, f->data, (int)f->len);
		slirp_pollfds_poll(s->slirp, r < 0, cb_get_revents, s);
	}
	return NULL;
}

/* -- the device's side ----------------------------------------------------------------- */

static int slirp_send(struct net_backend *b, const uint8_t *frame, size_t len)
{
	struct slirp_net *s = (struct slirp_net *)b;
	struct txframe *f = malloc(sizeof(*f) + len);
	if (!f) {
		atomic_fetch_add_explicit(&s->st.tx_dropped, 1, memory_order_relaxed);
		return -ENOMEM;
	}
	f->len = len;
	memcpy(f->data, frame, len);
	pthread_mutex_lock(&s->txq_lock);
	bool full = s->txq_count == SLIRP_TXQ_LEN;
	if (!full) {
		s->txq[(s->txq_head + s->txq_count) % SLIRP_TXQ_LEN] = f;
		s->txq_count++;
		atomic_fetch_add_explicit(&s->st.tx_frames, 1, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&s->st.tx_dropped, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&s->txq_lock);
	if (full) {
		free(f);
		return -ENOBUFS;
	}
	wake(s);
	return 0;
}

/* --stats */
static void slirp_print_stats(void *opaque, FILE *f)
{
	struct slirp_net *s = opaque;
	fprintf(f, "slirp: tx %lu frames, rx %lu frames; dropped: tx %lu (queue full); "
	        "guest errors %lu\n", atomic_load(&s->st.tx_frames), atomic_load(&s->st.rx_frames),
	        atomic_load(&s->st.tx_dropped), atomic_load(&s->st.guest_errors));
}

static void slirp_net_destroy(void *opaque)
{
	struct slirp_net *s = opaque;
	if (s->thread_started) {
		atomic_store(&s->stop, true);
		wake(s);
		pthread_join(s->thread, NULL);
	}
	if (s->slirp)
		slirp_cleanup(s->slirp);
	for (struct txframe *f; (f = txq_pop(s)); )
		free(f);
	while (s->timers) {
		struct stimer *t = s->timers;
		s->timers = t->next;
		free(t);
	}
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	pthread_mutex_destroy(&s->txq_lock);
	free(s);
}

static struct in_addr ip4(uint32_t host_order)
{
	return (struct in_addr){ .s_addr = htonl(host_order) };
}

int slirp_net_create(struct vm *vm, const struct vm_net_config *cfg,
                     void (*receive)(void *opaque, const uint8_t *frame, size_t len),
                     void *opaque, struct net_backend **out, struct err *e)
{
	struct slirp_net *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return err_set(e, ENOMEM, "out of memory");
	s->wake_fd = -1;
	pthread_mutex_init(&s->txq_lock, NULL);
	if ((r = vm_add_device(vm, s, slirp_net_destroy, e))) {
		slirp_net_destroy(s);
		return r;
	}
	vm_set_device_stats(vm, s, slirp_print_stats);
	vm_set_device_host(vm, s);    /* a restore starts user networking afresh */
	s->be.name = "user";
	s->be.send = slirp_send;
	s->be.receive = receive;
	s->be.opaque = opaque;
	if ((s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return err_set(e, errno, "eventfd: %s", strerror(errno));

	SlirpConfig sc = {
		.version = 1,
		.in_enabled = true,
		.vnetwork = ip4(0x0a000200),      /* 10.0.2.0/24 */
		.vnetmask = ip4(0xffffff00),
		.vhost = ip4(0x0a000202),         /* 10.0.2.2 */
		.vdhcp_start = ip4(0x0a00020f),   /* 10.0.2.15 */
		.vnameserver = ip4(0x0a000203),   /* 10.0.2.3 */
		.vhostname = "trivisor",
	};
	s->slirp = slirp_new(&sc, &callbacks, s);
	if (!s->slirp)
		return err_set(e, ENOMEM, "--net user: libslirp could not start");
	for (unsigned i = 0; i < cfg->nfwd; i++) {
		const struct vm_hostfwd *f = &cfg->fwd[i];
		if (slirp_add_hostfwd(s->slirp, f->udp, (struct in_addr){ .s_addr = f->host_addr },
		                      f->host_port, (struct in_addr){ .s_addr = f->guest_addr },
		                      f->guest_port) < 0)
			return err_set(e, EADDRINUSE, "--net user: cannot forward host %s port %u "
			               "(in use?)", f->udp ? "UDP" : "TCP", f->host_port);
	}
	if ((r = pthread_create(&s->thread, NULL, slirp_thread, s)))
		return err_set(e, r, "slirp thread: %s", strerror(r));
	s->thread_started = true;
	log_info("slirp", "user networking (libslirp %s): 10.0.2.0/24, %u port forward(s)",
	         slirp_version_string(), cfg->nfwd);
	*out = &s->be;
	return 0;
}
