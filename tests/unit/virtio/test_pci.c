/* PCI through the buses, as a guest sees it: configuration mechanism #1 at every width
 * and offset, ECAM, absent devices, BAR sizing (32-bit, 64-bit, I/O), firmware BAR
 * placement, moving and disabling BARs, the capability list, and MSI-X (table, masks,
 * pending bits, delivery through the engine, bus mastering). */
#include "vtest.h"

#include "hw/pc.h"
#include "hw/pci.h"
#include "hw/pci_msix.h"

struct tdev {
	struct pci_dev pci;
	struct pci_msix msix;
	uint64_t last_off;
	unsigned accesses;
};

static void tdev_bar0(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct tdev *t = opaque;
	t->last_off = off;
	t->accesses++;
	if (!is_write)
		memset(data, 0xab, size);
}

static void tdev_bar2(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	struct tdev *t = opaque;
	if (!pci_msix_access(&t->msix, off, data, size, is_write) && !is_write)
		memset(data, 0, size);
}

static void tdev_cfg_write(struct pci_dev *d, unsigned off, unsigned len)
{
	struct tdev *t = d->opaque;
	pci_msix_cfg_written(&t->msix, off, len);
}

static struct vm *vm;

/* Configuration reads/writes through 0xCF8/0xCFC. */
static uint32_t cf8(unsigned slot, unsigned reg)
{
	return 0x80000000u | slot << 11 | (reg & 0xfc);
}

static uint64_t conf1_rd(unsigned slot, unsigned reg, unsigned size)
{
	bus_wr(&vm->pio, PC_PCI_CONF_ADDR, 4, cf8(slot, reg));
	return bus_rd(&vm->pio, PC_PCI_CONF_DATA + (reg & 3), size);
}

static void conf1_wr(unsigned slot, unsigned reg, unsigned size, uint64_t v)
{
	bus_wr(&vm->pio, PC_PCI_CONF_ADDR, 4, cf8(slot, reg));
	bus_wr(&vm->pio, PC_PCI_CONF_DATA + (reg & 3), size, v);
}

static uint64_t ecam(unsigned slot, unsigned reg)
{
	return PC_PCI_ECAM_ADDR + ((uint64_t)slot << 15) + reg;
}

