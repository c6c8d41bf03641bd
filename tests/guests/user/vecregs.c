/* vecregs: two processes on one CPU each fill the vector registers with their own
 * pattern, yield to the other, and read them back, many times. Whatever runs user code
 * (the guest kernel switching processes under the soft tiers; also the direct tier's
 * helper, with the host's wider registers than the guest CPU model has), a process
 * must only ever see its own pattern, or zero in the parts the guest kernel does not
 * save (everything above xmm0-15's 128 bits when the guest CPU has no AVX): never the
 * other process's.
 *
 *   vecregs [--width 512|256|128] [--rounds N] [--spin N] [--warmup MS]
 *
 * Without --width, the widest the CPU reports (CPUID and XGETBV: AVX-512 zmm0-31 and
 * k0-7, AVX ymm0-15, else xmm0-15). A guest's CPUID may describe the guest CPU model
 * rather than the host, so --width asks for a width regardless; when its instructions
 * raise SIGILL the program says "vecregs: width N not available (SIGILL)" and exits 0.
 * Otherwise it prints "vecregs: width W, N rounds, leaks L" and exits 0 only when no
 * register ever held anything but its own pattern or zero. --warmup MS spins in user
 * mode for MS milliseconds before the probe and before each process's rounds: the
 * direct tier moves an address space to native execution only once it has been busy. */
#define _GNU_SOURCE   /* REG_RIP, sched_setaffinity, strsignal */
#include <cpuid.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/wait.h>

#include "check.h"

void vec_cycle128(const void *in, void *out, unsigned long spin);
void vec_cycle256(const void *in, void *out, unsigned long spin);
void vec_cycle512(const void *in, void *out, unsigned long spin);
void vec_probe128(void);
void vec_probe256(void);
void vec_probe512(void);

#define KREGS_AT 2048          /* k0-7 in the buffers, 8 bytes apart (vecregs_asm.S) */
#define BUF_SIZE (KREGS_AT + 8 * 8)

static const uint64_t tags[2] = { 0xa5, 0x5a };

struct width {
	int bits, nregs, nkregs;
	void (*cycle)(const void *, void *, unsigned long);
	void (*probe)(void);
};

static const struct width widths[] = {
	{ 128, 16, 0, vec_cycle128, vec_probe128 },
	{ 256, 16, 0, vec_cycle256, vec_probe256 },
	{ 512, 32, 8, vec_cycle512, vec_probe512 },
};

/* What one process saw over all its rounds. */
struct tally {
	unsigned long leaks, corrupt, zeroed;
};

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;
	asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

static int cpu_width(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
		return 128;
	uint64_t xcr0 = xgetbv0();
	if ((xcr0 & 6) != 6)               /* SSE and AVX state enabled by the OS */
		return 128;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_AVX512F) &&
	    (xcr0 & 0xe0) == 0xe0)         /* opmask, ZMM_Hi256, Hi16_ZMM */
		return 512;
	return 256;
}

/* Vector qword q of register r in process p's round; the tag byte on top says whose. */
static uint64_t vpat(int p, int r, int q, unsigned long round)
{
	return tags[p] << 56 | (uint64_t)r << 48 | (uint64_t)q << 40 | (round & 0xffffffffffull);
}

/* kmovw moves 16 bits: the tag in the upper byte again. */
static uint64_t kpat(int p, int r, unsigned long round)
{
	return tags[p] << 8 | ((round + (unsigned long)r) & 0xff);
}

static void fill(const struct width *w, int p, unsigned long round, unsigned char *buf)
{
	int qwords = w->bits / 64;
	memset(buf, 0, BUF_SIZE);
	for (int r = 0; r < w->nregs; r++)
		for (int q = 0; q < qwords; q++) {
			uint64_t v = vpat(p, r, q, round);
			memcpy(buf + (r * qwords + q) * 8, &v, 8);
		}
	for (int r = 0; r < w->nkregs; r++) {
		uint64_t v = kpat(p, r, round);
		memcpy(buf + KREGS_AT + r * 8, &v, 8);
	}
}

/* One value read back: own pattern, zero (only where allowed), the other process's
 * pattern (a leak) or anything else. Reports the first few problems. */
static void judge(struct tally *t, int p, unsigned long round, const char *what, int r, int q,
                  uint64_t got, uint64_t want, int zero_ok, int tag_shift)
{
	const char *kind;
	if (got == want)
		return;
	if (got == 0 && zero_ok) {
		t->zeroed++;
		return;
	}
	if (((got >> tag_shift) & 0xff) == tags[!p]) {
		t->leaks++;
		kind = "the other process's pattern";
	} else {
		t->corrupt++;
		kind = got ? "not its own pattern" : "zero where the kernel saves the register";
	}
	if (t->leaks + t->corrupt <= 8)
		printf("vecregs: process %d round %lu: %s%d qword %d = %#018llx (%s), expected "
		       "%#018llx\n", p, round, what, r, q, (unsigned long long)got, kind,
		       (unsigned long long)want);
}

