/* ubench: the nanobenchmarks of the direct tier (bench/direct_bench.py): what a guest
 * user process pays for a system call, a page fault, and plain user-mode code, timed
 * with the guest's CLOCK_MONOTONIC. The same binary runs natively on the host as the
 * reference.
 *
 *   ubench [--warmup MS] [--scale F] [--sync] [--only NAME[,NAME...]]
 *
 *   syscall    getppid through syscall(SYS_getppid), ns per call
 *   pagefault  mmap 16 MiB anonymous, write one byte in each 4 KiB page, munmap;
 *              ns per page (the mmap and munmap included)
 *   userloop   an xorshift and multiply mix in registers, ns per iteration
 *   memloop    the sum of a 32 MiB array, ns per 4 KiB; the array is filled and read
 *              once before the timed passes, which see no first-touch faults
 *
 * Before each benchmark the program spins in user mode for --warmup MS milliseconds
 * (default 1000): the direct tier moves an address space to native execution once
 * timer ticks keep finding it in user mode, and may move it back when its exits come
 * too often; the spin gives every benchmark the same start. --scale F (default 1.0)
 * multiplies every benchmark's size; at 1.0 each takes at most about a second natively.
 * Lines printed, for each benchmark:
 *   ubench start NAME
 *   ubench NAME 123.4 ns/UNIT (N UNITs[, checksum 0x...])
 * "start" is printed just before the timed part begins, so a host watching the console
 * can time it with its own clock too; with --sync the program then waits for a line on
 * standard input before it starts the clock. Exit status 0, or 2 for a bad command
 * line. */
#define _GNU_SOURCE   /* syscall */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define FAULT_BYTES (16ul << 20)
#define MEM_BYTES (32ul << 20)

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

/* A user-mode busy loop of about ms milliseconds. The clock is read rarely (every 16M
 * iterations, about 4 ms natively here): under the direct tier each read (RDTSC) is an
 * exit, and frequent exits send a process back to the translator. */
static void warm_up(unsigned long ms)
{
	double end = now_ns() + ms * 1e6;
	while (ms && now_ns() < end)
		for (volatile int i = 0; i < (1 << 24); i++)
			;
}

/* Say that the timed part begins; with --sync, wait for a line on standard input
 * first (bench/direct_bench.py reads trivisor's counters meanwhile). */
static int sync_start;

static void start(const char *name)
{
	printf("ubench start %s\n", name);
	if (sync_start)
		for (int ch = getchar(); ch != EOF && ch != '\n'; ch = getchar())
			;
}

static uint64_t scaled(double base, double scale)
{
	double n = base * scale;
	return n < 1 ? 1 : (uint64_t)n;
}

static void report(const char *name, double ns, uint64_t n, const char *unit,
                   const char *extra)
{
	printf("ubench %s %.1f ns/%s (%" PRIu64 " %ss%s)\n", name, ns / n, unit, n, unit, extra);
}

static int bench_syscall(double scale)
{
	uint64_t n = scaled(1e6, scale);
	start("syscall");
	double t0 = now_ns();
	for (uint64_t i = 0; i < n; i++)
		syscall(SYS_getppid);
	report("syscall", now_ns() - t0, n, "op", "");
	return 0;
}

static int bench_pagefault(double scale)
{
	uint64_t rounds = scaled(32, scale), pages = FAULT_BYTES / PAGE;
	start("pagefault");
	double t0 = now_ns();
	for (uint64_t r = 0; r < rounds; r++) {
		volatile char *p = mmap(NULL, FAULT_BYTES, PROT_READ | PROT_WRITE,
		                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("ubench: mmap");
			return 1;
		}
		for (uint64_t k = 0; k < pages; k++)
			p[k * PAGE] = (char)k;
		munmap((void *)p, FAULT_BYTES);
	}
	report("pagefault", now_ns() - t0, rounds * pages, "page", "");
	return 0;
}

