"""virtio-blk: the stock Debian kernel finds the PCI bus (virtio-pci) or the
virtio-mmio devices (--virtio-transport mmio) through ACPI, with no command-line
options, binds virtio_pci or virtio_mmio and virtio_blk, and uses ext4 images made on
the host with mkfs.ext4 -d. The tests taking `transport` run on both transports (the
`transport` fixture gives the others virtio-pci).

Every test runs under both engines (conftest's ENGINES). A Linux boot costs ~30 s
under soft (~10 s under kvm nested), so each boot checks as much as it can: one boot
per transport covers two disks (read-write and read-only) with all the disk checks;
the nothing-lost test, which ends its VM with SIGKILL, boots on its own, under soft
on virtio-pci only (what it checks, that a flush reaches the image, is the device's,
not the transport's), under kvm on both transports.

Under the nested harness the images travel through the outer guest's scratch disks
(harness.OuterVM.scratch_disk): trivisor inside uses /dev/vdX of the outer guest as
--disk, and the host reads the result back after the outer guest syncs."""
import hashlib
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import harness
from harness import GUEST_PROMPT, TIMINGS, Shell
from test_linux import BOOT_TIMEOUT, end, run, step

HELLO = b"hello from the host\n"
TRANSPORTS = ["pci", "mmio"]



pytestmark = pytest.mark.skipif(not (shutil.which("mkfs.ext4") and shutil.which("debugfs")),
                                reason="e2fsprogs (mkfs.ext4, debugfs) not installed")


@pytest.fixture
def transport():
    """virtio-pci, unless a test is parametrized over TRANSPORTS."""
    return "pci"


def assert_transport(p, sh, transport, ndev=1):
    """The guest's ndev virtio devices sit on the transport asked for: PCI functions
    from 00:01.0 bound to virtio-pci, or ACPI LNRO0005 platform devices bound to
    virtio-mmio, each with its own level-triggered IOAPIC line from GSI 16 on."""
    if transport == "pci":
        r = run(p, sh, "ls /sys/bus/pci/drivers/virtio-pci/")
        found = re.findall(r"0000:00:[0-9a-f]{2}\.0", r.output)
        assert len(found) == ndev, r
        return
    r = run(p, sh, "ls /sys/bus/platform/drivers/virtio-mmio/; grep virtio /proc/interrupts")
    assert sorted(set(re.findall(r"LNRO0005:0[0-9]", r.output))) == \
        [f"LNRO0005:0{i}" for i in range(ndev)], r
    for i in range(ndev):
        assert re.search(rf"IO-APIC\s+{16 + i}-fasteoi\s+virtio{i}\b", r.output), r


@pytest.fixture(scope="session")
def virtio_initrd(build, guest_images):
    return harness.build_virtio_initramfs(build, log=lambda m: None)


def make_ext4(path: Path, files: dict, size_mib=16):
    root = path.with_suffix(".d")
    root.mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "trivtest", "-d", str(root), str(path),
                    f"{size_mib}M"], check=True, capture_output=True)
    return path


def fsck(img: Path) -> subprocess.CompletedProcess:
    """Replay the journal and check: what a host would do after a crash. Exit status 0
    (clean) or 1 (fixed, e.g. the journal replayed) is a consistent file system."""
    return subprocess.run(["e2fsck", "-fy", str(img)], capture_output=True, text=True)


