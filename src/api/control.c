/* trivisor ls / stop / pause / resume over the VMs' API sockets (see control.h). */
#include "control.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"

int rundir_get(char *out, size_t n, struct err *e)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	uid_t uid = getuid();
	int len = xdg && xdg[0] == '/' ? snprintf(out, n, "%s/trivisor", xdg)
	        : uid == 0 ? snprintf(out, n, "/run/trivisor")
	        : snprintf(out, n, "/tmp/trivisor-%u", (unsigned)uid);
	if (len < 0 || (size_t)len >= n)
		return err_set(e, ENAMETOOLONG, "runtime directory path too long");
	if (mkdir(out, 0700) && errno != EEXIST)
		return err_set(e, errno, "cannot create the runtime directory %s: %s", out,
		               strerror(errno));
	/* In a shared /tmp someone else could have made it first: it must be ours alone. */
	struct stat st;
	if (lstat(out, &st))
		return err_set(e, errno, "runtime directory %s: %s", out, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 077))
		return err_set(e, EPERM, "runtime directory %s is not a private directory of this "
		               "user (mode 0700)", out);
	return 0;
}

int rundir_socket(const char *name, char *out, size_t n, struct err *e)
{
	char dir[256];
	int r = rundir_get(dir, sizeof(dir), e);
	if (r)
		return r;
	if ((size_t)snprintf(out, n, "%s/%s.sock", dir, name) >= n ||
	    strlen(out) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return err_set(e, ENAMETOOLONG, "socket path for '%s' too long", name);
	return 0;
}

int api_request(const char *sock, const char *method, const char *path, const char *json,
                char **body, struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	*body = NULL;
	if (strlen(sock) >= sizeof(sa.sun_path))
		return err_set(e, ENAMETOOLONG, "socket path too long: %s", sock);
	strcpy(sa.sun_path, sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, errno, "socket: %s", strerror(errno));
	/* A VM that hangs must not hang the command: 10 s for any one send or receive. */
	struct timeval tv = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = errno;
		close(fd);
		return err_set(e, err, "%s: %s", sock, strerror(err));
	}
	char *req = NULL;
	size_t jlen = json ? strlen(json) : 0;
	int n = asprintf(&req, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
	                 "Accept: application/json\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\n\r\n%s", method, path, jlen, json ? json : "");
	if (n < 0) {
		close(fd);
		return err_set(e, ENOMEM, "out of memory");
	}
	ssize_t w = 0;
	for (ssize_t off = 0; off < n; off += w)
		if ((w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL)) <= 0)
			break;
	free(req);
	if (w <= 0) {
		int err = w < 0 ? errno : EIO;
		close(fd);
		return err_set(e, err, "%s: send: %s", sock, strerror(err));
	}
	/* Read the whole response: the server closes after it (Connection: close). */
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ssize_t got = 0;
	while (buf && (got = recv(fd, buf + len, cap - len - 1, 0)) > 0) {
		len += (size_t)got;
		if (cap - len < 2) {
			char *b = cap < (16u << 20) ? realloc(buf, cap * 2) : NULL;
			if (!b) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = b;
			cap *= 2;
		}
	}
	int err = got < 0 ? errno : 0;
	close(fd);
	if (!buf)
		return err_set(e, ENOMEM, "%s: response too large", sock);
	buf[len] = '\0';
	int status;
	char *sep = strstr(buf, "\r\n\r\n");
	if (err || sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || !sep) {
		free(buf);
		return err_set(e, err ? err : EPROTO, "%s: %s", sock,
		               err ? strerror(err) : "not an HTTP response");
	}
	*body = strdup(sep + 4);
	free(buf);
	if (!*body)
		return err_set(e, ENOMEM, "out of memory");
	return status;
}

static void format_uptime(char *out, size_t n, double s)
{
	unsigned long t = (unsigned long)s;
	if (t < 3600)
		snprintf(out, n, "%lum%02lus", t / 60, t % 60);
	else
		snprintf(out, n, "%luh%02lum", t / 3600, t / 60 % 60);
}

int control_ls(FILE *f, struct err *e)
{
	char dir[256];
	int r = rundir_get(dir, sizeof(dir), e);
	if (r)
		return r;
	DIR *d = opendir(dir);
	if (!d)
		return err_set(e, errno, "%s: %s", dir, strerror(errno));
	fprintf(f, "%-20s %8s %-6s %-5s %-8s %5s %8s %8s\n", "NAME", "PID", "ENGINE", "MODE",
	        "STATE", "VCPUS", "MEMORY", "UPTIME");
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 5, ".sock") != 0)
			continue;
		char name[80], sock[512], *body;
		if (n - 5 >= sizeof(name))
			continue;
		memcpy(name, de->d_name, n - 5);
		name[n - 5] = '\0';
		if (!cli_valid_name(name))
			continue;
		snprintf(sock, sizeof(sock), "%s/%s", dir, de->d_name);
		struct err ce;
		int status = api_request(sock, "GET", "/trivisor", NULL, &body, &ce);
		if (status == -ECONNREFUSED || status == -ENOENT) {
			unlink(sock);             /* its trivisor died without cleaning up */
			continue;
		}
		json_t *j = status == 200 ? json_loads(body, 0, NULL) : NULL;
		free(body);
		if (!j) {
			fprintf(f, "%-20s %8s (not answering: %s)\n", name, "-",
			        status < 0 ? ce.msg : "bad reply");
			continue;
		}
		json_int_t pid = 0, vcpus = 0, mib = 0;
		const char *engine = "", *mode = "", *state = "";
		double up = 0;
		json_unpack(j, "{s?I,s?s,s?s,s?s,s?I,s?I,s?F}", "pid", &pid, "engine", &engine,
		            "mode", &mode, "state", &state, "vcpus", &vcpus, "mem_size_mib", &mib,
		            "uptime_s", &up);
		char mem[24], upt[24];
		snprintf(mem, sizeof(mem), "%lldM", (long long)mib);
		format_uptime(upt, sizeof(upt), up);
		fprintf(f, "%-20s %8lld %-6s %-5s %-8s %5lld %8s %8s\n", name, (long long)pid, engine,
		        mode[0] ? mode : "-", state, (long long)vcpus, mem, upt);
		json_decref(j);
	}
	closedir(d);
	return 0;
}

int control_vm(const char *verb, const char *name, struct err *e)
{
	char sock[512], *body;
	int r = rundir_socket(name, sock, sizeof(sock), e);
	if (r)
		return r;
	const char *method = "PATCH", *path = "/vm", *json;
	if (strcmp(verb, "stop") == 0)
		method = "PUT", path = "/actions", json = "{\"action_type\": \"Stop\"}";
	else if (strcmp(verb, "pause") == 0)
		json = "{\"state\": \"Paused\"}";
	else
		json = "{\"state\": \"Resumed\"}";
	int status = api_request(sock, method, path, json, &body, e);
	if (status == -ENOENT || status == -ECONNREFUSED) {
		if (status == -ECONNREFUSED)
			unlink(sock);
		return err_set(e, ENOENT, "no VM named '%s' is running", name);
	}
	if (status < 0)
		return status;
	if (status / 100 != 2) {
		json_t *j = json_loads(body, 0, NULL);
		const char *msg = j ? json_string_value(json_object_get(j, "fault_message")) : NULL;
		err_set(e, EIO, "%s %s: %s", verb, name, msg ? msg : "request refused");
		json_decref(j);
		free(body);
		return -EIO;
	}
	free(body);
	return 0;
}