static int bench_userloop(double scale)
{
	uint64_t n = scaled(2e8, scale), x = 0x9e3779b97f4a7c15ull, acc = 0;
	start("userloop");
	double t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		acc = (acc ^ x) * 0xff51afd7ed558ccdull + i;
	}
	double t = now_ns() - t0;
	char extra[64];
	snprintf(extra, sizeof(extra), ", checksum %#" PRIx64, acc ^ x);
	report("userloop", t, n, "iter", extra);
	return 0;
}

static uint64_t sum(const uint64_t *a, uint64_t n)
{
	uint64_t s = 0;
	for (uint64_t i = 0; i < n; i++)
		s += a[i];
	return s;
}

static int bench_memloop(double scale, unsigned long warmup)
{
	uint64_t passes = scaled(128, scale), n = MEM_BYTES / sizeof(uint64_t);
	uint64_t *a = malloc(MEM_BYTES);
	if (!a) {
		perror("ubench: malloc");
		return 1;
	}
	for (uint64_t i = 0; i < n; i++)
		a[i] = i * 0x9e3779b97f4a7c15ull;
	warm_up(warmup);
	uint64_t s = sum(a, n);   /* untimed: the direct tier maps the pages natively */
	start("memloop");
	double t0 = now_ns();
	for (uint64_t p = 0; p < passes; p++) {
		__asm__ volatile("" : : "r"(a) : "memory");   /* every pass reads memory again */
		s += sum(a, n);
	}
	double t = now_ns() - t0;
	char extra[64];
	snprintf(extra, sizeof(extra), ", checksum %#" PRIx64, s);
	report("memloop", t, passes * (MEM_BYTES / PAGE), "4KiB", extra);
	free(a);
	return 0;
}

static const char *const names[] = { "syscall", "pagefault", "userloop", "memloop" };

static int usage(void)
{
	fprintf(stderr, "usage: ubench [--warmup MS] [--scale F] [--sync] "
	        "[--only syscall,pagefault,userloop,memloop]\n");
	return 2;
}

int main(int argc, char **argv)
{
	unsigned long warmup = 1000;
	double scale = 1.0;
	const char *only = NULL;
	for (int i = 1; i < argc; i++) {
		char *end;
		if (i + 1 < argc && !strcmp(argv[i], "--warmup")) {
			warmup = strtoul(argv[++i], &end, 0);
		} else if (i + 1 < argc && !strcmp(argv[i], "--scale")) {
			scale = strtod(argv[++i], &end);
			if (!(scale > 0))
				return usage();
		} else if (!strcmp(argv[i], "--sync")) {
			sync_start = 1;
			end = "";
		} else if (i + 1 < argc && !strcmp(argv[i], "--only")) {
			only = argv[++i];
			end = "";
		} else {
			return usage();
		}
		if (*end)
			return usage();
	}
	int chosen[4] = { 0 };
	for (const char *p = only ? only : ""; *p; p += strcspn(p, ","), p += *p == ',') {
		size_t len = strcspn(p, ",");
		unsigned b = 0;
		while (b < 4 && (strlen(names[b]) != len || strncmp(p, names[b], len)))
			b++;
		if (b == 4)
			return usage();
		chosen[b] = 1;
	}
	if (!only)
		chosen[0] = chosen[1] = chosen[2] = chosen[3] = 1;
	else if (!(chosen[0] | chosen[1] | chosen[2] | chosen[3]))
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ubench: warmup %lu ms, scale %g\n", warmup, scale);
	int bad = 0;
	for (unsigned b = 0; b < 4 && !bad; b++) {
		if (!chosen[b])
			continue;
		if (b == 3) {   /* memloop warms up after filling its array */
			bad = bench_memloop(scale, warmup);
			continue;
		}
		warm_up(warmup);
		bad = b == 0 ? bench_syscall(scale) : b == 1 ? bench_pagefault(scale)
		                                                : bench_userloop(scale);
	}
	return bad;
}
