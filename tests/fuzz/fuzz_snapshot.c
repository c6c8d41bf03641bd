/* The snapshot loader as a hostile snapshot file drives it: the state file's framing
 * (machine/snapshot.c), the configuration and CPU model sections, a vCPU's state, and
 * the load of every device of the PC on one RAM-only VM (the legacy devices, the PIT on
 * an injected clock, the PCI host with the 440FX/PIIX functions, virtio-rng and
 * virtio-blk on virtio-pci, virtio-net on virtio-mmio, AHCI with a disk and a CD, an
 * e1000, a VGA); then the memory file (snapshot_mem.c); and the round trip of state a
 * guest put in the devices.
 *
 * Invariants: a state file assembled with correct framing parses, giving back its
 * sections, unless it names a section twice; the same file cut short anywhere or with
 * any one bit flipped is refused; a configuration that loads is within the command
 * line's ranges; after any load, successful or refused, every device still serves its
 * registers, DMA and host input (ASan watches); a memory file written from RAM reads
 * back the same RAM, and refuses being cut short or having a data bit flipped; device
 * state reached by register writes saves, loads back and saves again to the same bytes.
 *
 * Input: u8 mode (mod 4), then, little-endian, short input reading as zeros:
 *   0 assembled state file: u8 damage (mod 4: none, cut at u16 pos, flip bit u16 pos,
 *     another format version), u16 pos, then sections until the input ends: u8 name
 *     (mod NAMES + 1; NAMES: a name of 1..15 bytes from the input), u8 how (bit 0: the
 *     bytes are XORed over a valid payload of that name: the device's own state at
 *     creation, a configuration, a vCPU's reset state, a CPU model), u16 length, bytes
 *   1 raw state file: the rest of the input
 *   2 memory file: u8 damage (mod 4: none, cut, flip bit u32 pos, zero a page), u32 pos,
 *     then writes to RAM until the input ends: u16 page offset (mod RAM), u8 n, n bytes
 *   3 round trip: writes until the input ends: u8 target (mod 8: legacy port, PCI
 *     configuration, e1000 register, AHCI register, VGA port, virtio-mmio register, the
 *     VGA window, time), u16 offset, u8 size code (1, 2, 4), u32 value; then every device
 *     but the VGA (16 MiB of video memory to scan) saved, loaded back, saved again
 * tests/fuzz/seeds.py writes seeds in this format. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/cpu_state.h"
#include "hw/acpi_pm.h"
#include "hw/ahci.h"
#include "hw/chipset.h"
#include "hw/debug_exit.h"
#include "hw/e1000.h"
#include "hw/fw_cfg.h"
#include "hw/i8042.h"
#include "hw/pc.h"
#include "hw/pci.h"
#include "hw/pit.h"
#include "hw/rtc.h"
#include "hw/uart.h"
#include "hw/vga.h"
#include "hw/virtio/blk.h"
#include "hw/virtio/net.h"
#include "hw/virtio/rng.h"
#include "hw/virtio/virtio_mmio.h"
#include "hw/virtio/virtio_pci.h"
#include "machine/snapshot.h"

static const char *const names[] = {
	"config", "cpuid", "cpu0", "uart", "rtc", "i8042", "acpi_pm", "debugcon", "fw_cfg",
	"pit", "pci", "chipset", "virtio-rng", "virtio-pci.virtio-rng", "virtio-net",
	"virtio-mmio.virtio-net", "virtio-blk0", "virtio-pci.virtio-blk0", "ahci", "e1000",
	"vga", "rom", "engine",
};
#define NAMES (sizeof(names) / sizeof(names[0]))

static struct vm *vm;
static struct pci_host *host;
static struct virtio_net *net;
static struct e1000 *nic;
static struct ahci *hba;
static struct vga *vga;
static struct uart *com1;
static struct pit *pit;
static uint64_t clock_ns = 1000000000ull;
static struct snap_writer pristine;      /* every device's section at creation */
static bool vga_dirty;

