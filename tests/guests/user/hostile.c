/* hostile: a guest user program that misbehaves on purpose and checks that it gets only
 * what the guest kernel gives: raw system calls the kernel lacks, the legacy 32-bit
 * entry points, kernel memory, privileged instructions, a non-executable page. However
 * the tier runs user code (tests/integration/test_direct.py), none of it may reach the
 * host, stop the VM or give an answer the guest kernel would not.
 *
 *   hostile [--warmup MS] [--jump ADDR]... [--read ADDR]...
 *
 * --jump ADDR (repeatable) also checks that jumping to ADDR gives SIGSEGV there, and
 * --read ADDR (repeatable) that reading a byte at ADDR, which the guest never mapped,
 * gives SIGSEGV (SEGV_MAPERR) there: the direct tier passes its helper's own pages.
 * --warmup MS first spins in user mode for MS milliseconds, so that under the direct
 * tier the checks run natively. The --jump and --read checks come first, and after
 * --warmup each after a short spin of its own (a run of system calls, as the checks
 * make, can send the process back to the translator). Output like utest's: "ok NAME"
 * / "FAIL NAME: why" lines, "info ..." lines for what the kernel chose where it may
 * choose, then "hostile: N passed, M failed"; exit status 0 only when all pass. */
#define _GNU_SOURCE   /* REG_RIP, sched_setaffinity, strsignal */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "check.h"

#define PAGE 4096ul

static long raw_syscall(unsigned long nr, long a1, long a2, long a3)
{
	long ret;
	register long r10 asm("r10") = 0;
	asm volatile("syscall"
	             : "=a"(ret)
	             : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10)
	             : "rcx", "r11", "memory");
	return ret;
}

/* ---- system calls ----------------------------------------------------------------- */

/* The first x86-64 system call number past the table of kernel release major.minor,
 * for the releases whose table is known here (0: not known). Those releases also leave
 * 335-423 unassigned (6.11 put uretprobe at 335). */
static unsigned first_absent_syscall(int major, int minor)
{
	int v = major * 100 + minor;
	if (v < 517)
		return 0;
	if (v < 605)
		return 451;   /* 450 set_mempolicy_home_node (5.17) is the last */
	if (v < 606)
		return 452;   /* cachestat */
	if (v < 607)
		return 454;   /* fchmodat2, map_shadow_stack */
	if (v < 608)
		return 457;   /* futex_wake, futex_wait, futex_requeue */
	return 0;
}

static void check_enosys(const struct utsname *u)
{
	/* Numbers far past any table, and -1 (what a tracer uses to skip a call). */
	unsigned long nrs[32] = { 1000, 4096, 0x3fffffff, ~0ul };
	unsigned n = 4;
	int major = 0, minor = 0;
	sscanf(u->release, "%d.%d", &major, &minor);
	unsigned first = first_absent_syscall(major, minor);
	if (first) {
		nrs[n++] = 335;
		nrs[n++] = 387;
		nrs[n++] = 423;
		for (unsigned nr = first; nr <= 460; nr++)
			nrs[n++] = nr;
	} else {
		printf("info enosys: release %s: its newest system calls are not known here\n",
		       u->release);
	}
	unsigned bad = 0;
	for (unsigned i = 0; i < n; i++) {
		long r = raw_syscall(nrs[i], 0, 0, 0);
		if (r != -ENOSYS) {
			fail("enosys", "system call %ld returned %ld, expected -ENOSYS (%d)",
			     (long)nrs[i], r, -ENOSYS);
			bad++;
		}
	}
	if (!bad)
		ok("enosys");
}

/* Field `field` (1-based) of /proc/self/stat, as a number. */
static long proc_stat_field(int field)
{
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	if (field == 1)
		return strtol(buf, NULL, 10);
	/* Fields after the command name, which is in parentheses and may hold spaces. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2;
	for (int i = 3; i < field && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtol(p, NULL, 10) : -1;
}

static void check_ids(void)
{
	long raw = raw_syscall(39, 0, 0, 0), libc = getpid(), proc = proc_stat_field(1);
	long tid = raw_syscall(186, 0, 0, 0);
	if (raw == libc && raw == proc && tid == raw)
		ok("getpid");
	else
		fail("getpid", "raw syscall %ld, glibc %ld, /proc/self/stat %ld, gettid %ld", raw,
		     libc, proc, tid);

	long ppid = raw_syscall(110, 0, 0, 0);
	if (ppid == getppid() && ppid == proc_stat_field(4))
		ok("getppid");
	else
		fail("getppid", "raw syscall %ld, glibc %d, /proc/self/stat %ld", ppid, getppid(),
		     proc_stat_field(4));
	/* The upper half of RAX: Linux 6.1 takes the number as an int (so this is getpid),
	 * older kernels refused it; either way the guest kernel's answer, nothing else. */
	long hi = raw_syscall(0xffffffff00000000ul | 39, 0, 0, 0);
	if (hi == raw || hi == -ENOSYS) {
		printf("info syscall_high_bits: %s\n", hi == raw ? "getpid" : "-ENOSYS");
		ok("syscall_high_bits");
	} else {
		fail("syscall_high_bits", "returned %ld (pid %ld)", hi, raw);
	}
}

