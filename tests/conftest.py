"""Fixtures shared by tests/integration and tests/nested.

Environment:
  TRIVISOR_BUILD        build dir (default build/), holding trivisor, guest/ (made by
                        scripts/mkguest.sh), tests/guests/ and nested/
  TRIVISOR_ASAN_BUILD   optional sanitizer build; the quick CLI tests run it too
"""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests" / "nested"), str(REPO / "scripts")]

import harness  # noqa: E402
from harness import TIMINGS  # noqa: E402


@pytest.fixture(scope="session")
def build() -> Path:
    return harness.build_dir()


@pytest.fixture(scope="session")
def trivisor_bin(build):
    exe = build / "trivisor"
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{exe} not found: build it first (make build, or "
                    f"meson setup {build} && ninja -C {build})", pytrace=False)
    return exe


@pytest.fixture(scope="session")
def guest_images(build):
    """The stock-kernel guest: bzImage, initramfs, kernel version (never skipped:
    missing images are a setup error)."""
    g = build / "guest"
    files = {"kernel": g / "bzImage", "initrd": g / "initramfs.cpio.gz",
             "version": g / "kernel.version"}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        pytest.fail(f"guest images missing ({', '.join(missing)}): run scripts/mkguest.sh"
                    + (f" --out {g}" if os.environ.get("TRIVISOR_BUILD") else ""), pytrace=False)
    return files


@pytest.fixture(scope="session")
def outer_vm(build):
    """One nested outer guest (QEMU TCG + SVM, /dev/kvm inside) for the whole session,
    booted on first use; a test that leaves it broken gets it rebooted for the next."""
    outer = harness.OuterVM(build)
    try:
        outer.start()
    except (harness.HarnessError, harness.mkguest.GuestError) as e:
        pytest.fail(f"nested outer guest: {e}", pytrace=False)
    TIMINGS.append(("nested outer guest boot", outer.boot_seconds))
    yield outer
    outer.close()


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.section("trivisor timings")
        for what, secs in TIMINGS:
            terminalreporter.write_line(f"{secs:8.1f} s  {what}")
