/* Software CPU: two CPUs on two host threads over one memory, as the soft engine runs an
 * SMP guest.
 *  - locked instructions are atomic against the other CPU: LOCK INC and XADD counters,
 *    a LOCK CMPXCHG spinlock (released by XCHG) guarding a plain increment, and LOCK
 *    BTS/BTR of each CPU's own bit of one shared quadword all come out exact;
 *  - cross-modifying code: a store by one CPU into code the other CPU has decoded and is
 *    running reaches it (struct soft_code_share), so its spin loop ends. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/soft/mmu/flatmem.h"
#include "engine/soft/soft.h"

#define RAM (1u << 16)
#define ROUNDS 100000u

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
	printf(__VA_ARGS__); printf("\n"); } } while (0)

/* At 0x1000 (the offsets are objdump's of the source in the comments):
 *      mov ecx, ROUNDS
 *  1:  lock inc dword [0x8000]
 *      mov eax, 1 ; lock xadd [0x8004], eax
 *  2:  xor eax, eax ; mov edx, 1 ; lock cmpxchg [0x8008], edx ; jnz 2b
 *      inc dword [0x800c]              (plain: the spinlock makes it safe)
 *      xchg [0x8008], eax              (release: eax is 0)
 *      lock bts [0x8018], rsi ; lock btr [0x8018], rsi
 *      dec ecx ; jnz 1b ; int3
 * xmc (0x1054): mov eax, 0x11111111 ; cmp eax, 0x22222222 ; jne xmc ; int3 */
static const uint8_t code[] = {
	0xb9, ROUNDS & 0xff, (ROUNDS >> 8) & 0xff, ROUNDS >> 16, 0x00,
	0xf0, 0xff, 0x04, 0x25, 0x00, 0x80, 0x00, 0x00,
	0xb8, 0x01, 0x00, 0x00, 0x00,
	0xf0, 0x0f, 0xc1, 0x04, 0x25, 0x04, 0x80, 0x00, 0x00,
	0x31, 0xc0,
	0xba, 0x01, 0x00, 0x00, 0x00,
	0xf0, 0x0f, 0xb1, 0x14, 0x25, 0x08, 0x80, 0x00, 0x00,
	0x75, 0xee,
	0xff, 0x04, 0x25, 0x0c, 0x80, 0x00, 0x00,
	0x87, 0x04, 0x25, 0x08, 0x80, 0x00, 0x00,
	0xf0, 0x48, 0x0f, 0xab, 0x34, 0x25, 0x18, 0x80, 0x00, 0x00,
	0xf0, 0x48, 0x0f, 0xb3, 0x34, 0x25, 0x18, 0x80, 0x00, 0x00,
	0xff, 0xc9,
	0x75, 0xb2,
	0xcc,
	/* xmc, 0x1054 */
	0xb8, 0x11, 0x11, 0x11, 0x11,
	0x3d, 0x22, 0x22, 0x22, 0x22,
	0x75, 0xf4,
	0xcc,
};
#define XMC 0x1054u
/* At 0x3000: mov dword [XMC + 1], 0x22222222 ; int3 */
static const uint8_t patch[] = { 0xc7, 0x04, 0x25, 0x55, 0x10, 0x00, 0x00,
                                 0x22, 0x22, 0x22, 0x22, 0xcc };

struct cpu {
	struct soft_cpu *c;
	pthread_mutex_t lock;
	uint64_t inv_gpa, inv_len;   /* one pending invalidation is enough here */
	int ok;
};

static struct cpu cpus[2];

