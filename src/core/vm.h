/* struct vm: everything a virtual machine owns. No global mutable state: several VMs
 * can live in one process. */
#ifndef TRIVISOR_VM_H
#define TRIVISOR_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bus.h"
#include "cpu_state.h"
#include "cpuid.h"
#include "err.h"
#include "mem.h"
#include "vcpu.h"

#define VM_MAX_CPUS 64
#define VM_MAX_DEVICES 48

#define VM_MAX_DISKS 8
#define VM_DISK_PATH_MAX 4096

struct engine_ops;
struct i8042;
struct snap_reader;
struct snap_writer;
struct vga;

/* What kind of device the guest is shown for a disk or the network card: para-virtual
 * (virtio) or emulated hardware (AHCI SATA, Intel e1000). --disk ...,if= and --net
 * ...,model= pick one; by default --mode full gives emulated ones, the others virtio. */
enum vm_dev_kind { VM_DEV_VIRTIO, VM_DEV_EMULATED };

/* A disk on a raw image file or block device (--disk PATH[,ro], --cdrom ISO). */
struct vm_disk_config {
	char path[VM_DISK_PATH_MAX];
	bool read_only;
	enum vm_dev_kind kind;
	bool cdrom;                   /* an ATAPI CD-ROM (emulated only, read-only) */
};

#define VM_MAX_HOSTFWD 8
#define VM_IFNAME_MAX 16

/* --net: one virtio-net device and its host backend. */
enum vm_net_backend { VM_NET_NONE, VM_NET_USER, VM_NET_TAP };

/* A host port forwarded into the guest (user networking, hostfwd=). Addresses are in
 * network byte order; host_addr 0 is every host address. */
struct vm_hostfwd {
	bool udp;
	uint32_t host_addr, guest_addr;
	uint16_t host_port, guest_port;
};

struct vm_net_config {
	enum vm_net_backend backend;
	enum vm_dev_kind kind;
	uint8_t mac[6];
	struct vm_hostfwd fwd[VM_MAX_HOSTFWD];
	unsigned nfwd;
	char ifname[VM_IFNAME_MAX];   /* tap: the interface name */
};

/* Which device is the guest's console, fed by the host console (--console). */
enum vm_console { VM_CONSOLE_SERIAL, VM_CONSOLE_VIRTIO };

/* How virtio devices reach the guest (--virtio-transport). */
enum vm_virtio_transport { VM_VIRTIO_PCI, VM_VIRTIO_MMIO };

/* How the soft engine runs guest code (--soft-tier). */
enum vm_soft_tier { VM_SOFT_TRANSLATE, VM_SOFT_INTERPRET, VM_SOFT_DIRECT };

/* The screen (--display): none (serial only), or the VGA's text screen rendered in
 * this terminal. */
enum vm_display { VM_DISPLAY_NONE, VM_DISPLAY_TEXT };

/* Which device the firmware tries first (--boot): a disk, or a CD-ROM. */
enum vm_boot { VM_BOOT_DISK, VM_BOOT_CDROM };

/* The CPU the guest is shown (--cpu-model): the engine's own (kvm: the host's features as
 * KVM offers them; soft: what it implements, at 2 GHz), or the portable model, the same
 * under every engine of this host (core/cpuid.h, engine_portable_cpuid). */
enum vm_cpu_model { VM_CPU_ENGINE, VM_CPU_PORTABLE };

/* What the front end asks for. */
struct vm_config {
	const char *kernel_path;      /* NULL: boot through the firmware */
	const char *bios_path;        /* firmware boot: the BIOS image (NULL: SeaBIOS) */
	const char *initrd_path;      /* NULL if none */
	const char *append;           /* extra command line, NULL if none */
	uint64_t mem_size;            /* bytes */
	unsigned ncpus;
	enum guest_iface iface;
	enum vm_cpu_model cpu_model;  /* --cpu-model */
	bool stats;
	int console_in;               /* host fd the UART reads from, -1 for none */
	int console_out;              /* host fd the UART writes to */
	struct vm_disk_config disks[VM_MAX_DISKS];
	unsigned ndisks;
	bool rng;                     /* --rng: a virtio entropy device */
	struct vm_net_config net;     /* --net */
	enum vm_console console;      /* --console */
	enum vm_virtio_transport virtio_transport; /* --virtio-transport */
	enum vm_soft_tier soft_tier;  /* --soft-tier */
	enum vm_display display;      /* --display */
	const char *screen_dump;      /* --screen-dump PATH, NULL for none */
	enum vm_boot boot;            /* --boot */
	bool vga;                     /* a VGA even with nothing showing it (a restored
	                               * machine that had one: see pc_has_vga) */
	/* Where the console's snapshot key (Ctrl-A w) writes, NULL for nowhere (--snapshot). */
	const char *snapshot_state, *snapshot_mem;
	/* A restore maps the memory file (copy-on-write, read as the guest touches it)
	 * instead of reading and checking it whole (--restore ...,lazy). */
	bool restore_lazy;
};

