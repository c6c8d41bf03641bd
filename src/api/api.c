/* The control API's requests (see api.h): parsing, validation, and what each does. The
 * paths and fields follow Firecracker's published API description; bodies are checked
 * as strictly as Firecracker does (unknown fields and wrong types are 400s), and a field
 * Firecracker has but trivisor cannot honour is refused by name rather than ignored. */
#include "api.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/stats.h"

/* ---- replies ---- */

static void reply_json(struct api_reply *out, int status, json_t *j)
{
	out->status = status;
	out->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
}

static void fault(struct api_reply *out, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fault(struct api_reply *out, int status, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The message may quote the request (a path, a field name cut short), which need
	 * not be UTF-8: JSON strings must be, so anything but printable ASCII becomes '?'. */
	for (char *c = msg; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	reply_json(out, status, json_pack("{s:s}", "fault_message", msg));
}

/* ---- strict body parsing: a table of fields per request ---- */

enum ftype { F_STR, F_U64, F_BOOL, F_OBJ, F_ANY };

struct field {
	const char *name;
	enum ftype type;
	bool required;
	void *out;          /* F_STR: char[size]; F_U64: uint64_t; F_BOOL: bool; F_OBJ/F_ANY: json_t * */
	size_t size;
	bool *present;      /* optional: set when the field was given (and not null) */
};

/* Check obj against the fields: every key known, every type right, every required one
 * there. Fills the outputs. 0, or -EINVAL with msg. */
static int parse_fields(json_t *obj, const char *what, const struct field *f, size_t n,
                        char *msg, size_t msglen)
{
	if (!json_is_object(obj))
		return snprintf(msg, msglen, "%s: the body must be a JSON object", what), -EINVAL;
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		size_t i;
		for (i = 0; i < n && strcmp(f[i].name, key) != 0; i++)
			;
		if (i == n)
			return snprintf(msg, msglen, "%s: unknown field '%.64s'", what, key), -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		v = json_object_get(obj, f[i].name);
		if (f[i].present)
			*f[i].present = v && !json_is_null(v);
		if (!v || json_is_null(v)) {
			if (f[i].required)
				return snprintf(msg, msglen, "%s: missing field '%s'", what, f[i].name), -EINVAL;
			continue;
		}
		switch (f[i].type) {
		case F_STR: {
			if (!json_is_string(v))
				goto type;
			size_t len = json_string_length(v);
			const char *s = json_string_value(v);
			if (len >= f[i].size || strlen(s) != len)
				return snprintf(msg, msglen, "%s: '%s' is too long or holds a NUL byte",
				                what, f[i].name), -EINVAL;
			memcpy(f[i].out, s, len + 1);
			break;
		}
		case F_U64:
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				return snprintf(msg, msglen, "%s: '%s' must be a non-negative integer",
				                what, f[i].name), -EINVAL;
			*(uint64_t *)f[i].out = (uint64_t)json_integer_value(v);
			break;
		case F_BOOL:
			if (!json_is_boolean(v))
				goto type;
			*(bool *)f[i].out = json_is_true(v);
			break;
		case F_OBJ:
			if (!json_is_object(v))
				goto type;
			*(json_t **)f[i].out = v;
			break;
		case F_ANY:
			*(json_t **)f[i].out = v;
			break;
		}
		continue;
	type:
		return snprintf(msg, msglen, "%s: '%s' has the wrong type (%s expected)", what,
		                f[i].name, f[i].type == F_STR ? "string" : f[i].type == F_BOOL
		                ? "boolean" : "object"), -EINVAL;
	}
	return 0;
}

/* Parse a body as one JSON object. */
static json_t *parse_body(const char *body, size_t len, char *msg, size_t msglen)
{
	json_error_t je;
	if (len == 0)
		return snprintf(msg, msglen, "the request needs a JSON body"), NULL;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		snprintf(msg, msglen, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
	return j;
}

/* ---- configuration (before the VM starts) ---- */

static int set_boot_source(struct api *a, json_t *j, char *msg, size_t ml)
{
	char kernel[API_PATH_MAX] = "", initrd[API_PATH_MAX] = "", args[API_ARGS_MAX] = "";
	bool has_initrd, has_args;
	const struct field f[] = {
		{ "kernel_image_path", F_STR, true, kernel, sizeof(kernel), NULL },
		{ "initrd_path", F_STR, false, initrd, sizeof(initrd), &has_initrd },
		{ "boot_args", F_STR, false, args, sizeof(args), &has_args },
	};
	if (parse_fields(j, "boot-source", f, 3, msg, ml))
		return -EINVAL;
	if (!kernel[0])
		return snprintf(msg, ml, "boot-source: kernel_image_path is empty"), -EINVAL;
	strcpy(a->kernel, kernel);
	strcpy(a->initrd, initrd);
	strcpy(a->append, args);
	a->run.cfg.kernel_path = a->kernel;
	a->run.cfg.initrd_path = has_initrd && initrd[0] ? a->initrd : NULL;
	a->run.cfg.append = has_args ? a->append : NULL;
	a->run.cfg.bios_path = NULL;
	return 0;
}

static int set_machine_config(struct api *a, json_t *j, bool patch, char *msg, size_t ml)
{
	uint64_t vcpus = a->run.cfg.ncpus, mib = a->run.cfg.mem_size >> 20;
	bool smt = false, dirty = false, has_tmpl, has_huge, has_vcpus, has_mem;
	char tmpl[32] = "", huge[32] = "";
	const struct field f[] = {
		{ "vcpu_count", F_U64, !patch, &vcpus, 0, &has_vcpus },
		{ "mem_size_mib", F_U64, !patch, &mib, 0, &has_mem },
		{ "smt", F_BOOL, false, &smt, 0, NULL },
		{ "track_dirty_pages", F_BOOL, false, &dirty, 0, NULL },
		{ "cpu_template", F_STR, false, tmpl, sizeof(tmpl), &has_tmpl },
		{ "huge_pages", F_STR, false, huge, sizeof(huge), &has_huge },
	};
	if (parse_fields(j, "machine-config", f, 6, msg, ml))
		return -EINVAL;
	if (vcpus < 1 || vcpus > VM_MAX_CPUS)
		return snprintf(msg, ml, "machine-config: vcpu_count %llu is out of range (1 to %d)",
		                (unsigned long long)vcpus, VM_MAX_CPUS), -EINVAL;
	if (mib < (CLI_MIN_MEM >> 20) || mib > (CLI_MAX_MEM >> 20))
		return snprintf(msg, ml, "machine-config: mem_size_mib %llu is out of range (2 to %llu)",
		                (unsigned long long)mib, CLI_MAX_MEM >> 20), -EINVAL;
	if (smt)
		return snprintf(msg, ml, "machine-config: smt is not supported"), -EINVAL;
	if (dirty)
		return snprintf(msg, ml, "machine-config: track_dirty_pages is not supported "
		                "(trivisor takes full snapshots only)"), -EINVAL;
	if (has_tmpl && strcmp(tmpl, "None") != 0)
		return snprintf(msg, ml, "machine-config: cpu_template '%s' is not supported "
		                "(the CPU model is trivisor's own, the same under both engines)",
		                tmpl), -EINVAL;
	if (has_huge && strcmp(huge, "None") != 0)
		return snprintf(msg, ml, "machine-config: huge_pages '%s' is not supported", huge), -EINVAL;
	a->run.cfg.ncpus = (unsigned)vcpus;
	a->run.cfg.mem_size = mib << 20;
	return 0;
}

/* drives/{id}: a disk, replacing the one with the same id. The ids live in the order
 * the disks were added; the root device goes first (vda) when the VM starts. */
static int set_drive(struct api *a, const char *id, json_t *j, char *msg, size_t ml)
{
	char drive_id[64] = "", path[VM_DISK_PATH_MAX] = "", cache[16] = "", io[16] = "";
	bool root = false, ro = false, has_part, has_cache, has_io, has_rl, has_sock;
	char partuuid[64];
	json_t *rl = NULL, *sock = NULL;
	const struct field f[] = {
		{ "drive_id", F_STR, true, drive_id, sizeof(drive_id), NULL },
		{ "path_on_host", F_STR, true, path, sizeof(path), NULL },
		{ "is_root_device", F_BOOL, true, &root, 0, NULL },
		{ "is_read_only", F_BOOL, false, &ro, 0, NULL },
		{ "partuuid", F_STR, false, partuuid, sizeof(partuuid), &has_part },
		{ "cache_type", F_STR, false, cache, sizeof(cache), &has_cache },
		{ "io_engine", F_STR, false, io, sizeof(io), &has_io },
		{ "rate_limiter", F_ANY, false, &rl, 0, &has_rl },
		{ "socket", F_ANY, false, &sock, 0, &has_sock },
	};
	if (parse_fields(j, "drives", f, 9, msg, ml))
		return -EINVAL;
	if (strcmp(drive_id, id) != 0)
		return snprintf(msg, ml, "drives: drive_id '%s' does not match the path's '%s'",
		                drive_id, id), -EINVAL;
	if (!path[0])
		return snprintf(msg, ml, "drives: path_on_host is empty"), -EINVAL;
	if (has_part)
		return snprintf(msg, ml, "drives: partuuid is not supported (the root device is "
		                "the whole disk, /dev/vda)"), -EINVAL;
	if (has_cache && strcmp(cache, "Unsafe") && strcmp(cache, "Writeback"))
		return snprintf(msg, ml, "drives: cache_type must be Unsafe or Writeback"), -EINVAL;
	if (has_io && strcmp(io, "Sync") != 0)
		return snprintf(msg, ml, "drives: io_engine '%s' is not supported (Sync)", io), -EINVAL;
	if (has_rl || has_sock)
		return snprintf(msg, ml, "drives: %s is not supported",
		                has_rl ? "rate_limiter" : "socket (vhost-user)"), -EINVAL;

	struct vm_config *cfg = &a->run.cfg;
	unsigned i;
	for (i = 0; i < cfg->ndisks && strcmp(a->drive_ids[i], id) != 0; i++)
		;
	if (root)
		for (unsigned k = 0; k < cfg->ndisks; k++)
			if (k != i && a->drive_root[k])
				return snprintf(msg, ml, "drives: drive '%s' is already the root device",
				                a->drive_ids[k]), -EINVAL;
	if (i == cfg->ndisks) {
		if (cfg->ndisks == VM_MAX_DISKS)
			return snprintf(msg, ml, "drives: at most %d drives", VM_MAX_DISKS), -EINVAL;
		cfg->ndisks++;
	}
	struct vm_disk_config *d = &cfg->disks[i];
	*d = (struct vm_disk_config){ .read_only = ro, .kind = VM_DEV_VIRTIO };
	strcpy(d->path, path);
	strcpy(a->drive_ids[i], id);
	a->drive_root[i] = root;
	return 0;
}

/* network-interfaces/{id}: the one NIC, on the TAP device host_dev_name (as in
 * Firecracker), or, trivisor's own, on user-mode networking with "host_dev_name":
 * "user" left out and "trivisor_backend": "user". */
static int set_net(struct api *a, const char *id, json_t *j, char *msg, size_t ml)
{
	char iface_id[64] = "", dev[VM_IFNAME_MAX + 1] = "", mac[32] = "", backend[8] = "";
	bool has_dev, has_mac, has_rx, has_tx, has_backend;
	json_t *rx = NULL, *tx = NULL;
	const struct field f[] = {
		{ "iface_id", F_STR, true, iface_id, sizeof(iface_id), NULL },
		{ "host_dev_name", F_STR, false, dev, sizeof(dev), &has_dev },
		{ "guest_mac", F_STR, false, mac, sizeof(mac), &has_mac },
		{ "rx_rate_limiter", F_ANY, false, &rx, 0, &has_rx },
		{ "tx_rate_limiter", F_ANY, false, &tx, 0, &has_tx },
		{ "trivisor_backend", F_STR, false, backend, sizeof(backend), &has_backend },
	};
	if (parse_fields(j, "network-interfaces", f, 6, msg, ml))
		return -EINVAL;
	if (strcmp(iface_id, id) != 0)
		return snprintf(msg, ml, "network-interfaces: iface_id '%s' does not match the "
		                "path's '%s'", iface_id, id), -EINVAL;
	if (has_rx || has_tx)
		return snprintf(msg, ml, "network-interfaces: rate limiters are not supported"), -EINVAL;
	struct vm_net_config *net = &a->run.cfg.net;
	if (net->backend != VM_NET_NONE && strcmp(a->net_id, id) != 0)
		return snprintf(msg, ml, "network-interfaces: only one interface is supported "
		                "('%s' exists)", a->net_id), -EINVAL;
	struct vm_net_config n = { .kind = net->kind };
	memcpy(n.mac, CLI_DEFAULT_MAC, 6);
	if (has_backend && strcmp(backend, "user") == 0) {
		if (has_dev)
			return snprintf(msg, ml, "network-interfaces: trivisor_backend user takes no "
			                "host_dev_name"), -EINVAL;
		n.backend = VM_NET_USER;
	} else if (has_backend && strcmp(backend, "tap") != 0) {
		return snprintf(msg, ml, "network-interfaces: trivisor_backend is user or tap"), -EINVAL;
	} else {
		if (!has_dev || !dev[0] || strlen(dev) >= VM_IFNAME_MAX)
			return snprintf(msg, ml, "network-interfaces: host_dev_name (a TAP interface, "
			                "at most %d characters) is required", VM_IFNAME_MAX - 1), -EINVAL;
		n.backend = VM_NET_TAP;
		strcpy(n.ifname, dev);
	}
	if (has_mac && cli_parse_mac(mac, n.mac))
		return snprintf(msg, ml, "network-interfaces: invalid guest_mac '%s'", mac), -EINVAL;
	*net = n;
	snprintf(a->net_id, sizeof(a->net_id), "%s", id);
	return 0;
}

/* trivisor's own: {"engine": "auto|soft|kvm", "mode": "full|para|hw", "guest": ...,
 * "cpu_model": "engine|portable"}. */
static int set_trivisor(struct api *a, json_t *j, char *msg, size_t ml)
{
	char engine[8] = "", mode[8] = "", guest[8] = "", model[12] = "";
	bool has_engine, has_mode, has_guest, has_model;
	const struct field f[] = {
		{ "engine", F_STR, false, engine, sizeof(engine), &has_engine },
		{ "mode", F_STR, false, mode, sizeof(mode), &has_mode },
		{ "guest", F_STR, false, guest, sizeof(guest), &has_guest },
		{ "cpu_model", F_STR, false, model, sizeof(model), &has_model },
	};
	if (parse_fields(j, "trivisor", f, 4, msg, ml))
		return -EINVAL;
	if (has_model) {
		if (strcmp(model, "engine") && strcmp(model, "portable"))
			return snprintf(msg, ml, "trivisor: cpu_model is engine or portable"), -EINVAL;
		a->run.cfg.cpu_model = model[0] == 'p' ? VM_CPU_PORTABLE : VM_CPU_ENGINE;
	}
	if (has_engine) {
		if (strcmp(engine, "auto") && strcmp(engine, "soft") && strcmp(engine, "kvm"))
			return snprintf(msg, ml, "trivisor: engine is auto, soft or kvm"), -EINVAL;
		strcpy(a->engine, engine);
		a->run.engine_name = a->engine;
		a->engine_given = strcmp(engine, "auto") != 0;
	}
	if (has_guest) {
		if (strcmp(guest, "full") && strcmp(guest, "para"))
			return snprintf(msg, ml, "trivisor: guest is full or para"), -EINVAL;
		a->run.cfg.iface = guest[0] == 'f' ? GUEST_FULL : GUEST_PARA;
		a->guest_given = true;
	}
	if (has_mode && cli_parse_mode(mode, &a->run.mode))
		return snprintf(msg, ml, "trivisor: mode is full, para or hw"), -EINVAL;
	return 0;
}

/* The configuration as one document (GET /vm/config, and what --config-file takes). */
static json_t *config_json(const struct api *a)
{
	const struct vm_config *cfg = &a->run.cfg;
	json_t *boot = json_object();
	if (cfg->kernel_path) {
		json_object_set_new(boot, "kernel_image_path", json_string(cfg->kernel_path));
		if (cfg->initrd_path)
			json_object_set_new(boot, "initrd_path", json_string(cfg->initrd_path));
		if (cfg->append)
			json_object_set_new(boot, "boot_args", json_string(cfg->append));
	}
	json_t *drives = json_array();
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		const struct vm_disk_config *d = &cfg->disks[i];
		char id[16];
		snprintf(id, sizeof(id), "disk%u", i);
		json_array_append_new(drives, json_pack("{s:s,s:s,s:b,s:b}",
			"drive_id", a->drive_ids[i][0] ? a->drive_ids[i] : id, "path_on_host", d->path,
			"is_root_device", a->drive_root[i], "is_read_only", d->read_only));
	}
	json_t *nets = json_array();
	const struct vm_net_config *n = &cfg->net;
	if (n->backend != VM_NET_NONE) {
		char mac[18];
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
		         n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
		json_t *o = json_pack("{s:s,s:s}", "iface_id", a->net_id[0] ? a->net_id : "eth0",
		                      "guest_mac", mac);
		if (n->backend == VM_NET_TAP)
			json_object_set_new(o, "host_dev_name", json_string(n->ifname));
		else
			json_object_set_new(o, "trivisor_backend", json_string("user"));
		json_array_append_new(nets, o);
	}
	json_t *triv = json_pack("{s:s,s:s,s:s}", "engine", a->run.engine_name,
	                         "guest", cfg->iface == GUEST_FULL ? "full" : "para", "cpu_model",
	                         cfg->cpu_model == VM_CPU_PORTABLE ? "portable" : "engine");
	if (a->run.mode != CLI_MODE_NONE)
		json_object_set_new(triv, "mode", json_string(cli_mode_name(a->run.mode)));
	return json_pack("{s:o,s:{s:i,s:I,s:b,s:b},s:o,s:o,s:o}",
		"boot-source", boot,
		"machine-config", "vcpu_count", (int)cfg->ncpus,
		"mem_size_mib", (json_int_t)(cfg->mem_size >> 20), "smt", 0, "track_dirty_pages", 0,
		"drives", drives, "network-interfaces", nets, "trivisor", triv);
}

/* Put the root drive first (vda) and add root= to the command line, as Firecracker
 * does; then the same checks as the command line's. */
int api_finish_config(struct api *a, struct err *e)
{
	struct vm_config *cfg = &a->run.cfg;
	for (unsigned i = 1; i < cfg->ndisks; i++)
		if (a->drive_root[i]) {
			struct vm_disk_config d = cfg->disks[i];
			char id[64];
			memcpy(id, a->drive_ids[i], sizeof(id));
			memmove(&cfg->disks[1], &cfg->disks[0], i * sizeof(d));
			memmove(&a->drive_ids[1], &a->drive_ids[0], i * sizeof(id));
			memmove(&a->drive_root[1], &a->drive_root[0], i * sizeof(bool));
			cfg->disks[0] = d;
			memcpy(a->drive_ids[0], id, sizeof(id));
			a->drive_root[0] = true;
		}
	if (cfg->ndisks && a->drive_root[0] && cfg->kernel_path && !a->root_added) {
		const char *ro = cfg->disks[0].read_only ? "ro" : "rw";
		size_t len = cfg->append ? strlen(cfg->append) : 0;
		if (len + 32 > sizeof(a->append))
			return err_set(e, E2BIG, "boot_args is too long to add root=/dev/vda");
		if (cfg->append != a->append)
			snprintf(a->append, sizeof(a->append), "%s", cfg->append ? cfg->append : "");
		snprintf(a->append + len, sizeof(a->append) - len, "%sroot=/dev/vda %s",
		         len ? " " : "", ro);
		cfg->append = a->append;
		a->root_added = true;
	}
	return cli_check(&a->run, a->engine_given, a->guest_given, e);
}

int api_apply_config(struct api *a, const char *json, size_t len, struct err *e)
{
	char msg[512];
	json_t *j = parse_body(json, len, msg, sizeof(msg)), *boot = NULL, *mc = NULL,
	       *drives = NULL, *nets = NULL, *triv = NULL, *ignored;
	if (!j)
		return err_set(e, EINVAL, "%s", msg);
	const struct field f[] = {
		{ "boot-source", F_OBJ, false, &boot, 0, NULL },
		{ "machine-config", F_OBJ, false, &mc, 0, NULL },
		{ "drives", F_ANY, false, &drives, 0, NULL },
		{ "network-interfaces", F_ANY, false, &nets, 0, NULL },
		{ "trivisor", F_OBJ, false, &triv, 0, NULL },
		/* Firecracker devices trivisor does not have: refused below if non-empty. */
		{ "balloon", F_ANY, false, &ignored, 0, NULL },
		{ "vsock", F_ANY, false, &ignored, 0, NULL },
		{ "logger", F_ANY, false, &ignored, 0, NULL },
		{ "metrics", F_ANY, false, &ignored, 0, NULL },
		{ "mmds-config", F_ANY, false, &ignored, 0, NULL },
		{ "entropy", F_ANY, false, &ignored, 0, NULL },
	};
	int r = parse_fields(j, "config", f, 11, msg, sizeof(msg));
	for (size_t i = 5; r == 0 && i < 11; i++) {
		json_t *v = json_object_get(j, f[i].name);
		if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0)) {
			if (strcmp(f[i].name, "entropy") == 0) {
				a->run.cfg.rng = true;   /* Firecracker's virtio-rng */
				continue;
			}
			r = -EINVAL;
			snprintf(msg, sizeof(msg), "config: '%s' is not supported", f[i].name);
		}
	}
	if (r == 0 && (drives && !json_is_array(drives)))
		r = -EINVAL, snprintf(msg, sizeof(msg), "config: 'drives' must be an array");
	if (r == 0 && (nets && !json_is_array(nets)))
		r = -EINVAL, snprintf(msg, sizeof(msg), "config: 'network-interfaces' must be an array");
	if (r == 0 && triv)
		r = set_trivisor(a, triv, msg, sizeof(msg));
	if (r == 0 && boot)
		r = set_boot_source(a, boot, msg, sizeof(msg));
	if (r == 0 && mc)
		r = set_machine_config(a, mc, false, msg, sizeof(msg));
	size_t i;
	json_t *v;
	if (drives)
		json_array_foreach(drives, i, v) {
			json_t *id = json_is_object(v) ? json_object_get(v, "drive_id") : NULL;
			if (r == 0)
				r = json_is_string(id) ? set_drive(a, json_string_value(id), v, msg, sizeof(msg))
				  : (snprintf(msg, sizeof(msg), "drives[%zu]: missing drive_id", i), -EINVAL);
		}
	if (nets)
		json_array_foreach(nets, i, v) {
			json_t *id = json_is_object(v) ? json_object_get(v, "iface_id") : NULL;
			if (r == 0)
				r = json_is_string(id) ? set_net(a, json_string_value(id), v, msg, sizeof(msg))
				  : (snprintf(msg, sizeof(msg), "network-interfaces[%zu]: missing iface_id", i),
				     -EINVAL);
		}
	json_decref(j);
	if (r)
		return err_set(e, EINVAL, "%s", msg);
	return 0;
}

