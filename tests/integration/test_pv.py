"""The KVM para-virtual ABI as a guest sees it (tests/guests/hypercall.S): the KVM
CPUID leaves, hypercalls through VMCALL and VMMCALL, kvm-clock, under each engine that
implements the ABI, in the para and the full guest interface; and the stock Linux
kernel's view of it (one boot per engine and interface: "Hypervisor detected: KVM",
the kvm-clock clocksource and the PV features it set up under para, none of it under
full). The runs go through the --mode presets, so they test those too (soft: --mode
para, --mode full; kvm: --mode hw, --mode hw --guest full)."""
import re

import pytest

from harness import GUEST_PROMPT, Shell
from machines import step
from test_linux import BOOT_TIMEOUT, CMD_TIMEOUT

EXIT_OK = (0x31 << 1) | 1

# The engines that implement the KVM para-virtual ABI, the one list for this module:
# kvm (in the kernel) and soft (src/engine/soft/sys/pv.c).
PV_ENGINES = ["kvm", "soft"]

# (engine, guest interface) -> the options that ask for it, through the presets.
MODE_ARGS = {
    ("kvm", "para"): ["--mode", "hw"],
    ("kvm", "full"): ["--mode", "hw", "--guest", "full"],
    ("soft", "para"): ["--mode", "para"],
    ("soft", "full"): ["--mode", "full"],
}

HYPERCALL_CHECKS = ["unknown hypercall (vmcall) = -KVM_ENOSYS",
                    "unknown hypercall (vmmcall) = -KVM_ENOSYS",
                    "sched yield to self (vmcall)", "kick cpu (vmmcall)",
                    "send IPI to nobody (vmcall)", "send IPI to self (vmmcall) = 1 delivered",
                    "IPI vector 0xf1 taken", "IPI after PV EOI off in its handler"]
# The hypercalls the guest makes: two unknown numbers, SCHED_YIELD, KICK_CPU, SEND_IPI
# twice (test_stats.py checks KVM's in-kernel count of them).
HYPERCALLS_MADE = 6
CLOCK_CHECKS = ["kvm-clock enabled", "kvm-clock version even", "kvm-clock tsc_to_system_mul",
                "kvm-clock time advances", "kvm-clock monotonic across re-enable",
                "wall clock version even", "wall clock after 2020"]
EXPECTED = {
    "para": ["hypervisor bit", "KVM signature", *HYPERCALL_CHECKS, *CLOCK_CHECKS],
    "full": ["no hypervisor bit", "no KVM signature"],
}

# KVM_FEATURE_* bits (leaf 0x4000_0001 EAX) a para guest must be offered under each
# engine, and bits it must never be offered (the kvm engine leaves out what needs the
# VMM's help, src/engine/kvm/kvm.c). KVM 6.1 (the nested harness) implements these.
CLOCKSOURCE2, STEAL_TIME, PV_EOI, PV_UNHALT, PV_TLB_FLUSH, PV_SEND_IPI, PV_SCHED_YIELD = \
    3, 5, 6, 7, 9, 11, 13
MSI_EXT_DEST_ID, HC_MAP_GPA_RANGE, CLOCKSOURCE_STABLE_BIT = 15, 16, 24
REQUIRED_FEATURES = {"kvm": {CLOCKSOURCE2, PV_EOI, PV_UNHALT, PV_TLB_FLUSH, PV_SEND_IPI,
                             PV_SCHED_YIELD},
                     "soft": {CLOCKSOURCE2, STEAL_TIME, PV_EOI, PV_UNHALT, PV_TLB_FLUSH,
                              PV_SEND_IPI, PV_SCHED_YIELD, CLOCKSOURCE_STABLE_BIT}}
# The soft engine advertises exactly what it implements; KVM's set depends on its version.
EXACT_FEATURES = {"soft"}
FORBIDDEN_FEATURES = {MSI_EXT_DEST_ID, HC_MAP_GPA_RANGE}


@pytest.fixture(params=PV_ENGINES)
def engine(request):
    """Overrides conftest's engine list for this module: see PV_ENGINES."""
    return request.param


@pytest.fixture(scope="module")
def hypercall_guest(build):
    path = build / "tests" / "guests" / "hypercall.bin"
    if not path.exists():
        pytest.fail(f"{path} missing: build the test guests (ninja -C {build})", pytrace=False)
    return "hypercall.bin"


def run_guest(machine, engine, iface, guest, *extra):
    r = machine.run(["run", *MODE_ARGS[(engine, iface)], "--mem", "64M",
                     "--kernel", f"{machine.guests}/{guest}", *extra], timeout=180)
    assert "trivisor guest: hypercall" in r.output, r
    return r


def checks(out):
    return re.findall(r"^(.*): (ok|FAIL)\s*$", out, re.M)


