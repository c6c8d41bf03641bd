/* What one interception costs, for the soft engine's direct execution (guest CPL3 code
 * run natively in a traced helper process): each candidate mechanism is timed over many
 * round trips and printed as microseconds per event. A benchmark, not a test: it never
 * fails on speed, only when a mechanism does not work.
 *
 *   direct_trap [--iters N] [--runs R] [--cpu any|same|split]
 *
 * --iters: events timed per row (default 10000), after a tenth as many untimed.
 * --runs: measure every row R times, rows taking turns; print the median and min-max.
 * --cpu: where the two sides run: as the scheduler likes (any), both on CPU 0 (same),
 *        supervisor on CPU 0 and helper on CPU 1 (split).
 *
 * Rows (the helper is a forked child; the supervisor is this process):
 *  - native getpid, native mmap MAP_FIXED of a memfd page, an in-process SIGSEGV handler
 *    that steps over a store to a PROT_NONE page: references;
 *  - PTRACE_SYSEMU: the helper loops on SYSCALL, the supervisor waits for each
 *    syscall-entry stop and resumes with PTRACE_SYSEMU (the system call never runs);
 *    then the same moving the register state each stop, as a VMM handing it to a guest
 *    kernel must (GETREGS/SETREGS + GETFPREGS/SETFPREGS, or + the XSAVE regset);
 *  - an injected system call: the supervisor points a stopped helper at a
 *    `syscall; int3` gadget, PTRACE_CONT, waits for the SIGTRAP and restores the
 *    registers; then a page fault: the helper stores to an unmapped page, the supervisor
 *    takes the SIGSEGV stop, injects mmap(MAP_FIXED) of a memfd page and resumes;
 *  - seccomp SECCOMP_RET_TRAP: a SIGSYS handler in the helper hands the call to the
 *    supervisor through shared memory (gVisor "systrap" style), with a futex wake/wait
 *    pair each way, or with both sides spinning;
 *  - seccomp SECCOMP_RET_USER_NOTIF: the supervisor answers on the listener fd (and
 *    again with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6+).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create, CPU_SET, REG_RIP; the project defines it for all */
#endif
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* Linux 6.6 uapi, newer than Debian 12's headers. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#define PAGE 4096
#define MAGIC 0x5eed1234L /* what an emulated getpid returns, so the helper can check */

/* dt_gadget: the code the supervisor points a stopped helper at to run one system call.
 * dt_touch(p): one store to p; the in-process SIGSEGV handler resumes at dt_touch_done.
 * The helper is forked from this process, so both are at the same address there. */
__asm__(".text\n"
        ".globl dt_gadget\n"
        "dt_gadget:\n"
        "	syscall\n"
        "	int3\n"
        ".globl dt_gadget_end\n"
        "dt_gadget_end:\n"
        ".globl dt_touch\n"
        "dt_touch:\n"
        "	movb $1, (%rdi)\n"
        ".globl dt_touch_done\n"
        "dt_touch_done:\n"
        "	ret\n");
extern const char dt_gadget[], dt_gadget_end[], dt_touch_done[];
void dt_touch(volatile void *p);

