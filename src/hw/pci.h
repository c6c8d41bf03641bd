/* PCI: one host bridge with bus 0, reached through configuration mechanism #1 (ports
 * 0xCF8/0xCFC) and ECAM (an MMIO window described by the ACPI MCFG table), written from
 * the PCI Local Bus 3.0 and PCI Express base specifications.
 *
 * A device embeds struct pci_dev: a 256-byte type 0 configuration header with a
 * write mask (which bits the guest may change) and a write-1-to-clear mask, up to six
 * BARs, each an MMIO (32- or 64-bit) or port range served by the device's handler, and a
 * capability list. The host maps a BAR on vm->mmio (vm->pio) while its address is set
 * and the command register enables the space, and moves it when the guest does. Like
 * firmware would, it gives every BAR an address in PC_PCI_MEM32 when the device is
 * added, and enables memory decoding.
 *
 * Locking: the host lock serializes configuration accesses (and guards the CF8 latch
 * and the BAR mappings); each device's lock guards its configuration space and is held
 * around its BAR handlers (pci_bar_handler) and hooks. Order: host lock, device lock,
 * bus lock. */
#ifndef TRIVISOR_HW_PCI_H
#define TRIVISOR_HW_PCI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/err.h"

struct vm;

#define PCI_SLOTS         32
#define PCI_FUNCS         8
#define PCI_NUM_BARS      6
#define PCI_CFG_SIZE      256     /* what a device stores; ECAM's 4 KiB beyond reads 0 */
#define PCI_ECAM_FN_SIZE  4096

/* Type 0 header (PCI Local Bus 3.0, 6.1) */
#define PCI_VENDOR_ID     0x00
#define PCI_DEVICE_ID     0x02
#define PCI_COMMAND       0x04
#define PCI_STATUS        0x06
#define PCI_REVISION_ID   0x08
#define PCI_CLASS_PROG    0x09
#define PCI_CACHE_LINE    0x0c
#define PCI_LATENCY       0x0d
#define PCI_HEADER_TYPE   0x0e
#define PCI_BAR0          0x10
#define PCI_SUBSYS_VENDOR 0x2c
#define PCI_SUBSYS_ID     0x2e
#define PCI_ROM_BAR       0x30
#define PCI_CAP_PTR       0x34
#define PCI_INT_LINE      0x3c
#define PCI_INT_PIN       0x3d

#define PCI_CMD_IO        (1u << 0)
#define PCI_CMD_MEM       (1u << 1)
#define PCI_CMD_MASTER    (1u << 2)
#define PCI_CMD_PARITY    (1u << 6)
#define PCI_CMD_SERR      (1u << 8)
#define PCI_CMD_INTX_OFF  (1u << 10)
#define PCI_STATUS_INTX   (1u << 3)
#define PCI_STATUS_CAPS   (1u << 4)
#define PCI_HEADER_MULTIFN 0x80

/* INTx: the four PCI interrupt lines (PIRQA-D) reach IOAPIC pins 16-19, the usual
 * rotation by slot (PCI-to-PCI Bridge 1.2, 9.1): INTA of slot s is line s % 4. The
 * DSDT's _PRT says so to the guest. */
#define PCI_INTX_GSI_BASE 16
#define PCI_INTX_LINES    4

#define PCI_BAR_F_IO      0x1u
#define PCI_BAR_F_MEM64   0x4u
#define PCI_BAR_F_PREFETCH 0x8u

#define PCI_CAP_ID_VNDR   0x09
#define PCI_CAP_ID_MSIX   0x11
#define PCI_CAP_START     0x40

enum pci_bar_type { PCI_BAR_UNUSED, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_dev;

struct pci_bar {
	struct pci_dev *dev;
	enum pci_bar_type type;
	uint64_t size;            /* power of two: >= 16 for memory, >= 4 for I/O */
	io_handler_fn fn;         /* offset relative to the BAR; called with the device lock held */
	void *opaque;
	bool mapped;
	uint64_t mapped_at;
};

/* Hooks, called with the device lock held: before a configuration read of [off,
 * off+len) (to refresh bytes the device computes) and after a write. */
typedef void (*pci_cfg_hook_fn)(struct pci_dev *d, unsigned off, unsigned len);

struct pci_dev {
	const char *name;
	struct pci_host *host;    /* set by pci_host_add */
	uint8_t slot, fn;
	pthread_mutex_t lock;
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];  /* bits the guest may write */
	uint8_t w1c[PCI_CFG_SIZE];    /* bits a guest write of 1 clears */
	struct pci_bar bars[PCI_NUM_BARS];
	uint16_t cap_end;         /* first free byte for the next capability */
	uint8_t cap_last;         /* offset of the last capability, 0 if none */
	pci_cfg_hook_fn cfg_read_hook, cfg_write_hook;
	bool intx_want;           /* the device asserts its pin (pci_set_irq) */
	bool intx_driven;         /* and the line sees it (not masked by INTX_OFF) */
	void *opaque;             /* the device's own state */
};

