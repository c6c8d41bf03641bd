#include "mem.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define PAGE_SIZE 4096ull

/* The guest RAM a SIGBUS handler may find the faulting address in. A signal
 * disposition is process-wide, so this table is too: the one piece of global state
 * here, written by mem_init/mem_destroy, read by the handler. */
#define GUARD_MAX 16
static _Atomic(struct guest_mem *) guarded[GUARD_MAX];
static struct sigaction guard_prev;

static void guard_add(struct guest_mem *m)
{
	for (unsigned i = 0; i < GUARD_MAX; i++) {
		struct guest_mem *none = NULL;
		if (atomic_compare_exchange_strong(&guarded[i], &none, m))
			return;
	}
	/* More live VMs than that: the rest keep the default (a SIGBUS kills). */
}

static void guard_remove(struct guest_mem *m)
{
	for (unsigned i = 0; i < GUARD_MAX; i++) {
		struct guest_mem *mine = m;
		atomic_compare_exchange_strong(&guarded[i], &mine, NULL);
	}
}

/* Async-signal-safe: only system calls and the table above. */
static void guard_fatal(const char *msg)
{
	ssize_t n = write(STDERR_FILENO, msg, strlen(msg));
	(void)n;
	_exit(1);   /* VM_STATUS_ERROR: the VM failed while running */
}

/* A page of guest RAM the host could not provide (or lost to a hardware error): map
 * a private zero page in its place, so that the access completes, and record it. */
static bool guard_page(struct guest_mem *m, uintptr_t addr, int code)
{
	for (unsigned i = 0; i < m->nslots; i++) {
		const struct mem_slot *s = &m->slots[i];
		uintptr_t base = (uintptr_t)s->host;
		if (s->rom || addr < base || addr - base >= s->size)
			continue;
		uintptr_t page = addr & ~(uintptr_t)(PAGE_SIZE - 1);
		void *p = mmap((void *)page, PAGE_SIZE, PROT_READ | PROT_WRITE,
		               MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			guard_fatal("\r\ntrivisor: error: the host could not provide guest RAM "
			            "(SIGBUS), nor a page to stand in for it: out of host memory\n");
		if (atomic_fetch_add(&m->lost_pages, 1) == 0) {
			m->lost_gpa = s->gpa + (page - base);
			m->lost_code = code;
		}
		if (m->notify_fd >= 0) {
			uint64_t one = 1;
			ssize_t n = write(m->notify_fd, &one, sizeof(one));
			(void)n;
		}
		return true;
	}
	return false;
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	/* si_code > 0: raised by the kernel for an access, not sent with kill(). */
	if (si && si->si_code > 0)
		for (unsigned i = 0; i < GUARD_MAX; i++) {
			struct guest_mem *m = atomic_load(&guarded[i]);
			if (m && guard_page(m, (uintptr_t)si->si_addr, si->si_code)) {
				errno = saved;
				return;
			}
		}
	errno = saved;
	/* Not guest RAM: whatever handled SIGBUS before (a sanitizer's report, the
	 * default crash). */
	if (guard_prev.sa_flags & SA_SIGINFO) {
		guard_prev.sa_sigaction(sig, si, uc);
	} else if (guard_prev.sa_handler != SIG_DFL && guard_prev.sa_handler != SIG_IGN) {
		guard_prev.sa_handler(sig);
	} else {
		signal(sig, SIG_DFL);
		/* A fault takes the default action when the access is made again, on return;
		 * a SIGBUS sent with kill() is sent again. */
		if (!si || si->si_code <= 0)
			raise(sig);
	}
}

int mem_guard_install(struct err *e)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_ONSTACK };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &guard_prev))
		return err_set(e, errno, "cannot handle SIGBUS: %s", strerror(errno));
	return 0;
}

void mem_lost_message(const struct guest_mem *m, char *buf, size_t size)
{
	unsigned long n = atomic_load(&m->lost_pages);
	bool hw = m->lost_code == BUS_MCEERR_AR || m->lost_code == BUS_MCEERR_AO;
	snprintf(buf, size, "guest RAM lost: the host could not provide the page at "
	         "guest-physical 0x%llx (%s)%s, so the VM was stopped (--mem %llu MiB)",
	         (unsigned long long)m->lost_gpa,
	         hw ? "a hardware memory error" : "out of host memory, or its memory was taken away",
	         n > 1 ? " and others after it" : "", (unsigned long long)(m->ram_size >> 20));
}

/* Why the host may have refused to map guest RAM, for the error message. */
static void refusal_hint(char *buf, size_t size)
{
	struct rlimit rl;
	char mode = 0;
	FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
	if (f) {
		mode = (char)fgetc(f);
		fclose(f);
	}
	buf[0] = 0;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		snprintf(buf, size, "; this process may map at most %llu MiB in all (ulimit -v)",
		         (unsigned long long)(rl.rlim_cur >> 20));
	else if (mode == '2')
		snprintf(buf, size, "; the host does not overcommit memory (vm.overcommit_memory=2): "
		         "see CommitLimit and Committed_AS in /proc/meminfo");
}

