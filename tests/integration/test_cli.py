"""trivisor's command line refusing what it cannot run: directly on this host, no guest
boots. Also run against the sanitizer build when TRIVISOR_ASAN_BUILD names one, since
error paths are where leaks hide."""
import os
import subprocess
from pathlib import Path

import pytest

from machines import host_has_kvm


def _builds():
    builds = [("build", os.environ.get("TRIVISOR_BUILD") or "build")]
    if os.environ.get("TRIVISOR_ASAN_BUILD"):
        builds.append(("asan", os.environ["TRIVISOR_ASAN_BUILD"]))
    return [pytest.param(Path(b).resolve(), id=name) for name, b in builds]


@pytest.fixture(params=_builds())
def trivisor(request):
    exe = request.param / "trivisor"
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{exe} not found: build it first (make build)", pytrace=False)

    def run(*args):
        p = subprocess.run([str(exe), *map(str, args)], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        assert "Sanitizer" not in p.stderr, p.stderr
        return p
    return run


def test_version(trivisor):
    p = trivisor("--version")
    assert p.returncode == 0 and p.stdout.startswith("trivisor "), p


def test_kvm_engine_needs_dev_kvm(trivisor, trivisor_bin, guest_images):
    if host_has_kvm(trivisor_bin):
        pytest.skip("this host has a working /dev/kvm")
    p = trivisor("run", "--engine", "kvm", "--kernel", guest_images["kernel"])
    assert p.returncode == 3, p        # documented: engine not available
    assert "/dev/kvm" in p.stderr, p.stderr


def test_engines_lists_every_engine(trivisor, trivisor_bin):
    p = trivisor("engines")
    names = [line.split()[0] for line in p.stdout.splitlines()]
    assert names == ["kvm", "soft"], p.stdout
    assert p.returncode == (0 if "available" in [l.split()[1] for l in p.stdout.splitlines()] else 3)


def test_missing_kernel(trivisor, tmp_path):
    path = tmp_path / "no-such-bzImage"
    p = trivisor("run", "--kernel", path)
    assert p.returncode != 0
    assert str(path) in p.stderr, p.stderr


def test_not_a_kernel(trivisor, tmp_path):
    path = tmp_path / "not-a-kernel"
    path.write_bytes(b"this is not a kernel\n" * 4096)
    p = trivisor("run", "--kernel", path)
    assert p.returncode != 0
    assert str(path) in p.stderr or "kernel" in p.stderr.lower(), p.stderr


def test_truncated_kernel(trivisor, guest_images, tmp_path):
    """The stock kernel cut short, as by an interrupted copy: refused before it runs,
    not booted into a crash."""
    path = tmp_path / "bzImage-truncated"
    path.write_bytes(guest_images["kernel"].read_bytes()[:1 << 20])
    p = trivisor("run", "--kernel", path)
    assert p.returncode == 1, p.stderr
    assert f"{path}: truncated bzImage" in p.stderr, p.stderr


def test_mem_larger_than_the_host(trivisor, build):
    """More guest RAM than the host has starts (RAM is reserved lazily, as a guest may
    never touch it all) but says so; this guest triple-faults at once."""
    p = trivisor("run", "--engine", "soft", "--mem", "1T",
                 "--kernel", build / "tests" / "guests" / "hostile_triple.bin")
    assert p.returncode == 4, p.stdout + p.stderr
    assert "--mem 1048576 MiB is more than this host's" in p.stderr, p.stderr


def test_mem_too_small(trivisor, guest_images):
    p = trivisor("run", "--mem", "1", "--kernel", guest_images["kernel"])
    assert p.returncode != 0
    assert "mem" in p.stderr.lower(), p.stderr


def test_firmware_boot_refusals(trivisor, tmp_path):
    """A firmware boot refuses what cannot boot, naming the file: a BIOS image of the
    wrong size, a missing one, a missing CD image, a disk image another VM holds."""
    bad = tmp_path / "bios.bin"
    bad.write_bytes(b"\0" * 1000)
    p = trivisor("run", "--engine", "soft", "--bios", bad)
    assert p.returncode == 1 and f"firmware {bad}: 1000 bytes is not a BIOS image" in p.stderr, p
    p = trivisor("run", "--engine", "soft", "--bios", tmp_path / "none.bin")
    assert p.returncode == 1 and "none.bin" in p.stderr, p
    p = trivisor("run", "--engine", "soft", "--cdrom", tmp_path / "none.iso")
    assert p.returncode == 1 and "none.iso" in p.stderr, p
    p = trivisor("run", "--engine", "soft", "--mem", "512K")
    assert p.returncode == 2, p


def test_output_files_checked_before_the_guest_runs(trivisor, build, tmp_path):
    """Files written later (a snapshot at Ctrl-A w, the screen dump, the --stats-json
    report at exit) in a directory that does not exist, or over a directory, are refused
    at once with status 1, naming the option: not found out when the snapshot or the
    report is lost. The guest would run until a key: it must not start."""
    guest = build / "tests" / "guests" / "snapcount.bin"
    missing = tmp_path / "no-such-dir" / "f"
    cases = [("--snapshot", f"{missing}.state,mem={tmp_path}/m", f"{missing}.state"),
             ("--snapshot", f"{tmp_path}/s,mem={missing}.mem", f"{missing}.mem"),
             ("--screen-dump", missing, missing),
             ("--stats-json", missing, missing)]
    for opt, arg, named in cases:
        p = trivisor("run", "--engine", "soft", "--mem", "64M", opt, arg, "--kernel", guest)
        assert p.returncode == 1, (opt, p)
        assert f"{opt} {named}: cannot write in {missing.parent}: No such file or directory" \
            in p.stderr, (opt, p.stderr)
        assert "count:" not in p.stdout, (opt, p.stdout)
    p = trivisor("run", "--engine", "soft", "--mem", "64M", "--stats-json", tmp_path,
                 "--kernel", guest)
    assert p.returncode == 1 and f"--stats-json {tmp_path}: is a directory" in p.stderr, p
