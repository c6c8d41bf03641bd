/* The state file of a snapshot: header, framed sections, trailer (snapshot.h), and the
 * machine's configuration as a section. Reading is for untrusted files: every length is
 * checked against what is left before it is used, every section's checksum before its
 * content is parsed. */
#include "snapshot.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hw/pc.h"

static const char magic[8] = { 'T', 'R', 'I', 'V', 'S', 'N', 'A', 'P' };
/* Where the header's mem_digest is: after the magic, format, length, version, engine,
 * RAM size, vCPUs, CPU-model CRC and memory id (snapshot_put_header checks it). */
#define HEADER_DIGEST_OFF (8 + 4 + 4 + 32 + 16 + 8 + 4 + 4 + SNAPSHOT_ID_LEN)

/* -- writing --------------------------------------------------------------------------- */

static void put_fixed_str(struct snap_writer *w, const char *s, size_t n)
{
	char b[32] = { 0 };
	size_t l = strnlen(s, n - 1);
	memcpy(b, s, l);
	snap_put_bytes(w, b, n);
}

void snapshot_put_header(struct snap_writer *w, const struct snapshot_header *h)
{
	size_t start = w->len;
	snap_put_bytes(w, magic, sizeof(magic));
	snap_put_u32(w, h->format);
	snap_put_u32(w, SNAPSHOT_HEADER_LEN);
	put_fixed_str(w, h->version, sizeof(h->version));
	put_fixed_str(w, h->engine, sizeof(h->engine));
	snap_put_u64(w, h->mem_size);
	snap_put_u32(w, h->ncpus);
	snap_put_u32(w, h->cpuid_crc);
	snap_put_bytes(w, h->mem_id, SNAPSHOT_ID_LEN);
	assert(w->oom || w->len - start == HEADER_DIGEST_OFF);
	snap_put_u64(w, h->mem_digest);
	while (!w->oom && w->len - start < SNAPSHOT_HEADER_LEN)
		snap_put_u8(w, 0);
}

size_t snapshot_section_begin(struct snap_writer *w, const char *name)
{
	size_t n = strlen(name);
	snap_put_u8(w, (uint8_t)n);
	snap_put_bytes(w, name, n);
	snap_put_u64(w, 0);      /* length and checksum: snapshot_section_end */
	snap_put_u32(w, 0);
	return w->len;
}

static void patch_le(struct snap_writer *w, size_t off, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		w->buf[off + i] = (uint8_t)(v >> (8 * i));
}

void snapshot_section_end(struct snap_writer *w, size_t start)
{
	if (w->oom)
		return;
	size_t len = w->len - start;
	patch_le(w, start - 12, len, 8);
	patch_le(w, start - 4, snap_crc32(0, w->buf + start, len), 4);
}

void snapshot_set_mem_digest(struct snap_writer *w, uint64_t digest)
{
	if (w->oom || w->len < SNAPSHOT_HEADER_LEN + 4)
		return;
	patch_le(w, HEADER_DIGEST_OFF, digest, 8);
	patch_le(w, w->len - 4, snap_crc32(0, w->buf, w->len - 4), 4);
}

void snapshot_finish(struct snap_writer *w)
{
	snapshot_section_end(w, snapshot_section_begin(w, "end"));
	if (!w->oom)
		snap_put_u32(w, snap_crc32(0, w->buf, w->len));
}

/* -- reading --------------------------------------------------------------------------- */

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == ':';
}

