"""Short libFuzzer runs of every fuzz target (tests/fuzz/fuzz_*.c; seeds.py lists them):
the virtio transports and devices, the emulated PC's devices, the interrupt
controllers, the loaders, the translator, the control API and the snapshot loader.

Each target first runs its seeds alone (tests/fuzz/seeds.py), which must get the device
past its parsing into real work (the counters it prints at exit), then fuzzes for
TRIVISOR_FUZZ_SECONDS (default 12) seconds from them under ASan and UBSan, as many
targets at a time as there are CPUs (two at most). Any crash, sanitizer report, leak,
timeout or broken invariant makes libFuzzer exit non-zero and leaves the input that did
it under build-fuzz/artifacts/ (the test prints its path). scripts/fuzz_campaign.py runs
the long campaigns.

Environment: TRIVISOR_FUZZ_BUILD (default build-fuzz/): the clang build made by
`make fuzz` (CC=clang meson setup build-fuzz -Dfuzz=true); it is set up and built here
when missing."""
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import seeds  # noqa: E402
from libfuzzer import ENV, OPTIONS  # noqa: E402

from harness import TIMINGS  # noqa: E402  (tests/conftest.py puts harness on the path)

SECONDS = int(os.environ.get("TRIVISOR_FUZZ_SECONDS", "12"))

# What the seeds alone must reach: counters printed by each target at exit.
SEED_FLOOR = {
    # fw_cfg: items and files through the ports and by DMA, refused descriptors
    "fw_cfg": {"selects": 3, "bytes": 200, "dma_ops": 5, "dma_errors": 2},
    "virtqueue": {"chains": 4, "indirect_chains": 1, "iovecs": 4},
    "blk": {"reads": 1, "writes": 1, "flushes": 1, "get_ids": 1, "discards": 1,
            "write_zeroes": 1, "unsupp": 1},
    "net": {"tx_frames": 1, "rx_frames": 1, "tx_malformed": 1, "rx_small_buffer": 1},
    "console": {"tx_bytes": 6, "rx_bytes": 20},
    "rng": {"requests": 3, "bytes": 128},
    "mmio": {"reads": 1, "raised": 1},
    # the translator: inline and handler code, chained blocks, a flushed arena, stores
    # into code, delivered exceptions, user and 32-bit code, port I/O and HLT
    "translate": {"insns": 2000, "blocks": 20, "inline": 100, "handlers": 20, "chained": 5,
                  "flushes": 1, "smc": 1, "delivered": 3, "user": 1, "compat": 1, "io": 2,
                  "hlt": 1},
    # the e1000: frames both ways (TSO too), a full ring, the filter, refused DMA
    "e1000": {"tx_frames": 6, "rx_frames": 6, "tx_tso": 1, "tx_malformed": 1, "rx_filtered": 1,
              "rx_queued": 4, "rx_no_desc": 1, "bad_dma": 3, "dma_disabled": 1,
              "rx_bad_size": 2, "unknown_regs": 3},
    # the VGA: text and graphics screens, the cursor, VBE, both BARs, typed keys
    "vga": {"port_writes": 100, "mem_writes": 50, "fb_writes": 2, "mmio": 8, "unmapped": 2,
            "ignored": 1,
            "snapshots": 8, "text_screens": 6, "graphics_screens": 2, "cursors": 2,
            "chars": 20, "scancodes": 30},
    # AHCI: disk reads and writes, ATAPI packets and CD reads, refused commands
    "ahci": {"commands": 40, "packets": 20, "sectors_read": 10, "sectors_written": 3,
             "cd_read": 3, "flushes": 2, "errors": 10, "malformed": 4, "resets": 2,
             "ignored": 2},
    # the kernel loaders: each format loaded and refused (truncated, misplaced, too big
    # for RAM), initrds and command lines over the limit, BIOS images of each size
    "boot": {"bzimage_ok": 8, "bzimage_refused": 8, "vmlinux_ok": 3, "vmlinux_refused": 8,
             "multiboot_elf_ok": 3, "multiboot_kludge_ok": 2, "multiboot_refused": 8,
             "firmware_ok": 2, "firmware_refused": 3, "not_kernel": 1, "too_large": 1,
             "initrd_ok": 6, "initrd_refused": 2, "cmdline_refused": 3, "ram_refused": 6},
    # the PCI host: both configuration paths and absent functions, BARs sized, moved and
    # refused, INTx shared, a virtio driver's MSI-X (masked, then delivered), a reset
    "pci": {"cfg_reads": 300, "cfg_writes": 25, "ecam": 100, "absent_reads": 150,
            "ext_reads": 15, "bar_accesses": 40, "moves": 20, "sizings": 10, "refused": 5,
            "resets": 1, "intx_rises": 5, "msix_sent": 2, "msix_masked": 2,
            "rng_requests": 3, "bad_accesses": 4},
    # the interrupt controllers: LAPIC pages and MSRs, IOAPIC and 8259A deliveries taken
    # and EOIed, MSIs, timers fired, a PV EOI, INIT/SIPI/NMI/ExtINT, x2APIC
    "irqchip": {"lapic_accesses": 90, "msr_ok": 15, "msr_gp": 5, "ioapic_writes": 20,
                "pic_writes": 25, "gsi_changes": 25, "msis": 6, "msi_refused": 2,
                "lapic_acks": 18, "pic_acks": 9, "eois": 18, "pv_eois": 1, "timer_fires": 3,
                "inits": 1, "sipis": 1, "nmis": 1, "extints": 1, "x2apic": 1},
    # the legacy devices: console output and input, keys, IIR, CMOS and the clock, the
    # PIT's line, every documented stop, the SCI
    "legacy": {"accesses": 900, "claimed": 600, "tx_bytes": 10, "rx_bytes": 30, "keys": 60,
               "iir_reads": 10, "cmos_checked": 20, "time_checked": 12, "pit_checked": 900,
               "debug_exits": 4, "kbc_resets": 2, "s5": 2, "wakes": 2, "sci": 4,
               "pit_edges": 3},
    # the control API: a client's whole session, a snapshot load, refusals, a config file
    "api": {"requests": 30, "ok": 20, "refused": 10, "starts": 2, "loads": 2, "pauses": 1,
            "resumes": 2, "snapshots": 1, "actions": 2, "configs_ok": 1},
    # the snapshot loader: state files parsed and refused (cut, flipped, another version,
    # a section twice), each kind of section loaded and refused, memory files read back
    # and refused, device state round trips
    "snapshot": {"parsed": 4, "framing_refused": 1, "damage_refused": 3, "dup_refused": 1,
                 "sections": 15, "loads_ok": 12, "loads_refused": 1, "configs_ok": 1,
                 "cpuids_ok": 1, "cpus_ok": 1, "mem_ok": 2, "mem_refused": 3, "roundtrips": 3,
                 "exercised": 4},
}


