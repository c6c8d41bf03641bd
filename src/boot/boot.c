/* boot_load: read the kernel, detect its format and hand it to its loader; plus the
 * helpers the loaders share (file reading, range checks, initrd, command line). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/acpi.h"
#include "boot/boot.h"
#include "boot/elf.h"
#include "boot/firmware.h"
#include "boot/loader.h"
#include "boot/multiboot.h"
#include "core/mem.h"
#include "core/vm.h"
#include "hw/virtio/devices.h"

#define KERNEL_MAX_FILE (1ull << 30)
#define INITRD_CHUNK    (1u << 20)
#define FIRMWARE_START  0x9fc00ull
#define FIRMWARE_END    0x100000ull
#define MiB             (1ull << 20)

static int open_regular(const char *what, const char *path, struct stat *st, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, errno, "%s %s: %s", what, path, strerror(errno));
	if (fstat(fd, st) < 0) {
		int r = err_set(e, errno, "%s %s: %s", what, path, strerror(errno));
		close(fd);
		return r;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return err_set(e, EINVAL, "%s %s: not a regular file", what, path);
	}
	return fd;
}

/* Read exactly len bytes (short files are reported as truncated-while-reading). */
static int read_full(int fd, uint8_t *buf, size_t len, const char *path, struct err *e)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(e, errno, "%s: read error: %s", path, strerror(errno));
		if (n == 0)
			return err_set(e, EIO, "%s: file shrank while being read", path);
		done += (size_t)n;
	}
	return 0;
}

int boot_read_file(const char *what, const char *path, size_t max, struct boot_image *img,
                   struct err *e)
{
	struct stat st;
	int fd = open_regular(what, path, &st, e);
	if (fd < 0)
		return fd;
	memset(img, 0, sizeof(*img));
	img->path = path;
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return err_set(e, EFBIG, "%s %s: file too large (%lld bytes)", what, path,
		               (long long)st.st_size);
	}
	img->size = (size_t)st.st_size;
	img->data = malloc(img->size ? img->size : 1);
	if (!img->data) {
		close(fd);
		return err_set(e, ENOMEM, "%s %s: out of memory", what, path);
	}
	int r = read_full(fd, img->data, img->size, path, e);
	close(fd);
	if (r)
		boot_image_free(img);
	return r;
}

