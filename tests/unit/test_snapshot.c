/* Snapshot files (machine/snapshot.h): a state file and a memory file round trip, and
 * every damaged one is refused with a message naming the problem: each truncation, each
 * flipped bit, another format version, a repeated, missing or unknown section, a
 * configuration out of range, a memory file of another snapshot or with a changed page.
 * Device state round trips through the hooks of a few devices on a RAM-only VM. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/bus.h"
#include "core/vm.h"
#include "hw/i8042.h"
#include "hw/pc.h"
#include "hw/rtc.h"
#include "hw/uart.h"
#include "machine/machine.h"
#include "machine/snapshot.h"

static const struct snapshot_header hdr = {
	.format = SNAPSHOT_FORMAT_VERSION, .version = "test", .engine = "soft",
	.mem_size = 8 << 20, .ncpus = 1, .cpuid_crc = 0x1234, .mem_id = { 1, 2, 3 },
	.mem_digest = 0x5555,
};

/* A state file with sections "alpha" (a u32), "beta" (a string), "gamma" (1000 bytes). */
static void build(struct snap_writer *w, bool twice)
{
	snap_writer_init(w);
	snapshot_put_header(w, &hdr);
	size_t at = snapshot_section_begin(w, "alpha");
	snap_put_u32(w, 0xdeadbeef);
	snapshot_section_end(w, at);
	at = snapshot_section_begin(w, twice ? "alpha" : "beta");
	snap_put_str(w, "hello");
	snapshot_section_end(w, at);
	at = snapshot_section_begin(w, "gamma");
	for (unsigned i = 0; i < 1000; i++)
		snap_put_u8(w, (uint8_t)i);
	snapshot_section_end(w, at);
	snapshot_finish(w);
}

static void test_round_trip(void)
{
	struct snap_writer w;
	struct snapshot_in *in = calloc(1, sizeof(*in));
	struct err e = { "" };
	build(&w, false);
	CHECK_EQ(snapshot_parse(in, w.buf, w.len, "t.state", &e), 0);
	CHECK_EQ(in->h.mem_size, 8 << 20);
	CHECK_STR(in->h.engine, "soft");
	CHECK_STR(in->h.version, "test");
	CHECK_EQ(in->h.mem_id[2], 3);
	CHECK_EQ(in->h.mem_digest, 0x5555);
	CHECK_EQ(in->nsec, 3);
	struct snap_reader r;
	CHECK_EQ(snapshot_open(in, "beta", &r, &e), 0);
	char s[16];
	snap_get_str(&r, s, sizeof(s) - 1, "greeting");
	CHECK_STR(s, "hello");
	CHECK_EQ(snap_end(&r), 0);
	CHECK_EQ(snapshot_open(in, "alpha", &r, &e), 0);
	CHECK_EQ(snap_get_u32(&r), 0xdeadbeef);
	/* gamma unread: refused as belonging to nothing */
	CHECK(snapshot_check_used(in, &e) < 0 && strstr(e.msg, "'gamma'"));
	CHECK_EQ(snapshot_open(in, "gamma", &r, &e), 0);
	CHECK_EQ(snapshot_check_used(in, &e), 0);
	CHECK(snapshot_open(in, "delta", &r, &e) < 0 && strstr(e.msg, "no section 'delta'"));
	CHECK(snap_get_u8(&r) == 0 && snap_status(&r) < 0);   /* a missing section reads nothing */
	snap_writer_free(&w);
	free(in);
}