static unsigned long parsed, framing_refused, damage_refused, dup_refused, sections,
	loads_ok, loads_refused, configs_ok, cpus_ok, cpuids_ok, mem_ok, mem_refused,
	roundtrips, exercised;

static void stats(FILE *out)
{
	fprintf(out, " parsed=%lu framing_refused=%lu damage_refused=%lu dup_refused=%lu"
	        " sections=%lu loads_ok=%lu loads_refused=%lu configs_ok=%lu cpus_ok=%lu"
	        " cpuids_ok=%lu mem_ok=%lu mem_refused=%lu roundtrips=%lu exercised=%lu",
	        parsed, framing_refused, damage_refused, dup_refused, sections, loads_ok,
	        loads_refused, configs_ok, cpus_ok, cpuids_ok, mem_ok, mem_refused, roundtrips,
	        exercised);
}

static uint64_t fake_now(void *opaque) { return clock_ns; }

static struct vm_device *device(const char *name)
{
	for (unsigned i = 0; i < vm->ndevices; i++)
		if (vm->devices[i].name && strcmp(vm->devices[i].name, name) == 0)
			return &vm->devices[i];
	return NULL;
}

/* Every device's section into w (with_vga false: all but the VGA, whose 16 MiB of video
 * memory makes a save slow). */
static void save_all(struct snap_writer *w, bool with_vga)
{
	snap_writer_init(w);
	for (unsigned i = 0; i < vm->ndevices; i++) {
		struct vm_device *d = &vm->devices[i];
		if (d->host || (!with_vga && d->opaque == vga))
			continue;
		size_t at = snapshot_section_begin(w, d->name);
		if (d->save(d->opaque, w))
			fuzz_fail("%s: save failed", d->name);
		snapshot_section_end(w, at);
	}
}

static void setup(void)
{
	struct err e;
	static char disk[64], cd[64];
	vm = fuzz_vm();
	struct pit_clock clock = { fake_now, NULL };
	struct fw_cfg *fw;
	struct i8042 *kbc;
	struct virtio_rng *rng;
	struct virtio_blk *blk;
	struct virtio_pci *tp;
	struct virtio_mmio *tm;
	snprintf(disk, sizeof(disk), "%s", fuzz_image(64));
	snprintf(cd, sizeof(cd), "%s", fuzz_image(64));
	struct vm_disk_config dc = { .kind = VM_DEV_VIRTIO };
	struct ahci_port_config ports[2] = { { .path = disk }, { .path = cd, .cdrom = true } };
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	snprintf(dc.path, sizeof(dc.path), "%s", fuzz_image(64));
	if (uart_create(vm, PC_COM1_PORT, PC_COM1_IRQ, &com1, &e) || rtc_create(vm, &e) ||
	    i8042_create(vm, true, &kbc, &e) || acpi_pm_create(vm, NULL, &e) ||
	    debugcon_create(vm, PC_DEBUGCON_PORT, &e) || fw_cfg_create(vm, &fw, &e) ||
	    pit_create(vm, &clock, &pit, &e) || pci_host_create(vm, &host, &e) ||
	    chipset_create(vm, host, &e) || virtio_rng_create(vm, &rng, &e) ||
	    virtio_pci_create(vm, host, &rng->vdev, 0xff0000, &tp, &e) ||
	    virtio_blk_create(vm, &dc, 0, &blk, &e) ||
	    virtio_pci_create(vm, host, &blk->vdev, 0x018000, &tp, &e) ||
	    virtio_net_create(vm, mac, &net, &e) || virtio_mmio_create(vm, &net->vdev, &tm, &e) ||
	    ahci_create(vm, host, ports, 2, &hba, &e) || e1000_create(vm, host, mac, &nic, &e) ||
	    vga_create(vm, host, &vga, &e))
		fuzz_fail("setup: %s", e.msg);
	net->lock = &tm->lock;
	vm_set_device_snapshot(vm, pit, "pit", pit_save, pit_load);
	unlink(disk);
	unlink(cd);
	fuzz_image_done();
	for (unsigned i = 0; i < vm->ndevices; i++)
		if (!vm->devices[i].host && (!vm->devices[i].save || !vm->devices[i].load))
			fuzz_fail("device %u (%s) has no snapshot hooks", i, vm->devices[i].name);
	save_all(&pristine, true);
	fuzz_stats_at_exit(stats);
}

