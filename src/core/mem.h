/* Guest physical memory: one map of RAM slots (below the legacy VGA window, from its
 * end to the 32-bit PCI hole, above 4 GiB) and read-only slots (firmware ROM).
 *
 * Devices and loaders never keep raw pointers into guest RAM across calls: they go
 * through the checked accessors below, which refuse any range not wholly inside one
 * RAM slot. Writes through the accessors are reported to a hook (the soft engine uses
 * it to invalidate decoded code on DMA writes). */
#ifndef TRIVISOR_MEM_H
#define TRIVISOR_MEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define MEM_MAX_SLOTS 6

/* Start of the 32-bit hole (PCI MMIO, LAPIC, IOAPIC, firmware): RAM above this moves to 4 GiB. */
#define MEM_HOLE_START 0xC0000000ull
#define MEM_4G         0x100000000ull
/* The legacy VGA window (0xA0000-0xBFFFF) is a hole in low RAM on every PC: MMIO. */
#define MEM_VGA_START  0xA0000ull
#define MEM_VGA_END    0xC0000ull

struct mem_slot {
	uint64_t gpa;     /* guest physical start, page aligned */
	uint64_t size;    /* bytes */
	uint8_t *host;    /* host mapping */
	uint64_t fd_off;  /* offset of the slot in guest_mem.fd, when there is one */
	bool rom;         /* read-only (firmware): not RAM, not in fd; writes are dropped */
};

struct guest_mem;
typedef void (*mem_write_hook_fn)(void *opaque, uint64_t gpa, uint64_t len);

struct guest_mem {
	struct mem_slot slots[MEM_MAX_SLOTS];
	unsigned nslots;
	uint64_t ram_size;        /* total RAM bytes */
	bool shared;              /* mem_init's shared: fd is a memfd holding every slot */
	int fd;
	mem_write_hook_fn write_hook;
	void *write_hook_opaque;
	/* Pages the host failed to provide (see mem_guard_install): how many, the first
	 * one's guest-physical address and its SIGBUS si_code; notify_fd (an eventfd, -1
	 * for none) is written at each. */
	atomic_ulong lost_pages;
	uint64_t lost_gpa;
	int lost_code;
	int notify_fd;
};

/* Lay out ram_size bytes of RAM below MEM_HOLE_START and the rest above 4 GiB, mmap
 * them: anonymous, private, MAP_NORESERVE; or, with shared, from one memfd (m->fd)
 * that another process may map too (the soft engine's direct-execution helpers). */
int mem_init(struct guest_mem *m, uint64_t ram_size, bool shared, struct err *e);
void mem_destroy(struct guest_mem *m);

/* Guest RAM is taken from the host as the guest touches it. When the host cannot
 * provide a page (a memfd page under strict overcommit, a hardware memory error), the
 * access raises SIGBUS, which would kill the process. Once the front end calls this,
 * a SIGBUS on the RAM of a mem_init'ed guest_mem instead puts a zero page there (the
 * access completes), counts it in lost_pages and writes notify_fd; vm_wait then ends
 * the VM with an error. Other SIGBUSes go to the handler that was there before.
 * Process-wide (a signal disposition); call once, before any vCPU runs. */
int mem_guard_install(struct err *e);
/* The message for lost pages: "the host could not provide ...". */
void mem_lost_message(const struct guest_mem *m, char *buf, size_t size);

/* Host pointer for [gpa, gpa+len) if it lies wholly inside one RAM slot, else NULL.
 * The pointer is valid only until the caller returns to its caller (no caching). */
void *mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);
/* The same for reading only: ROM slots count too. */
const void *mem_ptr_ro(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Map size bytes of data (a multiple of 4 KiB) read-only at gpa: firmware ROM. */
int mem_add_rom(struct guest_mem *m, uint64_t gpa, const void *data, uint64_t size,
                struct err *e);

/* Copy into / out of guest RAM (mem_read: or ROM). Return 0, or -EFAULT if any byte
 * is outside (in which case nothing is copied). mem_write reports the range to the
 * write hook. */
int mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len);
int mem_write(struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len);

/* True if [gpa, gpa+len) is wholly RAM. Overflow-safe. */
bool mem_is_ram(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Highest RAM address + 1 below 4 GiB (the end of low RAM). */
uint64_t mem_low_end(const struct guest_mem *m);

#endif
