"""Fixtures shared by tests/integration and tests/nested.

Environment:
  TRIVISOR_BUILD        build dir (default build/), holding trivisor, guest/ (made by
                        scripts/mkguest.sh), tests/guests/ and nested/
  TRIVISOR_ASAN_BUILD   optional sanitizer build; the quick CLI tests run it too

Under pytest-xdist (`make test` runs `-n 2 --dist loadgroup`) the tests form two groups,
each run in order by one worker: those in the nested outer guest (one QEMU, booted once)
and those on this host (which share its VM registry, TAP devices and ports). The two
machines share nothing but the CPUs, so the groups run side by side.
"""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests" / "nested"), str(REPO / "tests" / "integration"),
                str(REPO / "scripts")]

import harness  # noqa: E402
from _pytest.runner import runtestprotocol  # noqa: E402
from harness import TIMINGS  # noqa: E402
from machines import host_has_kvm  # noqa: E402

# What the end-of-run summary lists, gathered from the test reports (under xdist they
# are made in the workers): TIMINGS entries, and the runs that failed on a nested outer
# guest stall and so ran again ("test id: run N failed", that run's failure with what
# the outer guest said).
SHOWN_TIMINGS = []
NESTED_RERUNS = []
_timings_sent = 0
# Seconds and tests per xdist group (the node id's "@group"): the groups run side by
# side, so the longer one is the suite's length.
GROUP_SECONDS = {}


def pytest_configure(config):
    # xdist registers it too; without xdist the groups are unused.
    config.addinivalue_line("markers", "xdist_group(name): the xdist worker group")
    dist = config.getoption("dist", "no")
    if dist not in ("no", "loadgroup"):
        # Any other split would boot an outer guest per worker, on the same scratch disks.
        raise pytest.UsageError(f"--dist {dist}: the tests need --dist loadgroup under "
                                "xdist (make test: -n 2 --dist loadgroup)")


@pytest.hookimpl(tryfirst=True)     # before xdist's own hook reads the marker
def pytest_collection_modifyitems(config, items):
    """Group the tests by the machine they run on (see the module's docstring)."""
    # An xdist worker sees dist "no" and the flag `loadgroup` instead.
    if not (config.getoption("dist", "no") == "loadgroup"
            or getattr(config.option, "loadgroup", False)):
        return
    exe = harness.build_dir() / "trivisor"
    nested_kvm = os.access(exe, os.X_OK) and not host_has_kvm(exe)
    for item in items:
        engine = item.callspec.params.get("engine") if hasattr(item, "callspec") else None
        nested = "outer_vm" in item.fixturenames or (
            nested_kvm and engine == "kvm" and "machine" in item.fixturenames)
        item.add_marker(pytest.mark.xdist_group("nested" if nested else "host"))


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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """A test that fails after a console wait in the nested outer guest timed out, or
    found the outer guest's QEMU gone, runs once more, on a rebooted outer guest (the
    harness reboots one it marked broken).
    The outer guest is QEMU emulating SVM under TCG, which now and then freezes as a
    whole as a KVM client starts in it (harness.QEMU_ACCEL says more; CI runs see one
    or two such freezes among ~60 nested tests). A freeze that hits the rerun too earns
    a third run: with the outer guest's kernel itself stuck, that is not trivisor. Each
    failure that led to a rerun, with the outer guest's diagnosis (OuterVM.diagnose), is
    listed at the end of the run, so a real hang in trivisor stays visible; a failure
    without a stall, or a stall past these, fails the test."""
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    runs, reruns, rerun_seconds = 0, [], 0.0
    while True:
        stalls, freezes = harness.STALLS, harness.FREEZES
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        runs += 1
        if not (any(r.failed for r in reports) and harness.STALLS > stalls):
            break
        if runs > (2 if harness.FREEZES > freezes else 1):
            break
        failure = "\n".join(str(r.longrepr) for r in reports if r.failed)
        reruns.append(("nested_rerun", (f"{item.nodeid}: run {runs} failed", failure)))
        rerun_seconds += sum(r.duration for r in reports)
    reports[0].user_properties += reruns + [("rerun_seconds", rerun_seconds)]
    for r in reports:
        item.ihook.pytest_runtest_logreport(report=r)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


@pytest.hookimpl(tryfirst=True)     # in a worker: before xdist sends the report on
def pytest_runtest_logreport(report):
    """Carry what this process measured since its last report in the report itself, and
    gather what reports carry (from this process, or from xdist's workers)."""
    global _timings_sent
    made_here = not hasattr(report, "node")    # xdist sets `node` on a worker's report
    if made_here and len(TIMINGS) > _timings_sent:
        report.user_properties.append(("timings", TIMINGS[_timings_sent:]))
        _timings_sent = len(TIMINGS)
    group = report.nodeid.rpartition("@")[2] if "@" in report.nodeid else None
    if group:
        secs, tests = GROUP_SECONDS.get(group, (0.0, 0))
        secs += report.duration + sum(v for k, v in report.user_properties if k == "rerun_seconds")
        GROUP_SECONDS[group] = (secs, tests + (report.when == "call"))
    for key, value in report.user_properties:
        if key == "timings":
            SHOWN_TIMINGS.extend(value)
        elif key == "nested_rerun":
            NESTED_RERUNS.append(value)


def pytest_terminal_summary(terminalreporter):
    if NESTED_RERUNS:
        terminalreporter.section("nested outer guest stalls: tests run again")
        for what, failure in NESTED_RERUNS:
            terminalreporter.write_line(f"{what}:\n{failure[-6000:]}\n")
    timings = SHOWN_TIMINGS + TIMINGS[_timings_sent:]   # and any after the last report
    if timings:
        terminalreporter.section("trivisor timings")
        for what, secs in timings:
            terminalreporter.write_line(f"{secs:8.1f} s  {what}")
    if GROUP_SECONDS:
        terminalreporter.write_line("test time by worker group: " + ", ".join(
            f"{g} {secs / 60:.1f} min ({n} tests)" for g, (secs, n) in sorted(GROUP_SECONDS.items())))