/* Process exit statuses (documented in the README). A guest's isa-debug-exit write of
 * v gives (v << 1) | 1 instead. */
enum {
	VM_STATUS_OK = 0,           /* guest powered off or rebooted, or the user quit */
	VM_STATUS_ERROR = 1,        /* the VM could not be built or failed while running */
	VM_STATUS_USAGE = 2,        /* invalid command line */
	VM_STATUS_NO_ENGINE = 3,    /* the requested engine is not available on this host */
	VM_STATUS_TRIPLE_FAULT = 4, /* the guest triple-faulted */
};

/* How the VM ended. */
enum vm_stop_reason {
	VM_RUNNING = 0,
	VM_STOP_POWEROFF,   /* ACPI S5 or engine power-off: status 0 */
	VM_STOP_RESET,      /* guest reboot: status 0 (trivisor does not restart guests) */
	VM_STOP_DEBUG_EXIT, /* isa-debug-exit: status (value << 1) | 1 */
	VM_STOP_SHUTDOWN,   /* triple fault */
	VM_STOP_ERROR,      /* engine or core failure */
	VM_STOP_USER,       /* escape sequence or signal */
};

/* Something to tear down with the VM (devices, backends), destroyed in reverse order;
 * print_stats (optional) adds the device's own counters to --stats.
 *
 * Snapshots (machine/snapshot.h): a device with guest-visible state names itself and
 * gives a save and a load (vm_set_device_snapshot); its state is the section of that
 * name in a snapshot. save writes the state (the VM is paused and its host inputs held,
 * vm_inputs_hold); it returns 0 or -errno (a disk that cannot be flushed). load reads
 * it back into a device just built from the same configuration, range-checking every
 * value as it would a guest's register write (snap.h); it returns 0 or -EINVAL with
 * the message in the reader's err. Host-side objects (network backends, the display)
 * say they have nothing to save with vm_set_device_host. A snapshot refuses a VM
 * with a device that did neither. */
typedef int (*vm_save_fn)(void *opaque, struct snap_writer *w);
typedef int (*vm_load_fn)(void *opaque, struct snap_reader *r);

struct vm_device {
	void *opaque;
	void (*destroy)(void *opaque);
	void (*print_stats)(void *opaque, FILE *f);
	const char *name;             /* the snapshot section (unique in the VM), or NULL */
	vm_save_fn save;
	vm_load_fn load;
	bool host;                    /* host side only: nothing in a snapshot */
};

struct vm {
	struct vm_config cfg;
	const struct engine_ops *engine;
	void *engine_data;

	struct guest_mem mem;
	struct bus pio, mmio;
	struct cpuid_table cpuid;     /* the model's table before per-vCPU APIC IDs */
	uint32_t tsc_khz;             /* the TSC rate the model fixes (portable), 0: the
	                               * engine's own */
	struct cpu_state boot_state;  /* the boot CPU's entry state, from the loader */

	unsigned ncpus;
	struct vcpu vcpus[VM_MAX_CPUS];

	struct vm_device devices[VM_MAX_DEVICES];
	unsigned ndevices;

	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	enum vm_stop_reason stop_reason;
	int exit_status;              /* process exit status for this stop */
	char stop_msg[256];
	int stop_fd;                  /* eventfd, readable once a stop was requested (or guest RAM lost) */
	pthread_mutex_t pause_lock;
	unsigned pause_depth;         /* vm_pause calls not yet resumed (console keys, API) */

	struct i8042 *kbd;            /* the keyboard controller (--display text, SendCtrlAltDel) */
	struct vga *vga;              /* the screen, NULL without one */
	/* What the host console feeds (COM1's UART, or virtio-console with --console
	 * virtio), NULL for nothing:
	 * returns how many of the n bytes the device took. Any thread. */
	size_t (*console_receive)(void *dev, const uint8_t *buf, size_t n);
	void *console_dev;
	atomic_uint_fast32_t irq_lines; /* current level of GSIs 0..31, for stats and device tests */
	atomic_ulong msi_sent;        /* MSIs handed to the engine */
	atomic_ulong msi_dropped;     /* MSIs with no engine to deliver them */
	atomic_ulong msi_refused;     /* MSIs addressed outside 0xfee00000-0xfeefffff */

