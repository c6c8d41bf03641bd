"""bench/linux_bench.py works: its native column on small sizes (no VM is booted), its
table and JSON, and a hung or missing peer ends that column with a clear reason while
the others are still reported. A few seconds in all."""
import hashlib
import json
import re
import subprocess
import sys

import pytest

from harness import REPO

SCRIPT = REPO / "bench" / "linux_bench.py"
MIB = 4   # --quick
FORKS = 30


def bench(build, tmp_path, *args, timeout=60):
    return subprocess.run([sys.executable, str(SCRIPT), "--build", str(build),
                           "--log", str(tmp_path / "console.log"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def expected_digest(build):
    """SHA-256 of the benchmark's input, made here independently of the script: busybox's
    gzip of the busybox binary, repeated and cut to MIB MiB."""
    busybox = build / "guest" / "busybox" / "bin" / "busybox"
    block = subprocess.run([str(busybox), "gzip", "-c", str(busybox)], capture_output=True,
                           check=True).stdout
    size = MIB << 20
    return hashlib.sha256((block * (size // len(block) + 1))[:size]).hexdigest()


def table_rows(out):
    """{figure: [cells]} of the printed table (cells split on runs of 2+ spaces)."""
    lines = out.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("figure (seconds)"))
    assert set(lines[head + 1].replace(" ", "")) == {"-"}, out
    rows = {}
    for l in lines[head + 2:]:
        if not l.strip():
            break
        cells = re.split(r"\s{2,}", l.strip())
        rows[cells[0]] = cells[1:]
    return re.split(r"\s{2,}", lines[head].strip())[1:], rows


@pytest.fixture
def busybox_guest(build):
    if not (build / "guest" / "busybox" / "bin" / "busybox").exists():
        pytest.fail(f"{build}/guest missing: run scripts/mkguest.sh", pytrace=False)
    return build


def test_native_column_table_and_json(busybox_guest, tmp_path):
    build = busybox_guest
    js = tmp_path / "out.json"
    r = bench(build, tmp_path, "--engines", "native", "--runs", 2, "--quick", "--json", js)
    assert r.returncode == 0, r.stdout + r.stderr
    cols, rows = table_rows(r.stdout)
    assert cols == ["native"], r.stdout
    assert list(rows) == ["boot to first kernel line", "boot to /init (kernel line)",
                          "boot to shell prompt",
                          f"sha256sum {MIB} MiB", f"gzip -c {MIB} MiB", f"{FORKS} fork+exec"]
    assert rows["boot to shell prompt"] == ["n/a"]
    for fig in (f"sha256sum {MIB} MiB", f"gzip -c {MIB} MiB", f"{FORKS} fork+exec"):
        m = re.fullmatch(r"(\d+\.\d+) \((\d+\.\d+)-(\d+\.\d+)\)", rows[fig][0])
        assert m, (fig, rows[fig])
        med, lo, hi = map(float, m.groups())
        assert 0 < lo <= med <= hi, (fig, rows[fig])

    doc = json.loads(js.read_text())
    col = doc["columns"]["native"]
    assert col["state"] == "ok" and len(col["runs"]) == 2 and not col["failures"]
    digest = expected_digest(build)
    # The workload hashed exactly the input the script says it generated.
    assert {run["sha256_digest"] for run in col["runs"]} == {digest}
    assert f"sha256 {digest}" in r.stdout
    for key in ("sha256", "gzip", "forkexec"):
        s = col["summary"][key]
        assert s["n"] == 2 and s["min"] <= s["median"] <= s["max"] and s["min"] > 0
    assert "boot_prompt" not in col["summary"]
    assert doc["config"]["size_bytes"] == MIB << 20 and doc["config"]["forks"] == FORKS
    assert "commands:" in r.stdout and "busybox sh" in col["command"]


def test_hung_peer_fails_its_column_only(busybox_guest, tmp_path):
    """A 'QEMU' that never prints a prompt (a stand-in that sleeps) must end with a
    timeout reason in its column, not hang the benchmark; native is still measured."""
    hang = tmp_path / "hang"
    hang.write_text('#!/bin/sh\n[ "$1" = --version ] && exec echo hang 1.0\nexec sleep 30\n')
    hang.chmod(0o755)
    r = bench(busybox_guest, tmp_path, "--engines", "qemu,native", "--runs", 1, "--quick",
              "--timeout", 1, "--qemu", hang, timeout=25)
    assert r.returncode == 1, r.stdout + r.stderr
    cols, rows = table_rows(r.stdout)
    assert cols == ["QEMU TCG", "native", "qemu/native"], r.stdout
    assert rows[f"sha256sum {MIB} MiB"][0] == "failed"
    assert re.fullmatch(r"\d+\.\d+", rows[f"sha256sum {MIB} MiB"][1]), rows
    assert "QEMU TCG: failed: timed out after 1 s waiting for the shell prompt" in r.stdout


def test_bad_arguments(busybox_guest, tmp_path):
    r = bench(busybox_guest, tmp_path, "--engines", "native,bochs")
    assert r.returncode == 2 and "unknown bochs" in r.stderr, r.stderr
    r = bench(busybox_guest, tmp_path, "--engines", "qemu", "--qemu", tmp_path / "nope",
              "--runs", 1, "--quick")
    # Nothing measured: a failure, with the reason.
    assert r.returncode == 1 and "QEMU TCG: skipped:" in r.stdout and "not found" in r.stdout, \
        r.stdout + r.stderr


def test_known_boot_stall_is_retried(busybox_guest, tmp_path):
    """A boot that prints the kernel's failed-TSC-calibration line and then goes quiet
    (QEMU microvm's known random hang) fails after --stall-grace, not --timeout, and is
    tried again; 3 retries, then it counts as a failed run."""
    fake = tmp_path / "stall"
    fake.write_text('#!/bin/sh\n[ "$1" = --version ] && exec echo stall 1.0\n'
                    'echo "[    0.000000] tsc: Marking TSC unstable due to could not '
                    'calculate TSC khz"\nexec sleep 30\n')
    fake.chmod(0o755)
    r = bench(busybox_guest, tmp_path, "--engines", "qemu", "--runs", 1, "--quick",
              "--timeout", 20, "--stall-grace", 0.5, "--qemu", fake, timeout=40)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert out.count("could not calibrate the TSC against the PIT and hung") >= 4, out
    assert out.count("; trying again") == 3, out
    assert "QEMU TCG run 4: failed" in out and "QEMU TCG run 5" not in out, out
