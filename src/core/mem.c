#include "mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE_SIZE 4096ull

static int add_slot(struct guest_mem *m, uint64_t gpa, uint64_t size, struct err *e)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return err_set(e, errno, "cannot map %llu MiB of guest RAM: %s",
		               (unsigned long long)(size >> 20), strerror(errno));
	/* Guest RAM is a poor fit for KSM-less huge page merging but benefits from THP. */
	madvise(p, size, MADV_HUGEPAGE);
	m->slots[m->nslots++] = (struct mem_slot){ .gpa = gpa, .size = size, .host = p };
	return 0;
}

int mem_init(struct guest_mem *m, uint64_t ram_size, struct err *e)
{
	int r;

	memset(m, 0, sizeof(*m));
	if (ram_size == 0 || ram_size % PAGE_SIZE)
		return err_set(e, EINVAL, "guest RAM size must be a non-zero multiple of 4 KiB");
	m->ram_size = ram_size;

	uint64_t low = ram_size < MEM_HOLE_START ? ram_size : MEM_HOLE_START;
	r = add_slot(m, 0, low, e);
	if (r == 0 && ram_size > low)
		r = add_slot(m, MEM_4G, ram_size - low, e);
	if (r)
		mem_destroy(m);
	return r;
}

void mem_destroy(struct guest_mem *m)
{
	for (unsigned i = 0; i < m->nslots; i++)
		munmap(m->slots[i].host, m->slots[i].size);
	m->nslots = 0;
}

void *mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < m->nslots; i++) {
		const struct mem_slot *s = &m->slots[i];
		/* Written to avoid overflow: gpa + len may wrap for hostile inputs. */
		if (gpa >= s->gpa && len <= s->size && gpa - s->gpa <= s->size - len)
			return s->host + (gpa - s->gpa);
	}
	return NULL;
}

bool mem_is_ram(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	return mem_ptr(m, gpa, len) != NULL;
}

int mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
	const void *p = mem_ptr(m, gpa, len);
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
	return m->nslots ? m->slots[0].size : 0;
}
