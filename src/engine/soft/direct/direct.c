/* Direct execution of guest user code (direct.h).
 *
 * The helper. A child of the vCPU thread, forked lazily, that keeps nothing of the VMM:
 * the first thing it runs is stub.S, on two pages of its own at a random free address in
 * [2^40, 2^46), which unmaps every other page it has. It keeps the guest-RAM memfd (its
 * only descriptor), no capabilities, no_new_privs, a new session, CPUID faulting where
 * the host has it, RDTSC faulting, and a seccomp filter allowing only mmap of that
 * memfd, munmap, madvise and exit_group (anything else raises SIGSYS, which the VMM
 * catches). Its two pages are empty whenever guest code runs: a userfaultfd (its
 * SIGBUS mode) lets the VMM fill them before each run of the stub, whose last command
 * empties them again, so guest code touching them gets the guest's own #PF. It dies
 * with the vCPU thread (PR_SET_PDEATHSIG, PTRACE_O_EXITKILL).
 *
 * Entering guest user code: PTRACE_SETREGS/SETFPREGS from the soft CPU (general
 * registers, RIP, the arithmetic flags, FS/GS base, x87/SSE state), then PTRACE_SYSEMU:
 * the helper runs until it makes a system call or takes a signal, and the VMM's waitpid
 * returns. The host never executes a system call of the guest's: SYSEMU stops at the
 * entry of each one and skips it, whatever the instruction (SYSCALL, INT 0x80,
 * SYSENTER) and wherever it is, the stub included.
 *
 * Every event goes back to the guest kernel the same way: the registers go back into
 * the soft CPU, and the instruction at RIP runs once on the interpreter (soft_step),
 * which does whatever the guest's CPU would: SYSCALL enters the guest kernel; a page
 * the mirror lacks is walked through the guest's page tables (setting accessed/dirty)
 * and either used or turned into the guest's #PF with its error code and CR2; CPUID
 * answers with the guest's CPU model; RDTSC reads the guest's clock; a privileged or
 * invalid instruction gets the guest's #GP or #UD. After a page fault the page the
 * host faulted on is mapped into the mirror, with the guest's rights (write only once
 * the guest's dirty flag is set, so that dirty tracking stays exact).
 * Interrupts: other threads kick the helper with a signal (soft_direct_kick), and the
 * vCPU's own timer deadline is a POSIX timer signalling the vCPU thread, whose handler
 * kicks the helper.
 *
 * The mirror follows the guest's TLB semantics: INVLPG drops the page, a flush (MOV
 * CR3) makes the next entry re-walk every mirrored page and drop the ones whose
 * translation or rights changed (the soft CPU counts flushes and lists INVLPGs,
 * cpu.h). One helper per address space (CR3 and the top-level entries it points to),
 * POOL of them per vCPU, the least recently used one reset for a new one.
 *
 * Which code goes direct: an address space earns it by being at CPL 3 when TICKS_HOT
 * external interrupts (the guest's timer ticks, mostly) arrive; it loses it when its
 * native runs between exits get short (a system-call or page-fault storm, where a round
 * trip per event loses to the translator), and then needs twice the ticks to return. */
#include "engine/soft/direct/direct.h"

#include <asm/prctl.h>
#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/elf.h>

#include "core/log.h"
#include "engine/soft/cpu.h"
#include "engine/soft/soft.h"
#include "engine/soft/sys/sys.h"

#define POOL 8              /* helpers per vCPU */
#define AS_MAX 64           /* address spaces a vCPU keeps heat for */
#define TICKS_HOT 3         /* user-mode interrupts before an address space goes direct */
#define TICKS_MAX 48        /* ... at most, however often it was demoted */
#define SLOWDOWN 5          /* about how much slower the translator runs user code */
#define AROUND 16           /* pages mapped around a faulting one (an aligned group) */
#define MIRROR_MAX 32768    /* pages one helper mirrors before it starts afresh */
#define IDX_BITS 16         /* mirror hash: 2^16 slots, at most half full */
#define USER_BOTTOM 0x10000ull           /* the host's mmap_min_addr */
#define USER_TOP 0x7ffffffff000ull       /* the host's TASK_SIZE (4-level paging) */
#define BASE_LO (1ull << 40)             /* where a helper's own two pages may go */
#define BASE_HI (1ull << 46)
#define RAM_FD 3                         /* the guest-RAM memfd, in the helper */
#define UFFD_FD 4                        /* its userfaultfd, until the VMM took it */
#define KICK_SIG SIGUSR2
#define CMD_WORDS 7
#define CMD_MAX (4096 / (CMD_WORDS * 8) - 2)   /* room for the MADV_DONTNEED and the end */
#define HOST_USER_CS 0x33                /* Linux's 64-bit user code and stack segments */
#define HOST_USER_SS 0x2b
#define PHYS_MASK 0x000ffffffffff000ull
/* RFLAGS bits user code owns (the rest are the guest kernel's, or the host's). */
#define USER_FLAGS (FL_ARITH | FL_DF | FL_AC | FL_ID)

extern const uint8_t soft_direct_stub[], soft_direct_stub_fail[], soft_direct_stub_end[];

struct mpage {
	uint64_t la;       /* page address | mirrored PROT_* bits */
	uint64_t pa;
};

struct helper {
	pid_t pid;               /* 0: not started */
	uint64_t base;           /* its code page; the command page follows */
	uint8_t *img;            /* what the VMM puts there: the stub, then the commands */
	uint64_t *cmd;           /* = img + 4096 */
	int uffd;                /* its userfaultfd over the two pages (they are empty while
	                          * guest code runs: a touch is a SIGBUS), -1: none */
	unsigned ncmd;
	uint64_t key;            /* the address space it mirrors (as_key), 0: none */
	uint64_t gen_seen;       /* soft_cpu.paging_gen it is in step with */
	unsigned inv_seen;       /* ... and how much of soft_cpu.invlpg[] */
	uint64_t used;           /* LRU stamp */
	struct mpage *pages;     /* the mirror: dense array */
	uint32_t npages;
	uint32_t *idx;           /* open addressing over pages[]: index + 1, 0 empty */
};

struct aspace {
	uint64_t key;
	uint32_t ticks, need;    /* user-mode interrupts seen, needed to go direct */
	bool hot;
	bool fresh;              /* just promoted: its mirror's writable pages may hold code
	                          * the translator decoded meanwhile */
	uint32_t exits;          /* since it went direct */
	uint64_t avg_native_ns;  /* moving averages, per exit: time its code ran natively, */
	uint64_t avg_cost_ns;    /* ... and what the exit cost beyond (round trips, mirror) */
	uint64_t used;
};