def cat(img: Path, name: str) -> bytes:
    r = subprocess.run(["debugfs", "-R", f"cat /{name}", str(img)], capture_output=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


class Disks:
    """Host images attached to a machine: the paths trivisor gets, and the images back
    on the host after the run."""

    def __init__(self, machine):
        self.machine = machine
        self.images = []

    def attach(self, img: Path) -> str:
        i = len(self.images)
        self.images.append(img)
        if self.machine.name == "nested":
            return self.machine.outer.scratch_disk(i, img)
        return str(img)

    def collect(self):
        if self.machine.name == "nested":
            for i, img in enumerate(self.images):
                self.machine.outer.fetch_scratch_disk(i, img)


def initrd_path(machine, virtio_initrd):
    if machine.name == "nested":
        return f"{harness.GUEST_DIR}/{harness.VIRTIO_INITRD}"
    return str(virtio_initrd)


def run_args(machine, engine, virtio_initrd, disks, transport="pci"):
    args = ["run", "--engine", engine, "--kernel", machine.kernel,
            "--initrd", initrd_path(machine, virtio_initrd), "--append", "console=ttyS0",
            "--mem", "256M", "--virtio-transport", transport]
    for d in disks:
        args += ["--disk", d]
    return args


def wait_boot(p, engine, machine, what):
    with step(p, "booting to the shell prompt"):
        p.expect_exact(GUEST_PROMPT, timeout=BOOT_TIMEOUT)
    TIMINGS.append((f"{engine} on {machine.name}: Linux boot to its shell, {what}",
                    time.monotonic() - p.start_time))
    return Shell(p, GUEST_PROMPT)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_disks(machine, engine, virtio_initrd, tmp_path, transport):
    """Two disks in one VM: vda read-write (mounted, a host file read, a guest file
    written and synced, fstrim), vdb read-only (mounted read-only, writes refused)."""
    rw = make_ext4(tmp_path / "rw.img", {"hello.txt": HELLO})
    ro = make_ext4(tmp_path / "ro.img", {"ro.txt": b"read-only disk\n"})
    ro_before = hashlib.sha256(ro.read_bytes()).hexdigest()
    disks = Disks(machine)
    dev = disks.attach(rw)
    p = machine.spawn(run_args(machine, engine, virtio_initrd, [dev, disks.attach(ro) + ",ro"],
                               transport))
    sh = wait_boot(p, engine, machine, f"two virtio disks on {transport}")

    # Found through ACPI: the host bridge with ECAM (either way), then the disks: on
    # mmio, two DSDT entries, two windows, GSIs 16 and 17.
    r = run(p, sh, "dmesg | grep -i -e mmconfig -e ecam")
    assert re.search(r"MMCONFIG.*0xe0000000.*reserved", r.output, re.I), r
    assert_transport(p, sh, transport, ndev=2)
    if transport == "pci":
        # At 00:01.0, with MSI-X: one vector for configuration changes, one for the queue.
        r = run(p, sh, "cat /sys/bus/pci/devices/0000:00:01.0/vendor /sys/bus/pci/devices/0000:00:01.0/device")
        assert r.status == 0 and "0x1af4" in r.output and "0x1042" in r.output, r
        r = run(p, sh, "grep virtio0 /proc/interrupts")
        assert "PCI-MSI" in r.output and "virtio0-config" in r.output and "virtio0-req.0" in r.output, r
    else:
        r = run(p, sh, "cat /proc/iomem")
        assert re.search(r"feb00000-feb001ff : LNRO0005:00", r.output), r
        assert re.search(r"feb00200-feb003ff : LNRO0005:01", r.output), r
    # serial last: the file has no newline.
    r = run(p, sh, "cat /sys/block/vda/size /sys/block/vda/ro /sys/block/vdb/ro /sys/block/vda/serial")
    size, ro_a, ro_b, serial = r.output.split()[-4:]
    assert int(size) * 512 == (rw.stat().st_size if machine.name == "host" else harness.SCRATCH_SIZE), r
    assert (ro_a, ro_b) == ("0", "1") and serial == Path(dev).name[:20], r

    # vda: the host's file, then the guest's, synced. The shell computes the text, so
    # the echoed command line differs from the file.
    assert run(p, sh, "mount /dev/vda /mnt").status == 0
    r = run(p, sh, "cat /mnt/hello.txt")
    assert r.status == 0 and HELLO.decode().strip() in r.output, r
    assert run(p, sh, "echo written-by-the-guest-$((6 * 7)) > /mnt/new.txt && sync").status == 0
    # Discard reaches the device (fstrim through ext4, virtio-blk DISCARD).
    r = run(p, sh, "fstrim -v /mnt")
    assert r.status == 0, r
    assert run(p, sh, "umount /mnt").status == 0

    # vdb: readable, but neither the file system nor the raw device (the kernel knows
    # it is read-only) takes a write.
    assert run(p, sh, "mkdir -p /ro && mount -o ro /dev/vdb /ro").status == 0
    r = run(p, sh, "cat /ro/ro.txt")
    assert r.status == 0 and "read-only disk" in r.output, r
    assert run(p, sh, "echo x > /ro/x").status != 0
    assert run(p, sh, "umount /ro").status == 0
    assert run(p, sh, "dd if=/dev/zero of=/dev/vdb bs=4k count=1 conv=fsync").status != 0
    status = end(p, "poweroff")
    assert status == 0, p.output[-3000:]

    disks.collect()
    assert cat(rw, "new.txt") == b"written-by-the-guest-42\n"
    assert cat(rw, "hello.txt") == HELLO
    r = fsck(rw)
    assert r.returncode == 0, r.stdout + r.stderr
    assert hashlib.sha256(ro.read_bytes()).hexdigest() == ro_before


SYNC_MARKER = "SYNCED-AND-READY"


def spawn_killable(machine, args):
    """trivisor that the test can SIGKILL once the console showed SYNC_MARKER. Nested,
    the outer shell does the killing (the console is trivisor's): trivisor runs in its
    own session, its output teed to a file that the shell watches for the marker."""
    if machine.name != "nested":
        return machine.spawn(args)
    cmd = ("rm -f /tmp/tv.out; setsid " + machine._cmd(args) + " 2>&1 | tee /tmp/tv.out & "
           f"until grep -q {SYNC_MARKER} /tmp/tv.out 2>/dev/null; do sleep 0.2; done; "
           "kill -9 $(pidof trivisor); wait")
    p = machine.outer.spawn_inner(cmd)
    machine.procs.append(p)
    return p


def kill_after_sync(machine, p, disks, img, md5):
    """Once the guest has synced /blob (md5) to img: SIGKILL trivisor (spawn_killable's
    marker), then the image is a clean ext4 with every synced byte of /blob in it."""
    # Printed by the shell (the echo of the typed line shows SYNCED""-...).
    p.sendline('echo SYNCED""-AND-READY')
    with step(p, "waiting for the marker"):
        p.expect_exact(SYNC_MARKER, timeout=60)
    sigkill(machine, p)
    disks.collect()
    r = fsck(img)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    assert hashlib.md5(cat(img, "blob")).hexdigest() == md5


def sigkill(machine, p):
    if machine.name == "nested":
        p.wait(60)
        machine.outer.run("stty sane")     # trivisor left the terminal raw
        return
    p.child.kill(signal.SIGKILL)
    assert p.wait(30) == 128 + signal.SIGKILL


# What it checks (flush reaches the image) does not depend on the transport: under
# soft, whose boots are the slow ones, virtio-pci only.
@pytest.mark.parametrize("engine,transport", [*(("kvm", t) for t in TRANSPORTS), ("soft", "pci")])
def test_nothing_lost_after_sigkill(machine, engine, virtio_initrd, tmp_path, transport):
    img = make_ext4(tmp_path / "disk.img", {"hello.txt": HELLO})
    disks = Disks(machine)
    p = spawn_killable(machine, run_args(machine, engine, virtio_initrd, [disks.attach(img)],
                                         transport))
    sh = wait_boot(p, engine, machine, f"one virtio disk on {transport}")
    assert_transport(p, sh, transport)
    assert run(p, sh, "mount /dev/vda /mnt").status == 0
    r = run(p, sh, "dd if=/dev/urandom of=/mnt/blob bs=64k count=16 2>/dev/null && sync && "
                   "md5sum /mnt/blob")
    m = re.search(r"\b([0-9a-f]{32})\s+/mnt/blob", r.output)
    assert r.status == 0 and m, r
    kill_after_sync(machine, p, disks, img, m.group(1))


def test_disk_errors(machine, engine, virtio_initrd):
    """A disk that cannot be opened stops the VM before it starts, with the path."""
    r = machine.run(run_args(machine, engine, virtio_initrd, ["/nonexistent/disk.img"]))
    assert r.status == 1 and "cannot open disk image /nonexistent/disk.img" in r.output, r
