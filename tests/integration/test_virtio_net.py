"""virtio-net on user-mode networking (libslirp), virtio-rng and virtio-console: the
stock Debian kernel binds virtio_net, virtio-rng and virtio_console over virtio-pci or,
for the tests taking `transport`, also over virtio-mmio.

Every test runs under both engines (conftest's ENGINES). A Linux boot costs ~30 s
under soft (~10 s under kvm nested), so one boot per transport carries all three
devices (rng, net, console, in that order: three PCI functions or three virtio-mmio
windows) and checks each: the shell on hvc0, entropy from /dev/hwrng, DHCP, HTTP,
a bulk fetch and a host port forward.

Network: the guest gets 10.0.2.15 by DHCP (busybox udhcpc with the event script
mkguest ships) and fetches a page from an HTTP server on the loopback of the machine
that runs trivisor, through slirp's 10.0.2.2. Nested, that machine is the outer guest:
its busybox httpd serves the page. A host port forward (hostfwd) is checked from the
guest itself: 10.0.2.2:HOSTPORT is the host's loopback, where slirp listens and
forwards back into the guest."""
import hashlib
import os
import re
import subprocess
import sys
import time

import pytest

from harness import TIMINGS
from test_linux import end, run
from test_virtio_blk import (TRANSPORTS, assert_transport, initrd_path,  # noqa: F401 (fixtures)
                             transport, virtio_initrd, wait_boot)

HTTP_PORT = 18080
FWD_PORT = 18081
PAGE = "served-by-the-host-side"
BIG_KIB = 2048



def guest_args(machine, engine, virtio_initrd, extra, transport="pci"):
    return ["run", "--engine", engine, "--kernel", machine.kernel,
            "--initrd", initrd_path(machine, virtio_initrd), "--append", "console=ttyS0",
            "--mem", "256M", "--virtio-transport", transport, *extra]


