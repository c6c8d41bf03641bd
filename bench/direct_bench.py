#!/usr/bin/python3
"""direct_bench: a guest user process's system call, page fault and user-mode loops
under the soft engine's translator and its direct tier, next to the same program run
natively on the host.

Every VM column boots the default guest (BUILD/guest: the stock kernel and busybox
initramfs of scripts/mkguest.sh, whose /bin/ubench is BUILD/tests/guests/user/ubench)
with `--append console=ttyS0`, 512 MiB, 1 vCPU, and types on its serial console, once
per benchmark, `ubench --only NAME --scale F --warmup MS --sync`
(tests/guests/user/ubench.c; --sync: it waits for a line before it starts the clock):

    translate  BUILD/trivisor run --engine soft --soft-tier translate --stats ...
    direct     BUILD/trivisor run --engine soft --soft-tier direct --stats ...
               (the translator, and busy 64-bit user processes run natively in a
               ptrace'd helper process)
    interpret  BUILD/trivisor run --engine soft --soft-tier interpret --stats ...
               (not run unless asked for)
    native     BUILD/tests/guests/user/ubench with the same arguments (no --sync), on
               this host

Benchmarks (ubench.c says how each is made; each is preceded by a --warmup MS spin in
user mode, so the direct tier has taken the process native when the timing starts):
    syscall    getppid, ns per call
    pagefault  mmap 16 MiB, write a byte in each 4 KiB page, munmap; ns per page
    userloop   an xorshift/multiply mix in registers, ns per iteration
    memloop    the sum of a 32 MiB array, ns per 4 KiB
The figures are ubench's own, taken with the guest's CLOCK_MONOTONIC; the script also
times each benchmark with the host's clock (from the line it sends to start the clock
to the result line) and shows the ratio of the two, which says whether the guest's
clock can be trusted. Under the direct tier the script reads the `--stats` counters so
far (the console's Ctrl-A s) while ubench waits to start and again after it ends, and
shows what the timed part added to the direct-execution counters (native entries,
exits by kind, address spaces promoted and demoted, native time), then the totals
`--stats` prints at power-off. The columns take turns (run 1 of each, then run 2, ...);
each figure is the median of --runs runs.

    bench/direct_bench.py [--columns translate,direct,native] [--runs N] [--scale F]
                          [--warmup MS] [--json PATH] [--build DIR] [--trivisor PATH]
"""
import argparse
import datetime
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pexpect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from linux_bench import PROMPT, Console, RunFailed, binary_info, tail  # noqa: E402
from tables import print_table, write_json  # noqa: E402

ALL_COLUMNS = ["interpret", "translate", "direct", "native"]
DEFAULT_COLUMNS = "translate,direct,native"
LABELS = {"interpret": "soft interpret", "translate": "soft translate",
          "direct": "soft direct", "native": "native"}
BENCHES = ["syscall", "pagefault", "userloop", "memloop"]
RATIOS = [("direct", "translate"), ("direct", "native"), ("translate", "native"),
          ("interpret", "translate")]
# The direct-execution counters shown per benchmark and for the whole run (`--stats`
# prints more; the JSON keeps them all). native_us is shown in ms.
SHOWN = [("native_entries", "native entries"), ("exits_syscall", "syscall exits"),
         ("exits_page_fault", "page-fault exits"), ("exits_other_fault", "other faults"),
         ("exits_interrupt", "interrupts"), ("pages_mapped", "pages mapped"),
         ("address_spaces_promoted", "promoted"), ("address_spaces_demoted", "demoted"),
         ("native_us", "native ms")]
RESULT = re.compile(r"^ubench (\w+) ([0-9.]+) ns/(\S+) \((\d+) [^,)]*(?:, checksum (\w+))?\)",
                    re.M)


def ubench_args(name, a):
    return ["--only", name, "--scale", f"{a.scale:g}", "--warmup", str(a.warmup)]


