/* Saving a machine to a snapshot and building one from it (machine.h, snapshot.h).
 *
 * Sections of a state file, in the order they are written:
 *   config   the machine's configuration (snapshot_put_config)
 *   cpuid    the guest's CPU model (vm->cpuid, before per-vCPU APIC IDs)
 *   rom      read-only memory slots (the firmware), with their content
 *   cpuN     vCPU N's architectural state (cpu_state_save)
 *   engine   the engine's own VM state, when it has some (engine_ops.save_state)
 *   DEVICE   one per device, named by the device (vm_set_device_snapshot)
 * A restore builds the machine from config, fills RAM and ROM, attaches the engine
 * (which rebuilds the CPU model: it must equal cpuid), builds the board, then loads the
 * devices in the order the board made them, the engine's state (whose interrupt
 * controllers then hold the lines the devices drive), and the vCPUs last. */
#include "machine.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "engine/engine.h"
#include "hw/pc.h"
#include "snapshot.h"

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* -- the CPU model ---------------------------------------------------------------------- */

/* The snapshot's CPU model must be the one this engine gives the guest here. */
static int check_cpuid(struct snap_reader *r, const struct cpuid_table *now,
                       const char *then_engine, const char *engine, struct err *e)
{
	struct cpuid_table *t = calloc(1, sizeof(*t));
	if (!t)
		return err_set(e, ENOMEM, "out of memory");
	int ret = snapshot_get_cpuid(r, t);
	unsigned n = t->n;
	/* Every leaf of the snapshot's model answers the same here, and there is no other. */
	for (unsigned i = 0; ret == 0 && i < n; i++) {
		const struct cpuid_entry *c = &t->e[i], *o = cpuid_find(now, c->function, c->index);
		if (o && o->eax == c->eax && o->ebx == c->ebx && o->ecx == c->ecx && o->edx == c->edx)
			continue;
		ret = err_set(e, EINVAL, "the guest's CPU model differs: CPUID leaf 0x%x.%u is "
		              "%08x %08x %08x %08x in the snapshot (taken under %s), %08x %08x %08x "
		              "%08x under %s here", c->function, c->index, c->eax, c->ebx, c->ecx,
		              c->edx, then_engine, o ? o->eax : 0, o ? o->ebx : 0, o ? o->ecx : 0,
		              o ? o->edx : 0, engine);
	}
	for (unsigned i = 0; ret == 0 && i < now->n; i++) {
		const struct cpuid_entry *o = &now->e[i];
		if (!cpuid_find(t, o->function, o->index))
			ret = err_set(e, EINVAL, "the guest's CPU model differs: CPUID leaf 0x%x.%u is "
			              "not in the snapshot (taken under %s) but is under %s here",
			              o->function, o->index, then_engine, engine);
	}
	free(t);
	return ret;
}

/* -- saving ----------------------------------------------------------------------------- */

static int save_devices(struct vm *vm, struct snap_writer *w, struct err *e)
{
	for (unsigned i = 0; i < vm->ndevices; i++) {
		struct vm_device *d = &vm->devices[i];
		if (d->host)
			continue;
		size_t at = snapshot_section_begin(w, d->name);
		int r = d->save(d->opaque, w);
		if (r)
			return err_set(e, -r, "snapshot: device %s: %s", d->name, strerror(-r));
		snapshot_section_end(w, at);
	}
	return 0;
}

static int save_state(struct vm *vm, struct snap_writer *w, const uint8_t id[SNAPSHOT_ID_LEN],
                      struct err *e)
{
	struct snap_writer cw;
	snap_writer_init(&cw);
	snapshot_put_cpuid(&cw, &vm->cpuid);
	/* mem_digest is set once the memory file is written (snapshot_set_mem_digest). */
	struct snapshot_header h = { .format = SNAPSHOT_FORMAT_VERSION, .mem_size = vm->mem.ram_size,
	                             .ncpus = vm->ncpus,
	                             .cpuid_crc = cw.oom ? 0 : snap_crc32(0, cw.buf, cw.len) };
	snprintf(h.version, sizeof(h.version), "%s", TRIVISOR_VERSION);
	snprintf(h.engine, sizeof(h.engine), "%s", vm->engine->name);
	memcpy(h.mem_id, id, SNAPSHOT_ID_LEN);
	snapshot_put_header(w, &h);

	size_t at = snapshot_section_begin(w, "config");
	snapshot_put_config(w, &vm->cfg);
	snapshot_section_end(w, at);
	at = snapshot_section_begin(w, "cpuid");
	snap_put_bytes(w, cw.buf, cw.len);
	snapshot_section_end(w, at);
	snap_writer_free(&cw);