static void test_damaged(void)
{
	struct snap_writer w;
	struct snapshot_in *in = calloc(1, sizeof(*in));
	struct err e = { "" };
	build(&w, false);
	uint8_t *copy = malloc(w.len);

	/* Every truncation. */
	unsigned refused = 0, named = 0;
	for (size_t n = 0; n < w.len; n++) {
		memcpy(copy, w.buf, n);
		e.msg[0] = 0;
		refused += snapshot_parse(in, copy, n, "t.state", &e) < 0;
		named += strstr(e.msg, "truncated") || strstr(e.msg, "not a trivisor") ? 1 : 0;
	}
	CHECK_EQ(refused, w.len);
	CHECK_EQ(named, w.len);

	/* Every single flipped bit: a checksum (or the magic, the version) catches it. */
	refused = 0;
	for (size_t bit = 0; bit < w.len * 8; bit++) {
		memcpy(copy, w.buf, w.len);
		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		refused += snapshot_parse(in, copy, w.len, "t.state", &e) < 0;
	}
	CHECK_EQ(refused, w.len * 8);
	/* A payload byte: the section is named. */
	memcpy(copy, w.buf, w.len);
	copy[w.len - 100] ^= 0x40;
	CHECK(snapshot_parse(in, copy, w.len, "t.state", &e) < 0 &&
	      strstr(e.msg, "'gamma' is corrupted"));
	/* A header byte past the magic: the file's checksum. */
	memcpy(copy, w.buf, w.len);
	copy[70] ^= 1;
	CHECK(snapshot_parse(in, copy, w.len, "t.state", &e) < 0 && strstr(e.msg, "checksum"));
	/* Trailing bytes. */
	uint8_t *longer = malloc(w.len + 1);
	memcpy(longer, w.buf, w.len);
	longer[w.len] = 0;
	CHECK(snapshot_parse(in, longer, w.len + 1, "t.state", &e) < 0);
	free(longer);

	/* Another format version (the header rewritten consistently). */
	struct snapshot_header h2 = hdr;
	h2.format = SNAPSHOT_FORMAT_VERSION + 1;
	struct snap_writer w2;
	snap_writer_init(&w2);
	snapshot_put_header(&w2, &h2);
	snapshot_finish(&w2);
	CHECK(snapshot_parse(in, w2.buf, w2.len, "t.state", &e) < 0 &&
	      strstr(e.msg, "format version") && strstr(e.msg, "reads version"));
	snap_writer_free(&w2);

	/* A section twice. */
	snap_writer_free(&w);
	build(&w, true);
	CHECK(snapshot_parse(in, w.buf, w.len, "t.state", &e) < 0 &&
	      strstr(e.msg, "'alpha' appears twice"));
	/* Not a snapshot at all. */
	CHECK(snapshot_parse(in, "hello world", 11, "t.state", &e) < 0 &&
	      strstr(e.msg, "not a trivisor snapshot"));
	free(copy);
	snap_writer_free(&w);
	free(in);
}

static void test_config(void)
{
	struct vm_config c = { .kernel_path = "/boot/vmlinuz", .append = "console=ttyS0",
	                       .mem_size = 256 << 20, .ncpus = 2, .iface = GUEST_PARA, .ndisks = 2,
	                       .rng = true, .console = VM_CONSOLE_VIRTIO,
	                       .virtio_transport = VM_VIRTIO_MMIO };
	strcpy(c.disks[0].path, "/img/a.raw");
	strcpy(c.disks[1].path, "/img/b.raw");
	c.disks[1].read_only = true;
	c.net.backend = VM_NET_USER;
	memcpy(c.net.mac, "\x52\x54\x00\x12\x34\x57", 6);
	c.net.nfwd = 1;
	c.net.fwd[0] = (struct vm_hostfwd){ .host_port = 8080, .guest_port = 80, .guest_addr = 7 };

	struct snap_writer w;
	snap_writer_init(&w);
	snapshot_put_config(&w, &c);
	struct snapshot_strings *s = calloc(1, sizeof(*s));
	struct vm_config d = { .console_in = 5, .stats = true };
	struct err e = { "" };
	struct snap_reader r;
	snap_reader_init(&r, w.buf, w.len, "config", &e);
	CHECK_EQ(snapshot_get_config(&r, &d, s), 0);
	CHECK_STR(d.kernel_path, "/boot/vmlinuz");
	CHECK_STR(d.append, "console=ttyS0");
	CHECK(d.initrd_path == NULL && d.bios_path == NULL);
	CHECK_EQ(d.mem_size, 256 << 20);
	CHECK_EQ(d.ncpus, 2);
	CHECK_EQ(d.ndisks, 2);
	CHECK_STR(d.disks[1].path, "/img/b.raw");
	CHECK(d.disks[1].read_only && !d.disks[0].read_only);
	CHECK(d.rng && d.console == VM_CONSOLE_VIRTIO && d.virtio_transport == VM_VIRTIO_MMIO);
	CHECK_EQ(d.net.fwd[0].host_port, 8080);
	CHECK_EQ(d.net.mac[5], 0x57);
	CHECK(!d.vga);
	CHECK(d.console_in == 5 && d.stats);    /* the host's fields are left alone */

	/* Out of range: 0 vCPUs (byte 4 of the u32 after four strings and the RAM size). */
	size_t at = 4 + strlen(c.kernel_path) + 4 + 4 + strlen(c.append) + 4 + 8;
	w.buf[at] = 0;
	snap_reader_init(&r, w.buf, w.len, "config", &e);
	CHECK(snapshot_get_config(&r, &d, s) < 0 && strstr(e.msg, "vCPU count"));
	w.buf[at] = 2;
	/* Every truncation. */
	unsigned refused = 0;
	for (size_t n = 0; n < w.len; n++) {
		snap_reader_init(&r, w.buf, n, "config", &e);
		refused += snapshot_get_config(&r, &d, s) < 0;
	}
	CHECK_EQ(refused, w.len);
	free(s);
	snap_writer_free(&w);
}

