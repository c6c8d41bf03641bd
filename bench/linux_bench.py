#!/usr/bin/python3
"""linux_bench: the stock Debian kernel and busybox initramfs under trivisor's engines,
next to QEMU TCG and to the same busybox run natively on the host, in one run.

Every VM column boots the same bzImage, initramfs and command line (build/guest, made by
scripts/mkguest.sh) with the same RAM and vCPUs, and is driven on its serial console:

    soft-interp  build/trivisor run --engine soft --soft-tier interpret ...  (interpreter)
    soft    build/trivisor run --engine soft --soft-tier translate ...  (binary translator,
            the soft engine's default tier)
    soft-direct  build/trivisor run --engine soft --soft-tier direct ...  (the translator,
            and busy 64-bit user processes run natively in helper processes)
    kvm     build/trivisor run --engine kvm ...   (only where `trivisor engines` says so)
    soft-full, kvm-full   the same with --guest full: no para-virtual interface
    qemu    qemu-system-x86_64 -M microvm -accel tcg ...
    native  the initramfs's busybox (the busybox-static package's binary) as an
            interactive `busybox sh` on a pseudo-terminal of this host

Figures (each the median of --runs runs, with the spread):
    boot to kernel    process start to the kernel's first console line ("Linux version";
                      the console shows it after decompression and early setup)
    boot to /init     process start to the kernel's "Run /init as init process" line
    boot to shell     process start to the first shell prompt (the first thing user
                      space prints: the initramfs's /init prints nothing of its own)
    sha256sum, gzip   `sha256sum` and `gzip -c >/dev/null` of a 64 MiB file in tmpfs
    fork+exec         a shell loop running /bin/true (busybox, exec'd) 300 times
All times are host wall-clock times, taken when the console shows a marker line the
guest prints just before and just after the command; the guest's own clock, emulated,
is never trusted. Generating the input is not timed (see DATA below). A second table
gives the same spans in host CPU seconds (user+system time of the VM process's threads,
or of the native shell and the commands it forks), which a loaded host inflates far
less than wall time. The columns take turns (run 1 of every column, then run 2, ...),
so a change in the host's load touches them alike; every ratio is between two columns
of the same invocation.

    bench/linux_bench.py [--engines soft-interp,soft,soft-direct,kvm,qemu,native] [--runs N] [--timeout S]
                         [--json PATH] [--quick] [--build DIR] [--trivisor PATH]
"""
import argparse
import datetime
import hashlib
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import mkguest  # noqa: E402  (the guest's prompt, so the two never drift apart)
from tables import print_table, write_json  # noqa: E402

PROMPT = mkguest.DEFAULT_PROMPT
INIT_LINE = "Run /init as init process"
# The console lines a boot is timed to, in the order they come: the kernel's banner
# (start_kernel prints it, but the console shows it only once the serial driver takes
# the buffered messages: after decompression and early setup), the kernel handing over
# to the initramfs's /init, and the shell's prompt (the /init prints nothing itself).
MILESTONES = [("boot_kernel", "Linux version "), ("boot_init", INIT_LINE),
              ("boot_prompt", PROMPT)]
ALL_ENGINES = ["soft-interp", "soft", "soft-direct", "soft-full", "kvm", "kvm-full", "qemu",
               "native"]
DEFAULT_ENGINES = "soft-interp,soft,soft-direct,kvm,qemu,native"
# trivisor's columns: the engine, under the para guest interface (the default) or, for
# the -full columns, the full one (issue 6: the same guest para-virtualized or not);
# the soft engine's tier named, so a column keeps its meaning if the default changes.
TRANSLATE, INTERPRET = ["--soft-tier", "translate"], ["--soft-tier", "interpret"]
DIRECT = ["--soft-tier", "direct"]
TRIVISOR_COLUMNS = {"soft-interp": ["--engine", "soft", *INTERPRET],
                    "soft": ["--engine", "soft", *TRANSLATE],
                    "soft-direct": ["--engine", "soft", *DIRECT],
                    "soft-full": ["--engine", "soft", *TRANSLATE, "--guest", "full"],
                    "kvm": ["--engine", "kvm"], "kvm-full": ["--engine", "kvm", "--guest", "full"]}
