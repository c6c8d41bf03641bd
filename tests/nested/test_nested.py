"""The nested environment itself, independent of trivisor: when these fail, the
integration tests of the kvm engine cannot be trusted either way."""


def test_outer_guest_has_kvm(outer_vm):
    r = outer_vm.run("ls -l /dev/kvm && lsmod")
    assert r.status == 0, r
    assert "kvm_amd" in r.output, r


def test_kvm_client_runs_a_guest(outer_vm):
    # 1000 port writes by a real-mode guest, each a VM exit to user space.
    r = outer_vm.run("kvm-smoke 1000", timeout=120)
    assert r.status == 0 and "kvm-smoke: ok: 1000 io exits" in r.output, r
