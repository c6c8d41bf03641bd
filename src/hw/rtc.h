/* MC146818 CMOS real-time clock and NVRAM. */
#ifndef TRIVISOR_HW_RTC_H
#define TRIVISOR_HW_RTC_H

#include "core/err.h"

struct vm;

/* CMOS offsets the firmware tables need (the FADT's CENTURY field). */
#define RTC_CENTURY_REG 0x32

/* Claim PC_RTC_PORT (index) and PC_RTC_PORT + 1 (data). The clock starts at the host's
 * UTC time; the memory size bytes are filled in from vm->mem. */
int rtc_create(struct vm *vm, struct err *e);

#endif