static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, (int)size, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static void check_uname(struct utsname *u)
{
	char host[256], rel[256], type[256];
	long r = raw_syscall(63, (long)u, 0, 0);
	if (r || read_line("/proc/sys/kernel/hostname", host, sizeof(host)) ||
	    read_line("/proc/sys/kernel/osrelease", rel, sizeof(rel)) ||
	    read_line("/proc/sys/kernel/ostype", type, sizeof(type)))
		fail("uname", "uname returned %ld, or /proc/sys/kernel is unreadable", r);
	else if (strcmp(u->nodename, host) || strcmp(u->release, rel) || strcmp(u->sysname, type))
		fail("uname", "uname says %s %s %s, /proc/sys/kernel says %s %s %s", u->sysname,
		     u->nodename, u->release, type, host, rel);
	else
		ok("uname");
	printf("info uname: %s %s\n", u->sysname, u->release);
}

/* ---- the legacy 32-bit entry points ----------------------------------------------- */

struct int80_call {
	long nr, ret;
};

static void do_int80(void *arg)
{
	struct int80_call *c = arg;
	long ret;
	asm volatile("int $0x80"
	             : "=a"(ret)
	             : "a"(c->nr), "b"(0)
	             : "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
	c->ret = ret;
}

static void check_int80(void)
{
	/* 20 is getpid for i386: a 64-bit program may make 32-bit system calls through
	 * int $0x80 when the kernel has IA-32 emulation; without it, -ENOSYS or SIGSEGV. */
	struct int80_call c = { 20, 0 };
	struct caught sig;
	int got = run_trapped(do_int80, &c, &sig, 5000);
	if (got == SIGSEGV) {
		printf("info int80: SIGSEGV\n");
		ok("int80");
	} else if (got) {
		fail("int80", "signal %d (%s)", got, strsignal(got));
	} else if (c.ret == getpid() || c.ret == -ENOSYS) {
		printf("info int80: %s\n", c.ret == -ENOSYS ? "-ENOSYS" : "getpid");
		ok("int80");
	} else {
		fail("int80", "returned %ld, pid %d", c.ret, getpid());
	}
}

static void do_sysenter(void *arg)
{
	(void)arg;
	asm volatile("mov $20, %%eax\n sysenter" ::: "rax", "rcx", "rdx", "r11", "memory");
}

/* SYSENTER from 64-bit code: what happens is up to the CPU model and the kernel (Linux
 * returns to its 32-bit landing pad, which a 64-bit program lacks), so it runs in a
 * child process; the parent only needs to be there to report. */
static void check_sysenter(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(10);
		struct caught c;
		_exit(run_trapped(do_sysenter, NULL, &c, 5000));
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		fail("sysenter", "fork or wait: %s", strerror(errno));
		return;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st))
		printf("info sysenter: %s\n", strsignal(WEXITSTATUS(st)));
	else if (WIFEXITED(st))
		printf("info sysenter: returned\n");
	else
		printf("info sysenter: the child was killed by %s\n", strsignal(WTERMSIG(st)));
	ok("sysenter");
}

/* ---- kernel memory, stray jumps, non-executable pages -------------------------------- */

static void read_byte(void *p)
{
	(void)*(volatile char *)p;
}

static void call_fn(void *fn)
{
	((void (*)(void))fn)();
}

