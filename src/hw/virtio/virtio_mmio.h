/* virtio over MMIO (virtio 1.2, 4.2), the modern register layout (Version 2): one
 * 0x200-byte register window per device, control registers below 0x100 (32-bit
 * aligned accesses only) and the device configuration space from 0x100. Interrupts go
 * through a level-triggered GSI that is high while InterruptStatus is non-zero; the
 * driver lowers it by acknowledging (InterruptACK).
 *
 * Devices take the slots in creation order: slot i has its window at
 * VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE and GSI VIRTIO_MMIO_GSI_BASE + i. The ACPI
 * DSDT describes the same slots (boot/acpi.c: one LNRO0005 device each), because
 * Debian's kernel does not take virtio-mmio devices from its command line. */
#ifndef TRIVISOR_HW_VIRTIO_MMIO_H
#define TRIVISOR_HW_VIRTIO_MMIO_H

#include <pthread.h>

#include "core/err.h"
#include "virtio.h"

/* Below the IOAPIC (0xfec00000), above the PCI ECAM window (0xe0000000, 1 MiB) and
 * outside the PCI BAR window (0xc0000000-0xdfffffff). GSIs 16-23 are the IOAPIC's
 * pins above the ISA IRQs; PCI devices use MSI-X only, so nothing else drives them. */
#define VIRTIO_MMIO_BASE     0xfeb00000u
#define VIRTIO_MMIO_SIZE     0x200u
#define VIRTIO_MMIO_GSI_BASE 16u
#define VIRTIO_MMIO_SLOTS    8u

#define VIRTIO_MMIO_MAGIC    0x74726976u   /* "virt" */
#define VIRTIO_MMIO_VERSION  2u
#define VIRTIO_MMIO_VENDOR   0x56495254u   /* "TRIV" */

/* Register offsets (4.2.2) */
#define VMMIO_MAGIC             0x000
#define VMMIO_VERSION           0x004
#define VMMIO_DEVICE_ID         0x008
#define VMMIO_VENDOR_ID         0x00c
#define VMMIO_DEVICE_FEATURES   0x010
#define VMMIO_DEVICE_FEATURES_SEL 0x014
#define VMMIO_DRIVER_FEATURES   0x020
#define VMMIO_DRIVER_FEATURES_SEL 0x024
#define VMMIO_QUEUE_SEL         0x030
#define VMMIO_QUEUE_NUM_MAX     0x034
#define VMMIO_QUEUE_NUM         0x038
#define VMMIO_QUEUE_READY       0x044
#define VMMIO_QUEUE_NOTIFY      0x050
#define VMMIO_INTERRUPT_STATUS  0x060
#define VMMIO_INTERRUPT_ACK     0x064
#define VMMIO_STATUS            0x070
#define VMMIO_QUEUE_DESC_LOW    0x080
#define VMMIO_QUEUE_DESC_HIGH   0x084
#define VMMIO_QUEUE_DRIVER_LOW  0x090
#define VMMIO_QUEUE_DRIVER_HIGH 0x094
#define VMMIO_QUEUE_DEVICE_LOW  0x0a0
#define VMMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VMMIO_SHM_SEL           0x0ac
#define VMMIO_SHM_LEN_LOW       0x0b0
#define VMMIO_SHM_LEN_HIGH      0x0b4
#define VMMIO_SHM_BASE_LOW      0x0b8
#define VMMIO_SHM_BASE_HIGH     0x0bc
#define VMMIO_QUEUE_RESET       0x0c0
#define VMMIO_CONFIG_GENERATION 0x0fc
#define VMMIO_CONFIG            0x100

#define VIRTIO_MMIO_INT_VRING  1u
#define VIRTIO_MMIO_INT_CONFIG 2u

struct vm;

struct virtio_mmio {
	struct vm *vm;
	struct virtio_dev *vdev;
	pthread_mutex_t lock;         /* serializes every call into vdev */
	uint64_t base;
	unsigned slot, gsi;
	bool line;                    /* the level we last gave the GSI */
	uint32_t dfsel, gfsel;        /* DeviceFeaturesSel, DriverFeaturesSel */
	uint32_t queue_sel;
	/* guest accesses refused, counted (never fatal) */
	unsigned long bad_accesses;   /* wrong width or alignment, unknown or read-only register */
	unsigned long ignored_writes; /* writes the current state does not allow */
	char snap_name[40];           /* its snapshot section: virtio-mmio.<device> */
};

/* Put vdev in the first free slot. Owned by the VM. Fails when all slots are taken. */
int virtio_mmio_create(struct vm *vm, struct virtio_dev *vdev, struct virtio_mmio **out,
                       struct err *e);

/* Slot i's register window and GSI (what the DSDT says). */
static inline uint64_t virtio_mmio_slot_base(unsigned i) { return VIRTIO_MMIO_BASE + (uint64_t)i * VIRTIO_MMIO_SIZE; }
static inline unsigned virtio_mmio_slot_gsi(unsigned i) { return VIRTIO_MMIO_GSI_BASE + i; }

#endif