/* -- the memory file -------------------------------------------------------------------- */

static int mem_file(void)
{
	return memfd_create("snapmem", MFD_CLOEXEC);
}

static void test_memory(void)
{
	struct guest_mem a, b;
	struct err e = { "" };
	const uint64_t size = 16 << 20;
	CHECK_EQ(mem_init(&a, size, false, &e), 0);
	CHECK_EQ(mem_init(&b, size, false, &e), 0);
	/* A few pages with data, in both low slots, one at the very end. */
	for (uint64_t gpa = 0x1000; gpa < 0x9f000; gpa += 0x13000)
		mem_write(&a, gpa + 8, &gpa, sizeof(gpa));
	uint64_t last = size - 8, v = 0x1122334455667788ull;
	mem_write(&a, last, &v, 8);
	mem_write(&a, 0xc0000, "x", 1);

	int fd = mem_file();
	struct snapshot_header h = hdr;
	h.mem_size = size;
	CHECK_EQ(snapshot_mem_write(&a, fd, h.mem_id, &h.mem_digest, &e), 0);
	CHECK_EQ(lseek(fd, 0, SEEK_END), SNAPSHOT_MEM_HEADER + size);
	struct stat st;
	fstat(fd, &st);
	CHECK((uint64_t)st.st_blocks * 512 < 256 * 1024);     /* sparse: a few pages */
	CHECK_EQ(snapshot_mem_read(&b, fd, &h, "m", &e), 0);
	unsigned same = 0;
	for (unsigned i = 0; i < a.nslots; i++)
		same += memcmp(a.slots[i].host, b.slots[i].host, a.slots[i].size) == 0;
	CHECK_EQ(same, a.nslots);

	/* A changed byte in a page with data, and in a page that was zero. */
	uint8_t x = 0x77;
	uint64_t off = SNAPSHOT_MEM_HEADER + 0x1000 + 8;
	uint8_t old;
	CHECK_EQ(pread(fd, &old, 1, (off_t)off), 1);
	CHECK_EQ(pwrite(fd, &x, 1, (off_t)off), 1);
	CHECK(snapshot_mem_read(&b, fd, &h, "m", &e) < 0 && strstr(e.msg, "corrupted"));
	CHECK_EQ(pwrite(fd, &old, 1, (off_t)off), 1);
	CHECK_EQ(pwrite(fd, &x, 1, SNAPSHOT_MEM_HEADER + 0x50000), 1);
	CHECK(snapshot_mem_read(&b, fd, &h, "m", &e) < 0 && strstr(e.msg, "corrupted"));
	x = 0;
	CHECK_EQ(pwrite(fd, &x, 1, SNAPSHOT_MEM_HEADER + 0x50000), 1);
	CHECK_EQ(snapshot_mem_read(&b, fd, &h, "m", &e), 0);

	/* Another snapshot's memory file, another size, a bad header, truncated. */
	struct snapshot_header o = h;
	o.mem_id[0] ^= 1;
	CHECK(snapshot_mem_read(&b, fd, &o, "m", &e) < 0 && strstr(e.msg, "another snapshot"));
	o = h;
	o.mem_digest ^= 1;
	CHECK(snapshot_mem_read(&b, fd, &o, "m", &e) < 0 && strstr(e.msg, "does not match"));
	CHECK_EQ(pwrite(fd, "X", 1, 100), 1);
	CHECK(snapshot_mem_read(&b, fd, &h, "m", &e) < 0 && strstr(e.msg, "header is corrupted"));
	CHECK_EQ(pwrite(fd, "\0", 1, 100), 1);
	CHECK_EQ(snapshot_mem_read(&b, fd, &h, "m", &e), 0);
	CHECK_EQ(ftruncate(fd, SNAPSHOT_MEM_HEADER + size - 4096), 0);
	CHECK(snapshot_mem_read(&b, fd, &h, "m", &e) < 0 && strstr(e.msg, "truncated"));
	CHECK_EQ(ftruncate(fd, 100), 0);
	CHECK(snapshot_mem_read(&b, fd, &h, "m", &e) < 0 && strstr(e.msg, "not a trivisor"));
	close(fd);
	struct guest_mem c;
	CHECK_EQ(mem_init(&c, size * 2, false, &e), 0);
	fd = mem_file();
	CHECK_EQ(snapshot_mem_write(&a, fd, h.mem_id, &h.mem_digest, &e), 0);
	CHECK(snapshot_mem_read(&c, fd, &h, "m", &e) < 0 && strstr(e.msg, "does not match"));
	close(fd);

	/* Shared RAM (a memfd, as under direct execution): its holes are skipped. */
	struct guest_mem s;
	CHECK_EQ(mem_init(&s, size, true, &e), 0);
	mem_write(&s, 0x3000, "shared", 6);
	mem_write(&s, last, &v, 8);
	fd = mem_file();
	struct snapshot_header hs = h;
	CHECK_EQ(snapshot_mem_write(&s, fd, hs.mem_id, &hs.mem_digest, &e), 0);
	memset(b.slots[0].host, 0, b.slots[0].size);
	memset(b.slots[1].host, 0, b.slots[1].size);
	CHECK_EQ(snapshot_mem_read(&b, fd, &hs, "m", &e), 0);
	char got[7] = { 0 };
	mem_read(&b, 0x3000, got, 6);
	CHECK_STR(got, "shared");
	uint64_t lv = 0;
	mem_read(&b, last, &lv, 8);
	CHECK_EQ(lv, v);
	close(fd);
	mem_destroy(&s);
	mem_destroy(&c);
	mem_destroy(&a);
	mem_destroy(&b);
}