/* Expects fn(arg) to raise SIGSEGV with code, and si_addr addr (unless check_addr is 0). */
static void expect_segv(const char *name, void (*fn)(void *), void *arg, int code,
                        void *addr, int check_addr)
{
	struct caught c;
	int got = run_trapped(fn, arg, &c, 5000);
	if (got != SIGSEGV)
		fail(name, "got signal %d (%s), expected SIGSEGV", got, got ? strsignal(got) : "none");
	else if (c.code != code)
		fail(name, "si_code %d, expected %d", c.code, code);
	else if (check_addr && c.addr != addr)
		fail(name, "si_addr %p, expected %p", c.addr, addr);
	else
		ok(name);
}

#define KERNEL_TEXT ((void *)0xffffffff81000000ul)
#define DIRECT_MAP  ((void *)0xffff888000000000ul)
#define NONCANON    ((void *)0x8000000000000000ul)

static void check_kernel_memory(void)
{
	/* A user access to a kernel address is a page fault there (whatever is mapped). */
	expect_segv("read_kernel_text", read_byte, KERNEL_TEXT, SEGV_MAPERR, KERNEL_TEXT, 1);
	expect_segv("read_direct_map", read_byte, DIRECT_MAP, SEGV_MAPERR, DIRECT_MAP, 1);
	expect_segv("jump_kernel_text", call_fn, KERNEL_TEXT, SEGV_MAPERR, KERNEL_TEXT, 1);
	/* A non-canonical address is a #GP instead, with no address reported. */
	expect_segv("read_noncanonical", read_byte, NONCANON, SI_KERNEL, NULL, 0);
	expect_segv("jump_noncanonical", call_fn, NONCANON, SI_KERNEL, NULL, 0);
}

/* Calls fn with RBX pointing at readable memory, all ones (-1 in every qword): code at
 * fn that reads through RBX, as the direct tier's helper stub does, would not fault
 * there and run on, instead of stopping at its first instruction. */
asm(".text\n"
    "hostile_call_rbx: push %rbx\n mov %rsi, %rbx\n call *%rdi\n pop %rbx\n ret\n");
void hostile_call_rbx(void *fn, const void *rbx);

static void call_fn_rbx(void *fn)
{
	static const unsigned long ones[64] = {
		[0 ... 63] = ~0ul,
	};
	hostile_call_rbx(fn, ones);
}

/* --jump ADDR and --read ADDR: a SIGSEGV at ADDR. Unmapped: a page fault (MAPERR);
 * mapped but not executable: ACCERR. A read must find ADDR unmapped. */
static void check_addr_arg(const char *opt, const char *arg)
{
	int jump = !strcmp(opt, "--jump");
	char name[64];
	char *end;
	errno = 0;
	unsigned long addr = strtoul(arg, &end, 0);
	snprintf(name, sizeof(name), "%s_%s", jump ? "jump" : "read", arg);
	if (errno || *end || !*arg) {
		fail(name, "not an address");
		return;
	}
	struct caught c;
	int got = run_trapped(jump ? call_fn_rbx : read_byte, (void *)addr, &c, 5000);
	if (got != SIGSEGV)
		fail(name, "got signal %d (%s), expected SIGSEGV", got, got ? strsignal(got) : "none");
	else if (c.addr != (void *)addr)
		fail(name, "si_addr %p, expected %#lx", c.addr, addr);
	else if (!jump && c.code != SEGV_MAPERR)
		fail(name, "si_code %d, expected SEGV_MAPERR (%d)", c.code, SEGV_MAPERR);
	else
		ok(name);
}

static void check_nx(void)
{
	unsigned char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	                        -1, 0);
	if (p == MAP_FAILED) {
		fail("exec_nx", "mmap: %s", strerror(errno));
		return;
	}
	p[0] = 0xc3;   /* ret */
	expect_segv("exec_nx", call_fn, p, SEGV_ACCERR, p, 1);
	/* The control: once executable, the same page runs. */
	if (mprotect(p, PAGE, PROT_READ | PROT_EXEC)) {
		fail("exec_rx", "mprotect: %s", strerror(errno));
	} else {
		struct caught c;
		int got = run_trapped(call_fn, p, &c, 5000);
		if (got)
			fail("exec_rx", "signal %d (%s)", got, strsignal(got));
		else
			ok("exec_rx");
	}
	munmap(p, PAGE);
}

/* ---- privileged instructions ------------------------------------------------------- */

/* Each a #GP at CPL 3, which Linux turns into SIGSEGV with SI_KERNEL. Operands that
 * would do harm if the instruction ever ran: CR3 0, EFER 0, an empty GDT and IDT. */
