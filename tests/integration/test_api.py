"""The control API (--api-sock, --config-file) and several VMs at a glance (--name,
trivisor ls/stop/pause/resume), driven as their users would: with a Firecracker API
client (fc_client.py, written from Firecracker's API description) and with trivisor's
own commands.

The API is the front end's, the same whichever engine runs the guest, so these run
under the soft engine on this host; the snapshot tests cover the engines."""
import json
import os
import re
import stat
import subprocess
import time

import pytest

from fc_client import ApiError, Client
from harness import GUEST_PROMPT, Shell
from machines import HostMachine, step
from test_linux import BOOT_TIMEOUT, CMD_TIMEOUT
from test_virtio_blk import virtio_initrd  # noqa: F401 (fixture)

TICK = r"tick(\d+)\r*\n"


def wait_socket(p, path, timeout=10):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > end or not p.child.isalive():
            raise AssertionError(f"no API socket at {path}: {p.output}")
        time.sleep(0.05)


def fault(excinfo):
    return excinfo.value.fault or ""


@pytest.fixture
def host(build):
    m = HostMachine(build)
    yield m
    print(f"console transcript: {m.log}")
    m.cleanup()


def test_api_configure_start_pause_resume_ctrl_alt_del(host, tmp_path, virtio_initrd):
    """A VM configured and started through the API alone; paused, its guest stands
    still (a counting loop prints nothing), resumed it counts on; SendCtrlAltDel
    reaches its init through the PS/2 keyboard (no --display needed), the guest reboots,
    which ends trivisor with status 0, and the socket goes with it."""
    sock = tmp_path / "api.sock"
    p = host.spawn(["run", "--api-sock", sock])
    wait_socket(p, sock)
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    c = Client(sock)
    info = c.describe_instance()
    assert info["state"] == "Not started" and info["app_name"] == "trivisor", info

    with pytest.raises(ApiError) as ei:
        c.start()
    assert ei.value.status == 400 and "boot source" in fault(ei)

    disk = tmp_path / "data.img"
    disk.write_bytes(b"\0" * (4 << 20))
    c.call("PUT", "/trivisor/config", {"engine": "soft", "mode": "para", "cpu_model": "portable"})
    c.boot_source(host.kernel, "console=ttyS0", str(virtio_initrd))
    c.machine_config(2, 256)
    c.drive("data", disk)
    c.call("PUT", "/network-interfaces/eth0",
           {"iface_id": "eth0", "trivisor_backend": "user", "guest_mac": "52:54:00:ab:cd:ef"})
    cfg = c.vm_config()
    assert cfg["machine-config"]["vcpu_count"] == 2
    assert cfg["machine-config"]["mem_size_mib"] == 256
    assert cfg["drives"][0]["path_on_host"] == str(disk)
    assert cfg["network-interfaces"][0]["guest_mac"] == "52:54:00:ab:cd:ef"
    assert cfg["trivisor"]["cpu_model"] == "portable"

    c.start()
    with step(p, "booting to the shell prompt"):
        p.expect_exact(GUEST_PROMPT, timeout=BOOT_TIMEOUT)
    sh = Shell(p, GUEST_PROMPT)
    assert c.describe_instance()["state"] == "Running"
    r = sh.run("grep -c ^processor /proc/cpuinfo; cat /sys/block/vda/size; "
               "cat /sys/class/net/eth0/address", CMD_TIMEOUT)
    assert r.status == 0 and "2" in r.output.split() and "8192" in r.output.split(), r
    assert "52:54:00:ab:cd:ef" in r.output, r

    info = c.call("GET", "/trivisor")
    assert info["engine"] == "soft" and info["mode"] == "para" and info["vcpus"] == 2, info

    with pytest.raises(ApiError) as ei:
        c.machine_config(1, 128)
    assert ei.value.status == 400 and "started" in fault(ei)

    p.sendline("i=0; while true; do i=$((i+1)); echo tick$i; usleep 100000; done &")
    p.expect(TICK, timeout=CMD_TIMEOUT)
    last = int(p.match.group(1))
    c.pause()
    assert c.describe_instance()["state"] == "Paused"
    # Lines already on their way may still arrive; then nothing while paused.
    while not p.silent(TICK, 1):
        last = int(p.match.group(1))
    assert p.silent(TICK, 2), "ticks while paused"
    c.resume()
    assert c.describe_instance()["state"] == "Running"
    p.expect(TICK, timeout=CMD_TIMEOUT)
    assert int(p.match.group(1)) == last + 1, "the count went on from where it stood"

    stats = c.call("GET", "/trivisor/stats")
    assert stats["engine"] == "soft" and stats["vcpus"] == 2, stats

    c.action("SendCtrlAltDel")
    with step(p, "the guest rebooting on Ctrl-Alt-Del"):
        p.expect_exact("reboot: Restarting system", timeout=CMD_TIMEOUT)
    assert p.wait(60) == 0
    assert not sock.exists(), "the API socket is removed when the VM ends"