/* Every device back to its state at creation (the VGA only when it was loaded: its
 * framebuffer is 16 MiB). */
static void reset_devices(void)
{
	struct err e;
	size_t off = 0;
	while (off < pristine.len) {
		unsigned n = pristine.buf[off];
		char name[SNAPSHOT_NAME_MAX];
		memcpy(name, pristine.buf + off + 1, n);
		name[n] = '\0';
		uint64_t len = 0;
		for (unsigned i = 0; i < 8; i++)
			len |= (uint64_t)pristine.buf[off + 1 + n + i] << (8 * i);
		const uint8_t *p = pristine.buf + off + 1 + n + 12;
		off += 1 + n + 12 + len;
		if (strcmp(name, "vga") == 0 && !vga_dirty)
			continue;
		struct vm_device *d = device(name);
		struct snap_reader r;
		snap_reader_init(&r, p, len, name, &e);
		if (d->load(d->opaque, &r) || snap_end(&r))
			fuzz_fail("%s: its own state at creation does not load: %s", name, e.msg);
	}
	vga_dirty = false;
}

/* -- what a guest and the host do with the devices after a load -------------------------- */

static void rd(struct bus *b, uint64_t addr, unsigned size)
{
	uint8_t v[8];
	bus_access(b, addr, v, size, false);
}

static void wr(struct bus *b, uint64_t addr, unsigned size, uint32_t val)
{
	uint8_t v[4] = { (uint8_t)val, (uint8_t)(val >> 8), (uint8_t)(val >> 16), (uint8_t)(val >> 24) };
	bus_access(b, addr, v, size, true);
}

static uint32_t rd32(struct bus *b, uint64_t addr)
{
	uint8_t v[4] = { 0 };
	bus_access(b, addr, v, 4, false);
	return v[0] | v[1] << 8 | v[2] << 16 | (uint32_t)v[3] << 24;
}

static void exercise(void)
{
	static const struct { uint16_t base, n; } ports[] = {
		{ 0x40, 4 }, { 0x61, 1 }, { PC_RTC_PORT, 2 }, { PC_COM1_PORT, 8 }, { 0x60, 1 },
		{ 0x64, 1 }, { PC_ACPI_PM1A_EVT, 12 }, { PC_FW_CFG_PORT, 2 }, { 0x3c0, 0x20 },
		{ 0x1ce, 2 },
	};
	exercised++;
	for (unsigned i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		for (unsigned p = 0; p < ports[i].n; p++)
			rd(&vm->pio, ports[i].base + p, 1);
	rd(&vm->pio, PC_PCI_CONF_DATA, 4);
	/* Every BAR: its first registers read, then what makes each device work. */
	for (unsigned s = 0; s < PCI_SLOTS; s++)
		for (unsigned f = 0; f < PCI_FUNCS; f++) {
			struct pci_dev *d = host->devs[s][f];
			for (unsigned i = 0; d && i < PCI_NUM_BARS; i++) {
				uint64_t a = pci_bar_addr(d, i);
				if (!a || d->bars[i].type == PCI_BAR_UNUSED)
					continue;
				struct bus *b = d->bars[i].type == PCI_BAR_IO ? &vm->pio : &vm->mmio;
				for (unsigned o = 0; o < 0x40 && o < d->bars[i].size; o += 4)
					rd(b, a + o, 4);
			}
		}
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		struct pci_dev *d = host->devs[s][0];
		uint64_t a = d ? pci_bar_addr(d, VIRTIO_PCI_BAR) : 0;
		if (d && a && pci_get16(d, PCI_VENDOR_ID) == VIRTIO_PCI_VENDOR)
			wr(&vm->mmio, a + VIRTIO_PCI_NOTIFY_OFF, 2, 0);   /* queue 0 */
	}
	uint64_t mm = virtio_mmio_slot_base(0);
	wr(&vm->mmio, mm + VMMIO_QUEUE_NOTIFY, 4, 0);
	wr(&vm->mmio, mm + VMMIO_QUEUE_NOTIFY, 4, 1);
	uint64_t e = pci_bar_addr(&nic->pci, 0);
	if (e) {
		wr(&vm->mmio, e + E1000_TDT, 4, rd32(&vm->mmio, e + E1000_TDT));
		wr(&vm->mmio, e + E1000_RDT, 4, rd32(&vm->mmio, e + E1000_RDT));
		rd(&vm->mmio, e + E1000_ICR, 4);
	}
	uint64_t ab = pci_bar_addr(&hba->pci, AHCI_BAR);
	for (unsigned p = 0; ab && p < 2; p++)
		wr(&vm->mmio, ab + AHCI_PORT_BASE + p * AHCI_PORT_SIZE + PX_CI, 4, 1);
	/* Host input into the loaded state. */
	static const uint8_t frame[64] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 2, 0, 0, 0, 0, 1,
	                                   0x08, 0x00 };
	virtio_net_receive(net, frame, sizeof(frame));
	e1000_receive(nic, frame, sizeof(frame));
	uart_receive(com1, frame, 3);
	struct vga_text *t = calloc(1, sizeof(*t));
	if (t) {
		vga_text_snapshot(vga, t);
		free(t);
	}
	clock_ns += 1000000;
}

