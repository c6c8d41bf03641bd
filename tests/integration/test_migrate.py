"""Moving a running Linux guest between engines (issue 15): a guest started with
--cpu-model portable under kvm, with an ext4 virtio disk and user networking, counting
in a shell loop, snapshotted mid-count (Ctrl-A w) and resumed under soft, snapshotted
again there and resumed under kvm. Each time the count goes on from the next number,
the guest's uptime (printed with every count) never goes back, the file written before
the first move is intact, and the network fetches again; the disk is consistent at the
end. A snapshot of the engine's own CPU model is refused on the other engine with the
hint. Runs where kvm does: on a host with /dev/kvm, else inside the nested outer guest
(the soft engine runs there too, slowly: so the guest boots under kvm, and soft only
takes over a running one)."""
import re

import pytest

from harness import GUEST_PROMPT, Shell
from machines import step
from test_linux import BOOT_TIMEOUT, end, run
from test_snapshot import ctrl_a_w, files, snapcount
from test_virtio_blk import Disks, cat, fsck, initrd_path, make_ext4, virtio_initrd  # noqa: F401
from test_virtio_net import HTTP_PORT, PAGE, http_server  # noqa: F401

LOOP = ("(i=0; while true; do i=$((i+1)); echo tick $i $(cut -d' ' -f1 /proc/uptime); "
        "sleep 1; done) & echo $! > /tmp/loop.pid")


def ticks(text):
    """[(count, uptime)] of the loop's lines."""
    return [(int(n), float(u)) for n, u in re.findall(r"tick (\d+) ([\d.]+)\r*$", text, re.M)]


def moved(machine, state, mem, to, seen, snapshot=None):
    """Resume the snapshot under engine `to`; wait for two counts beyond the last one
    seen and check that the count goes on and uptime does not go back."""
    args = ["run", "--restore", f"{state},mem={mem}", "--engine", to, "-v"]
    if snapshot:
        args += ["--snapshot", f"{snapshot[0]},mem={snapshot[1]}"]
    q = machine.spawn(args)
    last = seen[-1][0]
    with step(q, f"the loop going on under {to} after tick {last}"):
        q.expect(rf"tick {last + 2} [\d.]+\r*\n", timeout=120)
    after = ticks(q.output)
    assert after[0][0] == last + 1, (last, q.output[-3000:])
    times = [u for _, u in seen + after]
    assert times == sorted(times), (seen, after)
    return q, after


@pytest.mark.parametrize("engine", ["kvm"])
def test_move_linux_between_engines(machine, engine, virtio_initrd, http_server, tmp_path):
    img = make_ext4(tmp_path / "disk.img", {"host.txt": b"from the host\n"})
    disks = Disks(machine)
    disk = disks.attach(img)
    s1, m1 = files(machine, tmp_path, "mig-kvm")
    s2, m2 = files(machine, tmp_path, "mig-soft")
    boot = ["run", "--engine", "kvm", "--cpu-model", "portable", "--kernel", machine.kernel,
            "--initrd", initrd_path(machine, virtio_initrd), "--append", "console=ttyS0",
            "--mem", "128M", "--disk", disk, "--net", "user", "--snapshot", f"{s1},mem={m1}"]
    p = machine.spawn(boot)
    with step(p, "booting under kvm to the shell prompt"):
        p.expect_exact(GUEST_PROMPT, timeout=BOOT_TIMEOUT)
    sh = Shell(p, GUEST_PROMPT)
    # The portable model, without IA32_ARCH_CAPABILITIES (each engine has its own): the
    # guest's mitigations hold wherever it moves.
    r = run(p, sh, "grep -m1 'model name' /proc/cpuinfo && "
                   "echo arch_capabilities=$(grep -c arch_capabilities /proc/cpuinfo)")
    assert "trivisor portable" in r.output and "arch_capabilities=0" in r.output, r
    assert run(p, sh, "mount /dev/vda /mnt && echo before-$((6 * 7)) > /mnt/before.txt && "
                      "sync").status == 0
    assert run(p, sh, "udhcpc -i eth0 -n -q -t 5").status == 0
    p.sendline(LOOP)
    with step(p, "the loop counting to 2 under kvm"):
        p.expect(r"tick 2 [\d.]+\r*\n", timeout=120)
    ctrl_a_w(p, "the kvm snapshot")
    seen = ticks(p.output)

    # kvm -> soft; there a snapshot of its own, soft -> kvm.
    q, after = moved(machine, s1, m1, "soft", seen, snapshot=(s2, m2))
    sh = Shell(q, GUEST_PROMPT)
    q.sendline("")
    r = run(q, sh, "cat /mnt/before.txt && wget -q -O - http://10.0.2.2:%d/" % HTTP_PORT)
    assert r.status == 0 and "before-42" in r.output and PAGE in r.output, r
    with step(q, "a count after the commands under soft"):
        q.expect(r"tick \d+ [\d.]+\r*\n", timeout=120)
    ctrl_a_w(q, "the soft snapshot")
    seen += ticks(q.output)
    q2, after = moved(machine, s2, m2, "kvm", seen)
    sh = Shell(q2, GUEST_PROMPT)
    q2.sendline("")
    assert run(q2, sh, "kill $(cat /tmp/loop.pid)").status == 0
    r = run(q2, sh, "cat /mnt/before.txt /mnt/host.txt && echo after-$((6 * 7)) > "
                    "/mnt/after.txt && sync && umount /mnt")
    assert r.status == 0 and "before-42" in r.output, r
    r = run(q2, sh, "wget -q -O - http://10.0.2.2:%d/" % HTTP_PORT)
    assert r.status == 0 and PAGE in r.output, r
    assert end(q2, "poweroff") == 0, q2.output[-3000:]

    disks.collect()
    assert cat(img, "before.txt") == b"before-42\n"
    assert cat(img, "after.txt") == b"after-42\n"
    r = fsck(img)
    assert r.returncode in (0, 1), r.stdout + r.stderr


@pytest.mark.parametrize("engine", ["kvm"])
def test_engine_cpu_model_does_not_move(machine, engine, tmp_path):
    """A snapshot of the soft engine's own CPU model resumes under soft, not under kvm:
    refused with the CPUID leaf that differs and the hint."""
    state, mem = files(machine, tmp_path, "mig-own")
    snapcount(machine, "soft", state, mem)
    r = machine.run(["run", "--restore", f"{state},mem={mem}", "--engine", "kvm"])
    assert r.status == 1, r
    assert "CPU model differs" in r.output and "--cpu-model portable" in r.output, r
