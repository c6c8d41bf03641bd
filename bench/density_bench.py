#!/usr/bin/python3
"""density_bench: how many idle VMs fit on this host, and what each costs.

Boots N VMs of the same kind one after the other (the stock Debian kernel with the
busybox initramfs, each to its shell prompt), lets them sit idle, then measures every
VMM process from /proc. --mem is 96M by default: the stock kernel asks for 80 MiB to
unpack itself (its init_size, loaded at 16 MiB), so a 64 MiB guest cannot boot it; an
idle guest touches far less than either, which is what counts below.

  guest RAM   the proportional set size (PSS) of the guest-RAM mapping: the pages the
              guest has touched (the mapping is found by its size, --mem)
  VMM         the PSS of everything else: the VMM's own heap, threads, translated code
              (shown apart for trivisor, whose code cache is a named memfd), device
              buffers and its share of the binary and libraries
  CPU         the VMM's CPU time over --idle seconds of idling, as % of one host CPU

and the same for QEMU TCG (-M pc -nodefaults, the same kernel, initramfs and --mem) as the peer
measured in the same run. "fit" is how many such VMs the host's available memory holds
at the per-VM total (guest RAM + VMM), and how many at 100% of one CPU in idle load
(CPU is not the limit for idle guests; it is printed so that a busy-idle VMM would show).
Firecracker documents its VMM overhead as under 5 MiB per microVM; that figure is quoted,
not measured here.

    bench/density_bench.py [--vms 8] [--mem 96M] [--idle 10] [--engines soft,qemu]
                           [--build build] [--json PATH]
"""
import argparse
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pexpect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "nested"))
from tables import print_table, write_json  # noqa: E402
import harness  # noqa: E402  (GUEST_PROMPT)

# -M pc with -nodefaults: no VGA or NIC, the serial port only. (-M microvm, lighter, hangs
# here calibrating the TSC without a PIT under QEMU 7.2's TCG.)
QEMU_MACHINE = "pc"
FIRECRACKER_DOC_MIB = 5.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def mem_bytes(s: str) -> int:
    m = re.fullmatch(r"(\d+)([KMG]?)", s.upper())
    if not m:
        raise SystemExit(f"--mem {s}: use e.g. 64M")
    return int(m.group(1)) << {"": 20, "K": 10, "M": 20, "G": 30}[m.group(2)]


def smaps(pid: int, guest_size: int):
    """(guest RAM, translated code, everything else): PSS in bytes. Guest RAM is the
    mapping of the guest's size (within 2 MiB: VMMs map it whole, the VGA window and
    alignment aside); trivisor's translated code is its named memfd "trivisor-jit"
    (mapped twice, writable and executable, whose PSS halves add up to the pages
    touched). QEMU's translation buffer is anonymous: it stays in "everything else"."""
    guest = jit = other = 0
    size, name = 0, ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                size = int(m.group(2), 16) - int(m.group(1), 16)
                name = m.group(3)
            elif line.startswith("Pss:"):
                b = int(line.split()[1]) << 10
                if "trivisor-jit" in name:
                    jit += b
                elif abs(size - guest_size) <= (2 << 20):
                    guest += b
                else:
                    other += b
    return guest, jit, other


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime + stime


def mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) << 10
    return 0


def argv_for(engine, a, kernel, initrd):
    if engine == "qemu":
        return [a.qemu, "-M", QEMU_MACHINE, "-accel", "tcg", "-cpu", "max", "-m", a.mem,
                "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0",
                "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio"]
    eng, _, tier = engine.partition("-")
    args = [str(Path(a.build) / "trivisor"), "run", "--engine", eng, "--mem", a.mem,
            "--kernel", kernel, "--initrd", initrd, "--append", "console=ttyS0"]
    if tier:
        args += ["--soft-tier", tier]
    return args


