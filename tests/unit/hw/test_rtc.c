/* MC146818 RTC: host UTC time in BCD/binary/12-hour, setting the clock, CMOS memory. */
#include <time.h>

#include "../check.h"
#include "hw/pc.h"
#include "hw/rtc.h"
#include "hw_test.h"

static struct vm vm;

static uint8_t cmos(struct vm *v, uint8_t reg)
{
	outb(v, PC_RTC_PORT, reg);
	return inb(v, PC_RTC_PORT + 1);
}

static void cmos_set(struct vm *v, uint8_t reg, uint8_t val)
{
	outb(v, PC_RTC_PORT, reg);
	outb(v, PC_RTC_PORT + 1, val);
}

static int bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0x0f); }

/* A register's value in binary, given register B's data mode. */
static int dec(uint8_t b, uint8_t v) { return (b & 0x04) ? v : bcd(v); }

/* The guest's view of the clock as seconds since the epoch. */
static time_t guest_time(struct vm *v)
{
	uint8_t b = cmos(v, 0x0b), h = cmos(v, 0x04);
	struct tm tm = { 0 };

	tm.tm_sec = dec(b, cmos(v, 0x00));
	tm.tm_min = dec(b, cmos(v, 0x02));
	if (b & 0x02)
		tm.tm_hour = dec(b, h);
	else
		tm.tm_hour = dec(b, h & 0x7f) % 12 + ((h & 0x80) ? 12 : 0);
	tm.tm_mday = dec(b, cmos(v, 0x07));
	tm.tm_mon = dec(b, cmos(v, 0x08)) - 1;
	tm.tm_year = dec(b, cmos(v, RTC_CENTURY_REG)) * 100 + dec(b, cmos(v, 0x09)) - 1900;
	return timegm(&tm);
}

static int near(time_t a, time_t b) { return a - b < 5 && b - a < 5; }

static void test_time(void)
{
	CHECK_EQ(cmos(&vm, 0x0a), 0x26);     /* UIP clear, normal time base */
	CHECK_EQ(cmos(&vm, 0x0b), 0x02);     /* 24 h, BCD */
	CHECK_EQ(cmos(&vm, 0x0d), 0x80);     /* VRT */
	CHECK_EQ(cmos(&vm, 0x0c), 0x00);
	CHECK(near(guest_time(&vm), time(NULL)));
	CHECK_EQ(bcd(cmos(&vm, RTC_CENTURY_REG)), 20);
	/* day of week, Sunday = 1 */
	uint8_t wday = cmos(&vm, 0x06);
	CHECK(wday >= 1 && wday <= 7);

	cmos_set(&vm, 0x0b, 0x06);           /* binary, 24 h */
	CHECK(cmos(&vm, 0x09) <= 99);
	CHECK_EQ(cmos(&vm, RTC_CENTURY_REG), 20);
	CHECK(near(guest_time(&vm), time(NULL)));
	cmos_set(&vm, 0x0b, 0x04);           /* binary, 12 h */
	CHECK(near(guest_time(&vm), time(NULL)));
	uint8_t h = cmos(&vm, 0x04);
	CHECK((h & 0x7f) >= 1 && (h & 0x7f) <= 12);
	cmos_set(&vm, 0x0b, 0x00);           /* BCD, 12 h */
	CHECK(near(guest_time(&vm), time(NULL)));
	cmos_set(&vm, 0x0b, 0x02);
	/* UIP never sticks: register A written with bit 7 reads without it */
	cmos_set(&vm, 0x0a, 0xa6);
	CHECK_EQ(cmos(&vm, 0x0a), 0x26);
}

