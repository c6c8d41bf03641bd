"""The firmware-booted PC: no --kernel. SeaBIOS (Debian's bios.bin) runs on the
i440FX board, finds a disk or CD, and runs its boot loader (SYSLINUX, ISOLINUX from
Debian, installed into images by scripts/mkguest.py), which loads the stock kernel.

The same bootable disk is booted with emulated devices (AHCI SATA disks, an e1000 NIC:
what --mode full gives) and with virtio ones (--mode para), under both engines (the
kvm engine takes the devices through if=/model=, as --mode full is the soft engine's).
Each boot checks as much as it can: the firmware's and boot loader's messages on the
serial console, the drivers Linux binds, an ext4 data disk mounted and written, DHCP
and an HTTP fetch through slirp, and, after a synced write, SIGKILL: the data is in
the image and the file system is clean."""
import re
import time

import pytest

import harness
from harness import GUEST_PROMPT
from test_linux import BOOT_TIMEOUT, CMD_TIMEOUT, END_TIMEOUT, end, run, step
from test_virtio_blk import Disks, HELLO, kill_after_sync, make_ext4, spawn_killable, wait_boot
from test_virtio_net import HTTP_PORT, PAGE, http_server  # noqa: F401 (fixture)

FW_TIMEOUT = 120


@pytest.fixture(scope="session")
def firmware_images(build, guest_images):
    return harness.build_firmware_images(build, log=lambda m: None)


def test_no_bootable_device(machine, engine):
    """Nothing to boot: the firmware says so on the serial console, waits, resets the
    machine, and trivisor ends with status 0 (a guest reset ends the VM)."""
    p = machine.spawn(["run", "--engine", engine, "--mem", "64M"])
    with step(p, "waiting for the firmware"):
        p.expect_exact("SeaBIOS (version", timeout=FW_TIMEOUT)
        p.expect_exact("No bootable device", timeout=FW_TIMEOUT)
    with step(p, "waiting for the reset"):
        assert p.wait(FW_TIMEOUT) == 0


@pytest.mark.parametrize("devices", ["emulated", "virtio"])
def test_boot_disk(machine, engine, firmware_images, http_server, tmp_path, devices):
    boot_img, _ = firmware_images
    data = make_ext4(tmp_path / "data.img", {"hello.txt": HELLO})
    disks = Disks(machine)
    bus, nic = ("ahci", "e1000") if devices == "emulated" else ("virtio", "virtio")
    args = ["run", "--engine", engine, "--mem", "256M",
            "--disk", f"{disks.attach(boot_img)},ro,if={bus}",
            "--disk", f"{disks.attach(data)},if={bus}", "--net", f"user,model={nic}"]
    if devices == "emulated":
        args += ["--guest", "full"]
    p = spawn_killable(machine, args)
    with step(p, "waiting for the firmware and the boot loader"):
        p.expect_exact("SeaBIOS (version", timeout=FW_TIMEOUT)
        p.expect_exact("Booting from Hard Disk", timeout=FW_TIMEOUT)
        p.expect_exact("SYSLINUX", timeout=FW_TIMEOUT)
    sh = wait_boot(p, engine, machine, f"firmware boot, {devices} disks and NIC")

    # The drivers the guest's own kernel picked.
    drivers = ["ahci", "e1000"] if devices == "emulated" else ["virtio-pci"]
    r = run(p, sh, "ls /sys/block; readlink /sys/class/net/eth0/device/driver; " +
            "; ".join(f"echo {d}: $(ls /sys/bus/pci/drivers/{d} | grep -c 0000:)" for d in drivers))
    assert r.status == 0, r
    if devices == "emulated":
        assert "ahci: 1" in r.output and "e1000: 1" in r.output, r
        # SATA disks are named as their probes finish: find the data disk by its port
        # (the second: ata2).
        r = run(p, sh, "for d in /sys/block/sd*; do case $(readlink -f $d/device) in "
                       "*/ata2/*) echo data=${d##*/};; esac; done")
        m = re.search(r"data=(sd[a-z])", r.output)
        assert r.status == 0 and m, r
        data_dev = m.group(1)
    else:
        assert "virtio-pci: 3" in r.output and "vdb" in r.output, r
        data_dev = "vdb"

    # The data disk: mounted, read, written and synced.
    r = run(p, sh, f"mount /dev/{data_dev} /mnt && cat /mnt/hello.txt")
    assert r.status == 0 and HELLO.decode().strip() in r.output, r
    r = run(p, sh, "dd if=/dev/urandom of=/mnt/blob bs=64k count=16 2>/dev/null && sync && "
                   "md5sum /mnt/blob")
    m = re.search(r"\b([0-9a-f]{32})\s+/mnt/blob", r.output)
    assert r.status == 0 and m, r

    # The network: DHCP from slirp, then HTTP from the machine that runs trivisor.
    r = run(p, sh, "udhcpc -i eth0 -n -q -t 5 && ip -4 addr show dev eth0")
    assert r.status == 0 and "10.0.2.15/24" in r.output, r
    r = run(p, sh, f"wget -q -O - http://10.0.2.2:{HTTP_PORT}/big | md5sum")
    assert r.status == 0 and http_server in r.output, r
    r = run(p, sh, f"wget -q -O - http://10.0.2.2:{HTTP_PORT}/")
    assert r.status == 0 and PAGE in r.output, r

    # A synced write survives SIGKILL.
    kill_after_sync(machine, p, disks, data, m.group(1))