LABELS = {"soft-interp": "soft interpret", "soft": "soft translate",
          "soft-direct": "soft direct",
          "soft-full": "soft translate, --guest full",
          "kvm": "trivisor kvm", "kvm-full": "trivisor kvm, --guest full", "qemu": "QEMU TCG",
          "native": "native"}
# The columns' names in the ratio headings (the JSON keeps the --engines names).
SHORT = {"soft-interp": "interp", "soft": "translate", "soft-direct": "direct",
         "soft-full": "translate-full",
         "kvm": "kvm", "kvm-full": "kvm-full", "qemu": "qemu", "native": "native"}

# The microvm machine with the legacy devices a stock distribution kernel needs for a
# serial console and an initrd boot: the 16550 at 0x3f8 (isa-serial), the CMOS RTC and
# ACPI tables (MADT for the APICs, the FADT's power-off). The PIT and the PICs are on by
# default under TCG. -cpu max: every CPU feature TCG emulates, as bench/soft_mips.py.
QEMU_MACHINE = "microvm,isa-serial=on,rtc=on,acpi=on"

# DATA: the input of the sha256sum and gzip workloads, made where it is used (in the
# guest's tmpfs, or in /dev/shm natively) before the timed part. The block is busybox's
# own gzip of the busybox binary: identical bytes everywhere (same binary, same program),
# about 1 MiB, and already compressed. The file is that block repeated and cut to
# the size: the copies are 1 MiB apart, far beyond gzip's 32 KiB window, so gzip finds
# nothing to collapse and works as on random data. Every column reports the SHA-256 it
# computed, and the benchmark ends with an error if any two differ.
PREP = ("mkdir -p $D && gzip -c $B/busybox > $D/blk && "
        "n=$(( {size} / $(wc -c < $D/blk) + 1 )) && "
        "for i in $(seq $n); do cat $D/blk; done 2>/dev/null | head -c {size} > $D/data && "
        "rm $D/blk && wc -c < $D/data")

# The timed commands, typed identically in every column; $D is the data directory and
# $B the directory of busybox's applet links (/bin in the guest). /bin/true given by
# path makes ash fork and execve it (an applet named without a path may run in the
# forked shell with no exec); `[` and the arithmetic are shell built-ins.
WORKLOADS = [
    ("sha256", "sha256sum $D/data"),
    ("gzip", "gzip -c $D/data > /dev/null"),
    ("forkexec", "i=0; while [ $i -lt {forks} ]; do $B/true; i=$((i+1)); done"),
]

FIGURES = [  # (key, label)
    ("boot_kernel", "boot to first kernel line"),
    ("boot_init", "boot to /init (kernel line)"),
    ("boot_prompt", "boot to shell prompt"),
    ("sha256", "sha256sum {mib} MiB"),
    ("gzip", "gzip -c {mib} MiB"),
    ("forkexec", "{forks} fork+exec"),
]
RATIOS = [("soft-interp", "soft"), ("soft-interp", "native"), ("soft", "native"),
          ("soft-direct", "native"), ("soft-direct", "soft"), ("soft-direct", "qemu"),
          ("kvm", "native"), ("qemu", "native"), ("soft-interp", "qemu"), ("soft", "qemu"),
          ("soft", "kvm"), ("soft-full", "soft"), ("kvm-full", "kvm")]


class RunFailed(Exception):
    """One run of a column failed; the message says why (it goes in the table).
    flaky: a known random failure, worth another attempt (see STALL_SIGNS)."""

    def __init__(self, msg, flaky=False):
        super().__init__(msg)
        self.flaky = flaky


# Kernel lines after which a boot that goes quiet is known to be stuck, and why. QEMU's
# microvm under TCG sometimes fails both TSC calibrations against the PIT (the PIT
# reads have to come close together, and an emulated CPU on a loaded host is slow):
# with no HPET or PM timer to fall back on, the kernel then waits forever for timer
# ticks in the delay-loop calibration. Issue 4 saw it in 2 of 4 boots; here 1 in 17.
STALL_SIGNS = {
    "tsc: Marking TSC unstable due to could not calculate TSC khz":
        "the kernel could not calibrate the TSC against the PIT and hung",
}
STALL_GRACE = 60    # default seconds of console silence after a STALL_SIGNS line