def parse_result(name, out):
    """{ns, n, unit, checksum} from ubench's result line for name."""
    for m in RESULT.finditer(out.replace("\r", "")):
        if m.group(1) == name:
            return {"ns": float(m.group(2)), "unit": m.group(3), "n": int(m.group(4)),
                    "checksum": m.group(5)}
    raise RunFailed(f"ubench printed no result for {name}: {tail(out)!r}")


def direct_counters(text):
    """{counter: value} of the "direct execution" section of a --stats report, or {}."""
    out, inside = {}, False
    for line in text.replace("\r", "").splitlines():
        if line.startswith("direct execution"):
            inside = True
        elif inside:
            m = re.match(r"^\s+(\w+)\s+(\d+)\s*$", line)
            if not m:
                break
            out[m.group(1)] = int(m.group(2))
    return out


class Column:
    def __init__(self, name, argv, vm=True):
        self.name, self.argv, self.vm = name, argv, vm
        self.runs, self.failures = [], []
        self.consecutive = 0

    @property
    def label(self):
        return LABELS[self.name]

    def done(self, runs):
        return self.consecutive >= 2 or len(self.runs) + len(self.failures) >= runs

    def command_line(self):
        return shlex.join(self.argv)

    def run_once(self, a, log):
        return self.run_vm(a, log) if self.vm else self.run_native(a)

    def run_native(self, a):
        r = {"load_average": os.getloadavg()[0], "bench": {}}
        for name in BENCHES:
            argv = self.argv + ubench_args(name, a)
            try:
                p = subprocess.run(argv, capture_output=True, text=True, timeout=a.timeout,
                                   stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise RunFailed(f"{shlex.join(argv)} took more than {a.timeout:g} s") from None
            if p.returncode != 0:
                raise RunFailed(f"{shlex.join(argv)} exited with {p.returncode}: "
                                f"{tail(p.stdout + p.stderr)!r}")
            r["bench"][name] = parse_result(name, p.stdout)
        return r

    def stats_so_far(self, con, timeout):
        """The direct-execution counters so far (Ctrl-A s: trivisor pauses the VM,
        writes its --stats report on the console and resumes it)."""
        con.child.send("\x01s")
        con.wait_for("the stats report", "[trivisor] stats so far", timeout)
        con.wait_for("the end of the stats report", "[trivisor] end", timeout)
        return direct_counters(con.child.before)

    def run_vm(self, a, log):
        r = {"load_average": os.getloadavg()[0], "bench": {}, "direct_timed": {}}
        con = Console(self.argv, log=log)
        try:
            r["boot_prompt"] = con.wait_boot(a.timeout)["boot_prompt"]
            # No kernel messages between ubench's lines (the clocksource switch comes
            # about a second after the prompt).
            _, st, out = con.command("the setup", "dmesg -n 1", a.timeout)
            if st != 0:
                raise RunFailed(f"dmesg -n 1 exited with {st}: {tail(out)!r}")
            for name in BENCHES:
                con.seq += 1
                n = con.seq
                cmd = shlex.join(["ubench", *ubench_args(name, a), "--sync"])
                con.child.sendline(f"{cmd}; printf '@E%s:%d@\\n' {n} $?")
                con.wait_for(f"{name} to start", re.compile(rf"ubench start {name}\r*\n"),
                             a.timeout, False)
                # ubench waits for a line before it starts the clock: the counters as
                # the timed part starts (the warm-up's are not the benchmark's).
                before = self.stats_so_far(con, a.timeout) if self.name == "direct" else None
                con.child.sendline("")
                t0 = time.monotonic() - con.start
                t1 = con.wait_for(f"{name}'s result",
                                  re.compile(rf"ubench {name} [0-9.]+ ns/[^\n]*\n"),
                                  a.timeout, False)
                res = parse_result(name, con.child.after)
                con.wait_for(f"{name} to end", re.compile(rf"@E{n}:(\d+)@"), a.timeout, False)
                st = int(con.child.match.group(1))
                if st != 0:
                    raise RunFailed(f"{cmd!r} exited with {st}: {tail(con.child.before)!r}")
                con.wait_for("the prompt after " + name, PROMPT, a.timeout)
                res["host_ns"] = (t1 - t0) * 1e9 / res["n"]
                res["host_s"] = t1 - t0
                r["bench"][name] = res
                if before is not None:
                    after = self.stats_so_far(con, a.timeout)
                    r["direct_timed"][name] = {k: v - before.get(k, 0)
                                               for k, v in after.items()}
            # poweroff: the guest ends, and trivisor prints --stats on its way out.
            con.child.sendline("poweroff")
            try:
                con.child.expect(pexpect.EOF, timeout=a.timeout)
            except pexpect.TIMEOUT:
                raise RunFailed(f"the guest did not power off in {a.timeout:g} s") from None
            con.child.close()
            r["exit_status"] = con.child.exitstatus
            r["stats"] = direct_counters(con.child.before)
        finally:
            if con.child.isalive():
                con.child.terminate(force=True)
        return r

    def summary(self):
        """{bench: {median, min, max, n, values, unit, host_median}} of the runs."""
        out = {}
        for name in BENCHES:
            rs = [r["bench"][name] for r in self.runs if name in r["bench"]]
            if rs:
                vals = [x["ns"] for x in rs]
                out[name] = {"median": statistics.median(vals), "min": min(vals),
                             "max": max(vals), "n": len(vals), "values": vals,
                             "unit": rs[0]["unit"]}
                if "host_ns" in rs[0]:
                    out[name]["host_median"] = statistics.median(x["host_ns"] for x in rs)
        return out


def make_columns(a):
    build = Path(a.build)
    trivisor = Path(a.trivisor) if a.trivisor else build / "trivisor"
    kernel, initrd = build / "guest" / "bzImage", build / "guest" / "initramfs.cpio.gz"
    ubench = build / "tests" / "guests" / "user" / "ubench"
    need = [ubench]
    if any(c != "native" for c in a.columns):
        need += [trivisor, kernel, initrd]
    for f in need:
        if not f.exists():
            sys.exit(f"direct_bench: {f} missing: build first (ninja -C {build} && "
                     f"scripts/mkguest.sh --out {build / 'guest'} --build {build})")
    cols = []
    for name in a.columns:
        if name == "native":
            cols.append(Column(name, [str(ubench)], vm=False))
        else:
            cols.append(Column(name, [str(trivisor), "run", "--engine", "soft",
                                      "--soft-tier", name, "--stats", "--kernel", str(kernel),
                                      "--initrd", str(initrd), "--append", a.append,
                                      "--mem", "512M", "--cpus", "1"]))
    return cols, ubench, trivisor


def ns(v):
    return f"{v:.1f}" if v < 1000 else f"{v:.0f}"


def fmt(s):
    if s["n"] == 1:
        return ns(s["median"])
    return f"{ns(s['median'])} ({ns(s['min'])}-{ns(s['max'])})"


def median_counters(dicts):
    keys = sorted({k for d in dicts for k in d})
    return {k: statistics.median(d.get(k, 0) for d in dicts) for k in keys}


def counter_cell(d, key):
    v = d.get(key)
    if v is None:
        return "-"
    v = v / 1000 if key == "native_us" else v
    return f"{v:.0f}" if v == int(v) or v >= 100 else f"{v:.1f}"


def report(cols, a, meta):
    shown = [c for c in cols if c.runs]
    summaries = {c.name: c.summary() for c in cols}
    ratios = [(x, y) for x, y in RATIOS
              if any(c.name == x for c in shown) and any(c.name == y for c in shown)]
    head = ["benchmark"] + [c.label for c in cols] + [f"{x}/{y}" for x, y in ratios]
    rows = []
    for name in BENCHES:
        unit = next((summaries[c.name][name]["unit"] for c in shown
                     if name in summaries[c.name]), "op")
        row = [f"{name} (ns/{unit})"]
        for c in cols:
            s = summaries[c.name].get(name)
            row.append(fmt(s) if s else "failed")
        for x, y in ratios:
            sx, sy = summaries[x].get(name), summaries[y].get(name)
            row.append(f"{sx['median'] / sy['median']:.2f}x"
                       if sx and sy and sy["median"] > 0 else "-")
        rows.append(row)
    print_table(head, rows)
    print(f"ubench's figures (the guest's CLOCK_MONOTONIC), median of {a.runs} run(s), "
          f"(min-max) when more than one; ratios of the medians (above 1: the first "
          f"column slower)")
    print(f"host load average (1 min): {meta['host']['load_average']:.2f} at the start, "
          f"{meta['host']['load_average_end']:.2f} at the end")
    for c in cols:
        if not c.runs:
            print(f"{c.label}: failed: {c.failures[-1] if c.failures else 'not run'}")
        elif c.failures:
            print(f"{c.label}: {len(c.failures)} run(s) failed, figures from the rest; "
                  f"last: {c.failures[-1]}")

    vms = [c for c in shown if c.vm]
    if vms:
        head = ["guest clock / host clock"] + [c.label for c in vms]
        rows = [[name] + [f"{s[name]['median'] / s[name]['host_median']:.3f}"
                          if name in s and s[name].get("host_median") else "-"
                          for s in (summaries[c.name] for c in vms)] for name in BENCHES]
        print_table(head, rows)
        print("the guest's time for each benchmark over the host's (from the line the "
              "script sends to start ubench's clock to the result line); near 1: the "
              "guest's clock kept time")

    direct = next((c for c in shown if c.name == "direct"), None)
    if direct:
        head = ["soft direct's counters"] + [label for _, label in SHOWN] + ["native share"]
        rows = []
        for name in BENCHES:
            ds = [r["direct_timed"][name] for r in direct.runs if name in r["direct_timed"]]
            if ds:
                d = median_counters(ds)
                # Native time over the timed part's host time: how much of the
                # benchmark the tier ran natively rather than translated.
                share = statistics.median(
                    r["direct_timed"][name].get("native_us", 0) / 1e6 / r["bench"][name]["host_s"]
                    for r in direct.runs if name in r["direct_timed"])
                rows.append([name] + [counter_cell(d, k) for k, _ in SHOWN]
                            + [f"{100 * share:.0f} %"])
        totals = [r["stats"] for r in direct.runs if r.get("stats")]
        if totals:
            d = median_counters(totals)
            rows.append(["whole run (--stats)"] + [counter_cell(d, k) for k, _ in SHOWN]
                        + ["-"])
        print_table(head, rows)
        print("per benchmark: the direct-execution counters over its timed part (the "
              "console's Ctrl-A s before ubench starts its clock and after it ends; the "
              "warm-up is not in them); native share: native time over the timed part's host "
              "time; whole run: the --stats report at power-off, boot and warm-ups "
              "included; medians of the runs")

    print()
    print("commands:")
    for c in cols:
        print(f"  {c.label}: {c.command_line()}" + ("" if c.vm else " ARGS"))
    print(f"  typed in the guests' shell, once per benchmark: ubench "
          f"{shlex.join(ubench_args('NAME', a))} --sync (natively ARGS: the same without "
          f"--sync)")

    if a.json:
        doc = {"bench": "direct_bench", **meta}
        doc["columns"] = {c.name: {"label": c.label, "command": c.command_line(),
                                   "runs": c.runs, "failures": c.failures,
                                   "summary": summaries[c.name]} for c in cols}
        doc["ratios"] = {f"{x}/{y}": {n: summaries[x][n]["median"] / summaries[y][n]["median"]
                                      for n in BENCHES
                                      if n in summaries[x] and n in summaries[y]}
                         for x, y in ratios}
        write_json(a.json, doc)


def check_checksums(cols):
    """The loops computed the same thing everywhere, or the comparison means nothing."""
    for name in ("userloop", "memloop"):
        seen = {(c.name, r["bench"][name]["checksum"]) for c in cols for r in c.runs
                if name in r["bench"]}
        if len({s for _, s in seen}) > 1:
            return f"{name}'s checksums differ: {sorted(seen)}"
    return None


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--build", default=str(REPO / "build"),
                    help="build directory holding trivisor, guest/ and "
                         "tests/guests/user/ubench (default: build)")
    ap.add_argument("--trivisor", metavar="PATH", help="trivisor binary (default BUILD/trivisor)")
    ap.add_argument("--columns", default=DEFAULT_COLUMNS,
                    help=f"comma-separated, from {','.join(ALL_COLUMNS)} "
                         f"(default {DEFAULT_COLUMNS})")
    ap.add_argument("--runs", type=int, default=3, help="runs per column (default 3)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="ubench --scale: every benchmark's size (default 1.0: at most "
                         "about a second each natively)")
    ap.add_argument("--warmup", type=int, default=1000, metavar="MS",
                    help="ubench --warmup: the user-mode spin before each benchmark "
                         "(default 1000)")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds any one step (boot, a benchmark) may take (default 600)")
    ap.add_argument("--append", default="console=ttyS0", help="kernel command line")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-': stdout)")
    ap.add_argument("--log", metavar="PATH",
                    help="console transcript of every run (default BUILD/direct_bench-console.log)")
    a = ap.parse_args(argv)
    a.columns = [c.strip() for c in a.columns.split(",") if c.strip()]
    bad = [c for c in a.columns if c not in ALL_COLUMNS]
    if bad or not a.columns:
        ap.error(f"--columns: unknown {','.join(bad) or '(none given)'}; "
                 f"choose from {','.join(ALL_COLUMNS)}")
    if a.runs < 1 or a.scale <= 0 or a.warmup < 0 or a.timeout <= 0:
        ap.error("--runs must be at least 1, --scale and --timeout positive, --warmup >= 0")
    return a


