/* Shared pieces of the fuzz targets (see fuzz.h). */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "engine/engine.h"

uint8_t fz_u8(struct fz *f)
{
	if (f->n == 0)
		return 0;
	f->n--;
	return *f->p++;
}

uint16_t fz_u16(struct fz *f) { return (uint16_t)(fz_u8(f) | fz_u8(f) << 8); }
uint32_t fz_u32(struct fz *f) { return fz_u16(f) | (uint32_t)fz_u16(f) << 16; }
uint64_t fz_u64(struct fz *f) { return fz_u32(f) | (uint64_t)fz_u32(f) << 32; }

size_t fz_bytes(struct fz *f, void *dst, size_t n)
{
	size_t k = n < f->n ? n : f->n;
	memcpy(dst, f->p, k);
	memset((uint8_t *)dst + k, 0, n - k);
	f->p += k;
	f->n -= k;
	return k;
}

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("FUZZ INVARIANT BROKEN: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* Interrupt lines land in vm->irq_lines (vm_set_irq); MSIs are not delivered. */
static int set_irq(struct vm *vm, unsigned gsi, int level) { return 0; }
static const struct engine_ops fuzz_engine = { .name = "fuzz", .set_irq = set_irq };

struct vm *fuzz_vm(void)
{
	static struct vm *vm;
	if (!vm) {
		struct vm_config cfg = { .mem_size = FUZZ_RAM, .ncpus = 1, .console_in = -1,
		                         .console_out = -1 };
		struct err e;
		vm = calloc(1, sizeof(*vm));
		if (!vm || vm_init_core(vm, &cfg, &e))
			fuzz_fail("vm_init_core: %s", vm ? e.msg : "out of memory");
		vm->engine = &fuzz_engine;
		vm->engine_data = vm;
		log_threshold = LOG_ERROR;    /* hostile input is expected: no warning per input */
	}
	memset(mem_ptr(&vm->mem, 0, FUZZ_RAM), 0, FUZZ_RAM);
	return vm;
}

void fuzz_fill(struct vm *vm, struct fz *f, uint64_t gpa, size_t n)
{
	if (gpa >= FUZZ_RAM)
		return;
	if (n > FUZZ_RAM - gpa)
		n = FUZZ_RAM - gpa;
	fz_bytes(f, mem_ptr(&vm->mem, gpa, n), n);
}

/* -- the generic driver --------------------------------------------------------------- */

struct drv {
	struct virtio_dev *v;
	uint64_t features;
	uint16_t size[VIRTIO_MAX_QUEUES];
};

static uint16_t rd16(struct vm *vm, uint64_t gpa)
{
	uint8_t b[2] = { 0, 0 };
	mem_read(&vm->mem, gpa, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static void wr16(struct vm *vm, uint64_t gpa, uint16_t val)
{
	uint8_t b[2] = { (uint8_t)val, (uint8_t)(val >> 8) };
	mem_write(&vm->mem, gpa, b, 2);
}

/* Reset, ACKNOWLEDGE|DRIVER, features, FEATURES_OK, queues, DRIVER_OK: the order of
 * 3.1.1, with the input's choices. The device refuses what it must. */
static void driver_up(struct drv *d)
{
	struct virtio_dev *v = d->v;
	virtio_set_status(v, 0);
	virtio_set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(v, 0, (uint32_t)d->features);
	virtio_set_driver_features(v, 1, (uint32_t)(d->features >> 32));
	virtio_set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	                     VIRTIO_STATUS_FEATURES_OK);
	for (unsigned i = 0; i < v->nqueues; i++) {
		uint64_t base = FUZZ_QUEUE(i);
		virtio_queue_set_size(v, i, d->size[i]);
		virtio_queue_set_addr(v, i, base, base + FUZZ_AVAIL, base + FUZZ_USED);
		virtio_queue_enable(v, i);
	}
	virtio_set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	                     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/* The device may only ever write the used rings and the buffers: check that the rest
 * of its queues' state stays within what the driver set up. */
static void check_device(struct drv *d)
{
	struct virtio_dev *v = d->v;
	for (unsigned i = 0; i < v->nqueues; i++) {
		const struct virtq *q = &v->vqs[i];
		if (q->enabled && (q->size == 0 || q->size > q->max_size))
			fuzz_fail("queue %u enabled with size %u (max %u)", i, q->size, q->max_size);
	}
	if (v->isr & ~3u)
		fuzz_fail("ISR 0x%x has bits other than queue/config", v->isr);
}

static void ops(struct drv *d, struct fz *f, fuzz_host_fn host, void *ctx)
{
	struct virtio_dev *v = d->v;
	struct vm *vm = v->vm;
	unsigned nq = v->nqueues;

	while (f->n) {
		uint8_t op = fz_u8(f);
		unsigned q = nq ? fz_u8(f) % nq : 0;
		uint64_t avail = FUZZ_QUEUE(q) + FUZZ_AVAIL;
		uint16_t size = d->size[q] ? d->size[q] : 1;
		switch (op % 10) {
		case 0:          /* notify (any queue number, some that do not exist) */
			virtio_queue_notify(v, op & 0x80 ? fz_u8(f) : q);
			break;
		case 1: {        /* make a chain available, as a driver does, and notify */
			uint16_t idx = rd16(vm, avail + 2);
			wr16(vm, avail + 4 + 2 * (uint64_t)(idx % size), fz_u16(f));
			wr16(vm, avail + 2, (uint16_t)(idx + 1));
			virtio_queue_notify(v, q);
			break;
		}
		case 2: {        /* write anywhere in RAM (descriptors, buffers, rings) */
			uint16_t off = fz_u16(f);
			fuzz_fill(vm, f, off % FUZZ_RAM, fz_u8(f) % 17);
			break;
		}
		case 3:          /* move the available index anywhere */
			wr16(vm, avail + 2, fz_u16(f));
			break;
		case 4:
			if (host)
				host(ctx, f);
			break;
		case 5:
			driver_up(d);
			break;
		case 6: {        /* a configuration space write */
			uint8_t data[4];
			unsigned off = fz_u8(f), n = 1u << (fz_u8(f) % 3);
			fz_bytes(f, data, n);
			if (v->ops->config_write && off < v->config_len)
				v->ops->config_write(v, off, data, n < v->config_len - off ? n : v->config_len - off);
			break;
		}
		case 7:          /* available ring flags or used_event (EVENT_IDX) */
			wr16(vm, op & 0x80 ? avail : avail + 4 + 2 * (uint64_t)size, fz_u16(f));
			break;
		case 8:          /* any status byte */
			virtio_set_status(v, fz_u8(f));
			break;
		case 9:          /* the queue taken back and offered again */
			virtio_queue_disable(v, q);
			virtio_queue_enable(v, q);
			break;
		}
		check_device(d);
	}
}

void fuzz_virtio_dev(struct virtio_dev *v, const uint8_t *data, size_t size, fuzz_host_fn host,
                     void *ctx)
{
	struct fz f = { data, size };
	struct vm *vm = fuzz_vm();
	struct drv d = { .v = v };

	uint64_t feat = fz_u64(&f);
	d.features = feat >> 63 ? feat : (feat & v->features) | 1ull << VIRTIO_F_VERSION_1;
	for (unsigned i = 0; i < v->nqueues; i++) {
		d.size[i] = (uint16_t)(1u << (fz_u8(&f) % 10));
		size_t n = 16u * d.size[i];
		fuzz_fill(vm, &f, FUZZ_QUEUE(i), n < FUZZ_AVAIL ? n : FUZZ_AVAIL);
		fuzz_fill(vm, &f, FUZZ_QUEUE(i) + FUZZ_AVAIL, 6 + 2u * d.size[i]);
	}
	size_t nbuf = fz_u16(&f);
	fuzz_fill(vm, &f, FUZZ_BUF, nbuf < FUZZ_BUF_LEN ? nbuf : FUZZ_BUF_LEN);
	driver_up(&d);
	for (unsigned i = 0; i < v->nqueues; i++)
		virtio_queue_notify(v, i);     /* whatever the input made available */
	ops(&d, &f, host, ctx);
	virtio_set_status(v, 0);           /* drop device state (net's waiting frames) */
}

static void (*stats_fn)(FILE *out);

static void print_stats(void)
{
	fputs("fuzz-stats:", stderr);
	stats_fn(stderr);
	fputc('\n', stderr);
}

void fuzz_stats_at_exit(void (*fn)(FILE *out))
{
	stats_fn = fn;
	atexit(print_stats);
}

/* -- a disk image --------------------------------------------------------------------- */

static char image_path[64];

const char *fuzz_image(unsigned sectors)
{
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(image_path, sizeof(image_path), "%s/trivfuzz-XXXXXX", dir);
	int fd = mkstemp(image_path);
	if (fd < 0 || ftruncate(fd, (off_t)sectors * 512))
		fuzz_fail("cannot make a temporary image in %s", dir);
	close(fd);
	return image_path;
}

void fuzz_image_done(void)
{
	unlink(image_path);
}

int fuzz_frame_sink(const uint8_t *frame, size_t len, size_t min, size_t max)
{
	if (len < min || len > max)
		fuzz_fail("backend got a %zu-byte frame", len);
	uint8_t x = 0;
	for (size_t i = 0; i < len; i++)
		x ^= frame[i];
	return x & 1 ? -ENOBUFS : 0;
}