	uint64_t start_ns, end_ns;

	/* Held for reading by host threads while they hand input to a device (network
	 * backends, the console, the keyboard: vm_input_begin/end), for writing by a
	 * snapshot (vm_inputs_hold/release), so that nothing changes the devices or guest
	 * RAM while they are saved. */
	pthread_rwlock_t input_gate;
	/* Ctrl-A w: write a snapshot to cfg.snapshot_state/snapshot_mem and return 0, or
	 * -errno with e set; called with the VM paused. NULL: the key does nothing. */
	int (*snapshot_key)(struct vm *vm, struct err *e);
};

/* The engine-independent part of a VM: config, locks, buses, RAM (machine_create adds
 * the boot image). With no engine attached this is enough to drive devices from unit
 * tests. Undo with vm_destroy. */
int vm_init_core(struct vm *vm, const struct vm_config *cfg, struct err *e);
/* Attach the CPU engine: engine VM, RAM slots, CPUID model. Devices come next (the
 * machine layer builds the board), then vm_create_vcpus. On failure the caller calls
 * vm_destroy. */
int vm_attach_engine(struct vm *vm, const struct engine_ops *engine, struct err *e);
/* The vCPUs, and the boot CPU's entry state (vm->boot_state). */
int vm_create_vcpus(struct vm *vm, struct err *e);
/* Start all vCPUs. The caller then serves the console (or waits) until stop_fd is
 * readable, and collects the exit status with vm_wait. */
int vm_start(struct vm *vm, struct err *e);
/* vm_start, with every vCPU held before its first instruction as if vm_pause had been
 * called: vm_resume lets them run (a VM restored from a snapshot to be resumed later). */
int vm_start_paused(struct vm *vm, struct err *e);
/* Wait until the VM stops, join the vCPU threads; returns the process exit status. */
int vm_wait(struct vm *vm);
/* Stop every vCPU between two runs of the engine and wait until all are paused (or
 * stopped), so that their state and counters can be read from this thread; vm_resume
 * lets them go on. Nestable and thread-safe: the console's inspection keys and the
 * control API may pause at once, and the VM runs again after the last resume. */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Ask the VM to stop (first request wins); any thread. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason why, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
bool vm_stopping(struct vm *vm);

/* Register a teardown callback, run by vm_destroy in reverse order. */
int vm_add_device(struct vm *vm, void *opaque, void (*destroy)(void *), struct err *e);
/* Give the device registered with opaque a --stats printer (one or more lines). */
void vm_set_device_stats(struct vm *vm, void *opaque, void (*print)(void *, FILE *));
/* Give it a snapshot section: its name (kept, not copied: a literal or the device's own
 * storage) and its save and load (see struct vm_device). */
void vm_set_device_snapshot(struct vm *vm, void *opaque, const char *name, vm_save_fn save,
                            vm_load_fn load);
/* Mark it host-side: it holds nothing of the guest's (a backend re-created on restore). */
void vm_set_device_host(struct vm *vm, void *opaque);

/* A host thread handing input to a device (a received frame, typed bytes) does it
 * between these; they wait while a snapshot holds the inputs. */
void vm_input_begin(struct vm *vm);
void vm_input_end(struct vm *vm);
/* Hold every host input out of the devices until vm_inputs_release (snapshots). */
void vm_inputs_hold(struct vm *vm);
void vm_inputs_release(struct vm *vm);

/* Raise/lower an interrupt line (GSI); routed by the engine. */
void vm_set_irq(struct vm *vm, unsigned gsi, int level);

/* Where an MSI is written: the LAPICs' 1 MiB window. */
#define MSI_ADDR_BASE 0xfee00000u

/* Deliver a message-signalled interrupt (PCI MSI/MSI-X: the address and data a device
 * writes). Returns 0; -EINVAL for an address outside MSI_ADDR_BASE's window (counted in
 * msi_refused); -ENOSYS when there is no engine or it cannot deliver MSIs yet (counted
 * in msi_dropped). */
int vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data);

/* The one exit dispatcher: counts the exit and handles it. Returns 0 to keep running,
 * 1 to stop this vCPU (the VM is stopping). Pure with respect to the engine: unit tests
 * can call it with fabricated exits. */
int vm_handle_exit(struct vm *vm, struct vcpu *vcpu, struct vm_exit *exit);

#endif
