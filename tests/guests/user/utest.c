/* utest: a self-checking suite of the user-mode mechanisms a guest program relies on,
 * run inside the Linux guest under each soft tier (tests/integration/test_direct.py)
 * and natively on the host as the reference. Every tier must give the same lines.
 *
 *   utest [quick|full]
 *
 * One line per check, "ok NAME" or "FAIL NAME: why" ("info ..." lines are neither), then
 * "utest: N passed, M failed"; exit status 0 only when all pass. `quick` (the default)
 * keeps the loops small enough for the interpreter; `full` runs them ten times longer. */
#define _GNU_SOURCE   /* REG_RIP, sched_setaffinity, strsignal */
#include <cpuid.h>
#include <emmintrin.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <x86intrin.h>

#include "check.h"

static unsigned scale = 1;   /* 10 under `full` */

#define PAGE 4096ul

/* Instructions whose faulting address each check knows: the kernel reports them in
 * si_addr or the signal context, and every tier must report the same. */
asm(".text\n"
    "utest_ud2: ud2\n"
    "	ret\n"
    "utest_int3: int3\n"
    "utest_int3_after: ret\n"
    /* utest_xmm_kill(in, out, pid, sig): xmm0-15 from in, kill(pid, sig), xmm0-15 to
     * out; the syscall keeps r8/r9, and the handler may clobber any vector register. */
    "utest_xmm_kill:\n"
    "	mov %rdi, %r8\n"
    "	mov %rsi, %r9\n"
    "	movdqu 0x00(%r8), %xmm0\n  movdqu 0x10(%r8), %xmm1\n"
    "	movdqu 0x20(%r8), %xmm2\n  movdqu 0x30(%r8), %xmm3\n"
    "	movdqu 0x40(%r8), %xmm4\n  movdqu 0x50(%r8), %xmm5\n"
    "	movdqu 0x60(%r8), %xmm6\n  movdqu 0x70(%r8), %xmm7\n"
    "	movdqu 0x80(%r8), %xmm8\n  movdqu 0x90(%r8), %xmm9\n"
    "	movdqu 0xa0(%r8), %xmm10\n movdqu 0xb0(%r8), %xmm11\n"
    "	movdqu 0xc0(%r8), %xmm12\n movdqu 0xd0(%r8), %xmm13\n"
    "	movdqu 0xe0(%r8), %xmm14\n movdqu 0xf0(%r8), %xmm15\n"
    "	mov %rdx, %rdi\n"
    "	mov %rcx, %rsi\n"
    "	mov $62, %eax\n"
    "	syscall\n"
    "	movdqu %xmm0, 0x00(%r9)\n  movdqu %xmm1, 0x10(%r9)\n"
    "	movdqu %xmm2, 0x20(%r9)\n  movdqu %xmm3, 0x30(%r9)\n"
    "	movdqu %xmm4, 0x40(%r9)\n  movdqu %xmm5, 0x50(%r9)\n"
    "	movdqu %xmm6, 0x60(%r9)\n  movdqu %xmm7, 0x70(%r9)\n"
    "	movdqu %xmm8, 0x80(%r9)\n  movdqu %xmm9, 0x90(%r9)\n"
    "	movdqu %xmm10, 0xa0(%r9)\n movdqu %xmm11, 0xb0(%r9)\n"
    "	movdqu %xmm12, 0xc0(%r9)\n movdqu %xmm13, 0xd0(%r9)\n"
    "	movdqu %xmm14, 0xe0(%r9)\n movdqu %xmm15, 0xf0(%r9)\n"
    "	ret\n");
void utest_ud2(void);
void utest_int3(void);
extern char utest_int3_after[];
void utest_xmm_kill(const void *in, void *out, long pid, long sig);

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* fork() with stdout flushed, so a child never repeats buffered output; the child
 * dies by SIGALRM if it gets stuck, so the parent's wait ends. */
static pid_t fork_child(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		alarm(30);
	return pid;
}

/* The child's wait status, or -1 when waitpid failed. */
static int wait_status(pid_t pid)
{
	int st;
	return waitpid(pid, &st, 0) == pid ? st : -1;
}

static int exited_with(int st, int code)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

/* ---- arithmetic ---------------------------------------------------------------------- */

