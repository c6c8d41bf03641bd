"""Host faults become guest errors: a disk image on a host file system that fills up
(a small tmpfs) makes the host's writes fail with ENOSPC. The guest gets an I/O error
for those requests (virtio-blk's IOERR status, AHCI's task-file error), its file system
copes as it does with a failing disk, and the VM keeps running: the shell answers and
`poweroff` ends it cleanly, with the failed requests counted in --stats.

The image lives on the machine that runs trivisor: soft engine here (the device code
under test is the same under kvm).

Guest RAM the host will not give: a VM whose RAM cannot be mapped at all (an address
space limit, as `ulimit -v` sets, or strict overcommit) is refused at start with a
message naming the size; RAM the host cannot provide later, as the guest touches it (a
memfd page under strict overcommit, a hardware memory error: SIGBUS) ends the VM with
an error instead of killing trivisor with the signal."""
import os
import resource
import subprocess
import time

import pytest

from machines import HostMachine
from test_linux import end, run, step
from test_virtio_blk import wait_boot

import harness


@pytest.fixture
def small_fs(tmp_path):
    """A 24 MiB tmpfs holding a sparse 64 MiB ext4 image: the host runs out of space
    long before the guest's file system is full."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24M", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    img = mnt / "disk.img"
    subprocess.run(["mkfs.ext4", "-q", "-F", str(img), "64M"], check=True, capture_output=True)
    yield img
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.parametrize("disk_if", ["virtio", "ahci"])
def test_disk_full_on_host(machine, engine, build, guest_images, small_fs, disk_if):
    if machine.name == "nested":
        pytest.skip("the small host file system is on this machine")
    if disk_if == "ahci":
        harness.build_firmware_images(build, log=lambda m: None)
        initrd, dev, extra = build / "guest" / harness.PC_INITRD, "sda", ["--guest", "full"]
    else:
        initrd, dev, extra = harness.build_virtio_initramfs(build, log=lambda m: None), "vda", []
    p = machine.spawn(["run", "--engine", engine, "--kernel", machine.kernel, "--initrd",
                       str(initrd), "--append", "console=ttyS0", "--mem", "256M", "--stats",
                       "--disk", f"{small_fs},if={disk_if}", *extra])
    sh = wait_boot(p, engine, machine, f"a disk on a full host file system ({disk_if})")
    assert run(p, sh, f"mount /dev/{dev} /mnt").status == 0
    # 40 MiB into a file system on a host with ~20 MiB left: the writes fail.
    r = run(p, sh, "dd if=/dev/urandom of=/mnt/big bs=1M count=40 conv=fsync 2>&1; "
                   "echo dd-status=$?")
    assert "dd-status=0" not in r.output, r
    r = run(p, sh, "dmesg | grep -c 'I/O error'")
    assert r.status == 0 and int(r.output.split()[-1]) > 0, r
    r = run(p, sh, "echo still-alive-$((6 * 7))")
    assert r.status == 0 and "still-alive-42" in r.output, r
    with step(p, "powering off"):
        assert end(p, "poweroff") == 0
    # The failed requests, counted.
    if disk_if == "ahci":
        assert "host I/O)" in p.output and " 0 host I/O)" not in p.output, p.output[-3000:]
    else:
        assert "I/O errors" in p.output and " 0 I/O errors" not in p.output, p.output[-3000:]


@pytest.mark.parametrize("how", [["--engine", "soft"], ["--engine", "soft", "--soft-tier", "direct"],
                                 ["--engine", "kvm"]], ids=["soft", "direct", "kvm"])
def test_guest_ram_refused_at_start(build, how):
    """512 MiB of guest RAM in a process that may map 200 MiB: status 1, the size named,
    and why (RAM is set up before the engine, so kvm answers the same on any host)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (200 << 20, 200 << 20))
    p = subprocess.run([str(build / "trivisor"), "run", *how, "--mem", "512M", "--kernel",
                        str(build / "tests" / "guests" / "hello.elf")], preexec_fn=limit,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p
    assert "cannot allocate 512 MiB of guest RAM (--mem)" in p.stderr, p.stderr
    assert "may map at most 200 MiB in all (ulimit -v)" in p.stderr, p.stderr


def guest_ram_fd(pid):
    """The descriptor of trivisor's guest RAM memfd (--soft-tier direct), in /proc."""
    fds = f"/proc/{pid}/fd"
    for fd in os.listdir(fds):
        try:
            if os.readlink(f"{fds}/{fd}").startswith("/memfd:trivisor-guest-ram"):
                return f"{fds}/{fd}"
        except FileNotFoundError:
            pass
    return None


def test_guest_ram_lost_while_running(build):
    """Guest RAM taken away under a running guest: its memfd cut to nothing from
    outside (the kernel then answers every access with SIGBUS, as it does for a memfd
    page it cannot allocate under strict overcommit). The interrupt storm guest pushes
    on its stack all the time: trivisor stops it with status 1 and says why, prints its
    --stats, and is not killed by the signal."""
    m = HostMachine(build)
    try:
        p = m.spawn(["run", "--engine", "soft", "--soft-tier", "direct", "--mem", "64M",
                     "--stats", "--kernel", f"{m.guests}/hostile_storm.bin"])
        p.expect(r"storm: ipi [0-9a-f]{8}", timeout=60)
        path = guest_ram_fd(p.child.pid)
        assert path, os.listdir(f"/proc/{p.child.pid}/fd")
        fd = os.open(path, os.O_RDWR)
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)
        status = p.wait(15)
        out = p.output
        assert status == 1, out[-3000:]
        assert "error: guest RAM lost: the host could not provide the page at guest-physical" \
            in out and "(--mem 64 MiB)" in out, out[-3000:]
        assert "unclaimed:" in out, out[-3000:]      # --stats: a clean end
    finally:
        m.cleanup()
