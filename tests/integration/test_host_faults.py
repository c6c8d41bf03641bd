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
import re
import resource
import socket
import subprocess
import threading

import pytest

from machines import HostMachine, HostProcess, host_has_kvm
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
def test_guest_ram_refused_at_start(build, trivisor_bin, how):
    """512 MiB of guest RAM in a process that may map 200 MiB: status 1, the size named,
    and why. On this host (no nested run: the limit is this process's)."""
    if "kvm" in how and not host_has_kvm(trivisor_bin):
        pytest.skip("the kvm engine does not run on this host")
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


# -- the network: a failing backend drops frames, never the VM ----------------------------

TAP_HOST, TAP_GUEST = "192.168.78.1", "192.168.78.2"


def net_args(machine, engine, net, initrd):
    return ["run", "--engine", engine, "--kernel", machine.kernel, "--initrd", initrd,
            "--append", "console=ttyS0", "--mem", "256M", "--stats", "--net", net]


def stat_numbers(out, pattern):
    m = re.search(pattern, out)
    assert m, out[-3000:]
    return [int(x) for x in m.groups()]


@pytest.mark.parametrize("model", ["virtio", "e1000"])
def test_tap_interface_deleted(machine, engine, build, model):
    """The host takes the VM's TAP interface down for a while, then deletes it (ip link
    del) while the guest uses it: the guest's frames are dropped and counted (EIO while
    down, EBADFD once deleted), frames flow again once it is up, nothing arrives once it
    is gone, and the guest keeps running: its shell answers and poweroff ends it cleanly. On this host trivisor runs
    in a network namespace of its own (root and /dev/net/tun needed); nested, in the
    outer guest, with the interface deleted from its second shell."""
    net = f"tap,ifname=tap0,model={model}"
    if model == "e1000":
        if machine.name == "nested":
            pytest.skip("the outer guest carries no initramfs with the e1000 driver")
        harness.build_firmware_images(build, log=lambda m: None)
        initrd = build / "guest" / harness.PC_INITRD
    else:
        initrd = harness.build_virtio_initramfs(build, log=lambda m: None)
    setup = (f"ip link set tap0 up && ip addr add {TAP_HOST}/24 dev tap0")
    if machine.name == "nested":
        if machine.outer.ctl is None:
            pytest.skip("no second shell in the outer guest to delete the interface from")
        args = net_args(machine, engine, net, f"{harness.GUEST_DIR}/{harness.VIRTIO_INITRD}")
        p = machine.outer.spawn_inner(f"(until ip link show tap0 >/dev/null 2>&1; do sleep 0.2; "
                                      f"done; {setup}) & " + machine._cmd(args))
        machine.procs.append(p)

        def host(cmd):
            return machine.outer.ctl.run(cmd, 60)
    else:
        if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
            pytest.skip("needs root and /dev/net/tun")
        args = net_args(machine, engine, net, str(initrd))
        p = HostProcess(["unshare", "--net", "--", str(machine.trivisor), *args], machine.log)
        machine.procs.append(p)

        def host(cmd):
            r = subprocess.run(["nsenter", "-t", str(p.child.pid), "-n", "sh", "-c", cmd],
                               capture_output=True, text=True, timeout=60)
            return harness.Result(r.returncode, r.stdout + r.stderr)
    sh = wait_boot(p, engine, machine, f"{model} on a TAP interface that goes away")
    if machine.name != "nested":
        r = host(setup)
        assert r.status == 0, r
    assert run(p, sh, f"ip addr add {TAP_GUEST}/24 dev eth0 && ip link set eth0 up").status == 0
    r = run(p, sh, f"ping -c 2 -W 5 {TAP_HOST}")
    assert r.status == 0, r                     # frames flow both ways
    # Down for a while (the tap device refuses the guest's frames), then up again.
    assert host("ip link set tap0 down").status == 0
    r = run(p, sh, f"ping -c 3 -i 0.2 -W 1 {TAP_HOST}; echo ping-status=$?")
    assert "ping-status=0" not in r.output, r
    assert host("ip link set tap0 up").status == 0         # its address stayed
    r = run(p, sh, f"ping -c 2 -W 5 {TAP_HOST}")
    assert r.status == 0, r
    r = host("ip link del tap0")
    assert r.status == 0, r
    r = run(p, sh, f"ping -c 5 -i 0.2 -W 1 {TAP_HOST}; echo ping-status=$?")
    assert "ping-status=0" not in r.output, r
    r = run(p, sh, "echo still-alive-$((6 * 7))")
    assert r.status == 0 and "still-alive-42" in r.output, r
    with step(p, "powering off"):
        assert end(p, "poweroff") == 0
    out = p.output
    tx, rx, dropped = stat_numbers(out, r"tap tap0: tx (\d+) frames, rx (\d+) frames; dropped: tx (\d+)")
    assert tx >= 2 and rx >= 2 and dropped >= 5, out[-3000:]
    assert "the interface went away" in out, out[-3000:]
    assert "Input/output error: the guest's frames are dropped" in out, out[-3000:]  # down
    nic = "virtio-net" if model == "virtio" else "e1000"
    backend, = stat_numbers(out, nic + r": .*dropped: tx malformed \d+, backend (\d+)")
    assert backend == dropped, out[-3000:]