static void test_config(struct tdev *t)
{
	/* The host bridge at 00:00.0: every width and offset through both mechanisms. */
	CHECK_EQ(conf1_rd(0, 0, 4), 0x00081b36);
	CHECK_EQ(conf1_rd(0, 0, 2), 0x1b36);
	CHECK_EQ(conf1_rd(0, 2, 2), 0x0008);
	CHECK_EQ(conf1_rd(0, 1, 1), 0x1b);
	CHECK_EQ(conf1_rd(0, 3, 1), 0x00);
	CHECK_EQ(conf1_rd(0, 8, 4) >> 8, 0x060000);           /* class: host bridge */
	CHECK_EQ(conf1_rd(0, 0x0b, 1), 0x06);
	CHECK_EQ(bus_rd(&vm->mmio, ecam(0, 0), 4), 0x00081b36);
	CHECK_EQ(bus_rd(&vm->mmio, ecam(0, 2), 2), 0x0008);
	CHECK_EQ(bus_rd(&vm->mmio, ecam(0, 0xa), 2), 0x0600);
	CHECK_EQ(bus_rd(&vm->mmio, ecam(0, 0x100), 4), 0);     /* extended space: empty */

	/* The latch reads back; byte accesses to 0xCF8-0xCFB do not touch it. */
	bus_wr(&vm->pio, PC_PCI_CONF_ADDR, 4, 0x8000fffd);
	CHECK_EQ(bus_rd(&vm->pio, PC_PCI_CONF_ADDR, 4), 0x8000fffc);
	bus_wr(&vm->pio, PC_PCI_CONF_ADDR + 1, 1, 0x06);        /* "reset control" at 0xCF9 */
	CHECK_EQ(bus_rd(&vm->pio, PC_PCI_CONF_ADDR, 4), 0x8000fffc);
	CHECK_EQ(bus_rd(&vm->pio, PC_PCI_CONF_ADDR + 3, 1), 0xff);

	/* Nobody there: all ones; writes vanish. Also: other buses, other functions, and
	 * the enable bit clear. */
	CHECK_EQ(conf1_rd(7, 0, 4), 0xffffffff);
	CHECK_EQ(bus_rd(&vm->mmio, ecam(7, 0), 4), 0xffffffff);
	conf1_wr(7, 4, 2, 0xffff);
	bus_wr(&vm->pio, PC_PCI_CONF_ADDR, 4, 0x80010000u);     /* bus 1 */
	CHECK_EQ(bus_rd(&vm->pio, PC_PCI_CONF_DATA, 4), 0xffffffff);
	bus_wr(&vm->pio, PC_PCI_CONF_ADDR, 4, 0x80000100u | t->pci.slot << 11);  /* function 1 */
	CHECK_EQ(bus_rd(&vm->pio, PC_PCI_CONF_DATA, 4), 0xffffffff);
	bus_wr(&vm->pio, PC_PCI_CONF_ADDR, 4, t->pci.slot << 11);               /* disabled */
	CHECK_EQ(bus_rd(&vm->pio, PC_PCI_CONF_DATA, 4), 0xffffffff);
	/* ECAM: misaligned or wider than a dword is refused. */
	CHECK_EQ(bus_rd(&vm->mmio, ecam(0, 1), 2), 0xffff);
	CHECK_EQ(bus_rd(&vm->mmio, ecam(0, 0), 8), UINT64_MAX);

	/* Read-only fields stay, writable ones take, write-1-to-clear bits clear. */
	unsigned s = t->pci.slot;
	CHECK_EQ(s, 1);
	conf1_wr(s, 0, 4, 0);
	CHECK_EQ(conf1_rd(s, 0, 4), 0x12341af4);
	conf1_wr(s, 0x3c, 1, 0x0b);                             /* interrupt line */
	CHECK_EQ(conf1_rd(s, 0x3c, 1), 0x0b);
	CHECK_EQ(bus_rd(&vm->mmio, ecam(s, 0x3c), 1), 0x0b);
	t->pci.cfg[PCI_STATUS + 1] |= 0x80;                     /* a parity error happened */
	conf1_wr(s, PCI_STATUS, 2, 0x8000 | PCI_STATUS_CAPS);
	CHECK_EQ(conf1_rd(s, PCI_STATUS, 2), PCI_STATUS_CAPS);  /* cleared; CAPS is read-only */
	conf1_wr(s, PCI_COMMAND, 2, 0xffff);
	CHECK_EQ(conf1_rd(s, PCI_COMMAND, 2), 0x0547);
}