def measure(engine, a, kernel, initrd):
    procs = []
    try:
        t0 = time.monotonic()
        for i in range(a.vms):
            argv = argv_for(engine, a, kernel, initrd)
            p = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace",
                              timeout=a.timeout)
            p.expect_exact(harness.GUEST_PROMPT)
            procs.append(p)
        boot_s = time.monotonic() - t0
        time.sleep(2)                        # the last one settles
        ticks0 = [cpu_ticks(p.pid) for p in procs]
        time.sleep(a.idle)
        ticks1 = [cpu_ticks(p.pid) for p in procs]
        guest = jit = other = 0
        for p in procs:
            g, j, o = smaps(p.pid, mem_bytes(a.mem))
            guest += g
            jit += j
            other += o
        n = len(procs)
        cpu = sum(t1 - t0 for t0, t1 in zip(ticks0, ticks1)) / CLK_TCK / a.idle / n * 100
        return {"vms": n, "boot_all_s": boot_s, "guest_mib": guest / n / 2**20,
                "vmm_mib": (jit + other) / n / 2**20, "code_mib": jit / n / 2**20,
                "cpu_pct": cpu}
    finally:
        for p in procs:
            p.terminate(force=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vms", type=int, default=8)
    ap.add_argument("--mem", default="96M")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idling measured")
    ap.add_argument("--engines", default="soft,qemu")
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--timeout", type=float, default=120.0, help="per boot, s")
    ap.add_argument("--json", help="also write the figures as JSON to this path ('-': stdout)")
    a = ap.parse_args()
    kernel = str(Path(a.build) / "guest" / "bzImage")
    initrd = str(Path(a.build) / "guest" / "initramfs.cpio.gz")
    for f in (kernel, initrd):
        if not Path(f).exists():
            raise SystemExit(f"{f} is missing: run 'make guest' first")
    if "qemu" in a.engines and not shutil.which(a.qemu):
        raise SystemExit(f"{a.qemu} not found (Debian: apt-get install qemu-system-x86)")

    avail = mem_available()
    results = {}
    for engine in a.engines.split(","):
        print(f"{engine}: booting {a.vms} VMs of {a.mem}...", flush=True)
        results[engine] = measure(engine, a, kernel, initrd)

    rows = []
    for engine, r in results.items():
        per_vm = (r["guest_mib"] + r["vmm_mib"]) * 2**20
        r["fit_by_memory"] = int(avail // per_vm)
        r["fit_by_cpu"] = int(os.cpu_count() * 100 / r["cpu_pct"]) if r["cpu_pct"] > 0 else None
        rows.append([engine, str(r["vms"]), f"{r['guest_mib']:.1f}", f"{r['vmm_mib']:.1f}",
                     f"{r['code_mib']:.1f}" if r["code_mib"] else "-",
                     f"{r['guest_mib'] + r['vmm_mib']:.1f}", f"{r['cpu_pct']:.2f}",
                     str(r["fit_by_memory"]),
                     str(r["fit_by_cpu"]) if r["fit_by_cpu"] is not None else "-",
                     f"{r['boot_all_s']:.1f}"])
    print(f"host: {os.cpu_count()} CPUs, {avail / 2**30:.1f} GiB available; "
          f"{a.vms} idle VMs of {a.mem} each, idle {a.idle:.0f} s")
    print_table(["VMM", "VMs", "guest RAM MiB/VM", "VMM MiB/VM", "of it translated code",
                 "total MiB/VM",
                 "idle CPU %/VM", "fit (memory)", "fit (CPU)", "boot all (s)"], rows)
    if "soft" in results and "qemu" in results:
        s, q = results["soft"], results["qemu"]
        print(f"trivisor soft / QEMU TCG: VMM memory {s['vmm_mib'] / q['vmm_mib']:.2f}x, "
              f"total per VM {(s['guest_mib'] + s['vmm_mib']) / (q['guest_mib'] + q['vmm_mib']):.2f}x, "
              f"idle CPU {s['cpu_pct'] / q['cpu_pct']:.2f}x" if q["cpu_pct"] else "")
    print(f"Firecracker documents under {FIRECRACKER_DOC_MIB:.0f} MiB of VMM overhead per "
          "microVM (its figure, not measured here).")
    if a.json:
        write_json(a.json, {"host": {"cpus": os.cpu_count(), "mem_available": avail},
                            "mem": a.mem, "idle_s": a.idle, "results": results})


if __name__ == "__main__":
    main()
