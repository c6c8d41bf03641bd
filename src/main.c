/* trivisor front end: options, a config file or the control API -> struct vm_config ->
 * a running VM. The only place that prints errors and decides the process exit status. */
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/control.h"
#include "cli.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/vm.h"
#include "engine/engine.h"
#include "host/console.h"
#include "host/display.h"
#include "host/seccomp.h"
#include "hw/i8042.h"
#include "machine/machine.h"

static int fail(int status, const char *msg)
{
	fprintf(stderr, "trivisor: error: %s\n", msg);
	return status;
}

/* A file trivisor writes later (a snapshot at Ctrl-A w, the screen dump, the
 * --stats-json report at exit) is checked before the guest runs: a mistyped directory
 * is said now, not after hours, with the report or snapshot lost. */
static int check_output(const char *opt, const char *path, struct err *e)
{
	struct stat st;
	if (!path)
		return 0;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return err_set(e, EISDIR, "%s %s: is a directory", opt, path);
	char *copy = strdup(path);
	if (!copy)
		return err_set(e, ENOMEM, "out of memory");
	const char *dir = dirname(copy);
	int en = stat(dir, &st) ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR :
	         access(dir, W_OK | X_OK) ? errno : 0;
	int r = en ? err_set(e, en, "%s %s: cannot write in %s: %s", opt, path, dir,
	                     strerror(en)) : 0;
	free(copy);
	return r;
}

/* --stats-json PATH: the counters as JSON, to PATH or ("-") standard error. */
static int write_stats_json(const char *path, const struct vm *vm)
{
	bool to_stderr = strcmp(path, "-") == 0;
	FILE *f = to_stderr ? stderr : fopen(path, "w");
	if (!f) {
		fprintf(stderr, "trivisor: error: cannot write stats to %s: %s\n", path, strerror(errno));
		return -1;
	}
	stats_print_json(f, vm);
	if (to_stderr)
		return 0;
	if (ferror(f) | fclose(f)) {
		fprintf(stderr, "trivisor: error: cannot write stats to %s\n", path);
		return -1;
	}
	return 0;
}

/* The VM this process runs, however it was configured. The API's thread builds it
 * (InstanceStart) or the main thread does (a command line or --config-file with a boot
 * source); the main thread then serves its console until it stops. */
struct front {
	struct cli *cli;
	struct api api;
	pthread_mutex_t lock;
	pthread_cond_t cond;       /* vm became non-NULL */
	struct vm *_Atomic vm;
	struct display *display;
	int fail_status;           /* exit status for a build that failed */
};

/* Build the machine and start it (paused if asked): from run's configuration, or,
 * with snap_state, from that snapshot (run then gives only what the host provides: the
 * console, the display, --stats, and the engine if one was named; by default the
 * snapshot's own). */
