"""The mechanism test guests of tests/guests (one mechanism each), under every engine:
the same guest must give the same results on trivisor's software CPU and on hardware.
Each prints a title line, one '<check>: ok' line per check and 'all ok', then exits
through isa-debug-exit with 0x31 (status 99); a failed check prints ': FAIL' and exits
97; an unexpected exception exits 101."""
import re

import pytest

EXIT_OK = (0x31 << 1) | 1

# guest -> the checks it must report, in order (tests/guests/<guest>.S)
GUESTS = {
    "modes": ["protected mode", "real mode entry", "real mode int (IVT)",
              "real mode segments", "back to protected mode", "long mode 64-bit",
              "64-bit registers", "compatibility mode", "compatibility decoding",
              "leave long mode"],
    "paging": ["not-present read", "write to read-only (WP=1)", "write to read-only (WP=0)",
               "NX fetch", "executable after clearing NX", "accessed bit", "dirty bit",
               "accessed bit in PDE", "invlpg", "mov cr3 flush",
               "user read of supervisor page", "user write to read-only page",
               "2 MiB page", "1 GiB page",
               "supervisor page cached at CPL 0, read at CPL 3",
               "read-only page written at CPL 0 (WP=0), then at CPL 3",
               "supervisor code run at CPL 0, fetched at CPL 3",
               "CR4.PGE toggle flushes global pages", "invlpg of a global page",
               "mov cr3 with CR4.PGE=1 flushes non-global pages",
               "invlpg anywhere in a 2 MiB page"],
    "exceptions": ["divide error #DE", "invalid opcode #UD", "#GP(0) non-canonical",
                   "#GP error code (selector)", "page fault #PF read", "page fault #PF write",
                   "breakpoint #BP (trap)", "int 0x41", "double fault #DF",
                   "#DF on IST stack", "single-step #DB", "single-step held by MOV SS"],
    "syscall": ["sysret to CPL 3", "user GS base", "syscall entry at CPL 0", "swapgs",
                "syscall RCX = return RIP", "syscall R11 = RFLAGS", "SFMASK clears DF",
                "sysret return value", "sysret restores RFLAGS", "GS restored by swapgs",
                "int 0x80 from CPL 3"],
    "portio": ["out/in byte", "rep outsb", "rep insb", "rep outsb backwards",
               "rep count zero", "outsb without rep"],
    "pit": ["counter 2 out via port 0x61", "counter 2 latch counts down", "read-back status"],
    "smc": ["patch next instruction", "rewrite in a loop", "copy and run",
            "cross-page instruction"],
    "legacy": ["daa", "das", "aaa", "aas", "aam", "aam 0 raises #DE", "aad",
               "bound in range", "bound raises #BR", "arpl", "into", "xlat",
               "les/lds/lfs/lgs/lss", "lss with a null selector", "enter 32-bit",
               "enter 16-bit stack", "mov dr", "instruction past the CS limit",
               "sgdt past the segment limit", "far pointer past the segment limit"],
    "nmi": ["NMI delivered", "NMI held while its handler runs", "held NMI delivered after IRET",
            "held NMI taken at the IRET's return"],
}


# Checks a guest cannot pass where the CPU under trivisor is QEMU's TCG emulation of
# SVM (the nested harness), because TCG itself gets them wrong: a #NP raised while
# delivering a #PF is not promoted to #DF, and its error code is vector*16+2 instead of
# (vector << 3) | IDT | EXT. Observed with Debian's QEMU 7.2; the soft engine and
# hardware give #DF. TCG also checks no segment limits (instruction fetch past CS.limit,
# data operands past DS/ES limits run on). These checks must still be reported; their
# verdict is not held against the kvm engine there.
TCG_SVM_WRONG = {"exceptions": {"double fault #DF", "#DF on IST stack"},
                 "legacy": {"instruction past the CS limit", "sgdt past the segment limit",
                            "far pointer past the segment limit"}}


@pytest.fixture(params=sorted(GUESTS))
def guest(request, build):
    path = build / "tests" / "guests" / f"{request.param}.bin"
    if not path.exists():
        pytest.fail(f"{path} missing: build the test guests (ninja -C {build})", pytrace=False)
    return request.param


def test_cpu_guest(machine, engine, guest):
    check_guest(machine, engine, guest)


@pytest.mark.parametrize("engine", ["soft"])
def test_cpu_guest_interpreter(machine, engine, guest):
    """The soft engine's interpreter tier passes the same checks as its translator (the
    default), so that it stays a usable reference."""
    check_guest(machine, engine, guest, ["--soft-tier", "interpret"])


def check_guest(machine, engine, guest, extra=()):
    r = machine.run(["run", "--engine", engine, "--mem", "64M", *extra,
                     "--kernel", f"{machine.guests}/{guest}.bin"], timeout=180)
    out = r.output
    assert f"trivisor guest: {guest}" in out, r
    reported = re.findall(r"^(.*): (ok|FAIL)\s*$", out, re.M)
    assert [c for c, _ in reported] == GUESTS[guest], r
    excused = TCG_SVM_WRONG.get(guest, set()) if machine.name == "nested" else set()
    failed = {c for c, verdict in reported if verdict == "FAIL"}
    assert failed <= excused, r
    if not failed:
        assert "all ok" in out and r.status == EXIT_OK, r
