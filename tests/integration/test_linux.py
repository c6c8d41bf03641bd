"""Boot the stock Debian kernel with the busybox initramfs (scripts/mkguest.sh) to its
shell on the serial console, use it, and end it the ways a person would."""
import os
import re
import time

import pytest

from harness import GUEST_PROMPT, TIMINGS, Shell
from machines import step

# Under the kvm engine nested in QEMU TCG, and under the soft engine, a boot takes far
# longer than on hardware (10-35 s, measured); ten times that is plenty, and a hung
# boot should not hold the suite for longer. Override with TRIVISOR_BOOT_TIMEOUT (seconds).
BOOT_TIMEOUT = float(os.environ.get("TRIVISOR_BOOT_TIMEOUT", 300))
CMD_TIMEOUT = 120
END_TIMEOUT = 180


def boot(machine, engine, cpus=1, extra=(), append="console=ttyS0", prompt=GUEST_PROMPT,
         env=None):
    """trivisor booting the guest (env: variables to set for trivisor), and the
    guest's shell once it is up."""
    p = machine.spawn(["run", "--engine", engine, "--kernel", machine.kernel,
                       "--initrd", machine.initrd, "--append", append,
                       "--cpus", cpus, *extra], env=env)
    with step(p, "booting to the shell prompt"):
        p.expect_exact(prompt, timeout=BOOT_TIMEOUT)
    TIMINGS.append((f"{engine} on {machine.name}: Linux boot to its shell, --cpus {cpus}",
                    time.monotonic() - p.start_time))
    return p, Shell(p, prompt)


def run(p, sh, cmd):
    with step(p, f"running {cmd!r}"):
        return sh.run(cmd, CMD_TIMEOUT)


def end(p, cmd):
    """Type cmd (poweroff, reboot) and return trivisor's exit status."""
    p.sendline(cmd)
    with step(p, f"waiting for trivisor to exit after {cmd!r}"):
        return p.wait(END_TIMEOUT)


def only_number_lines(text):
    """Lines that are just a number (kernel messages may interleave with output)."""
    return re.findall(r"^\s*(\d+)\s*$", text, re.M)


@pytest.mark.parametrize("cpus", [1, 2])
def test_boot_shell_poweroff(machine, engine, guest_images, cpus):
    p, sh = boot(machine, engine, cpus)

    r = run(p, sh, "grep -c ^processor /proc/cpuinfo")
    assert r.status == 0 and only_number_lines(r.output) == [str(cpus)], r

    version = guest_images["version"].read_text().strip()
    r = run(p, sh, "uname -r")
    assert r.status == 0 and version in r.output.split(), r

    if cpus > 1:
        # Under the para interface (the default), stock Linux takes the engine's SMP
        # para-virtual paths: IPIs and TLB flushes by hypercall, halting spinlocks
        # woken by KICK_CPU, yielding to a preempted vCPU.
        for line in ("kvm-guest: setup PV IPIs", "kvm-guest: setup PV sched yield",
                     "kvm-guest: KVM setup pv remote TLB flush",
                     "kvm-guest: PV spinlocks enabled"):
            assert line in p.output, f"{line!r} not in the boot log"
        # CPU hotplug: cpu1 goes offline and comes back through INIT and SIPI (with
        # its para-virtual MSRs set up again), then runs a task pinned to it.
        r = run(p, sh, "echo 0 > /sys/devices/system/cpu/cpu1/online && "
                       "cat /sys/devices/system/cpu/online")
        assert r.status == 0 and only_number_lines(r.output) == ["0"], r
        r = run(p, sh, "echo 1 > /sys/devices/system/cpu/cpu1/online && "
                       "cat /sys/devices/system/cpu/online && "
                       "taskset -c 1 awk '{ print \"ran on cpu\" $39 }' /proc/self/stat")
        assert r.status == 0 and "0-1" in r.output.split() and "ran on cpu1" in r.output, r

    status = end(p, "poweroff")
    assert status == 0, f"trivisor exit status {status} after poweroff:\n{p.output[-3000:]}"
    assert "reboot: Power down" in p.output