static int build_vm(struct front *f, const struct cli *run, const char *snap_state,
                    const char *snap_mem, bool paused, struct err *e)
{
	bool text = run->cfg.display == VM_DISPLAY_TEXT;
	struct vm_config cfg = run->cfg;
	/* --display text: the terminal shows the screen and types on the keyboard; the
	 * serial console is then not on it. */
	if (text)
		cfg.console_in = cfg.console_out = -1;
	f->fail_status = VM_STATUS_ERROR;
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return err_set(e, ENOMEM, "out of memory");
	const char *engine_name = run->engine_name;
	char snap_engine[16];
	int r;
	/* A boot image first: a missing file is reported before an unavailable engine. */
	if (!snap_state && (r = machine_create(vm, &cfg, e))) {
		free(vm);
		return r;
	}
	if (snap_state && strcmp(engine_name, "auto") == 0) {
		if ((r = machine_snapshot_engine(snap_state, snap_engine, e))) {
			free(vm);
			return r;
		}
		/* The engine it was taken on when this host has it, else whichever does. */
		const struct engine_ops *probe;
		struct err ignored;
		if (engine_select(snap_engine, &probe, &ignored) == 0)
			engine_name = snap_engine;
	}
	const struct engine_ops *engine;
	if ((r = engine_select(engine_name, &engine, e))) {
		f->fail_status = VM_STATUS_NO_ENGINE;
		if (!snap_state)
			vm_destroy(vm);
		free(vm);
		return r;
	}
	if (snap_state) {
		vm->cfg = cfg;     /* what the host provides; the rest is the snapshot's */
		r = machine_restore(vm, engine, snap_state, snap_mem, e);
	} else if ((r = machine_attach_engine(vm, engine, e))) {
		vm_destroy(vm);
	}
	if (r) {
		free(vm);
		return r;
	}
	struct display_config dc = { .text = text, .in_fd = text ? STDIN_FILENO : -1,
	                             .out_fd = STDOUT_FILENO, .dump_path = cfg.screen_dump,
	                             .kbd_input = i8042_kbd_input };
	/* The filter goes in once the VM is set up (every file, device and host resource
	 * it needs is open) and before the guest runs a single instruction: the threads
	 * that exist (display, PIT, slirp, TAP) get it through TSYNC, the vCPU threads and
	 * anything started later inherit it. */
	if ((vm->vga && (text || dc.dump_path) &&
	     (dc.kbd = vm->kbd, (r = display_start(vm, vm->vga, &dc, &f->display, e)))) ||
	    (!f->cli->no_seccomp && (r = vmm_seccomp_install(engine, e))) ||
	    (r = paused ? vm_start_paused(vm, e) : vm_start(vm, e))) {
		if (f->display)
			display_stop(f->display);
		f->display = NULL;
		vm_destroy(vm);
		free(vm);
		return r;
	}
	snprintf(f->api.running_engine, sizeof(f->api.running_engine), "%s", engine->name);
	pthread_mutex_lock(&f->lock);
	f->vm = vm;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* ---- what the control API does to the VM ---- */

static int op_start(void *ctx, struct err *e)
{
	struct front *f = ctx;
	return build_vm(f, &f->api.run, NULL, NULL, false, e);
}

static int op_load(void *ctx, const char *state, const char *mem, bool resume, struct err *e)
{
	struct front *f = ctx;
	/* As Firecracker does: guest RAM mapped copy-on-write from the memory file, which
	 * must then stay unchanged (--soft-tier direct, whose RAM is shared, reads it). */
	f->api.run.cfg.restore_lazy = true;
	int r = build_vm(f, &f->api.run, state, mem, !resume, e);
	if (r == 0) {      /* the API shows the restored machine's shape */
		f->api.run.cfg.ncpus = f->vm->cfg.ncpus;
		f->api.run.cfg.mem_size = f->vm->cfg.mem_size;
		f->api.run.cfg.iface = f->vm->cfg.iface;
	}
	return r;
}

static int op_pause(void *ctx, struct err *e)
{
	vm_pause(((struct front *)ctx)->vm);
	return 0;
}

static int op_resume(void *ctx, struct err *e)
{
	vm_resume(((struct front *)ctx)->vm);
	return 0;
}

static int op_snapshot(void *ctx, const char *state, const char *mem, struct err *e)
{
	return machine_snapshot_save(((struct front *)ctx)->vm, state, mem, e);
}

/* Ctrl-Alt-Del on the PS/2 keyboard (scan code set 1, as the i8042 hands the guest):
 * Linux's keyboard driver turns it into a reboot request to init. */
static int op_ctrl_alt_del(void *ctx, struct err *e)
{
	struct vm *vm = ((struct front *)ctx)->vm;
	static const uint8_t keys[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	if (!vm->kbd || !i8042_has_keyboard(vm->kbd))
		return err_set(e, ENODEV, "the VM has no PS/2 keyboard (restored from a snapshot "
		               "taken without one)");
	if (i8042_kbd_input(vm->kbd, keys, sizeof(keys)) != sizeof(keys))
		return err_set(e, EBUSY, "the keyboard buffer is full");
	return 0;
}

static int op_stop(void *ctx, struct err *e)
{
	vm_request_stop(((struct front *)ctx)->vm, VM_STOP_USER, VM_STATUS_OK,
	                "stopped through the control API");
	return 0;
}

static char *op_stats_json(void *ctx)
{
	struct vm *vm = ((struct front *)ctx)->vm;
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return NULL;
	vm_pause(vm);
	stats_collect(vm);
	stats_print_json(m, vm);
	vm_resume(vm);
	if (fclose(m)) {
		free(text);
		return NULL;
	}
	return text;
}

static const struct api_ops front_ops = {
	.start = op_start, .load = op_load, .pause = op_pause, .resume = op_resume,
	.snapshot = op_snapshot, .ctrl_alt_del = op_ctrl_alt_del, .stop = op_stop,
	.stats_json = op_stats_json,
};

/* --config-file: read it whole (it is small) and apply it. */
static int apply_config_file(struct api *a, const char *path, struct err *e)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return err_set(e, errno, "--config-file %s: %s", path, strerror(errno));
	char *buf = malloc(API_MAX_BODY + 1);
	size_t n = buf ? fread(buf, 1, API_MAX_BODY + 1, f) : 0;
	int bad = ferror(f);
	fclose(f);
	int r;
	if (!buf)
		r = err_set(e, ENOMEM, "out of memory");
	else if (bad)
		r = err_set(e, EIO, "--config-file %s: read error", path);
	else if (n > API_MAX_BODY)
		r = err_set(e, EFBIG, "--config-file %s: larger than %d bytes", path, API_MAX_BODY);
	else if ((r = api_apply_config(a, buf, n, e))) {
		struct err inner = *e;
		err_set(e, -r, "--config-file %s: %s", path, inner.msg);
	}
	free(buf);
	return r;
}

/* No boot source: wait for the API to start the VM, or for a termination signal. */
static struct vm *wait_for_start(struct front *f, const sigset_t *sigs)
{
	for (;;) {
		pthread_mutex_lock(&f->lock);
		struct vm *vm = f->vm;
		pthread_mutex_unlock(&f->lock);
		if (vm)
			return vm;
		struct timespec t = { 0, 100 * 1000 * 1000 };
		if (sigtimedwait(sigs, NULL, &t) > 0)
			return NULL;
	}
}

int main(int argc, char **argv)
{
	struct cli cli;
	struct err e = { "" };

	if (cli_parse(argc, argv, &cli, &e)) {
		fprintf(stderr, "trivisor: %s\nTry 'trivisor --help'.\n", e.msg);
		return VM_STATUS_USAGE;
	}
	switch (cli.cmd) {
	case CLI_HELP:
		cli_usage(stdout);
		return 0;
	case CLI_VERSION:
		printf("trivisor %s\n", TRIVISOR_VERSION);
		return 0;
	case CLI_ENGINES:
		return engine_report(stdout) > 0 ? 0 : VM_STATUS_NO_ENGINE;
	case CLI_LS:
		return control_ls(stdout, &e) ? fail(VM_STATUS_ERROR, e.msg) : 0;
	case CLI_STOP:
	case CLI_PAUSE:
	case CLI_RESUME:
		return control_vm(cli.cmd == CLI_STOP ? "stop" : cli.cmd == CLI_PAUSE ? "pause"
		                  : "resume", cli.name, &e) ? fail(VM_STATUS_ERROR, e.msg) : 0;
	case CLI_RUN:
		break;
	}
	log_threshold = cli.verbosity >= 2 ? LOG_DEBUG : cli.verbosity == 1 ? LOG_INFO : LOG_WARN;

	/* Termination signals are read by the console loop through a signalfd; block them
	 * before any thread exists so every thread inherits the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Guest RAM the host cannot provide ends the VM with an error, not a SIGBUS. */
	if (mem_guard_install(&e))
		return fail(VM_STATUS_ERROR, e.msg);
	if (check_output("--snapshot", cli.cfg.snapshot_state, &e) ||
	    check_output("--snapshot", cli.cfg.snapshot_mem, &e) ||
	    check_output("--screen-dump", cli.cfg.screen_dump, &e) ||
	    (cli.stats_json && strcmp(cli.stats_json, "-") != 0 &&   /* "-": standard error */
	     check_output("--stats-json", cli.stats_json, &e)))
		return fail(VM_STATUS_ERROR, e.msg);

	struct front f = { .cli = &cli };
	pthread_mutex_init(&f.lock, NULL);
	pthread_cond_init(&f.cond, NULL);
	api_init(&f.api, &cli, &front_ops, &f);
	f.api.name = cli.name;
	if (cli.config_file && (apply_config_file(&f.api, cli.config_file, &e) ||
	                        api_finish_config(&f.api, &e)))
		return fail(VM_STATUS_USAGE, e.msg);

	/* The API's sockets: --api-sock, and the runtime directory's for --name. */
	struct api_server *servers[2] = { NULL, NULL };
	char named[512];
	if ((cli.api_sock && api_server_start(&f.api, cli.api_sock, &servers[0], &e)) ||
	    (cli.name && (rundir_socket(cli.name, named, sizeof(named), &e) ||
	                  api_server_start(&f.api, named, &servers[1], &e)))) {
		api_server_stop(servers[0]);
		return fail(VM_STATUS_ERROR, e.msg);
	}

	/* Configured through the API alone: nothing to boot until it says InstanceStart. */
	bool await_api = cli.api_sock && !cli.config_file && !cli.cfg.kernel_path &&
	                 cli.cfg.ndisks == 0 && !cli.restore_state[0];
	struct vm *vm = NULL;
	if (await_api) {
		vm = wait_for_start(&f, &sigs);
	} else {
		pthread_mutex_lock(&f.api.lock);
		const char *restore = cli.restore_state[0] ? cli.restore_state : NULL;
		int r = build_vm(&f, &f.api.run, restore, cli.restore_mem, false, &e);
		if (r == 0)
			api_set_state(&f.api, API_RUNNING);
		pthread_mutex_unlock(&f.api.lock);
		if (r) {
			for (int i = 0; i < 2; i++)
				api_server_stop(servers[i]);
			return fail(f.fail_status, e.msg);
		}
		vm = f.vm;
	}
	int status = VM_STATUS_OK;
	if (vm) {
		console_run(vm);
		status = vm_wait(vm);
	}
	/* No request may reach the VM from here on. */
	for (int i = 0; i < 2; i++)
		api_server_stop(servers[i]);
	if (f.display)
		display_stop(f.display);
	if (!vm) {
		fprintf(stderr, "trivisor: stopped before the VM was started\n");
		return VM_STATUS_OK;
	}

	switch (vm->stop_reason) {
	case VM_STOP_ERROR:
	case VM_STOP_SHUTDOWN:
		fprintf(stderr, "\r\ntrivisor: error: %s\n", vm->stop_msg);
		break;
	case VM_STOP_USER:
		fprintf(stderr, "\r\ntrivisor: %s\n", vm->stop_msg);
		break;
	default:
		log_info("vm", "%s", vm->stop_msg);
		break;
	}
	if (vm->stop_reason == VM_STOP_ERROR || vm->stop_reason == VM_STOP_SHUTDOWN ||
	    cli.verbosity > 0)
		for (unsigned i = 0; i < vm->ncpus; i++)
			vcpu_dump_state(stderr, &vm->vcpus[i]);
	if (vm->cfg.stats || cli.stats_json)
		stats_collect(vm);
	if (vm->cfg.stats)
		stats_print(stderr, vm);
	if (cli.stats_json && write_stats_json(cli.stats_json, vm))
		status = VM_STATUS_ERROR;
	vm_destroy(vm);
	free(vm);
	api_destroy(&f.api);
	return status;
}
