#include "cli.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/seccomp.h"
#include "hw/virtio/devices.h"
#include "hw/virtio/virtio_mmio.h"

void cli_usage(FILE *f)
{
	fputs(
"Usage: trivisor run [--kernel PATH] [options]\n"
"       trivisor ls             list the running VMs that have a --name\n"
"       trivisor stop|pause|resume NAME\n"
"                               end, pause or resume the VM called NAME\n"
"       trivisor engines        list the engines and whether each can run here\n"
"       trivisor --help | --version\n"
"\n"
"Run a virtual machine. The guest's serial console (COM1) is this terminal;\n"
"on a terminal, Ctrl-A x quits, Ctrl-A r shows the vCPUs' registers, Ctrl-A s the\n"
"--stats report so far, Ctrl-A w writes a snapshot (--snapshot) and quits, and\n"
"Ctrl-A Ctrl-A sends Ctrl-A.\n"
"\n"
"Without --kernel the VM boots like a PC: the firmware (SeaBIOS) boots the first\n"
"disk or CD-ROM with a boot loader on it.\n"
"\n"
"Options for 'run':\n"
"  -k, --kernel PATH     kernel to boot directly: Linux bzImage, ELF vmlinux or multiboot\n"
"      --bios PATH       firmware for a boot without --kernel\n"
"                        (default /usr/share/seabios/bios.bin)\n"
"  -i, --initrd PATH     initial ramdisk (Linux) or the single module (multiboot)\n"
"  -a, --append STR      kernel command line\n"
"  -m, --mem SIZE        guest RAM; suffix K, M, G or T, a bare number is MiB (default 512M)\n"
"  -c, --cpus N          number of vCPUs, 1-64 (default 1)\n"
"  -e, --engine NAME     auto, kvm or soft (default auto: kvm when /dev/kvm works)\n"
"  -g, --guest IFACE     para (hypervisor CPUID leaves, KVM para-virtual ABI; default)\n"
"                        or full (the guest sees a plain PC)\n"
"      --cpu-model MODEL engine (default: the engine's own CPU: kvm the host's features,\n"
"                        soft its own at 2 GHz) or portable: the same CPU under both\n"
"                        engines of this host (what soft implements and this host's\n"
"                        KVM supports, the host TSC's rate), so that a snapshot taken\n"
"                        under one engine resumes under the other (--restore --engine)\n"
"      --mode MODE       a preset for one virtualization technique:\n"
"                        full: soft engine, --guest full, emulated devices (disks on\n"
"                          AHCI, an e1000 NIC; --rng and --console virtio refused)\n"
"                        para: soft engine, --guest para, virtio devices\n"
"                        hw:   kvm engine, --guest para (--guest full allowed)\n"
"                        --engine/--guest that contradict the mode are refused\n"
"  -d, --disk PATH[,ro][,if=virtio|ahci]\n"
"                        a disk on a raw image file or block device; ro: read-only;\n"
"                        if: virtio-blk (default; Linux: vda, vdb, ...) or a SATA\n"
"                        port of the emulated AHCI controller (default under --mode\n"
"                        full; Linux: sda, sdb, ...). Repeatable\n"
"      --cdrom ISO       an ATAPI CD-ROM drive (AHCI) holding the image ISO\n"
"      --boot disk|cdrom which the firmware tries first (default disk, then CD-ROM)\n"
"      --rng             a virtio entropy device fed by the host's getrandom\n"
"      --net user[,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT][,mac=MAC]\n"
"          [,model=virtio|e1000]\n"
"                        a network device (virtio-net by default, an Intel e1000\n"
"                        under --mode full) on user-mode networking (libslirp,\n"
"                        no privileges): network 10.0.2.0/24, DHCP gives the guest\n"
"                        10.0.2.15, the host is 10.0.2.2, DNS 10.0.2.3; hostfwd\n"
"                        forwards a host port to the guest (repeatable)\n"
"      --net tap,ifname=NAME[,mac=MAC]\n"
"                        the network device on the host's TAP interface NAME (needs\n"
"                        /dev/net/tun and the right to use NAME)\n"
"      --mac MAC         the network device's MAC address (default 52:54:00:12:34:56)\n"
"      --console KIND    serial (default: COM1, ttyS0) or virtio (virtio-console,\n"
"                        hvc0): which device this terminal's input feeds\n"
"      --virtio-transport pci|mmio\n"
"                        how every virtio device reaches the guest: virtio-pci\n"
"                        (default) or virtio-mmio (described in ACPI; at most 8)\n"
"      --soft-tier TIER  how the soft engine runs guest code: translate (default:\n"
"                        binary translation to host code, the interpreter for real\n"
"                        mode, 16-bit code and single-stepping), interpret, or\n"
"                        direct (translate, and run the guest's busy 64-bit user\n"
"                        processes natively in sandboxed helper processes)\n"
"      --display KIND    none (default) or text: the VGA's text screen drawn in this\n"
"                        terminal, whose keys go to the PS/2 keyboard (Ctrl-A x quits)\n"
"      --restore STATE,mem=MEM[,lazy]\n"
"                        resume the VM saved in these snapshot files (the machine\n"
"                        they hold: memory, vCPUs, devices, disks by their paths)\n"
"                        instead of booting one; the engine defaults to the one it\n"
"                        was taken on. Options that shape a machine are refused.\n"
"                        lazy: map the memory file instead of reading it (faster; it\n"
"                        must then stay unchanged while the VM runs)\n"
"      --snapshot STATE,mem=MEM\n"
"                        where Ctrl-A w writes a snapshot of the running VM (then\n"
"                        trivisor ends; --restore STATE,mem=MEM resumes it)\n"
"      --screen-dump PATH\n"
"                        keep the VGA's 80x25 text in PATH as plain text (updated as\n"
"                        it changes, a few times a second, and at exit)\n"
"  -s, --stats           print exits by reason and run time when the VM ends\n"
"      --stats-json PATH the same counters as JSON, written to PATH ('-': stderr)\n"
"      --no-seccomp      do not confine trivisor with its seccomp filter (for\n"
"                        debugging; by default, once the VM is set up, a system\n"
"                        call trivisor does not need kills it; sanitizer builds\n"
"                        run without it)\n"
"      --api-sock PATH   serve the control API (HTTP/JSON, Firecracker-compatible)\n"
"                        on a new Unix socket PATH (mode 0600). With no --kernel,\n"
"                        --disk, --cdrom or --config-file, the VM waits to be\n"
"                        configured and started through it\n"
"      --config-file PATH\n"
"                        configure the VM from a JSON file: the API's document\n"
"                        (\"boot-source\", \"machine-config\", \"drives\",\n"
"                        \"network-interfaces\", \"trivisor\"); other options add to it\n"
"      --name NAME       register the VM as NAME for 'trivisor ls', 'stop', 'pause'\n"
"                        and 'resume' (its API socket goes in the runtime directory:\n"
"                        $XDG_RUNTIME_DIR/trivisor, else /run/trivisor for root,\n"
"                        else /tmp/trivisor-UID)\n"
"  -v, --verbose         more log messages (repeat for debug)\n"
"\n"
"'trivisor engines' exits 0 if at least one engine can run here, else 3.\n"
"\n"
"Exit status of 'run': 0 guest powered off or rebooted (or Ctrl-A x), 1 error, 2 invalid\n"
"command line, 3 engine not available, 4 guest triple fault, 128+N killed by\n"
"signal N; a guest write of V to port 0xf4 (isa-debug-exit) exits with (V << 1) | 1.\n",
	      f);
}