/* ---- requests ---- */

static const char *state_name(enum api_vm_state s)
{
	return s == API_RUNNING ? "Running" : s == API_PAUSED ? "Paused" : "Not started";
}

void api_set_state(struct api *a, enum api_vm_state s)
{
	if (a->state == API_NOT_STARTED && s != API_NOT_STARTED)
		a->start_ns = now_ns();
	a->state = s;
}

/* GET /trivisor: what `trivisor ls` shows. */
static json_t *trivisor_info(const struct api *a)
{
	const struct vm_config *cfg = &a->run.cfg;
	double up = a->state == API_NOT_STARTED ? 0 : (double)(now_ns() - a->start_ns) / 1e9;
	return json_pack("{s:s,s:I,s:s,s:s,s:s,s:s,s:i,s:I,s:f}",
		"name", a->name ? a->name : "", "pid", (json_int_t)getpid(),
		"engine", a->running_engine[0] ? a->running_engine : a->run.engine_name,
		"mode", cli_mode_name(a->run.mode), "guest", cfg->iface == GUEST_FULL ? "full" : "para",
		"state", state_name(a->state), "vcpus", (int)cfg->ncpus,
		"mem_size_mib", (json_int_t)(cfg->mem_size >> 20), "uptime_s", up);
}

static void do_action(struct api *a, json_t *j, struct api_reply *out)
{
	char type[32] = "", msg[512];
	struct err e = { "" };
	const struct field f[] = { { "action_type", F_STR, true, type, sizeof(type), NULL } };
	if (parse_fields(j, "actions", f, 1, msg, sizeof(msg)))
		return fault(out, 400, "%s", msg);
	int r;
	if (strcmp(type, "InstanceStart") == 0) {
		if (a->state != API_NOT_STARTED)
			return fault(out, 400, "InstanceStart: the VM is already running");
		if (!a->run.cfg.kernel_path && a->run.cfg.ndisks == 0)
			return fault(out, 400, "InstanceStart: no boot source (PUT /boot-source, or a "
			             "drive for the firmware to boot)");
		if ((r = api_finish_config(a, &e)) || (r = a->ops->start(a->ctx, &e)))
			return fault(out, 400, "InstanceStart: %s", e.msg);
		api_set_state(a, API_RUNNING);
	} else if (strcmp(type, "SendCtrlAltDel") == 0) {
		if (a->state == API_NOT_STARTED)
			return fault(out, 400, "SendCtrlAltDel: the VM is not running");
		if (a->ops->ctrl_alt_del(a->ctx, &e))
			return fault(out, 400, "SendCtrlAltDel: %s", e.msg);
	} else if (strcmp(type, "FlushMetrics") == 0) {
		return fault(out, 400, "FlushMetrics: no metrics are configured (GET /trivisor/stats "
		             "has the counters)");
	} else if (strcmp(type, "Stop") == 0) {    /* trivisor's own */
		if (a->state == API_NOT_STARTED)
			return fault(out, 400, "Stop: the VM is not running");
		if (a->ops->stop(a->ctx, &e))
			return fault(out, 400, "Stop: %s", e.msg);
	} else {
		return fault(out, 400, "actions: unknown action_type '%s' (InstanceStart, "
		             "SendCtrlAltDel, Stop)", type);
	}
	out->status = 204;
}