/* A valid payload for section name, to mutate: the device's own at creation, or one
 * made here for the configuration, a vCPU and the CPU model. */
static void template_for(const char *name, struct snap_writer *out)
{
	snap_writer_init(out);
	if (strcmp(name, "config") == 0) {
		struct vm_config c = { .kernel_path = "/k", .mem_size = 64 << 20, .ncpus = 2,
		                       .iface = GUEST_PARA, .ndisks = 1, .rng = true };
		snprintf(c.disks[0].path, sizeof(c.disks[0].path), "/d");
		c.net.backend = VM_NET_USER;
		memcpy(c.net.mac, "\x52\x54\x00\x12\x34\x56", 6);
		snapshot_put_config(out, &c);
		return;
	}
	if (strcmp(name, "cpuid") == 0) {
		static struct cpuid_table t = { .n = 2, .e = { { .function = 0, .eax = 0xd },
		                                               { .function = 1, .eax = 0x306a9 } } };
		snapshot_put_cpuid(out, &t);
		return;
	}
	if (strcmp(name, "cpu0") == 0) {
		struct cpu_state st = { .rflags = 2, .cr0 = CR0_ET, .apic_base = 0xfee00900,
		                        .has = CPU_STATE_ALL };
		for (unsigned i = 0; i < S__COUNT; i++)
			st.seg[i] = (struct seg){ .limit = 0xffff, .attr = 0x93 };
		st.seg[S_CS].attr = 0x9b;
		st.tr = (struct seg){ .limit = 0xffff, .attr = 0x8b };
		st.ldtr = (struct seg){ .limit = 0xffff, .attr = 0x82 };
		st.gdt.limit = st.idt.limit = 0xffff;
		cpu_state_save(out, &st);
		return;
	}
	for (size_t off = 0; off < pristine.len;) {
		unsigned n = pristine.buf[off];
		uint64_t len = 0;
		for (unsigned i = 0; i < 8; i++)
			len |= (uint64_t)pristine.buf[off + 1 + n + i] << (8 * i);
		if (n == strlen(name) && memcmp(pristine.buf + off + 1, name, n) == 0) {
			snap_put_bytes(out, pristine.buf + off + 1 + n + 12, len);
			return;
		}
		off += 1 + n + 12 + len;
	}
}

/* -- mode 0: an assembled state file ---------------------------------------------------- */

static const struct snapshot_header header = {
	.format = SNAPSHOT_FORMAT_VERSION, .version = "fuzz", .engine = "soft",
	.mem_size = FUZZ_RAM, .ncpus = 1,
};

