#!/usr/bin/python3
"""virtio_bench: block and network throughput from inside the stock Debian guest, under
trivisor and under QEMU TCG, on para-virtual (virtio) and on emulated (AHCI + e1000)
devices, in one run.

Every column boots the same bzImage and command line, with the same RAM and one vCPU,
and gets two disks and a network device: TOOLS, a small ext4 image holding the random-
I/O program, and SCRATCH, a raw image (both made afresh for every run), and a NIC on
user-mode networking (slirp). The virtio columns put them on virtio-pci (virtio-blk,
virtio-net) and boot the tests' initramfs with the virtio drivers
(build/guest/initramfs-virtio.cpio.gz):

    soft-interp  build/trivisor run --engine soft --soft-tier interpret ... --disk TOOLS
                 --disk SCRATCH --net user   (the soft engine's interpreter)
    soft    the same with --soft-tier translate (the binary translator, the default tier)
    kvm     build/trivisor run --engine kvm ...   (only where `trivisor engines` says so)
    qemu    qemu-system-x86_64 -M q35 -accel tcg -cpu max ... virtio-blk-pci (raw,
            cache=writeback), virtio-net-pci on -netdev user

The -emu columns (full virtualization) emulate real hardware instead: both disks on
SATA ports 0 and 1 of an Intel ICH9 AHCI controller (Linux: ahci, sd_mod; sdX) and an
Intel 82540EM (Linux: e1000), and boot the firmware tests' initramfs, which has those
drivers too (build/guest/initramfs-pc.cpio.gz, tests/nested/harness.py PC_MODULES):

    soft-emu  build/trivisor run --engine soft --soft-tier translate --guest full ...
              --disk TOOLS,if=ahci --disk SCRATCH,if=ahci --net user,model=e1000
              (--guest full: the plain PC a guest meant for real hardware sees; the
              CPU-bound cost of that alone is linux_bench's soft-full column)
    kvm-emu   the same with --engine kvm (only where `trivisor engines` says so)
    qemu-emu  qemu-system-x86_64 -M pc ... -device ahci with an ide-hd on ahci.0 and
              one on ahci.1 (raw, cache=writeback), -device e1000 on -netdev user (pc,
              the i440FX, and not q35, whose built-in AHCI would be a second one)

The guest names SATA disks as their probes finish, so sda and sdb can swap: the setup
(typed, untimed, before the workloads) links /dev/tools and /dev/scratch to the disks
on ata1 and ata2 (readlink -f /sys/block/sdX/device), or to vda and vdb, and checks
that TOOLS mounts with the program on it and SCRATCH has the scratch image's size.
Workloads, typed identically in every column's shell on the serial console (scratch
with O_DIRECT, so the guest's page cache is out of the way; the host's is in: both VMMs
do buffered I/O on the image and flush with fdatasync):
    seq write    dd if=/dev/zero of=/dev/scratch bs=1M count=N oflag=direct conv=fsync
    seq read     dd if=/dev/scratch of=/dev/null bs=1M count=N iflag=direct
    rand write   4 KiB O_DIRECT pwrites at R pseudo-random offsets within those N MiB,
                 then fsync (bench/virtio_randio.c, built static here, on TOOLS)
    rand read    4 KiB O_DIRECT preads at the same offsets
    net fetch    busybox wget of an M MiB file from an HTTP server on the host's
                 loopback, through the user-mode network's 10.0.2.2 (after udhcpc)
Times are host wall-clock times between marker lines the guest prints before and after
each command (bench/linux_bench.py's Console); the guest's emulated clock is never
trusted. The random reads' checksum and the fetched size must agree in every column.
The columns take turns (run 1 of every column, then run 2, ...), so a change in the
host's load touches them alike; ratios are between columns of the same invocation
(x/y: the median of x over that of y).

Exits (trivisor columns only; QEMU TCG has none to count). A second table counts VM
exits and the disk controller's and the NIC's register accesses, each of which is an
exit (a port I/O or MMIO access trivisor's device model handles; summed over all the
device's BARs on both buses):
    per workload  from trivisor's console stats (Ctrl-A s, the VM paused) taken just
                  before and just after each command, outside the timed span: all
                  exits, the workload's device's register accesses (disk controller:
                  ahci, or virtio-blk0 and virtio-blk1; NIC: e1000 or virtio-net), and
                  in parentheses the same per MiB or per request
    whole run     from --stats-json (a file per run, read when the VM has ended): boot
                  (where the e1000 driver reads its EEPROM bit by bit, register access
                  by register access), setup, workloads and power-off
Virtio moves requests and frames through rings in guest RAM: the driver writes one
notify register for a batch, and completions come as MSI-X messages with nothing to
read. The emulated controllers are driven through their registers: AHCI's command
issue, then the interrupt status read and acknowledged at the port and at the HBA for
completions; the e1000's tail registers per transmit or refilled receive batch, and
ICR reads, IMC/IMS writes around every interrupt (and the e1000 driver's watchdog
reads its statistics registers every two seconds). A workload's exits also count the
serial console's (the typed command's echo, its output, the markers): alike in every
column. What an exit costs depends on the engine (under soft it never leaves the vCPU's
thread; under kvm it is a VM exit and a return to trivisor's process), so the rates
need not follow the exits' ratios.

    bench/virtio_bench.py [--engines soft-interp,soft,soft-emu,kvm,kvm-emu,qemu,qemu-emu]
                          [--runs N] [--quick] [--seq-mib N] [--rand-ops N] [--net-mib N]
                          [--json PATH]
"""
import argparse
import functools
import http.server
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
# The console driver, markers and host facts are linux_bench's: one copy of each.
from linux_bench import (RunFailed, Console, host_info, parse_engines,  # noqa: E402
                         secs, tail, trivisor_engines, INTERPRET, TRANSLATE)