static void do_vm_state(struct api *a, json_t *j, struct api_reply *out)
{
	char state[16] = "", msg[512];
	struct err e = { "" };
	const struct field f[] = { { "state", F_STR, true, state, sizeof(state), NULL } };
	if (parse_fields(j, "vm", f, 1, msg, sizeof(msg)))
		return fault(out, 400, "%s", msg);
	bool pause = strcmp(state, "Paused") == 0;
	if (!pause && strcmp(state, "Resumed") != 0)
		return fault(out, 400, "vm: state must be Paused or Resumed");
	if (a->state == API_NOT_STARTED)
		return fault(out, 400, "vm: the VM is not running");
	if (pause && a->state == API_RUNNING) {
		if (a->ops->pause(a->ctx, &e))
			return fault(out, 400, "vm: %s", e.msg);
		api_set_state(a, API_PAUSED);
	} else if (!pause && a->state == API_PAUSED) {
		if (a->ops->resume(a->ctx, &e))
			return fault(out, 400, "vm: %s", e.msg);
		api_set_state(a, API_RUNNING);
	}
	out->status = 204;
}

static void do_snapshot_create(struct api *a, json_t *j, struct api_reply *out)
{
	char state[API_PATH_MAX] = "", mem[API_PATH_MAX] = "", type[16] = "", ver[32], msg[512];
	bool has_type, has_ver;
	struct err e = { "" };
	const struct field f[] = {
		{ "snapshot_path", F_STR, true, state, sizeof(state), NULL },
		{ "mem_file_path", F_STR, true, mem, sizeof(mem), NULL },
		{ "snapshot_type", F_STR, false, type, sizeof(type), &has_type },
		{ "version", F_STR, false, ver, sizeof(ver), &has_ver },
	};
	if (parse_fields(j, "snapshot/create", f, 4, msg, sizeof(msg)))
		return fault(out, 400, "%s", msg);
	if (has_type && strcmp(type, "Full") != 0)
		return fault(out, 400, "snapshot/create: snapshot_type '%s' is not supported (Full)", type);
	if (!state[0] || !mem[0])
		return fault(out, 400, "snapshot/create: empty path");
	if (a->state != API_PAUSED)
		return fault(out, 400, "snapshot/create: pause the VM first (PATCH /vm {\"state\": "
		             "\"Paused\"})");
	if (a->ops->snapshot(a->ctx, state, mem, &e))
		return fault(out, 400, "snapshot/create: %s", e.msg);
	out->status = 204;
}

