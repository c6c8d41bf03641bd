"""Snapshots: a running VM written to a state file and a memory file (Ctrl-A w with
--snapshot), then resumed in a fresh trivisor process (--restore), where it goes on from
where it stopped; and hostile snapshot files refused with a clear message and status 1.

- snapcount.bin (tests/guests/snapcount.S) counts on COM1 with values left in the UART,
  CMOS, i8042 and PCI address latch; snapshotted mid-count, the restored guest goes on
  from the next number, finds its device values and exits with 99.
- The stock Linux guest with a virtio disk (ext4, mounted, a file written and synced)
  and user networking, a shell loop counting on the console: restored, the loop goes on
  from where it was, the file is intact, a new one can be written, and the network works
  again (slirp is new: the guest sees a blip, its address and routes unchanged).
- Damaged files (truncated, a flipped bit, another format version, a section repeated,
  missing or unknown, a value out of range, a memory file of another snapshot, cut
  short or changed) are refused with a message naming the problem.

The state file's framing is re-implemented here (read_state/write_state) so that a
hostile file can carry correct checksums and reach the loaders' own checks."""
import re
import struct
import time
import zlib
from pathlib import Path

import pytest

from harness import GUEST_PROMPT, TIMINGS, Shell
from machines import step
from test_linux import BOOT_TIMEOUT, end, run
from test_virtio_blk import Disks, cat, fsck, initrd_path, make_ext4, virtio_initrd  # noqa: F401
from test_virtio_net import HTTP_PORT, PAGE, http_server  # noqa: F401 (fixture)

SNAPCOUNT_MAX = 60       # snapcount.S's COUNT


def guest(machine, name):
    return f"{machine.guests}/{name}"


def files(machine, tmp_path, tag="s"):
    """Where a snapshot goes: tmp_path on this host, /tmp in the outer guest."""
    base = f"/tmp/snap-{tag}" if machine.name == "nested" else str(tmp_path / tag)
    return base + ".state", base + ".mem"


def counts(text):
    # trivisor's console messages begin on a line of their own, even where the guest was
    # in the middle of one ("count: 1" + message + "1"): take them out to read its lines.
    text = re.sub(r"\r*\n\[trivisor\][^\n]*\n", "", text)
    return [int(n) for n in re.findall(r"^count:? (\d+)\r*$", text, re.M)]


def ctrl_a_w(p, what="the snapshot"):
    """Press Ctrl-A w and wait for trivisor to write the snapshot and end."""
    p.send("\x01w")
    with step(p, f"waiting for {what} to be written"):
        status = p.wait(120)
    assert status == 0 and "snapshot written to" in p.output, p.output[-2000:]


# -- the counting guest ---------------------------------------------------------------------

def snapcount(machine, engine, state, mem, at=5, extra=()):
    """snapcount.bin snapshotted once it printed `count: at`; the last count printed."""
    p = machine.spawn(["run", "--engine", engine, "--kernel", guest(machine, "snapcount.bin"),
                       "--mem", "64M", "--snapshot", f"{state},mem={mem}", *extra])
    with step(p, f"waiting for count {at}"):
        p.expect(rf"count: {at}\r*\n", timeout=60)
    ctrl_a_w(p)
    before = counts(p.output)
    assert before and before == list(range(1, before[-1] + 1)), p.output
    assert before[-1] < SNAPCOUNT_MAX, "the guest finished before the snapshot: slow it down"
    return before[-1]