static long raw_getpid(void)
{
	long r;
	__asm__ __volatile__("syscall" : "=a"(r) : "0"((long)SYS_getpid) : "rcx", "r11", "memory");
	return r;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- Errors, the helper process, placement, the watchdog ---- */

enum { OK = 0, FAILED = -1, UNSUPPORTED = -2 };

static const char *g_row;     /* the row being measured, for messages */
static volatile pid_t g_child; /* the helper, killed by the watchdog */

static int fail(const char *what)
{
	fprintf(stderr, "direct_trap: %s: %s: %s\n", g_row, what, strerror(errno));
	return FAILED;
}

static int fail_msg(const char *what)
{
	fprintf(stderr, "direct_trap: %s: %s\n", g_row, what);
	return FAILED;
}

static void on_alarm(int sig)
{
	static const char msg[] = "direct_trap: timed out (a row hung); giving up\n";
	(void)sig;
	if (g_child > 0)
		kill(g_child, SIGKILL);
	(void)!write(2, msg, sizeof msg - 1);
	_exit(2);
}

enum placement { CPU_ANY, CPU_SAME, CPU_SPLIT };
static enum placement g_cpu = CPU_ANY;

/* Pins the calling process: the supervisor to CPU 0, the helper to CPU 0 or 1. */
static int place(int helper)
{
	if (g_cpu == CPU_ANY)
		return 0;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(g_cpu == CPU_SPLIT && helper ? 1 : 0, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

/* How a helper failed: its exit status, from 10 on, indexes this. */
enum {
	HX_PLACE = 10, HX_RETURNED, HX_TRACEME, HX_HOLE, HX_MUNMAP, HX_RESULT, HX_SIGACTION,
	HX_FILTER, HX_NOTIF_FILTER, HX_PIPE,
};
static const char *const helper_failures[] = {
	[HX_PLACE - 10] = "could not set its CPU or PR_SET_PDEATHSIG",
	[HX_RETURNED - 10] = "its body returned",
	[HX_TRACEME - 10] = "PTRACE_TRACEME failed (already traced?)",
	[HX_HOLE - 10] = "could not make an unmapped page",
	[HX_MUNMAP - 10] = "munmap failed",
	[HX_RESULT - 10] = "an intercepted getpid returned the wrong value",
	[HX_SIGACTION - 10] = "sigaction(SIGSYS) failed",
	[HX_FILTER - 10] = "could not install its seccomp filter (RET_TRAP)",
	[HX_NOTIF_FILTER - 10] = "could not install its seccomp filter (RET_USER_NOTIF)",
	[HX_PIPE - 10] = "could not send its listener fd",
};

/* Prints how the helper ended (a wait status) and forgets it. */
static int helper_ended(int st, const char *how)
{
	g_child = 0;
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (code >= 10 && code < 10 + (int)(sizeof helper_failures / sizeof helper_failures[0]))
		fprintf(stderr, "direct_trap: %s: helper failed%s: %s\n", g_row, how, helper_failures[code - 10]);
	else if (WIFEXITED(st))
		fprintf(stderr, "direct_trap: %s: helper exited with status %d%s\n", g_row, code, how);
	else
		fprintf(stderr, "direct_trap: %s: helper killed by signal %d%s\n", g_row, WTERMSIG(st), how);
	return FAILED;
}

/* Forks the helper; body never returns. */
static pid_t spawn(void (*body)(void *), void *arg)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (place(1) || prctl(PR_SET_PDEATHSIG, SIGKILL))
			_exit(HX_PLACE);
		body(arg);
		_exit(HX_RETURNED);
	}
	if (pid > 0)
		g_child = pid;
	return pid;
}

static int reap(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return fail("waitpid");
	g_child = 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? OK : helper_ended(st, "");
}

static void kill_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	g_child = 0;
}

/* Shared with the helper: what it measured or saw. */
struct shared {
	_Atomic uint32_t state; /* seccomp handoff: H_IDLE, H_REQ, H_RESP */
	uint32_t spin;
	int64_t nr, ret;        /* the intercepted call and its result */
	uint64_t args[6];
	uint64_t ns;            /* timed by the helper */
	int64_t last;           /* last getpid result the helper saw */
	long warm, iters;
	int fd;                 /* memfd, or the seccomp listener (helper's number) */
};

static struct shared *shared_new(long warm, long iters)
{
	struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		return NULL;
	memset(s, 0, sizeof *s);
	s->warm = warm;
	s->iters = iters;
	return s;
}

/* ---- References: native ---- */

static int run_native_getpid(long warm, long iters, double *ns)
{
	for (long i = 0; i < warm; i++)
		raw_getpid();
	uint64_t t0 = now_ns();
	for (long i = 0; i < iters; i++)
		raw_getpid();
	*ns = (double)(now_ns() - t0);
	return OK;
}