/* A fixed-width, NUL-padded text field: printable, terminated. */
static bool get_fixed_str(const uint8_t *p, size_t n, char *out)
{
	size_t l = strnlen((const char *)p, n);
	if (l == n)
		return false;
	for (size_t i = 0; i < l; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	memcpy(out, p, l);
	out[l] = '\0';
	return true;
}

int snapshot_parse(struct snapshot_in *in, const void *buf, size_t len, const char *what,
                   struct err *e)
{
	const uint8_t *b = buf;
	memset(in, 0, sizeof(*in));
	in->what = what;
	in->buf = NULL;
	in->len = len;

	if (len < sizeof(magic) || memcmp(b, magic, sizeof(magic)) != 0)
		return err_set(e, EINVAL, "%s is not a trivisor snapshot state file", what);
	if (len < SNAPSHOT_HEADER_LEN + 4)
		return err_set(e, EINVAL, "%s is truncated (%zu bytes: not even a header)", what, len);
	struct snapshot_header *h = &in->h;
	h->format = (uint32_t)le(b + 8, 4);
	bool version_ok = get_fixed_str(b + 16, sizeof(h->version), h->version);
	if (h->format != SNAPSHOT_FORMAT_VERSION)
		return err_set(e, EINVAL, "%s has snapshot format version %u (written by trivisor %s); "
		               "this trivisor (%s) reads version %u only", what, h->format,
		               version_ok ? h->version : "?", TRIVISOR_VERSION, SNAPSHOT_FORMAT_VERSION);
	if (le(b + 12, 4) != SNAPSHOT_HEADER_LEN || !version_ok ||
	    !get_fixed_str(b + 48, sizeof(h->engine), h->engine))
		return err_set(e, EINVAL, "%s: the header is corrupted", what);
	h->mem_size = le(b + 64, 8);
	h->ncpus = (uint32_t)le(b + 72, 4);
	h->cpuid_crc = (uint32_t)le(b + 76, 4);
	memcpy(h->mem_id, b + 80, SNAPSHOT_ID_LEN);
	h->mem_digest = le(b + 96, 8);

	/* Sections up to "end", then exactly the trailer. */
	size_t off = SNAPSHOT_HEADER_LEN, end = len - 4;
	for (;;) {
		if (off >= end)
			return err_set(e, EINVAL, "%s is truncated (%zu bytes): its sections end without "
			               "the 'end' section", what, len);
		unsigned n = b[off];
		if (n == 0 || n >= SNAPSHOT_NAME_MAX)
			return err_set(e, EINVAL, "%s: a section at byte %zu has a bad name length (%u): "
			               "the file is corrupted", what, off, n);
		if (n + 12 > end - off - 1)
			return err_set(e, EINVAL, "%s is truncated (%zu bytes) in a section header at "
			               "byte %zu", what, len, off);
		char name[SNAPSHOT_NAME_MAX];
		memcpy(name, b + off + 1, n);
		name[n] = '\0';
		for (unsigned i = 0; i < n; i++)
			if (!name_char(name[i]))
				return err_set(e, EINVAL, "%s: a section at byte %zu has a bad name: the "
				               "file is corrupted", what, off);
		uint64_t plen = le(b + off + 1 + n, 8);
		uint32_t crc = (uint32_t)le(b + off + 1 + n + 8, 4);
		off += 1 + n + 12;
		if (plen > end - off)
			return err_set(e, EINVAL, "%s is truncated (%zu bytes): section '%s' needs %llu "
			               "bytes from byte %zu", what, len, name, (unsigned long long)plen, off);
		if (snap_crc32(0, b + off, plen) != crc)
			return err_set(e, EINVAL, "%s: section '%s' is corrupted (checksum mismatch)",
			               what, name);
		for (unsigned i = 0; i < in->nsec; i++)
			if (strcmp(in->sec[i].name, name) == 0)
				return err_set(e, EINVAL, "%s: section '%s' appears twice", what, name);
		if (strcmp(name, "end") == 0) {
			if (plen != 0)
				return err_set(e, EINVAL, "%s: the 'end' section is not empty", what);
			off += plen;
			break;
		}
		if (in->nsec == SNAPSHOT_MAX_SECTIONS)
			return err_set(e, EINVAL, "%s: more than %d sections", what, SNAPSHOT_MAX_SECTIONS);
		struct snapshot_section *s = &in->sec[in->nsec++];
		memcpy(s->name, name, n + 1);
		s->data = b + off;
		s->len = (size_t)plen;
		off += (size_t)plen;
	}
	if (off != end)
		return err_set(e, EINVAL, "%s: %zu unexpected bytes after the 'end' section", what,
		               end - off);
	if (snap_crc32(0, b, end) != (uint32_t)le(b + end, 4))
		return err_set(e, EINVAL, "%s is corrupted (the file's checksum does not match)", what);
	return 0;
}

int snapshot_read_file(struct snapshot_in *in, const char *path, struct err *e)
{
	memset(in, 0, sizeof(*in));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, errno, "snapshot %s: %s", path, strerror(errno));
	struct stat st;
	int r = 0;
	if (fstat(fd, &st) < 0)
		r = err_set(e, errno, "snapshot %s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		r = err_set(e, EINVAL, "snapshot %s: not a regular file", path);
	else if ((uint64_t)st.st_size > SNAPSHOT_MAX_FILE)
		r = err_set(e, EFBIG, "snapshot %s: too large for a state file (%lld bytes)", path,
		            (long long)st.st_size);
	uint8_t *buf = NULL;
	size_t len = r ? 0 : (size_t)st.st_size, done = 0;
	if (r == 0 && !(buf = malloc(len ? len : 1)))
		r = err_set(e, ENOMEM, "snapshot %s: out of memory", path);
	while (r == 0 && done < len) {
		ssize_t n = read(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = err_set(e, errno, "snapshot %s: %s", path, strerror(errno));
		else if (n == 0)
			r = err_set(e, EIO, "snapshot %s: the file shrank while being read", path);
		else
			done += (size_t)n;
	}
	close(fd);
	if (r == 0)
		r = snapshot_parse(in, buf, len, path, e);
	in->buf = buf;      /* freed by snapshot_in_free, parsed or not */
	return r;
}

void snapshot_in_free(struct snapshot_in *in)
{
	free(in->buf);
	in->buf = NULL;
	in->nsec = 0;
}

static struct snapshot_section *find(const struct snapshot_in *in, const char *name)
{
	for (unsigned i = 0; i < in->nsec; i++)
		if (strcmp(in->sec[i].name, name) == 0)
			return (struct snapshot_section *)&in->sec[i];
	return NULL;
}

bool snapshot_has(const struct snapshot_in *in, const char *name)
{
	return find(in, name) != NULL;
}

int snapshot_open(struct snapshot_in *in, const char *name, struct snap_reader *r,
                  struct err *e)
{
	struct snapshot_section *s = find(in, name);
	if (!s) {
		snap_reader_init(r, NULL, 0, name, e);
		r->failed = true;
		return err_set(e, EINVAL, "%s: no section '%s': the snapshot was taken of another "
		               "machine (or by another trivisor)", in->what, name);
	}
	s->used = true;
	snap_reader_init(r, s->data, s->len, s->name, e);
	return 0;
}

int snapshot_check_used(const struct snapshot_in *in, struct err *e)
{
	for (unsigned i = 0; i < in->nsec; i++)
		if (!in->sec[i].used)
			return err_set(e, EINVAL, "%s: section '%s' belongs to nothing in this machine "
			               "(a device or an engine it does not have)", in->what,
			               in->sec[i].name);
	return 0;
}

/* -- configuration --------------------------------------------------------------------- */

void snapshot_put_config(struct snap_writer *w, const struct vm_config *cfg)
{
	snap_put_str(w, cfg->kernel_path);
	snap_put_str(w, cfg->initrd_path);
	snap_put_str(w, cfg->append);
	snap_put_str(w, cfg->bios_path);
	snap_put_u64(w, cfg->mem_size);
	snap_put_u32(w, cfg->ncpus);
	snap_put_u8(w, (uint8_t)cfg->iface);
	snap_put_u8(w, (uint8_t)cfg->ndisks);
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		const struct vm_disk_config *d = &cfg->disks[i];
		snap_put_str(w, d->path);
		snap_put_u8(w, d->read_only);
		snap_put_u8(w, (uint8_t)d->kind);
		snap_put_u8(w, d->cdrom);
	}
	snap_put_u8(w, cfg->rng);
	const struct vm_net_config *n = &cfg->net;
	snap_put_u8(w, (uint8_t)n->backend);
	snap_put_u8(w, (uint8_t)n->kind);
	snap_put_bytes(w, n->mac, 6);
	snap_put_u8(w, (uint8_t)n->nfwd);
	for (unsigned i = 0; i < n->nfwd; i++) {
		snap_put_u8(w, n->fwd[i].udp);
		snap_put_u32(w, n->fwd[i].host_addr);
		snap_put_u32(w, n->fwd[i].guest_addr);
		snap_put_u16(w, n->fwd[i].host_port);
		snap_put_u16(w, n->fwd[i].guest_port);
	}
	snap_put_str(w, n->ifname);
	snap_put_u8(w, (uint8_t)cfg->console);
	snap_put_u8(w, (uint8_t)cfg->virtio_transport);
	snap_put_u8(w, (uint8_t)cfg->boot);
	snap_put_u8(w, pc_has_vga(cfg));
	snap_put_u8(w, (uint8_t)cfg->cpu_model);
}

static const char *opt(const char *s)
{
	return s[0] ? s : NULL;
}

int snapshot_get_config(struct snap_reader *r, struct vm_config *cfg, struct snapshot_strings *s)
{
	snap_get_str(r, s->kernel, sizeof(s->kernel) - 1, "kernel path");
	snap_get_str(r, s->initrd, sizeof(s->initrd) - 1, "initrd path");
	snap_get_str(r, s->append, sizeof(s->append) - 1, "command line");
	snap_get_str(r, s->bios, sizeof(s->bios) - 1, "firmware path");
	cfg->kernel_path = opt(s->kernel);
	cfg->initrd_path = opt(s->initrd);
	cfg->append = opt(s->append);
	cfg->bios_path = opt(s->bios);
	cfg->mem_size = snap_get_u64(r);
	snap_check(r, cfg->mem_size >= (2ull << 20) && cfg->mem_size <= (1ull << 40) &&
	           cfg->mem_size % 4096 == 0, "memory size");
	cfg->ncpus = snap_get_u32(r);
	snap_check(r, cfg->ncpus >= 1 && cfg->ncpus <= VM_MAX_CPUS, "vCPU count");
	uint8_t v = snap_get_u8(r);
	snap_check(r, v == GUEST_FULL || v == GUEST_PARA, "guest interface");
	cfg->iface = (enum guest_iface)v;
	cfg->ndisks = snap_get_u8(r);
	if (!snap_check(r, cfg->ndisks <= VM_MAX_DISKS, "disk count"))
		cfg->ndisks = 0;
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		struct vm_disk_config *d = &cfg->disks[i];
		snap_get_str(r, d->path, sizeof(d->path) - 1, "disk path");
		snap_check(r, d->path[0] != '\0', "disk path");
		d->read_only = snap_get_bool(r);
		v = snap_get_u8(r);
		snap_check(r, v == VM_DEV_VIRTIO || v == VM_DEV_EMULATED, "disk kind");
		d->kind = (enum vm_dev_kind)v;
		d->cdrom = snap_get_bool(r);
		snap_check(r, !d->cdrom || (d->read_only && d->kind == VM_DEV_EMULATED), "CD-ROM");
	}
	cfg->rng = snap_get_bool(r);
	struct vm_net_config *n = &cfg->net;
	memset(n, 0, sizeof(*n));
	v = snap_get_u8(r);
	snap_check(r, v <= VM_NET_TAP, "network backend");
	n->backend = (enum vm_net_backend)v;
	v = snap_get_u8(r);
	snap_check(r, v == VM_DEV_VIRTIO || v == VM_DEV_EMULATED, "network device kind");
	n->kind = (enum vm_dev_kind)v;
	snap_get_bytes(r, n->mac, 6);
	snap_check(r, !(n->mac[0] & 1), "MAC address");
	n->nfwd = snap_get_u8(r);
	if (!snap_check(r, n->nfwd <= VM_MAX_HOSTFWD, "hostfwd count"))
		n->nfwd = 0;
	for (unsigned i = 0; i < n->nfwd; i++) {
		struct vm_hostfwd *f = &n->fwd[i];
		f->udp = snap_get_bool(r);
		f->host_addr = snap_get_u32(r);
		f->guest_addr = snap_get_u32(r);
		f->host_port = snap_get_u16(r);
		f->guest_port = snap_get_u16(r);
		snap_check(r, f->host_port && f->guest_port, "hostfwd port");
	}
	snap_get_str(r, n->ifname, sizeof(n->ifname) - 1, "TAP interface name");
	snap_check(r, n->backend != VM_NET_TAP || n->ifname[0], "TAP interface name");
	v = snap_get_u8(r);
	snap_check(r, v == VM_CONSOLE_SERIAL || v == VM_CONSOLE_VIRTIO, "console");
	cfg->console = (enum vm_console)v;
	v = snap_get_u8(r);
	snap_check(r, v == VM_VIRTIO_PCI || v == VM_VIRTIO_MMIO, "virtio transport");
	cfg->virtio_transport = (enum vm_virtio_transport)v;
	v = snap_get_u8(r);
	snap_check(r, v == VM_BOOT_DISK || v == VM_BOOT_CDROM, "boot order");
	cfg->boot = (enum vm_boot)v;
	cfg->vga = snap_get_bool(r);
	v = snap_get_u8(r);
	snap_check(r, v == VM_CPU_ENGINE || v == VM_CPU_PORTABLE, "CPU model");
	cfg->cpu_model = (enum vm_cpu_model)v;
	if (snap_end(r))
		return -EINVAL;

	/* What the command line refuses, so that the board never sees it either. */
	bool emulated = n->backend != VM_NET_NONE && n->kind == VM_DEV_EMULATED;
	for (unsigned i = 0; i < cfg->ndisks; i++)
		emulated |= cfg->disks[i].kind == VM_DEV_EMULATED;
	snap_check(r, cfg->virtio_transport == VM_VIRTIO_PCI ||
	           (cfg->kernel_path && !emulated), "virtio transport");
	snap_check(r, cfg->kernel_path || (!cfg->initrd_path && !cfg->append), "boot image");
	return snap_status(r);
}