void boot_image_free(struct boot_image *img)
{
	free(img->data);
	img->data = NULL;
	img->size = 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int boot_check_load(const struct vm *vm, uint64_t gpa, uint64_t len, uint64_t min_addr,
                    const char *path, const char *what, struct err *e)
{
	if (len == 0)
		return 0;
	if (gpa + len < gpa)
		return err_set(e, ENOEXEC, "%s: %s wraps around the address space", path, what);
	if (gpa < min_addr)
		return err_set(e, ENOEXEC, "%s: %s at 0x%llx..0x%llx overlaps the boot data "
		               "(0..0x%llx)", path, what, (unsigned long long)gpa,
		               (unsigned long long)(gpa + len), (unsigned long long)min_addr);
	if (overlaps(gpa, len, FIRMWARE_START, FIRMWARE_END - FIRMWARE_START))
		return err_set(e, ENOEXEC, "%s: %s at 0x%llx..0x%llx overlaps the firmware area "
		               "(0x%llx..0x%llx)", path, what, (unsigned long long)gpa,
		               (unsigned long long)(gpa + len), (unsigned long long)FIRMWARE_START,
		               (unsigned long long)FIRMWARE_END);
	if (mem_is_ram(&vm->mem, gpa, len))
		return 0;
	uint64_t end = gpa + len;
	if (end <= MEM_HOLE_START)
		return err_set(e, E2BIG, "%s: %s needs RAM up to 0x%llx: use at least %llu MiB "
		               "of memory", path, what, (unsigned long long)end,
		               (unsigned long long)((end + MiB - 1) / MiB));
	return err_set(e, ENOEXEC, "%s: %s at 0x%llx..0x%llx is not in guest RAM", path, what,
	               (unsigned long long)gpa, (unsigned long long)end);
}

int boot_place(uint64_t size, uint64_t min_addr, uint64_t max_end, bool top, uint64_t *addr)
{
	uint64_t lo = (min_addr + BOOT_PAGE_SIZE - 1) & ~(BOOT_PAGE_SIZE - 1);
	if (lo < min_addr || max_end < size || lo > max_end - size)
		return -ENOMEM;
	if (top)
		*addr = (max_end - size) & ~(BOOT_PAGE_SIZE - 1);
	else
		*addr = lo;
	return 0;
}

/* The lowest page-aligned a >= lo with [a, a+size) inside [lo, hi) and clear of used[]. */
static bool place_between(uint64_t size, uint64_t lo, uint64_t hi, const struct boot_range *used,
                          unsigned n, uint64_t *addr)
{
	uint64_t a = (lo + BOOT_PAGE_SIZE - 1) & ~(BOOT_PAGE_SIZE - 1);
	for (;;) {
		if (a < lo || a > hi || hi - a < size)
			return false;
		bool moved = false;
		for (unsigned i = 0; i < n; i++) {
			if (used[i].end <= used[i].start ||
			    !overlaps(a, size, used[i].start, used[i].end - used[i].start))
				continue;
			uint64_t next = (used[i].end + BOOT_PAGE_SIZE - 1) & ~(BOOT_PAGE_SIZE - 1);
			if (next <= a)
				return false;   /* wrapped at the top of the address space */
			a = next;
			moved = true;
		}
		if (!moved) {
			*addr = a;
			return true;
		}
	}
}

int boot_place_clear(const struct vm *vm, uint64_t size, const struct boot_range *used,
                     unsigned n, uint64_t *addr)
{
	if (place_between(size, BOOT_PAGE_SIZE, FIRMWARE_START, used, n, addr) ||
	    place_between(size, FIRMWARE_END, mem_low_end(&vm->mem), used, n, addr))
		return 0;
	return -ENOMEM;
}

/* boot_place, never in the firmware area (the ACPI tables, the BIOS): past it, or
 * below it when that is where the initrd fits. */
static int place_initrd(uint64_t len, uint64_t min_addr, uint64_t max_end, bool top,
                        uint64_t *addr)
{
	int r = boot_place(len, min_addr, max_end, top, addr);
	if (r || !overlaps(*addr, len, FIRMWARE_START, FIRMWARE_END - FIRMWARE_START))
		return r;
	if (top)
		return boot_place(len, min_addr, max_end < FIRMWARE_START ? max_end : FIRMWARE_START,
		                  true, addr);
	return boot_place(len, min_addr > FIRMWARE_END ? min_addr : FIRMWARE_END, max_end, false,
	                  addr);
}

int boot_load_initrd(struct vm *vm, const char *path, uint64_t min_addr, uint64_t max_end,
                     bool top, uint64_t *addr, uint64_t *size, struct err *e)
{
	struct stat st;
	int r, fd = open_regular("initrd", path, &st, e);
	if (fd < 0)
		return fd;
	uint64_t len = (uint64_t)st.st_size;
	uint64_t low_end = mem_low_end(&vm->mem);
	if (max_end > low_end)
		max_end = low_end;
	if (place_initrd(len, min_addr, max_end, top, addr) ||
	    !mem_is_ram(&vm->mem, *addr, len)) {
		/* Say how much RAM would do when more low RAM would help. */
		uint64_t need = ((min_addr + BOOT_PAGE_SIZE - 1) & ~(BOOT_PAGE_SIZE - 1)) + len;
		close(fd);
		if (need <= MEM_HOLE_START && max_end == low_end)
			return err_set(e, ENOMEM, "initrd %s (%llu MiB) does not fit in guest RAM: "
			               "use at least %llu MiB of memory", path,
			               (unsigned long long)((len + MiB - 1) / MiB),
			               (unsigned long long)((need + MiB - 1) / MiB));
		return err_set(e, ENOMEM, "initrd %s (%llu MiB) does not fit below 0x%llx "
		               "after the kernel", path, (unsigned long long)((len + MiB - 1) / MiB),
		               (unsigned long long)max_end);
	}
	*size = len;

	uint8_t *buf = malloc(INITRD_CHUNK);
	if (!buf) {
		close(fd);
		return err_set(e, ENOMEM, "initrd %s: out of memory", path);
	}
	r = 0;
	for (uint64_t off = 0; off < len && r == 0; off += INITRD_CHUNK) {
		size_t n = len - off < INITRD_CHUNK ? (size_t)(len - off) : INITRD_CHUNK;
		r = read_full(fd, buf, n, path, e);
		if (r == 0 && mem_write(&vm->mem, *addr + off, buf, n))
			r = err_set(e, EFAULT, "initrd %s: guest RAM write failed", path);
	}
	free(buf);
	close(fd);
	return r;
}

int boot_write_cmdline(struct vm *vm, uint64_t addr, const char *cmdline, uint64_t limit,
                       const char *path, struct err *e)
{
	size_t len = strlen(cmdline);
	if (limit > BOOT_CMDLINE_MAX - 1)
		limit = BOOT_CMDLINE_MAX - 1;
	if (len > limit)
		return err_set(e, E2BIG, "%s: kernel command line too long (%zu bytes, the kernel "
		               "accepts at most %llu)", path, len, (unsigned long long)limit);
	if (mem_write(&vm->mem, addr, cmdline, len + 1))
		return err_set(e, ENOMEM, "guest RAM too small for the command line");
	return 0;
}

int boot_load(struct vm *vm, struct cpu_state *bsp, struct err *e)
{
	const char *path = vm->cfg.kernel_path;
	struct boot_image img;
	size_t mb_off;
	int r;

	if (!path)
		return firmware_load(vm, bsp, e);
	if (mem_low_end(&vm->mem) < FIRMWARE_END)
		return err_set(e, ENOMEM, "guest RAM too small: booting needs at least 1 MiB");
	r = boot_read_file("kernel", path, KERNEL_MAX_FILE, &img, e);
	if (r)
		return r;
	r = acpi_install(&vm->mem, vm->ncpus, virtio_mmio_device_count(&vm->cfg), e);
	if (r)
		goto out;

	if (linux_is_bzimage(img.data, img.size)) {
		r = linux_load_bzimage(vm, bsp, &img, e);
	} else if (multiboot_find_header(img.data, img.size, &mb_off)) {
		r = multiboot_load(vm, bsp, &img, mb_off, e);
	} else if (elf_is_elf(img.data, img.size)) {
		r = linux_load_vmlinux(vm, bsp, &img, e);
	} else {
		r = err_set(e, ENOEXEC, "%s: not a bzImage, ELF or multiboot kernel", path);
	}
out:
	boot_image_free(&img);
	return r;
}