static int run_native_mmap(long warm, long iters, double *ns)
{
	int fd = memfd_create("direct_trap", 0);
	if (fd < 0)
		return fail("memfd_create");
	if (ftruncate(fd, PAGE)) {
		close(fd);
		return fail("ftruncate");
	}
	char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int r = p == MAP_FAILED ? fail("mmap") : OK;
	uint64_t t0 = 0;
	for (long i = 0; r == OK && i < warm + iters; i++) {
		if (i == warm)
			t0 = now_ns();
		if (mmap(p, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != p)
			r = fail("mmap MAP_FIXED");
	}
	*ns = (double)(now_ns() - t0);
	if (p != MAP_FAILED)
		munmap(p, PAGE);
	close(fd);
	return r;
}

static volatile long g_segv_count;

static void segv_step_over(int sig, siginfo_t *si, void *ucv)
{
	(void)sig, (void)si;
	ucontext_t *uc = ucv;
	greg_t *rip = &uc->uc_mcontext.gregs[REG_RIP];
	if (*rip != (greg_t)(uintptr_t)dt_touch) {
		signal(SIGSEGV, SIG_DFL); /* a real crash: fault again, unhandled */
		return;
	}
	*rip = (greg_t)(uintptr_t)dt_touch_done;
	g_segv_count++;
}

static int run_native_segv(long warm, long iters, double *ns)
{
	char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return fail("mmap");
	if (mprotect(p, PAGE, PROT_NONE)) {
		munmap(p, PAGE);
		return fail("mprotect");
	}
	struct sigaction sa = { .sa_sigaction = segv_step_over, .sa_flags = SA_SIGINFO }, old;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old)) {
		munmap(p, PAGE);
		return fail("sigaction");
	}
	g_segv_count = 0;
	for (long i = 0; i < warm; i++)
		dt_touch(p);
	uint64_t t0 = now_ns();
	for (long i = 0; i < iters; i++)
		dt_touch(p);
	*ns = (double)(now_ns() - t0);
	sigaction(SIGSEGV, &old, NULL);
	munmap(p, PAGE);
	return g_segv_count == warm + iters ? OK : fail_msg("handler count is off");
}

/* ---- ptrace ---- */

/* The helper side: become traced and stop; the supervisor resumes it. */
static void traceme(void)
{
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
		_exit(HX_TRACEME);
	raise(SIGSTOP);
}

/* Waits for the helper's next stop; its signal in *sig (SIGTRAP|0x80: a syscall stop). */
static int wait_stop(pid_t pid, int *sig)
{
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return fail("waitpid");
	if (WIFSTOPPED(st)) {
		*sig = WSTOPSIG(st);
		return OK;
	}
	return helper_ended(st, " instead of stopping");
}

/* Spawns a traced helper and takes its first stop. */
static pid_t spawn_traced(void (*body)(void *), void *arg)
{
	pid_t pid = spawn(body, arg);
	if (pid < 0) {
		fail("fork");
		return -1;
	}
	int sig;
	if (wait_stop(pid, &sig))
		return -1;
	if (sig != SIGSTOP) {
		fail_msg("helper's first stop is not SIGSTOP");
		kill_reap(pid);
		return -1;
	}
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL))) {
		fail("PTRACE_SETOPTIONS");
		kill_reap(pid);
		return -1;
	}
	return pid;
}

static void sysemu_helper(void *arg)
{
	struct shared *s = arg;
	traceme();
	for (;;)
		s->last = raw_getpid(); /* never runs on the host: the supervisor answers */
}

enum regs_move { REGS_NONE, REGS_FP, REGS_XSTATE };