def test_hostfwd_port_in_use(build):
    """A host port to forward that another program holds: an error at start naming it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = subprocess.run([str(build / "trivisor"), "run", "--engine", "soft", "--mem", "64M",
                            "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:80", "--kernel",
                            str(build / "tests" / "guests" / "hello.elf")],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p
    assert f"cannot forward host TCP port {port}" in p.stderr, p.stderr


SLIRP_FDS = 48        # trivisor's descriptor limit in the test below
SLIRP_CONNS = 60      # connections the guest opens to the host at once


@pytest.fixture
def holding_server():
    """A TCP server on the host's loopback that accepts connections and holds them."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    held, stop = [], threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                held.append(c)
            except OSError:
                pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1], held
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


def test_slirp_host_socket_errors(build, holding_server):
    """Host sockets failing under slirp: a connection the host refuses, and more
    connections than trivisor may open descriptors (its limit set low, so libslirp's
    socket() fails with EMFILE). The guest sees refused or reset connections, as from a
    real network, and keeps running; its network works again once they are closed.
    slirp runs on the host whatever the engine: soft here."""
    port, held = holding_server
    m = HostMachine(build)
    virtio = harness.build_virtio_initramfs(build, log=lambda m: None)
    try:
        p = HostProcess(["prlimit", f"--nofile={SLIRP_FDS}", "--", str(m.trivisor),
                         *net_args(m, "soft", "user", str(virtio))], m.log)
        m.procs.append(p)
        sh = wait_boot(p, "soft", m, "virtio-net on slirp, few host descriptors")
        assert run(p, sh, "udhcpc -i eth0 -n -q -t 5").status == 0
        with socket.socket() as closed:          # a port nobody listens on
            closed.bind(("127.0.0.1", 0))
            refused = closed.getsockname()[1]
        r = run(p, sh, f"nc 10.0.2.2 {refused} </dev/null; echo nc-status=$?")
        assert "nc-status=0" not in r.output, r
        # Many at once, each held open by the host: the ones past the limit fail.
        r = run(p, sh, f"for i in $(seq {SLIRP_CONNS}); do (sleep 20 | nc 10.0.2.2 {port} "
                       f">/dev/null 2>&1 &); done; sleep 5; echo started")
        assert r.status == 0, r
        assert 0 < len(held) < SLIRP_CONNS, (len(held), r)
        r = run(p, sh, "echo still-alive-$((6 * 7))")
        assert r.status == 0 and "still-alive-42" in r.output, r
        # Closed at both ends (libslirp keeps a host socket until the host closes it
        # too), the network works again: a fresh connection reaches the host.
        assert run(p, sh, "killall sleep nc; true").status == 0
        n = len(held)
        for c in held:
            c.close()
        r = run(p, sh, f"sleep 2; (sleep 5 | nc 10.0.2.2 {port} &); sleep 2; echo started")
        assert r.status == 0 and len(held) > n, (len(held), n, r)
        with step(p, "powering off"):
            assert end(p, "poweroff") == 0
        assert re.search(r"slirp: tx \d+ frames, rx \d+ frames", p.output), p.output[-3000:]
    finally:
        m.cleanup()
