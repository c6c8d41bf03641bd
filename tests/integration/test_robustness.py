"""Guests that misbehave end cleanly, under every engine (tests/guests/hostile.S): a
triple fault is reported with its status, a CPU spinning or halted with interrupts off
still obeys the quit key and signals, and garbage written to every device leaves
trivisor standing (and, in the sanitizer build, clean)."""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import TRIVISOR_QUIT
from machines import HostMachine

EXIT_SURVIVED = (0x31 << 1) | 1
EXIT_TRIPLE_FAULT = 4


def hostile(machine, name):
    return ["--mem", "64M", "--kernel", f"{machine.guests}/hostile_{name}.bin"]


def test_triple_fault_is_reported(machine, engine):
    r = machine.run(["run", "--engine", engine, *hostile(machine, "triple")], timeout=60)
    assert r.status == EXIT_TRIPLE_FAULT, r
    assert "hostile: triple" in r.output and "triple fault" in r.output, r


@pytest.mark.parametrize("behaviour", ["spin", "halt"])
def test_quit_key_ends_a_stuck_guest(machine, engine, behaviour):
    p = machine.spawn(["run", "--engine", engine, *hostile(machine, behaviour)])
    p.expect_exact(f"hostile: {behaviour}", timeout=60)
    time.sleep(1)           # stuck for real, not just starting
    p.send(TRIVISOR_QUIT)
    assert p.wait(30) == 0, p.output[-2000:]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_ends_a_spinning_guest(build, sig):
    """The soft engine's vCPU thread never leaves the CPU loop on its own here; a
    signal still ends the VM (status 128 + N, as a shell reports it)."""
    m = HostMachine(build)
    try:
        p = m.spawn(["run", "--engine", "soft", *hostile(m, "spin")])
        p.expect_exact("hostile: spin", timeout=60)
        p.child.kill(sig)
        assert p.wait(30) == 128 + sig, p.output[-2000:]
    finally:
        m.cleanup()


def test_halted_with_interrupts_off_uses_no_host_cpu(build):
    """HLT with IF = 0 waits without spinning (soft engine: the vCPU thread sleeps)."""
    exe = build / "trivisor"
    p = subprocess.Popen([str(exe), "run", "--engine", "soft", "--mem", "64M", "--kernel",
                          str(build / "tests" / "guests" / "hostile_halt.bin")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.5)     # boot and reach HLT
        with open(f"/proc/{p.pid}/stat") as f:
            before = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
        time.sleep(3)
        with open(f"/proc/{p.pid}/stat") as f:
            after = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
        ticks = os.sysconf("SC_CLK_TCK")
        assert (after - before) / ticks < 0.3, f"{(after - before) / ticks:.2f} s of CPU in 3 s"
    finally:
        p.terminate()
        p.wait(30)


@pytest.mark.parametrize("transport", ["pci", "mmio"])
def test_garbage_to_every_device(machine, engine, transport):
    # --rng puts a virtio device on the transport, so its registers get garbage too.
    r = machine.run(["run", "--engine", engine, "--rng", "--virtio-transport", transport,
                     *hostile(machine, "garbage")], timeout=180)
    assert r.status == EXIT_SURVIVED and "hostile: survived" in r.output, r


def test_garbage_under_sanitizers(build):
    """The same garbage against the ASan+UBSan build (soft engine, both transports)."""
    asan = os.environ.get("TRIVISOR_ASAN_BUILD")
    if not asan:
        pytest.skip("no sanitizer build (TRIVISOR_ASAN_BUILD; make test sets it)")
    exe = Path(asan).resolve() / "trivisor"
    for transport in ("pci", "mmio"):
        p = subprocess.run([str(exe), "run", "--engine", "soft", "--rng", "--virtio-transport",
                            transport, "--mem", "64M", "--kernel",
                            str(build / "tests" / "guests" / "hostile_garbage.bin")],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           errors="replace", timeout=300)
        assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr[-4000:]
        assert p.returncode == EXIT_SURVIVED, (transport, p.returncode, p.stderr[-2000:])