from tables import print_table, write_json  # noqa: E402

REPO = REPO.parent
sys.path.insert(0, str(REPO / "tests" / "nested"))
import harness  # noqa: E402  (builds the tests' initramfs images, cached)

ALL_ENGINES = ["soft-interp", "soft", "soft-emu", "kvm", "kvm-emu", "qemu", "qemu-emu"]
DEFAULT_ENGINES = ",".join(ALL_ENGINES)
# trivisor's columns: the engine and, for soft, the tier (named, so a column keeps its
# meaning if the default changes); the -emu ones with --guest full.
FULL = ["--guest", "full"]
TRIVISOR_COLUMNS = {"soft-interp": ["--engine", "soft", *INTERPRET],
                    "soft": ["--engine", "soft", *TRANSLATE],
                    "soft-emu": ["--engine", "soft", *TRANSLATE, *FULL],
                    "kvm": ["--engine", "kvm"], "kvm-emu": ["--engine", "kvm", *FULL]}
# The columns on emulated devices (AHCI disks, e1000 NIC); the others have virtio.
EMULATED = {"soft-emu", "kvm-emu", "qemu-emu"}
LABELS = {"soft-interp": "soft interpret", "soft": "soft translate",
          "soft-emu": "soft translate, AHCI+e1000", "kvm": "trivisor kvm",
          "kvm-emu": "trivisor kvm, AHCI+e1000", "qemu": "QEMU TCG",
          "qemu-emu": "QEMU TCG, AHCI+e1000"}
SHORT = {"soft-interp": "interp", "soft": "translate", "soft-emu": "translate-emu",
         "kvm": "kvm", "kvm-emu": "kvm-emu", "qemu": "qemu", "qemu-emu": "qemu-emu"}
# Emulated over virtio within one VMM (below 1 for rates: virtio faster; above 1 for
# exits: the emulated devices' extra exits), then trivisor over QEMU on each.
EMU_RATIOS = [("soft-emu", "soft"), ("kvm-emu", "kvm"), ("qemu-emu", "qemu")]
RATIOS = [("soft-interp", "soft"), ("soft-interp", "qemu"), ("soft", "qemu"), ("kvm", "qemu"),
          *EMU_RATIOS, ("soft-emu", "qemu-emu"), ("kvm-emu", "qemu-emu")]
SEED = 0x5eed
RANDIO = "virtio_randio"