struct soft_direct {
	struct guest_mem *mem;
	soft_direct_written_fn written;
	void *opaque;
	struct helper pool[POOL];
	struct aspace as[AS_MAX];
	struct aspace *cur;      /* the address space of soft_cpu.direct_cr3 */
	uint64_t clock;          /* LRU stamps */
	uint64_t rt_ns;          /* a round trip's cost, as the last helper started measured it */
	uint8_t fx[512];         /* the x87/SSE image helper fx_pid has (fx_valid) */
	bool fx_valid;
	pid_t fx_pid;
	pid_t running;           /* atomic: the helper running guest code, 0: none */
	bool pending;            /* map pending_la once back at CPL 3 under pending_cr3 */
	uint64_t pending_la, pending_cr3;
	timer_t timer;
	bool have_timer;
	uint64_t armed;          /* the deadline the timer is set to */
	bool cpuid_faulting;     /* the helpers' CPUID faults (else they see the host's) */
	bool trace;              /* TRIVISOR_DIRECT_TRACE: one line per exit on stderr */
	bool pinned;             /* the vCPU thread was given its one host CPU */
	bool start_warned;       /* a helper could not start: said once */
	uint64_t fixed_base;     /* TRIVISOR_DIRECT_BASE: where every helper's pages go (tests) */
	unsigned vcpu_id;
	struct sock_fprog filter;
	uint8_t *xinit;          /* an XSAVE image of the init state, xsize bytes */
	size_t xsize;
	struct {
		uint64_t entries, native_ns;
		uint64_t syscalls, page_faults, mapped, unmapped, other_faults, interrupts;
		uint64_t dbtraps, stub_runs, flush_walks, helpers, resets, promoted, demoted;
		uint64_t declined, unmappable, start_ns, pre_ns, post_ns;
	} st;
};

static __thread struct soft_direct *tls_direct;   /* for the timer's signal handler */

/* ---- the seccomp filter ---- */

#define LD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define LD_ARG(n) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[n]))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))

static const struct sock_filter filter_code[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	RET(SECCOMP_RET_KILL_PROCESS),
	LD_NR,
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_munmap, 0, 1),
	RET(SECCOMP_RET_ALLOW),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 0, 1),
	RET(SECCOMP_RET_ALLOW),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_madvise, 0, 1),
	RET(SECCOMP_RET_ALLOW),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 0, 5),
	/* mmap(addr, len, prot, MAP_SHARED | MAP_FIXED, RAM_FD, off) only */
	LD_ARG(3),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MAP_SHARED | MAP_FIXED, 0, 3),
	LD_ARG(4),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RAM_FD, 0, 1),
	RET(SECCOMP_RET_ALLOW),
	RET(SECCOMP_RET_TRAP),
};

/* ---- the mirror's page table ---- */

static uint32_t slot_of(uint64_t la)
{
	return (uint32_t)(((la >> 12) * 0x9e3779b97f4a7c15ull) >> (64 - IDX_BITS));
}

#define IDX_MASK ((1u << IDX_BITS) - 1)

/* The idx[] slot holding la's page, or the empty slot where it would go. */
static uint32_t m_slot(const struct helper *h, uint64_t la)
{
	uint32_t s = slot_of(la);
	while (h->idx[s] && (h->pages[h->idx[s] - 1].la & ~0xfffull) != la)
		s = (s + 1) & IDX_MASK;
	return s;
}

static void m_clear(struct helper *h)
{
	memset(h->idx, 0, sizeof(uint32_t) << IDX_BITS);
	h->npages = 0;
}

/* Remove the entry at idx slot s (backward-shift deletion keeps probe runs whole). */
static void m_remove(struct helper *h, uint32_t s)
{
	uint32_t k = h->idx[s] - 1, j = s;
	h->idx[s] = 0;
	for (;;) {
		j = (j + 1) & IDX_MASK;
		if (!h->idx[j])
			break;
		uint32_t home = slot_of(h->pages[h->idx[j] - 1].la & ~0xfffull);
		/* move j back to s unless its home lies cyclically in (s, j] */
		bool stays = s <= j ? (home > s && home <= j) : (home > s || home <= j);
		if (!stays) {
			h->idx[s] = h->idx[j];
			h->idx[j] = 0;
			s = j;
		}
	}
	/* Fill the hole in the dense array with its last entry. */
	uint32_t last = --h->npages;
	if (k != last) {
		h->pages[k] = h->pages[last];
		h->idx[m_slot(h, h->pages[k].la & ~0xfffull)] = k + 1;
	}
}

/* ---- running the stub ---- */