#define ARITH_N 20000
/* arith_checksum(ARITH_N) on real hardware; it changes whenever the loop does. Only
 * exactly rounded operations (+ - * / sqrt, conversions) so no libm variant chosen by
 * CPUID can change it. */
#define ARITH_EXPECTED 0xdeee63bcb57abe17ull

__attribute__((noinline))
static uint64_t arith_checksum(unsigned n)
{
	uint64_t x = 0x243f6a8885a308d3ull, acc = 0;
	int64_t sacc = 0;
	double d = 1.0, s = 0.0;
	float f = 1.0f;
	long double ld = 1.0L;
	__m128i v = _mm_set_epi32(1, 2, 3, 4);
	__m128d pd = _mm_set_pd(1.5, -2.25);
	for (unsigned i = 1; i <= n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		acc = acc * 31 + x / (i | 1) + (x % (i + 7)) + (acc >> 59);
		sacc += (int64_t)x / -(int64_t)(i | 3) + ((int64_t)x >> 3) % 1000;
		acc ^= (uint64_t)__builtin_popcountll(x) << (i & 31);
		d = d * 1.0000001 + 1.0 / i;
		s += __builtin_sqrt(d) - (double)(int64_t)(d * 0.5);
		f = f * 0.999f + (float)i / 3.0f;
		ld = ld * 1.0001L + (long double)i / 7.0L;
		if (ld > 1e30L)
			ld /= 1e20L;
		v = _mm_add_epi32(_mm_mullo_epi16(v, _mm_set1_epi16(3)), _mm_set1_epi32((int)i));
		v = _mm_shuffle_epi32(v, 0x39);
		v = _mm_xor_si128(v, _mm_srli_epi64(v, 3));
		pd = _mm_add_pd(_mm_mul_pd(pd, _mm_set1_pd(0.75)), _mm_set_pd(i, 1.0 / i));
		pd = _mm_div_pd(pd, _mm_set_pd(1.25, 1.0 + i));
	}
	uint64_t bits[6];
	double ldd = (double)ld, lo = _mm_cvtsd_f64(pd), hi = _mm_cvtsd_f64(_mm_unpackhi_pd(pd, pd));
	memcpy(&bits[0], &d, 8);
	memcpy(&bits[1], &s, 8);
	memcpy(&bits[2], &ldd, 8);
	memcpy(&bits[3], &lo, 8);
	memcpy(&bits[4], &hi, 8);
	uint32_t fb;
	memcpy(&fb, &f, 4);
	bits[5] = fb;
	uint64_t sum = acc ^ (uint64_t)sacc;
	for (int k = 0; k < 6; k++)
		sum = sum * 0x100000001b3ull ^ bits[k];
	sum = sum * 0x100000001b3ull ^ (uint64_t)_mm_cvtsi128_si64(v);
	return sum * 0x100000001b3ull ^ (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v));
}

static void check_arith(void)
{
	for (unsigned r = 0; r < scale; r++) {
		uint64_t got = arith_checksum(ARITH_N);
		if (got != ARITH_EXPECTED) {
			fail("arith", "checksum %#llx, expected %#llx", (unsigned long long)got,
			     ARITH_EXPECTED);
			return;
		}
	}
	ok("arith");
}

/* ---- processes --------------------------------------------------------------------- */

