/* ACPI PM1a event/control registers and PM timer (ACPI spec, "Fixed Hardware
 * Programming Model"). ACPI is always enabled (the FADT has SMI_CMD = 0), so SCI_EN
 * reads as 1. Only S5 is a real sleep state here; entering any other one wakes up at
 * once (WAK_STS set), because a guest polls WAK_STS after writing SLP_EN. */
#include "acpi_pm.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "core/snap.h"
#include "core/vm.h"
#include "pc.h"

/* Nothing sets TMR_STS (timer carry) yet: Linux never enables TMR_EN. */
#define STS_PWRBTN 0x0100
#define STS_WAK    0x8000
#define EN_MASK    0x0721 /* TMR, GBL, PWRBTN, SLPBTN, RTC */

#define CNT_SCI_EN   0x0001
#define CNT_STORED   0x1c06 /* BM_RLD, GBL_RLS, SLP_TYP */
#define CNT_SLP_EN   0x2000 /* write-only */
#define CNT_TYP_SHIFT 10

struct acpi_pm {
	struct vm *vm;
	pthread_mutex_t lock;
	uint16_t sts, en, cnt;
	bool sci_level;
	uint64_t start_ns; /* the timer counts from VM creation; read without the lock */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t timer_value(const struct acpi_pm *pm)
{
	uint64_t ns = mono_ns() - pm->start_ns;
	/* Split so the product cannot overflow however long the VM runs. */
	uint64_t ticks = ns / 1000000000ull * ACPI_PM_TIMER_HZ +
	                 ns % 1000000000ull * ACPI_PM_TIMER_HZ / 1000000000ull;
	_Static_assert(PC_ACPI_PM_TMR_BITS == 32, "the timer below counts 32 bits");
	return (uint32_t)ticks;
}

static void update_sci(struct acpi_pm *pm)
{
	bool level = (pm->sts & pm->en) != 0;
	if (level != pm->sci_level) {
		pm->sci_level = level;
		vm_set_irq(pm->vm, PC_ACPI_SCI_IRQ, level);
	}
}

/* The 4-byte event block, a byte at a time: bytes 0-1 status (write 1 to clear),
 * bytes 2-3 enable. */
static void evt_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct acpi_pm *pm = opaque;

	pthread_mutex_lock(&pm->lock);
	for (unsigned i = 0; i < size; i++) {
		uint64_t b = offset + i;
		if (b >= 4) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		unsigned shift = 8 * (b & 1);
		uint16_t *reg = b < 2 ? &pm->sts : &pm->en;
		if (!is_write)
			data[i] = (uint8_t)(*reg >> shift);
		else if (b < 2)
			pm->sts &= (uint16_t)~((unsigned)data[i] << shift);
		else
			pm->en = (uint16_t)((pm->en & ~(0xffu << shift)) | ((unsigned)data[i] << shift)) & EN_MASK;
	}
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

/* Returns true if the guest entered S5. */
static bool cnt_write(struct acpi_pm *pm, uint16_t v)
{
	pm->cnt = v & CNT_STORED;
	if (!(v & CNT_SLP_EN))
		return false;
	unsigned typ = (v >> CNT_TYP_SHIFT) & 7;
	if (typ == PC_ACPI_S5_TYP)
		return true;
	log_info("acpi", "guest asked for sleep type %u: not supported, waking it at once", typ);
	pm->sts |= STS_WAK;
	return false;
}

static void cnt_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct acpi_pm *pm = opaque;
	bool off = false;

	pthread_mutex_lock(&pm->lock);
	for (unsigned i = 0; i < size; i++) {
		uint64_t b = offset + i;
		if (b >= 2) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		unsigned shift = 8 * (unsigned)b;
		uint16_t v = pm->cnt | CNT_SCI_EN;
		if (!is_write) {
			data[i] = (uint8_t)(v >> shift);
			continue;
		}
		/* SLP_TYP and SLP_EN share the high byte, so a byte-wise write acts exactly
		 * like the 16-bit one. */
		v = (uint16_t)((v & ~(0xffu << shift)) | ((unsigned)data[i] << shift));
		off |= cnt_write(pm, v);
	}
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);

	if (off)
		vm_request_stop(pm->vm, VM_STOP_POWEROFF, 0, "guest powered off (ACPI S5)");
}

static void tmr_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	if (is_write)
		return;
	uint32_t v = timer_value(opaque); /* one sample for the whole access: no tearing */
	for (unsigned i = 0; i < size; i++) {
		uint64_t b = offset + i;
		data[i] = b < 4 ? (uint8_t)(v >> (8 * b)) : 0xff;
	}
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts |= STS_PWRBTN;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

/* Snapshots: the registers and the PM timer's count, which goes on from there after a
 * restore (guest time does not pass while the VM is saved). */
static int acpi_pm_save(void *opaque, struct snap_writer *w)
{
	struct acpi_pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	snap_put_u16(w, pm->sts);
	snap_put_u16(w, pm->en);
	snap_put_u16(w, pm->cnt);
	snap_put_u64(w, mono_ns() - pm->start_ns);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

static int acpi_pm_load(void *opaque, struct snap_reader *r)
{
	struct acpi_pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	pm->sts = snap_get_u16(r);
	pm->en = snap_get_u16(r);
	pm->cnt = snap_get_u16(r);
	uint64_t elapsed = snap_get_u64(r);
	snap_check(r, !(pm->sts & ~(STS_PWRBTN | STS_WAK)) && !(pm->en & ~EN_MASK) &&
	           !(pm->cnt & ~CNT_STORED), "registers");
	if (r->failed)
		pm->sts = pm->en = pm->cnt = 0, elapsed = 0;
	pm->start_ns = mono_ns() - elapsed;   /* modulo 2^64, like every later difference */
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return snap_status(r);
}

static void acpi_pm_destroy(void *opaque)
{
	struct acpi_pm *pm = opaque;
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

int acpi_pm_create(struct vm *vm, struct acpi_pm **out, struct err *e)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	int r;

	if (!pm)
		return err_set(e, ENOMEM, "acpi: out of memory");
	r = pthread_mutex_init(&pm->lock, NULL);
	if (r) {
		free(pm);
		return err_set(e, r, "acpi: cannot create its lock");
	}
	pm->vm = vm;
	pm->start_ns = mono_ns();

	r = vm_add_device(vm, pm, acpi_pm_destroy, e);
	if (r) {
		acpi_pm_destroy(pm);
		return r;
	}
	vm_set_device_snapshot(vm, pm, "acpi_pm", acpi_pm_save, acpi_pm_load);
	r = bus_register(&vm->pio, PC_ACPI_PM1A_EVT, 4, evt_io, pm, "ACPI PM1a event", e);
	if (r == 0)
		r = bus_register(&vm->pio, PC_ACPI_PM1A_CNT, 2, cnt_io, pm, "ACPI PM1a control", e);
	if (r == 0)
		r = bus_register(&vm->pio, PC_ACPI_PM_TMR, 4, tmr_io, pm, "ACPI PM timer", e);
	if (r == 0 && out)
		*out = pm;
	return r;
}