def tail(text, n=300):
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text or "").replace("\r", "")
    text = text.strip()
    return ("..." + text[-n:]) if len(text) > n else text


class Console:
    """A process on a pseudo-terminal whose console carries a busybox shell."""

    def __init__(self, argv, env=None, log=None):
        self.argv = argv
        self.start = time.monotonic()
        self.child = pexpect.spawn(argv[0], argv[1:], env=env, encoding="utf-8",
                                   codec_errors="replace", dimensions=(50, 1000),
                                   maxread=65536)
        self.child.logfile_read = log
        self.seq = 0
        self.boot_cpu = {}      # wait_boot's milestones in CPU seconds (see cpu_seconds)
        self.last_cpu = None    # the last command's CPU seconds between its markers

    def cpu_seconds(self):
        """Host CPU seconds the process has used so far: user and system time of all
        its threads, and of its children once reaped (the native shell runs each
        command in a child, reaped before the end marker is printed). None when /proc
        does not say. Unlike wall time, it does not grow while the process waits for a
        CPU another job holds, so it moves far less with the host's load."""
        try:
            with open(f"/proc/{self.child.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        # utime, stime, cutime, cstime: fields 14-17 of proc(5), in clock ticks.
        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def wait_for(self, what, pattern, timeout, exact=True):
        """Seconds since the process started when pattern shows up on the console."""
        try:
            if exact:
                self.child.expect_exact(pattern, timeout=timeout)
            else:
                self.child.expect(pattern, timeout=timeout)
        except pexpect.TIMEOUT:
            raise RunFailed(f"timed out after {timeout:g} s waiting for {what}; console: "
                            f"{tail(self.child.before)!r}") from None
        except pexpect.EOF:
            self.child.close()
            st = self.child.exitstatus
            how = f"status {st}" if st is not None else f"signal {self.child.signalstatus}"
            raise RunFailed(f"{self.argv[0]} exited ({how}) while waiting for {what}; "
                            f"console: {tail(self.child.before)!r}") from None
        return time.monotonic() - self.start

    def wait_boot(self, timeout, grace=STALL_GRACE):
        """{figure: seconds since start} of the MILESTONES lines, once the prompt is
        there. A line that does not show before a later one (kernel lines with `quiet`)
        stays unmeasured. A boot that goes quiet for `grace` seconds after a STALL_SIGNS
        line fails early, as flaky."""
        deadline = self.start + timeout
        seen, sign = {}, None
        while True:
            pending = [(k, line) for k, line in MILESTONES if k not in seen]
            patterns = [re.escape(line) for _, line in pending]
            patterns += [re.escape(s) for s in STALL_SIGNS]
            patterns += [r"\n"] if sign else []   # after a sign, a new line restarts grace
            left = max(deadline - time.monotonic(), 0.01)
            try:
                i = self.child.expect(patterns, timeout=min(left, grace) if sign else left)
            except pexpect.TIMEOUT:
                if sign and time.monotonic() < deadline:
                    raise RunFailed(f"{STALL_SIGNS[sign]}: no console output for "
                                    f"{grace:g} s after {sign!r}", flaky=True) from None
                raise RunFailed(f"timed out after {timeout:g} s waiting for the shell "
                                f"prompt; console: {tail(self.child.before)!r}") from None
            except pexpect.EOF:
                self.wait_for("the shell prompt", PROMPT, 0.01)   # raises, with the status
            now = time.monotonic() - self.start
            if i < len(pending):
                key = pending[i][0]
                for k, _ in MILESTONES[:[k for k, _ in MILESTONES].index(key)]:
                    seen.setdefault(k, None)
                seen[key] = now
                self.boot_cpu[key] = self.cpu_seconds()
                if key == "boot_prompt":
                    return {k: v for k, v in seen.items() if v is not None}
            elif i < len(pending) + len(STALL_SIGNS):
                sign = list(STALL_SIGNS)[i - len(pending)]

    def command(self, what, cmd, timeout):
        """Run cmd in the shell; (host seconds between the markers, status, output).
        The typed markers differ from the printed ones, so the echo never matches."""
        self.seq += 1
        n = self.seq
        self.child.sendline(f"printf '@S%s@\\n' {n}; {cmd}; printf '@E%s:%d@\\n' {n} $?")
        t0 = self.wait_for(f"{what} to start", re.compile(rf"@S{n}@\r*\n"), timeout, False)
        c0 = self.cpu_seconds()
        t1 = self.wait_for(f"{what} to finish", re.compile(rf"@E{n}:(\d+)@"), timeout, False)
        c1 = self.cpu_seconds()
        self.last_cpu = c1 - c0 if c0 is not None and c1 is not None else None
        status = int(self.child.match.group(1))
        output = self.child.before.replace("\r", "")
        self.wait_for("the prompt after " + what, PROMPT, timeout)
        return t1 - t0, status, output

    def close(self, end_cmd, timeout=60):
        """Ask the shell (or guest) to end; force it after timeout. The exit status,
        None when it had to be killed."""
        if not self.child.isalive():
            self.child.close()
            return self.child.exitstatus
        try:
            self.child.sendline(end_cmd)
            self.child.expect(pexpect.EOF, timeout=timeout)
            self.child.close()
            return self.child.exitstatus
        except (pexpect.TIMEOUT, OSError):
            self.child.terminate(force=True)
            return None


class Column:
    """One environment of the comparison and how to start its shell."""

    def __init__(self, name, argv, env=None, vm=True, data_dir="/tmp/bench",
                 bin_dir="/bin"):
        self.name, self.argv, self.env, self.vm = name, argv, env, vm
        self.data_dir, self.bin_dir = data_dir, bin_dir
        self.runs = []        # dicts of figures and checks, one per successful run
        self.failures = []    # reasons, one per failed run
        self.skipped = None   # reason the column was not run at all
        self.attempts = 0     # runs started, failed ones included
        self.retries = 0      # failed runs tried again (known flaky failures)
        self.consecutive = 0  # failed runs in a row that counted

    def done(self, runs):
        """--runs counted runs made, or two failures in a row: the column is finished."""
        return (self.skipped is not None or self.consecutive >= 2
                or len(self.runs) + len(self.failures) - self.retries >= runs)

    @property
    def label(self):
        return LABELS[self.name]

    def command_line(self):
        env = "".join(f"{k}={shlex.quote(v)} " for k, v in sorted((self.env or {}).items()))
        return ("env -i " if self.env else "") + env + shlex.join(self.argv)

    def run_once(self, cfg, log):
        r = {"load_average": os.getloadavg()[0]}   # the host's, as the run starts
        con = Console(self.argv, self.env, log)
        try:
            boot = con.wait_boot(cfg.timeout, cfg.stall_grace)
            if self.vm:     # a host shell's start is not a boot
                r.update(boot)
                r.update({f"{k}_cpu": v for k, v in con.boot_cpu.items() if v is not None})
            setup = f"D={self.data_dir}; B={self.bin_dir}"
            if self.vm:
                # No more kernel messages on the console: they would interleave with
                # the markers (the guest's clocksource switch comes about a second
                # after the prompt). Never natively: it would set the host's level.
                setup += "; dmesg -n 1"
            _, st, out = con.command("the setup", setup, cfg.timeout)
            if st != 0:
                raise RunFailed(f"setup {setup!r} exited with {st}: {tail(out)!r}")
            _, st, out = con.command("the data generation", PREP.format(size=cfg.size),
                                     cfg.timeout)
            sizes = re.findall(r"^\s*(\d+)\s*$", out, re.M)
            if st != 0 or sizes[-1:] != [str(cfg.size)]:
                raise RunFailed(f"data generation exited with {st}, printed {tail(out)!r} "
                                f"(expected the size {cfg.size})")
            for key, cmd in WORKLOADS:
                t, st, out = con.command(key, cmd.format(forks=cfg.forks), cfg.timeout)
                if st != 0:
                    raise RunFailed(f"{cmd.format(forks=cfg.forks)!r} exited with {st}: "
                                    f"{tail(out)!r}")
                r[key] = t
                if con.last_cpu is not None:
                    r[f"{key}_cpu"] = con.last_cpu
                if key == "sha256":
                    m = re.search(r"\b([0-9a-f]{64})\b", out)
                    if not m:
                        raise RunFailed(f"sha256sum printed no digest: {tail(out)!r}")
                    r["sha256_digest"] = m.group(1)
            r["exit_status"] = con.close("poweroff" if self.vm else "exit")
        except RunFailed as e:
            # A shell that answered may still end cleanly; a hung one would not.
            if "boot_prompt" in r and "timed out" not in str(e):
                con.close("poweroff" if self.vm else "exit", timeout=5)
            raise
        finally:
            if con.child.isalive():
                con.child.terminate(force=True)
        return r

    def summary(self, suffix=""):
        """{figure: median, min, max...} of the runs' wall times; suffix "_cpu": of
        their CPU seconds."""
        out = {}
        for key, _ in FIGURES:
            vals = [r[key + suffix] for r in self.runs if r.get(key + suffix) is not None]
            if vals:
                out[key] = {"median": statistics.median(vals), "min": min(vals),
                            "max": max(vals), "n": len(vals), "values": vals}
        return out


class Config:
    def __init__(self, a):
        self.size = a.size_mib << 20
        self.forks = a.forks
        self.timeout = a.timeout
        self.stall_grace = a.stall_grace


def trivisor_engines(trivisor):
    """{engine: (usable, the line `trivisor engines` printed)}."""
    p = subprocess.run([str(trivisor), "engines"], capture_output=True, text=True,
                       timeout=60)
    out = {}
    for line in p.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2:
            out[parts[0]] = (parts[1] == "available", " ".join(line.split()))
    return out


def make_columns(a, names, tmp):
    build = Path(a.build)
    trivisor = Path(a.trivisor) if a.trivisor else build / "trivisor"
    guest = build / "guest"
    kernel, initrd = guest / "bzImage", guest / "initramfs.cpio.gz"
    busybox = guest / "busybox" / "bin" / "busybox"
    vm_names = [n for n in names if n != "native"]
    need = [busybox] + ([kernel, initrd] if vm_names else [])
    for f in need:
        if not f.exists():
            sys.exit(f"linux_bench: {f} missing: make the guest first "
                     f"(scripts/mkguest.sh --out {guest})")
    mem = f"{a.mem}M"
    cols = []
    engines = None
    for name in names:
        if name in TRIVISOR_COLUMNS:
            if not trivisor.exists():
                sys.exit(f"linux_bench: {trivisor} missing: build first (ninja -C {build})")
            engines = engines or trivisor_engines(trivisor)
            argv = [str(trivisor), "run", *TRIVISOR_COLUMNS[name], "--kernel", str(kernel),
                    "--initrd", str(initrd), "--append", a.append, "--mem", mem,
                    "--cpus", str(a.cpus)]
            col = Column(name, argv)
            engine = TRIVISOR_COLUMNS[name][1]
            usable, line = engines.get(engine, (False, f"{engine}: not listed by trivisor engines"))
            if not usable:
                col.skipped = f"not usable on this host ({line})"
            cols.append(col)
        elif name == "qemu":
            qemu = shutil.which(a.qemu)
            argv = [qemu or a.qemu, "-M", QEMU_MACHINE, "-accel", "tcg", "-cpu", a.qemu_cpu,
                    "-m", mem, "-smp", str(a.cpus), "-kernel", str(kernel),
                    "-initrd", str(initrd), "-append", a.append, "-nodefaults",
                    "-no-user-config", "-display", "none", "-serial", "stdio",
                    "-no-reboot"]
            col = Column(name, argv)
            if not qemu:
                col.skipped = f"{a.qemu} not found (Debian: apt-get install qemu-system-x86)"
            cols.append(col)
        elif name == "native":
            # The applet links the guest has in /bin, pointing at the same binary.
            bindir = tmp / "bin"
            bindir.mkdir()
            real = busybox.resolve()
            (bindir / "busybox").symlink_to(real)
            for applet in subprocess.run([str(real), "--list"], capture_output=True,
                                         text=True, check=True).stdout.split():
                if applet != "busybox":
                    (bindir / applet).symlink_to(real)
            # tmpfs, like the guest's /tmp; /dev/shm is tmpfs on Debian.
            data = Path(tempfile.mkdtemp(prefix="linux_bench-", dir="/dev/shm"))
            env = {"PATH": str(bindir), "PS1": PROMPT, "HOME": str(tmp), "TERM": "dumb"}
            cols.append(Column(name, [str(bindir / "busybox"), "sh"], env=env, vm=False,
                               data_dir=str(data), bin_dir=str(bindir)))
    return cols


def secs(v):
    return f"{v:.3f}" if v < 1 else f"{v:.2f}"


def fmt_fig(s):
    if not s:
        return "-"
    if s["n"] == 1:
        return secs(s["median"])
    return f"{secs(s['median'])} ({secs(s['min'])}-{secs(s['max'])})"


def column_state(col):
    if col.skipped:
        return "skipped"
    if not col.runs:
        return "failed"
    return "ok"


def figure_table(title, shown, summaries, ratios, mib, forks, keys=None):
    head = [title] + [c.label for c in shown] + [f"{SHORT[x]}/{SHORT[y]}" for x, y in ratios]
    rows = []
    for key, label in FIGURES:
        if keys is not None and key not in keys:
            continue
        row = [label.format(mib=mib, forks=forks)]
        for c in shown:
            if not c.runs:
                row.append("failed")
            elif key.startswith("boot") and not c.vm:
                row.append("n/a")
            else:
                row.append(fmt_fig(summaries[c.name].get(key)))
        for x, y in ratios:
            sx, sy = summaries[x].get(key), summaries[y].get(key)
            row.append(f"{sx['median'] / sy['median']:.2f}x" if sx and sy and sy["median"] > 0
                       else "-")
        rows.append(row)
    print_table(head, rows)


def ratio_doc(ratios, summaries):
    out = {}
    for x, y in ratios:
        for key, _ in FIGURES:
            sx, sy = summaries[x].get(key), summaries[y].get(key)
            if sx and sy and sy["median"] > 0:
                out.setdefault(f"{x}/{y}", {})[key] = sx["median"] / sy["median"]
    return out


def report(cols, a, cfg, meta):
    mib = a.size_mib
    shown = [c for c in cols if not c.skipped]
    summaries = {c.name: c.summary() for c in cols}
    cpu = {c.name: c.summary("_cpu") for c in cols}
    ratios = [(x, y) for x, y in RATIOS
              if any(c.name == x for c in shown) and any(c.name == y for c in shown)]
    figure_table("figure (seconds)", shown, summaries, ratios, mib, cfg.forks)
    names = [n for n in ("soft-interp", "soft", "soft-direct", "soft-full")
             if any(c.name == n for c in shown)]
    print("median of the runs, (min-max) when more than one; ratios of the medians"
          + (" (" + ", ".join(f"{SHORT[n]}: {LABELS[n]}" for n in names) + ")"
             if ratios and names else ""))
    if "load_average_end" in meta["host"]:
        print(f"host load average (1 min): {meta['host']['load_average']:.2f} at the start, "
              f"{meta['host']['load_average_end']:.2f} at the end")
    for c in cols:
        if c.skipped:
            print(f"{c.label}: skipped: {c.skipped}")
        elif not c.runs:
            print(f"{c.label}: failed: {c.failures[-1]}")
        elif c.failures:
            print(f"{c.label}: {len(c.failures)} of {len(c.runs) + len(c.failures)} runs "
                  f"failed, figures from the rest; last: {c.failures[-1]}")
    digests = {c.runs[0]["sha256_digest"] for c in cols if c.runs}
    if len(digests) == 1:
        print(f"all columns hashed the same {mib} MiB input: sha256 {digests.pop()}")
    if any(cpu[c.name] for c in shown):
        # The same figures in host CPU seconds: what the process (all its threads, and
        # its reaped children) used, which a loaded host inflates far less than wall
        # time. Boot: to the prompt only (the kernel lines show while it keeps running).
        figure_table("host CPU seconds", shown, cpu, ratios, mib, cfg.forks,
                     keys=["boot_prompt", "sha256", "gzip", "forkexec"])
        print("host CPU seconds: user+system time of the process's threads (and of its "
              "reaped children: natively, the commands the shell forks) over the same "
              "span as the wall times above; medians, (min-max)")
    print()
    print("commands:")
    for c in cols:
        if not c.skipped:
            print(f"  {c.label}: {c.command_line()}")
    print("  typed in each shell (D=/tmp/bench B=/bin in the guests; natively D is a "
          "directory in /dev/shm, B a directory of busybox's applet links):")
    print(f"    untimed: {PREP.format(size=cfg.size)}")
    for key, cmd in WORKLOADS:
        print(f"    {key}: {cmd.format(forks=cfg.forks)}")

    if a.json:
        doc = {"bench": "linux_bench", **meta}
        doc["figures"] = {k: l.format(mib=mib, forks=cfg.forks) for k, l in FIGURES}
        doc["columns"] = {}
        for c in cols:
            doc["columns"][c.name] = {
                "label": c.label, "state": column_state(c), "skipped": c.skipped,
                "failures": c.failures, "command": c.command_line(),
                "runs": c.runs, "summary": summaries[c.name], "cpu_summary": cpu[c.name]}
        doc["ratios"] = ratio_doc(ratios, summaries)
        doc["cpu_ratios"] = ratio_doc(ratios, cpu)
        doc["prep_command"] = PREP.format(size=cfg.size)
        doc["workload_commands"] = {k: c.format(forks=cfg.forks) for k, c in WORKLOADS}
        write_json(a.json, doc)


def binary_info(path):
    """What identifies the binary measured: path, size, modification time, SHA-256 (a
    build from a working tree is not named by a commit)."""
    try:
        data = path.read_bytes()
        st = path.stat()
    except OSError:
        return None
    return {"path": str(path), "bytes": st.st_size, "sha256": hashlib.sha256(data).hexdigest(),
            "mtime": datetime.datetime.fromtimestamp(st.st_mtime).astimezone()
                     .isoformat(timespec="seconds")}


def host_info(a):
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  timeout=5).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return None
    model = None
    try:
        m = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
        model = m and m.group(1)
    except OSError:
        pass
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "tree": first_line(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
            "trivisor": binary_info(Path(a.trivisor) if a.trivisor
                                    else Path(a.build) / "trivisor"),
            "host": {"cpus": os.cpu_count(), "cpu_model": model,
                     "load_average": os.getloadavg()[0], "kernel": os.uname().release,
                     "qemu": first_line([a.qemu, "--version"]) if "qemu" in a.engines else None},
            "config": {"append": a.append, "mem_mib": a.mem, "cpus": a.cpus,
                       "size_bytes": a.size_mib << 20, "forks": a.forks, "runs": a.runs,
                       "timeout_s": a.timeout, "qemu_cpu": a.qemu_cpu}}