asm(".bss\n"
    "hostile_zero: .zero 16\n"
    ".text\n"
    "hostile_hlt: hlt\n ret\n"
    "hostile_cli: cli\n ret\n"
    "hostile_sti: sti\n ret\n"
    "hostile_in: in $0x80, %al\n ret\n"
    "hostile_out: out %al, $0x80\n ret\n"
    "hostile_in_dx: mov $0xcf8, %dx\n inl (%dx), %eax\n ret\n"
    "hostile_mov_cr3: xor %eax, %eax\n mov %rax, %cr3\n ret\n"
    "hostile_read_cr0: mov %cr0, %rax\n ret\n"
    "hostile_mov_dr7: xor %eax, %eax\n mov %rax, %dr7\n ret\n"
    "hostile_wrmsr: mov $0xc0000080, %ecx\n xor %eax, %eax\n xor %edx, %edx\n wrmsr\n ret\n"
    "hostile_rdmsr: mov $0x10, %ecx\n rdmsr\n ret\n"
    "hostile_lgdt: lgdt hostile_zero(%rip)\n ret\n"
    "hostile_lidt: lidt hostile_zero(%rip)\n ret\n"
    "hostile_ltr: xor %eax, %eax\n ltr %ax\n ret\n"
    "hostile_invlpg: invlpg hostile_zero(%rip)\n ret\n"
    "hostile_wbinvd: wbinvd\n ret\n"
    "hostile_clts: clts\n ret\n"
    "hostile_swapgs: swapgs\n ret\n"
    "hostile_int20: int $0x20\n ret\n");

void hostile_hlt(void), hostile_cli(void), hostile_sti(void), hostile_in(void),
	hostile_out(void), hostile_in_dx(void), hostile_mov_cr3(void), hostile_read_cr0(void),
	hostile_mov_dr7(void), hostile_wrmsr(void), hostile_rdmsr(void), hostile_lgdt(void),
	hostile_lidt(void), hostile_ltr(void), hostile_invlpg(void), hostile_wbinvd(void),
	hostile_clts(void), hostile_swapgs(void), hostile_int20(void);

static const struct {
	const char *name;
	void (*fn)(void);
} priv[] = {
	{ "hlt", hostile_hlt },         { "cli", hostile_cli },
	{ "sti", hostile_sti },         { "in", hostile_in },
	{ "out", hostile_out },         { "in_dx", hostile_in_dx },
	{ "mov_cr3", hostile_mov_cr3 }, { "read_cr0", hostile_read_cr0 },
	{ "mov_dr7", hostile_mov_dr7 }, { "wrmsr", hostile_wrmsr },
	{ "rdmsr", hostile_rdmsr },     { "lgdt", hostile_lgdt },
	{ "lidt", hostile_lidt },       { "ltr", hostile_ltr },
	{ "invlpg", hostile_invlpg },   { "wbinvd", hostile_wbinvd },
	{ "clts", hostile_clts },       { "swapgs", hostile_swapgs },
	{ "int_0x20", hostile_int20 },
};

static void check_privileged(void)
{
	for (unsigned i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
		char name[64];
		snprintf(name, sizeof(name), "priv_%s", priv[i].name);
		expect_segv(name, call_fn, (void *)priv[i].fn, SI_KERNEL, NULL, 0);
	}
}

/* A spin before each --jump or --read check, under --warmup: long enough to outweigh
 * the previous check's system calls in the direct tier's reckoning. */
#define REWARM_MS 20

static void usage(void)
{
	fprintf(stderr, "usage: hostile [--warmup MS] [--jump ADDR]... [--read ADDR]...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long warmup = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i += 2) {
		if (i + 1 == argc)
			usage();
		if (!strcmp(argv[i], "--warmup")) {
			char *end;
			warmup = strtoul(argv[i + 1], &end, 0);
			if (*end || !*argv[i + 1])
				usage();
		} else if (strcmp(argv[i], "--jump") && strcmp(argv[i], "--read")) {
			usage();
		}
	}
	warm_up(warmup);
	for (int i = 1; i < argc; i += 2)
		if (strcmp(argv[i], "--warmup")) {
			warm_up(warmup ? REWARM_MS : 0);
			check_addr_arg(argv[i], argv[i + 1]);
		}
	struct utsname u;
	check_uname(&u);
	check_enosys(&u);
	check_ids();
	check_int80();
	check_sysenter();
	check_kernel_memory();
	check_nx();
	check_privileged();
	return summary("hostile");
}