@pytest.mark.parametrize("iface", ["para", "full"])
def test_hypercall_guest(machine, engine, iface, hypercall_guest):
    r = run_guest(machine, engine, iface, hypercall_guest)
    out = r.output
    assert f"guest interface: {iface}" in out, r
    reported = checks(out)
    assert [c for c, _ in reported] == EXPECTED[iface], r
    assert all(v == "ok" for _, v in reported), r
    assert "all ok" in out and r.status == EXIT_OK, r
    if iface == "para":
        feats = int(re.search(r"^KVM features: ([0-9a-f]+)$", out, re.M).group(1), 16)
        bits = {b for b in range(32) if feats >> b & 1}
        assert REQUIRED_FEATURES[engine] <= bits, f"features {feats:#x}\n{r}"
        if engine in EXACT_FEATURES:
            assert bits == REQUIRED_FEATURES[engine], f"features {feats:#x}\n{r}"
        assert not FORBIDDEN_FEATURES & bits, f"features {feats:#x}\n{r}"
        flags = re.search(r"^kvm-clock flags: ([0-9a-f]+)$", out, re.M)
        assert flags, r
        # CLOCKSOURCE_STABLE_BIT only says the flag below is meaningful: KVM sets
        # PVCLOCK_TSC_STABLE_BIT only when its host clock is TSC-based (not so under
        # the nested harness); the soft engine's TSC always is.
        if engine == "soft":
            assert CLOCKSOURCE_STABLE_BIT in bits and int(flags.group(1), 16) & 1, r
    else:
        assert "KVM features" not in out and "kvm-clock" not in out, r
        if engine == "soft":   # KVM answers VMCALL whatever CPUID says
            assert "vmcall under full: exception 6" in out, r


def test_hypercalls_counted(machine, engine, hypercall_guest):
    """--stats counts the guest's hypercalls by number (soft: trivisor handles them;
    kvm: KVM's in-kernel counter)."""
    if engine != "soft":
        pytest.skip("KVM counts hypercalls in the kernel (test_stats.py)")
    r = run_guest(machine, engine, "para", hypercall_guest, "--stats")
    assert re.search(rf"hypercalls:\s+{HYPERCALLS_MADE} total", r.output), r
    for name, n in (("KICK_CPU", 1), ("SEND_IPI", 2), ("SCHED_YIELD", 1)):
        assert re.search(rf"{name}\s+\(\s*\d+\)\s+{n}\b", r.output), r
    assert re.search(r"other numbers\s+2\b", r.output), r


# ---- stock Linux: one boot per engine and guest interface ----


# What the guest prints about the ABI, one shell command (dmesg's kvm lines, the
# clocksource in use, the CPU flags) whose output the test reads.
LINUX_PROBE = ("dmesg | grep -i -e 'hypervisor detected' -e kvm -e 'switched to clocksource'; "
               "echo clocksources=$(cat /sys/devices/system/clocksource/clocksource0/available_clocksource); "
               "grep -c -w hypervisor /proc/cpuinfo")


@pytest.mark.parametrize("iface", ["para", "full"])
def test_linux_guest_interface(machine, engine, iface):
    """kvm-clock is registered and used under para (Linux may switch on to the TSC
    later: with an invariant TSC it rates kvm-clock below it), and the guest knows it
    runs on KVM; under full it sees a plain PC. One vCPU: the SMP features (PV IPIs,
    spinlock kicks, TLB flush) are covered by the hypercall guest."""
    p = machine.spawn(["run", *MODE_ARGS[(engine, iface)], "--kernel", machine.kernel,
                       "--initrd", machine.initrd, "--append", "console=ttyS0",
                       "--stats"])
    with step(p, "booting to the shell prompt"):
        p.expect_exact(GUEST_PROMPT, timeout=BOOT_TIMEOUT)
    sh = Shell(p, GUEST_PROMPT)
    with step(p, "reading what the kernel said"):
        r = sh.run(LINUX_PROBE, CMD_TIMEOUT)
    out = r.output
    clocks = re.search(r"^clocksources=(.*)$", out, re.M)
    assert clocks, out
    hv_cpus = re.findall(r"^\s*(\d+)\s*$", out, re.M)
    if iface == "para":
        assert "Hypervisor detected: KVM" in out, out
        assert "kvm-clock: Using msrs 4b564d01 and 4b564d00" in out, out
        assert "Switched to clocksource kvm-clock" in out, out
        assert "kvm-clock" in clocks.group(1).split(), out
        assert "Booting paravirtualized kernel on KVM" in out, out
        assert hv_cpus and hv_cpus[-1] == "1", out    # the CPU shows the flag
    else:
        assert "Hypervisor detected" not in out, out
        assert "kvm-clock" not in out and "kvm-guest" not in out, out
        assert hv_cpus and hv_cpus[-1] == "0", out
    p.sendline("poweroff")
    with step(p, "waiting for trivisor to exit after poweroff"):
        status = p.wait(180)
    assert status == 0, f"exit status {status}:\n{p.output[-3000:]}"
    if engine == "soft" and iface == "full":
        tail = p.output.rsplit("reboot: Power down", 1)[-1]
        assert "hypercalls:" not in tail or re.search(r"hypercalls:\s+0 total", tail), tail