def parse_engines(ap, text, known):
    """--engines: a comma-separated list of names from known (argparse error otherwise)."""
    engines = [e.strip() for e in text.split(",") if e.strip()]
    bad = [e for e in engines if e not in known]
    if bad or not engines:
        ap.error(f"--engines: unknown {','.join(bad) or '(none given)'}; "
                 f"choose from {','.join(known)}")
    return engines


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--build", default=str(REPO / "build"),
                    help="build directory holding trivisor and guest/ (default: build)")
    ap.add_argument("--trivisor", metavar="PATH",
                    help="trivisor binary (default BUILD/trivisor; a copy keeps a rebuild "
                         "during a long run from mixing two versions)")
    ap.add_argument("--engines", default=DEFAULT_ENGINES,
                    help=f"comma-separated columns from {','.join(ALL_ENGINES)} "
                         f"(default {DEFAULT_ENGINES}; kvm is skipped with a note where "
                         f"trivisor cannot use it)")
    ap.add_argument("--runs", type=int, default=3, help="runs per column (default 3)")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds any one step (boot, data generation, a workload) may "
                         "take before the run counts as failed (default 600)")
    ap.add_argument("--stall-grace", type=float, default=STALL_GRACE, metavar="S",
                    help="a boot that printed a known hang sign (QEMU's failed TSC "
                         "calibration) and then nothing for S seconds fails at once and "
                         f"is tried again, up to 3 times (default {STALL_GRACE})")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-': stdout)")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes for a smoke test: 4 MiB, 30 fork+exec")
    ap.add_argument("--size-mib", type=int, default=None, help="input size (default 64)")
    ap.add_argument("--forks", type=int, default=None, help="fork+exec count (default 300)")
    ap.add_argument("--append", default="console=ttyS0",
                    help="kernel command line (default 'console=ttyS0', as the tests)")
    ap.add_argument("--mem", type=int, default=512, help="guest RAM in MiB (default 512)")
    ap.add_argument("--cpus", type=int, default=1, help="vCPUs (default 1)")
    ap.add_argument("--qemu", default="qemu-system-x86_64", help="QEMU binary")
    ap.add_argument("--qemu-cpu", default="max", help="QEMU -cpu model (default max)")
    ap.add_argument("--log", metavar="PATH",
                    help="console transcript of every run (default BUILD/linux_bench-console.log)")
    a = ap.parse_args(argv)
    a.engines = parse_engines(ap, a.engines, ALL_ENGINES)
    if a.runs < 1:
        ap.error("--runs must be at least 1")
    if a.timeout <= 0 or a.stall_grace <= 0:
        ap.error("--timeout and --stall-grace must be positive")
    a.size_mib = a.size_mib if a.size_mib is not None else (4 if a.quick else 64)
    a.forks = a.forks if a.forks is not None else (30 if a.quick else 300)
    if a.size_mib < 1 or a.forks < 1:
        ap.error("--size-mib and --forks must be at least 1")
    if a.cpus < 1 or a.mem < 64:
        ap.error("--cpus must be at least 1 and --mem at least 64 (MiB)")
    if a.mem < 2 * a.size_mib + 128:
        ap.error(f"--mem {a.mem} is too small for a {a.size_mib} MiB input in the guest's "
                 f"RAM-backed /tmp (want at least {2 * a.size_mib + 128})")
    return a


