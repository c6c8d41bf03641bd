#!/usr/bin/python3
"""Nested kvm harness: run trivisor's kvm engine where the host has no usable /dev/kvm
(none at all, or a software KVM such as PVM that runs only guests built for it).

QEMU emulates AMD SVM (with nested paging) under TCG. The outer guest is the stock
Debian kernel with irqbypass, kvm, ccp and kvm-amd loaded, which gives it a working
/dev/kvm; its initramfs (built here, cached, under BUILD/nested) also holds trivisor
with its shared libraries, the inner guest images, a tiny KVM client (kvm-smoke) and the
engines' state test (engine-state, tests/unit/test_engine_state.c).

    outer = OuterVM()              # BUILD from $TRIVISOR_BUILD, default build/
    outer.start()                  # boots, waits for the shell; outer.boot_seconds
    r = outer.run("uname -r")      # r.status, r.output
    p = outer.spawn_inner("trivisor run --kernel /guest/bzImage ...")
    p.expect("guest# ", timeout=600); p.sendline("poweroff"); p.wait(120) -> status
    outer.close()

Inside the outer guest: trivisor is /bin/trivisor, the inner guest files are in
/guest (bzImage, initramfs.cpio.gz, kernel.version, tests/ = BUILD/tests/guests).

Known artefact of this setup, not a trivisor bug: an inner Linux kernel warns "XSAVE
consistency problem: size 832 != kernel_size 576" and runs without XSAVE/AVX. QEMU
itself (-accel kvm -cpu host) in the same outer guest gets the same warning.

CLI, for manual use (the console transcript goes to BUILD/nested/console.log):
    tests/nested/harness.py                 # boot and hand over the outer shell
    tests/nested/harness.py -- CMD ARGS...  # boot, run CMD (output streamed), power off;
                                            # exits with CMD's status
    tests/nested/harness.py -i -- CMD ...   # the same, with this terminal as CMD's
                                            # console (e.g. trivisor booting a guest)
"""

import argparse
import fcntl
import functools
import itertools
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pexpect.fdpexpect

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import mkguest  # noqa: E402

OUTER_PROMPT = "outer# "
CTL_PROMPT = "ctl# "
GUEST_PROMPT = mkguest.DEFAULT_PROMPT
GUEST_DIR = "/guest"
FIRMWARE_BIOS = "/usr/share/seabios/bios.bin"
FIRMWARE_VGA = "/usr/share/seabios/vgabios-stdvga.bin"
KVM_READY = "trivisor-nested: /dev/kvm ready"
KVM_MISSING = "trivisor-nested: /dev/kvm MISSING"
OUTER_MODULES = ["irqbypass", "kvm", "ccp", "kvm-amd",
                 # the scratch disks (below), which trivisor inside uses as --disk
                 "virtio_pci", "virtio_blk",
                 # TAP devices for trivisor's --net tap
                 "tun"]
# The inner guest for the virtio tests (disk, net, rng, console): the default one plus
# these modules (both transports: virtio_pci, and virtio_mmio for the ACPI-described
# LNRO0005 devices of --virtio-transport mmio).
VIRTIO_MODULES = ["virtio_pci", "virtio_mmio", "virtio_blk", "ext4",
                  "virtio_net", "virtio_rng", "virtio_console"]
VIRTIO_INITRD = "initramfs-virtio.cpio.gz"
# Raw files on the host that the outer guest sees as /dev/vda, /dev/vdb...: a test
# copies a disk image in, trivisor inside uses the block device as --disk, and the
# host reads the result back after an outer `sync` (see scratch_disk()).
SCRATCH_DISKS = 2
SCRATCH_SIZE = 64 << 20
TRIVISOR_QUIT = "\x01x"    # Ctrl-A x

