/* The control API: HTTP/1.1 with JSON bodies on a Unix socket (--api-sock), compatible
 * with the Firecracker API for what both have, plus trivisor's own /trivisor paths.
 *
 * Two halves. api_dispatch parses and validates one request (method, path, body) and
 * turns it into either configuration (before the VM starts) or a call of one of the
 * front end's api_ops (start, pause, snapshot, ...); it never touches a VM itself, so it
 * can be fuzzed on its own. api_server_* serves the socket with libmicrohttpd on its
 * own thread and feeds api_dispatch. */
#ifndef TRIVISOR_API_H
#define TRIVISOR_API_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "core/err.h"

/* The largest request body accepted (Firecracker's own limit is 50 KiB). */
#define API_MAX_BODY (50 * 1024)

enum api_vm_state { API_NOT_STARTED, API_RUNNING, API_PAUSED };

/* What the front end does for the API; each returns 0 or -errno with a message in e.
 * Called on the API server's thread, one request at a time. */
struct api_ops {
	/* InstanceStart: build and start the VM from a->run. */
	int (*start)(void *ctx, struct err *e);
	/* PUT /snapshot/load before start: build the VM from a snapshot; resume or leave it
	 * paused. */
	int (*load)(void *ctx, const char *state_path, const char *mem_path, bool resume,
	            struct err *e);
	int (*pause)(void *ctx, struct err *e);
	int (*resume)(void *ctx, struct err *e);
	/* PUT /snapshot/create: the VM is paused. */
	int (*snapshot)(void *ctx, const char *state_path, const char *mem_path, struct err *e);
	int (*ctrl_alt_del)(void *ctx, struct err *e);
	/* trivisor's Stop action: end the VM as Ctrl-A x does. */
	int (*stop)(void *ctx, struct err *e);
	/* GET /trivisor/stats: the --stats-json document, malloc'd (NULL on failure). */
	char *(*stats_json)(void *ctx);
};

/* Strings the configuration points at: owned here, so that struct vm_config can keep
 * its const char * fields. */
#define API_PATH_MAX 4096
#define API_ARGS_MAX 4096

struct api {
	const struct api_ops *ops;
	void *ctx;
	pthread_mutex_t lock;        /* one request at a time */
	enum api_vm_state state;
	struct cli run;              /* the configuration, from the command line or the API */
	bool engine_given, guest_given; /* for the mode checks when the API sets a mode */
	char kernel[API_PATH_MAX], initrd[API_PATH_MAX], append[API_ARGS_MAX];
	char engine[8];
	char running_engine[8];      /* the engine the VM runs on, once started */
	char drive_ids[VM_MAX_DISKS][64]; /* drives/{id}, in cfg.disks order */
	bool drive_root[VM_MAX_DISKS];
	bool root_added;             /* root=/dev/vda is on the command line */
	char net_id[64];             /* network-interfaces/{id} */
	const char *name;            /* --name, NULL for none */
	uint64_t start_ns;           /* when the VM started (now_ns) */
};

/* A response: status and a JSON body (NULL for none, else malloc'd). */
struct api_reply {
	int status;
	char *body;
};

/* Start from the command line's configuration (copied). */
void api_init(struct api *a, const struct cli *run, const struct api_ops *ops, void *ctx);
void api_destroy(struct api *a);

/* Handle one request. Never fails: errors are 4xx replies {"fault_message": ...}. */
void api_dispatch(struct api *a, const char *method, const char *path, const char *body,
                  size_t len, struct api_reply *out);

/* --config-file: the Firecracker configuration document ({"boot-source": ...,
 * "machine-config": ..., "drives": [...], "network-interfaces": [...]}, plus
 * trivisor's "trivisor": {...}) applied to a's configuration. */
int api_apply_config(struct api *a, const char *json, size_t len, struct err *e);

/* Before the VM starts: put the root drive first and add root=/dev/vda to the command
 * line (as Firecracker does), then cli_check the configuration. */
int api_finish_config(struct api *a, struct err *e);

/* The state the VM is in (the API's view). */
void api_set_state(struct api *a, enum api_vm_state s);

/* The server: listen on a new Unix socket at path (mode 0600; a stale socket file is
 * replaced, a live one refused). */
struct api_server;
int api_server_start(struct api *a, const char *path, struct api_server **out, struct err *e);
void api_server_stop(struct api_server *s);

#endif