int cli_parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	unsigned shift = 20;
	switch (toupper((unsigned char)*end)) {
	case '\0': shift = 20; break;
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	case 'B': shift = 0; end++; break;
	default: return -EINVAL;
	}
	if (shift && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0 || strcmp(end, "ib") == 0))
		end += strlen(end);
	if (*end)
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* --disk PATH[,OPT...]: OPT is ro, rw or if=virtio|ahci. */
static int parse_disk(const char *arg, struct cli *c, struct err *e)
{
	struct vm_config *cfg = &c->cfg;
	if (cfg->ndisks == VM_MAX_DISKS)
		return err_set(e, EINVAL, "too many --disk options (at most %d)", VM_MAX_DISKS);
	struct vm_disk_config *d = &cfg->disks[cfg->ndisks];
	size_t n = strcspn(arg, ",");
	if (n == 0)
		return err_set(e, EINVAL, "--disk '%s': missing image path", arg);
	if (n >= sizeof(d->path))
		return err_set(e, EINVAL, "--disk: path too long");
	memcpy(d->path, arg, n);
	d->path[n] = '\0';
	d->read_only = false;
	for (const char *o = arg + n; *o == ','; ) {
		o++;
		size_t m = strcspn(o, ",");
		if (m == 2 && strncmp(o, "ro", 2) == 0)
			d->read_only = true;
		else if (m == 2 && strncmp(o, "rw", 2) == 0)
			d->read_only = false;
		else if (m == 9 && strncmp(o, "if=virtio", 9) == 0)
			d->kind = VM_DEV_VIRTIO, c->kind_given |= 1u << cfg->ndisks;
		else if (m == 7 && strncmp(o, "if=ahci", 7) == 0)
			d->kind = VM_DEV_EMULATED, c->kind_given |= 1u << cfg->ndisks;
		else
			return err_set(e, EINVAL, "--disk '%s': unknown option '%.*s' (ro, rw, "
			               "if=virtio or if=ahci)", arg, (int)m, o);
		o += m;
	}
	cfg->ndisks++;
	return 0;
}

