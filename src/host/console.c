#include "console.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include "core/vm.h"
#include "hw/uart.h"

struct console {
	struct vm *vm;
	int in_fd;
	bool tty;
	bool escape;        /* the previous byte was the escape character */
	bool in_open;
	uint8_t pending[4096];
	size_t npending;
};

static void say(struct console *c, const char *msg)
{
	ssize_t n = write(c->vm->cfg.console_out, msg, strlen(msg));
	(void)n;
}

/* Ctrl-A r and Ctrl-A s: the vCPUs' registers, or the counters of --stats so far, read
 * with the VM paused (their threads write them) and written to the terminal, which is
 * in raw mode: LF becomes CR LF. */
static void inspect(struct console *c, char what)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	struct vm *vm = c->vm;
	vm_pause(vm);
	fprintf(f, "\n[trivisor] %s, the VM paused:\n", what == 'r' ? "registers" : "stats so far");
	if (what == 'r') {
		for (unsigned i = 0; i < vm->ncpus; i++)
			vcpu_dump_state(f, &vm->vcpus[i]);
	} else {
		stats_collect(vm);
		stats_print(f, vm);
	}
	vm_resume(vm);
	fprintf(f, "[trivisor] end\n");
	if (fclose(f) == 0)
		for (const char *t = text; *t;) {
			size_t n = strcspn(t, "\n");
			struct iovec io[2] = { { (void *)t, n }, { "\r\n", t[n] ? 2 : 0 } };
			ssize_t w = writev(vm->cfg.console_out, io, 2);
			(void)w;
			t += n + (t[n] != 0);
		}
	free(text);
}

/* Ctrl-A w: write a snapshot (to --snapshot's files) and end the VM, which goes on from
 * there when it is restored. On failure it says why and the VM goes on. */
static void snapshot_key(struct console *c)
{
	struct vm *vm = c->vm;
	if (!vm->snapshot_key) {
		say(c, "\r\n[trivisor] Ctrl-A w: no snapshot files were given (--snapshot "
		       "STATE,mem=MEM)\r\n");
		return;
	}
	/* Paused first: the vCPUs write the UART's bytes themselves, and none may follow a
	 * message that says the VM stopped. */
	struct err e = { "" };
	vm_pause(vm);
	say(c, "\r\n[trivisor] writing a snapshot, the VM paused\r\n");
	int r = vm->snapshot_key(vm, &e);
	if (r == 0)
		vm_request_stop(vm, VM_STOP_USER, VM_STATUS_OK, "snapshot written to %s and %s (Ctrl-A "
		                "w); resume it with --restore %s,mem=%s", vm->cfg.snapshot_state,
		                vm->cfg.snapshot_mem, vm->cfg.snapshot_state, vm->cfg.snapshot_mem);
	vm_resume(vm);
	if (r) {
		char msg[400];
		snprintf(msg, sizeof(msg), "\r\n[trivisor] no snapshot: %s; the VM goes on\r\n", e.msg);
		say(c, msg);
	}
}

/* Apply the escape sequence to bytes from a terminal, queueing what goes to the guest. */
static void filter_input(struct console *c, const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = buf[i];
		if (c->tty && c->escape) {
			c->escape = false;
			if (ch == 'x' || ch == 'X') {
				vm_request_stop(c->vm, VM_STOP_USER, VM_STATUS_OK, "quit from the console (Ctrl-A x)");
				return;
			}
			if (ch == 'h' || ch == '?') {
				say(c, "\r\n[trivisor] Ctrl-A x: quit   Ctrl-A r: registers   Ctrl-A s: "
				       "stats so far   Ctrl-A w: write a snapshot and quit   Ctrl-A Ctrl-A: "
				       "send Ctrl-A\r\n");
				continue;
			}
			if (ch == 'w' || ch == 'W') {
				snapshot_key(c);
				if (vm_stopping(c->vm))
					return;
				continue;
			}
			if (ch == 'r' || ch == 's') {
				inspect(c, ch);
				continue;
			}
			if (ch != CONSOLE_ESCAPE && c->npending < sizeof(c->pending))
				c->pending[c->npending++] = CONSOLE_ESCAPE;
		} else if (c->tty && ch == CONSOLE_ESCAPE) {
			c->escape = true;
			continue;
		}
		if (c->npending < sizeof(c->pending))
			c->pending[c->npending++] = ch;
	}
}

static void flush_pending(struct console *c)
{
	struct vm *vm = c->vm;
	if (!c->npending || !vm->console_receive)
		return;
	size_t took = vm->console_receive(vm->console_dev, c->pending, c->npending);
	memmove(c->pending, c->pending + took, c->npending - took);
	c->npending -= took;
}

void console_run(struct vm *vm)
{
	struct console c = { .vm = vm, .in_fd = vm->cfg.console_in };
	struct termios saved;
	sigset_t sigs;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

	c.in_open = c.in_fd >= 0;
	if (c.in_open && isatty(c.in_fd) && tcgetattr(c.in_fd, &saved) == 0) {
		struct termios raw = saved;
		cfmakeraw(&raw);
		/* Keep output post-processing off too: the guest sends its own CR LF. */
		if (tcsetattr(c.in_fd, TCSANOW, &raw) == 0)
			c.tty = true;
	}

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = vm->stop_fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			/* Stop reading while the guest cannot take more: backpressure. */
			{ .fd = c.in_open && c.npending < sizeof(c.pending) / 2 ? c.in_fd : -1,
			  .events = POLLIN },
		};
		int r = poll(p, 3, c.npending ? 10 : -1);
		if (r < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (sfd >= 0 && (p[1].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				vm_request_stop(vm, VM_STOP_USER, 128 + (int)si.ssi_signo,
				                "terminated by signal %s", strsignal((int)si.ssi_signo));
		}
		if (p[2].revents) {
			uint8_t buf[1024];
			ssize_t n = read(c.in_fd, buf, sizeof(buf)); /* fits: pending is at most half full */
			if (n > 0)
				filter_input(&c, buf, (size_t)n);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				c.in_open = false; /* EOF: the guest keeps running without input */
		}
		flush_pending(&c);
	}

	if (c.tty)
		tcsetattr(c.in_fd, TCSANOW, &saved);
	if (sfd >= 0)
		close(sfd);
}
