/* An LD_PRELOAD library for test_seccomp.py: a thread, started before trivisor's main
 * (so before its seccomp filter), that waits until the FIFO named by
 * TRIVISOR_SECCOMP_PROBE is opened for writing and a byte arrives, then makes a system
 * call trivisor never makes (execve of a path that does not exist) and says what
 * happened on standard error. Under the filter the process dies of SIGSYS first; with
 * --no-seccomp it prints the kernel's answer (ENOENT) and the VM runs on. Nothing of
 * this is in trivisor itself: no guest can reach it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *probe(void *arg)
{
	const char *fifo = arg;
	int fd = open(fifo, O_RDONLY | O_CLOEXEC);
	char c;
	if (fd < 0 || read(fd, &c, 1) != 1)
		return NULL;
	char *argv[] = { "/nonexistent/trivisor-seccomp-probe", NULL }, *envp[] = { NULL };
	long r = syscall(SYS_execve, argv[0], argv, envp);
	dprintf(STDERR_FILENO, "\r\nseccomp probe: execve returned %ld: %s\r\n", r,
	        strerror(errno));
	close(fd);
	return NULL;
}

__attribute__((constructor)) static void start_probe(void)
{
	const char *fifo = getenv("TRIVISOR_SECCOMP_PROBE");
	if (!fifo)
		return;
	/* Every signal stays with trivisor's own threads (its signalfd, the kicks). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_t t;
	if (pthread_create(&t, NULL, probe, (void *)fifo) == 0)
		pthread_detach(t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}