# The setup's device links (see the docstring): SATA disks by their port, virtio disks
# by name (virtio-blk probes them in PCI order, one after the other).
LINK_SATA = ("for d in /sys/block/sd*; do case $(readlink -f $d/device) in "
             "*/ata1/*) ln -sf /dev/${d##*/} /dev/tools;; "
             "*/ata2/*) ln -sf /dev/${d##*/} /dev/scratch;; esac; done")
LINK_VIRTIO = "ln -sf /dev/vda /dev/tools; ln -sf /dev/vdb /dev/scratch"
SETUP = ("dmesg -n 1; {link}; mount -o ro /dev/tools /mnt && test -x /mnt/" + RANDIO +
         " && udhcpc -i eth0 -n -q -t 5 >/dev/null 2>&1 && blockdev --getsize64 /dev/scratch")

# Device models by what they are, as trivisor's stats name them (a device's BARs are
# summed: the e1000 has registers on MMIO and on port I/O, virtio-pci an MSI-X BAR).
DEVICE_KINDS = [("disk", re.compile(r"ahci|virtio-blk\d+")),
                ("nic", re.compile(r"e1000|virtio-net"))]
KIND_LABELS = {"disk": "disk controller", "nic": "NIC"}

# (key, label, unit): the unit says how a time becomes the figure shown.
FIGURES = [
    ("seq_write", "seq write, 1 MiB O_DIRECT", "MiB/s"),
    ("seq_read", "seq read, 1 MiB O_DIRECT", "MiB/s"),
    ("rand_write", "rand write, 4 KiB O_DIRECT", "IOPS"),
    ("rand_read", "rand read, 4 KiB O_DIRECT", "IOPS"),
    ("net", "net fetch (HTTP, slirp)", "MiB/s"),
]


# The device each workload drives (its register accesses are the exits table's row).
WORKLOAD_DEVICE = {"seq_write": "disk", "seq_read": "disk", "rand_write": "disk",
                   "rand_read": "disk", "net": "nic"}


def workloads(cfg):
    """(key, command, amount: MiB or requests) in the order they run."""
    r = f"/mnt/{RANDIO}"
    return [
        ("seq_write", f"dd if=/dev/zero of=/dev/scratch bs=1M count={cfg.seq_mib} "
                      "oflag=direct conv=fsync", cfg.seq_mib),
        ("seq_read", f"dd if=/dev/scratch of=/dev/null bs=1M count={cfg.seq_mib} "
                     "iflag=direct", cfg.seq_mib),
        ("rand_write", f"{r} write /dev/scratch {cfg.rand_ops} {cfg.seq_mib} {SEED}",
         cfg.rand_ops),
        ("rand_read", f"{r} read /dev/scratch {cfg.rand_ops} {cfg.seq_mib} {SEED}",
         cfg.rand_ops),
        ("net", f"wget -q -O - http://10.0.2.2:{cfg.port}/big | wc -c", cfg.net_mib),
    ]


def exit_counts(exits, interrupts, devices):
    """The figures the exits table uses, from a stats report's counters: all exits,
    interrupts injected, register accesses per kind of device, and by device name."""
    out = {"exits": exits, "interrupts": interrupts, "devices": devices}
    for kind, pattern in DEVICE_KINDS:
        out[kind] = sum(n for name, n in devices.items() if pattern.fullmatch(name))
    return out


def parse_stats_text(text):
    """exit_counts of trivisor's --stats report (stats_print in src/core/stats.c): the
    "exits: N total" line, "interrupts: N injected", and the "port I/O accesses by
    device:" and "MMIO accesses by device:" lists ("  NAME  COUNT  (0xBASE)" lines; only
    devices with accesses are listed, a name can come more than once)."""
    text = text.replace("\r", "")
    m = re.search(r"^exits:\s+(\d+) total", text, re.M)
    if not m:
        return None
    irq = re.search(r"^interrupts:\s+(\d+) injected", text, re.M)
    devices, in_list = {}, False
    for line in text.splitlines():
        if re.match(r"^(port I/O|MMIO) accesses by device:", line):
            in_list = True
            continue
        d = re.match(r"^  (\S.*?)\s+(\d+)  \(0x[0-9a-f]+\)$", line) if in_list else None
        if d:
            devices[d.group(1)] = devices.get(d.group(1), 0) + int(d.group(2))
        else:
            in_list = False
    return exit_counts(int(m.group(1)), int(irq.group(1)) if irq else 0, devices)


