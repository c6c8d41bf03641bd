#!/usr/bin/python3
"""A long fuzzing campaign: every libFuzzer target of tests/fuzz run until it has had
--cpu-seconds of CPU (default one hour), --jobs targets at a time, at `nice` 19 so it
only takes CPU nobody else wants.

It resumes: each target's corpus and running totals live under --dir (default
build-fuzz/campaign), so a campaign cut off (a session ending, a reboot) goes on from
where it stopped the next time, from the corpus it had (a new checkout has neither: it
starts again from the seeds). Work is done in chunks of at
most --chunk seconds; a chunk's wall time bounds its CPU time, so no target gets more
than asked for. A target that finds a problem stops there: its input is kept under
<dir>/<target>/findings and the campaign reports it, the others go on. A timeout whose
input then runs alone in under a second is put down as spurious and the target goes on
(libFuzzer's -timeout is wall time: a starved or stopped fuzzer trips it; to pause a
campaign, stop it with SIGTERM and start it again, never SIGSTOP it).

    scripts/fuzz_campaign.py [--targets pci,irqchip] [--jobs 2] [--cpu-seconds 3600]
    scripts/fuzz_campaign.py --report      # the table for docs/performance.md

The binaries are built in --build (`make fuzz` sets it up) and copied when a campaign
starts, so rebuilding while it runs does not change what is being fuzzed; the commit
(`git describe --dirty`) is recorded with each target's figures. The libFuzzer options
are the suite's (tests/fuzz/libfuzzer.py)."""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "fuzz"))
import seeds  # noqa: E402
from libfuzzer import ENV, OPTIONS  # noqa: E402

# The order: the platform's guest-facing devices and the loaders first.
ORDER = ["pci", "irqchip", "legacy", "fw_cfg", "boot", "virtqueue", "mmio", "blk", "net",
         "console", "rng", "e1000", "ahci", "vga", "translate", "api", "snapshot"]

lock = threading.Lock()
# SIGTERM or SIGINT: the running fuzzers get SIGINT, print their figures and end; what
# they did is counted, and no new chunk starts.
stopping = threading.Event()
running = set()


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    tmp.replace(path)


def corpus_size(d: Path) -> tuple:
    files = [f for f in d.iterdir() if f.is_file()]
    return len(files), sum(f.stat().st_size for f in files)


def chunk(exe: Path, tdir: Path, wall: int) -> dict:
    """One libFuzzer run of at most `wall` seconds from the target's corpus and seeds;
    its exit status, wall and CPU time (its own rusage), inputs and coverage."""
    findings = tdir / "findings"
    findings.mkdir(exist_ok=True)
    log = tdir / "last.log"
    t0 = time.monotonic()
    with open(log, "w") as f:
        # nice execs the fuzzer: the pid waited for is the fuzzer's.
        p = subprocess.Popen(["nice", "-n", "19", str(exe), f"-max_total_time={wall}",
                              *OPTIONS, f"-artifact_prefix={findings}/",
                              str(tdir / "corpus"), str(tdir / "seeds")],
                             stdin=subprocess.DEVNULL, stdout=f, stderr=f, env=ENV)
        with lock:
            running.add(p)
        _, status, ru = os.wait4(p.pid, 0)
        with lock:
            running.discard(p)
        p.returncode = os.waitstatus_to_exitcode(status)
    err = log.read_text(errors="replace")
    execs = re.search(r"stat::number_of_executed_units:\s*(\d+)", err)
    cov = re.findall(r"\bcov: (\d+) ft: (\d+)", err)
    return {"status": p.returncode, "wall": time.monotonic() - t0, "log": err,
            "cpu": ru.ru_utime + ru.ru_stime,
            "execs": int(execs.group(1)) if execs else 0,
            "cov": [int(x) for x in cov[-1]] if cov else None}


