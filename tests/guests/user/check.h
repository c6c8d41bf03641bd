/* What the guest user programs (utest, hostile, vecregs) share: one line per check
 * ("ok NAME", "FAIL NAME: why"), a summary line, running a piece of code with the fault
 * signals caught, so that a check expecting a fault gets the signal's details back, and
 * a user-mode busy loop (--warmup) that gets a process moved to native execution under
 * the direct tier. */
#ifndef USER_CHECK_H
#define USER_CHECK_H

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static unsigned passed_, failed_;

static inline void ok(const char *name)
{
	printf("ok %s\n", name);
	passed_++;
}

__attribute__((format(printf, 2, 3)))
static inline void fail(const char *name, const char *fmt, ...)
{
	va_list ap;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed_++;
}

/* Informational lines start with "info" and count as neither. */
static inline int summary(const char *prog)
{
	printf("%s: %u passed, %u failed\n", prog, passed_, failed_);
	fflush(stdout);
	return failed_ ? 1 : 0;
}

/* What a trapped signal said. */
struct caught {
	int signo, code;
	void *addr;      /* si_addr */
	unsigned long rip;
};

static sigjmp_buf trap_jb_;
static struct caught trap_got_;

static inline void trap_handler_(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	trap_got_.signo = sig;
	trap_got_.code = si->si_code;
	trap_got_.addr = si->si_addr;
	trap_got_.rip = (unsigned long)uc->uc_mcontext.gregs[REG_RIP];
	siglongjmp(trap_jb_, 1);
}

static const int trap_signals_[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGALRM };

/* Runs fn(arg) with the fault signals (and SIGALRM, after timeout_ms, so a runaway
 * piece of code ends too) caught. Returns the signal number with its details in *out,
 * or 0 when fn returned. The handlers run on an alternate stack: fn may leave the
 * stack pointer anywhere. */
static inline int run_trapped(void (*fn)(void *), void *arg, struct caught *out, int timeout_ms)
{
	static char altstack[64 * 1024];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa, old[sizeof(trap_signals_) / sizeof(trap_signals_[0])];
	struct itimerval it = { .it_value = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 } };
	struct itimerval off = { 0 };
	unsigned i;
	int got;

	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = trap_handler_;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(trap_signals_) / sizeof(trap_signals_[0]); i++)
		sigaction(trap_signals_[i], &sa, &old[i]);
	memset(&trap_got_, 0, sizeof(trap_got_));
	/* Saving the signal mask: the handler leaves with its signal still blocked. */
	if (sigsetjmp(trap_jb_, 1) == 0) {
		setitimer(ITIMER_REAL, &it, NULL);
		fn(arg);
		got = 0;
	} else {
		got = trap_got_.signo;
	}
	setitimer(ITIMER_REAL, &off, NULL);
	for (i = 0; i < sizeof(trap_signals_) / sizeof(trap_signals_[0]); i++)
		sigaction(trap_signals_[i], &old[i], NULL);
	if (out)
		*out = trap_got_;
	return got;
}

/* A user-mode busy loop of about ms milliseconds: the direct tier moves an address
 * space to native execution only once timer ticks keep finding it in user mode. The
 * clock is read rarely: under the direct tier each read (RDTSC) is an exit, and
 * frequent exits keep a process off it. */
static inline void warm_up(unsigned long ms)
{
	if (!ms)
		return;
	struct timespec t0, t;
	long elapsed_ms;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (volatile int i = 0; i < (1 << 22); i++)
			;
		clock_gettime(CLOCK_MONOTONIC, &t);
		elapsed_ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
	} while ((unsigned long)elapsed_ms < ms);
}

#endif