/* -- device hooks ------------------------------------------------------------------------ */

static void io(struct vm *vm, uint16_t port, uint8_t v)
{
	bus_access(&vm->pio, port, &v, 1, true);
}

static uint8_t inb(struct vm *vm, uint16_t port)
{
	uint8_t v = 0;
	bus_access(&vm->pio, port, &v, 1, false);
	return v;
}

static struct vm *device_vm(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct vm_config cfg = { .mem_size = 4 << 20, .ncpus = 1, .console_in = -1,
	                         .console_out = -1 };
	struct err e;
	struct uart *u;
	CHECK_EQ(vm_init_core(vm, &cfg, &e), 0);
	CHECK_EQ(uart_create(vm, PC_COM1_PORT, PC_COM1_IRQ, &u, &e), 0);
	CHECK_EQ(rtc_create(vm, &e), 0);
	CHECK_EQ(i8042_create(vm, false, NULL, &e), 0);
	vm->console_dev = u;
	vm->console_receive = uart_receive;
	return vm;
}

/* Every device's sections written one after another, then read into another VM. */
static void test_devices(void)
{
	struct vm *a = device_vm(), *b = device_vm();
	struct err e = { "" };
	io(a, PC_COM1_PORT + 7, 0xa5);          /* scratch */
	io(a, PC_COM1_PORT + 1, 0x01);          /* IER: received data */
	io(a, PC_COM1_PORT + 4, 0x08);          /* OUT2: the interrupt gate */
	a->console_receive(a->console_dev, (const uint8_t *)"abc", 3);
	io(a, PC_RTC_PORT, 0x41);
	io(a, PC_RTC_PORT + 1, 0x77);
	io(a, PC_I8042_CMD_PORT, 0xd2);         /* a byte as if typed: waits in the queue */
	io(a, PC_I8042_DATA_PORT, 0x1c);

	struct snap_writer w;
	snap_writer_init(&w);
	vm_inputs_hold(a);
	for (unsigned i = 0; i < a->ndevices; i++) {
		struct vm_device *d = &a->devices[i];
		CHECK(d->name && d->save && d->load);
		size_t at = snapshot_section_begin(&w, d->name);
		CHECK_EQ(d->save(d->opaque, &w), 0);
		snapshot_section_end(&w, at);
	}
	vm_inputs_release(a);
	struct snapshot_header h = hdr;
	struct snap_writer f;
	snap_writer_init(&f);
	snapshot_put_header(&f, &h);
	snap_put_bytes(&f, w.buf, w.len);
	snapshot_finish(&f);
	struct snapshot_in *in = calloc(1, sizeof(*in));
	CHECK_EQ(snapshot_parse(in, f.buf, f.len, "dev.state", &e), 0);
	for (unsigned i = 0; i < b->ndevices; i++) {
		struct vm_device *d = &b->devices[i];
		struct snap_reader r;
		CHECK_EQ(snapshot_open(in, d->name, &r, &e), 0);
		CHECK_EQ(d->load(d->opaque, &r), 0);
		CHECK_EQ(snap_end(&r), 0);
	}
	CHECK_EQ(snapshot_check_used(in, &e), 0);
	CHECK_EQ(inb(b, PC_COM1_PORT + 7), 0xa5);
	CHECK_EQ(inb(b, PC_COM1_PORT + 1), 0x01);
	CHECK(b->irq_lines & (1u << PC_COM1_IRQ));   /* data waiting, interrupt on: the line */
	CHECK_EQ(inb(b, PC_COM1_PORT), 'a');
	CHECK_EQ(inb(b, PC_COM1_PORT), 'b');
	CHECK_EQ(inb(b, PC_COM1_PORT), 'c');
	io(b, PC_RTC_PORT, 0x41);
	CHECK_EQ(inb(b, PC_RTC_PORT + 1), 0x77);
	CHECK_EQ(inb(b, PC_I8042_CMD_PORT) & 1, 1);   /* output buffer full */
	CHECK_EQ(inb(b, PC_I8042_DATA_PORT), 0x1c);

	/* Hostile values: a UART holding more than its buffer, an i8042 mid-command that
	 * does not exist; refused with the device named. */
	struct snap_reader r;
	CHECK_EQ(snapshot_open(in, "uart", &r, &e), 0);
	uint8_t *bad = malloc(r.len);
	memcpy(bad, r.p, r.len);
	bad[10] = 0xff;                      /* received byte count: 0x...ff */
	bad[11] = 0xff;
	snap_reader_init(&r, bad, 14, "uart", &e);
	CHECK(b->devices[0].load(b->devices[0].opaque, &r) < 0 && strstr(e.msg, "uart") &&
	      strstr(e.msg, "received bytes"));
	free(bad);
	for (unsigned i = 0; i < b->ndevices; i++)
		if (strcmp(b->devices[i].name, "i8042") == 0) {
			CHECK_EQ(snapshot_open(in, "i8042", &r, &e), 0);
			uint8_t *k = malloc(r.len);
			memcpy(k, r.p, r.len);
			k[33] = 0x42;                /* the pending controller command */
			snap_reader_init(&r, k, r.len, "i8042", &e);
			CHECK(b->devices[i].load(b->devices[i].opaque, &r) < 0 &&
			      strstr(e.msg, "pending command"));
			free(k);
		}
	free(in);
	snap_writer_free(&w);
	snap_writer_free(&f);
	vm_destroy(a);
	vm_destroy(b);
	free(a);
	free(b);
}