static void check_fork(void)
{
	pid_t parent = getpid();
	pid_t pid = fork_child();
	if (pid == 0)
		_exit(getppid() == parent && getpid() != parent ? 42 : 1);
	int st = pid > 0 ? wait_status(pid) : -1;
	if (exited_with(st, 42))
		ok("fork_exit");
	else
		fail("fork_exit", "pid %d, wait status %#x, expected exit 42", pid, st);

	pid = fork_child();
	if (pid == 0) {
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	st = pid > 0 ? wait_status(pid) : -1;
	if (st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
		ok("fork_signaled");
	else
		fail("fork_signaled", "wait status %#x, expected SIGKILL", st);

	/* Many children alive at once, each with its own status. */
	enum { N = 16 };
	pid_t kids[N];
	int bad = 0;
	for (int i = 0; i < N; i++) {
		kids[i] = fork_child();
		if (kids[i] == 0)
			_exit(100 + i);
	}
	for (int i = 0; i < N; i++)
		if (kids[i] < 0 || !exited_with(wait_status(kids[i]), 100 + i))
			bad++;
	if (bad)
		fail("fork_many", "%d of %d children gave a wrong status", bad, N);
	else
		ok("fork_many");
}

static void check_exec(void)
{
	pid_t pid = fork_child();
	if (pid == 0) {
		char *argv[] = { "utest", "exec-child", "token-1", NULL };
		char *envp[] = { "UTEST_TOKEN=token-2", NULL };
		execve("/proc/self/exe", argv, envp);
		_exit(99);
	}
	int st = pid > 0 ? wait_status(pid) : -1;
	if (exited_with(st, 7))
		ok("exec_self");
	else
		fail("exec_self", "wait status %#x, expected exit 7", st);

	pid = fork_child();
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(99);
	}
	st = pid > 0 ? wait_status(pid) : -1;
	if (exited_with(st, 0))
		ok("exec_true");
	else
		fail("exec_true", "wait status %#x, expected exit 0", st);

	errno = 0;
	int r = execl("/nonexistent/utest", "x", (char *)NULL);
	if (r == -1 && errno == ENOENT)
		ok("exec_enoent");
	else
		fail("exec_enoent", "execl returned %d, errno %d", r, errno);
}

/* The program as the exec_self check runs it: argument and environment must arrive. */
static int exec_child(int argc, char **argv)
{
	const char *tok = getenv("UTEST_TOKEN");
	return argc == 3 && !strcmp(argv[2], "token-1") && tok && !strcmp(tok, "token-2") ? 7 : 8;
}

/* ---- signals ------------------------------------------------------------------------- */

static volatile sig_atomic_t usr_signo, usr_code, usr_pid, usr_value;
static volatile unsigned usr_mxcsr;

static void usr_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	usr_signo = sig;
	usr_code = si->si_code;
	usr_pid = si->si_pid;
	usr_value = si->si_value.sival_int;
	usr_mxcsr = _mm_getcsr();
	/* Clobber every vector register: the interrupted code must get its own back. */
	asm volatile("pcmpeqd %%xmm0, %%xmm0\n pcmpeqd %%xmm1, %%xmm1\n"
	             "pcmpeqd %%xmm2, %%xmm2\n pcmpeqd %%xmm3, %%xmm3\n"
	             "pcmpeqd %%xmm4, %%xmm4\n pcmpeqd %%xmm5, %%xmm5\n"
	             "pcmpeqd %%xmm6, %%xmm6\n pcmpeqd %%xmm7, %%xmm7\n"
	             "pcmpeqd %%xmm8, %%xmm8\n pcmpeqd %%xmm9, %%xmm9\n"
	             "pcmpeqd %%xmm10, %%xmm10\n pcmpeqd %%xmm11, %%xmm11\n"
	             "pcmpeqd %%xmm12, %%xmm12\n pcmpeqd %%xmm13, %%xmm13\n"
	             "pcmpeqd %%xmm14, %%xmm14\n pcmpeqd %%xmm15, %%xmm15\n"
	             ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
	             "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	_mm_setcsr(0x1f80 | 0x6000);   /* round toward zero: must not leak out either */
}

static void on_signal(int sig, void (*h)(int, siginfo_t *, void *))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = h;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void check_sig_user(void)
{
	on_signal(SIGUSR1, usr_handler);
	on_signal(SIGUSR2, usr_handler);
	usr_signo = 0;
	kill(getpid(), SIGUSR1);
	/* A signal a process sends itself, unblocked, arrives before kill returns. */
	if (usr_signo == SIGUSR1 && usr_code == SI_USER && usr_pid == getpid())
		ok("sig_usr1");
	else
		fail("sig_usr1", "signo %d code %d pid %d", usr_signo, usr_code, usr_pid);

	usr_signo = 0;
	sigqueue(getpid(), SIGUSR2, (union sigval){ .sival_int = 4242 });
	if (usr_signo == SIGUSR2 && usr_code == SI_QUEUE && usr_value == 4242)
		ok("sig_queue");
	else
		fail("sig_queue", "signo %d code %d value %d", usr_signo, usr_code, usr_value);

	/* The vector registers and MXCSR survive a handler that changes them all, and the
	 * handler starts with the default MXCSR. */
	unsigned char in[256], out[256];
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	unsigned csr = _mm_getcsr();
	_mm_setcsr(0x1f80 | 0x2000);   /* round down */
	usr_signo = 0;
	utest_xmm_kill(in, out, getpid(), SIGUSR1);
	unsigned after = _mm_getcsr();
	_mm_setcsr(csr);
	if (usr_signo != SIGUSR1)
		fail("sig_fpstate", "the handler did not run (signo %d)", usr_signo);
	else if (memcmp(in, out, sizeof(in)))
		fail("sig_fpstate", "xmm0-15 changed across the handler");
	else if (after != (0x1f80 | 0x2000))
		fail("sig_fpstate", "MXCSR %#x after the handler, expected %#x", after, 0x3f80);
	else if (usr_mxcsr != 0x1f80)
		fail("sig_fpstate", "the handler started with MXCSR %#x, expected 0x1f80", usr_mxcsr);
	else
		ok("sig_fpstate");
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
}

static void read_byte(void *p)
{
	(void)*(volatile char *)p;
}

static void write_byte(void *p)
{
	*(volatile char *)p = 1;
}

static void div_by(void *arg)
{
	long r, divisor = *(long *)arg, dividend = divisor == -1 ? INT64_MIN : 1;
	asm volatile("cqto\n idivq %2" : "+a"(dividend), "=&d"(r) : "r"(divisor));
}

static void call_fn(void *fn)
{
	((void (*)(void))fn)();
}

/* Expects fn(arg) to raise sig with code and (unless addr is NULL) si_addr addr. */
static void expect_signal(const char *name, void (*fn)(void *), void *arg, int sig, int code,
                          void *addr)
{
	struct caught c;
	int got = run_trapped(fn, arg, &c, 5000);
	if (got != sig)
		fail(name, "got signal %d (%s), expected %d (%s)", got, got ? strsignal(got) : "none",
		     sig, strsignal(sig));
	else if (c.code != code)
		fail(name, "si_code %d, expected %d", c.code, code);
	else if (addr && c.addr != addr)
		fail(name, "si_addr %p, expected %p", c.addr, addr);
	else
		ok(name);
}

static volatile sig_atomic_t trap_hits;
static volatile unsigned long trap_rip;
static volatile int trap_code;

static void trap_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	(void)sig;
	trap_hits++;
	trap_code = si->si_code;
	trap_rip = (unsigned long)uc->uc_mcontext.gregs[REG_RIP];
}