static void do_snapshot_load(struct api *a, json_t *j, struct api_reply *out)
{
	char state[API_PATH_MAX] = "", mem[API_PATH_MAX] = "", btype[16] = "", msg[512];
	char bpath[API_PATH_MAX] = "";
	bool resume = false, diff = false, has_mem, has_backend;
	json_t *backend = NULL;
	struct err e = { "" };
	const struct field f[] = {
		{ "snapshot_path", F_STR, true, state, sizeof(state), NULL },
		{ "mem_file_path", F_STR, false, mem, sizeof(mem), &has_mem },
		{ "mem_backend", F_OBJ, false, &backend, 0, &has_backend },
		{ "enable_diff_snapshots", F_BOOL, false, &diff, 0, NULL },
		{ "resume_vm", F_BOOL, false, &resume, 0, NULL },
	};
	if (parse_fields(j, "snapshot/load", f, 5, msg, sizeof(msg)))
		return fault(out, 400, "%s", msg);
	if (has_mem == has_backend)
		return fault(out, 400, "snapshot/load: give exactly one of mem_file_path and mem_backend");
	if (has_backend) {
		const struct field b[] = {
			{ "backend_type", F_STR, true, btype, sizeof(btype), NULL },
			{ "backend_path", F_STR, true, bpath, sizeof(bpath), NULL },
		};
		if (parse_fields(backend, "snapshot/load: mem_backend", b, 2, msg, sizeof(msg)))
			return fault(out, 400, "%s", msg);
		if (strcmp(btype, "File") != 0)
			return fault(out, 400, "snapshot/load: mem_backend type '%s' is not supported "
			             "(File)", btype);
		strcpy(mem, bpath);
	}
	if (diff)
		return fault(out, 400, "snapshot/load: diff snapshots are not supported");
	if (!state[0] || !mem[0])
		return fault(out, 400, "snapshot/load: empty path");
	if (a->state != API_NOT_STARTED)
		return fault(out, 400, "snapshot/load: the VM is already running (load into a new "
		             "trivisor process)");
	if (a->ops->load(a->ctx, state, mem, resume, &e))
		return fault(out, 400, "snapshot/load: %s", e.msg);
	api_set_state(a, resume ? API_RUNNING : API_PAUSED);
	out->status = 204;
}