int cli_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
	           &tail) != 6 || strlen(s) != 17)
		return -EINVAL;
	if (v[0] & 1)
		return -EINVAL;     /* a multicast address cannot be a station's */
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

static int parse_port(const char *s, size_t n, uint16_t *out)
{
	unsigned long v = 0;
	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* [ADDR]:PORT or PORT (n bytes at s); an empty ADDR leaves *addr alone. */
static int parse_endpoint(const char *s, size_t n, uint32_t *addr, uint16_t *port)
{
	const char *colon = memchr(s, ':', n);
	if (!colon)
		return parse_port(s, n, port);
	size_t alen = (size_t)(colon - s);
	if (alen) {
		char a[16];
		struct in_addr ia;
		if (alen >= sizeof(a))
			return -EINVAL;
		memcpy(a, s, alen);
		a[alen] = '\0';
		if (inet_pton(AF_INET, a, &ia) != 1)
			return -EINVAL;
		*addr = ia.s_addr;
	}
	return parse_port(colon + 1, n - alen - 1, port);
}

/* hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT (n bytes at s, after
 * "hostfwd="). */
int cli_parse_hostfwd(const char *s, size_t n, struct vm_hostfwd *f)
{
	memset(f, 0, sizeof(*f));
	f->guest_addr = htonl(CLI_GUEST_ADDR);
	const char *colon = memchr(s, ':', n);
	if (!colon)
		return -EINVAL;
	size_t plen = (size_t)(colon - s);
	if (plen == 3 && strncmp(s, "udp", 3) == 0)
		f->udp = true;
	else if (!(plen == 3 && strncmp(s, "tcp", 3) == 0) && plen != 0)
		return -EINVAL;
	const char *h = colon + 1, *end = s + n;
	const char *dash = memchr(h, '-', (size_t)(end - h));
	if (!dash)
		return -EINVAL;
	if (parse_endpoint(h, (size_t)(dash - h), &f->host_addr, &f->host_port) ||
	    parse_endpoint(dash + 1, (size_t)(end - dash - 1), &f->guest_addr, &f->guest_port))
		return -EINVAL;
	return 0;
}

/* --cdrom ISO: a read-only ATAPI drive on the AHCI controller. */
static int parse_cdrom(const char *arg, struct vm_config *cfg, struct err *e)
{
	if (cfg->ndisks == VM_MAX_DISKS)
		return err_set(e, EINVAL, "too many --disk and --cdrom options (at most %d)",
		               VM_MAX_DISKS);
	struct vm_disk_config *d = &cfg->disks[cfg->ndisks];
	if (!*arg || strlen(arg) >= sizeof(d->path))
		return err_set(e, EINVAL, "--cdrom: missing or too long image path");
	strcpy(d->path, arg);
	d->read_only = d->cdrom = true;
	d->kind = VM_DEV_EMULATED;
	cfg->ndisks++;
	return 0;
}

/* --net user[,hostfwd=...][,mac=...][,model=...] | tap,ifname=NAME[,mac=...][,model=...] */
static int parse_net(const char *arg, struct cli *c, struct err *e)
{
	struct vm_net_config *net = &c->cfg.net;
	if (net->backend != VM_NET_NONE)
		return err_set(e, EINVAL, "--net: only one network device is supported");
	size_t n = strcspn(arg, ",");
	if (n == 4 && strncmp(arg, "user", 4) == 0)
		net->backend = VM_NET_USER;
	else if (n == 3 && strncmp(arg, "tap", 3) == 0)
		net->backend = VM_NET_TAP;
	else
		return err_set(e, EINVAL, "--net '%s': the backend is user or tap", arg);
	for (const char *o = arg + n; *o == ','; ) {
		o++;
		size_t m = strcspn(o, ",");
		if (m > 8 && strncmp(o, "hostfwd=", 8) == 0 && net->backend == VM_NET_USER) {
			if (net->nfwd == VM_MAX_HOSTFWD)
				return err_set(e, EINVAL, "--net: at most %d hostfwd", VM_MAX_HOSTFWD);
			if (cli_parse_hostfwd(o + 8, m - 8, &net->fwd[net->nfwd]))
				return err_set(e, EINVAL, "--net: invalid '%.*s' (hostfwd=tcp::8080-:80)",
				               (int)m, o);
			net->nfwd++;
		} else if (m > 4 && strncmp(o, "mac=", 4) == 0) {
			char mac[18];
			if (m - 4 >= sizeof(mac))
				return err_set(e, EINVAL, "--net: invalid '%.*s'", (int)m, o);
			memcpy(mac, o + 4, m - 4);
			mac[m - 4] = '\0';
			if (cli_parse_mac(mac, net->mac))
				return err_set(e, EINVAL, "--net: invalid MAC address '%s' (e.g. 52:54:00:12:34:56)", mac);
		} else if (m == 12 && strncmp(o, "model=virtio", 12) == 0) {
			net->kind = VM_DEV_VIRTIO;
			c->kind_given |= 1u << 31;
		} else if (m == 11 && strncmp(o, "model=e1000", 11) == 0) {
			net->kind = VM_DEV_EMULATED;
			c->kind_given |= 1u << 31;
		} else if (m > 7 && strncmp(o, "ifname=", 7) == 0 && net->backend == VM_NET_TAP) {
			if (m - 7 >= VM_IFNAME_MAX)
				return err_set(e, EINVAL, "--net: interface name too long");
			memcpy(net->ifname, o + 7, m - 7);
			net->ifname[m - 7] = '\0';
		} else {
			return err_set(e, EINVAL, "--net '%s': unknown option '%.*s'", arg, (int)m, o);
		}
		o += m;
	}
	if (net->backend == VM_NET_TAP && !net->ifname[0])
		return err_set(e, EINVAL, "--net tap needs ifname=NAME");
	return 0;
}

static const char *const mode_names[] = {
	[CLI_MODE_NONE] = "", [CLI_MODE_FULL] = "full", [CLI_MODE_PARA] = "para",
	[CLI_MODE_HW] = "hw",
};

const char *cli_mode_name(enum cli_mode m)
{
	return mode_names[m];
}

int cli_parse_mode(const char *s, enum cli_mode *out)
{
	for (enum cli_mode m = CLI_MODE_FULL; m <= CLI_MODE_HW; m++)
		if (strcmp(s, mode_names[m]) == 0) {
			*out = m;
			return 0;
		}
	return -EINVAL;
}

/* --mode: check what the other options asked for against the preset, then apply it.
 * engine_given/guest_given: --engine (other than auto) / --guest was on the line. */
static int apply_mode(struct cli *c, bool engine_given, bool guest_given, struct err *e)
{
	static const struct mode_preset {
		const char *name, *engine;
		enum guest_iface iface;
		bool iface_fixed, virtio;
	} modes[] = {
		[CLI_MODE_FULL] = { "full", "soft", GUEST_FULL, true, false },
		[CLI_MODE_PARA] = { "para", "soft", GUEST_PARA, true, true },
		[CLI_MODE_HW] = { "hw", "kvm", GUEST_PARA, false, true },
	};
	const struct vm_config *cfg = &c->cfg;
	const struct mode_preset *m = &modes[c->mode];

	if (engine_given && strcmp(c->engine_name, m->engine) != 0)
		return err_set(e, EINVAL, "--mode %s runs the %s engine; it contradicts --engine %s "
		               "(drop one of them)", m->name, m->engine, c->engine_name);
	if (guest_given && m->iface_fixed && cfg->iface != m->iface)
		return err_set(e, EINVAL, "--mode %s shows the guest the %s interface; it contradicts "
		               "--guest %s (drop one of them%s)", m->name,
		               m->iface == GUEST_FULL ? "full" : "para",
		               cfg->iface == GUEST_FULL ? "full" : "para",
		               c->mode == CLI_MODE_PARA ? ", or use --mode hw --guest full" : "");
	if (!m->virtio) {
		const char *opt = cfg->rng ? "--rng" : cfg->console == VM_CONSOLE_VIRTIO
		                ? "--console virtio" : NULL;
		if (opt)
			return err_set(e, EINVAL, "--mode full shows the guest emulated PC devices, and %s "
			               "is only para-virtual (virtio): use --mode para or --mode hw", opt);
		/* Disks and the NIC become emulated hardware unless if=/model= said otherwise. */
		for (unsigned i = 0; i < cfg->ndisks; i++)
			if (!(c->kind_given & (1u << i)))
				c->cfg.disks[i].kind = VM_DEV_EMULATED;
		if (!(c->kind_given & (1u << 31)))
			c->cfg.net.kind = VM_DEV_EMULATED;
	}
	c->engine_name = m->engine;
	if (!guest_given)
		c->cfg.iface = m->iface;
	return 0;
}

static int parse_count(const char *s, unsigned *out)
{
	char *end;
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > 0xffffffffu)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* STATE,mem=MEM (--restore, --snapshot): the two files, into state and mem. */
static int snapshot_files(const char *opt, const char *arg, char *state, char *mem,
                          struct err *e)
{
	const char *m = NULL;
	for (const char *p = arg; (p = strstr(p, ",mem=")); p++)
		m = p;              /* the last one: a state file's name may hold ",mem=" */
	if (!m || m == arg || !m[5])
		return err_set(e, EINVAL, "%s '%s': give the state file and the memory file as "
		               "STATE,mem=MEM", opt, arg);
	size_t n = (size_t)(m - arg);
	if (n >= VM_DISK_PATH_MAX || strlen(m + 5) >= VM_DISK_PATH_MAX)
		return err_set(e, EINVAL, "%s: path too long", opt);
	memcpy(state, arg, n);
	state[n] = '\0';
	strcpy(mem, m + 5);
	if (strcmp(state, mem) == 0)
		return err_set(e, EINVAL, "%s: the state file and the memory file must differ", opt);
	return 0;
}

/* The options that shape the machine, which a restored VM takes from its snapshot. */
static const char *machine_option(int c)
{
	static const struct { int c; const char *name; } o[] = {
		{ 'k', "--kernel" }, { 'i', "--initrd" }, { 'a', "--append" }, { 'm', "--mem" },
		{ 'c', "--cpus" }, { 'g', "--guest" }, { 'O', "--mode" }, { 'd', "--disk" },
		{ 'D', "--cdrom" }, { 'B', "--bios" }, { 'b', "--boot" }, { 'R', "--rng" },
		{ 'N', "--net" }, { 'M', "--mac" }, { 'C', "--console" },
		{ 'T', "--virtio-transport" }, { 'F', "--config-file" }, { 'U', "--cpu-model" },
	};
	for (size_t i = 0; i < sizeof(o) / sizeof(o[0]); i++)
		if (o[i].c == c)
			return o[i].name;
	return NULL;
}

int cli_parse(int argc, char **argv, struct cli *out, struct err *e)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "append", required_argument, NULL, 'a' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "engine", required_argument, NULL, 'e' },
		{ "guest", required_argument, NULL, 'g' },
		{ "cpu-model", required_argument, NULL, 'U' },  /* long only */
		{ "mode", required_argument, NULL, 'O' },  /* long only */
		{ "disk", required_argument, NULL, 'd' },
		{ "rng", no_argument, NULL, 'R' },       /* long only */
		{ "net", required_argument, NULL, 'N' }, /* long only */
		{ "mac", required_argument, NULL, 'M' }, /* long only */
		{ "console", required_argument, NULL, 'C' }, /* long only */
		{ "virtio-transport", required_argument, NULL, 'T' }, /* long only */
		{ "soft-tier", required_argument, NULL, 'S' }, /* long only */
		{ "bios", required_argument, NULL, 'B' },  /* long only */
		{ "cdrom", required_argument, NULL, 'D' }, /* long only */
		{ "boot", required_argument, NULL, 'b' },  /* long only */
		{ "display", required_argument, NULL, 'Y' }, /* long only */
		{ "screen-dump", required_argument, NULL, 'P' }, /* long only */
		{ "restore", required_argument, NULL, 'W' },     /* long only */
		{ "snapshot", required_argument, NULL, 'w' },    /* long only */
		{ "stats", no_argument, NULL, 's' },
		{ "stats-json", required_argument, NULL, 'J' }, /* long only */
		{ "no-seccomp", no_argument, NULL, 'X' },  /* long only */
		{ "api-sock", required_argument, NULL, 'A' },  /* long only */
		{ "config-file", required_argument, NULL, 'F' },  /* long only */
		{ "name", required_argument, NULL, 'n' },  /* long only */
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};

	memset(out, 0, sizeof(*out));
	out->cmd = CLI_RUN;
	out->engine_name = "auto";
	out->cfg.mem_size = CLI_DEFAULT_MEM;
	out->cfg.ncpus = 1;
	out->cfg.iface = GUEST_PARA;
	out->cfg.console_in = STDIN_FILENO;
	out->cfg.console_out = STDOUT_FILENO;
	out->no_seccomp = !VMM_SECCOMP_DEFAULT;   /* off in sanitizer builds */
	memcpy(out->cfg.net.mac, CLI_DEFAULT_MAC, 6);

	if (argc < 2)
		return err_set(e, EINVAL, "missing command (try 'trivisor run --kernel PATH')");
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		out->cmd = CLI_HELP;
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
		out->cmd = CLI_VERSION;
		return 0;
	}
	if (strcmp(cmd, "engines") == 0) {
		out->cmd = CLI_ENGINES;
		if (argc > 2)
			return err_set(e, EINVAL, "engines: unexpected argument '%s'", argv[2]);
		return 0;
	}
	if (strcmp(cmd, "ls") == 0) {
		out->cmd = CLI_LS;
		if (argc > 2)
			return err_set(e, EINVAL, "ls: unexpected argument '%s'", argv[2]);
		return 0;
	}
	static const struct { const char *name; enum cli_command cmd; } control[] = {
		{ "stop", CLI_STOP }, { "pause", CLI_PAUSE }, { "resume", CLI_RESUME },
	};
	for (size_t i = 0; i < sizeof(control) / sizeof(control[0]); i++)
		if (strcmp(cmd, control[i].name) == 0) {
			out->cmd = control[i].cmd;
			if (argc != 3)
				return err_set(e, EINVAL, "usage: trivisor %s NAME", cmd);
			if (!cli_valid_name(argv[2]))
				return err_set(e, EINVAL, "%s: invalid VM name '%s'", cmd, argv[2]);
			out->name = argv[2];
			return 0;
		}
	if (strcmp(cmd, "run") != 0)
		return err_set(e, EINVAL, "unknown command '%s'", cmd);

	optind = 1; /* getopt_long over argv[1..]: argv[1] ("run") plays argv[0]'s part */
	opterr = 0;
	int c;
	bool engine_given = false, guest_given = false;
	const char *machine_opt = NULL;
	while ((c = getopt_long(argc - 1, argv + 1, ":k:i:a:m:c:e:g:d:svhV", opts, NULL)) != -1) {
		if (!machine_opt)
			machine_opt = machine_option(c);
		switch (c) {
		case 'k': out->cfg.kernel_path = optarg; break;
		case 'i': out->cfg.initrd_path = optarg; break;
		case 'a': out->cfg.append = optarg; break;
		case 'm':
			if (cli_parse_size(optarg, &out->cfg.mem_size))
				return err_set(e, EINVAL, "invalid --mem size '%s' (e.g. 512M, 2G)", optarg);
			if (out->cfg.mem_size < CLI_MIN_MEM || out->cfg.mem_size > CLI_MAX_MEM)
				return err_set(e, EINVAL, "--mem %s is out of range (2 MiB to 1 TiB)", optarg);
			if (out->cfg.mem_size % 4096)
				return err_set(e, EINVAL, "--mem %s is not a multiple of 4 KiB", optarg);
			break;
		case 'c':
			if (parse_count(optarg, &out->cfg.ncpus) || out->cfg.ncpus < 1 ||
			    out->cfg.ncpus > VM_MAX_CPUS)
				return err_set(e, EINVAL, "invalid --cpus '%s' (1 to %d)", optarg, VM_MAX_CPUS);
			break;
		case 'e':
			if (strcmp(optarg, "auto") && strcmp(optarg, "kvm") && strcmp(optarg, "soft"))
				return err_set(e, EINVAL, "invalid --engine '%s' (auto, kvm or soft)", optarg);
			out->engine_name = optarg;
			engine_given = strcmp(optarg, "auto") != 0;
			break;
		case 'g':
			guest_given = true;
			if (strcmp(optarg, "full") == 0)
				out->cfg.iface = GUEST_FULL;
			else if (strcmp(optarg, "para") == 0)
				out->cfg.iface = GUEST_PARA;
			else
				return err_set(e, EINVAL, "invalid --guest '%s' (full or para)", optarg);
			break;
		case 'U':
			if (strcmp(optarg, "engine") == 0)
				out->cfg.cpu_model = VM_CPU_ENGINE;
			else if (strcmp(optarg, "portable") == 0)
				out->cfg.cpu_model = VM_CPU_PORTABLE;
			else
				return err_set(e, EINVAL, "invalid --cpu-model '%s' (engine or portable)",
				               optarg);
			break;
		case 'O':
			if (cli_parse_mode(optarg, &out->mode))
				return err_set(e, EINVAL, "invalid --mode '%s' (full, para or hw)", optarg);
			break;
		case 'd':
			if (parse_disk(optarg, out, e))
				return -EINVAL;
			break;
		case 'D':
			if (parse_cdrom(optarg, &out->cfg, e))
				return -EINVAL;
			break;
		case 'B': out->cfg.bios_path = optarg; break;
		case 'b':
			if (strcmp(optarg, "disk") == 0)
				out->cfg.boot = VM_BOOT_DISK;
			else if (strcmp(optarg, "cdrom") == 0)
				out->cfg.boot = VM_BOOT_CDROM;
			else
				return err_set(e, EINVAL, "invalid --boot '%s' (disk or cdrom)", optarg);
			break;
		case 'Y':
			if (strcmp(optarg, "none") == 0)
				out->cfg.display = VM_DISPLAY_NONE;
			else if (strcmp(optarg, "text") == 0)
				out->cfg.display = VM_DISPLAY_TEXT;
			else
				return err_set(e, EINVAL, "invalid --display '%s' (none or text)", optarg);
			break;
		case 'P': out->cfg.screen_dump = optarg; break;
		case 'W': {
			/* ,lazy at the end: map the memory file rather than read it. */
			size_t n = strlen(optarg);
			out->cfg.restore_lazy = n > 5 && strcmp(optarg + n - 5, ",lazy") == 0;
			char arg[2 * VM_DISK_PATH_MAX + 16];
			if (n >= sizeof(arg))
				return err_set(e, EINVAL, "--restore: path too long");
			memcpy(arg, optarg, n + 1);
			if (out->cfg.restore_lazy)
				arg[n - 5] = '\0';
			if (snapshot_files("--restore", arg, out->restore_state, out->restore_mem, e))
				return -EINVAL;
			break;
		}
		case 'w':
			if (snapshot_files("--snapshot", optarg, out->snapshot_state, out->snapshot_mem, e))
				return -EINVAL;
			out->cfg.snapshot_state = out->snapshot_state;
			out->cfg.snapshot_mem = out->snapshot_mem;
			break;
		case 'R': out->cfg.rng = true; break;
		case 'N':
			if (parse_net(optarg, out, e))
				return -EINVAL;
			break;
		case 'M':
			if (cli_parse_mac(optarg, out->cfg.net.mac))
				return err_set(e, EINVAL, "invalid --mac '%s' (e.g. 52:54:00:12:34:56)", optarg);
			break;
		case 'C':
			if (strcmp(optarg, "serial") == 0)
				out->cfg.console = VM_CONSOLE_SERIAL;
			else if (strcmp(optarg, "virtio") == 0)
				out->cfg.console = VM_CONSOLE_VIRTIO;
			else
				return err_set(e, EINVAL, "invalid --console '%s' (serial or virtio)", optarg);
			break;
		case 'T':
			if (strcmp(optarg, "pci") == 0)
				out->cfg.virtio_transport = VM_VIRTIO_PCI;
			else if (strcmp(optarg, "mmio") == 0)
				out->cfg.virtio_transport = VM_VIRTIO_MMIO;
			else
				return err_set(e, EINVAL, "invalid --virtio-transport '%s' (pci or mmio)", optarg);
			break;
		case 'S':
			if (strcmp(optarg, "translate") == 0)
				out->cfg.soft_tier = VM_SOFT_TRANSLATE;
			else if (strcmp(optarg, "interpret") == 0)
				out->cfg.soft_tier = VM_SOFT_INTERPRET;
			else if (strcmp(optarg, "direct") == 0)
				out->cfg.soft_tier = VM_SOFT_DIRECT;
			else
				return err_set(e, EINVAL, "invalid --soft-tier '%s' (translate, interpret "
				               "or direct)", optarg);
			break;
		case 's': out->cfg.stats = true; break;
		case 'J': out->stats_json = optarg; break;
		case 'X': out->no_seccomp = true; break;
		case 'A': out->api_sock = optarg; break;
		case 'F': out->config_file = optarg; break;
		case 'n':
			if (!cli_valid_name(optarg))
				return err_set(e, EINVAL, "invalid --name '%s' (1-64 letters, digits, '_', "
				               "'-' or '.', not starting with '.')", optarg);
			out->name = optarg;
			break;
		case 'v': out->verbosity++; break;
		case 'h': out->cmd = CLI_HELP; return 0;
		case 'V': out->cmd = CLI_VERSION; return 0;
		case ':':
			return err_set(e, EINVAL, "option '%s' needs a value", argv[optind]);
		default:
			return err_set(e, EINVAL, "unknown option '%s'", argv[optind]);
		}
	}
	if (optind < argc - 1)
		return err_set(e, EINVAL, "unexpected argument '%s'", argv[optind + 1]);
	if (out->restore_state[0] && machine_opt)
		return err_set(e, EINVAL, "--restore resumes the machine the snapshot holds: %s "
		               "cannot change it (drop %s)", machine_opt, machine_opt);
	return cli_check(out, engine_given, guest_given, e);
}