@pytest.mark.parametrize("memory", ["read", "lazy"])
def test_snapcount_round_trip(machine, engine, tmp_path, memory):
    """Resumed with its memory file read and checked (the default), or mapped (lazy)."""
    state, mem = files(machine, tmp_path)
    last = snapcount(machine, engine, state, mem)
    t0 = time.monotonic()
    lazy = ",lazy" if memory == "lazy" else ""
    q = machine.spawn(["run", "--restore", f"{state},mem={mem}{lazy}", "-v"])
    with step(q, "the restored guest finishing its count"):
        status = q.wait(120)
    TIMINGS.append((f"{engine} on {machine.name}: snapcount restored ({memory}) and finished",
                    time.monotonic() - t0))
    after = counts(q.output)
    # The line being printed at the snapshot may be cut: its rest comes first.
    assert after and last < after[0] <= last + 2, (last, q.output[-3000:])
    assert after == list(range(after[0], SNAPCOUNT_MAX + 1)), q.output[-3000:]
    assert "devices kept: ok" in q.output and "count kept: ok" in q.output, q.output[-2000:]
    assert status == 99, q.output[-2000:]
    assert re.search(r"restored .* in [\d.]+ ms", q.output), q.output[:2000]
    assert ("guest RAM mapped from" in q.output) == bool(lazy), q.output[:2000]
    if machine.name == "host":
        # Sparse: the memory file's blocks are the few pages the guest touched.
        assert Path(mem).stat().st_blocks * 512 < 4 << 20
        assert Path(state).stat().st_size < 64 << 10


@pytest.mark.parametrize("engine", ["kvm"])
@pytest.mark.parametrize("way", ["soft-to-kvm", "kvm-to-soft"])
def test_snapcount_moves_between_engines(machine, engine, tmp_path, way):
    """A snapshot taken under one engine resumed under the other (on the nested outer
    guest where the host has no /dev/kvm): with --cpu-model portable the guest counts
    on, with its devices; with the engine's own CPU model it is refused, saying why."""
    src, dst = way.split("-to-")
    state, mem = files(machine, tmp_path, way)
    snapcount(machine, src, state, mem, extra=("--cpu-model", "engine"))
    r = machine.run(["run", "--engine", dst, "--restore", f"{state},mem={mem}"])
    assert r.status == 1 and "CPU model differs" in r.output and \
        "--cpu-model portable" in r.output, r

    last = snapcount(machine, src, state, mem, extra=("--cpu-model", "portable"))
    q = machine.spawn(["run", "--engine", dst, "--restore", f"{state},mem={mem}"])
    with step(q, f"the guest restored under {dst} finishing its count"):
        status = q.wait(300)
    after = counts(q.output)
    assert after and last < after[0] <= last + 2, (last, q.output[-3000:])
    assert after == list(range(after[0], SNAPCOUNT_MAX + 1)), q.output[-3000:]
    assert status == 99 and "all ok" in q.output, q.output[-2000:]


# -- hostile files --------------------------------------------------------------------------

HEADER_LEN = 128


def read_state(path):
    """(header bytes, [(name, payload)]) of a state file, checksums checked."""
    b = Path(path).read_bytes()
    assert zlib.crc32(b[:-4]) == struct.unpack("<I", b[-4:])[0]
    off, sections = HEADER_LEN, []
    while True:
        n = b[off]
        name = b[off + 1:off + 1 + n].decode()
        plen, crc = struct.unpack_from("<QI", b, off + 1 + n)
        off += 1 + n + 12
        payload = b[off:off + plen]
        assert zlib.crc32(payload) == crc
        off += plen
        if name == "end":
            return b[:HEADER_LEN], sections
        sections.append((name, payload))


def zero_cpus(config):
    """The configuration section with 0 vCPUs: after four strings (u32 length, bytes)
    and the RAM size (u64) comes the vCPU count (u32)."""
    off = 0
    for _ in range(4):
        off += 4 + struct.unpack_from("<I", config, off)[0]
    off += 8
    return config[:off] + struct.pack("<I", 0) + config[off + 4:]


def write_state(path, header, sections):
    out = bytearray(header)
    for name, payload in sections + [("end", b"")]:
        out += bytes([len(name)]) + name.encode() + struct.pack("<QI", len(payload),
                                                                zlib.crc32(payload)) + payload
    out += struct.pack("<I", zlib.crc32(out))
    Path(path).write_bytes(out)


@pytest.fixture(scope="module")
def snapshot_pair(tmp_path_factory, trivisor_bin, build):
    """Two snapshots of snapcount (their files), taken on this host under soft."""
    from machines import HostMachine
    m = HostMachine(build)
    d = tmp_path_factory.mktemp("snaps")
    try:
        a = files(m, d, "a")
        snapcount(m, "soft", *a, at=3)
        b = files(m, d, "b")
        snapcount(m, "soft", *b, at=4)
    finally:
        m.cleanup()
    return a, b