static int wait_stop(pid_t pid, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, __WALL);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int dead(struct helper *h, int status, struct err *e)
{
	h->pid = 0;
	if (WIFSIGNALED(status))
		return err_set(e, ECHILD, "direct execution: helper process died of signal %s",
		               strsignal(WTERMSIG(status)));
	return err_set(e, ECHILD, "direct execution: helper process exited (status %d)",
	               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* The helper's own two pages exist only while its stub runs: the VMM fills them
 * (UFFDIO_COPY: the stub's code, the commands) and the last command empties them again
 * (MADV_DONTNEED), so that guest code touching them takes a SIGBUS (the userfaultfd's
 * UFFD_FEATURE_SIGBUS) and then the guest's own #PF, as if they were not there. */
static int fill_pages(struct helper *h, struct err *e)
{
	h->cmd[h->ncmd * CMD_WORDS] = __NR_madvise;
	h->cmd[h->ncmd * CMD_WORDS + 1] = h->base;
	h->cmd[h->ncmd * CMD_WORDS + 2] = 8192;
	h->cmd[h->ncmd * CMD_WORDS + 3] = MADV_DONTNEED;
	h->cmd[(h->ncmd + 1) * CMD_WORDS] = ~0ull;
	h->ncmd = 0;
	for (unsigned k = 0; k < 2; k++) {   /* one page at a time: two mappings */
		struct uffdio_copy cp = { .dst = h->base + k * 4096,
		                          .src = (uint64_t)(uintptr_t)(h->img + k * 4096), .len = 4096 };
		if (ioctl(h->uffd, UFFDIO_COPY, &cp) || cp.copy != 4096)
			return err_set(e, errno ? errno : EIO, "direct execution: cannot fill the "
			               "helper's pages (UFFDIO_COPY): %s", strerror(errno ? errno : EIO));
	}
	return 0;
}

/* The helper's stub emptied its own pages: it stopped with a SIGBUS in them. */
static bool stub_done(struct helper *h, int status)
{
	siginfo_t si;
	if (WSTOPSIG(status) != SIGBUS || ptrace(PTRACE_GETSIGINFO, h->pid, 0, &si))
		return false;
	uint64_t a = (uint64_t)(uintptr_t)si.si_addr;
	return a >= h->base && a < h->base + 8192;
}

/* Run the queued commands in the helper (stopped): 0, or -errno. */
static int cmd_flush(struct soft_direct *d, struct helper *h, struct err *e)
{
	if (!h->ncmd)
		return 0;
	d->st.stub_runs++;
	if (fill_pages(h, e))
		return -1;
	struct user_regs_struct r = {
		.rip = h->base, .rbx = h->base + 4096, .cs = HOST_USER_CS, .ss = HOST_USER_SS,
		.eflags = FL_IF | FL_1, .orig_rax = ~0ull,
	};
	if (ptrace(PTRACE_SETREGS, h->pid, 0, &r) || ptrace(PTRACE_CONT, h->pid, 0, 0))
		return err_set(e, errno, "direct execution: ptrace: %s", strerror(errno));
	const uint64_t fail = h->base + (uint64_t)(soft_direct_stub_fail - soft_direct_stub) + 1;
	for (;;) {
		int st, rr = wait_stop(h->pid, &st);
		if (rr)
			return err_set(e, -rr, "direct execution: waitpid: %s", strerror(-rr));
		if (!WIFSTOPPED(st))
			return dead(h, st, e);
		if (stub_done(h, st))
			return 0;
		int sig = WSTOPSIG(st);
		if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGSYS)
			return err_set(e, EPROTO, "direct execution: the helper's stub took signal %s",
			               strsignal(sig));
		if (sig != SIGTRAP) {
			/* A kick (seen through the kick flag) or a stray signal: not the stub's. */
			if (ptrace(PTRACE_CONT, h->pid, 0, 0))
				return err_set(e, errno, "direct execution: ptrace: %s", strerror(errno));
			continue;
		}
		if (ptrace(PTRACE_GETREGS, h->pid, 0, &r))
			return err_set(e, errno, "direct execution: ptrace: %s", strerror(errno));
		if (r.rip == fail)
			return err_set(e, (int)-(int64_t)r.rax, "direct execution: the helper's system call "
			               "%llu failed: %s", (unsigned long long)h->cmd[(r.rbx - h->base - 4096) / 8],
			               strerror((int)-(int64_t)r.rax));
		return err_set(e, EPROTO, "direct execution: helper stopped at %#llx in its stub",
		               (unsigned long long)r.rip);
	}
}

static int cmd_add(struct soft_direct *d, struct helper *h, struct err *e, uint64_t nr,
                   uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	if (h->ncmd == CMD_MAX) {
		int r = cmd_flush(d, h, e);
		if (r)
			return r;
	}
	uint64_t *c = &h->cmd[h->ncmd++ * CMD_WORDS];
	c[0] = nr;
	c[1] = a0;
	c[2] = a1;
	c[3] = a2;
	c[4] = a3;
	c[5] = a4;
	c[6] = a5;
	return 0;
}

/* Unmap every guest page from the helper: the ranges below and above its own pages. */
static int unmap_all(struct soft_direct *d, struct helper *h, struct err *e)
{
	d->st.unmapped += h->npages;
	m_clear(h);
	h->ncmd = 0;   /* whatever was queued is moot */
	return cmd_add(d, h, e, __NR_munmap, 0, h->base, 0, 0, 0, 0) ||
	       cmd_add(d, h, e, __NR_munmap, h->base + 8192, USER_TOP - h->base - 8192, 0, 0, 0, 0);
}

/* ---- starting a helper ---- */

static void __attribute__((noreturn)) child(const struct soft_direct *d, const struct helper *h,
                                             pid_t parent)
{
	/* Only system calls from here on: this is a fork of a threaded process. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	setsid();   /* the terminal's signals are the VMM's business */
	/* glibc registered this thread's rseq area, which the fork inherited: the kernel
	 * would write to it at every return to user mode, and kill the helper with SIGSEGV
	 * once it is unmapped. glibc registers sizeof(struct rseq) bytes (32). */
	if (__rseq_size) {
		void *rs = (char *)__builtin_thread_pointer() + __rseq_offset;
		if (syscall(SYS_rseq, rs, 32, 1 /* RSEQ_FLAG_UNREGISTER */, RSEQ_SIG) &&
		    syscall(SYS_rseq, rs, __rseq_size, 1, RSEQ_SIG))
			_exit(10);
	}
	/* Its two pages, empty (the VMM fills them through the userfaultfd). */
	void *own = mmap((void *)(uintptr_t)h->base, 8192, PROT_READ | PROT_EXEC,
	                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (own != (void *)(uintptr_t)h->base || mprotect((char *)own + 4096, 4096, PROT_READ))
		_exit(2);
	if (dup2(d->mem->fd, RAM_FD) != RAM_FD)
		_exit(4);
	syscall(SYS_close_range, 0, RAM_FD - 1, 0);
	syscall(SYS_close_range, RAM_FD + 1, ~0u, 0);
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_SIGBUS };
	struct uffdio_register reg = { .range = { h->base, 8192 }, .mode = UFFDIO_REGISTER_MODE_MISSING };
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) || ioctl(uffd, UFFDIO_REGISTER, &reg) ||
	    dup2(uffd, UFFD_FD) != UFFD_FD)
		_exit(3);
	if (uffd != UFFD_FD)
		close(uffd);   /* the lowest free number: 0 */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(KICK_SIG, SIG_DFL);
	struct __user_cap_header_struct ch = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct cd[2] = {{0}};
	syscall(SYS_capset, &ch, cd);   /* fails harmlessly where there are none */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		_exit(5);
	if (d->cpuid_faulting && syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0))
		_exit(6);
	if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0))
		_exit(7);
	if (ptrace(PTRACE_TRACEME, 0, 0, 0))
		_exit(8);
	raise(SIGSTOP);   /* the VMM sets its ptrace options, takes the userfaultfd, fills */
	close(UFFD_FD);   /* the VMM's copy keeps it alive */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &d->filter, 0, 0))
		_exit(9);
	/* The stub unmaps everything else (the first commands) and stops. */
	__asm__ volatile("mov %0, %%rbx\n\tjmp *%1" : : "r"(h->base + 4096), "r"(h->base) : "rbx", "memory");
	__builtin_unreachable();
}

static const char *const child_fail[] = {
	[1] = "its parent went away", [2] = "cannot map its own pages",
	[3] = "no userfaultfd over its own pages", [4] = "cannot keep the guest-RAM memfd", [5] = "no_new_privs",
	[6] = "CPUID faulting", [7] = "RDTSC faulting", [8] = "PTRACE_TRACEME",
	[9] = "cannot install its seccomp filter", [10] = "cannot unregister rseq",
};

static void helper_kill(struct helper *h)
{
	if (h->pid > 0) {
		int st;
		kill(h->pid, SIGKILL);
		waitpid(h->pid, &st, __WALL);
	}
	h->pid = 0;
	if (h->uffd >= 0)
		close(h->uffd);
	h->uffd = -1;
}

