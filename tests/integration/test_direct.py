"""The guest user programs (tests/guests/user: utest, hostile, vecregs, in the default
initramfs's /bin) under every tier of the soft engine. However the tier runs guest user
code (interpreted, translated, or natively in a sandboxed helper under `direct`), a
program must see the same machine: every check passes, the same checks as on real
hardware (the programs run natively on this host first, as the reference), and where
the guest kernel may choose (the legacy 32-bit entry points...) the same choice as under
the tiers before it.

One boot per tier runs all programs (a soft boot is ~5 s translated, ~30 s interpreted);
the last tier also boots with 2 vCPUs. Under `direct`, the helper processes keep their
own two pages at a fixed address (TRIVISOR_DIRECT_BASE), at which hostile aims its
stray jumps and reads while it runs natively, and --stats must show that something did
run natively."""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from harness import TIMINGS, build_dir
from test_linux import boot, end, run


def _tiers():
    """The soft tiers: interpret and translate, and direct once `trivisor run --help`
    lists it as a --soft-tier choice."""
    tiers = ["interpret", "translate"]
    try:
        r = subprocess.run([str(build_dir() / "trivisor"), "run", "--help"],
                           capture_output=True, text=True, timeout=30)
        text = r.stdout + r.stderr
    except (OSError, subprocess.SubprocessError):
        text = ""      # no trivisor yet: the trivisor_bin fixture says so
    # The option's own description: from --soft-tier to the next option.
    m = re.search(r"--soft-tier.*?(?=\n\s+-)", text, re.S)
    if m and re.search(r"\bdirect\b", m.group(0)):
        tiers.append("direct")
    return tiers


# The one list of tiers; the last also runs with 2 vCPUs.
TIERS = _tiers()
CASES = [(tier, 1) for tier in TIERS] + [(TIERS[-1], 2)]

PROGRAMS = ("utest", "hostile", "vecregs")

# Info lines the guest kernel decides, so every tier must print the same (the CPU
# vendor and vector width are the CPU model's and may differ under direct).
SAME_INFO = re.compile(r"^info (int80|sysenter|syscall_high_bits|uname|enosys):")

# (tier, cpus) -> the SAME_INFO lines its hostile printed, for the tiers after it.
INFO_SEEN = {}


# Where every direct-tier helper keeps its own pages in these tests: its code page, and
# its command page after it. No guest program maps them.
DIRECT_BASE = 0x200000000000
DIRECT_ENV = {"TRIVISOR_DIRECT_BASE": hex(DIRECT_BASE)}
HELPER_PAGES = (hex(DIRECT_BASE), hex(DIRECT_BASE + 0x1000))

# How long a program spins in user mode first under direct (--warmup), so that the
# tier has moved its address space to native execution (after a few timer ticks).
WARMUP_MS = 2000


def hostile_args(tier):
    """hostile's arguments under a tier: --jump and --read targets, each of which must
    give the program a SIGSEGV at that address: a page below mmap_min_addr and the
    direct tier's helper pages (never mapped by the guest) everywhere. Under direct,
    hostile first spins until it runs natively, so these aim at the helper's own pages
    for real."""
    args = ["--jump", "0x1000"]
    for page in HELPER_PAGES:
        args += ["--jump", page]
    for page in HELPER_PAGES:
        args += ["--read", page]
    if tier == "direct":
        args = ["--warmup", str(WARMUP_MS), *args]
    return args


def direct_counters(output):
    """The "direct execution" section of --stats at the end of a run: {name: value}."""
    m = re.search(r"^direct execution, counted by .*:\n((?:  .*\n)+)", output, re.M)
    assert m, f"no direct execution counters in the --stats report:\n{output[-3000:]}"
    return {name: int(v) for name, v in (line.split() for line in m.group(1).splitlines())}


def parse_checks(prog, output):
    """({name: "ok" | why it failed}, (passed, failed) from the summary or None), from
    a program's output (kernel messages may be interleaved)."""
    checks = {}
    for m in re.finditer(r"^(ok|FAIL) (\S+?)(?::\s*(.*))?$", output, re.M):
        checks[m.group(2)] = "ok" if m.group(1) == "ok" else (m.group(3) or "failed")
    s = re.search(rf"^{prog}: (\d+) passed, (\d+) failed$", output, re.M)
    return checks, (int(s.group(1)), int(s.group(2))) if s else None