static void test_bars(struct tdev *t)
{
	unsigned s = t->pci.slot;

	/* Firmware placed them (biggest first) and enabled decoding. */
	CHECK_EQ(conf1_rd(s, PCI_BAR0, 4), PC_PCI_MEM32_ADDR | PCI_BAR_F_MEM64);
	CHECK_EQ(conf1_rd(s, PCI_BAR0 + 4, 4), 0);
	CHECK_EQ(conf1_rd(s, PCI_BAR0 + 8, 4), PC_PCI_MEM32_ADDR + 0x4000);
	CHECK_EQ(conf1_rd(s, PCI_BAR0 + 16, 4), PC_PCI_IO_ADDR | PCI_BAR_F_IO);
	CHECK_EQ(conf1_rd(s, PCI_BAR0 + 12, 4), 0);             /* unused BARs read 0 */
	CHECK_EQ(conf1_rd(s, PCI_BAR0 + 20, 4), 0);
	CHECK_EQ(conf1_rd(s, PCI_ROM_BAR, 4), 0);
	CHECK_EQ(pci_bar_addr(&t->pci, 0), PC_PCI_MEM32_ADDR);
	CHECK_EQ(bus_rd(&vm->mmio, PC_PCI_MEM32_ADDR + 0x123, 2), 0xabab);
	CHECK_EQ(t->last_off, 0x123);
	CHECK_EQ(bus_rd(&vm->pio, PC_PCI_IO_ADDR + 4, 1), 0xab);

	/* Sizing as Linux does it: decoding off, all ones, read the mask, restore. */
	conf1_wr(s, PCI_COMMAND, 2, 0);
	CHECK_EQ(bus_rd(&vm->mmio, PC_PCI_MEM32_ADDR, 4), 0xffffffff);   /* unmapped */
	for (unsigned i = 0; i < 6; i++)
		conf1_wr(s, PCI_BAR0 + 4 * i, 4, 0xffffffff);
	CHECK_EQ(conf1_rd(s, PCI_BAR0, 4), 0xffffc004);          /* 16 KiB, 64-bit */
	CHECK_EQ(conf1_rd(s, PCI_BAR0 + 4, 4), 0xffffffff);
	CHECK_EQ(conf1_rd(s, PCI_BAR0 + 8, 4), 0xfffff000);      /* 4 KiB, 32-bit */
	CHECK_EQ(conf1_rd(s, PCI_BAR0 + 12, 4), 0);
	CHECK_EQ(conf1_rd(s, PCI_BAR0 + 16, 4), 0xffffffe1);     /* 32 ports (all 32 bits: what firmware sizes) */
	CHECK_EQ(conf1_rd(s, PCI_BAR0 + 20, 4), 0);
	/* Through ECAM too, one byte at a time. */
	CHECK_EQ(bus_rd(&vm->mmio, ecam(s, PCI_BAR0 + 1), 1), 0xc0);

	/* Move BAR 0 above 4 GiB and BAR 2 elsewhere; decoding back on. */
	conf1_wr(s, PCI_BAR0, 4, 0x40000000);
	conf1_wr(s, PCI_BAR0 + 4, 4, 0x1);
	conf1_wr(s, PCI_BAR0 + 8, 4, 0xd0000000);
	conf1_wr(s, PCI_BAR0 + 16, 4, 0xd000);
	CHECK_EQ(bus_rd(&vm->mmio, 0x140000000ull, 4), 0xffffffff);      /* still off */
	conf1_wr(s, PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_IO);
	CHECK_EQ(pci_bar_addr(&t->pci, 0), 0x140000000ull);
	CHECK_EQ(bus_rd(&vm->mmio, 0x140000000ull + 0x3ffc, 4), 0xabababab);
	CHECK_EQ(t->last_off, 0x3ffc);
	CHECK_EQ(bus_rd(&vm->mmio, PC_PCI_MEM32_ADDR, 4), 0xffffffff);   /* old place: nobody */
	CHECK_EQ(bus_rd(&vm->pio, 0xd000, 1), 0xab);
	CHECK_EQ(bus_rd(&vm->pio, PC_PCI_IO_ADDR, 1), 0xff);
	/* A BAR moved onto another device's range (the ECAM window) is left unmapped. */
	conf1_wr(s, PCI_BAR0 + 8, 4, PC_PCI_ECAM_ADDR);
	CHECK_EQ(pci_bar_addr(&t->pci, 2), 0);
	CHECK_EQ(bus_rd(&vm->mmio, ecam(0, 0), 2), 0x1b36);
	conf1_wr(s, PCI_BAR0 + 8, 4, 0xd0000000);
	CHECK_EQ(pci_bar_addr(&t->pci, 2), 0xd0000000);
	/* Memory decoding off unmaps the memory BARs only. */
	conf1_wr(s, PCI_COMMAND, 2, PCI_CMD_IO);
	CHECK_EQ(pci_bar_addr(&t->pci, 0), 0);
	CHECK_EQ(bus_rd(&vm->pio, 0xd000, 1), 0xab);
	conf1_wr(s, PCI_COMMAND, 2, PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER);
}

static void test_caps(struct tdev *t)
{
	unsigned s = t->pci.slot;
	CHECK(conf1_rd(s, PCI_STATUS, 2) & PCI_STATUS_CAPS);
	unsigned p = (unsigned)conf1_rd(s, PCI_CAP_PTR, 1);
	CHECK_EQ(p, 0x40);
	CHECK_EQ(conf1_rd(s, p, 1), PCI_CAP_ID_VNDR);
	unsigned n = (unsigned)conf1_rd(s, p + 1, 1);
	CHECK_EQ(n, 0x48);                                      /* 5 bytes, rounded to 8 */
	CHECK_EQ(conf1_rd(s, n, 1), PCI_CAP_ID_MSIX);
	CHECK_EQ(conf1_rd(s, n + 1, 1), 0);                     /* the end */
	CHECK_EQ(n, t->msix.cap);
	/* The host bridge has none. */
	CHECK_EQ(conf1_rd(0, PCI_STATUS, 2) & PCI_STATUS_CAPS, 0);
}