bool cli_valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '.')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

int cli_check(struct cli *out, bool engine_given, bool guest_given, struct err *e)
{
	if (!out->cfg.kernel_path && (out->cfg.initrd_path || out->cfg.append))
		return err_set(e, EINVAL, "--initrd and --append need --kernel (without it the "
		               "firmware boots the disk's own boot loader)");
	if (out->cfg.kernel_path && out->cfg.bios_path)
		return err_set(e, EINVAL, "--bios is for a firmware boot: drop --kernel or --bios");
	if (out->mode != CLI_MODE_NONE && apply_mode(out, engine_given, guest_given, e))
		return -EINVAL;
	if (!out->cfg.kernel_path && out->cfg.virtio_transport == VM_VIRTIO_MMIO)
		return err_set(e, EINVAL, "--virtio-transport mmio needs --kernel: the firmware "
		               "finds devices on PCI");
	bool emulated = out->cfg.net.backend != VM_NET_NONE && out->cfg.net.kind == VM_DEV_EMULATED;
	for (unsigned i = 0; i < out->cfg.ndisks; i++)
		emulated |= out->cfg.disks[i].kind == VM_DEV_EMULATED;
	/* virtio-mmio devices take GSIs 16-23 alone; PCI INTx shares 16-19. */
	if (emulated && out->cfg.virtio_transport == VM_VIRTIO_MMIO)
		return err_set(e, EINVAL, "--virtio-transport mmio cannot go with emulated devices "
		               "(AHCI, e1000: --mode full, if=ahci, model=e1000, --cdrom), whose "
		               "PCI interrupt lines its devices would share");
	if (out->cfg.display == VM_DISPLAY_TEXT && out->cfg.console == VM_CONSOLE_VIRTIO)
		return err_set(e, EINVAL, "--display text takes this terminal's keys for the "
		               "keyboard: it cannot go with --console virtio");
	if (out->cfg.virtio_transport == VM_VIRTIO_MMIO &&
	    virtio_device_count(&out->cfg) > VIRTIO_MMIO_SLOTS)
		return err_set(e, EINVAL, "--virtio-transport mmio: %u virtio devices asked for, at "
		               "most %u fit (one interrupt line each)", virtio_device_count(&out->cfg),
		               VIRTIO_MMIO_SLOTS);
	return 0;
}