static int run_sysemu(long warm, long iters, double *ns, enum regs_move move)
{
	static uint8_t xstate[65536] __attribute__((aligned(64)));
	struct shared *s = shared_new(warm, iters);
	if (!s)
		return fail("mmap");
	pid_t pid = spawn_traced(sysemu_helper, s);
	if (pid < 0) {
		munmap(s, sizeof *s);
		return FAILED;
	}
	int r = OK;
	uint64_t t0 = 0;
	for (long i = 0; r == OK && i < warm + iters; i++) {
		if (i == warm)
			t0 = now_ns();
		int sig;
		if (ptrace(PTRACE_SYSEMU, pid, NULL, NULL)) {
			r = fail("PTRACE_SYSEMU");
			break;
		}
		if ((r = wait_stop(pid, &sig)))
			break;
		if (sig != (SIGTRAP | 0x80)) {
			r = fail_msg("expected a syscall-entry stop");
			break;
		}
		if (move == REGS_NONE)
			continue;
		struct user_regs_struct regs;
		struct user_fpregs_struct fp;
		struct iovec iov = { xstate, sizeof xstate };
		if (ptrace(PTRACE_GETREGS, pid, NULL, &regs))
			r = fail("PTRACE_GETREGS");
		else if (regs.orig_rax != SYS_getpid)
			r = fail_msg("stopped at an unexpected system call");
		regs.rax = MAGIC;
		if (r == OK && ptrace(PTRACE_SETREGS, pid, NULL, &regs))
			r = fail("PTRACE_SETREGS");
		if (r == OK && move == REGS_FP) {
			if (ptrace(PTRACE_GETFPREGS, pid, NULL, &fp))
				r = fail("PTRACE_GETFPREGS");
			else if (ptrace(PTRACE_SETFPREGS, pid, NULL, &fp))
				r = fail("PTRACE_SETFPREGS");
		}
		if (r == OK && move == REGS_XSTATE) {
			if (ptrace(PTRACE_GETREGSET, pid, (void *)(long)NT_X86_XSTATE, &iov))
				r = fail("PTRACE_GETREGSET NT_X86_XSTATE");
			else if (ptrace(PTRACE_SETREGSET, pid, (void *)(long)NT_X86_XSTATE, &iov))
				r = fail("PTRACE_SETREGSET NT_X86_XSTATE");
		}
	}
	*ns = (double)(now_ns() - t0);
	/* The helper stores each result after the next resume: run it to its next stop. */
	int sig;
	if (r == OK && ptrace(PTRACE_SYSEMU, pid, NULL, NULL))
		r = fail("PTRACE_SYSEMU");
	if (r == OK)
		r = wait_stop(pid, &sig);
	if (r == OK && s->last != (move == REGS_NONE ? -ENOSYS : MAGIC))
		r = fail_msg("the helper's system call was not emulated");
	if (g_child)
		kill_reap(pid);
	munmap(s, sizeof *s);
	return r;
}

static int run_sysemu_plain(long w, long n, double *ns) { return run_sysemu(w, n, ns, REGS_NONE); }
static int run_sysemu_fp(long w, long n, double *ns) { return run_sysemu(w, n, ns, REGS_FP); }
static int run_sysemu_xstate(long w, long n, double *ns) { return run_sysemu(w, n, ns, REGS_XSTATE); }

/* Runs one system call in the stopped helper at the gadget, then puts its registers
 * back as *saved has them. The result (rax) in *ret. */
static int inject(pid_t pid, const struct user_regs_struct *saved, long nr, const long a[6], long *ret)
{
	struct user_regs_struct r = *saved;
	r.rip = (uintptr_t)dt_gadget;
	r.orig_rax = (unsigned long long)-1; /* not in a system call: no restart on resume */
	r.rax = (unsigned long long)nr;
	r.rdi = (unsigned long long)a[0];
	r.rsi = (unsigned long long)a[1];
	r.rdx = (unsigned long long)a[2];
	r.r10 = (unsigned long long)a[3];
	r.r8 = (unsigned long long)a[4];
	r.r9 = (unsigned long long)a[5];
	int sig;
	if (ptrace(PTRACE_SETREGS, pid, NULL, &r))
		return fail("PTRACE_SETREGS (inject)");
	if (ptrace(PTRACE_CONT, pid, NULL, NULL))
		return fail("PTRACE_CONT (inject)");
	if (wait_stop(pid, &sig))
		return FAILED;
	if (ptrace(PTRACE_GETREGS, pid, NULL, &r))
		return fail("PTRACE_GETREGS (inject)");
	if (sig != SIGTRAP || r.rip != (uintptr_t)dt_gadget_end)
		return fail_msg("the injected system call did not stop at the gadget's int3");
	*ret = (long)r.rax;
	if (ptrace(PTRACE_SETREGS, pid, NULL, saved))
		return fail("PTRACE_SETREGS (restore)");
	return OK;
}