static void test_msix(struct tdev *t)
{
	unsigned s = t->pci.slot, cap = t->msix.cap;
	uint64_t tbl = 0xd0000000;

	CHECK_EQ(conf1_rd(s, cap + 2, 2), 3);                   /* 4 vectors, disabled */
	CHECK_EQ(conf1_rd(s, cap + 4, 4), 0x000 | 2);           /* table at 0 of BAR 2 */
	CHECK_EQ(conf1_rd(s, cap + 8, 4), 0x800 | 2);           /* PBA at 0x800 */
	conf1_wr(s, cap + 4, 4, 0xffffffff);                    /* read-only */
	CHECK_EQ(conf1_rd(s, cap + 4, 4), 2);
	for (unsigned v = 0; v < 4; v++)
		CHECK_EQ(bus_rd(&vm->mmio, tbl + 16 * v + 12, 4), 1);   /* masked at reset */

	/* Disabled: nothing is sent, nothing pends. */
	msis.n = 0;
	CHECK(!pci_msix_notify(&t->msix, 1));
	CHECK_EQ(msis.n, 0);

	/* Enabled with the function masked, vector 1 programmed and unmasked. */
	conf1_wr(s, cap + 2, 2, PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_MASKALL | 0x7ff);
	CHECK_EQ(conf1_rd(s, cap + 2, 2), PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_MASKALL | 3);
	bus_wr(&vm->mmio, tbl + 16 + 0, 4, 0xfee01003);         /* low 2 bits are read-only */
	bus_wr(&vm->mmio, tbl + 16 + 4, 4, 0);
	bus_wr(&vm->mmio, tbl + 16 + 8, 4, 0x4041);
	bus_wr(&vm->mmio, tbl + 16 + 12, 4, 0xfffffffe);        /* unmask; reserved bits stay 0 */
	CHECK_EQ(bus_rd(&vm->mmio, tbl + 16, 4), 0xfee01000);
	CHECK_EQ(bus_rd(&vm->mmio, tbl + 16 + 12, 4), 0);
	CHECK_EQ(bus_rd(&vm->mmio, tbl + 16, 8), 0xfee01000ull); /* 64-bit access */

	CHECK(pci_msix_notify(&t->msix, 1));
	CHECK_EQ(msis.n, 0);                                    /* function masked: pending */
	CHECK_EQ(bus_rd(&vm->mmio, tbl + 0x800, 8), 2);
	bus_wr(&vm->mmio, tbl + 0x800, 8, 0);                   /* the PBA is read-only */
	CHECK_EQ(bus_rd(&vm->mmio, tbl + 0x800, 8), 2);
	conf1_wr(s, cap + 2, 2, PCI_MSIX_CTRL_ENABLE);          /* unmask the function */
	CHECK_EQ(msis.n, 1);
	CHECK_EQ(msis.addr[0], 0xfee01000);
	CHECK_EQ(msis.data[0], 0x4041);
	CHECK_EQ(bus_rd(&vm->mmio, tbl + 0x800, 8), 0);

	CHECK(pci_msix_notify(&t->msix, 1));                    /* straight through */
	CHECK_EQ(msis.n, 2);
	CHECK(!pci_msix_notify(&t->msix, 4));                   /* no such vector */
	CHECK(!pci_msix_notify(&t->msix, 0xffff));

	/* Per-vector mask: pending, then delivered by the unmasking table write. */
	bus_wr(&vm->mmio, tbl + 16 + 12, 4, 1);
	CHECK(pci_msix_notify(&t->msix, 1));
	CHECK_EQ(msis.n, 2);
	CHECK_EQ(bus_rd(&vm->mmio, tbl + 0x800, 4), 2);
	bus_wr(&vm->mmio, tbl + 16 + 12, 4, 0);
	CHECK_EQ(msis.n, 3);

	/* No bus mastering, no MSI. */
	conf1_wr(s, PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_IO);
	CHECK(!pci_msix_notify(&t->msix, 1));
	CHECK_EQ(msis.n, 3);
	conf1_wr(s, PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_IO | PCI_CMD_MASTER);

	/* Table accesses beyond the 4 entries read 0 and go nowhere. */
	CHECK_EQ(bus_rd(&vm->mmio, tbl + 64, 4), 0);
	bus_wr(&vm->mmio, tbl + 64, 4, 0x12345678);
	CHECK_EQ(bus_rd(&vm->mmio, tbl + 64, 4), 0);
	CHECK_EQ(atomic_load(&vm->msi_sent), 3);

	/* A message addressed anywhere but the LAPICs' window is refused and counted, never
	 * handed to the engine (it would be a DMA write there). */
	bus_wr(&vm->mmio, tbl + 16, 4, 0x00100000);            /* RAM at 1 MiB */
	CHECK(pci_msix_notify(&t->msix, 1));
	bus_wr(&vm->mmio, tbl + 16, 4, 0xfee00000);
	bus_wr(&vm->mmio, tbl + 16 + 4, 4, 1);                  /* above 4 GiB */
	CHECK(pci_msix_notify(&t->msix, 1));
	bus_wr(&vm->mmio, tbl + 16 + 4, 4, 0);
	CHECK_EQ(msis.n, 3);
	CHECK_EQ(atomic_load(&vm->msi_refused), 2);
	CHECK_EQ(atomic_load(&vm->msi_sent), 3);
}

