"""Crash consistency, a few runs of bench/crash_bench.py (the benchmark does 50): the
guest writes, fsyncs and syncs files on ext4 over a virtio disk and over an AHCI disk,
trivisor is SIGKILLed at a random moment, and the host finds the file system clean
after a journal replay and every file the guest reported synced intact. Soft engine on
this host (the benchmark drives trivisor directly; --engine kvm where /dev/kvm works)."""
import subprocess
import sys

import pytest

from harness import REPO


@pytest.mark.parametrize("disk_if", ["virtio", "ahci"])
def test_synced_writes_survive_sigkill(build, trivisor_bin, guest_images, disk_if):
    r = subprocess.run([sys.executable, str(REPO / "bench" / "crash_bench.py"), "--build",
                        str(build), "--runs", "2", "--disk-if", disk_if, "--max-kill", "6"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2/2 runs good" in r.stdout, r.stdout