struct pci_host {
	struct vm *vm;
	pthread_mutex_t lock;
	uint32_t cf8;             /* configuration address latch */
	struct pci_dev *devs[PCI_SLOTS][PCI_FUNCS];
	atomic_uint intx_count[PCI_INTX_LINES]; /* devices driving each line (wire-OR) */
	struct pci_dev bridge;    /* 00:00.0, the host bridge itself */
	uint64_t mem32_next;      /* firmware-style BAR allocation in PC_PCI_MEM32 */
	uint64_t io_next;         /* and in the I/O window */
	atomic_ulong bad_accesses; /* unaligned or misplaced configuration accesses */
};

/* Create the host bridge: ports 0xCF8-0xCFF, device 00:00.0. Owned by the VM
 * (vm_add_device). */
int pci_host_create(struct vm *vm, struct pci_host **out, struct err *e);
/* Open the ECAM window at PC_PCI_ECAM_ADDR (the kernel-boot board; the firmware board's
 * 440FX has none). */
int pci_host_add_ecam(struct pci_host *h, struct err *e);

/* Set up a device's header: IDs, class code (base << 16 | sub << 8 | prog-if),
 * revision; command/status/BARs/capabilities are added afterwards. */
void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
                  uint32_t class_code, uint8_t revision);
void pci_dev_destroy(struct pci_dev *d);
/* Declare BAR i (a 64-bit BAR also takes i+1). size is rounded up to a power of two. */
int pci_dev_set_bar(struct pci_dev *d, unsigned i, enum pci_bar_type type, uint64_t size,
                    io_handler_fn fn, void *opaque);
/* Append a capability of len bytes (id, next pointer included); returns its offset in
 * configuration space, or 0 when it does not fit. */
unsigned pci_dev_add_cap(struct pci_dev *d, uint8_t id, unsigned len);

/* Put d in the first free slot (or slot if >= 0) as function 0, give its BARs
 * addresses and enable memory/I/O decoding, as firmware would. */
int pci_host_add(struct pci_host *h, struct pci_dev *d, int slot, struct err *e);
/* The same for function fn (1..7) of a slot whose function 0 is already there (its
 * header then says multi-function). */
int pci_host_add_fn(struct pci_host *h, struct pci_dev *d, unsigned slot, unsigned fn,
                    struct err *e);

/* Assert (level true) or deassert the device's INTx pin (the header's interrupt pin,
 * which the device sets to 1..4 before it is added). Level-triggered and shared: the
 * line stays up while any device on it asserts. Honours COMMAND.INTX_OFF and keeps
 * STATUS.INTX. Called with the device lock held (BAR handlers and hooks have it). */
void pci_set_irq(struct pci_dev *d, bool level);

/* Configuration space access to one device: little-endian val of len (1, 2, 4) bytes at
 * off. Callers hold the device lock (the host's config paths do). */
uint32_t pci_cfg_read_locked(struct pci_dev *d, unsigned off, unsigned len);
void pci_cfg_write_locked(struct pci_dev *d, unsigned off, unsigned len, uint32_t val);

/* Little-endian helpers on configuration bytes (no hooks, no masks). */
static inline uint16_t pci_get16(const struct pci_dev *d, unsigned off)
{
	return (uint16_t)(d->cfg[off] | d->cfg[off + 1] << 8);
}
static inline uint32_t pci_get32(const struct pci_dev *d, unsigned off)
{
	return pci_get16(d, off) | (uint32_t)pci_get16(d, off + 2) << 16;
}
static inline void pci_set16(struct pci_dev *d, unsigned off, uint16_t v)
{
	d->cfg[off] = (uint8_t)v;
	d->cfg[off + 1] = (uint8_t)(v >> 8);
}
static inline void pci_set32(struct pci_dev *d, unsigned off, uint32_t v)
{
	pci_set16(d, off, (uint16_t)v);
	pci_set16(d, off + 2, (uint16_t)(v >> 16));
}
static inline void pci_set_wmask16(struct pci_dev *d, unsigned off, uint16_t m)
{
	d->wmask[off] = (uint8_t)m;
	d->wmask[off + 1] = (uint8_t)(m >> 8);
}
static inline void pci_set_wmask32(struct pci_dev *d, unsigned off, uint32_t m)
{
	pci_set_wmask16(d, off, (uint16_t)m);
	pci_set_wmask16(d, off + 2, (uint16_t)(m >> 16));
}

/* May the device master the bus (DMA, MSI)? Command bit 2. */
static inline bool pci_bus_master(const struct pci_dev *d)
{
	return d->cfg[PCI_COMMAND] & PCI_CMD_MASTER;
}

/* Where BAR i is mapped, 0 if it is not. */
uint64_t pci_bar_addr(const struct pci_dev *d, unsigned i);

#endif