static void stopped_helper(void *arg)
{
	(void)arg;
	traceme();
	for (;;)
		pause(); /* never reached: the supervisor only injects */
}

static int run_inject(long warm, long iters, double *ns)
{
	pid_t pid = spawn_traced(stopped_helper, NULL);
	if (pid < 0)
		return FAILED;
	struct user_regs_struct saved;
	int r = ptrace(PTRACE_GETREGS, pid, NULL, &saved) ? fail("PTRACE_GETREGS") : OK;
	static const long none[6];
	uint64_t t0 = 0;
	for (long i = 0; r == OK && i < warm + iters; i++) {
		if (i == warm)
			t0 = now_ns();
		long ret;
		if ((r = inject(pid, &saved, SYS_getpid, none, &ret)) == OK && ret != pid)
			r = fail_msg("injected getpid returned a wrong pid");
	}
	*ns = (double)(now_ns() - t0);
	if (g_child)
		kill_reap(pid);
	return r;
}

/* Stores to a page that is not mapped; the supervisor maps it. Times each store
 * (fault, stop, injected mmap, resume, the store again) but not the munmap after it. */
static void fault_helper(void *arg)
{
	struct shared *s = arg;
	traceme();
	char *p = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || munmap(p, PAGE))
		_exit(HX_HOLE);
	uint64_t sum = 0;
	for (long i = 0; i < s->warm + s->iters; i++) {
		uint64_t t0 = now_ns();
		dt_touch(p);
		if (i >= s->warm)
			sum += now_ns() - t0;
		if (munmap(p, PAGE))
			_exit(HX_MUNMAP);
	}
	s->ns = sum;
	_exit(0);
}

static int run_fault(long warm, long iters, double *ns)
{
	struct shared *s = shared_new(warm, iters);
	if (!s)
		return fail("mmap");
	int r = OK;
	s->fd = memfd_create("direct_trap", 0); /* inherited: the same number in the helper */
	if (s->fd < 0 || ftruncate(s->fd, PAGE)) {
		r = fail("memfd");
		goto out;
	}
	pid_t pid = spawn_traced(fault_helper, s);
	if (pid < 0) {
		r = FAILED;
		goto out;
	}
	long faults = 0;
	while (r == OK) {
		if (ptrace(PTRACE_CONT, pid, NULL, NULL)) {
			r = fail("PTRACE_CONT");
			break;
		}
		int st;
		if (waitpid(pid, &st, 0) < 0) {
			r = fail("waitpid");
			break;
		}
		if (!WIFSTOPPED(st)) {
			g_child = 0;
			if (!WIFEXITED(st) || WEXITSTATUS(st))
				r = helper_ended(st, "");
			break;
		}
		if (WSTOPSIG(st) != SIGSEGV) {
			r = fail_msg("helper stopped by a signal other than SIGSEGV");
			break;
		}
		siginfo_t si;
		struct user_regs_struct saved;
		if (ptrace(PTRACE_GETSIGINFO, pid, NULL, &si)) {
			r = fail("PTRACE_GETSIGINFO");
			break;
		}
		if (ptrace(PTRACE_GETREGS, pid, NULL, &saved)) {
			r = fail("PTRACE_GETREGS");
			break;
		}
		long page = (long)((uintptr_t)si.si_addr & ~(uintptr_t)(PAGE - 1)), ret;
		const long a[6] = { page, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, s->fd, 0 };
		if ((r = inject(pid, &saved, SYS_mmap, a, &ret)) == OK && ret != page)
			r = fail_msg("injected mmap failed");
		faults++;
	}
	if (r == OK && faults != warm + iters)
		r = fail_msg("fault count is off");
	*ns = (double)s->ns;
	if (g_child)
		kill_reap(pid);
out:
	if (s->fd >= 0)
		close(s->fd);
	munmap(s, sizeof *s);
	return r;
}

