/* Shared pieces of the libFuzzer targets: one small RAM-only VM per process (no CPU:
 * the fuzzer input plays the guest), a reader over the input, and a generic virtio
 * driver whose every choice comes from the input.
 *
 * Input of the device targets (fuzz_virtio_dev), all little-endian, short input reads
 * as zeros:
 *   u64 driver features (bit 63 clear: masked with the offer, VERSION_1 added; set: raw)
 *   per queue: u8 log2(size) (mod 10), then the descriptor table (16 * size bytes) and
 *              the available ring (6 + 2 * size bytes), copied into guest RAM as is
 *   u16 n, then n bytes of buffer space (FUZZ_BUF: where the descriptors may point)
 *   then actions until the input ends, each an op byte and its operands (fuzz_ops)
 * tests/fuzz/seeds.py writes seeds in this format. */
#ifndef TRIVISOR_FUZZ_H
#define TRIVISOR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/vm.h"
#include "hw/virtio/virtio.h"

/* Guest RAM: queue i's rings at FUZZ_QUEUE(i) (descriptor table, then the available
 * ring at +0x1000 and the used ring at +0x2000), buffer space at FUZZ_BUF. */
#define FUZZ_RAM      0x20000u
#define FUZZ_QUEUE(i) (0x3000u * (i))
#define FUZZ_AVAIL    0x1000u
#define FUZZ_USED     0x2000u
#define FUZZ_BUF      0x8000u
#define FUZZ_BUF_LEN  0x10000u

struct fz {
	const uint8_t *p;
	size_t n;
};

uint8_t fz_u8(struct fz *f);
uint16_t fz_u16(struct fz *f);
uint32_t fz_u32(struct fz *f);
uint64_t fz_u64(struct fz *f);
/* Up to n bytes of input into dst (the rest of dst zeroed); returns how many came. */
size_t fz_bytes(struct fz *f, void *dst, size_t n);

/* The process's VM (made on first use) with all its RAM zeroed. */
struct vm *fuzz_vm(void);
/* Abort (a finding) with a message: an invariant the code under test broke. */
void fuzz_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Copy n bytes of input to guest RAM at gpa (clamped to RAM). */
void fuzz_fill(struct vm *vm, struct fz *f, uint64_t gpa, size_t n);

/* Device-specific host-side input (a received frame, typed console input): takes its
 * operands from f. */
typedef void (*fuzz_host_fn)(void *ctx, struct fz *f);

/* Drive v as the input says (format above); host (may be NULL) serves the host-input
 * action. The device is reset first, so state does not leak between inputs. */
void fuzz_virtio_dev(struct virtio_dev *v, const uint8_t *data, size_t size, fuzz_host_fn host,
                     void *ctx);

/* A network backend's send() for the fuzz targets: fails the run unless the frame is
 * min..max bytes long, reads every byte of it (ASan), and refuses about half of the
 * frames (-ENOBUFS: a full backend) so that drop paths run too. */
int fuzz_frame_sink(const uint8_t *frame, size_t len, size_t min, size_t max);

/* At exit, print "fuzz-stats: NAME=VALUE ..." from fn: what the run reached (the suite
 * checks that the seeds get the device past its parsing into real work). */
void fuzz_stats_at_exit(void (*fn)(FILE *out));

/* A temporary raw image of `sectors` sectors (on /dev/shm when it exists, so that
 * flushes are cheap), unlinked once the caller opened it: returns its path, valid until
 * fuzz_image_done. */
const char *fuzz_image(unsigned sectors);
void fuzz_image_done(void);

#endif