static int start_failed(struct helper *h, int status, struct err *e)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
	bool known = code > 0 && code < (int)(sizeof(child_fail) / sizeof(child_fail[0]));
	helper_kill(h);
	return err_set(e, ECHILD, "direct execution: the helper process did not start%s%s",
	               known ? ": " : "", known ? child_fail[code] : "");
}

static int helper_start(struct soft_direct *d, struct helper *h, struct err *e)
{
	uint64_t t0 = soft_now_ns();
	/* A random place that is free here, hence in the fork (sanitizer shadows, say,
	 * take terabytes of this range). */
	h->base = d->fixed_base;
	for (unsigned tries = 0; !h->base && tries < 64; tries++) {
		uint64_t rnd = 0;
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (soft_now_ns() + tries) * 0x9e3779b97f4a7c15ull;
		uint64_t at = BASE_LO + ((rnd % (BASE_HI - BASE_LO - 8192)) & ~0xfffull);
		void *p = mmap((void *)(uintptr_t)at, 8192, PROT_NONE,
		               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == (void *)(uintptr_t)at)
			h->base = at;
		if (p != MAP_FAILED)
			munmap(p, 8192);
	}
	if (!h->base)
		return err_set(e, ENOMEM, "direct execution: no free place for a helper's pages");
	if (!h->img) {
		h->img = aligned_alloc(4096, 8192);
		if (!h->img)
			return err_set(e, ENOMEM, "direct execution: out of memory");
		memset(h->img, 0xcc, 4096);   /* INT3 around the stub */
		memcpy(h->img, soft_direct_stub, (size_t)(soft_direct_stub_end - soft_direct_stub));
		h->cmd = (uint64_t *)(h->img + 4096);
		h->pages = calloc(MIRROR_MAX, sizeof(*h->pages));
		h->idx = calloc(1u << IDX_BITS, sizeof(uint32_t));
		if (!h->pages || !h->idx)
			return err_set(e, ENOMEM, "direct execution: out of memory");
	}
	h->ncmd = 0;
	h->uffd = -1;
	m_clear(h);

	int st = 0;
	pid_t parent = getpid(), pid = fork();
	if (pid < 0)
		return err_set(e, errno, "direct execution: fork: %s", strerror(errno));
	if (pid == 0)
		child(d, h, parent);
	h->pid = pid;
	if (wait_stop(pid, &st) || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP)
		return start_failed(h, st, e);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	h->uffd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, UFFD_FD, 0);
	if (pidfd >= 0)
		close(pidfd);
	if (h->uffd < 0) {
		int err = errno;
		helper_kill(h);
		return err_set(e, err, "direct execution: cannot take the helper's userfaultfd: %s",
		               strerror(err));
	}
	/* The stub's first commands: unmap everything the fork brought along. */
	cmd_add(d, h, e, __NR_munmap, 0, h->base, 0, 0, 0, 0);
	cmd_add(d, h, e, __NR_munmap, h->base + 8192, USER_TOP - h->base - 8192, 0, 0, 0, 0);
	if (fill_pages(h, e) ||
	    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) ||
	    ptrace(PTRACE_CONT, pid, 0, 0)) {
		int err = errno;
		helper_kill(h);
		return err_set(e, err, "direct execution: cannot start the helper: %s", strerror(err));
	}
	/* It runs them and empties its pages: a SIGBUS there. */
	if (wait_stop(pid, &st) || !WIFSTOPPED(st) || !stub_done(h, st))
		return start_failed(h, st, e);
	/* What a round trip costs here: entries that stop at once (a fetch from a
	 * non-canonical RIP), the shortest of a few. */
	uint64_t best = UINT64_MAX;
	for (unsigned k = 0; k < 8; k++) {
		struct user_regs_struct z = { .rip = 1ull << 63, .cs = HOST_USER_CS,
		                              .ss = HOST_USER_SS, .eflags = FL_IF | FL_1,
		                              .orig_rax = ~0ull };
		uint64_t t1 = soft_now_ns();
		if (ptrace(PTRACE_SETREGS, pid, 0, &z) || ptrace(PTRACE_SYSEMU, pid, 0, 0) ||
		    wait_stop(pid, &st) || !WIFSTOPPED(st))
			return start_failed(h, st, e);
		uint64_t t2 = soft_now_ns() - t1;
		best = t2 < best ? t2 : best;
	}
	d->rt_ns = best;
	d->st.helpers++;
	d->st.start_ns += soft_now_ns() - t0;
	return 0;
}

/* Give a helper to the address space key: a fresh mirror, and the x87/SSE/AVX... state
 * of its last user (or of the VMM thread it was forked from) wiped. */
static int helper_assign(struct soft_direct *d, struct helper *h, uint64_t key, struct err *e)
{
	int r = h->pid ? unmap_all(d, h, e) : helper_start(d, h, e);
	if (r)
		return r;
	if (h->key)
		d->st.resets++;
	h->key = key;
	h->gen_seen = ~0ull;
	h->inv_seen = 0;
	d->fx_valid = false;   /* the reset below changes it */
	if (!d->xinit) {
		/* The kernel takes only whole XSAVE images: learn its size from one. */
		size_t max = 1 << 16;
		uint8_t *x = calloc(1, max);
		struct iovec q = { x, max };
		if (!x || ptrace(PTRACE_GETREGSET, h->pid, NT_X86_XSTATE, &q)) {
			free(x);
			return err_set(e, errno ? errno : ENOMEM, "direct execution: cannot read the "
			               "helper's XSAVE state: %s", strerror(errno ? errno : ENOMEM));
		}
		memset(x, 0, q.iov_len);
		x[0] = 0x7f;             /* FCW 0x37f: what XRSTOR of the init state leaves */
		x[1] = 0x03;
		x[24] = 0x80;            /* MXCSR 0x1f80 (loaded whatever XSTATE_BV says) */
		x[25] = 0x1f;
		d->xinit = x;            /* XSTATE_BV 0: every component in its init state */
		d->xsize = q.iov_len;
	}
	struct iovec iov = { d->xinit, d->xsize };
	if (ptrace(PTRACE_SETREGSET, h->pid, NT_X86_XSTATE, &iov))
		return err_set(e, errno, "direct execution: cannot reset the helper's vector "
		               "registers: %s", strerror(errno));
	return 0;
}

/* ---- address spaces ---- */

/* An address space: CR3, and the user half of the top-level table it points to (a new
 * process reusing a freed CR3 page gets new lower-level tables, so its key differs). */
