#include "mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE_SIZE 4096ull

static int add_slot(struct guest_mem *m, uint64_t gpa, uint64_t size, uint64_t off,
                    struct err *e)
{
	void *p = !m->shared ?
		mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) :
		mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, m->fd, (off_t)off);
	if (p == MAP_FAILED)
		return err_set(e, errno, "cannot map %llu MiB of guest RAM: %s",
		               (unsigned long long)(size >> 20), strerror(errno));
	/* Guest RAM is a poor fit for KSM-less huge page merging but benefits from THP. */
	madvise(p, size, MADV_HUGEPAGE);
	m->slots[m->nslots++] = (struct mem_slot){ .gpa = gpa, .size = size, .host = p, .fd_off = off };
	return 0;
}

int mem_init(struct guest_mem *m, uint64_t ram_size, bool shared, struct err *e)
{
	int r;

	memset(m, 0, sizeof(*m));
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
	return r;
}

void mem_destroy(struct guest_mem *m)
{
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