static void load_sections(struct snapshot_in *in)
{
	struct err e;
	for (unsigned i = 0; i < in->nsec; i++) {
		struct snap_reader r;
		const char *name = in->sec[i].name;
		if (snapshot_open(in, name, &r, &e))
			fuzz_fail("a parsed section does not open");
		sections++;
		int ret;
		if (strcmp(name, "config") == 0) {
			struct vm_config c = { 0 };
			static struct snapshot_strings s;
			ret = snapshot_get_config(&r, &c, &s);
			if (ret == 0) {
				configs_ok++;
				if (c.ncpus < 1 || c.ncpus > VM_MAX_CPUS || c.ndisks > VM_MAX_DISKS ||
				    c.mem_size % 4096 || c.net.nfwd > VM_MAX_HOSTFWD)
					fuzz_fail("a configuration out of range loaded");
			}
		} else if (strcmp(name, "cpuid") == 0) {
			static struct cpuid_table t;
			ret = snapshot_get_cpuid(&r, &t);
			cpuids_ok += ret == 0;
		} else if (strncmp(name, "cpu", 3) == 0) {
			struct cpu_state s;
			ret = cpu_state_load(&r, &s);
			if (ret == 0)
				ret = snap_end(&r);
			cpus_ok += ret == 0;
		} else {
			struct vm_device *d = device(name);
			if (!d)
				continue;            /* rom, engine, unknown: a restore refuses those */
			if (d->opaque == vga)
				vga_dirty = true;
			ret = d->load(d->opaque, &r);
			if (ret == 0)
				ret = snap_end(&r);
		}
		if (ret)
			loads_refused++;
		else
			loads_ok++;
	}
}

static void assembled(struct fz *f)
{
	unsigned damage = fz_u8(f) % 4;
	uint16_t pos = fz_u16(f);
	struct snap_writer w;
	snap_writer_init(&w);
	struct snapshot_header h = header;
	if (damage == 3)
		h.format = SNAPSHOT_FORMAT_VERSION + 1 + fz_u8(f);
	snapshot_put_header(&w, &h);
	char used[64][SNAPSHOT_NAME_MAX];
	unsigned nused = 0;
	bool dup = false;
	while (f->n && nused < 64) {
		unsigned k = fz_u8(f) % (NAMES + 1);
		char name[SNAPSHOT_NAME_MAX];
		if (k < NAMES) {
			snprintf(name, sizeof(name), "%s", names[k]);
		} else {            /* a name of the input's own: 1..15 letters */
			unsigned n = 1 + fz_u8(f) % 15;
			for (unsigned i = 0; i < n; i++)
				name[i] = (char)('a' + fz_u8(f) % 26);
			name[n] = '\0';
		}
		for (unsigned i = 0; i < nused; i++)
			dup |= strcmp(used[i], name) == 0;
		dup |= strcmp(name, "end") == 0;
		memcpy(used[nused++], name, sizeof(name));
		bool xor = fz_u8(f) & 1;
		uint16_t len = fz_u16(f);
		size_t at = snapshot_section_begin(&w, name);
		struct snap_writer t;
		template_for(name, &t);
		size_t tlen = xor ? t.len : 0;
		uint8_t buf[256];
		for (size_t done = 0; done < len || done < tlen; ) {
			size_t n = sizeof(buf);
			if (done < len && len - done < n)
				n = len - done;
			if (done < tlen && tlen - done < n)
				n = tlen - done;
			size_t got = done < len ? fz_bytes(f, buf, n) : 0;
			memset(buf + got, 0, n - got);
			for (size_t i = 0; i < n && done + i < tlen; i++)
				buf[i] ^= t.buf[done + i];
			snap_put_bytes(&w, buf, n);
			done += n;
		}
		snap_writer_free(&t);
		snapshot_section_end(&w, at);
	}
	snapshot_finish(&w);
	if (w.oom)
		return;
	size_t len = w.len;
	if (damage == 1)
		len = pos % w.len;
	else if (damage == 2)
		w.buf[(pos / 8) % w.len] ^= (uint8_t)(1u << (pos % 8));

	struct snapshot_in *in = calloc(1, sizeof(*in));
	struct err e;
	int r = snapshot_parse(in, w.buf, len, "fuzz.state", &e);
	if (damage && r == 0)
		fuzz_fail("a damaged state file (kind %u at %u) parsed", damage, pos);
	if (!damage && dup != (r != 0))
		fuzz_fail("an assembled state file (names repeated: %d) %s: %s", dup,
		          r ? "was refused" : "parsed", r ? e.msg : "");
	if (r) {
		damage_refused += damage != 0;
		dup_refused += !damage;
	} else {
		parsed++;
		load_sections(in);
		exercise();
	}
	free(in);
	snap_writer_free(&w);
}