static uint64_t as_key(struct soft_direct *d, uint64_t cr3)
{
	const uint64_t *pml4 = mem_ptr(d->mem, cr3 & PHYS_MASK, 2048);
	uint64_t h = cr3 * 0x9e3779b97f4a7c15ull;
	if (pml4)
		for (unsigned k = 0; k < 256; k++)
			if (pml4[k] & 1)
				h = (h ^ (pml4[k] & PHYS_MASK) ^ k) * 0x100000001b3ull;
	return h | 1;   /* never 0 */
}

static struct aspace *as_find(struct soft_direct *d, uint64_t key)
{
	struct aspace *lru = &d->as[0];
	for (unsigned k = 0; k < AS_MAX; k++) {
		if (d->as[k].key == key) {
			d->as[k].used = ++d->clock;
			return &d->as[k];
		}
		if (d->as[k].used < lru->used)
			lru = &d->as[k];
	}
	*lru = (struct aspace){ .key = key, .need = TICKS_HOT, .used = ++d->clock };
	return lru;
}

static void select_as(struct soft_direct *d, struct soft_cpu *c)
{
	c->direct_cr3 = c->sys.cr3;
	d->cur = as_find(d, as_key(d, c->sys.cr3));
	c->direct_hot = d->cur->hot;
}

void soft_direct_tick(struct soft_direct *d, struct soft_cpu *c)
{
	if (c->sys.cr3 != c->direct_cr3 || !d->cur)
		select_as(d, c);
	struct aspace *a = d->cur;
	if (!a->hot && ++a->ticks >= a->need) {
		a->hot = true;
		a->fresh = true;
		a->exits = 0;
		a->avg_native_ns = a->avg_cost_ns = 0;
		c->direct_hot = true;
		d->st.promoted++;
	}
}

static struct helper *helper_of(struct soft_direct *d, uint64_t key)
{
	struct helper *lru = &d->pool[0];
	for (unsigned k = 0; k < POOL; k++) {
		if (d->pool[k].key == key) {
			d->pool[k].used = ++d->clock;
			return &d->pool[k];
		}
		if (d->pool[k].used < lru->used)
			lru = &d->pool[k];
	}
	return lru;   /* the caller assigns it */
}

/* ---- keeping the mirror in step with the guest's page tables ---- */

static bool in_helper(const struct helper *h, uint64_t la)
{
	return la >= h->base && la < h->base + 8192;
}

/* The host file offset of guest-physical page pa, or -1 if it is not RAM. */
static int64_t ram_offset(const struct guest_mem *m, uint64_t pa)
{
	for (unsigned k = 0; k < m->nslots; k++)
		if (!m->slots[k].rom && pa >= m->slots[k].gpa && pa - m->slots[k].gpa < m->slots[k].size)
			return (int64_t)(m->slots[k].fd_off + (pa - m->slots[k].gpa));
	return -1;
}

/* The guest-physical address of an offset in the RAM memfd. */
static uint64_t ram_pa(const struct guest_mem *m, uint64_t off)
{
	for (unsigned k = 0; k < m->nslots; k++)
		if (!m->slots[k].rom && off >= m->slots[k].fd_off && off - m->slots[k].fd_off < m->slots[k].size)
			return m->slots[k].gpa + (off - m->slots[k].fd_off);
	return off;
}

/* The PROT_* the mirror gives la's page now, its physical address and its offset in
 * the RAM memfd; 0 if none. */
static unsigned mirror_prot(struct soft_direct *d, struct soft_cpu *c, uint64_t la,
                            uint64_t *pa, int64_t *off)
{
	unsigned q;
	if (soft_mmu_query(c->mem.opaque, la, pa, &q) || !(q & SOFT_Q_USER))
		return 0;
	*pa &= ~0xfffull;
	*off = ram_offset(d->mem, *pa);
	if (*off < 0)
		return 0;   /* MMIO: every access goes through the soft CPU */
	/* Writable only once dirty: the first store comes back to set D as hardware would. */
	return PROT_READ | ((q & SOFT_Q_WRITE) && (q & SOFT_Q_DIRTY) ? PROT_WRITE : 0) |
	       (q & SOFT_Q_EXEC ? PROT_EXEC : 0);
}

static int mirror_drop(struct soft_direct *d, struct helper *h, uint64_t la, struct err *e)
{
	uint32_t s = m_slot(h, la);
	if (!h->idx[s])
		return 0;
	m_remove(h, s);
	d->st.unmapped++;
	return cmd_add(d, h, e, __NR_munmap, la, 4096, 0, 0, 0, 0);
}

/* Pages the mirror may hold: inside the host's user range, outside the helper's own. */
static bool mirrorable(const struct helper *h, uint64_t la)
{
	return la >= USER_BOTTOM && la < USER_TOP && !in_helper(h, la);
}

/* Put page la into the mirror with prot, at RAM offset off (guest-physical pa). */
static int mirror_map(struct soft_direct *d, struct helper *h, uint64_t la, unsigned prot,
                      uint64_t pa, int64_t off, struct err *e)
{
	uint32_t s = m_slot(h, la);
	if (h->idx[s]) {
		struct mpage *p = &h->pages[h->idx[s] - 1];
		if (p->la == (la | prot) && p->pa == (uint64_t)off)
			return 0;
		*p = (struct mpage){ la | prot, (uint64_t)off };
	} else {
		if (h->npages == MIRROR_MAX) {
			int r = unmap_all(d, h, e);
			if (r)
				return r;
			s = m_slot(h, la);
		}
		h->pages[h->npages] = (struct mpage){ la | prot, (uint64_t)off };
		h->idx[s] = ++h->npages;
	}
	if ((prot & PROT_WRITE) && d->written)
		d->written(d->opaque, pa);
	d->st.mapped++;
	return cmd_add(d, h, e, __NR_mmap, la, 4096, prot, MAP_SHARED | MAP_FIXED, RAM_FD,
	               (uint64_t)off);
}

/* Map la's page as the guest's tables say now (after the soft CPU ran the access). */
static int mirror_fill(struct soft_direct *d, struct helper *h, struct soft_cpu *c,
                       uint64_t la, struct err *e)
{
	la &= ~0xfffull;
	int64_t off = 0;
	uint64_t pa = 0;
	unsigned prot;
	if (!mirrorable(h, la) || !(prot = mirror_prot(d, c, la, &pa, &off))) {
		d->st.unmappable++;
		return mirror_drop(d, h, la, e);
	}
	return mirror_map(d, h, la, prot, pa, off, e);
}

/* Map la's page, and the other pages of its aligned group of AROUND that the guest
 * mapped for user mode and the mirror lacks (fault-around: a page fault's round trip
 * is dear, and programs touch their neighbouring pages soon). */
