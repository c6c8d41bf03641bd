/* ELF program header parsing and segment loading for kernels (ELF32 and ELF64). */
#include "boot/elf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "boot/loader.h"
#include "core/mem.h"
#include "core/vm.h"

#define EI_CLASS     4
#define EI_DATA      5
#define ELFCLASS32   1
#define ELFCLASS64   2
#define ELFDATA2LSB  1
#define ET_EXEC      2
#define PT_LOAD      1
#define EHDR32_SIZE  52
#define EHDR64_SIZE  64
#define PHDR32_SIZE  32
#define PHDR64_SIZE  56

bool elf_is_elf(const uint8_t *data, size_t size)
{
	return size >= 4 && memcmp(data, "\177ELF", 4) == 0;
}

int elf_parse(const struct boot_image *img, struct elf_info *out, struct err *e)
{
	const uint8_t *d = img->data;
	size_t size = img->size;
	uint64_t phoff;
	unsigned phentsize, phnum, min_phent;

	memset(out, 0, sizeof(*out));
	if (!elf_is_elf(d, size) || size < EHDR32_SIZE)
		return err_set(e, ENOEXEC, "%s: truncated ELF header", img->path);
	if (d[EI_CLASS] != ELFCLASS32 && d[EI_CLASS] != ELFCLASS64)
		return err_set(e, ENOEXEC, "%s: unknown ELF class %u", img->path, d[EI_CLASS]);
	if (d[EI_DATA] != ELFDATA2LSB)
		return err_set(e, ENOEXEC, "%s: not a little-endian ELF file", img->path);
	out->is64 = d[EI_CLASS] == ELFCLASS64;
	if (out->is64 && size < EHDR64_SIZE)
		return err_set(e, ENOEXEC, "%s: truncated ELF header", img->path);
	if (boot_le16(d + 16) != ET_EXEC)
		return err_set(e, ENOEXEC, "%s: not an executable ELF file", img->path);
	out->machine = boot_le16(d + 18);
	if (out->is64) {
		out->entry = boot_le64(d + 24);
		phoff = boot_le64(d + 32);
		phentsize = boot_le16(d + 54);
		phnum = boot_le16(d + 56);
		min_phent = PHDR64_SIZE;
	} else {
		out->entry = boot_le32(d + 24);
		phoff = boot_le32(d + 28);
		phentsize = boot_le16(d + 42);
		phnum = boot_le16(d + 44);
		min_phent = PHDR32_SIZE;
	}
	if (phnum == 0 || phnum == 0xffff)
		return err_set(e, ENOEXEC, "%s: ELF file has no program headers", img->path);
	if (phentsize < min_phent)
		return err_set(e, ENOEXEC, "%s: bad ELF program header size %u", img->path, phentsize);
	/* phnum and phentsize are 16-bit: the product cannot overflow 64 bits. */
	if (phoff > size || (uint64_t)phnum * phentsize > size - phoff)
		return err_set(e, ENOEXEC, "%s: ELF program headers outside the file", img->path);

	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *p = d + phoff + (uint64_t)i * phentsize;
		struct elf_seg s;
		if (boot_le32(p) != PT_LOAD)
			continue;
		if (out->is64)
			s = (struct elf_seg){ .offset = boot_le64(p + 8), .vaddr = boot_le64(p + 16),
			                      .paddr = boot_le64(p + 24), .filesz = boot_le64(p + 32),
			                      .memsz = boot_le64(p + 40) };
		else
			s = (struct elf_seg){ .offset = boot_le32(p + 4), .vaddr = boot_le32(p + 8),
			                      .paddr = boot_le32(p + 12), .filesz = boot_le32(p + 16),
			                      .memsz = boot_le32(p + 20) };
		if (s.filesz > s.memsz)
			return err_set(e, ENOEXEC, "%s: ELF segment %u has filesz > memsz", img->path, i);
		if (s.offset > size || s.filesz > size - s.offset)
			return err_set(e, ENOEXEC, "%s: ELF segment %u extends past the end of the file "
			               "(truncated?)", img->path, i);
		if (s.memsz == 0)
			continue;
		if (out->nseg == ELF_MAX_SEGS)
			return err_set(e, ENOEXEC, "%s: more than %d ELF load segments", img->path,
			               ELF_MAX_SEGS);
		out->seg[out->nseg++] = s;
	}
	if (out->nseg == 0)
		return err_set(e, ENOEXEC, "%s: ELF file has nothing to load", img->path);
	return 0;
}

uint64_t elf_entry_phys(const struct elf_info *info)
{
	uint64_t ent = info->entry;
	for (unsigned i = 0; i < info->nseg; i++) {
		const struct elf_seg *s = &info->seg[i];
		if (ent >= s->paddr && ent - s->paddr < s->memsz)
			return ent;
	}
	for (unsigned i = 0; i < info->nseg; i++) {
		const struct elf_seg *s = &info->seg[i];
		if (ent >= s->vaddr && ent - s->vaddr < s->memsz)
			return s->paddr + (ent - s->vaddr);
	}
	return ent;
}

static int zero_range(struct vm *vm, uint64_t gpa, uint64_t len)
{
	static const uint8_t zeros[4096];
	while (len) {
		uint64_t n = len < sizeof(zeros) ? len : sizeof(zeros);
		if (mem_write(&vm->mem, gpa, zeros, n))
			return -EFAULT;
		gpa += n;
		len -= n;
	}
	return 0;
}

int elf_load(struct vm *vm, const struct boot_image *img, const struct elf_info *info,
             uint64_t min_addr, uint64_t *end, struct err *e)
{
	*end = 0;
	for (unsigned i = 0; i < info->nseg; i++) {
		const struct elf_seg *s = &info->seg[i];
		char what[32];
		snprintf(what, sizeof(what), "ELF segment %u", i);
		int r = boot_check_load(vm, s->paddr, s->memsz, min_addr, img->path, what, e);
		if (r)
			return r;
		if (mem_write(&vm->mem, s->paddr, img->data + s->offset, s->filesz) ||
		    zero_range(vm, s->paddr + s->filesz, s->memsz - s->filesz))
			return err_set(e, EFAULT, "%s: cannot write %s", img->path, what);
		if (s->paddr + s->memsz > *end)
			*end = s->paddr + s->memsz;
	}
	return 0;
}
