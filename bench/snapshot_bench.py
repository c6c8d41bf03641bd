#!/usr/bin/python3
"""snapshot_bench: how long a snapshot takes, how big it is, and how fast a VM is
running again from it, against the figures Firecracker documents.

The VM is Firecracker's reference shape for its snapshot figures: 2 vCPUs, 512 MiB, one
block device and one network device (the stock Debian kernel with the tests' virtio
initramfs, an ext4 disk, user networking), booted to its shell, a counting loop
started. Through the control API (a Firecracker client, tests/integration/fc_client.py):

  create    PATCH /vm Paused, then PUT /snapshot/create: its latency, and the state
            file's and the memory file's size (apparent, and the blocks it takes: the
            memory file is sparse, untouched guest RAM is a hole)
  restore   --runs times, a new trivisor started with only --api-sock, then
            PUT /snapshot/load with resume_vm: the request's latency (the VM is built,
            its RAM and state loaded, its vCPUs running when the answer comes), and
            until the guest's next line shows on its console (restore to running)

Firecracker documents (docs/snapshotting/snapshot-support.md) a resume latency target of
under 8 ms, 5 ms p90, for that shape on an m5d.metal; its full snapshot's memory file is
the whole guest memory. Those figures are quoted, not measured here.

    bench/snapshot_bench.py [--runs 10] [--engine soft] [--mem 512] [--cpus 2]
                            [--build build] [--json PATH]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "nested"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from tables import print_table, write_json  # noqa: E402
import harness  # noqa: E402
from fc_client import Client  # noqa: E402

FIRECRACKER_RESUME_MS = 8.0
FIRECRACKER_RESUME_P90_MS = 5.0
TICK = r"tick(\d+)\r*\n"


def wait_socket(path, timeout=10):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > end:
            raise SystemExit(f"no API socket at {path}")
        time.sleep(0.002)


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--engine", default="soft")
    ap.add_argument("--mem", type=int, default=512, help="MiB")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--json")
    a = ap.parse_args()
    build = Path(a.build)
    trivisor = str(build / "trivisor")
    kernel = build / "guest" / "bzImage"
    if not kernel.exists():
        raise SystemExit(f"{kernel} is missing: run 'make guest' first")
    initrd = harness.build_virtio_initramfs(build, log=lambda m: None)

    tmp = Path(tempfile.mkdtemp(prefix="snapbench-"))
    disk = tmp / "disk.img"
    subprocess.run(["mkfs.ext4", "-q", "-F", str(disk), "64M"], check=True, capture_output=True)
    state, mem = tmp / "vm.state", tmp / "vm.mem"
    sock = tmp / "src.sock"
    p = pexpect.spawn(trivisor, ["run", "--engine", a.engine, "--api-sock", str(sock),
                                 "--kernel", str(kernel), "--initrd", str(initrd),
                                 "--append", "console=ttyS0", "--mem", f"{a.mem}M",
                                 "--cpus", str(a.cpus), "--disk", str(disk), "--net", "user"],
                      encoding="utf-8", codec_errors="replace", timeout=300)
    p.expect_exact(harness.GUEST_PROMPT)
    p.sendline("i=0; while true; do i=$((i+1)); echo tick$i; usleep 50000; done &")
    p.expect(TICK)
    c = Client(sock)
    c.pause()
    t0 = time.monotonic()
    c.snapshot_create(state, mem)
    create_ms = (time.monotonic() - t0) * 1e3
    c.action("Stop")
    p.expect(pexpect.EOF)
    st_state, st_mem = state.stat(), mem.stat()
    sizes = {"state_bytes": st_state.st_size, "mem_bytes": st_mem.st_size,
             "mem_allocated_bytes": st_mem.st_blocks * 512}

    load_ms, running_ms = [], []
    for i in range(a.runs):
        s = tmp / f"r{i}.sock"
        q = pexpect.spawn(trivisor, ["run", "--api-sock", str(s), "--engine", a.engine],
                          encoding="utf-8", codec_errors="replace", timeout=60)
        wait_socket(s)
        c2 = Client(s)
        t0 = time.monotonic()
        c2.snapshot_load(state, mem, resume_vm=True)
        t1 = time.monotonic()
        q.expect(TICK)
        t2 = time.monotonic()
        load_ms.append((t1 - t0) * 1e3)
        running_ms.append((t2 - t0) * 1e3)
        c2.action("Stop")
        q.expect(pexpect.EOF)

    rows = [["snapshot/create (ms)", f"{create_ms:.1f}", "", ""],
            ["state file (KiB)", f"{sizes['state_bytes'] / 1024:.1f}", "", ""],
            ["memory file, apparent (MiB)", f"{sizes['mem_bytes'] / 2**20:.1f}", "",
             f"{a.mem} (the whole guest)"],
            ["memory file, on disk (MiB)", f"{sizes['mem_allocated_bytes'] / 2**20:.1f}", "", ""],
            ["snapshot/load, resume_vm (ms)", f"{statistics.median(load_ms):.1f}",
             f"{pct(load_ms, 90):.1f}", f"< {FIRECRACKER_RESUME_MS:.0f} (p90 {FIRECRACKER_RESUME_P90_MS:.0f})"],
            ["load to the guest's next line (ms)", f"{statistics.median(running_ms):.1f}",
             f"{pct(running_ms, 90):.1f}", ""]]
    print(f"{a.engine}: {a.cpus} vCPUs, {a.mem} MiB, 1 disk, 1 NIC; {a.runs} restores")
    print_table(["figure", "median", "p90", "Firecracker (documented)"], rows)
    print(f"restore latency vs Firecracker's documented target: "
          f"{statistics.median(load_ms) / FIRECRACKER_RESUME_MS:.2f}x")
    if a.json:
        write_json(a.json, {"engine": a.engine, "mem_mib": a.mem, "cpus": a.cpus,
                            "create_ms": create_ms, **sizes, "load_ms": load_ms,
                            "running_ms": running_ms})
    subprocess.run(["rm", "-rf", str(tmp)])


if __name__ == "__main__":
    main()