static int mirror_fill_around(struct soft_direct *d, struct helper *h, struct soft_cpu *c,
                              uint64_t la, struct err *e)
{
	la &= ~0xfffull;
	if (mirror_fill(d, h, c, la, e))
		return -1;
	uint64_t first = la & ~(AROUND * 4096ull - 1);
	for (uint64_t p = first; p < first + AROUND * 4096ull; p += 4096) {
		int64_t off;
		uint64_t pa;
		unsigned prot;
		if (p == la || !mirrorable(h, p) || h->idx[m_slot(h, p)] ||
		    !(prot = mirror_prot(d, c, p, &pa, &off)))
			continue;
		if (mirror_map(d, h, p, prot, pa, off, e))
			return -1;
	}
	return 0;
}

/* Before entering: follow the flushes and INVLPGs the soft CPU saw since last time. */
static int mirror_sync(struct soft_direct *d, struct helper *h, struct soft_cpu *c, struct err *e)
{
	if (h->gen_seen != c->paging_gen) {
		/* A flush: keep only the pages whose translation and rights are unchanged. */
		d->st.flush_walks++;
		uint32_t keep = 0, n = h->npages;
		for (uint32_t k = 0; k < n; k++) {
			struct mpage p = h->pages[k];
			uint64_t la = p.la & ~0xfffull;
			int64_t off = 0;
			uint64_t pa;
			unsigned prot = mirror_prot(d, c, la, &pa, &off);
			if (prot == (p.la & 0xfff) && (uint64_t)off == p.pa)
				h->pages[keep++] = p;
			else if (cmd_add(d, h, e, __NR_munmap, la, 4096, 0, 0, 0, 0))
				return -1;
		}
		d->st.unmapped += n - keep;
		memset(h->idx, 0, sizeof(uint32_t) << IDX_BITS);
		h->npages = keep;
		for (uint32_t k = 0; k < keep; k++)
			h->idx[m_slot(h, h->pages[k].la & ~0xfffull)] = k + 1;
		h->gen_seen = c->paging_gen;
		h->inv_seen = 0;
	}
	for (; h->inv_seen < c->ninvlpg; h->inv_seen++)
		if (mirror_drop(d, h, c->invlpg[h->inv_seen], e))
			return -1;
	return 0;
}

/* ---- registers ---- */

static void regs_to_host(const struct soft_cpu *c, struct user_regs_struct *r)
{
	*r = (struct user_regs_struct){
		.r15 = c->gpr[15], .r14 = c->gpr[14], .r13 = c->gpr[13], .r12 = c->gpr[12],
		.rbp = c->gpr[5], .rbx = c->gpr[3], .r11 = c->gpr[11], .r10 = c->gpr[10],
		.r9 = c->gpr[9], .r8 = c->gpr[8], .rax = c->gpr[0], .rcx = c->gpr[1],
		.rdx = c->gpr[2], .rsi = c->gpr[6], .rdi = c->gpr[7],
		.orig_rax = ~0ull,   /* not in a system call: no restart logic */
		.rip = c->rip, .cs = HOST_USER_CS, .ss = HOST_USER_SS, .rsp = c->gpr[4],
		.eflags = (soft_get_rflags(c) & USER_FLAGS) | FL_IF | FL_1,
		.fs_base = c->sys.seg[S_FS].base, .gs_base = c->sys.seg[S_GS].base,
	};
}

static void regs_from_host(struct soft_cpu *c, const struct user_regs_struct *r)
{
	c->gpr[0] = r->rax; c->gpr[1] = r->rcx; c->gpr[2] = r->rdx; c->gpr[3] = r->rbx;
	c->gpr[4] = r->rsp; c->gpr[5] = r->rbp; c->gpr[6] = r->rsi; c->gpr[7] = r->rdi;
	c->gpr[8] = r->r8; c->gpr[9] = r->r9; c->gpr[10] = r->r10; c->gpr[11] = r->r11;
	c->gpr[12] = r->r12; c->gpr[13] = r->r13; c->gpr[14] = r->r14; c->gpr[15] = r->r15;
	c->rip = r->rip;
	/* TF too: a program may set it (POPF); the soft CPU single-steps from there. */
	uint64_t mine = USER_FLAGS | FL_TF;
	soft_set_rflags(c, (soft_get_rflags(c) & ~mine) | (r->eflags & mine));
}

/* ---- running ---- */

static void on_timer(int sig)
{
	(void)sig;
	struct soft_direct *d = tls_direct;
	if (d)
		soft_direct_kick(d);
}

void soft_direct_kick(struct soft_direct *d)
{
	pid_t p = __atomic_load_n(&d->running, __ATOMIC_ACQUIRE);
	if (p > 0)
		kill(p, KICK_SIG);
}

static void arm_timer(struct soft_direct *d, uint64_t deadline)
{
	if (!d->have_timer || deadline == d->armed)
		return;
	d->armed = deadline;
	struct itimerspec its = {0};
	if (deadline != UINT64_MAX) {
		/* 0 would disarm: a deadline already due fires at once. */
		uint64_t t = deadline ? deadline : 1;
		its.it_value.tv_sec = (time_t)(t / 1000000000ull);
		its.it_value.tv_nsec = (long)(t % 1000000000ull);
	}
	timer_settime(d->timer, TIMER_ABSTIME, &its, NULL);
}

/* Guest byte at la for the soft CPU's CPL, or -1. */
static int guest_byte(struct soft_cpu *c, uint64_t la)
{
	uint64_t pa;
	uint8_t *host;
	struct soft_fault f;
	if (c->mem.ops->translate(c->mem.opaque, la, SOFT_ACC_READ, c->cpl, &pa, &host, &f) < 0 || !host)
		return -1;
	return *host;
}

/* The vCPU thread and the helper hand the CPU to each other at every event: on one
 * host CPU that is a context switch (2-4 us), across two a wake-up of an idle CPU (~60
 * us measured, bench/direct_trap). So once it runs user code natively, the vCPU thread
 * stays on one CPU (its vCPU number modulo the CPUs it may use), and its helpers with
 * it (they inherit the affinity). */
static void pin(struct soft_direct *d)
{
	d->pinned = true;
	cpu_set_t allowed;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) || CPU_COUNT(&allowed) < 2)
		return;
	unsigned want = d->vcpu_id % (unsigned)CPU_COUNT(&allowed), seen = 0;
	for (unsigned cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &allowed) || seen++ != want)
			continue;
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		sched_setaffinity(0, sizeof(one), &one);
		return;
	}
}

static int ptrace_err(struct err *e)
{
	return err_set(e, errno, "direct execution: ptrace: %s", strerror(errno));
}