	at = snapshot_section_begin(w, "rom");
	unsigned nrom = 0;
	for (unsigned i = 0; i < vm->mem.nslots; i++)
		nrom += vm->mem.slots[i].rom;
	snap_put_u32(w, nrom);
	for (unsigned i = 0; i < vm->mem.nslots; i++) {
		const struct mem_slot *s = &vm->mem.slots[i];
		if (!s->rom)
			continue;
		snap_put_u64(w, s->gpa);
		snap_put_u64(w, s->size);
		snap_put_bytes(w, s->host, s->size);
	}
	snapshot_section_end(w, at);

	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct cpu_state s;
		int r = vm->engine->get_state(&vm->vcpus[i], &s, e);
		if (r)
			return r;
		char name[16];
		snprintf(name, sizeof(name), "cpu%u", i);
		at = snapshot_section_begin(w, name);
		cpu_state_save(w, &s);
		snapshot_section_end(w, at);
	}
	if (vm->engine->save_state) {
		at = snapshot_section_begin(w, "engine");
		int r = vm->engine->save_state(vm, w, e);
		if (r)
			return r;
		snapshot_section_end(w, at);
	}
	int r = save_devices(vm, w, e);
	if (r)
		return r;
	snapshot_finish(w);
	return w->oom ? err_set(e, ENOMEM, "snapshot: out of memory") : 0;
}

/* path.XXXXXX beside path, created empty. */
static int temp_beside(const char *path, char **tmp, struct err *e)
{
	if (asprintf(tmp, "%s.XXXXXX", path) < 0) {
		*tmp = NULL;
		return err_set(e, ENOMEM, "out of memory");
	}
	int fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		int r = err_set(e, errno, "snapshot: cannot create a file beside %s: %s", path,
		                strerror(errno));
		free(*tmp);
		*tmp = NULL;
		return r;
	}
	return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void sync_dir_of(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

int machine_snapshot_save(struct vm *vm, const char *state_path, const char *mem_path,
                          struct err *e)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < vm->ndevices; i++) {
		const struct vm_device *d = &vm->devices[i];
		if (!d->host && (!d->save || !d->name))
			return err_set(e, ENOTSUP, "snapshot: device %s cannot be saved",
			               d->name ? d->name : "(unnamed)");
	}
	if (strcmp(state_path, mem_path) == 0)
		return err_set(e, EINVAL, "snapshot: the state and memory files must differ");
	pthread_mutex_lock(&vm->pause_lock);
	bool paused = vm->pause_depth > 0;
	pthread_mutex_unlock(&vm->pause_lock);
	if (!paused)
		return err_set(e, EBUSY, "snapshot: the VM is running: pause it first");

	uint8_t id[SNAPSHOT_ID_LEN];
	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id))
		return err_set(e, errno, "snapshot: getrandom: %s", strerror(errno));
	char *stmp = NULL, *mtmp = NULL;
	int sfd = -1, mfd = temp_beside(mem_path, &mtmp, e), r = 0;
	if (mfd < 0)
		return mfd;
	if ((sfd = temp_beside(state_path, &stmp, e)) < 0) {
		r = sfd;
		goto out;
	}

	/* The state first, as the VM paused: read after the memory file (seconds, for a
	 * large guest on a slow disk) the guest's clock would jump forward by that time. */
	struct snap_writer w;
	snap_writer_init(&w);
	uint64_t digest = 0;
	vm_inputs_hold(vm);
	r = save_state(vm, &w, id, e);
	double state_ms = ms_since(&t0);
	if (r == 0)
		r = snapshot_mem_write(&vm->mem, mfd, id, &digest, e);
	double mem_ms = ms_since(&t0) - state_ms;
	vm_inputs_release(vm);
	if (r == 0)
		snapshot_set_mem_digest(&w, digest);
	if (r == 0 && (r = write_all(sfd, w.buf, w.len)))
		err_set(e, -r, "snapshot: cannot write %s: %s", state_path, strerror(-r));
	if (r == 0 && (fsync(mfd) || fsync(sfd)))
		r = err_set(e, errno, "snapshot: cannot sync the files: %s", strerror(errno));
	if (r == 0 && rename(mtmp, mem_path))
		r = err_set(e, errno, "snapshot: cannot create %s: %s", mem_path, strerror(errno));
	if (r == 0 && rename(stmp, state_path)) {
		r = err_set(e, errno, "snapshot: cannot create %s: %s", state_path, strerror(errno));
		unlink(mem_path);    /* without its state file it is of no use */
	}
	if (r == 0) {
		sync_dir_of(mem_path);
		sync_dir_of(state_path);
		log_info("snapshot", "wrote %s (%zu bytes) and %s in %.1f ms (state %.1f ms, guest "
		         "RAM %.1f ms, syncing the files %.1f ms)", state_path, w.len, mem_path,
		         ms_since(&t0), state_ms, mem_ms, ms_since(&t0) - state_ms - mem_ms);
	}
	snap_writer_free(&w);
