/* The one bus: registration, overlap refusal, lookup, unclaimed accesses. */
#include "check.h"
#include "core/bus.h"

#include <errno.h>

struct dev { uint64_t last_off; unsigned last_size; int writes, reads; };

static void handler(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct dev *d = opaque;
	d->last_off = off;
	d->last_size = size;
	if (is_write)
		d->writes++;
	else {
		d->reads++;
		memset(data, 0x5a, size);
	}
}

int main(void)
{
	struct bus b;
	struct err e;
	struct dev a = { 0 }, c = { 0 };
	uint8_t buf[8];

	bus_init(&b, "pio");
	CHECK_EQ(bus_register(&b, 0x3f8, 8, handler, &a, "uart", &e), 0);
	CHECK_EQ(bus_register(&b, 0x60, 1, handler, &c, "kbd", &e), 0);
	/* Overlaps on either side and empty/wrapping ranges are refused. */
	CHECK(bus_register(&b, 0x3f0, 9, handler, &c, "x", &e) < 0);
	CHECK(strstr(e.msg, "overlaps uart") != NULL);
	CHECK(bus_register(&b, 0x3ff, 1, handler, &c, "x", &e) < 0);
	CHECK(bus_register(&b, 0x3f8, 0, handler, &c, "x", &e) < 0);
	CHECK(bus_register(&b, UINT64_MAX, 2, handler, &c, "x", &e) < 0);
	CHECK_EQ(bus_register(&b, 0x400, 1, handler, &c, "adjacent", &e), 0);

	/* Many ranges stay sorted and findable. */
	for (uint64_t i = 0; i < 100; i++)
		CHECK_EQ(bus_register(&b, 0x1000 + i * 16, 8, handler, &c, "many", &e), 0);
	for (uint64_t i = 0; i < 100; i++) {
		const struct bus_range *r = bus_find(&b, 0x1000 + i * 16 + 7);
		CHECK(r && r->base == 0x1000 + i * 16);
		CHECK(bus_find(&b, 0x1000 + i * 16 + 8) == NULL);
	}

	CHECK(bus_access(&b, 0x3fd, buf, 1, false));
	CHECK_EQ(a.last_off, 5);
	CHECK_EQ(buf[0], 0x5a);
	CHECK(bus_access(&b, 0x3f8, buf, 4, true));
	CHECK_EQ(a.writes, 1);

	/* Unclaimed: reads are all ones, both directions counted. */
	memset(buf, 0, sizeof(buf));
	CHECK(!bus_access(&b, 0x70, buf, 2, false));
	CHECK_EQ(buf[0], 0xff);
	CHECK_EQ(buf[1], 0xff);
	CHECK(!bus_access(&b, 0x70, buf, 1, true));
	CHECK_EQ(atomic_load(&b.unclaimed_reads), 1);
	CHECK_EQ(atomic_load(&b.unclaimed_writes), 1);

	/* An access straddling the end of a range is not dispatched. */
	CHECK(!bus_access(&b, 0x3ff, buf, 2, false));
	CHECK(!bus_access(&b, 0x3f8, buf, 9, false));
	CHECK_EQ(a.reads, 1);

	/* Unregistering (a PCI BAR moving): only the owner's range at that base goes; its
	 * addresses become unclaimed and can be registered again. */
	CHECK_EQ(bus_unregister(&b, 0x3f8, &c), -ENOENT);       /* not c's */
	CHECK_EQ(bus_unregister(&b, 0x3f9, &a), -ENOENT);       /* not its base */
	unsigned n = b.n;
	CHECK_EQ(bus_unregister(&b, 0x3f8, &a), 0);
	CHECK_EQ(b.n, n - 1);
	CHECK(bus_find(&b, 0x3f8) == NULL);
	CHECK(!bus_access(&b, 0x3fd, buf, 1, false));
	CHECK_EQ(a.reads, 1);
	CHECK_EQ(bus_unregister(&b, 0x3f8, &a), -ENOENT);
	CHECK_EQ(bus_register(&b, 0x3f0, 16, handler, &a, "moved", &e), 0);
	CHECK(bus_access(&b, 0x3fd, buf, 1, false));
	CHECK_EQ(a.last_off, 0xd);
	/* The rest is still sorted and found. */
	for (uint64_t i = 0; i < 100; i += 7)
		CHECK(bus_find(&b, 0x1000 + i * 16) != NULL);
	CHECK(bus_find(&b, 0x60) != NULL);

	bus_destroy(&b);
	return check_done();
}
