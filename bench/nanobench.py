#!/usr/bin/python3
"""nanobench: Adams & Agesen's nanobenchmarks (ASPLOS 2006) under each engine and mode.

Boots the nanobenchmark guest (tests/guests/nanobench.S, built as
BUILD/tests/guests/nanobench.bin) under:
    soft full, interpret   trivisor run --mode full --soft-tier interpret
    soft full, translate   trivisor run --mode full --soft-tier translate
                           (full virtualization: the soft engine's interpreter, and its
                           binary translator, the default tier)
    soft para, interpret   trivisor run --mode para --soft-tier interpret
    soft para, translate   trivisor run --mode para --soft-tier translate
                           (para-virtualization, soft engine)
    hw para     trivisor run --mode hw                   (hardware-assisted, KVM PV ABI)
    hw full     trivisor run --mode hw --guest full      (hardware-assisted, plain PC)
The kvm ones run on this host where `trivisor engines` says kvm is available, else
inside the nested harness (tests/nested/harness.py: QEMU TCG emulating AMD SVM, so
"hardware" there is itself an emulation, and its cycles are the host's TSC cycles of
that emulation). Each benchmark's cost is (its cycles - the empty loop's cycles for as
many iterations) / iterations, in the guest's TSC cycles, and in ns through the TSC
frequency the guest measured against the PIT. Best (lowest) of --runs runs per
configuration; the configurations take turns (run 1 of each, then run 2, ...), so a
change in the host's load touches them alike. Prints a Markdown table; --json OUT
writes the figures for bench/charts.py.

    bench/nanobench.py [--build DIR] [--runs N] [--only soft|kvm]
                       [--tiers interpret,translate] [--quick] [--json OUT]
"""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "nested"))
import harness  # noqa: E402

GUEST = "nanobench.bin"
QUICK_GUEST = "nanobench_quick.bin"   # few iterations: a smoke test, rough figures
GUEST_OK = 99  # the guest wrote 0x31 to isa-debug-exit: (0x31 << 1) | 1
TIERS = ["interpret", "translate"]
# (label, engine, options, soft tier or None): one column each.
CONFIGS = [
    ("soft full, interpret", "soft", ["--mode", "full", "--soft-tier", "interpret"], "interpret"),
    ("soft full, translate", "soft", ["--mode", "full", "--soft-tier", "translate"], "translate"),
    ("soft para, interpret", "soft", ["--mode", "para", "--soft-tier", "interpret"], "interpret"),
    ("soft para, translate", "soft", ["--mode", "para", "--soft-tier", "translate"], "translate"),
    ("hw para", "kvm", ["--mode", "hw"], None),
    ("hw full", "kvm", ["--mode", "hw", "--guest", "full"], None),
]
# Rows, in the paper's order, then what the paper did not have.
BENCHES = ["syscall", "port_in", "cr8_write", "call_ret", "page_fault", "divide_by_zero",
           "pte_update", "hypercall", "cpuid"]
LINE = re.compile(r"^nanobench: (\w+) iters=(\d+) cycles=(\d+) ", re.M)


def parse(out):
    """{'tsc_khz': int, 'cost': {bench: cycles per iteration}, 'na': {bench: reason}}."""
    m = re.search(r"^nanobench: tsc_khz=(\d+)", out, re.M)
    runs = {name: (int(n), int(c)) for name, n, c in LINE.findall(out)}
    if not m or "empty" not in runs or "all ok" not in out:
        raise RuntimeError(f"the guest did not finish:\n{out}")
    e_iters, e_cycles = runs.pop("empty")
    cost = {name: (c - e_cycles * n / e_iters) / n for name, (n, c) in runs.items()}
    na = dict(re.findall(r"^nanobench: (\w+) n/a \((.*)\)", out, re.M))
    return {"tsc_khz": int(m.group(1)), "cost": cost, "na": na}


def best(results):
    """Per benchmark, the lowest cost over the runs (these machines are shared)."""
    r = dict(results[0])
    r["cost"] = {b: min(x["cost"][b] for x in results) for b in results[0]["cost"]}
    r["tsc_khz"] = round(sum(x["tsc_khz"] for x in results) / len(results))
    return r


class Host:
    """trivisor on this machine."""
    where = "host"

    def __init__(self, build, guest=GUEST):
        self.trivisor = build / "trivisor"
        self.guests = build / "tests" / "guests"
        self.guest = guest

    def run(self, opts):
        p = subprocess.run([str(self.trivisor), "run", *opts, "--kernel",
                            str(self.guests / self.guest)], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=600)
        if p.returncode != GUEST_OK:
            raise RuntimeError(f"status {p.returncode}:\n{p.stdout}{p.stderr}")
        return p.stdout