out:
	if (sfd >= 0)
		close(sfd);
	close(mfd);
	if (r) {
		if (stmp)
			unlink(stmp);
		unlink(mtmp);
	}
	free(stmp);
	free(mtmp);
	return r;
}

int machine_snapshot_key(struct vm *vm, struct err *e)
{
	return machine_snapshot_save(vm, vm->cfg.snapshot_state, vm->cfg.snapshot_mem, e);
}

/* -- restoring -------------------------------------------------------------------------- */

int machine_snapshot_engine(const char *state_path, char engine[16], struct err *e)
{
	struct snapshot_in *in = calloc(1, sizeof(*in));
	if (!in)
		return err_set(e, ENOMEM, "out of memory");
	int r = snapshot_read_file(in, state_path, e);
	if (r == 0)
		memcpy(engine, in->h.engine, 16);
	snapshot_in_free(in);
	free(in);
	return r;
}

static int load_rom(struct vm *vm, struct snapshot_in *in, struct err *e)
{
	struct snap_reader r;
	if (snapshot_open(in, "rom", &r, e))
		return -EINVAL;
	uint32_t n = snap_get_u32(&r);
	snap_check(&r, n <= 1, "ROM count");
	for (uint32_t i = 0; i < n && !r.failed; i++) {
		uint64_t gpa = snap_get_u64(&r), size = snap_get_u64(&r);
		/* The firmware's place, and only that: at most 16 MiB, ending at 4 GiB. */
		if (!snap_check(&r, size && size <= (16u << 20) && size % 4096 == 0 &&
		                gpa == MEM_4G - size, "ROM address or size") ||
		    !snap_check(&r, size <= r.len - r.off, "ROM size"))
			break;
		if (mem_add_rom(&vm->mem, gpa, r.p + r.off, size, e))
			return -EINVAL;
		r.off += size;
	}
	return snap_end(&r);
}

static int load_devices(struct vm *vm, struct snapshot_in *in, struct err *e)
{
	for (unsigned i = 0; i < vm->ndevices; i++) {
		struct vm_device *d = &vm->devices[i];
		if (d->host)
			continue;
		if (!d->load || !d->name)
			return err_set(e, ENOTSUP, "restore: device %s cannot be loaded",
			               d->name ? d->name : "(unnamed)");
		struct snap_reader r;
		if (snapshot_open(in, d->name, &r, e))
			return -EINVAL;
		int ret = d->load(d->opaque, &r);
		if (ret == 0)
			ret = snap_end(&r);
		if (ret)
			return ret;
	}
	return 0;
}

static int load_engine(struct vm *vm, struct snapshot_in *in, struct err *e)
{
	struct snap_reader r;
	if (!vm->engine->load_state) {
		if (snapshot_has(in, "engine"))
			return err_set(e, ENOTSUP, "the %s engine cannot load the engine state of a "
			               "snapshot (taken under %s)", vm->engine->name, in->h.engine);
		return 0;
	}
	if (snapshot_open(in, "engine", &r, e))
		return -EINVAL;
	int ret = vm->engine->load_state(vm, &r, e);
	return ret ? ret : snap_end(&r);
}

static int load_cpus(struct vm *vm, struct snapshot_in *in, struct err *e)
{
	for (unsigned i = 0; i < vm->ncpus; i++) {
		char name[16];
		snprintf(name, sizeof(name), "cpu%u", i);
		struct snap_reader r;
		struct cpu_state s;
		if (snapshot_open(in, name, &r, e) || cpu_state_load(&r, &s) || snap_end(&r))
			return -EINVAL;
		int ret = vm->engine->set_state(&vm->vcpus[i], &s, e);
		if (ret)
			return ret;
	}
	return 0;
}

