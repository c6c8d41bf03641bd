/* The control API's HTTP server: libmicrohttpd on a Unix socket, one thread. */
#include <errno.h>
#include <stdatomic.h>
#include <time.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"

struct api_server {
	struct MHD_Daemon *mhd;
	struct api *api;
	int fd;
	atomic_int inflight;          /* requests begun and not yet answered */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* A request's body as it arrives. */
struct upload {
	char *buf;
	size_t len;
	bool too_big;
};

static enum MHD_Result queue(struct MHD_Connection *c, int status, char *body)
{
	struct MHD_Response *r = body
		? MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE)
		: MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (body)
		MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *data, size_t *size, void **state)
{
	struct api_server *s = cls;
	struct upload *u = *state;
	if (!u) {                         /* headers only: set up for the body */
		if (!(u = calloc(1, sizeof(*u))))
			return MHD_NO;
		*state = u;
		atomic_fetch_add(&s->inflight, 1);
		return MHD_YES;
	}
	if (*size) {                      /* a piece of the body */
		if (!u->too_big && *size <= API_MAX_BODY - u->len) {
			char *b = realloc(u->buf, u->len + *size + 1);
			if (!b)
				return MHD_NO;
			memcpy(b + u->len, data, *size);
			u->buf = b;
			u->len += *size;
			b[u->len] = '\0';
		} else {
			u->too_big = true;        /* read and dropped; answered 413 at the end */
		}
		*size = 0;
		return MHD_YES;
	}
	if (u->too_big) {
		char *body = NULL;
		if (asprintf(&body, "{\"fault_message\":\"request body larger than %d bytes\"}",
		             API_MAX_BODY) < 0)
			body = NULL;
		return queue(c, 413, body);
	}
	struct api_reply r;
	api_dispatch(s->api, method, url, u->buf ? u->buf : "", u->len, &r);
	return queue(c, r.status, r.body);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode why)
{
	struct api_server *s = cls;
	struct upload *u = *state;
	if (u) {
		atomic_fetch_sub(&s->inflight, 1);
		free(u->buf);
		free(u);
		*state = NULL;
	}
}

/* Bind a Unix socket at path, private to this user. A socket file nobody listens on
 * (left by a trivisor that was killed) is replaced; a live one, or anything that is
 * not a socket, is refused. */
static int bind_private(const char *path, int *out, struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, ENAMETOOLONG, "API socket path too long (at most %zu bytes): %s",
		               sizeof(sa.sun_path) - 1, path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, errno, "API socket: %s", strerror(errno));
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			return err_set(e, EEXIST, "API socket %s: the path exists and is not a socket",
			               path);
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno != ECONNREFUSED) {
			close(fd);
			return err_set(e, EADDRINUSE, "API socket %s is in use (another trivisor?)", path);
		}
		close(fd);
		unlink(path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return err_set(e, errno, "API socket: %s", strerror(errno));
	}
	/* The socket file gets mode 0600 from the umask at bind: no window in which
	 * another user could connect. */
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	int err = errno;
	umask(old);
	if (r || listen(fd, 16)) {
		err = r ? err : errno;
		close(fd);
		return err_set(e, err, "API socket %s: %s", path, strerror(err));
	}
	*out = fd;
	return 0;
}

int api_server_start(struct api *a, const char *path, struct api_server **out, struct err *e)
{
	struct api_server *s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(e, ENOMEM, "out of memory");
	s->api = a;
	int r = bind_private(path, &s->fd, e);
	if (r) {
		free(s);
		return r;
	}
	strcpy(s->path, path);
	s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0, NULL, NULL, on_request, s,
	                          MHD_OPTION_LISTEN_SOCKET, s->fd,
	                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	                          MHD_OPTION_CONNECTION_LIMIT, 32u,
	                          MHD_OPTION_CONNECTION_TIMEOUT, 30u,
	                          MHD_OPTION_END);
	if (!s->mhd) {
		close(s->fd);
		unlink(path);
		free(s);
		return err_set(e, EIO, "API socket %s: cannot start the HTTP server", path);
	}
	*out = s;
	return 0;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	/* Take no new connections, and let the answers in flight go out (the one to the
	 * Stop that ended the VM among them), for at most a second. */
	MHD_socket lfd = MHD_quiesce_daemon(s->mhd);
	for (int i = 0; i < 100 && atomic_load(&s->inflight) > 0; i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	/* The listening socket is ours again after the quiesce; else MHD closes it. */
	MHD_stop_daemon(s->mhd);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	unlink(s->path);
	free(s);
}