def test_boot_cdrom(machine, engine, firmware_images):
    """An El Torito CD (ISOLINUX) on the AHCI controller's ATAPI drive, booted first
    (--boot cdrom) past an empty disk: Linux finds the drive (sr0) and reads the ISO."""
    _, iso = firmware_images
    disks = Disks(machine)
    p = machine.spawn(["run", "--engine", engine, "--mem", "256M", "--guest", "full",
                       "--cdrom", disks.attach(iso), "--boot", "cdrom"])
    with step(p, "waiting for the firmware and the boot loader"):
        p.expect_exact("Booting from DVD/CD", timeout=FW_TIMEOUT)
        p.expect_exact("ISOLINUX", timeout=FW_TIMEOUT)
    sh = wait_boot(p, engine, machine, "firmware boot from an ATAPI CD-ROM")
    r = run(p, sh, "cat /sys/block/sr0/device/model; "
                   "dd if=/dev/sr0 bs=2048 skip=16 count=1 2>/dev/null | grep -c CD001")
    assert r.status == 0 and "CD-ROM" in r.output and "1" in r.output.split(), r
    assert end(p, "poweroff") == 0


def test_text_display_and_keyboard(machine, engine, guest_images, tmp_path):
    """--display text with the kernel's console on the VGA (console=tty0): the shell
    that busybox starts there is drawn in this terminal, and what is typed reaches it
    through the emulated PS/2 keyboard (Linux's own vgacon, i8042 and atkbd drivers);
    --screen-dump keeps the same screen as text in a file."""
    if machine.name == "nested":
        pytest.skip("the screen dump is a file of the machine trivisor runs on; the VGA "
                    "and keyboard models are the same code under both engines")
    dump = tmp_path / "screen.txt"
    p = machine.spawn(["run", "--engine", engine, "--kernel", machine.kernel,
                       "--initrd", machine.initrd, "--append", "console=tty0",
                       "--display", "text", "--screen-dump", str(dump)])
    with step(p, "waiting for the shell on the screen"):
        p.expect_exact(GUEST_PROMPT.strip(), timeout=BOOT_TIMEOUT)
    # Typed keys: they echo on the screen, and the shell's answer shows below them.
    p.send("echo typed-$((6 * 7))\r")
    with step(p, "waiting for the answer on the screen"):
        p.expect_exact("typed-42", timeout=CMD_TIMEOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "typed-42" not in (dump.read_text() if dump.exists() else ""):
        time.sleep(0.2)
    text = dump.read_text()
    assert "echo typed-$((6 * 7))" in text and "\ntyped-42" in text, text
    assert len(text.splitlines()) <= 25 and all(len(l) <= 80 for l in text.splitlines()), text
    p.send("poweroff\r")
    with step(p, "waiting for trivisor to exit"):
        assert p.wait(END_TIMEOUT) == 0