/* "/drives/ID" -> ID, if path starts with prefix and ID is a plain name. */
static const char *path_id(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(path, prefix, n) != 0)
		return NULL;
	const char *id = path + n;
	size_t len = strlen(id);
	if (len == 0 || len >= 64)
		return NULL;
	for (const char *c = id; *c; c++)
		if (!(isalnum((unsigned char)*c) || *c == '_' || *c == '-'))
			return NULL;
	return id;
}

void api_dispatch(struct api *a, const char *method, const char *path, const char *body,
                  size_t len, struct api_reply *out)
{
	char msg[512];
	out->status = 400;
	out->body = NULL;
	bool get = strcmp(method, "GET") == 0, put = strcmp(method, "PUT") == 0,
	     patch = strcmp(method, "PATCH") == 0;
	const char *id;

	pthread_mutex_lock(&a->lock);
	if (get) {
		if (strcmp(path, "/") == 0)
			reply_json(out, 200, json_pack("{s:s,s:s,s:s,s:s}", "id", a->name ? a->name : "anonymous-instance",
			           "state", state_name(a->state), "vmm_version", TRIVISOR_VERSION,
			           "app_name", "trivisor"));
		else if (strcmp(path, "/vm/config") == 0)
			reply_json(out, 200, config_json(a));
		else if (strcmp(path, "/machine-config") == 0) {
			json_t *c = config_json(a);
			reply_json(out, 200, json_incref(json_object_get(c, "machine-config")));
			json_decref(c);
		}
		else if (strcmp(path, "/version") == 0)
			reply_json(out, 200, json_pack("{s:s}", "firecracker_version", TRIVISOR_VERSION));
		else if (strcmp(path, "/trivisor") == 0)
			reply_json(out, 200, trivisor_info(a));
		else if (strcmp(path, "/trivisor/stats") == 0) {
			char *s = a->state == API_NOT_STARTED ? NULL : a->ops->stats_json(a->ctx);
			if (s) {
				out->status = 200;
				out->body = s;
			} else {
				fault(out, 400, "the VM is not running");
			}
		} else
			fault(out, 400, "invalid request method and/or path: GET %.200s", path);
		pthread_mutex_unlock(&a->lock);
		return;
	}
	if (!put && !patch) {
		fault(out, 400, "invalid request method and/or path: %.16s %.200s", method, path);
		pthread_mutex_unlock(&a->lock);
		return;
	}

	json_t *j = parse_body(body, len, msg, sizeof(msg));
	if (!j) {
		fault(out, 400, "%s", msg);
		pthread_mutex_unlock(&a->lock);
		return;
	}
	bool config = (put && (!strcmp(path, "/boot-source") || !strcmp(path, "/machine-config") ||
	                       path_id(path, "/drives/") || path_id(path, "/network-interfaces/") ||
	                       !strcmp(path, "/trivisor/config"))) ||
	              (patch && !strcmp(path, "/machine-config"));
	if (config && a->state != API_NOT_STARTED) {
		fault(out, 400, "%s: the VM has started; this can only be set before InstanceStart",
		      path);
	} else if (config) {
		int r;
		if (!strcmp(path, "/boot-source"))
			r = set_boot_source(a, j, msg, sizeof(msg));
		else if (!strcmp(path, "/machine-config"))
			r = set_machine_config(a, j, patch, msg, sizeof(msg));
		else if ((id = path_id(path, "/drives/")))
			r = set_drive(a, id, j, msg, sizeof(msg));
		else if ((id = path_id(path, "/network-interfaces/")))
			r = set_net(a, id, j, msg, sizeof(msg));
		else
			r = set_trivisor(a, j, msg, sizeof(msg));
		if (r)
			fault(out, 400, "%s", msg);
		else
			out->status = 204;
	} else if (put && !strcmp(path, "/actions")) {
		do_action(a, j, out);
	} else if (patch && !strcmp(path, "/vm")) {
		do_vm_state(a, j, out);
	} else if (put && !strcmp(path, "/snapshot/create")) {
		do_snapshot_create(a, j, out);
	} else if (put && !strcmp(path, "/snapshot/load")) {
		do_snapshot_load(a, j, out);
	} else {
		fault(out, 400, "invalid request method and/or path: %s %.200s", method, path);
	}
	json_decref(j);
	pthread_mutex_unlock(&a->lock);
}

void api_init(struct api *a, const struct cli *run, const struct api_ops *ops, void *ctx)
{
	memset(a, 0, sizeof(*a));
	a->ops = ops;
	a->ctx = ctx;
	a->run = *run;
	pthread_mutex_init(&a->lock, NULL);
}

void api_destroy(struct api *a)
{
	pthread_mutex_destroy(&a->lock);
}