@pytest.fixture(scope="module")
def native(build):
    """The programs on this host, natively: the reference names of the checks, and
    the host's widest vector width (what vecregs' CPUID and XGETBV say here)."""
    d = build / "tests" / "guests" / "user"
    missing = [p for p in PROGRAMS if not (d / p).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not built in {d}: ninja -C {build}", pytrace=False)
    ref = {}
    for prog in ("utest", "hostile"):
        r = subprocess.run([str(d / prog)], capture_output=True, text=True, timeout=120)
        ref[prog] = (r.returncode, r.stdout + r.stderr, parse_checks(prog, r.stdout))
    r = subprocess.run([str(d / "vecregs"), "--rounds", "200"], capture_output=True,
                       text=True, timeout=120)
    m = re.search(r"the CPU reports width (\d+)", r.stdout)
    ref["vecregs"] = (r.returncode, r.stdout + r.stderr, int(m.group(1)) if m else 128)
    return ref


def test_native_reference(native):
    """On real hardware every check passes: the programs themselves are right."""
    for prog in ("utest", "hostile"):
        status, output, (checks, summary) = native[prog]
        assert status == 0 and summary and summary[1] == 0 and len(checks) > 20, \
            f"{prog} natively, exit {status}:\n{output}"
    status, output, width = native["vecregs"]
    assert status == 0 and f"vecregs: width {width}, 200 rounds, leaks 0" in output, output


def check_helpers(vmm_pid):
    """The helper processes trivisor made (its children) hold nothing of the VMM: a
    seccomp filter, no_new_privs, no capabilities, no file but the guest-RAM memfd,
    and no mapping but that memfd's pages and their own two (the host's [vsyscall]
    page is no mapping of theirs)."""
    helpers = []
    for d in Path("/proc").iterdir():
        try:
            stat = (d / "stat").read_text()
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == vmm_pid:
            helpers.append(d)
    assert helpers, f"no helper processes under trivisor (pid {vmm_pid})"
    for h in helpers:
        status = dict(l.split(":", 1) for l in (h / "status").read_text().splitlines() if ":" in l)
        assert status["Seccomp"].strip() == "2", (h, status["Seccomp"])
        assert status["NoNewPrivs"].strip() == "1", (h, status["NoNewPrivs"])
        assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0, (h, status)
        fds = sorted(os.listdir(h / "fd"))
        assert fds == ["3"] and "trivisor-guest-ram" in os.readlink(h / "fd" / "3"), (h, fds)
        for line in (h / "maps").read_text().splitlines():
            f = line.split()
            start = int(f[0].split("-")[0], 16)
            what = f[5] if len(f) > 5 else ""
            own = DIRECT_BASE <= start < DIRECT_BASE + 0x2000 and what == ""
            assert own or "trivisor-guest-ram" in what or what == "[vsyscall]", (h, line)


def run_prog(p, sh, cmd, tier, cpus):
    t0 = time.monotonic()
    r = run(p, sh, cmd)
    TIMINGS.append((f"soft --soft-tier {tier} --cpus {cpus}: {cmd}", time.monotonic() - t0))
    return r


def check_suite(prog, r, native_checks):
    """All of a program's checks passed in the guest, and they are the checks it makes
    natively (a check that never ran does not pass)."""
    checks, summary = parse_checks(prog, r.output)
    failed = {k: v for k, v in checks.items() if v != "ok"}
    assert not failed and summary and summary[1] == 0 and r.status == 0, \
        f"{prog}: exit {r.status}, failed: {failed}\n{r.output}"
    missing = sorted(set(native_checks) - set(checks))
    assert not missing, f"{prog}: checks that never reported: {missing}\n{r.output}"
    assert summary[0] == len(checks), f"{prog}: summary {summary}, {len(checks)} lines\n{r.output}"


@pytest.mark.parametrize("engine", ["soft"])
@pytest.mark.parametrize("tier,cpus", CASES, ids=[f"{t}-{c}cpu" for t, c in CASES])
def test_user_programs(machine, engine, native, tier, cpus):
    direct = tier == "direct"
    extra = ["--soft-tier", tier] + (["--stats"] if direct else [])
    p, sh = boot(machine, engine, cpus, extra=extra, env=DIRECT_ENV if direct else None)

    r = run(p, sh, "ls " + " ".join(f"/bin/{prog}" for prog in PROGRAMS))
    assert r.status == 0, (f"the guest's initramfs lacks the user programs: rebuild it "
                           f"(ninja -C BUILD && scripts/mkguest.sh --out BUILD/guest)\n{r.output}")

    r = run_prog(p, sh, f"utest --warmup {WARMUP_MS}" if direct else "utest", tier, cpus)
    check_suite("utest", r, native["utest"][2][0])

    args = " ".join(hostile_args(tier))
    r = run_prog(p, sh, f"hostile {args}".strip(), tier, cpus)
    check_suite("hostile", r, native["hostile"][2][0])
    if direct and hasattr(p, "child"):
        check_helpers(p.child.pid)
    info = [l for l in r.output.splitlines() if SAME_INFO.match(l)]
    for (t, c), seen in INFO_SEEN.items():
        assert info == seen, f"hostile under {tier} ({cpus} vCPUs) and {t} ({c}): {info} != {seen}"
    INFO_SEEN[(tier, cpus)] = info

    # xmm0-15 the guest kernel saves and restores itself: never missing. Under direct,
    # the host's widest once more, after a warm-up: natively, where the host's
    # registers are wider than the guest CPU model's. A longer spin between switches
    # keeps the processes there: with the default, each runs a microsecond or so
    # between system calls, the tier moves it back to the translator, and the
    # translator's CPU model has no such registers (SIGILL).
    widest = native["vecregs"][2]
    runs = [f"--width {width}" for width in sorted({128, widest})]
    if direct:
        runs.append(f"--warmup {WARMUP_MS} --spin 200000 --width {widest}")
    for args in runs:
        width = int(args.split()[-1])
        r = run_prog(p, sh, f"vecregs {args}", tier, cpus)
        done = re.search(rf"^vecregs: width {width}, (\d+) rounds, leaks (\d+)$", r.output, re.M)
        absent = f"vecregs: width {width} not available (SIGILL)" in r.output
        assert r.status == 0 and (done and done.group(2) == "0" or absent and width > 128), \
            f"vecregs {args}: exit {r.status}\n{r.output}"
        print(f"{tier}, {cpus} vCPUs: vecregs {args}: "
              f"{'not available (SIGILL)' if absent else done.group(0)}")

    assert end(p, "poweroff") == 0, p.output[-3000:]
    if direct:
        # Something did run natively (the warmed-up programs at least).
        tail = p.output.rsplit("reboot: Power down", 1)[-1]
        counters = direct_counters(tail)
        print(f"{tier}, {cpus} vCPUs: direct execution: " +
              ", ".join(f"{k} {v}" for k, v in counters.items()))
        assert counters.get("address_spaces_promoted", 0) >= 1, counters
        assert counters.get("native_entries", 0) >= 1, counters
