"""Where trivisor runs for a test: directly on this host, or inside the nested outer
guest (for the kvm engine on a host without a usable /dev/kvm). Both give the same
interface:

    m.kernel, m.initrd, m.guests      guest file paths as trivisor sees them
    m.log                             the console transcript of this machine
    p = m.spawn(args, env=None)       trivisor ARGS on a terminal (env: variables to set
                                      for it): p.expect(...), p.sendline(...),
                                      p.wait(timeout) -> status, p.output
    r = m.run(args, timeout)          trivisor ARGS with no terminal: r.status, r.output
    r = m.control(args, timeout)      the same beside a running VM (trivisor ls, pause...)
"""
import contextlib
import os
import shlex
import subprocess
import time
from pathlib import Path

import pexpect
import pytest

import harness


@contextlib.contextmanager
def step(p, what):
    """A console wait that fails the test with what the console said, not a pexpect dump."""
    try:
        yield
    except (pexpect.TIMEOUT, pexpect.EOF) as e:
        why = "timed out" if isinstance(e, pexpect.TIMEOUT) else "trivisor (or the outer guest) ended"
        diagnosis = getattr(e, "diagnosis", None)   # the nested machine says more
        more = f"\ninside the outer guest:\n{diagnosis}" if diagnosis else ""
        # from None: pytest would print the pexpect exception's long dump too
        raise pytest.fail.Exception(f"{what}: {why}; console:\n{p.output[-4000:]}{more}",
                                    pytrace=False) from None


def host_has_kvm(trivisor_bin) -> bool:
    """Can the kvm engine run on this host? trivisor itself decides (`trivisor engines`):
    it also refuses a software KVM (PVM) whose /dev/kvm opens fine but runs only guest
    kernels built for it, so the tests go nested there too.
    TRIVISOR_NESTED=1 forces the nested outer guest, =0 forbids it."""
    forced = os.environ.get("TRIVISOR_NESTED")
    if forced in ("0", "1"):
        return forced == "0"
    out = subprocess.run([str(trivisor_bin), "engines"], capture_output=True,
                         text=True, timeout=30).stdout
    return any(line.split()[:2] == ["kvm", "available"] for line in out.splitlines())


def env_prefix(env) -> str:
    """Variable assignments as a shell command line starts with them ("" for none)."""
    return "".join(f"{k}={shlex.quote(str(v))} " for k, v in (env or {}).items())


class HostProcess:
    """trivisor on a pseudo-terminal of this host (it puts the terminal in raw mode
    and makes it the guest's serial console, as for a person at a terminal)."""

    def __init__(self, argv, log_path: Path, env=None):
        self.argv = argv
        self.status = None
        self.start_time = time.monotonic()
        self.transcript = harness.Transcript(log_path)
        self.transcript.write(f"\n==== {env_prefix(env)}{shlex.join(map(str, argv))} ====\n")
        self._offset = self.transcript.size
        self.child = pexpect.spawn(str(argv[0]), [str(a) for a in argv[1:]], encoding="utf-8",
                                   codec_errors="replace", dimensions=(50, 1000),
                                   env={**os.environ, **env} if env else None)
        self.child.logfile_read = self.transcript

    def expect(self, pattern, timeout=-1):
        return self.child.expect(pattern, timeout=timeout)

    def expect_exact(self, pattern, timeout=-1):
        return self.child.expect_exact(pattern, timeout=timeout)

    def silent(self, pattern, timeout):
        """True if pattern does not show within timeout s, else False with match set."""
        try:
            self.child.expect(pattern, timeout=timeout)
            return False
        except pexpect.TIMEOUT:
            return True

    def send(self, s):
        return self.child.send(s)

    def sendline(self, s=""):
        return self.child.sendline(s)

    @property
    def before(self):
        return self.child.before

    @property
    def after(self):
        return self.child.after

    @property
    def match(self):
        return self.child.match

    @property
    def output(self) -> str:
        return harness.clean(self.transcript.since(self._offset))

    def wait(self, timeout=120) -> int:
        if self.status is None:
            self.child.expect(pexpect.EOF, timeout=timeout)
            self.child.close()
            self.seconds = time.monotonic() - self.start_time
            st = self.child.exitstatus
            self.status = st if st is not None else 128 + self.child.signalstatus
            self.transcript.close()
        return self.status

    def kill(self, timeout=10):
        if self.status is not None:
            return
        try:
            self.send(harness.TRIVISOR_QUIT)
            self.wait(timeout)
        except (pexpect.TIMEOUT, OSError):
            self.child.close(force=True)
            self.status = -1


class HostMachine:
    name = "host"

    def __init__(self, build: Path):
        self.build = build
        self.trivisor = build / "trivisor"
        self.kernel = str(build / "guest" / "bzImage")
        self.initrd = str(build / "guest" / "initramfs.cpio.gz")
        self.guests = str(build / "tests" / "guests")
        self.log = build / "integration-console.log"
        self.procs = []

    def spawn(self, args, env=None) -> HostProcess:
        p = HostProcess([self.trivisor, *args], self.log, env)
        self.procs.append(p)
        return p

    def run(self, args, timeout=120) -> harness.Result:
        p = subprocess.run([str(self.trivisor), *map(str, args)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        return harness.Result(p.returncode, p.stdout.decode(errors="replace"))

    def control(self, args, timeout=60) -> harness.Result:
        """trivisor ARGS beside a VM this machine runs (trivisor ls, pause NAME...)."""
        return self.run(args, timeout)

    def cleanup(self):
        for p in self.procs:
            p.kill()


class NestedMachine:
    """trivisor inside the session's outer guest, on its serial console."""
    name = "nested"

    def __init__(self, outer: harness.OuterVM):
        self.outer = outer
        self.kernel = f"{harness.GUEST_DIR}/bzImage"
        self.initrd = f"{harness.GUEST_DIR}/initramfs.cpio.gz"
        self.guests = f"{harness.GUEST_DIR}/tests"
        self.log = outer.build / "nested" / "console.log"
        self.procs = []

    @staticmethod
    def _cmd(args, env=None):
        return env_prefix(env) + shlex.join(["trivisor", *map(str, args)])

    def spawn(self, args, env=None) -> harness.InnerProcess:
        p = self.outer.spawn_inner(self._cmd(args, env))
        self.procs.append(p)
        return p

    def run(self, args, timeout=120) -> harness.Result:
        # No terminal for trivisor: stdin from /dev/null, like HostMachine.run.
        return self.outer.run(self._cmd(args) + " </dev/null 2>&1", timeout)

    def control(self, args, timeout=60) -> harness.Result:
        """trivisor ARGS beside the VM that owns the console: on the outer guest's
        second shell (ttyS1)."""
        if self.outer.ctl is None:
            raise harness.HarnessError("the outer guest has no second shell (ttyS1)")
        return self.outer.ctl.run(self._cmd(args) + " </dev/null 2>&1", timeout)

    def cleanup(self):
        for p in self.procs:
            p.kill()