static volatile sig_atomic_t alarm_hit;

static void alarm_handler(int sig)
{
	(void)sig;
	alarm_hit = 1;
}

static void check_sig_faults(void)
{
	char *page = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		fail("sig_segv", "mmap: %s", strerror(errno));
	} else {
		expect_signal("sig_segv", read_byte, page + 123, SIGSEGV, SEGV_ACCERR, page + 123);
		munmap(page, PAGE);
	}

	long zero = 0, minus_one = -1;
	expect_signal("sig_fpe_div0", div_by, &zero, SIGFPE, FPE_INTDIV, NULL);
	expect_signal("sig_fpe_overflow", div_by, &minus_one, SIGFPE, FPE_INTDIV, NULL);
	expect_signal("sig_ill_ud2", call_fn, (void *)utest_ud2, SIGILL, ILL_ILLOPN,
	              (void *)utest_ud2);

	/* int3 is a trap: the handler returns and the program goes on after it. */
	on_signal(SIGTRAP, trap_handler);
	trap_hits = 0;
	utest_int3();
	signal(SIGTRAP, SIG_DFL);
	if (trap_hits != 1)
		fail("sig_trap_int3", "%d SIGTRAPs", trap_hits);
	else if (trap_rip != (unsigned long)utest_int3_after)
		fail("sig_trap_int3", "rip %#lx in the handler, expected %p", trap_rip,
		     (void *)utest_int3_after);
	else if (trap_code != SI_KERNEL)
		fail("sig_trap_int3", "si_code %d, expected SI_KERNEL", trap_code);
	else
		ok("sig_trap_int3");

	/* SIGALRM ends a busy loop that makes no system call. */
	signal(SIGALRM, alarm_handler);
	alarm_hit = 0;
	struct itimerval it = { .it_value = { 0, 20000 } };
	uint64_t t0 = now_ns(), t;
	setitimer(ITIMER_REAL, &it, NULL);
	volatile unsigned long spins = 0;
	do {
		for (int i = 0; i < 1024 && !alarm_hit; i++)
			spins++;
		t = now_ns();
	} while (!alarm_hit && t - t0 < 5000000000ull);
	signal(SIGALRM, SIG_DFL);
	if (!alarm_hit)
		fail("sig_alarm", "no SIGALRM after %llu ms", (unsigned long long)(t - t0) / 1000000);
	else if (t - t0 < 15000000)
		fail("sig_alarm", "SIGALRM after %llu us, the timer was 20 ms",
		     (unsigned long long)(t - t0) / 1000);
	else
		ok("sig_alarm");
}

