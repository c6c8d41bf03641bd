/* Option parsing: defaults, sizes, counts, errors. */
#include "check.h"
#include "cli.h"
#include "host/seccomp.h"
#include "hw/virtio/devices.h"

#include <arpa/inet.h>

#define ARGV(...) ((char *[]){ "trivisor", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "trivisor", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(cli, e, ...) cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (cli), (e))

int main(void)
{
	struct cli c;
	struct err e;
	uint64_t sz;

	CHECK_EQ(cli_parse_size("512", &sz), 0);
	CHECK_EQ(sz, 512ull << 20);
	CHECK_EQ(cli_parse_size("2G", &sz), 0);
	CHECK_EQ(sz, 2ull << 30);
	CHECK_EQ(cli_parse_size("64MiB", &sz), 0);
	CHECK_EQ(sz, 64ull << 20);
	CHECK_EQ(cli_parse_size("4k", &sz), 0);
	CHECK_EQ(sz, 4096);
	CHECK(cli_parse_size("", &sz) < 0);
	CHECK(cli_parse_size("-1", &sz) < 0);
	CHECK(cli_parse_size("12X", &sz) < 0);
	CHECK(cli_parse_size("1Gfoo", &sz) < 0);
	CHECK(cli_parse_size("99999999999999999999", &sz) < 0);
	CHECK(cli_parse_size("17179869184T", &sz) < 0); /* overflows 64 bits */

	CHECK_EQ(PARSE(&c, &e, "run", "--kernel", "k"), 0);
	CHECK_EQ(c.cmd, CLI_RUN);
	CHECK_STR(c.cfg.kernel_path, "k");
	CHECK_EQ(c.cfg.mem_size, CLI_DEFAULT_MEM);
	CHECK_EQ(c.cfg.ncpus, 1);
	CHECK_STR(c.engine_name, "auto");
	CHECK_EQ(c.cfg.iface, GUEST_PARA);
	CHECK(c.cfg.initrd_path == NULL);

	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--initrd", "i", "--append", "console=ttyS0 quiet",
	               "--mem", "1G", "--cpus", "2", "--engine", "kvm", "--guest", "full", "--stats", "-vv"), 0);
	CHECK_STR(c.cfg.initrd_path, "i");
	CHECK_STR(c.cfg.append, "console=ttyS0 quiet");
	CHECK_EQ(c.cfg.mem_size, 1ull << 30);
	CHECK_EQ(c.cfg.ncpus, 2);
	CHECK_STR(c.engine_name, "kvm");
	CHECK_EQ(c.cfg.iface, GUEST_FULL);
	CHECK(c.cfg.stats);
	CHECK_EQ(c.verbosity, 2);
	CHECK(c.stats_json == NULL);
	CHECK_EQ(c.no_seccomp, !VMM_SECCOMP_DEFAULT);   /* on unless --no-seccomp (or ASan) */

	/* --stats-json PATH: long form only, needs a value */
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--stats-json", "out.json"), 0);
	CHECK_STR(c.stats_json, "out.json");
	CHECK(!c.cfg.stats);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--stats-json=-", "-s"), 0);
	CHECK_STR(c.stats_json, "-");
	CHECK(c.cfg.stats);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--no-seccomp"), 0);
	CHECK(c.no_seccomp);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--no-seccomp=1") < 0);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--stats-json") < 0);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "-J", "x") < 0);

	/* --disk PATH[,ro], repeatable */
	CHECK_EQ(c.cfg.ndisks, 0);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--disk", "a.img", "-d", "/x/b.img,ro",
	               "--disk", "c,rw"), 0);
	CHECK_EQ(c.cfg.ndisks, 3);
	CHECK_STR(c.cfg.disks[0].path, "a.img");
	CHECK(!c.cfg.disks[0].read_only);
	CHECK_STR(c.cfg.disks[1].path, "/x/b.img");
	CHECK(c.cfg.disks[1].read_only);
	CHECK_STR(c.cfg.disks[2].path, "c");
	CHECK(!c.cfg.disks[2].read_only);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--disk", "a,bogus") < 0);
	CHECK(strstr(e.msg, "unknown option 'bogus'") != NULL);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--disk", ",ro") < 0);
	CHECK(strstr(e.msg, "missing image path") != NULL);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--disk") < 0);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "-d", "1", "-d", "2", "-d", "3", "-d", "4", "-d", "5",
	            "-d", "6", "-d", "7", "-d", "8", "-d", "9") < 0);
	CHECK(strstr(e.msg, "too many --disk") != NULL);

	/* --rng, --console, --net, --mac */
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k"), 0);
	CHECK(!c.cfg.rng);
	CHECK_EQ(c.cfg.console, VM_CONSOLE_SERIAL);
	CHECK_EQ(c.cfg.net.backend, VM_NET_NONE);
	CHECK(memcmp(c.cfg.net.mac, "\x52\x54\x00\x12\x34\x56", 6) == 0);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--rng", "--console", "virtio"), 0);
	CHECK(c.cfg.rng);
	CHECK_EQ(c.cfg.console, VM_CONSOLE_VIRTIO);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--console", "hvc") < 0);
	CHECK(strstr(e.msg, "serial or virtio") != NULL);
	/* --soft-tier: the translator unless asked otherwise */
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k"), 0);
	CHECK_EQ(c.cfg.soft_tier, VM_SOFT_TRANSLATE);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--soft-tier", "interpret"), 0);
	CHECK_EQ(c.cfg.soft_tier, VM_SOFT_INTERPRET);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--soft-tier=translate"), 0);
	CHECK_EQ(c.cfg.soft_tier, VM_SOFT_TRANSLATE);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--soft-tier", "direct"), 0);
	CHECK_EQ(c.cfg.soft_tier, VM_SOFT_DIRECT);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--soft-tier", "jit") < 0);
	CHECK(strstr(e.msg, "translate, interpret or direct") != NULL);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--net", "user", "--mac", "02:00:0a:0B:0c:ff"), 0);
	CHECK_EQ(c.cfg.net.backend, VM_NET_USER);
	CHECK_EQ(c.cfg.net.nfwd, 0);
	CHECK(memcmp(c.cfg.net.mac, "\x02\x00\x0a\x0b\x0c\xff", 6) == 0);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--net",
	               "user,hostfwd=tcp::8080-:80,mac=52:54:00:00:00:01,hostfwd=udp:127.0.0.1:53-10.0.2.16:5353"), 0);
	CHECK_EQ(c.cfg.net.nfwd, 2);
	CHECK(!c.cfg.net.fwd[0].udp);
	CHECK_EQ(c.cfg.net.fwd[0].host_addr, 0);
	CHECK_EQ(c.cfg.net.fwd[0].host_port, 8080);
	CHECK_EQ(c.cfg.net.fwd[0].guest_addr, htonl(0x0a00020f));
	CHECK_EQ(c.cfg.net.fwd[0].guest_port, 80);
	CHECK(c.cfg.net.fwd[1].udp);
	CHECK_EQ(c.cfg.net.fwd[1].host_addr, htonl(0x7f000001));
	CHECK_EQ(c.cfg.net.fwd[1].host_port, 53);
	CHECK_EQ(c.cfg.net.fwd[1].guest_addr, htonl(0x0a000210));
	CHECK_EQ(c.cfg.net.fwd[1].guest_port, 5353);
	CHECK_EQ(c.cfg.net.mac[5], 1);
	/* The form without the empty address works too. */
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--net", "user,hostfwd=tcp:2222-:22"), 0);
	CHECK_EQ(c.cfg.net.fwd[0].host_port, 2222);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--net", "tap,ifname=tap0"), 0);
	CHECK_EQ(c.cfg.net.backend, VM_NET_TAP);
	CHECK_STR(c.cfg.net.ifname, "tap0");
	const char *bad_net[] = {
		"bogus", "user,hostfwd=tcp:x-:1", "user,hostfwd=tcp::0-:80", "user,hostfwd=tcp::80-:65536",
		"user,hostfwd=sctp::1-:2", "user,hostfwd=tcp::1", "user,hostfwd=tcp:999.1.1.1:1-:2",
		"user,mac=01:00:00:00:00:01", "user,mac=52:54:00:00:00", "user,ifname=x", "tap",
		"tap,ifname=waytoolonginterfacename", "user,what",
	};
	for (unsigned i = 0; i < sizeof(bad_net) / sizeof(bad_net[0]); i++) {
		int r = PARSE(&c, &e, "run", "-k", "k", "--net", (char *)bad_net[i]);
		CHECK(r < 0);
		if (r >= 0)
			fprintf(stderr, "accepted --net %s\n", bad_net[i]);
	}
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--net", "user", "--net", "user") < 0);
	CHECK(strstr(e.msg, "only one") != NULL);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--mac", "52:54:00:00:00:0g") < 0);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--mac", "52:54:00:00:00:001") < 0);

	CHECK_EQ(PARSE(&c, &e, "--help"), 0);
	CHECK_EQ(c.cmd, CLI_HELP);
	CHECK_EQ(PARSE(&c, &e, "--version"), 0);
	CHECK_EQ(c.cmd, CLI_VERSION);
	CHECK_EQ(PARSE(&c, &e, "engines"), 0);
	CHECK_EQ(c.cmd, CLI_ENGINES);
	CHECK(PARSE(&c, &e, "engines", "x") < 0);
	CHECK_EQ(PARSE(&c, &e, "run", "--help"), 0);
	CHECK_EQ(c.cmd, CLI_HELP);

	/* --mode presets: engine and guest interface, in any option order. */
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k"), 0);
	CHECK_EQ(c.mode, CLI_MODE_NONE);
	CHECK_EQ(PARSE(&c, &e, "run", "--mode", "full", "-k", "k"), 0);
	CHECK_EQ(c.mode, CLI_MODE_FULL);
	CHECK_STR(c.engine_name, "soft");
	CHECK_EQ(c.cfg.iface, GUEST_FULL);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--mode=para"), 0);
	CHECK_STR(c.engine_name, "soft");
	CHECK_EQ(c.cfg.iface, GUEST_PARA);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--mode", "hw"), 0);
	CHECK_STR(c.engine_name, "kvm");
	CHECK_EQ(c.cfg.iface, GUEST_PARA);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--guest", "full", "--mode", "hw"), 0);
	CHECK_STR(c.engine_name, "kvm");
	CHECK_EQ(c.cfg.iface, GUEST_FULL);
	/* Agreeing --engine/--guest (and --engine auto) are accepted. */
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--mode", "full", "--engine", "soft",
	               "--guest", "full"), 0);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--engine", "auto", "--mode", "hw"), 0);
	CHECK_STR(c.engine_name, "kvm");
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--mode", "para", "--guest", "para", "-e", "soft"), 0);
	/* Virtio devices: refused under full, allowed under para and hw. */
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--mode", "para", "--disk", "d.img", "--rng",
	               "--net", "user", "--console", "virtio"), 0);
	CHECK_EQ(c.cfg.ndisks, 1);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--mode", "hw", "--disk", "d.img", "--rng"), 0);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--mode", "full", "--console", "serial"), 0);
	/* Disks and the NIC: emulated under full, virtio elsewhere, unless if=/model= say. */
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--mode", "full", "--disk", "d.img", "--disk",
	               "e.img,if=virtio", "--net", "user"), 0);
	CHECK_EQ(c.cfg.disks[0].kind, VM_DEV_EMULATED);
	CHECK_EQ(c.cfg.disks[1].kind, VM_DEV_VIRTIO);
	CHECK_EQ(c.cfg.net.kind, VM_DEV_EMULATED);
	CHECK_EQ(virtio_device_count(&c.cfg), 1);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k", "--net", "user,model=virtio", "--mode", "full"), 0);
	CHECK_EQ(c.cfg.net.kind, VM_DEV_VIRTIO);
	CHECK_EQ(PARSE(&c, &e, "run", "--disk", "d.img,if=ahci,ro", "--net", "user,model=e1000",
	               "--cdrom", "x.iso"), 0);
	CHECK(c.cfg.kernel_path == NULL);                       /* a firmware boot */
	CHECK_EQ(c.cfg.disks[0].kind, VM_DEV_EMULATED);
	CHECK(c.cfg.disks[0].read_only);
	CHECK(c.cfg.disks[1].cdrom && c.cfg.disks[1].read_only);
	CHECK_EQ(c.cfg.net.kind, VM_DEV_EMULATED);
	CHECK_EQ(PARSE(&c, &e, "run", "--disk", "d.img", "--mode", "para"), 0);
	CHECK_EQ(c.cfg.disks[0].kind, VM_DEV_VIRTIO);
	CHECK(PARSE(&c, &e, "run", "--disk", "d.img,if=scsi") < 0);
	CHECK(strstr(e.msg, "if=scsi") != NULL);
	CHECK(PARSE(&c, &e, "run", "--net", "user,model=rtl8139") < 0);
	CHECK(PARSE(&c, &e, "run", "--append", "quiet") < 0);    /* no kernel to take it */
	CHECK(strstr(e.msg, "--kernel") != NULL);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--bios", "b.bin") < 0);
	CHECK(PARSE(&c, &e, "run", "--virtio-transport", "mmio") < 0);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--virtio-transport", "mmio", "--cdrom", "x.iso") < 0);
	CHECK(strstr(e.msg, "emulated") != NULL);
	CHECK_EQ(PARSE(&c, &e, "run", "--display", "text", "--screen-dump", "s.txt"), 0);
	CHECK_EQ(c.cfg.display, VM_DISPLAY_TEXT);
	CHECK_STR(c.cfg.screen_dump, "s.txt");
	CHECK(PARSE(&c, &e, "run", "--display", "sdl") < 0);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--mode", "full", "--rng") < 0);
	CHECK(strstr(e.msg, "--rng") != NULL);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--mode", "full", "--console", "virtio") < 0);
	CHECK(strstr(e.msg, "--console virtio") != NULL);
	/* Contradictions name both options. */
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--mode", "full", "--engine", "kvm") < 0);
	CHECK(strstr(e.msg, "--mode full") && strstr(e.msg, "--engine kvm"));
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--engine", "soft", "--mode", "hw") < 0);
	CHECK(strstr(e.msg, "--mode hw") && strstr(e.msg, "--engine soft"));
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--mode", "para", "--engine", "kvm") < 0);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--mode", "full", "--guest", "para") < 0);
	CHECK(strstr(e.msg, "--guest para") != NULL);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--mode", "para", "--guest", "full") < 0);
	CHECK(strstr(e.msg, "--guest full") != NULL);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--mode", "pv") < 0);
	CHECK(strstr(e.msg, "pv") != NULL);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--mode") < 0);

	/* Errors carry a message naming the problem. */
	CHECK(PARSE(&c, &e, "fly") < 0);
	CHECK(strstr(e.msg, "fly") != NULL);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--cpus", "0") < 0);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--cpus", "65") < 0);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--cpus", "two") < 0);
	CHECK(strstr(e.msg, "two") != NULL);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--mem", "1") < 0);      /* 1 MiB: too small */
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--mem", "2T") < 0);     /* too large */
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--mem", "5000B") < 0);  /* not page multiple */
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--engine", "qemu") < 0);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--guest", "half") < 0);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "--bogus") < 0);
	CHECK(strstr(e.msg, "--bogus") != NULL);
	CHECK(PARSE(&c, &e, "run", "-k", "k", "extra") < 0);
	CHECK(strstr(e.msg, "extra") != NULL);
	CHECK(PARSE(&c, &e, "run", "--kernel") < 0);

	/* --restore STATE,mem=MEM resumes a snapshot's machine: what would shape another one
	 * is refused; --snapshot names where Ctrl-A w writes. */
	CHECK_EQ(PARSE(&c, &e, "run", "--restore", "a.state,mem=a.mem", "--engine", "soft",
	               "--stats", "--snapshot", "b,mem=x,mem=b.mem"), 0);
	CHECK_STR(c.restore_state, "a.state");
	CHECK_STR(c.restore_mem, "a.mem");
	CHECK_STR(c.cfg.snapshot_state, "b,mem=x");    /* the last ",mem=" splits */
	CHECK_STR(c.cfg.snapshot_mem, "b.mem");
	CHECK(c.cfg.stats);
	CHECK_EQ(PARSE(&c, &e, "run", "-k", "k"), 0);
	CHECK(!c.restore_state[0] && c.cfg.snapshot_state == NULL);
	CHECK(PARSE(&c, &e, "run", "--restore", "a.state") < 0 && strstr(e.msg, "STATE,mem=MEM"));
	CHECK(PARSE(&c, &e, "run", "--restore", ",mem=a.mem") < 0);
	CHECK(PARSE(&c, &e, "run", "--restore", "a,mem=") < 0);
	CHECK(PARSE(&c, &e, "run", "--restore", "a,mem=a") < 0 && strstr(e.msg, "differ"));
	CHECK(PARSE(&c, &e, "run", "--restore", "a,mem=b", "--mem", "1G") < 0 &&
	      strstr(e.msg, "--mem"));
	CHECK(PARSE(&c, &e, "run", "--disk", "x.img", "--restore", "a,mem=b") < 0 &&
	      strstr(e.msg, "--disk"));
	CHECK(PARSE(&c, &e, "run", "--restore", "a,mem=b", "-k", "k") < 0 &&
	      strstr(e.msg, "--kernel"));
	CHECK(PARSE(&c, &e, "run", "--restore", "a,mem=b", "--cpus", "2") < 0);
	CHECK(PARSE(&c, &e, "run", "--restore", "a,mem=b", "--net", "user") < 0);
	CHECK(PARSE(&c, &e, "run", "--snapshot", "s") < 0);
	CHECK_EQ(PARSE(&c, &e, "run", "--restore", "a.state,mem=a.mem,lazy"), 0);
	CHECK(c.cfg.restore_lazy);
	CHECK_STR(c.restore_mem, "a.mem");
	CHECK_EQ(PARSE(&c, &e, "run", "--restore", "a.state,mem=a.mem"), 0);
	CHECK(!c.cfg.restore_lazy);
	return check_done();
}