@pytest.mark.parametrize("engine", ["soft"])
def test_interpreter_boots_linux(machine, engine):
    """--soft-tier interpret: the stock kernel boots to its shell on the interpreter
    alone, and --stats says no block was translated."""
    p, sh = boot(machine, engine, extra=["--soft-tier", "interpret", "--stats"])
    r = run(p, sh, "echo $((6 * 7))")
    assert r.status == 0 and "42" in r.output.split(), r
    assert end(p, "poweroff") == 0, p.output[-3000:]
    tail = p.output.rsplit("reboot: Power down", 1)[-1]
    assert "instructions:" in tail and "blocks_translated" not in tail, tail


def test_reboot_ends_trivisor(machine, engine):
    p, sh = boot(machine, engine)
    status = end(p, "reboot")
    assert status == 0, f"trivisor exit status {status} after reboot:\n{p.output[-3000:]}"
    assert "reboot: Restarting system" in p.output


def inspect(p, key):
    """Press Ctrl-A key at trivisor's console; what it printed, between its markers."""
    start = len(p.output)
    p.send("\x01" + key)
    with step(p, f"waiting for Ctrl-A {key}'s report"):
        p.expect_exact("[trivisor] end", timeout=CMD_TIMEOUT)
    return p.output[start:].split("[trivisor] end")[0]


def test_stats_count_exits(machine, engine):
    p, sh = boot(machine, engine, extra=["--stats"])
    # While it runs: Ctrl-A s prints the counters so far, Ctrl-A r where each vCPU is
    # (the shell waits for input, so the CPU idles in the kernel: its code segment
    # (__KERNEL_CS, 0x10), at a kernel address); the VM goes on afterwards.
    so_far = inspect(p, "s")
    assert f"trivisor stats (engine {engine}" in so_far and "run time:" in so_far, so_far
    assert re.search(r"\bio\s+[1-9]", so_far), f"no port-I/O exits so far:\n{so_far}"
    assert run(p, sh, "echo resumed").status == 0
    regs = inspect(p, "r")
    assert re.search(r"vCPU 0: rip ffffffff[0-9a-f]{8} rflags [0-9a-f]+ cs 0010", regs), regs
    assert run(p, sh, "echo resumed").status == 0
    assert end(p, "poweroff") == 0, p.output[-3000:]
    # The report comes after the guest's last words; the UART alone makes port I/O.
    tail = p.output.rsplit("reboot: Power down", 1)[-1]
    m = re.search(r"\bio\b[^\n\d]{0,20}(\d+)", tail, re.I)
    assert m and int(m.group(1)) > 0, f"no port-I/O exit count in the --stats report:\n{tail}"
    if engine == "soft":
        # The translator (the default tier) says what it did: blocks translated, and
        # direct jumps chained, by the thousand for a Linux boot.
        for name in ("blocks_translated", "chained_jumps", "code_bytes"):
            m = re.search(rf"^\s*{name}\s+(\d+)", tail, re.M)
            assert m and int(m.group(1)) > 1000, f"no {name} in the --stats report:\n{tail}"


def test_append_quiet_nokaslr_init(machine, engine):
    """Options users put on the command line reach the kernel and do what they say:
    `quiet` keeps the boot messages off the console, `nokaslr` leaves the kernel at its
    link address, `init=` runs that program as PID 1 (the initramfs's /init hands over
    to it, as a root file system's init would)."""
    p, sh = boot(machine, engine, append="console=ttyS0 quiet nokaslr init=/bin/sh",
                 prompt="/ # ")
    assert "Linux version" not in p.output, "`quiet` printed the boot messages"
    r = run(p, sh, "echo pid=$$; cat /proc/cmdline; grep -w _text /proc/kallsyms")
    assert "pid=1" in r.output, r
    assert "nokaslr" in r.output and "ffffffff81000000 T _text" in r.output, r
    p.sendline("poweroff -f")     # no busybox init to ask: the shell is PID 1
    with step(p, "waiting for trivisor to exit after poweroff -f"):
        assert p.wait(END_TIMEOUT) == 0, p.output[-3000:]