def reruns_quickly(exe: Path, unit: str) -> bool:
    """libFuzzer's -timeout is wall time: an input can exceed it on a host that stopped or
    starved the fuzzer. One that runs alone within a tenth of it is no finding."""
    t0 = time.monotonic()
    r = subprocess.run([str(exe), *OPTIONS, unit], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
    return r.returncode == 0 and time.monotonic() - t0 < 1


def campaign(target: str, args, state: dict, statefile: Path, bindir: Path) -> None:
    tdir = args.dir / target
    (tdir / "corpus").mkdir(parents=True, exist_ok=True)
    seeds.write(target, tdir / "seeds")
    while True:
        with lock:
            st = state.setdefault(target, {"cpu": 0.0, "wall": 0.0, "execs": 0, "chunks": 0,
                                           "findings": []})
            left = args.cpu_seconds - st["cpu"]
            if left < 1 or st["findings"] or stopping.is_set():
                return
        # A chunk's CPU time is at most its wall time: it never runs past the budget.
        wall = int(min(args.chunk, max(left, 1)))
        exe = bindir / f"fuzz_{target}"
        res = chunk(exe, tdir, wall)
        found = re.findall(r"Test unit written to (\S+)", res["log"])
        spurious = (res["status"] != 0 and found and
                    all(Path(f).name.startswith("timeout-") and reruns_quickly(exe, f)
                        for f in found))
        with lock:
            st["cpu"] += res["cpu"]
            st["wall"] += res["wall"]
            st["execs"] += res["execs"]
            st["chunks"] += 1
            if res["cov"]:
                st["edges"], st["features"] = res["cov"]
            st["corpus_files"], st["corpus_bytes"] = corpus_size(tdir / "corpus")
            st["commit"] = state["_commit"]
            if spurious:
                st.setdefault("spurious_timeouts", []).extend(found)
            elif res["status"] != 0 and not stopping.is_set():
                st["findings"].append({"inputs": found, "status": res["status"],
                                       "at_cpu": st["cpu"]})
                (tdir / f"finding-{st['chunks']}.log").write_text(res["log"])
            save(statefile, state)
            print(f"{time.strftime('%H:%M:%S')} {target}: {st['cpu']:.0f}/{args.cpu_seconds} "
                  f"CPU s, {st['execs']} inputs, edges {st.get('edges')} features "
                  f"{st.get('features')}, corpus {st['corpus_files']}"
                  + (f", FINDING: {st['findings'][-1]}" if st["findings"] else ""),
                  flush=True)


def report(args) -> None:
    state = load(args.dir / "state.json")
    print("| target | CPU time | inputs | inputs/s | edges | features | corpus | findings |")
    print("|---|---|---|---|---|---|---|---|")
    for t in ORDER:
        st = state.get(t)
        if not st:
            continue
        kb = st.get("corpus_bytes", 0) / 1000
        print(f"| {t} | {st['cpu'] / 60:.0f} min | {st['execs']:,} | "
              f"{st['execs'] / max(st['cpu'], 1):,.0f} | {st.get('edges', '-')} | "
              f"{st.get('features', '-')} | {st.get('corpus_files', 0):,} inputs, "
              f"{kb:,.0f} KB | {len(st['findings'])} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", type=Path, default=REPO / "build-fuzz")
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--targets", default=",".join(ORDER))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cpu-seconds", type=int, default=3600)
    ap.add_argument("--chunk", type=int, default=600, help="wall seconds per libFuzzer run")
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    args.dir = (args.dir or args.build / "campaign").resolve()
    if args.report:
        report(args)
        return 0
    targets = [t for t in args.targets.split(",") if t]
    unknown = [t for t in targets if t not in seeds.SEEDS]
    if unknown:
        ap.error(f"unknown targets {unknown}; there are {sorted(seeds.SEEDS)}")
    # The binaries of this tree, as it is now: the commit recorded is what was fuzzed.
    r = subprocess.run(["ninja", "-C", str(args.build)], capture_output=True, text=True)
    if r.returncode:
        ap.error(f"building {args.build} failed (make fuzz first):\n{r.stdout[-3000:]}")
    bindir = args.dir / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for t in targets:
        src = args.build / "tests" / "fuzz" / f"fuzz_{t}"
        if not src.exists():
            ap.error(f"{src} missing: build the fuzz targets first (make fuzz)")
        shutil.copy2(src, bindir / src.name)
    statefile = args.dir / "state.json"
    state = load(statefile)
    state["_commit"] = subprocess.run(["git", "-C", str(REPO), "describe", "--always",
                                       "--dirty"], capture_output=True,
                                      text=True).stdout.strip()
    def stop(*_):
        stopping.set()
        with lock:
            for p in running:
                p.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    pending = list(targets)
    threads = []

    def worker():
        while True:
            with lock:
                if not pending:
                    return
                t = pending.pop(0)
            campaign(t, args, state, statefile, bindir)

    for _ in range(args.jobs):
        th = threading.Thread(target=worker)
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    found = {t: state[t]["findings"] for t in targets if state.get(t, {}).get("findings")}
    print("stopped;" if stopping.is_set() else "done;", "findings:", found or "none")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
