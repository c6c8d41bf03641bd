/* ACPI fixed hardware: PM1a event and control blocks and the PM timer. */
#ifndef TRIVISOR_HW_ACPI_PM_H
#define TRIVISOR_HW_ACPI_PM_H

#include "core/err.h"

struct vm;
struct acpi_pm;

/* PM timer frequency (Hz). Its width is PC_ACPI_PM_TMR_BITS (32). */
#define ACPI_PM_TIMER_HZ   3579545ull

/* Claim PC_ACPI_PM1A_EVT (4 ports), PC_ACPI_PM1A_CNT (2) and PC_ACPI_PM_TMR (4).
 * *out may be NULL. */
int acpi_pm_create(struct vm *vm, struct acpi_pm **out, struct err *e);

/* The host pressed the (fixed-feature) power button: sets PWRBTN_STS and raises the SCI
 * if the guest enabled it, so an ACPI guest shuts down cleanly. Any thread. */
void acpi_pm_power_button(struct acpi_pm *pm);

#endif