static void test_set_clock(void)
{
	/* Linux's way: SET, write all fields (BCD), clear SET */
	cmos_set(&vm, 0x0b, 0x82);
	cmos_set(&vm, 0x00, 0x30);
	cmos_set(&vm, 0x02, 0x45);
	cmos_set(&vm, 0x04, 0x13);
	cmos_set(&vm, 0x07, 0x29);
	cmos_set(&vm, 0x08, 0x02);
	cmos_set(&vm, 0x09, 0x24);
	cmos_set(&vm, RTC_CENTURY_REG, 0x20);
	CHECK_EQ(cmos(&vm, 0x00), 0x30);     /* frozen while SET */
	cmos_set(&vm, 0x0b, 0x02);
	struct tm want = { .tm_sec = 30, .tm_min = 45, .tm_hour = 13, .tm_mday = 29,
	                   .tm_mon = 1, .tm_year = 124 };
	CHECK(near(guest_time(&vm), timegm(&want)));
	CHECK_EQ(cmos(&vm, 0x06), 5);         /* 2024-02-29 was a Thursday */
	/* a single field written without SET moves the clock too (binary, 12 h, 1 PM) */
	cmos_set(&vm, 0x0b, 0x04);
	cmos_set(&vm, 0x04, 0x81);
	CHECK(near(guest_time(&vm), timegm(&want)));
	cmos_set(&vm, 0x04, 0x0c);           /* 12 AM = 00 h */
	want.tm_hour = 0;
	CHECK(near(guest_time(&vm), timegm(&want)));
	cmos_set(&vm, 0x0b, 0x02);
}

static void test_nvram(void)
{
	/* 5 GiB: 3 GiB below the hole, 2 GiB above 4 GiB */
	CHECK_EQ(cmos(&vm, 0x15) | cmos(&vm, 0x16) << 8, 640);
	CHECK_EQ(cmos(&vm, 0x17) | cmos(&vm, 0x18) << 8, 0xffff);
	CHECK_EQ(cmos(&vm, 0x30) | cmos(&vm, 0x31) << 8, 0xffff);
	CHECK_EQ(cmos(&vm, 0x34) | cmos(&vm, 0x35) << 8, (0xc0000000 - 0x1000000) >> 16);
	CHECK_EQ(cmos(&vm, 0x5b) | cmos(&vm, 0x5c) << 8 | cmos(&vm, 0x5d) << 16,
	         0x80000000ull >> 16);
	CHECK_EQ(cmos(&vm, 0x5f), 3);        /* 4 CPUs */
	/* index bit 7 is the NMI mask, not part of the index */
	outb(&vm, PC_RTC_PORT, 0x80 | 0x15);
	CHECK_EQ(inb(&vm, PC_RTC_PORT + 1), 0x80);
	/* NVRAM bytes are plain storage; C and D are read-only */
	cmos_set(&vm, 0x40, 0x99);
	CHECK_EQ(cmos(&vm, 0x40), 0x99);
	cmos_set(&vm, 0x0d, 0x00);
	CHECK_EQ(cmos(&vm, 0x0d), 0x80);
	/* a 16-bit write is an index cycle then a data cycle */
	io_out(&vm, PC_RTC_PORT, 2, 0x7f41);
	CHECK_EQ(cmos(&vm, 0x41), 0x7f);
	CHECK_EQ(inb(&vm, PC_RTC_PORT), 0xff);

	/* a small VM: 64 MiB */
	struct vm small;
	struct err e;
	test_vm_init(&small, 64ull << 20, 1, -1);
	CHECK_EQ(rtc_create(&small, &e), 0);
	CHECK_EQ(cmos(&small, 0x17) | cmos(&small, 0x18) << 8, 63 * 1024);
	CHECK_EQ(cmos(&small, 0x34) | cmos(&small, 0x35) << 8, 48 * 16);
	CHECK_EQ(cmos(&small, 0x5b) | cmos(&small, 0x5c) | cmos(&small, 0x5d), 0);
	CHECK_EQ(cmos(&small, 0x5f), 0);
	vm_destroy(&small);
}

int main(void)
{
	struct err e;

	test_vm_init(&vm, 5ull << 30, 4, -1);
	if (rtc_create(&vm, &e)) {
		fprintf(stderr, "rtc_create: %s\n", e.msg);
		return 1;
	}
	test_time();
	test_set_clock();
	test_nvram();
	vm_destroy(&vm);
	return check_done();
}