/* machine_snapshot_save refuses, before writing anything, a VM with a device that has no
 * save and a VM that is not paused. */
static void nothing(void *opaque) {}

static void test_refusals(void)
{
	struct vm *vm = device_vm();
	struct err e = { "" };
	static int gizmo;
	CHECK_EQ(vm_add_device(vm, &gizmo, nothing, &e), 0);
	CHECK(machine_snapshot_save(vm, "/nonexistent/s", "/nonexistent/m", &e) < 0 &&
	      strstr(e.msg, "device (unnamed) cannot be saved"));
	vm_set_device_snapshot(vm, &gizmo, "gizmo", NULL, NULL);
	CHECK(machine_snapshot_save(vm, "/nonexistent/s", "/nonexistent/m", &e) < 0 &&
	      strstr(e.msg, "device gizmo cannot be saved"));
	vm_set_device_host(vm, &gizmo);       /* host-side: nothing to save, not refused */
	CHECK(machine_snapshot_save(vm, "/nonexistent/s", "/nonexistent/m", &e) < 0 &&
	      strstr(e.msg, "pause it first"));
	CHECK(machine_snapshot_save(vm, "/nonexistent/s", "/nonexistent/s", &e) < 0 &&
	      strstr(e.msg, "must differ"));
	vm_destroy(vm);
	free(vm);
}

int main(void)
{
	test_round_trip();
	test_damaged();
	test_config();
	test_memory();
	test_devices();
	test_refusals();
	return check_done();
}