/* What engine_soft.c does for real: queue the range, kick the CPU. */
static void notify(void *opaque, uint64_t mask, uint64_t gpa, uint64_t len)
{
	for (unsigned k = 0; k < 2; k++) {
		if (!(mask & (1ull << k)))
			continue;
		pthread_mutex_lock(&cpus[k].lock);
		cpus[k].inv_gpa = gpa;
		cpus[k].inv_len = len;
		pthread_mutex_unlock(&cpus[k].lock);
		__atomic_store_n(&cpus[k].c->sys.kick, 1, __ATOMIC_RELEASE);
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run from the CPU's rip to INT3, taking queued invalidations between runs; 20 s at most. */
static void *run(void *arg)
{
	struct cpu *p = arg;
	double end = now() + 20;
	while (now() < end) {
		int r = soft_run(p->c, 1u << 16);
		pthread_mutex_lock(&p->lock);
		if (p->inv_len) {
			soft_code_invalidate(&p->c->cache, p->inv_gpa, p->inv_len);
			p->inv_len = 0;
		}
		pthread_mutex_unlock(&p->lock);
		if (r == SOFT_RUN_KICKED)
			__atomic_store_n(&p->c->sys.kick, 0, __ATOMIC_RELEASE);
		else if (r == SOFT_RUN_EXCEPTION) {
			p->ok = p->c->fault.vector == 3;
			return NULL;
		} else if (r != SOFT_RUN_BUDGET) {
			return NULL;
		}
	}
	return NULL;
}

static void run_both(void)
{
	pthread_t t[2];
	for (unsigned k = 0; k < 2; k++)
		pthread_create(&t[k], NULL, run, &cpus[k]);
	for (unsigned k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
}

int main(void)
{
	uint8_t *ram = calloc(1, RAM);
	struct soft_flatmem flat = { ram, RAM };
	struct soft_code_share share = { .mask = calloc(RAM >> 12, sizeof(uint64_t)),
	                                 .npages = RAM >> 12, .notify = notify };
	if (!ram || !share.mask)
		return 1;
	memcpy(ram + 0x1000, code, sizeof(code));
	memcpy(ram + 0x3000, patch, sizeof(patch));
	for (unsigned k = 0; k < 2; k++) {
		cpus[k].c = calloc(1, sizeof(*cpus[k].c));
		if (!cpus[k].c || soft_cpu_init(cpus[k].c, &soft_flat_ops, &flat))
			return 1;
		pthread_mutex_init(&cpus[k].lock, NULL);
		cpus[k].c->cache.share = &share;
		cpus[k].c->cache.self = 1ull << k;
		cpus[k].c->gpr[R_RSP] = 0x7000 - 0x800 * k;
	}

	/* Both CPUs through the locked loop at once. */
	for (unsigned k = 0; k < 2; k++) {
		cpus[k].c->rip = 0x1000;
		cpus[k].c->gpr[R_RSI] = 3 + 2 * k;   /* bits 3 and 5 */
	}
	run_both();
	uint32_t inc, xadd, guarded;
	uint64_t bits;
	memcpy(&inc, ram + 0x8000, 4);
	memcpy(&xadd, ram + 0x8004, 4);
	memcpy(&guarded, ram + 0x800c, 4);
	memcpy(&bits, ram + 0x8018, 8);
	CHECK(cpus[0].ok && cpus[1].ok, "locked loop: a CPU did not reach int3");
	CHECK(inc == 2 * ROUNDS, "lock inc: %u, want %u", inc, 2 * ROUNDS);
	CHECK(xadd == 2 * ROUNDS, "lock xadd: %u, want %u", xadd, 2 * ROUNDS);
	CHECK(guarded == 2 * ROUNDS, "spinlock-guarded increment: %u, want %u", guarded, 2 * ROUNDS);
	CHECK(bits == 0, "lock bts/btr: %#llx left, want 0", (unsigned long long)bits);

	/* CPU 1 spins in code it decoded; CPU 0 patches it. */
	cpus[1].c->rip = XMC;
	cpus[1].ok = 0;
	pthread_t t;
	pthread_create(&t, NULL, run, &cpus[1]);
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	nanosleep(&pause, NULL);            /* decoded and spinning */
	cpus[0].c->rip = 0x3000;
	cpus[0].ok = 0;
	run(&cpus[0]);
	pthread_join(t, NULL);
	CHECK(cpus[0].ok, "cross-modifying code: the patch did not run");
	CHECK(cpus[1].ok && cpus[1].c->gpr[R_RAX] == 0x22222222,
	      "cross-modifying code: the spinning CPU never saw the new bytes (eax %#llx)",
	      (unsigned long long)cpus[1].c->gpr[R_RAX]);

	for (unsigned k = 0; k < 2; k++) {
		soft_cpu_destroy(cpus[k].c);
		free(cpus[k].c);
	}
	free(share.mask);
	free(ram);
	printf("test_soft_smp: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
