/* The VMM's seccomp filter (seccomp.h).
 *
 * What a running trivisor does, and so what stays allowed:
 *  - guest I/O: disk images (preadv/pwritev, fdatasync, fallocate for TRIM and write
 *    zeroes), the terminal and pipes (read/write, poll, signalfd, termios ioctls), TAP
 *    (read/write), libslirp's sockets (AF_INET/AF_INET6 stream and datagram sockets,
 *    ICMP through datagram sockets; never raw or packet sockets), eventfds, timers;
 *  - threads: vCPUs, the PIT, slirp, TAP and display threads and the control API's,
 *    made with clone and thread flags only (clone3 answers ENOSYS, so glibc falls back
 *    to clone, whose flags a filter can see), futexes, rseq, signals to its own
 *    threads only (the kvm engine's kick, raise, abort);
 *  - memory: mmap/mprotect/madvise/mremap/munmap/brk (malloc, thread stacks, the
 *    translator's code arena);
 *  - files written at run time: --screen-dump (a temporary file renamed over the
 *    dump), --stats-json at exit, snapshots from the control API (openat, ftruncate,
 *    pwrite, fsync, rename, unlink);
 *  - the kvm engine's ioctls on its VM and vCPU descriptors (engine_ops.runtime_ioctls);
 *  - direct execution (--soft-tier direct): a vCPU thread forks its helper processes
 *    lazily, when a guest process gets busy, so the calls to start and drive them stay
 *    allowed: fork's exact clone flags, ptrace with the requests direct.c makes (no
 *    ATTACH or SEIZE: only its own children, which asked with TRACEME; no PEEK/POKE),
 *    wait4, kill with its kick and SIGKILL, pidfd_open/pidfd_getfd, userfaultfd and its
 *    ioctls, and what the forked child does before it loads its own, stricter filter
 *    (prctl options, arch_prctl for CPUID faulting, capset, setsid, close_range, dup2,
 *    tgkill with SIGSTOP). The helper inherits this filter under its own; the guest's
 *    system calls never reach either (PTRACE_SYSEMU stops them before seccomp runs).
 *    Pre-forking the helpers before the filter was the alternative: but they are
 *    started per guest address space, up to 8 per vCPU, and again when one dies, so
 *    a fixed set made up front would either cost 8 processes per vCPU for every VM
 *    or run out.
 *
 * Not allowed, among others: execve/execveat, ptrace ATTACH/SEIZE/PEEK/POKE, socket
 * families other than Unix and IP (no AF_PACKET, AF_NETLINK), raw sockets, signals to
 * other processes but the helpers' (kill) and SIGSTOP (tgkill), setting resource limits,
 * mount, chroot, setuid and friends, bpf, perf_event_open, kexec, module loading,
 * keyctl, process_vm_readv/writev, open_by_handle_at, unshare/setns, io_uring, and any
 * ioctl request not listed (TIOCSTI, say, or KVM_CREATE_VM).
 *
 * A call not allowed kills the process with SIGSYS (exit status 159 from a shell); the
 * kernel logs it with its number (dmesg: "audit: type=1326 ... syscall=N"). */
#include "seccomp.h"

#include <asm/prctl.h>
#include <errno.h>
#include <linux/sched.h>
#include <linux/userfaultfd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "core/log.h"
#include "engine/engine.h"

/* What glibc's pthread_create (create_thread) and fork (arch_fork) pass to clone. */
#define CLONE_THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SYSVSEM | CLONE_SIGHAND | \
                            CLONE_THREAD | CLONE_SETTLS | CLONE_PARENT_SETTID |              \
                            CLONE_CHILD_CLEARTID)
#define CLONE_FORK_FLAGS (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD)

struct sys {
	int nr;
	const char *name;
};
#define SYS(name) { SCMP_SYS(name), #name }