# Measured on the 2-core build machine (QEMU 7.2): -smp 1 or 2, single or multi-threaded
# TCG and extra kernel options (mitigations=off, tsc=reliable) all boot the outer guest
# to its shell in 4-4.5 s (5.5-7 s with trivisor and the inner guest, 12 MB, in its
# initramfs), so the choice is made for the inner guest instead: two vCPUs, each on its
# own host thread, so trivisor --cpus 2 really runs in parallel.
# Neither mode is free of QEMU stalls with nested SVM. Multi-threaded, the outer guest
# froze as a whole (both QEMU threads spinning, neither shell answering) after 500-600
# KVM VMs created and run in a loop (`kvm-smoke 10`), and once or twice in most full
# test runs. Single-threaded, that loop ran 3000 VMs without a freeze, but inner Linux
# boots stopped making progress early in boot (2 of 3 two-disk virtio-mmio boots). The
# harness keeps multi-threaded TCG; tests/conftest.py runs a test that stalled again on
# a rebooted outer guest (once, or twice when the whole outer guest froze).
QEMU_ACCEL = "tcg,thread=multi"
QEMU_CPU = "EPYC,+svm,+npt"
QEMU_SMP = 2
QEMU_MEM = 2048
# quiet: kernel messages would interleave with the test's console traffic.
OUTER_APPEND = "console=ttyS0 quiet panic=-1"

# (what, seconds) a test run measured; tests/conftest.py prints them at the end.
TIMINGS = []
# Console waits on an outer guest that failed (OuterVM.diagnose calls), in this process,
# and those of them where the outer guest as a whole was stuck (its second shell did not
# answer either, or QEMU was gone): tests/conftest.py runs a test again after one.
STALLS = 0
FREEZES = 0
# A console wait longer than this is watched in slices of it: after a slice with nothing
# new on the console, the second shell must answer within FREEZE_ANSWER_SECONDS, else
# the outer guest froze (QEMU_ACCEL) and the wait ends there, not at the test's own
# timeout (a boot's is 300 s) before its run again.
FREEZE_SLICE_SECONDS = 20
FREEZE_ANSWER_SECONDS = 30

# Escape codes are noise to a test (busybox's line editor asks for the cursor position,
# ESC [6n, before each prompt).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def clean(text: str) -> str:
    """Console text as a test wants to read it: no escape codes, \\n line ends."""
    return re.sub(r"\r+\n", "\n", _ANSI.sub("", text)).replace("\r", "")


def build_dir() -> Path:
    return Path(os.environ.get("TRIVISOR_BUILD") or REPO / "build").resolve()


class HarnessError(Exception):
    pass


@dataclass
class Result:
    status: int
    output: str

    def __str__(self):
        return f"[exit {self.status}]\n{self.output}"


class Transcript:
    """pexpect's logfile_read: every byte the console printed, to a file and to memory
    (so a failing test can show what the console said around the failure)."""

    def __init__(self, path: Path):
        self.file = open(path, "a", encoding="utf-8", errors="replace")
        self.text = []
        self.size = 0

    def write(self, s):
        self.file.write(s)
        self.text.append(s)
        self.size += len(s)

    def flush(self):
        self.file.flush()

    def since(self, offset: int) -> str:
        return "".join(self.text)[offset:]

    def close(self):
        self.file.close()


class Shell:
    """Runs commands on a busybox shell at the other end of a console (anything with
    pexpect's sendline/expect). Each command is bracketed by markers that the shell
    prints but whose typed form (echoed back) differs, so neither the echo nor kernel
    messages before the command are mistaken for its output."""

    _seq = itertools.count(1)

    def __init__(self, console, prompt: str):
        self.console = console
        self.prompt = prompt

    def start(self, cmd: str, timeout=30) -> int:
        n = next(self._seq)
        self.console.sendline(f"printf '@B%s@\\n' {n}; {cmd}; printf '@E%s:%d@\\n' {n} $?")
        # Not anchored to the end of its line: a kernel message may land right after
        # the marker, before its newline (the echoed command has '@B%s@', never '@Bn@').
        self.console.expect_exact(f"@B{n}@", timeout=timeout)
        return n

    def finish(self, n: int, timeout) -> Result:
        self.console.expect(rf"@E{n}:(\d+)@", timeout=timeout)
        status, output = int(self.console.match.group(1)), clean(self.console.before)
        self.console.expect_exact(self.prompt, timeout=30)
        return Result(status, output)

    def run(self, cmd: str, timeout=60) -> Result:
        return self.finish(self.start(cmd, timeout), timeout)