static int add_slot(struct guest_mem *m, uint64_t gpa, uint64_t size, uint64_t off,
                    struct err *e)
{
	void *p = !m->shared ?
		mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) :
		mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, m->fd, (off_t)off);
	if (p == MAP_FAILED) {
		int err = errno;
		char hint[160];
		refusal_hint(hint, sizeof(hint));
		return err_set(e, err, "cannot allocate %llu MiB of guest RAM (--mem): the host "
		               "refused %llu MiB of it at guest-physical 0x%llx: %s%s",
		               (unsigned long long)(m->ram_size >> 20), (unsigned long long)(size >> 20),
		               (unsigned long long)gpa, strerror(err), hint);
	}
	/* Guest RAM is a poor fit for KSM-less huge page merging but benefits from THP. */
	madvise(p, size, MADV_HUGEPAGE);
	m->slots[m->nslots++] = (struct mem_slot){ .gpa = gpa, .size = size, .host = p, .fd_off = off };
	return 0;
}

int mem_init(struct guest_mem *m, uint64_t ram_size, bool shared, struct err *e)
{
	int r;

	memset(m, 0, sizeof(*m));
	m->notify_fd = -1;
	if (ram_size == 0 || ram_size % PAGE_SIZE)
		return err_set(e, EINVAL, "guest RAM size must be a non-zero multiple of 4 KiB");
	m->ram_size = ram_size;
	if (shared) {
		/* Sparse like the anonymous mapping: pages are allocated when first touched. */
		m->fd = memfd_create("trivisor-guest-ram", MFD_CLOEXEC);
		if (m->fd < 0)
			return err_set(e, errno, "memfd_create for guest RAM: %s", strerror(errno));
		m->shared = true;
		if (ftruncate(m->fd, (off_t)ram_size)) {
			r = err_set(e, errno, "cannot size the guest RAM memfd to %llu MiB: %s",
			            (unsigned long long)(ram_size >> 20), strerror(errno));
			mem_destroy(m);
			return r;
		}
	}

	/* The memfd keeps the guest-physical layout below 4 GiB (the VGA window's 128 KiB
	 * in it stay unused), so a slot's file offset is its address there. */
	uint64_t low = ram_size < MEM_HOLE_START ? ram_size : MEM_HOLE_START;
	r = add_slot(m, 0, low < MEM_VGA_START ? low : MEM_VGA_START, 0, e);
	if (r == 0 && low > MEM_VGA_END)
		r = add_slot(m, MEM_VGA_END, low - MEM_VGA_END, MEM_VGA_END, e);
	if (r == 0 && ram_size > low)
		r = add_slot(m, MEM_4G, ram_size - low, low, e);
	if (r)
		mem_destroy(m);
	else
		guard_add(m);
	return r;
}

void mem_destroy(struct guest_mem *m)
{
	guard_remove(m);
	for (unsigned i = 0; i < m->nslots; i++)
		munmap(m->slots[i].host, m->slots[i].size);
	m->nslots = 0;
	if (m->shared)
		close(m->fd);
	m->shared = false;
}

int mem_add_rom(struct guest_mem *m, uint64_t gpa, const void *data, uint64_t size,
                struct err *e)
{
	if (m->nslots == MEM_MAX_SLOTS || size == 0 || size % PAGE_SIZE || gpa % PAGE_SIZE)
		return err_set(e, EINVAL, "cannot map a %llu-byte ROM at 0x%llx",
		               (unsigned long long)size, (unsigned long long)gpa);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return err_set(e, errno, "cannot map the ROM: %s", strerror(errno));
	memcpy(p, data, size);
	mprotect(p, size, PROT_READ);   /* a stray host write faults instead of patching it */
	m->slots[m->nslots++] = (struct mem_slot){ .gpa = gpa, .size = size, .host = p, .rom = true };
	return 0;
}

static void *lookup(const struct guest_mem *m, uint64_t gpa, uint64_t len, bool rom_too)
{
	for (unsigned i = 0; i < m->nslots; i++) {
		const struct mem_slot *s = &m->slots[i];
		/* Written to avoid overflow: gpa + len may wrap for hostile inputs. */
		if (gpa >= s->gpa && len <= s->size && gpa - s->gpa <= s->size - len)
			return !s->rom || rom_too ? s->host + (gpa - s->gpa) : NULL;
	}
	return NULL;
}

void *mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	return lookup(m, gpa, len, false);
}

const void *mem_ptr_ro(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	return lookup(m, gpa, len, true);
}

bool mem_is_ram(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	return mem_ptr(m, gpa, len) != NULL;
}

int mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
	const void *p = mem_ptr_ro(m, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int mem_write(struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = mem_ptr(m, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	if (m->write_hook)
		m->write_hook(m->write_hook_opaque, gpa, len);
	return 0;
}

uint64_t mem_low_end(const struct guest_mem *m)
{
	uint64_t end = 0;
	for (unsigned i = 0; i < m->nslots; i++) {
		const struct mem_slot *s = &m->slots[i];
		if (!s->rom && s->gpa < MEM_4G && s->gpa + s->size > end)
			end = s->gpa + s->size;
	}
	return end;
}