class Nested:
    """trivisor inside the nested outer guest (QEMU TCG + SVM)."""
    where = "nested"

    def __init__(self, build, guest=GUEST):
        self.guest = guest
        self.outer = harness.OuterVM(build, log=lambda m: print(m, file=sys.stderr))
        self.outer.start()
        print(f"nanobench: nested outer guest up after {self.outer.boot_seconds:.1f} s",
              file=sys.stderr)

    def run(self, opts):
        cmd = shlex.join(["trivisor", "run", *opts, "--kernel",
                          f"{harness.GUEST_DIR}/tests/{self.guest}"])
        r = self.outer.run(cmd + " </dev/null 2>&1", timeout=600)
        if r.status != GUEST_OK:
            raise RuntimeError(f"status {r.status}:\n{r.output}")
        return r.output

    def close(self):
        self.outer.close()


def kvm_on_host(trivisor):
    out = subprocess.run([str(trivisor), "engines"], capture_output=True, text=True,
                         timeout=30).stdout
    return any(line.split()[:2] == ["kvm", "available"] for line in out.splitlines())


def cell(r, bench):
    if r is None:
        return "-"
    if bench in r["na"]:
        return "n/a"
    c = r["cost"].get(bench)
    if c is None:
        return "-"
    ns = c * 1e6 / r["tsc_khz"] if r["tsc_khz"] else float("nan")
    return f"{max(c, 0):.0f} ({max(ns, 0):.0f} ns)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--build", type=Path, default=harness.build_dir())
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["soft", "kvm"])
    ap.add_argument("--tiers", default=",".join(TIERS),
                    help="the soft engine's tiers, comma-separated (default "
                         "interpret,translate)")
    ap.add_argument("--quick", action="store_true",
                    help=f"boot {QUICK_GUEST} (few iterations): a smoke test, rough figures")
    ap.add_argument("--json", metavar="OUT",
                    help="also write the results as JSON ('-': stdout); bench/charts.py "
                         "draws it")
    args = ap.parse_args()
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    if not tiers or any(t not in TIERS for t in tiers):
        ap.error(f"--tiers: choose from {','.join(TIERS)}")
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    guest = QUICK_GUEST if args.quick else GUEST
    build = args.build.resolve()
    if not (build / "tests" / "guests" / guest).exists():
        sys.exit(f"nanobench: {build}/tests/guests/{guest} missing: ninja -C {build}")

    configs = [c for c in CONFIGS if (not args.only or c[1] == args.only)
               and (c[3] is None or c[3] in tiers)]
    host = Host(build, guest)
    nested = None
    runs, where = {}, {}
    try:
        for label, engine, opts, _ in configs:
            m = host
            if engine == "kvm" and not kvm_on_host(host.trivisor):
                nested = nested or Nested(build, guest)
                m = nested
            where[label] = m
            runs[label] = []
        # The configurations take turns, one run each: a change in the host's load
        # then touches every column alike.
        for i in range(args.runs):
            for label, engine, opts, _ in configs:
                m = where[label]
                t0 = time.monotonic()
                runs[label].append(parse(m.run(opts)))
                print(f"nanobench: {label} run {i + 1}/{args.runs} ({m.where}) "
                      f"{time.monotonic() - t0:.1f} s", file=sys.stderr)
    finally:
        if nested:
            nested.close()
    results = {lb: best(r) for lb, r in runs.items()}
    where = {lb: m.where for lb, m in where.items()}

    labels = [c[0] for c in configs]
    load = os.getloadavg()[0]
    print(f"\n{time.strftime('%Y-%m-%d')}, {platform.node()}, load average "
          f"{load:.1f}, best of {args.runs}"
          f"{', ' + QUICK_GUEST + ' (rough)' if args.quick else ''}; cycles per operation (ns)\n")
    print("| benchmark | " + " | ".join(f"{lb} ({where[lb]})" for lb in labels) + " |")
    print("|---|" + "---|" * len(labels))
    for b in BENCHES:
        print(f"| {b} | " + " | ".join(cell(results[lb], b) for lb in labels) + " |")
    print("| TSC kHz (guest-measured) | " + " | ".join(str(results[lb]["tsc_khz"])
                                                     for lb in labels) + " |")
    for lb in labels:
        for b, why in results[lb]["na"].items():
            print(f"\n{lb}: {b} n/a: {why}")

    if args.json:
        doc = {"bench": "nanobench",
               "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
               "host": {"node": platform.node(), "cpus": os.cpu_count(), "load_average": load},
               "config": {"runs": args.runs, "guest": guest, "build": str(build)},
               "benchmarks": BENCHES,
               "columns": {lb: {"where": where[lb], "engine": e, "options": o, "tier": t,
                                "runs": runs[lb], "best": results[lb]}
                           for lb, e, o, t in configs}}
        text = json.dumps(doc, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
