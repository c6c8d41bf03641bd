"""bench/virtio_bench.py works: its plumbing (fresh disk images with the random-I/O
program built here, the host's HTTP server, the guest driven on its console, the table
and JSON) through its QEMU column on --quick sizes: one QEMU TCG boot, ~15 s. The
trivisor columns use the same code with another command line; the virtio tests boot
trivisor itself."""
import json
import re
import shutil
import subprocess
import sys

import pytest

from harness import REPO

SCRIPT = REPO / "bench" / "virtio_bench.py"


def bench(build, tmp_path, *args, timeout=300):
    return subprocess.run([sys.executable, str(SCRIPT), "--build", str(build),
                           "--log", str(tmp_path / "console.log"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(not (shutil.which("qemu-system-x86_64") and shutil.which("mkfs.ext4")),
                    reason="needs qemu-system-x86_64 and mkfs.ext4")
def test_qemu_column_quick(build, guest_images, tmp_path):
    js = tmp_path / "out.json"
    r = bench(build, tmp_path, "--engines", "qemu", "--runs", 1, "--quick", "--json", js)
    assert r.returncode == 0, r.stdout + r.stderr + (tmp_path / "console.log").read_text()[-3000:]
    lines = r.stdout.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("figure "))
    assert re.split(r"\s{2,}", lines[head].strip()) == ["figure", "QEMU TCG"], r.stdout
    rows = [re.split(r"\s{2,}", l.strip()) for l in lines[head + 2:head + 7]]
    assert [row[0] for row in rows] == [
        "seq write, 1 MiB O_DIRECT, 4 MiB (MiB/s)", "seq read, 1 MiB O_DIRECT, 4 MiB (MiB/s)",
        "rand write, 4 KiB O_DIRECT, 100 requests (IOPS)",
        "rand read, 4 KiB O_DIRECT, 100 requests (IOPS)", "net fetch (HTTP, slirp), 2 MiB (MiB/s)"]
    assert all(float(row[1]) > 0 for row in rows), rows

    doc = json.loads(js.read_text())
    col = doc["columns"]["qemu"]
    assert len(col["runs"]) == 1 and not col["failures"]
    run = col["runs"][0]
    assert re.fullmatch(r"[0-9a-f]{16}", run["rand_checksum"]) and run["exit_status"] == 0
    assert "virtio-blk-pci" in " ".join(col["command"])
    assert doc["config"]["seq_mib"] == 4 and doc["config"]["net_mib"] == 2


def test_bad_arguments(build, tmp_path):
    r = bench(build, tmp_path, "--engines", "soft,bochs")
    assert r.returncode == 2 and "unknown bochs" in r.stderr, r.stderr
    r = bench(build, tmp_path, "--rand-ops", 0)
    assert r.returncode == 2 and "--rand-ops must be at least 1" in r.stderr, r.stderr
