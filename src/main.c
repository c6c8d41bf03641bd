/* trivisor front end: options -> struct vm_config -> run. The only place that prints
 * errors and decides the process exit status. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/vm.h"
#include "engine/engine.h"
#include "host/console.h"
#include "host/display.h"
#include "hw/i8042.h"
#include "machine/machine.h"

static int fail(int status, const char *msg)
{
	fprintf(stderr, "trivisor: error: %s\n", msg);
	return status;
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

int main(int argc, char **argv)
{
	struct cli cli;
	struct err e = { "" };
	struct vm *vm;

	if (cli_parse(argc, argv, &cli, &e)) {
		fprintf(stderr, "trivisor: %s\nTry 'trivisor --help'.\n", e.msg);
		return VM_STATUS_USAGE;
	}
	if (cli.cmd == CLI_HELP) {
		cli_usage(stdout);
		return 0;
	}
	if (cli.cmd == CLI_VERSION) {
		printf("trivisor %s\n", TRIVISOR_VERSION);
		return 0;
	}
	if (cli.cmd == CLI_ENGINES)
		return engine_report(stdout) > 0 ? 0 : VM_STATUS_NO_ENGINE;
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

	/* --display text: the terminal shows the screen and types on the keyboard; the
	 * serial console is then not on it. */
	bool text = cli.cfg.display == VM_DISPLAY_TEXT;
	if (text)
		cli.cfg.console_in = cli.cfg.console_out = -1;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return fail(VM_STATUS_ERROR, "out of memory");
	if (machine_create(vm, &cli.cfg, &e)) {
		free(vm);
		return fail(VM_STATUS_ERROR, e.msg);
	}
	const struct engine_ops *engine;
	if (engine_select(cli.engine_name, &engine, &e)) {
		vm_destroy(vm);
		free(vm);
		return fail(VM_STATUS_NO_ENGINE, e.msg);
	}
	struct display *display = NULL;
	struct display_config dc = { .text = text, .in_fd = text ? STDIN_FILENO : -1,
	                             .out_fd = STDOUT_FILENO, .dump_path = cli.cfg.screen_dump,
	                             .kbd_input = i8042_kbd_input };
	if (machine_attach_engine(vm, engine, &e) ||
	    (vm->vga && (text || dc.dump_path) &&
	     (dc.kbd = vm->kbd, display_start(vm, vm->vga, &dc, &display, &e))) ||
	    vm_start(vm, &e)) {
		if (display)
			display_stop(display);
		vm_destroy(vm);
		free(vm);
		return fail(VM_STATUS_ERROR, e.msg);
	}
	console_run(vm);
	int status = vm_wait(vm);
	if (display)
		display_stop(display);

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
	if (cli.cfg.stats || cli.stats_json)
		stats_collect(vm);
	if (cli.cfg.stats)
		stats_print(stderr, vm);
	if (cli.stats_json && write_stats_json(cli.stats_json, vm))
		status = VM_STATUS_ERROR;
	vm_destroy(vm);
	free(vm);
	return status;
}