int soft_direct_run(struct soft_direct *d, struct soft_cpu *c, uint64_t deadline, struct err *e)
{
	uint64_t t_call = soft_now_ns();
	if (c->sys.cr3 != c->direct_cr3 || !d->cur)
		select_as(d, c);
	struct aspace *a = d->cur;
	if (!a->hot)
		return SOFT_DIRECT_DECLINE;
	struct user_regs_struct r;
	regs_to_host(c, &r);
	if (r.fs_base >= USER_TOP || r.gs_base >= USER_TOP) {
		d->st.declined++;   /* the host cannot give its processes such a base */
		return SOFT_DIRECT_DECLINE;
	}
	if (!d->pinned)
		pin(d);   /* before any helper starts: they inherit it */
	struct helper *h = helper_of(d, a->key);
	if (h->key != a->key && helper_assign(d, h, a->key, e)) {
		/* No helper (no memory, no process): this address space stays translated. */
		if (!d->start_warned)
			log_warn("soft", "%s; running that guest process translated", e->msg);
		d->start_warned = true;
		helper_kill(h);
		h->key = 0;
		d->st.declined++;
		c->direct_hot = a->hot = false;
		return SOFT_DIRECT_DECLINE;
	}
	/* The guest may have mapped the very pages the helper's own live at: then this
	 * process stays on the translator. */
	uint64_t pa;
	unsigned q;
	if (!soft_mmu_query(c->mem.opaque, h->base, &pa, &q) ||
	    !soft_mmu_query(c->mem.opaque, h->base + 4096, &pa, &q)) {
		d->st.declined++;
		c->direct_hot = a->hot = false;
		return SOFT_DIRECT_DECLINE;
	}
	if (mirror_sync(d, h, c, e))
		return -1;
	if (a->fresh) {
		/* Back from the translator with a mirror: native stores to its writable pages
		 * must not leave decoded code behind (the translator's tracking sees none). */
		a->fresh = false;
		for (uint32_t k = 0; k < h->npages && d->written; k++)
			if (h->pages[k].la & PROT_WRITE)
				d->written(d->opaque, ram_pa(d->mem, h->pages[k].pa));
	}
	if (d->pending && d->pending_cr3 == c->sys.cr3 && mirror_fill_around(d, h, c, d->pending_la, e))
		return -1;
	d->pending = false;
	if (cmd_flush(d, h, e))
		return -1;

	/* The x87/SSE state goes over only when the soft CPU changed it (the guest kernel
	 * switched tasks, delivered a signal...) since the helper last had it. */
	uint8_t fx[512];
	soft_fpu_fxsave(&c->fpu, fx, true);
	if (ptrace(PTRACE_SETREGS, h->pid, 0, &r))
		return ptrace_err(e);
	if (!d->fx_valid || d->fx_pid != h->pid || memcmp(fx, d->fx, sizeof(fx))) {
		if (ptrace(PTRACE_SETFPREGS, h->pid, 0, fx))
			return ptrace_err(e);
	}
	arm_timer(d, deadline);
	__atomic_store_n(&d->running, h->pid, __ATOMIC_RELEASE);
	if (__atomic_load_n(&c->sys.kick, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&d->running, 0, __ATOMIC_RELEASE);
		return SOFT_DIRECT_KICKED;
	}
	uint64_t t0 = soft_now_ns();
	int st;
	d->st.entries++;
	d->st.pre_ns += t0 - t_call;
	if (ptrace(PTRACE_SYSEMU, h->pid, 0, 0))
		return ptrace_err(e);
	int w = wait_stop(h->pid, &st);
	__atomic_store_n(&d->running, 0, __ATOMIC_RELEASE);
	uint64_t ran = soft_now_ns() - t0;
	d->st.native_ns += ran;
	if (w)
		return err_set(e, -w, "direct execution: waitpid: %s", strerror(-w));
	if (!WIFSTOPPED(st)) {
		h->key = 0;
		return dead(h, st, e);
	}
	if (ptrace(PTRACE_GETREGS, h->pid, 0, &r) || ptrace(PTRACE_GETFPREGS, h->pid, 0, d->fx))
		return ptrace_err(e);
	d->fx_valid = true;
	d->fx_pid = h->pid;
	regs_from_host(c, &r);
	if (r.cs != HOST_USER_CS || r.ss != HOST_USER_SS) {
		/* A far transfer loaded one of the host's own segments: the soft CPU cannot
		 * follow into a mode the guest's tables never described. The process gets a
		 * #GP where it arrived (its kernel's answer: a SIGSEGV). */
		d->st.other_faults++;
		c->fault = (struct soft_fault){ .vector = VEC_GP, .has_err = true, .err = 0 };
		return SOFT_DIRECT_FAULT;
	}
	soft_fpu_fxrstor(&c->fpu, d->fx, true);
	soft_fpu_fxsave(&c->fpu, d->fx, true);   /* as the soft CPU keeps it, for the compare */

	int sig = WSTOPSIG(st), ret = SOFT_DIRECT_STEP;
	bool first_touch = false;
	siginfo_t si = {0};
	if (sig == (SIGTRAP | 0x80)) {
		/* A system call, skipped by the host: the soft CPU makes it the guest's. RAX
		 * was overwritten with -ENOSYS; orig_rax kept it. */
		c->gpr[0] = r.orig_rax;
		c->rip -= 2;   /* SYSCALL, SYSENTER, INT 0x80: all two bytes */
		d->st.syscalls++;
	} else if (sig == KICK_SIG || sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
	           sig == SIGTTOU || sig == SIGCHLD || sig == SIGWINCH || sig == SIGCONT) {
		d->st.interrupts++;
		return SOFT_DIRECT_KICKED;   /* nothing of the guest's: the signal is dropped */
	} else {
		if (ptrace(PTRACE_GETSIGINFO, h->pid, 0, &si))
			return ptrace_err(e);
		if (sig == SIGSEGV && (si.si_code == SEGV_MAPERR || si.si_code == SEGV_ACCERR)) {
			d->pending = true;
			d->pending_la = (uint64_t)(uintptr_t)si.si_addr;
			d->pending_cr3 = c->sys.cr3;
			d->st.page_faults++;
			/* A page the guest maps but the mirror lacks: filling it is paid once,
			 * not a sign that the process exits too often (a big array's first pass
			 * makes thousands). A fault of the guest's own counts. */
			uint64_t gpa;
			int64_t off;
			first_touch = !h->idx[m_slot(h, d->pending_la & ~0xfffull)] &&
			              mirror_prot(d, c, d->pending_la & ~0xfffull, &gpa, &off);
		} else if (sig == SIGTRAP && si.si_code == TRAP_TRACE) {
			d->st.dbtraps++;
			ret = SOFT_DIRECT_DBTRAP;
		} else if (sig == SIGTRAP) {
			/* INT3 (CC), INT1 (F1) or INT 3 (CD 03) trapped after itself: back to it. */
			int b = guest_byte(c, c->rip - 1);
			c->rip -= (b == 0xcc || b == 0xf1) ? 1 : 2;
			d->st.other_faults++;
		} else {
			d->st.other_faults++;   /* #GP (CPUID, RDTSC, privileged), #UD, #DE, #AC... */
		}
	}
	if (d->trace)
		fprintf(stderr, "direct: pid %d sig %d code %d rip %#llx addr %p ran %llu ns ret %d rax %#llx\r\n",
		        h->pid, sig, si.si_code, (unsigned long long)c->rip, si.si_addr,
		        (unsigned long long)ran, ret, (unsigned long long)c->gpr[0]);
	/* Demote address spaces whose native runs are too short to pay for their exits:
	 * where the translator would have run them SLOWDOWN times slower, but with no
	 * round trips. A run's wait includes one round trip (rt_ns, measured when a helper
	 * starts); the rest of this call (mirror upkeep, the stub, register moves) is cost
	 * as well. */
	if (first_touch)
		return ret;
	uint64_t t_end = soft_now_ns();
	d->st.post_ns += t_end - t0 - ran;
	uint64_t native = ran > d->rt_ns ? ran - d->rt_ns : 0, cost = t_end - t_call - native;
	a->avg_native_ns = (a->avg_native_ns * 15 + native) / 16;
	a->avg_cost_ns = (a->avg_cost_ns * 15 + cost) / 16;
	if (++a->exits > 64 && a->avg_native_ns * (SLOWDOWN - 1) < a->avg_cost_ns) {
		a->hot = c->direct_hot = false;
		a->ticks = 0;
		a->need = a->need * 2 > TICKS_MAX ? TICKS_MAX : a->need * 2;
		d->st.demoted++;
		if (d->trace)
			fprintf(stderr, "direct: demote: native %llu ns, cost %llu ns per exit, rt %llu\r\n",
			        (unsigned long long)a->avg_native_ns, (unsigned long long)a->avg_cost_ns,
			        (unsigned long long)d->rt_ns);
		/* The helper keeps its mirror for when the process comes back (see fresh). */
	}
	return ret;
}