def measure_once(col, cfg, log):
    """One counted run of col: a success or a failure. A known flaky failure
    (STALL_SIGNS) is tried again at once, up to 3 times for the column; any other
    failure counts as a run, and two in a row end the column (it is broken here, and
    each may have cost --timeout seconds)."""
    while True:
        col.attempts += 1
        i = col.attempts
        log.write(f"\n==== {col.label}, run {i}: {col.command_line()} ====\n")
        try:
            r = col.run_once(cfg, log)
        except RunFailed as e:
            col.failures.append(str(e))
            again = e.flaky and col.retries < 3
            col.retries += again
            col.consecutive += not again
            print(f"{col.label} run {i}: failed: {e}" + ("; trying again" if again else ""),
                  flush=True)
            if again:
                continue
            return
        col.consecutive = 0
        col.runs.append(r)
        print(f"{col.label} run {i}: " + ", ".join(
            f"{k} {secs(r[k])} s" for k, _ in FIGURES if k in r), flush=True)
        return


def main(argv=None):
    a = parse_args(argv)
    cfg = Config(a)
    meta = host_info(a)
    log_path = Path(a.log) if a.log else Path(a.build) / "linux_bench-console.log"
    print(f"linux_bench: host {meta['host']['cpus']} CPUs, load average "
          f"{meta['host']['load_average']:.2f}; {a.runs} run(s) per column; "
          f"{a.size_mib} MiB input, {a.forks} fork+exec; console log {log_path}")
    with tempfile.TemporaryDirectory(prefix="linux_bench-") as tmp, \
            open(log_path, "a", encoding="utf-8", errors="replace") as log:
        cols = make_columns(a, a.engines, Path(tmp))
        try:
            for col in cols:
                if col.skipped:
                    print(f"{col.label}: skipped: {col.skipped}", flush=True)
            # The columns take turns, one counted run each, until each has --runs (or
            # has failed twice in a row): a change in the host's load (these machines
            # are shared) then touches every column alike, not the last one alone.
            while not all(c.done(a.runs) for c in cols):
                for col in cols:
                    if not col.done(a.runs):
                        measure_once(col, cfg, log)
            meta["host"]["load_average_end"] = os.getloadavg()[0]
            # The same input everywhere, or the comparison means nothing.
            digests = {(c.name, r["sha256_digest"]) for c in cols for r in c.runs}
            if len({d for _, d in digests}) > 1:
                report(cols, a, cfg, meta)
                print(f"linux_bench: error: the sha256 digests differ: {sorted(digests)}; "
                      f"the columns did not hash the same input", file=sys.stderr)
                return 1
        finally:
            for c in cols:
                if not c.vm:
                    shutil.rmtree(c.data_dir, ignore_errors=True)
    report(cols, a, cfg, meta)
    # Exit 0 when every column that was to run produced figures, and one at least did.
    ok = all(c.runs or c.skipped for c in cols) and any(c.runs for c in cols)
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("linux_bench: interrupted")
