/* The control API's request handling (src/api/api.c) as a client on the socket drives
 * it: any method, path and body, in any order, before and after the VM starts; and the
 * --config-file document. The front end's actions (start, pause, snapshot, ...) are
 * recorded, not performed: what is under test is the parsing, validation and state
 * keeping, and each action may succeed or fail as the input says.
 *
 * Invariants after every request: the status is 200, 204 or 400; a 200 carries a JSON
 * document, a 400 a JSON object with a "fault_message" string; the state only moves as
 * the actions allow (no pause before a start, no configuration after it); the
 * configuration stays within the limits a command line could give (vCPUs, memory,
 * disks, strings terminated).
 *
 * Input: requests until it ends, each:
 *   u8 method (GET PUT PATCH DELETE), u8 path (an index into PATHS, or the last: the
 *   path from the input), u8 action outcome (bit 0: the front end's action fails),
 *   u16 n, then n bytes of body (for the input path: the path, a NUL, then the body).
 * A first byte 0xff makes the whole rest of the input a --config-file document. */
#include "fuzz.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static const char *const PATHS[] = {
	"/", "/vm/config", "/machine-config", "/version", "/trivisor", "/trivisor/stats",
	"/boot-source", "/drives/rootfs", "/drives/data", "/network-interfaces/eth0",
	"/trivisor/config", "/actions", "/vm", "/snapshot/create", "/snapshot/load",
};
#define NPATHS (sizeof(PATHS) / sizeof(PATHS[0]))

static unsigned long requests, ok, refused, starts, loads, pauses, resumes, snapshots,
	actions, configs_ok, configs_refused;
static bool fail_next;

static void stats(FILE *out)
{
	fprintf(out, " requests=%lu ok=%lu refused=%lu starts=%lu loads=%lu pauses=%lu "
	        "resumes=%lu snapshots=%lu actions=%lu configs_ok=%lu configs_refused=%lu",
	        requests, ok, refused, starts, loads, pauses, resumes, snapshots, actions,
	        configs_ok, configs_refused);
}

static int outcome(unsigned long *counter, struct err *e)
{
	(*counter)++;
	return fail_next ? err_set(e, EIO, "the action failed") : 0;
}

static int op_start(void *ctx, struct err *e) { return outcome(&starts, e); }
static int op_pause(void *ctx, struct err *e) { return outcome(&pauses, e); }
static int op_resume(void *ctx, struct err *e) { return outcome(&resumes, e); }
static int op_cad(void *ctx, struct err *e) { return outcome(&actions, e); }
static int op_stop(void *ctx, struct err *e) { return outcome(&actions, e); }

static int op_load(void *ctx, const char *state, const char *mem, bool resume, struct err *e)
{
	if (!state[0] || !mem[0])
		fuzz_fail("snapshot load with an empty path");
	return outcome(&loads, e);
}

static int op_snapshot(void *ctx, const char *state, const char *mem, struct err *e)
{
	if (!state[0] || !mem[0])
		fuzz_fail("snapshot create with an empty path");
	return outcome(&snapshots, e);
}

static char *op_stats(void *ctx)
{
	return fail_next ? NULL : strdup("{\"engine\": \"soft\"}");
}

static const struct api_ops ops = {
	.start = op_start, .load = op_load, .pause = op_pause, .resume = op_resume,
	.snapshot = op_snapshot, .ctrl_alt_del = op_cad, .stop = op_stop, .stats_json = op_stats,
};

static bool terminated(const char *s, size_t n)
{
	return s == NULL || memchr(s, '\0', n) != NULL;
}

static void check_config(const struct api *a)
{
	const struct vm_config *c = &a->run.cfg;
	if (c->ncpus < 1 || c->ncpus > VM_MAX_CPUS)
		fuzz_fail("vcpus %u", c->ncpus);
	if (c->mem_size < CLI_MIN_MEM || c->mem_size > CLI_MAX_MEM)
		fuzz_fail("memory %llu", (unsigned long long)c->mem_size);
	if (c->ndisks > VM_MAX_DISKS)
		fuzz_fail("%u disks", c->ndisks);
	for (unsigned i = 0; i < c->ndisks; i++)
		if (!terminated(c->disks[i].path, sizeof(c->disks[i].path)) || !c->disks[i].path[0])
			fuzz_fail("disk %u path", i);
	if (!terminated(a->kernel, sizeof(a->kernel)) || !terminated(a->append, sizeof(a->append)) ||
	    !terminated(c->net.ifname, sizeof(c->net.ifname)))
		fuzz_fail("an unterminated string");
	if (c->net.backend == VM_NET_TAP && !c->net.ifname[0])
		fuzz_fail("tap without an interface name");
	if (c->net.mac[0] & 1)
		fuzz_fail("a multicast MAC");
}

static void check_reply(const struct api_reply *r)
{
	if (r->status != 200 && r->status != 204 && r->status != 400)
		fuzz_fail("status %d", r->status);
	if (r->status == 204) {
		if (r->body)
			fuzz_fail("a body with 204");
		return;
	}
	json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
	if (!j)
		fuzz_fail("status %d without a JSON body: %s", r->status, r->body ? r->body : "(none)");
	if (r->status == 400 && !json_is_string(json_object_get(j, "fault_message")))
		fuzz_fail("a 400 without fault_message: %s", r->body);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool once;
	if (!once) {
		once = true;
		fuzz_stats_at_exit(stats);
	}
	struct cli cli;
	struct err e;
	char *argv[] = { "trivisor", "run", "--api-sock", "/nonexistent", NULL };
	if (cli_parse(4, argv, &cli, &e))
		fuzz_fail("cli_parse: %s", e.msg);
	struct api a;
	api_init(&a, &cli, &ops, NULL);

	struct fz f = { data, size };
	if (size && data[0] == 0xff) {
		if (api_apply_config(&a, (const char *)data + 1, size - 1, &e) == 0 &&
		    api_finish_config(&a, &e) == 0)
			configs_ok++;
		else
			configs_refused++;
		check_config(&a);
		api_destroy(&a);
		return 0;
	}
	static const char *const methods[] = { "GET", "PUT", "PATCH", "DELETE" };
	while (f.n) {
		const char *method = methods[fz_u8(&f) % 4];
		unsigned pi = fz_u8(&f) % (NPATHS + 1);
		fail_next = fz_u8(&f) & 1;
		size_t n = fz_u16(&f);
		char *buf = malloc(n + 1);
		if (!buf)
			abort();
		n = fz_bytes(&f, buf, n);
		buf[n] = '\0';
		const char *path = pi < NPATHS ? PATHS[pi] : buf;
		const char *body = buf;
		size_t blen = n;
		if (pi == NPATHS) {            /* the path, then the body after its NUL */
			size_t plen = strlen(buf);
			body = buf + (plen < n ? plen + 1 : n);
			blen = n - (size_t)(body - buf);
		}
		enum api_vm_state before = a.state;
		struct api_reply r;
		api_dispatch(&a, method, path, body, blen, &r);
		requests++;
		check_reply(&r);
		if (r.status / 100 == 2)
			ok++;
		else
			refused++;
		if (before == API_NOT_STARTED && a.state == API_PAUSED && strcmp(path, "/snapshot/load"))
			fuzz_fail("paused without having started");
		if (before != API_NOT_STARTED && a.state == API_NOT_STARTED)
			fuzz_fail("a started VM went back to not started");
		free(r.body);
		free(buf);
		check_config(&a);
	}
	api_destroy(&a);
	return 0;
}