/* ---- seccomp ---- */

static int install_filter(uint32_t action, unsigned flags)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof f / sizeof f[0], f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/* The helper's getpid loop under a filter; its time into s->ns. */
static void seccomp_loop(struct shared *s)
{
	for (long i = 0; i < s->warm; i++)
		if (raw_getpid() != MAGIC)
			_exit(HX_RESULT);
	uint64_t t0 = now_ns();
	for (long i = 0; i < s->iters; i++)
		raw_getpid();
	s->ns = now_ns() - t0;
	_exit(0);
}

enum { H_IDLE, H_REQ, H_RESP };

static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *timeout)
{
	return syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

/* Waits until *word is want (futex or spin); from other values it sleeps on their change. */
static void await(struct shared *s, uint32_t want, const struct timespec *timeout)
{
	uint32_t v;
	while ((v = atomic_load(&s->state)) != want) {
		if (s->spin)
			__builtin_ia32_pause();
		else if (futex(&s->state, FUTEX_WAIT, v, timeout) && errno == ETIMEDOUT)
			return;
	}
}

static void post(struct shared *s, uint32_t state)
{
	atomic_store(&s->state, state);
	if (!s->spin)
		futex(&s->state, FUTEX_WAKE, 1, NULL);
}

static struct shared *g_sys; /* the helper's handoff page, for its SIGSYS handler */

static void sigsys_handoff(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	struct shared *s = g_sys;
	s->nr = si->si_syscall;
	s->args[0] = (uint64_t)g[REG_RDI];
	s->args[1] = (uint64_t)g[REG_RSI];
	s->args[2] = (uint64_t)g[REG_RDX];
	s->args[3] = (uint64_t)g[REG_R10];
	s->args[4] = (uint64_t)g[REG_R8];
	s->args[5] = (uint64_t)g[REG_R9];
	post(s, H_REQ);
	await(s, H_RESP, NULL);
	g[REG_RAX] = (greg_t)s->ret;
	atomic_store(&s->state, H_IDLE);
}

static void systrap_helper(void *arg)
{
	g_sys = arg;
	struct sigaction sa = { .sa_sigaction = sigsys_handoff, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL))
		_exit(HX_SIGACTION);
	if (install_filter(SECCOMP_RET_TRAP, 0))
		_exit(HX_FILTER);
	seccomp_loop(arg);
}

static int run_systrap(long warm, long iters, double *ns, int spin)
{
	struct shared *s = shared_new(warm, iters);
	if (!s)
		return fail("mmap");
	s->spin = (uint32_t)spin;
	pid_t pid = spawn(systrap_helper, s);
	int r = pid < 0 ? fail("fork") : OK;
	const struct timespec second = { 1, 0 };
	for (long i = 0; r == OK && i < warm + iters; i++) {
		await(s, H_REQ, &second);
		if (atomic_load(&s->state) != H_REQ) { /* timed out: the helper died? */
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid)
				r = helper_ended(st, "");
			i--;
			continue;
		}
		if (s->nr != SYS_getpid) {
			r = fail_msg("unexpected system call in SIGSYS");
			break;
		}
		s->ret = MAGIC;
		post(s, H_RESP);
	}
	if (r == OK)
		r = reap(pid);
	else if (g_child)
		kill_reap(pid);
	*ns = (double)s->ns;
	munmap(s, sizeof *s);
	return r;
}

static int run_systrap_futex(long w, long n, double *ns) { return run_systrap(w, n, ns, 0); }

/* Spinning makes sense only with each side on a CPU of its own (on one CPU each spin
 * lasts until the scheduler preempts it): this row is always measured --cpu split. */
