#!/usr/bin/python3
"""crash_bench: crash consistency, counted.

Each run boots the stock Debian guest (the tests' virtio initramfs) with a fresh ext4
image as its disk, and starts a writer in the guest: file after file of pseudo-random
size and random content, each fsync'ed and the file system synced before the guest
prints `SYNCED fN MD5`. At a random moment trivisor is killed with SIGKILL. The host
then does what it would after a crash: replays the journal and repairs (e2fsck -fy),
checks that the file system is now clean (e2fsck -fn exits 0), and reads back every
file the guest said was synced (debugfs): each must be there with its checksum. A run
counts as good when all of that holds.

    bench/crash_bench.py [--runs 50] [--engine soft|kvm] [--disk-if virtio|ahci]
                         [--max-kill 8] [--seed S] [--keep DIR]

Prints one line per run and a summary: runs, good runs, files synced and found, losses.
Exit status 0 when every run was good."""
import argparse
import hashlib
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "nested"))
import harness  # noqa: E402  (the virtio initramfs and the guest prompt)

SYNCED = re.compile(r"SYNCED f(\d+) ([0-9a-f]{32})")
IMAGE_MIB = 64
# Typed in the guest: files of 1..61 KiB, each fsync'ed (dd conv=fsync), then the file
# system synced (its directory entry with it) before its line is printed, so a printed
# line means the data was on the disk's stable storage.
WRITER = ("i=0; while :; do i=$((i+1)); dd if=/dev/urandom of=/mnt/f$i bs=1k "
          "count=$(( (i * 7919) % 61 + 1 )) conv=fsync 2>/dev/null && sync && "
          "echo SYNCED f$i $(md5sum < /mnt/f$i | cut -c1-32); done")


def make_image(path: Path):
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "crash", str(path), f"{IMAGE_MIB}M"],
                   check=True, capture_output=True)


def check(img: Path, synced: dict):
    """(good, message, found): replay and repair, then clean, then every synced file."""
    r = subprocess.run(["e2fsck", "-fy", str(img)], capture_output=True, text=True)
    if r.returncode > 1:
        return False, f"e2fsck -fy exited {r.returncode}: {r.stdout[-500:]}", 0
    r = subprocess.run(["e2fsck", "-fn", str(img)], capture_output=True, text=True)
    if r.returncode != 0:
        return False, f"not clean after replay: e2fsck -fn exited {r.returncode}", 0
    found = 0
    for n, md5 in synced.items():
        p = subprocess.run(["debugfs", "-R", f"cat /f{n}", str(img)], capture_output=True)
        if p.returncode != 0 or hashlib.md5(p.stdout).hexdigest() != md5:
            return False, f"f{n} synced but lost or changed", found
        found += 1
    return True, "clean", found


def one_run(a, i, tmp: Path, rng: random.Random):
    img = tmp / f"disk{i}.img"
    make_image(img)
    disk = f"{img},if={a.disk_if}"
    argv = [str(a.trivisor), "run", "--engine", a.engine, "--kernel", str(a.kernel),
            "--initrd", str(a.initrd), "--append", "console=ttyS0", "--mem", "256M",
            "--disk", disk]
    log = open(tmp / f"console{i}.log", "w")
    child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace",
                          dimensions=(50, 1000), timeout=a.timeout)
    child.logfile_read = log
    synced = {}
    try:
        child.expect_exact(harness.GUEST_PROMPT)
        dev = "sda" if a.disk_if == "ahci" else "vda"
        child.sendline(f"mount /dev/{dev} /mnt && echo MOUNTED-$((1+1))")
        child.expect_exact("MOUNTED-2")
        child.sendline(WRITER)
        kill_at = time.monotonic() + rng.uniform(0.5, a.max_kill)
        while time.monotonic() < kill_at:
            try:
                child.expect(SYNCED, timeout=max(kill_at - time.monotonic(), 0.01))
                synced[int(child.match.group(1))] = child.match.group(2)
            except pexpect.TIMEOUT:
                break
        child.kill(signal.SIGKILL)
        child.expect(pexpect.EOF, timeout=30)
    except (pexpect.TIMEOUT, pexpect.EOF) as e:
        return False, f"the guest did not get going: {type(e).__name__}", 0, 0
    finally:
        child.close(force=True)
        log.close()
    good, msg, found = check(img, synced)
    if good and not a.keep:
        img.unlink()
    return good, msg, len(synced), found


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", type=Path, default=REPO / "build")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--engine", default="soft", choices=["soft", "kvm"])
    ap.add_argument("--disk-if", default="virtio", choices=["virtio", "ahci"])
    ap.add_argument("--max-kill", type=float, default=8.0,
                    help="latest kill, seconds after the writer starts (default 8)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", type=Path, help="keep consoles and failed images here")
    a = ap.parse_args(argv)
    a.trivisor = a.build / "trivisor"
    a.kernel = a.build / "guest" / "bzImage"
    if not a.trivisor.exists() or not a.kernel.exists():
        sys.exit("crash_bench: build trivisor and the guest first (make build guest)")
    if a.disk_if == "ahci":
        a.initrd = a.build / "guest" / harness.PC_INITRD
        harness.build_firmware_images(a.build, log=lambda m: None)
    else:
        a.initrd = harness.build_virtio_initramfs(a.build, log=lambda m: None)
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="crash-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"crash_bench: {a.runs} runs, engine {a.engine}, disk {a.disk_if}, seed {seed}")
    good = synced = found = 0
    try:
        for i in range(a.runs):
            ok, msg, s, f = one_run(a, i, tmp, rng)
            good += ok
            synced += s
            found += f
            print(f"run {i + 1:3}: {'good' if ok else 'BAD '}  {s:4} files synced, "
                  f"{f:4} found  {msg}", flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"crash_bench: {good}/{a.runs} runs good (clean file system, every synced file "
          f"intact); {found} of {synced} synced files found")
    return 0 if good == a.runs else 1


if __name__ == "__main__":
    sys.exit(main())