def test_api_refuses_bad_requests(host, tmp_path):
    """Malformed, oversized and out-of-place requests get a 4xx and a fault_message,
    and the server stays up for the next one."""
    sock = tmp_path / "api.sock"
    p = host.spawn(["run", "--api-sock", sock])
    wait_socket(p, sock)
    c = Client(sock)
    cases = [
        ("PUT", "/machine-config", "{not json", 400, "invalid JSON"),
        ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64, "bogus": 1}, 400,
         "unknown field 'bogus'"),
        ("PUT", "/machine-config", {"vcpu_count": "two", "mem_size_mib": 64}, 400,
         "non-negative integer"),
        ("PUT", "/machine-config", {"vcpu_count": 65, "mem_size_mib": 64}, 400, "out of range"),
        ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 1 << 40}, 400,
         "out of range"),
        ("PUT", "/machine-config", '{"vcpu_count": 1, "vcpu_count": 2, "mem_size_mib": 64}',
         400, "duplicate"),
        ("PUT", "/machine-config", [1, 2], 400, "JSON object"),
        ("PUT", "/boot-source", {}, 400, "missing field 'kernel_image_path'"),
        ("PUT", "/drives/a", {"drive_id": "b", "path_on_host": "/x", "is_root_device": False},
         400, "does not match"),
        ("PUT", "/drives/..%2f", {"drive_id": "x"}, 400, "invalid request"),
        ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0"}, 400, "host_dev_name"),
        ("PUT", "/actions", {"action_type": "Explode"}, 400, "unknown action_type"),
        ("PATCH", "/vm", {"state": "Paused"}, 400, "not running"),
        ("PUT", "/snapshot/create", {"snapshot_path": "/a", "mem_file_path": "/b"}, 400,
         "pause the VM first"),
        ("PUT", "/snapshot/load", {"snapshot_path": "/a"}, 400, "exactly one"),
        ("DELETE", "/", None, 400, "invalid request"),
        ("GET", "/nowhere", None, 400, "invalid request"),
        ("PUT", "/machine-config", "x" * (64 * 1024), 413, "larger than"),
    ]
    for method, path, body, status, msg in cases:
        got, parsed, raw = c.raw(method, path, body)
        assert got == status, (method, path, got, raw)
        assert msg in parsed["fault_message"], (method, path, parsed)
    # Still serving, and nothing above changed the configuration.
    assert c.describe_instance()["state"] == "Not started"
    assert c.vm_config()["machine-config"]["vcpu_count"] == 1
    # A second trivisor cannot take a live socket.
    r = host.run(["run", "--api-sock", sock])
    assert r.status == 1 and "in use" in r.output, r
    p.kill()