/* -- the CPU model ----------------------------------------------------------------------- */

void snapshot_put_cpuid(struct snap_writer *w, const struct cpuid_table *t)
{
	snap_put_u32(w, t->n);
	for (unsigned i = 0; i < t->n; i++) {
		const struct cpuid_entry *c = &t->e[i];
		snap_put_u32(w, c->function);
		snap_put_u32(w, c->index);
		snap_put_u8(w, c->indexed);
		snap_put_u32(w, c->eax);
		snap_put_u32(w, c->ebx);
		snap_put_u32(w, c->ecx);
		snap_put_u32(w, c->edx);
	}
}

int snapshot_get_cpuid(struct snap_reader *r, struct cpuid_table *t)
{
	uint32_t n = snap_get_u32(r);
	t->n = 0;
	if (!snap_check(r, n <= CPUID_MAX_ENTRIES, "entry count"))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		struct cpuid_entry *c = &t->e[i];
		c->function = snap_get_u32(r);
		c->index = snap_get_u32(r);
		c->indexed = snap_get_bool(r);
		c->eax = snap_get_u32(r);
		c->ebx = snap_get_u32(r);
		c->ecx = snap_get_u32(r);
		c->edx = snap_get_u32(r);
	}
	t->n = r->failed ? 0 : n;
	return snap_end(r);
}