@pytest.fixture(scope="session")
def fuzz_build():
    d = Path(os.environ.get("TRIVISOR_FUZZ_BUILD") or REPO / "build-fuzz").resolve()
    if not shutil.which("clang"):
        pytest.fail("clang is not installed (scripts/deps.sh installs clang and "
                    "libclang-rt-14-dev, which has libFuzzer)", pytrace=False)
    if not (d / "build.ninja").exists():
        r = subprocess.run(["meson", "setup", str(d), "-Dfuzz=true", "-Db_lundef=false"],
                           cwd=REPO, env=dict(os.environ, CC="clang"), capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["ninja", "-C", str(d)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return d


def stats(output: str) -> dict:
    m = re.search(r"^fuzz-stats:(.*)$", output, re.M)
    assert m, output[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def run_target(exe: Path, target: str, work: Path, artifacts: Path) -> dict:
    """The seeds alone, then SECONDS of fuzzing from them: what test_fuzz checks."""
    seed_dir, corpus = work / "seeds", work / "corpus"
    seeds.write(target, seed_dir)
    corpus.mkdir(parents=True)
    seeded = subprocess.run([str(exe), "-runs=0", str(seed_dir)], capture_output=True,
                            text=True, env=ENV, timeout=120)
    if seeded.returncode != 0:
        return {"seeded": seeded}
    t0 = time.monotonic()
    fuzzed = subprocess.run([str(exe), f"-max_total_time={SECONDS}", *OPTIONS,
                             f"-artifact_prefix={artifacts}/{target}-", str(corpus),
                             str(seed_dir)],
                            capture_output=True, text=True, env=ENV, timeout=SECONDS + 120)
    return {"seeded": seeded, "fuzzed": fuzzed, "seconds": time.monotonic() - t0}


@pytest.fixture(scope="module")
def runs(request, fuzz_build, tmp_path_factory):
    """The selected targets' runs, started here a CPU's worth at a time: each fuzzes for
    a fixed time on a CPU of its own, so side by side they only make the suite shorter.
    test_fuzz[target] waits for its own."""
    chosen = [i.callspec.params["target"] for i in request.session.items
              if i.module is request.module and hasattr(i, "callspec")]
    artifacts = fuzz_build / "artifacts"
    artifacts.mkdir(exist_ok=True)
    work = tmp_path_factory.mktemp("fuzz")
    # Under pytest -n, the other workers have CPUs of their own to keep.
    cpus = (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    pool = ThreadPoolExecutor(max_workers=max(1, min(2, cpus)))
    futures = {t: pool.submit(run_target, fuzz_build / "tests" / "fuzz" / f"fuzz_{t}", t,
                              work / t, artifacts) for t in chosen}
    yield futures
    pool.shutdown(cancel_futures=True)


@pytest.mark.parametrize("target", list(seeds.SEEDS))
def test_fuzz(runs, target):
    res = runs[target].result()

    # The seeds alone: they must reach the device's real work, or the fuzzing below
    # would only ever see refused input.
    r = res["seeded"]
    assert r.returncode == 0, r.stderr[-6000:]
    got = stats(r.stderr)
    low = {k: (got.get(k), floor) for k, floor in SEED_FLOOR[target].items()
           if got.get(k, 0) < floor}
    assert not low, f"the seeds fall short (counter: (got, wanted)): {low}"

    r = res["fuzzed"]
    found = re.findall(r"(?:Test unit written to|artifact_prefix.*?) (\S+)", r.stderr)
    assert r.returncode == 0, (f"fuzz_{target} found a problem (input: {found}):\n"
                               + r.stderr[-8000:])
    execs = int(re.search(r"stat::number_of_executed_units:\s*(\d+)", r.stderr).group(1))
    got = stats(r.stderr)
    TIMINGS.append((f"fuzz_{target}: {execs} inputs ({execs / SECONDS:.0f}/s); "
                    + " ".join(f"{k}={v}" for k, v in got.items()), res["seconds"]))
    assert execs > 1000, r.stderr[-3000:]