def test_config_file(host, tmp_path):
    """--config-file takes the API's document and boots at once; a bad one is a usage
    error naming the problem."""
    cfg = {"boot-source": {"kernel_image_path": host.kernel, "initrd_path": host.initrd,
                           "boot_args": "console=ttyS0"},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
           "trivisor": {"engine": "soft"}}
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(cfg))
    p = host.spawn(["run", "--config-file", path])
    with step(p, "booting to the shell prompt"):
        p.expect_exact(GUEST_PROMPT, timeout=BOOT_TIMEOUT)
    sh = Shell(p, GUEST_PROMPT)
    r = sh.run("grep MemTotal /proc/meminfo", CMD_TIMEOUT)
    kib = int(re.search(r"MemTotal:\s+(\d+)", r.output).group(1))
    assert 50_000 < kib <= 131_072, r   # 128 MiB less the kernel's own
    p.sendline("poweroff")
    assert p.wait(120) == 0

    for doc, msg in [('{"machine-config": {"vcpu_count": 0, "mem_size_mib": 64}}', "vcpu_count"),
                     ('{"drives": {}}', "must be an array"),
                     ('{"balloon": {"amount_mib": 1}}', "'balloon' is not supported"),
                     ('{"boot-source": ', "invalid JSON")]:
        path.write_text(doc)
        r = host.run(["run", "--config-file", path])
        assert r.status == 2 and "--config-file" in r.output and msg in r.output, (doc, r)
    r = host.run(["run", "--config-file", tmp_path / "missing.json"])
    assert r.status == 2 and "No such file" in r.output, r


def trivisor(build, env, *args):
    return subprocess.run([str(build / "trivisor"), *map(str, args)], env={**os.environ, **env},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def ls_rows(build, env):
    r = trivisor(build, env, "ls")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "PID", "ENGINE"], r.stdout
    return {ln.split()[0]: ln.split() for ln in lines[1:]}


def test_ls_stop_pause_resume(host, build, tmp_path):
    """Three named VMs: ls lists each (pid, engine, state, vCPUs, memory), pause and
    resume act on one by name, stop ends it; a VM killed outright leaves no stale
    entry; a second VM cannot take a name in use."""
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    guest = f"{host.guests}/hostile_halt.bin"
    procs = {}
    for name, cpus in [("alpha", 1), ("beta", 2), ("gamma", 1)]:
        procs[name] = host.spawn(["run", "--engine", "soft", "--name", name, "--cpus", cpus,
                                  "--mem", "64M", "--kernel", guest], env=env)
        procs[name].expect_exact("hostile: halt", timeout=60)
    rows = ls_rows(build, env)
    assert set(rows) == {"alpha", "beta", "gamma"}, rows
    name, pid, engine, mode, state, vcpus, mem = rows["beta"][:7]
    assert int(pid) == procs["beta"].child.pid and engine == "soft", rows
    assert state == "Running" and vcpus == "2" and mem == "64M", rows

    r = trivisor(build, env, "run", "--engine", "soft", "--name", "alpha", "--mem", "64M",
                 "--kernel", guest)
    assert r.returncode == 1 and "in use" in r.stderr, r

    assert trivisor(build, env, "pause", "beta").returncode == 0
    assert ls_rows(build, env)["beta"][4] == "Paused"
    assert trivisor(build, env, "resume", "beta").returncode == 0
    assert ls_rows(build, env)["beta"][4] == "Running"

    assert trivisor(build, env, "stop", "alpha").returncode == 0
    assert procs["alpha"].wait(30) == 0
    procs["gamma"].child.kill(9)
    procs["gamma"].wait(30)
    assert set(ls_rows(build, env)) == {"beta"}
    assert not (tmp_path / "trivisor" / "gamma.sock").exists(), "the stale entry is removed"

    r = trivisor(build, env, "pause", "gamma")
    assert r.returncode == 1 and "no VM named 'gamma'" in r.stderr, r
    r = trivisor(build, env, "stop", "../x")
    assert r.returncode == 2 and "invalid VM name" in r.stderr, r
    assert trivisor(build, env, "stop", "beta").returncode == 0
    assert procs["beta"].wait(30) == 0
    assert ls_rows(build, env) == {}


