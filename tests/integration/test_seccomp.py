"""trivisor confines itself with seccomp once the VM is set up (src/host/seccomp.c):
every thread of a running trivisor shows the filter in /proc (none with --no-seccomp),
under each engine; and a system call the filter does not allow, made inside the real
VMM by a thread that existed before the filter went in (an LD_PRELOAD library the
build makes for this test, tests/integration/seccomp_probe.c: nothing in trivisor a
guest could reach), kills it with SIGSYS. The guest is tests/guests/hostile.S's
"halt": one CPU halted with interrupts off, cheap to keep running."""
import os
import re
import signal
import time

import pytest

from harness import TRIVISOR_QUIT
from machines import HostMachine, step

QUIT_TIMEOUT = {"host": 10, "nested": 30}


def halted_guest(machine, engine, extra=()):
    p = machine.spawn(["run", "--engine", engine, "--mem", "64M",
                       "--kernel", f"{machine.guests}/hostile_halt.bin", *extra])
    with step(p, "waiting for the guest to start"):
        p.expect_exact("hostile: halt", timeout=60)
    return p


def thread_status(machine, p):
    """{tid: its /proc status text} of every thread of the trivisor process p, or None
    where it cannot be read (a nested machine without its second shell)."""
    if isinstance(machine, HostMachine):
        tasks = f"/proc/{p.child.pid}/task"
        return {t: open(f"{tasks}/{t}/status").read() for t in os.listdir(tasks)}
    ctl = machine.outer.ctl
    if ctl is None:
        return None
    out = ctl.run("for t in /proc/$(pidof trivisor)/task/*; do echo \"== ${t##*/}\"; "
                  "cat $t/status; done", 30).output
    return {m.group(1): m.group(2) for m in re.finditer(r"^== (\d+)\n(.*?)(?=^== |\Z)", out,
                                                         re.M | re.S)}


def poke(fifo, timeout=10):
    """One byte into the FIFO the probe thread waits on (it opened it for reading)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as e:       # ENXIO: no reader yet
            if time.monotonic() > deadline:
                raise AssertionError(f"the probe thread never opened {fifo}: {e}")
            time.sleep(0.1)
    os.write(fd, b"x")
    os.close(fd)


@pytest.mark.parametrize("seccomp", [True, False], ids=["filter", "no-seccomp"])
def test_every_thread_has_the_filter(machine, engine, seccomp):
    p = halted_guest(machine, engine, [] if seccomp else ["--no-seccomp"])
    status = thread_status(machine, p)
    if status is None:
        pytest.skip("the outer guest has no second shell to read /proc with")
    # The main (console) thread, the vCPU and the PIT's under soft at least.
    assert len(status) >= (2 if engine == "kvm" else 3), status
    mode = "2" if seccomp else "0"
    for tid, text in status.items():
        m = re.search(r"^Seccomp:\s+(\d+)$", text, re.M)
        assert m and m.group(1) == mode, f"thread {tid}:\n{text}"
        if seccomp:
            assert re.search(r"^NoNewPrivs:\s+1$", text, re.M), f"thread {tid}:\n{text}"
            # One filter: trivisor's (a direct-execution helper adds its own, in its
            # own process).
            f = re.search(r"^Seccomp_filters:\s+(\d+)$", text, re.M)
            assert f is None or f.group(1) == "1", f"thread {tid}:\n{text}"
    p.send(TRIVISOR_QUIT)
    with step(p, "waiting for trivisor to end after the quit key"):
        assert p.wait(QUIT_TIMEOUT[machine.name]) == 0


@pytest.mark.parametrize("engine", ["soft"])
@pytest.mark.parametrize("seccomp", [True, False], ids=["filter", "no-seccomp"])
def test_forbidden_call_kills_the_vmm(machine, engine, seccomp, build, tmp_path):
    probe = build / "tests" / "integration" / "seccomp_probe.so"
    if not probe.exists():
        pytest.fail(f"{probe} missing: build it (ninja -C {build})", pytrace=False)
    fifo = tmp_path / "probe"
    os.mkfifo(fifo)
    p = machine.spawn(["run", "--engine", engine, "--mem", "64M",
                       "--kernel", f"{machine.guests}/hostile_halt.bin",
                       *([] if seccomp else ["--no-seccomp"])],
                      env={"LD_PRELOAD": str(probe), "TRIVISOR_SECCOMP_PROBE": str(fifo)})
    with step(p, "waiting for the guest to start"):
        p.expect_exact("hostile: halt", timeout=60)
    poke(fifo)                     # the probe thread's execve, now
    if seccomp:
        with step(p, "waiting for the filter to kill trivisor"):
            status = p.wait(30)
        assert status == 128 + signal.SIGSYS, p.output[-2000:]
        assert "seccomp probe" not in p.output, p.output[-2000:]
    else:
        with step(p, "waiting for the probe's answer"):
            p.expect_exact("seccomp probe: execve returned -1: No such file or directory",
                           timeout=30)
        time.sleep(0.5)            # still running
        p.send(TRIVISOR_QUIT)
        with step(p, "waiting for trivisor to end after the quit key"):
            assert p.wait(QUIT_TIMEOUT[machine.name]) == 0
