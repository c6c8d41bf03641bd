/* Command-line parsing for the front end: argv -> struct vm_config. Pure; unit tested. */
#ifndef TRIVISOR_CLI_H
#define TRIVISOR_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "core/vm.h"

enum cli_command { CLI_RUN, CLI_ENGINES, CLI_HELP, CLI_VERSION,
                   CLI_LS, CLI_STOP, CLI_PAUSE, CLI_RESUME };

/* --mode: a preset of engine, guest interface and devices, one per technique. */
enum cli_mode {
	CLI_MODE_NONE,   /* no preset: --engine and --guest alone decide */
	CLI_MODE_FULL,   /* full virtualization: soft engine, guest full, emulated devices */
	CLI_MODE_PARA,   /* para-virtualization: soft engine, guest para, virtio allowed */
	CLI_MODE_HW,     /* hardware-assisted: kvm engine, guest para unless --guest full */
};

struct cli {
	enum cli_command cmd;
	struct vm_config cfg;
	const char *engine_name;   /* "auto", "kvm" or "soft" */
	enum cli_mode mode;        /* --mode, after it set engine_name and cfg.iface */
	int verbosity;             /* number of -v */
	const char *stats_json;    /* --stats-json PATH ("-": stderr), or NULL */
	bool no_seccomp;           /* --no-seccomp: the VMM runs without its seccomp filter */
	uint32_t kind_given;       /* disks whose if= was given (bit i), bit 31: the net's model= */
	const char *api_sock;      /* --api-sock PATH, or NULL */
	const char *config_file;   /* --config-file PATH, or NULL */
	const char *name;          /* --name NAME; for ls/stop/pause/resume, the VM to act on */
	/* --restore STATE,mem=MEM: resume the VM in these snapshot files ("" for none). */
	char restore_state[VM_DISK_PATH_MAX], restore_mem[VM_DISK_PATH_MAX];
	/* --snapshot STATE,mem=MEM: where Ctrl-A w writes one (cfg.snapshot_* point here). */
	char snapshot_state[VM_DISK_PATH_MAX], snapshot_mem[VM_DISK_PATH_MAX];
};

#define CLI_DEFAULT_MEM   (512ull << 20)
#define CLI_MIN_MEM       (2ull << 20)
#define CLI_MAX_MEM       (1ull << 40)
#define CLI_DEFAULT_MAC   "\x52\x54\x00\x12\x34\x56"
#define CLI_GUEST_ADDR    0x0a00020fu      /* 10.0.2.15: user networking's DHCP address */

/* Parse argv. Returns 0, or -EINVAL with a message in e (the caller exits with
 * VM_STATUS_USAGE). Does not touch the filesystem or /dev/kvm. */
int cli_parse(int argc, char **argv, struct cli *out, struct err *e);

/* The checks and the --mode preset applied after the options are read: cli_parse runs
 * it, and so does the control API for a VM it configured. engine_given/guest_given:
 * --engine (other than auto) / --guest was given. */
int cli_check(struct cli *c, bool engine_given, bool guest_given, struct err *e);

/* --mode's names: "full", "para", "hw" ("" for CLI_MODE_NONE); parse returns 0 or
 * -EINVAL. */
const char *cli_mode_name(enum cli_mode m);
int cli_parse_mode(const char *s, enum cli_mode *out);

/* A VM name (--name): 1-64 characters of [A-Za-z0-9_.-], not starting with '.'. */
bool cli_valid_name(const char *s);

/* Parse a memory size: a number with an optional K/M/G/T suffix (KiB/MiB/GiB/TiB);
 * a bare number means MiB. Returns 0 or -EINVAL. */
int cli_parse_size(const char *s, uint64_t *out);

/* A MAC address XX:XX:XX:XX:XX:XX (not multicast). Returns 0 or -EINVAL. */
int cli_parse_mac(const char *s, uint8_t mac[6]);

/* The value of hostfwd= (n bytes at s): [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT
 * (GUESTADDR defaults to 10.0.2.15). Returns 0 or -EINVAL. */
int cli_parse_hostfwd(const char *s, size_t n, struct vm_hostfwd *f);

void cli_usage(FILE *f);

#endif