static int run_systrap_spin(long w, long n, double *ns)
{
	if (g_cpu == CPU_SAME || sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "direct_trap: %s: needs two CPUs, one for each side\n", g_row);
		return UNSUPPORTED;
	}
	cpu_set_t old;
	if (sched_getaffinity(0, sizeof old, &old))
		return fail("sched_getaffinity");
	enum placement was = g_cpu;
	g_cpu = CPU_SPLIT;
	int r = place(0) ? fail("sched_setaffinity") : run_systrap(w, n, ns, 1);
	g_cpu = was;
	if (sched_setaffinity(0, sizeof old, &old) && r == OK)
		r = fail("sched_setaffinity");
	return r;
}

struct unotif_arg {
	struct shared *s;
	int pipe_w;
};

static void unotif_helper(void *arg)
{
	struct unotif_arg *a = arg;
	int fd = install_filter(SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER);
	if (fd < 0)
		_exit(HX_NOTIF_FILTER);
	if (write(a->pipe_w, &fd, sizeof fd) != sizeof fd)
		_exit(HX_PIPE);
	close(a->pipe_w);
	seccomp_loop(a->s);
}

static int run_unotif(long warm, long iters, double *ns, int sync_wake)
{
	int pfd[2];
	if (pipe(pfd))
		return fail("pipe");
	struct unotif_arg a = { shared_new(warm, iters), pfd[1] };
	if (!a.s) {
		close(pfd[0]);
		close(pfd[1]);
		return fail("mmap");
	}
	pid_t pid = spawn(unotif_helper, &a);
	close(pfd[1]);
	int r = pid < 0 ? fail("fork") : OK, fd = -1, pidfd = -1, lfd = -1;
	if (r == OK && read(pfd[0], &fd, sizeof fd) != sizeof fd)
		r = reap(pid) ? FAILED : fail_msg("helper sent no listener fd"); /* reap says why */
	close(pfd[0]);
	/* Take the listener from the helper (the same as receiving it over a socket). */
	if (r == OK && (pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0)
		r = fail("pidfd_open");
	if (r == OK && (lfd = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0)) < 0)
		r = fail("pidfd_getfd");
	uint64_t flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
	if (r == OK && sync_wake && ioctl(lfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags)) {
		fprintf(stderr, "direct_trap: %s: SECCOMP_IOCTL_NOTIF_SET_FLAGS: %s (Linux 6.6+)\n", g_row,
		        strerror(errno));
		r = UNSUPPORTED;
	}
	for (long i = 0; r == OK && i < warm + iters; i++) {
		struct seccomp_notif req;
		memset(&req, 0, sizeof req);
		if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, &req)) {
			r = fail("SECCOMP_IOCTL_NOTIF_RECV");
			break;
		}
		if (req.data.nr != SYS_getpid) {
			r = fail_msg("unexpected system call notified");
			break;
		}
		struct seccomp_notif_resp resp = { .id = req.id, .val = MAGIC };
		if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &resp))
			r = fail("SECCOMP_IOCTL_NOTIF_SEND");
	}
	if (r == OK)
		r = reap(pid);
	else if (pid > 0 && g_child)
		kill_reap(pid);
	*ns = (double)a.s->ns;
	if (lfd >= 0)
		close(lfd);
	if (pidfd >= 0)
		close(pidfd);
	munmap(a.s, sizeof *a.s);
	return r;
}

static int run_unotif_plain(long w, long n, double *ns) { return run_unotif(w, n, ns, 0); }
static int run_unotif_sync(long w, long n, double *ns) { return run_unotif(w, n, ns, 1); }

/* ---- The table ---- */

