"""Host faults become guest errors: a disk image on a host file system that fills up
(a small tmpfs) makes the host's writes fail with ENOSPC. The guest gets an I/O error
for those requests (virtio-blk's IOERR status, AHCI's task-file error), its file system
copes as it does with a failing disk, and the VM keeps running: the shell answers and
`poweroff` ends it cleanly, with the failed requests counted in --stats.

The image lives on the machine that runs trivisor: soft engine here (the device code
under test is the same under kvm)."""
import subprocess

import pytest

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