/* -- mode 2: the memory file ------------------------------------------------------------ */

static void memory(struct fz *f)
{
	static struct guest_mem src;
	struct err e;
	if (!src.nslots && mem_init(&src, FUZZ_RAM, false, &e))
		fuzz_fail("mem_init: %s", e.msg);
	memset(src.slots[0].host, 0, FUZZ_RAM);
	unsigned damage = fz_u8(f) % 4;
	uint32_t pos = fz_u32(f);
	while (f->n) {
		uint32_t off = fz_u16(f) % FUZZ_RAM;
		uint8_t n = fz_u8(f);
		fz_bytes(f, src.slots[0].host + off, n < FUZZ_RAM - off ? n : FUZZ_RAM - off);
	}
	int fd = memfd_create("fuzz-mem", MFD_CLOEXEC);
	struct snapshot_header h = header;
	if (fd < 0 || snapshot_mem_write(&src, fd, h.mem_id, &h.mem_digest, &e))
		fuzz_fail("memory file: %s", fd < 0 ? "memfd" : e.msg);
	off_t size = lseek(fd, 0, SEEK_END);
	bool data_changed = false;
	if (damage == 1) {
		if (ftruncate(fd, pos % size))
			fuzz_fail("ftruncate");
	} else if (damage == 2) {
		off_t at = pos % (size * 8);
		uint8_t b = 0;
		if (pread(fd, &b, 1, at / 8) != 1)
			fuzz_fail("pread");
		b ^= (uint8_t)(1u << (at % 8));
		if (pwrite(fd, &b, 1, at / 8) != 1)
			fuzz_fail("pwrite");
		data_changed = true;
	} else if (damage == 3) {       /* a page of zeros: harmless only where it was zero */
		off_t page = SNAPSHOT_MEM_HEADER + (off_t)(pos % (FUZZ_RAM / 4096)) * 4096;
		static const uint8_t zero[4096];
		uint8_t old[4096];
		if (pread(fd, old, 4096, page) != 4096 || pwrite(fd, zero, 4096, page) != 4096)
			fuzz_fail("page");
		data_changed = memcmp(old, zero, 4096) != 0;
	}
	struct vm *v = vm;
	int r = snapshot_mem_read(&v->mem, fd, &h, "fuzz.mem", &e);
	close(fd);
	if ((damage == 1 || data_changed) && r == 0)
		fuzz_fail("a damaged memory file (kind %u at %u) was read", damage, pos);
	if (!(damage == 1 || data_changed) && r != 0)
		fuzz_fail("a memory file was refused: %s", e.msg);
	if (r == 0 && memcmp(v->mem.slots[0].host, src.slots[0].host, FUZZ_RAM) != 0)
		fuzz_fail("the memory file read back other RAM");
	if (r == 0)
		mem_ok++;
	else
		mem_refused++;
}

/* -- mode 3: round trip of state written by a guest ------------------------------------- */

