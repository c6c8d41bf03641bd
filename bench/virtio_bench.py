#!/usr/bin/python3
"""virtio_bench: block and network throughput from inside the stock Debian guest, under
trivisor and under QEMU TCG with the same virtio devices, in one run.

Every column boots the same bzImage, the tests' initramfs with the virtio drivers
(build/guest/initramfs-virtio.cpio.gz) and the same command line, with the same RAM, one
vCPU, and the same devices on virtio-pci: two virtio-blk disks (vda: a small ext4 image
holding the random-I/O program, vdb: a raw scratch image, made afresh for every run) and
a virtio-net on user-mode networking (slirp):

    soft-interp  build/trivisor run --engine soft --soft-tier interpret ... --disk TOOLS
                 --disk SCRATCH --net user   (the soft engine's interpreter)
    soft    the same with --soft-tier translate (the binary translator, the default tier)
    kvm     build/trivisor run --engine kvm ...   (only where `trivisor engines` says so)
    qemu    qemu-system-x86_64 -M q35 -accel tcg -cpu max ... virtio-blk-pci (raw,
            cache=writeback), virtio-net-pci on -netdev user

Workloads, typed in the guest's shell on the serial console (vdb with O_DIRECT, so the
guest's page cache is out of the way; the host's is in: both VMMs do buffered I/O on
the image and flush with fdatasync):
    seq write    dd if=/dev/zero of=/dev/vdb bs=1M count=N oflag=direct conv=fsync
    seq read     dd if=/dev/vdb of=/dev/null bs=1M count=N iflag=direct
    rand write   4 KiB O_DIRECT pwrites at R pseudo-random offsets within those N MiB,
                 then fsync (bench/virtio_randio.c, built static here, on vda)
    rand read    4 KiB O_DIRECT preads at the same offsets
    net fetch    busybox wget of an M MiB file from an HTTP server on the host's
                 loopback, through the user-mode network's 10.0.2.2 (after udhcpc)
Times are host wall-clock times between marker lines the guest prints before and after
each command (bench/linux_bench.py's Console); the guest's emulated clock is never
trusted. The random reads' checksum and the fetched size must agree in every column.
The columns take turns (run 1 of every column, then run 2, ...), so a change in the
host's load touches them alike; ratios are between columns of the same invocation.

    bench/virtio_bench.py [--engines soft-interp,soft,kvm,qemu] [--runs N] [--quick]
                          [--seq-mib N] [--rand-ops N] [--net-mib N] [--json PATH]
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
from tables import print_table  # noqa: E402

REPO = REPO.parent
sys.path.insert(0, str(REPO / "tests" / "nested"))
import harness  # noqa: E402  (builds the tests' virtio initramfs, cached)

ALL_ENGINES = ["soft-interp", "soft", "kvm", "qemu"]
DEFAULT_ENGINES = "soft-interp,soft,kvm,qemu"
# trivisor's columns: the engine and, for soft, the tier (named, so a column keeps its
# meaning if the default changes).
TRIVISOR_COLUMNS = {"soft-interp": ["--engine", "soft", *INTERPRET],
                    "soft": ["--engine", "soft", *TRANSLATE], "kvm": ["--engine", "kvm"]}
LABELS = {"soft-interp": "soft interpret", "soft": "soft translate", "kvm": "trivisor kvm",
          "qemu": "QEMU TCG"}
SHORT = {"soft-interp": "interp", "soft": "translate", "kvm": "kvm", "qemu": "qemu"}
RATIOS = [("soft-interp", "soft"), ("soft-interp", "qemu"), ("soft", "qemu"), ("kvm", "qemu")]
SEED = 0x5eed
RANDIO = "virtio_randio"

# (key, label, unit): the unit says how a time becomes the figure shown.
FIGURES = [
    ("seq_write", "seq write, 1 MiB O_DIRECT", "MiB/s"),
    ("seq_read", "seq read, 1 MiB O_DIRECT", "MiB/s"),
    ("rand_write", "rand write, 4 KiB O_DIRECT", "IOPS"),
    ("rand_read", "rand read, 4 KiB O_DIRECT", "IOPS"),
    ("net", "net fetch (HTTP, slirp)", "MiB/s"),
]


def workloads(cfg):
    """(key, command, amount: MiB or requests) in the order they run."""
    r = f"/mnt/{RANDIO}"
    return [
        ("seq_write", f"dd if=/dev/zero of=/dev/vdb bs=1M count={cfg.seq_mib} oflag=direct "
                      "conv=fsync", cfg.seq_mib),
        ("seq_read", f"dd if=/dev/vdb of=/dev/null bs=1M count={cfg.seq_mib} iflag=direct",
         cfg.seq_mib),
        ("rand_write", f"{r} write /dev/vdb {cfg.rand_ops} {cfg.seq_mib} {SEED}", cfg.rand_ops),
        ("rand_read", f"{r} read /dev/vdb {cfg.rand_ops} {cfg.seq_mib} {SEED}", cfg.rand_ops),
        ("net", f"wget -q -O - http://10.0.2.2:{cfg.port}/big | wc -c", cfg.net_mib),
    ]


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
    def __init__(self, name, argv_for):
        self.name, self.argv_for = name, argv_for   # argv_for(tools, scratch) -> argv
        self.runs, self.failures, self.skipped = [], [], None
        self.argv = None

    @property
    def label(self):
        return LABELS[self.name]

    def run_once(self, cfg, tmp, randio, log):
        tools, scratch = make_disks(tmp, randio, cfg.seq_mib + 16)
        self.argv = self.argv_for(tools, scratch)
        con = Console(self.argv, None, log)
        r = {}
        try:
            r.update(con.wait_boot(cfg.timeout))
            setup = ("dmesg -n 1; mount -o ro /dev/vda /mnt && test -x /mnt/" + RANDIO +
                     " && udhcpc -i eth0 -n -q -t 5 >/dev/null 2>&1 && "
                     "cat /sys/block/vdb/size")
            _, st, out = con.command("the setup", setup, cfg.timeout)
            sectors = re.findall(r"^\s*(\d+)\s*$", out, re.M)
            if st != 0 or not sectors or int(sectors[-1]) * 512 != scratch.stat().st_size:
                raise RunFailed(f"setup {setup!r} exited with {st}: {tail(out)!r}")
            for key, cmd, _ in workloads(cfg):
                t, st, out = con.command(key, cmd, cfg.timeout)
                if st != 0:
                    raise RunFailed(f"{cmd!r} exited with {st}: {tail(out)!r}")
                r[key] = t
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


def make_columns(a, tmp):
    build = Path(a.build)
    trivisor = Path(a.trivisor) if a.trivisor else build / "trivisor"
    kernel = build / "guest" / "bzImage"
    initrd = build / "guest" / harness.VIRTIO_INITRD
    if not kernel.exists():
        sys.exit(f"virtio_bench: {kernel} missing: make the guest first "
                 f"(scripts/mkguest.sh --out {build / 'guest'})")
    harness.build_virtio_initramfs(build, log=lambda m: None)
    mem = f"{a.mem}M"
    cols, engines = [], None
    for name in a.engines:
        if name in TRIVISOR_COLUMNS:
            if not trivisor.exists():
                sys.exit(f"virtio_bench: {trivisor} missing: build first (ninja -C {build})")
            engines = engines or trivisor_engines(trivisor)
            engine = TRIVISOR_COLUMNS[name][1]

            def argv(tools, scratch, name=name):
                return [str(trivisor), "run", *TRIVISOR_COLUMNS[name], "--kernel", str(kernel),
                        "--initrd", str(initrd), "--append", a.append, "--mem", mem,
                        "--disk", str(tools), "--disk", str(scratch), "--net", "user"]
            col = Column(name, argv)
            usable, line = engines.get(engine, (False, f"{engine}: not listed by trivisor engines"))
            if not usable:
                col.skipped = f"not usable on this host ({line})"
        else:
            qemu = shutil.which(a.qemu)

            def argv(tools, scratch, qemu=qemu or a.qemu):
                return [qemu, "-M", "q35", "-accel", "tcg", "-cpu", a.qemu_cpu, "-m", mem,
                        "-smp", "1", "-kernel", str(kernel), "-initrd", str(initrd),
                        "-append", a.append, "-nodefaults", "-no-user-config",
                        "-display", "none", "-serial", "stdio", "-no-reboot",
                        "-drive", f"file={tools},if=none,id=d0,format=raw,cache=writeback",
                        "-device", "virtio-blk-pci,drive=d0",
                        "-drive", f"file={scratch},if=none,id=d1,format=raw,cache=writeback",
                        "-device", "virtio-blk-pci,drive=d1",
                        "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"]
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
    names = [n for n in ("soft-interp", "soft") if any(c.name == n for c in shown)]
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
    print("\ncommands (the images are fresh copies for every run):")
    for c in shown:
        if c.argv:
            print(f"  {c.label}: {' '.join(c.argv)}")
    print("  typed in the guest, untimed: dmesg -n 1; mount -o ro /dev/vda /mnt; "
          "udhcpc -i eth0 -n -q -t 5")
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
        doc["commands"] = {k: cmd for k, cmd, _ in workloads(cfg)}
        text = json.dumps(doc, indent=2) + "\n"
        if a.json == "-":
            sys.stdout.write(text)
        else:
            Path(a.json).write_text(text)


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
    meta = host_info(a)
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