/* Allowed whatever their arguments. */
static const struct sys plain[] = {
	/* descriptors: guest I/O, the terminal, files written at run time */
	SYS(read), SYS(write), SYS(readv), SYS(writev), SYS(pread64), SYS(pwrite64),
	SYS(preadv), SYS(pwritev), SYS(preadv2), SYS(pwritev2), SYS(lseek), SYS(close),
	SYS(openat), SYS(fstat), SYS(newfstatat), SYS(statx), SYS(fcntl), SYS(dup), SYS(dup2),
	SYS(dup3), SYS(fsync), SYS(fdatasync), SYS(fallocate), SYS(ftruncate), SYS(rename),
	SYS(renameat), SYS(renameat2), SYS(unlink), SYS(unlinkat), SYS(getdents64),
	SYS(flock), SYS(close_range),
	/* waiting and events */
	SYS(poll), SYS(ppoll), SYS(select), SYS(pselect6), SYS(epoll_create1), SYS(epoll_ctl),
	SYS(epoll_wait), SYS(epoll_pwait), SYS(eventfd2), SYS(signalfd4), SYS(timerfd_create),
	SYS(timerfd_settime), SYS(timerfd_gettime), SYS(timer_create), SYS(timer_settime),
	SYS(timer_gettime), SYS(timer_delete), SYS(nanosleep), SYS(clock_nanosleep),
	SYS(clock_gettime), SYS(clock_getres), SYS(gettimeofday), SYS(time), SYS(futex),
	SYS(sched_yield), SYS(restart_syscall), SYS(rt_sigtimedwait),
	/* sockets already made (socket itself is filtered below) */
	SYS(connect), SYS(bind), SYS(listen), SYS(accept), SYS(accept4), SYS(sendto),
	SYS(recvfrom), SYS(sendmsg), SYS(recvmsg), SYS(shutdown), SYS(setsockopt),
	SYS(getsockopt), SYS(getsockname), SYS(getpeername),
	/* memory */
	SYS(mmap), SYS(munmap), SYS(mprotect), SYS(madvise), SYS(mremap), SYS(brk),
	SYS(memfd_create), SYS(msync),
	/* threads and signals */
	SYS(rseq), SYS(set_robust_list), SYS(exit), SYS(exit_group), SYS(gettid), SYS(getpid),
	SYS(getppid), SYS(rt_sigaction), SYS(rt_sigprocmask), SYS(rt_sigreturn),
	SYS(sigaltstack), SYS(sched_getaffinity), SYS(sched_setaffinity), SYS(getrandom),
	/* direct execution: its helper processes (see the top of this file) */
	SYS(wait4), SYS(waitid), SYS(pidfd_open), SYS(pidfd_getfd), SYS(userfaultfd),
	SYS(setsid), SYS(capset),
};

/* Requests on any descriptor: the terminal (isatty, tcgetattr/tcsetattr, its size);
 * FIONREAD: libslirp sizes a datagram before receiving it. */
static const uint32_t fd_ioctls[] = { TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, FIONREAD };

static int add(scmp_filter_ctx ctx, uint32_t action, const struct sys *s, unsigned n,
               const struct scmp_arg_cmp *cmp, struct err *e)
{
	int r = seccomp_rule_add_array(ctx, action, s->nr, n, cmp);
	if (r)
		return err_set(e, -r, "seccomp: cannot add the rule for %s: %s", s->name, strerror(-r));
	return 0;
}

/* Allow s when argument arg equals one of vals[] (masked: only the low 32 bits, for
 * arguments the kernel reads as int). */
