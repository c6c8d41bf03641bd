/* MC146818 RTC, written from the Motorola MC146818 datasheet.
 *
 * The clock is the host's UTC time (Linux expects UTC by default) plus an offset the
 * guest changes by writing the time registers. UIP never reads as set: every read
 * computes the current time, and Linux re-reads the seconds to detect a torn read.
 * Periodic, alarm and update-ended interrupts are not modelled (nothing needs them yet):
 * register C reads 0 and IRQ 8 stays low. */
#include "rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "core/snap.h"
#include "core/vm.h"
#include "pc.h"

enum {
	REG_SEC = 0x00, REG_MIN = 0x02, REG_HOUR = 0x04, REG_WDAY = 0x06,
	REG_MDAY = 0x07, REG_MON = 0x08, REG_YEAR = 0x09,
	REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d,
};

#define A_DEFAULT 0x26 /* 32.768 kHz time base, 1024 Hz rate */
#define B_SET     0x80 /* updates halted while the guest sets the clock */
#define B_DM      0x04 /* binary (1) or BCD (0) */
#define B_24H     0x02
#define D_VRT     0x80 /* the battery is fine */

#define CMOS_SIZE 128
#define KiB 1024ull
#define MiB (1024 * KiB)

struct rtc {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t cmos[CMOS_SIZE]; /* NVRAM, alarms, registers A and B */
	time_t offset;           /* guest time - host time, seconds */
	struct tm frozen;        /* the clock while register B's SET bit is on */
};

static bool is_time_reg(unsigned reg)
{
	return reg == REG_SEC || reg == REG_MIN || reg == REG_HOUR || reg == REG_WDAY ||
	       reg == REG_MDAY || reg == REG_MON || reg == REG_YEAR || reg == RTC_CENTURY_REG;
}

static void now_tm(const struct rtc *r, struct tm *tm)
{
	if (r->cmos[REG_B] & B_SET) {
		*tm = r->frozen;
		return;
	}
	time_t t = time(NULL) + r->offset;
	if (!gmtime_r(&t, tm))
		*tm = (struct tm){ .tm_mday = 1, .tm_year = 70 };
}