static void roundtrip(struct fz *f)
{
	while (f->n) {
		unsigned target = fz_u8(f) % 8;
		uint16_t off = fz_u16(f);
		unsigned size = 1u << (fz_u8(f) % 3);
		uint32_t val = fz_u32(f);
		uint64_t a;
		switch (target) {
		case 0: wr(&vm->pio, off % 0x1000, size, val); break;     /* legacy ports */
		case 1: wr(&vm->pio, PC_PCI_CONF_ADDR, 4, 0x80000000u | (off & 0xfffc)); /* config */
		        wr(&vm->pio, PC_PCI_CONF_DATA + (off & 3), size, val); break;
		case 2: if ((a = pci_bar_addr(&nic->pci, 0))) wr(&vm->mmio, a + off, 4, val); break;
		case 3: if ((a = pci_bar_addr(&hba->pci, AHCI_BAR))) wr(&vm->mmio, a + off % AHCI_BAR_SIZE, 4, val); break;
		case 4: wr(&vm->pio, 0x3c0 + off % 0x20, 1, val); break;       /* the VGA's ports */
		case 5: wr(&vm->mmio, virtio_mmio_slot_base(0) + off % VIRTIO_MMIO_SIZE, 4, val); break;
		case 6: wr(&vm->mmio, MEM_VGA_START + off, size, val); break;
		default: clock_ns += val; break;
		}
	}
	/* The PIT's line as its thread would have it by now (it drives GSI 0 when the
	 * output changes; a load brings the line up to date at once). */
	pit_poll(pit);
	struct snap_writer a, b;
	save_all(&a, false);
	struct err e;
	size_t off = 0;
	while (off < a.len) {
		unsigned n = a.buf[off];
		char name[SNAPSHOT_NAME_MAX];
		memcpy(name, a.buf + off + 1, n);
		name[n] = '\0';
		uint64_t len = 0;
		for (unsigned i = 0; i < 8; i++)
			len |= (uint64_t)a.buf[off + 1 + n + i] << (8 * i);
		struct vm_device *d = device(name);
		struct snap_reader r;
		snap_reader_init(&r, a.buf + off + 1 + n + 12, len, name, &e);
		if (d->load(d->opaque, &r) || snap_end(&r))
			fuzz_fail("%s: state a guest reached does not load back: %s", name, e.msg);
		off += 1 + n + 12 + len;
	}
	save_all(&b, false);
	/* The same bytes again, section by section, but for the ACPI PM timer's count, which
	 * runs on the host's clock between the two saves. */
	if (a.len != b.len)
		fuzz_fail("a second save has another length (%zu, %zu)", a.len, b.len);
	for (size_t o = 0; o < a.len;) {
		unsigned n = a.buf[o];
		uint64_t len = 0;
		for (unsigned k = 0; k < 8; k++)
			len |= (uint64_t)a.buf[o + 1 + n + k] << (8 * k);
		size_t whole = 1 + n + 12 + len;
		bool pm = n == 7 && memcmp(a.buf + o + 1, "acpi_pm", 7) == 0;
		for (size_t k = 1 + n + 12; !pm && k < whole; k++)
			if (a.buf[o + k] != b.buf[o + k])
				fuzz_fail("save, load, save: section %.*s differs at payload byte %zd "
				          "(0x%02x, then 0x%02x)", n, (const char *)a.buf + o + 1,
				          (ssize_t)k - (ssize_t)(1 + n + 12), a.buf[o + k], b.buf[o + k]);
		o += whole;
	}
	roundtrips++;
	snap_writer_free(&a);
	snap_writer_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!vm)
		setup();
	struct fz f = { data, size };
	reset_devices();
	memset(mem_ptr(&vm->mem, 0, FUZZ_RAM), 0, FUZZ_RAM);
	switch (fz_u8(&f) % 4) {
	case 0:
		assembled(&f);
		break;
	case 1: {
		struct snapshot_in *in = calloc(1, sizeof(*in));
		struct err e;
		if (snapshot_parse(in, f.p, f.n, "fuzz.state", &e) == 0) {
			parsed++;
			load_sections(in);
			exercise();
		} else {
			framing_refused++;
		}
		free(in);
		break;
	}
	case 2:
		memory(&f);
		break;
	default:
		roundtrip(&f);
		break;
	}
	return 0;
}