static int allow_if(scmp_filter_ctx ctx, struct sys s, unsigned arg, uint64_t mask,
                    const uint64_t *vals, unsigned n, struct err *e)
{
	for (unsigned i = 0; i < n; i++) {
		struct scmp_arg_cmp c = { .arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask,
		                          .datum_b = vals[i] };
		int r = add(ctx, SCMP_ACT_ALLOW, &s, 1, &c, e);
		if (r)
			return r;
	}
	return 0;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int add_filtered(scmp_filter_ctx ctx, const struct engine_ops *engine, struct err *e)
{
	const uint64_t lo32 = 0xffffffffull;
	int r;

	/* ioctl: those above and the engine's, on any descriptor. */
	for (unsigned i = 0; i < N(fd_ioctls); i++) {
		uint64_t req = fd_ioctls[i];
		if ((r = allow_if(ctx, (struct sys)SYS(ioctl), 1, lo32, &req, 1, e)))
			return r;
	}
	for (const uint32_t *p = engine ? engine->runtime_ioctls : NULL; p && *p; p++) {
		uint64_t req = *p;
		if ((r = allow_if(ctx, (struct sys)SYS(ioctl), 1, lo32, &req, 1, e)))
			return r;
	}

	/* socket: Unix (the control API), IPv4 and IPv6 (libslirp), stream or datagram
	 * (ICMP echo goes through datagram sockets), with SOCK_NONBLOCK/SOCK_CLOEXEC. */
	static const int domains[] = { AF_UNIX, AF_INET, AF_INET6 };
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM };
	for (unsigned d = 0; d < N(domains); d++)
		for (unsigned t = 0; t < N(types); t++) {
			struct scmp_arg_cmp c[2] = {
				{ .arg = 0, .op = SCMP_CMP_MASKED_EQ, .datum_a = lo32,
				  .datum_b = (uint64_t)domains[d] },
				{ .arg = 1, .op = SCMP_CMP_MASKED_EQ, .datum_a = 0xf,
				  .datum_b = (uint64_t)types[t] },
			};
			if ((r = add(ctx, SCMP_ACT_ALLOW, &(struct sys)SYS(socket), 2, c, e)))
				return r;
		}

	/* clone: a thread, or a fork (a direct-execution helper); clone3 hides its flags
	 * in memory, so glibc is told it does not exist and falls back to clone. */
	static const uint64_t clone_flags[] = { CLONE_THREAD_FLAGS, CLONE_FORK_FLAGS };
	if ((r = allow_if(ctx, (struct sys)SYS(clone), 0, ~0ull, clone_flags, N(clone_flags), e)) ||
	    (r = add(ctx, SCMP_ACT_ERRNO(ENOSYS), &(struct sys)SYS(clone3), 0, NULL, e)))
		return r;

	/* Signals: kill reaches the direct-execution helpers (their kick, SIGKILL); tgkill
	 * this process's own threads, any signal (the kvm engine's kick, raise, abort), and
	 * SIGSTOP anywhere: a helper, just forked, stops itself for its tracer (raise). */
	static const uint64_t kill_sigs[] = { SIGUSR2, SIGKILL };
	if ((r = allow_if(ctx, (struct sys)SYS(kill), 1, lo32, kill_sigs, N(kill_sigs), e)))
		return r;
	const uint64_t self = (uint64_t)getpid(), stop = SIGSTOP;
	if ((r = allow_if(ctx, (struct sys)SYS(tgkill), 0, lo32, &self, 1, e)) ||
	    (r = allow_if(ctx, (struct sys)SYS(tgkill), 2, lo32, &stop, 1, e)))
		return r;

	/* prlimit64 reading a limit (getrlimit), never setting one. */
	struct scmp_arg_cmp get_only = { .arg = 2, .op = SCMP_CMP_EQ, .datum_a = 0 };
	if ((r = add(ctx, SCMP_ACT_ALLOW, &(struct sys)SYS(prlimit64), 1, &get_only, e)))
		return r;

	/* ptrace: driving the direct-execution helpers, which asked for it (TRACEME). */
	static const uint64_t ptrace_reqs[] = {
		PTRACE_TRACEME, PTRACE_CONT, PTRACE_SYSEMU, PTRACE_GETREGS, PTRACE_SETREGS,
		PTRACE_GETFPREGS, PTRACE_SETFPREGS, PTRACE_GETREGSET, PTRACE_SETREGSET,
		PTRACE_GETSIGINFO, PTRACE_SETOPTIONS,
	};
	if ((r = allow_if(ctx, (struct sys)SYS(ptrace), 0, lo32, ptrace_reqs, N(ptrace_reqs), e)))
		return r;

	/* prctl: a helper's setup (parent-death signal, no_new_privs, RDTSC faulting, its
	 * own seccomp filter) and thread names. arch_prctl: CPUID faulting. */
	static const uint64_t prctls[] = { PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_TSC,
	                                   PR_SET_SECCOMP, PR_SET_NAME, PR_GET_NAME };
	static const uint64_t arch_prctls[] = { ARCH_GET_CPUID, ARCH_SET_CPUID };
	if ((r = allow_if(ctx, (struct sys)SYS(prctl), 0, lo32, prctls, N(prctls), e)) ||
	    (r = allow_if(ctx, (struct sys)SYS(arch_prctl), 0, lo32, arch_prctls, N(arch_prctls), e)))
		return r;
	return 0;
}

int vmm_seccomp_install(const struct engine_ops *engine, struct err *e)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return err_set(e, ENOMEM, "seccomp: cannot make a filter (seccomp_init)");
	int r;
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) ||
	    (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) ||
	    (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1)) ||
	    /* a binary tree of system call numbers instead of a linear list */
	    (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)))
		err_set(e, -r, "seccomp: cannot set the filter's attributes: %s", strerror(-r));
	for (unsigned i = 0; !r && i < N(plain); i++)
		r = add(ctx, SCMP_ACT_ALLOW, &plain[i], 0, NULL, e);
	if (!r)
		r = add_filtered(ctx, engine, e);
	if (!r && (r = seccomp_load(ctx)))
		err_set(e, -r, "seccomp: cannot load the filter into every thread: %s",
		        r == -ESRCH ? "a thread has a filter of its own" : strerror(-r));
	seccomp_release(ctx);
	if (!r)
		log_info("seccomp", "filter installed: a system call trivisor does not make while "
		         "running kills the process (--no-seccomp: no filter)");
	return r;
}