/* ---- threads ----------------------------------------------------------------------- */

static atomic_ulong atomic_count;
static unsigned long locked_count;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread unsigned long tls_id;

static void *worker(void *arg)
{
	unsigned long id = (unsigned long)arg, n = 10000ul * scale, tls_bad = 0;
	tls_id = id;
	for (unsigned long i = 0; i < n; i++) {
		atomic_fetch_add(&atomic_count, 1);
		pthread_mutex_lock(&count_lock);
		locked_count++;
		pthread_mutex_unlock(&count_lock);
		if ((i & 1023) == 0)
			sched_yield();
		/* Each thread's FS base (its TLS) stays its own across switches. */
		if (tls_id != id)
			tls_bad++;
	}
	return (void *)tls_bad;
}

static void check_threads(void)
{
	enum { T = 4 };
	pthread_t th[T];
	unsigned long tls_bad = 0;
	int started = 0;
	for (unsigned long i = 0; i < T; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(i + 1)) == 0)
			started++;
	for (int i = 0; i < started; i++) {
		void *r;
		pthread_join(th[i], &r);
		tls_bad += (unsigned long)r;
	}
	unsigned long want = T * 10000ul * scale;
	if (started != T)
		fail("threads", "%d of %d threads started", started, T);
	else if (atomic_load(&atomic_count) != want || locked_count != want)
		fail("threads", "atomic %lu, locked %lu, expected %lu", atomic_load(&atomic_count),
		     locked_count, want);
	else if (tls_bad)
		fail("threads", "a thread saw another's TLS %lu times", tls_bad);
	else
		ok("threads");
}

/* ---- memory ------------------------------------------------------------------------ */

static void check_mprotect_munmap(void)
{
	char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fail("mprotect_ro", "mmap: %s", strerror(errno));
		return;
	}
	p[10] = 55;
	if (mprotect(p, PAGE, PROT_READ))
		fail("mprotect_ro", "mprotect: %s", strerror(errno));
	else
		expect_signal("mprotect_ro", write_byte, p + 10, SIGSEGV, SEGV_ACCERR, p + 10);
	/* Only the first page changed; reading it still works and writing works again. */
	p[PAGE + 1] = 66;
	mprotect(p, PAGE, PROT_READ | PROT_WRITE);
	p[11] = 77;
	if (p[10] == 55 && p[11] == 77 && p[PAGE + 1] == 66)
		ok("mprotect_rw");
	else
		fail("mprotect_rw", "bytes %d %d %d, expected 55 77 66", p[10], p[11], p[PAGE + 1]);

	munmap(p, PAGE);
	expect_signal("munmap", read_byte, p + 5, SIGSEGV, SEGV_MAPERR, p + 5);
	if (p[PAGE + 1] == 66)
		ok("munmap_partial");
	else
		fail("munmap_partial", "the page after the unmapped one holds %d", p[PAGE + 1]);
	munmap(p + PAGE, PAGE);
}