def parse_stats_json(doc):
    """exit_counts of trivisor's --stats-json document (stats_print_json): "exits" by
    reason, "interrupts_injected", and "pio" and "mmio" each with "devices", a list of
    {"name", "base", "accesses"} (a device once per BAR it has on that bus)."""
    devices = {}
    for bus in ("pio", "mmio"):
        for d in doc[bus]["devices"]:
            devices[d["name"]] = devices.get(d["name"], 0) + d["accesses"]
    return exit_counts(sum(doc["exits"].values()), doc.get("interrupts_injected", 0),
                       {k: v for k, v in devices.items() if v})


def counts_delta(after, before):
    out = {k: after[k] - before[k] for k in ("exits", "interrupts",
                                             *(kind for kind, _ in DEVICE_KINDS))}
    out["devices"] = {k: v - before["devices"].get(k, 0) for k, v in after["devices"].items()
                      if v != before["devices"].get(k, 0)}
    return out


def snapshot(con, timeout):
    """The counters so far, from trivisor's console (Ctrl-A s: the report is written
    to the terminal with the VM paused; the guest's shell, idle at its prompt, sees no
    input)."""
    con.child.send("\x01s")
    con.wait_for("the stats report", "[trivisor] stats so far", timeout)
    con.wait_for("the stats report's end", "[trivisor] end", timeout)
    counts = parse_stats_text(con.child.before)
    if counts is None:
        raise RunFailed(f"no exits in the stats report: {tail(con.child.before)!r}")
    return counts


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory):
    """A threaded HTTP server on 127.0.0.1 (a free port) serving directory."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                          functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def build_randio(tmp: Path) -> Path:
    out = tmp / RANDIO
    cc = os.environ.get("CC", "cc")
    p = subprocess.run([cc, "-static", "-O2", "-o", str(out), str(REPO / "bench" / f"{RANDIO}.c")],
                       capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"virtio_bench: {cc} -static failed (needs the C library's static archive, "
                 f"Debian libc6-dev):\n{p.stderr}")
    return out


def make_disks(tmp: Path, randio: Path, scratch_mib: int):
    """Fresh images for one run: (tools ext4 with the random-I/O program, raw scratch)."""
    root = tmp / "tools.d"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    shutil.copy2(randio, root / RANDIO)
    tools, scratch = tmp / "tools.img", tmp / "scratch.img"
    tools.unlink(missing_ok=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(root), str(tools), "8M"], check=True,
                   capture_output=True)
    scratch.unlink(missing_ok=True)
    with open(scratch, "wb") as f:
        f.truncate(scratch_mib << 20)
    return tools, scratch


class Column:
    def __init__(self, name, argv_for, trivisor=False):
        # argv_for(tools, scratch, stats_json) -> argv; stats_json None unless trivisor
        self.name, self.argv_for, self.trivisor = name, argv_for, trivisor
        self.runs, self.failures, self.skipped = [], [], None
        self.argv = None

    @property
    def label(self):
        return LABELS[self.name]

    @property
    def setup(self):
        return SETUP.format(link=LINK_SATA if self.name in EMULATED else LINK_VIRTIO)

    def run_once(self, cfg, tmp, randio, log):
        tools, scratch = make_disks(tmp, randio, cfg.seq_mib + 16)
        stats = tmp / "stats.json" if self.trivisor else None
        if stats:
            stats.unlink(missing_ok=True)
        self.argv = self.argv_for(tools, scratch, stats)
        con = Console(self.argv, None, log)
        r = {}
        try:
            r.update(con.wait_boot(cfg.timeout))
            _, st, out = con.command("the setup", self.setup, cfg.timeout)
            size = re.findall(r"^\s*(\d+)\s*$", out, re.M)
            if st != 0 or not size or int(size[-1]) != scratch.stat().st_size:
                raise RunFailed(f"setup {self.setup!r} exited with {st}: {tail(out)!r}")
            before = snapshot(con, cfg.timeout) if self.trivisor else None
            for key, cmd, _ in workloads(cfg):
                t, st, out = con.command(key, cmd, cfg.timeout)
                if st != 0:
                    raise RunFailed(f"{cmd!r} exited with {st}: {tail(out)!r}")
                r[key] = t
                if self.trivisor:
                    after = snapshot(con, cfg.timeout)
                    r.setdefault("exits", {})[key] = counts_delta(after, before)
                    before = after
                if key == "rand_read":
                    m = re.search(r"checksum ([0-9a-f]{16})", out)
                    if not m:
                        raise RunFailed(f"{RANDIO} printed no checksum: {tail(out)!r}")
                    r["rand_checksum"] = m.group(1)
                if key == "net":
                    sizes = re.findall(r"^\s*(\d+)\s*$", out, re.M)
                    if sizes[-1:] != [str(cfg.net_mib << 20)]:
                        raise RunFailed(f"the fetch gave {sizes[-1:] or 'nothing'} bytes, "
                                        f"not {cfg.net_mib << 20}: {tail(out)!r}")
            r["exit_status"] = con.close("poweroff")
            if stats:
                try:
                    r.setdefault("exits", {})["run"] = parse_stats_json(
                        json.loads(stats.read_text()))
                except (OSError, ValueError, KeyError) as e:
                    raise RunFailed(f"--stats-json {stats}: {e}") from None
        except RunFailed:
            if "boot_prompt" in r:
                con.close("poweroff", timeout=5)
            raise
        finally:
            if con.child.isalive():
                con.child.terminate(force=True)
        return r

    def times(self, key):
        return [r[key] for r in self.runs if key in r]

    def exits(self, span, what):
        """Median of a count (exit_counts key) in a span (workload key or "run")."""
        vals = [r["exits"][span][what] for r in self.runs
                if span in r.get("exits", {}) and what in r["exits"][span]]
        return statistics.median(vals) if vals else None


def make_columns(a, tmp):
    build = Path(a.build)
    trivisor = Path(a.trivisor) if a.trivisor else build / "trivisor"
    kernel = build / "guest" / "bzImage"
    if not kernel.exists():
        sys.exit(f"virtio_bench: {kernel} missing: make the guest first "
                 f"(scripts/mkguest.sh --out {build / 'guest'})")
    quiet = lambda m: None
    initrds = {False: harness.build_virtio_initramfs(build, log=quiet)}
    if any(n in EMULATED for n in a.engines):
        # The firmware tests' initramfs (the same modules, so the same cached archive):
        # the virtio drivers and ahci, sd_mod, sr_mod, e1000.
        base = harness.mkguest.ensure_base(build / "guest", log=quiet)
        initrds[True] = base.out / harness.PC_INITRD
        harness.mkguest.build_initramfs(base, initrds[True], modules=harness.PC_MODULES,
                                        log=quiet)
    mem = f"{a.mem}M"
    cols, engines = [], None
    for name in a.engines:
        emu = name in EMULATED
        initrd = initrds[emu]
        if name in TRIVISOR_COLUMNS:
            if not trivisor.exists():
                sys.exit(f"virtio_bench: {trivisor} missing: build first (ninja -C {build})")
            engines = engines or trivisor_engines(trivisor)
            engine = TRIVISOR_COLUMNS[name][1]

            def argv(tools, scratch, stats, name=name, emu=emu, initrd=initrd):
                disk, net = (",if=ahci", ",model=e1000") if emu else ("", "")
                return [str(trivisor), "run", *TRIVISOR_COLUMNS[name], "--kernel", str(kernel),
                        "--initrd", str(initrd), "--append", a.append, "--mem", mem,
                        "--disk", f"{tools}{disk}", "--disk", f"{scratch}{disk}",
                        "--net", f"user{net}", "--stats-json", str(stats)]
            col = Column(name, argv, trivisor=True)
            usable, line = engines.get(engine, (False, f"{engine}: not listed by trivisor engines"))
            if not usable:
                col.skipped = f"not usable on this host ({line})"
        else:
            qemu = shutil.which(a.qemu)

            def argv(tools, scratch, stats, qemu=qemu or a.qemu, emu=emu, initrd=initrd):
                drives = [f"file={f},if=none,id=d{i},format=raw,cache=writeback"
                          for i, f in enumerate((tools, scratch))]
                if emu:     # i440FX: no AHCI of its own (q35's is at 00:1f.2)
                    machine, devices = "pc", ["-device", "ahci,id=ahci"]
                    for i, d in enumerate(drives):
                        devices += ["-drive", d, "-device", f"ide-hd,drive=d{i},bus=ahci.{i}"]
                    devices += ["-netdev", "user,id=n0", "-device", "e1000,netdev=n0"]
                else:
                    machine, devices = "q35", []
                    for i, d in enumerate(drives):
                        devices += ["-drive", d, "-device", f"virtio-blk-pci,drive=d{i}"]
                    devices += ["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"]
                return [qemu, "-M", machine, "-accel", "tcg", "-cpu", a.qemu_cpu, "-m", mem,
                        "-smp", "1", "-kernel", str(kernel), "-initrd", str(initrd),
                        "-append", a.append, "-nodefaults", "-no-user-config",
                        "-display", "none", "-serial", "stdio", "-no-reboot", *devices]
            col = Column(name, argv)
            if not qemu:
                col.skipped = f"{a.qemu} not found (Debian: apt-get install qemu-system-x86)"
        cols.append(col)
    return cols


def rate(col, key, amount):
    """Median rate (amount / seconds) over the runs, with min and max."""
    vals = [amount / t for t in col.times(key) if t > 0]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals), "values": vals}


def fmt_rate(s):
    if not s:
        return "-"
    f = lambda v: f"{v:.1f}" if v < 100 else f"{v:.0f}"
    return f(s["median"]) if s["n"] == 1 else f"{f(s['median'])} ({f(s['min'])}-{f(s['max'])})"


def report(cols, a, cfg, meta):
    shown = [c for c in cols if not c.skipped]
    amounts = {k: amt for k, _, amt in workloads(cfg)}
    rates = {c.name: {k: rate(c, k, amounts[k]) for k, _, _ in FIGURES} for c in cols}
    ratios = [(x, y) for x, y in RATIOS if any(c.name == x for c in shown)
              and any(c.name == y for c in shown)]
    head = ["figure"] + [c.label for c in shown] + [f"{SHORT[x]}/{SHORT[y]}" for x, y in ratios]
    rows = []
    for key, label, unit in FIGURES:
        n = amounts[key]
        what = f"{n} MiB" if unit == "MiB/s" else f"{n} requests"
        row = [f"{label}, {what} ({unit})"]
        for c in shown:
            row.append(fmt_rate(rates[c.name][key]) if c.runs else "failed")
        for x, y in ratios:
            sx, sy = rates[x][key], rates[y][key]
            row.append(f"{sx['median'] / sy['median']:.2f}x" if sx and sy else "-")
        rows.append(row)
    print_table(head, rows)
    names = [n for n in ("soft-interp", "soft", "soft-emu") if any(c.name == n for c in shown)]
    print("higher is better; median of the runs, (min-max) when more than one; ratios of "
          "the medians (above 1: the first column faster"
          + "".join(f"; {SHORT[n]}: {LABELS[n]}" for n in names if ratios) + ")")
    for c in cols:
        if c.skipped:
            print(f"{c.label}: skipped: {c.skipped}")
        elif not c.runs:
            print(f"{c.label}: failed: {c.failures[-1]}")
        elif c.failures:
            print(f"{c.label}: {len(c.failures)} failed run(s); last: {c.failures[-1]}")
    boots = {c.label: secs(statistics.median(c.times("boot_prompt")))
             for c in shown if c.times("boot_prompt")}
    if boots:
        print("boot to the shell (not part of the figures): " +
              ", ".join(f"{k} {v} s" for k, v in boots.items()))
    exits = report_exits(shown, cfg)
    print("\ncommands (the images are fresh copies for every run):")
    for c in shown:
        if c.argv:
            print(f"  {c.label}: {' '.join(c.argv)}")
    print("  typed in the guest, untimed (the setup):")
    for what, link in (("virtio", LINK_VIRTIO), ("AHCI", LINK_SATA)):
        if any((c.name in EMULATED) == (what == "AHCI") for c in shown):
            print(f"    {what}: {SETUP.format(link=link)}")
    print("  then, timed:")
    for key, cmd, _ in workloads(cfg):
        print(f"    {key}: {cmd}")

    if a.json:
        doc = {"bench": "virtio_bench", **meta}
        doc["figures"] = {k: {"label": l, "unit": u, "amount": amounts[k]} for k, l, u in FIGURES}
        doc["columns"] = {c.name: {"label": c.label, "skipped": c.skipped,
                                   "failures": c.failures, "runs": c.runs,
                                   "command": c.argv, "rates": rates[c.name]} for c in cols}
        doc["ratios"] = {f"{x}/{y}": {k: rates[x][k]["median"] / rates[y][k]["median"]
                                      for k, _, _ in FIGURES if rates[x][k] and rates[y][k]}
                         for x, y in ratios}
        doc["exits"] = exits
        doc["commands"] = {k: cmd for k, cmd, _ in workloads(cfg)}
        doc["setup"] = {c.name: c.setup for c in cols}
        write_json(a.json, doc)


def fmt_count(v, per=None, unit=None):
    if v is None:
        return "-"
    text = f"{v:.0f}"
    if per:
        r = v / per
        text += f" ({r:.1f}/{unit})" if r < 100 else f" ({r:.0f}/{unit})"
    return text


def report_exits(shown, cfg):
    """The exits table (trivisor columns with counts); its figures, for the JSON."""
    cols = [c for c in shown if c.trivisor and any("exits" in r for r in c.runs)]
    if not cols:
        return {}
    names = {c.name for c in cols}
    ratios = [(x, y) for x, y in EMU_RATIOS if x in names and y in names]
    amounts = {k: amt for k, _, amt in workloads(cfg)}
    rows, figures = [], {}

    def row(label, span, what, per=None, unit=None):
        vals = {c.name: c.exits(span, what) for c in cols}
        figures.setdefault(span, {})[what] = vals
        r = [label] + [fmt_count(vals[c.name], per, unit) for c in cols]
        r += [f"{vals[x] / vals[y]:.1f}x" if vals[x] is not None and vals[y] else "-"
              for x, y in ratios]
        rows.append(r)

    for key, label, unit in FIGURES:
        n, kind = amounts[key], WORKLOAD_DEVICE[key]
        per = "MiB" if unit == "MiB/s" else "req"
        what = f"{n} MiB" if per == "MiB" else f"{n} requests"
        row(f"{label}, {what}: exits", key, "exits", n, per)
        row(f"  {KIND_LABELS[kind]} register accesses", key, kind, n, per)
    row("whole run (boot to power-off): exits", "run", "exits")
    for kind, _ in DEVICE_KINDS:
        row(f"  {KIND_LABELS[kind]} register accesses", "run", kind)
    row("  interrupts injected", "run", "interrupts")
    print("VM exits counted by trivisor (QEMU TCG has none):", end="")
    print_table(["exits"] + [c.label for c in cols] + [f"{SHORT[x]}/{SHORT[y]}"
                                                       for x, y in ratios], rows)
    print("median of the runs; lower is better; each device register access (port I/O "
          "or MMIO) is an exit; per workload: from the console stats taken just before "
          "and after the command (Ctrl-A s), per MiB or request in parentheses; whole "
          "run: from --stats-json. A workload's exits include the serial console's (echo, "
          "output, markers: alike in every column). disk controller: ahci, or "
          "virtio-blk0+1; NIC: e1000 or virtio-net; ratios above 1: the first column "
          "exits more")
    return figures


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--build", default=str(REPO / "build"),
                    help="build directory holding trivisor and guest/ (default: build)")
    ap.add_argument("--trivisor", metavar="PATH", help="trivisor binary (default BUILD/trivisor)")
    ap.add_argument("--engines", default=DEFAULT_ENGINES,
                    help=f"comma-separated columns from {','.join(ALL_ENGINES)} "
                         f"(default {DEFAULT_ENGINES}; kvm is skipped with a note where "
                         "trivisor cannot use it)")
    ap.add_argument("--runs", type=int, default=3, help="runs per column (default 3)")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes for a smoke test: 4 MiB, 100 requests, 2 MiB fetched")
    ap.add_argument("--seq-mib", type=int, help="sequential I/O size, also the random "
                    "requests' span (default 64)")
    ap.add_argument("--rand-ops", type=int, help="random requests of each kind (default 2000)")
    ap.add_argument("--net-mib", type=int, help="size of the fetched file (default 32)")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds the boot or any one command may take (default 600)")
    ap.add_argument("--append", default="console=ttyS0", help="kernel command line")
    ap.add_argument("--mem", type=int, default=512, help="guest RAM in MiB (default 512)")
    ap.add_argument("--qemu", default="qemu-system-x86_64", help="QEMU binary")
    ap.add_argument("--qemu-cpu", default="max", help="QEMU -cpu model (default max)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-': stdout)")
    ap.add_argument("--log", metavar="PATH",
                    help="console transcript of every run (default BUILD/virtio_bench-console.log)")
    a = ap.parse_args(argv)
    a.engines = parse_engines(ap, a.engines, ALL_ENGINES)
    for name, quick, full in (("seq_mib", 4, 64), ("rand_ops", 100, 2000), ("net_mib", 2, 32)):
        v = getattr(a, name)
        setattr(a, name, v if v is not None else (quick if a.quick else full))
        if getattr(a, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if a.runs < 1 or a.timeout <= 0:
        ap.error("--runs must be at least 1 and --timeout positive")
    # linux_bench.host_info's fields.
    a.cpus, a.size_mib, a.forks = 1, a.seq_mib, 0
    return a


def main(argv=None):
    a = parse_args(argv)
    # host_info asks QEMU for its version when "qemu" is a column; qemu-emu needs it too.
    info = argparse.Namespace(**vars(a))
    if "qemu-emu" in a.engines:
        info.engines = [*a.engines, "qemu"]
    meta = host_info(info)
    meta["config"] = {"append": a.append, "mem_mib": a.mem, "seq_mib": a.seq_mib,
                      "rand_ops": a.rand_ops, "net_mib": a.net_mib, "runs": a.runs,
                      "qemu_cpu": a.qemu_cpu}
    log_path = Path(a.log) if a.log else Path(a.build) / "virtio_bench-console.log"
    print(f"virtio_bench: host {meta['host']['cpus']} CPUs, load average "
          f"{meta['host']['load_average']:.2f}; {a.runs} run(s) per column; "
          f"{a.seq_mib} MiB sequential, {a.rand_ops} random requests, {a.net_mib} MiB "
          f"fetched; console log {log_path}", flush=True)
    with tempfile.TemporaryDirectory(prefix="virtio_bench-") as tmp, \
            open(log_path, "a", encoding="utf-8", errors="replace") as log:
        tmp = Path(tmp)
        randio = build_randio(tmp)
        www = tmp / "www"
        www.mkdir()
        with open(www / "big", "wb") as f:
            f.write(os.urandom(a.net_mib << 20))
        srv = serve(www)
        a.port = srv.server_address[1]
        try:
            cols = make_columns(a, tmp)
            for col in cols:
                if col.skipped:
                    print(f"{col.label}: skipped: {col.skipped}", flush=True)
            # The columns take turns, one run each (a change in the host's load then
            # touches every column alike); a column stops after two failed runs.
            for i in range(1, a.runs + 1):
                for col in cols:
                    if col.skipped or len(col.failures) >= 2:
                        continue
                    log.write(f"\n==== {col.label}, run {i} ====\n")
                    try:
                        r = col.run_once(a, tmp, randio, log)
                    except RunFailed as e:
                        col.failures.append(str(e))
                        print(f"{col.label} run {i}: failed: {e}", flush=True)
                        continue
                    col.runs.append(r)
                    print(f"{col.label} run {i}: boot {secs(r['boot_prompt'])} s, " + ", ".join(
                        f"{k} {secs(r[k])} s" for k, _, _ in FIGURES), flush=True)
        finally:
            srv.shutdown()
    report(cols, a, a, meta)
    sums = {r["rand_checksum"] for c in cols for r in c.runs}
    if len(sums) > 1:
        print(f"virtio_bench: error: the random reads' checksums differ ({sorted(sums)}): "
              "the columns did not read the same data", file=sys.stderr)
        return 1
    ok = all(c.runs or c.skipped for c in cols) and any(c.runs for c in cols)
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("virtio_bench: interrupted")
