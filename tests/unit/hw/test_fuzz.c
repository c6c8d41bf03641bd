/* The whole board under garbage: random widths, values and offsets on every claimed
 * port (and just around each range), while another thread feeds the UART. Run under
 * ASan/UBSan in CI; here it must simply not crash or hang. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "../check.h"
#include "hw/pc.h"
#include "hw/uart.h"
#include "hw_test.h"

static struct vm vm;
static atomic_bool done;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) { return check_xorshift(&rng_state); }

static void *feeder(void *arg)
{
	static const uint8_t msg[] = "some console input\n";
	(void)arg;
	while (!atomic_load(&done))
		vm.console_receive(vm.console_dev, msg, sizeof(msg) - 1);
	return NULL;
}

int main(void)
{
	struct err e;
	pthread_t th;
	int devnull = open("/dev/null", O_WRONLY);

	test_vm_init(&vm, 64ull << 20, 2, devnull);
	if (pc_board_init(&vm, &e)) {
		fprintf(stderr, "pc_board_init: %s\n", e.msg);
		return 1;
	}
	CHECK(vm.console_receive == uart_receive && vm.console_dev != NULL);   /* COM1 */
	CHECK(vm.pio.n >= 10);
	pthread_create(&th, NULL, feeder, NULL);

	static const unsigned sizes[] = { 1, 1, 1, 2, 4, 8, 3 }; /* mostly the ISA width */
	unsigned claimed = 0;
	for (int i = 0; i < 20000; i++) {
		const struct bus_range *r = &vm.pio.ranges[rng() % vm.pio.n];
		uint64_t port = r->base + rng() % (r->len + 4) - 2;
		unsigned size = sizes[rng() % 7];
		uint8_t d[8];
		uint64_t v = rng();
		memcpy(d, &v, sizeof(d));
		/* Stop requests (reset, S5, debug exit) just record the first reason. */
		claimed += bus_access(&vm.pio, (uint16_t)port, d, size, rng() & 1);
	}
	CHECK(claimed > 1000);
	atomic_store(&done, true);
	pthread_join(th, NULL);

	/* Every port of the whole 64 KiB space, each width, reads without trouble. */
	for (unsigned port = 0; port < 0x10000; port++)
		for (unsigned s = 1; s <= 8; s <<= 1) {
			uint8_t d[8];
			bus_access(&vm.pio, port, d, s, false);
		}

	vm_destroy(&vm);
	close(devnull);
	return check_done();
}
