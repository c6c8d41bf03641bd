/* The VMM's seccomp filter (host/seccomp.h), installed for real, each time in a forked
 * child: what a running trivisor does stays allowed (checked call by call), anything
 * else kills the whole process with SIGSYS, from any thread, including one that
 * existed before the filter went in (TSYNC). */
#include "check.h"
#include "engine/engine.h"
#include "host/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int report_fd = -1;   /* the child's end of the pipe to the parent */

static void say(const char *what)
{
	ssize_t n = write(report_fd, what, strlen(what));
	(void)n;
}

/* Run fn in a child that installed the filter (with engine's ioctls) first; returns
 * its wait status, and what it wrote (a write to a pipe: allowed) in out. */
static int in_child(const struct engine_ops *engine, void (*fn)(void), char *out, size_t outsz)
{
	int p[2];
	if (pipe(p))
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		report_fd = p[1];
		struct err e = { "" };
		if (vmm_seccomp_install(engine, &e)) {
			fprintf(stderr, "%s\n", e.msg);
			_exit(100);
		}
		say("installed ");
		fn();
		_exit(0);
	}
	close(p[1]);
	size_t got = 0;
	ssize_t n;
	while (got + 1 < outsz && (n = read(p[0], out + got, outsz - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

static bool killed_by_sigsys(int st)
{
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
}

/* ---- allowed: what the VMM does after setup ---- */

static void *thread_fn(void *arg)
{
	return arg;
}

static bool status_has(const char *line)
{
	char buf[8192];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, line) != NULL;
}

/* Each step says its name once it worked; the parent looks for them all. */
static void allowed_calls(void)
{
	if (status_has("\nSeccomp:\t2\n") && status_has("\nNoNewPrivs:\t1\n"))
		say("status ");
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int s6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int avail = -1;
	if (s >= 0 && s6 >= 0 && u >= 0 && ioctl(s, FIONREAD, &avail) == 0)
		say("sockets ");
	close(s);
	close(s6);
	close(u);
	pthread_t t;
	void *ret = NULL;
	if (pthread_create(&t, NULL, thread_fn, (void *)0x1234) == 0 && pthread_join(t, &ret) == 0 &&
	    ret == (void *)0x1234)
		say("thread ");
	/* A signal to one of its own threads (the kvm engine's kick), prlimit64 reading. */
	struct sigaction sa = { .sa_handler = SIG_IGN };
	struct rlimit rl;
	if (sigaction(SIGUSR1, &sa, NULL) == 0 && pthread_kill(pthread_self(), SIGUSR1) == 0 &&
	    getrlimit(RLIMIT_NOFILE, &rl) == 0)
		say("signal ");
	pid_t pid = fork();   /* what starts a direct-execution helper */
	if (pid == 0)
		_exit(7);
	int st;
	if (pid > 0 && waitpid(pid, &st, __WALL) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7)
		say("fork ");
	if (syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS)
		say("clone3-enosys ");
	void *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m != MAP_FAILED && mprotect(m, 4096, PROT_READ | PROT_EXEC) == 0 && munmap(m, 8192) == 0)
		say("mmap ");
	/* A file written as --screen-dump and snapshots write theirs: a temporary file,
	 * synced and renamed over the old one. */
	char tmp[64], path[64];
	snprintf(tmp, sizeof(tmp), "/tmp/trivisor-seccomp-%d.tmp", (int)getpid());
	snprintf(path, sizeof(path), "/tmp/trivisor-seccomp-%d", (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	struct stat sb;
	if (fd >= 0 && pwrite(fd, "x", 1, 4096) == 1 && ftruncate(fd, 8192) == 0 && fsync(fd) == 0 &&
	    fstat(fd, &sb) == 0 && close(fd) == 0 && rename(tmp, path) == 0 && unlink(path) == 0)
		say("file ");
}

/* A KVM request on a descriptor that is not KVM's: the kernel's answer (ENOTTY). */
static void kvm_ioctl(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);
	if (fd >= 0 && ioctl(fd, KVM_RUN, 0) < 0 && errno == ENOTTY)
		say("kvm-ioctl ");
}

/* ---- forbidden ---- */

static void do_execve(void)
{
	char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };
	say("before ");
	execve("/bin/true", argv, envp);
}

static void do_packet_socket(void)
{
	say("before ");
	socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
}

static void do_raw_socket(void)
{
	say("before ");
	socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
}

static void do_netlink_socket(void)
{
	say("before ");
	socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

static void do_ptrace_attach(void)
{
	say("before ");
	ptrace(PTRACE_ATTACH, getppid(), 0, 0);
}

static void do_tiocsti(void)
{
	char c = 'x';
	say("before ");
	ioctl(STDIN_FILENO, TIOCSTI, &c);   /* typing into the terminal */
}

static void do_kvm_run(void)
{
	say("before ");
	ioctl(STDIN_FILENO, KVM_RUN, 0);   /* allowed with the kvm engine only */
}

static void do_kill_sigterm(void)
{
	say("before ");
	kill(getpid(), SIGTERM);   /* not one of the helpers' signals */
}

static void do_tgkill_other(void)
{
	say("before ");
	pid_t parent = getppid();
	syscall(SYS_tgkill, parent, parent, SIGCONT);   /* another process's thread */
}

static void do_clone_newuser(void)
{
	say("before ");
	if (syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0) == 0)
		_exit(0);
}

static void do_unshare(void)
{
	say("before ");
	unshare(CLONE_NEWNS);
}

static void do_mount(void)
{
	say("before ");
	mount("none", "/tmp", "tmpfs", 0, NULL);
}

static void do_ptrace_peek(void)
{
	say("before ");
	ptrace(PTRACE_PEEKDATA, getppid(), 0, 0);
}

/* TSYNC: a thread that was there before the filter went in. */
static int go[2];

static void *old_thread(void *arg)
{
	char c;
	if (read(go[0], &c, 1) == 1)
		do_execve();
	return NULL;
}

static pthread_t early;

static void from_old_thread(void)
{
	ssize_t n = write(go[1], "g", 1);
	(void)n;
	pthread_join(early, NULL);
}

int main(void)
{
	char out[256];
	int st;

	st = in_child(&engine_soft, allowed_calls, out, sizeof(out));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	static const char *const steps[] = { "installed ", "status ", "sockets ", "thread ", "signal ", "fork ",
	                                     "clone3-enosys ", "mmap ", "file " };
	for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (!strstr(out, steps[i]))
			fprintf(stderr, "allowed under the filter, but failed: %s(got: %s)\n", steps[i], out);
	for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		CHECK(strstr(out, steps[i]) != NULL);
	/* ... and with the kvm engine's filter, KVM_RUN too (the soft engine's kills, below). */
	st = in_child(&engine_kvm, allowed_calls, out, sizeof(out));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(strstr(out, "file ") != NULL);
	st = in_child(&engine_kvm, kvm_ioctl, out, sizeof(out));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_STR(out, "installed kvm-ioctl ");

	static const struct {
		const char *name;
		void (*fn)(void);
	} forbidden[] = {
		{ "execve", do_execve }, { "socket(AF_PACKET)", do_packet_socket },
		{ "socket(AF_INET, SOCK_RAW)", do_raw_socket }, { "socket(AF_NETLINK)", do_netlink_socket },
		{ "ptrace(PTRACE_ATTACH)", do_ptrace_attach }, { "ptrace(PTRACE_PEEKDATA)", do_ptrace_peek },
		{ "ioctl(TIOCSTI)", do_tiocsti }, { "ioctl(KVM_RUN) under soft", do_kvm_run },
		{ "kill(SIGTERM)", do_kill_sigterm }, { "tgkill(parent)", do_tgkill_other },
		{ "clone(CLONE_NEWUSER)", do_clone_newuser },
		{ "unshare", do_unshare }, { "mount", do_mount },
	};
	for (unsigned i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		st = in_child(&engine_soft, forbidden[i].fn, out, sizeof(out));
		if (!killed_by_sigsys(st) || strcmp(out, "installed before "))
			fprintf(stderr, "%s: wait status %#x, said '%s'\n", forbidden[i].name, st, out);
		CHECK(killed_by_sigsys(st));
		CHECK_STR(out, "installed before ");
	}

	/* A thread started before the filter: it has it too, and its forbidden call kills
	 * the whole process. */
	CHECK_EQ(pipe(go), 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (pthread_create(&early, NULL, old_thread, NULL))
			_exit(101);
		int p[2];
		if (pipe(p))
			_exit(102);
		report_fd = p[1];
		struct err e = { "" };
		if (vmm_seccomp_install(NULL, &e))
			_exit(100);
		from_old_thread();
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(killed_by_sigsys(st));
	return check_done();
}