/* ---- setup ---- */

static void install_handler(void)
{
	/* The vCPU thread's timer signal: kick its helper. SA_RESTART: waitpid goes on. */
	struct sigaction sa = { .sa_handler = on_timer, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(KICK_SIG, &sa, NULL);
}


int soft_direct_create(struct soft_direct **out, struct guest_mem *mem, unsigned vcpu_id,
                       soft_direct_written_fn written, void *opaque, struct err *e)
{
	if (!mem->shared)
		return err_set(e, EINVAL, "direct execution needs guest RAM in a memfd");
	struct soft_direct *d = calloc(1, sizeof(*d));
	if (!d)
		return err_set(e, ENOMEM, "out of memory");
	d->mem = mem;
	for (unsigned k = 0; k < POOL; k++)
		d->pool[k].uffd = -1;
	d->vcpu_id = vcpu_id;
	d->written = written;
	d->opaque = opaque;
	d->filter.len = sizeof(filter_code) / sizeof(filter_code[0]);
	d->filter.filter = (struct sock_filter *)filter_code;
	/* CPUID faulting: helpers then see the guest's CPU model, not the host's. The vCPU
	 * thread keeps it on too (trivisor never executes CPUID once running): Linux writes
	 * the MSR behind it at every switch between threads that differ, and under a
	 * hypervisor that write is dear (round trips 18 us with it, 2.7 us without, here). */
	if (syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0) == 1 &&
	    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) == 0)
		d->cpuid_faulting = true;
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, install_handler);
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = KICK_SIG };
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);   /* sigev_notify_thread_id */
	d->have_timer = timer_create(CLOCK_MONOTONIC, &sev, &d->timer) == 0;
	d->armed = UINT64_MAX;
	d->rt_ns = 5000;   /* until a helper measures it */
	d->trace = getenv("TRIVISOR_DIRECT_TRACE") != NULL;
	/* Tests aim guest code at the helper's own pages: let them say where those are. */
	const char *fb = getenv("TRIVISOR_DIRECT_BASE");
	if (fb) {
		char *end;
		uint64_t v = strtoull(fb, &end, 0);
		if (*end || v < BASE_LO || v > BASE_HI - 8192 || (v & 0xfff)) {
			free(d);
			return err_set(e, EINVAL, "TRIVISOR_DIRECT_BASE=%s: want a page address in "
			               "[%#llx, %#llx)", fb, BASE_LO, BASE_HI - 8192);
		}
		d->fixed_base = v;
	}
	tls_direct = d;
	*out = d;
	return 0;
}

void soft_direct_destroy(struct soft_direct *d)
{
	if (!d)
		return;
	for (unsigned k = 0; k < POOL; k++) {
		helper_kill(&d->pool[k]);
		free(d->pool[k].img);
		free(d->pool[k].pages);
		free(d->pool[k].idx);
	}
	if (d->have_timer)
		timer_delete(d->timer);
	if (tls_direct == d)
		tls_direct = NULL;
	free(d->xinit);
	free(d);
}

void soft_direct_stats(const struct soft_direct *d, struct engine_counters *k)
{
	static const struct soft_direct none;   /* a vCPU that never ran user code */
	if (!d)
		d = &none;
	k->counted_by = "the direct-execution tier";
	const struct { const char *name; uint64_t value; } c[] = {
		{ "native_entries", d->st.entries },
		{ "native_us", d->st.native_ns / 1000 },
		{ "entry_us", d->st.pre_ns / 1000 },
		{ "exit_us", d->st.post_ns / 1000 },
		{ "exits_syscall", d->st.syscalls },
		{ "exits_page_fault", d->st.page_faults },
		{ "exits_other_fault", d->st.other_faults },
		{ "exits_single_step", d->st.dbtraps },
		{ "exits_interrupt", d->st.interrupts },
		{ "pages_mapped", d->st.mapped },
		{ "pages_unmapped", d->st.unmapped },
		{ "pages_not_mirrored", d->st.unmappable },
		{ "flush_rewalks", d->st.flush_walks },
		{ "stub_runs", d->st.stub_runs },
		{ "helpers_started", d->st.helpers },
		{ "helpers_reused", d->st.resets },
		{ "helper_start_us", d->st.start_ns / 1000 },
		{ "round_trip_ns", d->rt_ns },
		{ "address_spaces_promoted", d->st.promoted },
		{ "address_spaces_demoted", d->st.demoted },
		{ "declined", d->st.declined },
		{ "cpuid_faulting", d->cpuid_faulting },
	};
	_Static_assert(sizeof(c) / sizeof(c[0]) <= STATS_ENGINE_MAX, "too many counters");
	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		k->c[i].name = c[i].name;
		k->c[i].value = c[i].value;
	}
	k->n = sizeof(c) / sizeof(c[0]);
}