static void check_round(const struct width *w, int p, unsigned long round,
                        const unsigned char *out, struct tally *t)
{
	const char *name = w->bits == 512 ? "zmm" : w->bits == 256 ? "ymm" : "xmm";
	int qwords = w->bits / 64;
	for (int r = 0; r < w->nregs; r++)
		for (int q = 0; q < qwords; q++) {
			uint64_t got;
			memcpy(&got, out + (r * qwords + q) * 8, 8);
			/* Linux saves xmm0-15 whatever else it knows about. */
			int saved = r < 16 && q < 2;
			judge(t, p, round, name, r, q, got, vpat(p, r, q, round), !saved, 56);
		}
	for (int r = 0; r < w->nkregs; r++) {
		uint64_t got;
		memcpy(&got, out + KREGS_AT + r * 8, 8);
		judge(t, p, round, "k", r, 0, got, kpat(p, r, round), 1, 8);
	}
}

static void run_process(const struct width *w, int p, unsigned long rounds, unsigned long spin,
                        int result_fd)
{
	static unsigned char in[BUF_SIZE] __attribute__((aligned(64)));
	static unsigned char out[BUF_SIZE] __attribute__((aligned(64)));
	struct tally t = { 0 };
	for (unsigned long round = 0; round < rounds; round++) {
		fill(w, p, round, in);
		memset(out, 0, sizeof(out));
		w->cycle(in, out, spin);
		check_round(w, p, round, out, &t);
	}
	_exit(write(result_fd, &t, sizeof(t)) == sizeof(t) ? 0 : 1);
}

/* Both processes on the first CPU this one may run on, so they take turns on it. */
static int pin_one_cpu(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set))
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set)) {
			CPU_ZERO(&set);
			CPU_SET(c, &set);
			return sched_setaffinity(0, sizeof(set), &set) ? -1 : c;
		}
	return -1;
}

static void probe(void *fn)
{
	((void (*)(void))fn)();
}

int main(int argc, char **argv)
{
	int bits = 0;
	unsigned long rounds = 2000, spin = 2000, warmup = 0;
	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--width"))
			bits = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(argv[i], "--rounds"))
			rounds = strtoul(argv[++i], NULL, 0);
		else if (i + 1 < argc && !strcmp(argv[i], "--spin"))
			spin = strtoul(argv[++i], NULL, 0);
		else if (i + 1 < argc && !strcmp(argv[i], "--warmup"))
			warmup = strtoul(argv[++i], NULL, 0);
		else
			bits = -1;
	}
	const struct width *w = NULL;
	int cpuw = cpu_width();
	if (!bits)
		bits = cpuw;
	for (unsigned i = 0; i < sizeof(widths) / sizeof(widths[0]); i++)
		if (widths[i].bits == bits)
			w = &widths[i];
	if (!w || !rounds) {
		fprintf(stderr, "usage: vecregs [--width 512|256|128] [--rounds N] [--spin N] "
		        "[--warmup MS]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("info vecregs: the CPU reports width %d\n", cpuw);

	warm_up(warmup);
	struct caught c;
	if (run_trapped(probe, (void *)w->probe, &c, 5000) == SIGILL) {
		printf("vecregs: width %d not available (SIGILL)\n", bits);
		return 0;
	}
	int cpu = pin_one_cpu();
	if (cpu < 0) {
		printf("vecregs: sched_setaffinity: %s\n", strerror(errno));
		return 1;
	}

	int fd[2];
	pid_t kids[2];
	if (pipe(fd)) {
		printf("vecregs: pipe: %s\n", strerror(errno));
		return 1;
	}
	for (int p = 0; p < 2; p++) {
		kids[p] = fork();
		if (kids[p] == 0) {
			close(fd[0]);
			warm_up(warmup);
			run_process(w, p, rounds, spin, fd[1]);
		}
		if (kids[p] < 0) {
			printf("vecregs: fork: %s\n", strerror(errno));
			return 1;
		}
	}
	close(fd[1]);
	struct tally sum = { 0 }, t;
	int reports = 0;
	while (read(fd[0], &t, sizeof(t)) == sizeof(t)) {
		sum.leaks += t.leaks;
		sum.corrupt += t.corrupt;
		sum.zeroed += t.zeroed;
		reports++;
	}
	int bad_exit = 0;
	for (int p = 0; p < 2; p++) {
		int st = -1;
		if (waitpid(kids[p], &st, 0) != kids[p] || !WIFEXITED(st) || WEXITSTATUS(st)) {
			printf("vecregs: process %d ended with wait status %#x\n", p, st);
			bad_exit = 1;
		}
	}
	printf("info vecregs: on CPU %d, values zeroed by a switch: %lu\n", cpu, sum.zeroed);
	if (sum.corrupt)
		printf("vecregs: %lu values neither own pattern, zero nor the other's\n", sum.corrupt);
	printf("vecregs: width %d, %lu rounds, leaks %lu\n", bits, rounds, sum.leaks);
	return sum.leaks || sum.corrupt || bad_exit || reports != 2 ? 1 : 0;
}