/* The machine's part of a restore: everything after vm_init_core. */
static int restore(struct vm *vm, const struct engine_ops *engine, struct snapshot_in *in,
                   const char *mem_path, struct err *e)
{
	struct snap_reader r;
	int ret;

	int fd = open(mem_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, errno, "snapshot memory file %s: %s", mem_path, strerror(errno));
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bool lazy = vm->cfg.restore_lazy && !vm->mem.shared;
	if (lazy)
		ret = snapshot_mem_map(&vm->mem, fd, &in->h, mem_path, e);
	else
		ret = snapshot_mem_read(&vm->mem, fd, &in->h, mem_path, e);
	close(fd);
	log_info("snapshot", "guest RAM %s %s in %.1f ms", lazy ? "mapped from" : "read from",
	         mem_path, ms_since(&t0));
	if (ret || (ret = load_rom(vm, in, e)))
		return ret;

	if ((ret = vm_attach_engine(vm, engine, e)))
		return ret;
	if ((ret = snapshot_open(in, "cpuid", &r, e)) ||
	    snap_crc32(0, r.p, r.len) != in->h.cpuid_crc ||
	    (ret = check_cpuid(&r, &vm->cpuid, in->h.engine, engine->name, e))) {
		if (ret && vm->cfg.cpu_model != VM_CPU_PORTABLE && strcmp(in->h.engine, engine->name)) {
			char why[sizeof(e->msg)];
			snprintf(why, sizeof(why), "%s", e->msg);
			return err_set(e, -ret, "%s (the guest has the %s engine's own CPU model, which "
			               "%s does not present: a VM that is to move between engines "
			               "must be started with --cpu-model portable)", why,
			               in->h.engine, engine->name);
		}
		return ret ? ret : err_set(e, EINVAL, "%s: the header's CPU model digest does not "
		                           "match the cpuid section", in->what);
	}
	if ((ret = pc_board_init(vm, e)))
		return ret;
	/* The vCPUs are made with vCPU 0's registers as their entry state; then come the
	 * devices (which drive their interrupt lines), the engine's VM state (its interrupt
	 * controllers then hold the lines as saved, and the guest clock is set), and every
	 * vCPU's whole state last. */
	if ((ret = snapshot_open(in, "cpu0", &r, e)) || (ret = cpu_state_load(&r, &vm->boot_state)) ||
	    (ret = snap_end(&r)))
		return ret;
	vm->boot_state.has = 0;
	if ((ret = vm_create_vcpus(vm, e)) || (ret = load_devices(vm, in, e)) ||
	    (ret = load_engine(vm, in, e)) || (ret = load_cpus(vm, in, e)))
		return ret;
	if ((ret = snapshot_check_used(in, e)) && strcmp(in->h.engine, engine->name) != 0)
		return err_set(e, ENOTSUP, "%s (the snapshot was taken under %s: moving it to %s "
		               "needs that state converted, which is not supported yet)", e->msg,
		               in->h.engine, engine->name);
	return ret;
}

int machine_restore(struct vm *vm, const struct engine_ops *engine, const char *state_path,
                    const char *mem_path, struct err *e)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct vm_config cfg = vm->cfg;      /* the caller's host side */
	struct snapshot_in *in = calloc(1, sizeof(*in));
	struct snapshot_strings *str = calloc(1, sizeof(*str));
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->stop_fd = -1;
	if (!in || !str) {
		ret = err_set(e, ENOMEM, "out of memory");
		goto fail;
	}
	if ((ret = snapshot_read_file(in, state_path, e)))
		goto fail;
	log_info("snapshot", "%s (%zu bytes, %u sections, taken by trivisor %s under %s) read "
	         "and checked in %.1f ms", state_path, in->len, in->nsec, in->h.version,
	         in->h.engine, ms_since(&t0));
	struct snap_reader r;
	if ((ret = snapshot_open(in, "config", &r, e)) ||
	    (ret = snapshot_get_config(&r, &cfg, str)))
		goto fail;
	if (cfg.mem_size != in->h.mem_size || cfg.ncpus != in->h.ncpus) {
		ret = err_set(e, EINVAL, "%s: the header and the configuration disagree (RAM size "
		              "or vCPU count)", state_path);
		goto fail;
	}
	if (!cfg.vga && (cfg.display != VM_DISPLAY_NONE || cfg.screen_dump)) {
		ret = err_set(e, EINVAL, "the snapshot's machine has no VGA: --display and "
		              "--screen-dump have no screen to show");
		goto fail;
	}

	if ((ret = vm_init_core(vm, &cfg, e))) {
		vm_destroy(vm);
		goto fail;
	}
	/* The strings cfg points at live as long as the VM. */
	if ((ret = vm_add_device(vm, str, free, e))) {
		vm_destroy(vm);
		goto fail;
	}
	vm_set_device_host(vm, str);
	str = NULL;
	/* Backends start with the board (a received frame would reach a device before its
	 * state is loaded): hold their input until the machine is whole. */
	vm_inputs_hold(vm);
	ret = restore(vm, engine, in, mem_path, e);
	vm_inputs_release(vm);
	if (ret) {
		vm_destroy(vm);
		goto fail;
	}
	if (vm->cfg.snapshot_state)
		vm->snapshot_key = machine_snapshot_key;
	log_info("snapshot", "restored %s and %s in %.1f ms", state_path, mem_path, ms_since(&t0));
fail:
	if (in)
		snapshot_in_free(in);
	free(in);
	free(str);
	return ret;
}