@pytest.mark.parametrize("engine", ["soft"])
def test_restore_refuses_hostile_files(machine, engine, snapshot_pair, tmp_path):
    """Each damaged snapshot ends trivisor with status 1 and a message naming what is
    wrong, before the guest runs an instruction."""
    if machine.name != "host":
        pytest.skip("the files are made on this host")
    (sa, ma), (sb, mb) = snapshot_pair
    header, sections = read_state(sa)
    names = [n for n, _ in sections]
    assert names[:3] == ["config", "cpuid", "rom"] and "cpu0" in names and "uart" in names, names
    good = Path(sa).read_bytes()
    t = tmp_path

    def restore(state, mem=ma, status=1, engine_args=("--engine", engine)):
        r = machine.run(["run", *engine_args, "--restore", f"{state},mem={mem}"], timeout=60)
        assert r.status == status, r
        return r.output

    def variant(name, data):
        p = t / name
        p.write_bytes(data)
        return str(p)

    def rewrite(name, sections_, header_=header):
        p = t / name
        write_state(p, header_, sections_)
        return str(p)

    def replaced(sec, payload):
        return [(n, payload if n == sec else p) for n, p in sections]

    cases = [
        ("no such file", str(t / "missing.state"), ma, "No such file"),
        ("not a snapshot", variant("text.state", b"hello, world\n" * 20), ma,
         "not a trivisor snapshot"),
        ("truncated", variant("half.state", good[:len(good) // 2]), ma, "truncated"),
        ("truncated trailer", variant("short.state", good[:-1]), ma, "truncated"),
        ("a flipped bit", variant("flip.state", good[:-40] + bytes([good[-40] ^ 4]) + good[-39:]),
         ma, "corrupted"),
        ("another format version",
         rewrite("v2.state", sections, header[:8] + struct.pack("<I", 999) + header[12:]), ma,
         "format version 999"),
        ("a section twice", rewrite("twice.state", sections + [sections[-1]]), ma, "appears twice"),
        ("a missing section", rewrite("nouart.state", [s for s in sections if s[0] != "uart"]),
         ma, "no section 'uart'"),
        ("an unknown section", rewrite("extra.state", sections + [("gizmo", b"\1\2\3")]), ma,
         "section 'gizmo' belongs to nothing"),
        ("a device value out of range",
         rewrite("uart.state", replaced("uart", dict(sections)["uart"][:10] +
                                        struct.pack("<I", 1 << 20))), ma,
         "uart: received bytes out of range"),
        ("trailing bytes in a section",
         rewrite("rtc.state", replaced("rtc", dict(sections)["rtc"] + b"\0")), ma,
         "rtc: 1 unexpected trailing bytes"),
        ("no vCPUs in the configuration",
         rewrite("cpus.state", replaced("config", zero_cpus(dict(sections)["config"]))), ma,
         "config: vCPU count out of range"),
        ("another snapshot's memory file", sa, mb, "memory file of another snapshot"),
        ("not a memory file", sa, variant("text.mem", b"\0" * 8192), "not a trivisor snapshot memory file"),
    ]
    memory = Path(ma).read_bytes()
    cut = variant("cut.mem", memory[:len(memory) - 4096])
    cases.append(("a memory file cut short", sa, cut, "truncated"))
    changed = bytearray(memory)
    first_data = next(i for i in range(4096, len(memory), 4096) if any(memory[i:i + 4096]))
    changed[first_data + 100] ^= 0x10
    cases.append(("a changed memory page", sa, variant("changed.mem", bytes(changed)), "corrupted"))

    for what, state, mem, message in cases:
        out = restore(state, mem)
        assert "trivisor: error:" in out, (what, out)
        if message:
            assert message in out, (what, out)
        assert "count:" not in out, (what, out)       # the guest never ran

    # What would shape another machine is refused on the command line (status 2).
    out = restore(sa, ma, status=2, engine_args=("--mem", "1G"))
    assert "--restore" in out and "--mem" in out, out
    # The good pair still restores.
    out = restore(sa, ma, status=99)
    assert "all ok" in out, out


# -- Linux with a disk and a network ---------------------------------------------------------

COUNT_LOOP = ("(i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done) & "
              "echo $! > /tmp/loop.pid")
# `wait` reaps the loop before the status marker is printed: a SIGCHLD arriving while
# busybox ash's printf writes the marker lost it once (a CI run with the host loaded).
STOP_LOOP = "kill $(cat /tmp/loop.pid) && wait"


def ticks(text):
    return [int(n) for n in re.findall(r"^tick (\d+)\r*$", text, re.M)]


def test_linux_disk_net_round_trip(machine, engine, virtio_initrd, http_server, tmp_path):
    """A Linux guest on two vCPUs counting in a shell loop, with an ext4 disk mounted (a
    file written and synced) and user networking up, snapshotted mid-count and resumed
    by a new trivisor process: the count goes on from where it stopped, both vCPUs take
    their timer interrupts, the file is there, a new one is written, and the network
    works again."""
    img = make_ext4(tmp_path / "disk.img", {"host.txt": b"from the host\n"})
    disks = Disks(machine)
    dev = disks.attach(img)
    state, mem = files(machine, tmp_path)
    args = ["--engine", engine, "--kernel", machine.kernel, "--initrd",
            initrd_path(machine, virtio_initrd), "--append", "console=ttyS0",
            "--mem", "256M", "--cpus", "2", "--disk", dev, "--net", "user",
            "--snapshot", f"{state},mem={mem}"]
    p = machine.spawn(["run", *args])
    with step(p, "booting to the shell prompt"):
        p.expect_exact(GUEST_PROMPT, timeout=BOOT_TIMEOUT)
    sh = Shell(p, GUEST_PROMPT)
    assert run(p, sh, "mount /dev/vda /mnt && cat /mnt/host.txt").status == 0
    assert run(p, sh, "echo before-the-snapshot-$((6 * 7)) > /mnt/before.txt && "
                      "sync").status == 0
    assert run(p, sh, "udhcpc -i eth0 -n -q -t 5").status == 0
    r = run(p, sh, f"wget -q -O - http://10.0.2.2:{HTTP_PORT}/")
    assert r.status == 0 and PAGE in r.output, r
    p.sendline(COUNT_LOOP)
    with step(p, "the loop counting to 3"):
        p.expect(r"tick 3\r*\n", timeout=60)
    t0 = time.monotonic()
    ctrl_a_w(p)
    TIMINGS.append((f"{engine} on {machine.name}: snapshot of a 256 MiB Linux guest "
                    "(Ctrl-A w to exit)", time.monotonic() - t0))
    last = ticks(p.output)[-1]
    if machine.name == "host":
        used = Path(mem).stat().st_blocks * 512
        TIMINGS.append((f"{engine}: snapshot of a 256 MiB Linux guest: state "
                        f"{Path(state).stat().st_size} B, memory {used >> 20} MiB on disk", 0))

    q = machine.spawn(["run", "--restore", f"{state},mem={mem}", "-v"])
    with step(q, f"the loop going on after tick {last}"):
        q.expect(rf"tick {last + 2}\r*\n", timeout=120)
    after = ticks(q.output)
    assert after[0] == last + 1, (last, q.output[-3000:])
    m = re.search(r"restored .* in ([\d.]+) ms", q.output)
    assert m, q.output[:3000]
    TIMINGS.append((f"{engine} on {machine.name}: restore of a 256 MiB Linux guest (files to "
                    "a VM ready to run)", float(m.group(1)) / 1000))
    sh = Shell(q, GUEST_PROMPT)
    q.sendline("")
    assert run(q, sh, STOP_LOOP).status == 0
    r = run(q, sh, "cat /mnt/before.txt /mnt/host.txt")
    assert r.status == 0 and "before-the-snapshot-42" in r.output, r
    # The second vCPU runs on: its local timer keeps interrupting it.
    r = run(q, sh, "grep LOC: /proc/interrupts; sleep 1; grep LOC: /proc/interrupts")
    loc = [tuple(map(int, m)) for m in re.findall(r"LOC:\s+(\d+)\s+(\d+)", r.output)]
    assert len(loc) == 2 and loc[1][0] > loc[0][0] and loc[1][1] > loc[0][1], r
    assert run(q, sh, "echo after-the-restore-$((6 * 7)) > /mnt/after.txt && sync && "
                      "umount /mnt").status == 0
    # The network: slirp is new, the guest's address and routes are as they were.
    r = run(q, sh, f"wget -q -O - http://10.0.2.2:{HTTP_PORT}/")
    assert r.status == 0 and PAGE in r.output, r
    assert end(q, "poweroff") == 0, q.output[-3000:]
    disks.collect()
    assert cat(img, "before.txt") == b"before-the-snapshot-42\n"
    assert cat(img, "after.txt") == b"after-the-restore-42\n"
    r = fsck(img)
    assert r.returncode == 0, r.stdout + r.stderr


# -- the emulated PC: firmware, AHCI, e1000 --------------------------------------------------

def test_firmware_pc_round_trip(machine, engine, build, http_server, tmp_path):
    """The emulated PC (--guest full): SeaBIOS boots a SYSLINUX disk on the AHCI
    controller, a data disk beside it, an e1000 on user networking. Snapshotted while a
    shell loop counts and resumed in a new process: the count goes on, the data disk
    keeps what was synced and takes more, and the e1000 fetches over HTTP again."""
    import harness
    boot_img, _ = harness.build_firmware_images(build, log=lambda m: None)
    data = make_ext4(tmp_path / "data.img", {"host.txt": b"from the host\n"})
    disks = Disks(machine)
    state, mem = files(machine, tmp_path)
    p = machine.spawn(["run", "--engine", engine, "--guest", "full", "--mem", "256M",
                       "--disk", f"{disks.attach(boot_img)},ro,if=ahci",
                       "--disk", f"{disks.attach(data)},if=ahci", "--net", "user,model=e1000",
                       "--snapshot", f"{state},mem={mem}"])
    with step(p, "waiting for the firmware, the boot loader and the shell"):
        p.expect_exact("SYSLINUX", timeout=120)
        p.expect_exact(GUEST_PROMPT, timeout=BOOT_TIMEOUT)
    sh = Shell(p, GUEST_PROMPT)
    # The data disk is the second SATA port (ata2).
    r = run(p, sh, "for d in /sys/block/sd*; do case $(readlink -f $d/device) in "
                   "*/ata2/*) echo data=${d##*/};; esac; done")
    dev = re.search(r"data=(sd[a-z])", r.output).group(1)
    assert run(p, sh, f"mount /dev/{dev} /mnt && echo before-$((6 * 7)) > /mnt/before.txt "
                      "&& sync").status == 0
    assert run(p, sh, "udhcpc -i eth0 -n -q -t 5").status == 0
    p.sendline(COUNT_LOOP)
    with step(p, "the loop counting to 3"):
        p.expect(r"tick 3\r*\n", timeout=60)
    ctrl_a_w(p)
    last = ticks(p.output)[-1]

    q = machine.spawn(["run", "--restore", f"{state},mem={mem}"])
    with step(q, f"the loop going on after tick {last}"):
        q.expect(rf"tick {last + 2}\r*\n", timeout=120)
    assert ticks(q.output)[0] == last + 1, (last, q.output[-3000:])
    sh = Shell(q, GUEST_PROMPT)
    q.sendline("")
    assert run(q, sh, STOP_LOOP).status == 0
    r = run(q, sh, "cat /mnt/before.txt")
    assert r.status == 0 and "before-42" in r.output, r
    assert run(q, sh, "echo after-$((6 * 7)) > /mnt/after.txt && sync && "
                      "umount /mnt").status == 0
    r = run(q, sh, f"wget -q -O - http://10.0.2.2:{HTTP_PORT}/")
    assert r.status == 0 and PAGE in r.output, r
    assert end(q, "poweroff") == 0, q.output[-3000:]
    disks.collect()
    assert cat(data, "before.txt") == b"before-42\n"
    assert cat(data, "after.txt") == b"after-42\n"
    r = fsck(data)
    assert r.returncode == 0, r.stdout + r.stderr