def test_named_vm_under_each_engine(machine, engine):
    """A Linux guest run with --name under each engine (kvm nested where this host has
    no /dev/kvm): trivisor ls shows it with its engine, pause stops its counting loop
    where it stands, resume lets it count on, stop ends it with status 0."""
    name = f"t{os.getpid()}-{engine}"
    p = machine.spawn(["run", "--engine", engine, "--name", name, "--kernel", machine.kernel,
                       "--initrd", machine.initrd, "--append", "console=ttyS0", "--mem", "256M"])
    with step(p, "booting to the shell prompt"):
        p.expect_exact(GUEST_PROMPT, timeout=BOOT_TIMEOUT)
    r = machine.control(["ls"])
    row = next((ln.split() for ln in r.output.splitlines() if ln.startswith(name + " ")), None)
    assert r.status == 0 and row and row[2] == engine and row[4] == "Running", r

    p.sendline("i=0; while true; do i=$((i+1)); echo tick$i; usleep 200000; done &")
    p.expect(TICK, timeout=CMD_TIMEOUT)
    last = int(p.match.group(1))
    r = machine.control(["pause", name])
    assert r.status == 0, r
    while not p.silent(TICK, 2):     # lines already on their way, then nothing
        last = int(p.match.group(1))
    assert p.silent(TICK, 3), "ticks while paused"
    r = machine.control(["ls"])
    assert f"{name} " in r.output and "Paused" in r.output, r
    assert machine.control(["resume", name]).status == 0
    p.expect(TICK, timeout=CMD_TIMEOUT)
    assert int(p.match.group(1)) == last + 1, \
        f"the count goes on from where it stood: {p.before[-400:] + p.after!r}"
    r = machine.control(["stop", name])
    assert r.status == 0, r
    with step(p, "waiting for trivisor to exit after 'trivisor stop'"):
        assert p.wait(60) == 0
    r = machine.control(["ls"])
    assert f"{name} " not in r.output, r


def test_api_snapshot_and_load(host, tmp_path):
    """A Firecracker client's snapshot cycle: pause, snapshot/create, and in a new
    trivisor started with only --api-sock, snapshot/load with resume_vm: the guest's
    counting loop goes on from the next number, its shell still answers."""
    sock, state, mem = tmp_path / "a.sock", tmp_path / "vm.state", tmp_path / "vm.mem"
    p = host.spawn(["run", "--engine", "soft", "--api-sock", sock, "--kernel", host.kernel,
                    "--initrd", host.initrd, "--append", "console=ttyS0", "--mem", "128M"])
    with step(p, "booting to the shell prompt"):
        p.expect_exact(GUEST_PROMPT, timeout=BOOT_TIMEOUT)
    c = Client(sock)
    p.sendline("i=0; while true; do i=$((i+1)); echo tick$i; usleep 100000; done &")
    p.expect(TICK, timeout=CMD_TIMEOUT)
    c.pause()
    last = int(p.match.group(1))
    while not p.silent(TICK, 1):
        last = int(p.match.group(1))
    c.snapshot_create(state, mem)
    assert state.stat().st_size > 0 and mem.exists()
    c.action("Stop")
    assert p.wait(60) == 0

    sock2 = tmp_path / "b.sock"
    q = host.spawn(["run", "--api-sock", sock2])
    wait_socket(q, sock2)
    c2 = Client(sock2)
    with pytest.raises(ApiError) as ei:
        c2.snapshot_load(tmp_path / "missing.state", mem)
    assert ei.value.status == 400 and "missing.state" in fault(ei)
    assert c2.describe_instance()["state"] == "Not started"
    c2.snapshot_load(state, mem, resume_vm=True)
    assert c2.describe_instance()["state"] == "Running"
    assert c2.call("GET", "/trivisor")["mem_size_mib"] == 128
    q.expect(TICK, timeout=CMD_TIMEOUT)
    assert int(q.match.group(1)) == last + 1, "the count goes on from where it stood"
    with pytest.raises(ApiError) as ei:
        c2.snapshot_load(state, mem)
    assert "already running" in fault(ei)
    c2.action("Stop")
    assert q.wait(60) == 0