def _ldd(binary: Path):
    """The shared libraries and dynamic loader binary needs, as absolute host paths."""
    p = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if p.returncode != 0:       # "not a dynamic executable": nothing to copy
        return []
    return [m.group(1) for m in re.finditer(r"(?:=>\s*)?(/\S+)\s+\(0x", p.stdout)]


def build_kvm_smoke(out: Path) -> Path:
    """Compile kvm_smoke.c statically into the build tree (when it changed)."""
    src = Path(__file__).with_name("kvm_smoke.c")
    exe = out / "kvm-smoke"
    if exe.exists() and exe.stat().st_mtime >= src.stat().st_mtime:
        return exe
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise HarnessError("no C compiler to build kvm-smoke (run scripts/deps.sh)")
    p = subprocess.run([cc, "-static", "-O2", "-Wall", "-o", str(exe), str(src)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise HarnessError(f"building kvm-smoke failed:\n{p.stderr}")
    return exe


# What diagnose() runs on the second shell.
DIAGNOSE = r"""cat /proc/loadavg; ps | grep -v ' \[.*\]$'
for p in $(pidof trivisor); do for t in /proc/$p/task/*; do
echo "-- trivisor $p thread ${t##*/} $(cat $t/comm): state $(cut -d' ' -f3 $t/stat), wchan $(cat $t/wchan)"
cat $t/stack; done; done
dmesg | tail -n 20"""

OUTER_RC = f"""
# Generated by tests/nested/harness.py.
# A second shell, on ttyS1, for the harness to look inside with when the console shell
# (ttyS0) is busy or stuck: see OuterVM.diagnose().
PS1='{CTL_PROMPT}' setsid sh -i </dev/ttyS1 >/dev/ttyS1 2>&1 &
# Say whether the kvm modules gave us /dev/kvm.
if [ -c /dev/kvm ]; then
	echo "{KVM_READY}"
else
	echo "{KVM_MISSING}"
	grep -qw svm /proc/cpuinfo || echo "trivisor-nested: the CPU shows no svm flag"
	dmesg | grep -iE 'kvm|svm|ccp' | tail -20
fi
"""


# The firmware-booted PC's guest (tests/integration/test_firmware.py): a bootable disk
# (SYSLINUX) and CD (ISOLINUX) image holding the kernel and an initramfs with the
# drivers of both device models: emulated (AHCI, e1000, ATAPI CD) and virtio.
PC_MODULES = VIRTIO_MODULES + ["ahci", "sd_mod", "sr_mod", "e1000"]
PC_INITRD = "initramfs-pc.cpio.gz"
PC_DISK = "boot.img"
PC_ISO = "boot.iso"


_build_lock = {"fd": None, "depth": 0}


def _one_builder(fn):
    """Run FN(build, ...) holding BUILD/guest/.build.lock: under `pytest -n` the test
    processes may each want the same cached image first, and mkguest's temporary names
    are fixed. Reentrant: one builder calls another."""
    @functools.wraps(fn)
    def locked(build: Path, *args, **kw):
        lock = _build_lock
        if lock["depth"] == 0:
            (build / "guest").mkdir(parents=True, exist_ok=True)
            lock["fd"] = os.open(build / "guest" / ".build.lock", os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(lock["fd"], fcntl.LOCK_EX)
        lock["depth"] += 1
        try:
            return fn(build, *args, **kw)
        finally:
            lock["depth"] -= 1
            if lock["depth"] == 0:
                os.close(lock["fd"])        # and with it the lock
    return locked


@_one_builder
def build_firmware_images(build: Path, log=print):
    """BUILD/guest/boot.img and boot.iso (cached like the initramfs they carry)."""
    base = mkguest.ensure_base(build / "guest", log=log)
    initrd = base.out / PC_INITRD
    mkguest.build_initramfs(base, initrd, modules=PC_MODULES, log=log)
    disk, iso = base.out / PC_DISK, base.out / PC_ISO
    mkguest.build_boot_disk(base, disk, initrd, "console=ttyS0", log=log)
    mkguest.build_boot_iso(base, iso, initrd, "console=ttyS0", log=log)
    return disk, iso


@_one_builder
def build_virtio_initramfs(build: Path, log=print) -> Path:
    """BUILD/guest/initramfs-virtio.cpio.gz: the default guest with the virtio block
    driver and ext4 (cached like every initramfs)."""
    base = mkguest.ensure_base(build / "guest", log=log)
    dest = base.out / VIRTIO_INITRD
    mkguest.build_initramfs(base, dest, modules=VIRTIO_MODULES, log=log)
    return dest


@_one_builder
def build_outer_initramfs(build: Path, trivisor: Path = None, log=print) -> Path:
    """BUILD/nested/outer.cpio.gz (rebuilt only when something in it changed)."""
    out = build / "nested"
    out.mkdir(parents=True, exist_ok=True)
    base = mkguest.ensure_base(build / "guest", log=log)
    # The same default guest `make guest` builds, user programs included: built any
    # other way, the two would replace each other's archive.
    inner_initrd = mkguest.build_default_initramfs(base, build, log=log)

    files = [(base.bzimage, f"{GUEST_DIR}/bzImage"),
             (inner_initrd, f"{GUEST_DIR}/initramfs.cpio.gz"),
             (build_virtio_initramfs(build, log=log), f"{GUEST_DIR}/{VIRTIO_INITRD}"),
             (base.out / "kernel.version", f"{GUEST_DIR}/kernel.version"),
             (build_kvm_smoke(out), "/bin/kvm-smoke")]
    # The firmware for boots without --kernel, where trivisor looks for it by default.
    files += [(f, f) for f in (FIRMWARE_BIOS, FIRMWARE_VGA) if Path(f).is_file()]
    trees = []
    if trivisor is not None:
        files.append((trivisor, "/bin/trivisor"))
        # Each library at the path ldd found it, so the loader's search finds it too.
        files += [(lib, lib) for lib in _ldd(trivisor)]
    # The engines' state moved between kvm and soft (tests/unit/test_engine_state.c),
    # linked with trivisor's library: the same shared libraries.
    engine_state = build / "tests" / "unit" / "test_engine_state"
    if engine_state.is_file():
        files.append((engine_state, "/bin/engine-state"))
        files += [(lib, lib) for lib in _ldd(engine_state)]
    guests = build / "tests" / "guests"
    if guests.is_dir():
        trees.append((guests, f"{GUEST_DIR}/tests"))

    dest = out / "outer.cpio.gz"
    mkguest.build_initramfs(base, dest, modules=OUTER_MODULES, rc=OUTER_RC, files=files,
                            trees=trees, prompt=OUTER_PROMPT, log=log)
    return dest


class OuterVM:
    """One QEMU TCG outer guest with /dev/kvm and a shell on its serial console."""

    def __init__(self, build: Path = None, trivisor: Path = None, log=None):
        self.build = Path(build or build_dir()).resolve()
        if trivisor is None:
            t = self.build / "trivisor"
            trivisor = t if t.exists() else None
        self.trivisor = Path(trivisor).resolve() if trivisor else None
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.child = None
        self.shell = None
        self.boot_seconds = None
        self.transcript = None
        self.broken = False      # set when the console is in an unknown state
        self.inner = None        # the InnerProcess that has the console, if any
        self.ctl = None          # the second shell (ttyS1), for diagnose()
        self._ctl_sock = None
        self.ctl_path = None

    # -- lifecycle -----------------------------------------------------------------------

    def scratch_path(self, i: int) -> Path:
        return self.build / "nested" / f"scratch{i}.img"

    def qemu_argv(self, initrd: Path):
        bz = self.build / "guest" / "bzImage"
        drives = []
        for i in range(SCRATCH_DISKS):
            drives += ["-drive", f"file={self.scratch_path(i)},if=virtio,format=raw,cache=writeback"]
        return ["qemu-system-x86_64", "-accel", QEMU_ACCEL, "-cpu", QEMU_CPU,
                "-smp", str(QEMU_SMP), "-m", str(QEMU_MEM),
                "-nodefaults", "-display", "none", "-no-reboot",
                # the serial port on stdio without QEMU's mux: Ctrl-A (trivisor's
                # escape key) and Ctrl-C go to the guest, not to QEMU
                "-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con",
                # ttyS1: the harness's second shell (diagnose())
                "-chardev", f"socket,id=ctl,path={self.ctl_path},server=on,wait=off",
                "-serial", "chardev:ctl",
                *drives,
                "-kernel", str(bz), "-initrd", str(initrd), "-append", OUTER_APPEND]

    def scratch_disk(self, i: int, image: Path) -> str:
        """Copy the host file image onto scratch disk i and return the outer guest's
        block device for it (/dev/vda, ...). The outer guest's caches of the device are
        written back first and dropped after, so it reads what the host wrote."""
        self.run("sync")
        data = Path(image).read_bytes()
        if len(data) > SCRATCH_SIZE:
            raise HarnessError(f"{image}: {len(data)} bytes, scratch disks hold {SCRATCH_SIZE}")
        with open(self.scratch_path(i), "r+b") as f:
            f.write(data)
            f.write(b"\0" * (SCRATCH_SIZE - len(data)))
        self.run("echo 3 > /proc/sys/vm/drop_caches")
        return f"/dev/vd{chr(ord('a') + i)}"

    def fetch_scratch_disk(self, i: int, image: Path):
        """The outer guest's view of scratch disk i, written back (sync), into the host
        file image (its first len(image) bytes)."""
        self.run("sync")
        size = Path(image).stat().st_size
        with open(self.scratch_path(i), "rb") as f:
            Path(image).write_bytes(f.read(size))

    def start(self, timeout=300):
        if not shutil.which("qemu-system-x86_64"):
            raise HarnessError("qemu-system-x86_64 not found (run scripts/deps.sh)")
        initrd = build_outer_initramfs(self.build, self.trivisor, log=self.log)
        for i in range(SCRATCH_DISKS):
            p = self.scratch_path(i)
            if not p.exists() or p.stat().st_size != SCRATCH_SIZE:
                with open(p, "wb") as f:
                    f.truncate(SCRATCH_SIZE)
        if self.transcript:
            self.transcript.close()
        self.transcript = Transcript(self.build / "nested" / "console.log")
        self.transcript.write(f"\n==== outer boot {time.strftime('%F %T')} ====\n")
        t0 = time.monotonic()
        # A socket path is limited to about 100 bytes: not under the build tree.
        self.ctl_path = Path(tempfile.mkdtemp(prefix="trivisor-nested-")) / "ctl.sock"
        argv = self.qemu_argv(initrd)
        self.child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8",
                                   codec_errors="replace", timeout=timeout,
                                   dimensions=(50, 1000))
        self.child.logfile_read = self.transcript
        self.shell = Shell(self.child, OUTER_PROMPT)
        try:
            i = self.child.expect([KVM_READY, KVM_MISSING], timeout=timeout)
            self.child.expect_exact(OUTER_PROMPT, timeout=60)
        except (pexpect.TIMEOUT, pexpect.EOF) as e:
            tail = clean(self.transcript.since(0))[-3000:]
            self.kill()
            raise HarnessError(f"outer guest did not boot to its shell "
                               f"({type(e).__name__}); console:\n{tail}")
        self.boot_seconds = time.monotonic() - t0
        self._connect_ctl()
        if i == 1:
            tail = clean(self.child.before)[-2000:]
            self.close()
            raise HarnessError(f"outer guest has no /dev/kvm; console:\n{tail}")
        self.broken = False
        return self

    @property
    def alive(self):
        return self.child is not None and self.child.isalive() and not self.broken

    def ensure(self):
        """Running and at its prompt; reboots the outer guest after a mishap."""
        if self.inner is not None and self.alive:
            self.inner.kill()    # a command still holding the console
        self.inner = None
        if not self.alive:
            if self.child is not None:
                self.log("nested: restarting the outer guest")
                self.kill()
            self.start()
        return self

    def _connect_ctl(self):
        """Attach to the second shell; without it the harness still works, only
        diagnose() has nothing to say."""
        self._ctl_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._ctl_sock.connect(str(self.ctl_path))
            self.ctl = Shell(pexpect.fdpexpect.fdspawn(self._ctl_sock, encoding="utf-8",
                                                       codec_errors="replace"), CTL_PROMPT)
            self.ctl.run("true", 30)
        except (OSError, pexpect.TIMEOUT, pexpect.EOF) as e:
            self.log(f"nested: no second shell on ttyS1 ({type(e).__name__}: {e})")
            self._drop_ctl()

    def _drop_ctl(self):
        if self._ctl_sock is not None:
            self._ctl_sock.close()
            self._ctl_sock = None
        self.ctl = None
        if self.ctl_path is not None:
            shutil.rmtree(self.ctl_path.parent, ignore_errors=True)
            self.ctl_path = None

    def answers(self) -> bool:
        """The second shell runs a command within FREEZE_ANSWER_SECONDS (or there is no
        second shell to tell): the outer guest is not frozen. One that does not answer
        is dropped, so diagnose() does not wait on it again."""
        if self.ctl is None:
            return True
        try:
            self.ctl.run("true", FREEZE_ANSWER_SECONDS)
            return True
        except (pexpect.TIMEOUT, pexpect.EOF):
            self._drop_ctl()
            return False

    def diagnose(self, timeout=30) -> str:
        """What the outer guest is doing, from the second shell: load, processes, each
        trivisor thread's state, wait channel and kernel stack, the kernel log's tail.
        For a command on the console that does not end: is it blocked, and where?
        The outer guest counts as broken from here on: the next use reboots it."""
        global STALLS, FREEZES
        STALLS += 1
        self.broken = True
        if self.ctl is None or not (self.child and self.child.isalive()):
            FREEZES += 1
            return "(no second shell to ask)"
        try:
            return self.ctl.run(DIAGNOSE, timeout).output
        except (pexpect.TIMEOUT, pexpect.EOF) as e:
            FREEZES += 1
            self._drop_ctl()
            return (f"(the second shell did not answer either ({type(e).__name__}): the "
                    f"outer guest as a whole is stuck, not only the command)")

    def kill(self):
        self._drop_ctl()
        if self.child is not None:
            self.child.close(force=True)
            self.child = None

    def close(self, timeout=60):
        """Power the outer guest off (QEMU exits); kill it if that does not work."""
        if self.child is None:
            return
        try:
            if self.child.isalive() and not self.broken:
                self.child.sendline("poweroff")
                self.child.expect(pexpect.EOF, timeout=timeout)
        except (pexpect.TIMEOUT, OSError):
            pass
        self.kill()
        if self.transcript:
            self.transcript.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- using it ------------------------------------------------------------------------

    def run(self, cmd: str, timeout=60) -> Result:
        """Run one shell command line in the outer guest; its output and status."""
        self.ensure()
        offset = self.transcript.size
        try:
            return self.shell.run(cmd, timeout)
        except (pexpect.TIMEOUT, pexpect.EOF) as e:
            why = "no end" if isinstance(e, pexpect.TIMEOUT) else "QEMU ended"
            diag = self.diagnose()
            raise HarnessError(f"outer guest: `{cmd}`: {why} within {timeout} s; console:\n"
                               f"{clean(self.transcript.since(offset))[-2000:]}\n"
                               f"inside the outer guest:\n{diag}") from None

    def spawn_inner(self, cmd: str) -> "InnerProcess":
        """Start a long-running command (trivisor booting a guest) on the console and
        hand over the console: the returned object sends and expects through it."""
        self.ensure()
        self.inner = InnerProcess(self, cmd)
        return self.inner


class InnerProcess:
    """A command running in the outer guest that owns the console (trivisor: its
    stdin/stdout are the inner guest's serial port). expect/send/sendline talk to it;
    wait() returns its exit status once the outer shell is back."""

    def __init__(self, outer: OuterVM, cmd: str):
        self.outer = outer
        self.cmd = cmd
        self.status = None
        self.start_time = time.monotonic()
        self._offset = outer.transcript.size
        self._child = outer.child    # an outer guest rebooted since then is not ours
        try:
            self._n = outer.shell.start(cmd)
        except (pexpect.TIMEOUT, pexpect.EOF):
            outer.broken = True
            raise

    # pexpect's interface, on the shared console
    def expect(self, pattern, timeout=-1):
        return self._guard(self.outer.child.expect, pattern, timeout=timeout)

    def expect_exact(self, pattern, timeout=-1):
        return self._guard(self.outer.child.expect_exact, pattern, timeout=timeout)

    def silent(self, pattern, timeout):
        """True if pattern does not show within timeout s, else False with match set:
        a wait whose timeout is the expected outcome (a paused VM's console), so it is
        no stall and asks nothing (Ctrl-A keys would print into the console read next)."""
        try:
            self._guard(self.outer.child.expect, pattern, timeout=timeout, silence=True)
            return False
        except pexpect.TIMEOUT:
            return True

    def send(self, s):
        return self.outer.child.send(s)

    def sendline(self, s=""):
        return self.outer.child.sendline(s)

    @property
    def before(self):
        return self.outer.child.before

    @property
    def after(self):
        return self.outer.child.after

    @property
    def match(self):
        return self.outer.child.match

    def _guard(self, fn, *a, silence=False, **kw):
        """Every console wait: a timeout carries the outer guest's diagnosis (as
        .diagnosis, and in its message for a test that lets it propagate), which also
        counts the stall, so that the test runs again (tests/conftest.py). So does the
        console's end: QEMU itself exited (the outer guest's kernel died under emulated
        SVM, or QEMU did; trivisor ending leaves the outer shell), once in a few CI runs
        here, never trivisor's doing from user space."""
        global STALLS
        try:
            return fn(*a, **kw) if silence else self._watch(fn, *a, **kw)
        except pexpect.EOF as e:
            STALLS += 1
            self.outer.broken = True    # nothing more to wait for: rebooted on next use
            raise pexpect.EOF(f"{e}\nthe outer guest's QEMU exited (see its console "
                              f"transcript)") from None
        except pexpect.TIMEOUT as e:
            if silence:
                raise
            diagnosis = self._ask_trivisor() + self.outer.diagnose()
            err = pexpect.TIMEOUT(f"{e}\ninside the outer guest:\n{diagnosis}")
            err.diagnosis = diagnosis
            raise err from None

    def _watch(self, fn, *a, **kw):
        """fn(*a, timeout=...) in slices of FREEZE_SLICE_SECONDS (pexpect keeps what it
        read across them): a slice that brought nothing new on the console while the
        second shell does not answer either raises the TIMEOUT at once."""
        timeout = kw.pop("timeout", None)
        if timeout is None or timeout <= FREEZE_SLICE_SECONDS:
            return fn(*a, **kw) if timeout is None else fn(*a, timeout=timeout, **kw)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            seen = self.outer.transcript.size
            try:
                return fn(*a, timeout=max(0, min(left, FREEZE_SLICE_SECONDS)), **kw)
            except pexpect.TIMEOUT:
                if left <= FREEZE_SLICE_SECONDS or (
                        self.outer.transcript.size == seen and not self.outer.answers()):
                    raise

    def _ask_trivisor(self, timeout=10) -> str:
        """trivisor's own view of a guest that stopped making progress: its counters
        so far and where each vCPU is (the console keys Ctrl-A s, Ctrl-A r), or why not."""
        child, said = self.outer.child, ""
        for key in "sr":
            start = self.outer.transcript.size
            try:
                child.send("\x01" + key)
                child.expect_exact("[trivisor] end", timeout=timeout)
            except (pexpect.TIMEOUT, pexpect.EOF, OSError) as e:
                return said + f"(trivisor did not answer Ctrl-A {key}: {type(e).__name__})\n"
            said += clean(self.outer.transcript.since(start))
        return said

    @property
    def output(self) -> str:
        """Everything the console printed since the command started, cleaned."""
        return clean(self.outer.transcript.since(self._offset))

    def wait(self, timeout=120) -> int:
        """The command's exit status, when it ends within timeout (else TIMEOUT)."""
        if self.status is None:
            r = self._guard(self.outer.shell.finish, self._n, timeout=timeout)
            self.status = r.status
            self.seconds = time.monotonic() - self.start_time
        return self.status

    def kill(self, timeout=30):
        """End the command if it still runs: trivisor's quit key first; if the console
        does not come back, the outer guest is marked broken and rebooted on next use."""
        if self.status is not None or self.outer.child is not self._child:
            return
        try:
            self.send(TRIVISOR_QUIT)
            self.wait(timeout)
            # a trivisor that died without restoring the terminal leaves it raw
            self.outer.shell.run("stty sane", 30)
        except (pexpect.TIMEOUT, pexpect.EOF):
            self.outer.broken = True


# ---------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Boot the nested outer guest (QEMU TCG + SVM, /dev/kvm inside) and "
                    "run a command in it, or hand over its shell.")
    ap.add_argument("--build", type=Path, help="build dir (default $TRIVISOR_BUILD or build)")
    ap.add_argument("--trivisor", type=Path, help="trivisor binary (default BUILD/trivisor)")
    ap.add_argument("--timeout", type=float, default=1800, help="for the command (s)")
    ap.add_argument("-i", "--interactive", action="store_true",
                    help="make this terminal the command's console until it ends")
    ap.add_argument("command", nargs=argparse.REMAINDER,
                    help="after --: command run in the outer guest")
    args = ap.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command

    outer = OuterVM(args.build, args.trivisor)
    if outer.trivisor is None:
        print("harness: no trivisor binary; the outer guest will not have one", file=sys.stderr)
    try:
        outer.start()
    except (HarnessError, mkguest.GuestError) as e:
        print(f"harness: {e}", file=sys.stderr)
        return 1
    print(f"harness: outer guest at its shell after {outer.boot_seconds:.1f}s", file=sys.stderr)
    try:
        if not cmd:
            print("harness: outer shell (Ctrl-] leaves it and powers off)", file=sys.stderr)
            outer.child.logfile_read = None
            outer.transcript.close()
            outer.transcript = None
            outer.child.sendline("")
            outer.child.interact()
            return 0
        p = outer.spawn_inner(shlex.join(cmd) if len(cmd) > 1 else cmd[0])
        if args.interactive:
            status = _interact(p)
        else:
            # Stream the console while the command runs.
            outer.child.logfile_read = _Tee(outer.transcript, sys.stdout)
            status = p.wait(args.timeout)
        print(f"\nharness: exit status {status} after {p.seconds:.1f}s", file=sys.stderr)
        return status
    except pexpect.TIMEOUT:
        print("\nharness: timed out", file=sys.stderr)
        return 124
    finally:
        outer.close()


def _interact(p: InnerProcess) -> int:
    """Copy this terminal (raw) to the console and back until the command ends: the
    end marker's arrival, which the outer shell prints, is the signal."""
    import select
    import termios
    import tty
    child = p.outer.child
    child.logfile_read = None
    fd_in, fd_con = sys.stdin.fileno(), child.child_fd
    saved = termios.tcgetattr(fd_in) if os.isatty(fd_in) else None
    end = re.compile(rf"@E{p._n}:(\d+)@")
    tail = ""
    try:
        if saved:
            tty.setraw(fd_in)
        while True:
            r, _, _ = select.select([fd_in, fd_con], [], [])
            if fd_con in r:
                data = os.read(fd_con, 4096)
                if not data:
                    return 255
                os.write(sys.stdout.fileno(), data)
                tail = (tail + data.decode(errors="replace"))[-200:]
                m = end.search(tail)
                if m:
                    p.status = int(m.group(1))
                    p.seconds = time.monotonic() - p.start_time
                    return p.status
            if fd_in in r:
                data = os.read(fd_in, 4096)
                if not data:
                    return 255
                os.write(fd_con, data)
    finally:
        if saved:
            termios.tcsetattr(fd_in, termios.TCSAFLUSH, saved)


class _Tee:
    def __init__(self, *outs):
        self.outs = outs

    def write(self, s):
        for o in self.outs:
            o.write(s)

    def flush(self):
        for o in self.outs:
            o.flush()


if __name__ == "__main__":
    sys.exit(main())