@pytest.fixture
def http_server(machine, tmp_path):
    """An HTTP server on the loopback of trivisor's machine, serving PAGE at /."""
    if machine.name == "nested":
        o = machine.outer
        r = o.run(f"ip link set lo up && mkdir -p /tmp/www && echo {PAGE} > /tmp/www/index.html && "
                  f"dd if=/dev/urandom of=/tmp/www/big bs=1k count={BIG_KIB} 2>/dev/null && "
                  f"(busybox httpd -p 127.0.0.1:{HTTP_PORT} -h /tmp/www || true) && "
                  "md5sum /tmp/www/big")
        assert r.status == 0, r
        yield r.output.split()[-2]
        o.run("killall httpd; true")
    else:
        (tmp_path / "index.html").write_text(PAGE + "\n")
        big = os.urandom(BIG_KIB << 10)
        (tmp_path / "big").write_bytes(big)
        p = subprocess.Popen([sys.executable, "-m", "http.server", "-b", "127.0.0.1",
                              str(HTTP_PORT)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        yield hashlib.md5(big).hexdigest()
        p.kill()
        p.wait()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_net_rng_console(machine, engine, virtio_initrd, http_server, transport):
    """--rng, --net user and --console virtio in one VM: the terminal feeds
    virtio-console and the guest's shell runs on hvc0 (the last console= is
    /dev/console once virtio_console loads), so every check below also goes through it."""
    args = guest_args(machine, engine, virtio_initrd,
                      ["--rng", "--net", f"user,hostfwd=tcp::{FWD_PORT}-:80",
                       "--mac", "52:54:00:aa:bb:cc", "--console", "virtio"], transport)
    args[args.index("console=ttyS0")] = "console=ttyS0 console=hvc0"
    p = machine.spawn(args)
    sh = wait_boot(p, engine, machine, f"virtio rng, net and console on {transport}")
    assert_transport(p, sh, transport, ndev=3)

    # Console.
    r = run(p, sh, "tty; cat /sys/class/tty/console/active")
    assert r.status == 0 and "/dev/hvc0" in r.output, r
    r = run(p, sh, "echo typed-$((6 * 7))-through-virtio")
    assert r.status == 0 and "typed-42-through-virtio" in r.output, r

    # Entropy: four distinct 16-byte blocks.
    r = run(p, sh, "cat /sys/devices/virtual/misc/hw_random/rng_available "
                   "/sys/devices/virtual/misc/hw_random/rng_current")
    assert r.status == 0 and "virtio_rng" in r.output.split()[-1], r
    r = run(p, sh, "dd if=/dev/hwrng bs=16 count=4 2>/dev/null | od -A n -t x1")
    assert r.status == 0, r
    lines = [l.split() for l in r.output.splitlines() if re.fullmatch(r"\s*([0-9a-f]{2}\s+){15}[0-9a-f]{2}\s*", l)]
    assert len(lines) == 4 and len({tuple(l) for l in lines}) == 4, r

    # Network.
    r = run(p, sh, "cat /sys/class/net/eth0/address")
    assert r.status == 0 and "52:54:00:aa:bb:cc" in r.output, r
    r = run(p, sh, "udhcpc -i eth0 -n -q -t 5")
    assert r.status == 0, r
    r = run(p, sh, "ip -4 addr show dev eth0; ip route")
    assert "10.0.2.15/24" in r.output and "default via 10.0.2.2" in r.output, r
    r = run(p, sh, f"wget -q -O - http://10.0.2.2:{HTTP_PORT}/")
    assert r.status == 0 and PAGE in r.output, r
    # Bulk: enough frames that the receive queue wraps and refills many times.
    t0 = time.monotonic()
    r = run(p, sh, f"wget -q -O - http://10.0.2.2:{HTTP_PORT}/big | md5sum")
    assert r.status == 0 and http_server in r.output, r
    TIMINGS.append((f"{engine} on {machine.name}: guest fetches {BIG_KIB} KiB over HTTP, "
                    f"slirp, virtio-{transport}", time.monotonic() - t0))

    # hostfwd: slirp listens on the host's port and forwards to the guest's port 80.
    assert run(p, sh, f"mkdir -p /www && echo forwarded-{FWD_PORT} > /www/index.html && "
                      "httpd -p 80 -h /www").status == 0
    r = run(p, sh, f"wget -q -O - http://10.0.2.2:{FWD_PORT}/")
    assert r.status == 0 and f"forwarded-{FWD_PORT}" in r.output, r

    r = run(p, sh, "cat /sys/class/net/eth0/statistics/rx_packets /sys/class/net/eth0/statistics/tx_packets")
    rx, tx = (int(x) for x in r.output.split()[-2:])
    assert rx > (BIG_KIB << 10) // 1514 and tx > 5, r
    status = end(p, "poweroff")
    assert status == 0, p.output[-3000:]


TAP_HOST, TAP_GUEST = "192.168.77.1", "192.168.77.2"


def test_net_tap(machine, engine, virtio_initrd, http_server):
    """--net tap: trivisor creates tap0 on the machine that runs it (root there, as in
    the nested harness's outer guest); that machine gives it an address and serves HTTP
    on it, and the guest, with a static address, fetches the page."""
    if machine.name != "nested":
        pytest.skip("needs root and a scratch network interface: runs in the nested harness")
    o = machine.outer
    # The interface exists once trivisor has started: configure it from the background.
    setup = (f"(until ip link set tap0 up 2>/dev/null; do sleep 0.2; done; "
             f"ip addr add {TAP_HOST}/24 dev tap0; "
             f"busybox httpd -p {TAP_HOST}:{HTTP_PORT + 2} -h /tmp/www) & ")
    args = guest_args(machine, engine, virtio_initrd, ["--net", "tap,ifname=tap0"])
    p = o.spawn_inner(setup + machine._cmd(args))
    machine.procs.append(p)
    sh = wait_boot(p, engine, machine, "virtio-net on tap")
    assert run(p, sh, f"ip addr add {TAP_GUEST}/24 dev eth0 && ip link set eth0 up").status == 0
    r = run(p, sh, f"wget -q -O - http://{TAP_HOST}:{HTTP_PORT + 2}/")
    assert r.status == 0 and PAGE in r.output, r
    t0 = time.monotonic()
    r = run(p, sh, f"wget -q -O - http://{TAP_HOST}:{HTTP_PORT + 2}/big | md5sum")
    assert r.status == 0 and http_server in r.output, r
    TIMINGS.append((f"{engine} on {machine.name}: guest fetches {BIG_KIB} KiB over HTTP, tap",
                    time.monotonic() - t0))
    status = end(p, "poweroff")
    assert status == 0, p.output[-3000:]


def test_net_option_errors(machine, engine, virtio_initrd):
    r = machine.run(guest_args(machine, engine, virtio_initrd, ["--net", "bogus"]))
    assert r.status == 2 and "user or tap" in r.output, r
    r = machine.run(guest_args(machine, engine, virtio_initrd, ["--net", "user,hostfwd=tcp:x-:1"]))
    assert r.status == 2 and "hostfwd" in r.output, r