int main(void)
{
	struct err e;
	struct pci_host *h;
	vm = vt_vm(16 * MiB);

	CHECK_EQ(pci_host_create(vm, &h, &e), 0);
	CHECK_EQ(pci_host_add_ecam(h, &e), 0);
	struct tdev *t = calloc(1, sizeof(*t));
	pci_dev_init(&t->pci, "test", 0x1af4, 0x1234, 0xff0000, 1);
	t->pci.opaque = t;
	t->pci.cfg_write_hook = tdev_cfg_write;
	CHECK_EQ(pci_dev_set_bar(&t->pci, 0, PCI_BAR_MEM64, 0x3000, tdev_bar0, t), 0);  /* -> 16 KiB */
	CHECK_EQ(pci_dev_set_bar(&t->pci, 2, PCI_BAR_MEM32, 0x1000, tdev_bar2, t), 0);
	CHECK_EQ(pci_dev_set_bar(&t->pci, 4, PCI_BAR_IO, 32, tdev_bar0, t), 0);
	CHECK(pci_dev_set_bar(&t->pci, 5, PCI_BAR_MEM64, 16, tdev_bar0, t) < 0);   /* no BAR 6 */
	CHECK(pci_dev_add_cap(&t->pci, PCI_CAP_ID_VNDR, 5) == 0x40);
	CHECK_EQ(pci_msix_init(&t->msix, &t->pci, 4, 2, 0, 0x800), 0);
	CHECK_EQ(pci_host_add(h, &t->pci, -1, &e), 0);

	test_config(t);
	test_bars(t);
	test_caps(t);
	test_msix(t);

	/* All 32 slots taken: the 33rd device is refused with a message. */
	struct pci_dev *more = calloc(PCI_SLOTS, sizeof(*more));
	unsigned added = 0;
	for (unsigned i = 0; i < PCI_SLOTS; i++) {
		pci_dev_init(&more[i], "filler", 0x1af4, 0x1000, 0, 0);
		if (pci_host_add(h, &more[i], -1, &e) == 0)
			added++;
	}
	CHECK_EQ(added, PCI_SLOTS - 2);
	CHECK(strstr(e.msg, "no free PCI slot") != NULL);

	vt_vm_free(vm);
	for (unsigned i = 0; i < PCI_SLOTS; i++)
		pci_dev_destroy(&more[i]);
	free(more);
	pci_dev_destroy(&t->pci);
	free(t);
	return check_done();
}