/* Both directions of a MAP_SHARED anonymous mapping across fork. */
static void check_shared_anon(void)
{
	volatile int *v = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (v == MAP_FAILED) {
		fail("shared_anon", "mmap: %s", strerror(errno));
		return;
	}
	v[0] = 111;
	pid_t pid = fork_child();
	if (pid == 0) {
		int seen = v[0];
		v[1] = 222;
		_exit(seen == 111 ? 0 : 1);
	}
	int st = pid > 0 ? wait_status(pid) : -1;
	if (!exited_with(st, 0))
		fail("shared_anon", "the child did not see the parent's write (status %#x)", st);
	else if (v[1] != 222)
		fail("shared_anon", "the parent sees %d, the child wrote 222", v[1]);
	else
		ok("shared_anon");
	munmap((void *)v, PAGE);
}

static int cow_global = 1;

/* Copy-on-write: after fork, each side's writes stay its own (data, heap, stack). */
static void check_cow(void)
{
	int p2c[2], c2p[2];
	char c;
	volatile int stack_v = 1;
	volatile int *heap = malloc(3 * PAGE);
	if (!heap || pipe(p2c) || pipe(c2p)) {
		fail("cow", "setup: %s", strerror(errno));
		return;
	}
	heap[0] = heap[PAGE / sizeof(int)] = 1;
	cow_global = 1;
	pid_t pid = fork_child();
	if (pid == 0) {
		/* Wait until the parent has written, then check and write ourselves. */
		if (read(p2c[0], &c, 1) != 1)
			_exit(2);
		int seen_old = cow_global == 1 && heap[0] == 1 && heap[PAGE / sizeof(int)] == 1 && stack_v == 1;
		cow_global = 3;
		heap[0] = 3;
		stack_v = 3;
		if (write(c2p[1], "c", 1) != 1)
			_exit(2);
		_exit(seen_old ? 0 : 1);
	}
	cow_global = 2;
	heap[0] = heap[PAGE / sizeof(int)] = 2;
	stack_v = 2;
	if (write(p2c[1], "p", 1) != 1 || read(c2p[0], &c, 1) != 1)
		fail("cow", "pipe: %s", strerror(errno));
	int st = pid > 0 ? wait_status(pid) : -1;
	if (!exited_with(st, 0))
		fail("cow", "the child saw the parent's writes after fork (status %#x)", st);
	else if (cow_global != 2 || heap[0] != 2 || heap[PAGE / sizeof(int)] != 2 || stack_v != 2)
		fail("cow", "the parent sees the child's writes: %d %d %d %d", cow_global, heap[0],
		     heap[PAGE / sizeof(int)], stack_v);
	else
		ok("cow");
	close(p2c[0]), close(p2c[1]), close(c2p[0]), close(c2p[1]);
	free((void *)heap);
}

/* 64 MiB touched one page at a time (each its own fault), then read back. */
static void check_big_mmap(void)
{
	const size_t size = 64ul << 20, pages = size / PAGE;
	uint64_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		fail("big_mmap", "mmap 64 MiB: %s", strerror(errno));
		return;
	}
	uint64_t wsum = 0, rsum = 0, nonzero = 0;
	for (size_t i = 0; i < pages; i++) {
		uint64_t v = (i + 1) * 0x9e3779b97f4a7c15ull;
		m[i * (PAGE / 8) + (i & 511)] = v;
		wsum += v;
	}
	for (size_t i = 0; i < pages; i++) {
		rsum += m[i * (PAGE / 8) + (i & 511)];
		nonzero += m[i * (PAGE / 8) + ((i + 1) & 511)] != 0;
	}
	/* The sum over i of (i + 1) * K, mod 2^64. */
	uint64_t want = (uint64_t)(pages * (pages + 1) / 2) * 0x9e3779b97f4a7c15ull;
	if (wsum != want || rsum != want)
		fail("big_mmap", "checksum %#llx, expected %#llx", (unsigned long long)rsum,
		     (unsigned long long)want);
	else if (nonzero)
		fail("big_mmap", "%llu words that were never written are not zero",
		     (unsigned long long)nonzero);
	else
		ok("big_mmap");
	munmap(m, size);
}

/* ---- pipes ------------------------------------------------------------------------- */

static unsigned char pipe_byte(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 12));
}