static const struct row {
	const char *name;
	int (*run)(long warm, long iters, double *ns);
} rows[] = {
	{ "native getpid (SYSCALL)", run_native_getpid },
	{ "native mmap MAP_FIXED, a memfd page", run_native_mmap },
	{ "native SIGSEGV to an in-process handler", run_native_segv },
	{ "ptrace SYSEMU syscall stop", run_sysemu_plain },
	{ "  + GETREGS/SETREGS/GETFPREGS/SETFPREGS", run_sysemu_fp },
	{ "  + GETREGS/SETREGS + XSTATE regset get/set", run_sysemu_xstate },
	{ "ptrace injected syscall (getpid)", run_inject },
	{ "ptrace page fault: SIGSEGV + injected mmap", run_fault },
	{ "seccomp TRAP, SIGSYS, futex handoff", run_systrap_futex },
	{ "seccomp TRAP, SIGSYS, spinning (2 CPUs)", run_systrap_spin },
	{ "seccomp USER_NOTIF", run_unotif_plain },
	{ "seccomp USER_NOTIF, SYNC_WAKE_UP", run_unotif_sync },
};
#define NROWS (sizeof rows / sizeof rows[0])

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static long parse_long(const char *opt, const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s ? s : "", &end, 10);
	if (!s || errno || *end || end == s || v < min || v > max) {
		fprintf(stderr, "direct_trap: %s wants a number from %ld to %ld\n", opt, min, max);
		exit(2);
	}
	return v;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: direct_trap [--iters N] [--runs R] [--cpu any|same|split]\n"
	           "  per-event cost of ptrace, seccomp and signal interception (see the source)\n");
}

int main(int argc, char **argv)
{
	long iters = 10000, runs = 1;
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--iters"))
			iters = parse_long("--iters", v, 1, 100000000), i++;
		else if (!strcmp(argv[i], "--runs"))
			runs = parse_long("--runs", v, 1, 1000), i++;
		else if (!strcmp(argv[i], "--cpu") && v) {
			i++;
			if (!strcmp(v, "any"))
				g_cpu = CPU_ANY;
			else if (!strcmp(v, "same"))
				g_cpu = CPU_SAME;
			else if (!strcmp(v, "split"))
				g_cpu = CPU_SPLIT;
			else {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (g_cpu == CPU_SPLIT && sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "direct_trap: --cpu split needs two CPUs\n");
		return 2;
	}
	if (place(0)) {
		perror("direct_trap: sched_setaffinity");
		return 1;
	}
	signal(SIGALRM, on_alarm);

	long warm = iters / 10 > 100 ? iters / 10 : 100;
	static double us[NROWS][1000];
	int status[NROWS] = { 0 };
	for (long run = 0; run < runs; run++) {
		for (size_t k = 0; k < NROWS; k++) {
			if (status[k])
				continue; /* failed or unsupported once: not again */
			g_row = rows[k].name;
			double ns = 0;
			alarm(60 + (unsigned)(iters / 1000)); /* 1 ms an event and a minute to spare */
			status[k] = rows[k].run(warm, iters, &ns);
			alarm(0);
			us[k][run] = ns / (double)iters / 1000.0;
		}
	}

	struct utsname u;
	uname(&u);
	printf("direct_trap: Linux %s, %ld CPUs online, --cpu %s, %ld iterations a row after %ld untimed,"
	       " %ld run%s\n",
	       u.release, sysconf(_SC_NPROCESSORS_ONLN),
	       g_cpu == CPU_ANY ? "any" : g_cpu == CPU_SAME ? "same" : "split", iters, warm, runs,
	       runs > 1 ? "s (median, min-max)" : "");
	printf("%-46s %10s %10s\n", "mechanism", "iters", "us/event");
	int failed = 0;
	for (size_t k = 0; k < NROWS; k++) {
		printf("%-46s %10ld ", rows[k].name, iters);
		if (status[k]) {
			printf("%10s\n", status[k] == UNSUPPORTED ? "n/a" : "FAILED");
			failed |= status[k] == FAILED;
			continue;
		}
		qsort(us[k], (size_t)runs, sizeof us[k][0], cmp_double);
		printf("%10.3f", (us[k][(runs - 1) / 2] + us[k][runs / 2]) / 2);
		if (runs > 1)
			printf("  (%.3f-%.3f)", us[k][0], us[k][runs - 1]);
		printf("\n");
	}
	return failed;
}
