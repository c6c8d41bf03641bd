/* The native side of the differential tester: a child process that maps the test
 * address space at fixed addresses, loads each case's registers with a small assembly
 * trampoline, runs the instruction and records the first exception from the signal
 * context (ucontext: registers, RFLAGS, trap number, error code, CR2). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/cpu_state.h"
#include "dt.h"

/* dt_enter(const struct dt_regs *r, const struct dt_fpu *f): load the x87/MMX/SSE state
 * from f (FXRSTOR64), RFLAGS and all 16 GPRs from r and jump to the address stored at
 * DT_SLOT. Never returns: the case ends in a signal. */
__asm__(
	".text\n"
	".globl dt_enter\n"
	".type dt_enter, @function\n"
	"dt_enter:\n"
	"	fxrstor64 (%rsi)\n"
	"	pushq 136(%rdi)\n"
	"	popfq\n"
	"	movq 0(%rdi), %rax\n"
	"	movq 8(%rdi), %rcx\n"
	"	movq 16(%rdi), %rdx\n"
	"	movq 24(%rdi), %rbx\n"
	"	movq 40(%rdi), %rbp\n"
	"	movq 48(%rdi), %rsi\n"
	"	movq 64(%rdi), %r8\n"
	"	movq 72(%rdi), %r9\n"
	"	movq 80(%rdi), %r10\n"
	"	movq 88(%rdi), %r11\n"
	"	movq 96(%rdi), %r12\n"
	"	movq 104(%rdi), %r13\n"
	"	movq 112(%rdi), %r14\n"
	"	movq 120(%rdi), %r15\n"
	"	movq 32(%rdi), %rsp\n"
	"	movq 56(%rdi), %rdi\n"
	"	jmp *0x10300000\n"
	".size dt_enter, .-dt_enter\n");
void dt_enter(const struct dt_regs *r, const struct dt_fpu *f) __attribute__((noreturn));

/* Child-process state: the child is single-threaded and exists only for this. */
static sigjmp_buf child_jmp;
static struct dt_result *child_out;

static void on_signal(int sig, siginfo_t *si, void *uctx)
{
	const ucontext_t *uc = uctx;
	const greg_t *g = uc->uc_mcontext.gregs;
	struct dt_regs *r = &child_out->r;
	static const int map[16] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
	                             REG_RSI, REG_RDI, REG_R8, REG_R9, REG_R10, REG_R11,
	                             REG_R12, REG_R13, REG_R14, REG_R15 };
	for (int k = 0; k < 16; k++)
		r->gpr[k] = (uint64_t)g[map[k]];
	r->rip = (uint64_t)g[REG_RIP];
	r->rflags = (uint64_t)g[REG_EFL];
	child_out->vector = (uint32_t)g[REG_TRAPNO];
	child_out->err = (uint32_t)g[REG_ERR];
	child_out->cr2 = (uint64_t)g[REG_CR2];
	/* The FPU state at the exception, as the kernel saved it (FXSAVE layout first). */
	if (uc->uc_mcontext.fpregs)
		memcpy(child_out->f.fx, uc->uc_mcontext.fpregs, sizeof(child_out->f.fx));
	else
		memset(child_out->f.fx, 0, sizeof(child_out->f.fx));
	siglongjmp(child_jmp, 1);
}

static void clear_ac_df(void)
{
	__asm__ volatile("pushfq\n\tandq $~0x40500, (%%rsp)\n\tpopfq" ::: "memory", "cc");
}

static void run_one(const struct dt_case *c, struct dt_result *out, uint8_t *code_rw, uint8_t *data)
{
	child_out = out;
	memset(code_rw, 0xcc, 4096);
	memcpy(code_rw + (DT_INSN - DT_CODE), c->code, c->len);
	memcpy(data, c->mem, DT_DATA_SIZE);
	if (sigsetjmp(child_jmp, 1) == 0)
		dt_enter(&c->in, &c->fin);
	clear_ac_df();
	memcpy(out->mem, data, DT_DATA_SIZE);
}

static void child_main(struct dt_shared *sh, int cmd_fd, int res_fd)
{
	int mfd = memfd_create("dt-code", 0);
	if (mfd < 0 || ftruncate(mfd, 4096))
		_exit(101);
	uint8_t *code_rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	void *code = mmap((void *)DT_CODE, 4096, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED_NOREPLACE, mfd, 0);
	uint8_t *data = mmap((void *)DT_DATA, DT_DATA_SIZE, PROT_READ | PROT_WRITE,
	                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	uint64_t *slot = mmap((void *)DT_SLOT, 4096, PROT_READ | PROT_WRITE,
	                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (code_rw == MAP_FAILED || code != (void *)DT_CODE || data != (void *)DT_DATA ||
	    slot != (void *)DT_SLOT)
		_exit(102);
	*slot = DT_INSN;
	mprotect(slot, 4096, PROT_READ);

	static uint8_t altstack[1 << 16];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	sigaltstack(&ss, NULL);
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO | SA_ONSTACK };
	sigemptyset(&sa.sa_mask);
	int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP };
	for (unsigned k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
		sigaction(sigs[k], &sa, NULL);

	for (;;) {
		int count;
		if (read(cmd_fd, &count, sizeof(count)) != sizeof(count))
			_exit(0);
		alarm(20); /* a runaway case kills the child; the parent reports it */
		for (int k = 0; k < count; k++) {
			sh->progress = k;
			run_one(&sh->cases[k], &sh->out[k], code_rw, data);
		}
		alarm(0);
		if (write(res_fd, &count, sizeof(count)) != sizeof(count))
			_exit(0);
	}
}

int dt_native_start(struct dt_native *n, struct dt_shared *sh)
{
	int cmd[2], res[2];
	if (pipe(cmd) || pipe(res))
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(cmd[1]);
		close(res[0]);
		child_main(sh, cmd[0], res[1]);
		_exit(0);
	}
	close(cmd[0]);
	close(res[1]);
	n->pid = pid;
	n->cmd_fd = cmd[1];
	n->res_fd = res[0];
	n->sh = sh;
	return 0;
}

void dt_native_stop(struct dt_native *n)
{
	if (n->pid <= 0)
		return;
	close(n->cmd_fd);
	close(n->res_fd);
	waitpid(n->pid, NULL, 0);
	n->pid = 0;
}

int dt_native_run(struct dt_native *n, int count)
{
	int got;
	n->sh->progress = 0;
	if (write(n->cmd_fd, &count, sizeof(count)) == sizeof(count) &&
	    read(n->res_fd, &got, sizeof(got)) == sizeof(got))
		return got;
	/* The child died: report where, and start a fresh one. */
	int at = n->sh->progress, status = 0;
	close(n->cmd_fd);
	close(n->res_fd);
	waitpid(n->pid, &status, 0);
	fprintf(stderr, "difftest: native child died (status 0x%x) at batch case %d\n", status, at);
	n->pid = 0;
	if (dt_native_start(n, n->sh))
		return -1;
	return at;
}