static void check_pipe(void)
{
	const size_t total = (256ul << 10) * scale;
	int fd[2];
	if (pipe(fd)) {
		fail("pipe", "pipe: %s", strerror(errno));
		return;
	}
	pid_t pid = fork_child();
	if (pid == 0) {
		close(fd[0]);
		unsigned char buf[4000];
		for (size_t off = 0; off < total;) {
			size_t n = total - off < sizeof(buf) ? total - off : sizeof(buf);
			for (size_t k = 0; k < n; k++)
				buf[k] = pipe_byte(off + k);
			ssize_t w = write(fd[1], buf, n);
			if (w <= 0)
				_exit(1);
			off += (size_t)w;
		}
		_exit(0);
	}
	close(fd[1]);
	size_t got = 0, bad = 0;
	unsigned char buf[8192];
	ssize_t r;
	while ((r = read(fd[0], buf, sizeof(buf))) > 0) {
		for (ssize_t k = 0; k < r; k++)
			bad += buf[k] != pipe_byte(got + (size_t)k);
		got += (size_t)r;
	}
	close(fd[0]);
	int st = pid > 0 ? wait_status(pid) : -1;
	if (got != total || bad || !exited_with(st, 0))
		fail("pipe", "%zu of %zu bytes, %zu wrong, writer status %#x", got, total, bad, st);
	else
		ok("pipe");
}

/* ---- time -------------------------------------------------------------------------- */

static void check_time(void)
{
	unsigned n = 20000 * scale, back = 0;
	uint64_t first = now_ns(), prev = first, t = first;
	for (unsigned i = 0; i < n; i++) {
		t = now_ns();
		back += t < prev;
		prev = t;
	}
	if (back)
		fail("clock_monotonic", "went backwards %u times in %u reads", back, n);
	else if (t == first)
		fail("clock_monotonic", "did not advance over %u reads", n);
	else
		ok("clock_monotonic");

	back = 0;
	uint64_t tfirst = __rdtsc(), tprev = tfirst, tsc = tfirst;
	for (unsigned i = 0; i < n; i++) {
		tsc = __rdtsc();
		back += tsc < tprev;
		tprev = tsc;
	}
	if (back)
		fail("rdtsc_monotonic", "went backwards %u times in %u reads", back, n);
	else if (tsc == tfirst)
		fail("rdtsc_monotonic", "did not advance over %u reads", n);
	else
		ok("rdtsc_monotonic");

	struct timespec ts = { 0, 10000000 };
	uint64_t t0 = now_ns();
	int r = nanosleep(&ts, NULL);
	uint64_t slept = now_ns() - t0;
	if (r)
		fail("nanosleep", "nanosleep: %s", strerror(errno));
	else if (slept < 10000000 || slept > 5000000000ull)
		fail("nanosleep", "10 ms took %llu us", (unsigned long long)slept / 1000);
	else
		ok("nanosleep");
}

static void check_sched_yield(void)
{
	unsigned n = 1000 * scale, bad = 0;
	for (unsigned i = 0; i < n; i++)
		bad += sched_yield() != 0;
	if (bad)
		fail("sched_yield", "%u of %u calls failed", bad, n);
	else
		ok("sched_yield");
}

static void info_cpuid(void)
{
	unsigned a, b, c, d;
	char vendor[13];
	__cpuid(0, a, b, c, d);
	memcpy(vendor, &b, 4);
	memcpy(vendor + 4, &d, 4);
	memcpy(vendor + 8, &c, 4);
	vendor[12] = 0;
	printf("info cpuid: vendor %s, max leaf %#x\n", vendor, a);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "exec-child"))
		return exec_child(argc, argv);
	unsigned long warmup = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "full")) {
			scale = 10;
		} else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) {
			warmup = strtoul(argv[++i], NULL, 0);
		} else if (strcmp(argv[i], "quick")) {
			fprintf(stderr, "usage: utest [quick|full] [--warmup MS]\n");
			return 2;
		}
	}
	/* Under the direct tier: run the checks natively (see warm_up). */
	warm_up(warmup);
	/* Line-buffered even into a pipe: each check's line is out before the next fork. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	info_cpuid();
	check_arith();
	check_fork();
	check_exec();
	check_sig_user();
	check_sig_faults();
	check_threads();
	check_mprotect_munmap();
	check_shared_anon();
	check_cow();
	check_big_mmap();
	check_pipe();
	check_time();
	check_sched_yield();
	return summary("utest");
}
