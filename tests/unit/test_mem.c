/* Guest memory: layout around the VGA window and the 32-bit hole, ROM, and the
 * checked accessors. */
#include "check.h"
#include <errno.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/mem.h"

static uint64_t hook_gpa, hook_len;
static void hook(void *o, uint64_t gpa, uint64_t len) { (void)o; hook_gpa = gpa; hook_len = len; }

int main(void)
{
	struct guest_mem m;
	struct err e;
	uint8_t buf[16] = { 1, 2, 3 };

	CHECK(mem_init(&m, 0, false, &e) < 0);
	CHECK(mem_init(&m, 4097, false, &e) < 0);

	CHECK_EQ(mem_init(&m, 64 << 20, false, &e), 0);
	CHECK_EQ(m.nslots, 2);
	CHECK_EQ(mem_low_end(&m), 64 << 20);
	CHECK(mem_is_ram(&m, 0, MEM_VGA_START));
	CHECK(!mem_is_ram(&m, MEM_VGA_START - 4, 8));  /* the VGA window is not RAM */
	CHECK(!mem_is_ram(&m, 0xb8000, 2));
	CHECK(mem_is_ram(&m, MEM_VGA_END, (64 << 20) - MEM_VGA_END));
	CHECK(!mem_is_ram(&m, MEM_VGA_END, (64 << 20) - MEM_VGA_END + 1));
	CHECK(!mem_is_ram(&m, (64 << 20) - 4, 8));     /* straddles the end */
	CHECK(!mem_is_ram(&m, UINT64_MAX - 3, 8));      /* wraps */
	CHECK(!mem_is_ram(&m, 16, UINT64_MAX));         /* huge length */
	CHECK(mem_ptr(&m, 0x1000, 0) != NULL);

	m.write_hook = hook;
	CHECK_EQ(mem_write(&m, 0x2000, buf, 3), 0);
	CHECK_EQ(hook_gpa, 0x2000);
	CHECK_EQ(hook_len, 3);
	uint8_t out[3];
	CHECK_EQ(mem_read(&m, 0x2000, out, 3), 0);
	CHECK(memcmp(out, buf, 3) == 0);
	CHECK_EQ(mem_write(&m, (64 << 20) - 1, buf, 2), -EFAULT);
	CHECK_EQ(mem_read(&m, 1ull << 40, out, 1), -EFAULT);

	/* ROM: readable through mem_read and mem_ptr_ro, never written nor RAM. */
	static uint8_t rom[8192] = { 0xea, 0x5b, 0xe0 };
	CHECK(mem_add_rom(&m, 0x1000, rom, 100, &e) < 0);  /* not whole pages */
	CHECK_EQ(mem_add_rom(&m, MEM_4G - sizeof(rom), rom, sizeof(rom), &e), 0);
	CHECK_EQ(mem_read(&m, MEM_4G - sizeof(rom), out, 3), 0);
	CHECK(memcmp(out, rom, 3) == 0);
	CHECK(mem_ptr_ro(&m, MEM_4G - 16, 16) != NULL);
	CHECK(mem_ptr(&m, MEM_4G - 16, 16) == NULL);
	CHECK(!mem_is_ram(&m, MEM_4G - 16, 16));
	CHECK_EQ(mem_write(&m, MEM_4G - 16, buf, 1), -EFAULT);
	CHECK_EQ(mem_low_end(&m), 64 << 20);
	mem_destroy(&m);

	/* More RAM than fits below the hole: the rest goes above 4 GiB. */
	uint64_t size = MEM_HOLE_START + (1ull << 30);
	CHECK_EQ(mem_init(&m, size, false, &e), 0);
	CHECK_EQ(m.nslots, 3);
	CHECK_EQ(m.slots[1].gpa + m.slots[1].size, MEM_HOLE_START);
	CHECK_EQ(m.slots[2].gpa, MEM_4G);
	CHECK_EQ(m.slots[2].size, 1ull << 30);
	CHECK_EQ(m.ram_size, size);
	CHECK(!mem_is_ram(&m, MEM_HOLE_START, 1));      /* the hole is not RAM */
	CHECK(!mem_is_ram(&m, MEM_HOLE_START - 4, 8));  /* nor are ranges spanning it */
	CHECK(mem_is_ram(&m, MEM_4G + (1ull << 30) - 8, 8));
	CHECK(!mem_is_ram(&m, MEM_4G + (1ull << 30) - 4, 8));
	mem_destroy(&m);

	/* RAM the host cannot provide: a memfd that shrank under it (as a page the kernel
	 * cannot allocate, a SIGBUS on access). With the guard, a zero page stands in, the
	 * loss is counted and notify_fd written, and the access completes. */
	CHECK_EQ(mem_guard_install(&e), 0);
	CHECK_EQ(mem_init(&m, 8 << 20, true, &e), 0);
	m.notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(m.notify_fd >= 0);
	CHECK_EQ(mem_write(&m, 0x3000, buf, 3), 0);
	CHECK_EQ(ftruncate(m.fd, 2 << 20), 0);           /* the first 2 MiB stay */
	CHECK_EQ(mem_read(&m, 0x3000, out, 3), 0);
	CHECK(memcmp(out, buf, 3) == 0);
	CHECK_EQ(atomic_load(&m.lost_pages), 0);
	volatile uint8_t *p = mem_ptr(&m, (4 << 20) + 0x123, 1);
	CHECK(p != NULL);
	CHECK_EQ(*p, 0);                                 /* SIGBUS, then the zero page */
	*p = 7;
	CHECK_EQ(*p, 7);
	CHECK_EQ(atomic_load(&m.lost_pages), 1);
	CHECK_EQ(m.lost_gpa, 4 << 20);
	CHECK_EQ(m.lost_code, BUS_ADRERR);
	CHECK_EQ(mem_write(&m, (6 << 20) - 2, buf, 3), 0);  /* across two more lost pages */
	CHECK_EQ(atomic_load(&m.lost_pages), 3);
	CHECK_EQ(m.lost_gpa, 4 << 20);                   /* still the first */
	uint64_t n = 0;
	CHECK_EQ(read(m.notify_fd, &n, sizeof(n)), sizeof(n));
	CHECK_EQ(n, 3);
	char msg[256];
	mem_lost_message(&m, msg, sizeof(msg));
	CHECK(strstr(msg, "guest-physical 0x400000 (out of host memory") != NULL);
	CHECK(strstr(msg, "--mem 8 MiB") != NULL);
	close(m.notify_fd);
	mem_destroy(&m);
	return check_done();
}