static uint8_t encode(const struct rtc *r, int v)
{
	if (v < 0)
		v = 0;
	if (r->cmos[REG_B] & B_DM)
		return (uint8_t)v;
	v %= 100;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int decode(const struct rtc *r, uint8_t v)
{
	return (r->cmos[REG_B] & B_DM) ? v : (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t read_time(const struct rtc *r, unsigned reg)
{
	struct tm tm;
	now_tm(r, &tm);
	int year = tm.tm_year + 1900;

	switch (reg) {
	case REG_SEC:  return encode(r, tm.tm_sec);
	case REG_MIN:  return encode(r, tm.tm_min);
	case REG_HOUR:
		if (r->cmos[REG_B] & B_24H)
			return encode(r, tm.tm_hour);
		/* 12-hour mode: 12, 1..11 with bit 7 for PM */
		return encode(r, tm.tm_hour % 12 ? tm.tm_hour % 12 : 12) | (tm.tm_hour >= 12 ? 0x80 : 0);
	case REG_WDAY: return encode(r, tm.tm_wday + 1); /* Sunday = 1 */
	case REG_MDAY: return encode(r, tm.tm_mday);
	case REG_MON:  return encode(r, tm.tm_mon + 1);
	case REG_YEAR: return encode(r, year % 100);
	default:       return encode(r, year / 100);   /* century */
	}
}

/* Set one field of the clock. While SET is on this edits the frozen copy; otherwise the
 * offset moves so that the field reads back as written. */
static void write_time(struct rtc *r, unsigned reg, uint8_t v)
{
	struct tm tm;
	now_tm(r, &tm);
	int year = tm.tm_year + 1900;

	switch (reg) {
	case REG_SEC:  tm.tm_sec = decode(r, v); break;
	case REG_MIN:  tm.tm_min = decode(r, v); break;
	case REG_HOUR:
		if (r->cmos[REG_B] & B_24H)
			tm.tm_hour = decode(r, v);
		else
			tm.tm_hour = decode(r, v & 0x7f) % 12 + ((v & 0x80) ? 12 : 0);
		break;
	case REG_WDAY: return; /* derived from the date */
	case REG_MDAY: tm.tm_mday = decode(r, v); break;
	case REG_MON:  tm.tm_mon = decode(r, v) - 1; break;
	case REG_YEAR: tm.tm_year = year / 100 * 100 + decode(r, v) - 1900; break;
	default:       tm.tm_year = decode(r, v) * 100 + year % 100 - 1900; break;
	}
	if (r->cmos[REG_B] & B_SET) {
		r->frozen = tm;
		return;
	}
	time_t t = timegm(&tm); /* normalises out-of-range fields */
	if (t != (time_t)-1)
		r->offset = t - time(NULL);
}

static void write_b(struct rtc *r, uint8_t v)
{
	bool was_set = r->cmos[REG_B] & B_SET;

	if ((v & B_SET) && !was_set) {
		now_tm(r, &r->frozen);
	} else if (!(v & B_SET) && was_set) {
		time_t t = timegm(&r->frozen);
		if (t != (time_t)-1)
			r->offset = t - time(NULL);
	}
	r->cmos[REG_B] = v;
}

static uint8_t reg_read(const struct rtc *r, unsigned reg)
{
	if (is_time_reg(reg))
		return read_time(r, reg);
	switch (reg) {
	case REG_A: return r->cmos[REG_A] & 0x7f; /* UIP never set */
	case REG_C: return 0;                     /* no interrupt flags */
	case REG_D: return D_VRT;
	default:    return r->cmos[reg];
	}
}

static void reg_write(struct rtc *r, unsigned reg, uint8_t v)
{
	if (is_time_reg(reg)) {
		write_time(r, reg, v);
		return;
	}
	switch (reg) {
	case REG_A: r->cmos[REG_A] = v & 0x7f; break;
	case REG_B: write_b(r, v); break;
	case REG_C: case REG_D: break;           /* read-only */
	default: r->cmos[reg] = v; break;
	}
}

/* Offset 0 is the index port (write-only; bit 7 is the NMI mask, ignored), offset 1 the
 * data port. Wider accesses are split into byte cycles, as the ISA bus does. */
static void rtc_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct rtc *r = opaque;

	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < size; i++) {
		uint64_t port = offset + i;
		if (port == 0 && is_write)
			r->index = data[i] & 0x7f;
		else if (port == 1 && is_write)
			reg_write(r, r->index, data[i]);
		else if (port == 1)
			data[i] = reg_read(r, r->index);
		else if (!is_write)
			data[i] = 0xff;
	}
	pthread_mutex_unlock(&r->lock);
}

static void put16(uint8_t *p, uint64_t v)
{
	if (v > 0xffff)
		v = 0xffff;
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Memory sizes where PC firmware (and SeaBIOS, from QEMU's CMOS) looks for them. */
static void fill_nvram(struct rtc *r, const struct vm *vm)
{
	uint64_t low = mem_low_end(&vm->mem);
	uint64_t high = vm->mem.ram_size > low ? vm->mem.ram_size - low : 0;
	uint64_t ext = low > MiB ? (low - MiB) / KiB : 0;                /* KiB above 1 MiB */
	uint64_t above16 = low > 16 * MiB ? (low - 16 * MiB) >> 16 : 0;  /* 64 KiB units */
	uint64_t above4g = high >> 16;                                   /* 64 KiB units */
	uint8_t *c = r->cmos;

	c[REG_A] = A_DEFAULT;
	c[REG_B] = B_24H;                   /* 24-hour BCD */
	put16(&c[0x15], 640);               /* base memory, KiB */
	put16(&c[0x17], ext);               /* extended memory, KiB (capped) */
	put16(&c[0x30], ext);               /* the same, as POST found it */
	put16(&c[0x34], above16);
	if (above4g > 0xffffff)
		above4g = 0xffffff;
	c[0x5b] = (uint8_t)above4g;
	c[0x5c] = (uint8_t)(above4g >> 8);
	c[0x5d] = (uint8_t)(above4g >> 16);
	c[0x5f] = (uint8_t)(vm->ncpus ? vm->ncpus - 1 : 0); /* QEMU's "CPUs - 1" byte */
	/* The boot order as QEMU keeps it for SeaBIOS: a nibble per device, first in the
	 * low nibble of 0x3d (1 floppy, 2 disk, 3 CD-ROM); 0x38 bit 0: skip the floppy
	 * boot signature check. No floppy here. */
	c[0x3d] = vm->cfg.boot == VM_BOOT_CDROM ? 0x23 : 0x32;
	c[0x38] = 0x01;

	unsigned sum = 0;                   /* standard checksum over 0x10..0x2d */
	for (unsigned i = 0x10; i <= 0x2d; i++)
		sum += c[i];
	c[0x2e] = (uint8_t)(sum >> 8);
	c[0x2f] = (uint8_t)sum;
}

/* Snapshots: the index, CMOS RAM and registers, and the clock as an offset from the
 * host's: the guest's clock keeps running while the VM is saved, as a PC's battery-backed
 * one does while the machine is off. */
static void put_tm(struct snap_writer *w, const struct tm *tm)
{
	const int f[] = { tm->tm_sec, tm->tm_min, tm->tm_hour, tm->tm_mday, tm->tm_mon,
	                  tm->tm_year, tm->tm_wday, tm->tm_yday };
	for (unsigned i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		snap_put_u32(w, (uint32_t)f[i]);
}

static void get_tm(struct snap_reader *r, struct tm *tm)
{
	int *f[] = { &tm->tm_sec, &tm->tm_min, &tm->tm_hour, &tm->tm_mday, &tm->tm_mon,
	             &tm->tm_year, &tm->tm_wday, &tm->tm_yday };
	*tm = (struct tm){ 0 };
	for (unsigned i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		int32_t v = (int32_t)snap_get_u32(r);
		/* What the guest can set through the BCD/binary registers, with margin. */
		snap_check(r, v >= -1000 && v <= 100000, "frozen time");
		*f[i] = v;
	}
}

static int rtc_save(void *opaque, struct snap_writer *w)
{
	struct rtc *r = opaque;
	pthread_mutex_lock(&r->lock);
	snap_put_u8(w, r->index);
	snap_put_bytes(w, r->cmos, CMOS_SIZE);
	snap_put_u64(w, (uint64_t)(int64_t)r->offset);
	put_tm(w, &r->frozen);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int rtc_load(void *opaque, struct snap_reader *rd)
{
	struct rtc *r = opaque;
	pthread_mutex_lock(&r->lock);
	r->index = snap_get_u8(rd);
	snap_check(rd, r->index < CMOS_SIZE, "index");
	snap_get_bytes(rd, r->cmos, CMOS_SIZE);
	int64_t off = (int64_t)snap_get_u64(rd);
	/* A guest can move its clock by at most a few thousand years. */
	snap_check(rd, off > -(1ll << 40) && off < (1ll << 40), "clock offset");
	r->offset = (time_t)off;
	get_tm(rd, &r->frozen);
	if (rd->failed) {
		r->index = 0;
		r->offset = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return snap_status(rd);
}

static void rtc_destroy(void *opaque)
{
	struct rtc *r = opaque;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int rtc_create(struct vm *vm, struct err *e)
{
	struct rtc *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return err_set(e, ENOMEM, "rtc: out of memory");
	ret = pthread_mutex_init(&r->lock, NULL);
	if (ret) {
		free(r);
		return err_set(e, ret, "rtc: cannot create its lock");
	}
	r->vm = vm;
	fill_nvram(r, vm);

	ret = vm_add_device(vm, r, rtc_destroy, e);
	if (ret) {
		rtc_destroy(r);
		return ret;
	}
	vm_set_device_snapshot(vm, r, "rtc", rtc_save, rtc_load);
	return bus_register(&vm->pio, PC_RTC_PORT, 2, rtc_io, r, "rtc", e);
}