def main(argv=None):
    a = parse_args(argv)
    cols, ubench, trivisor = make_columns(a)
    try:
        tree = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        tree = None
    meta = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "tree": tree, "trivisor": binary_info(trivisor), "ubench": binary_info(ubench),
            "host": {"cpus": os.cpu_count(), "load_average": os.getloadavg()[0],
                     "kernel": os.uname().release},
            "config": {"append": a.append, "mem_mib": 512, "cpus": 1, "runs": a.runs,
                       "scale": a.scale, "warmup_ms": a.warmup, "timeout_s": a.timeout}}
    log_path = Path(a.log) if a.log else Path(a.build) / "direct_bench-console.log"
    print(f"direct_bench: host {meta['host']['cpus']} CPUs, load average "
          f"{meta['host']['load_average']:.2f}; {a.runs} run(s) per column; scale "
          f"{a.scale:g}, warmup {a.warmup} ms; console log {log_path}", flush=True)
    with open(log_path, "a", encoding="utf-8", errors="replace") as log:
        while not all(c.done(a.runs) for c in cols):
            for c in cols:
                if c.done(a.runs):
                    continue
                log.write(f"\n==== {c.label}, run {len(c.runs) + len(c.failures) + 1}: "
                          f"{c.command_line()} ====\n")
                t = time.monotonic()
                try:
                    r = c.run_once(a, log)
                except RunFailed as e:
                    c.failures.append(str(e))
                    c.consecutive += 1
                    print(f"{c.label}: failed: {e}", flush=True)
                    continue
                c.consecutive = 0
                c.runs.append(r)
                print(f"{c.label} run {len(c.runs)} ({time.monotonic() - t:.0f} s): " +
                      ", ".join(f"{n} {ns(x['ns'])} ns/{x['unit']}"
                                for n, x in r["bench"].items()), flush=True)
    meta["host"]["load_average_end"] = os.getloadavg()[0]
    report(cols, a, meta)
    bad = check_checksums(cols)
    if bad:
        print(f"direct_bench: error: {bad}", file=sys.stderr)
        return 1
    return 0 if all(c.runs for c in cols) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("direct_bench: interrupted")
